//! The state shared by [`Queue`](super::Queue), [`LifoQueue`](super::LifoQueue),
//! [`PriorityQueue`](super::PriorityQueue) and [`SimpleQueue`](super::SimpleQueue): a
//! core queue (a [`Backend`]) with [`Futex`] as its waiting strategy, inside the core's
//! [`Async`] wrapper so that the same queue can be awaited.
//!
//! Two core queues serve as backends, both Python's `queue.Queue` semantics, and each the
//! one algorithm of its kind in conkit:
//! * [`BaseQueue`] (one lock, CPython's `Lib/queue.py` structure) with a std store and
//!   [`Lock<Futex>`] as its mutex: LIFO, priority, and unbounded FIFO queues;
//! * [`HeapRingQueue`] (no lock, on the core's MPMC ring, capacity chosen at run time):
//!   bounded FIFO queues (see [`FifoCore`]).
//!
//! # Blocking and async waiters on one queue
//! * Blocked threads sleep in the core queue's event counts; every state change —
//!   whether made by a thread or by a task — goes through the core queue, which
//!   notifies them.
//! * Async tasks park their wakers in the wrapper's [`WakerSet`](conkit_core::asynch::WakerSet)
//!   and poll the core queue's never-waiting forms; an async operation that changes the
//!   state wakes the parked tasks. The blocking operations wake them too, but only when
//!   some async operation is in progress (`async_waiting != 0`), so a program that never
//!   awaits never enters the wrapper's critical section.
//!
//! Why no wake-up is lost: an async operation counts itself in `async_waiting`
//! (`SeqCst`) and issues a `SeqCst` fence *before* its first look at the queue; a
//! blocking operation reads the counter with a `SeqCst` load after its change.
//! * With [`BaseQueue`], every look and every change takes the queue's lock: either the
//!   task's last look (made after parking its waker) comes after our change in the
//!   lock order and sees it, or its count came before our read, which sees it.
//! * With [`HeapRingQueue`], a change is a `SeqCst` compare-and-swap on the ring's
//!   `tail` (put) or `head` (get) (or on the task counter for `task_done`), and a look
//!   that finds the queue empty (full) has read `tail` (`head`) after a `SeqCst`
//!   fence: if the look missed our compare-and-swap, the task's count comes before our
//!   read in the single `SeqCst` order, and we wake it. A look can also find the next
//!   item (slot) claimed by an operation still in flight; then it sees `qsize() > 0`
//!   (`< maxsize`) and the task asks to be polled again at once instead of parking.
//!
//! Shutdown wakes every parked task unconditionally.

use std::num::NonZeroUsize;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use conkit_core::asynch::Async;
use conkit_core::lock::Lock;
use conkit_core::queue::{
    BaseQueue, FixedCapacity, GetError, HeapRingQueue, PutError, QueueStore, TaskDoneError,
};

use super::store::{Fifo, NewStore};
use crate::wait::Futex;

/// Tasks that can park on one queue at the same time; more busy-poll (see
/// [`conkit_core::asynch`]) instead of sleeping, still correctly.
pub(crate) const ASYNC_SLOTS: usize = 32;

/// The lock-based core queue with the std mutex and waiting strategy.
pub(crate) type Core<S> = BaseQueue<S, Lock<Futex>, Futex>;

/// The lock-free core queue with the std waiting strategy.
pub(crate) type RingCore<T> = HeapRingQueue<T, Futex>;

/// Largest `maxsize` whose slots a bounded FIFO queue allocates up front in the
/// lock-free ring, in bytes of slots; beyond it (and beyond [`RING_ALWAYS`] slots) the
/// queue uses the growable lock-based store instead, so that Python's habit of a huge
/// `maxsize` as "practically unbounded" does not reserve gigabytes.
const RING_BYTES: usize = 4 << 20;

/// A bounded FIFO queue of at most this many slots always uses the ring.
const RING_ALWAYS: usize = 1024;

/// The operations every core queue offers (both [`BaseQueue`] and [`HeapRingQueue`]
/// have them as inherent methods; this trait lets [`Shared`] hold either).
pub(crate) trait Backend {
    type Item;
    fn put(&self, item: Self::Item) -> Result<(), PutError<Self::Item>>;
    fn put_until(&self, item: Self::Item, deadline: Instant) -> Result<(), PutError<Self::Item>>;
    fn put_nowait(&self, item: Self::Item) -> Result<(), PutError<Self::Item>>;
    fn get(&self) -> Result<Self::Item, GetError>;
    fn get_until(&self, deadline: Instant) -> Result<Self::Item, GetError>;
    fn get_nowait(&self) -> Result<Self::Item, GetError>;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn join_until(&self, deadline: Instant) -> bool;
    fn shutdown(&self, immediate: bool);
    fn is_shutdown(&self) -> bool;
    fn qsize(&self) -> usize;
    fn empty(&self) -> bool;
    fn full(&self) -> bool;
    fn unfinished_tasks(&self) -> usize;
    /// Python's `q.maxsize = n`, in the core's terms (`usize::MAX`: unbounded).
    fn set_maxsize(&self, capacity: usize) -> Result<(), FixedCapacity>;
}

/// Implements [`Backend`] by forwarding to the inherent methods of the same names.
macro_rules! forward_backend {
    ($(#[$attr:meta])* impl<$($g:ident $(: $b:path)?),*> for $ty:ty, item = $item:ty, set_maxsize = $set_maxsize:expr) => {
        $(#[$attr])*
        impl<$($g $(: $b)?),*> Backend for $ty {
            type Item = $item;
            #[inline]
            fn put(&self, item: $item) -> Result<(), PutError<$item>> {
                <$ty>::put(self, item)
            }
            #[inline]
            fn put_until(&self, item: $item, deadline: Instant) -> Result<(), PutError<$item>> {
                <$ty>::put_until(self, item, deadline)
            }
            #[inline]
            fn put_nowait(&self, item: $item) -> Result<(), PutError<$item>> {
                <$ty>::put_nowait(self, item)
            }
            #[inline]
            fn get(&self) -> Result<$item, GetError> {
                <$ty>::get(self)
            }
            #[inline]
            fn get_until(&self, deadline: Instant) -> Result<$item, GetError> {
                <$ty>::get_until(self, deadline)
            }
            #[inline]
            fn get_nowait(&self) -> Result<$item, GetError> {
                <$ty>::get_nowait(self)
            }
            fn task_done(&self) -> Result<(), TaskDoneError> {
                <$ty>::task_done(self)
            }
            fn join(&self) {
                <$ty>::join(self)
            }
            fn join_until(&self, deadline: Instant) -> bool {
                <$ty>::join_until(self, deadline)
            }
            fn shutdown(&self, immediate: bool) {
                <$ty>::shutdown(self, immediate)
            }
            fn is_shutdown(&self) -> bool {
                <$ty>::is_shutdown(self)
            }
            fn qsize(&self) -> usize {
                <$ty>::qsize(self)
            }
            fn empty(&self) -> bool {
                <$ty>::empty(self)
            }
            fn full(&self) -> bool {
                <$ty>::full(self)
            }
            fn unfinished_tasks(&self) -> usize {
                <$ty>::unfinished_tasks(self)
            }
            fn set_maxsize(&self, capacity: usize) -> Result<(), FixedCapacity> {
                $set_maxsize(self, capacity)
            }
        }
    };
}

forward_backend!(
    impl<S: QueueStore> for Core<S>, item = S::Item, set_maxsize = Core::<S>::set_maxsize
);
forward_backend!(impl<T> for RingCore<T>, item = T, set_maxsize = ring_set_maxsize);

/// A backend [`Shared`] can build by itself, on first use, from Python's `maxsize`
/// (`0` = unbounded).
pub(crate) trait Create {
    fn create(maxsize: usize) -> Self;
}

/// LIFO, priority and [`SimpleQueue`](super::SimpleQueue)'s FIFO: the lock-based queue
/// over a growable store.
impl<S: NewStore> Create for Core<S> {
    fn create(maxsize: usize) -> Self {
        BaseQueue::with_store(S::with_maxsize(maxsize), Lock::new())
    }
}

impl<T> Create for FifoCore<T> {
    fn create(maxsize: usize) -> Self {
        FifoCore::new(maxsize)
    }
}

/// The ring's slots are allocated once, for the capacity it was made with, and a
/// lock-free ring cannot be resized under its users: only that capacity is accepted.
fn ring_set_maxsize<T>(ring: &RingCore<T>, capacity: usize) -> Result<(), FixedCapacity> {
    if capacity == ring.maxsize() {
        Ok(())
    } else {
        Err(FixedCapacity)
    }
}

/// The core queue behind [`Queue`](super::Queue): the lock-free ring when it is bounded
/// (and its slots fit in [`RING_BYTES`] or [`RING_ALWAYS`]), the lock-based queue over a
/// growable `VecDeque` otherwise (`maxsize == 0`, unbounded, or a huge `maxsize`).
// The ring variant is large (its indices sit on cache lines of their own) and kept
// inline on purpose: a queue is built once and lives long, and an extra box would put a
// pointer chase in front of every put and get.
#[allow(clippy::large_enum_variant)]
pub(crate) enum FifoCore<T> {
    /// Bounded: [`HeapRingQueue`].
    Ring(RingCore<T>),
    /// Unbounded or huge: [`BaseQueue`] over a [`Fifo`] store.
    Locked(Core<Fifo<T>>),
}

impl<T> FifoCore<T> {
    /// The backend for Python's `Queue(maxsize)`.
    pub(crate) fn new(maxsize: usize) -> Self {
        let slot = std::mem::size_of::<conkit_core::mpmc::Slot<T>>();
        match NonZeroUsize::new(maxsize) {
            Some(cap) if maxsize <= RING_ALWAYS || maxsize.saturating_mul(slot) <= RING_BYTES => {
                FifoCore::Ring(RingCore::with_capacity(cap))
            }
            _ => FifoCore::Locked(BaseQueue::with_store(Fifo::new(maxsize), Lock::new())),
        }
    }
}

/// Forwards each [`Backend`] method of [`FifoCore`] to the variant's.
macro_rules! dispatch {
    ($self:ident, $q:ident => $call:expr) => {
        match $self {
            FifoCore::Ring($q) => $call,
            FifoCore::Locked($q) => $call,
        }
    };
}

impl<T> Backend for FifoCore<T> {
    type Item = T;
    #[inline]
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        dispatch!(self, q => q.put(item))
    }
    #[inline]
    fn put_until(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        dispatch!(self, q => q.put_until(item, deadline))
    }
    #[inline]
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        dispatch!(self, q => q.put_nowait(item))
    }
    #[inline]
    fn get(&self) -> Result<T, GetError> {
        dispatch!(self, q => q.get())
    }
    #[inline]
    fn get_until(&self, deadline: Instant) -> Result<T, GetError> {
        dispatch!(self, q => q.get_until(deadline))
    }
    #[inline]
    fn get_nowait(&self) -> Result<T, GetError> {
        dispatch!(self, q => q.get_nowait())
    }
    fn task_done(&self) -> Result<(), TaskDoneError> {
        dispatch!(self, q => q.task_done())
    }
    fn join(&self) {
        dispatch!(self, q => q.join())
    }
    fn join_until(&self, deadline: Instant) -> bool {
        dispatch!(self, q => q.join_until(deadline))
    }
    fn shutdown(&self, immediate: bool) {
        dispatch!(self, q => q.shutdown(immediate))
    }
    fn is_shutdown(&self) -> bool {
        dispatch!(self, q => q.is_shutdown())
    }
    fn qsize(&self) -> usize {
        dispatch!(self, q => q.qsize())
    }
    fn empty(&self) -> bool {
        dispatch!(self, q => q.empty())
    }
    fn full(&self) -> bool {
        dispatch!(self, q => q.full())
    }
    fn unfinished_tasks(&self) -> usize {
        dispatch!(self, q => q.unfinished_tasks())
    }
    fn set_maxsize(&self, capacity: usize) -> Result<(), FixedCapacity> {
        dispatch!(self, q => Backend::set_maxsize(q, capacity))
    }
}

/// One queue: the core queue, its async wrapper, and the count of async operations in
/// progress (see the module docs).
///
/// The core queue is built on first use (`OnceLock`), so that [`Shared::new`], and with
/// it every queue's `new`, is a `const fn`: a queue can be a `static`, as Python's
/// module-level `q = queue.Queue()`. A bounded FIFO queue's ring allocates its slots
/// for a `maxsize` only known at run time, which a `const fn` cannot do. The cost on
/// every operation is one load (`Acquire`) and a branch that is always taken the same
/// way.
pub(crate) struct Shared<B: Backend> {
    q: OnceLock<Async<B, ASYNC_SLOTS>>,
    async_waiting: AtomicUsize,
    /// The `maxsize` the queue was created with: what the core queue is built for.
    created_with: usize,
    /// Python's `maxsize` (`0` = unbounded); changed by [`set_maxsize`](Self::set_maxsize).
    maxsize: AtomicUsize,
}

/// Counts one async operation in `async_waiting` while it is alive (also when its
/// future is dropped before completing).
struct AsyncWaiter<'a>(&'a AtomicUsize);

impl<'a> AsyncWaiter<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        // The task's half of the Dekker pair (see the module docs): every later look at
        // the queue comes after this fence.
        fence(Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl<B: Backend + Create> Shared<B> {
    /// A queue of Python's `maxsize` (`0` = unbounded); nothing is allocated until it is
    /// first used.
    pub(crate) const fn new(maxsize: usize) -> Self {
        Self {
            q: OnceLock::new(),
            async_waiting: AtomicUsize::new(0),
            created_with: maxsize,
            maxsize: AtomicUsize::new(maxsize),
        }
    }

    /// The core queue and its async wrapper, built by the first caller.
    #[inline]
    fn q(&self) -> &Async<B, ASYNC_SLOTS> {
        match self.q.get() {
            Some(q) => q,
            None => self.init(),
        }
    }

    /// The first use: builds the core queue (once, whoever calls first).
    #[cold]
    #[inline(never)]
    fn init(&self) -> &Async<B, ASYNC_SLOTS> {
        self.q
            .get_or_init(|| Async::new(B::create(self.created_with)))
    }

    #[inline]
    fn core(&self) -> &B {
        self.q().inner()
    }

    /// After a state change made by a blocking operation: wake the parked tasks, if an
    /// async operation is in progress.
    #[inline]
    fn changed(&self) {
        if self.async_waiting.load(Ordering::SeqCst) != 0 {
            self.wake_tasks();
        }
    }

    /// Wakes the parked tasks (off the hot path: only while an async operation is in
    /// progress).
    #[cold]
    #[inline(never)]
    fn wake_tasks(&self) {
        self.q().wakers().wake_all();
    }

    #[inline]
    fn done<T, E>(&self, r: Result<T, E>) -> Result<T, E> {
        if r.is_ok() {
            self.changed();
        }
        r
    }

    // Blocking forms: the core queue's waits run the adaptive spin-then-yield phase of
    // `Futex` (see `crate::wait`) before they sleep.
    #[inline]
    pub(crate) fn put(&self, item: B::Item) -> Result<(), PutError<B::Item>> {
        self.done(self.core().put(item))
    }

    pub(crate) fn put_until(
        &self,
        item: B::Item,
        deadline: Instant,
    ) -> Result<(), PutError<B::Item>> {
        self.done(self.core().put_until(item, deadline))
    }

    #[inline]
    pub(crate) fn put_nowait(&self, item: B::Item) -> Result<(), PutError<B::Item>> {
        self.done(self.core().put_nowait(item))
    }

    #[inline]
    pub(crate) fn get(&self) -> Result<B::Item, GetError> {
        self.done(self.core().get())
    }

    pub(crate) fn get_until(&self, deadline: Instant) -> Result<B::Item, GetError> {
        self.done(self.core().get_until(deadline))
    }

    #[inline]
    pub(crate) fn get_nowait(&self) -> Result<B::Item, GetError> {
        self.done(self.core().get_nowait())
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.done(self.core().task_done())
    }

    pub(crate) fn join(&self) {
        self.core().join();
    }

    pub(crate) fn join_until(&self, deadline: Instant) -> bool {
        self.core().join_until(deadline)
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        // The core wakes every thread; then every parked task.
        self.core().shutdown(immediate);
        self.q().wakers().wake_all();
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
        self.maxsize.load(Ordering::SeqCst)
    }

    /// Python's `q.maxsize = n` (`0` = unbounded): the next put honours the new bound.
    /// Blocked threads are woken by the core queue, parked tasks here.
    pub(crate) fn set_maxsize(&self, maxsize: usize) -> Result<(), FixedCapacity> {
        let capacity = if maxsize == 0 { usize::MAX } else { maxsize };
        self.core().set_maxsize(capacity)?;
        self.maxsize.store(maxsize, Ordering::SeqCst);
        self.q().wakers().wake_all();
        Ok(())
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.core().unfinished_tasks()
    }

    // Async forms: the wrapper's waker set polled with the core's never-waiting forms
    // (the pattern of the core's own `Async` front ends, over any backend).

    /// The shape of every async operation that changes the queue: counted in
    /// `async_waiting` while it runs, polled with `attempt` (which sets its flag when
    /// the next slot holds a peer still in flight: no wake-up will follow, so the task
    /// asks to be polled again at once), and once it succeeded it wakes the other
    /// parked tasks.
    async fn changing<R, E>(
        &self,
        mut attempt: impl FnMut(&mut bool) -> Option<Result<R, E>>,
    ) -> Result<R, E> {
        let _counted = AsyncWaiter::enter(&self.async_waiting);
        let result = std::future::poll_fn(|cx| {
            let mut in_flight = false;
            let poll = self.q().wakers().poll_until(cx, || attempt(&mut in_flight));
            if poll.is_pending() && in_flight {
                cx.waker().wake_by_ref();
            }
            poll
        })
        .await;
        if result.is_ok() {
            self.q().wakers().wake_all();
        }
        result
    }

    pub(crate) async fn put_async(&self, item: B::Item) -> Result<(), PutError<B::Item>> {
        let mut pending = Some(item);
        self.changing(|in_flight| match self.core().put_nowait(pending.take()?) {
            Err(PutError::Full(item)) => {
                pending = Some(item);
                // A getter in flight in the next slot?
                let maxsize = self.maxsize();
                *in_flight = maxsize != 0 && self.core().qsize() < maxsize;
                None
            }
            other => Some(other),
        })
        .await
    }

    pub(crate) async fn get_async(&self) -> Result<B::Item, GetError> {
        self.changing(|in_flight| match self.core().get_nowait() {
            Err(GetError::Empty) => {
                // A put in flight in the next slot?
                *in_flight = self.core().qsize() > 0;
                None
            }
            other => Some(other),
        })
        .await
    }

    pub(crate) async fn join_async(&self) {
        let _counted = AsyncWaiter::enter(&self.async_waiting);
        std::future::poll_fn(|cx| {
            self.q()
                .wakers()
                .poll_until(cx, || (self.core().unfinished_tasks() == 0).then_some(()))
        })
        .await;
    }

    /// The fields every queue's `Debug` shows (never the items).
    pub(crate) fn debug(&self, f: &mut std::fmt::Formatter<'_>, name: &str) -> std::fmt::Result {
        f.debug_struct(name)
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}
