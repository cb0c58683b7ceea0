//! The queue's typed errors: Python's `queue.Full`, `queue.Empty`, `queue.ShutDown` and
//! the `ValueError` of `task_done()`.

use core::fmt;

/// The queue was shut down (Python 3.13's `queue.ShutDown`).
///
/// A refused put carries the item back (`ShutDown<T>`); a refused get carries nothing
/// (`ShutDown<()>`, written `ShutDown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShutDown<T = ()>(pub T);

impl<T> ShutDown<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Display for ShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl<T: fmt::Debug> core::error::Error for ShutDown<T> {}

/// Why a put was refused; the item is handed back in either case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PutError<T> {
    /// No free slot (immediately for `put_nowait`, or until the deadline for
    /// `put_until`): Python's `queue.Full`.
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

    /// `true` for [`PutError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// `true` for [`PutError::ShutDown`].
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }
}

impl<T> From<ShutDown<T>> for PutError<T> {
    fn from(e: ShutDown<T>) -> Self {
        PutError::ShutDown(e.0)
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

/// Why a get returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GetError {
    /// No item (immediately for `get_nowait`, or until the deadline for `get_until`):
    /// Python's `queue.Empty`.
    Empty,
    /// The queue was shut down and is empty, or was shut down immediately: Python's
    /// `queue.ShutDown`.
    ShutDown,
}

impl From<ShutDown> for GetError {
    fn from(_: ShutDown) -> Self {
        GetError::ShutDown
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
