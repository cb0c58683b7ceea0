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
//! One mechanism, the core's: blocked threads sleep in the core queue's event counts,
//! and async tasks park on the same event counts ([`BaseQueue::put_async`] and
//! friends, [`HeapRingQueue::get_async`] and friends; see "Async tasks" in
//! [`conkit_core::wait::Waiters`]). Every state change — a thread's plain `put`, a
//! task's `put_async`, a `task_done` — goes through the core queue, whose notify wakes
//! the sleeping threads and the parked tasks alike. There is no wrapper here and no
//! limit on the number of parked tasks; a program that never awaits pays one bit test
//! on notifies the core already makes.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use conkit_core::lock::Lock;
use conkit_core::queue::{
    BaseQueue, FixedCapacity, GetError, HeapRingQueue, PutError, QueueStore, TaskDoneError,
};

use super::store::{Fifo, NewStore};
use crate::wait::Futex;

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
    fn put_async(
        &self,
        item: Self::Item,
    ) -> impl Future<Output = Result<(), PutError<Self::Item>>> + '_;
    fn get_async(&self) -> impl Future<Output = Result<Self::Item, GetError>> + '_;
    fn join_async(&self) -> impl Future<Output = ()> + '_;
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
            #[inline]
            fn put_async(
                &self,
                item: $item,
            ) -> impl Future<Output = Result<(), PutError<$item>>> + '_ {
                <$ty>::put_async(self, item)
            }
            #[inline]
            fn get_async(&self) -> impl Future<Output = Result<$item, GetError>> + '_ {
                <$ty>::get_async(self)
            }
            fn join_async(&self) -> impl Future<Output = ()> + '_ {
                <$ty>::join_async(self)
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
    #[inline]
    fn put_async(&self, item: T) -> impl Future<Output = Result<(), PutError<T>>> + '_ {
        match self {
            FifoCore::Ring(q) => Either::Ring(q.put_async(item)),
            FifoCore::Locked(q) => Either::Locked(q.put_async(item)),
        }
    }
    #[inline]
    fn get_async(&self) -> impl Future<Output = Result<T, GetError>> + '_ {
        match self {
            FifoCore::Ring(q) => Either::Ring(q.get_async()),
            FifoCore::Locked(q) => Either::Locked(q.get_async()),
        }
    }
    fn join_async(&self) -> impl Future<Output = ()> + '_ {
        match self {
            FifoCore::Ring(q) => Either::Ring(q.join_async()),
            FifoCore::Locked(q) => Either::Locked(q.join_async()),
        }
    }
}

/// The future of an async operation of [`FifoCore`]: the chosen backend's own future,
/// polled directly (an `async fn` around the `match` would add a state machine and a
/// copy of the larger future to every operation).
enum Either<R, L> {
    Ring(R),
    Locked(L),
}

impl<R: Future, L: Future<Output = R::Output>> Future for Either<R, L> {
    type Output = R::Output;
    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<R::Output> {
        // SAFETY: structural pinning of the variant: the inner future is never moved
        // out of `self` (no method takes it by value, `Either` has no `Drop` impl and is
        // not `Unpin` unless both variants are), so pinning `self` pins it.
        unsafe {
            match self.get_unchecked_mut() {
                Either::Ring(f) => std::pin::Pin::new_unchecked(f).poll(cx),
                Either::Locked(f) => std::pin::Pin::new_unchecked(f).poll(cx),
            }
        }
    }
}

/// One queue: the core queue (see the module docs).
///
/// The core queue is built on first use (`OnceLock`), so that [`Shared::new`], and with
/// it every queue's `new`, is a `const fn`: a queue can be a `static`, as Python's
/// module-level `q = queue.Queue()`. A bounded FIFO queue's ring allocates its slots
/// for a `maxsize` only known at run time, which a `const fn` cannot do. The cost on
/// every operation is one load (`Acquire`) and a branch that is always taken the same
/// way.
pub(crate) struct Shared<B: Backend> {
    q: OnceLock<B>,
    /// The `maxsize` the queue was created with: what the core queue is built for.
    created_with: usize,
    /// Python's `maxsize` (`0` = unbounded); changed by [`set_maxsize`](Self::set_maxsize).
    maxsize: AtomicUsize,
}

impl<B: Backend + Create> Shared<B> {
    /// A queue of Python's `maxsize` (`0` = unbounded); nothing is allocated until it is
    /// first used.
    pub(crate) const fn new(maxsize: usize) -> Self {
        Self {
            q: OnceLock::new(),
            created_with: maxsize,
            maxsize: AtomicUsize::new(maxsize),
        }
    }

    /// The core queue, built by the first caller.
    #[inline]
    fn core(&self) -> &B {
        match self.q.get() {
            Some(q) => q,
            None => self.init(),
        }
    }

    /// The first use: builds the core queue (once, whoever calls first).
    #[cold]
    #[inline(never)]
    fn init(&self) -> &B {
        self.q.get_or_init(|| B::create(self.created_with))
    }

    // Blocking forms: the core queue's waits run the adaptive spin-then-yield phase of
    // `Futex` (see `crate::wait`) before they sleep. Every change wakes the parked
    // tasks through the core queue's notifies.
    #[inline]
    pub(crate) fn put(&self, item: B::Item) -> Result<(), PutError<B::Item>> {
        self.core().put(item)
    }

    pub(crate) fn put_until(
        &self,
        item: B::Item,
        deadline: Instant,
    ) -> Result<(), PutError<B::Item>> {
        self.core().put_until(item, deadline)
    }

    #[inline]
    pub(crate) fn put_nowait(&self, item: B::Item) -> Result<(), PutError<B::Item>> {
        self.core().put_nowait(item)
    }

    #[inline]
    pub(crate) fn get(&self) -> Result<B::Item, GetError> {
        self.core().get()
    }

    pub(crate) fn get_until(&self, deadline: Instant) -> Result<B::Item, GetError> {
        self.core().get_until(deadline)
    }

    #[inline]
    pub(crate) fn get_nowait(&self) -> Result<B::Item, GetError> {
        self.core().get_nowait()
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.core().task_done()
    }

    pub(crate) fn join(&self) {
        self.core().join();
    }

    pub(crate) fn join_until(&self, deadline: Instant) -> bool {
        self.core().join_until(deadline)
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        // The core wakes every thread and every parked task.
        self.core().shutdown(immediate);
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
    /// Blocked threads and parked tasks are woken by the core queue.
    pub(crate) fn set_maxsize(&self, maxsize: usize) -> Result<(), FixedCapacity> {
        let capacity = if maxsize == 0 { usize::MAX } else { maxsize };
        self.core().set_maxsize(capacity)?;
        self.maxsize.store(maxsize, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn unfinished_tasks(&self) -> usize {
        self.core().unfinished_tasks()
    }

    // Async forms: the core queue's own (see the module docs).

    #[inline]
    pub(crate) fn put_async(
        &self,
        item: B::Item,
    ) -> impl Future<Output = Result<(), PutError<B::Item>>> + '_ {
        self.core().put_async(item)
    }

    #[inline]
    pub(crate) fn get_async(&self) -> impl Future<Output = Result<B::Item, GetError>> + '_ {
        self.core().get_async()
    }

    pub(crate) fn join_async(&self) -> impl Future<Output = ()> + '_ {
        self.core().join_async()
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
