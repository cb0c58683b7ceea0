//! The Linux futex strategies: [`Futex`] (process-private) and [`SharedFutex`]
//! (process-shared).
//!
//! `futex(2)`: `FUTEX_WAIT` atomically checks that the word still holds the expected
//! value and goes to sleep, which is exactly the [`WaitStrategy`] contract;
//! `FUTEX_WAKE` wakes 1 or all sleepers. The `PRIVATE` flag lets the kernel key the
//! wait on (address space, virtual address) instead of the physical page, which is
//! faster but only valid between threads of one process; [`SharedFutex`] omits it so
//! processes that map the same `MAP_SHARED` page can wait on each other.
//!
//! Reference: futex(2), and Ulrich Drepper, "Futexes Are Tricky" (2011).

use core::ptr;
use std::time::Instant;

use super::os::remaining;
use super::{WaitOutcome, WaitStrategy};
use crate::atomic::WaitWord;

/// Sleeps in the Linux kernel's process-private futex (threads of one process): the
/// [`DefaultWait`](super::DefaultWait) of every primitive on Linux with the `std`
/// feature.
///
/// Zero-sized: it is only ever a type parameter of a primitive.
///
/// ```
/// use std::time::{Duration, Instant};
/// use conkit_core::event::Event;
/// use conkit_core::wait::Futex;
///
/// let ev: Event<Futex> = Event::new();
/// std::thread::scope(|s| {
///     s.spawn(|| ev.set());
///     // Sleeps in the kernel (after a short spin) until the set wakes it.
///     assert!(ev.wait_until(Instant::now() + Duration::from_secs(10)));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Futex;

/// Sleeps in the Linux kernel's shared futex: for words in memory mapped by several
/// processes (`MAP_SHARED`), e.g. a process-shared lock or semaphore.
///
/// Zero-sized: it is only ever a type parameter of a primitive.
///
/// ```
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::SharedFutex;
///
/// // In a real program this semaphore lives in a `MAP_SHARED` mapping.
/// let sem: Semaphore<SharedFutex> = Semaphore::new(1);
/// assert!(sem.try_acquire());
/// sem.release().unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SharedFutex;

/// `FUTEX_WAIT` until woken, the word changes, or `deadline`.
fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>, private: bool) -> WaitOutcome {
    let flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    let timeout = match deadline {
        None => None,
        Some(d) => match remaining(d) {
            None => return WaitOutcome::TimedOut,
            Some(left) => Some(libc::timespec {
                // Saturate: a wait of more than i64::MAX seconds is a wait forever.
                tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }),
        },
    };
    let ts = timeout
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned `u32` for the duration of the call (we hold a
    // reference to it), and `ts` is null or points to a `timespec` on our stack. The
    // kernel only reads both; FUTEX_WAIT never writes to the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | flag,
            expected,
            ts,
            ptr::null::<u32>(),
            0u32,
        );
    }
    // EINTR, EAGAIN (the word changed), a wake, or ETIMEDOUT: report a time-out only
    // once the absolute deadline has really passed (the contract), else let the caller
    // re-check and wait again with what is left.
    match deadline {
        Some(d) if remaining(d).is_none() => WaitOutcome::TimedOut,
        _ => WaitOutcome::Woken,
    }
}

/// `FUTEX_WAKE` up to `n` sleepers.
fn wake(word: &WaitWord, n: i32, private: bool) {
    let flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: `word` is a live, aligned `u32`; FUTEX_WAKE only uses its address as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | flag, n);
    }
}

/// Implements [`WaitStrategy`] for a futex flavour (`private`: the `FUTEX_PRIVATE_FLAG`).
macro_rules! futex_strategy {
    ($ty:ident, private = $private:expr) => {
        impl WaitStrategy for $ty {
            type Deadline = Instant;
            const RELAX_ROUNDS: u32 = super::os::RELAX_ROUNDS;
            // The shared futex's waiters and notifiers may be processes, any of which
            // may die (see `WaitStrategy::PROCESS_SHARED`): sleeps in bounded slices.
            const PROCESS_SHARED: bool = !$private;

            #[inline]
            fn sleep_slice(deadline: Option<Instant>) -> Option<Instant> {
                if $private {
                    deadline
                } else {
                    super::os::slice_until(deadline)
                }
            }

            #[inline]
            fn relax(round: u32) {
                super::os::relax(round);
            }

            #[inline]
            fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
                wait(word, expected, deadline, $private)
            }

            #[inline]
            fn wake_one(word: &WaitWord) {
                wake(word, 1, $private);
            }

            #[inline]
            fn wake_all(word: &WaitWord) {
                wake(word, i32::MAX, $private);
            }
        }
    };
}

futex_strategy!(Futex, private = true);
futex_strategy!(SharedFutex, private = false);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::Ordering;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn word(v: u32) -> WaitWord {
        WaitWord::new(v)
    }

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let w = word(1);
        let start = Instant::now();
        let far = start + Duration::from_secs(30);
        assert_eq!(Futex::wait(&w, 0, Some(far)), WaitOutcome::Woken);
        assert_eq!(SharedFutex::wait(&w, 0, Some(far)), WaitOutcome::Woken);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn wait_times_out_at_the_deadline_not_before() {
        let w = word(0);
        let deadline = Instant::now() + Duration::from_millis(20);
        loop {
            if Futex::wait(&w, 0, Some(deadline)) == WaitOutcome::TimedOut {
                break;
            }
        }
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_past_deadline_times_out_without_sleeping() {
        let w = word(0);
        let past = Instant::now();
        assert_eq!(Futex::wait(&w, 0, Some(past)), WaitOutcome::TimedOut);
    }

    fn wake_reaches_sleeper<W: WaitStrategy<Deadline = Instant>>(all: bool) {
        let w = Arc::new(word(0));
        let sleeper = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                while w.load(Ordering::Acquire) == 0 {
                    let _ = W::wait(&w, 0, None);
                }
            })
        };
        thread::sleep(Duration::from_millis(5));
        w.store(1, Ordering::Release);
        if all {
            W::wake_all(&w);
        } else {
            W::wake_one(&w);
        }
        sleeper.join().unwrap();
    }

    #[test]
    fn wake_one_and_wake_all_reach_a_sleeper() {
        wake_reaches_sleeper::<Futex>(false);
        wake_reaches_sleeper::<Futex>(true);
        wake_reaches_sleeper::<SharedFutex>(false);
        wake_reaches_sleeper::<SharedFutex>(true);
    }
}
