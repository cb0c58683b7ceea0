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
use core::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

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
/// # Owners that die
/// A [`Lock<SharedFutex>`](crate::lock::Lock) records its holder's kernel thread id
/// ([`WaitStrategy::owner_token`]), and its waiters sleep in slices (1 ms, doubling up
/// to 16 ms: [`WaitStrategy::sleep_slice`]) after each of which they probe the holder
/// ([`WaitStrategy::owner_alive`]): `kill(tid, 0)` answers `ESRCH` for a thread that is
/// gone, and `/proc/<tid>/stat` says `Z` for a killed process its parent has not reaped
/// yet. A holder that is gone is replaced by the next acquirer, which learns it through
/// [`Acquired::OwnerDied`](crate::lock::Acquired::OwnerDied) — pthreads' `EOWNERDEAD` —
/// within ~20 ms of the death.
///
/// This probe was chosen over the kernel's robust-futex list (`set_robust_list`), whose
/// one list head per thread belongs to the C library's robust mutexes: registering our
/// own would silently break those. Its limits: every process must live in the same PID
/// namespace; a thread that ends while holding the lock counts as dead (as with a
/// robust pthread mutex), so release a `Lock<SharedFutex>` from a thread that outlives
/// the acquisition; and thread ids are reused after `pid_max` new ones (4 194 304 by
/// default on 64-bit Linux), so a holder dead for that long whose id went to a live
/// thread is taken for alive.
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

/// A futex system call failed with an error the futex contract does not expect (not
/// `EAGAIN`, `EINTR` or `ETIMEDOUT`): `EFAULT`, `EINVAL`, `ENOSYS` (a sandbox or an
/// emulator without futexes), `EPERM`.
///
/// [`Futex::try_wait`] / [`SharedFutex::try_wait`] return it; the [`WaitStrategy`]
/// methods, whose signatures cannot carry it, record it (see
/// [`SharedFutex::last_error`]) and, instead of returning at once (which would turn
/// every caller's wait loop into a silent busy loop), sleep a millisecond (bounded by the
/// deadline) before they return.
///
/// ```
/// use conkit_core::wait::FutexError;
///
/// let e = FutexError::from_errno(libc::ENOSYS);
/// assert_eq!(e.errno(), libc::ENOSYS);
/// assert!(e.to_string().starts_with("futex: "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FutexError {
    errno: i32,
}

impl FutexError {
    /// The error of `errno` (an OS error number such as `libc::EFAULT`).
    #[must_use]
    pub const fn from_errno(errno: i32) -> Self {
        Self { errno }
    }

    /// The OS error number.
    #[must_use]
    pub const fn errno(&self) -> i32 {
        self.errno
    }
}

impl core::fmt::Display for FutexError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "futex: {}",
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for FutexError {}

/// The last unexpected futex error of this process (an errno), 0 if none.
static LAST_ERROR: AtomicI32 = AtomicI32::new(0);

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `FUTEX_WAIT` until woken, the word changes, or `deadline`; an unexpected errno is an
/// error.
fn try_wait(
    word: &WaitWord,
    expected: u32,
    deadline: Option<Instant>,
    private: bool,
) -> Result<WaitOutcome, FutexError> {
    let flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    let timeout = match deadline {
        None => None,
        Some(d) => match remaining(d) {
            None => return Ok(WaitOutcome::TimedOut),
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
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | flag,
            expected,
            ts,
            ptr::null::<u32>(),
            0u32,
        )
    };
    if r != 0 {
        match errno() {
            libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT => {}
            e => return Err(FutexError::from_errno(e)),
        }
    }
    // A wake, EINTR, EAGAIN (the word changed) or ETIMEDOUT: report a time-out only once
    // the absolute deadline has really passed (the contract), else let the caller
    // re-check and wait again with what is left.
    Ok(match deadline {
        Some(d) if remaining(d).is_none() => WaitOutcome::TimedOut,
        _ => WaitOutcome::Woken,
    })
}

/// [`try_wait`] for the [`WaitStrategy`] contract: an error is recorded and paced (a
/// millisecond's sleep, bounded by the deadline), never a silent busy loop.
fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>, private: bool) -> WaitOutcome {
    match try_wait(word, expected, deadline, private) {
        Ok(outcome) => outcome,
        Err(e) => failed(e, deadline),
    }
}

#[cold]
fn failed(e: FutexError, deadline: Option<Instant>) -> WaitOutcome {
    LAST_ERROR.store(e.errno(), Ordering::Relaxed);
    let pause = Duration::from_millis(1);
    let pause = deadline
        .and_then(remaining)
        .map_or(pause, |left| left.min(pause));
    std::thread::sleep(pause);
    match deadline {
        Some(d) if remaining(d).is_none() => WaitOutcome::TimedOut,
        _ => WaitOutcome::Woken,
    }
}

/// `FUTEX_WAKE` up to `n` sleepers; an error (the word's address is not mapped, no
/// futexes) is recorded for `last_error`.
fn wake(word: &WaitWord, n: i32, private: bool) {
    let flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: `word` is a live, aligned `u32`; FUTEX_WAKE only uses its address as a key.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | flag, n) };
    if r < 0 {
        LAST_ERROR.store(errno(), Ordering::Relaxed);
    }
}

/// The inherent methods of a futex flavour: the checked wait and the error record.
macro_rules! futex_checked {
    ($ty:ident, private = $private:expr) => {
        impl $ty {
            /// [`WaitStrategy::wait`], with an unexpected error of the system call
            /// reported instead of recorded: sleeps while `word` holds `expected`, at
            /// most until `deadline`.
            ///
            /// # Errors
            /// [`FutexError`] if `futex(2)` fails with anything but `EAGAIN` (the word
            /// differs), `EINTR` or `ETIMEDOUT`.
            ///
            /// ```
            /// use conkit_core::wait::WaitOutcome;
            #[doc = concat!("use conkit_core::wait::", stringify!($ty), ";")]
            /// use conkit_core::WaitWord;
            ///
            /// let word = WaitWord::new(1);
            #[doc = concat!("assert_eq!(", stringify!($ty), "::try_wait(&word, 0, None), Ok(WaitOutcome::Woken));")]
            /// ```
            pub fn try_wait(
                word: &WaitWord,
                expected: u32,
                deadline: Option<Instant>,
            ) -> Result<WaitOutcome, FutexError> {
                try_wait(word, expected, deadline, $private)
            }

            /// The last unexpected error a futex call of this process met in a
            /// [`WaitStrategy`] method (which cannot return it), if any: a primitive
            /// that keeps waking up at once without progress can be diagnosed with it.
            ///
            /// ```
            #[doc = concat!("use conkit_core::wait::", stringify!($ty), ";")]
            ///
            #[doc = concat!("assert_eq!(", stringify!($ty), "::last_error(), None);")]
            /// ```
            #[must_use]
            pub fn last_error() -> Option<FutexError> {
                match LAST_ERROR.load(Ordering::Relaxed) {
                    0 => None,
                    e => Some(FutexError::from_errno(e)),
                }
            }
        }
    };
}

futex_checked!(Futex, private = true);
futex_checked!(SharedFutex, private = false);

/// Implements [`WaitStrategy`] for a futex flavour (`private`: the `FUTEX_PRIVATE_FLAG`).
macro_rules! futex_strategy {
    ($ty:ident, private = $private:expr, slots = $slots:ty $(, { $($owners:tt)* })?) => {
        impl WaitStrategy for $ty {
            type Deadline = Instant;
            type SlotOwner = $slots;
            const RELAX_ROUNDS: u32 = super::os::RELAX_ROUNDS;
            const RELAX_YIELD_ROUNDS: u32 = super::os::YIELD_ROUNDS;
            // The shared futex's waiters and notifiers may be processes, any of which
            // may die (see `WaitStrategy::PROCESS_SHARED`): sleeps in bounded slices.
            const PROCESS_SHARED: bool = !$private;

            #[inline]
            fn sleep_slice(deadline: Option<Instant>, round: u32) -> Option<Instant> {
                if $private {
                    deadline
                } else {
                    Some(super::os::sleep_slice(deadline, round))
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

            $($($owners)*)?
        }
    };
}

futex_strategy!(Futex, private = true, slots = super::Unrecorded);
futex_strategy!(SharedFutex, private = false, slots = super::Recorded, {
    // The owners of a process-shared lock are threads of several processes: one that is
    // gone (killed, or exited without releasing) is detected by its kernel thread id.
    #[inline]
    fn owner_alive(token: u32) -> bool {
        super::os::thread_alive(token)
    }
});

#[cfg(test)]
mod tests {
    use super::*;
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

    /// `SharedFutex` used to ignore the result of `futex(2)`: an error such as `ENOSYS`
    /// made every wait return at once, a silent busy loop in every caller. Now it is
    /// recorded for `last_error` and paced (a millisecond, bounded by the deadline).
    #[test]
    fn an_unexpected_futex_error_is_recorded_and_paced_not_a_busy_loop() {
        let e = FutexError::from_errno(libc::ENOSYS);
        let start = Instant::now();
        assert_eq!(failed(e, None), WaitOutcome::Woken);
        assert!(start.elapsed() >= Duration::from_millis(1));
        assert_eq!(SharedFutex::last_error(), Some(e));
        assert_eq!(Futex::last_error(), Some(e));
        // The pause never outlasts the deadline, and a passed deadline is reported.
        let start = Instant::now();
        assert_eq!(failed(e, Some(start)), WaitOutcome::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(std::format!("{e}").contains("futex: "));
    }

    #[test]
    fn try_wait_reports_the_expected_outcomes() {
        let w = word(1);
        assert_eq!(SharedFutex::try_wait(&w, 0, None), Ok(WaitOutcome::Woken));
        let soon = Instant::now() + Duration::from_millis(5);
        let mut outcome = Ok(WaitOutcome::Woken);
        while outcome == Ok(WaitOutcome::Woken) {
            outcome = Futex::try_wait(&w, 1, Some(soon));
        }
        assert_eq!(outcome, Ok(WaitOutcome::TimedOut));
    }

    #[test]
    fn wake_one_and_wake_all_reach_a_sleeper() {
        wake_reaches_sleeper::<Futex>(false);
        wake_reaches_sleeper::<Futex>(true);
        wake_reaches_sleeper::<SharedFutex>(false);
        wake_reaches_sleeper::<SharedFutex>(true);
    }
}
