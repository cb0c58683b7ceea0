//! [`Lock`]: Python's `threading.Lock` (a primitive lock) for OS threads.
//!
//! A thin wrapper over [`conkit_core::lock::Lock`], generic over the waiting strategy
//! `W` ([`Futex`] by default: `Lock` is `Lock<Futex>`; `Lock<SharedFutex>` for a lock in
//! memory shared by processes): the algorithm (Ulrich Drepper's futex mutex #3, "Futexes Are
//! Tricky", with a short spin before sleeping) and its guarantees are documented there;
//! this module adds Python's names, `Duration` timeouts and the deadlock-detection
//! hooks of the `deadlock-detection` feature.
//!
//! | Python | conkit |
//! |---|---|
//! | `lock.acquire()` / `acquire(blocking=True, timeout=-1)` | [`lock.acquire()`](Lock::acquire) |
//! | `lock.acquire(blocking=False)` / `acquire(False)` | [`lock.try_acquire()`](Lock::try_acquire) |
//! | `lock.acquire(timeout=t)` | [`lock.acquire_timeout(t)`](Lock::acquire_timeout) (a [`Duration`]), or [`acquire_until(deadline)`](Lock::acquire_until) (an [`Instant`]) |
//! | `lock.release()` | [`lock.release()`](Lock::release) → `Result<(), ReleaseError>` |
//! | `RuntimeError: release unlocked lock` | [`ReleaseError::NotLocked`] |
//! | `lock.locked()` | [`lock.locked()`](Lock::locked) |
//! | `with lock:` | [`let _g = lock.lock();`](Lock::lock) (released when the guard drops) |
//!
//! `Lock` guards no data, as Python's. To keep data under a lock, use
//! [`Mutex<T>`](super::Mutex): the same lock, with the value inside.

use std::fmt;
use std::time::{Duration, Instant};

use conkit_core::lock::Lock as CoreLock;
pub use conkit_core::lock::{Acquired, ReleaseError};
use conkit_core::lock::{ExclusiveLock, RawLock};

use super::deadlock::{self, LockId};
use crate::wait::{deadline_after, Futex, InstantWait};

/// A primitive lock (Python's `threading.Lock`): held or free, with no owner.
///
/// Waiters spin briefly, then sleep in the kernel (Linux futex). Not reentrant: a
/// thread that acquires a lock it already holds waits forever, as in Python (use
/// [`RLock`](super::RLock) for that). Not fair: a running thread may take the lock
/// before a woken sleeper.
///
/// As in Python, **any thread may release a held lock**, not only the one that
/// acquired it; releasing a free lock is an error ([`ReleaseError::NotLocked`], Python's
/// `RuntimeError`) that leaves the lock unchanged.
///
/// `Lock` guards no data: it is Python's lock, for code that pairs it with data by
/// convention or hands it between threads. To guard a value, use
/// [`Mutex<T>`](super::Mutex): this lock with the value inside, reached only through
/// its guard.
///
/// The guard of [`lock`](Self::lock) is what keeps the lock held: bind it to a name
/// (`let _g = lock.lock();`). `let _ = lock.lock();` drops it at once, so the lock is
/// released on the same line, and `lock.lock();` as a statement too (the compiler
/// warns about the latter, not the former).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use conkit::threading::{self, Lock, ReleaseError};
///
/// static LOCK: Lock = Lock::new();
///
/// {
///     let _guard = LOCK.lock(); // Python: `with lock:`
///     assert!(LOCK.locked());
///     assert!(!LOCK.try_acquire()); // acquire(blocking=False)
///     assert!(!LOCK.acquire_timeout(Duration::from_millis(1))); // acquire(timeout=0.001)
/// }
/// assert!(!LOCK.locked());
///
/// // Acquired here, released by another thread: allowed, as in Python.
/// LOCK.acquire();
/// threading::spawn(|| LOCK.release().unwrap()).join().unwrap();
/// assert_eq!(LOCK.release(), Err(ReleaseError::NotLocked));
///
/// let shared = Arc::new(Lock::new());
/// assert!(shared.try_acquire());
/// ```
///
/// # The waiting strategy
/// `W` is how a blocked caller sleeps (see [`crate::wait`]); it defaults to [`Futex`], so
/// `Lock` is `Lock<Futex>` and [`new`](Lock::new) makes one. Any other [`InstantWait`]
/// strategy gives the same lock with another way to sleep, made by
/// [`with_strategy`](Lock::with_strategy): `Lock<SharedFutex>` for a lock placed in
/// `MAP_SHARED` memory and used by several processes, `Lock<Spin<Instant>>` to busy-wait.
/// `new` and `Default` make only the default form, so that `Lock::new()` and
/// `Lock::default()` need no annotation (as `HashMap::new` is only for the default
/// hasher); every other method is the same for every strategy. The same holds for
/// [`RLock`](super::RLock), [`Semaphore`](super::Semaphore),
/// [`BoundedSemaphore`](super::BoundedSemaphore), [`Event`](super::Event),
/// [`Barrier`](super::Barrier), [`Mutex`](super::Mutex) and [`Monitor`](super::Monitor);
/// a [`Condition`](super::Condition) sleeps with its lock's strategy.
///
/// ```
/// use std::time::Instant;
/// use conkit::core::wait::Spin;
/// use conkit::threading::Lock;
///
/// let spinning: Lock<Spin<Instant>> = Lock::with_strategy();
/// let _g = spinning.lock();
/// assert!(spinning.locked());
/// ```
#[repr(C)]
pub struct Lock<W: InstantWait = Futex> {
    inner: CoreLock<W>,
    id: LockId,
}

impl Lock {
    /// A free lock (Python: `threading.Lock()`). `const`, so it can be a `static`.
    ///
    /// Makes the default `Lock<Futex>`; [`with_strategy`](Lock::with_strategy) makes a
    /// lock with another waiting strategy.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> Lock<W> {
    /// A free lock whose waiters sleep with the strategy `W` (see [the waiting
    /// strategy](Lock#the-waiting-strategy)). `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::Lock;
    /// use conkit::wait::Parking;
    ///
    /// static PORTABLE: Lock<Parking> = Lock::with_strategy();
    /// assert!(PORTABLE.try_acquire());
    /// PORTABLE.release().unwrap();
    /// ```
    #[must_use]
    pub const fn with_strategy() -> Self {
        Self {
            inner: CoreLock::new(),
            id: LockId::new(),
        }
    }

    /// Names this lock in deadlock reports (feature `deadlock-detection`; without the
    /// feature it does nothing). Python has no counterpart.
    pub fn set_debug_name(&self, name: &str) {
        deadlock::set_lock_name(&self.id, name);
    }

    /// Takes the lock, waiting as long as needed (Python: `acquire()`,
    /// `acquire(blocking=True, timeout=-1)`).
    ///
    /// Never use it on a lock the calling thread already holds: that waits forever, as
    /// in Python.
    #[inline]
    pub fn acquire(&self) {
        deadlock::tracked_acquire(&self.id, true, || {
            self.inner.acquire();
            true
        });
    }

    /// Takes the lock if it is free and returns whether it did; never waits (Python:
    /// `acquire(blocking=False)`, `acquire(False)`).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        deadlock::tracked_acquire(&self.id, false, || self.inner.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout`; returns whether it took it (Python:
    /// `acquire(timeout=t)`, which returns `True`/`False`).
    ///
    /// The timeout is a deadline: spurious wake-ups and wake-ups that lose the race for
    /// the lock do not extend it. A zero timeout still tries once (like
    /// [`try_acquire`](Self::try_acquire)). `Duration` cannot be negative, so Python's
    /// `timeout=-1` ("forever") is [`acquire`](Self::acquire); a huge timeout such as
    /// `Duration::MAX` saturates to decades (Python raises `OverflowError` above
    /// `threading.TIMEOUT_MAX`; here it simply waits "forever").
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline`; returns whether it took it.
    /// A deadline that has passed still tries once. No Python counterpart (Python takes
    /// a relative `timeout`); the form every `_timeout` call here is built on.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use conkit::threading::Lock;
    ///
    /// let lock = Lock::new();
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(lock.acquire_until(deadline));
    /// assert!(!lock.acquire_until(deadline)); // held: waits until the deadline
    /// lock.release().unwrap();
    /// ```
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: Instant) -> bool {
        deadlock::tracked_acquire(&self.id, true, || self.inner.acquire_until(deadline))
    }

    /// Takes the lock like [`acquire`](Self::acquire) and says whether its previous
    /// holder died holding it: [`Acquired::OwnerDied`] — you hold the lock, and what it
    /// guards may be half updated (pthreads' `EOWNERDEAD`). Owners can die only between
    /// processes (`Lock<SharedFutex>` in shared memory, `conkit::multiprocessing::Lock`);
    /// the plain forms recover the same way and drop the outcome. Python has no
    /// counterpart (a CPython process killed holding a `multiprocessing.Lock` leaves it
    /// held forever).
    ///
    /// ```
    /// use conkit::threading::{Acquired, Lock};
    ///
    /// let lock = Lock::new();
    /// assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
    /// assert_eq!(lock.try_acquire_or_recover(), None); // held by a live holder
    /// lock.release().unwrap();
    /// ```
    #[inline]
    pub fn acquire_or_recover(&self) -> Acquired {
        // Always `Some`: the blocking form takes the lock.
        deadlock::tracked_recover(&self.id, true, || Some(self.inner.acquire_or_recover()))
            .unwrap_or(Acquired::Clean)
    }

    /// Takes the lock if it is free or its holder died (never waits): `None` if a live
    /// holder has it, else how it was taken (see
    /// [`acquire_or_recover`](Self::acquire_or_recover)). Unlike
    /// [`try_acquire`](Self::try_acquire), it asks whether the holder still lives.
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn try_acquire_or_recover(&self) -> Option<Acquired> {
        deadlock::tracked_recover(&self.id, false, || self.inner.try_acquire_or_recover())
    }

    /// Takes the lock, waiting at most `timeout` (as
    /// [`acquire_timeout`](Self::acquire_timeout)), and says how: `None` if the time ran
    /// out, else as [`acquire_or_recover`](Self::acquire_or_recover).
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn acquire_timeout_or_recover(&self, timeout: Duration) -> Option<Acquired> {
        self.acquire_until_or_recover(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline`, and says how (as
    /// [`acquire_timeout_or_recover`](Self::acquire_timeout_or_recover)).
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn acquire_until_or_recover(&self, deadline: Instant) -> Option<Acquired> {
        deadlock::tracked_recover(&self.id, true, || {
            self.inner.acquire_until_or_recover(deadline)
        })
    }

    /// Takes the lock back for a guard that stands for an earlier acquisition (a
    /// [`Monitor`](super::Monitor)'s guard after a wait): the lock is held when this
    /// returns, also if the deadlock detector's bookkeeping panics (it then takes the
    /// lock without it and the panic goes on), so that the guard's release stays matched.
    pub(crate) fn reacquire_for_guard(&self) {
        struct Untracked<'a, W: InstantWait>(&'a CoreLock<W>);
        impl<W: InstantWait> Drop for Untracked<'_, W> {
            fn drop(&mut self) {
                self.0.acquire();
            }
        }
        // Armed only while `before_acquire` runs (it may call the user's hook).
        let untracked = Untracked(&self.inner);
        deadlock::before_acquire(&self.id, true);
        std::mem::forget(untracked);
        self.inner.acquire();
        deadlock::after_acquire(&self.id);
    }

    /// Releases the lock (Python: `release()`). Any thread may release it, not only the
    /// one that acquired it, as in Python. Wakes one sleeping waiter, if any.
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if the lock is free (Python: `RuntimeError: release
    /// unlocked lock`); the lock is unchanged.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        // Told while the lock is still held, so a new holder's `after_acquire` cannot
        // come before it (a compile-time no-op without the feature).
        if cfg!(feature = "deadlock-detection") && self.inner.locked() {
            deadlock::before_release(&self.id);
        }
        self.inner.release()
    }

    /// `true` while some thread holds the lock (Python: `locked()`). A snapshot: it may
    /// be stale as soon as it returns.
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// Takes the lock and returns a guard that releases it when dropped (Python:
    /// `with lock:`).
    ///
    /// Bind the guard to a name: `let _g = lock.lock();` holds the lock to the end of
    /// the scope, but `let _ = lock.lock();` releases it on the same line.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, W> {
        self.acquire();
        LockGuard { lock: self }
    }

    /// Takes the lock, awaiting it in an async task instead of blocking the thread
    /// (Python: `await lock.acquire()` of an `asyncio.Lock`, on the *same* lock the
    /// threads use). A thread's [`release`](Self::release) wakes the task, and a
    /// task's release wakes a sleeping thread. Cancellation-safe: a future dropped
    /// before it completes holds nothing and swallows no wake-up. Async acquisitions
    /// are not seen by the `deadlock-detection` hooks (a task is not a thread).
    ///
    /// Not fair, unlike `asyncio.Lock`: asyncio hands a released lock to its oldest
    /// waiter and queues a new `acquire()` behind the waiters; here a release wakes the
    /// waiting tasks, and a caller that runs first (a thread, a `try_acquire`, or a task
    /// polled before the woken one) may take the lock, the woken task waiting again.
    ///
    /// ```
    /// use conkit::threading::Lock;
    #[doc = "# fn block_on<F: std::future::Future>(f: F) -> F::Output {"]
    #[doc = "#     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)"]
    #[doc = "# }"]
    ///
    /// static LOCK: Lock = Lock::new();
    /// block_on(LOCK.acquire_async());
    /// assert!(LOCK.locked());
    /// LOCK.release().unwrap();
    /// ```
    pub async fn acquire_async(&self) {
        self.inner.acquire_async().await;
    }

    /// Takes the lock, awaiting it (as [`acquire_async`](Self::acquire_async)), and
    /// returns a guard that releases it when dropped (Python: `async with lock:`). The
    /// guard is `Send`: it may be held across an `.await` on a multi-threaded runtime.
    ///
    /// ```
    /// use conkit::threading::Lock;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     static LOCK: Lock = Lock::new();
    ///     let guard = LOCK.lock_async().await; // async with lock:
    ///     assert!(LOCK.locked());
    ///     drop(guard);
    ///     assert!(!LOCK.locked());
    /// }
    /// ```
    pub async fn lock_async(&self) -> LockGuard<'_, W> {
        self.inner.acquire_async().await;
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free (never waits) and returns its guard (Python:
    /// `if lock.acquire(False): try: … finally: lock.release()`).
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, W>> {
        self.try_acquire().then(|| LockGuard { lock: self })
    }

    /// Takes the lock, waiting at most `timeout` (as
    /// [`acquire_timeout`](Self::acquire_timeout)), and returns its guard (`None`: timed
    /// out).
    #[inline]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, W>> {
        self.lock_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline` (as
    /// [`acquire_until`](Self::acquire_until)), and returns its guard (`None`: timed
    /// out).
    #[inline]
    pub fn lock_until(&self, deadline: Instant) -> Option<LockGuard<'_, W>> {
        self.acquire_until(deadline)
            .then(|| LockGuard { lock: self })
    }
}

/// The core's raw-lock interface, so that `conkit_core` types generic over a lock (the
/// core [`Mutex<R, T>`](conkit_core::lock::Mutex), [`Condvar`](conkit_core::condvar::Condvar)'s
/// `wait_lock`) can use this lock with its deadlock-detection hooks. Each method is the
/// inherent one of the same name.
impl<W: InstantWait> RawLock for Lock<W> {
    #[inline]
    fn try_acquire(&self) -> bool {
        Lock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        Lock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        Lock::release(self)
    }
    #[inline]
    fn locked(&self) -> bool {
        Lock::locked(self)
    }
}

// SAFETY: every acquisition goes through the core `Lock<W>` (itself an
// `ExclusiveLock`: while it is held no acquisition succeeds, whoever asks, and any thread
// may release it); the deadlock-detection hooks around it only record and report, and
// never acquire or release the lock themselves.
unsafe impl<W: InstantWait> ExclusiveLock for Lock<W> {}

impl Default for Lock {
    /// A free lock.
    fn default() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> fmt::Debug for Lock<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Holds a [`Lock`]; releases it when dropped (the end of Python's `with lock:` block).
///
/// The guard may be sent to another thread and dropped there: a `Lock` has no owner.
///
/// ```
/// use conkit::threading::Lock;
///
/// let lock = Lock::new();
/// let guard = lock.lock();
/// assert!(lock.locked());
/// drop(guard);
/// assert!(!lock.locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, W: InstantWait = Futex> {
    lock: &'a Lock<W>,
}

impl<W: InstantWait> LockGuard<'_, W> {
    /// Keeps the lock held without the guard: it must then be released with
    /// [`Lock::release`] (possibly by another thread).
    #[inline]
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl<W: InstantWait> fmt::Debug for LockGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl<W: InstantWait> Drop for LockGuard<'_, W> {
    #[inline]
    fn drop(&mut self) {
        // The guard stands for the acquisition it was made from. If another thread
        // released the lock behind the guard's back (allowed for a `Lock`, as in
        // Python), this release reports `NotLocked`, ignored: nothing is left to do.
        let _ = self.lock.release();
    }
}
