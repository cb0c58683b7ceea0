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
//! A ticket queue, the shape of CPython's `threading.Condition` (a FIFO `deque` of
//! per-waiter locks: `notify(n)` releases the `n` oldest) without a list: every waiter
//! takes the next number from `tail` while it still holds the lock, and sleeps until
//! `head` (the oldest ticket not yet released) has passed it. [`notify(n)`](Condvar::notify)
//! advances `head` over the next `n` tickets of waiters that are still waiting, so
//! waiters are **released in the order they started waiting**, for `notify(1)` as for
//! `notify(n)` and [`notify_all`](Condvar::notify_all); released waiters then take the
//! lock back in whatever order the lock grants it. A caller that starts waiting after a
//! notify has a later ticket, so it can never take a wake-up meant for one that was
//! already waiting (what CPython's `multiprocessing.Condition` needs a hand-shake for:
//! here the notifier never waits for anybody).
//!
//! A waiter whose deadline passes (or whose `release` fails or panics) gives its ticket
//! up: if `head` has already passed it, it was notified and says so (returns `true`);
//! otherwise it sets its bit in a 32-bit map of cancelled tickets kept next to `head` in
//! one 64-bit word (bit `i`: ticket `head + i`), updated with compare-and-swap, and
//! `notify` skips cancelled tickets. So a notify is never spent on a waiter that gave up
//! — with one bound: a waiter that gives up with 32 or more waiters ahead of it cannot
//! be recorded, and the notify that later reaches its ticket is spent on it (CPython's
//! `threading.Condition` has that race for every timeout that meets a notify).
//!
//! * `notify(n)` releases `min(n, waiters)` callers, the oldest first, and each of them
//!   returns `true` ("notified");
//! * a caller that returns `false` (timed out) was not counted by any notify (within
//!   the bound above); no wake-up is lost and none is stolen by a later waiter.
//!
//! # Progress and costs
//! `notify` never waits: it advances `head` with a compare-and-swap loop and wakes the
//! sleepers (one futex wake; each woken waiter checks its ticket, so a `notify(1)` among
//! many waiters wakes them all to find the one it released). Notifying with nobody
//! waiting costs two loads. Neither `wait` nor `notify` may be called from an interrupt
//! handler (both need the lock).
//!
//! # Participants that die
//! Between processes (the condition variable and its lock in `MAP_SHARED` memory, a
//! process-shared strategy such as `SharedFutex`):
//! * `notify` never waits for a waiter (no hand-shake), so a waiter killed while
//!   asleep, or just released, can never block a notifier: `notify` returns at once,
//!   with or without dead waiters;
//! * a waiter killed **before it was released** keeps its ticket (it can neither
//!   cancel nor be told from a slow waiter): the next `notify(1)` that reaches it is
//!   spent on it and counted (the live waiters behind it wait for the next notify).
//!   `notify_all`, or a predicate loop with a deadline (Python's `wait_for`), is never
//!   misled by it;
//! * a waiter killed **after it was released** costs nothing more here; if it dies
//!   while re-acquiring or holding the lock, what that costs is the lock's (see
//!   [`crate::lock`]);
//! * a notifier killed between advancing `head` and its wake-up delays the released
//!   waiters by at most one sleep slice (at most 16 ms with `SharedFutex`).
//!
//! # Panics
//! User code runs in a wait (the `release` / `reacquire` closures, a custom lock's
//! methods, the deadline's clock). A waiter that unwinds before it was released gives
//! its ticket up as a timed-out waiter does, so no notify is spent on it; a predicate
//! loop (Python's `wait_for`) evaluates its predicate with the lock held and outside the
//! wait, so a panicking predicate leaves the condition variable untouched, and the lock
//! to the caller's scope (its guard).
//!
//! # Rules
//! `wait*` and `notify*` must be called while holding the lock that guards the
//! condition, the same lock for every caller. Breaking this rule is never undefined
//! behaviour, but weakens the guarantees: a wake-up can be missed (waiting) or the order
//! mixed up (notifying).
//!
//! # Async
//! With the `async` feature, [`Condvar::try_release_wait_async`] and
//! [`Condvar::wait_lock_async`] wait in a task: the same tickets, the task parked on the
//! same [`Waiters`] (see "Async tasks" there), so a notify from a thread wakes a task
//! and a task's notify wakes a thread.
//!
//! # Watchers
//! [`head_mark`](Condvar::head_mark) and [`watch_until`](Condvar::watch_until) let a
//! helper sleep until a notify moves the line, *without a ticket*: it sleeps among the
//! waiters' sleepers (every notify that releases anyone wakes them all), is not counted
//! by [`waiters`](Condvar::waiters), and no `notify(1)` is ever spent on it. The `std`
//! adapter's process-shared condition uses one per process to wake its async tasks on
//! a notify from another process (whose notify cannot reach this process's wakers).
//! The loom model `loom_condvar_watch` checks that a `notify(1)` next to a watcher goes
//! to the ticket waiter and that the watcher wakes (the mutant
//! `waiters_watch_no_recheck`, a watcher that sleeps without a look after announcing
//! itself, is caught).
//!
//! Layout: a `u32` (`tail`), a `u64` (`head` and the cancelled map) and the two `u32`
//! words of [`Waiters`]; no pointers: usable as a `static` and in memory shared between
//! processes with a process-shared strategy.

use core::fmt;

use crate::atomic::{maybe_const_fn, AtomicU32, AtomicU64, Ordering};
use crate::lock::{RawLock, ReleaseError};
use crate::unwind::OnDrop;
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// How many tickets after `head` can be marked cancelled (the bits of the map).
const WINDOW: u32 = 32;

/// `head` (low half) and the cancelled map (high half) as one word.
#[inline]
const fn pack(head: u32, cancelled: u32) -> u64 {
    (cancelled as u64) << 32 | head as u64
}

/// `(head, cancelled)` of a packed word.
#[inline]
const fn unpack(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

/// Whether `head` has passed `ticket` (wrapping: tickets are compared as a window of
/// 2³¹ around `head`).
#[inline]
const fn passed(head: u32, ticket: u32) -> bool {
    (ticket.wrapping_sub(head) as i32) < 0
}

/// Whether ticket `a` comes before ticket `b` (wrapping, as [`passed`]).
#[inline]
const fn before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// What became of a ticket its waiter gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GaveUp {
    /// `head` had passed it: the waiter was notified.
    Notified,
    /// Recorded in the cancelled map: no notify will count it.
    Cancelled,
    /// Too far behind `head` to record (see the module docs).
    Unrecorded,
}

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
#[repr(C)]
pub struct Condvar<W: WaitStrategy = DefaultWait> {
    /// The next waiter's ticket (wrapping).
    tail: AtomicU32,
    /// `head`, the oldest ticket not yet released, and the map of cancelled tickets
    /// after it (see [`pack`]).
    queue: AtomicU64,
    /// Where waiters sleep until `head` passes their ticket.
    sleepers: Waiters<W>,
}

// SAFETY: `Condvar` holds only atomics (`tail`, `queue` and the `Waiters` words); `W`
// is a zero-sized strategy used only through associated functions and never stored.
unsafe impl<W: WaitStrategy> Sync for Condvar<W> {}
// SAFETY: as above: no `W` value is ever stored.
unsafe impl<W: WaitStrategy> Send for Condvar<W> {}

impl<W: WaitStrategy> Condvar<W> {
    maybe_const_fn! {
        /// A condition variable nobody waits on.
        pub fn new() -> Self {
            Self {
                tail: AtomicU32::new(0),
                queue: AtomicU64::new(0),
                sleepers: Waiters::new(),
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
    /// # Panics
    /// If `release` or the deadline's [`has_passed`](crate::wait::Deadline::has_passed)
    /// panics, the caller gives its ticket up (as a timed-out waiter; if a notify had
    /// already released it, that notify counted it) and the panic propagates;
    /// `reacquire` is not called. If `reacquire` panics, the wait itself is complete.
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
        // Take a place in the line while holding the lock: notifiers (holding it too)
        // see it from now on.
        let ticket = self.tail.fetch_add(1, Ordering::AcqRel);
        // Leaving before the sleep ends (a failed or panicking release, a panicking
        // clock) gives the ticket up, so no notify is spent on it.
        let place = OnDrop(|| {
            self.give_up(ticket);
        });
        let state = match release() {
            Ok(state) => state,
            Err(e) => {
                drop(place);
                return Err(e);
            }
        };
        let released = self
            .sleepers
            .wait_until(deadline, || self.released(ticket).then_some(()))
            .is_some();
        // The ticket is ours to settle below, not the guard's (it only borrows).
        core::mem::forget(place);
        let notified = released || self.give_up(ticket) == GaveUp::Notified;
        Ok((state, notified))
    }

    /// The async wait (feature `async`): takes a ticket, releases the lock with
    /// `release`, and awaits until a notify releases the ticket; returns what `release`
    /// returned. The caller then takes the lock back (asynchronously: see
    /// [`wait_lock_async`](Self::wait_lock_async)). A notify from a task or from a
    /// thread wakes it.
    ///
    /// Cancellation: a future dropped before its ticket was released gives the ticket
    /// up (no notify is spent on it, as for a timed-out waiter); one dropped after a
    /// notify released it, before it completed, passes that notify on to the next
    /// waiter (`notify(1)`), so a dropped future never swallows a notification. There
    /// is no deadline: wrap the future in the executor's timeout (dropping it is the
    /// time-out).
    ///
    /// # Errors
    /// The error `release` returned; the caller then did not wait.
    #[cfg(feature = "async")]
    pub async fn try_release_wait_async<S, E>(
        &self,
        release: impl FnOnce() -> Result<S, E>,
    ) -> Result<S, E> {
        let ticket = self.tail.fetch_add(1, Ordering::AcqRel);
        let place = OnDrop(|| {
            if self.give_up(ticket) == GaveUp::Notified {
                self.notify(1);
            }
        });
        let state = match release() {
            Ok(state) => state,
            Err(e) => {
                drop(place);
                return Err(e);
            }
        };
        self.sleepers
            .wait_async(|| self.released(ticket).then_some(()))
            .await;
        core::mem::forget(place);
        Ok(state)
    }

    /// Waits asynchronously with a [`Lock`](crate::lock::Lock) the caller holds
    /// (feature `async`): releases it, awaits a notify, awaits the lock again. See
    /// [`try_release_wait_async`](Self::try_release_wait_async) for cancellation (a
    /// future dropped while re-taking the lock has been notified and holds nothing).
    ///
    /// ```
    /// use conkit_core::condvar::Condvar;
    /// use conkit_core::lock::{Lock, ReleaseError};
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
    /// # }
    ///
    /// static LOCK: Lock = Lock::new();
    /// static CV: Condvar = Condvar::new();
    /// // Without the lock held the release fails and nothing waits.
    /// assert_eq!(block_on(CV.wait_lock_async(&LOCK)), Err(ReleaseError::NotLocked));
    /// ```
    ///
    /// # Errors
    /// The lock's [`ReleaseError`] if releasing it failed; the caller then did not wait.
    #[cfg(feature = "async")]
    pub async fn wait_lock_async<W2: WaitStrategy>(
        &self,
        lock: &crate::lock::Lock<W2>,
    ) -> Result<(), ReleaseError> {
        self.try_release_wait_async(|| lock.release()).await?;
        lock.acquire_async().await;
        Ok(())
    }

    /// A mark of the notifies so far, for [`watch_until`](Self::watch_until): the
    /// oldest ticket not yet released (`head`). It moves with every notify that
    /// releases a waiter (and when waiters at the front of the line give up).
    pub fn head_mark(&self) -> u32 {
        unpack(self.queue.load(Ordering::Acquire)).0
    }

    /// Sleeps, *without taking part*, until the line moves past `mark` (a
    /// [`head_mark`](Self::head_mark) taken before) or `deadline` passes; returns
    /// whether it moved. The caller holds no ticket and is not counted as a waiter, so
    /// no notify is ever spent on it ([`waiters`](Self::waiters) does not count it):
    /// it sleeps among the waiters' sleepers, which every notify that releases anyone
    /// wakes after it moved the line. No lock is needed.
    ///
    /// For a helper that wakes others on a notify — e.g. the proxy that wakes this
    /// process's async tasks when a notify comes from another process (the `std`
    /// adapter's `multiprocessing::Condition`): take the mark *before* the waiters it
    /// serves take their last look, and a notify after that look is never slept
    /// through. With a process-shared strategy it sleeps in one piece until `deadline`
    /// (no wake-ups while nothing happens, see [`Waiters::watch_until`]): bound it.
    ///
    /// ```
    /// use conkit_core::condvar::Condvar;
    /// use conkit_core::wait::{Deadline, Spin};
    ///
    /// #[derive(Clone, Copy)]
    /// struct Now;
    /// impl Deadline for Now {
    ///     fn has_passed(&self) -> bool { true }
    /// }
    ///
    /// let cv: Condvar<Spin<Now>> = Condvar::new();
    /// let mark = cv.head_mark();
    /// assert!(!cv.watch_until(mark, Some(Now))); // nobody notified
    /// assert_eq!(cv.waiters(), 0); // the watcher is no waiter
    /// ```
    pub fn watch_until(&self, mark: u32, deadline: Option<W::Deadline>) -> bool {
        self.sleepers
            .watch_until(deadline, || (self.head_mark() != mark).then_some(()))
            .is_some()
    }

    /// Whether a notify has released `ticket`.
    #[inline]
    fn released(&self, ticket: u32) -> bool {
        let (head, _) = unpack(self.queue.load(Ordering::Acquire));
        passed(head, ticket)
    }

    /// Gives `ticket` up (its waiter stops waiting): see [`GaveUp`].
    #[cfg(not(conkit_mutant = "condvar_cancel_not_recorded"))]
    fn give_up(&self, ticket: u32) -> GaveUp {
        let mut outcome = GaveUp::Unrecorded;
        let _ = self
            .queue
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (mut head, mut cancelled) = unpack(word);
                if passed(head, ticket) {
                    outcome = GaveUp::Notified;
                    return None;
                }
                let behind = ticket.wrapping_sub(head);
                if behind >= WINDOW {
                    outcome = GaveUp::Unrecorded;
                    return None;
                }
                outcome = GaveUp::Cancelled;
                cancelled |= 1 << behind;
                // Cancelled tickets at the front of the line leave it at once (only
                // tickets that were handed out are ever marked, so `head` stays at or
                // before `tail`).
                while cancelled & 1 != 0 {
                    head = head.wrapping_add(1);
                    cancelled >>= 1;
                }
                Some(pack(head, cancelled))
            });
        outcome
    }

    /// Mutant for the loom models: a waiter that gives up is not recorded, so the next
    /// notify may be spent on it (CPython's race).
    #[cfg(conkit_mutant = "condvar_cancel_not_recorded")]
    fn give_up(&self, ticket: u32) -> GaveUp {
        if self.released(ticket) {
            GaveUp::Notified
        } else {
            GaveUp::Unrecorded
        }
    }

    /// Releases up to `n` waiters, the oldest first, and returns how many it released
    /// (`min(n, waiters)`). Each of them returns "notified"; waiters that gave up before
    /// are skipped (see the module docs for the one bound). Never waits: the released
    /// waiters then wait for the lock, which the caller still holds.
    ///
    /// The caller must hold the lock (Python raises `RuntimeError` otherwise; here it is
    /// not checked, see the module docs).
    pub fn notify(&self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let tail = self.tail.load(Ordering::Acquire);
        let mut woke = 0;
        let _ = self
            .queue
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (mut head, mut cancelled) = unpack(word);
                woke = 0;
                // `before(head, tail)` rather than `head != tail`: a notifier that breaks
                // the rule (no lock) may have read `tail` before a ticket that has since
                // been given up, and must not run past it.
                while woke < n && before(head, tail) {
                    if cancelled & 1 == 0 {
                        woke += 1;
                    }
                    head = head.wrapping_add(1);
                    cancelled >>= 1;
                }
                // Cancelled tickets right after the released ones leave the line too.
                while cancelled & 1 != 0 && before(head, tail) {
                    head = head.wrapping_add(1);
                    cancelled >>= 1;
                }
                (pack(head, cancelled) != word).then_some(pack(head, cancelled))
            });
        if woke != 0 {
            self.sleepers.notify_all();
        }
        woke
    }

    /// Releases every waiter; returns how many it released. Same rules as
    /// [`notify`](Self::notify).
    pub fn notify_all(&self) -> u32 {
        self.notify(u32::MAX)
    }

    /// How many callers are waiting and not yet released by a notify (a snapshot).
    pub fn waiters(&self) -> u32 {
        let (head, cancelled) = unpack(self.queue.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        if before(head, tail) {
            tail.wrapping_sub(head)
                .saturating_sub(cancelled.count_ones())
        } else {
            0
        }
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
