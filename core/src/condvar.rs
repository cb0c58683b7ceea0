//! `Condvar<W>`: a condition variable that works with any lock, in any memory
//! (Python's `threading.Condition` / `multiprocessing.Condition`, without the lock).
//!
//! A condition variable lets a caller that holds a lock give it up and sleep until another
//! caller, holding the same lock, says "something changed" ([`notify`](Condvar::notify)).
//! The lock is abstract: [`wait_until`](Condvar::wait_until) takes two closures, one that
//! releases the lock (returning whatever is needed to take it back, e.g. a reentrant
//! lock's depth) and one that re-acquires it. So the same `Condvar` serves a
//! [`Lock`](crate::lock::Lock), a [`ReentrantLock`](crate::lock::ReentrantLock), a spin
//! lock, a lock in another crate, or a lock in memory shared between processes.
//! [`wait_lock_until`](Condvar::wait_lock_until) is the shortcut for any
//! [`RawLock`].
//!
//! ```
//! use conkit_core::condvar::Condvar;
//! use conkit_core::lock::{Lock, RawLock};
//! use core::sync::atomic::{AtomicU32, Ordering};
//!
//! static LOCK: Lock = Lock::new();
//! static READY: Condvar = Condvar::new();
//! static ITEMS: AtomicU32 = AtomicU32::new(0); // guarded by LOCK
//!
//! let consumer = std::thread::spawn(|| {
//!     LOCK.acquire();
//!     while ITEMS.load(Ordering::Relaxed) == 0 {
//!         READY.wait_lock(&LOCK).unwrap(); // releases LOCK while asleep
//!     }
//!     ITEMS.fetch_sub(1, Ordering::Relaxed);
//!     LOCK.release().unwrap();
//! });
//!
//! LOCK.acquire();
//! ITEMS.fetch_add(1, Ordering::Relaxed);
//! READY.notify(1); // the caller holds the lock
//! LOCK.release().unwrap();
//! consumer.join().unwrap();
//! assert_eq!(ITEMS.load(Ordering::Relaxed), 0);
//! ```
//!
//! # Algorithm and provenance
//! CPython's `multiprocessing.synchronize.Condition` (`Lib/multiprocessing/synchronize.py`),
//! which builds a condition variable that works between processes and with any lock
//! from three counting semaphores, here three [`Semaphore<W>`]:
//!
//! * `sleeping`: one token per waiter that has announced itself and was not yet
//!   claimed by a notifier;
//! * `wakeups`: one permit per waiter a notifier chose to wake;
//! * `woken`: one permit per woken waiter that has left its sleep (the hand-shake).
//!
//! A waiter, holding the lock, puts a token in `sleeping`, releases the lock and
//! acquires a `wakeups` permit (with the deadline); then it puts a permit in `woken` and
//! re-acquires the lock. A notifier, holding the lock, claims up to `n` tokens from
//! `sleeping`, releases as many `wakeups` permits, and waits until as many `woken`
//! permits arrive. Because the notifier keeps the lock until the woken waiters have
//! consumed their permits, a caller that starts waiting after the notify cannot steal a
//! wake-up meant for one that was already waiting.
//!
//! One change from CPython, for exact `notify(n)` accounting: a waiter whose deadline
//! passes takes its token back out of `sleeping` (`try_acquire`). If that fails, a
//! notifier has already claimed it, so a `wakeups` permit is on its way: the waiter takes
//! it and reports that it was woken. (CPython instead lets the timed-out waiter post a
//! `woken` permit, and the next notify "re-zeroes" the semaphores; a notify racing with
//! a timeout can then be spent on the waiter that timed out while another waiter sleeps
//! on.) Every claimed token is therefore matched by exactly one waiter that returns
//! `true`, and a waiter that returns `false` was never counted:
//!
//! * `notify(n)` wakes `min(n, waiters)` callers, each of which returns `true`;
//! * no wake-up is lost and none is stolen by a later waiter.
//!
//! # Progress and costs
//! **Blocking.** `notify` waits (with strategy `W`) until every waiter it woke has left
//! its sleep; it does not wait for them to get the lock. So notifying costs a round trip
//! to each woken waiter (with an OS futex, a context switch), and needs the woken waiters
//! to be able to run while the notifier waits: on single-core firmware with the `Spin`
//! strategy the waiters must run in other preemptive tasks, never in the interrupted
//! code. Notifying with nobody waiting costs one load. Neither `wait` nor `notify` may be
//! called from an interrupt handler (both need the lock).
//!
//! # Rules
//! `wait*` and `notify*` must be called while holding the lock that guards the
//! condition, the same lock for every caller. Breaking this rule is never undefined
//! behaviour, but weakens the guarantees: a wake-up can be missed (waiting) or given to a
//! caller that started waiting after the notify (notifying).
//!
//! Layout: three semaphores (six `u32` words), no pointers: usable as a `static` and in
//! memory shared between processes with a process-shared strategy.

use core::fmt;

use crate::lock::{RawLock, ReleaseError};
use crate::semaphore::Semaphore;
use crate::wait::{Spin, WaitStrategy};

/// A condition variable for any lock (see the [module docs](self) for the algorithm,
/// its guarantees and the rule that callers hold the lock).
///
/// ```
/// use conkit_core::condvar::Condvar;
/// use conkit_core::lock::{Lock, ReleaseError};
///
/// static LOCK: Lock = Lock::new();
/// static CHANGED: Condvar = Condvar::new();
///
/// // Waiting needs the lock: without it the release fails and nothing waits.
/// assert_eq!(CHANGED.wait_lock(&LOCK), Err(ReleaseError::NotLocked));
/// // Notifying with nobody waiting wakes nobody.
/// LOCK.acquire();
/// assert_eq!(CHANGED.notify_all(), 0);
/// LOCK.release().unwrap();
/// ```
pub struct Condvar<W: WaitStrategy = Spin> {
    /// Tokens of announced waiters not yet claimed by a notifier.
    sleeping: Semaphore<W>,
    /// Permits for the waiters a notifier chose to wake.
    wakeups: Semaphore<W>,
    /// Permits posted by woken waiters once they have left their sleep.
    woken: Semaphore<W>,
}

impl<W: WaitStrategy> Condvar<W> {
    crate::atomic::maybe_const_fn! {
        /// A condition variable nobody waits on.
        pub fn new() -> Self {
            Self {
                sleeping: Semaphore::new(0),
                wakeups: Semaphore::new(0),
                woken: Semaphore::new(0),
            }
        }
    }

    /// Releases the lock (with `release`), sleeps until notified or until `deadline`
    /// passes, then re-acquires the lock (with `reacquire`, given what `release`
    /// returned). Returns what `reacquire` returned and whether the caller was notified
    /// (`false`: the deadline passed first; such a waiter was not counted by any notify).
    ///
    /// The caller must hold the lock when calling. `release` may hand over state, e.g. a
    /// guard's parts or a reentrant lock's depth; `reacquire` restores it.
    ///
    /// ```
    /// use conkit_core::condvar::Condvar;
    /// use conkit_core::wait::{Deadline, Spin};
    ///
    /// /// A deadline that has always passed (a real one would read a clock).
    /// #[derive(Clone, Copy)]
    /// struct Now;
    /// impl Deadline for Now {
    ///     fn has_passed(&self) -> bool { true }
    /// }
    ///
    /// let cv: Condvar<Spin<Now>> = Condvar::new();
    /// let lock = std::sync::Mutex::new(0);
    /// let guard = lock.lock().unwrap();
    /// let (guard, notified) = cv.wait_until(Some(Now), || drop(guard), |()| lock.lock().unwrap());
    /// assert!(!notified);
    /// assert_eq!(*guard, 0);
    /// ```
    pub fn wait_until<S, R>(
        &self,
        deadline: Option<W::Deadline>,
        release: impl FnOnce() -> S,
        reacquire: impl FnOnce(S) -> R,
    ) -> (R, bool) {
        match self.wait_inner(deadline, || Ok::<S, core::convert::Infallible>(release())) {
            Ok((state, notified)) => (reacquire(state), notified),
            Err(never) => match never {},
        }
    }

    /// [`wait_until`](Self::wait_until) without a deadline: returns once notified, with
    /// what `reacquire` returned.
    pub fn wait<S, R>(&self, release: impl FnOnce() -> S, reacquire: impl FnOnce(S) -> R) -> R {
        self.wait_until(None, release, reacquire).0
    }

    /// Waits with a [`RawLock`] the caller holds: releases it, sleeps until notified or
    /// until `deadline`, re-acquires it. Returns whether the caller was notified.
    ///
    /// # Errors
    /// The lock's [`ReleaseError`] if releasing it failed (it was not held, or held by
    /// another owner); the caller then did not wait and was not counted by any notify.
    pub fn wait_lock_until<L: RawLock + ?Sized>(
        &self,
        lock: &L,
        deadline: Option<W::Deadline>,
    ) -> Result<bool, ReleaseError> {
        let ((), notified) = self.wait_inner(deadline, || lock.release())?;
        lock.acquire();
        Ok(notified)
    }

    /// [`wait_lock_until`](Self::wait_lock_until) without a deadline.
    ///
    /// # Errors
    /// As [`wait_lock_until`](Self::wait_lock_until).
    pub fn wait_lock<L: RawLock + ?Sized>(&self, lock: &L) -> Result<(), ReleaseError> {
        self.wait_lock_until(lock, None).map(|_| ())
    }

    /// [`wait_until`](Self::wait_until) with a `release` that may fail (e.g. a lock the
    /// caller turns out not to hold). On failure the caller did not wait, was not counted
    /// by any notify, and `reacquire` is not called.
    ///
    /// # Errors
    /// The error `release` returned.
    pub fn try_release_wait_until<S, E, R>(
        &self,
        deadline: Option<W::Deadline>,
        release: impl FnOnce() -> Result<S, E>,
        reacquire: impl FnOnce(S) -> R,
    ) -> Result<(R, bool), E> {
        let (state, notified) = self.wait_inner(deadline, release)?;
        Ok((reacquire(state), notified))
    }

    /// The waiting algorithm (module docs), with a fallible release. Returns before the
    /// lock is re-acquired, with the released state and whether the caller was notified.
    fn wait_inner<S, E>(
        &self,
        deadline: Option<W::Deadline>,
        release: impl FnOnce() -> Result<S, E>,
    ) -> Result<(S, bool), E> {
        // Announce: from here a notifier (holding the lock) may claim this token.
        if self.sleeping.release().is_err() {
            // u32::MAX waiters at once cannot exist; if it did, return as timed out
            // rather than sleep uncounted.
            return release().map(|s| (s, false));
        }
        let state = match release() {
            Ok(state) => state,
            Err(e) => {
                // (`conkit_mutant`: a broken variant the loom models must catch, see
                // lib.rs.)
                if self.leave() && !cfg!(conkit_mutant = "condvar_failed_release_no_handshake") {
                    // A notifier (not holding the lock either, or the release would
                    // not have failed) claimed the token: complete its hand-shake.
                    let _ = self.woken.release();
                }
                return Err(e);
            }
        };
        let notified = match deadline {
            None => {
                self.wakeups.acquire();
                true
            }
            // (Mutant: CPython's timed-out waiter, which leaves its token behind.)
            Some(d) if cfg!(conkit_mutant = "condvar_timeout_keeps_token") => {
                self.wakeups.acquire_until(d)
            }
            Some(d) => self.wakeups.acquire_until(d) || self.leave(),
        };
        if notified {
            // The hand-shake: the notifier is waiting (holding the lock) for this.
            let _ = self.woken.release();
        }
        Ok((state, notified))
    }

    /// Takes this waiter's token back. Returns `false` if it did (not counted by any
    /// notify), or `true` if a notifier had already claimed it: then the wake-up permit it
    /// released (or is about to release) is consumed here, and the waiter was notified.
    /// The caller posts the `woken` permit.
    fn leave(&self) -> bool {
        if self.sleeping.try_acquire() {
            false
        } else {
            self.wakeups.acquire();
            true
        }
    }

    /// Wakes up to `n` waiters and returns how many it woke (`min(n, waiters)`). Each of
    /// them returns "notified"; waiters whose deadline passed before are not counted.
    /// Returns once the woken waiters have left their sleep (they then wait for the lock,
    /// which the caller still holds).
    ///
    /// The caller must hold the lock (Python raises `RuntimeError` otherwise; here it is
    /// not checked, see the module docs).
    pub fn notify(&self, n: u32) -> u32 {
        let mut claimed = 0u32;
        while claimed < n {
            let available = self.sleeping.value();
            if available == 0 {
                break;
            }
            let take = available.min(n - claimed);
            if self.sleeping.try_acquire_many(take) {
                claimed += take;
            }
        }
        if claimed != 0 {
            // Cannot overflow: at most one permit per claimed token is ever outstanding.
            let _ = self.wakeups.release_many(claimed);
            self.woken.acquire_many(claimed);
        }
        claimed
    }

    /// Wakes every waiter; returns how many it woke. Same rules as
    /// [`notify`](Self::notify).
    pub fn notify_all(&self) -> u32 {
        self.notify(u32::MAX)
    }

    /// How many callers are waiting and not yet chosen by a notify (a snapshot).
    pub fn waiters(&self) -> u32 {
        self.sleeping.value()
    }
}

impl<W: WaitStrategy> Default for Condvar<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> fmt::Debug for Condvar<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &self.waiters())
            .finish()
    }
}
