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
//! `Deadline` (a firmware timer, or [`Never`] when there is no clock); the std adapter's
//! futex uses `std::time::Instant` (this crate implements `Deadline` for it under the
//! `std` feature).

mod spin;
mod waiters;

pub use spin::Spin;
pub use waiters::Waiters;

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
/// associated functions. Implementations in this workspace:
///
/// | strategy | crate | sleeps in |
/// |---|---|---|
/// | [`Spin`] | `conkit-core` | a bounded spin with backoff (firmware, interrupts enabled) |
/// | `Futex` | `conkit` | Linux `futex(FUTEX_PRIVATE)` / portable fallback |
/// | `SharedFutex` | `conkit` | Linux `futex` on `MAP_SHARED` memory (processes) |
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

    /// The pause after the `round`-th failed look (`round` counts from 0 up to
    /// [`RELAX_ROUNDS`](Self::RELAX_ROUNDS)` - 1`). The default spins `2^round` times
    /// (capped), the shape of crossbeam's `Backoff`; OS strategies yield the CPU in the
    /// last rounds so that a descheduled partner can run.
    #[inline]
    fn relax(round: u32) {
        for _ in 0..(1u32 << round.min(10)) {
            crate::atomic::spin_hint();
        }
    }
}
