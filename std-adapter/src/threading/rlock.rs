//! [`RLock`]: Python's `threading.RLock` (a reentrant lock) for OS threads.
//!
//! A thin wrapper over [`conkit_core::lock::ReentrantLock`] with the thread identity
//! [`ThreadOwner`] (the kernel thread id, see there) as owner, generic over the waiting
//! strategy `W` ([`Futex`] by default: `RLock` is `RLock<Futex>`): an owner id and a
//! recursion depth over the futex lock, the shape
//! of CPython's `_thread.RLock` (see the core module for the algorithm). This module
//! adds Python's names, `Duration` timeouts, the deadlock-detection hooks and the
//! `_release_save` / `_acquire_restore` pair that `Condition` uses.
//!
//! | Python | conkit |
//! |---|---|
//! | `rlock.acquire()` | [`acquire()`](RLock::acquire) |
//! | `rlock.acquire(blocking=False)` | [`try_acquire()`](RLock::try_acquire) |
//! | `rlock.acquire(timeout=t)` | [`acquire_timeout(t)`](RLock::acquire_timeout), [`acquire_until(deadline)`](RLock::acquire_until) |
//! | `rlock.release()` | [`release()`](RLock::release) → `Result<(), ReleaseError>` |
//! | `RuntimeError: cannot release un-acquired lock` | [`ReleaseError::NotOwner`] (held by another thread) or [`ReleaseError::NotLocked`] (held by nobody) |
//! | `rlock._is_owned()` | [`is_owned()`](RLock::is_owned) |
//! | `rlock._recursion_count()` | [`depth()`](RLock::depth) |
//! | `rlock.locked()` (3.14) | [`locked()`](RLock::locked) |
//! | `with rlock:` | [`let _g = rlock.lock();`](RLock::lock) |

use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use conkit_core::lock::{Acquired, ReentrantLock, ReleaseError};

use super::deadlock::{self, LockId};
use super::ThreadOwner;
use crate::wait::{deadline_after, Futex, InstantWait};

/// A reentrant lock (Python's `threading.RLock`): the thread that holds it may acquire
/// it again; it is free once every acquisition has been released.
///
/// Only the owner may release it: a release by another thread is
/// [`ReleaseError::NotOwner`], a release of a free lock [`ReleaseError::NotLocked`]
/// (Python raises `RuntimeError` for both); either leaves the lock unchanged.
///
/// Waiters sleep in the kernel (Linux futex) after a short spin; not fair. Prefer
/// [`Lock`](super::Lock) where re-entry is not needed: it is cheaper and turns
/// accidental recursion into a visible hang instead of hiding it.
///
/// ```
/// use conkit::threading::{self, RLock, ReleaseError};
///
/// static RLOCK: RLock = RLock::new();
///
/// fn factorial(n: u64) -> u64 {
///     let _guard = RLOCK.lock(); // re-entered on every recursive call
///     if n <= 1 { 1 } else { n * factorial(n - 1) }
/// }
/// assert_eq!(factorial(5), 120);
/// assert!(!RLOCK.locked());
///
/// RLOCK.acquire();
/// RLOCK.acquire();
/// assert_eq!(RLOCK.depth(), 2);
/// // Another thread may not release it.
/// threading::spawn(|| assert_eq!(RLOCK.release(), Err(ReleaseError::NotOwner)))
///     .join()
///     .unwrap();
/// RLOCK.release().unwrap();
/// RLOCK.release().unwrap();
/// assert_eq!(RLOCK.release(), Err(ReleaseError::NotLocked));
/// ```
///
/// `W` is how a blocked caller sleeps, [`Futex`] unless written (see
/// [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)); an `RLock` with
/// another strategy is made by [`with_strategy`](RLock::with_strategy).
#[repr(C)]
pub struct RLock<W: InstantWait = Futex> {
    inner: ReentrantLock<ThreadOwner, W>,
    id: LockId,
}

/// What [`RLock::release_save`] took away and [`RLock::acquire_restore`] gives back:
/// the depth the owner held the lock at (CPython's `_release_save` state, minus the
/// owner, which is always the calling thread).
#[derive(Debug)]
pub(crate) struct RLockState {
    depth: NonZeroU32,
}

impl RLock {
    /// A free reentrant lock (Python: `threading.RLock()`). `const`, so it can be a
    /// `static`.
    ///
    /// Makes the default `RLock<Futex>`; [`with_strategy`](RLock::with_strategy) makes
    /// one with another waiting strategy.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> RLock<W> {
    /// A free reentrant lock whose waiters sleep with the strategy `W`. `const`, so it
    /// can be a `static`.
    ///
    /// ```
    /// use conkit::threading::RLock;
    /// use conkit::wait::Parking;
    ///
    /// let rlock: RLock<Parking> = RLock::with_strategy();
    /// let _outer = rlock.lock();
    /// let _inner = rlock.lock();
    /// assert_eq!(rlock.depth(), 2);
    /// ```
    #[must_use]
    pub const fn with_strategy() -> Self {
        Self {
            inner: ReentrantLock::new(),
            id: LockId::new(),
        }
    }

    /// Names this lock in deadlock reports (feature `deadlock-detection`; without the
    /// feature it does nothing). Python has no counterpart.
    pub fn set_debug_name(&self, name: &str) {
        deadlock::set_lock_name(&self.id, name);
    }

    /// Takes the lock, waiting while another thread holds it; if the calling thread
    /// already holds it, only counts one more acquisition (Python: `acquire()`).
    ///
    /// # Panics
    /// If the calling thread already holds it `u32::MAX` times (the depth would
    /// overflow; Python has no such limit but would run out of memory in a recursion
    /// that deep).
    #[inline]
    pub fn acquire(&self) {
        if self.inner.is_owned() {
            // Re-entry never waits and is not a new acquisition for the detector.
            self.inner.acquire();
        } else {
            deadlock::tracked_acquire(&self.id, true, || {
                self.inner.acquire();
                true
            });
        }
    }

    /// Takes the lock if it is free or already the caller's; never waits (Python:
    /// `acquire(blocking=False)`). Returns whether it did (`false` also if the caller
    /// already holds it `u32::MAX` times).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        if self.inner.is_owned() {
            return self.inner.try_acquire();
        }
        deadlock::tracked_acquire(&self.id, false, || self.inner.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout` while another thread holds it; returns
    /// whether it took it (Python: `acquire(timeout=t)`). Succeeds at once if the caller
    /// already holds it.
    ///
    /// The timeout is a deadline (wake-ups that lose the race do not extend it); zero
    /// tries once; `Duration::MAX` saturates to decades (see
    /// [`Lock::acquire_timeout`](super::Lock::acquire_timeout)).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline` while another thread holds it;
    /// returns whether it took it. Succeeds at once if the caller already holds it; a
    /// deadline that has passed still tries once.
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: Instant) -> bool {
        if self.inner.is_owned() {
            return self.inner.try_acquire();
        }
        deadlock::tracked_acquire(&self.id, true, || self.inner.acquire_until(deadline))
    }

    /// Takes the lock like [`acquire`](Self::acquire) (re-entry is always `Clean`) and says whether its previous
    /// holder died holding it: [`Acquired::OwnerDied`] — you hold the lock, and what it
    /// guards may be half updated (pthreads' `EOWNERDEAD`). Owners can die only between
    /// processes (`RLock<SharedFutex>` in shared memory, `conkit::multiprocessing::RLock`);
    /// the plain forms recover the same way and drop the outcome. Python has no
    /// counterpart (a CPython process killed holding a `multiprocessing.Lock` leaves it
    /// held forever).
    ///
    /// ```
    /// use conkit::threading::{Acquired, RLock};
    ///
    /// let lock = RLock::new();
    /// assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
    /// assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::Clean)); // re-entered
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// ```
    #[inline]
    pub fn acquire_or_recover(&self) -> Acquired {
        if self.inner.is_owned() {
            return self.inner.acquire_or_recover();
        }
        // Always `Some`: the blocking form takes the lock.
        deadlock::tracked_recover(&self.id, true, || Some(self.inner.acquire_or_recover()))
            .unwrap_or(Acquired::Clean)
    }

    /// Takes the lock if it is free, already the caller's, or its holder died (never waits): `None` if a live
    /// holder has it, else how it was taken (see
    /// [`acquire_or_recover`](Self::acquire_or_recover)). Unlike
    /// [`try_acquire`](Self::try_acquire), it asks whether the holder still lives.
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn try_acquire_or_recover(&self) -> Option<Acquired> {
        if self.inner.is_owned() {
            return self.inner.try_acquire_or_recover();
        }
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
        if self.inner.is_owned() {
            return self.inner.try_acquire_or_recover();
        }
        deadlock::tracked_recover(&self.id, true, || {
            self.inner.acquire_until_or_recover(deadline)
        })
    }

    /// Undoes one acquisition by the calling thread; the lock is free once every
    /// acquisition is undone (Python: `release()`).
    ///
    /// # Errors
    /// [`ReleaseError::NotOwner`] if another thread holds it, [`ReleaseError::NotLocked`]
    /// if nobody does (Python: `RuntimeError: cannot release un-acquired lock` for
    /// both); the lock is unchanged.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        // Told while the lock is still held, so a new holder's `after_acquire` cannot
        // come before it (a compile-time no-op without the feature).
        if cfg!(feature = "deadlock-detection") && self.inner.is_owned() && self.inner.depth() == 1
        {
            deadlock::before_release(&self.id);
        }
        self.inner.release()
    }

    /// `true` while some thread holds the lock (a snapshot; Python 3.14's `locked()`).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// `true` if the calling thread holds the lock (CPython's `_is_owned()`).
    #[inline]
    #[must_use]
    pub fn is_owned(&self) -> bool {
        self.inner.is_owned()
    }

    /// How many times the calling thread holds the lock: 0 if it does not hold it
    /// (CPython's `_recursion_count()`).
    #[inline]
    #[must_use]
    pub fn depth(&self) -> u32 {
        self.inner.depth()
    }

    /// Takes the lock (as [`acquire`](Self::acquire)) and returns a guard that undoes
    /// this acquisition when dropped (Python: `with rlock:`).
    ///
    /// Bind the guard to a name: `let _g = rlock.lock();` holds the lock to the end of
    /// the scope, but `let _ = rlock.lock();` releases it on the same line.
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    #[inline]
    pub fn lock(&self) -> RLockGuard<'_, W> {
        self.acquire();
        RLockGuard::new(self)
    }

    /// Takes the lock, awaiting it in an async task, or counts one more acquisition if
    /// the calling thread already holds it. The owner is the *thread* the task runs on
    /// when it takes the lock (an `RLock` belongs to a thread, as in Python): keep a
    /// task that holds one on its thread (a current-thread runtime, or no `.await`
    /// while holding it on a multi-threaded one), and prefer [`Lock`](super::Lock)
    /// between tasks. A thread's release wakes the task and the task's release wakes a
    /// thread. Cancellation-safe. Not seen by the `deadlock-detection` hooks.
    ///
    /// ```
    /// use conkit::threading::RLock;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let rlock = RLock::new();
    ///     rlock.acquire_async().await;
    ///     rlock.acquire_async().await; // re-entry
    ///     assert_eq!(rlock.depth(), 2);
    ///     rlock.release().unwrap();
    ///     rlock.release().unwrap();
    /// }
    /// ```
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_async(&self) {
        self.inner.acquire_async().await;
    }

    /// Takes the lock, awaiting it (as [`acquire_async`](Self::acquire_async)), and
    /// returns its guard (Python: `async with rlock:`). The guard is not `Send`.
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    pub async fn lock_async(&self) -> RLockGuard<'_, W> {
        self.inner.acquire_async().await;
        RLockGuard::new(self)
    }

    /// [`acquire_restore`](Self::acquire_restore) awaiting the lock.
    pub(crate) async fn acquire_restore_async(&self, state: RLockState) {
        self.inner.acquire_depth_async(state.depth).await;
    }

    /// Takes the lock if it is free or already the caller's (never waits) and returns
    /// its guard.
    #[inline]
    pub fn try_lock(&self) -> Option<RLockGuard<'_, W>> {
        self.try_acquire().then(|| RLockGuard::new(self))
    }

    /// Takes the lock, waiting at most `timeout` (as
    /// [`acquire_timeout`](Self::acquire_timeout)), and returns its guard (`None`: timed
    /// out).
    #[inline]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, W>> {
        self.lock_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline` (as
    /// [`acquire_until`](Self::acquire_until)), and returns its guard (`None`: timed
    /// out).
    #[inline]
    pub fn lock_until(&self, deadline: Instant) -> Option<RLockGuard<'_, W>> {
        self.acquire_until(deadline).then(|| RLockGuard::new(self))
    }

    /// Releases the lock completely, whatever the calling thread's depth, and returns
    /// what [`acquire_restore`](Self::acquire_restore) needs to take it back at that
    /// depth (CPython's `RLock._release_save`, used by `Condition.wait`).
    ///
    /// # Errors
    /// As [`release`](Self::release); the lock is then unchanged.
    #[cfg_attr(not(test), allow(dead_code, reason = "used by Condition"))]
    pub(crate) fn release_save(&self) -> Result<RLockState, ReleaseError> {
        if cfg!(feature = "deadlock-detection") && self.inner.is_owned() {
            deadlock::before_release(&self.id);
        }
        let depth = self.inner.release_all()?;
        Ok(RLockState { depth })
    }

    /// Takes the lock back at the depth [`release_save`](Self::release_save) recorded,
    /// waiting as long as needed (CPython's `RLock._acquire_restore`).
    ///
    /// # Panics
    /// If the calling thread already holds the lock and the depths added overflow `u32`
    /// (never the case after a `release_save` by this thread).
    #[cfg_attr(not(test), allow(dead_code, reason = "used by Condition"))]
    pub(crate) fn acquire_restore(&self, state: RLockState) {
        if self.inner.is_owned() {
            self.inner.acquire_depth(state.depth);
        } else {
            deadlock::tracked_acquire(&self.id, true, || {
                self.inner.acquire_depth(state.depth);
                true
            });
        }
    }
}

impl Default for RLock {
    /// A free reentrant lock.
    fn default() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> fmt::Debug for RLock<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.locked())
            .field("owned_by_caller", &self.is_owned())
            .field("depth", &self.depth())
            .finish()
    }
}

/// Holds one acquisition of an [`RLock`]; undoes it when dropped (the end of Python's
/// `with rlock:` block).
///
/// Not `Send`: it must be dropped by the thread that took it, the lock's owner.
///
/// ```compile_fail,E0277
/// use conkit::threading::RLock;
/// static RLOCK: RLock = RLock::new();
/// let guard = RLOCK.lock();
/// std::thread::spawn(move || drop(guard)); // error: the guard is not `Send`
/// ```
#[must_use = "the acquisition is undone as soon as the guard is dropped"]
pub struct RLockGuard<'a, W: InstantWait = Futex> {
    lock: &'a RLock<W>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, W: InstantWait> RLockGuard<'a, W> {
    #[inline]
    fn new(lock: &'a RLock<W>) -> Self {
        Self {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<W: InstantWait> fmt::Debug for RLockGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("depth", &self.lock.depth())
            .finish()
    }
}

impl<W: InstantWait> Drop for RLockGuard<'_, W> {
    #[inline]
    fn drop(&mut self) {
        // The guard's thread owns the lock (the guard is not `Send`), so this succeeds.
        let _ = self.lock.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_save_frees_the_lock_and_acquire_restore_restores_the_depth() {
        let l = RLock::new();
        assert_eq!(l.release_save().err(), Some(ReleaseError::NotLocked));
        l.acquire();
        l.acquire();
        l.acquire();
        let state = l.release_save().unwrap();
        assert!(!l.locked());
        assert_eq!(l.depth(), 0);
        // Another thread can take it while it is saved.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(l.try_acquire());
                assert!(l.release().is_ok());
            });
        });
        l.acquire_restore(state);
        assert_eq!(l.depth(), 3);
        for _ in 0..3 {
            l.release().unwrap();
        }
        assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    }

    #[test]
    fn release_save_by_a_non_owner_is_refused() {
        let l = RLock::new();
        l.acquire();
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(l.release_save().err(), Some(ReleaseError::NotOwner)));
        });
        assert_eq!(l.depth(), 1);
        l.release().unwrap();
    }

    #[test]
    fn acquire_restore_waits_for_the_other_owner() {
        let l = RLock::new();
        l.acquire();
        l.acquire();
        let state = l.release_save().unwrap();
        let other_done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            l.acquire(); // held by this thread again, at depth 1
            s.spawn(|| {
                // The restore waits until the main thread releases.
                l.acquire_restore(state);
                assert!(other_done.load(std::sync::atomic::Ordering::Acquire));
                assert_eq!(l.depth(), 2);
                l.release().unwrap();
                l.release().unwrap();
            });
            std::thread::sleep(Duration::from_millis(20));
            other_done.store(true, std::sync::atomic::Ordering::Release);
            l.release().unwrap();
        });
        assert!(!l.locked());
    }
}
