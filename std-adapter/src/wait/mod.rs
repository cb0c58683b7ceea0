//! Waiting strategies for OS threads and OS processes: how a blocked caller sleeps.
//!
//! These implement [`conkit_core::wait::WaitStrategy`] (the futex contract: sleep while
//! a `u32` word holds an expected value, wake one, wake all) with
//! [`std::time::Instant`] deadlines, so every `conkit-core` primitive blocks in the
//! kernel instead of spinning when it is used from OS threads. One backend per file, as
//! in parking_lot's `thread_parker/`:
//!
//! | strategy | sleeps in | use it for |
//! |---|---|---|
//! | [`Futex`] | Linux `futex(FUTEX_WAIT_PRIVATE)`; elsewhere [`Parking`] | threads of one process (the default of `conkit::threading`) |
//! | [`SharedFutex`] | Linux `futex(FUTEX_WAIT)` (no `PRIVATE` flag) | words in `MAP_SHARED` memory, waited on by several processes |
//! | [`Parking`] | a fixed table of `std::sync::{Mutex, Condvar}` buckets keyed by the word's address | any std platform (the portable fallback) |
//!
//! Deadlines are absolute (`Instant`): a wait that is woken spuriously or by a wake meant
//! for someone else and waits again still ends at the original deadline.
//!
//! ```
//! use std::time::{Duration, Instant};

//! use conkit::core::semaphore::Semaphore;
//! use conkit::wait::Futex;
//!
//! let sem: Semaphore<Futex> = Semaphore::new(0);
//! // Nobody releases: the timed acquire sleeps in the kernel until the deadline.
//! let deadline = Instant::now() + Duration::from_millis(10);
//! assert!(!sem.acquire_until(deadline));
//! assert!(Instant::now() >= deadline);
//! ```

#[cfg(any(target_os = "linux", target_os = "android"))]
mod futex;
mod parking;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use futex::{Futex, SharedFutex};
pub use parking::Parking;

/// The in-process futex strategy; on platforms without a Linux futex it is [`Parking`].
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub type Futex = Parking;

use std::time::{Duration, Instant};

/// Rounds of the adaptive phase of the OS strategies: 7 spinning (1, 2, 4 … 64 spin
/// hints), then 12 yielding the CPU (`sched_yield`), before a waiter goes to sleep.
/// Waking a sleeping thread costs 25–35 µs on the 2-core machines this is measured on:
/// with one producer and one consumer thread on a `queue::Queue`, a short spin alone
/// gave ~1.2 M items/s and a spin-then-yield phase ~10 M items/s (the yields let a
/// descheduled partner run instead of spinning against it); 12 yields rather than 4
/// cut an `Event` ping-pong round trip from ~11 µs to ~2 µs (CPython: ~26–116 µs).
pub(crate) const SPIN_ROUNDS: u32 = 7;
pub(crate) const RELAX_ROUNDS: u32 = SPIN_ROUNDS + 12;

/// The pause after the `round`-th failed look of the adaptive phase.
#[inline]
pub(crate) fn relax(round: u32) {
    if round < SPIN_ROUNDS {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
}

/// Time left until `deadline`, or `None` once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// `now + timeout`, saturating far in the future instead of overflowing (a timeout of
/// `Duration::MAX` means "forever" in practice, as Python's `TIMEOUT_MAX`).
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        // ~31 years: far beyond any real wait, and always representable.
        .unwrap_or_else(|| now + Duration::from_secs(1 << 30))
}
