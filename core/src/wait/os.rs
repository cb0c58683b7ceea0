//! What the OS strategies ([`Futex`](super::Futex), [`SharedFutex`](super::SharedFutex),
//! [`Parking`](super::Parking)) share: the adaptive phase before sleeping, and
//! `Instant` arithmetic.

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
            core::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
}

/// The longest sleep of a waiter on a process-shared word before it looks at its
/// condition again (`WaitStrategy::PROCESS_SHARED`): what a notifier that died between
/// its change and its wake-up can cost a waiter. 10 ms: a sleeping waiter re-checks
/// 100 times a second (a few µs of CPU each), and a recovery stays far below the
/// issue's "within a second".
pub(crate) const SHARED_SLICE: Duration = Duration::from_millis(10);

/// The earlier of `deadline` and one [`SHARED_SLICE`] from now.
pub(crate) fn slice_until(deadline: Option<Instant>) -> Option<Instant> {
    let end = Instant::now().checked_add(SHARED_SLICE);
    match (deadline, end) {
        (Some(d), Some(e)) => Some(d.min(e)),
        (d, e) => d.or(e),
    }
}

/// Time left until `deadline`, or `None` once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// `now + timeout`, saturating far in the future instead of overflowing (a timeout of
/// `Duration::MAX` means "forever" in practice, as Python's `TIMEOUT_MAX`): the deadline
/// to pass to the `_until` forms of a primitive whose strategy sleeps until an
/// `Instant`.
///
/// ```
/// use std::time::Duration;
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::{deadline_after, Futex};
///
/// let sem: Semaphore<Futex> = Semaphore::new(0);
/// assert!(!sem.acquire_until(deadline_after(Duration::from_millis(1))));
/// let forever = deadline_after(Duration::MAX); // does not overflow
/// sem.release().unwrap();
/// assert!(sem.acquire_until(forever));
/// ```
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        // ~31 years: far beyond any real wait, and always representable.
        .unwrap_or_else(|| now + Duration::from_secs(1 << 30))
}
