//! Fixed-capacity Python-style queues: [`Queue`] (FIFO), [`LifoQueue`] and
//! [`PriorityQueue`], with `task_done`/`join` accounting and Python 3.13's `shutdown`.
//!
//! # Provenance
//! The structure of CPython's `Lib/queue.py`: one mutex guarding the container and an
//! `unfinished_tasks` counter, three conditions (`not_empty`, `not_full`,
//! `all_tasks_done`), and the container's order left to subclasses (`_put`/`_get`), here
//! the [`QueueStore`] trait with [`Fifo`], [`Lifo`] and [`Priority`] (a min-heap, like
//! `heapq`). The conditions are event counts ([`Waiters`](crate::wait::Waiters)) instead of
//! condition variables, so a waiter never holds the mutex while it sleeps, the mutex can
//! be an interrupt-masking critical section, and waking costs nothing when nobody waits.
//! One algorithm, [`BaseQueue`], serves all three disciplines.
//!
//! For the FIFO discipline there is also [`RingQueue`] (module [`ring`]): the same Python
//! semantics without a lock, on the lock-free [`mpmc`](crate::mpmc) ring (the std
//! adapter's bounded `Queue` uses it). It is FIFO only: LIFO and priority order need
//! the lock.
//!
//! # Async (feature `async`)
//! Both queues are awaited on themselves: `put_async`, `get_async`, `join_async`
//! ([`BaseQueue::get_async`], [`RingQueueIn::get_async`], …; Python's `asyncio.Queue`
//! methods on the *same* object the threads use). A waiting task parks on the queue's
//! own event counts (see "Async tasks" in [`Waiters`](crate::wait::Waiters)), so every
//! put, get, `task_done` or shutdown — by a task, a thread's plain blocking call, or an
//! interrupt handler's `put_nowait` — wakes it; a dropped pending future takes nothing
//! and leaves nothing parked. The older `asynch::Async<queue, K>` methods forward to
//! these.
//!
//! Semantics follow Python (checked against CPython 3.13's `queue` module):
//! * `put`/`put_nowait`/`put_until` count one unfinished task per item and wake a
//!   getter; `get*` wake a putter; a failed put hands the item back
//!   ([`PutError::Full`], [`PutError::ShutDown`]).
//! * Errors, one type per direction: every put form fails with [`PutError`], every get
//!   form with [`GetError`]; their variants are re-exported under Python's exception
//!   names, so a `match` reads like the `except` clauses it replaces: `Err(Empty)`,
//!   `Err(ShutDown)` on a get's result, `Err(Full(item))`, `Err(PutError::ShutDown(item))`
//!   on a put's.
//! * `task_done` more often than items were put is [`TaskDoneError::TooManyCalls`]
//!   (Python's `ValueError`); `join` waits until the count is zero.
//! * `shutdown(false)`: puts fail, gets drain the remaining items, then fail.
//!   `shutdown(true)`: puts and gets fail at once, the remaining items are dropped and
//!   each counts as one `task_done`. Every blocked caller is woken.
//!
//! # Panics
//! No queue operation panics by itself (except the re-entry check of [`BaseQueue`]).
//! User code that runs inside one (an item's `Ord` under the lock of a priority queue,
//! an item's `Drop` during `shutdown(true)`) may panic; the queue then stays usable:
//! the lock is released on unwind, a put or get whose comparison panicked changed
//! nothing ([`heap`]), and a drain whose drops panic still finishes and releases `join`
//! before the panic propagates (see [`BaseQueue::shutdown`]).
//!
//! # Progress
//! Blocking, lock-based: every operation runs one short critical section (a push or pop
//! on an inline container plus counter updates; `O(log N)` comparisons for the priority
//! queue). Waiting happens outside the lock through the strategy `W`. Not lock-free: a
//! thread preempted inside the critical section delays the others (with the default
//! [`CriticalSectionMutex`] on single-core firmware, interrupts are masked for that
//! short time instead).
//!
//! # When to use
//! When you want Python's queue semantics, task accounting (`join`), several producers
//! *and* consumers, any item type, LIFO or priority order, or a queue an interrupt
//! handler feeds. When not: for one producer and one consumer of plain data use
//! [`spsc`](crate::spsc) (wait-free, no lock), and for many-to-many FIFO throughput
//! without `join` use [`mpmc`](crate::mpmc) (lock-free).
//!
//! # Interrupts, processes
//! * The default mutex, [`CriticalSectionMutex`], masks interrupts on single-core
//!   firmware, so an interrupt handler may use the queue — but only the never-waiting
//!   forms (`put_nowait`, `get_nowait`, `task_done`, `shutdown`, the queries). The
//!   blocking forms belong to the main loop or tasks.
//! * On std, the critical section is a lock *per process*. For a queue placed in memory
//!   shared between processes (or wasm workers), use a [`RawLock`](crate::lock::RawLock)
//!   mutex that lives in that memory ([`BaseQueue::with_mutex`]) and a process-shared
//!   waiting strategy.
//!
//! # Example
//! A `static` job queue fed by an interrupt handler and drained by the main loop:
//! ```
//! use conkit_core::queue::{Empty, Full, Queue, ShutDown};
//!
//! static JOBS: Queue<u32, 8> = Queue::new();
//!
//! // An interrupt handler: never waits.
//! fn on_uart_rx(byte: u8) {
//!     if let Err(Full(_dropped)) = JOBS.put_nowait(u32::from(byte)) {
//!         // count an overrun
//!     }
//! }
//!
//! on_uart_rx(b'h');
//! on_uart_rx(b'i');
//! // The main loop.
//! let mut got = 0;
//! loop {
//!     match JOBS.get_nowait() {
//!         Ok(job) => {
//!             got += job;
//!             JOBS.task_done().unwrap();
//!         }
//!         Err(Empty) => break,
//!         Err(ShutDown) => return,
//!     }
//! }
//! assert_eq!(got, u32::from(b'h') + u32::from(b'i'));
//! JOBS.join(); // all tasks done: returns at once
//! ```
//!
//! Worker threads, `join`, and a shutdown (on std):
//! ```
//! use conkit_core::queue::Queue;
//!
//! let q: Queue<u64, 4> = Queue::new();
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             // `get` fails once the queue is shut down and drained.
//!             while let Ok(job) = q.get() {
//!                 let _ = job * 2;
//!                 q.task_done().unwrap();
//!             }
//!         });
//!     }
//!     for job in 0..100 {
//!         q.put(job).unwrap(); // waits while the 4 slots are full
//!     }
//!     q.join(); // every job was taken and marked done
//!     q.shutdown(false); // release the workers
//! });
//! assert_eq!(q.unfinished_tasks(), 0);
//! ```

mod base;
mod error;
pub mod heap;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "ptr"))]
pub mod ring;
mod store;

pub use base::BaseQueue;
pub use error::{FixedCapacity, GetError, PutError, TaskDoneError};
#[cfg(all(
    feature = "std",
    any(feature = "portable-atomic", target_has_atomic = "ptr")
))]
pub use ring::HeapRingQueue;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "ptr"))]
pub use ring::{RingQueue, RingQueueIn};
pub use store::{Fifo, Lifo, Priority, QueueStore};
/// Python's `queue.Empty` and `queue.ShutDown` as patterns on a get's result:
/// `Err(Empty)`, `Err(ShutDown)` (the variants of [`GetError`]).
pub use GetError::{Empty, ShutDown};
/// Python's `queue.Full` as a pattern on a put's result: `Err(Full(item))` (the variant
/// of [`PutError`]).
pub use PutError::Full;

use crate::lock::CriticalSectionMutex;
use crate::wait::DefaultWait;

/// A first-in, first-out queue of capacity `N` (Python's `queue.Queue(maxsize=N)`).
///
/// ```
/// use conkit_core::queue::Queue;
/// static Q: Queue<u8, 4> = Queue::new();
/// Q.put_nowait(1).unwrap();
/// Q.put_nowait(2).unwrap();
/// assert_eq!(Q.get_nowait(), Ok(1));
/// ```
pub type Queue<T, const N: usize, M = CriticalSectionMutex, W = DefaultWait> =
    BaseQueue<Fifo<T, N>, M, W>;

/// A last-in, first-out queue of capacity `N` (Python's `queue.LifoQueue(maxsize=N)`).
///
/// ```
/// use conkit_core::queue::LifoQueue;
/// static Q: LifoQueue<u8, 4> = LifoQueue::new();
/// Q.put_nowait(1).unwrap();
/// Q.put_nowait(2).unwrap();
/// assert_eq!(Q.get_nowait(), Ok(2));
/// ```
pub type LifoQueue<T, const N: usize, M = CriticalSectionMutex, W = DefaultWait> =
    BaseQueue<Lifo<T, N>, M, W>;

/// A smallest-first queue of capacity `N` (Python's `queue.PriorityQueue(maxsize=N)`).
///
/// Equal items come out in an unspecified order; use `(priority, sequence, item)` tuples
/// to keep insertion order among equal priorities.
///
/// ```
/// use conkit_core::queue::PriorityQueue;
/// static Q: PriorityQueue<(u8, &str), 4> = PriorityQueue::new();
/// Q.put_nowait((2, "low")).unwrap();
/// Q.put_nowait((1, "high")).unwrap();
/// assert_eq!(Q.get_nowait(), Ok((1, "high")));
/// ```
pub type PriorityQueue<T, const N: usize, M = CriticalSectionMutex, W = DefaultWait> =
    BaseQueue<Priority<T, N>, M, W>;
