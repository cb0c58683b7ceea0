//! [`SimpleQueue`]: Python's unbounded FIFO queue without task tracking, on the core's
//! [`BaseQueue`](conkit_core::queue::BaseQueue) with an unbounded [`Fifo`] store.
//!
//! CPython implements `SimpleQueue` in C (`_queue.SimpleQueue`) for speed and
//! reentrancy. Here it is the same core queue as [`Queue`](super::Queue) (no second
//! algorithm; the core has no faster unbounded multi-consumer queue), never shut down
//! and never full, so `put` cannot fail and `get` only fails by timing out; its
//! `task_done` bookkeeping is not exposed.

use std::fmt;
use std::time::{Duration, Instant};

use super::shared::{Core, Shared};
use super::store::Fifo;
use super::GetError;
use crate::wait::deadline_after;

/// An unbounded first-in, first-out queue without `task_done`/`join` (Python's
/// `queue.SimpleQueue`).
///
/// ```
/// use conkit::queue::SimpleQueue;
/// use std::time::{Duration, Instant};
///
/// let q = SimpleQueue::new();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         for i in 0..3 {
///             q.put(i);
///         }
///     });
///     let got: Vec<i32> = (0..3).map(|_| q.get()).collect();
///     assert_eq!(got, [0, 1, 2]);
/// });
/// assert!(q.get_timeout(Duration::from_millis(1)).is_err()); // Empty
/// ```
pub struct SimpleQueue<T> {
    q: Shared<Core<Fifo<T>>>,
}

impl<T> SimpleQueue<T> {
    /// An empty queue (Python's `queue.SimpleQueue()`).
    ///
    /// A `const fn`: the queue can be a `static` (its storage is allocated by the first
    /// operation).
    ///
    /// ```
    /// use conkit::queue::SimpleQueue;
    ///
    /// static LOG: SimpleQueue<&str> = SimpleQueue::new();
    /// LOG.put("started");
    /// assert_eq!(LOG.get(), "started");
    /// ```
    pub const fn new() -> Self {
        Self { q: Shared::new(0) }
    }

    /// Puts `item`; never waits and never fails (Python's `put(item)`: the queue is
    /// unbounded and has no shutdown).
    pub fn put(&self, item: T) {
        // Unbounded and never shut down: the core put cannot refuse. Should it ever, the
        // item is dropped here rather than panicking.
        let _ = self.q.put_nowait(item);
    }

    /// The same as [`put`](Self::put) (Python's `put_nowait(item)`).
    pub fn put_nowait(&self, item: T) {
        self.put(item);
    }

    /// Takes the next item, waiting while the queue is empty (Python's `get()`).
    pub fn get(&self) -> T {
        loop {
            // Never shut down, so the core get only returns with an item.
            if let Ok(item) = self.q.get() {
                return item;
            }
        }
    }

    /// Takes the next item, waiting at most `timeout` (Python's `get(timeout=t)`):
    /// [`get_until`](Self::get_until) with the deadline `now + timeout`. A get that
    /// times out never takes an item.
    ///
    /// # Errors
    /// [`Empty`](super::Empty) if no item arrived in time (the only error).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(deadline_after(timeout))
    }

    /// Takes the next item, waiting until `deadline` at most. A get that times out never
    /// takes an item.
    ///
    /// # Errors
    /// [`Empty`](super::Empty) if no item arrived in time (the only error).
    ///
    /// ```
    /// use conkit::queue::{Empty, SimpleQueue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q = SimpleQueue::new();
    /// q.put("job");
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert_eq!(q.get_until(deadline), Ok("job"));
    /// assert_eq!(q.get_until(deadline), Err(Empty));
    /// ```
    pub fn get_until(&self, deadline: Instant) -> Result<T, GetError> {
        self.q.get_until(deadline)
    }

    /// Takes the next item if there is one, never waiting (Python's `get_nowait()`).
    ///
    /// # Errors
    /// [`Empty`](super::Empty) when there is no item (the only error).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.q.get_nowait()
    }

    /// [`get`](Self::get) for async code: waits without blocking the thread, woken by
    /// every put, a thread's or a task's (the queue's own event count, see
    /// [`conkit_core::asynch`]). Cancel-safe: an item is only taken by the poll that
    /// returns it; a dropped pending future takes nothing and leaves nothing parked.
    ///
    /// ```
    /// use conkit::queue::SimpleQueue;
    ///
    /// let q = SimpleQueue::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| q.put(42)); // a thread's plain put wakes the task
    ///     assert_eq!(rt.block_on(q.get_async()), 42);
    /// });
    /// ```
    pub async fn get_async(&self) -> T {
        loop {
            // Never shut down, so the core get only returns with an item.
            if let Ok(item) = self.q.get_async().await {
                return item;
            }
        }
    }

    /// How many items are queued (Python's `qsize()`).
    pub fn qsize(&self) -> usize {
        self.q.qsize()
    }

    /// `true` when no item is queued (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.q.empty()
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    /// Shows the size, never the items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.qsize())
            .finish()
    }
}
