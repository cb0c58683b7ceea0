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
//! [`Duration`](std::time::Duration) (or an absolute [`Instant`](std::time::Instant)
//! deadline with the `_until` forms), and exceptions become typed errors: every get
//! form fails with [`GetError`], every put form with [`PutError`] (which hands the item
//! back). A get that times out never takes an item. A `Duration` is never negative, so
//! Python's `ValueError: 'timeout' must be a non-negative number` cannot happen; a zero
//! timeout tries once, as Python's `timeout=0`.
//!
//! | Python | conkit | fails with (Python's exception) |
//! |---|---|---|
//! | `Queue(maxsize=0)`, `LifoQueue(…)`, `PriorityQueue(…)` | [`Queue::new(maxsize)`](Queue::new) … (`0` = unbounded) | |
//! | `q.put(item)` | [`put(item)`](Queue::put) | `PutError::ShutDown(item)` |
//! | `q.put(item, timeout=t)` | [`put_timeout(item, t)`](Queue::put_timeout), [`put_until(item, deadline)`](Queue::put_until) | [`Full(item)`](Full), `PutError::ShutDown(item)` |
//! | `q.put(item, block=False)`, `q.put_nowait(item)` | [`put_nowait(item)`](Queue::put_nowait) | [`Full(item)`](Full), `PutError::ShutDown(item)` |
//! | `q.get()` | [`get()`](Queue::get) | [`ShutDown`] |
//! | `q.get(timeout=t)` | [`get_timeout(t)`](Queue::get_timeout), [`get_until(deadline)`](Queue::get_until) | [`Empty`], [`ShutDown`] |
//! | `q.get(block=False)`, `q.get_nowait()` | [`get_nowait()`](Queue::get_nowait) | [`Empty`], [`ShutDown`] |
//! | `q.task_done()` | [`task_done()`](Queue::task_done) | [`TaskDoneError::TooManyCalls`] (`ValueError`) |
//! | `q.join()` | [`join()`](Queue::join); [`join_timeout(t)`](Queue::join_timeout), [`join_until(deadline)`](Queue::join_until) (extensions) | |
//! | `q.shutdown(immediate=False)` (3.13) | [`shutdown(immediate)`](Queue::shutdown) | |
//! | `q.is_shutdown` (3.13) | [`is_shutdown()`](Queue::is_shutdown) | |
//! | `q.qsize()`, `q.empty()`, `q.full()` | [`qsize()`](Queue::qsize), [`empty()`](Queue::empty), [`full()`](Queue::full) | |
//! | `q.maxsize`, `q.unfinished_tasks` | [`maxsize()`](Queue::maxsize), [`unfinished_tasks()`](Queue::unfinished_tasks) | |
//! | `q.maxsize = n` | [`set_maxsize(n)`](Queue::set_maxsize) | [`FixedCapacity`] for a bounded `Queue` (its lock-free ring has a fixed size) |
//! | `await aq.put(item)` / `aq.get()` / `aq.join()` (`asyncio.Queue`) | [`put_async(item).await`](Queue::put_async), [`get_async().await`](Queue::get_async), [`join_async().await`](Queue::join_async) — on the *same* queue the threads use | as `put` / `get` |
//! | `SimpleQueue()`: `put`, `put_nowait`, `get`, `get(timeout=t)`, `get_nowait`, `qsize`, `empty` | [`SimpleQueue`]: the same names, `get_timeout(t)`, `get_until(deadline)` | [`Empty`] |
//!
//! ## `except` clauses
//! [`Empty`], [`ShutDown`] and [`Full`] are the variants [`GetError::Empty`],
//! [`GetError::ShutDown`] and [`PutError::Full`], re-exported under Python's names, so
//! the arms of a `match` read like the `except` clauses they replace:
//!
//! | Python | on a get's result | on a put's result |
//! |---|---|---|
//! | `except queue.Empty:` | `Err(Empty) =>` | |
//! | `except queue.Full:` | | `Err(Full(item)) =>` |
//! | `except queue.ShutDown:` | `Err(ShutDown) =>` | `Err(PutError::ShutDown(item)) =>`, or `Err(e) if e.is_shutdown() =>` |
//! | `except Exception as e:` | `Err(e) =>` ([`GetError`]: `Display`, `std::error::Error`) | `Err(e) =>`, [`e.into_inner()`](PutError::into_inner) gives the item back |
//!
//! A put's shutdown carries the item, so it cannot share the pattern `ShutDown` (a
//! unit variant) with the get side: it keeps its enum's name, `PutError::ShutDown(item)`.
//! Both error types also answer [`is_shutdown()`](GetError::is_shutdown),
//! [`is_empty()`](GetError::is_empty) / [`is_full()`](PutError::is_full), and work with
//! `?` into a `Box<dyn Error>`.
//!
//! ```
//! use conkit::queue::{Empty, Full, PutError, Queue, ShutDown};
//!
//! let q = Queue::new(1);
//! match q.put_nowait("a") {
//!     Ok(()) => {}
//!     Err(Full(item)) => println!("full, {item} not queued"),
//!     Err(PutError::ShutDown(item)) => println!("shut down, {item} not queued"),
//! }
//! q.shutdown(false);
//! loop {
//!     match q.get_nowait() {
//!         Ok(item) => println!("got {item}"),
//!         Err(Empty) => continue,
//!         Err(ShutDown) => break, // drained and shut down
//!     }
//! }
//! ```
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
//! use conkit::queue::{Empty, Full, Queue, ShutDown};
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
//! assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(ShutDown));
//! let fresh: Queue<u8> = Queue::new(0);
//! assert_eq!(fresh.get_nowait(), Err(Empty));
//! ```

mod queues;
mod shared;
mod simple;
pub mod store;

/// Python's `queue.Full` as a pattern on a put's result: `Err(Full(item))` (the variant
/// of [`PutError`]).
pub use conkit_core::queue::Full;
/// Python's `queue.Empty` and `queue.ShutDown` as patterns on a get's result:
/// `Err(Empty)`, `Err(ShutDown)` (the variants of [`GetError`]).
pub use conkit_core::queue::{Empty, ShutDown};
pub use conkit_core::queue::{FixedCapacity, GetError, PutError, TaskDoneError};

pub use queues::{LifoQueue, PriorityQueue, Queue};
pub use simple::SimpleQueue;
