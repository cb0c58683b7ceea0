//! Locks: spin lock, fair ticket lock, reentrant lock, and the data-guarding [`Mutex`].
//!
//! Two small traits separate the algorithm from the data (the `lock_api` pattern):
//!
//! * [`RawLock`]: a Python-shaped lock without data (`acquire`, `try_acquire`,
//!   `release`, `locked`). Releasing a lock that is not held is a typed
//!   [`ReleaseError`], never undefined behaviour.
//! * [`RawMutex`]: "run this closure under mutual exclusion", the form data structures
//!   that keep their state under a lock (the Python-style queues) are generic over.
//!   Every `RawLock` is a `RawMutex`; so is [`CriticalSectionMutex`], the one to use when
//!   an interrupt handler touches the structure.
//!
//! The locks:
//!
//! | type | algorithm | waiters | fair | Python |
//! |---|---|---|---|---|
//! | [`SpinLock`] | test-and-test-and-set, exponential backoff | spin | no | — |
//! | [`TicketLock`] | ticket lock (Mellor-Crummey & Scott) | spin | FIFO | — |
//! | [`Lock<W>`] | Drepper's futex mutex #3 on the robust-futex owner word (owner \| waiters) | sleep per `W` | no | `threading.Lock` |
//! | [`ReentrantLock<O, W>`] | depth over `Lock<W>`'s owner word | sleep per `W` | no | `threading.RLock` |
//!
//! and [`Mutex<R, T>`] pairs a value with any [`ExclusiveLock`] (aliases [`SpinMutex`],
//! [`TicketMutex`], [`BlockingMutex`]). Each has its own module ([`spin`], [`ticket`],
//! [`blocking`], [`reentrant`], [`mutex`]) with the algorithm's provenance, progress
//! guarantee and an example; the types are re-exported here.
//!
//! # Progress
//! Every lock here is **blocking**, none is lock-free: a holder that stops (preempted,
//! interrupted, crashed) stops everybody waiting for it. The `try_*` forms never wait.
//! The exception is a holder that dies with a strategy that can tell (`SharedFutex`
//! between processes): [`Lock`] and [`ReentrantLock`] then hand the lock to the next
//! acquirer with [`Acquired::OwnerDied`].
//!
//! # Panics
//! A panic while a lock is held never leaves it held: the guards ([`MutexGuard`] and
//! the locks' own) release on drop, also while unwinding, and so does
//! [`RawMutex::with_lock`]. There is no poisoning: the data keeps whatever the
//! critical section did to it before it panicked.
//!
//! # Interrupts
//! A spin lock (and `Lock<Spin>`) must never be taken with `acquire`/`lock` both in an
//! interrupt handler and in the main loop of the same core without masking interrupts:
//! the handler would spin forever on a lock held by the code it interrupted. Share data
//! with an interrupt handler through [`CriticalSectionMutex`], or let the handler use
//! only `try_acquire` / `try_lock` and give up when the lock is busy.
//!
//! # Targets without compare-and-swap
//! The locks need compare-and-swap: on cores without it (thumbv6m) they exist only with
//! the `portable-atomic` feature. [`RawLock`], [`RawMutex`], [`CriticalSectionMutex`] and
//! [`Mutex`] itself are always available.

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod blocking;
pub mod mutex;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod reentrant;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod spin;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod ticket;

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub use blocking::{Lock, LockGuard};
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub use mutex::{BlockingMutex, SpinMutex, TicketMutex};
pub use mutex::{ExclusiveLock, Mutex, MutexGuard};
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub use reentrant::{OwnerId, ReentrantLock, ReentrantLockGuard};
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub use spin::{SpinLock, SpinLockGuard};
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub use ticket::{TicketLock, TicketLockGuard};

/// How a lock whose owner can die was taken (pthreads' `EOWNERDEAD`): by the
/// `_or_recover` forms of [`Lock`] and [`ReentrantLock`].
///
/// ```
/// use conkit_core::lock::{Acquired, Lock};
///
/// let lock: Lock = Lock::new();
/// match lock.acquire_or_recover() {
///     Acquired::Clean => {}
///     Acquired::OwnerDied => { /* repair the guarded data, then carry on */ }
/// }
/// lock.release().unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "`OwnerDied` means the guarded data may be inconsistent"]
pub enum Acquired {
    /// Taken from a free lock, or handed over by a release.
    Clean,
    /// The previous holder died holding it (killed, or its thread ended): the caller
    /// holds the lock now, and the data the lock guards may be half updated.
    OwnerDied,
}

impl Acquired {
    /// `true` for [`Acquired::OwnerDied`].
    ///
    /// ```
    /// assert!(conkit_core::lock::Acquired::OwnerDied.owner_died());
    /// ```
    #[must_use]
    pub const fn owner_died(self) -> bool {
        matches!(self, Acquired::OwnerDied)
    }
}

/// Why a `release` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReleaseError {
    /// The lock was not held (Python: `RuntimeError: release unlocked lock`).
    NotLocked,
    /// The lock is held by another owner (Python's `RLock`:
    /// `RuntimeError: cannot release un-acquired lock`).
    NotOwner,
}

impl core::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ReleaseError::NotLocked => "release of an unlocked lock",
            ReleaseError::NotOwner => "release of a lock held by another owner",
        })
    }
}

impl core::error::Error for ReleaseError {}

/// A lock without data, with Python's `threading.Lock` operations.
pub trait RawLock {
    /// Takes the lock if it is free; never waits (legal in an interrupt handler).
    fn try_acquire(&self) -> bool;
    /// Takes the lock, waiting as long as needed.
    fn acquire(&self);
    /// Gives the lock back.
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if it was not held; [`ReleaseError::NotOwner`] for
    /// locks with an owner when the caller is not it.
    fn release(&self) -> Result<(), ReleaseError>;
    /// `true` while somebody holds the lock (a snapshot).
    fn locked(&self) -> bool;
    /// Gives back a lock the caller is known to hold (a guard, or right after its own
    /// acquisition), skipping the checks [`release`](Self::release) makes to report
    /// misuse. Calling it without holding the lock is a logic error, as releasing
    /// someone else's lock with `release` is: never undefined behaviour by itself.
    #[inline]
    fn release_held(&self) {
        let _ = self.release();
    }
}

/// Mutual exclusion as a scope: runs `f` with the lock held.
pub trait RawMutex {
    /// Runs `f` under mutual exclusion and returns its result.
    ///
    /// # Panics
    /// If `f` panics, the panic propagates to the caller. Implementations must leave the
    /// mutex free when `f` unwinds (the blanket implementation for every [`RawLock`]
    /// and [`CriticalSectionMutex`] do), so that a panic in user code run under the
    /// lock (an item's `Ord`, a store method) never leaves it held.
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// Releases a held [`RawLock`] when dropped: at the end of [`RawMutex::with_lock`], and
/// also when its closure unwinds.
struct ReleaseOnDrop<'a, L: RawLock + ?Sized>(&'a L);

impl<L: RawLock + ?Sized> Drop for ReleaseOnDrop<'_, L> {
    #[inline]
    fn drop(&mut self) {
        // Made right after the acquisition in `with_lock`: we hold the lock.
        self.0.release_held();
    }
}

impl<L: RawLock> RawMutex for L {
    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.acquire();
        let _release = ReleaseOnDrop(self);
        f()
    }
}

/// Mutual exclusion by `critical_section::with`: interrupt-safe on single-core firmware
/// (interrupts are masked), a global lock on std. Not for memory shared between
/// processes (the std critical section is per process): use a [`RawLock`] there.
///
/// A panic inside the section ends it (`critical_section::with` restores the state with
/// a drop guard), so the section is left on unwind like any other [`RawMutex`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CriticalSectionMutex;

impl CriticalSectionMutex {
    /// The (stateless) critical-section mutex.
    pub const fn new() -> Self {
        Self
    }
}

impl RawMutex for CriticalSectionMutex {
    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        critical_section::with(|_| f())
    }
}
