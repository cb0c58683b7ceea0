//! [`Mutex<T>`]: a value that only the holder of its [`Lock`] can reach. The Python
//! mapping, the design and examples are on [`Mutex`].

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use conkit_core::lock::{Mutex as CoreMutex, MutexGuard as CoreMutexGuard};

use super::Lock;
use crate::wait::{deadline_after, Futex, InstantWait};

/// A value guarded by a [`Lock`]: Python's `threading.Lock` with the data it protects
/// inside.
///
/// Python's `threading.Lock` guards no data: a program pairs a lock with the globals it
/// protects by convention. In Rust the compiler can hold you to that pairing when the
/// data lives inside the lock: `Mutex<T>` is a [`Lock`] (the same futex lock, the same
/// deadlock detection) with a `T` inside, reachable only through the guard that
/// [`lock`](Mutex::lock) / [`acquire`](Mutex::acquire) return.
///
/// | Python | conkit |
/// |---|---|
/// | `lock = threading.Lock()` + a global `balance = 0` | `static BALANCE: Mutex<i64> = Mutex::new(0);` |
/// | `with lock: balance += 1` | `*BALANCE.lock() += 1;` |
/// | `lock.acquire()` … `lock.release()` | `let mut b = BALANCE.acquire();` … [`b.release();`](MutexGuard::release) |
/// | `lock.acquire(blocking=False)` | [`try_acquire()`](Mutex::try_acquire) / [`try_lock()`](Mutex::try_lock) → `Option<guard>` |
/// | `lock.acquire(timeout=t)` | [`acquire_timeout(t)`](Mutex::acquire_timeout), [`acquire_until(deadline)`](Mutex::acquire_until) → `Option<guard>` |
/// | `lock.locked()` | [`locked()`](Mutex::locked) |
///
/// Waiters spin briefly, then sleep in the kernel (futex), as for [`Lock`]. Not
/// reentrant: a thread that locks a `Mutex` it already holds waits forever (the
/// deadlock detector reports it with feature `deadlock-detection`).
///
/// **No poisoning**: a panic in the critical section releases the lock (the guard is
/// dropped while unwinding) and leaves the value as the section left it, as Python leaves
/// a global after an exception inside `with lock:`.
///
/// ```
/// use std::time::Duration;
/// use conkit::threading::{self, Mutex};
///
/// // The seeds' bank account: 100 deposits, none lost.
/// static BALANCE: Mutex<i64> = Mutex::new(0);
///
/// threading::scope(|s| {
///     for _ in 0..100 {
///         s.spawn(|| {
///             let mut balance = BALANCE.lock(); // with lock:
///             let new_balance = *balance + 1;
///             std::thread::sleep(Duration::from_micros(10));
///             *balance = new_balance;
///         });
///     }
/// });
/// assert_eq!(*BALANCE.lock(), 100);
///
/// // Python's vocabulary: acquire() gives the guard, release() gives it back.
/// let mut b = BALANCE.acquire();
/// *b -= 1;
/// assert!(BALANCE.try_acquire().is_none()); // acquire(blocking=False)
/// b.release();
/// assert_eq!(*BALANCE.acquire_timeout(Duration::from_secs(1)).unwrap(), 99);
/// ```
///
/// The guard is what keeps the lock held: bind it to a name. `let _ = m.lock();` drops
/// it on the same line, so the lock is released at once.
///
/// # Design
/// One copy of the algorithm: this is the core's `lock_api`-style
/// [`conkit_core::lock::Mutex<R, T>`] with `R` = [`Lock`] (which implements the core's
/// `RawLock` and `ExclusiveLock`), so the lock is Ulrich Drepper's futex mutex of the
/// core [`Lock`](conkit_core::lock::Lock), and the deadlock detector of feature
/// `deadlock-detection` sees every `Mutex` as it sees every `Lock`. This type adds the
/// `const` constructor, Python's `acquire`/`release` vocabulary next to Rust's `lock`,
/// and `Duration`/`Instant` timeouts: what `std::sync::Mutex<T>` is, without poisoning,
/// with timeouts, and with the `static`-friendly futex lock of [`Lock`].
///
/// # The waiting strategy
/// `W` is how a blocked caller sleeps: [`Futex`] unless written (`Mutex<T>` is
/// `Mutex<T, Futex>`, made by [`new`](Mutex::new)); another strategy through
/// [`with_strategy`](Mutex::with_strategy), e.g. `Mutex<T, SharedFutex>` for a value in
/// memory shared by processes (see [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)).
pub struct Mutex<T, W: InstantWait = Futex> {
    inner: CoreMutex<Lock<W>, T>,
}

impl<T> Mutex<T> {
    /// `value`, guarded by a free lock. `const`, so a `Mutex` can be a `static`.
    ///
    /// Makes the default `Mutex<T, Futex>`; [`with_strategy`](Mutex::with_strategy)
    /// makes one with another waiting strategy.
    #[must_use]
    pub const fn new(value: T) -> Self {
        Self::with_strategy(value)
    }
}

impl<T, W: InstantWait> Mutex<T, W> {
    /// `value`, guarded by a free lock whose waiters sleep with the strategy `W`.
    /// `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::Mutex;
    /// use conkit::wait::Parking;
    ///
    /// static TOTAL: Mutex<u64, Parking> = Mutex::with_strategy(0);
    /// *TOTAL.lock() += 5;
    /// assert_eq!(*TOTAL.lock(), 5);
    /// ```
    #[must_use]
    pub const fn with_strategy(value: T) -> Self {
        Self {
            inner: CoreMutex::from_raw(Lock::with_strategy(), value),
        }
    }

    /// Takes the lock, waiting as long as needed, and returns the guard through which
    /// the value is reached (Python: `with lock:`). The lock is released when the guard
    /// is dropped.
    ///
    /// Never call it on a `Mutex` the calling thread already holds: that waits forever,
    /// as with [`Lock`].
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T, W> {
        MutexGuard {
            inner: self.inner.lock(),
        }
    }

    /// The same as [`lock`](Self::lock), in Python's words (`lock.acquire()`); give the
    /// lock back with [`MutexGuard::release`] or by dropping the guard.
    #[inline]
    pub fn acquire(&self) -> MutexGuard<'_, T, W> {
        self.lock()
    }

    /// Takes the lock if it is free (never waits) and returns the guard (Python:
    /// `acquire(blocking=False)`); `None` if somebody holds it.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T, W>> {
        self.inner.try_lock().map(|inner| MutexGuard { inner })
    }

    /// The same as [`try_lock`](Self::try_lock), in Python's words.
    #[inline]
    pub fn try_acquire(&self) -> Option<MutexGuard<'_, T, W>> {
        self.try_lock()
    }

    /// Takes the lock, waiting at most `timeout`, and returns the guard; `None` if it
    /// timed out (Python: `acquire(timeout=t)`, which returns `False`).
    ///
    /// The timeout is a deadline (wake-ups that lose the race do not extend it); zero
    /// tries once; `Duration::MAX` saturates to decades.
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T, W>> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes the lock, waiting at most until `deadline`, and returns the guard; `None`
    /// if it timed out. A deadline that has passed still tries once.
    #[inline]
    pub fn acquire_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, W>> {
        // SAFETY: the lock is only acquired here, and a guard is made for that
        // acquisition right after.
        if unsafe { self.inner.raw() }.acquire_until(deadline) {
            // SAFETY: this thread has just acquired the lock, and no guard stands for
            // that acquisition yet: the one made here does.
            let inner = unsafe { self.inner.make_guard_unchecked() };
            Some(MutexGuard { inner })
        } else {
            None
        }
    }

    /// The same as [`acquire_timeout`](Self::acquire_timeout), in Rust's words (as
    /// [`Lock::lock_timeout`]).
    #[inline]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T, W>> {
        self.acquire_timeout(timeout)
    }

    /// The same as [`acquire_until`](Self::acquire_until), in Rust's words (as
    /// [`Lock::lock_until`]).
    #[inline]
    pub fn lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, W>> {
        self.acquire_until(deadline)
    }

    /// `true` while somebody holds the lock (Python: `locked()`). A snapshot.
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Names the lock in deadlock reports (feature `deadlock-detection`; otherwise it
    /// does nothing). See [`Lock::set_debug_name`].
    pub fn set_debug_name(&self, name: &str) {
        // SAFETY: naming neither acquires nor releases the lock.
        unsafe { self.inner.raw() }.set_debug_name(name);
    }

    /// The value, through an exclusive borrow: no locking needed (nobody else can
    /// reach the mutex).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Consumes the mutex and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    /// `T::default()`, guarded by a free lock.
    fn default() -> Self {
        Self::with_strategy(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    /// `value`, guarded by a free lock (as [`Mutex::new`]).
    fn from(value: T) -> Self {
        Self::with_strategy(value)
    }
}

impl<T, W: InstantWait> fmt::Debug for Mutex<T, W> {
    /// Shows whether it is locked, never the value: printing never takes the lock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.locked())
            .finish_non_exhaustive()
    }
}

/// Access to the value of a locked [`Mutex`]; releases the lock when dropped (the end of
/// Python's `with lock:` block) or with [`release`](Self::release).
///
/// It dereferences to the value. It may be sent to another thread and dropped there
/// (`Send` if `T: Send`): the lock has no owner, as Python's.
///
/// ```
/// use conkit::threading::Mutex;
///
/// let m = Mutex::new(vec![1]);
/// let mut g = m.lock();
/// g.push(2);
/// assert!(m.locked());
/// g.release(); // or drop(g), or the end of the scope
/// assert!(!m.locked());
/// assert_eq!(*m.lock(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T, W: InstantWait = Futex> {
    inner: CoreMutexGuard<'a, Lock<W>, T>,
}

impl<'a, T, W: InstantWait> MutexGuard<'a, T, W> {
    /// Releases the lock (Python: `lock.release()`); the same as dropping the guard.
    #[inline]
    pub fn release(self) {
        drop(self);
    }

    /// The lock this guard holds, for a [`Monitor`](super::Monitor)'s waits: they
    /// release it and take it back while this guard is mutably borrowed by them. It
    /// must never be released otherwise (another guard could then be made).
    #[inline]
    pub(crate) fn lock_ref(&self) -> &'a Lock<W> {
        // The core guard knows its mutex for the guard's whole lifetime `'a`.
        let mutex: &'a CoreMutex<Lock<W>, T> = CoreMutexGuard::mutex(&self.inner);
        // SAFETY: the only caller (`MonitorGuard::wait_deadline`) releases the lock
        // while it holds `&mut` to the guard, so no reference to the value exists, and
        // holds it again (also on unwind) before that borrow ends.
        unsafe { mutex.raw() }
    }
}

impl<T, W: InstantWait> Deref for MutexGuard<'_, T, W> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T, W: InstantWait> DerefMut for MutexGuard<'_, T, W> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug, W: InstantWait> fmt::Debug for MutexGuard<'_, T, W> {
    /// The value's `Debug` (the guard holds the lock).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
