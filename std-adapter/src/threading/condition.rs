//! [`Condition`]: Python's `threading.Condition` for OS threads.
//!
//! The Python mapping and examples are on [`Condition`]; the form that holds the data
//! it guards is [`Monitor<T>`](super::Monitor).

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conkit_core::condvar::Condvar;

use super::{Lock, RLock, ReleaseError};
use crate::wait::{deadline_after, InstantWait};

/// How an async wait of a [`Condition`] awaits its two phases: the notify (the core
/// condvar's ticket released) and the re-take of the lock. In this process both are
/// awaited as they are (a notify or a release here wakes the task); the process-shared
/// condition (`multiprocessing`) bridges each to other processes with its own proxy:
/// the notify phase through the condvar's watcher, the re-take through the lock's
/// pass-through proxy (the notifier holds the lock while it notifies, so the woken
/// task must then be woken again by the release).
pub(crate) trait Phases {
    /// Awaits `f`, the notify phase.
    fn notified<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output>;
    /// Awaits `f`, the re-take of the lock.
    fn retaken<F: std::future::Future>(&self, f: F)
        -> impl std::future::Future<Output = F::Output>;
}

/// The phases awaited as they are (woken by changes made in this process).
pub(crate) struct InProcess;

impl Phases for InProcess {
    fn notified<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        f
    }
    fn retaken<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        f
    }
}

/// The loop of every `wait_for_async` and `wait_for_guard_async` (this module's and
/// the process-shared conditions'): `wait` until `predicate`, evaluated with the lock
/// held, first before any wait and then after every wake-up, returns `true`. `held` is
/// what each wait takes and gives back (the guard, or `()` for the `&self` forms).
pub(crate) async fn wait_for_loop<G, F>(
    mut held: G,
    mut predicate: impl FnMut() -> bool,
    mut wait: impl FnMut(G) -> F,
) -> Result<G, ConditionError>
where
    F: std::future::Future<Output = Result<G, ConditionError>>,
{
    while !predicate() {
        held = wait(held).await?;
    }
    Ok(held)
}

/// Why a [`Condition`] operation was refused (Python raises `RuntimeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConditionError {
    /// The calling thread does not hold the condition's lock (Python: `RuntimeError:
    /// cannot wait on un-acquired lock` / `cannot notify on un-acquired lock`).
    NotOwned,
    /// The guard passed to [`Condition::wait_guard_async`] holds another lock than the
    /// condition's (a guard of a condition over a different lock). Locks are compared by
    /// address in this process: two handles of one process-shared condition attached
    /// separately (two child-argument copies) count as different.
    OtherLock,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionError::NotOwned => "the condition's lock is not held by this thread",
            ConditionError::OtherLock => "the guard holds another lock than the condition's",
        })
    }
}

impl std::error::Error for ConditionError {}

/// What a lock gave up in [`ConditionLock::release_save`], to be given back by
/// [`ConditionLock::acquire_restore`] (an [`RLock`]'s depth; nothing for a [`Lock`]).
/// Opaque.
pub struct SavedLock(Saved);

enum Saved {
    Lock,
    RLock(super::rlock::RLockState),
}

impl fmt::Debug for SavedLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Saved::Lock => "SavedLock(Lock)",
            Saved::RLock(_) => "SavedLock(RLock)",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    use crate::wait::InstantWait;
    impl<W: InstantWait> Sealed for super::Lock<W> {}
    impl<W: InstantWait> Sealed for super::RLock<W> {}
    impl<L: Sealed + ?Sized> Sealed for &L {}
    impl<L: Sealed + ?Sized> Sealed for std::sync::Arc<L> {}
    #[cfg(target_os = "linux")]
    impl Sealed for crate::multiprocessing::Lock {}
    #[cfg(target_os = "linux")]
    impl Sealed for crate::multiprocessing::RLock {}

    pub trait SealedCv {}
    impl<W: crate::wait::InstantWait> SealedCv for conkit_core::condvar::Condvar<W> {}
    #[cfg(target_os = "linux")]
    impl SealedCv
        for crate::multiprocessing::heap::Shared<
            conkit_core::condvar::Condvar<crate::wait::SharedFutex>,
        >
    {
    }
}

/// Where a [`Condition`]'s waiters live: inside it (a core
/// [`Condvar`], the default), or behind a handle (the process-shared
/// `Shared<Condvar<SharedFutex>>` of a `multiprocessing::ConditionOn`, whose waiters
/// are in a mapping of their own beside a lock shared with others). Sealed.
///
/// ```
/// use conkit::threading::CondvarHandle;
/// use conkit::wait::Futex;
/// use conkit_core::condvar::Condvar;
///
/// let cv: Condvar<Futex> = Condvar::new();
/// assert_eq!(cv.condvar().waiters(), 0);
/// ```
pub trait CondvarHandle<W: InstantWait>: sealed::SealedCv {
    /// The condvar.
    fn condvar(&self) -> &Condvar<W>;
}

impl<W: InstantWait> CondvarHandle<W> for Condvar<W> {
    fn condvar(&self) -> &Condvar<W> {
        self
    }
}

#[cfg(target_os = "linux")]
impl CondvarHandle<crate::wait::SharedFutex>
    for crate::multiprocessing::heap::Shared<Condvar<crate::wait::SharedFutex>>
{
    fn condvar(&self) -> &Condvar<crate::wait::SharedFutex> {
        self
    }
}

/// A lock a [`Condition`] can use: [`Lock`], [`RLock`], and `&L` / `Arc<L>` of either
/// (so several conditions can share one lock). Sealed: the condition relies on each
/// implementation's exact ownership rules.
///
/// A lock's waiting strategy is also its condition's: a [`Condition`] over a
/// `Lock<SharedFutex>` sleeps in the process-shared futex for both.
pub trait ConditionLock: sealed::Sealed {
    /// The lock's waiting strategy ([`Futex`](crate::wait::Futex) for [`Lock`] and
    /// [`RLock`] as written), which the condition's waiters use too.
    type Wait: InstantWait;
    /// Whether a [`ConditionGuard`] over this lock may move to another thread: `()` for
    /// a lock any thread may release ([`Lock`]: the guard is `Send`), `*const ()` for
    /// one only its owner thread may release ([`RLock`]: the guard is not `Send`). The
    /// guard holds a `PhantomData` of it.
    type GuardMarker;
    /// The address of the lock itself, behind any `&` / `Arc`: two conditions use the
    /// same lock when their locks' addresses are equal.
    fn lock_addr(&self) -> *const () {
        (self as *const Self).cast()
    }
    /// Takes the lock, waiting as long as needed.
    fn acquire(&self);
    /// Takes the lock if that is possible without waiting.
    fn try_acquire(&self) -> bool;
    /// Takes the lock, waiting at most `timeout`.
    fn acquire_timeout(&self, timeout: Duration) -> bool;
    /// Takes the lock, waiting at most until `deadline`.
    fn acquire_until(&self, deadline: Instant) -> bool;
    /// Undoes one acquisition.
    ///
    /// # Errors
    /// The lock's [`ReleaseError`].
    fn release(&self) -> Result<(), ReleaseError>;
    /// Whether any thread may release the lock, whoever took it: `true` for a
    /// [`Lock`], `false` for an [`RLock`] (only its owner may). A cancelled
    /// [`Condition::wait_async`] that cannot take back a plain lock at once is handed it
    /// by the holder's release; an `RLock` held by another thread needs no such care
    /// (the waiter's release of it is refused).
    fn any_releaser(&self) -> bool {
        true
    }
    /// Whether the calling thread holds the lock (CPython's `Condition._is_owned`).
    ///
    /// Exact for an [`RLock`]. A [`Lock`] has no owner, so this is CPython's heuristic:
    /// if `try_acquire` succeeds the lock was free (it is released again and the answer is
    /// `false`), else it is held, presumably by the caller (`true`).
    fn is_owned(&self) -> bool;
    /// Releases the lock completely (an [`RLock`] at any depth), returning what
    /// [`acquire_restore`](Self::acquire_restore) needs (CPython's `_release_save`).
    ///
    /// # Errors
    /// The lock's [`ReleaseError`]; the lock is then unchanged.
    fn release_save(&self) -> Result<SavedLock, ReleaseError>;
    /// Takes the lock back as it was before [`release_save`](Self::release_save)
    /// (CPython's `_acquire_restore`).
    fn acquire_restore(&self, saved: SavedLock);
    /// Takes the lock, awaiting it in an async task.
    fn acquire_async(&self) -> impl std::future::Future<Output = ()> + '_;
    /// [`acquire_restore`](Self::acquire_restore), awaiting the lock.
    fn acquire_restore_async(&self, saved: SavedLock)
        -> impl std::future::Future<Output = ()> + '_;
}

impl<W: InstantWait> ConditionLock for Lock<W> {
    type Wait = W;
    type GuardMarker = ();
    fn acquire(&self) {
        Lock::acquire(self);
    }
    fn try_acquire(&self) -> bool {
        Lock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        Lock::acquire_timeout(self, timeout)
    }
    fn acquire_until(&self, deadline: Instant) -> bool {
        Lock::acquire_until(self, deadline)
    }
    fn release(&self) -> Result<(), ReleaseError> {
        Lock::release(self)
    }
    fn is_owned(&self) -> bool {
        if Lock::try_acquire(self) {
            // It was free: give it back.
            let _ = Lock::release(self);
            false
        } else {
            true
        }
    }
    fn release_save(&self) -> Result<SavedLock, ReleaseError> {
        Lock::release(self).map(|()| SavedLock(Saved::Lock))
    }
    fn acquire_restore(&self, _saved: SavedLock) {
        Lock::acquire(self);
    }
    fn acquire_async(&self) -> impl std::future::Future<Output = ()> + '_ {
        Lock::acquire_async(self)
    }
    fn acquire_restore_async(
        &self,
        _saved: SavedLock,
    ) -> impl std::future::Future<Output = ()> + '_ {
        Lock::acquire_async(self)
    }
}

impl<W: InstantWait> ConditionLock for RLock<W> {
    type Wait = W;
    type GuardMarker = *const ();
    fn acquire(&self) {
        RLock::acquire(self);
    }
    fn try_acquire(&self) -> bool {
        RLock::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        RLock::acquire_timeout(self, timeout)
    }
    fn acquire_until(&self, deadline: Instant) -> bool {
        RLock::acquire_until(self, deadline)
    }
    fn release(&self) -> Result<(), ReleaseError> {
        RLock::release(self)
    }
    fn any_releaser(&self) -> bool {
        false
    }
    fn is_owned(&self) -> bool {
        RLock::is_owned(self)
    }
    fn release_save(&self) -> Result<SavedLock, ReleaseError> {
        RLock::release_save(self).map(|s| SavedLock(Saved::RLock(s)))
    }
    fn acquire_restore(&self, saved: SavedLock) {
        match saved.0 {
            Saved::RLock(state) => RLock::acquire_restore(self, state),
            // Not produced by an RLock's release_save; take the lock once.
            Saved::Lock => RLock::acquire(self),
        }
    }
    fn acquire_async(&self) -> impl std::future::Future<Output = ()> + '_ {
        RLock::acquire_async(self)
    }
    async fn acquire_restore_async(&self, saved: SavedLock) {
        match saved.0 {
            Saved::RLock(state) => RLock::acquire_restore_async(self, state).await,
            Saved::Lock => RLock::acquire_async(self).await,
        }
    }
}

/// Delegates every method to the lock behind a reference or an `Arc`.
macro_rules! delegate {
    (handle $($ty:ty => $wait:ty, $inner:ty);*) => {$(
        impl ConditionLock for $ty {
            type Wait = $wait;
            type GuardMarker = <$inner as ConditionLock>::GuardMarker;
            fn lock_addr(&self) -> *const () {
                ConditionLock::lock_addr(&**self)
            }
            fn acquire(&self) {
                ConditionLock::acquire(&**self);
            }
            fn try_acquire(&self) -> bool {
                ConditionLock::try_acquire(&**self)
            }
            fn acquire_timeout(&self, timeout: Duration) -> bool {
                ConditionLock::acquire_timeout(&**self, timeout)
            }
            fn acquire_until(&self, deadline: Instant) -> bool {
                ConditionLock::acquire_until(&**self, deadline)
            }
            fn release(&self) -> Result<(), ReleaseError> {
                ConditionLock::release(&**self)
            }
            fn any_releaser(&self) -> bool {
                ConditionLock::any_releaser(&**self)
            }
            fn is_owned(&self) -> bool {
                ConditionLock::is_owned(&**self)
            }
            fn release_save(&self) -> Result<SavedLock, ReleaseError> {
                ConditionLock::release_save(&**self)
            }
            fn acquire_restore(&self, saved: SavedLock) {
                ConditionLock::acquire_restore(&**self, saved);
            }
            fn acquire_async(&self) -> impl std::future::Future<Output = ()> + '_ {
                ConditionLock::acquire_async(&**self)
            }
            fn acquire_restore_async(
                &self,
                saved: SavedLock,
            ) -> impl std::future::Future<Output = ()> + '_ {
                ConditionLock::acquire_restore_async(&**self, saved)
            }
        }
    )*};
    ($($ty:ty),*) => {$(
        impl<L: ConditionLock + ?Sized> ConditionLock for $ty {
            type Wait = L::Wait;
            type GuardMarker = L::GuardMarker;
            fn lock_addr(&self) -> *const () {
                (**self).lock_addr()
            }
            fn acquire(&self) {
                (**self).acquire();
            }
            fn try_acquire(&self) -> bool {
                (**self).try_acquire()
            }
            fn acquire_timeout(&self, timeout: Duration) -> bool {
                (**self).acquire_timeout(timeout)
            }
            fn acquire_until(&self, deadline: Instant) -> bool {
                (**self).acquire_until(deadline)
            }
            fn release(&self) -> Result<(), ReleaseError> {
                (**self).release()
            }
            fn any_releaser(&self) -> bool {
                (**self).any_releaser()
            }
            fn is_owned(&self) -> bool {
                (**self).is_owned()
            }
            fn release_save(&self) -> Result<SavedLock, ReleaseError> {
                (**self).release_save()
            }
            fn acquire_restore(&self, saved: SavedLock) {
                (**self).acquire_restore(saved);
            }
            fn acquire_async(&self) -> impl std::future::Future<Output = ()> + '_ {
                (**self).acquire_async()
            }
            fn acquire_restore_async(
                &self,
                saved: SavedLock,
            ) -> impl std::future::Future<Output = ()> + '_ {
                (**self).acquire_restore_async(saved)
            }
        }
    )*};
}
delegate!(&L, Arc<L>);
// The process-shared handles (their `Deref` target is the threading lock).
#[cfg(target_os = "linux")]
delegate!(handle
    crate::multiprocessing::Lock => crate::wait::SharedFutex, Lock<crate::wait::SharedFutex>;
    crate::multiprocessing::RLock => crate::wait::SharedFutex, RLock<crate::wait::SharedFutex>
);

/// A condition variable with its lock (Python's `threading.Condition`), the lock shared
/// with data kept elsewhere, as in Python.
///
/// **To keep the data with the condition**, use [`Monitor<T>`](super::Monitor): the same
/// condition variable over a [`Lock`] with the value inside, whose guard waits and
/// notifies without `Result`s (`guard.wait_for(|data| …)`). `Condition` is the
/// Python-shaped form, for a lock shared by several conditions or used directly.
///
/// Waiting and notifying require holding the lock; otherwise they return
/// [`ConditionError::NotOwned`] (Python's `RuntimeError`). With an [`RLock`] held at
/// any depth, waiting releases it completely and restores the depth before returning.
///
/// Waiters sleep in the kernel (futex). **`notify(n)` wakes the `n` oldest waiters**
/// (first come, first served, as CPython's `Condition`, whose waiters are a FIFO
/// `deque`): exactly `min(n, waiting)` threads, each of whose `wait` reports
/// "notified"; a waiter whose timeout passes is never counted.
///
/// ```
/// use std::sync::Arc;
/// use conkit::threading::{Condition, ConditionError, Lock};
///
/// // Two conditions sharing one lock (Python: `Condition(lock)` twice).
/// let lock = Arc::new(Lock::new());
/// let not_empty = Condition::with_lock(lock.clone());
/// let not_full = Condition::with_lock(lock.clone());
///
/// assert_eq!(not_empty.notify(1), Err(ConditionError::NotOwned)); // lock not held
/// let _g = not_full.lock();
/// assert_eq!(not_empty.notify(1), Ok(0)); // held through the other condition: fine
/// ```
///
/// # Algorithm
/// A [`conkit_core::condvar::Condvar`] (a ticket queue: each waiter takes the next
/// ticket while it holds the lock, `notify(n)` releases the `n` oldest tickets that are
/// still waiting, and a timed-out waiter's ticket is skipped; see that module) with the
/// lock's waiting strategy ([`ConditionLock::Wait`]: [`Futex`](crate::wait::Futex) unless
/// written, `SharedFutex` for a `Lock<SharedFutex>` in memory shared by processes), paired with the lock it is used with: a [`Lock`] or an [`RLock`]
/// (the default), owned or shared through `&L` / `Arc<L>` so that several conditions
/// can use one lock (Python: `Condition(lock)`).
///
/// # Python mapping
/// | Python | conkit |
/// |---|---|
/// | `Condition()` | [`Condition::new()`] (its own [`RLock`]) |
/// | `Condition(lock)` | [`Condition::with_lock(lock)`](Condition::with_lock) |
/// | `with cond:` | [`let _g = cond.lock();`](Condition::lock) |
/// | `cond.acquire()` / `cond.release()` | [`acquire()`](Condition::acquire) / [`release()`](Condition::release) |
/// | `cond.wait()` | [`wait()`](Condition::wait) |
/// | `cond.wait(timeout)` → `bool` | [`wait_timeout(d)`](Condition::wait_timeout) / [`wait_until(deadline)`](Condition::wait_until) → `Ok(bool)` |
/// | `cond.wait_for(pred)` | [`wait_for(pred)`](Condition::wait_for) |
/// | `cond.wait_for(pred, timeout)` → `bool` | [`wait_for_timeout(pred, d)`](Condition::wait_for_timeout) / [`wait_for_until(pred, deadline)`](Condition::wait_for_until) → `Ok(bool)` |
/// | `cond.notify(n=1)` | [`notify(n)`](Condition::notify) (wakes the `n` oldest waiters; returns how many it woke) |
/// | `cond.notify_all()` | [`notify_all()`](Condition::notify_all) |
/// | `RuntimeError: cannot wait on un-acquired lock` | [`ConditionError::NotOwned`] |
/// | `async with cond:` (an `asyncio.Condition`) | [`let g = cond.lock_async().await;`](Condition::lock_async) |
/// | `await cond.wait()` / `await cond.wait_for(pred)` in it | [`g = cond.wait_guard_async(g).await?`](Condition::wait_guard_async) / [`wait_for_guard_async(g, pred)`](Condition::wait_for_guard_async) (a runtime timeout around them is safe), or [`wait_async()`](Condition::wait_async) / [`wait_for_async(pred)`](Condition::wait_for_async) (Python's shape; see there for cancellation) |
///
/// Differences from Python: the methods return `Result` instead of raising, the guard
/// replaces `with`, and `notify` returns how many waiters it woke.
///
/// # Example: Python's producer/consumer
/// The lock guards a count kept outside the condition (here an atomic, as Python keeps
/// it in a global). For richer state, a [`Monitor`](super::Monitor) holds it instead.
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use conkit::threading::{self, Condition};
///
/// static COND: Condition = Condition::new();
/// static ITEMS: AtomicU32 = AtomicU32::new(0); // changed only under COND's lock
///
/// threading::scope(|s| {
///     let consumer = s.spawn(|| {
///         let _g = COND.lock(); // with cond:
///         COND.wait_for(|| ITEMS.load(Ordering::Relaxed) > 0).unwrap();
///         ITEMS.fetch_sub(1, Ordering::Relaxed);
///     });
///     {
///         let _g = COND.lock();
///         ITEMS.fetch_add(1, Ordering::Relaxed);
///         COND.notify(1).unwrap();
///     }
///     consumer.join().unwrap();
/// });
/// assert_eq!(ITEMS.load(Ordering::Relaxed), 0);
/// ```
#[repr(C)]
pub struct Condition<
    L: ConditionLock = RLock,
    C: CondvarHandle<L::Wait> = Condvar<<L as ConditionLock>::Wait>,
> {
    lock: L,
    cv: C,
    /// Releases owed by cancelled async waits: a [`wait_async`](Self::wait_async)
    /// future dropped after it released the lock, which could not take it back without
    /// waiting (another holds it), leaves one; the next guard drop or
    /// [`release`](Self::release) through this condition pays it instead of releasing
    /// (see `wait_async`). Almost always zero: one relaxed load on those paths. The
    /// guard form ([`wait_guard_async`](Self::wait_guard_async)) never adds to it.
    owed: AtomicU32,
}

impl Condition<RLock> {
    /// A condition with its own [`RLock`] (Python: `Condition()`). `const`, so it can be
    /// a `static`.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_lock(RLock::new())
    }
}

impl Default for Condition<RLock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over `lock` (Python: `Condition(lock)`): a [`Lock`], an [`RLock`], or a
    /// `&L` / `Arc<L>` shared with other conditions.
    #[must_use]
    pub const fn with_lock(lock: L) -> Self {
        Self {
            lock,
            cv: Condvar::new(),
            owed: AtomicU32::new(0),
        }
    }

    /// Takes the lock, awaiting it in an async task (Python: `await cond.acquire()`
    /// of an `asyncio.Condition`), and returns the guard that releases it. With the
    /// default [`RLock`], see [`RLock::acquire_async`] for what owning it means for a
    /// task; a `Condition<Lock>` has no such rule.
    pub async fn lock_async(&self) -> ConditionGuard<'_, L> {
        self.lock_async_in().await
    }

    /// Releases the lock, awaits a notify, re-takes the lock (awaiting it) — Python's
    /// `await cond.wait()` of an `asyncio.Condition`, on the *same* condition the
    /// threads use: a thread's `notify` wakes the task and a task's wakes a thread,
    /// oldest waiter first.
    ///
    /// **For a wait that may be cancelled (a runtime timeout around it, a `select!`),
    /// use [`wait_guard_async`](Self::wait_guard_async)**, which takes the guard and
    /// gives it back: a dropped wait drops the guard with it, so nobody believes they
    /// hold a lock they do not. This `&self` form is Python's shape and fine for a wait
    /// that runs to completion; dropped while another holds the lock it leaves a window
    /// in which two believe they hold it (below).
    ///
    /// Cancellation (the future dropped while it waits), as asyncio's: a future dropped
    /// before a notify reached it gives its place up (no notify is spent on it); one
    /// dropped after a notify reached it (asleep or re-taking the lock) passes that
    /// notify to the next waiter; and in both cases **the lock is held again**, as
    /// after a completed wait (asyncio's cancelled `wait()` re-takes the lock before it
    /// raises), so the caller's guard, or its own [`release`](Self::release), is still
    /// the one matching release. If the
    /// lock is free the drop takes it back at once. If another holds it (a
    /// [`Lock`]: possibly another task of the same thread), the drop cannot wait for
    /// it: the next release through this condition (a guard's drop or
    /// [`release`](Self::release)) hands the lock on to the cancelled waiter instead of
    /// freeing it — usually the cancelled task's own guard, dropped with it, so the other
    /// holder keeps its lock. A [`RLock`] held by another thread is left alone (the
    /// cancelled waiter's release of it is refused, as it does not own it). A release
    /// through [`get_lock`](Self::get_lock) bypasses this. So a runtime timeout that
    /// fires while another task holds the lock returns *before* that holder releases:
    /// until then both believe they hold it (asyncio's cancelled `wait()` would block
    /// in the re-take instead). Where that window matters, treat a timed-out wait as
    /// the end of the critical section: drop the guard without touching the state.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use conkit::threading::{Condition, Lock};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     static COND: Condition<Lock> = Condition::with_lock(Lock::new());
    ///     static READY: AtomicBool = AtomicBool::new(false);
    ///     let notifier = std::thread::spawn(|| {
    ///         let _g = COND.lock();
    ///         READY.store(true, Ordering::Relaxed);
    ///         COND.notify_all().unwrap();
    ///     });
    ///     let _g = COND.lock_async().await;
    ///     while !READY.load(Ordering::Relaxed) {
    ///         COND.wait_async().await.unwrap();
    ///     }
    ///     notifier.join().unwrap();
    /// }
    /// ```
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the lock is not held.
    pub async fn wait_async(&self) -> Result<(), ConditionError> {
        self.wait_async_in().await
    }

    /// Awaits until `predicate` returns `true` (Python: `await cond.wait_for(pred)`):
    /// evaluated with the lock held, first before any wait and again after every
    /// wake-up.
    ///
    /// # Errors
    /// As [`wait_async`](Self::wait_async) (a predicate already true returns `Ok`).
    ///
    /// # Panics
    /// If `predicate` panics (the lock stays held, as for [`wait_for`](Self::wait_for)).
    pub async fn wait_for_async(
        &self,
        predicate: impl FnMut() -> bool,
    ) -> Result<(), ConditionError> {
        wait_for_loop((), predicate, |()| self.wait_async()).await
    }

    /// The cancellation-safe async wait: takes the guard, releases the lock, awaits a
    /// notify, re-takes the lock and gives the guard back (Python's `await cond.wait()`
    /// inside `async with cond:`; Rust's `Condvar::wait(guard)` shape). The same
    /// condition the threads use: a thread's `notify` wakes the task and a task's wakes
    /// a thread, oldest waiter first.
    ///
    /// **A timeout is the runtime's**, and safe: wrap the call in
    /// `tokio::time::timeout` (or any executor's). A future dropped while it waits
    /// takes the guard with it, so after a time-out the caller holds nothing and knows
    /// it (no guard); take the lock again ([`lock_async`](Self::lock_async)) to go on.
    /// Unlike the `&self` form ([`wait_async`](Self::wait_async)), nobody ever believes
    /// they hold a lock they do not: a future dropped
    /// * before its first poll drops the guard, which releases the lock;
    /// * while asleep (the lock released by the wait) releases nothing and owes
    ///   nothing; its place in line is given up (no notify is spent on it) or, if a
    ///   notify had reached it, that notify is passed to the next waiter;
    /// * while re-taking the lock after a notify holds nothing and passes that notify
    ///   on (asyncio 3.13's cancelled `wait()` does the same).
    ///
    /// With an [`RLock`] held at a depth above one (acquisitions besides the guard's),
    /// the wait releases every level and a completed wait restores them; a dropped one
    /// leaves none held, so the caller's later [`release`](Self::release) of the outer
    /// levels is refused (the lock is not the thread's) rather than freeing another
    /// holder's lock. Between tasks prefer a `Condition<Lock>`, whose guard is also
    /// `Send` (see [`ConditionGuard`]).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::time::Duration;
    /// use conkit::threading::{Condition, Lock};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     static COND: Condition<Lock> = Condition::with_lock(Lock::new());
    ///     static READY: AtomicBool = AtomicBool::new(false);
    ///
    ///     // Nobody notifies: the time-out drops the wait, and its guard with it.
    ///     let guard = COND.lock_async().await; // async with cond:
    ///     let waited = tokio::time::timeout(Duration::from_millis(10), COND.wait_guard_async(guard));
    ///     assert!(waited.await.is_err());
    ///     assert!(!COND.get_lock().locked()); // nothing held, nothing owed
    ///
    ///     let notifier = std::thread::spawn(|| {
    ///         let _g = COND.lock();
    ///         READY.store(true, Ordering::Relaxed);
    ///         COND.notify_all().unwrap();
    ///     });
    ///     let mut guard = COND.lock_async().await;
    ///     while !READY.load(Ordering::Relaxed) {
    ///         guard = COND.wait_guard_async(guard).await.unwrap();
    ///     }
    ///     drop(guard);
    ///     notifier.join().unwrap();
    /// }
    /// ```
    ///
    /// # Errors
    /// The guard is consumed either way. [`ConditionError::OtherLock`] if `guard` holds
    /// another lock than this condition's (a guard of any condition over the *same*
    /// lock is fine, as Python's conditions sharing one lock); the guard is dropped,
    /// releasing its lock. [`ConditionError::NotOwned`] if the lock is not held (it was
    /// released behind the guard's back, e.g. by [`release`](Self::release)); the guard
    /// is then forgotten, releasing nothing.
    pub async fn wait_guard_async<'g>(
        &self,
        guard: ConditionGuard<'g, L>,
    ) -> Result<ConditionGuard<'g, L>, ConditionError> {
        self.wait_guard_async_in(guard).await
    }

    /// Awaits until `predicate` returns `true`, as
    /// [`wait_guard_async`](Self::wait_guard_async) in a loop (Python's
    /// `await cond.wait_for(pred)` inside `async with cond:`): the predicate is
    /// evaluated with the lock held, first before any wait and again after every
    /// wake-up. Returns the guard. A runtime timeout around it is safe (the guard goes
    /// with the dropped future).
    ///
    /// ```
    /// use conkit::threading::{Condition, Lock};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let cond = Condition::with_lock(Lock::new());
    ///     let guard = cond.lock_async().await;
    ///     let guard = cond.wait_for_guard_async(guard, || true).await.unwrap(); // no wait
    ///     drop(guard);
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`wait_guard_async`](Self::wait_guard_async) (a predicate already true returns
    /// the guard).
    ///
    /// # Panics
    /// If `predicate` panics; the guard is dropped while unwinding, releasing the lock.
    pub async fn wait_for_guard_async<'g>(
        &self,
        guard: ConditionGuard<'g, L>,
        predicate: impl FnMut() -> bool,
    ) -> Result<ConditionGuard<'g, L>, ConditionError> {
        wait_for_loop(guard, predicate, |g| self.wait_guard_async(g)).await
    }
}

impl<L: ConditionLock, C: CondvarHandle<L::Wait>> Condition<L, C> {
    /// [`lock_async`](Condition::lock_async) for any handle of the waiters (also the
    /// process-shared `ConditionOn`'s, which bridges it to other processes).
    pub(crate) async fn lock_async_in(&self) -> ConditionGuard<'_, L, C> {
        self.lock.acquire_async().await;
        self.held_guard()
    }

    /// The guard of the lock the caller has just taken.
    pub(crate) fn held_guard(&self) -> ConditionGuard<'_, L, C> {
        ConditionGuard {
            cond: self,
            _marker: PhantomData,
        }
    }

    /// [`wait_async`](Condition::wait_async) for any handle of the waiters.
    pub(crate) async fn wait_async_in(&self) -> Result<(), ConditionError> {
        self.wait_async_with(&InProcess).await
    }

    /// [`wait_async`](Condition::wait_async), each phase awaited through `phases`.
    pub(crate) async fn wait_async_with(&self, phases: &impl Phases) -> Result<(), ConditionError> {
        if !self.lock.is_owned() {
            return Err(ConditionError::NotOwned);
        }
        // Set while this wait has released the lock and not yet taken it back: a drop
        // then (the task cancelled) takes it back if it is free, else owes a release.
        let released = AtomicBool::new(false);
        // Set once a notify released this waiter: a drop then (while re-taking the
        // lock) passes the notify on.
        let notified = AtomicBool::new(false);
        let retake = OnDrop(|| {
            if notified.load(Ordering::Relaxed) {
                self.cv.condvar().notify(1);
            }
            if released.load(Ordering::Relaxed)
                && !self.lock.try_acquire()
                && self.lock.any_releaser()
            {
                self.owed.fetch_add(1, Ordering::AcqRel);
            }
        });
        let saved = phases
            .notified(self.cv.condvar().try_release_wait_async(|| {
                let saved = self.lock.release_save();
                released.store(saved.is_ok(), Ordering::Relaxed);
                saved
            }))
            .await
            .map_err(|_| ConditionError::NotOwned)?;
        notified.store(true, Ordering::Relaxed);
        phases.retaken(self.lock.acquire_restore_async(saved)).await;
        std::mem::forget(retake);
        Ok(())
    }

    /// [`wait_guard_async`](Condition::wait_guard_async) for any handle of the waiters.
    pub(crate) async fn wait_guard_async_in<'g>(
        &self,
        guard: ConditionGuard<'g, L, C>,
    ) -> Result<ConditionGuard<'g, L, C>, ConditionError> {
        self.wait_guard_async_with(guard, &InProcess).await
    }

    /// [`wait_guard_async`](Condition::wait_guard_async), each phase awaited through
    /// `phases`.
    pub(crate) async fn wait_guard_async_with<'g>(
        &self,
        guard: ConditionGuard<'g, L, C>,
        phases: &impl Phases,
    ) -> Result<ConditionGuard<'g, L, C>, ConditionError> {
        if guard.cond.lock.lock_addr() != self.lock.lock_addr() {
            return Err(ConditionError::OtherLock);
        }
        if !self.lock.is_owned() {
            std::mem::forget(guard);
            return Err(ConditionError::NotOwned);
        }
        // The guard's acquisition is the wait's from here: released below and restored
        // before the guard is given back. Dropped in between, the guard is not released
        // (the lock is not held); the core's wait settles the ticket while asleep.
        let guard = ManuallyDrop::new(guard);
        let saved = phases
            .notified(
                self.cv
                    .condvar()
                    .try_release_wait_async(|| self.lock.release_save()),
            )
            .await
            .map_err(|_| ConditionError::NotOwned)?;
        // Notified: dropped while re-taking the lock, pass the notify on.
        let pass_on = OnDrop(|| {
            self.cv.condvar().notify(1);
        });
        phases.retaken(self.lock.acquire_restore_async(saved)).await;
        std::mem::forget(pass_on);
        Ok(ManuallyDrop::into_inner(guard))
    }

    /// A condition over `lock` whose waiters are behind the handle `cv` (the
    /// process-shared `ConditionOn`).
    #[cfg(target_os = "linux")]
    pub(crate) fn with_parts(lock: L, cv: C) -> Self {
        Self {
            lock,
            cv,
            owed: AtomicU32::new(0),
        }
    }

    /// Pays one release owed by a cancelled [`wait_async`](Self::wait_async), if any:
    /// `true` if the caller's release is to be skipped.
    #[inline]
    fn pay_owed(&self) -> bool {
        self.owed.load(Ordering::Relaxed) != 0
            && self
                .owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
    }

    /// The handle of the waiters.
    #[cfg(target_os = "linux")]
    pub(crate) fn condvar_handle(&self) -> &C {
        &self.cv
    }

    /// The underlying lock.
    pub fn get_lock(&self) -> &L {
        &self.lock
    }

    /// Takes the lock (Python: `cond.acquire()`).
    pub fn acquire(&self) {
        self.lock.acquire();
    }

    /// Takes the lock if possible without waiting (Python: `cond.acquire(False)`).
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        self.lock.try_acquire()
    }

    /// Takes the lock, waiting at most `timeout` (Python: `cond.acquire(timeout=t)`).
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.lock.acquire_timeout(timeout)
    }

    /// Takes the lock, waiting at most until `deadline`.
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: Instant) -> bool {
        self.lock.acquire_until(deadline)
    }

    /// Undoes one acquisition of the lock (Python: `cond.release()`).
    ///
    /// # Errors
    /// The lock's [`ReleaseError`].
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.pay_owed() {
            return Ok(());
        }
        self.lock.release()
    }

    /// Takes the lock and returns a guard that releases it when dropped (Python:
    /// `with cond:`).
    ///
    /// Bind the guard to a name: `let _g = cond.lock();` holds the lock to the end of
    /// the scope, but `let _ = cond.lock();` releases it on the same line (and a wait
    /// after it is [`ConditionError::NotOwned`]).
    pub fn lock(&self) -> ConditionGuard<'_, L, C> {
        self.lock.acquire();
        ConditionGuard {
            cond: self,
            _marker: PhantomData,
        }
    }

    /// Releases the lock, sleeps until notified, re-takes the lock (Python:
    /// `cond.wait()`).
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the calling thread does not hold the lock.
    pub fn wait(&self) -> Result<(), ConditionError> {
        self.wait_deadline(None).map(|_| ())
    }

    /// As [`wait`](Self::wait), but gives up after `timeout`; returns whether it was
    /// notified (Python: `cond.wait(timeout)`, `False` on timeout). The lock is held
    /// again either way.
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the calling thread does not hold the lock.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ConditionError> {
        self.wait_deadline(Some(deadline_after(timeout)))
    }

    /// As [`wait`](Self::wait), but gives up at `deadline`; returns whether it was
    /// notified.
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the calling thread does not hold the lock.
    pub fn wait_until(&self, deadline: Instant) -> Result<bool, ConditionError> {
        self.wait_deadline(Some(deadline))
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<bool, ConditionError> {
        if !self.lock.is_owned() {
            return Err(ConditionError::NotOwned);
        }
        self.cv
            .condvar()
            .try_release_wait_until(
                deadline,
                || self.lock.release_save(),
                |saved| self.lock.acquire_restore(saved),
            )
            .map(|((), notified)| notified)
            .map_err(|_| ConditionError::NotOwned)
    }

    /// Waits until `predicate` returns `true` (Python: `cond.wait_for(predicate)`). The
    /// predicate is evaluated with the lock held, first before any wait, and again after
    /// every wake-up.
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if it has to wait and the calling thread does not
    /// hold the lock (as in Python, a predicate that is already true returns `Ok(())`).
    /// For the timed forms, a false predicate "has to wait" even once the time is up:
    /// CPython's `wait_for` waits at least once, so it raises there too.
    ///
    /// # Panics
    /// If `predicate` panics, the panic propagates with the lock still held by the
    /// caller, as an exception leaves Python's `wait_for` inside the `with cond:` block:
    /// the caller's guard ([`lock`](Self::lock)) releases it while unwinding. The
    /// predicate runs outside the sleeping part of the wait, so the condition's other
    /// waiters and notifiers are unaffected.
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<(), ConditionError> {
        self.wait_for_deadline(predicate, None).map(|_| ())
    }

    /// As [`wait_for`](Self::wait_for), but gives up once `timeout` has passed; returns
    /// the predicate's last result (Python: `cond.wait_for(predicate, timeout)`).
    ///
    /// The timeout is a real deadline: however often the caller is woken without the
    /// predicate becoming true, it returns at the original deadline. The lock is held
    /// again either way.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for).
    ///
    /// # Panics
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, ConditionError> {
        self.wait_for_deadline(predicate, Some(deadline_after(timeout)))
    }

    /// As [`wait_for_timeout`](Self::wait_for_timeout), with a deadline.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for).
    ///
    /// # Panics
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_for_until(
        &self,
        predicate: impl FnMut() -> bool,
        deadline: Instant,
    ) -> Result<bool, ConditionError> {
        self.wait_for_deadline(predicate, Some(deadline))
    }

    fn wait_for_deadline(
        &self,
        mut predicate: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> Result<bool, ConditionError> {
        let mut result = predicate();
        let mut waited = false;
        while !result {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // CPython waits at least once before giving up, so an unheld lock is
                // its `RuntimeError` even when the time is already up.
                if !waited && !self.lock.is_owned() {
                    return Err(ConditionError::NotOwned);
                }
                break;
            }
            self.wait_deadline(deadline)?;
            waited = true;
            result = predicate();
        }
        Ok(result)
    }

    /// Wakes up to `n` waiting threads, the ones that have waited longest first (FIFO,
    /// as CPython); returns how many it woke (Python: `cond.notify(n)`, which returns
    /// nothing). Each woken thread's `wait` reports "notified" once it has re-taken the
    /// lock (after the caller releases it). Never waits.
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the calling thread does not hold the lock.
    pub fn notify(&self, n: usize) -> Result<usize, ConditionError> {
        if !self.lock.is_owned() {
            return Err(ConditionError::NotOwned);
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        Ok(self.cv.condvar().notify(n) as usize)
    }

    /// Wakes every waiting thread; returns how many it woke (Python:
    /// `cond.notify_all()`).
    ///
    /// # Errors
    /// [`ConditionError::NotOwned`] if the calling thread does not hold the lock.
    pub fn notify_all(&self) -> Result<usize, ConditionError> {
        self.notify(usize::MAX)
    }

    /// How many threads are waiting and not yet notified (a snapshot).
    pub fn waiters(&self) -> usize {
        self.cv.condvar().waiters() as usize
    }
}

impl<L: ConditionLock + fmt::Debug, C: CondvarHandle<L::Wait>> fmt::Debug for Condition<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Holds a [`Condition`]'s lock; releases it when dropped (the end of Python's
/// `with cond:` block). Wait and notify through the condition while it lives; in a task,
/// [`Condition::wait_guard_async`] takes the guard and gives it back.
///
/// `Send` over a [`Lock`] (which any thread may release, as its own
/// [`LockGuard`](super::LockGuard)), so a task holding it may run on a multi-threaded
/// runtime; not `Send` over an [`RLock`], which must be released by the thread that
/// took it ([`ConditionLock::GuardMarker`]).
///
/// ```compile_fail
/// use conkit::threading::Condition;
/// fn send<T: Send>(_: T) {}
/// let cond = Condition::new(); // over an RLock
/// send(cond.lock());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<
    'a,
    L: ConditionLock = RLock,
    C: CondvarHandle<L::Wait> = Condvar<<L as ConditionLock>::Wait>,
> {
    cond: &'a Condition<L, C>,
    _marker: PhantomData<L::GuardMarker>,
}

impl<L: ConditionLock, C: CondvarHandle<L::Wait>> Drop for ConditionGuard<'_, L, C> {
    fn drop(&mut self) {
        // The guard's acquisition is still held (waits restore it before returning),
        // unless a cancelled `wait_async` could not take it back: then it pays that.
        if !self.cond.pay_owed() {
            let _ = self.cond.lock.release();
        }
    }
}

impl<L: ConditionLock, C: CondvarHandle<L::Wait>> fmt::Debug for ConditionGuard<'_, L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

/// Runs its closure when dropped (a cancelled future's clean-up).
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}
