//! Bounded multi-producer / multi-consumer ring: [`MpmcRing`].
//!
//! A fixed array of `N` slots (any `N >= 1`, not only powers of two; usable capacity
//! exactly `N`) stored inline, with a `const fn new`, so a ring can be a `static` in
//! firmware or live in memory shared between threads, processes or wasm workers. Any
//! number of producers and consumers use it through `&self`.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net): every slot
//! carries a sequence stamp, and a push or pop first *claims* a position with a
//! compare-and-swap on `tail` or `head`, then *hands over* the slot's value through the
//! slot's stamp (a `Release` store read with `Acquire`). With the refinements of
//! crossbeam-queue's `ArrayQueue`: `head` and `tail` sit on their own cache lines, and a
//! position is encoded as `lap + index` where the index bits reach up to the next power
//! of two `>= N` (so `N` need not be a power of two and wrapping needs no division).
//! As in crossbeam-channel's array flavor, one more bit sits between index and lap: a
//! "closed" mark on `tail` (crate-internal, used by [`crate::queue::RingQueue`]'s
//! shutdown: a closed ring refuses claims for pushes but drains).
//!
//! Differences from those two:
//! * A stamp holds only the lap its slot serves next plus one "full" bit (the index is
//!   the slot's own), so all-zero memory is a valid empty ring: a `static` ring goes to
//!   `.bss` (no flash image on firmware), and zeroed shared memory is ready to use.
//! * The `try_*` forms never wait for another thread (see *Progress* below).
//! * The fast paths use no `SeqCst` operation: the claim is a `Relaxed`
//!   compare-and-swap, the hand-over a `Release`/`Acquire` pair on the stamp. Only the
//!   "looks full / looks empty" path issues a `SeqCst` fence before reading the other
//!   index (as crossbeam does), which also slows down pollers of a full or empty ring.
//!   The fence is what makes `Full` / `None` mean "full / empty at some moment of the
//!   call": without it the look at `head` (`tail`) may return a value from before a pop
//!   (push) that, in the `SeqCst` order, completed before the call began (loom model
//!   `full_only_for_a_ring_that_was_full` and its mirror). It is also the second half
//!   of the Dekker pair by which [`RingQueue`](crate::queue::RingQueue)'s sleepers
//!   announce themselves (a `SeqCst` count, then this look at the other index).
//! * A spurious compare-and-swap failure (LL/SC targets) retries at once, without
//!   backing off: it is not contention.
//!
//! # Order
//! Items leave in the order their pushes claimed positions. So the items of one producer
//! leave in the order it pushed them, and every consumer receives each producer's items
//! in that order (two consumers may of course split them between themselves).
//!
//! # Progress: lock-free in the common case, blocking if a thread stops mid-operation
//! Claiming is lock-free: a failed compare-and-swap means another operation claimed. But
//! between its claim and its hand-over an operation holds its slot *in flight*, and the
//! ring is **not lock-free in the strict sense**: a consumer that reaches a slot whose
//! producer has claimed it but not yet written the item cannot take that item, nor (items
//! leave in order) any item behind it; likewise a producer one lap ahead cannot reuse a
//! slot whose consumer has claimed it but not yet read it out. If the thread in flight
//! is suspended there (preempted by the scheduler, stopped by a debugger, interrupted by
//! an interrupt handler on its core), the other side stalls at that slot until it
//! resumes. The window is a handful of instructions, so this is rare, but it is
//! the truth, shared with Vyukov's and crossbeam's queues (heapless deprecated its MPMC
//! queue for claiming otherwise, heapless#583).
//!
//! What this ring does about it: `try_push` / `try_pop` never wait for a thread in
//! flight. They spin at most 127 `spin_loop` hints (exponential backoff) for it, then report
//! [`Full`] / `None`. So `Full` means "no slot can be claimed without waiting" (the ring
//! is full, or the slot it needs is still being read by a consumer in flight), and
//! `None` means "no item can be taken without waiting" (the ring is empty, or the next
//! item's producer is in flight). The blocking forms wait for the peer as for any
//! full/empty ring.
//!
//! # Participants that die
//! Between processes (the ring in `MAP_SHARED` memory with a process-shared strategy
//! such as `SharedFutex`) a participant can be killed at any point:
//! * killed **asleep, or just woken** in a blocking form: costs nothing; wake-ups go to
//!   every sleeper between processes (see [`Waiters`]), and a waker that died before
//!   waking delays a sleeper by at most one sleep slice (at most 16 ms with `SharedFutex`);
//! * killed **anywhere in a push or pop**: with a process-shared strategy every claim
//!   is **reserved** in its slot first, so whoever waits for the dead one can name it.
//!   Before its compare-and-swap on `tail` (`head`), the claimant compare-and-swaps the
//!   slot's record from the record of an earlier claim of the slot to its own
//!   [owner token](WaitStrategy::owner_token) (its kernel thread id) tagged with the
//!   position's lap and "push" or "pop"; if its claim then fails (`close` set the mark,
//!   or a spurious failure) it restores the record. A reservation is exclusive: a
//!   claimant that finds the position reserved by another waits as for a claimant in
//!   flight. A blocking operation that finds a slot in flight (or reserved) probes
//!   the reserver ([`WaitStrategy::owner_alive`]) once a sleep slice has passed
//!   (whatever woke it meanwhile; and on its last look after a deadline: see
//!   [`Waiters::wait_until_probing`]); if it is gone, it reads the index (only *after*
//!   learning the death, so a claim the dead one made is seen):
//!   * still at the position: it died **before its claim**. Nothing is lost: its
//!     reservation is freed (the record keeps the claim, names nobody), and the next
//!     claimant of that kind (push or pop) takes the position;
//!   * past it: it died **between claim and hand-over** (mid-push or mid-pop, the
//!     window of *Progress* above). A consumer **skips** the dead push's slot (moves
//!     `head` past it with the compare-and-swap of a pop claim) and a producer
//!     **frees** the dead pop's slot (a compare-and-swap of its stamp to the next
//!     lap). The dead push's item, or the item the dead pop was taking, is lost; the
//!     items behind it are popped in order, and the slot serves the next lap.
//!
//!   So an unbounded [`pop`](MpmcRingIn::pop) or [`push`](MpmcRingIn::push) waits for a
//!   dead peer about 20 ms with `SharedFutex` (a sleep slice, then the probe), never
//!   for good. This is safe whatever the timing: a record is only trusted for the very
//!   claim it names (its lap and operation); only a dead reserver's reservation is
//!   freed, and only while the index shows it never claimed; and the claim's
//!   compare-and-swap is at least `Release`, so whoever sees the index past the
//!   position also sees the claimant's reservation (loom models
//!   `dead_reserver_before_its_push_claim_is_cleared` and its pop mirror,
//!   `dead_claimant_is_not_taken_for_a_dead_reserver`,
//!   `live_slow_reserver_is_never_cleared`, `dead_pusher_slot_is_skipped`,
//!   `dead_popper_slot_is_freed`, `live_pusher_behind_a_dead_record_is_not_skipped`,
//!   `shutdown_races_a_reserving_put`; mutants `mpmc_dead_reservation_kept`,
//!   `mpmc_index_before_death`, `mpmc_clear_live_reservation`). The cost: between
//!   processes a claimant paused (descheduled, stopped) between its reservation and
//!   its claim holds up the other claimants of that position, as one paused between
//!   claim and hand-over always did; a claimant that finds a reservation re-reads the
//!   index with a plain load (no write to the line the reserver is about to claim).
//!   Left: the wait-free `try_*` forms never probe (they report `None` / [`Full`] for
//!   such a slot until a blocking form has dealt with it); a kernel thread id reused by
//!   a new thread makes a dead claimant look alive (as for [`Lock`](crate::lock::Lock));
//!   and records keep 9 bits of the lap, so a claimant paused for a multiple of 512
//!   laps between reading the stamp and reserving could reserve a later lap's position
//!   for a moment (its claim then fails and it withdraws). Nothing of this for the
//!   process-private strategies: their claim is the bare compare-and-swap, and their
//!   slots have no record at all (the strategy's
//!   [`SlotOwner`](WaitStrategy::SlotOwner) is [`Unrecorded`], zero bytes: the word
//!   made a `queue::Queue` between two threads three times slower). With a
//!   process-shared strategy the record costs each slot a `u32` (a `u64` item's slot
//!   grows from 16 to 24 bytes), and each claim one more compare-and-swap, on the line
//!   the operation writes anyway. [`RingQueue`](crate::queue::RingQueue) also skips a
//!   slot in flight when it is shut down immediately.
//!
//! # Interrupt handlers
//! The `try_*` forms, [`len`](MpmcRingIn::len), [`notify`](MpmcRingIn::notify) (with a strategy
//! whose wake is interrupt-safe, e.g. [`Spin`](crate::wait::Spin)) are legal in an interrupt handler: they
//! take bounded time on a single core. The precise rule is:
//!
//! > An interrupt handler uses only the `try_*` forms, and treats `None` / `Full` as
//! > "not now", never as something to wait for: while it runs, the code it interrupted
//! > on the same core cannot finish an operation it was in the middle of.
//!
//! Concretely, when a handler interrupts a `push` on its core between claim and
//! hand-over, the handler's `try_pop` returns `None` even if other items are in the ring
//! (they are behind the interrupted one); they can be popped once the handler returns.
//! When it interrupts a `pop` mid-way, its `try_push` may report `Full` if the ring is
//! full up to that slot. A handler that looped on `try_pop` waiting for such an item, or
//! called a blocking form, would deadlock. Producer-in-interrupt / consumer-in-thread (or
//! the reverse) is the normal, safe use.
//!
//! # Blocking and waking
//! The blocking forms ([`push`](MpmcRingIn::push), [`push_until`](MpmcRingIn::push_until),
//! [`pop`](MpmcRingIn::pop), [`pop_until`](MpmcRingIn::pop_until)) wait on two
//! [`Waiters`] (not full / not empty) with the strategy `W`, and wake the other side
//! when they succeed. The `try_*` forms are the pure fast path and wake nobody. With
//! [`Spin`](crate::wait::Spin) (the default without the `std` feature) that needs no
//! care: spinning waiters re-check on their own. With a sleeping strategy (a futex, the
//! default with `std`; wasm atomics), whoever uses `try_push` / `try_pop` while someone
//! may sleep in a blocking form must call [`notify`](MpmcRingIn::notify) afterwards
//! (once per batch is enough, e.g. at the end of an interrupt handler). A library that
//! relies on spinning instead should name `Spin` (see
//! [`DefaultWait`]: features unify across a build).
//!
//! A blocking operation wakes one sleeper of the other side, except when it completes
//! *behind* later operations of its own side (they may have spent their wake-ups on
//! sleepers that found its slot still in flight): then it wakes them all, so no item or
//! free slot is ever left with everybody asleep.
//!
//! # Storage: inline or on the heap
//! The algorithm is written once, in [`MpmcRingIn<T, S, W>`], over any
//! [`SlotStorage`] `S`: a slice of [`Slot`]s whose length is the capacity. Two storages
//! exist:
//! * `[Slot<T>; N]`, inline: [`MpmcRing<T, N, W>`] (a type alias), with `const fn new`,
//!   for `static`s, firmware and shared memory. The capacity is a constant, so every
//!   lap computation folds away.
//! * `HeapSlots<T>`, a boxed slice (feature `std`): `HeapMpmcRing<T, W>`, with a
//!   capacity chosen at run time (`HeapMpmcRing::with_capacity`); the lap (the next
//!   power of two `>=` the capacity) is computed once, when the slots are allocated, and
//!   kept beside the slice, as crossbeam's `ArrayQueue` keeps its `one_lap` (computing
//!   it from the slice's length on every operation cost ~30 instructions per
//!   push + pop).
//!
//! # Performance
//! Measured against crossbeam-queue 0.3's `ArrayQueue` on a shared, noisy 2-core x86_64
//! VM, `try_push`/`try_pop` spin loops, 2 producers and 2 consumers (geometric mean of
//! paired runs, ours / crossbeam): with threads pinned 1.0–1.3x (1024 slots) and
//! 2–5x (8 and 64 slots); unpinned (four threads time-sliced on two cores) 0.6–1.3x with
//! 1024 slots, 1–2x with 8 and 64. One producer and one consumer: on par.
//!
//! # When to use it, when not
//! Use it to fan items in from several producers and out to several consumers with
//! bounded memory and no lock (work queues, interrupt-to-task hand-off with several
//! tasks). With exactly one producer and one consumer use [`crate::spsc`], which is
//! wait-free and cheaper. When an interrupt handler must never see the transient
//! `None` / `Full` caused by code it preempted, share a queue under a critical section
//! instead (e.g. a `heapless::Deque` in a `critical_section::Mutex`). For `task_done` /
//! `join` accounting or priorities use [`crate::queue`].
//!
//! # Example
//! ```
//! use conkit_core::mpmc::{Full, MpmcRing};
//!
//! // Capacity 3: any N >= 1 works.
//! static JOBS: MpmcRing<u32, 3> = MpmcRing::new();
//!
//! // An interrupt handler (or any thread): never waits.
//! fn on_event(job: u32) {
//!     if let Err(Full(job)) = JOBS.try_push(job) {
//!         // Ring full: drop, count, or retry at the next interrupt.
//!         let _ = job;
//!     }
//! }
//!
//! on_event(1);
//! on_event(2);
//! std::thread::scope(|s| {
//!     // Several workers take jobs. A blocking `pop` that finds nothing spins without
//!     // the `std` feature and sleeps with it (`DefaultWait`); whoever feeds a sleeping
//!     // worker with `try_push` calls `JOBS.notify()` afterwards.
//!     let a = s.spawn(|| JOBS.pop());
//!     let b = s.spawn(|| JOBS.pop());
//!     let mut got = [a.join().unwrap(), b.join().unwrap()];
//!     got.sort();
//!     assert_eq!(got, [1, 2]);
//! });
//! assert!(JOBS.is_empty());
//! ```

use core::fmt;
use core::mem::MaybeUninit;

use crate::atomic::{fence, maybe_const_fn, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{Backoff, DefaultWait, SlotOwner, Unrecorded, WaitStrategy, Waiters};
use crate::CachePadded;

/// The bit of a stamp that says "this slot holds the item of the stamp's lap".
const FULL: usize = 1;

/// One slot of a ring: an item's place plus its sequence stamp, and (`R`, the ring's
/// strategy's [`SlotOwner`](WaitStrategy::SlotOwner)) a record of its claimant for the
/// process-shared strategies, nothing for the others.
///
/// Only useful as the element of a [`SlotStorage`]; its contents are private to the
/// ring.
#[repr(C)]
pub struct Slot<T, R = Unrecorded> {
    /// `lap` of the next operation this slot serves: `lap` means "empty, waiting for the
    /// push at position `lap + index`", `lap | FULL` means "holds the item pushed there,
    /// waiting for the pop at the same position". The pop then stores the next lap.
    stamp: AtomicUsize,
    /// With a process-shared strategy only: who claimed the slot last, for what
    /// (see "Participants that die" in the module docs): the claimant's
    /// [owner token](WaitStrategy::owner_token) in the low [`TOKEN_BITS`] bits, above
    /// it the low bits of the claimed position's lap and whether it was a pop. 0 (all
    /// zero memory): nobody. [`Unrecorded`] (zero bytes) with the process-private
    /// strategies: a `u32` here grows a `u64` slot from 16 to 24 bytes, which made a
    /// `queue::Queue` between two threads three times slower.
    owner: R,
    /// The item, initialized exactly when `stamp & FULL != 0` and no pop is in flight.
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Bits of a slot's `owner` record that hold the claimant's token: Linux thread ids
/// are below `PID_MAX_LIMIT` (2^22).
const TOKEN_BITS: u32 = 22;
/// Selects the token of a record.
const TOKEN_MASK: u32 = (1 << TOKEN_BITS) - 1;
/// The record's bit that says "claimed for a pop".
const POP_TAG: u32 = 1 << TOKEN_BITS;
/// The same bit for a push: clear.
const PUSH_TAG: u32 = 0;

/// A reservation made by [`MpmcRingIn::reserve`]: our record, and the one it replaced
/// (restored if the claim fails).
#[derive(Clone, Copy)]
struct Reserved {
    ours: u32,
    found: u32,
}

impl Reserved {
    /// No reservation (the process-private strategies).
    const NONE: Self = Self { ours: 0, found: 0 };
}
/// The lap bits of a record start here (the rest of the word).
const LAP_SHIFT: u32 = TOKEN_BITS + 1;

impl<T, R: SlotOwner> Slot<T, R> {
    maybe_const_fn! {
        /// An empty slot of lap 0 (all zero bits but the uninitialized value).
        fn new() -> Self {
            Self {
                stamp: AtomicUsize::new(0),
                #[cfg(not(loom))]
                owner: R::NOBODY,
                #[cfg(loom)]
                owner: R::nobody(),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }
}

impl<T, R> fmt::Debug for Slot<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot(..)")
    }
}

#[cfg(not(loom))]
const fn empty_slots<T, R: SlotOwner, const N: usize>() -> [Slot<T, R>; N] {
    [const { Slot::new() }; N]
}

#[cfg(loom)]
fn empty_slots<T, R: SlotOwner, const N: usize>() -> [Slot<T, R>; N] {
    core::array::from_fn(|_| Slot::new())
}

mod sealed {
    pub trait Sealed {}
}

// Slots following the ring in shared memory, with a run-time capacity (`ShmMpmcRing`).
#[cfg(all(not(loom), any(feature = "portable-atomic", target_has_atomic = "ptr")))]
mod shared;
#[cfg(all(not(loom), any(feature = "portable-atomic", target_has_atomic = "ptr")))]
pub use shared::{ShmMpmcRing, ShmSlots};

/// Where a ring keeps its slots: `[Slot<T>; N]` inline, or `HeapSlots<T>` (feature
/// `std`). Sealed: the ring's safety rests on the slice being the same non-empty slice
/// of fresh slots for the ring's whole life, which only this crate's constructors
/// (`MpmcRing::new`, and `HeapMpmcRing::with_capacity` with feature `std`) guarantee.
pub trait SlotStorage<T>: sealed::Sealed {
    /// What each slot records of its claimant (the ring's strategy's
    /// [`SlotOwner`](WaitStrategy::SlotOwner)).
    type Owner: SlotOwner;

    /// The slots; their number is the ring's capacity.
    fn slots(&self) -> &[Slot<T, Self::Owner>];

    /// The `mark` bit of positions in a ring over these slots: the smallest power of
    /// two `>= max(capacity, 2)`.
    fn mark(&self) -> usize;
}

/// The smallest power of two `>= max(capacity, 2)`: the `mark` bit of a ring of that
/// capacity, just above its index bits.
#[inline(always)]
const fn mark_for(capacity: usize) -> usize {
    if capacity < 2 {
        2
    } else {
        capacity.next_power_of_two()
    }
}

impl<T, R: SlotOwner, const N: usize> sealed::Sealed for [Slot<T, R>; N] {}

impl<T, R: SlotOwner, const N: usize> SlotStorage<T> for [Slot<T, R>; N] {
    type Owner = R;

    #[inline(always)]
    fn slots(&self) -> &[Slot<T, R>] {
        self
    }

    #[inline(always)]
    fn mark(&self) -> usize {
        const { mark_for(N) }
    }
}

/// The slots of a [`HeapMpmcRing`] (or [`HeapRingQueue`](crate::queue::HeapRingQueue)):
/// a boxed slice, and the ring's `mark` computed once from its length (feature `std`).
/// Only this crate creates them (`with_capacity`).
#[cfg(feature = "std")]
pub struct HeapSlots<T, R = Unrecorded> {
    slots: std::boxed::Box<[Slot<T, R>]>,
    mark: usize,
}

#[cfg(feature = "std")]
impl<T, R: SlotOwner> HeapSlots<T, R> {
    /// `capacity` fresh slots.
    fn new(capacity: core::num::NonZeroUsize) -> Self {
        Self {
            slots: (0..capacity.get()).map(|_| Slot::new()).collect(),
            mark: mark_for(capacity.get()),
        }
    }
}

#[cfg(feature = "std")]
impl<T, R> fmt::Debug for HeapSlots<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapSlots")
            .field("capacity", &self.slots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "std")]
impl<T, R: SlotOwner> sealed::Sealed for HeapSlots<T, R> {}

#[cfg(feature = "std")]
impl<T, R: SlotOwner> SlotStorage<T> for HeapSlots<T, R> {
    type Owner = R;

    #[inline(always)]
    fn slots(&self) -> &[Slot<T, R>] {
        &self.slots
    }

    #[inline(always)]
    fn mark(&self) -> usize {
        self.mark
    }
}

/// A position claimed by a successful compare-and-swap on `tail` (to push) or `head`
/// (to pop). Its slot belongs to the claimant until it hands it over; not `Copy`, so a
/// claim is completed exactly once.
pub(crate) struct Claim {
    pos: usize,
}

/// Why no push position could be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// Full: `head` is a whole lap behind `tail`.
    Full,
    /// The slot's previous pop is in flight (claimed, not yet read out), or the claim
    /// kept failing: retry soon.
    InFlight,
    /// The ring was [closed](MpmcRingIn::close): pushes fail from now on.
    Closed,
}

/// Why no pop position could be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoItem {
    /// No item and no push in flight, ring open.
    Empty,
    /// The next item's push is in flight (claimed, not yet written).
    InFlight,
    /// No item, no push in flight, and the ring is closed: no item will ever come.
    Closed,
}

/// The two sets of sleepers, on a cache line of their own.
pub(crate) struct Sleepers<W: WaitStrategy> {
    /// Consumers waiting for an item.
    pub(crate) not_empty: Waiters<W>,
    /// Producers waiting for a free slot.
    pub(crate) not_full: Waiters<W>,
}

/// A bounded multi-producer / multi-consumer ring over the slots of `S` (see the
/// [module docs](self) for the algorithm and its progress guarantee). Use it as
/// [`MpmcRing<T, N, W>`] (inline slots) or `HeapMpmcRing<T, W>` (feature `std`: heap
/// slots, runtime capacity); every method is the same for both.
///
/// `W` is how the blocking forms wait ([`DefaultWait`] by default: spinning without the
/// `std` feature, a futex with it); the `try_*` forms never wait (nor wake: see
/// "Blocking and waking" in the [module docs](self)).
// `repr(C)`: the padded indices first and the slots last (the default layout put the
// slots first). It measured faster on the 2-producer/2-consumer benchmark with 1024
// slots, presumably because a prefetcher streaming through the slots no longer runs into
// the hot index lines.
#[repr(C)]
pub struct MpmcRingIn<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy = DefaultWait> {
    /// Position of the next pop (`lap + index`).
    head: CachePadded<AtomicUsize>,
    /// Position of the next push (`lap + index`), plus the `mark` bit once closed.
    tail: CachePadded<AtomicUsize>,
    sleepers: CachePadded<Sleepers<W>>,
    _items: core::marker::PhantomData<T>,
    /// Last: may be unsized (`ShmSlots`, slots following the ring in shared memory).
    slots: S,
}

/// A bounded multi-producer / multi-consumer ring of capacity exactly `N`, its slots
/// inline (see the [module docs](self) for the algorithm and its progress guarantee).
///
/// `W` is how the blocking forms wait ([`DefaultWait`] by default: spinning without the
/// `std` feature, a futex with it); the `try_*` forms never wait (nor wake: see
/// "Blocking and waking" in the [module docs](self)).
///
/// # Example
/// ```
/// use conkit_core::mpmc::{Full, MpmcRing};
///
/// let ring: MpmcRing<&str, 2> = MpmcRing::new();
/// assert_eq!(ring.try_push("a"), Ok(()));
/// assert_eq!(ring.try_push("b"), Ok(()));
/// assert_eq!(ring.try_push("c"), Err(Full("c")));
/// assert_eq!(ring.len(), 2);
/// assert_eq!(ring.try_pop(), Some("a"));
/// ring.push("c"); // blocking form: there is room now
/// assert_eq!(ring.pop(), "b");
/// assert_eq!(ring.pop(), "c");
/// assert_eq!(ring.try_pop(), None);
/// ```
pub type MpmcRing<T, const N: usize, W = DefaultWait> =
    MpmcRingIn<T, [Slot<T, <W as WaitStrategy>::SlotOwner>; N], W>;

/// A bounded multi-producer / multi-consumer ring whose capacity is chosen at run time,
/// its slots on the heap (feature `std`). The same algorithm and methods as
/// [`MpmcRing`].
///
/// # Example
/// ```
/// use core::num::NonZeroUsize;
/// use conkit_core::mpmc::{Full, HeapMpmcRing};
///
/// let cap = NonZeroUsize::new(3).unwrap();
/// let ring: HeapMpmcRing<u32> = HeapMpmcRing::with_capacity(cap);
/// for i in 0..3 {
///     ring.try_push(i).unwrap();
/// }
/// assert_eq!(ring.try_push(9), Err(Full(9)));
/// assert_eq!(ring.try_pop(), Some(0));
/// assert_eq!(ring.capacity(), 3);
/// ```
#[cfg(feature = "std")]
pub type HeapMpmcRing<T, W = DefaultWait> =
    MpmcRingIn<T, HeapSlots<T, <W as WaitStrategy>::SlotOwner>, W>;

// SAFETY: items move in on one thread and out on another, hence `T: Send`. A slot's
// value is only touched by the one thread whose compare-and-swap claimed its position,
// and the stamp's Release/Acquire hand-over orders consecutive owners; no `&T` is ever
// shared, so `T: Sync` is not needed. The storages (sealed: an array or a boxed slice
// of slots) are only read through `&self` to find the slots. `W` is a zero-sized marker
// whose associated functions any thread may call.
unsafe impl<T: Send, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Sync for MpmcRingIn<T, S, W> {}
// SAFETY: as above; the ring owns its items and its storage, so sending it sends them
// (`T: Send`; the storages own nothing else).
unsafe impl<T: Send, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Send for MpmcRingIn<T, S, W> {}

impl<T, const N: usize, W: WaitStrategy> MpmcRingIn<T, [Slot<T, W::SlotOwner>; N], W> {
    maybe_const_fn! {
        /// An empty ring (`const`: usable in a `static`). `N == 0` fails to compile.
        pub fn new() -> Self {
            const { assert!(N > 0, "an MpmcRing needs a capacity N >= 1") };
            Self::with_slots(empty_slots())
        }
    }
}

#[cfg(feature = "std")]
impl<T, W: WaitStrategy> MpmcRingIn<T, HeapSlots<T, W::SlotOwner>, W> {
    /// An empty ring of capacity exactly `capacity`, its slots on the heap.
    ///
    /// All `capacity` slots are allocated at once (one stamp word plus one `T` each).
    ///
    /// # Panics
    /// As `Vec::with_capacity`: if the slots' size overflows `isize::MAX` bytes (the
    /// allocator aborts if memory runs out).
    pub fn with_capacity(capacity: core::num::NonZeroUsize) -> Self {
        Self::with_slots(HeapSlots::new(capacity))
    }
}

impl<T, S: SlotStorage<T>, W: WaitStrategy> MpmcRingIn<T, S, W> {
    maybe_const_fn! {
        /// A ring over `slots`, which must be non-empty fresh slots (only this module's
        /// constructors call it).
        fn with_slots(slots: S) -> Self {
            Self {
                head: CachePadded::new(AtomicUsize::new(0)),
                tail: CachePadded::new(AtomicUsize::new(0)),
                sleepers: CachePadded::new(Sleepers {
                    not_empty: Waiters::new(),
                    not_full: Waiters::new(),
                }),
                _items: core::marker::PhantomData,
                slots,
            }
        }
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> MpmcRingIn<T, S, W> {
    /// The capacity.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.slots().len()
    }

    /// The `mark` bit of `tail` (a closed ring), just above the index bits: the
    /// smallest power of two `>= max(capacity, 2)`, so indices fit below it. Constant
    /// for inline storage; computed once for heap storage.
    #[inline(always)]
    fn mark(&self) -> usize {
        self.slots.mark()
    }

    /// One lap: the bit above `mark`, so neither the index, nor `mark`, nor the stamps'
    /// `FULL` bit ever touch the lap.
    #[inline(always)]
    fn one_lap(&self) -> usize {
        self.mark() << 1
    }

    /// Selects the index of a position.
    #[inline(always)]
    fn index_mask(&self) -> usize {
        self.mark() - 1
    }

    /// Selects the lap of a position.
    #[inline(always)]
    fn lap_of(&self, pos: usize) -> usize {
        pos & !(self.one_lap() - 1)
    }

    /// Pushes `value` if a slot can be claimed without waiting; otherwise hands it back
    /// in [`Full`] (the ring is full, or the next slot is still being read by a consumer
    /// in flight, see the module docs). Never waits; legal in an interrupt handler.
    ///
    /// Wakes nobody: see [`notify`](Self::notify).
    #[inline]
    pub fn try_push(&self, value: T) -> Result<(), Full<T>> {
        match self.claim_push() {
            Ok(claim) => {
                self.write(claim, value);
                Ok(())
            }
            Err(_) => Err(Full(value)),
        }
    }

    /// Pops the oldest item if it can be taken without waiting; `None` when the ring is
    /// empty or the next item's producer is still in flight (see the module docs). Never
    /// waits; legal in an interrupt handler.
    ///
    /// Wakes nobody: see [`notify`](Self::notify).
    #[inline]
    pub fn try_pop(&self) -> Option<T> {
        self.claim_pop().ok().map(|claim| self.read(claim))
    }

    /// Pushes `value`, waiting with `W` while the ring is full, then wakes a consumer.
    pub fn push(&self, value: T) {
        let claim = loop {
            // Without a deadline only `Some` comes back; loop for the type.
            if let Some(claim) = self
                .sleepers
                .not_full
                .wait_until_probing(None, |probe| self.claim_push_probing(probe))
            {
                break claim;
            }
        };
        let pos = claim.pos;
        self.write(claim, value);
        self.wake_consumers(pos);
    }

    /// Pushes `value`, waiting with `W` while the ring is full but not past `deadline`;
    /// hands the value back in [`Full`] if the deadline passes first.
    pub fn push_until(&self, value: T, deadline: W::Deadline) -> Result<(), Full<T>> {
        match self
            .sleepers
            .not_full
            .wait_until_probing(Some(deadline), |probe| self.claim_push_probing(probe))
        {
            Some(claim) => {
                let pos = claim.pos;
                self.write(claim, value);
                self.wake_consumers(pos);
                Ok(())
            }
            None => Err(Full(value)),
        }
    }

    /// Pops the oldest item, waiting with `W` while the ring is empty, then wakes a
    /// producer.
    pub fn pop(&self) -> T {
        let claim = loop {
            if let Some(claim) = self
                .sleepers
                .not_empty
                .wait_until_probing(None, |probe| self.claim_pop_probing(probe))
            {
                break claim;
            }
        };
        let pos = claim.pos;
        let value = self.read(claim);
        self.wake_producers(pos);
        value
    }

    /// Pops the oldest item, waiting with `W` while the ring is empty but not past
    /// `deadline`; `None` if the deadline passes first.
    pub fn pop_until(&self, deadline: W::Deadline) -> Option<T> {
        let claim = self
            .sleepers
            .not_empty
            .wait_until_probing(Some(deadline), |probe| self.claim_pop_probing(probe))?;
        let pos = claim.pos;
        let value = self.read(claim);
        self.wake_producers(pos);
        Some(value)
    }

    /// Pushes `value`, waiting asynchronously while the ring is full (feature `async`),
    /// then wakes a consumer — a thread in [`pop`](Self::pop) or a task in
    /// [`pop_async`](Self::pop_async) alike. The task parks on the ring's own not-full
    /// event count ([`Waiters::poll_async`]), so a thread's plain blocking `pop` (or a
    /// [`notify`](Self::notify) after `try_pop`s) wakes it. A slot still held by a
    /// consumer in flight needs no polling: that consumer's wake-up (after a `SeqCst`
    /// fence, when it used a blocking or async form) and the task's last look form a
    /// Dekker pair.
    ///
    /// Cancel-safe: the slot is claimed and written in the poll that completes the
    /// future; dropped before, the value is dropped with it and nothing stays parked.
    /// Between processes a task is not told of a peer that died in flight (no sleep
    /// slice passes for a task): the next change on the ring wakes it.
    ///
    /// ```
    /// use conkit_core::mpmc::MpmcRing;
    ///
    /// static RING: MpmcRing<u32, 4> = MpmcRing::new();
    /// let task = async {
    ///     RING.push_async(1).await;
    ///     assert_eq!(RING.pop_async().await, 1);
    /// };
    /// # let _ = task;
    /// ```
    #[cfg(feature = "async")]
    pub fn push_async(&self, value: T) -> impl core::future::Future<Output = ()> + '_ {
        let mut value = Some(value);
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| {
            self.sleepers.not_full.poll_async(&mut slot, cx, || {
                let claim = match value {
                    Some(_) => self.claim_push_probing(false)?,
                    // Polled again after completing: nothing left to push.
                    None => return Some(()),
                };
                if let Some(v) = value.take() {
                    let pos = self.write(claim, v);
                    self.wake_consumers(pos);
                }
                Some(())
            })
        })
    }

    /// Pops the oldest item, waiting asynchronously while the ring is empty (feature
    /// `async`), then wakes a producer — a thread in [`push`](Self::push) or a task in
    /// [`push_async`](Self::push_async) alike. A thread's plain blocking `push` (or a
    /// [`notify`](Self::notify) after `try_push`es, e.g. at the end of an interrupt
    /// handler) wakes it; see [`push_async`](Self::push_async).
    ///
    /// Cancel-safe: the item leaves the ring in the poll that completes the future.
    ///
    /// ```
    /// use conkit_core::mpmc::MpmcRing;
    ///
    /// let ring: MpmcRing<&str, 2> = MpmcRing::new();
    /// ring.try_push("job").unwrap();
    /// let task = async { assert_eq!(ring.pop_async().await, "job") };
    /// # let _ = task;
    /// ```
    #[cfg(feature = "async")]
    pub fn pop_async(&self) -> impl core::future::Future<Output = T> + '_ {
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| {
            self.sleepers.not_empty.poll_async(&mut slot, cx, || {
                let claim = self.claim_pop_probing(false)?;
                let pos = claim.pos;
                let value = self.read(claim);
                self.wake_producers(pos);
                Some(value)
            })
        })
    }

    /// Wakes every producer and consumer sleeping in a blocking form, so they re-check.
    ///
    /// Call it after `try_push` / `try_pop` (once per batch is enough) when the other
    /// side may sleep with a strategy other than [`Spin`](crate::wait::Spin) (e.g. the
    /// futex, the default with the `std` feature). Costs a fence and two loads
    /// when nobody sleeps.
    pub fn notify(&self) {
        self.sleepers.not_empty.notify_all();
        self.sleepers.not_full.notify_all();
    }

    /// The number of items, a snapshot (it may be stale by the time it is used).
    ///
    /// It counts claimed positions: pushes in flight are included, pops in flight are not.
    pub fn len(&self) -> usize {
        let unmarked = !self.mark();
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // `tail` unchanged across the read of `head`: the two belong together.
            if self.tail.load(Ordering::SeqCst) == tail {
                return self.distance(head, tail & unmarked);
            }
        }
    }

    /// `true` if the ring holds no item (a snapshot, like [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if the ring holds [`capacity`](Self::capacity) items (a snapshot, like
    /// [`len`](Self::len)).
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Items between positions `head` and `tail` (unmarked), clamped to
    /// `0..=capacity` in case the two were read while others moved them.
    #[inline]
    fn distance(&self, head: usize, tail: usize) -> usize {
        let cap = self.capacity() as isize;
        let mask = self.index_mask();
        let laps =
            (self.lap_of(tail).wrapping_sub(self.lap_of(head)) as isize) / self.one_lap() as isize;
        let n = laps
            .saturating_mul(cap)
            .saturating_add((tail & mask) as isize - (head & mask) as isize);
        n.clamp(0, cap) as usize
    }

    /// The position after `pos` (unmarked).
    #[inline]
    fn advance(&self, pos: usize) -> usize {
        if (pos & self.index_mask()) + 1 < self.capacity() {
            // Same lap, next index (no overflow: index + 1 < capacity <= mark).
            pos + 1
        } else {
            // Next lap, index 0.
            self.lap_of(pos).wrapping_add(self.one_lap())
        }
    }

    /// The slot of position `pos`.
    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T, S::Owner> {
        let slots = self.slots.slots();
        let index = pos & self.index_mask();
        debug_assert!(index < slots.len());
        // SAFETY: positions are only made by `with_slots` (0), `advance` and
        // `written_ahead` (`k < capacity` past `head`, wrapped), which keep the index
        // below the capacity, the length of `slots` (the storage is sealed and
        // returns the same slice every time); `mark` is never set in a position passed
        // here (`claim_push` returns before, `head` never carries it).
        unsafe { slots.get_unchecked(index) }
    }

    /// Closes the ring for pushes: from now on every claim for a push fails with
    /// [`NoSlot::Closed`], while pops drain the items (and the pushes already claimed)
    /// and then report [`NoItem::Closed`]. Wakes every sleeper. Returns `false` if it
    /// was closed already.
    ///
    /// Crate-internal: the public ring has no closed state (its blocking `push` would
    /// wait forever); the Python-style [`RingQueue`](crate::queue::RingQueue) owns its
    /// ring and uses this for `shutdown`.
    pub(crate) fn close(&self) -> bool {
        let mark = self.mark();
        let was = self.tail.fetch_or(mark, Ordering::SeqCst);
        self.notify();
        was & mark == 0
    }

    /// Moves `head` past the position it is at, without reading its slot, if the ring
    /// is closed and a push claimed that position (its push in flight, or done just
    /// now); returns whether it did. For [`RingQueue::shutdown(true)`](crate::queue::RingQueue::shutdown)
    /// between processes, whose putter may have died between claim and hand-over.
    ///
    /// Memory-safe whatever that putter does: a closed ring takes no new push claim,
    /// so nobody else ever writes the skipped slot, and nobody reads it (`head` is past
    /// it); a putter that was only slow writes its item there, where it stays until the
    /// ring is dropped (its `Drop` goes by the stamps).
    pub(crate) fn skip_in_flight_pop(&self) -> bool {
        let mark = self.mark();
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::SeqCst);
        if tail & mark == 0 || tail & !mark == head {
            return false;
        }
        self.head
            .compare_exchange(
                head,
                self.advance(head),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// `true` once [`close`](Self::close) was called.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.mark() != 0
    }

    /// How many positions were claimed for pushes since the ring was made, modulo
    /// [`push_count_modulus`](Self::push_count_modulus): `tail` read as a count (a
    /// `SeqCst` load). Every successful push, and only those, adds one.
    #[inline]
    pub(crate) fn pushes_claimed(&self) -> usize {
        let tail = self.tail.load(Ordering::SeqCst) & !self.mark();
        let shift = self.one_lap().trailing_zeros();
        // No overflow: `tail >> shift < 2^(BITS - shift)` and `capacity <= one_lap / 2`.
        (tail >> shift) * self.capacity() + (tail & self.index_mask())
    }

    /// The modulus of [`pushes_claimed`](Self::pushes_claimed): the number of positions
    /// before `tail` wraps around (`2^BITS / one_lap` laps of `capacity`), at least
    /// `2^(BITS-1) / capacity * capacity`-ish, i.e. about `2^63` on 64-bit targets and
    /// `2^31` on 32-bit ones.
    #[inline]
    pub(crate) fn push_count_modulus(&self) -> usize {
        ((usize::MAX >> self.one_lap().trailing_zeros()) + 1) * self.capacity()
    }

    /// Whether the item `k` positions past `head` (`k < capacity`) has been written: a
    /// look at that slot's stamp only, no claim, no look at `tail` (for `RingQueue`'s
    /// batched get, a hint: `Relaxed`, and a pop may move `head` meanwhile).
    #[inline]
    pub(crate) fn written_ahead(&self, k: usize) -> bool {
        debug_assert!(k < self.capacity());
        let head = self.head.load(Ordering::Relaxed);
        let index = (head & self.index_mask()) + k;
        let pos = if index < self.capacity() {
            head + k
        } else {
            self.lap_of(head).wrapping_add(self.one_lap()) + (index - self.capacity())
        };
        let stamp = self.slot(pos).stamp.load(Ordering::Relaxed);
        stamp.wrapping_sub(self.lap_of(pos)) == FULL
    }

    /// The two sets of sleepers (for the queue built on the ring).
    #[inline]
    pub(crate) fn sleepers(&self) -> &Sleepers<W> {
        &self.sleepers
    }

    /// Claims the position at `tail` for a push; `Err` when that needs waiting or the
    /// ring is closed. The claim's compare-and-swap is `Relaxed`.
    #[inline]
    pub(crate) fn claim_push(&self) -> Result<Claim, NoSlot> {
        self.claim_push_with(Ordering::Relaxed)
    }

    /// [`claim_push`](Self::claim_push) with `order` for the successful
    /// compare-and-swap on `tail` (`SeqCst` when the claim is one half of a Dekker
    /// pair, as in [`RingQueue`](crate::queue::RingQueue)).
    #[inline(always)]
    pub(crate) fn claim_push_with(&self, order: Ordering) -> Result<Claim, NoSlot> {
        self.claim_push_fenced::<true>(order)
    }

    /// [`claim_push_with`](Self::claim_push_with) whose "looks full" path issues its
    /// `SeqCst` fence only if `FENCE`. Without it `Full` may be stale (a pop that
    /// completed just before the call may be missed), so only for a caller for whom a
    /// `Full` never ends the operation: it looks again after a `SeqCst` fence of its
    /// own that follows everything the fence here would order (the async forms of
    /// [`RingQueue`](crate::queue::RingQueue): a "full" first look only leads to
    /// parking, and the last look comes after the park's fence, which serves both
    /// Dekker pairs; see "Async tasks" in `Waiters`).
    #[inline(always)]
    pub(crate) fn claim_push_fenced<const FENCE: bool>(
        &self,
        order: Ordering,
    ) -> Result<Claim, NoSlot> {
        let mark = self.mark();
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & mark != 0 {
                return Err(NoSlot::Closed);
            }
            let lap = self.lap_of(tail);
            let stamp = self.slot(tail).stamp.load(Ordering::Acquire);
            // How far the slot is ahead of "empty, for the push at `tail`".
            let ahead = stamp.wrapping_sub(lap) as isize;
            if ahead == 0 {
                // With a process-shared strategy, reserve the position in the slot's
                // record first (see "Participants that die"): a claimant killed at any
                // point can then be named. Taken by another claimant: wait as for a
                // claimant in flight.
                let reserved = if W::PROCESS_SHARED {
                    match self.reserve(tail, PUSH_TAG) {
                        Some(reserved) => reserved,
                        None => {
                            // A plain load, as for a stale `tail` below: a write here
                            // (a `fetch_add(0)` to read the latest `tail`) would take
                            // the line from the claimant we wait for.
                            tail = self.tail.load(Ordering::Relaxed);
                            // (Under loom, whose spin hints are yields, report at once:
                            // the models' waits retry.)
                            if backoff.is_spun_out() || cfg!(loom) {
                                return Err(NoSlot::InFlight);
                            }
                            backoff.spin();
                            continue;
                        }
                    }
                } else {
                    Reserved::NONE
                };
                // The Acquire above ordered the previous pop's read of this slot before
                // our write; the compare-and-swap makes the position ours alone. (It
                // fails if `close` set the mark meanwhile: the position is not ours.)
                match self.tail.compare_exchange_weak(
                    tail,
                    self.advance(tail),
                    Self::claim_order(order),
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Claim { pos: tail }),
                    Err(current) => {
                        if W::PROCESS_SHARED {
                            self.withdraw(tail, reserved);
                        }
                        // A spurious failure (LL/SC) is no contention: retry at once.
                        if current != tail {
                            tail = current;
                            backoff.spin();
                        }
                    }
                }
            } else if ahead < 0 {
                // The slot is a lap behind: it still holds the previous lap's item (the
                // ring is full, or that item's pop is in flight), or the previous lap's
                // push is still in flight. The fence orders our reading of `head` after
                // everything before it, so "full" is only reported for a ring that was.
                // (`conkit_mutant`: a broken variant the loom models must catch, see
                // lib.rs.)
                if FENCE && !cfg!(conkit_mutant = "mpmc_no_full_fence") {
                    fence(Ordering::SeqCst);
                }
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap()) == tail {
                    return Err(NoSlot::Full);
                }
                if backoff.is_spun_out() {
                    return Err(NoSlot::InFlight);
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another push already took this position: `tail` is stale. (The stamp
                // was stored after that push moved `tail`, and we read it with Acquire,
                // so the reload sees a newer `tail`.)
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Claims the position at `head` for a pop; `Err` when that needs waiting, saying
    /// whether the ring is empty, waits for a push in flight, or is closed and drained.
    /// The claim's compare-and-swap is `Relaxed`.
    #[inline]
    pub(crate) fn claim_pop(&self) -> Result<Claim, NoItem> {
        self.claim_pop_with(Ordering::Relaxed)
    }

    /// [`claim_pop`](Self::claim_pop) with `order` for the successful compare-and-swap
    /// on `head`.
    #[inline(always)]
    pub(crate) fn claim_pop_with(&self, order: Ordering) -> Result<Claim, NoItem> {
        self.claim_pop_fenced::<true>(order)
    }

    /// [`claim_pop_with`](Self::claim_pop_with) whose "looks empty" path issues its
    /// `SeqCst` fence only if `FENCE` (see
    /// [`claim_push_fenced`](Self::claim_push_fenced): `Empty` may be stale, for a
    /// caller whose last look follows a `SeqCst` fence of its own).
    #[inline(always)]
    pub(crate) fn claim_pop_fenced<const FENCE: bool>(
        &self,
        order: Ordering,
    ) -> Result<Claim, NoItem> {
        let mark = self.mark();
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let lap = self.lap_of(head);
            let stamp = self.slot(head).stamp.load(Ordering::Acquire);
            // How far the slot is ahead of "empty, for the push at `head`".
            let ahead = stamp.wrapping_sub(lap) as isize;
            if ahead == FULL as isize {
                // Process-shared: reserve first, as for a push.
                let reserved = if W::PROCESS_SHARED {
                    match self.reserve(head, POP_TAG) {
                        Some(reserved) => reserved,
                        None => {
                            // A plain load: as for a push.
                            head = self.head.load(Ordering::Relaxed);
                            if backoff.is_spun_out() || cfg!(loom) {
                                return Err(NoItem::InFlight);
                            }
                            backoff.spin();
                            continue;
                        }
                    }
                } else {
                    Reserved::NONE
                };
                // The Acquire above ordered the push's write of the item before our read.
                match self.head.compare_exchange_weak(
                    head,
                    self.advance(head),
                    Self::claim_order(order),
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Claim { pos: head }),
                    Err(current) => {
                        if W::PROCESS_SHARED {
                            self.withdraw(head, reserved);
                        }
                        // A spurious failure (LL/SC) is no contention: retry at once.
                        if current != head {
                            head = current;
                            backoff.spin();
                        }
                    }
                }
            } else if ahead <= 0 {
                // No item for this position yet: the ring is empty, or its push is in
                // flight (or the previous lap's pop of the slot still is). Fence: as above.
                if FENCE && !cfg!(conkit_mutant = "mpmc_no_empty_fence") {
                    fence(Ordering::SeqCst);
                }
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !mark == head {
                    // No push claimed beyond `head`: empty, and for good once closed
                    // (a closed `tail` takes no new claim).
                    return Err(if tail & mark != 0 {
                        NoItem::Closed
                    } else {
                        NoItem::Empty
                    });
                }
                if backoff.is_spun_out() {
                    return Err(NoItem::InFlight);
                }
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another pop already took this position: `head` is stale.
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// The `owner` record of a claim of `pos` (`op`: [`PUSH_TAG`] or [`POP_TAG`]) by
    /// the thread whose token is `token` (0: nobody, a free reservation).
    #[inline(always)]
    fn record_of(&self, pos: usize, op: u32, token: u32) -> u32 {
        let lap = (pos >> self.one_lap().trailing_zeros()) as u32;
        (lap << LAP_SHIFT) | op | (token & TOKEN_MASK)
    }

    /// The `order` of a claim's successful compare-and-swap on `tail` or `head`: with a
    /// process-shared strategy at least `Release`, so that whoever reads the moved
    /// index with `Acquire` (a probe deciding the claimant died mid-operation) also
    /// sees the claimant's reservation, made before, and not an older record (see
    /// [`claimant_dead`](Self::claimant_dead); free on x86, where every
    /// compare-and-swap is a full barrier). The process-private strategies keep
    /// `order`.
    #[inline(always)]
    fn claim_order(order: Ordering) -> Ordering {
        if W::PROCESS_SHARED && order == Ordering::Relaxed {
            Ordering::Release
        } else {
            order
        }
    }

    /// With a process-shared strategy, reserves the slot of `pos` for a claim of it
    /// for `op` by the calling thread: replaces (compare-and-swap) a record of an
    /// earlier claim of the slot, or a free reservation of this one (token 0), by
    /// ours. `None` when another thread holds the reservation (live or dead: only a
    /// probe judges), or the record is of a later claim (our `pos` is stale).
    ///
    /// Records compare by their top bits (lap and operation): the low 9 bits of the
    /// lap plus the operation, compared modulo 2^10 (a record more than 256 laps older
    /// than the slot's stamp never exists: every claim of the slot reserves it).
    #[inline(always)]
    fn reserve(&self, pos: usize, op: u32) -> Option<Reserved> {
        Self::records_checked();
        let slot = self.slot(pos);
        let ours = self.record_of(pos, op, W::owner_token());
        let free = ours & !TOKEN_MASK;
        let found = slot.owner.load();
        // Earlier (modulo the wrap): the top bits of `found - free` go negative.
        let earlier = (found.wrapping_sub(free) as i32) < 0;
        if !earlier && found != free {
            return None;
        }
        slot.owner.compare_exchange(found, ours).ok()?;
        Some(Reserved { ours, found })
    }

    /// Gives a reservation back after the claim's compare-and-swap failed (`close` set
    /// the mark, or a spurious failure): restores the record it replaced. Nobody else
    /// changes a record while its reserver lives.
    #[inline(always)]
    fn withdraw(&self, pos: usize, reserved: Reserved) {
        let _ = self
            .slot(pos)
            .owner
            .compare_exchange(reserved.ours, reserved.found);
    }

    /// Frees the reservation of `pos` for `op` held by a thread that died before its
    /// claim's compare-and-swap (`index`, `tail` or `head`, still at `pos`): the record
    /// keeps its claim but names nobody, so the next claimant reserves it. Returns
    /// whether it did.
    ///
    /// Whether the reserver had claimed is decided by reading `index` only *after*
    /// learning that the reserver is dead: a claim it made happened before its death,
    /// so the index is then past `pos` for good. Read before, a claim made between the
    /// two reads would be missed and the claimant's record erased (`conkit_mutant`:
    /// `mpmc_index_before_death`).
    fn clear_dead_reservation(&self, index: &AtomicUsize, pos: usize, op: u32) -> bool {
        if !W::PROCESS_SHARED {
            return false;
        }
        let early_look = cfg!(conkit_mutant = "mpmc_index_before_death");
        let moved_early = early_look && index.load(Ordering::SeqCst) != pos;
        let slot = self.slot(pos);
        let record = slot.owner.load();
        let free = self.record_of(pos, op, 0);
        let token = record & TOKEN_MASK;
        if record & !TOKEN_MASK != free || token == 0 {
            return false;
        }
        // (`conkit_mutant`: `mpmc_clear_live_reservation` does not ask.)
        if !cfg!(conkit_mutant = "mpmc_clear_live_reservation") && W::owner_alive(token) {
            return false;
        }
        // (`conkit_mutant`: `mpmc_dead_reservation_kept` never frees one.)
        if cfg!(conkit_mutant = "mpmc_dead_reservation_kept") {
            return false;
        }
        let moved = if early_look {
            moved_early
        } else {
            index.load(Ordering::SeqCst) != pos
        };
        if moved {
            return false;
        }
        slot.owner.compare_exchange(record, free).is_ok()
    }

    /// Fails to compile for a process-shared strategy over slots that record nobody:
    /// its dead claimants could never be named. No constructor builds such a ring today
    /// (each takes the strategy's own [`SlotOwner`](WaitStrategy::SlotOwner)); this
    /// keeps it so for any added later.
    #[inline(always)]
    fn records_checked() {
        const {
            assert!(
                !W::PROCESS_SHARED || <S::Owner as SlotOwner>::RECORDS,
                "a process-shared strategy needs slots that record their claimant \
                 (use the strategy's SlotOwner, as MpmcRing / RingQueue do)"
            )
        };
    }

    /// Whether the slot of `pos` was claimed for `op` at `pos` by a thread that is gone
    /// (a process-shared strategy's [`owner_alive`](WaitStrategy::owner_alive) says so).
    /// A record from another lap or operation names someone else: `false`.
    ///
    /// A caller has seen the index past `pos` (the claim made), and the claim's
    /// `Release` ([`claim_order`](Self::claim_order)) then shows it the claimant's
    /// reservation or a later record, never the record of an earlier claim: the
    /// comparison with `pos` and `op` is a second guard, against a later record (the
    /// slot moved on meanwhile). Neither guard alone lets a dead earlier claimant
    /// be taken for this one, so no loom model can catch the loss of one (the mutant
    /// `mpmc_skip_any_dead_record`, caught before the reservations, was retired).
    fn claimant_dead(&self, pos: usize, op: u32) -> bool {
        if !W::PROCESS_SHARED {
            return false;
        }
        let record = self.slot(pos).owner.load();
        let token = record & TOKEN_MASK;
        token != 0 && record == self.record_of(pos, op, token) && !W::owner_alive(token)
    }

    /// Moves `head` past a push in flight whose claimant died (see "Participants that
    /// die" in the module docs): its item is lost, the items behind it can be popped,
    /// and its slot serves the next lap. Returns whether it did; `false` also when the
    /// slot is not such a push or another consumer moved `head` first.
    ///
    /// Safe whatever the timing: only the claimant of a position writes its slot before
    /// the stamp says "full", and it is dead; the compare-and-swap on `head` lets one
    /// caller skip it, as a pop claim would.
    ///
    /// Also frees (without skipping anything, and returning `false`) the reservation
    /// of a pop that died before claiming the item at `head`
    /// ([`clear_dead_reservation`](Self::clear_dead_reservation)): the next claim
    /// takes that item.
    pub(crate) fn skip_dead_push(&self) -> bool {
        let head = self.head.load(Ordering::Acquire);
        let lap = self.lap_of(head);
        let slot = self.slot(head);
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp == lap | FULL {
            self.clear_dead_reservation(&self.head, head, POP_TAG);
            return false;
        }
        if stamp != lap {
            return false;
        }
        // Claimed: `tail` is past `head`.
        if self.tail.load(Ordering::SeqCst) & !self.mark() == head {
            return false;
        }
        if !self.claimant_dead(head, PUSH_TAG) {
            return false;
        }
        if self
            .head
            .compare_exchange(
                head,
                self.advance(head),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        slot.stamp
            .store(lap.wrapping_add(self.one_lap()), Ordering::Release);
        true
    }

    /// Frees the slot at `tail` from a pop in flight (of the previous lap) whose
    /// claimant died: its item is lost, and the slot takes the push at `tail`. Or
    /// frees the reservation of a push that died before claiming `tail`
    /// ([`clear_dead_reservation`](Self::clear_dead_reservation)). Returns whether it
    /// did either.
    ///
    /// Safe whatever the timing: the dead claimant no longer touches the slot, and the
    /// compare-and-swap on the stamp lets one caller free it.
    pub(crate) fn skip_dead_pop(&self) -> bool {
        let tail = self.tail.load(Ordering::Acquire);
        if tail & self.mark() != 0 {
            return false;
        }
        let lap = self.lap_of(tail);
        let prev = tail.wrapping_sub(self.one_lap());
        let slot = self.slot(tail);
        let full = self.lap_of(prev) | FULL;
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp == lap {
            return self.clear_dead_reservation(&self.tail, tail, PUSH_TAG);
        }
        if stamp != full {
            return false;
        }
        // Claimed: `head` is past the previous lap's position.
        if self.head.load(Ordering::SeqCst) == prev {
            return false;
        }
        if !self.claimant_dead(prev, POP_TAG) {
            return false;
        }
        slot.stamp
            .compare_exchange(full, lap, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Test hook of the loom models (only under `cfg(loom)`): claims a position for a
    /// push and records it, then stops there, as a process killed between claim and
    /// hand-over. `false` if no position could be claimed without waiting.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_claim_push_and_die(&self) -> bool {
        loop {
            match self.claim_push() {
                Ok(_) => return true,
                // Another claimant's reservation: let it go on.
                Err(NoSlot::InFlight) => loom::thread::yield_now(),
                Err(_) => return false,
            }
        }
    }

    /// Test hook of the loom models: claims a position for a pop and stops there.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_claim_pop_and_die(&self) -> bool {
        loop {
            match self.claim_pop() {
                Ok(_) => return true,
                Err(NoItem::InFlight) => loom::thread::yield_now(),
                Err(_) => return false,
            }
        }
    }

    /// Test hook of the loom models: reserves the position at `tail` for a push as a
    /// claim does first, then stops there, as a process killed between its
    /// reservation and its claim. `false` if no position was free (the ring full or
    /// closed).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_reserve_push_and_die(&self) -> bool {
        loop {
            let tail = self.tail.load(Ordering::Relaxed);
            if tail & self.mark() != 0 {
                return false;
            }
            let stamp = self.slot(tail).stamp.load(Ordering::Acquire);
            if (stamp.wrapping_sub(self.lap_of(tail)) as isize) < 0 {
                return false;
            }
            if stamp == self.lap_of(tail) && self.reserve(tail, PUSH_TAG).is_some() {
                return true;
            }
            // Another claimant's reservation: let it go on.
            loom::thread::yield_now();
        }
    }

    /// Test hook of the loom models: reserves the item at `head` for a pop and stops;
    /// `false` if there is none.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_reserve_pop_and_die(&self) -> bool {
        loop {
            let head = self.head.load(Ordering::Relaxed);
            if self.slot(head).stamp.load(Ordering::Acquire) != self.lap_of(head) | FULL {
                return false;
            }
            if self.reserve(head, POP_TAG).is_some() {
                return true;
            }
            loom::thread::yield_now();
        }
    }

    /// Test hook of the loom models: one probe of a blocked producer
    /// ([`skip_dead_pop`](Self::skip_dead_pop), which also frees a dead push's
    /// reservation) on its own.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_skip_dead_pop(&self) -> bool {
        self.skip_dead_pop()
    }

    /// Test hook of the loom models: one probe of a blocked consumer
    /// ([`skip_dead_push`](Self::skip_dead_push)) on its own, without the looks and
    /// yields around it.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_skip_dead_push(&self) -> bool {
        self.skip_dead_push()
    }

    /// A blocking push's look: claims a position, and when a probe is due (`probe`,
    /// see [`Waiters::wait_until_probing`]) frees slots held by pops whose claimant
    /// died.
    #[inline]
    fn claim_push_probing(&self, probe: bool) -> Option<Claim> {
        match self.claim_push() {
            Ok(claim) => Some(claim),
            Err(NoSlot::InFlight) if probe => {
                while self.skip_dead_pop() {
                    if let Ok(claim) = self.claim_push() {
                        return Some(claim);
                    }
                }
                None
            }
            Err(_) => None,
        }
    }

    /// A blocking pop's look: claims a position, and when a probe is due (`probe`)
    /// skips pushes in flight whose claimant died.
    #[inline]
    fn claim_pop_probing(&self, probe: bool) -> Option<Claim> {
        match self.claim_pop() {
            Ok(claim) => Some(claim),
            Err(NoItem::InFlight) if probe => {
                while self.skip_dead_push() {
                    // The skipped slot serves the next lap: a producer may wait for it.
                    self.sleepers.not_full.notify_all();
                    if let Ok(claim) = self.claim_pop() {
                        return Some(claim);
                    }
                }
                // `skip_dead_push` may have freed a dead pop's reservation instead.
                self.claim_pop().ok()
            }
            Err(_) => None,
        }
    }

    /// Completes a push claim: writes the item, then publishes it. Returns the
    /// position, for [`wake_consumers`](Self::wake_consumers).
    #[inline]
    pub(crate) fn write(&self, claim: Claim, value: T) -> usize {
        let slot = self.slot(claim.pos);
        slot.value.with_mut(|p| {
            // SAFETY: the claim gives this thread the slot alone (see `claim_push`); the
            // slot is empty, so nothing is overwritten.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        let publish = if cfg!(conkit_mutant = "mpmc_push_stamp_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        slot.stamp.store(self.lap_of(claim.pos) | FULL, publish);
        claim.pos
    }

    /// Completes a pop claim: moves the item out, then frees the slot for the next lap.
    #[inline]
    pub(crate) fn read(&self, claim: Claim) -> T {
        let slot = self.slot(claim.pos);
        let value = slot.value.with(|p| {
            // SAFETY: the claim gives this thread the slot alone (see `claim_pop`), and
            // its stamp said it holds an initialized item, which we move out exactly once
            // (the stamp below marks the slot empty).
            unsafe { p.read().assume_init() }
        });
        let free = if cfg!(conkit_mutant = "mpmc_pop_stamp_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        slot.stamp
            .store(self.lap_of(claim.pos).wrapping_add(self.one_lap()), free);
        value
    }

    /// After a blocking push published position `pos`: wakes consumers.
    ///
    /// One consumer suffices for one item, except after a push that finished *behind*
    /// later pushes (`tail` is past `pos + 1`): their wake-ups may have been spent by
    /// consumers that found this position still in flight and went back to sleep, so
    /// then everybody is woken. (Reading `tail` after the `SeqCst` fence makes that
    /// check see every later push whose own wake-up happened before the fence.)
    #[inline]
    fn wake_consumers(&self, pos: usize) {
        // (`conkit_mutant`: a broken variant the loom models must catch, see lib.rs.)
        if !cfg!(conkit_mutant = "mpmc_no_wake_fence") {
            fence(Ordering::SeqCst);
        }
        let waiters = &self.sleepers.not_empty;
        // Sleeping threads, or (feature `async`) parked tasks: see "Async tasks" in
        // `Waiters`. (Mutant: only the threads count, parked tasks are never woken.)
        let waiting = if cfg!(conkit_mutant = "mpmc_tasks_not_woken") {
            waiters.sleepers() != 0
        } else {
            waiters.anyone_waiting()
        };
        if !waiting {
            return;
        }
        if self.tail.load(Ordering::Relaxed) & !self.mark() == self.advance(pos) {
            waiters.notify_one();
        } else {
            waiters.notify_all();
        }
    }

    /// After a blocking pop freed position `pos`: wakes producers (mirror of
    /// [`wake_consumers`](Self::wake_consumers)).
    #[inline]
    fn wake_producers(&self, pos: usize) {
        if !cfg!(conkit_mutant = "mpmc_no_wake_fence") {
            fence(Ordering::SeqCst);
        }
        let waiters = &self.sleepers.not_full;
        // Sleeping threads, or (feature `async`) parked tasks: see "Async tasks" in
        // `Waiters`. (Mutant: only the threads count, parked tasks are never woken.)
        let waiting = if cfg!(conkit_mutant = "mpmc_tasks_not_woken") {
            waiters.sleepers() != 0
        } else {
            waiters.anyone_waiting()
        };
        if !waiting {
            return;
        }
        if self.head.load(Ordering::Relaxed) == self.advance(pos) {
            waiters.notify_one();
        } else {
            waiters.notify_all();
        }
    }
}

impl<T, const N: usize, W: WaitStrategy> Default for MpmcRingIn<T, [Slot<T, W::SlotOwner>; N], W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> fmt::Debug for MpmcRingIn<T, S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpmcRing")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> Drop for MpmcRingIn<T, S, W> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        for slot in self.slots.slots() {
            // `&mut self`: no operation is in flight (a claim is always completed before
            // the operation returns, and nothing in between can unwind), so a slot
            // holds an item exactly when its stamp has the `FULL` bit.
            if slot.stamp.load(Ordering::Relaxed) & FULL != 0 {
                slot.value.with_mut(|p| {
                    // SAFETY: the item is initialized (see above) and dropped only here.
                    unsafe { (*p).assume_init_drop() }
                });
            }
        }
    }
}

/// A push failed because no slot could be claimed without waiting; holds the item
/// that could not be pushed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// The item that could not be pushed.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the ring is full")
    }
}

impl<T> core::error::Error for Full<T> {}

#[cfg(feature = "defmt")]
impl<T> defmt::Format for Full<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Full(..)")
    }
}

/// The older wrapper (kept for compatibility): forwards to the ring's own async forms
/// ([`MpmcRingIn::push_async`], [`MpmcRingIn::pop_async`]), so tasks awaiting through it
/// are woken by every user of the ring, also by a thread's plain `push`/`pop` on the
/// inner ring.
#[cfg(feature = "async")]
impl<T, S: SlotStorage<T>, W: WaitStrategy, const K: usize>
    crate::asynch::Async<MpmcRingIn<T, S, W>, K>
{
    /// Pushes `value`, waiting asynchronously while the ring is full; then wakes a
    /// consumer (task or thread): [`MpmcRingIn::push_async`].
    ///
    /// Cancel-safe: dropping the future before it completes drops `value` and leaves
    /// the ring unchanged.
    pub async fn push(&self, value: T) {
        self.inner().push_async(value).await;
    }

    /// Pops the oldest item, waiting asynchronously while the ring is empty; then wakes
    /// a producer (task or thread): [`MpmcRingIn::pop_async`].
    ///
    /// Cancel-safe: dropping the future before it completes loses no item.
    pub async fn pop(&self) -> T {
        self.inner().pop_async().await
    }

    /// [`MpmcRingIn::try_push`], then wakes the waiting consumers (tasks and threads)
    /// if it succeeded.
    pub fn try_push(&self, value: T) -> Result<(), Full<T>> {
        self.inner().try_push(value)?;
        self.inner().sleepers.not_empty.notify_one();
        Ok(())
    }

    /// [`MpmcRingIn::try_pop`], then wakes the waiting producers (tasks and threads) if
    /// it succeeded.
    pub fn try_pop(&self) -> Option<T> {
        let value = self.inner().try_pop()?;
        self.inner().sleepers.not_full.notify_one();
        Some(value)
    }

    /// [`MpmcRingIn::notify`]: wakes every waiting producer and consumer, tasks and
    /// threads.
    pub fn notify(&self) {
        self.inner().notify();
    }
}
