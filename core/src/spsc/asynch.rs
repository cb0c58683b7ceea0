//! The older async front end (feature `async`): [`AsyncProducer`], [`AsyncConsumer`],
//! the handles of an [`Async`]-wrapped ring, kept for compatibility (firmware and the
//! wasm demo use them).
//!
//! They are thin fronts over the plain handles' own async forms
//! ([`Producer::push_async`](super::Producer::push_async),
//! [`Consumer::pop_async`](super::Consumer::pop_async)): a task parks on the ring's own
//! event counts, so a thread using the plain blocking `push`/`pop` (or the wait-free
//! forms followed by `notify`) wakes it, and the wrapper's
//! [`WakerSet`](crate::asynch::WakerSet) is no longer used.

use core::fmt;
use core::ops::Deref;

use super::storage::{Slot, SlotStorage};
use super::{ConsumerIn, PopError, ProducerIn, PushError, SpscRingIn};
use crate::asynch::Async;
use crate::wait::{DefaultWait, WaitStrategy};

impl<T, S: SlotStorage<T>, W: WaitStrategy, const K: usize> Async<SpscRingIn<T, S, W>, K> {
    /// Splits into async producer and consumer handles (see [`SpscRing::split`](SpscRingIn::split)).
    ///
    /// ```
    /// use conkit_core::asynch::Async;
    /// use conkit_core::spsc::SpscRing;
    ///
    /// let mut ring: Async<SpscRing<u8, 4>> = Async::new(SpscRing::new());
    /// let (mut tx, mut rx) = ring.split();
    /// let fut = async move {
    ///     tx.push(7).await.unwrap();
    ///     assert_eq!(rx.pop().await, Ok(7));
    /// };
    /// # let _ = fut;
    /// ```
    pub fn split(
        &mut self,
    ) -> (
        AsyncProducerIn<'_, T, S, W, K>,
        AsyncConsumerIn<'_, T, S, W, K>,
    ) {
        // SAFETY: `&mut self` proves that no other handle of the inner ring exists
        // (same argument as `SpscRing::split`: the only other ways to get handles
        // are a `split` borrowing this wrapper mutably and a `take` needing a
        // `&'static` shared borrow).
        let (p, c) = unsafe { self.inner().split_unchecked() };
        (AsyncProducerIn { inner: p }, AsyncConsumerIn { inner: c })
    }

    /// Hands out the async handles of a `static` ring exactly once (shares the
    /// once-flag of [`SpscRing::take`](SpscRingIn::take)).
    #[allow(clippy::type_complexity)]
    pub fn take(
        &'static self,
    ) -> Option<(
        AsyncProducerIn<'static, T, S, W, K>,
        AsyncConsumerIn<'static, T, S, W, K>,
    )> {
        self.inner()
            .take()
            .map(|(p, c)| (AsyncProducerIn { inner: p }, AsyncConsumerIn { inner: c }))
    }
}

/// The async writing handle: a [`Producer`](super::Producer) whose `push` awaits.
///
/// Read-only queries (`len`, `is_full`, `is_abandoned`, …) come from the inner
/// [`Producer`](super::Producer) through `Deref`. Every state change made through this handle wakes
/// the consumer, task or thread. Dropping it wakes them too (the consumer's `pop`
/// then returns `Disconnected` once the ring is drained).
pub type AsyncProducer<'a, T, const N: usize, W = DefaultWait, const K: usize = 4> =
    AsyncProducerIn<'a, T, [Slot<T>; N], W, K>;

/// [`AsyncProducer`] over any [`SlotStorage`] `S` (the type behind it; see [`AsyncProducer`]).
pub struct AsyncProducerIn<
    'a,
    T,
    S: SlotStorage<T> + ?Sized,
    W: WaitStrategy = DefaultWait,
    const K: usize = 4,
> {
    inner: ProducerIn<'a, T, S, W>,
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize>
    AsyncProducerIn<'a, T, S, W, K>
{
    /// Pushes `v`, waiting asynchronously while the ring is full, then wakes the
    /// consumer: [`Producer::push_async`](super::Producer::push_async).
    ///
    /// Fails with [`PushError::Disconnected`] if the consumer is gone.
    ///
    /// Cancellation safety: the item is moved into the ring in the same poll that
    /// completes the future. A future dropped before completing has not touched the
    /// ring: the item is dropped with the future, never half-pushed or duplicated.
    pub async fn push(&mut self, v: T) -> Result<(), PushError<T>> {
        self.inner.push_async(v).await
    }

    /// [`Producer::try_push`](super::Producer::try_push), waking the consumer on success.
    pub fn try_push(&mut self, v: T) -> Result<(), PushError<T>> {
        self.inner.try_push(v)?;
        self.inner.notify();
        Ok(())
    }

    /// [`Producer::push_slice`](super::Producer::push_slice), waking the consumer if anything was pushed.
    pub fn push_slice(&mut self, src: &[T]) -> usize
    where
        T: Copy,
    {
        let n = self.inner.push_slice(src);
        if n > 0 {
            self.inner.notify();
        }
        n
    }

    /// Wakes the consumer (a task or a thread): [`Producer::notify`](super::Producer::notify).
    pub fn notify(&self) {
        self.inner.notify();
    }
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> Deref
    for AsyncProducerIn<'a, T, S, W, K>
{
    type Target = ProducerIn<'a, T, S, W>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> Drop
    for AsyncProducerIn<'_, T, S, W, K>
{
    fn drop(&mut self) {
        // Mark the ring abandoned, then wake the other side (threads and tasks), so
        // woken tasks see it (the inner handle does it again when dropped: idempotent).
        self.inner.abandon();
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> fmt::Debug
    for AsyncProducerIn<'_, T, S, W, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncProducer").field(&self.inner).finish()
    }
}

/// The async reading handle: a [`Consumer`](super::Consumer) whose `pop` awaits.
///
/// Read-only queries (`len`, `peek`, `is_abandoned`, …) come from the inner
/// [`Consumer`](super::Consumer) through `Deref`. Every state change made through this handle wakes
/// the producer, task or thread. Dropping it wakes them too (the producer's `push`
/// then returns `Disconnected`).
pub type AsyncConsumer<'a, T, const N: usize, W = DefaultWait, const K: usize = 4> =
    AsyncConsumerIn<'a, T, [Slot<T>; N], W, K>;

/// [`AsyncConsumer`] over any [`SlotStorage`] `S` (the type behind it; see [`AsyncConsumer`]).
pub struct AsyncConsumerIn<
    'a,
    T,
    S: SlotStorage<T> + ?Sized,
    W: WaitStrategy = DefaultWait,
    const K: usize = 4,
> {
    inner: ConsumerIn<'a, T, S, W>,
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize>
    AsyncConsumerIn<'a, T, S, W, K>
{
    /// Pops the oldest item, waiting asynchronously while the ring is empty, then
    /// wakes the producer: [`Consumer::pop_async`](super::Consumer::pop_async).
    ///
    /// Fails only with [`PopError::Disconnected`] (empty and the producer is gone).
    ///
    /// Cancellation safety: the item is taken out of the ring in the same poll that
    /// completes the future, so a dropped future never loses an item.
    pub async fn pop(&mut self) -> Result<T, PopError> {
        self.inner.pop_async().await
    }

    /// [`Consumer::try_pop`](super::Consumer::try_pop), waking the producer on success.
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        let v = self.inner.try_pop()?;
        self.inner.notify();
        Ok(v)
    }

    /// [`Consumer::pop_slice`](super::Consumer::pop_slice), waking the producer if anything was popped.
    pub fn pop_slice(&mut self, dst: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = self.inner.pop_slice(dst);
        if n > 0 {
            self.inner.notify();
        }
        n
    }

    /// Wakes the producer (a task or a thread): [`Consumer::notify`](super::Consumer::notify).
    pub fn notify(&self) {
        self.inner.notify();
    }
}

impl<'a, T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> Deref
    for AsyncConsumerIn<'a, T, S, W, K>
{
    type Target = ConsumerIn<'a, T, S, W>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> Drop
    for AsyncConsumerIn<'_, T, S, W, K>
{
    fn drop(&mut self) {
        self.inner.abandon();
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy, const K: usize> fmt::Debug
    for AsyncConsumerIn<'_, T, S, W, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncConsumer").field(&self.inner).finish()
    }
}
