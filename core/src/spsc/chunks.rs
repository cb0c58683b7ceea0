//! Zero-copy chunks: [`WriteChunk`], [`ReadChunk`], [`ReadChunkIntoIter`] (not under
//! `cfg(loom)`: raw slices).

#![cfg(not(loom))]

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;

use crate::atomic::Ordering;
use crate::wait::{DefaultWait, WaitStrategy};

use super::storage::{Slot, SlotStorage};
use super::SpscRingIn;

/// `n` reserved free slots of the ring, from [`Producer::write_chunk`](crate::spsc::Producer::write_chunk).
///
/// Nothing is published until [`commit`](Self::commit),
/// [`commit_all`](Self::commit_all) or [`fill_from_iter`](Self::fill_from_iter);
/// dropping the chunk publishes nothing (and drops nothing: the slots are uninitialized).
#[cfg(not(loom))]
pub type WriteChunk<'c, T, const N: usize, W = DefaultWait> = WriteChunkIn<'c, T, [Slot<T>; N], W>;

/// [`WriteChunk`] over any [`SlotStorage`] `S` (the type behind it; see [`WriteChunk`]).
#[cfg(not(loom))]
pub struct WriteChunkIn<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    pub(super) ring: &'c SpscRingIn<T, S, W>,
    /// The producer's position, advanced on commit.
    pub(super) tail: &'c mut usize,
    pub(super) len: usize,
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> WriteChunkIn<'_, T, S, W> {
    /// The number of reserved slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if no slot was reserved.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved slots, in order: the second slice is non-empty only when the
    /// reservation wraps around the end of the buffer.
    #[inline]
    pub fn as_mut_slices(&mut self) -> (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) {
        let (start, a, b) = self.ring.runs(*self.tail, self.len);
        let base = self.ring.base();
        // SAFETY: the runs lie in `[0, N)`, are disjoint, and are free slots reserved for
        // this chunk (the consumer does not touch them until they are published, which
        // needs `self` by value); the borrows are tied to `&mut self`.
        unsafe {
            (
                core::slice::from_raw_parts_mut(base.add(start), a),
                core::slice::from_raw_parts_mut(base, b),
            )
        }
    }

    /// Publishes the first `k` slots (`k` is clamped to [`len`](Self::len)) with one
    /// index store. Never notifies.
    ///
    /// # Safety
    /// The first `k` slots (in [`as_mut_slices`](Self::as_mut_slices) order) must have
    /// been initialized.
    #[inline]
    pub unsafe fn commit(self, k: usize) {
        let k = k.min(self.len);
        *self.tail = self.ring.advance(*self.tail, k);
        self.ring.tail.store(*self.tail, Ordering::Release);
    }

    /// Publishes every reserved slot.
    ///
    /// # Safety
    /// Every slot must have been initialized.
    #[inline]
    pub unsafe fn commit_all(self) {
        let len = self.len;
        // SAFETY: forwarded to the caller.
        unsafe { self.commit(len) }
    }

    /// Moves items from `iter` into the reserved slots until either runs out, publishes
    /// them and returns how many. Safe. Never notifies.
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(mut self, iter: I) -> usize {
        let mut iter = iter.into_iter();
        let mut written = 0;
        {
            let (first, second) = self.as_mut_slices();
            for slot in first.iter_mut().chain(second.iter_mut()) {
                match iter.next() {
                    Some(v) => {
                        slot.write(v);
                        written += 1;
                    }
                    None => break,
                }
            }
        }
        // SAFETY: exactly the first `written` slots were initialized above.
        unsafe { self.commit(written) };
        written
    }
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> fmt::Debug for WriteChunkIn<'_, T, S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("len", &self.len)
            .finish()
    }
}

/// `n` items borrowed in place from the ring, from [`Consumer::read_chunk`](crate::spsc::Consumer::read_chunk).
///
/// [`commit`](Self::commit) drops a prefix and frees its slots; iterating the chunk by
/// value moves the items out (the slots of the items taken are freed when the iterator
/// is dropped). Dropping the chunk without committing leaves every item in the ring.
#[cfg(not(loom))]
pub type ReadChunk<'c, T, const N: usize, W = DefaultWait> = ReadChunkIn<'c, T, [Slot<T>; N], W>;

/// [`ReadChunk`] over any [`SlotStorage`] `S` (the type behind it; see [`ReadChunk`]).
#[cfg(not(loom))]
pub struct ReadChunkIn<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    pub(super) ring: &'c SpscRingIn<T, S, W>,
    /// The consumer's position, advanced on commit.
    pub(super) head: &'c mut usize,
    pub(super) len: usize,
}

// SAFETY: `&ReadChunk` hands out `&T` (`as_slices`), so sharing it needs `T: Sync`; this
// explicit impl replaces the auto impl, which would only require `T: Send`.
#[cfg(not(loom))]
unsafe impl<T: Send + Sync, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Sync
    for ReadChunkIn<'_, T, S, W>
{
}

/// Frees the slots up to `new_head` when dropped, even while unwinding from a panicking
/// `T::drop` (the items were dropped or moved out, so they must never be read again).
#[cfg(not(loom))]
pub(super) struct ReleaseOnDrop<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> {
    pub(super) ring: &'c SpscRingIn<T, S, W>,
    pub(super) head: &'c mut usize,
    pub(super) new_head: usize,
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Drop for ReleaseOnDrop<'_, T, S, W> {
    #[inline]
    fn drop(&mut self) {
        *self.head = self.new_head;
        self.ring.head.store(self.new_head, Ordering::Release);
    }
}

#[cfg(not(loom))]
impl<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> ReadChunkIn<'c, T, S, W> {
    /// The number of borrowed items.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if no item was borrowed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items, oldest first: the second slice is non-empty only when they wrap
    /// around the end of the buffer.
    #[inline]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let (start, a, b) = self.ring.runs(*self.head, self.len);
        let base = self.ring.base().cast::<T>().cast_const();
        // SAFETY: the runs lie in `[0, N)` and hold initialized items that the producer
        // does not touch until they are released (which needs `self` by value).
        unsafe {
            (
                core::slice::from_raw_parts(base.add(start), a),
                core::slice::from_raw_parts(base, b),
            )
        }
    }

    /// The items, mutably, oldest first (see [`as_slices`](Self::as_slices)).
    #[inline]
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let (start, a, b) = self.ring.runs(*self.head, self.len);
        let base = self.ring.base().cast::<T>();
        // SAFETY: as in `as_slices`; the runs are disjoint and the borrows are tied to
        // `&mut self`.
        unsafe {
            (
                core::slice::from_raw_parts_mut(base.add(start), a),
                core::slice::from_raw_parts_mut(base, b),
            )
        }
    }

    /// Drops the first `k` items (`k` is clamped to [`len`](Self::len)) and frees their
    /// slots with one index store. Never notifies.
    #[inline]
    pub fn commit(self, k: usize) {
        let k = k.min(self.len);
        let (start, a, b) = self.ring.runs(*self.head, k);
        let new_head = self.ring.advance(*self.head, k);
        let base = self.ring.base().cast::<T>();
        let _release = ReleaseOnDrop {
            ring: self.ring,
            head: self.head,
            new_head,
        };
        if core::mem::needs_drop::<T>() {
            // SAFETY: the runs hold the first `k` items, initialized and ours; each is
            // dropped once, and `_release` frees their slots afterwards (also on unwind,
            // so a panicking `drop` cannot lead to a second drop).
            unsafe {
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(base.add(start), a));
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(base, b));
            }
        }
    }

    /// Drops every borrowed item and frees their slots.
    #[inline]
    pub fn commit_all(self) {
        let len = self.len;
        self.commit(len);
    }
}

#[cfg(not(loom))]
impl<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> IntoIterator for ReadChunkIn<'c, T, S, W> {
    type Item = T;
    type IntoIter = ReadChunkIntoIterIn<'c, T, S, W>;

    /// Moves the items out, oldest first; their slots are freed when the iterator is
    /// dropped (one index store).
    fn into_iter(self) -> Self::IntoIter {
        let start = *self.head;
        ReadChunkIntoIterIn {
            release: ReleaseOnDrop {
                ring: self.ring,
                head: self.head,
                new_head: start,
            },
            remaining: self.len,
        }
    }
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> fmt::Debug for ReadChunkIn<'_, T, S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}

/// Moves the items of a [`ReadChunk`] out of the ring; frees the slots of the items
/// taken when dropped. Items not taken stay in the ring.
#[cfg(not(loom))]
pub type ReadChunkIntoIter<'c, T, const N: usize, W = DefaultWait> =
    ReadChunkIntoIterIn<'c, T, [Slot<T>; N], W>;

/// [`ReadChunkIntoIter`] over any [`SlotStorage`] `S` (the type behind it; see [`ReadChunkIntoIter`]).
#[cfg(not(loom))]
pub struct ReadChunkIntoIterIn<'c, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    /// `new_head`: the position after the last item taken.
    pub(super) release: ReleaseOnDrop<'c, T, S, W>,
    pub(super) remaining: usize,
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Iterator for ReadChunkIntoIterIn<'_, T, S, W> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        let pos = self.release.new_head;
        let slot = self.release.ring.slot(pos);
        // SAFETY: the slot holds an item of the chunk not yet taken; it is moved out once
        // and `new_head` moves past it at once, so it is never read or dropped again.
        let v = unsafe {
            self.release
                .ring
                .cell(slot)
                .with(|p| (*p).assume_init_read())
        };
        self.release.new_head = self.release.ring.advance(pos, 1);
        self.remaining -= 1;
        Some(v)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> ExactSizeIterator
    for ReadChunkIntoIterIn<'_, T, S, W>
{
}

#[cfg(not(loom))]
impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> fmt::Debug
    for ReadChunkIntoIterIn<'_, T, S, W>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunkIntoIter")
            .field("remaining", &self.remaining)
            .finish()
    }
}
