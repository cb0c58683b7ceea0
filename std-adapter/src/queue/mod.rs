//! Python's `queue` module: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and
//! [`SimpleQueue`], for OS threads and async tasks alike.
//!
//! Two core queues, each the one algorithm of its kind in conkit, serve these types:
//! * A bounded [`Queue`] (`maxsize > 0`) is the core's lock-free
//!   [`HeapRingQueue`](conkit_core::queue::HeapRingQueue): Python's semantics
//!   (`task_done`/`join`, 3.13's `shutdown`) around the core's Vyukov MPMC ring, with a
//!   capacity chosen at run time. A put and a get cost about what a
//!   `crossbeam_channel::bounded` send and receive cost: one compare-and-swap each, and
//!   no lock. (A `maxsize` so large that its slots would take more than a few MiB up
//!   front uses the growable backend below instead.)
//! * An unbounded [`Queue`] (`maxsize == 0`), [`LifoQueue`], [`PriorityQueue`] and
//!   [`SimpleQueue`] are the core's [`BaseQueue`](conkit_core::queue::BaseQueue)
//!   (CPython's `Lib/queue.py` structure: one mutex, an unfinished-task counter, three
//!   conditions — here event counts) with growable std containers ([`store`]) and the
//!   sleeping [`Lock<Futex>`](conkit_core::lock::Lock) as its mutex.
//!
//! Both wait with [`Futex`](crate::wait::Futex): a blocked `get` spins briefly, then
//! sleeps in the kernel until a put wakes it.
//!
//! Unlike CPython's queues under the GIL, these run truly in parallel: producers and
//! consumers on different cores only meet at the ring's slots (bounded [`Queue`]) or for
//! the short critical section of each put or get (the others).
//!
//! # From Python
//! Python's `block`/`timeout` arguments become separate methods, a timeout is a
//! [`Duration`](std::time::Duration), and exceptions become typed errors. A failed put
//! always hands the item back; a get that times out never takes an item.
//!
//! | Python | conkit | error (Python exception) |
//! |---|---|---|
//! | `Queue(maxsize=0)`, `LifoQueue(…)`, `PriorityQueue(…)` | [`Queue::new(maxsize)`](Queue::new) … (`0` = unbounded) | |
//! | `q.put(item)` | [`put(item)`](Queue::put) | [`ShutDown(item)`](ShutDown) |
//! | `q.put(item, timeout=t)` | [`put_timeout(item, t)`](Queue::put_timeout) | [`Full(item)`](Full), [`PutError::ShutDown(item)`](PutError::ShutDown) |
//! | `q.put(item, block=False)`, `q.put_nowait(item)` | [`put_nowait(item)`](Queue::put_nowait) | [`Full(item)`](Full), [`PutError::ShutDown(item)`](PutError::ShutDown) |
//! | `q.get()` | [`get()`](Queue::get) | [`ShutDown`] |
//! | `q.get(timeout=t)` | [`get_timeout(t)`](Queue::get_timeout) | [`Empty`], [`GetError::ShutDown`] |
//! | `q.get(block=False)`, `q.get_nowait()` | [`get_nowait()`](Queue::get_nowait) | [`Empty`], [`GetError::ShutDown`] |
//! | `q.task_done()` | [`task_done()`](Queue::task_done) | [`TaskDoneError::TooManyCalls`] (`ValueError`) |
//! | `q.join()` | [`join()`](Queue::join); [`join_timeout(t)`](Queue::join_timeout) (extension) | |
//! | `q.shutdown(immediate=False)` (3.13) | [`shutdown(immediate)`](Queue::shutdown) | |
//! | `q.is_shutdown` (3.13) | [`is_shutdown()`](Queue::is_shutdown) | |
//! | `q.qsize()`, `q.empty()`, `q.full()` | [`qsize()`](Queue::qsize), [`empty()`](Queue::empty), [`full()`](Queue::full) | |
//! | `q.maxsize`, `q.unfinished_tasks` | [`maxsize()`](Queue::maxsize), [`unfinished_tasks()`](Queue::unfinished_tasks) | |
//! | `q.maxsize = n` | [`set_maxsize(n)`](Queue::set_maxsize) | [`FixedCapacity`] for a bounded `Queue` (its lock-free ring has a fixed size) |
//! | `await aq.put(item)` / `aq.get()` / `aq.join()` (`asyncio.Queue`) | [`put_async(item).await`](Queue::put_async), [`get_async().await`](Queue::get_async), [`join_async().await`](Queue::join_async) — on the *same* queue the threads use | |
//! | `SimpleQueue()`: `put`, `put_nowait`, `get`, `get(timeout=t)`, `get_nowait`, `qsize`, `empty` | [`SimpleQueue`]: the same names, `get_timeout(t)` | [`Empty`] |
//! | `except queue.Empty` / `queue.Full` / `queue.ShutDown` | `Err(Empty)` / `Err(Full(item))` / `Err(ShutDown(..))`, `Err(GetError::ShutDown)`, `Err(PutError::ShutDown(item))` | |
//!
//! [`Empty`] and [`Full`] are the variants [`GetError::Empty`] and [`PutError::Full`],
//! re-exported under Python's names so that `Err(Empty)` and `Err(Full(item))` read as
//! the `except` clauses they replace; [`ShutDown`] is the core's error of the blocking
//! forms, which cannot fail otherwise.
//!
//! # Panics
//! No queue method panics by itself; user code that runs inside one may. An item's
//! `Ord` ([`PriorityQueue`]) runs under the queue's lock: a panic there propagates to
//! the caller and leaves the queue as it was (lock released, nothing stored or taken,
//! task count unchanged). An item's `Drop` never runs under the lock. During
//! `shutdown(true)`, items whose `Drop` panics do not stop the drain: every item is
//! still dropped and counted done, `join` is released, and the first panic is then
//! re-raised in the caller of `shutdown`.
//!
//! # Example
//! Python's producer/consumer with `task_done`/`join`, then a shutdown:
//! ```
//! use std::time::Duration;
//! use conkit::queue::{Empty, Full, Queue};
//!
//! let q = Queue::new(2);
//! assert_eq!(q.put_nowait("a"), Ok(()));
//! assert_eq!(q.put_nowait("b"), Ok(()));
//! assert_eq!(q.put_nowait("c"), Err(Full("c"))); // the item comes back
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         while let Ok(item) = q.get() {
//!             println!("working on {item}");
//!             q.task_done().unwrap();
//!         }
//!     });
//!     q.put("c").unwrap();
//!     q.join(); // all three were processed
//!     q.shutdown(false); // the worker's get fails once the queue is empty
//! });
//! assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(conkit::queue::GetError::ShutDown));
//! let fresh: Queue<u8> = Queue::new(0);
//! assert_eq!(fresh.get_nowait(), Err(Empty));
//! ```

mod queues;
mod shared;
mod simple;
pub mod store;

pub use conkit_core::queue::GetError::{self, Empty};
pub use conkit_core::queue::PutError::{self, Full};
pub use conkit_core::queue::{FixedCapacity, ShutDown, TaskDoneError};

pub use queues::{LifoQueue, PriorityQueue, Queue};
pub use simple::SimpleQueue;
