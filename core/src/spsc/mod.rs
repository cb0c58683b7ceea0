//! A wait-free single-producer / single-consumer ring with split handles.
//!
//! [`SpscRing<T, N, W>`] is a bounded FIFO of exactly `N` items stored inline (no heap).
//! It is used through two handles: one [`Producer`] and one [`Consumer`], obtained with
//! [`SpscRing::split`] (a ring you own) or once with [`SpscRing::take`] (a `static`
//! ring). Each handle may move to another thread, core, interrupt handler or worker.
//!
//! The same ring with a capacity chosen at run time is [`ShmSpscRing<T, W>`]: its slots
//! follow it in one shared mapping ([`ShmSpscRing::create_in`](SpscRingIn::create_in),
//! [`attach_in`](SpscRingIn::attach_in)), and each process claims its side
//! ([`claim_producer`](SpscRingIn::claim_producer),
//! [`claim_consumer`](SpscRingIn::claim_consumer)); see [`crate::shm`].
//!
//! # Algorithm and provenance
//! * The classic bounded SPSC buffer (Lamport, "Specifying Concurrent Program Modules",
//!   TOPLAS 1983): the producer alone writes the `tail` position, the consumer alone
//!   writes the `head` position; an item is published by a `Release` store of `tail`
//!   after the slot is written and released by a `Release` store of `head` after it
//!   is read, each read by the other side with `Acquire`. Only atomic loads and stores
//!   are needed, so the ring works on cores without compare-and-swap (thumbv6m).
//! * Cached indices (Lee, Bu, Chandranmenon, "A lock-free, cache-efficient
//!   multi-core synchronization mechanism", ANCS 2009; the same trick as the `rtrb`
//!   crate): each handle keeps its own position and a copy of the other side's
//!   position, and reloads the shared one only when the copy says "full" (producer) or
//!   "empty" (consumer). The fast path then touches only the handle and the slot.
//! * `head` and `tail` live on separate cache lines ([`CachePadded`](crate::CachePadded)).
//! * Prefetch ahead (x86_64). When the producer starts a new cache line of slots, it
//!   issues `PREFETCHW` (prefetch with intent to write) for the line 512 bytes further
//!   on, if its cached `head` proves that line free; after `push_slice` it does so for
//!   the lines of as many free slots as the slice filled (not after a `WriteChunk`
//!   commit: measured slower there). Without it, a consumer that keeps up with the
//!   producer still holds shared copies of the lines the producer is about to
//!   overwrite, so each new line costs the producer a coherence miss on the path of
//!   its stores; the consumer then finds the ring empty more often and polls `tail`
//!   more, which costs the producer again (measured: about half the throughput). With
//!   it, the ownership transfer happens ahead of time ("prefetch for write", Intel 64
//!   and IA-32 Architectures Optimization Reference Manual; the line sharing that
//!   FastForward, Giacomoni, Moseley, Vachharajani, PPoPP 2008, avoids by keeping the
//!   two sides apart). Symmetrically, a consumer with more than 512 bytes of published
//!   items ahead prefetches (for reading) the line that far on when it starts a new
//!   line. Both are hints: they change no memory contents and no ordering, and
//!   `PREFETCHW` is used only once CPUID reports it.
//! * Prefetch while polling (x86_64). A consumer whose cached `tail` shows too few
//!   items prefetches, for reading, the line of the first slot it waits for before it
//!   reloads `tail`. An item reaches a waiting consumer as two cache misses: the line
//!   of `tail`, then the line of the slot, which the consumer cannot read before the
//!   reload shows the item; the producer wrote the slot before it published `tail`, so
//!   with the hint both lines are requested together and the second miss overlaps the
//!   first (measured on the single-item ping-pong: about 5% off a round trip, where
//!   `rtrb`, which waits for them in turn, was 10% ahead). A hint too, issued only on
//!   the path that reloads `tail` anyway (the cached copy showed too few items).
//! * One algorithm for every storage (`heapless` 0.9's owned and view storages): the
//!   ring, its handles and chunks are generic over a [`SlotStorage`], `[Slot<T>; N]`
//!   for [`SpscRing<T, N, W>`] (the capacity a constant the compiler folds into the
//!   position arithmetic) or `[Slot<T>]` for [`ShmSpscRing<T, W>`] (a capacity chosen at
//!   run time, the slots following the ring in a shared mapping; the capacity is the
//!   slice length, carried by the ring reference).
//! * All `N` slots are usable, for any `N`: positions run over `[0, 2N)` (so "full",
//!   `tail - head == N`, differs from "empty", `tail == head`), as in `rtrb`; when `N` is
//!   a power of two they are free-running wrapping counters masked with `N - 1`. Neither
//!   form divides on the hot path.
//!
//! # Progress
//! Every `try_*`, slice and chunk operation is **wait-free**: it finishes in a bounded
//! number of its own steps whatever the other side does (including being suspended
//! forever). The blocking forms ([`Producer::push`], [`Consumer::pop`], `*_until`) wait
//! through the strategy `W` and are, naturally, blocking.
//!
//! # Notification contract
//! The wait-free forms (`try_push`, `try_pop`, `push_slice`, `pop_slice`, chunk
//! commits) **never notify**: a wake-up costs a `SeqCst` fence, which per item would
//! dominate the ring's cost. The blocking forms (`push`, `pop`, `push_until`,
//! `pop_until`) notify the other side after their operation. So:
//!
//! * With the [`Spin`](crate::wait::Spin) strategy (the default without the `std`
//!   feature) no notification is ever needed: a spinning waiter re-polls the ring by
//!   itself. An interrupt handler can feed a blocking consumer with `try_push` alone.
//! * With a sleeping strategy (a futex, the default with `std`;
//!   `memory.atomic.wait32`), a side that uses only the wait-free forms while the other
//!   side blocks must call [`Producer::notify`] / [`Consumer::notify`] after a batch, or
//!   the blocked side may sleep until its deadline. A library that relies on spinning
//!   should name `Spin` rather than take the default, which any crate of a build can
//!   switch by enabling `std` (see [`DefaultWait`](crate::wait::DefaultWait)).
//! * Dropping a handle always wakes the other side, whose blocking call then returns
//!   `Disconnected` once the ring has been drained.
//!
//! # When to use / when not
//! Use it to stream items from exactly one producer to exactly one consumer: an
//! interrupt handler to the main loop, a capture thread to a writer thread, one web
//! worker to another through shared memory. Batch operations ([`Producer::push_slice`],
//! [`Producer::write_chunk`], [`Consumer::read_chunk`]) move blocks with one index
//! publication. Do not use it with several producers or consumers (the handles are
//! unique by construction; use [`crate::mpmc`] or [`crate::queue`]).
//!
//! # Async
//! With the `async` feature, [`Producer::push_async`] and [`Consumer::pop_async`] await
//! on the ring itself: the task parks on the ring's own event count (see "Async tasks"
//! in [`Waiters`](crate::wait::Waiters)), so the other side's plain blocking
//! `push`/`pop` — a thread, or an interrupt handler's wait-free form followed by
//! `notify` — wakes it. The older `Async<SpscRing<T, N, W>, K>` (module `asynch`)
//! still splits into `AsyncProducer` / `AsyncConsumer` handles with `push(v).await` and
//! `pop().await`, now forwarding to those forms (their `try_*` also notify).
//!
//! # Example
//! A `static` ring fed by an interrupt handler (here a thread stands in for it):
//!
//! ```
//! use conkit_core::spsc::{Consumer, PopError, Producer, SpscRing};
//!
//! static RING: SpscRing<u32, 8> = SpscRing::new();
//!
//! // Hands out the pair exactly once.
//! let (mut tx, mut rx) = RING.take().expect("first call");
//! assert!(RING.take().is_none());
//!
//! // "Interrupt handler": wait-free, never blocks. `notify` wakes the main loop if it
//! // sleeps in `pop` (with the futex, the default with `std`; with `Spin`, the default
//! // on firmware, the main loop re-polls by itself and `notify` wakes nobody).
//! fn on_sample(tx: &mut Producer<'static, u32, 8>, sample: u32) {
//!     let _ = tx.try_push(sample); // a full ring drops the sample
//!     tx.notify();
//! }
//!
//! let isr = std::thread::spawn(move || {
//!     for sample in 0..100 {
//!         while tx.is_full() {
//!             std::hint::spin_loop();
//!         }
//!         on_sample(&mut tx, sample);
//!     }
//!     // `tx` is dropped here: the consumer sees `Disconnected` after the last item.
//! });
//!
//! // Main loop: the blocking `pop` waits (spins, or sleeps with `std`) for an item.
//! let mut expected = 0;
//! loop {
//!     match rx.pop() {
//!         Ok(sample) => {
//!             assert_eq!(sample, expected);
//!             expected += 1;
//!         }
//!         Err(PopError::Disconnected) => break,
//!         Err(PopError::Empty) => unreachable!("pop without deadline never times out"),
//!     }
//! }
//! assert_eq!(expected, 100);
//! isr.join().unwrap();
//! ```

/// What the two handles share word for word, over their own `len`, `is_abandoned`
/// and `abandon`: `is_empty`, `is_full`, `Drop`, `Debug` and `capacity`. (The hot
/// paths stay written out per side: they mirror each other over different fields,
/// orderings and loom mutants.)
macro_rules! end_common {
    ($end:ident, $name:literal) => {
        impl<T, S: $crate::spsc::SlotStorage<T> + ?Sized, W: $crate::wait::WaitStrategy>
            $end<'_, T, S, W>
        {
            /// `true` if the ring holds no item.
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// `true` if no slot is free.
            #[inline]
            pub fn is_full(&self) -> bool {
                self.len() == self.ring.cap()
            }
        }

        impl<T, S: $crate::spsc::SlotStorage<T> + ?Sized, W: $crate::wait::WaitStrategy> Drop
            for $end<'_, T, S, W>
        {
            fn drop(&mut self) {
                self.abandon();
            }
        }

        impl<T, S: $crate::spsc::SlotStorage<T> + ?Sized, W: $crate::wait::WaitStrategy>
            core::fmt::Debug for $end<'_, T, S, W>
        {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct($name)
                    .field("capacity", &self.ring.cap())
                    .field("len", &self.len())
                    .field("abandoned", &self.is_abandoned())
                    .finish()
            }
        }

        impl<T, const N: usize, W: $crate::wait::WaitStrategy>
            $end<'_, T, [$crate::spsc::Slot<T>; N], W>
        {
            /// The capacity, `N`.
            #[inline]
            pub const fn capacity(&self) -> usize {
                N
            }
        }

        impl<T, W: $crate::wait::WaitStrategy> $end<'_, T, [$crate::spsc::Slot<T>], W> {
            /// The capacity, chosen when the ring was created.
            #[inline]
            pub fn capacity(&self) -> usize {
                self.ring.cap()
            }
        }
    };
}

mod chunks;
mod consumer;
mod error;
mod prefetch;
mod producer;
mod ring;
#[cfg(all(not(loom), any(feature = "portable-atomic", target_has_atomic = "ptr")))]
mod shared;
mod storage;

#[cfg(feature = "async")]
mod asynch;
#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(not(loom))]
pub use chunks::{
    ReadChunk, ReadChunkIn, ReadChunkIntoIter, ReadChunkIntoIterIn, WriteChunk, WriteChunkIn,
};
pub use consumer::{Consumer, ConsumerIn};
pub use error::{ChunkError, PopError, PushError};
pub use producer::{Producer, ProducerIn};
pub use ring::{SpscRing, SpscRingIn};
#[cfg(all(not(loom), any(feature = "portable-atomic", target_has_atomic = "ptr")))]
pub use shared::{ShmConsumer, ShmProducer, ShmSpscRing};
pub use storage::{Slot, SlotStorage};

#[cfg(feature = "async")]
pub use self::asynch::{AsyncConsumer, AsyncConsumerIn, AsyncProducer, AsyncProducerIn};
