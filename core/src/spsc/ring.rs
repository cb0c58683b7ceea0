//! The ring: [`SpscRingIn`] (and its inline form [`SpscRing`]), its layout, position
//! arithmetic and copies, once for every [`SlotStorage`].

use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
#[cfg(not(loom))]
use core::ptr;

use crate::atomic::{maybe_const_fn, AtomicBool, AtomicU32, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

use super::consumer::ConsumerIn;
use super::prefetch;
use super::producer::ProducerIn;
use super::storage::{empty_slots, Slot, SlotStorage};

/// How far ahead of its position, in bytes of slots, the producer claims cache lines
/// for writing (see "Prefetch ahead" in the module docs): 8 lines of 64
/// bytes, far enough for the ownership transfer to finish before the producer gets
/// there, near enough to stay clear of the lines the consumer is reading when the ring
/// is nearly full (a line is claimed only when the cached `head` proves it free).
const PREFETCH_AHEAD: usize = 512;

/// A wait-free single-producer / single-consumer ring of exactly `N` items stored inline
/// (see the [module docs](crate::spsc)): [`SpscRingIn`] over `[Slot<T>; N]`.
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
pub type SpscRing<T, const N: usize, W = DefaultWait> = SpscRingIn<T, [Slot<T>; N], W>;

/// The SPSC ring over a slot storage `S` (see [`SlotStorage`]): the one algorithm
/// behind [`SpscRing<T, N, W>`](SpscRing) (`S = [Slot<T>; N]`, the capacity a constant
/// in the type) and [`ShmSpscRing<T, W>`](super::ShmSpscRing) (`S = [Slot<T>]`, the
/// capacity chosen at run time, the slots following the ring in a shared mapping).
///
/// A reference to an inline ring coerces to one to the run-time-capacity form (as
/// `heapless`' views do), e.g. to write one function for rings of any capacity:
///
/// ```
/// use conkit_core::spsc::{ShmSpscRing, SpscRing};
/// use conkit_core::wait::Spin;
///
/// fn capacity_of(ring: &ShmSpscRing<u8, Spin>) -> usize {
///     ring.capacity()
/// }
/// let ring: SpscRing<u8, 5, Spin> = SpscRing::new();
/// assert_eq!(capacity_of(&ring), 5);
/// ```
#[repr(C)]
pub struct SpscRingIn<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    /// Position of the next item to read; written by the consumer only.
    pub(super) head: CachePadded<AtomicUsize>,
    /// Position of the next slot to write; written by the producer only.
    pub(super) tail: CachePadded<AtomicUsize>,
    /// Consumers blocked on "not empty" (notified by the producer).
    pub(super) not_empty: CachePadded<Waiters<W>>,
    /// Producers blocked on "not full" (notified by the consumer).
    pub(super) not_full: CachePadded<Waiters<W>>,
    /// Rarely written flags, on their own line so that slow-path reads of them do not
    /// share a line with the first slots.
    pub(super) flags: CachePadded<Flags>,
    /// The item type (the storage names it only through its trait bound). Zero-sized.
    pub(super) items: PhantomData<T>,
    /// The slots; slot `i` holds an item iff `i` is in `[head, tail)` (mod the
    /// capacity). Last, so that it may be unsized.
    pub(super) buffer: S,
}

/// The state flags of a ring.
#[repr(C)]
pub(super) struct Flags {
    /// The consumer handle was dropped.
    pub(super) consumer_gone: AtomicBool,
    /// The producer handle was dropped.
    pub(super) producer_gone: AtomicBool,
    /// [`SpscRing::take`] has handed out the handles.
    pub(super) taken: AtomicBool,
    /// `claim_producer` has handed out the producer (shared memory, see `shared.rs`).
    pub(super) producer_claimed: AtomicBool,
    /// `claim_consumer` has handed out the consumer.
    pub(super) consumer_claimed: AtomicBool,
    /// The [process token](WaitStrategy::process_token) of the process that claimed
    /// the producer (`claim_producer`, process-shared strategies only), else 0: a
    /// blocked consumer probes it (see "What a dead side costs" on
    /// [`ShmSpscRing`](super::ShmSpscRing)).
    pub(super) producer_owner: AtomicU32,
    /// The process token of the process that claimed the consumer, else 0.
    pub(super) consumer_owner: AtomicU32,
}

impl Flags {
    maybe_const_fn! {
        /// A fresh ring's flags: nothing claimed, nobody gone.
        pub(super) fn new() -> Self {
            Self {
                consumer_gone: AtomicBool::new(false),
                producer_gone: AtomicBool::new(false),
                taken: AtomicBool::new(false),
                producer_claimed: AtomicBool::new(false),
                consumer_claimed: AtomicBool::new(false),
                producer_owner: AtomicU32::new(0),
                consumer_owner: AtomicU32::new(0),
            }
        }
    }

    /// Whether the process recorded in `owner` is known to be dead (never with a
    /// process-private strategy, nor when no owner was recorded).
    #[inline]
    pub(super) fn owner_dead<W: WaitStrategy>(owner: &AtomicU32) -> bool {
        if !W::PROCESS_SHARED {
            return false;
        }
        let token = owner.load(Ordering::Acquire);
        token != 0 && !W::owner_alive(token)
    }
}

// SAFETY: the ring moves `T`s from the producer's thread to the consumer's, so `T: Send`
// is needed and sufficient: a slot is accessed by exactly one side at a time (the
// producer only in `[tail, head + N)`, the consumer only in `[head, tail)`), and the
// ownership transfer of a slot is ordered by the Release/Acquire pair on `head`/`tail`.
// Shared `&T` never reach two threads through the ring itself (see `Consumer`'s `Sync`).
// `W` is never instantiated (only `PhantomData` inside `Waiters`), so it needs no bound.
// The storages are sealed: slices of `Slot<T>`, which hold `T`s only.
unsafe impl<T: Send, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Sync for SpscRingIn<T, S, W> {}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> SpscRingIn<T, S, W> {
    /// The capacity (`N` for the inline storage: a constant after inlining).
    #[inline(always)]
    pub(super) fn cap(&self) -> usize {
        self.buffer.capacity()
    }

    /// Free-running masked counters instead of positions in `[0, 2N)`.
    #[inline(always)]
    fn pow2(&self) -> bool {
        self.cap().is_power_of_two()
    }

    /// [`PREFETCH_AHEAD`] in slots (0 for a zero-sized `T`).
    pub(super) const AHEAD: usize = match core::mem::size_of::<T>() {
        0 => 0,
        size => PREFETCH_AHEAD.div_ceil(size),
    };

    /// `size_of::<T>()`, at least 1 (zero-sized items never prefetch anyway).
    pub(super) const SIZE: usize = if core::mem::size_of::<T>() == 0 {
        1
    } else {
        core::mem::size_of::<T>()
    };

    /// The most slots that overlap one cache line.
    pub(super) const LINE_SLOTS: usize = prefetch::LINE.div_ceil(Self::SIZE) + 1;

    /// Free slots (from our position) that prove the line [`Self::AHEAD`] slots on
    /// free: up to the end of that line.
    pub(super) const AHEAD_FREE: usize = Self::AHEAD + Self::LINE_SLOTS;

    /// Whether the producer prefetches: the target can, `T` is sized, and the ring is
    /// large enough for a line that far ahead to be free.
    #[inline(always)]
    pub(super) fn prefetches(&self) -> bool {
        prefetch::ENABLED && core::mem::size_of::<T>() != 0 && Self::AHEAD_FREE < self.cap()
    }

    /// After `push_slice`: claims for writing the cache lines of the next `n` slots from
    /// position `pos`, of which `free` are known to be free, keeping a margin of one
    /// line to the consumer (see the module docs). One hint per line, so at most one
    /// per line the batch itself copied.
    #[inline]
    pub(super) fn claim_lines(&self, pos: usize, n: usize, free: usize) {
        if !self.prefetches() || free <= Self::LINE_SLOTS || !prefetch::supported() {
            return;
        }
        let size = Self::SIZE;
        let bytes = n.min(free - Self::LINE_SLOTS) * size;
        let mut off = 0;
        while off < bytes {
            let cell = self.cell(self.slot(self.advance(pos, off / size)));
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
    pub(super) fn starts_line(&self, slot: usize) -> bool {
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
    pub(super) fn claim_ahead(&self, tail: usize, free: usize) {
        if free > Self::AHEAD_FREE && prefetch::supported() {
            let cell = self.cell(self.slot(self.advance(tail, Self::AHEAD)));
            // SAFETY: `supported()` returned `true`.
            unsafe { prefetch::claim((cell as *const UnsafeCell<MaybeUninit<T>>).cast()) };
        }
    }

    /// Consumer side, when its cached `tail` shows too few items and it is about to
    /// reload the shared one: prefetches for reading the line of the slot at `pos`, the
    /// first one not yet known to be published (see "Prefetch while polling" in the
    /// module docs). The producer writes that slot before it publishes `tail`, so by the
    /// time the reload shows the item, its line is already on its way: the two cache
    /// misses of a pop after a wait overlap instead of following each other. A hint
    /// only (no memory access in the abstract machine, nothing ordered by it).
    #[inline(always)]
    pub(super) fn fetch_polled(&self, pos: usize) {
        if prefetch::ENABLED && core::mem::size_of::<T>() != 0 {
            let cell = self.cell(self.slot(pos));
            prefetch::fetch((cell as *const UnsafeCell<MaybeUninit<T>>).cast());
        }
    }

    /// Consumer side, once per new line: if more than [`PREFETCH_AHEAD`] bytes of
    /// items past position `head` are known to be published (`more` items), prefetches
    /// the line that far on for reading. A hint only.
    #[inline]
    pub(super) fn fetch_ahead(&self, head: usize, more: usize) {
        if more > Self::AHEAD_FREE {
            let cell = self.cell(self.slot(self.advance(head, Self::AHEAD)));
            prefetch::fetch((cell as *const UnsafeCell<MaybeUninit<T>>).cast());
        }
    }
}

impl<T, W: WaitStrategy> SpscRingIn<T, [Slot<T>], W> {
    /// The capacity, chosen when the ring was created.
    ///
    /// ```
    /// use conkit_core::spsc::{ShmSpscRing, SpscRing};
    ///
    /// let ring = SpscRing::<u8, 3>::new();
    /// let view: &ShmSpscRing<u8> = &ring;
    /// assert_eq!(view.capacity(), 3);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buffer.len()
    }
}

impl<T, const N: usize, W: WaitStrategy> SpscRingIn<T, [Slot<T>; N], W> {
    /// The capacity, `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
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
                flags: CachePadded::new(Flags::new()),
                items: PhantomData,
                buffer: empty_slots(),
            }
        }
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> SpscRingIn<T, S, W> {
    /// Splits the ring into its producer and consumer handles.
    ///
    /// Can be called again once both handles are dropped (the `&mut` borrow guarantees
    /// it); items left in the ring stay there, and the "abandoned" state is reset.
    pub fn split(&mut self) -> (ProducerIn<'_, T, S, W>, ConsumerIn<'_, T, S, W>) {
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
    #[allow(clippy::type_complexity)]
    pub fn take(
        &'static self,
    ) -> Option<(ProducerIn<'static, T, S, W>, ConsumerIn<'static, T, S, W>)> {
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
    pub(super) unsafe fn split_unchecked(
        &self,
    ) -> (ProducerIn<'_, T, S, W>, ConsumerIn<'_, T, S, W>) {
        self.flags.consumer_gone.store(false, Ordering::Relaxed);
        self.flags.producer_gone.store(false, Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        (
            ProducerIn {
                ring: self,
                tail,
                cached_head: head,
            },
            ConsumerIn {
                ring: self,
                head,
                cached_tail: tail,
            },
        )
    }

    // ---- position arithmetic (no division on any path) ----

    /// The slot index of position `pos` (always `< N`, the capacity).
    #[inline(always)]
    pub(super) fn slot(&self, pos: usize) -> usize {
        let n = self.cap();
        if self.pow2() {
            pos & (n - 1)
        } else if pos >= n {
            pos - n
        } else {
            pos
        }
    }

    /// `pos` moved forward by `n <= N` positions.
    #[inline(always)]
    pub(super) fn advance(&self, pos: usize, n: usize) -> usize {
        let cap = self.cap();
        if self.pow2() {
            pos.wrapping_add(n)
        } else {
            // pos < 2N and n <= N, so no overflow (N <= usize::MAX / 4).
            let p = pos + n;
            if p >= 2 * cap {
                p - 2 * cap
            } else {
                p
            }
        }
    }

    /// How many positions `to` is ahead of `from` (both valid positions, `to` not
    /// behind `from`): in `[0, N]`.
    #[inline(always)]
    pub(super) fn distance(&self, from: usize, to: usize) -> usize {
        if self.pow2() {
            to.wrapping_sub(from)
        } else if to >= from {
            to - from
        } else {
            to + 2 * self.cap() - from
        }
    }

    /// The slots of `n <= N` positions from `pos`: (first slot, length of the first
    /// run, length of the second run starting at slot 0).
    #[cfg(not(loom))]
    #[inline(always)]
    pub(super) fn runs(&self, pos: usize, n: usize) -> (usize, usize, usize) {
        let start = self.slot(pos);
        let cap = self.cap();
        let first = if n < cap - start { n } else { cap - start };
        (start, first, n - first)
    }

    /// The cell of slot `slot`.
    #[inline(always)]
    pub(super) fn cell(&self, slot: usize) -> &UnsafeCell<MaybeUninit<T>> {
        let slots = self.buffer.slots();
        debug_assert!(slot < slots.len());
        // SAFETY: every caller passes `self.slot(..)` or a run inside `[0, N)`.
        unsafe { &slots.get_unchecked(slot).0 }
    }

    /// A pointer to slot 0, valid for all `N` slots (for slice copies and chunks).
    ///
    /// [`Slot`] and our `UnsafeCell` are `repr(transparent)` over `core::cell::UnsafeCell`,
    /// itself `repr(transparent)`, so the slots are `N` contiguous `MaybeUninit<T>`; the pointer
    /// comes from a shared borrow of memory that lies entirely inside `UnsafeCell`s, so
    /// writing through it is allowed.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(super) fn base(&self) -> *mut MaybeUninit<T> {
        self.buffer
            .slots()
            .as_ptr()
            .cast::<MaybeUninit<T>>()
            .cast_mut()
    }

    /// Copies `src` into the slots of positions `pos..pos + src.len()`.
    ///
    /// # Safety
    /// Those slots must be free and owned by the caller (the producer), `src.len() <= N`.
    #[inline(always)]
    pub(super) unsafe fn copy_in(&self, pos: usize, src: &[T])
    where
        T: Copy,
    {
        #[cfg(not(loom))]
        {
            let (start, a, b) = self.runs(pos, src.len());
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
            let slot = self.slot(self.advance(pos, k));
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
    pub(super) unsafe fn copy_out(&self, pos: usize, dst: &mut [T])
    where
        T: Copy,
    {
        #[cfg(not(loom))]
        {
            let (start, a, b) = self.runs(pos, dst.len());
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
            let slot = self.slot(self.advance(pos, k));
            // SAFETY: the slot holds an initialized item owned by the caller.
            *v = unsafe { self.cell(slot).with(|p| (*p).assume_init_read()) };
        }
    }
}

impl<T, const N: usize, W: WaitStrategy> Default for SpscRingIn<T, [Slot<T>; N], W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> fmt::Debug for SpscRingIn<T, S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpscRing")
            .field("capacity", &self.cap())
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Drop for SpscRingIn<T, S, W> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        // `&mut self`: every handle is gone and synchronized with us.
        let mut pos = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        while pos != tail {
            let slot = self.slot(pos);
            // SAFETY: positions in `[head, tail)` hold initialized items, each dropped
            // exactly once here (nobody else can reach them any more).
            unsafe { self.cell(slot).with_mut(|p| (*p).assume_init_drop()) };
            pos = self.advance(pos, 1);
        }
    }
}
