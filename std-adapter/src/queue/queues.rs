//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: Python's three task queues. A bounded
//! [`Queue`] is the core's lock-free
//! [`HeapRingQueue`](conkit_core::queue::HeapRingQueue); an unbounded one, and the LIFO
//! and priority queues, are the core's [`BaseQueue`](conkit_core::queue::BaseQueue) over
//! a growable std store (see [`shared`](super::shared) for the choice, for how blocking
//! and async callers share one queue, and for why `new` is a `const fn`).

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use super::shared::{Core, FifoCore, Shared};
use super::store::{Lifo, Priority};
use super::{FixedCapacity, GetError, PutError, TaskDoneError};
use crate::wait::deadline_after;

macro_rules! python_queue {
    (
        $(#[$doc:meta])*
        $name:ident, $core:ty, $python:literal, $set_maxsize_doc:literal $(, $bound:path)?
    ) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?> {
            shared: Shared<$core>,
        }

        impl<T $(: $bound)?> $name<T> {
            #[doc = concat!("An empty queue holding at most `maxsize` items (Python's `", $python, "(maxsize)`).")]
            ///
            /// `maxsize == 0` means unbounded, as Python's `maxsize <= 0`: puts never wait
            /// and never fail with `Full`.
            ///
            /// A `const fn`: the queue can be a `static`, shared by every thread
            /// without an `Arc`, as Python's module-level `q = queue.Queue()`. Its
            /// storage is allocated by the first operation.
            ///
            /// ```
            #[doc = concat!("use conkit::queue::", stringify!($name), ";")]
            ///
            #[doc = concat!("static JOBS: ", stringify!($name), "<u32> = ", stringify!($name), "::new(10);")]
            ///
            /// std::thread::spawn(|| JOBS.put(7).unwrap()).join().unwrap();
            /// assert_eq!(JOBS.get(), Ok(7));
            /// ```
            pub const fn new(maxsize: usize) -> Self {
                Self {
                    shared: Shared::new(maxsize),
                }
            }

            /// Puts `item`, waiting while the queue is full (Python's `put(item)`).
            ///
            /// # Errors
            /// [`PutError::ShutDown`] with the item if the queue is or gets shut down
            /// before a slot frees up (never [`Full`](super::Full): it waits instead).
            #[inline]
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.shared.put(item)
            }

            /// Puts `item`, waiting at most `timeout` for a free slot (Python's
            /// `put(item, timeout=t)`): [`put_until`](Self::put_until) with the deadline
            /// `now + timeout`.
            ///
            /// # Errors
            /// [`Full`](super::Full) if no slot freed up in time,
            /// [`PutError::ShutDown`] if the queue is or gets shut down; both hand the
            /// item back.
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                self.put_until(item, deadline_after(timeout))
            }

            /// Puts `item`, waiting until `deadline` at most for a free slot. The
            /// deadline is absolute: a caller that waits in several steps (a retry
            /// loop, a get then a put) keeps one time budget.
            ///
            /// # Errors
            /// [`Full`](super::Full) if no slot freed up in time,
            /// [`PutError::ShutDown`] if the queue is or gets shut down; both hand the
            /// item back.
            ///
            /// ```
            #[doc = concat!("use conkit::queue::{Full, ", stringify!($name), "};")]
            /// use std::time::{Duration, Instant};
            ///
            #[doc = concat!("let q = ", stringify!($name), "::new(1);")]
            /// q.put(1).unwrap();
            /// let deadline = Instant::now() + Duration::from_millis(5);
            /// assert_eq!(q.put_until(2, deadline), Err(Full(2))); // nobody made room
            /// assert!(Instant::now() >= deadline);
            /// ```
            pub fn put_until(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
                self.shared.put_until(item, deadline)
            }

            /// Puts `item` if there is a free slot, never waiting (Python's
            /// `put_nowait(item)` = `put(item, block=False)`).
            ///
            /// # Errors
            /// [`Full`](super::Full) or [`PutError::ShutDown`], handing the item back.
            #[inline]
            pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.shared.put_nowait(item)
            }

            /// Takes the next item, waiting while the queue is empty (Python's `get()`).
            ///
            /// # Errors
            /// [`ShutDown`](super::ShutDown) once the queue is shut down and empty, or at
            /// once after an immediate shutdown (never [`Empty`](super::Empty): it
            /// waits instead).
            #[inline]
            pub fn get(&self) -> Result<T, GetError> {
                self.shared.get()
            }

            /// Takes the next item, waiting at most `timeout` (Python's
            /// `get(timeout=t)`): [`get_until`](Self::get_until) with the deadline
            /// `now + timeout`. A get that times out never takes an item.
            ///
            /// # Errors
            /// [`Empty`](super::Empty) if no item arrived in time;
            /// [`ShutDown`](super::ShutDown) as for [`get`](Self::get).
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                self.get_until(deadline_after(timeout))
            }

            /// Takes the next item, waiting until `deadline` at most. A get that times
            /// out never takes an item.
            ///
            /// # Errors
            /// [`Empty`](super::Empty) if no item arrived in time;
            /// [`ShutDown`](super::ShutDown) as for [`get`](Self::get).
            ///
            /// ```
            #[doc = concat!("use conkit::queue::{Empty, ", stringify!($name), "};")]
            /// use std::time::{Duration, Instant};
            ///
            #[doc = concat!("let q: ", stringify!($name), "<u8> = ", stringify!($name), "::new(0);")]
            /// // One time budget for several gets.
            /// let deadline = Instant::now() + Duration::from_millis(5);
            /// let mut got = Vec::new();
            /// while let Ok(item) = q.get_until(deadline) {
            ///     got.push(item);
            /// }
            /// assert!(got.is_empty());
            /// assert_eq!(q.get_until(deadline), Err(Empty));
            /// ```
            pub fn get_until(&self, deadline: Instant) -> Result<T, GetError> {
                self.shared.get_until(deadline)
            }

            /// Takes the next item if there is one, never waiting (Python's
            /// `get_nowait()` = `get(block=False)`).
            ///
            /// # Errors
            /// [`Empty`](super::Empty) when there is no item;
            /// [`ShutDown`](super::ShutDown) as for [`get`](Self::get).
            #[inline]
            pub fn get_nowait(&self) -> Result<T, GetError> {
                self.shared.get_nowait()
            }

            /// Marks one item taken with a get as processed (Python's `task_done()`);
            /// wakes the callers of [`join`](Self::join) when none is left.
            ///
            /// # Errors
            /// [`TaskDoneError::TooManyCalls`] when called more times than items were
            /// put (Python's `ValueError`).
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.shared.task_done()
            }

            /// Waits until every item put has been marked done with
            /// [`task_done`](Self::task_done) (Python's `join()`).
            pub fn join(&self) {
                self.shared.join();
            }

            /// [`join`](Self::join) waiting at most `timeout`: `true` if all tasks were
            /// done in time. (An extension: Python's `join` has no timeout.)
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.join_until(deadline_after(timeout))
            }

            /// [`join`](Self::join) waiting until `deadline` at most: `true` if all tasks
            /// were done in time. (An extension: Python's `join` has no timeout.)
            pub fn join_until(&self, deadline: Instant) -> bool {
                self.shared.join_until(deadline)
            }

            /// Shuts the queue down (Python 3.13's `shutdown(immediate)`), waking every
            /// blocked thread and task.
            ///
            /// From then on puts fail with `ShutDown`, handing the item back. With
            /// `immediate == false` gets return the remaining items and fail once the
            /// queue is empty; with `immediate == true` gets fail at once, and the
            /// remaining items are dropped, each counting as one `task_done` (so
            /// [`join`](Self::join) returns once the items already taken are done).
            pub fn shutdown(&self, immediate: bool) {
                self.shared.shutdown(immediate);
            }

            /// `true` after [`shutdown`](Self::shutdown) (Python 3.13's `is_shutdown`).
            pub fn is_shutdown(&self) -> bool {
                self.shared.is_shutdown()
            }

            /// How many items are queued (Python's `qsize()`; stale as soon as it
            /// returns when other threads use the queue).
            pub fn qsize(&self) -> usize {
                self.shared.qsize()
            }

            /// `true` when no item is queued (Python's `empty()`).
            pub fn empty(&self) -> bool {
                self.shared.empty()
            }

            /// `true` when the queue holds `maxsize` items (Python's `full()`; never for
            /// an unbounded queue).
            pub fn full(&self) -> bool {
                self.shared.full()
            }

            /// The bound, `0` meaning unbounded (Python's `maxsize` attribute): the
            /// `maxsize` the queue was created with, or the last one
            /// [`set_maxsize`](Self::set_maxsize) accepted.
            pub fn maxsize(&self) -> usize {
                self.shared.maxsize()
            }

            /// Changes the bound (Python: `q.maxsize = n`), `0` meaning unbounded: the
            /// next put honours it.
            ///
            /// Items already queued stay, even beyond a smaller bound: puts then wait
            /// (or fail with `Full`) until gets bring the count below it. Every blocked
            /// thread and parked task that puts is woken to look again, so a larger
            /// bound lets them in at once.
            ///
            #[doc = $set_maxsize_doc]
            pub fn set_maxsize(&self, maxsize: usize) -> Result<(), FixedCapacity> {
                self.shared.set_maxsize(maxsize)
            }

            /// Items put and not yet marked done (Python's `unfinished_tasks`
            /// attribute).
            pub fn unfinished_tasks(&self) -> usize {
                self.shared.unfinished_tasks()
            }

            /// [`put`](Self::put) for async code: waits without blocking the thread.
            ///
            /// Woken by every get, whether by a thread or a task. Cancel-safe: dropping
            /// the future before it completes drops the item and never leaves it
            /// half-put, and loses no wake-up meant for another waiter.
            ///
            /// # Errors
            /// [`PutError::ShutDown`] with the item if the queue is or gets shut down
            /// first.
            pub fn put_async(&self, item: T) -> impl Future<Output = Result<(), PutError<T>>> + '_ {
                self.shared.put_async(item)
            }

            /// [`get`](Self::get) for async code: waits without blocking the thread.
            ///
            /// Woken by every put, whether by a thread or a task. Cancel-safe: an item is
            /// only taken by the poll that returns it, and dropping a pending future
            /// loses no wake-up meant for another waiter.
            ///
            /// # Errors
            /// [`ShutDown`](super::ShutDown) as for [`get`](Self::get).
            pub fn get_async(&self) -> impl Future<Output = Result<T, GetError>> + '_ {
                self.shared.get_async()
            }

            /// [`join`](Self::join) for async code.
            pub fn join_async(&self) -> impl Future<Output = ()> + '_ {
                self.shared.join_async()
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            /// An unbounded queue (Python's default `maxsize=0`).
            fn default() -> Self {
                Self::new(0)
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            /// Shows the counters, never the items.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.shared.debug(f, stringify!($name))
            }
        }
    };
}

python_queue!(
    /// A first-in, first-out task queue (Python's `queue.Queue`).
    ///
    /// Share it between threads by reference (`std::thread::scope`), in an `Arc`, or as
    /// a `static` ([`new`](Self::new) is a `const fn`); the same queue can also be
    /// awaited ([`put_async`](Self::put_async),
    /// [`get_async`](Self::get_async)). See the [module docs](super) for the mapping
    /// of Python's `block`/`timeout` arguments to methods.
    ///
    /// ```
    /// use conkit::queue::Queue;
    ///
    /// let q = Queue::new(8);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         while let Ok(job) = q.get() {
    ///             let _ = job * 2; // work
    ///             q.task_done().unwrap();
    ///         }
    ///     });
    ///     for job in 0..100u64 {
    ///         q.put(job).unwrap(); // waits while 8 jobs are queued
    ///     }
    ///     q.join(); // every job was taken and marked done
    ///     q.shutdown(false); // the worker's `get` fails: it leaves
    /// });
    /// assert!(q.empty());
    /// ```
    ///
    /// # Async (tokio, or any executor)
    /// The same queue is awaited with [`put_async`](Self::put_async),
    /// [`get_async`](Self::get_async) and [`join_async`](Self::join_async): a task that
    /// waits gives its thread back to the runtime, and is woken by every put and get,
    /// whether a task or a thread made it (Python needs two classes for this,
    /// `queue.Queue` and `asyncio.Queue`). Producer and consumer tasks on tokio's
    /// current-thread runtime, then a blocking thread feeding a task:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use conkit::queue::Queue;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     // Two tasks on one thread: the producer waits while 2 items are queued.
    ///     let q = Arc::new(Queue::new(2));
    ///     let producer = tokio::spawn({
    ///         let q = Arc::clone(&q);
    ///         async move {
    ///             for i in 0..5 {
    ///                 q.put_async(i).await.unwrap();
    ///             }
    ///             q.shutdown(false); // the consumer's get fails once it has drained
    ///         }
    ///     });
    ///     let mut got = Vec::new();
    ///     while let Ok(i) = q.get_async().await {
    ///         got.push(i);
    ///     }
    ///     producer.await.unwrap();
    ///     assert_eq!(got, [0, 1, 2, 3, 4]);
    ///
    ///     // A thread and a task on the same queue: the thread blocks in `put` and
    ///     // `join`, the task awaits `get_async` and marks each item done.
    ///     let q = Arc::new(Queue::new(1));
    ///     let thread = std::thread::spawn({
    ///         let q = Arc::clone(&q);
    ///         move || {
    ///             for job in ["fetch", "parse", "store"] {
    ///                 q.put(job).unwrap();
    ///             }
    ///             q.join(); // released by the task's last task_done
    ///         }
    ///     });
    ///     for want in ["fetch", "parse", "store"] {
    ///         assert_eq!(q.get_async().await, Ok(want));
    ///         q.task_done().unwrap();
    ///     }
    ///     thread.join().unwrap();
    /// }
    /// ```
    Queue, FifoCore<T>, "queue.Queue",
    "# Errors\n\
     [`FixedCapacity`] (nothing changed) for a queue created bounded, which runs on the \
     lock-free ring ([`HeapRingQueue`](conkit_core::queue::HeapRingQueue)): its slots are \
     allocated once for that `maxsize`, and a lock-free ring cannot be resized while \
     other threads use it. Only the same `maxsize` is accepted. A queue created \
     unbounded (`Queue::new(0)`), or with a `maxsize` too large for the ring (see the \
     [module docs](super)), uses the lock-based store and accepts any `maxsize`.\n\n\
     ```\n\
     use conkit::queue::{FixedCapacity, Full, Queue};\n\n\
     let grows = Queue::new(0);\n\
     grows.set_maxsize(1).unwrap(); // now bounded\n\
     grows.put_nowait(1).unwrap();\n\
     assert_eq!(grows.put_nowait(2), Err(Full(2)));\n\n\
     let ring = Queue::<u8>::new(4);\n\
     assert_eq!(ring.set_maxsize(8), Err(FixedCapacity));\n\
     assert_eq!(ring.maxsize(), 4);\n\
     ```"
);

python_queue!(
    /// A last-in, first-out task queue, a stack (Python's `queue.LifoQueue`).
    ///
    /// The same methods as [`Queue`]; only the order differs.
    ///
    /// ```
    /// use conkit::queue::LifoQueue;
    ///
    /// let q = LifoQueue::new(0);
    /// for i in 1..=3 {
    ///     q.put(i).unwrap();
    /// }
    /// assert_eq!(q.get_nowait(), Ok(3));
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    LifoQueue, Core<Lifo<T>>, "queue.LifoQueue",
    "# Errors\n\
     Never: the store is a growable `Vec` (the `Result` is [`Queue::set_maxsize`]'s)."
);

python_queue!(
    /// A smallest-first task queue (Python's `queue.PriorityQueue`, a `heapq` min-heap).
    ///
    /// The same methods as [`Queue`]; items come out smallest first (`Ord`). Equal
    /// items come out in an unspecified order: put `(priority, sequence, item)` tuples to
    /// keep insertion order among equal priorities, as the Python docs recommend.
    ///
    /// # Panics
    /// The items' `Ord` runs under the queue's lock. If it panics, the panic reaches the
    /// caller of that put or get, and the queue is exactly as before the call (Python's
    /// rule that a failed `put`/`get` leaves the queue unchanged): the lock is released,
    /// a put stored nothing and counted no task (its item is dropped with the unwind), a
    /// get took nothing (the smallest item is still first). See
    /// [`conkit_core::queue::heap`].
    ///
    /// ```
    /// use conkit::queue::PriorityQueue;
    ///
    /// let q = PriorityQueue::new(0);
    /// q.put((2, "write the report")).unwrap();
    /// q.put((1, "fix the build")).unwrap();
    /// q.put((3, "lunch")).unwrap();
    /// assert_eq!(q.get_nowait(), Ok((1, "fix the build")));
    /// ```
    PriorityQueue, Core<Priority<T>>, "queue.PriorityQueue",
    "# Errors\n\
     Never: the store is a growable `Vec` (the `Result` is [`Queue::set_maxsize`]'s).",
    Ord
);
