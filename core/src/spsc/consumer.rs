//! The reading handle, [`Consumer`].

use crate::atomic::Ordering;
use crate::wait::{DefaultWait, WaitStrategy};

#[cfg(not(loom))]
use super::chunks::ReadChunkIn;
use super::ring::Flags;
use super::storage::{Slot, SlotStorage};
#[cfg(not(loom))]
use super::ChunkError;
use super::{PopError, SpscRingIn};

/// The reading handle of an [`SpscRing`](super::SpscRing) (unique: obtained from
/// [`SpscRing::split`](SpscRingIn::split) or [`SpscRing::take`](SpscRingIn::take)).
///
/// It is `Send` when `T: Send` (and `Sync` only when also `T: Sync`, because
/// [`peek`](Self::peek) hands out `&T`). Dropping it marks the ring abandoned and wakes
/// a blocked producer; items left in the ring are dropped with the ring.
pub type Consumer<'a, T, const N: usize, W = DefaultWait> = ConsumerIn<'a, T, [Slot<T>; N], W>;

/// The reading handle of an [`SpscRingIn`] over any [`SlotStorage`] `S`: the type
/// behind [`Consumer`] (inline ring) and [`ShmConsumer`](super::ShmConsumer)
/// (run-time capacity). See [`Consumer`] for the methods' documentation.
pub struct ConsumerIn<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    pub(super) ring: &'a SpscRingIn<T, S, W>,
    /// Our position (the shared `head` always equals it between operations).
    pub(super) head: usize,
    /// The producer's position as last seen: never ahead of the real one.
    pub(super) cached_tail: usize,
}

// SAFETY: `&Consumer` gives access to `&T` (`peek`), so sharing it across threads needs
// `T: Sync`; everything else reachable through `&Consumer` is atomics. This explicit
// impl replaces the auto impl, which would only require `T: Send`.
unsafe impl<T: Send + Sync, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Sync
    for ConsumerIn<'_, T, S, W>
{
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> ConsumerIn<'a, T, S, W> {
    /// Items available per the cached tail; reloads the shared tail only when fewer than
    /// `want` are cached, prefetching first the line of the slot it waits for (so that
    /// a reload that shows the item finds that line already on its way).
    #[inline(always)]
    pub(super) fn available_for(&mut self, want: usize) -> usize {
        let n = self.ring.distance(self.head, self.cached_tail);
        if n >= want {
            return n;
        }
        self.ring.fetch_polled(self.ring.advance(self.head, n));
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        self.ring.distance(self.head, self.cached_tail)
    }

    /// `Some(true)`: an item is available; `Some(false)`: empty and the producer is
    /// gone; `None`: empty.
    #[inline]
    pub(super) fn poll_item(&mut self) -> Option<bool> {
        if self.available_for(1) > 0 {
            Some(true)
        } else if self.ring.flags.producer_gone.load(Ordering::Acquire) {
            // Re-check: items published just before the producer left are delivered.
            Some(self.available_for(1) > 0)
        } else {
            None
        }
    }

    /// Releases `n` slots read from our position on.
    #[inline(always)]
    pub(super) fn release(&mut self, n: usize) {
        self.head = self.ring.advance(self.head, n);
        let release = if cfg!(conkit_mutant = "spsc_head_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.ring.head.store(self.head, release);
    }

    /// Moves the item at our position out and releases its slot.
    ///
    /// # Safety
    /// An item must be available (`available_for(1) >= 1` was observed).
    #[inline(always)]
    pub(super) unsafe fn read_one(&mut self) -> T {
        let slot = self.ring.slot(self.head);
        // SAFETY: the slot holds an initialized item (caller) that the producer does
        // not touch until we release it below; it is moved out exactly once.
        let v = unsafe { self.ring.cell(slot).with(|p| (*p).assume_init_read()) };
        self.release(1);
        if self.ring.prefetches() && self.ring.starts_line(slot) {
            let more = self.ring.distance(self.head, self.cached_tail);
            self.ring.fetch_ahead(self.head, more);
        }
        v
    }

    /// Pops the oldest item if any. Wait-free; never notifies (see the module docs).
    ///
    /// Fails with [`PopError::Empty`], or [`PopError::Disconnected`] when the ring is
    /// empty and the producer is gone.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        match self.poll_item() {
            // SAFETY: `poll_item` saw an item; only we can take it.
            Some(true) => Ok(unsafe { self.read_one() }),
            Some(false) => Err(PopError::Disconnected),
            None => Err(PopError::Empty),
        }
    }

    /// Pops the oldest item, waiting (strategy `W`) while the ring is empty, then
    /// notifies the producer.
    ///
    /// Fails only with [`PopError::Disconnected`]: the ring is empty and the producer is
    /// gone (items pushed before it left are still delivered first).
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        self.pop_inner(None)
    }

    /// Pops the oldest item, waiting asynchronously while the ring is empty (feature
    /// `async`), then notifies the producer — a thread blocked in
    /// [`Producer::push`](crate::spsc::Producer::push) or a task in
    /// [`Producer::push_async`](crate::spsc::Producer::push_async) alike. The task parks
    /// on the ring's own not-empty event count ([`Waiters::poll_async`](crate::wait::Waiters::poll_async)), so a producer
    /// thread's plain `push` (or its `notify` after `try_push`es, e.g. at the end of an
    /// interrupt handler) wakes it.
    ///
    /// Fails only with [`PopError::Disconnected`] (empty and the producer is gone).
    /// Cancel-safe: the item leaves the ring in the poll that completes the future.
    ///
    /// ```
    /// use conkit_core::spsc::SpscRing;
    ///
    /// let mut ring: SpscRing<u8, 2> = SpscRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.try_push(3).unwrap();
    /// let task = async move { assert_eq!(rx.pop_async().await, Ok(3)) };
    /// # let _ = task;
    /// ```
    #[cfg(feature = "async")]
    pub async fn pop_async(&mut self) -> Result<T, PopError> {
        let ring = self.ring;
        let mut slot = crate::asynch::TaskSlot::new();
        let available = core::future::poll_fn(|cx| {
            ring.not_empty
                .poll_async(&mut slot, cx, || self.poll_item())
        })
        .await;
        if !available {
            return Err(PopError::Disconnected);
        }
        // SAFETY: `poll_item` saw an item; only we can take it, and nothing ran in
        // between (no await point).
        let v = unsafe { self.read_one() };
        ring.not_full.notify_one();
        Ok(v)
    }

    /// [`pop`](Self::pop) bounded by `deadline`: [`PopError::Empty`] if the ring is still
    /// empty at the deadline.
    #[inline]
    pub fn pop_until(&mut self, deadline: W::Deadline) -> Result<T, PopError> {
        self.pop_inner(Some(deadline))
    }

    #[inline]
    pub(super) fn pop_inner(&mut self, deadline: Option<W::Deadline>) -> Result<T, PopError> {
        let ring = self.ring;
        let polled = ring.not_empty.wait_until_probing(deadline, |probe| {
            match self.poll_item() {
                // A whole slice without news: is the producer's process still there?
                None if probe && Flags::owner_dead::<W>(&ring.flags.producer_owner) => {
                    // Gone without dropping its handle: abandon the ring in its place.
                    // Items it published before it died are still delivered.
                    ring.flags.producer_gone.store(true, Ordering::Release);
                    Some(self.available_for(1) > 0)
                }
                polled => polled,
            }
        });
        match polled {
            Some(true) => {
                // SAFETY: `poll_item` saw an item; only we can take it.
                let v = unsafe { self.read_one() };
                ring.not_full.notify_one();
                Ok(v)
            }
            Some(false) => Err(PopError::Disconnected),
            None => Err(PopError::Empty),
        }
    }

    /// The oldest item, without removing it.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        let mut tail = self.cached_tail;
        if tail == self.head {
            tail = self.ring.tail.load(Ordering::Acquire);
            if tail == self.head {
                return None;
            }
        }
        let slot = self.ring.slot(self.head);
        // SAFETY: the slot holds an initialized item the producer does not touch until
        // we release it, which needs `&mut self`, so not while the `&T` lives.
        Some(unsafe { self.ring.cell(slot).with(|p| (*p).assume_init_ref()) })
    }

    /// Moves as many items as available into the front of `dst`, releases their slots
    /// with one index store and returns how many. Wait-free; never notifies.
    #[inline]
    pub fn pop_slice(&mut self, dst: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = self.available_for(dst.len()).min(dst.len());
        if n == 0 {
            return 0;
        }
        // SAFETY: `n` items from our position are available and only we read them.
        unsafe { self.ring.copy_out(self.head, &mut dst[..n]) };
        self.release(n);
        n
    }

    /// Borrows exactly `n` available items in place (two slices, because the ring
    /// wraps); [`ReadChunk::commit`](super::ReadChunkIn::commit) removes a prefix of them, and iterating the chunk
    /// by value moves them out. Wait-free; never notifies.
    ///
    /// Fails with [`ChunkError::TooFewSlots`] (giving the item count) when fewer than
    /// `n` items are available. Not available under `cfg(loom)` (raw slices).
    #[cfg(not(loom))]
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunkIn<'_, T, S, W>, ChunkError> {
        let available = self.available_for(n);
        if available < n {
            return Err(ChunkError::TooFewSlots(available));
        }
        Ok(ReadChunkIn {
            ring: self.ring,
            head: &mut self.head,
            len: n,
        })
    }

    /// Items in the ring (exact for our side: the producer can only make it larger).
    #[inline]
    pub fn len(&self) -> usize {
        let tail = self.ring.tail.load(Ordering::Acquire);
        self.ring.distance(self.head, tail)
    }

    /// `true` once the producer has been dropped (items may still be in the ring).
    #[inline]
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.producer_gone.load(Ordering::Acquire)
    }

    /// Wakes a producer blocked in [`Producer::push`](crate::spsc::Producer::push) / [`Producer::push_until`](crate::spsc::Producer::push_until); for
    /// consumers that use only the wait-free forms with a sleeping strategy (see the
    /// module docs). Costs a `SeqCst` fence, plus a wake-up if someone sleeps.
    #[inline]
    pub fn notify(&self) {
        self.ring.not_full.notify_one();
    }

    /// Marks the consumer gone and wakes the producer (idempotent).
    pub(super) fn abandon(&self) {
        self.ring.flags.consumer_gone.store(true, Ordering::Release);
        self.ring.not_full.notify_all();
    }
}

end_common!(ConsumerIn, "Consumer");
