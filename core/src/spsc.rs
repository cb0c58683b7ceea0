//! A wait-free single-producer / single-consumer ring with split handles.
//!
//! [`SpscRing<T, N, W>`] is a bounded FIFO of exactly `N` items stored inline (no heap).
//! It is used through two handles: one [`Producer`] and one [`Consumer`], obtained with
//! [`SpscRing::split`] (a ring you own) or once with [`SpscRing::take`] (a `static`
//! ring). Each handle may move to another thread, core, interrupt handler or worker.
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
//! * `head` and `tail` live on separate cache lines ([`CachePadded`]).
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
//!   switch by enabling `std` (see [`DefaultWait`]).
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
//! With the `async` feature, `Async<SpscRing<T, N, W>, K>` (module `asynch`) splits
//! into `AsyncProducer` / `AsyncConsumer` handles with `push(v).await` and
//! `pop().await`; their state changes wake the parked tasks (a waker registration under
//! a critical section per operation, so the wait-free handles stay the fast path).
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

use core::fmt;
use core::mem::MaybeUninit;
#[cfg(not(loom))]
use core::ptr;

use crate::atomic::{maybe_const_fn, AtomicBool, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

/// How far ahead of its position, in bytes of slots, the producer claims cache lines
/// for writing (see "Prefetch ahead" in the module docs): 8 lines of 64
/// bytes, far enough for the ownership transfer to finish before the producer gets
/// there, near enough to stay clear of the lines the consumer is reading when the ring
/// is nearly full (a line is claimed only when the cached `head` proves it free).
const PREFETCH_AHEAD: usize = 512;

/// Write-ownership prefetch where the CPU has it (x86_64 with `PREFETCHW`).
#[cfg(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri)))]
mod prefetch {
    use crate::atomic::{AtomicU32, Ordering};

    /// The code path exists on this target.
    pub(super) const ENABLED: bool = true;
    /// The cache line size assumed by the decision to prefetch.
    pub(super) const LINE: usize = 64;

    /// `PREFETCHW` support, detected once: 0 = not yet known, 1 = yes, 2 = no.
    static SUPPORT: AtomicU32 = AtomicU32::new(0);

    /// `true` if this CPU implements `PREFETCHW` (CPUID leaf `0x8000_0001`, ECX bit 8;
    /// AMD64 CPUs have it, Intel ones since Broadwell).
    #[inline]
    pub(super) fn supported() -> bool {
        match SUPPORT.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => detect(),
        }
    }

    #[cold]
    #[inline(never)]
    fn detect() -> bool {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86_64 CPU (it faults only inside SGX enclaves,
        // excluded by the `cfg`); it reads identification registers, nothing else.
        #[allow(unused_unsafe)]
        let yes = unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
        };
        // Racing detections store the same value.
        SUPPORT.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
        yes
    }

    /// Asks for the cache line of `p` for reading (SSE, so every x86_64 CPU has it).
    #[inline(always)]
    pub(super) fn fetch(p: *const u8) {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 is part of SSE, which every x86_64 CPU implements; it is a
        // pure hint (no memory access in the abstract machine, no fault on any address).
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast())
        };
    }

    /// Asks for the cache line of `p` in a writable state.
    ///
    /// # Safety
    /// [`supported`] returned `true`.
    #[inline(always)]
    pub(super) unsafe fn claim(p: *const u8) {
        // SAFETY: the CPU implements PREFETCHW (caller). It is a pure hint: it accesses
        // no memory in the abstract machine, cannot fault on any address, and is not
        // ordered with any load, store or fence, so it changes no behavior.
        // `nomem` is exact: `p` is only an address for the hint, never dereferenced.
        #[allow(clippy::pointers_in_nomem_asm_block)]
        unsafe {
            core::arch::asm!(
                "prefetchw [{p}]",
                p = in(reg) p,
                options(nomem, nostack, preserves_flags)
            );
        }
    }
}

/// No write-ownership prefetch on this target (or under loom / Miri).
#[cfg(not(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri))))]
mod prefetch {
    pub(super) const ENABLED: bool = false;
    pub(super) const LINE: usize = 64;

    pub(super) fn supported() -> bool {
        false
    }

    pub(super) fn fetch(_p: *const u8) {}

    /// # Safety
    /// None needed: does nothing.
    pub(super) unsafe fn claim(_p: *const u8) {}
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The ring
// ---------------------------------------------------------------------------------------

/// A wait-free single-producer / single-consumer ring of exactly `N` items (see the
/// [module docs](self)).
///
/// `W` is the waiting strategy of the blocking forms ([`DefaultWait`] by default:
/// spinning without the `std` feature, a futex with it); it is a type parameter only
/// and stores nothing. The layout is `repr(C)` (positions, waiters,
/// flags, then the slots) and holds no pointers, so a ring can live in memory shared
/// between processes or wasm workers built from the same definitions.
///
/// # Example
/// ```
/// use conkit_core::spsc::{PopError, PushError, SpscRing};
///
/// let mut ring: SpscRing<String, 2> = SpscRing::new();
/// let (mut tx, mut rx) = ring.split();
/// tx.try_push("a".into()).unwrap();
/// tx.try_push("b".into()).unwrap();
/// assert_eq!(tx.try_push("c".into()), Err(PushError::Full("c".into())));
/// assert_eq!(rx.peek().map(String::as_str), Some("a"));
/// assert_eq!(rx.try_pop().as_deref(), Ok("a"));
/// assert_eq!(rx.try_pop().as_deref(), Ok("b"));
/// assert_eq!(rx.try_pop(), Err(PopError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
/// ```
#[repr(C)]
pub struct SpscRing<T, const N: usize, W: WaitStrategy = DefaultWait> {
    /// Position of the next item to read; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Position of the next slot to write; written by the producer only.
    tail: CachePadded<AtomicUsize>,
    /// Consumers blocked on "not empty" (notified by the producer).
    not_empty: CachePadded<Waiters<W>>,
    /// Producers blocked on "not full" (notified by the consumer).
    not_full: CachePadded<Waiters<W>>,
    /// Rarely written flags, on their own line so that slow-path reads of them do not
    /// share a line with the first slots.
    flags: CachePadded<Flags>,
    /// The slots; slot `i` holds an item iff `i` is in `[head, tail)` (mod `N`).
    buffer: [UnsafeCell<MaybeUninit<T>>; N],
}

/// The state flags of a ring.
#[repr(C)]
struct Flags {
    /// The consumer handle was dropped.
    consumer_gone: AtomicBool,
    /// The producer handle was dropped.
    producer_gone: AtomicBool,
    /// [`SpscRing::take`] has handed out the handles.
    taken: AtomicBool,
}

// SAFETY: the ring moves `T`s from the producer's thread to the consumer's, so `T: Send`
// is needed and sufficient: a slot is accessed by exactly one side at a time (the
// producer only in `[tail, head + N)`, the consumer only in `[head, tail)`), and the
// ownership transfer of a slot is ordered by the Release/Acquire pair on `head`/`tail`.
// Shared `&T` never reach two threads through the ring itself (see `Consumer`'s `Sync`).
// `W` is never instantiated (only `PhantomData` inside `Waiters`), so it needs no bound.
unsafe impl<T: Send, const N: usize, W: WaitStrategy> Sync for SpscRing<T, N, W> {}

impl<T, const N: usize, W: WaitStrategy> SpscRing<T, N, W> {
    /// Free-running masked counters instead of positions in `[0, 2N)`.
    const POW2: bool = N.is_power_of_two();

    /// [`PREFETCH_AHEAD`] in slots (0 for a zero-sized `T`).
    const AHEAD: usize = match core::mem::size_of::<T>() {
        0 => 0,
        size => PREFETCH_AHEAD.div_ceil(size),
    };

    /// `size_of::<T>()`, at least 1 (zero-sized items never prefetch anyway).
    const SIZE: usize = if core::mem::size_of::<T>() == 0 {
        1
    } else {
        core::mem::size_of::<T>()
    };

    /// The most slots that overlap one cache line.
    const LINE_SLOTS: usize = prefetch::LINE.div_ceil(Self::SIZE) + 1;

    /// Free slots (from our position) that prove the line [`Self::AHEAD`] slots on
    /// free: up to the end of that line.
    const AHEAD_FREE: usize = Self::AHEAD + Self::LINE_SLOTS;

    /// Whether the producer prefetches: the target can, `T` is sized, and the ring is
    /// large enough for a line that far ahead to be free.
    const PREFETCH: bool =
        prefetch::ENABLED && core::mem::size_of::<T>() != 0 && Self::AHEAD_FREE < N;

    /// After `push_slice`: claims for writing the cache lines of the next `n` slots from
    /// position `pos`, of which `free` are known to be free, keeping a margin of one
    /// line to the consumer (see the module docs). One hint per line, so at most one
    /// per line the batch itself copied.
    #[inline]
    fn claim_lines(&self, pos: usize, n: usize, free: usize) {
        if !Self::PREFETCH || free <= Self::LINE_SLOTS || !prefetch::supported() {
            return;
        }
        let size = Self::SIZE;
        let bytes = n.min(free - Self::LINE_SLOTS) * size;
        let mut off = 0;
        while off < bytes {
            let cell = self.cell(Self::slot(Self::advance(pos, off / size)));
            // SAFETY: `supported()` returned `true`.
            unsafe { prefetch::claim((cell as *const UnsafeCell<MaybeUninit<T>>).cast()) };
            off += prefetch::LINE;
        }
    }

    /// `true` if `slot` is the first slot that starts in its cache line, i.e. the side
    /// touching it has just entered a new line. A mask test when slots tile the line
    /// exactly (on x86_64 the buffer starts on a line boundary: the fields before it
    /// are [`CachePadded`]); an address test otherwise.
    #[inline(always)]
    fn starts_line(&self, slot: usize) -> bool {
        let size = Self::SIZE;
        if prefetch::LINE % size == 0 {
            slot % (prefetch::LINE / size) == 0
        } else {
            let addr = self.cell(slot) as *const UnsafeCell<MaybeUninit<T>> as usize;
            addr % prefetch::LINE < size
        }
    }

    /// Producer side, once per new line: claims for writing the line
    /// [`PREFETCH_AHEAD`] bytes past position `tail`, provided `free` (free slots from
    /// `tail`) proves that line free (see the module docs). A hint: it changes nothing
    /// else.
    #[inline]
    fn claim_ahead(&self, tail: usize, free: usize) {
        if free > Self::AHEAD_FREE && prefetch::supported() {
            let cell = self.cell(Self::slot(Self::advance(tail, Self::AHEAD)));
            // SAFETY: `supported()` returned `true`.
            unsafe { prefetch::claim((cell as *const UnsafeCell<MaybeUninit<T>>).cast()) };
        }
    }

    /// Consumer side, once per new line: if more than [`PREFETCH_AHEAD`] bytes of
    /// items past position `head` are known to be published (`more` items), prefetches
    /// the line that far on for reading. A hint only.
    #[inline]
    fn fetch_ahead(&self, head: usize, more: usize) {
        if more > Self::AHEAD_FREE {
            let cell = self.cell(Self::slot(Self::advance(head, Self::AHEAD)));
            prefetch::fetch((cell as *const UnsafeCell<MaybeUninit<T>>).cast());
        }
    }

    maybe_const_fn! {
        /// An empty ring of capacity exactly `N` (checked at compile time: `N > 0`).
        pub fn new() -> Self {
            const { assert!(N > 0, "SpscRing capacity must be at least 1") };
            const { assert!(N <= usize::MAX / 4, "SpscRing capacity too large") };
            Self {
                head: CachePadded::new(AtomicUsize::new(0)),
                tail: CachePadded::new(AtomicUsize::new(0)),
                not_empty: CachePadded::new(Waiters::new()),
                not_full: CachePadded::new(Waiters::new()),
                flags: CachePadded::new(Flags {
                    consumer_gone: AtomicBool::new(false),
                    producer_gone: AtomicBool::new(false),
                    taken: AtomicBool::new(false),
                }),
                buffer: Self::empty_buffer(),
            }
        }
    }

    #[cfg(not(loom))]
    const fn empty_buffer() -> [UnsafeCell<MaybeUninit<T>>; N] {
        [const { UnsafeCell::new(MaybeUninit::uninit()) }; N]
    }

    #[cfg(loom)]
    fn empty_buffer() -> [UnsafeCell<MaybeUninit<T>>; N] {
        core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// The capacity, `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Splits the ring into its producer and consumer handles.
    ///
    /// Can be called again once both handles are dropped (the `&mut` borrow guarantees
    /// it); items left in the ring stay there, and the "abandoned" state is reset.
    pub fn split(&mut self) -> (Producer<'_, T, N, W>, Consumer<'_, T, N, W>) {
        // SAFETY: `&mut self` proves that no other handle of this ring exists: handles
        // from an earlier `split` borrowed the ring mutably and are gone, and `take`
        // needs a `&'static` shared borrow, which cannot coexist with `&mut self`.
        unsafe { self.split_unchecked() }
    }

    /// Hands out the handles of a `static` ring, exactly once: every later call returns
    /// `None`.
    ///
    /// The once-flag uses only an atomic load and store inside a
    /// `critical_section::with`, so it works on cores without compare-and-swap; the
    /// application provides the `critical-section` implementation.
    pub fn take(&'static self) -> Option<(Producer<'static, T, N, W>, Consumer<'static, T, N, W>)> {
        let first = critical_section::with(|_| {
            // The critical section makes this load-then-store atomic with respect to
            // every other `take` of this ring.
            if self.flags.taken.load(Ordering::Acquire) {
                false
            } else {
                self.flags.taken.store(true, Ordering::Release);
                true
            }
        });
        if !first {
            return None;
        }
        // SAFETY: only the one call that flipped `taken` gets here, and no `split`
        // handle can be alive: `split` needs `&mut self`, which cannot coexist with the
        // `&'static self` we hold.
        Some(unsafe { self.split_unchecked() })
    }

    /// Creates the handle pair through a shared reference.
    ///
    /// # Safety
    /// No other `Producer` or `Consumer` of this ring may exist, now or while the
    /// returned handles live (other than the returned ones).
    unsafe fn split_unchecked(&self) -> (Producer<'_, T, N, W>, Consumer<'_, T, N, W>) {
        self.flags.consumer_gone.store(false, Ordering::Relaxed);
        self.flags.producer_gone.store(false, Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        (
            Producer {
                ring: self,
                tail,
                cached_head: head,
            },
            Consumer {
                ring: self,
                head,
                cached_tail: tail,
            },
        )
    }

    // ---- position arithmetic (no division on any path) ----

    /// The slot index of position `pos` (always `< N`).
    #[inline(always)]
    fn slot(pos: usize) -> usize {
        if Self::POW2 {
            pos & (N - 1)
        } else if pos >= N {
            pos - N
        } else {
            pos
        }
    }

    /// `pos` moved forward by `n <= N` positions.
    #[inline(always)]
    fn advance(pos: usize, n: usize) -> usize {
        if Self::POW2 {
            pos.wrapping_add(n)
        } else {
            // pos < 2N and n <= N, so no overflow (N <= usize::MAX / 4).
            let p = pos + n;
            if p >= 2 * N {
                p - 2 * N
            } else {
                p
            }
        }
    }

    /// How many positions `to` is ahead of `from` (both valid positions, `to` not
    /// behind `from`): in `[0, N]`.
    #[inline(always)]
    fn distance(from: usize, to: usize) -> usize {
        if Self::POW2 {
            to.wrapping_sub(from)
        } else if to >= from {
            to - from
        } else {
            to + 2 * N - from
        }
    }

    /// The slots of `n <= N` positions from `pos`: (first slot, length of the first
    /// run, length of the second run starting at slot 0).
    #[cfg(not(loom))]
    #[inline(always)]
    fn runs(pos: usize, n: usize) -> (usize, usize, usize) {
        let start = Self::slot(pos);
        let first = if n < N - start { n } else { N - start };
        (start, first, n - first)
    }

    /// The cell of slot `slot`.
    #[inline(always)]
    fn cell(&self, slot: usize) -> &UnsafeCell<MaybeUninit<T>> {
        debug_assert!(slot < N);
        // SAFETY: every caller passes `Self::slot(..)` or a run inside `[0, N)`.
        unsafe { self.buffer.get_unchecked(slot) }
    }

    /// A pointer to slot 0, valid for all `N` slots (for slice copies and chunks).
    ///
    /// Our `UnsafeCell` is `repr(transparent)` over `core::cell::UnsafeCell`, itself
    /// `repr(transparent)`, so the array is `N` contiguous `MaybeUninit<T>`; the pointer
    /// comes from a shared borrow of memory that lies entirely inside `UnsafeCell`s, so
    /// writing through it is allowed.
    #[cfg(not(loom))]
    #[inline(always)]
    fn base(&self) -> *mut MaybeUninit<T> {
        self.buffer.as_ptr().cast::<MaybeUninit<T>>().cast_mut()
    }

    /// Copies `src` into the slots of positions `pos..pos + src.len()`.
    ///
    /// # Safety
    /// Those slots must be free and owned by the caller (the producer), `src.len() <= N`.
    #[inline(always)]
    unsafe fn copy_in(&self, pos: usize, src: &[T])
    where
        T: Copy,
    {
        #[cfg(not(loom))]
        {
            let (start, a, b) = Self::runs(pos, src.len());
            let base = self.base().cast::<T>();
            // SAFETY: both runs lie in `[0, N)` and are owned by the caller; `src` is a
            // separate borrow, so the regions do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(src.as_ptr(), base.add(start), a);
                ptr::copy_nonoverlapping(src.as_ptr().add(a), base, b);
            }
        }
        #[cfg(loom)]
        for (k, v) in src.iter().enumerate() {
            let slot = Self::slot(Self::advance(pos, k));
            // SAFETY: the slot is free and owned by the caller.
            unsafe { self.cell(slot).with_mut(|p| (*p).write(*v)) };
        }
    }

    /// Copies the items of positions `pos..pos + dst.len()` into `dst` (they stay
    /// logically in the ring until the caller advances `head`).
    ///
    /// # Safety
    /// Those slots must hold items owned by the caller (the consumer), `dst.len() <= N`.
    #[inline(always)]
    unsafe fn copy_out(&self, pos: usize, dst: &mut [T])
    where
        T: Copy,
    {
        #[cfg(not(loom))]
        {
            let (start, a, b) = Self::runs(pos, dst.len());
            let base = self.base().cast::<T>();
            // SAFETY: both runs lie in `[0, N)`, hold initialized items owned by the
            // caller, and do not overlap the separate borrow `dst`.
            unsafe {
                ptr::copy_nonoverlapping(base.add(start), dst.as_mut_ptr(), a);
                ptr::copy_nonoverlapping(base, dst.as_mut_ptr().add(a), b);
            }
        }
        #[cfg(loom)]
        for (k, v) in dst.iter_mut().enumerate() {
            let slot = Self::slot(Self::advance(pos, k));
            // SAFETY: the slot holds an initialized item owned by the caller.
            *v = unsafe { self.cell(slot).with(|p| (*p).assume_init_read()) };
        }
    }
}

impl<T, const N: usize, W: WaitStrategy> Default for SpscRing<T, N, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize, W: WaitStrategy> fmt::Debug for SpscRing<T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpscRing")
            .field("capacity", &N)
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T, const N: usize, W: WaitStrategy> Drop for SpscRing<T, N, W> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        // `&mut self`: every handle is gone and synchronized with us.
        let mut pos = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        while pos != tail {
            let slot = Self::slot(pos);
            // SAFETY: positions in `[head, tail)` hold initialized items, each dropped
            // exactly once here (nobody else can reach them any more).
            unsafe { self.cell(slot).with_mut(|p| (*p).assume_init_drop()) };
            pos = Self::advance(pos, 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Producer
// ---------------------------------------------------------------------------------------

/// The writing handle of an [`SpscRing`] (unique: obtained from
/// [`SpscRing::split`] or [`SpscRing::take`]).
///
/// It is `Send` when `T: Send`. Dropping it marks the ring abandoned and wakes a
/// blocked consumer.
pub struct Producer<'a, T, const N: usize, W: WaitStrategy = DefaultWait> {
    ring: &'a SpscRing<T, N, W>,
    /// Our position (the shared `tail` always equals it between operations).
    tail: usize,
    /// The consumer's position as last seen: never ahead of the real one.
    cached_head: usize,
}

impl<'a, T, const N: usize, W: WaitStrategy> Producer<'a, T, N, W> {
    /// Free slots per the cached head; reloads the shared head only when fewer than
    /// `want` are free.
    #[inline(always)]
    fn free_for(&mut self, want: usize) -> usize {
        let free = N - SpscRing::<T, N, W>::distance(self.cached_head, self.tail);
        if free >= want {
            return free;
        }
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        N - SpscRing::<T, N, W>::distance(self.cached_head, self.tail)
    }

    /// Publishes `n` slots written from our position on.
    #[inline(always)]
    fn publish(&mut self, n: usize) {
        self.tail = SpscRing::<T, N, W>::advance(self.tail, n);
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
    unsafe fn write_one(&mut self, v: T) {
        let slot = SpscRing::<T, N, W>::slot(self.tail);
        // SAFETY: the slot is free (caller), so the consumer does not touch it until we
        // publish it below.
        unsafe { self.ring.cell(slot).with_mut(|p| (*p).write(v)) };
        self.publish(1);
        if SpscRing::<T, N, W>::PREFETCH && self.ring.starts_line(slot) {
            let free = N - SpscRing::<T, N, W>::distance(self.cached_head, self.tail);
            self.ring.claim_ahead(self.tail, free);
        }
    }

    /// `Some(true)`: a slot is free; `Some(false)`: full and the consumer is gone;
    /// `None`: full.
    #[inline]
    fn poll_room(&mut self) -> Option<bool> {
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

    /// [`push`](Self::push) bounded by `deadline`: [`PushError::Full`] if the ring is
    /// still full at the deadline.
    #[inline]
    pub fn push_until(&mut self, v: T, deadline: W::Deadline) -> Result<(), PushError<T>> {
        self.push_inner(v, Some(deadline))
    }

    #[inline]
    fn push_inner(&mut self, v: T, deadline: Option<W::Deadline>) -> Result<(), PushError<T>> {
        let ring = self.ring;
        if ring.flags.consumer_gone.load(Ordering::Acquire) {
            return Err(PushError::Disconnected(v));
        }
        match ring.not_full.wait_until(deadline, || self.poll_room()) {
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
        let free = N - SpscRing::<T, N, W>::distance(self.cached_head, self.tail);
        self.ring.claim_lines(self.tail, n, free);
        n
    }

    /// Reserves exactly `n` free slots for zero-copy writing: fill them through
    /// [`WriteChunk::as_mut_slices`] and publish a prefix with [`WriteChunk::commit`]
    /// (or use the safe [`WriteChunk::fill_from_iter`]). Wait-free; never notifies.
    ///
    /// Fails with [`ChunkError::TooFewSlots`] (giving the free count) when fewer than
    /// `n` slots are free. Not available under `cfg(loom)` (raw slices).
    #[cfg(not(loom))]
    #[inline]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T, N, W>, ChunkError> {
        let free = self.free_for(n);
        if free < n {
            return Err(ChunkError::TooFewSlots(free));
        }
        Ok(WriteChunk {
            ring: self.ring,
            tail: &mut self.tail,
            len: n,
        })
    }

    /// Items in the ring (exact for our side: the consumer can only make it smaller).
    #[inline]
    pub fn len(&self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        SpscRing::<T, N, W>::distance(head, self.tail)
    }

    /// Free slots (the consumer can only make it larger).
    #[inline]
    pub fn free_len(&self) -> usize {
        N - self.len()
    }

    /// The capacity, `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// `true` if the ring holds no item.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if no slot is free.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// `true` once the consumer has been dropped.
    #[inline]
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.consumer_gone.load(Ordering::Acquire)
    }

    /// Wakes a consumer blocked in [`Consumer::pop`] / [`Consumer::pop_until`]; for
    /// producers that use only the wait-free forms with a sleeping strategy (see the
    /// module docs). Costs a `SeqCst` fence, plus a wake-up if someone sleeps.
    #[inline]
    pub fn notify(&self) {
        self.ring.not_empty.notify_one();
    }

    /// Marks the producer gone and wakes the consumer (idempotent).
    fn abandon(&self) {
        self.ring.flags.producer_gone.store(true, Ordering::Release);
        self.ring.not_empty.notify_all();
    }
}

impl<T, const N: usize, W: WaitStrategy> Drop for Producer<'_, T, N, W> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<T, const N: usize, W: WaitStrategy> fmt::Debug for Producer<'_, T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &N)
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------

/// The reading handle of an [`SpscRing`] (unique: obtained from
/// [`SpscRing::split`] or [`SpscRing::take`]).
///
/// It is `Send` when `T: Send` (and `Sync` only when also `T: Sync`, because
/// [`peek`](Self::peek) hands out `&T`). Dropping it marks the ring abandoned and wakes
/// a blocked producer; items left in the ring are dropped with the ring.
pub struct Consumer<'a, T, const N: usize, W: WaitStrategy = DefaultWait> {
    ring: &'a SpscRing<T, N, W>,
    /// Our position (the shared `head` always equals it between operations).
    head: usize,
    /// The producer's position as last seen: never ahead of the real one.
    cached_tail: usize,
}

// SAFETY: `&Consumer` gives access to `&T` (`peek`), so sharing it across threads needs
// `T: Sync`; everything else reachable through `&Consumer` is atomics. This explicit
// impl replaces the auto impl, which would only require `T: Send`.
unsafe impl<T: Send + Sync, const N: usize, W: WaitStrategy> Sync for Consumer<'_, T, N, W> {}

impl<'a, T, const N: usize, W: WaitStrategy> Consumer<'a, T, N, W> {
    /// Items available per the cached tail; reloads the shared tail only when fewer than
    /// `want` are cached.
    #[inline(always)]
    fn available_for(&mut self, want: usize) -> usize {
        let n = SpscRing::<T, N, W>::distance(self.head, self.cached_tail);
        if n >= want {
            return n;
        }
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        SpscRing::<T, N, W>::distance(self.head, self.cached_tail)
    }

    /// `Some(true)`: an item is available; `Some(false)`: empty and the producer is
    /// gone; `None`: empty.
    #[inline]
    fn poll_item(&mut self) -> Option<bool> {
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
    fn release(&mut self, n: usize) {
        self.head = SpscRing::<T, N, W>::advance(self.head, n);
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
    unsafe fn read_one(&mut self) -> T {
        let slot = SpscRing::<T, N, W>::slot(self.head);
        // SAFETY: the slot holds an initialized item (caller) that the producer does
        // not touch until we release it below; it is moved out exactly once.
        let v = unsafe { self.ring.cell(slot).with(|p| (*p).assume_init_read()) };
        self.release(1);
        if SpscRing::<T, N, W>::PREFETCH && self.ring.starts_line(slot) {
            let more = SpscRing::<T, N, W>::distance(self.head, self.cached_tail);
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

    /// [`pop`](Self::pop) bounded by `deadline`: [`PopError::Empty`] if the ring is still
    /// empty at the deadline.
    #[inline]
    pub fn pop_until(&mut self, deadline: W::Deadline) -> Result<T, PopError> {
        self.pop_inner(Some(deadline))
    }

    #[inline]
    fn pop_inner(&mut self, deadline: Option<W::Deadline>) -> Result<T, PopError> {
        let ring = self.ring;
        match ring.not_empty.wait_until(deadline, || self.poll_item()) {
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
        let slot = SpscRing::<T, N, W>::slot(self.head);
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
    /// wraps); [`ReadChunk::commit`] removes a prefix of them, and iterating the chunk
    /// by value moves them out. Wait-free; never notifies.
    ///
    /// Fails with [`ChunkError::TooFewSlots`] (giving the item count) when fewer than
    /// `n` items are available. Not available under `cfg(loom)` (raw slices).
    #[cfg(not(loom))]
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T, N, W>, ChunkError> {
        let available = self.available_for(n);
        if available < n {
            return Err(ChunkError::TooFewSlots(available));
        }
        Ok(ReadChunk {
            ring: self.ring,
            head: &mut self.head,
            len: n,
        })
    }

    /// Items in the ring (exact for our side: the producer can only make it larger).
    #[inline]
    pub fn len(&self) -> usize {
        let tail = self.ring.tail.load(Ordering::Acquire);
        SpscRing::<T, N, W>::distance(self.head, tail)
    }

    /// The capacity, `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// `true` if the ring holds no item.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if no slot is free.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// `true` once the producer has been dropped (items may still be in the ring).
    #[inline]
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.producer_gone.load(Ordering::Acquire)
    }

    /// Wakes a producer blocked in [`Producer::push`] / [`Producer::push_until`]; for
    /// consumers that use only the wait-free forms with a sleeping strategy (see the
    /// module docs). Costs a `SeqCst` fence, plus a wake-up if someone sleeps.
    #[inline]
    pub fn notify(&self) {
        self.ring.not_full.notify_one();
    }

    /// Marks the consumer gone and wakes the producer (idempotent).
    fn abandon(&self) {
        self.ring.flags.consumer_gone.store(true, Ordering::Release);
        self.ring.not_full.notify_all();
    }
}

impl<T, const N: usize, W: WaitStrategy> Drop for Consumer<'_, T, N, W> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<T, const N: usize, W: WaitStrategy> fmt::Debug for Consumer<'_, T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &N)
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------

/// `n` reserved free slots of the ring, from [`Producer::write_chunk`].
///
/// Nothing is published until [`commit`](Self::commit),
/// [`commit_all`](Self::commit_all) or [`fill_from_iter`](Self::fill_from_iter);
/// dropping the chunk publishes nothing (and drops nothing: the slots are uninitialized).
#[cfg(not(loom))]
pub struct WriteChunk<'c, T, const N: usize, W: WaitStrategy = DefaultWait> {
    ring: &'c SpscRing<T, N, W>,
    /// The producer's position, advanced on commit.
    tail: &'c mut usize,
    len: usize,
}

#[cfg(not(loom))]
impl<T, const N: usize, W: WaitStrategy> WriteChunk<'_, T, N, W> {
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
        let (start, a, b) = SpscRing::<T, N, W>::runs(*self.tail, self.len);
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
        *self.tail = SpscRing::<T, N, W>::advance(*self.tail, k);
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
impl<T, const N: usize, W: WaitStrategy> fmt::Debug for WriteChunk<'_, T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("len", &self.len)
            .finish()
    }
}

/// `n` items borrowed in place from the ring, from [`Consumer::read_chunk`].
///
/// [`commit`](Self::commit) drops a prefix and frees its slots; iterating the chunk by
/// value moves the items out (the slots of the items taken are freed when the iterator
/// is dropped). Dropping the chunk without committing leaves every item in the ring.
#[cfg(not(loom))]
pub struct ReadChunk<'c, T, const N: usize, W: WaitStrategy = DefaultWait> {
    ring: &'c SpscRing<T, N, W>,
    /// The consumer's position, advanced on commit.
    head: &'c mut usize,
    len: usize,
}

// SAFETY: `&ReadChunk` hands out `&T` (`as_slices`), so sharing it needs `T: Sync`; this
// explicit impl replaces the auto impl, which would only require `T: Send`.
#[cfg(not(loom))]
unsafe impl<T: Send + Sync, const N: usize, W: WaitStrategy> Sync for ReadChunk<'_, T, N, W> {}

/// Frees the slots up to `new_head` when dropped, even while unwinding from a panicking
/// `T::drop` (the items were dropped or moved out, so they must never be read again).
#[cfg(not(loom))]
struct ReleaseOnDrop<'c, T, const N: usize, W: WaitStrategy> {
    ring: &'c SpscRing<T, N, W>,
    head: &'c mut usize,
    new_head: usize,
}

#[cfg(not(loom))]
impl<T, const N: usize, W: WaitStrategy> Drop for ReleaseOnDrop<'_, T, N, W> {
    #[inline]
    fn drop(&mut self) {
        *self.head = self.new_head;
        self.ring.head.store(self.new_head, Ordering::Release);
    }
}

#[cfg(not(loom))]
impl<'c, T, const N: usize, W: WaitStrategy> ReadChunk<'c, T, N, W> {
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
        let (start, a, b) = SpscRing::<T, N, W>::runs(*self.head, self.len);
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
        let (start, a, b) = SpscRing::<T, N, W>::runs(*self.head, self.len);
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
        let (start, a, b) = SpscRing::<T, N, W>::runs(*self.head, k);
        let new_head = SpscRing::<T, N, W>::advance(*self.head, k);
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
impl<'c, T, const N: usize, W: WaitStrategy> IntoIterator for ReadChunk<'c, T, N, W> {
    type Item = T;
    type IntoIter = ReadChunkIntoIter<'c, T, N, W>;

    /// Moves the items out, oldest first; their slots are freed when the iterator is
    /// dropped (one index store).
    fn into_iter(self) -> Self::IntoIter {
        let start = *self.head;
        ReadChunkIntoIter {
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
impl<T, const N: usize, W: WaitStrategy> fmt::Debug for ReadChunk<'_, T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}

/// Moves the items of a [`ReadChunk`] out of the ring; frees the slots of the items
/// taken when dropped. Items not taken stay in the ring.
#[cfg(not(loom))]
pub struct ReadChunkIntoIter<'c, T, const N: usize, W: WaitStrategy = DefaultWait> {
    /// `new_head`: the position after the last item taken.
    release: ReleaseOnDrop<'c, T, N, W>,
    remaining: usize,
}

#[cfg(not(loom))]
impl<T, const N: usize, W: WaitStrategy> Iterator for ReadChunkIntoIter<'_, T, N, W> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        let pos = self.release.new_head;
        let slot = SpscRing::<T, N, W>::slot(pos);
        // SAFETY: the slot holds an item of the chunk not yet taken; it is moved out once
        // and `new_head` moves past it at once, so it is never read or dropped again.
        let v = unsafe {
            self.release
                .ring
                .cell(slot)
                .with(|p| (*p).assume_init_read())
        };
        self.release.new_head = SpscRing::<T, N, W>::advance(pos, 1);
        self.remaining -= 1;
        Some(v)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(not(loom))]
impl<T, const N: usize, W: WaitStrategy> ExactSizeIterator for ReadChunkIntoIter<'_, T, N, W> {}

#[cfg(not(loom))]
impl<T, const N: usize, W: WaitStrategy> fmt::Debug for ReadChunkIntoIter<'_, T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunkIntoIter")
            .field("remaining", &self.remaining)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Async front end
// ---------------------------------------------------------------------------------------

#[cfg(feature = "async")]
pub use self::asynch::{AsyncConsumer, AsyncProducer};

#[cfg(feature = "async")]
mod asynch {
    use core::fmt;
    use core::ops::Deref;

    use super::{Consumer, PopError, Producer, PushError, SpscRing};
    use crate::asynch::{Async, WakerSet};
    use crate::wait::{DefaultWait, WaitStrategy};

    impl<T, const N: usize, W: WaitStrategy, const K: usize> Async<SpscRing<T, N, W>, K> {
        /// Splits into async producer and consumer handles (see [`SpscRing::split`]).
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
        pub fn split(&mut self) -> (AsyncProducer<'_, T, N, W, K>, AsyncConsumer<'_, T, N, W, K>) {
            let wakers = self.wakers();
            // SAFETY: `&mut self` proves that no other handle of the inner ring exists
            // (same argument as `SpscRing::split`: the only other ways to get handles
            // are a `split` borrowing this wrapper mutably and a `take` needing a
            // `&'static` shared borrow).
            let (p, c) = unsafe { self.inner().split_unchecked() };
            (
                AsyncProducer { inner: p, wakers },
                AsyncConsumer { inner: c, wakers },
            )
        }

        /// Hands out the async handles of a `static` ring exactly once (shares the
        /// once-flag of [`SpscRing::take`]).
        #[allow(clippy::type_complexity)]
        pub fn take(
            &'static self,
        ) -> Option<(
            AsyncProducer<'static, T, N, W, K>,
            AsyncConsumer<'static, T, N, W, K>,
        )> {
            let wakers = self.wakers();
            self.inner().take().map(|(p, c)| {
                (
                    AsyncProducer { inner: p, wakers },
                    AsyncConsumer { inner: c, wakers },
                )
            })
        }
    }

    /// The async writing handle: a [`Producer`] plus the wrapper's waker set.
    ///
    /// Read-only queries (`len`, `is_full`, `is_abandoned`, …) come from the inner
    /// [`Producer`] through `Deref`. Every state change made through this handle wakes
    /// the tasks parked on the ring. Dropping it wakes them too (the consumer's `pop`
    /// then returns `Disconnected` once the ring is drained).
    pub struct AsyncProducer<
        'a,
        T,
        const N: usize,
        W: WaitStrategy = DefaultWait,
        const K: usize = 4,
    > {
        inner: Producer<'a, T, N, W>,
        wakers: &'a WakerSet<K>,
    }

    impl<'a, T, const N: usize, W: WaitStrategy, const K: usize> AsyncProducer<'a, T, N, W, K> {
        /// Pushes `v`, waiting asynchronously while the ring is full, then wakes the
        /// consumer.
        ///
        /// Fails with [`PushError::Disconnected`] if the consumer is gone.
        ///
        /// Cancellation safety: the item is moved into the ring in the same poll that
        /// completes the future. A future dropped before completing has not touched the
        /// ring: the item is dropped with the future, never half-pushed or duplicated.
        pub async fn push(&mut self, v: T) -> Result<(), PushError<T>> {
            if self.inner.is_abandoned() {
                return Err(PushError::Disconnected(v));
            }
            let wakers = self.wakers;
            let producer = &mut self.inner;
            let room =
                core::future::poll_fn(|cx| wakers.poll_until(cx, || producer.poll_room())).await;
            if !room {
                return Err(PushError::Disconnected(v));
            }
            // SAFETY: `poll_room` saw a free slot; only we can fill it, and nothing ran
            // in between (no await point).
            unsafe { self.inner.write_one(v) };
            self.wakers.wake_all();
            Ok(())
        }

        /// [`Producer::try_push`], waking the consumer on success.
        pub fn try_push(&mut self, v: T) -> Result<(), PushError<T>> {
            self.inner.try_push(v)?;
            self.wakers.wake_all();
            Ok(())
        }

        /// [`Producer::push_slice`], waking the consumer if anything was pushed.
        pub fn push_slice(&mut self, src: &[T]) -> usize
        where
            T: Copy,
        {
            let n = self.inner.push_slice(src);
            if n > 0 {
                self.wakers.wake_all();
            }
            n
        }

        /// Wakes the tasks parked on the ring.
        pub fn notify(&self) {
            self.wakers.wake_all();
        }
    }

    impl<'a, T, const N: usize, W: WaitStrategy, const K: usize> Deref
        for AsyncProducer<'a, T, N, W, K>
    {
        type Target = Producer<'a, T, N, W>;
        fn deref(&self) -> &Self::Target {
            &self.inner
        }
    }

    impl<T, const N: usize, W: WaitStrategy, const K: usize> Drop for AsyncProducer<'_, T, N, W, K> {
        fn drop(&mut self) {
            // Mark the ring abandoned before waking, so woken tasks see it.
            self.inner.abandon();
            self.wakers.wake_all();
        }
    }

    impl<T, const N: usize, W: WaitStrategy, const K: usize> fmt::Debug
        for AsyncProducer<'_, T, N, W, K>
    {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("AsyncProducer").field(&self.inner).finish()
        }
    }

    /// The async reading handle: a [`Consumer`] plus the wrapper's waker set.
    ///
    /// Read-only queries (`len`, `peek`, `is_abandoned`, …) come from the inner
    /// [`Consumer`] through `Deref`. Every state change made through this handle wakes
    /// the tasks parked on the ring. Dropping it wakes them too (the producer's `push`
    /// then returns `Disconnected`).
    pub struct AsyncConsumer<
        'a,
        T,
        const N: usize,
        W: WaitStrategy = DefaultWait,
        const K: usize = 4,
    > {
        inner: Consumer<'a, T, N, W>,
        wakers: &'a WakerSet<K>,
    }

    impl<'a, T, const N: usize, W: WaitStrategy, const K: usize> AsyncConsumer<'a, T, N, W, K> {
        /// Pops the oldest item, waiting asynchronously while the ring is empty, then
        /// wakes the producer.
        ///
        /// Fails only with [`PopError::Disconnected`] (empty and the producer is gone).
        ///
        /// Cancellation safety: the item is taken out of the ring in the same poll that
        /// completes the future, so a dropped future never loses an item.
        pub async fn pop(&mut self) -> Result<T, PopError> {
            let wakers = self.wakers;
            let consumer = &mut self.inner;
            let available =
                core::future::poll_fn(|cx| wakers.poll_until(cx, || consumer.poll_item())).await;
            if !available {
                return Err(PopError::Disconnected);
            }
            // SAFETY: `poll_item` saw an item; only we can take it, and nothing ran in
            // between (no await point).
            let v = unsafe { self.inner.read_one() };
            self.wakers.wake_all();
            Ok(v)
        }

        /// [`Consumer::try_pop`], waking the producer on success.
        pub fn try_pop(&mut self) -> Result<T, PopError> {
            let v = self.inner.try_pop()?;
            self.wakers.wake_all();
            Ok(v)
        }

        /// [`Consumer::pop_slice`], waking the producer if anything was popped.
        pub fn pop_slice(&mut self, dst: &mut [T]) -> usize
        where
            T: Copy,
        {
            let n = self.inner.pop_slice(dst);
            if n > 0 {
                self.wakers.wake_all();
            }
            n
        }

        /// Wakes the tasks parked on the ring.
        pub fn notify(&self) {
            self.wakers.wake_all();
        }
    }

    impl<'a, T, const N: usize, W: WaitStrategy, const K: usize> Deref
        for AsyncConsumer<'a, T, N, W, K>
    {
        type Target = Consumer<'a, T, N, W>;
        fn deref(&self) -> &Self::Target {
            &self.inner
        }
    }

    impl<T, const N: usize, W: WaitStrategy, const K: usize> Drop for AsyncConsumer<'_, T, N, W, K> {
        fn drop(&mut self) {
            self.inner.abandon();
            self.wakers.wake_all();
        }
    }

    impl<T, const N: usize, W: WaitStrategy, const K: usize> fmt::Debug
        for AsyncConsumer<'_, T, N, W, K>
    {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("AsyncConsumer").field(&self.inner).finish()
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests of the prefetch paths (the integration tests use small rings, where they are off)
// ---------------------------------------------------------------------------------------

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use std::thread;
    use std::vec::Vec;

    use super::*;

    const ITEMS: u64 = if cfg!(miri) { 500 } else { 100_000 };

    /// An item of `S` bytes carrying a sequence number (sizes that do not divide a line).
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Item<const S: usize>([u8; S]);

    impl<const S: usize> Item<S> {
        fn new(n: u64) -> Self {
            let mut b = [0u8; S];
            b[..8].copy_from_slice(&n.to_le_bytes());
            b[S - 1] = n as u8;
            Item(b)
        }
    }

    /// How the two threads move items.
    #[derive(Clone, Copy)]
    enum Mode {
        /// `try_push` / `try_pop`.
        Single,
        /// `push_slice` / `pop_slice` with varying batch sizes.
        Slices,
        /// `write_chunk` + `commit` / `pop_slice`.
        Chunks,
    }

    /// Moves `ITEMS` items through a ring between two threads and checks the exact
    /// sequence on the consumer side.
    fn fifo<T: Copy + Send + PartialEq + fmt::Debug, const N: usize>(
        make: fn(u64) -> T,
        mode: Mode,
    ) {
        let mut ring: SpscRing<T, N> = SpscRing::new();
        let (mut tx, mut rx) = ring.split();
        thread::scope(|s| {
            s.spawn(move || {
                let mut next = 0u64;
                let mut batch = Vec::new();
                while next < ITEMS {
                    let k = match mode {
                        Mode::Single => 1,
                        _ => (next % 97 + 1).min(ITEMS - next).min(N as u64) as usize,
                    };
                    batch.clear();
                    batch.extend((next..next + k as u64).map(make));
                    let done = match mode {
                        Mode::Single => usize::from(tx.try_push(batch[0]).is_ok()),
                        Mode::Slices => tx.push_slice(&batch),
                        Mode::Chunks => match tx.write_chunk(k) {
                            Ok(mut chunk) => {
                                let (a, b) = chunk.as_mut_slices();
                                for (slot, v) in a.iter_mut().chain(b.iter_mut()).zip(&batch) {
                                    slot.write(*v);
                                }
                                // SAFETY: all `k` slots were written just above.
                                unsafe { chunk.commit_all() };
                                k
                            }
                            Err(_) => 0,
                        },
                    };
                    if done == 0 {
                        thread::yield_now();
                    }
                    next += done as u64;
                }
            });
            let mut want = 0u64;
            let mut buf = Vec::from_iter((0..64).map(make));
            while want < ITEMS {
                let got = match mode {
                    Mode::Single => match rx.try_pop() {
                        Ok(v) => {
                            buf[0] = v;
                            1
                        }
                        Err(_) => 0,
                    },
                    _ => {
                        let k = (want % 61 + 1) as usize;
                        rx.pop_slice(&mut buf[..k])
                    }
                };
                if got == 0 {
                    thread::yield_now();
                }
                for v in &buf[..got] {
                    assert_eq!(*v, make(want), "item {want}");
                    want += 1;
                }
            }
        });
    }

    /// The prefetch is on exactly where a free line ahead can exist.
    #[test]
    fn prefetch_decision_by_item_size_and_capacity() {
        assert_eq!(SpscRing::<u64, 1024>::AHEAD, 64);
        assert_eq!(SpscRing::<Item<24>, 1000>::AHEAD, 22);
        assert_eq!(SpscRing::<Item<128>, 64>::AHEAD, 4);
        assert_eq!(SpscRing::<(), 1024>::AHEAD, 0);
        assert_eq!(SpscRing::<u64, 1024>::AHEAD_FREE, 64 + 9);
        assert_eq!(SpscRing::<Item<128>, 64>::AHEAD_FREE, 4 + 2);
        assert_eq!(SpscRing::<u64, 1024>::PREFETCH, prefetch::ENABLED);
        assert_eq!(SpscRing::<u64, 74>::PREFETCH, prefetch::ENABLED);
        assert_eq!(SpscRing::<Item<24>, 1000>::PREFETCH, prefetch::ENABLED);
        assert_eq!(SpscRing::<Item<128>, 64>::PREFETCH, prefetch::ENABLED);
        // No line ahead is ever free in these (checked at compile time).
        const {
            assert!(!SpscRing::<u64, 73>::PREFETCH);
            assert!(!SpscRing::<u64, 16>::PREFETCH);
            assert!(!SpscRing::<Item<128>, 6>::PREFETCH);
            assert!(!SpscRing::<(), 1024>::PREFETCH);
        };
    }

    /// The CPUID answer is cached and stable.
    #[test]
    fn prefetchw_detection_is_stable() {
        let first = prefetch::supported();
        for _ in 0..3 {
            assert_eq!(prefetch::supported(), first);
        }
    }

    #[test]
    fn prefetching_rings_keep_fifo_order_single() {
        fifo::<u64, 1024>(|n| n, Mode::Single);
        fifo::<u64, 1000>(|n| n, Mode::Single);
        fifo::<u64, 74>(|n| n, Mode::Single);
        fifo::<Item<24>, 1000>(Item::new, Mode::Single);
        fifo::<Item<128>, 64>(Item::new, Mode::Single);
    }

    #[test]
    fn prefetching_rings_keep_fifo_order_slices() {
        fifo::<u64, 1024>(|n| n, Mode::Slices);
        fifo::<u64, 1000>(|n| n, Mode::Slices);
        fifo::<Item<24>, 1000>(Item::new, Mode::Slices);
        fifo::<Item<128>, 64>(Item::new, Mode::Slices);
    }

    #[test]
    fn prefetching_rings_keep_fifo_order_chunks() {
        fifo::<u64, 1024>(|n| n, Mode::Chunks);
        fifo::<u64, 1000>(|n| n, Mode::Chunks);
        fifo::<Item<24>, 1000>(Item::new, Mode::Chunks);
        fifo::<Item<128>, 64>(Item::new, Mode::Chunks);
    }
}
