//! Growable std containers as [`QueueStore`]s, each with Python's runtime `maxsize`.
//!
//! The core's queue algorithm ([`BaseQueue`](conkit_core::queue::BaseQueue)) leaves the
//! container to a [`QueueStore`], as CPython's `Lib/queue.py` leaves it to `_init`,
//! `_qsize`, `_put` and `_get`. The core ships fixed-capacity inline stores; these are
//! the heap-backed ones behind [`Queue`](super::Queue), [`LifoQueue`](super::LifoQueue),
//! [`PriorityQueue`](super::PriorityQueue) and [`SimpleQueue`](super::SimpleQueue):
//!
//! | store | order | container (as in CPython) |
//! |---|---|---|
//! | [`Fifo`] | first in, first out | `VecDeque<T>` (`collections.deque`) |
//! | [`Lifo`] | last in, first out | `Vec<T>` (a `list`) |
//! | [`Priority`] | smallest first | `Vec<T>` as a min-heap (a `list` with `heapq`), by the core's [`heap`] algorithm |
//!
//! `maxsize == 0` means unbounded (Python: `maxsize <= 0`); an unbounded store reports
//! `capacity() == usize::MAX`, as the core's [`QueueStore`] contract asks. The bound
//! can be changed later ([`QueueStore::set_capacity`], Python's `q.maxsize = n`).
//!
//! # Panics
//! Only [`Priority`] runs user code (the items' `Ord`), through the core's [`heap`],
//! whose push and pop are all-or-nothing: if a comparison panics the store is exactly
//! as before the call (a push stored nothing, a pop removed nothing).

use std::collections::VecDeque;
use std::fmt;

use conkit_core::queue::{heap, FixedCapacity, QueueStore};

/// Room a bounded store reserves up front (at most `maxsize`): a small queue never
/// reallocates, a huge `maxsize` allocates nothing that may never be used, and an
/// unbounded store starts empty and grows.
const PREALLOCATE: usize = 1024;

/// `maxsize` as the core's capacity: `0` (unbounded) becomes `usize::MAX`.
fn capacity_of(maxsize: usize) -> usize {
    if maxsize == 0 {
        usize::MAX
    } else {
        maxsize
    }
}

/// The core's capacity as Python's `maxsize`: `usize::MAX` (unbounded) becomes `0`.
fn maxsize_of(capacity: usize) -> usize {
    if capacity == usize::MAX {
        0
    } else {
        capacity
    }
}

/// A store built from Python's `maxsize` (`0` = unbounded): how the queues create
/// their store on first use.
pub(crate) trait NewStore: QueueStore {
    fn with_maxsize(maxsize: usize) -> Self;
}

macro_rules! store {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $push:expr, $pop:expr $(, $bound:path)?) => {
        $(#[$doc])*
        pub struct $name<T> {
            items: $inner,
            maxsize: usize,
        }

        impl<T $(: $bound)?> $name<T> {
            /// An empty store holding at most `maxsize` items; `0` means unbounded
            /// (Python's `maxsize <= 0`).
            pub fn new(maxsize: usize) -> Self {
                Self {
                    items: <$inner>::with_capacity(if maxsize == 0 {
                        0
                    } else {
                        maxsize.min(PREALLOCATE)
                    }),
                    maxsize,
                }
            }

            /// The bound (`0` = unbounded), as Python's `Queue.maxsize` attribute
            /// reports it.
            pub fn maxsize(&self) -> usize {
                self.maxsize
            }

            /// Changes the bound (`0` = unbounded), as Python's `q.maxsize = n`.
            /// Items already stored stay, even beyond a smaller bound.
            pub fn set_maxsize(&mut self, maxsize: usize) {
                self.maxsize = maxsize;
            }
        }

        impl<T $(: $bound)?> NewStore for $name<T> {
            fn with_maxsize(maxsize: usize) -> Self {
                Self::new(maxsize)
            }
        }

        impl<T $(: $bound)?> QueueStore for $name<T> {
            type Item = T;

            #[inline]
            fn push(&mut self, item: T) -> Result<(), T> {
                if self.maxsize != 0 && self.items.len() >= self.maxsize {
                    return Err(item);
                }
                ($push)(&mut self.items, item);
                Ok(())
            }

            #[inline]
            fn pop(&mut self) -> Option<T> {
                ($pop)(&mut self.items)
            }

            #[inline]
            fn len(&self) -> usize {
                self.items.len()
            }

            #[inline]
            fn capacity(&self) -> usize {
                capacity_of(self.maxsize)
            }

            /// Any capacity: `usize::MAX` (and `0`, Python's `maxsize <= 0`) mean
            /// unbounded.
            fn set_capacity(&mut self, capacity: usize) -> Result<(), FixedCapacity> {
                self.maxsize = maxsize_of(capacity);
                Ok(())
            }
        }

        impl<T> fmt::Debug for $name<T> {
            /// Prints the fill level only (formatting items would run user code under
            /// the queue's lock).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.items.len())
                    .field("maxsize", &self.maxsize)
                    .finish()
            }
        }
    };
}

store!(
    /// First in, first out (Python's `queue.Queue` order), in a `VecDeque`.
    ///
    /// ```
    /// use conkit::core::queue::QueueStore;
    /// use conkit::queue::store::Fifo;
    ///
    /// let mut s = Fifo::new(2);
    /// s.push(1).unwrap();
    /// s.push(2).unwrap();
    /// assert_eq!(s.push(3), Err(3)); // full: the item comes back
    /// assert_eq!(s.pop(), Some(1));
    /// ```
    Fifo, VecDeque<T>, VecDeque::push_back, VecDeque::pop_front
);

store!(
    /// Last in, first out (Python's `queue.LifoQueue` order), in a `Vec`.
    ///
    /// ```
    /// use conkit::core::queue::QueueStore;
    /// use conkit::queue::store::Lifo;
    ///
    /// let mut s = Lifo::new(0); // unbounded
    /// s.push(1).unwrap();
    /// s.push(2).unwrap();
    /// assert_eq!(s.capacity(), usize::MAX);
    /// assert_eq!(s.pop(), Some(2));
    /// ```
    Lifo, Vec<T>, Vec::push, Vec::pop
);

store!(
    /// Smallest item first (Python's `queue.PriorityQueue`, a `heapq` min-heap), in a
    /// `Vec` kept in heap order by the core's [`heap`] algorithm (the same as the core's
    /// inline `Priority` store, with `heapq`'s comparisons). Equal items come out in an
    /// unspecified order: to keep insertion order among equal priorities, store
    /// `(priority, sequence, item)` tuples, as the Python docs recommend.
    ///
    /// # Panics
    /// If an item's `Ord` panics in `push` or `pop`, the panic propagates and the store
    /// is exactly as before: a failed push stored nothing (the item is dropped with the
    /// unwind), a failed pop removed nothing.
    ///
    /// ```
    /// use conkit::core::queue::QueueStore;
    /// use conkit::queue::store::Priority;
    ///
    /// let mut s = Priority::new(0);
    /// s.push(3).unwrap();
    /// s.push(1).unwrap();
    /// s.push(2).unwrap();
    /// assert_eq!(s.pop(), Some(1));
    /// ```
    Priority, Vec<T>,
    // A `Vec` storage is never full: the bound was checked above.
    |items: &mut Vec<T>, item| drop(heap::push(items, item)),
    heap::pop,
    Ord
);
