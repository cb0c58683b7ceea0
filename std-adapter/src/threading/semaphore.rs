//! [`Semaphore`] and [`BoundedSemaphore`]: Python's `threading.Semaphore` and
//! `threading.BoundedSemaphore` for OS threads.
//!
//! Thin wrappers over [`conkit_core::semaphore::Semaphore`] and
//! [`conkit_core::semaphore::BoundedSemaphore`], generic over the waiting strategy `W`
//! ([`Futex`] by default: `Semaphore` is `Semaphore<Futex>`; `Semaphore<SharedFutex>`
//! for one in memory shared by processes): Dijkstra's counting semaphore on one atomic count, blocked callers sleeping
//! in the kernel through the core's event count (see the core module for the algorithm
//! and its progress guarantees). This module adds Python's names and `Duration`
//! timeouts.
//!
//! | Python | conkit |
//! |---|---|
//! | `Semaphore(value=1)` | [`Semaphore::new(value)`](Semaphore::new) (a `u32`), [`Semaphore::default()`] |
//! | `Semaphore(-1)` → `ValueError` | unrepresentable: the value is a `u32` |
//! | `sem.acquire()` | [`acquire()`](Semaphore::acquire) |
//! | `sem.acquire(blocking=False)` | [`try_acquire()`](Semaphore::try_acquire) |
//! | `sem.acquire(timeout=t)` | [`acquire_timeout(t)`](Semaphore::acquire_timeout), [`acquire_until(deadline)`](Semaphore::acquire_until) |
//! | `sem.release()` | [`release()`](Semaphore::release) → `Result<(), SemaphoreError>` |
//! | `sem.release(n)` (3.9) | [`release_many(n)`](Semaphore::release_many) |
//! | `BoundedSemaphore` over-release → `ValueError` | [`SemaphoreError::Overflow`], the count unchanged |
//! | `sem._value` | [`value()`](Semaphore::value) |
//! | `with sem:` | [`let _p = sem.acquire_guard();`](Semaphore::acquire_guard) (bind the guard to a name: `let _ = …` gives the permit back at once) |
//! | — | [`acquire_many(n)`](Semaphore::acquire_many) and friends: `n` permits at once, all or nothing (the core's names, and tokio's) |
//!
//! Neither type is fair: a running thread may take the permit a sleeper was woken for.
//!
//! Tasks await the same semaphore with [`acquire_async`](Semaphore::acquire_async),
//! [`acquire_many_async`](Semaphore::acquire_many_async) and
//! [`acquire_guard_async`](Semaphore::acquire_guard_async) (Python: `await
//! sem.acquire()` of an `asyncio.Semaphore`): a thread's release wakes a task and a
//! task's wakes a thread.
//!
//! Python's `ValueError`s that cannot happen here: a negative initial value (`u32`),
//! `acquire(False, timeout)` (the non-blocking [`try_acquire`](Semaphore::try_acquire)
//! takes no timeout) and a negative timeout (a `Duration` is never negative). Python's
//! `release(0)` is a `ValueError` (`n must be one or more`); `release_many(0)` does
//! nothing.

use std::fmt;
use std::time::{Duration, Instant};

pub use conkit_core::semaphore::SemaphoreError;
use conkit_core::semaphore::{
    BoundedSemaphore as CoreBoundedSemaphore, Semaphore as CoreSemaphore,
};

use crate::wait::{deadline_after, Futex, InstantWait};

/// Permits taken from a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped
/// (the end of Python's `with sem:` block).
///
/// The core guard ([`conkit_core::semaphore::SemaphoreGuard`]) with the semaphore's
/// waiting strategy ([`Futex`] unless written): [`permits()`](conkit_core::semaphore::SemaphoreGuard::permits) says how
/// many it holds, [`forget()`](conkit_core::semaphore::SemaphoreGuard::forget) keeps
/// them taken. If giving them back fails (only possible when somebody released permits
/// that were never acquired, so the count is at its bound), they are dropped.
///
/// ```
/// use conkit::threading::Semaphore;
///
/// let sem = Semaphore::new(2);
/// {
///     let p = sem.acquire_many_guard(2);
///     assert_eq!((p.permits(), sem.value()), (2, 0));
/// }
/// assert_eq!(sem.value(), 2);
/// ```
pub type SemaphoreGuard<'a, W = Futex> = conkit_core::semaphore::SemaphoreGuard<'a, W>;

/// A counting semaphore (Python's `threading.Semaphore`): a count of permits;
/// [`acquire`](Self::acquire) takes one, waiting while there is none,
/// [`release`](Self::release) gives one back and wakes waiters.
///
/// The value is a `u32`: Python's `ValueError` for a negative initial value cannot
/// happen, and a release that would pass `u32::MAX` permits is
/// [`SemaphoreError::Overflow`] (Python's count is unbounded). Any thread may release,
/// including one that never acquired (a semaphore has no owner). Waiters sleep in the
/// kernel; not fair.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use conkit::threading::{self, Semaphore};
///
/// // At most two threads in the section at once (the seeds' `Semaphore(2)` example).
/// static SLOTS: Semaphore = Semaphore::new(2);
/// static INSIDE: AtomicU32 = AtomicU32::new(0);
/// static MAX_INSIDE: AtomicU32 = AtomicU32::new(0);
///
/// threading::scope(|s| {
///     for _ in 0..6 {
///         s.spawn(|| {
///             let _permit = SLOTS.acquire_guard(); // Python: `with sem:`
///             let now = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
///             MAX_INSIDE.fetch_max(now, Ordering::SeqCst);
///             std::thread::sleep(Duration::from_millis(2));
///             INSIDE.fetch_sub(1, Ordering::SeqCst);
///         });
///     }
/// });
/// assert!(MAX_INSIDE.load(Ordering::SeqCst) <= 2);
/// assert_eq!(SLOTS.value(), 2);
///
/// // Python 3.9's release(n), and n permits at once.
/// let items = Semaphore::new(0);
/// items.release_many(3).unwrap();
/// assert!(items.try_acquire_many(3));
/// assert!(!items.acquire_timeout(Duration::from_millis(1)));
/// ```
///
/// `W` is how a blocked caller sleeps, [`Futex`] unless written (see
/// [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)); a semaphore with
/// another strategy is made by [`with_strategy`](Semaphore::with_strategy).
#[repr(C)]
pub struct Semaphore<W: InstantWait = Futex> {
    inner: CoreSemaphore<W>,
}

/// A semaphore that refuses to be released above its initial value (Python's
/// `threading.BoundedSemaphore`): such a release is [`SemaphoreError::Overflow`]
/// (Python: `ValueError: Semaphore released too many times`) and leaves the count
/// unchanged. Catches "released more often than acquired" bugs.
///
/// Everything else is as [`Semaphore`].
///
/// ```
/// use conkit::threading::{BoundedSemaphore, SemaphoreError};
///
/// static POOL: BoundedSemaphore = BoundedSemaphore::new(2);
///
/// POOL.acquire();
/// POOL.release().unwrap();
/// assert_eq!(POOL.release(), Err(SemaphoreError::Overflow)); // one release too many
/// assert_eq!((POOL.value(), POOL.initial()), (2, 2)); // ...and nothing changed
/// ```
///
/// `W` is the waiting strategy, as for [`Semaphore`]: [`Futex`] unless written, another
/// one through [`with_strategy`](BoundedSemaphore::with_strategy).
#[repr(C)]
pub struct BoundedSemaphore<W: InstantWait = Futex> {
    inner: CoreBoundedSemaphore<W>,
}

impl Semaphore {
    /// A semaphore holding `value` permits (Python: `threading.Semaphore(value)`).
    /// `const`, so it can be a `static`.
    ///
    /// Makes the default `Semaphore<Futex>`; [`with_strategy`](Semaphore::with_strategy)
    /// makes one with another waiting strategy.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self::with_strategy(value)
    }
}

impl<W: InstantWait> Semaphore<W> {
    /// A semaphore holding `value` permits whose waiters sleep with the strategy `W`.
    /// `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::Semaphore;
    /// use conkit::wait::Parking;
    ///
    /// static SLOTS: Semaphore<Parking> = Semaphore::with_strategy(2);
    /// let _a = SLOTS.acquire_guard();
    /// assert_eq!(SLOTS.value(), 1);
    /// ```
    #[must_use]
    pub const fn with_strategy(value: u32) -> Self {
        Self {
            inner: CoreSemaphore::new(value),
        }
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore holding `value` permits, which is also the most it will ever
    /// hold (Python: `threading.BoundedSemaphore(value)`). `const`, so it can be a
    /// `static`.
    ///
    /// Makes the default `BoundedSemaphore<Futex>`;
    /// [`with_strategy`](BoundedSemaphore::with_strategy) makes one with another waiting
    /// strategy.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self::with_strategy(value)
    }
}

impl<W: InstantWait> BoundedSemaphore<W> {
    /// A bounded semaphore holding (at most) `value` permits whose waiters sleep with
    /// the strategy `W`. `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::{BoundedSemaphore, SemaphoreError};
    /// use conkit::wait::Parking;
    ///
    /// let pool: BoundedSemaphore<Parking> = BoundedSemaphore::with_strategy(1);
    /// assert_eq!(pool.release(), Err(SemaphoreError::Overflow));
    /// ```
    #[must_use]
    pub const fn with_strategy(value: u32) -> Self {
        Self {
            inner: CoreBoundedSemaphore::new(value),
        }
    }

    /// The initial value, which is also the bound on the count (Python's
    /// `_initial_value`).
    #[inline]
    #[must_use]
    pub fn initial(&self) -> u32 {
        self.inner.initial()
    }
}

/// The front ends shared by both types (one set of docs, delegating to the core type).
macro_rules! front_ends {
    ($ty:ident, $bound:literal) => {
        impl<W: InstantWait> $ty<W> {
            /// Takes one permit, waiting as long as needed (Python: `acquire()`).
            #[inline]
            pub fn acquire(&self) {
                self.inner.acquire();
            }

            /// Takes one permit if there is one and returns whether it did; never waits
            /// (Python: `acquire(blocking=False)`).
            #[inline]
            #[must_use = "if it returns `true` a permit was taken and must be released"]
            pub fn try_acquire(&self) -> bool {
                self.inner.try_acquire()
            }

            /// Takes one permit, waiting at most `timeout`; returns whether it took it
            /// (Python: `acquire(timeout=t)`).
            ///
            /// The timeout is a deadline: wake-ups that find no permit (another thread
            /// took it first) do not extend it. A zero timeout still tries once;
            /// `Duration::MAX` saturates to decades (Python raises `OverflowError`
            /// above `threading.TIMEOUT_MAX`).
            #[inline]
            #[must_use = "if it returns `true` a permit was taken and must be released"]
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                self.acquire_until(deadline_after(timeout))
            }

            /// Takes one permit, waiting at most until `deadline`; returns whether it
            /// took it. A deadline that has passed still tries once.
            #[inline]
            #[must_use = "if it returns `true` a permit was taken and must be released"]
            pub fn acquire_until(&self, deadline: Instant) -> bool {
                self.inner.acquire_until(deadline)
            }

            /// Takes `n` permits at once (all or nothing), waiting as long as needed;
            /// `n == 0` returns at once. No Python counterpart (Python acquires one at a
            /// time).
            ///
            /// A request for more permits than can ever be available (more than the
            #[doc = $bound]
            /// or more than releasers will give) waits forever: bound it with
            /// [`acquire_many_timeout`](Self::acquire_many_timeout).
            #[inline]
            pub fn acquire_many(&self, n: u32) {
                self.inner.acquire_many(n);
            }

            /// Takes `n` permits at once if there are at least `n`; never waits.
            /// `n == 0` always succeeds.
            #[inline]
            #[must_use = "if it returns `true` the permits were taken and must be released"]
            pub fn try_acquire_many(&self, n: u32) -> bool {
                self.inner.try_acquire_many(n)
            }

            /// Takes `n` permits at once, waiting at most `timeout`; returns whether it
            /// took them (`false`: it took none).
            #[inline]
            #[must_use = "if it returns `true` the permits were taken and must be released"]
            pub fn acquire_many_timeout(&self, n: u32, timeout: Duration) -> bool {
                self.acquire_many_until(n, deadline_after(timeout))
            }

            /// Takes `n` permits at once, waiting at most until `deadline`; returns
            /// whether it took them (`false`: it took none).
            #[inline]
            #[must_use = "if it returns `true` the permits were taken and must be released"]
            pub fn acquire_many_until(&self, n: u32, deadline: Instant) -> bool {
                self.inner.acquire_many_until(n, deadline)
            }

            /// Gives one permit back and wakes waiters (Python: `release()`). Any thread
            /// may call it; never waits.
            ///
            /// # Errors
            /// [`SemaphoreError::Overflow`] if the count would pass
            #[doc = $bound]
            /// the count is then unchanged.
            #[inline]
            pub fn release(&self) -> Result<(), SemaphoreError> {
                self.inner.release()
            }

            /// Gives `n` permits back at once and wakes waiters (Python 3.9:
            /// `release(n)`). `n == 0` does nothing (Python raises `ValueError` for
            /// `n < 1`).
            ///
            /// # Errors
            /// [`SemaphoreError::Overflow`] if the count would pass
            #[doc = $bound]
            /// the count is then unchanged (no permit is added).
            #[inline]
            pub fn release_many(&self, n: u32) -> Result<(), SemaphoreError> {
                self.inner.release_many(n)
            }

            /// The number of available permits (a snapshot; Python's `_value`).
            #[inline]
            #[must_use]
            pub fn value(&self) -> u32 {
                self.inner.value()
            }

            /// Takes one permit, waiting as needed, as a guard that gives it back when
            /// dropped (Python: `with sem:`). Bind it to a name: `let _ = …` gives the
            /// permit back on the same line.
            #[inline]
            pub fn acquire_guard(&self) -> SemaphoreGuard<'_, W> {
                self.inner.acquire_guard()
            }

            /// Takes one permit if there is one (never waits), as a guard.
            #[inline]
            pub fn try_acquire_guard(&self) -> Option<SemaphoreGuard<'_, W>> {
                self.inner.try_acquire_guard()
            }

            /// Takes one permit, waiting at most `timeout`, as a guard (`None`: timed
            /// out).
            #[inline]
            pub fn acquire_guard_timeout(
                &self,
                timeout: Duration,
            ) -> Option<SemaphoreGuard<'_, W>> {
                self.acquire_guard_until(deadline_after(timeout))
            }

            /// Takes one permit, waiting at most until `deadline`, as a guard (`None`:
            /// timed out).
            #[inline]
            pub fn acquire_guard_until(&self, deadline: Instant) -> Option<SemaphoreGuard<'_, W>> {
                self.inner.acquire_guard_until(deadline)
            }

            /// Takes one permit, awaiting it in an async task instead of blocking the
            /// thread (Python: `await sem.acquire()` of an `asyncio.Semaphore`, on the
            /// *same* semaphore the threads use). Every release wakes it — a thread's
            /// or a task's. Cancellation-safe: a future dropped before it completes
            /// takes nothing and swallows no permit meant for another waiter. Not fair,
            /// unlike `asyncio.Semaphore` (whose new `acquire()` queues behind the
            /// waiters): a released permit goes to whichever caller takes it first.
            ///
            /// ```
            #[doc = concat!("use conkit::threading::", stringify!($ty), ";")]
            ///
            /// #[tokio::main(flavor = "current_thread")]
            /// async fn main() {
            #[doc = concat!("    let sem = ", stringify!($ty), "::new(1);")]
            ///     sem.acquire_async().await;
            ///     assert_eq!(sem.value(), 0);
            ///     sem.release().unwrap();
            /// }
            /// ```
            pub async fn acquire_async(&self) {
                self.inner.acquire_async().await;
            }

            /// Takes `n` permits at once (all or nothing), awaiting them. `n == 0`
            /// completes at once. Cancellation-safe.
            pub async fn acquire_many_async(&self, n: u32) {
                self.inner.acquire_many_async(n).await;
            }

            /// Sleeps at most `timeout` until at least `n` permits are available,
            /// taking none (the core's `watch_available_until`): the watch of the
            /// process-shared semaphore's `acquire_many_async` proxy.
            #[cfg(target_os = "linux")]
            pub(crate) fn watch_available(&self, n: u32, timeout: Duration) -> bool {
                self.inner
                    .watch_available_until(n, Some(deadline_after(timeout)))
            }

            /// Takes one permit, awaiting it, as a guard that gives it back when
            /// dropped (Python: `async with sem:`). The guard is `Send`.
            pub async fn acquire_guard_async(&self) -> SemaphoreGuard<'_, W> {
                self.inner.acquire_guard_async().await
            }

            /// Takes `n` permits at once, waiting as needed, as a guard that gives them
            /// all back when dropped.
            #[inline]
            pub fn acquire_many_guard(&self, n: u32) -> SemaphoreGuard<'_, W> {
                self.inner.acquire_many_guard(n)
            }
        }

        impl Default for $ty {
            /// One permit, like Python's `Semaphore()` / `BoundedSemaphore()`.
            fn default() -> Self {
                Self::with_strategy(1)
            }
        }

        impl<W: InstantWait> fmt::Debug for $ty<W> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The core's Debug shows the value, the bound and the sleepers.
                f.debug_tuple(stringify!($ty)).field(&self.inner).finish()
            }
        }
    };
}

front_ends!(Semaphore, "`u32::MAX`;");
front_ends!(BoundedSemaphore, "initial value;");
