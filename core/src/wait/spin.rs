//! The spinning strategy: the default on firmware and the fallback everywhere.
//!
//! Waiting spins with exponential backoff (a [`Backoff`]: `spin_loop` hints, 1, 2, 4 …
//! 64 per round) and returns once spun out, so the caller re-checks its
//! condition even when nobody calls `wake_*`. That makes it correct with producers that
//! never notify (an interrupt handler using only the `try_*` forms).

use core::marker::PhantomData;

use super::{Backoff, Deadline, Never, WaitOutcome, WaitStrategy};
use crate::atomic::{Ordering, WaitWord};

/// Busy-waiting strategy, generic over the clock that bounds timed waits
/// (`Spin<Never>`, the default, supports untimed waits only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spin<D: Deadline = Never>(PhantomData<D>);

impl<D: Deadline> WaitStrategy for Spin<D> {
    type Deadline = D;
    type SlotOwner = crate::wait::Unrecorded;

    #[inline]
    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        // One spin phase of a `Backoff` (1, 2, 4 … 64 hints between looks), then back to
        // the caller, who re-checks its condition.
        let mut backoff = Backoff::new();
        while !backoff.is_spun_out() {
            if word.load(Ordering::Relaxed) != expected {
                return WaitOutcome::Woken;
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    return WaitOutcome::TimedOut;
                }
            }
            backoff.spin();
        }
        WaitOutcome::Woken
    }

    #[inline]
    fn wake_one(_word: &WaitWord) {}

    #[inline]
    fn wake_all(_word: &WaitWord) {}
}
