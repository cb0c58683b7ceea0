//! The state shared by [`Queue`](super::Queue), [`LifoQueue`](super::LifoQueue) and
//! [`PriorityQueue`](super::PriorityQueue): the core's
//! [`BaseQueue`](conkit_core::queue::BaseQueue) (the one queue algorithm) with a std
//! store, [`Lock<Futex>`] as its mutex and [`Futex`] as its waiting strategy, inside the
//! core's [`Async`] wrapper so that the same queue can be awaited.
//!
//! # Blocking and async waiters on one queue
//! * Blocked threads sleep in the core queue's event counts; every state change —
//!   whether made by a thread or by a task — goes through the core queue, which
//!   notifies them.
//! * Async tasks park their wakers in the wrapper's [`WakerSet`](conkit_core::asynch::WakerSet).
//!   The async operations are the core wrapper's, which wake the parked tasks after
//!   each change. The blocking operations here wake them too, but only when some async
//!   operation is in progress (`async_waiting != 0`), so a program that never awaits
//!   never enters the wrapper's critical section.
//!
//! Why reading `async_waiting` with `Relaxed` after the change loses no wake-up: an
//! async operation counts itself in `async_waiting` *before* its first look at the
//! queue, and every look takes the queue's lock, as does every change. Either the
//! task's last look (made after parking its waker) comes after our change in the lock
//! order, and it sees the change; or it comes before, and then its increment (and its
//! waker's registration) happened before our change and before our read of the counter,
//! which therefore sees it, so we wake the parked waker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conkit_core::asynch::Async;
use conkit_core::lock::Lock;
use conkit_core::queue::{BaseQueue, GetError, PutError, QueueStore, ShutDown, TaskDoneError};

use crate::wait::{deadline_after, Futex};

/// Tasks that can park on one queue at the same time; more busy-poll (see
/// [`conkit_core::asynch`]) instead of sleeping, still correctly.
pub(crate) const ASYNC_SLOTS: usize = 32;

/// The core queue with the std mutex and waiting strategy.
pub(crate) type Core<S> = BaseQueue<S, Lock<Futex>, Futex>;

/// One queue: the core algorithm, its async wrapper, and the count of async operations
/// in progress (see the module docs).
pub(crate) struct Shared<S: QueueStore> {
    q: Async<Core<S>, ASYNC_SLOTS>,
    async_waiting: AtomicUsize,
    /// Python's `maxsize` (`0` = unbounded), kept outside the lock for `maxsize()`.
    maxsize: usize,
}

/// Counts one async operation in `async_waiting` while it is alive (also when its
/// future is dropped before completing).
struct AsyncWaiter<'a>(&'a AtomicUsize);

impl<'a> AsyncWaiter<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl<S: QueueStore> Shared<S> {
    pub(crate) fn new(store: S, maxsize: usize) -> Self {
        Self {
            q: Async::new(BaseQueue::with_store(store, Lock::new())),
            async_waiting: AtomicUsize::new(0),
            maxsize,
        }
    }

    #[inline]
    fn core(&self) -> &Core<S> {
        self.q.inner()
    }

    /// After a state change made by a blocking operation: wake the parked tasks, if an
    /// async operation is in progress.
    #[inline]
    fn changed(&self) {
        if self.async_waiting.load(Ordering::Relaxed) != 0 {
            self.q.wakers().wake_all();
        }
    }

    #[inline]
    fn done<E>(&self, r: Result<(), E>) -> Result<(), E> {
        if r.is_ok() {
            self.changed();
        }
        r
    }

    #[inline]
    fn got<T, E>(&self, r: Result<T, E>) -> Result<T, E> {
        if r.is_ok() {
            self.changed();
        }
        r
    }

    // Blocking forms: the core queue's waits run the adaptive spin-then-yield phase of
    // `Futex` (see `crate::wait`) before they sleep.
    #[inline]
    pub(crate) fn put(&self, item: S::Item) -> Result<(), ShutDown<S::Item>> {
        self.done(self.core().put(item))
    }

    pub(crate) fn put_timeout(
        &self,
        item: S::Item,
        timeout: Duration,
    ) -> Result<(), PutError<S::Item>> {
        self.done(self.core().put_until(item, deadline_after(timeout)))
    }

    #[inline]
    pub(crate) fn put_nowait(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        self.done(self.core().put_nowait(item))
    }

    #[inline]
    pub(crate) fn get(&self) -> Result<S::Item, ShutDown> {
        self.got(self.core().get())
    }

    pub(crate) fn get_timeout(&self, timeout: Duration) -> Result<S::Item, GetError> {
        self.got(self.core().get_until(deadline_after(timeout)))
    }

    #[inline]
    pub(crate) fn get_nowait(&self) -> Result<S::Item, GetError> {
        self.got(self.core().get_nowait())
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.done(self.core().task_done())
    }

    pub(crate) fn join(&self) {
        self.core().join();
    }

    pub(crate) fn join_timeout(&self, timeout: Duration) -> bool {
        self.core().join_until(deadline_after(timeout))
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        // The wrapper's shutdown wakes every parked task; the core wakes every thread.
        self.q.shutdown(immediate);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.core().is_shutdown()
    }

    pub(crate) fn qsize(&self) -> usize {
        self.core().qsize()
    }

    pub(crate) fn empty(&self) -> bool {
        self.core().empty()
    }

    pub(crate) fn full(&self) -> bool {
        self.core().full()
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.core().unfinished_tasks()
    }

    pub(crate) async fn put_async(&self, item: S::Item) -> Result<(), ShutDown<S::Item>> {
        let _counted = AsyncWaiter::enter(&self.async_waiting);
        self.q.put(item).await
    }

    pub(crate) async fn get_async(&self) -> Result<S::Item, ShutDown> {
        let _counted = AsyncWaiter::enter(&self.async_waiting);
        self.q.get().await
    }

    pub(crate) async fn join_async(&self) {
        let _counted = AsyncWaiter::enter(&self.async_waiting);
        self.q.join().await
    }

    /// The fields every queue's `Debug` shows (never the items).
    pub(crate) fn debug(&self, f: &mut std::fmt::Formatter<'_>, name: &str) -> std::fmt::Result {
        f.debug_struct(name)
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}
