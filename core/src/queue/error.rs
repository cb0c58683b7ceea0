//! The queue's typed errors: Python's `queue.Full`, `queue.Empty`, `queue.ShutDown` and
//! the `ValueError` of `task_done()`.

use core::fmt;

/// Why a put was refused (Python's `queue.Full` or `queue.ShutDown`); the item is
/// handed back in either case.
///
/// Every put form fails with this one type: `put_nowait`, `put_until`, the blocking
/// `put` (which can only fail with [`ShutDown`](PutError::ShutDown)) and the async
/// `put`. [`Full`](PutError::Full) is re-exported as [`queue::Full`](super::Full), so
/// a match reads like Python's `except` clauses:
///
/// ```
/// use conkit_core::queue::{Full, PutError, Queue};
///
/// let q: Queue<&str, 1> = Queue::new();
/// q.put_nowait("a").unwrap();
/// match q.put_nowait("b") {
///     Ok(()) => unreachable!(),
///     Err(Full(item)) => assert_eq!(item, "b"), // except queue.Full
///     Err(PutError::ShutDown(_item)) => unreachable!(), // except queue.ShutDown
/// }
/// q.shutdown(false);
/// let refused = q.put_nowait("c").unwrap_err();
/// assert!(refused.is_shutdown());
/// assert_eq!(refused.into_inner(), "c");
/// ```
///
/// The shutdown variant is written `PutError::ShutDown(item)`: the plain name
/// [`ShutDown`](super::ShutDown) is the get side's unit variant (a pattern cannot be both
/// `ShutDown` and `ShutDown(item)`), and gets are where Python code catches it most.
/// [`is_shutdown`](Self::is_shutdown) answers without naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PutError<T> {
    /// No free slot (immediately for `put_nowait`, or until the deadline for
    /// `put_until`): Python's `queue.Full`. Re-exported as [`queue::Full`](super::Full).
    Full(T),
    /// The queue was shut down: Python's `queue.ShutDown`.
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::ShutDown(v) => v,
        }
    }

    /// `true` for [`PutError::Full`] (Python's `queue.Full`).
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// `true` for [`PutError::ShutDown`] (Python's `queue.ShutDown`).
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "the queue is full",
            PutError::ShutDown(_) => "the queue is shut down",
        })
    }
}

impl<T: fmt::Debug> core::error::Error for PutError<T> {}

/// Why a get returned no item (Python's `queue.Empty` or `queue.ShutDown`).
///
/// Every get form fails with this one type: `get_nowait`, `get_until`, the blocking
/// `get` (which can only fail with [`ShutDown`](GetError::ShutDown)) and the async
/// `get`. Both variants are re-exported as [`queue::Empty`](super::Empty) and
/// [`queue::ShutDown`](super::ShutDown), so a match reads like Python's `except`
/// clauses:
///
/// ```
/// use conkit_core::queue::{Empty, Queue, ShutDown};
///
/// let q: Queue<u8, 4> = Queue::new();
/// q.put_nowait(1).unwrap();
/// q.shutdown(false);
/// let mut got = 0;
/// loop {
///     match q.get_nowait() {
///         Ok(item) => got += item,
///         Err(Empty) => continue,  // except queue.Empty
///         Err(ShutDown) => break,  // except queue.ShutDown
///     }
/// }
/// assert_eq!(got, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GetError {
    /// No item (immediately for `get_nowait`, or until the deadline for `get_until`):
    /// Python's `queue.Empty`. Re-exported as [`queue::Empty`](super::Empty).
    Empty,
    /// The queue was shut down and is empty, or was shut down immediately: Python's
    /// `queue.ShutDown`. Re-exported as [`queue::ShutDown`](super::ShutDown).
    ShutDown,
}

impl GetError {
    /// `true` for [`GetError::Empty`] (Python's `queue.Empty`).
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty)
    }

    /// `true` for [`GetError::ShutDown`] (Python's `queue.ShutDown`).
    pub fn is_shutdown(&self) -> bool {
        matches!(self, GetError::ShutDown)
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetError::Empty => "the queue is empty",
            GetError::ShutDown => "the queue is shut down",
        })
    }
}

impl core::error::Error for GetError {}

/// Why `task_done` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TaskDoneError {
    /// More `task_done` calls than items put (Python:
    /// `ValueError: task_done() called too many times`). The count stays at zero.
    TooManyCalls,
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl core::error::Error for TaskDoneError {}

/// The queue's capacity cannot be changed (Python lets `q.maxsize` be assigned; a
/// store with a fixed capacity, e.g. an inline array or a lock-free ring whose slots
/// were allocated up front, cannot follow). Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FixedCapacity;

impl fmt::Display for FixedCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue's capacity is fixed")
    }
}

impl core::error::Error for FixedCapacity {}
