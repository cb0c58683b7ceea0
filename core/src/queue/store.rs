//! Storage disciplines: where a queue keeps its items and in which order it hands them out.
//!
//! This is the part CPython's `Lib/queue.py` leaves to subclasses (`_init`, `_qsize`,
//! `_put`, `_get`): [`BaseQueue`](super::BaseQueue) runs the one locking algorithm and
//! calls a [`QueueStore`] for the order. Three fixed-capacity stores ship here, built on
//! `heapless` containers kept inline (no heap, no pointers):
//!
//! | store | order | container |
//! |---|---|---|
//! | [`Fifo`] | first in, first out (`queue.Queue`) | `heapless::Deque<T, N>` |
//! | [`Lifo`] | last in, first out (`queue.LifoQueue`) | `heapless::Vec<T, N>` |
//! | [`Priority`] | smallest first (`queue.PriorityQueue`, `heapq`) | `heapless::Vec<T, N>` as a binary min-heap ([`heap`](super::heap)) |
//!
//! # Panics
//! A store method runs user code only in [`Priority`] (the items' `Ord`). Its push and
//! pop are all-or-nothing (see [`heap`](super::heap)): if a comparison panics, the
//! store is exactly as before the call.

use core::fmt;

use heapless::{Deque, Vec};

use super::heap;
use super::FixedCapacity;

/// The container behind a [`BaseQueue`](super::BaseQueue): it decides the order, the
/// queue does the locking, waiting and task accounting.
///
/// A store is only ever touched with the queue's lock held, so implementations need no
/// synchronisation of their own. Implement it for other containers to get other
/// disciplines; the std adapter implements it for growable std containers.
///
/// The methods run inside the queue's critical section: keep them short, and never call
/// back into the queue that owns the store (doing so panics, see
/// [`BaseQueue`](super::BaseQueue)).
///
/// # Panics
/// A method may panic (e.g. through the items' `Ord`): the queue releases its lock and
/// counts no task for a push that did not return `Ok`, so it stays usable, but the
/// store keeps whatever state the panicking method left it in. Make `push` and `pop`
/// all-or-nothing, as the shipped stores are (for a heap, see [`heap`](super::heap)),
/// to keep Python's rule that a failed put or get leaves the queue as it was.
pub trait QueueStore {
    /// The item type.
    type Item;

    /// Stores `item`, or hands it back when the store is full.
    ///
    /// # Errors
    /// `Err(item)` when `len() == capacity()`.
    fn push(&mut self, item: Self::Item) -> Result<(), Self::Item>;

    /// Removes the next item in this store's order, if any.
    fn pop(&mut self) -> Option<Self::Item>;

    /// How many items are stored.
    fn len(&self) -> usize;

    /// How many items fit. Unbounded stores (Python's `maxsize <= 0`) return `usize::MAX`.
    fn capacity(&self) -> usize;

    /// `true` when no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` when `len() >= capacity()` (never for an unbounded store).
    fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Changes the capacity to `capacity` (`usize::MAX`: unbounded), as Python's
    /// `q.maxsize = n` does; items already stored stay, even if there are more of them
    /// (then the store is full until enough are taken).
    ///
    /// The default, for stores whose capacity is fixed, accepts only the current
    /// capacity.
    ///
    /// # Errors
    /// [`FixedCapacity`] when the store cannot take this capacity; nothing changed.
    fn set_capacity(&mut self, capacity: usize) -> Result<(), FixedCapacity> {
        if capacity == self.capacity() {
            Ok(())
        } else {
            Err(FixedCapacity)
        }
    }
}

/// First in, first out, up to `N` items (Python's `queue.Queue` order).
pub struct Fifo<T, const N: usize>(Deque<T, N>);

/// Last in, first out, up to `N` items (Python's `queue.LifoQueue` order).
pub struct Lifo<T, const N: usize>(Vec<T, N>);

/// Smallest item first, up to `N` items (Python's `queue.PriorityQueue`, a min-heap with
/// `heapq`'s comparisons, see [`heap`](super::heap)). Equal items come out in an
/// unspecified order: to keep insertion order among equal priorities, store
/// `(priority, sequence_number, item)` tuples, as the Python docs recommend.
///
/// # Panics
/// If an item's `Ord` panics during `push` or `pop`, the panic propagates and the store
/// is left exactly as it was: a failed push has not stored its item (it is dropped with
/// the unwind), a failed pop has not removed the smallest item.
pub struct Priority<T, const N: usize>(Vec<T, N>);

macro_rules! store_common {
    ($name:ident, $inner:ty, $what:literal) => {
        impl<T, const N: usize> $name<T, N> {
            /// An empty store
            #[doc = $what]
            /// Usable capacity is exactly `N`; `N == 0` is a compile-time error.
            pub const fn new() -> Self {
                const { assert!(N > 0, "a queue needs a capacity of at least 1") };
                Self(<$inner>::new())
            }
        }

        impl<T, const N: usize> Default for $name<T, N> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T, const N: usize> fmt::Debug for $name<T, N> {
            /// Prints the fill level only (formatting items could run user code under the
            /// queue's lock).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.0.len())
                    .field("capacity", &N)
                    .finish()
            }
        }
    };
}

store_common!(Fifo, Deque<T, N>, "(a ring buffer).");
store_common!(Lifo, Vec<T, N>, "(a stack).");
store_common!(Priority, Vec<T, N>, "(a binary min-heap).");

impl<T, const N: usize> QueueStore for Fifo<T, N> {
    type Item = T;

    #[inline]
    fn push(&mut self, item: T) -> Result<(), T> {
        self.0.push_back(item)
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        N
    }
}

impl<T, const N: usize> QueueStore for Lifo<T, N> {
    type Item = T;

    #[inline]
    fn push(&mut self, item: T) -> Result<(), T> {
        self.0.push(item)
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        N
    }
}

impl<T: Ord, const N: usize> QueueStore for Priority<T, N> {
    type Item = T;

    #[inline]
    fn push(&mut self, item: T) -> Result<(), T> {
        heap::push(&mut self.0, item)
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        heap::pop(&mut self.0)
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        N
    }
}
