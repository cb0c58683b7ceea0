//! The errors of the ring's operations.

use core::fmt;

/// Why a push failed; the item is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PushError<T> {
    /// The ring is full (for the `_until` form: still full at the deadline).
    Full(T),
    /// The consumer has been dropped: the item could never be received.
    Disconnected(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Disconnected(v) => v,
        }
    }

    /// `true` for [`PushError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, PushError::Full(_))
    }

    /// `true` for [`PushError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, PushError::Disconnected(_))
    }
}

// Manual `Debug`, so that `unwrap()` works for any `T` (like `std`'s `TrySendError`).
impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushError::Full(_) => "Full(..)",
            PushError::Disconnected(_) => "Disconnected(..)",
        })
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushError::Full(_) => "the ring is full",
            PushError::Disconnected(_) => "the consumer of the ring was dropped",
        })
    }
}

impl<T> core::error::Error for PushError<T> {}

/// Why a pop failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PopError {
    /// The ring is empty (for the `_until` form: still empty at the deadline).
    Empty,
    /// The ring is empty and the producer has been dropped: no item will ever come.
    Disconnected,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PopError::Empty => "the ring is empty",
            PopError::Disconnected => "the ring is empty and its producer was dropped",
        })
    }
}

impl core::error::Error for PopError {}

/// Why a chunk could not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChunkError {
    /// Fewer slots than requested are available (free slots for a write chunk, items
    /// for a read chunk); the number available is given.
    TooFewSlots(usize),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::TooFewSlots(n) => write!(f, "only {n} slots are available"),
        }
    }
}

impl core::error::Error for ChunkError {}
