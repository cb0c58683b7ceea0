//! [`Parking`]: the portable waiting strategy, for std platforms without a Linux futex.
//!
//! A fixed table of buckets, each a `std::sync::Mutex<()>` and a `Condvar`, chosen by
//! hashing the word's address (the "parking lot" idea of WebKit's `WTF::ParkingLot` and
//! Rust's `parking_lot`, reduced to what the futex contract needs). A waiter locks its
//! bucket, re-checks the word under the bucket lock and waits on the condvar; a waker
//! locks the same bucket before notifying, so a wake can never slip between the check
//! and the sleep. Words that share a bucket wake each other spuriously, which the
//! contract allows (callers re-check their condition).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::os::remaining;
use super::{WaitOutcome, WaitStrategy};
use crate::atomic::{Ordering, WaitWord};

/// Sleeps on a condition variable from a global table keyed by the word's address.
///
/// Works on every std platform (the [`DefaultWait`](super::DefaultWait) of std
/// platforms without a Linux futex); on Linux prefer [`Futex`](super::Futex) (one
/// syscall, no bucket lock). Not usable across processes.
///
/// ```
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::Parking;
///
/// let sem: Semaphore<Parking> = Semaphore::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| sem.release().unwrap());
///     sem.acquire(); // sleeps on a std condition variable until the release
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Parking;

const BUCKETS: usize = 64;

struct Bucket {
    lock: Mutex<()>,
    cond: Condvar,
}

#[allow(clippy::declare_interior_mutable_const)] // used only to initialise the table
const BUCKET: Bucket = Bucket {
    lock: Mutex::new(()),
    cond: Condvar::new(),
};

static TABLE: [Bucket; BUCKETS] = [BUCKET; BUCKETS];

fn bucket(word: &WaitWord) -> &'static Bucket {
    let addr = word as *const WaitWord as usize;
    // Fibonacci hashing of the address (words are at least 4-byte aligned).
    let h = (addr >> 2).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize);
    &TABLE[h >> (usize::BITS - BUCKETS.trailing_zeros())]
}

fn lock(b: &Bucket) -> MutexGuard<'_, ()> {
    // The guarded data is `()`: a panic while holding it cannot leave anything broken.
    b.lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WaitStrategy for Parking {
    type Deadline = Instant;
    type SlotOwner = crate::wait::Unrecorded;
    const RELAX_ROUNDS: u32 = super::os::RELAX_ROUNDS;
    const RELAX_YIELD_ROUNDS: u32 = super::os::YIELD_ROUNDS;

    #[inline]
    fn relax(round: u32) {
        super::os::relax(round);
    }

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        let b = bucket(word);
        let guard = lock(b);
        // Checked under the bucket lock, which every waker takes before notifying.
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        match deadline {
            None => {
                let _guard = b.cond.wait(guard).unwrap_or_else(PoisonError::into_inner);
                WaitOutcome::Woken
            }
            Some(d) => match remaining(d) {
                None => WaitOutcome::TimedOut,
                Some(left) => {
                    let _ = b
                        .cond
                        .wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner);
                    if remaining(d).is_none() {
                        WaitOutcome::TimedOut
                    } else {
                        WaitOutcome::Woken
                    }
                }
            },
        }
    }

    fn wake_one(word: &WaitWord) {
        // Several words share a bucket, so a single notify could wake a sleeper of
        // another word and leave ours asleep: wake the whole bucket.
        Self::wake_all(word);
    }

    fn wake_all(word: &WaitWord) {
        let b = bucket(word);
        drop(lock(b));
        b.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;
    use std::vec::Vec;

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let w = WaitWord::new(3);
        assert_eq!(Parking::wait(&w, 0, None), WaitOutcome::Woken);
    }

    #[test]
    fn wait_times_out_at_the_deadline_not_before() {
        let w = WaitWord::new(0);
        let deadline = Instant::now() + Duration::from_millis(20);
        while Parking::wait(&w, 0, Some(deadline)) != WaitOutcome::TimedOut {}
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_wake_reaches_every_sleeper_of_a_bucket() {
        let words: Arc<Vec<WaitWord>> = Arc::new((0..8).map(|_| WaitWord::new(0)).collect());
        let sleepers: Vec<_> = (0..8)
            .map(|i| {
                let words = Arc::clone(&words);
                thread::spawn(move || {
                    while words[i].load(Ordering::Acquire) == 0 {
                        let _ = Parking::wait(&words[i], 0, None);
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(5));
        for w in words.iter() {
            w.store(1, Ordering::Release);
            Parking::wake_one(w);
        }
        for s in sleepers {
            s.join().unwrap();
        }
    }
}
