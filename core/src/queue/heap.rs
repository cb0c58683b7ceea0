//! The binary min-heap behind every priority store, with all-or-nothing updates when an
//! item's `Ord` panics.
//!
//! [`push`] and [`pop`] work on any [`HeapStorage`]: a vector of items that grows and
//! shrinks at its end. The core's [`Priority<T, N>`](super::Priority) keeps the items
//! inline (`heapless::Vec<T, N>`); with the `std` feature, `std::vec::Vec<T>` is a
//! storage too (the std adapter's growable `Priority<T>` store). One algorithm, two
//! storages.
//!
//! # Algorithm and provenance
//! The array binary heap of J. W. J. Williams ("Algorithm 232: Heapsort", CACM 7(6),
//! 1964), as a min-heap with exactly the comparisons of CPython's `heapq` (`Lib/heapq.py`):
//! a push climbs from the new leaf while the item is `<` its parent (`_siftdown`); a pop
//! replaces the root by the last item and sinks it bottom-up (R. W. Floyd's variant,
//! `heapq._siftup`): first down the path of smaller children to a leaf (the right child
//! is taken unless the left one is `<` it), then back up while the last item is `<` the
//! item on the path. So items come out in the same order as from `heapq`, ties included.
//!
//! What differs from `heapq` (and from `std::collections::BinaryHeap` and
//! `heapless::BinaryHeap`) is *when* items move: every user comparison is made on the
//! untouched array first, and only the final position is kept; then the items are
//! moved along the one path that position defines (in a binary heap the path from the
//! root to a node is unique, so the position alone says which items move), with no
//! user code running.
//!
//! * push: the item's final position is found by comparing it with its would-be
//!   ancestors; then it is appended and the ancestors below that position shift down
//!   one level.
//! * pop: the last item's final position is found by the two walks above; then the root
//!   goes to the last index, the path items shift up one level and the last item takes
//!   its place, and the storage gives up its last element (the old root).
//!
//! # Panics
//! If a comparison panics, the heap is exactly as it was before the call: a push has not
//! stored its item (it is dropped with the unwind; a queue counts no task for it), a pop
//! has not removed anything (the smallest item is still on top). The std heaps, by
//! contrast, move items during the comparisons: their `Hole` keeps them memory-safe,
//! but a panicking push leaves the new item stored and a panicking pop has already
//! taken the smallest item out (and drops it with the unwind).
//!
//! # Costs
//! The comparisons of `heapq`, `O(log n)` per operation, and at most one move per level
//! (an item that settles halfway moves only the items above it). The moves happen in a
//! second pass over the path, so small items pay a little for the guarantee: measured on
//! the 2-core dev machine (1000 items, push + pop of random `u64` keys) about 13 ns per
//! pop against 10 ns for `heapless::BinaryHeap` (std's `BinaryHeap`: 16 ns), and up to
//! twice heapless' time when every push climbs to the root; for 48-byte items it is
//! faster than both (fewer moves).

use core::ptr;

/// Where a heap's items live: a vector that grows and shrinks at its end. Items
/// `0..len` form the heap; [`push`] and [`pop`] keep them in heap order.
///
/// Implemented for `heapless::Vec<T, N>` (inline, fixed capacity) and, with the `std`
/// feature, for `std::vec::Vec<T>`. An implementation must be a plain vector: the same
/// items in [`items`](Self::items) and [`items_mut`](Self::items_mut), `push_last`
/// appending at the end and `pop_last` removing the last one. One that is not only
/// scrambles the order (a logic error, never undefined behaviour).
pub trait HeapStorage {
    /// The item type.
    type Item;
    /// The stored items, in heap order.
    fn items(&self) -> &[Self::Item];
    /// The stored items, mutably.
    fn items_mut(&mut self) -> &mut [Self::Item];
    /// `true` when [`push_last`](Self::push_last) would refuse an item.
    fn is_full(&self) -> bool;
    /// Appends `item` after the last one, or hands it back when there is no room.
    ///
    /// # Errors
    /// `Err(item)` when full.
    fn push_last(&mut self, item: Self::Item) -> Result<(), Self::Item>;
    /// Removes and returns the last item.
    fn pop_last(&mut self) -> Option<Self::Item>;
}

impl<T, const N: usize> HeapStorage for heapless::Vec<T, N> {
    type Item = T;
    #[inline]
    fn items(&self) -> &[T] {
        self.as_slice()
    }
    #[inline]
    fn items_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
    #[inline]
    fn is_full(&self) -> bool {
        heapless::Vec::is_full(self)
    }
    #[inline]
    fn push_last(&mut self, item: T) -> Result<(), T> {
        self.push(item)
    }
    #[inline]
    fn pop_last(&mut self) -> Option<T> {
        self.pop()
    }
}

#[cfg(feature = "std")]
impl<T> HeapStorage for std::vec::Vec<T> {
    type Item = T;
    #[inline]
    fn items(&self) -> &[T] {
        self
    }
    #[inline]
    fn items_mut(&mut self) -> &mut [T] {
        self
    }
    #[inline]
    fn is_full(&self) -> bool {
        false
    }
    #[inline]
    fn push_last(&mut self, item: T) -> Result<(), T> {
        self.push(item);
        Ok(())
    }
    #[inline]
    fn pop_last(&mut self) -> Option<T> {
        self.pop()
    }
}

/// Adds `item` to the heap in `storage` (Python's `heapq.heappush`).
///
/// # Errors
/// `Err(item)` when the storage is full (checked before any comparison).
///
/// # Panics
/// If `item`'s `Ord` panics: then nothing was stored and `item` is dropped with the
/// unwind (see the [module docs](self)).
#[inline]
pub fn push<S>(storage: &mut S, item: S::Item) -> Result<(), S::Item>
where
    S: HeapStorage + ?Sized,
    S::Item: Ord,
{
    if storage.is_full() {
        return Err(item);
    }
    // All user code runs here, on the untouched heap.
    let pos = rise_to(storage.items(), &item);
    storage.push_last(item)?;
    settle_last_at(storage.items_mut(), pos);
    Ok(())
}

/// Removes and returns the smallest item (Python's `heapq.heappop`), `None` if empty.
///
/// # Panics
/// If an item's `Ord` panics: then nothing was removed (see the [module docs](self)).
#[inline]
pub fn pop<S>(storage: &mut S) -> Option<S::Item>
where
    S: HeapStorage + ?Sized,
    S::Item: Ord,
{
    if storage.items().is_empty() {
        return None;
    }
    // All user code runs here, on the untouched heap.
    let pos = sink_to(storage.items());
    root_to_end(storage.items_mut(), pos);
    storage.pop_last()
}

/// The smallest item, if any (Python's `heap[0]`).
#[inline]
pub fn peek<S: HeapStorage + ?Sized>(storage: &S) -> Option<&S::Item> {
    storage.items().first()
}

/// Where `item` settles when appended to `heap`: the lowest of its would-be ancestors
/// it is `<` (CPython's `_siftdown` comparisons). Compares only.
#[inline]
fn rise_to<T: Ord>(heap: &[T], item: &T) -> usize {
    let mut pos = heap.len();
    while pos > 0 {
        let parent = (pos - 1) / 2;
        // SAFETY: `parent < pos <= heap.len()`: in bounds.
        if *item < *unsafe { heap.get_unchecked(parent) } {
            pos = parent;
        } else {
            break;
        }
    }
    pos
}

/// Where the last item settles when it replaces the root of `heap` (non-empty):
/// CPython's `_siftup`, bottom-up. Compares only; `heap[..len - 1]` is the heap the
/// last item is sunk into, so the result is `0` or a position below `len - 1`.
#[inline]
fn sink_to<T: Ord>(heap: &[T]) -> usize {
    let Some((last, heap)) = heap.split_last() else {
        return 0;
    };
    let end = heap.len();
    // Down the path of smaller children to a leaf of `heap` (the right child unless
    // the left one is smaller, as `heapq`).
    let mut pos = 0;
    let mut child = 1;
    while child + 1 < end {
        // SAFETY: `child < child + 1 < end == heap.len()`: both in bounds.
        let (left, right) = unsafe { (heap.get_unchecked(child), heap.get_unchecked(child + 1)) };
        if left >= right {
            child += 1;
        }
        pos = child;
        child = 2 * pos + 1;
    }
    if child < end {
        // A left child without a sibling.
        pos = child;
    }
    // Back up while the last item is smaller than the one on the path (which would move
    // up past it).
    // SAFETY: `pos` is `0` or a child index `< end == heap.len()`, and only moves to
    // parents: in bounds whenever `pos > 0`.
    while pos > 0 && *last < *unsafe { heap.get_unchecked(pos) } {
        pos = (pos - 1) / 2;
    }
    pos
}

/// Moves the last item of `heap` to `pos`, shifting its ancestors from `pos` down one
/// level (the second half of [`push`]). Runs no user code.
#[inline]
fn settle_last_at<T>(heap: &mut [T], pos: usize) {
    let Some(last) = heap.len().checked_sub(1) else {
        return;
    };
    let base = heap.as_mut_ptr();
    // SAFETY: every index used is `last` or an ancestor of it (`hole` only moves to
    // parents and stops at `pos` or above), so all are below `len` and in bounds of
    // `heap`. The item read out of `last` leaves a hole there (a bitwise duplicate that
    // is never dropped); each copy moves the parent into the hole and makes the parent
    // the hole (distinct indices: no overlap); the final write fills the hole with the
    // item. So the slice ends up a permutation of itself: no item is lost or
    // duplicated. Nothing in between can panic (no user code, no allocation, and the
    // index arithmetic cannot overflow), so the hole is always filled.
    unsafe {
        let item = ptr::read(base.add(last));
        let mut hole = last;
        while hole > pos {
            let parent = (hole - 1) / 2;
            ptr::copy_nonoverlapping(base.add(parent), base.add(hole), 1);
            hole = parent;
        }
        ptr::write(base.add(hole), item);
    }
}

/// Moves the root of `heap` to its last index, the items on the path from the root to
/// `pos` up one level, and the last item to `pos` (the second half of [`pop`]; the
/// caller then removes the last element, the old root). Runs no user code.
#[inline]
fn root_to_end<T>(heap: &mut [T], pos: usize) {
    let Some(end) = heap.len().checked_sub(1) else {
        return;
    };
    if end == 0 {
        // The root is the last item already.
        return;
    }
    // `sink_to` returns 0 or a position below `end`; anything else could only come from
    // a storage whose two slices differ (a logic error): keep the move a permutation.
    let pos = if pos < end { pos } else { 0 };
    // The path from the root to `pos`, top down: in 1-based numbering the ancestor of
    // node `n` at depth `d` is `n >> (depth(n) - d)`.
    let node = pos + 1;
    let depth = usize::BITS - 1 - node.leading_zeros();
    let base = heap.as_mut_ptr();
    // SAFETY: `0`, `end` and every path index (an ancestor of `pos`, or `pos`, all
    // `<= pos < end`) are below `len`, so in bounds. The root and the last item are read
    // out, leaving two holes (`0` and `end`, distinct since `end > 0`; their bitwise
    // duplicates are never dropped); each copy moves a path item up into the hole its
    // parent left (distinct indices: no overlap) and makes its own index the hole, which
    // ends at `pos`; the last item fills it, and the root fills the hole at `end` (not
    // on the path, since every path index is `< end`). So the slice ends up a
    // permutation of itself. Nothing in between can panic (no user code, no allocation,
    // no overflow: `depth < usize::BITS`), so both holes are always filled.
    unsafe {
        let root = ptr::read(base);
        let last = ptr::read(base.add(end));
        let mut hole = 0;
        for d in 1..=depth {
            let next = (node >> (depth - d)) - 1;
            ptr::copy_nonoverlapping(base.add(next), base.add(hole), 1);
            hole = next;
        }
        ptr::write(base.add(hole), last);
        ptr::write(base.add(end), root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type V = heapless::Vec<u32, 64>;

    fn is_heap(v: &[u32]) -> bool {
        (1..v.len()).all(|i| v[(i - 1) / 2] <= v[i])
    }

    #[test]
    fn push_and_pop_keep_heap_order_and_return_smallest_first() {
        let mut v = V::new();
        let mut x = 12345u32;
        for _ in 0..64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            push(&mut v, (x >> 16) % 50).unwrap();
            assert!(is_heap(&v));
        }
        assert_eq!(push(&mut v, 1), Err(1));
        let mut last = 0;
        while let Some(min) = pop(&mut v) {
            assert!(min >= last);
            assert!(is_heap(&v));
            last = min;
        }
    }

    #[test]
    fn root_to_end_path_is_computed_top_down() {
        // Path to index 9 (1-based 10 = 0b1010): 0 -> 1 -> 4 -> 9.
        let mut v: [u32; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        root_to_end(&mut v, 9);
        assert_eq!(v, [1, 4, 2, 3, 9, 5, 6, 7, 8, 11, 10, 0]);
    }
}
