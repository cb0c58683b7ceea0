//! Waiting strategies: how a blocked caller sleeps, and how it is woken.
//!
//! Every primitive in this crate is a plain struct of atomics. Whether a waiter spins
//! (firmware), sleeps in a futex (OS threads), in a process-shared futex (OS processes)
//! or in `memory.atomic.wait32` (web workers) is decided by ONE type parameter
//! `W: WaitStrategy`, a zero-sized type that is never stored (only `PhantomData<W>`),
//! so the layout of a primitive never depends on it and the same memory can be used
//! with the strategy that fits the world it lives in.
//!
//! The trait is the futex contract, the least common denominator of those four worlds:
//!
//! * [`WaitStrategy::wait`] blocks while `word == expected` (checked atomically with
//!   going to sleep), until woken, a spurious wake-up, or the deadline;
//! * [`WaitStrategy::wake_one`] / [`WaitStrategy::wake_all`] wake sleepers on `word`.
//!
//! Primitives never call the strategy directly: they go through [`Waiters`], an
//! event count (sequence word + sleeper count) that makes "check the condition, then
//! sleep" free of lost wake-ups and keeps the wake-up syscall off the fast path when
//! nobody sleeps.
//!
//! Time is abstract here: a strategy names its [`Deadline`] type. [`Spin`] takes any
//! `Deadline` (a firmware timer, or [`Never`] when there is no clock); the OS strategies
//! use `std::time::Instant` (this crate implements `Deadline` for it under the `std`
//! feature).
//!
//! # The strategies, and the default
//! | strategy | sleeps in | where |
//! |---|---|---|
//! | [`Spin`] | a bounded spin with backoff, then the caller re-checks | everywhere; the default without `std` (firmware) |
//! | `Futex` | Linux `futex(FUTEX_WAIT_PRIVATE)` (elsewhere: `Parking`) | feature `std`: threads of one process; the default with `std` |
//! | `SharedFutex` | Linux `futex(FUTEX_WAIT)`, no `PRIVATE` flag | feature `std`, Linux: words in `MAP_SHARED` memory, waited on by several processes |
//! | `Parking` | a fixed table of `std::sync::{Mutex, Condvar}` buckets keyed by the word's address | feature `std`: any std platform (the portable fallback) |
//!
//! Every primitive's strategy parameter defaults to [`DefaultWait`]: [`Spin`] in a
//! `no_std` build, the sleeping `Futex` when the `std` feature is on (the `conkit` std
//! crate turns it on). So `Semaphore::new(0)` in a std program sleeps in the kernel
//! when it blocks, with no type parameter written, and its `_until` forms take an
//! `Instant`; on firmware the same line spins. A strategy named explicitly
//! (`Semaphore<Spin>`, `Semaphore<SharedFutex>`, a custom one) is never affected.
//!
//! Two things differ between the defaults, both only when a program relies on them:
//! * **Notifications.** A spinning waiter re-checks by itself; a sleeping one needs a
//!   wake-up. Every state change of the locks, semaphores, events, event flags,
//!   condition variable, barrier and queues wakes its waiters, so for them the default
//!   changes nothing but how a waiter waits. The rings' wait-free forms
//!   ([`SpscRing`](crate::spsc::SpscRing)'s and [`MpmcRing`](crate::mpmc::MpmcRing)'s
//!   `try_*`, slices, chunks) never notify: with a sleeping strategy, a side that uses
//!   only those while the other side blocks must call `notify()` after a batch (see
//!   their "Notification contract").
//! * **Features unify.** Cargo turns `std` on for every user of `conkit-core` in a
//!   build as soon as one crate asks for it. A library that relies on spinning (an
//!   interrupt-style producer that never notifies a blocked consumer of a ring) should
//!   therefore name [`Spin`] rather than take the default.
//!
//! A `wasm32` build keeps [`Spin`] as the default even with `std`: a browser's main
//! thread must not block (the wasm demo plugs in its own `memory.atomic.wait32`
//! strategy), and under `cfg(loom)` the models bring their own strategies.

mod backoff;
mod record;
mod spin;
mod waiters;

#[cfg(all(
    feature = "std",
    not(loom),
    any(target_os = "linux", target_os = "android")
))]
mod futex;
#[cfg(all(feature = "std", not(loom)))]
mod os;
#[cfg(all(feature = "std", not(loom)))]
mod parking;

pub use backoff::{Backoff, SPIN_LIMIT};
pub use record::{Recorded, SlotOwner, Unrecorded};
pub use spin::Spin;
pub use waiters::Waiters;

#[cfg(all(
    feature = "std",
    not(loom),
    any(target_os = "linux", target_os = "android")
))]
pub use futex::{Futex, FutexError, SharedFutex};
#[cfg(all(feature = "std", not(loom)))]
pub use os::deadline_after;
#[cfg(all(feature = "std", not(loom)))]
pub use parking::Parking;

/// The in-process futex strategy; on std platforms without a Linux futex it is
/// [`Parking`].
#[cfg(all(
    feature = "std",
    not(loom),
    not(any(target_os = "linux", target_os = "android"))
))]
pub type Futex = Parking;

/// The strategy of every primitive whose strategy parameter is not written: the
/// sleeping `Futex` with the `std` feature, [`Spin`] without it (see "The strategies,
/// and the default" in the [module docs](self)).
///
/// ```
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::DefaultWait;
///
/// // The same type, written both ways.
/// let sem: Semaphore = Semaphore::new(1);
/// let same: &Semaphore<DefaultWait> = &sem;
/// assert!(same.try_acquire());
/// ```
#[cfg(all(feature = "std", not(loom), not(target_family = "wasm")))]
pub type DefaultWait = Futex;

/// The strategy of every primitive whose strategy parameter is not written: the
/// sleeping `Futex` with the `std` feature, [`Spin`] without it (see "The strategies,
/// and the default" in the [module docs](self)).
///
/// ```
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::DefaultWait;
///
/// // The same type, written both ways.
/// let sem: Semaphore = Semaphore::new(1);
/// let same: &Semaphore<DefaultWait> = &sem;
/// assert!(same.try_acquire());
/// ```
#[cfg(not(all(feature = "std", not(loom), not(target_family = "wasm"))))]
pub type DefaultWait = Spin;

use crate::atomic::WaitWord;

/// A point in time that bounds a wait.
///
/// Implement it for your platform's clock (e.g. a SysTick counter on firmware).
pub trait Deadline: Copy {
    /// `true` once the deadline is reached; it must stay `true` from then on.
    fn has_passed(&self) -> bool;
}

/// The deadline type of a platform without a clock: no value exists, so only
/// untimed waits (`None`) can be expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Never {}

impl Deadline for Never {
    fn has_passed(&self) -> bool {
        match *self {}
    }
}

#[cfg(feature = "std")]
impl Deadline for std::time::Instant {
    fn has_passed(&self) -> bool {
        std::time::Instant::now() >= *self
    }
}

/// Why [`WaitStrategy::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken, the word no longer held the expected value, or a spurious wake-up:
    /// the caller re-checks its condition.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// How a caller sleeps on an atomic word and how sleepers are woken (the futex contract).
///
/// Implementations are zero-sized types used only as type parameters; all methods are
/// associated functions. One associated type, [`SlotOwner`](Self::SlotOwner), is the
/// exception to "the layout never depends on the strategy": the slots of the rings
/// with a process-shared strategy carry a record of their claimant, the others none
/// (see [`SlotOwner`]). Implementations in this workspace:
///
/// | strategy | crate | sleeps in |
/// |---|---|---|
/// | [`Spin`] | `conkit-core` | a bounded spin with backoff (firmware, interrupts enabled) |
/// | `Futex` | `conkit-core` (feature `std`), re-exported by `conkit::wait` | Linux `futex(FUTEX_PRIVATE)` / portable fallback |
/// | `SharedFutex` | `conkit-core` (feature `std`, Linux), re-exported by `conkit::wait` | Linux `futex` on `MAP_SHARED` memory (processes) |
/// | `Parking` | `conkit-core` (feature `std`), re-exported by `conkit::wait` | `std` mutex/condvar buckets |
/// | `WasmAtomics` | `conkit-wasm-demo` | `memory.atomic.wait32` / `notify` |
///
/// # Contract
/// * `wait` must return (with any outcome) if `word` does not hold `expected` when it
///   starts sleeping, and must not sleep past a wake on `word` issued after it started
///   sleeping. It may return spuriously at any time; callers loop.
/// * It must return [`WaitOutcome::TimedOut`] only once `deadline.has_passed()`.
/// * `wake_*` may be called from any context the strategy documents (for [`Spin`]:
///   anywhere, including interrupts, because it does nothing).
pub trait WaitStrategy {
    /// The deadline type this strategy can sleep until.
    type Deadline: Deadline;

    /// What a slot of an [`MpmcRing`](crate::mpmc::MpmcRing) or
    /// [`RingQueue`](crate::queue::RingQueue) with this strategy records of its claimant:
    /// [`Unrecorded`] (nothing, zero bytes) for a process-private strategy,
    /// [`Recorded`] (one `u32`) for one with [`PROCESS_SHARED`](Self::PROCESS_SHARED)
    /// (a ring checks this at compile time). See [`SlotOwner`].
    type SlotOwner: SlotOwner;

    /// Sleeps while `word` holds `expected`, at most until `deadline`.
    fn wait(word: &WaitWord, expected: u32, deadline: Option<Self::Deadline>) -> WaitOutcome;

    /// Wakes at least one sleeper of `word`, if any.
    fn wake_one(word: &WaitWord);

    /// Wakes every sleeper of `word`.
    fn wake_all(word: &WaitWord);

    /// How many times a waiter re-checks its condition, pausing with
    /// [`relax`](Self::relax) between looks, before it announces itself and sleeps
    /// (see [`Waiters`]). Sleeping and being woken costs tens of µs with an OS futex,
    /// far more than a producer usually needs to refill an empty queue or a holder to
    /// release a permit, so a short adaptive phase first pays off.
    const RELAX_ROUNDS: u32 = 6;

    /// How many of the last [`RELAX_ROUNDS`](Self::RELAX_ROUNDS) rounds yield the CPU
    /// instead of spinning (0 by default: every round spins). A
    /// [`Lock`](crate::lock::Lock) shortens only the spinning part of its adaptive
    /// phase and keeps these rounds, so that a holder keeps its streak.
    const RELAX_YIELD_ROUNDS: u32 = 0;

    /// The pause after the `round`-th failed look (`round` counts from 0 up to
    /// [`RELAX_ROUNDS`](Self::RELAX_ROUNDS)` - 1`). The default is the `round`-th pause
    /// of a [`Backoff`] (`2^round` spin hints, capped at `2^SPIN_LIMIT`); OS strategies
    /// yield the CPU once spun out so that a descheduled partner can run.
    #[inline]
    fn relax(round: u32) {
        Backoff::at(round).spin();
    }

    /// The token that names the calling thread in the owner word of a
    /// [`Lock`](crate::lock::Lock) (the Linux robust-futex layout: owner | waiters bit).
    /// It must be non-zero, at most [`OWNER_MASK`], and unique among the threads that
    /// may hold the same lock at the same time — across processes too for a strategy
    /// meant for shared memory (a per-process counter is not; after a `fork` the child
    /// must get a new one).
    ///
    /// The default: with the `std` feature, the calling thread's kernel thread id on
    /// Linux (`gettid`, cached per thread and renewed in the child of a `fork`), a
    /// per-process thread counter on other std platforms; without `std` (firmware) the
    /// constant `1`, which is enough there: the token of a plain `Lock` is only read by
    /// [`owner_alive`](Self::owner_alive), which is always `true` by default.
    ///
    /// ```
    /// use conkit_core::wait::{Spin, WaitStrategy, OWNER_MASK};
    ///
    /// let me = <Spin>::owner_token();
    /// assert!(me != 0 && me <= OWNER_MASK);
    /// assert_eq!(<Spin>::owner_token(), me); // stable for the thread
    /// ```
    #[inline]
    fn owner_token() -> u32 {
        #[cfg(all(feature = "std", not(loom)))]
        {
            os::thread_token()
        }
        #[cfg(not(all(feature = "std", not(loom))))]
        {
            1
        }
    }

    /// The token that names the calling **process** in a process-shared ring's record
    /// of who holds each of its ends (see "Participants that die" in
    /// [`crate::spsc`] and [`crate::byte_ring`]): a handle may move between the threads
    /// of its process, so the process, not the thread, is what a peer probes with
    /// [`owner_alive`](Self::owner_alive).
    ///
    /// The default: with the `std` feature on Linux, the process id (`getpid`; the
    /// kernel thread id of the process's main thread, so `owner_alive` probes it as it
    /// probes a thread); otherwise [`owner_token`](Self::owner_token).
    ///
    /// ```
    /// use conkit_core::wait::{Spin, WaitStrategy, OWNER_MASK};
    ///
    /// let me = <Spin>::process_token();
    /// assert!(me != 0 && me <= OWNER_MASK);
    /// ```
    #[inline]
    fn process_token() -> u32 {
        #[cfg(all(
            feature = "std",
            not(loom),
            any(target_os = "linux", target_os = "android")
        ))]
        {
            os::process_token()
        }
        #[cfg(not(all(
            feature = "std",
            not(loom),
            any(target_os = "linux", target_os = "android")
        )))]
        {
            Self::owner_token()
        }
    }

    /// Whether the owner named by `token` (an [`owner_token`](Self::owner_token) or
    /// [`process_token`](Self::process_token) of this strategy) still runs. A waiter
    /// that has waited a whole [`sleep_slice`](Self::sleep_slice) asks: a lock whose owner
    /// is gone is taken with the outcome
    /// [`Acquired::OwnerDied`](crate::lock::Acquired::OwnerDied), a ring whose peer is
    /// gone reports it disconnected, a barrier party that is gone breaks the barrier.
    ///
    /// The default is `true` (never recover): owners within one process are threads,
    /// and a Python-style `Lock` may be released by another thread than the one that
    /// took it, even after that one has ended. `SharedFutex` overrides it with a probe of
    /// the kernel thread id.
    ///
    /// ```
    /// use conkit_core::wait::{Spin, WaitStrategy};
    ///
    /// assert!(<Spin>::owner_alive(<Spin>::owner_token()));
    /// ```
    #[inline]
    fn owner_alive(token: u32) -> bool {
        let _ = token;
        true
    }

    /// Whether the words this strategy sleeps on may be shared by several OS
    /// processes, any of which can die at any point (`SIGKILL`: asleep, just woken,
    /// between a state change and its notify). `true` makes the primitives give up
    /// what only holds while every participant runs on:
    ///
    /// * the wake-up [`Waiters::notify_one`] sends goes to every sleeper (one handed to
    ///   a single process that dies before it runs would otherwise be lost, and with it
    ///   the item it was meant for);
    /// * every sleep in [`Waiters`] lasts at most one [`sleep_slice`](Self::sleep_slice),
    ///   then the waiter looks at its condition again (a notifier that died between its
    ///   change and its wake-up costs a waiter at most one slice), and the primitives
    ///   that record who holds what (the rings' ends, the barrier's arrived parties)
    ///   probe those participants with [`owner_alive`](Self::owner_alive);
    /// * the rings record who claimed each slot or end, and the blocking forms of the
    ///   rings and of `queue::RingQueue` stop spinning on a peer that claimed a slot and
    ///   has not finished with it (it may be dead): they sleep in slices, probe it, and
    ///   skip (or free) its slot once it is gone; `shutdown(true)` skips such a slot
    ///   (see "Participants that die" in the docs of `mpmc`, `spsc`, `byte_ring`,
    ///   `queue::ring`, `barrier` and the other primitives).
    ///
    /// `false` (the default) for the process-private strategies: their participants
    /// are threads of one process, which die together.
    ///
    /// ```
    /// use conkit_core::wait::{Spin, WaitStrategy};
    ///
    /// assert!(!<Spin as WaitStrategy>::PROCESS_SHARED);
    /// ```
    const PROCESS_SHARED: bool = false;

    /// The deadline of the `round`-th sleep (from 0) of a waiter that will look at its
    /// condition again afterwards, given the caller's own `deadline`: the one slice of
    /// every waiter that must not trust a wake-up to come (the sleepers of [`Waiters`]
    /// with a [`PROCESS_SHARED`](Self::PROCESS_SHARED) strategy, the waiters of a
    /// [`Lock`](crate::lock::Lock) whose owner may die). After a slice that ended
    /// without a wake-up the waiter re-checks its condition and probes the participants
    /// it waits for ([`owner_alive`](Self::owner_alive)). [`Waiters`] also measures
    /// the time between its probes with it (`sleep_slice(None, n)`: a probe is due one
    /// such slice after the wait began or after the last probe, even if every sleep was
    /// ended by a wake-up); a strategy whose `sleep_slice(None, _)` is `None` probes only
    /// after unwoken slices and on the last look after a deadline.
    ///
    /// `deadline` itself by default (sleep until woken); `SharedFutex` returns the
    /// earlier of `deadline` and a slice from now of 1 ms, doubling with `round` up to
    /// 16 ms (a waiter behind a live peer wakes ~60 times a second, a few µs of CPU each;
    /// a dead one is noticed within ~20 ms). [`Waiters`] treats a slice that ends before
    /// `deadline` as a spurious wake-up.
    ///
    /// ```
    /// use conkit_core::wait::{Never, Spin, WaitStrategy};
    ///
    /// // Without a clock there is no slice: the deadline is kept as it is.
    /// assert!(<Spin<Never> as WaitStrategy>::sleep_slice(None, 0).is_none());
    /// ```
    #[inline]
    fn sleep_slice(deadline: Option<Self::Deadline>, round: u32) -> Option<Self::Deadline> {
        let _ = round;
        deadline
    }
}

/// The bits of a lock's owner word that hold the owner's token (the Linux
/// `FUTEX_TID_MASK`): [`WaitStrategy::owner_token`] is never 0 and never above it.
///
/// ```
/// assert_eq!(conkit_core::wait::OWNER_MASK, 0x3FFF_FFFF);
/// ```
pub const OWNER_MASK: u32 = 0x3FFF_FFFF;

#[cfg(test)]
mod tests {
    use core::any::TypeId;

    use super::*;

    /// The default follows the `std` feature: spinning without it (firmware), the futex
    /// with it (wasm and loom keep spinning).
    #[test]
    fn default_wait_follows_the_std_feature() {
        let sleeping = cfg!(all(feature = "std", not(loom), not(target_family = "wasm")));
        #[cfg(all(feature = "std", not(loom)))]
        assert_eq!(
            TypeId::of::<DefaultWait>() == TypeId::of::<Futex>(),
            sleeping
        );
        assert_eq!(
            TypeId::of::<DefaultWait>() == TypeId::of::<Spin>(),
            !sleeping
        );
        assert_eq!(
            TypeId::of::<crate::semaphore::Semaphore>(),
            TypeId::of::<crate::semaphore::Semaphore<DefaultWait>>()
        );
    }
}
