//! [`Monitor<T>`]: Python's `threading.Condition` together with the data it guards. The
//! Python mapping, the design and examples are on [`Monitor`].

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use conkit_core::condvar::Condvar;

use super::{Mutex, MutexGuard};
use crate::wait::{deadline_after, Futex, InstantWait};

/// A value with a lock and a condition variable (Python's `threading.Condition` with its
/// state inside): [`lock`](Self::lock) returns a guard that dereferences to the value,
/// waits (releasing the lock while it sleeps) and notifies.
///
/// A Python program keeps a condition's state in globals that it reads and writes only
/// inside `with cond:`. Rust can hold the program to that when the state lives in the
/// condition: a `Monitor<T>` is a [`Mutex<T>`](super::Mutex) (a [`Lock`](super::Lock)
/// with the value inside) plus the condition variable of [`Condition`](super::Condition);
/// its guard dereferences to the value and waits and notifies. Holding the guard proves
/// the lock is held, so nothing returns a `Result`. (Hoare and Brinch Hansen called a
/// lock, its data and its condition a *monitor*; C#'s `Monitor` and Java's
/// `synchronized`/`wait`/`notify` are the same idea.)
///
/// | Python | conkit |
/// |---|---|
/// | `cond = Condition()` + globals | `static SHOP: Monitor<Shop> = Monitor::new(Shop { … });` |
/// | `with cond:` | `let mut shop = SHOP.lock();` (read and write the state through `shop`) |
/// | `cond.acquire()` / `cond.release()` | [`acquire()`](Monitor::acquire) → guard / [`guard.release()`](MonitorGuard::release) |
/// | `cond.wait()` | [`shop.wait()`](MonitorGuard::wait) |
/// | `cond.wait(timeout)` → `bool` | [`shop.wait_timeout(d)`](MonitorGuard::wait_timeout) / [`wait_until(deadline)`](MonitorGuard::wait_until) → `bool` |
/// | `cond.wait_for(lambda: num > 0)` | [`shop.wait_for(\|s\| s.num > 0)`](MonitorGuard::wait_for) |
/// | `cond.wait_for(pred, timeout)` → `bool` | [`wait_for_timeout(pred, d)`](MonitorGuard::wait_for_timeout) / [`wait_for_until(pred, deadline)`](MonitorGuard::wait_for_until) → `bool` |
/// | `cond.notify(n)`, `cond.notify_all()` | [`shop.notify(n)`](MonitorGuard::notify), [`shop.notify_all()`](MonitorGuard::notify_all) (the oldest waiters first; they return how many woke) |
///
/// `notify(n)` wakes the `n` oldest waiters (FIFO, as CPython's `Condition`); a waiter
/// whose timeout passes is never counted. Waiters sleep in the kernel (futex). No
/// poisoning: a panic under the lock releases it and leaves the value as it was left.
///
/// ```
/// use std::collections::VecDeque;
/// use conkit::threading::{self, Monitor};
///
/// // Python: items = deque(); cond = Condition()
/// static ITEMS: Monitor<VecDeque<u32>> = Monitor::new(VecDeque::new());
///
/// threading::scope(|s| {
///     let consumer = s.spawn(|| {
///         let mut items = ITEMS.lock(); // with cond:
///         items.wait_for(|items| !items.is_empty()); // cond.wait_for(lambda: items)
///         items.pop_front().unwrap()
///     });
///     let mut items = ITEMS.lock();
///     items.push_back(42);
///     items.notify(1);
///     drop(items); // the end of `with cond:` (the consumer needs the lock back)
///     assert_eq!(consumer.join().unwrap(), 42);
/// });
/// ```
///
/// The guard is what keeps the lock held: bind it to a name. `let _ = m.lock();` drops
/// it on the same line, so the lock is released at once.
///
/// # Design
/// One copy of each algorithm: the lock and the value are a [`Mutex<T>`](super::Mutex)
/// (the core's `Mutex<R, T>` over [`Lock`](super::Lock)), the condition variable is the
/// core's [`Condvar`] (a FIFO ticket queue) with the monitor's waiting strategy; a wait releases
/// the lock and takes it back around the core condition variable's `wait_until`, as
/// [`Condition`](super::Condition) does. The lock is the non-reentrant
/// [`Lock`](super::Lock) on purpose: with a reentrant lock one thread could hold two
/// guards, that is two `&mut T` to the same value. The deadlock detector of feature
/// `deadlock-detection` sees a monitor's lock as any other [`Lock`](super::Lock),
/// released during waits.
///
/// # The waiting strategy
/// `W` is how a blocked caller sleeps, for the lock and the condition alike: [`Futex`]
/// unless written (`Monitor<T>` is `Monitor<T, Futex>`, made by [`new`](Monitor::new));
/// another strategy through [`with_strategy`](Monitor::with_strategy) (see
/// [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)).
pub struct Monitor<T, W: InstantWait = Futex> {
    mutex: Mutex<T, W>,
    cv: Condvar<W>,
}

impl<T> Monitor<T> {
    /// `value` with a free lock and no waiters (Python: `Condition()` and the globals
    /// it guards). `const`, so a `Monitor` can be a `static`.
    ///
    /// Makes the default `Monitor<T, Futex>`; [`with_strategy`](Monitor::with_strategy)
    /// makes one with another waiting strategy.
    #[must_use]
    pub const fn new(value: T) -> Self {
        Self::with_strategy(value)
    }
}

impl<T, W: InstantWait> Monitor<T, W> {
    /// `value` with a free lock and no waiters, whose lock and condition sleep with the
    /// strategy `W`. `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::{self, Monitor};
    /// use conkit::wait::Parking;
    ///
    /// static READY: Monitor<bool, Parking> = Monitor::with_strategy(false);
    /// threading::scope(|s| {
    ///     s.spawn(|| {
    ///         let mut ready = READY.lock();
    ///         *ready = true;
    ///         ready.notify_all();
    ///     });
    ///     READY.lock().wait_for(|ready| *ready);
    /// });
    /// ```
    #[must_use]
    pub const fn with_strategy(value: T) -> Self {
        Self {
            mutex: Mutex::with_strategy(value),
            cv: Condvar::new(),
        }
    }

    fn guard<'a>(&'a self, guard: MutexGuard<'a, T, W>) -> MonitorGuard<'a, T, W> {
        MonitorGuard {
            guard,
            cv: &self.cv,
        }
    }

    /// Takes the lock, waiting as long as needed, and returns the guard (Python:
    /// `with cond:`). Not reentrant: never call it while this thread holds the guard.
    #[inline]
    pub fn lock(&self) -> MonitorGuard<'_, T, W> {
        self.guard(self.mutex.lock())
    }

    /// The same as [`lock`](Self::lock), in Python's words (`cond.acquire()`); give the
    /// lock back with [`MonitorGuard::release`] or by dropping the guard.
    #[inline]
    pub fn acquire(&self) -> MonitorGuard<'_, T, W> {
        self.lock()
    }

    /// Takes the lock if it is free (never waits); `None` if somebody holds it (Python:
    /// `cond.acquire(blocking=False)`).
    #[inline]
    pub fn try_lock(&self) -> Option<MonitorGuard<'_, T, W>> {
        self.mutex.try_lock().map(|g| self.guard(g))
    }

    /// The same as [`try_lock`](Self::try_lock), in Python's words.
    #[inline]
    pub fn try_acquire(&self) -> Option<MonitorGuard<'_, T, W>> {
        self.try_lock()
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it timed out (Python:
    /// `cond.acquire(timeout=t)`).
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<MonitorGuard<'_, T, W>> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline`; `None` if it timed out.
    #[inline]
    pub fn acquire_until(&self, deadline: Instant) -> Option<MonitorGuard<'_, T, W>> {
        self.mutex.acquire_until(deadline).map(|g| self.guard(g))
    }

    /// The same as [`acquire_timeout`](Self::acquire_timeout), in Rust's words.
    #[inline]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MonitorGuard<'_, T, W>> {
        self.acquire_timeout(timeout)
    }

    /// The same as [`acquire_until`](Self::acquire_until), in Rust's words.
    #[inline]
    pub fn lock_until(&self, deadline: Instant) -> Option<MonitorGuard<'_, T, W>> {
        self.acquire_until(deadline)
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.mutex.locked()
    }

    /// How many threads are waiting and not yet notified (a snapshot).
    #[inline]
    #[must_use]
    pub fn waiters(&self) -> usize {
        self.cv.waiters() as usize
    }

    /// Names the lock in deadlock reports (feature `deadlock-detection`; otherwise it
    /// does nothing).
    pub fn set_debug_name(&self, name: &str) {
        self.mutex.set_debug_name(name);
    }

    /// The value, through an exclusive borrow: no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.mutex.get_mut()
    }

    /// Consumes the monitor and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.mutex.into_inner()
    }
}

impl<T: Default> Default for Monitor<T> {
    /// `T::default()` with a free lock.
    fn default() -> Self {
        Self::with_strategy(T::default())
    }
}

impl<T, W: InstantWait> fmt::Debug for Monitor<T, W> {
    /// Shows the lock's state and the waiters, never the value: printing never locks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("locked", &self.locked())
            .field("waiters", &self.waiters())
            .finish_non_exhaustive()
    }
}

/// The held lock of a [`Monitor`]: dereferences to the value, waits and notifies;
/// releases the lock when dropped (the end of Python's `with cond:` block) or with
/// [`release`](Self::release).
///
/// Its methods take precedence over methods of the same name on the value (`wait`,
/// `notify`, …): call those as `(*guard).wait()`.
///
/// A wait releases the lock while it sleeps and holds it again when it returns, also
/// when it times out: the guard is usable after every wait. It may be sent to another
/// thread (`Send` if `T: Send`; the lock has no owner).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MonitorGuard<'a, T, W: InstantWait = Futex> {
    guard: MutexGuard<'a, T, W>,
    cv: &'a Condvar<W>,
}

impl<T, W: InstantWait> MonitorGuard<'_, T, W> {
    /// Releases the lock, sleeps until notified, takes the lock back (Python:
    /// `cond.wait()`). As in Python, a wake-up says "something changed", not what:
    /// re-check the state (or use [`wait_for`](Self::wait_for)).
    pub fn wait(&mut self) {
        self.wait_deadline(None);
    }

    /// As [`wait`](Self::wait), but gives up after `timeout`; returns whether it was
    /// notified (Python: `cond.wait(timeout)`, `False` on timeout). The lock is held
    /// again either way.
    #[must_use = "`false` means the wait timed out"]
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        self.wait_deadline(Some(deadline_after(timeout)))
    }

    /// As [`wait`](Self::wait), but gives up at `deadline`; returns whether it was
    /// notified.
    #[must_use = "`false` means the wait timed out"]
    pub fn wait_until(&mut self, deadline: Instant) -> bool {
        self.wait_deadline(Some(deadline))
    }

    /// Waits until `predicate` holds for the value (Python: `cond.wait_for(predicate)`).
    /// The predicate sees the value with the lock held, first before any wait and again
    /// after every wake-up; when this returns, it held and the lock is still held, so the
    /// state cannot have changed since.
    ///
    /// # Panics
    /// If `predicate` panics, the panic propagates with the lock held by this guard,
    /// which releases it while unwinding (as an exception leaves Python's `with cond:`
    /// block); the monitor's other waiters are unaffected.
    pub fn wait_for(&mut self, predicate: impl FnMut(&T) -> bool) {
        self.wait_for_deadline(predicate, None);
    }

    /// As [`wait_for`](Self::wait_for), but gives up once `timeout` has passed; returns
    /// the predicate's last result (Python: `cond.wait_for(predicate, timeout)`).
    ///
    /// The timeout is a real deadline: however often the waiter is woken without the
    /// predicate becoming true, it returns at the original deadline.
    ///
    /// # Panics
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_for_timeout(
        &mut self,
        predicate: impl FnMut(&T) -> bool,
        timeout: Duration,
    ) -> bool {
        self.wait_for_deadline(predicate, Some(deadline_after(timeout)))
    }

    /// As [`wait_for_timeout`](Self::wait_for_timeout), with a deadline.
    ///
    /// # Panics
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_for_until(&mut self, predicate: impl FnMut(&T) -> bool, deadline: Instant) -> bool {
        self.wait_for_deadline(predicate, Some(deadline))
    }

    fn wait_for_deadline(
        &mut self,
        mut predicate: impl FnMut(&T) -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        loop {
            if predicate(&self.guard) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.wait_deadline(deadline);
        }
    }

    /// The one wait: releases the lock, sleeps on the condition variable, takes the
    /// lock back; `true` if notified.
    fn wait_deadline(&mut self, deadline: Option<Instant>) -> bool {
        // `&mut self` for the whole wait: no reference to the value exists while the
        // lock is released.
        let lock = self.guard.lock_ref();
        let ((), notified) = self.cv.wait_until(
            deadline,
            || {
                // Held by this guard, so the release succeeds.
                let _ = lock.release();
            },
            // Held again when this returns, even if the deadlock detector's bookkeeping
            // unwinds: the guard's release on drop stays matched.
            |()| lock.reacquire_for_guard(),
        );
        notified
    }

    /// Wakes up to `n` waiting threads, the ones that have waited longest first (FIFO,
    /// as CPython's `Condition`); returns how many it woke (Python: `cond.notify(n)`).
    /// The woken threads return from their waits once they get the lock, after this
    /// guard releases it. Never waits.
    #[inline]
    pub fn notify(&self, n: usize) -> usize {
        self.cv.notify(u32::try_from(n).unwrap_or(u32::MAX)) as usize
    }

    /// Wakes every waiting thread; returns how many it woke (Python:
    /// `cond.notify_all()`).
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.cv.notify_all() as usize
    }

    /// Releases the lock (Python: `cond.release()`); the same as dropping the guard.
    #[inline]
    pub fn release(self) {
        drop(self);
    }
}

impl<T, W: InstantWait> Deref for MonitorGuard<'_, T, W> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T, W: InstantWait> DerefMut for MonitorGuard<'_, T, W> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: fmt::Debug, W: InstantWait> fmt::Debug for MonitorGuard<'_, T, W> {
    /// The value's `Debug` (the guard holds the lock).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
