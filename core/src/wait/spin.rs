//! The spinning strategy: the default on firmware and the fallback everywhere.
//!
//! Waiting spins with exponential backoff (`spin_loop` hints, 1, 2, 4 … 64 per round)
//! and always returns after a bounded number of rounds, so the caller re-checks its
//! condition even when nobody calls `wake_*`. That makes it correct with producers that
//! never notify (an interrupt handler using only the `try_*` forms).

use core::marker::PhantomData;

use super::{Deadline, Never, WaitOutcome, WaitStrategy};
use crate::atomic::{spin_hint, Ordering, WaitWord};

/// Busy-waiting strategy, generic over the clock that bounds timed waits
/// (`Spin<Never>`, the default, supports untimed waits only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spin<D: Deadline = Never>(PhantomData<D>);

/// Rounds of backoff per call to [`Spin::wait`] before returning to re-check.
const ROUNDS: u32 = 7;

impl<D: Deadline> WaitStrategy for Spin<D> {
    type Deadline = D;

    #[inline]
    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        for round in 0..ROUNDS {
            if word.load(Ordering::Relaxed) != expected {
                return WaitOutcome::Woken;
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    return WaitOutcome::TimedOut;
                }
            }
            for _ in 0..(1u32 << round) {
                spin_hint();
            }
        }
        WaitOutcome::Woken
    }

    #[inline]
    fn wake_one(_word: &WaitWord) {}

    #[inline]
    fn wake_all(_word: &WaitWord) {}
}
