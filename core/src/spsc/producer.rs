//! The writing handle, [`Producer`].

use crate::atomic::Ordering;
use crate::wait::{DefaultWait, WaitStrategy};

#[cfg(not(loom))]
use super::chunks::WriteChunkIn;
use super::ring::Flags;
use super::storage::{Slot, SlotStorage};
#[cfg(not(loom))]
use super::ChunkError;
use super::{PushError, SpscRingIn};

/// The writing handle of an [`SpscRing`](super::SpscRing) (unique: obtained from
/// [`SpscRing::split`](SpscRingIn::split) or [`SpscRing::take`](SpscRingIn::take)).
///
/// It is `Send` when `T: Send`. Dropping it marks the ring abandoned and wakes a
/// blocked consumer.
pub type Producer<'a, T, const N: usize, W = DefaultWait> = ProducerIn<'a, T, [Slot<T>; N], W>;

/// The writing handle of an [`SpscRingIn`] over any [`SlotStorage`] `S`: the type
/// behind [`Producer`] (inline ring) and [`ShmProducer`](super::ShmProducer)
/// (run-time capacity). See [`Producer`] for the methods' documentation.
pub struct ProducerIn<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    pub(super) ring: &'a SpscRingIn<T, S, W>,
    /// Our position (the shared `tail` always equals it between operations).
    pub(super) tail: usize,
    /// The consumer's position as last seen: never ahead of the real one.
    pub(super) cached_head: usize,
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> ProducerIn<'a, T, S, W> {
    /// Free slots per the cached head; reloads the shared head only when fewer than
    /// `want` are free.
    #[inline(always)]
    pub(super) fn free_for(&mut self, want: usize) -> usize {
        let free = self.ring.cap() - self.ring.distance(self.cached_head, self.tail);
        if free >= want {
            return free;
        }
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        self.ring.cap() - self.ring.distance(self.cached_head, self.tail)
    }

    /// Publishes `n` slots written from our position on.
    #[inline(always)]
    pub(super) fn publish(&mut self, n: usize) {
        self.tail = self.ring.advance(self.tail, n);
        // (`conkit_mutant`: a broken variant the loom models must catch, see lib.rs.)
        let publish = if cfg!(conkit_mutant = "spsc_tail_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.ring.tail.store(self.tail, publish);
    }

    /// Writes `v` into the slot at our position and publishes it.
    ///
    /// # Safety
    /// A slot must be free (`free_for(1) >= 1` was observed).
    #[inline(always)]
    pub(super) unsafe fn write_one(&mut self, v: T) {
        let slot = self.ring.slot(self.tail);
        // SAFETY: the slot is free (caller), so the consumer does not touch it until we
        // publish it below.
        unsafe { self.ring.cell(slot).with_mut(|p| (*p).write(v)) };
        self.publish(1);
        if self.ring.prefetches() && self.ring.starts_line(slot) {
            let free = self.ring.cap() - self.ring.distance(self.cached_head, self.tail);
            self.ring.claim_ahead(self.tail, free);
        }
    }

    /// `Some(true)`: a slot is free; `Some(false)`: full and the consumer is gone;
    /// `None`: full.
    #[inline]
    pub(super) fn poll_room(&mut self) -> Option<bool> {
        if self.free_for(1) > 0 {
            Some(true)
        } else if self.ring.flags.consumer_gone.load(Ordering::Acquire) {
            // Re-check: a pop published just before the consumer left still counts.
            Some(self.free_for(1) > 0)
        } else {
            None
        }
    }

    /// Pushes `v` if a slot is free. Wait-free; never notifies (see the module docs).
    ///
    /// Fails with [`PushError::Full`], or [`PushError::Disconnected`] when the ring is
    /// full and the consumer is gone. While slots are free it succeeds even after the
    /// consumer was dropped (the item is then dropped with the ring); check
    /// [`is_abandoned`](Self::is_abandoned) if that matters.
    #[inline]
    pub fn try_push(&mut self, v: T) -> Result<(), PushError<T>> {
        match self.poll_room() {
            Some(true) => {
                // SAFETY: `poll_room` saw a free slot; only we can fill it.
                unsafe { self.write_one(v) };
                Ok(())
            }
            Some(false) => Err(PushError::Disconnected(v)),
            None => Err(PushError::Full(v)),
        }
    }

    /// Pushes `v`, waiting (strategy `W`) while the ring is full, then notifies the
    /// consumer.
    ///
    /// Fails with [`PushError::Disconnected`] if the consumer is gone (checked first,
    /// and while waiting).
    #[inline]
    pub fn push(&mut self, v: T) -> Result<(), PushError<T>> {
        self.push_inner(v, None)
    }

    /// Pushes `v`, waiting asynchronously while the ring is full (feature `async`), then
    /// notifies the consumer — a thread blocked in [`Consumer::pop`](crate::spsc::Consumer::pop)
    /// or a task in [`Consumer::pop_async`](crate::spsc::Consumer::pop_async) alike. The
    /// task parks on the ring's own not-full event count ([`Waiters::poll_async`](crate::wait::Waiters::poll_async)), so a
    /// consumer thread's plain `pop` (or its `notify` after `try_pop`s) wakes it.
    ///
    /// Fails with [`PushError::Disconnected`] if the consumer is gone. Cancel-safe: the
    /// item enters the ring in the poll that completes the future; dropped before, the
    /// item is dropped with it and nothing stays parked.
    ///
    /// ```
    /// use conkit_core::spsc::SpscRing;
    ///
    /// let mut ring: SpscRing<u8, 2> = SpscRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// let task = async move {
    ///     tx.push_async(7).await.unwrap();
    ///     assert_eq!(rx.pop_async().await, Ok(7));
    /// };
    /// # let _ = task;
    /// ```
    #[cfg(feature = "async")]
    pub async fn push_async(&mut self, v: T) -> Result<(), PushError<T>> {
        let ring = self.ring;
        if ring.flags.consumer_gone.load(Ordering::Acquire) {
            return Err(PushError::Disconnected(v));
        }
        let mut slot = crate::asynch::TaskSlot::new();
        let room = core::future::poll_fn(|cx| {
            ring.not_full.poll_async(&mut slot, cx, || self.poll_room())
        })
        .await;
        if !room {
            return Err(PushError::Disconnected(v));
        }
        // SAFETY: `poll_room` saw a free slot; only we can fill it, and nothing ran in
        // between (no await point).
        unsafe { self.write_one(v) };
        ring.not_empty.notify_one();
        Ok(())
    }

    /// [`push`](Self::push) bounded by `deadline`: [`PushError::Full`] if the ring is
    /// still full at the deadline.
    #[inline]
    pub fn push_until(&mut self, v: T, deadline: W::Deadline) -> Result<(), PushError<T>> {
        self.push_inner(v, Some(deadline))
    }

    #[inline]
    pub(super) fn push_inner(
        &mut self,
        v: T,
        deadline: Option<W::Deadline>,
    ) -> Result<(), PushError<T>> {
        let ring = self.ring;
        if ring.flags.consumer_gone.load(Ordering::Acquire) {
            return Err(PushError::Disconnected(v));
        }
        let polled = ring.not_full.wait_until_probing(deadline, |probe| {
            match self.poll_room() {
                // A whole slice without room: is the consumer's process still there?
                None if probe && Flags::owner_dead::<W>(&ring.flags.consumer_owner) => {
                    ring.flags.consumer_gone.store(true, Ordering::Release);
                    Some(self.free_for(1) > 0)
                }
                polled => polled,
            }
        });
        match polled {
            Some(true) => {
                // SAFETY: `poll_room` saw a free slot; only we can fill it.
                unsafe { self.write_one(v) };
                ring.not_empty.notify_one();
                Ok(())
            }
            Some(false) => Err(PushError::Disconnected(v)),
            None => Err(PushError::Full(v)),
        }
    }

    /// Copies as many items of `src` as fit (from the front), publishes them with one
    /// index store and returns how many. Wait-free; never notifies.
    #[inline]
    pub fn push_slice(&mut self, src: &[T]) -> usize
    where
        T: Copy,
    {
        let n = self.free_for(src.len()).min(src.len());
        if n == 0 {
            return 0;
        }
        // SAFETY: `n` slots from our position are free and only we can fill them.
        unsafe { self.ring.copy_in(self.tail, &src[..n]) };
        self.publish(n);
        let free = self.ring.cap() - self.ring.distance(self.cached_head, self.tail);
        self.ring.claim_lines(self.tail, n, free);
        n
    }

    /// Reserves exactly `n` free slots for zero-copy writing: fill them through
    /// [`WriteChunk::as_mut_slices`](super::WriteChunkIn::as_mut_slices) and publish a prefix with [`WriteChunk::commit`](super::WriteChunkIn::commit)
    /// (or use the safe [`WriteChunk::fill_from_iter`](super::WriteChunkIn::fill_from_iter)). Wait-free; never notifies.
    ///
    /// Fails with [`ChunkError::TooFewSlots`] (giving the free count) when fewer than
    /// `n` slots are free. Not available under `cfg(loom)` (raw slices).
    #[cfg(not(loom))]
    #[inline]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunkIn<'_, T, S, W>, ChunkError> {
        let free = self.free_for(n);
        if free < n {
            return Err(ChunkError::TooFewSlots(free));
        }
        Ok(WriteChunkIn {
            ring: self.ring,
            tail: &mut self.tail,
            len: n,
        })
    }

    /// Items in the ring (exact for our side: the consumer can only make it smaller).
    #[inline]
    pub fn len(&self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        self.ring.distance(head, self.tail)
    }

    /// Free slots (the consumer can only make it larger).
    #[inline]
    pub fn free_len(&self) -> usize {
        self.ring.cap() - self.len()
    }

    /// `true` once the consumer has been dropped.
    #[inline]
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.consumer_gone.load(Ordering::Acquire)
    }

    /// Wakes a consumer blocked in [`Consumer::pop`](crate::spsc::Consumer::pop) / [`Consumer::pop_until`](crate::spsc::Consumer::pop_until); for
    /// producers that use only the wait-free forms with a sleeping strategy (see the
    /// module docs). Costs a `SeqCst` fence, plus a wake-up if someone sleeps.
    #[inline]
    pub fn notify(&self) {
        self.ring.not_empty.notify_one();
    }

    /// Marks the producer gone and wakes the consumer (idempotent).
    pub(super) fn abandon(&self) {
        self.ring.flags.producer_gone.store(true, Ordering::Release);
        self.ring.not_empty.notify_all();
    }
}

end_common!(ProducerIn, "Producer");
