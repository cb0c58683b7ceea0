//! Python's `multiprocessing.synchronize`: [`Lock`], [`RLock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`] between processes.
//!
//! Reference: CPython's `Lib/multiprocessing/synchronize.py` (3.12), which builds each
//! one on a POSIX named semaphore (`_multiprocessing.SemLock`). Here each one IS the
//! [`conkit::threading`](crate::threading) type over the process-shared strategy
//! [`SharedFutex`] — `mp::Lock` is a [`threading::Lock<SharedFutex>`](threading::Lock)
//! in its own shared mapping ([`heap::Shared`](super::heap::Shared)) — so every method,
//! guard, timeout and error is the threading one (reached through `Deref`), and no
//! primitive exists twice. Only [`Barrier`] differs in shape: its core barrier is shared
//! and its action (a closure, so a pointer into one process) is kept per process.
//!
//! | Python | conkit |
//! |---|---|
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `BoundedSemaphore(n)`, `Event()`, `Barrier(n)` | `Lock::new()`, `RLock::new()`, `Semaphore::new(n)`, … (panic if the shared mapping cannot be made), or `try_new` → `Result<_, SharedError>` |
//! | `Condition()` / `Condition(Lock())` | [`Condition::new()`] (over an `RLock`, Python's default) / [`Condition::new_over_lock()`] |
//! | `Condition(lock)` over an existing `Lock` / `RLock` (shared with other code or other conditions) | [`Condition::with_lock(lock)`](Condition::with_lock) → [`ConditionOn<Lock>`](ConditionOn) / `ConditionOn<RLock>` |
//! | `lock.acquire()`, `acquire(False)`, `acquire(timeout=t)`, `release()`, `with lock:` | the [`threading::Lock`] methods: `acquire()`, `try_acquire()`, `acquire_timeout(t)`, `release()`, `let _g = lock.lock();` |
//! | `sem.get_value()` | [`value()`](threading::Semaphore::value) |
//! | passing one to `Process(target, args=(lock,))` | the handle is `Serialize`/`Deserialize`: pass it among a child's arguments |
//! | holder killed: the lock stays held forever | the next acquirer takes it (within ~70 ms); `acquire_or_recover()` says [`Acquired::OwnerDied`] |
//!
//! **Handles.** Each type is a handle: `Clone` shares the same object within a process
//! (as an `Arc`), and serialising it among a child process's arguments
//! ([`inherit`](super::inherit)) hands the mapping to the child, which attaches to it
//! with the segment header checked. Serialising it anywhere else is an error (CPython:
//! "Lock objects should only be shared between processes through inheritance").
//!
//! **Owners that die.** A process killed while holding a [`Lock`] or [`RLock`] does not
//! leave it held: the owner word names its kernel thread, and the next acquirer that
//! finds that thread gone takes the lock over (see
//! [`conkit_core::lock::Lock`](conkit_core::lock::Lock#owners-that-die)).
//! `acquire()` and friends then return as usual (`true` for the boolean forms, as
//! Python would if the lock had been released); `acquire_or_recover()`,
//! `try_acquire_or_recover()` and `acquire_timeout_or_recover(t)` report
//! [`Acquired::OwnerDied`]: you hold the lock, and what it guards may be half updated.
//! `try_acquire()` (`acquire(False)`) does not ask whether the holder lives (it stays
//! one compare-and-swap, no system call) and returns `false` while a dead holder's id
//! is in the word; `try_acquire_or_recover()` asks.
//! A [`Semaphore`], [`Event`], [`Condition`]'s waiters or [`Barrier`] have no owner to
//! recover from: a process that dies holding a semaphore permit keeps it (as in
//! CPython); a barrier party that dies breaks the barrier for the others (see
//! [`Barrier`]) where CPython's parties hang.
//!
//! **Constructors.** `new` panics if the shared mapping cannot be created (out of memory
//! or descriptors, as CPython raises `OSError`); `try_new` returns the [`SharedError`].
//!
//! **Deadlock detection.** With the `deadlock-detection` feature, each process's
//! detector sees the lock orders of its own threads; lock numbers are unique across
//! processes, so a shared lock is one node in every process's graph.
//!
//! Linux (and Android) only: the process-shared futex and `memfd`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conkit_core::barrier::Barrier as CoreBarrier;
use conkit_core::condvar::Condvar;
use serde::{Deserialize, Serialize};

use super::asynch::{self, Outcome, Proxy, Watch};
use super::heap::{Shared, SharedError};
use crate::threading;
pub use crate::threading::{
    Acquired, BrokenBarrier, ConditionError, InvalidParties, ReleaseError, SemaphoreError,
};
use crate::wait::{deadline_after, SharedFutex};

/// The shared handle types: `Deref` to the threading type, `Clone` = share,
/// `Serialize`/`Deserialize` = hand to a child.
macro_rules! shared_handle {
    ($name:ident, $target:ty) => {
        impl Deref for $name {
            type Target = $target;

            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl Clone for $name {
            /// Another handle to the same object (this process).
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&*self.0).finish()
            }
        }

        /// Serialises as the shared mapping's descriptor: only among a child process's
        /// arguments (see [`inherit`](super::inherit)).
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        /// Attaches to the mapping handed over by the parent (header checked).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Shared::deserialize(d).map(Self)
            }
        }
    };
}

/// Unwraps a constructor's result, with the message `new` documents.
fn or_panic<T>(r: Result<T, SharedError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("multiprocessing::{what}: cannot create the shared object: {e}"),
    }
}

/// A primitive lock shared by processes (Python's `multiprocessing.Lock`): a
/// [`threading::Lock<SharedFutex>`](threading::Lock) in shared memory, with every method
/// of it.
///
/// ```
/// use conkit::multiprocessing::{Acquired, Lock};
///
/// let lock = Lock::new();
/// {
///     let _g = lock.lock(); // with lock:
///     assert!(!lock.try_acquire());
/// }
/// // Recovering from a holder that died is only visible here: `OwnerDied`.
/// assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
/// lock.release().unwrap();
/// ```
///
/// What handing it to a child does (`Process` does it for you): inside
/// [`inherit::collect`](super::inherit::collect) the handle serialises as an index into
/// the descriptors the child receives; the child attaches to the same memory.
///
/// ```
/// use conkit::multiprocessing::{codec, inherit, Lock};
///
/// let lock = Lock::new();
/// let (bytes, fds) = inherit::collect(|| codec::to_bytes(&lock));
/// assert!(bytes.is_ok());
/// assert_eq!(fds.len(), 1); // the lock's memfd
/// assert!(codec::to_bytes(&lock).is_err()); // not outside a child's start
/// ```
pub struct Lock(Shared<threading::Lock<SharedFutex>>);

shared_handle!(Lock, threading::Lock<SharedFutex>);

impl Lock {
    /// A free lock in a fresh shared mapping (Python: `multiprocessing.Lock()`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new() -> Self {
        or_panic(Self::try_new(), "Lock")
    }

    /// A free lock in a fresh shared mapping.
    ///
    /// ```
    /// let lock = conkit::multiprocessing::Lock::try_new()?;
    /// assert!(!lock.locked());
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new() -> Result<Self, SharedError> {
        Shared::new_with(threading::Lock::with_strategy).map(Self)
    }
}

impl Default for Lock {
    /// As [`Lock::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// A reentrant lock shared by processes (Python's `multiprocessing.RLock`): a
/// [`threading::RLock<SharedFutex>`](threading::RLock) in shared memory. Its owner is a
/// thread of some process (kernel thread ids are unique across processes): another
/// process cannot release it.
///
/// ```
/// use conkit::multiprocessing::RLock;
///
/// let r = RLock::new();
/// let _a = r.lock();
/// let _b = r.lock(); // re-entered
/// assert_eq!(r.depth(), 2);
/// ```
pub struct RLock(Shared<threading::RLock<SharedFutex>>);

shared_handle!(RLock, threading::RLock<SharedFutex>);

impl RLock {
    /// A free reentrant lock in a fresh shared mapping (Python:
    /// `multiprocessing.RLock()`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new() -> Self {
        or_panic(Self::try_new(), "RLock")
    }

    /// A free reentrant lock in a fresh shared mapping.
    ///
    /// ```
    /// let r = conkit::multiprocessing::RLock::try_new()?;
    /// assert!(!r.locked());
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new() -> Result<Self, SharedError> {
        Shared::new_with(threading::RLock::with_strategy).map(Self)
    }
}

impl Default for RLock {
    /// As [`RLock::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// A counting semaphore shared by processes (Python's `multiprocessing.Semaphore`): a
/// [`threading::Semaphore<SharedFutex>`](threading::Semaphore) in shared memory.
/// Python's `get_value()` is [`value()`](threading::Semaphore::value).
///
/// ```
/// use conkit::multiprocessing::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let _a = sem.acquire_guard();
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// assert_eq!(sem.value(), 0);
/// ```
pub struct Semaphore(Shared<threading::Semaphore<SharedFutex>>);

shared_handle!(Semaphore, threading::Semaphore<SharedFutex>);

impl Semaphore {
    /// A semaphore holding `value` permits (Python: `multiprocessing.Semaphore(value)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new(value: u32) -> Self {
        or_panic(Self::try_new(value), "Semaphore")
    }

    /// A semaphore holding `value` permits.
    ///
    /// ```
    /// let sem = conkit::multiprocessing::Semaphore::try_new(4)?;
    /// assert_eq!(sem.value(), 4);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new(value: u32) -> Result<Self, SharedError> {
        Shared::new_with(|| threading::Semaphore::with_strategy(value)).map(Self)
    }
}

/// A semaphore that refuses releases above its initial value, shared by processes
/// (Python's `multiprocessing.BoundedSemaphore`): a
/// [`threading::BoundedSemaphore<SharedFutex>`](threading::BoundedSemaphore) in shared
/// memory.
///
/// ```
/// use conkit::multiprocessing::{BoundedSemaphore, SemaphoreError};
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(SemaphoreError::Overflow));
/// ```
pub struct BoundedSemaphore(Shared<threading::BoundedSemaphore<SharedFutex>>);

shared_handle!(BoundedSemaphore, threading::BoundedSemaphore<SharedFutex>);

impl BoundedSemaphore {
    /// A bounded semaphore holding `value` permits (Python:
    /// `multiprocessing.BoundedSemaphore(value)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new(value: u32) -> Self {
        or_panic(Self::try_new(value), "BoundedSemaphore")
    }

    /// A bounded semaphore holding `value` permits.
    ///
    /// ```
    /// let sem = conkit::multiprocessing::BoundedSemaphore::try_new(3)?;
    /// assert_eq!(sem.initial(), 3);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new(value: u32) -> Result<Self, SharedError> {
        Shared::new_with(|| threading::BoundedSemaphore::with_strategy(value)).map(Self)
    }
}

/// A flag processes wait for (Python's `multiprocessing.Event`): a
/// [`threading::Event<SharedFutex>`](threading::Event) in shared memory.
///
/// ```
/// use std::time::Duration;
/// use conkit::multiprocessing::Event;
///
/// let ev = Event::new();
/// assert!(!ev.wait_timeout(Duration::from_millis(1)));
/// ev.set();
/// assert!(ev.is_set());
/// ev.wait();
/// ```
pub struct Event(Shared<threading::Event<SharedFutex>>);

shared_handle!(Event, threading::Event<SharedFutex>);

impl Event {
    /// A cleared event (Python: `multiprocessing.Event()`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new() -> Self {
        or_panic(Self::try_new(), "Event")
    }

    /// A cleared event.
    ///
    /// ```
    /// let ev = conkit::multiprocessing::Event::try_new()?;
    /// assert!(!ev.is_set());
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new() -> Result<Self, SharedError> {
        Shared::new_with(threading::Event::with_strategy).map(Self)
    }
}

impl Default for Event {
    /// As [`Event::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// A condition variable shared by processes (Python's `multiprocessing.Condition`): a
/// [`threading::Condition`] over a process-shared [`threading::RLock<SharedFutex>`]
/// (the default, as Python's) or [`threading::Lock<SharedFutex>`]
/// ([`new_over_lock`](Condition::new_over_lock)), in shared memory.
///
/// The lock lives in the condition's own mapping (use
/// [`get_lock`](threading::Condition::get_lock) where the lock alone is needed); for
/// Python's `Condition(lock)` over a lock created before, see
/// [`Condition::with_lock`].
///
/// ```
/// use conkit::multiprocessing::Condition;
///
/// let cond = Condition::new();
/// let _g = cond.lock();
/// assert_eq!(cond.notify_all(), Ok(0)); // nobody waits
/// ```
pub struct Condition<L = threading::RLock<SharedFutex>>(Shared<threading::Condition<L>>)
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe,
    L::Wait: conkit_core::shm::SharedWait;

/// A [`Condition`] over a plain [`threading::Lock<SharedFutex>`] (Python:
/// `Condition(Lock())`).
pub type LockCondition = Condition<threading::Lock<SharedFutex>>;

impl<L> Deref for Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe,
    L::Wait: conkit_core::shm::SharedWait,
{
    type Target = threading::Condition<L>;

    fn deref(&self) -> &threading::Condition<L> {
        &self.0
    }
}

impl<L> Clone for Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe,
    L::Wait: conkit_core::shm::SharedWait,
{
    /// Another handle to the same condition (this process).
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<L> fmt::Debug for Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe + fmt::Debug,
    L::Wait: conkit_core::shm::SharedWait,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&*self.0).finish()
    }
}

/// Serialises as the shared mapping's descriptor: only among a child process's
/// arguments.
impl<L> Serialize for Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe,
    L::Wait: conkit_core::shm::SharedWait,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Attaches to the mapping handed over by the parent (header checked).
impl<'de, L> Deserialize<'de> for Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe,
    L::Wait: conkit_core::shm::SharedWait,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Shared::deserialize(d).map(Self)
    }
}

impl Condition {
    /// A condition over its own process-shared `RLock` (Python:
    /// `multiprocessing.Condition()`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new() -> Self {
        or_panic(Self::try_new(), "Condition")
    }

    /// A condition over its own process-shared `RLock`.
    ///
    /// ```
    /// let cond = conkit::multiprocessing::Condition::try_new()?;
    /// assert_eq!(cond.waiters(), 0);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new() -> Result<Self, SharedError> {
        Shared::new_with(|| threading::Condition::with_lock(threading::RLock::with_strategy()))
            .map(Self)
    }

    /// A condition over its own process-shared primitive `Lock` (Python:
    /// `multiprocessing.Condition(multiprocessing.Lock())`).
    ///
    /// ```
    /// use conkit::multiprocessing::Condition;
    ///
    /// let cond = Condition::new_over_lock();
    /// let _g = cond.lock();
    /// assert!(cond.get_lock().locked());
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see
    /// [`try_new_over_lock`](Self::try_new_over_lock)).
    #[must_use]
    pub fn new_over_lock() -> LockCondition {
        or_panic(Self::try_new_over_lock(), "Condition")
    }

    /// A condition over its own process-shared primitive `Lock`.
    ///
    /// ```
    /// let cond = conkit::multiprocessing::Condition::try_new_over_lock()?;
    /// assert!(!cond.get_lock().locked());
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new_over_lock() -> Result<LockCondition, SharedError> {
        Shared::new_with(|| threading::Condition::with_lock(threading::Lock::with_strategy()))
            .map(Condition)
    }
}

impl Condition {
    /// A condition over an existing process-shared [`Lock`] or [`RLock`] (Python:
    /// `multiprocessing.Condition(lock)`): taking the condition's lock takes `lock`,
    /// which other code, other conditions, a [`Value`](super::Value) created with it,
    /// … share. The condition's waiters live in a mapping of their own; the handle
    /// holds both and hands both to a child.
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, Lock};
    ///
    /// let lock = Lock::new();
    /// let not_empty = Condition::with_lock(lock.clone());
    /// let not_full = Condition::with_lock(lock.clone());
    /// {
    ///     let _g = lock.lock(); // with lock:
    ///     assert_eq!(not_empty.notify(1), Ok(0)); // held through the shared lock
    ///     assert_eq!(not_full.notify_all(), Ok(0));
    /// }
    /// assert!(not_empty.notify(1).is_err()); // not held
    /// ```
    ///
    /// # Panics
    /// If the waiters' mapping cannot be created (see
    /// [`try_with_lock`](Self::try_with_lock)).
    #[must_use]
    pub fn with_lock<L: SharedLock>(lock: L) -> ConditionOn<L> {
        or_panic(Self::try_with_lock(lock), "Condition")
    }

    /// A condition over an existing process-shared lock.
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, RLock};
    /// let cond = Condition::try_with_lock(RLock::new())?;
    /// assert_eq!(cond.waiters(), 0);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_with_lock<L: SharedLock>(lock: L) -> Result<ConditionOn<L>, SharedError> {
        Ok(threading::Condition::with_parts(
            lock,
            Shared::new_with(Condvar::new)?,
        ))
    }
}

mod sealed {
    /// What a [`ConditionOn`](super::ConditionOn) needs of its lock beyond
    /// [`ConditionLock`](crate::threading::ConditionLock).
    pub trait Sealed {
        /// The lock's own `acquire_async` (woken by a release in any process through the
        /// lock's proxy, see `asynch`).
        fn acquire_async_any_process(&self) -> impl std::future::Future<Output = ()> + '_;
        /// The lock's pass-through proxy (see `asynch`). (`Proxy` is crate-private; the
        /// trait is sealed, so nothing outside the crate can name the method.)
        #[allow(private_interfaces)]
        fn proxy_any_process(&self) -> std::sync::Arc<super::Proxy>;
    }
    impl Sealed for super::Lock {
        fn acquire_async_any_process(&self) -> impl std::future::Future<Output = ()> + '_ {
            self.acquire_async()
        }
        #[allow(private_interfaces)]
        fn proxy_any_process(&self) -> std::sync::Arc<super::Proxy> {
            self.proxy()
        }
    }
    impl Sealed for super::RLock {
        fn acquire_async_any_process(&self) -> impl std::future::Future<Output = ()> + '_ {
            self.acquire_async()
        }
        #[allow(private_interfaces)]
        fn proxy_any_process(&self) -> std::sync::Arc<super::Proxy> {
            self.proxy()
        }
    }
}

/// The process-shared locks a [`ConditionOn`] can be built over: [`Lock`] and
/// [`RLock`]. Sealed.
pub trait SharedLock:
    sealed::Sealed
    + threading::ConditionLock<Wait = SharedFutex>
    + Clone
    + fmt::Debug
    + Serialize
    + for<'de> Deserialize<'de>
{
    /// The threading lock the handle stands for.
    type Inner: threading::ConditionLock<Wait = SharedFutex>;
    /// The threading lock the handle stands for (what it dereferences to).
    ///
    /// ```
    /// use conkit::multiprocessing::{Lock, SharedLock};
    /// let lock = Lock::new();
    /// assert!(!lock.inner().locked());
    /// ```
    fn inner(&self) -> &Self::Inner;
}

impl SharedLock for Lock {
    type Inner = threading::Lock<SharedFutex>;
    fn inner(&self) -> &Self::Inner {
        self
    }
}

impl SharedLock for RLock {
    type Inner = threading::RLock<SharedFutex>;
    fn inner(&self) -> &Self::Inner {
        self
    }
}

/// A condition variable over an existing process-shared [`Lock`] or [`RLock`]
/// (Python's `multiprocessing.Condition(lock)`), made by [`Condition::with_lock`].
///
/// It IS [`threading::Condition`] (one implementation for threads, processes and both),
/// over the lock's handle, with its waiters behind a handle
/// ([`CondvarHandle`](threading::CondvarHandle)): the same methods and rules, and the
/// same async forms bridged to other processes as [`Condition`]'s
/// ([`lock_async`](ConditionOn::lock_async), [`wait_guard_async`](ConditionOn::wait_guard_async),
/// …; see [`asynch`]):
/// waiting and notifying need the lock held by the calling thread
/// ([`ConditionError::NotOwned`] otherwise), `notify(n)` wakes the `n` oldest waiters of
/// any process, an `RLock` held at any depth is released completely while waiting. The
/// waiters are the core [`Condvar`] in a mapping of
/// their own (the one a [`threading::Condition`] holds next to its lock), so several
/// conditions can share the lock.
///
/// Handles: `Clone` shares within a process, serialising among a child's arguments
/// hands both mappings (the waiters' and the lock's) to the child.
///
/// ```
/// use std::time::Duration;
/// use conkit::multiprocessing::{Condition, RLock};
///
/// let cond = Condition::with_lock(RLock::new());
/// let _g = cond.lock();
/// let _again = cond.lock(); // an RLock: re-entered; a wait releases both levels
/// assert_eq!(cond.wait_timeout(Duration::from_millis(1)), Ok(false));
/// assert_eq!(cond.get_lock().depth(), 2);
/// ```
pub type ConditionOn<L = RLock> = threading::Condition<L, Shared<Condvar<SharedFutex>>>;

/// Holds a [`ConditionOn`]'s lock ([`lock`](threading::Condition::lock)); releases it
/// when dropped.
///
/// ```
/// use conkit::multiprocessing::{Condition, Lock};
/// let cond = Condition::with_lock(Lock::new());
/// let g = cond.lock();
/// drop(g);
/// assert!(!cond.get_lock().locked());
/// ```
pub type ConditionOnGuard<'a, L = RLock> =
    threading::ConditionGuard<'a, L, Shared<Condvar<SharedFutex>>>;

impl<L: SharedLock> Clone for ConditionOn<L> {
    /// Another handle to the same condition and lock (this process).
    fn clone(&self) -> Self {
        Self::with_parts(self.get_lock().clone(), self.condvar_handle().clone())
    }
}

/// Serialises as the waiters' and the lock's mapping descriptors: only among a child
/// process's arguments.
impl<L: SharedLock> Serialize for ConditionOn<L> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.condvar_handle(), self.get_lock()).serialize(s)
    }
}

/// Attaches to both mappings handed over by the parent (headers checked).
impl<'de, L: SharedLock> Deserialize<'de> for ConditionOn<L> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (cv, lock) = <(Shared<Condvar<SharedFutex>>, L)>::deserialize(d)?;
        Ok(Self::with_parts(lock, cv))
    }
}

/// The async forms (issue #14), as [`Condition`]'s: the threading type's, bridged to
/// other processes (see [`asynch`]).
impl<L: SharedLock> ConditionOn<L> {
    /// The two proxies of an async wait: the condvar's watcher for the notify, the
    /// lock's own pass-through proxy for the re-take.
    fn phases(&self) -> Bridged {
        Bridged {
            notify: condvar_proxy(
                addr_of::<Condvar<SharedFutex>>(self.condvar_handle()),
                self.condvar_handle().clone(),
                |h| h,
            ),
            lock: sealed::Sealed::proxy_any_process(self.get_lock()),
        }
    }

    /// Takes the lock, awaiting it in an async task, and returns the guard: the lock's
    /// own async acquisition ([`Lock::acquire_async`] / [`RLock::acquire_async`]), woken
    /// by a release in any process at once (no polling).
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, Lock};
    ///
    /// let cond = Condition::with_lock(Lock::new());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     assert!(cond.get_lock().locked());
    ///     assert_eq!(cond.notify_all(), Ok(0));
    /// });
    /// assert!(!cond.get_lock().locked());
    /// ```
    pub async fn lock_async(&self) -> ConditionOnGuard<'_, L> {
        sealed::Sealed::acquire_async_any_process(self.get_lock()).await;
        self.held_guard()
    }

    /// Releases the lock, awaits a notify from ANY process, re-takes the lock (the
    /// threading type's [`wait_async`](threading::Condition::wait_async), with its
    /// order and cancellation rules, bridged to other processes as
    /// [`Condition::wait_async`]: a notify in this process wakes the task at once, one
    /// in another process through the condvar's watcher and the lock's proxy, see
    /// [`asynch`]). For a wait that may be cancelled (a runtime
    /// timeout), use [`wait_guard_async`](Self::wait_guard_async).
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, Lock, Value};
    ///
    /// let lock = Lock::new();
    /// let cond = Condition::with_lock(lock.clone());
    /// let ready = Value::new(0u32);
    /// let (c2, r2) = (cond.clone(), ready.clone());
    /// let notifier = std::thread::spawn(move || {
    ///     let _g = c2.lock();
    ///     r2.set(1);
    ///     c2.notify_all().unwrap();
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     while ready.get() == 0 {
    ///         cond.wait_async().await.unwrap();
    ///     }
    /// });
    /// notifier.join().unwrap();
    /// assert!(!lock.locked());
    /// ```
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the lock is not held.
    pub async fn wait_async(&self) -> Result<(), ConditionError> {
        self.wait_async_with(&self.phases()).await
    }

    /// Awaits until `predicate` returns `true` (evaluated with the lock held, first
    /// before any wait, then after every wake-up), as
    /// [`wait_async`](Self::wait_async) in a loop.
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, RLock};
    ///
    /// let cond = Condition::with_lock(RLock::new());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     cond.wait_for_async(|| true).await.unwrap(); // already true: no wait
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`wait_async`](Self::wait_async).
    ///
    /// # Panics
    /// If `predicate` panics (the lock stays held).
    pub async fn wait_for_async(
        &self,
        predicate: impl FnMut() -> bool,
    ) -> Result<(), ConditionError> {
        threading::wait_for_loop((), predicate, |()| self.wait_async()).await
    }

    /// The cancellation-safe wait: takes the guard, releases the lock, awaits a notify
    /// from ANY process, re-takes the lock and gives the guard back (the threading
    /// type's [`wait_guard_async`](threading::Condition::wait_guard_async), with its
    /// cancellation rules — a runtime timeout around it is safe, the guard goes with
    /// the dropped future — bridged to other processes as
    /// [`wait_async`](Self::wait_async)). A guard of another `ConditionOn` over the
    /// same lock *handle* is accepted (locks compare by address in this process).
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{Condition, Lock, Value};
    ///
    /// let lock = Lock::new();
    /// let cond = Condition::with_lock(lock.clone());
    /// let ready = Value::new(0u32);
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await;
    ///     let timeout = Duration::from_millis(10);
    ///     assert!(tokio::time::timeout(timeout, cond.wait_guard_async(guard)).await.is_err());
    ///     assert!(!lock.locked()); // the guard went with the wait
    /// });
    /// let (c2, r2) = (cond.clone(), ready.clone());
    /// let notifier = std::thread::spawn(move || {
    ///     let _g = c2.lock();
    ///     r2.set(1);
    ///     c2.notify_all().unwrap();
    /// });
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await;
    ///     let guard = cond.wait_for_guard_async(guard, || ready.get() == 1).await.unwrap();
    ///     drop(guard);
    /// });
    /// notifier.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// As the threading type's
    /// [`wait_guard_async`](threading::Condition::wait_guard_async).
    pub async fn wait_guard_async<'g>(
        &self,
        guard: ConditionOnGuard<'g, L>,
    ) -> Result<ConditionOnGuard<'g, L>, ConditionError> {
        self.wait_guard_async_with(guard, &self.phases()).await
    }

    /// Awaits until `predicate` returns `true` (evaluated with the lock held, first
    /// before any wait, then after every wake-up), as
    /// [`wait_guard_async`](Self::wait_guard_async) in a loop; returns the guard.
    ///
    /// # Errors
    /// As [`wait_guard_async`](Self::wait_guard_async).
    ///
    /// # Panics
    /// If `predicate` panics (the guard is dropped while unwinding, releasing the lock).
    pub async fn wait_for_guard_async<'g>(
        &self,
        guard: ConditionOnGuard<'g, L>,
        predicate: impl FnMut() -> bool,
    ) -> Result<ConditionOnGuard<'g, L>, ConditionError> {
        threading::wait_for_loop(guard, predicate, |g| self.wait_guard_async(g)).await
    }
}

impl Default for Condition {
    /// As [`Condition::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// Why a [`Barrier`] could not be made.
#[derive(Debug)]
pub enum BarrierError {
    /// Zero parties, or more than the core barrier counts (Python: `ValueError`).
    InvalidParties(InvalidParties),
    /// The shared mapping could not be created.
    Shared(SharedError),
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidParties(e) => write!(f, "{e}"),
            Self::Shared(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BarrierError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidParties(e) => Some(e),
            Self::Shared(e) => Some(e),
        }
    }
}

/// The action run by the last party of a round, in that party's process.
type Action = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// A barrier for a fixed number of parties in any processes (Python's
/// `multiprocessing.Barrier`): the core barrier (CPython's filling / draining /
/// resetting / broken machine on one atomic word) in shared memory, waited on with
/// [`SharedFutex`], with the wait of [`threading::Barrier`] (the same code).
///
/// The action and the default timeout belong to the handle, not to the shared barrier:
/// the last party to arrive runs *its own handle's* action, in its own process. A child
/// gets the default timeout with the handle, not the action (a closure cannot travel to
/// another process): give the child's handle one with [`with_action`](Self::with_action)
/// if it may arrive last. CPython pickles the action with the barrier; the effect is
/// the same when every handle is given the same action.
///
/// Parties that die (see [`conkit_core::barrier`](conkit_core::barrier#participants-that-die)):
/// one killed before arriving never arrives, so the others' timeouts break the barrier
/// for all ([`BrokenBarrier`]) and [`reset`](Self::reset) makes it usable again, as for
/// a late party in CPython; one killed after arriving (mid-wait) is noticed by the
/// waiting parties, which probe the recorded arrivals' liveness between sleeps: the
/// barrier breaks within about a second even for waits without a deadline (unless the
/// round completed first), where CPython's parties hang for good; `reset` makes it
/// usable again. A party killed in the few instructions between arriving and recording
/// itself, or arriving with an index of `RECORDED` (16) or more, is not detected: give
/// every wait between processes a timeout.
///
/// ```
/// use std::time::Duration;
/// use conkit::multiprocessing::{Barrier, BrokenBarrier};
///
/// let b = Barrier::new(2).with_timeout(Duration::from_millis(5));
/// assert_eq!(b.wait(), Err(BrokenBarrier)); // the other party never came
/// assert!(b.broken());
/// b.reset();
/// assert_eq!(b.parties(), 2);
/// ```
pub struct Barrier {
    shared: Shared<CoreBarrier<SharedFutex>>,
    action: Option<Action>,
    timeout: Option<Duration>,
}

impl Barrier {
    /// A barrier for `parties` parties (Python: `multiprocessing.Barrier(parties)`).
    ///
    /// # Panics
    /// If `parties` is 0 or above the core's limit, or the mapping cannot be created
    /// (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new(parties: u32) -> Self {
        match Self::try_new(parties) {
            Ok(b) => b,
            Err(e) => panic!("multiprocessing::Barrier: {e}"),
        }
    }

    /// A barrier for `parties` parties.
    ///
    /// ```
    /// use conkit::multiprocessing::{Barrier, BarrierError};
    ///
    /// assert!(matches!(Barrier::try_new(0), Err(BarrierError::InvalidParties(_))));
    /// assert_eq!(Barrier::try_new(3)?.parties(), 3);
    /// # Ok::<(), BarrierError>(())
    /// ```
    ///
    /// # Errors
    /// [`BarrierError::InvalidParties`] (Python: `ValueError`), or
    /// [`BarrierError::Shared`] if the mapping cannot be created.
    pub fn try_new(parties: u32) -> Result<Self, BarrierError> {
        let core = CoreBarrier::try_new(parties).map_err(BarrierError::InvalidParties)?;
        let shared = Shared::new_with(|| core).map_err(BarrierError::Shared)?;
        Ok(Self {
            shared,
            action: None,
            timeout: None,
        })
    }

    /// Makes this handle run `action` when its process's party is the last to arrive in
    /// a round, before all are released (Python: `Barrier(parties, action)`). If the
    /// action panics, the barrier breaks and the panic continues in that party.
    ///
    /// ```
    /// use conkit::multiprocessing::Barrier;
    ///
    /// let b = Barrier::new(1).with_action(|| println!("all here"));
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    #[must_use]
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(std::sync::Arc::new(action));
        self
    }

    /// Sets this handle's default timeout of [`wait`](Self::wait) (Python:
    /// `Barrier(parties, timeout=t)`); it travels to a child with the handle.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::Barrier;
    ///
    /// let b = Barrier::new(2).with_timeout(Duration::from_millis(1));
    /// assert!(b.wait().is_err());
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until all parties have arrived, at most the default timeout if one was set;
    /// returns this party's arrival index, `0..parties` (Python: `b.wait()`).
    ///
    /// ```
    /// let b = conkit::multiprocessing::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is or becomes broken while waiting (aborted,
    /// reset, a party's timeout, the action panicked).
    ///
    /// # Panics
    /// If this party runs the action and the action panics.
    pub fn wait(&self) -> Result<usize, BrokenBarrier> {
        threading::barrier_wait_with_action(
            &self.shared,
            self.action.as_deref(),
            self.timeout.map(deadline_after),
        )
    }

    /// As [`wait`](Self::wait) with this `timeout` instead of the default (Python:
    /// `b.wait(timeout)`); a timeout breaks the barrier for every party.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = conkit::multiprocessing::Barrier::new(2);
    /// assert!(b.wait_timeout(Duration::from_millis(1)).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_until(deadline_after(timeout))
    }

    /// As [`wait`](Self::wait) with a deadline.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let b = conkit::multiprocessing::Barrier::new(1);
    /// assert_eq!(b.wait_until(Instant::now() + Duration::from_secs(1)), Ok(0));
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    pub fn wait_until(&self, deadline: Instant) -> Result<usize, BrokenBarrier> {
        threading::barrier_wait_with_action(&self.shared, self.action.as_deref(), Some(deadline))
    }

    /// The number of parties (Python: `b.parties`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Barrier::new(3).parties(), 3);
    /// ```
    pub fn parties(&self) -> usize {
        self.shared.parties() as usize
    }

    /// How many parties wait in the current round, in all processes (Python:
    /// `b.n_waiting`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Barrier::new(3).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.shared.n_waiting() as usize
    }

    /// Whether the barrier is broken (Python: `b.broken`).
    ///
    /// ```
    /// let b = conkit::multiprocessing::Barrier::new(3);
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.shared.broken()
    }

    /// Breaks the barrier for every party in every process until [`reset`](Self::reset)
    /// (Python: `b.abort()`).
    ///
    /// ```
    /// let b = conkit::multiprocessing::Barrier::new(2);
    /// b.abort();
    /// assert!(b.wait().is_err());
    /// ```
    pub fn abort(&self) {
        self.shared.abort();
    }

    /// Returns the barrier to its empty state; parties waiting now get
    /// [`BrokenBarrier`] (Python: `b.reset()`).
    ///
    /// ```
    /// let b = conkit::multiprocessing::Barrier::new(2);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Clone for Barrier {
    /// Another handle to the same barrier, with the same action and timeout.
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            action: self.action.clone(),
            timeout: self.timeout,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("shared", &*self.shared)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Serialises as the shared mapping's descriptor and the default timeout (not the
/// action): only among a child process's arguments.
impl Serialize for Barrier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.shared, self.timeout).serialize(s)
    }
}

/// Attaches to the barrier handed over by the parent (header checked), with the
/// parent's default timeout and no action.
impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (shared, timeout) =
            <(Shared<CoreBarrier<SharedFutex>>, Option<Duration>)>::deserialize(d)?;
        Ok(Self {
            shared,
            action: None,
            timeout,
        })
    }
}

// ---------------------------------------------------------------------------------
// Async forms (issue #14): woken by changes made in any process, through this
// process's proxy waiter (see `super::asynch` for the design).

/// What a proxy waits for on an object of this module (the key's second half).
mod awaited {
    pub const LOCK: u8 = 1;
    pub const SEMAPHORE: u8 = 2;
    pub const EVENT: u8 = 3;
    pub const CONDITION: u8 = 4;
    pub const MANY: u8 = 5;
    pub const BARRIER: u8 = 6;
}

/// A proxy's wait given as a function of the slice.
struct WaitFn<F>(F);

impl<F: Fn(Duration) -> Outcome + Send + Sync + 'static> Watch for WaitFn<F> {
    fn wait(&self, _mark: u64, slice: Duration) -> Outcome {
        (self.0)(slice)
    }
}

/// A lock's proxy wait: acquire (recovering from a dead holder) and release at once.
fn pass_through(got: Option<Acquired>, release: impl FnOnce()) -> Outcome {
    match got {
        None => Outcome::TimedOut,
        Some(how) => {
            release();
            if how == Acquired::OwnerDied {
                Outcome::OwnerDied
            } else {
                Outcome::Changed
            }
        }
    }
}

/// The address of the shared object in this process: the proxy's key.
fn addr_of<T>(shared: &T) -> usize {
    std::ptr::from_ref(shared) as usize
}

/// The proxy of a process [`Lock`] or [`RLock`] at `key`: each wait takes the lock for
/// a slice with `acquire` (recovering from a dead holder) and gives it back at once with
/// `release` (`pass_through`).
fn lock_proxy<L: Clone + Send + Sync + 'static>(
    key: usize,
    lock: &L,
    acquire: fn(&L, Duration) -> Option<Acquired>,
    release: fn(&L),
) -> Arc<Proxy> {
    let lock = lock.clone();
    Proxy::for_object(key, awaited::LOCK, || {
        Box::new(WaitFn(move |slice| {
            pass_through(acquire(&lock, slice), || release(&lock))
        }))
    })
}

/// The notify-phase proxy of a process-shared condition's async waits: the core
/// condvar's ticket-less watcher ([`Condvar::watch_until`]), reached through `handle`
/// (a handle of the mapping that holds it) with `cv`. It sleeps among the condvar's
/// sleepers, so a notify from any process wakes it, without a ticket: no notify is
/// ever spent on it.
fn condvar_proxy<H: Send + Sync + 'static, W: crate::wait::InstantWait + 'static>(
    key: usize,
    handle: H,
    cv: fn(&H) -> &Condvar<W>,
) -> Arc<Proxy> {
    /// See [`condvar_proxy`].
    struct CondvarWatch<H, W: conkit_core::wait::WaitStrategy> {
        handle: H,
        cv: fn(&H) -> &Condvar<W>,
    }
    impl<H: Send + Sync + 'static, W: crate::wait::InstantWait + 'static> Watch for CondvarWatch<H, W> {
        fn mark(&self) -> u64 {
            u64::from((self.cv)(&self.handle).head_mark())
        }
        fn wait(&self, mark: u64, slice: Duration) -> Outcome {
            // The mark is a `u32` (`head_mark`), widened by `mark` above.
            #[allow(clippy::cast_possible_truncation)]
            let mark = mark as u32;
            if (self.cv)(&self.handle).watch_until(mark, Some(deadline_after(slice))) {
                Outcome::Changed
            } else {
                Outcome::TimedOut
            }
        }
    }
    Proxy::for_object(key, awaited::CONDITION, || {
        Box::new(CondvarWatch { handle, cv })
    })
}

/// The two phases of a process-shared condition's async wait, each bridged to other
/// processes by its proxy (see `threading::condition::Phases`): the notify by the
/// condvar's watcher, the re-take of the lock by the lock's pass-through proxy. Two
/// proxies rather than one that switches from watching the condvar to watching the
/// lock: a release between the switch and the lock proxy's first look would be missed.
struct Bridged {
    notify: Arc<Proxy>,
    lock: Arc<Proxy>,
}

impl threading::Phases for Bridged {
    fn notified<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        asynch::bridge(Arc::clone(&self.notify), f)
    }
    fn retaken<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        asynch::bridge(Arc::clone(&self.lock), f)
    }
}

/// The `acquire_or_recover_async` of both locks: `attempt` (a `try_acquire_or_recover`)
/// until it succeeds, woken through `proxy`; `OwnerDied` also when the proxy was the
/// one that found the holder dead.
async fn recover_async(
    proxy: Arc<Proxy>,
    mut attempt: impl FnMut() -> Option<Acquired>,
) -> Acquired {
    let told = Arc::clone(&proxy);
    asynch::until(proxy, move || {
        attempt().map(|how| {
            if told.take_owner_died() {
                Acquired::OwnerDied
            } else {
                how
            }
        })
    })
    .await
}

/// The `lock_async` of both locks: `try_lock` until it succeeds, woken through `proxy`.
/// A dead holder's news is consumed here too (a guard cannot carry it).
async fn guard_async<G>(proxy: Arc<Proxy>, mut try_lock: impl FnMut() -> Option<G>) -> G {
    let told = Arc::clone(&proxy);
    asynch::until(proxy, move || {
        try_lock().inspect(|_| {
            told.take_owner_died();
        })
    })
    .await
}

/// The proxy of both process locks: [`lock_proxy`] over the handle, each wait an
/// `acquire_timeout_or_recover` for the slice and a `release` at once.
macro_rules! lock_proxy_of {
    ($name:ident, $target:ty) => {
        impl $name {
            fn proxy(&self) -> Arc<Proxy> {
                lock_proxy(
                    addr_of::<$target>(self),
                    self,
                    |l, slice| l.acquire_timeout_or_recover(slice),
                    |l| {
                        let _ = l.release();
                    },
                )
            }
        }
    };
}

lock_proxy_of!(Lock, threading::Lock<SharedFutex>);
lock_proxy_of!(RLock, threading::RLock<SharedFutex>);

impl Lock {
    /// Takes the lock, awaiting it in an async task; woken by a release in ANY process
    /// (the threading type's `acquire_async`, which this hides, is woken only by
    /// releases in this process). See [`asynch`] for how, and for the
    /// cost. Cancel-safe: the lock is taken only by the poll that completes.
    ///
    /// ```
    /// use conkit::multiprocessing::Lock;
    ///
    /// let lock = Lock::new();
    /// lock.acquire();
    /// let other = lock.clone();
    /// // A thread here; a child process's release wakes the task the same way.
    /// let t = std::thread::spawn(move || other.release().unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(lock.acquire_async());
    /// assert!(lock.locked());
    /// lock.release().unwrap();
    /// t.join().unwrap();
    /// ```
    pub async fn acquire_async(&self) {
        let _ = self.acquire_or_recover_async().await;
    }

    /// [`acquire_async`](Self::acquire_async) that says how: [`Acquired::OwnerDied`]
    /// if the holder was a process that died holding it (as
    /// [`acquire_or_recover`](threading::Lock::acquire_or_recover); see
    /// [`asynch`], "Owners that die", for the one difference).
    ///
    /// ```
    /// use conkit::multiprocessing::{Acquired, Lock};
    ///
    /// let lock = Lock::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(lock.acquire_or_recover_async()), Acquired::Clean);
    /// lock.release().unwrap();
    /// ```
    pub async fn acquire_or_recover_async(&self) -> Acquired {
        recover_async(self.proxy(), || self.try_acquire_or_recover()).await
    }

    /// Takes the lock, awaiting it as [`acquire_async`](Self::acquire_async), and
    /// returns its guard (Python: `async with lock:` if asyncio had one for processes).
    ///
    /// ```
    /// use conkit::multiprocessing::Lock;
    ///
    /// let lock = Lock::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = lock.lock_async().await;
    ///     assert!(lock.locked());
    /// });
    /// assert!(!lock.locked());
    /// ```
    pub async fn lock_async(&self) -> threading::LockGuard<'_, SharedFutex> {
        guard_async(self.proxy(), || self.try_lock()).await
    }
}

impl RLock {
    /// Takes the lock (or re-enters it), awaiting it in an async task; woken by a
    /// release in ANY process (see [`asynch`]). The owner is the
    /// *thread* the task runs on, as for
    /// [`threading::RLock::acquire_async`](threading::RLock::acquire_async): keep a task
    /// that holds it on its thread, and prefer [`Lock`] between tasks. Cancel-safe.
    ///
    /// ```
    /// use conkit::multiprocessing::RLock;
    ///
    /// let r = RLock::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     r.acquire_async().await;
    ///     r.acquire_async().await; // re-entry
    /// });
    /// assert_eq!(r.depth(), 2);
    /// r.release().unwrap();
    /// r.release().unwrap();
    /// ```
    pub async fn acquire_async(&self) {
        let _ = self.acquire_or_recover_async().await;
    }

    /// [`acquire_async`](Self::acquire_async) that says how ([`Acquired::OwnerDied`]:
    /// the holder was a process that died holding it).
    ///
    /// ```
    /// use conkit::multiprocessing::{Acquired, RLock};
    ///
    /// let r = RLock::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(r.acquire_or_recover_async()), Acquired::Clean);
    /// r.release().unwrap();
    /// ```
    pub async fn acquire_or_recover_async(&self) -> Acquired {
        recover_async(self.proxy(), || self.try_acquire_or_recover()).await
    }

    /// Takes the lock as [`acquire_async`](Self::acquire_async) and returns its guard.
    ///
    /// ```
    /// use conkit::multiprocessing::RLock;
    ///
    /// let r = RLock::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = r.lock_async().await;
    ///     assert_eq!(r.depth(), 1);
    /// });
    /// assert_eq!(r.depth(), 0);
    /// ```
    pub async fn lock_async(&self) -> threading::RLockGuard<'_, SharedFutex> {
        guard_async(self.proxy(), || self.try_lock()).await
    }
}

/// The async forms of the two semaphores (the same code).
macro_rules! semaphore_async {
    ($name:ident, $target:ty) => {
        impl $name {
            fn proxy(&self) -> Arc<Proxy> {
                let sem = self.clone();
                Proxy::for_object(addr_of::<$target>(self), awaited::SEMAPHORE, || {
                    Box::new(WaitFn(move |slice| {
                        if sem.acquire_timeout(slice) {
                            let _ = sem.release();
                            Outcome::Changed
                        } else {
                            Outcome::TimedOut
                        }
                    }))
                })
            }

            /// Takes one permit, awaiting it in an async task; woken by a release in ANY
            /// process (the threading type's form, which this hides, only by releases in
            /// this process; see [`asynch`]). Cancel-safe: the permit is
            /// taken only by the poll that completes.
            ///
            /// ```
            #[doc = concat!("use conkit::multiprocessing::", stringify!($name), ";")]
            ///
            #[doc = concat!("let sem = ", stringify!($name), "::new(1);")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// rt.block_on(sem.acquire_async());
            /// assert_eq!(sem.value(), 0);
            /// sem.release().unwrap();
            /// ```
            pub async fn acquire_async(&self) {
                asynch::until(self.proxy(), || self.try_acquire().then_some(())).await;
            }

            /// Takes `n` permits at once, awaiting them in an async task (the threading
            /// type's `acquire_many_async`, woken by releases in this process at once,
            /// bridged to releases in other processes by a proxy that watches the count
            /// until `n` permits are free, taking none; see [`asynch`]).
            ///
            /// ```
            #[doc = concat!("use conkit::multiprocessing::", stringify!($name), ";")]
            ///
            #[doc = concat!("let sem = ", stringify!($name), "::new(3);")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// rt.block_on(sem.acquire_many_async(2));
            /// assert_eq!(sem.value(), 1);
            /// sem.release_many(2).unwrap();
            /// ```
            pub async fn acquire_many_async(&self, n: u32) {
                if self.try_acquire_many(n) {
                    return;
                }
                let sem = self.clone();
                let proxy = Proxy::for_wait(addr_of::<$target>(self), awaited::MANY, n, || {
                    Box::new(WaitFn(move |slice| {
                        if sem.watch_available(n, slice) {
                            Outcome::Changed
                        } else {
                            Outcome::TimedOut
                        }
                    }))
                });
                asynch::bridge(proxy, (**self).acquire_many_async(n)).await;
            }

            /// Takes one permit as [`acquire_async`](Self::acquire_async) and returns a
            /// guard that releases it.
            ///
            /// ```
            #[doc = concat!("use conkit::multiprocessing::", stringify!($name), ";")]
            ///
            #[doc = concat!("let sem = ", stringify!($name), "::new(1);")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// rt.block_on(async {
            ///     let _permit = sem.acquire_guard_async().await;
            ///     assert_eq!(sem.value(), 0);
            /// });
            /// assert_eq!(sem.value(), 1);
            /// ```
            pub async fn acquire_guard_async(&self) -> threading::SemaphoreGuard<'_, SharedFutex> {
                asynch::until(self.proxy(), || self.try_acquire_guard()).await
            }
        }
    };
}

semaphore_async!(Semaphore, threading::Semaphore<SharedFutex>);
semaphore_async!(BoundedSemaphore, threading::BoundedSemaphore<SharedFutex>);

impl Event {
    /// Waits until the flag is set, in an async task; woken by a `set` in ANY process
    /// (the threading type's `wait_async`, which this hides, only by a `set` in this
    /// process; see [`asynch`]). Cancel-safe.
    ///
    /// ```
    /// use conkit::multiprocessing::Event;
    ///
    /// let ev = Event::new();
    /// let setter = ev.clone();
    /// let t = std::thread::spawn(move || setter.set());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(ev.wait_async());
    /// assert!(ev.is_set());
    /// t.join().unwrap();
    /// ```
    pub async fn wait_async(&self) {
        let ev = self.clone();
        let proxy = Proxy::for_object(
            addr_of::<threading::Event<SharedFutex>>(self),
            awaited::EVENT,
            || {
                Box::new(WaitFn(move |slice| {
                    if ev.wait_timeout(slice) {
                        Outcome::Changed
                    } else {
                        Outcome::TimedOut
                    }
                }))
            },
        );
        asynch::until(proxy, || self.is_set().then_some(())).await;
    }
}

impl Barrier {
    /// [`wait`](Self::wait) for async code: the task itself is the party (the core's
    /// [`wait_async`](conkit_core::barrier::Barrier::wait_async)), woken by an arrival
    /// or a release in this process at once and by one in another process through the
    /// barrier's watcher proxy, which sleeps among the barrier's sleepers without ever
    /// being a party ([`watch_until`](conkit_core::barrier::Barrier::watch_until), see
    /// [`asynch`]). Parties in other processes, blocking or async, are ordinary; the
    /// last party to arrive runs this handle's action inside its poll.
    ///
    /// Cancellation, as `asyncio.Barrier` and [`threading::Barrier::wait_async`]: a
    /// future dropped before it arrived changes nothing; one dropped after it arrived,
    /// while the round is not complete, **withdraws** (`n_waiting` drops by one, nobody
    /// is woken or broken, a later arrival — in any process — can complete the round;
    /// its record slot is freed with it, see "Arrival records" in
    /// `conkit_core::barrier`); one dropped while the round completes either withdrew
    /// or passed, never both. For the peers' detection of dead parties a party is
    /// recorded under the thread that polled its arrival and counts as alive while that
    /// thread lives: poll it on a thread that outlives the wait (a runtime's worker, not
    /// a short-lived thread). A party in another process that dies is detected by the
    /// watcher as by a blocking party: the barrier breaks, within a second or so.
    ///
    /// A handle with a default timeout ([`with_timeout`](Self::with_timeout)) waits on
    /// a helper thread instead (the timeout needs a clock the task does not have): a
    /// dropped future then stays a party of its round until that timeout breaks it.
    ///
    /// ```
    /// use conkit::multiprocessing::Barrier;
    ///
    /// let b = Barrier::new(2);
    /// let other = b.clone();
    /// let t = std::thread::spawn(move || other.wait().unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mine = rt.block_on(b.wait_async()).unwrap();
    /// let theirs = t.join().unwrap();
    /// assert_eq!(mine + theirs, 1); // indices 0 and 1
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    /// If this party runs the action and the action panics (re-raised in the task; the
    /// barrier is broken for the others).
    pub async fn wait_async(&self) -> Result<usize, BrokenBarrier> {
        if self.timeout.is_some() {
            let b = self.clone();
            let run = move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait()));
            return match asynch::on_thread(run).await {
                Ok(Ok(r)) => r,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => self.wait(),
            };
        }
        /// The barrier's watcher (see [`asynch`]): its mark is the core's epoch, taken
        /// before the tasks' look.
        struct BarrierWatch(Barrier);
        impl Watch for BarrierWatch {
            fn mark(&self) -> u64 {
                u64::from(self.0.shared.watch_mark())
            }
            fn wait(&self, mark: u64, slice: Duration) -> Outcome {
                // The mark is a `u32` (`watch_mark`), widened by `mark` above.
                #[allow(clippy::cast_possible_truncation)]
                let mark = mark as u32;
                if self.0.shared.watch_until(mark, Some(deadline_after(slice))) {
                    Outcome::Changed
                } else {
                    Outcome::TimedOut
                }
            }
        }
        let watched = self.clone();
        let proxy = Proxy::for_object(
            addr_of::<CoreBarrier<SharedFutex>>(&self.shared),
            awaited::BARRIER,
            || Box::new(BarrierWatch(watched)),
        );
        let mut panic_payload = None;
        let action = self.action.as_deref();
        let result = asynch::bridge(
            proxy,
            self.shared
                .wait_async(|| threading::run_action(action, &mut panic_payload)),
        )
        .await;
        threading::action_outcome(result, panic_payload)
    }
}

impl<L> Condition<L>
where
    L: threading::ConditionLock + conkit_core::shm::ShmSafe + 'static,
    L::Wait: conkit_core::shm::SharedWait + 'static,
{
    /// The pass-through proxy of the condition's lock (acquire for a slice, release
    /// at once: see `asynch`).
    fn lock_proxy(&self) -> Arc<Proxy> {
        lock_proxy(
            addr_of::<L>(self.get_lock()),
            self,
            |c, slice| {
                threading::ConditionLock::acquire_timeout(c.get_lock(), slice)
                    .then_some(Acquired::Clean)
            },
            |c| {
                let _ = threading::ConditionLock::release(c.get_lock());
            },
        )
    }

    /// The two proxies of an async wait: the condvar's watcher for the notify, the
    /// lock's pass-through proxy for the re-take.
    fn phases(&self) -> Bridged {
        Bridged {
            notify: condvar_proxy(
                addr_of::<threading::Condition<L>>(self),
                self.clone(),
                |c| c.condvar_handle(),
            ),
            lock: self.lock_proxy(),
        }
    }

    /// Takes the condition's lock, awaiting it in an async task, and returns the guard
    /// (the threading type's [`lock_async`](threading::Condition::lock_async), woken by
    /// a release in this process at once and by one in another process through the
    /// lock's pass-through proxy; see [`asynch`]).
    ///
    /// ```
    /// use conkit::multiprocessing::Condition;
    ///
    /// let cond = Condition::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     assert_eq!(cond.notify_all(), Ok(0));
    /// });
    /// ```
    pub async fn lock_async(&self) -> threading::ConditionGuard<'_, L> {
        asynch::bridge(self.lock_proxy(), (**self).lock_async()).await
    }

    /// Releases the lock, awaits a notify from ANY process, re-takes the lock (the
    /// threading type's [`wait_async`](threading::Condition::wait_async), with its
    /// order and cancellation rules, bridged to other processes as
    /// [`lock_async`](Self::lock_async)). For a wait that may be cancelled (a runtime
    /// timeout), use [`wait_guard_async`](Self::wait_guard_async).
    ///
    /// ```
    /// use conkit::multiprocessing::{Condition, Value};
    ///
    /// let cond = Condition::new();
    /// let ready = Value::new(0u32);
    /// let (c2, r2) = (cond.clone(), ready.clone());
    /// let notifier = std::thread::spawn(move || {
    ///     let _g = c2.lock();
    ///     r2.set(1);
    ///     c2.notify_all().unwrap();
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     while ready.get() == 0 {
    ///         cond.wait_async().await.unwrap();
    ///     }
    /// });
    /// notifier.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the lock is not held.
    pub async fn wait_async(&self) -> Result<(), ConditionError> {
        (**self).wait_async_with(&self.phases()).await
    }

    /// Awaits until `predicate` returns `true` (evaluated with the lock held, first
    /// before any wait, then after every wake-up), as
    /// [`wait_async`](Self::wait_async) in a loop.
    ///
    /// ```
    /// use conkit::multiprocessing::Condition;
    ///
    /// let cond = Condition::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = cond.lock_async().await;
    ///     cond.wait_for_async(|| true).await.unwrap(); // already true: no wait
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`wait_async`](Self::wait_async).
    ///
    /// # Panics
    /// If `predicate` panics (the lock stays held).
    pub async fn wait_for_async(
        &self,
        predicate: impl FnMut() -> bool,
    ) -> Result<(), ConditionError> {
        threading::wait_for_loop((), predicate, |()| self.wait_async()).await
    }

    /// The cancellation-safe wait: takes the guard, releases the lock, awaits a notify
    /// from ANY process, re-takes the lock and gives the guard back (the threading
    /// type's [`wait_guard_async`](threading::Condition::wait_guard_async), with its
    /// cancellation rules — a runtime timeout around it is safe, the guard goes with
    /// the dropped future — bridged to other processes as
    /// [`lock_async`](Self::lock_async)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{Condition, Value};
    ///
    /// let cond = Condition::new_over_lock();
    /// let ready = Value::new(0u32);
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await;
    ///     let timeout = Duration::from_millis(10);
    ///     assert!(tokio::time::timeout(timeout, cond.wait_guard_async(guard)).await.is_err());
    ///     assert!(!cond.get_lock().locked()); // the guard went with the wait
    /// });
    /// let (c2, r2) = (cond.clone(), ready.clone());
    /// let notifier = std::thread::spawn(move || {
    ///     let _g = c2.lock();
    ///     r2.set(1);
    ///     c2.notify_all().unwrap();
    /// });
    /// rt.block_on(async {
    ///     let guard = cond.lock_async().await;
    ///     let guard = cond.wait_for_guard_async(guard, || ready.get() == 1).await.unwrap();
    ///     drop(guard);
    /// });
    /// notifier.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// As the threading type's
    /// [`wait_guard_async`](threading::Condition::wait_guard_async).
    pub async fn wait_guard_async<'g>(
        &self,
        guard: threading::ConditionGuard<'g, L>,
    ) -> Result<threading::ConditionGuard<'g, L>, ConditionError> {
        (**self).wait_guard_async_with(guard, &self.phases()).await
    }

    /// Awaits until `predicate` returns `true` (evaluated with the lock held, first
    /// before any wait, then after every wake-up), as
    /// [`wait_guard_async`](Self::wait_guard_async) in a loop; returns the guard.
    ///
    /// # Errors
    /// As [`wait_guard_async`](Self::wait_guard_async).
    ///
    /// # Panics
    /// If `predicate` panics (the guard is dropped while unwinding, releasing the lock).
    pub async fn wait_for_guard_async<'g>(
        &self,
        guard: threading::ConditionGuard<'g, L>,
        predicate: impl FnMut() -> bool,
    ) -> Result<threading::ConditionGuard<'g, L>, ConditionError> {
        threading::wait_for_loop(guard, predicate, |g| self.wait_guard_async(g)).await
    }
}
