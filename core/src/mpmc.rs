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
//! position is encoded as `lap + index` where a lap is the next power of two `>= N`,
//! so `N` need not be a power of two and wrapping needs no division.
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
//! # Interrupt handlers
//! The `try_*` forms, [`len`](MpmcRing::len), [`notify`](MpmcRing::notify) (with a strategy
//! whose wake is interrupt-safe, e.g. [`Spin`]) are legal in an interrupt handler: they
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
//! The blocking forms ([`push`](MpmcRing::push), [`push_until`](MpmcRing::push_until),
//! [`pop`](MpmcRing::pop), [`pop_until`](MpmcRing::pop_until)) wait on two
//! [`Waiters`] (not full / not empty) with the strategy `W`, and wake the other side
//! when they succeed. The `try_*` forms are the pure fast path and wake nobody. With
//! [`Spin`] (the default) that needs no care: spinning waiters re-check on their own.
//! With a sleeping strategy (futex, wasm atomics), whoever uses `try_push` / `try_pop`
//! while someone may sleep in a blocking form must call [`notify`](MpmcRing::notify)
//! afterwards (once per batch is enough, e.g. at the end of an interrupt handler).
//!
//! A blocking operation wakes one sleeper of the other side, except when it completes
//! *behind* later operations of its own side (they may have spent their wake-ups on
//! sleepers that found its slot still in flight): then it wakes them all, so no item or
//! free slot is ever left with everybody asleep.
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
//!     // Several workers take jobs; blocking `pop` spins (default `Spin` strategy).
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

use crate::atomic::{fence, maybe_const_fn, spin_hint, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{Spin, WaitStrategy, Waiters};
use crate::CachePadded;

/// The bit of a stamp that says "this slot holds the item of the stamp's lap".
const FULL: usize = 1;

/// One slot of the ring.
struct Slot<T> {
    /// `lap` of the next operation this slot serves: `lap` means "empty, waiting for the
    /// push at position `lap + index`", `lap | FULL` means "holds the item pushed there,
    /// waiting for the pop at the same position". The pop then stores the next lap.
    stamp: AtomicUsize,
    /// The item, initialized exactly when `stamp & FULL != 0` and no pop is in flight.
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    maybe_const_fn! {
        /// An empty slot of lap 0 (all zero bits but the uninitialized value).
        fn new() -> Self {
            Self {
                stamp: AtomicUsize::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }
}

#[cfg(not(loom))]
const fn empty_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { Slot::new() }; N]
}

#[cfg(loom)]
fn empty_slots<T, const N: usize>() -> [Slot<T>; N] {
    core::array::from_fn(|_| Slot::new())
}

/// A local exponential backoff (crossbeam-utils' `Backoff` in spirit): spin
/// `1, 2, 4 … 2^LIMIT` hints between retries.
struct Backoff {
    step: u32,
}

/// Backoff steps before an operation blocked by a peer in flight gives up
/// (`2^(LIMIT+1) - 1` spin hints in all: 127 natively, 3 yields under loom).
#[cfg(not(loom))]
const SPIN_LIMIT: u32 = 6;
#[cfg(loom)]
const SPIN_LIMIT: u32 = 1;

impl Backoff {
    #[inline]
    const fn new() -> Self {
        Self { step: 0 }
    }

    #[inline]
    fn spin(&mut self) {
        for _ in 0..1u32 << self.step.min(SPIN_LIMIT) {
            spin_hint();
        }
        if self.step <= SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// `true` once the spin budget for waiting on a peer in flight is used up.
    #[inline]
    fn exhausted(&self) -> bool {
        self.step > SPIN_LIMIT
    }
}

/// A position claimed by a successful compare-and-swap on `tail` (to push) or `head`
/// (to pop). Its slot belongs to the claimant until it hands it over; not `Copy`, so a
/// claim is completed exactly once.
struct Claim {
    pos: usize,
}

/// The two sets of sleepers, on a cache line of their own.
struct Sleepers<W: WaitStrategy> {
    /// Consumers waiting for an item.
    not_empty: Waiters<W>,
    /// Producers waiting for a free slot.
    not_full: Waiters<W>,
}

/// A bounded multi-producer / multi-consumer ring of capacity exactly `N` (see the
/// [module docs](self) for the algorithm and its progress guarantee).
///
/// `W` is how the blocking forms wait ([`Spin`] by default); the `try_*` forms never
/// wait.
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
// `repr(C)`: the padded indices first and the slots last (the default layout put the
// slots first). It measured faster on the 2-producer/2-consumer benchmark with 1024
// slots, presumably because a prefetcher streaming through the slots no longer runs into
// the hot index lines.
#[repr(C)]
pub struct MpmcRing<T, const N: usize, W: WaitStrategy = Spin> {
    /// Position of the next pop (`lap + index`).
    head: CachePadded<AtomicUsize>,
    /// Position of the next push (`lap + index`).
    tail: CachePadded<AtomicUsize>,
    sleepers: CachePadded<Sleepers<W>>,
    slots: [Slot<T>; N],
}

// SAFETY: items move in on one thread and out on another, hence `T: Send`. A slot's
// value is only touched by the one thread whose compare-and-swap claimed its position,
// and the stamp's Release/Acquire hand-over orders consecutive owners; no `&T` is ever
// shared, so `T: Sync` is not needed. `W` is a zero-sized marker whose associated
// functions any thread may call.
unsafe impl<T: Send, const N: usize, W: WaitStrategy> Sync for MpmcRing<T, N, W> {}
// SAFETY: as above; the ring owns its items, so sending it sends them (`T: Send`).
unsafe impl<T: Send, const N: usize, W: WaitStrategy> Send for MpmcRing<T, N, W> {}

impl<T, const N: usize, W: WaitStrategy> MpmcRing<T, N, W> {
    /// One lap: the smallest power of two `>= max(N, 2)`, so indices fit below it and
    /// the `FULL` bit never touches the lap.
    const ONE_LAP: usize = if N < 2 { 2 } else { N.next_power_of_two() };
    /// Selects the index of a position.
    const MASK: usize = Self::ONE_LAP - 1;

    maybe_const_fn! {
        /// An empty ring (`const`: usable in a `static`). `N == 0` fails to compile.
        pub fn new() -> Self {
            const { assert!(N > 0, "an MpmcRing needs a capacity N >= 1") };
            Self {
                head: CachePadded::new(AtomicUsize::new(0)),
                tail: CachePadded::new(AtomicUsize::new(0)),
                sleepers: CachePadded::new(Sleepers {
                    not_empty: Waiters::new(),
                    not_full: Waiters::new(),
                }),
                slots: empty_slots(),
            }
        }
    }

    /// The capacity, `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Pushes `value` if a slot can be claimed without waiting; otherwise hands it back
    /// in [`Full`] (the ring is full, or the next slot is still being read by a consumer
    /// in flight, see the module docs). Never waits; legal in an interrupt handler.
    ///
    /// Wakes nobody: see [`notify`](Self::notify).
    #[inline]
    pub fn try_push(&self, value: T) -> Result<(), Full<T>> {
        match self.claim_push() {
            Some(claim) => {
                self.write(claim, value);
                Ok(())
            }
            None => Err(Full(value)),
        }
    }

    /// Pops the oldest item if it can be taken without waiting; `None` when the ring is
    /// empty or the next item's producer is still in flight (see the module docs). Never
    /// waits; legal in an interrupt handler.
    ///
    /// Wakes nobody: see [`notify`](Self::notify).
    #[inline]
    pub fn try_pop(&self) -> Option<T> {
        self.claim_pop().map(|claim| self.read(claim))
    }

    /// Pushes `value`, waiting with `W` while the ring is full, then wakes a consumer.
    pub fn push(&self, value: T) {
        let claim = self.sleepers.not_full.wait(|| self.claim_push());
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
            .wait_until(Some(deadline), || self.claim_push())
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
        let claim = self.sleepers.not_empty.wait(|| self.claim_pop());
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
            .wait_until(Some(deadline), || self.claim_pop())?;
        let pos = claim.pos;
        let value = self.read(claim);
        self.wake_producers(pos);
        Some(value)
    }

    /// Wakes every producer and consumer sleeping in a blocking form, so they re-check.
    ///
    /// Call it after `try_push` / `try_pop` (once per batch is enough) when the other
    /// side may sleep with a strategy other than [`Spin`]. Costs a fence and two loads
    /// when nobody sleeps.
    pub fn notify(&self) {
        self.sleepers.not_empty.notify_all();
        self.sleepers.not_full.notify_all();
    }

    /// The number of items, a snapshot (it may be stale by the time it is used).
    ///
    /// It counts claimed positions: pushes in flight are included, pops in flight are not.
    pub fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // `tail` unchanged across the read of `head`: the two belong together.
            if self.tail.load(Ordering::SeqCst) == tail {
                return Self::distance(head, tail);
            }
        }
    }

    /// `true` if the ring holds no item (a snapshot, like [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if the ring holds `N` items (a snapshot, like [`len`](Self::len)).
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// Items between positions `head` and `tail`, clamped to `0..=N` in case the two
    /// were read while others moved them.
    #[inline]
    fn distance(head: usize, tail: usize) -> usize {
        let laps = ((tail & !Self::MASK).wrapping_sub(head & !Self::MASK) as isize)
            / Self::ONE_LAP as isize;
        let n = laps
            .saturating_mul(N as isize)
            .saturating_add((tail & Self::MASK) as isize - (head & Self::MASK) as isize);
        n.clamp(0, N as isize) as usize
    }

    /// The position after `pos`.
    #[inline]
    fn advance(pos: usize) -> usize {
        if (pos & Self::MASK) + 1 < N {
            // Same lap, next index (no overflow: index + 1 < N <= ONE_LAP).
            pos + 1
        } else {
            // Next lap, index 0.
            (pos & !Self::MASK).wrapping_add(Self::ONE_LAP)
        }
    }

    /// The slot of position `pos`.
    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        let index = pos & Self::MASK;
        debug_assert!(index < N);
        // SAFETY: positions are only made by `new` (0) and `advance`, which keep the
        // index below `N`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// Claims the position at `tail` for a push, or `None` when that needs waiting.
    #[inline]
    fn claim_push(&self) -> Option<Claim> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let lap = tail & !Self::MASK;
            let stamp = self.slot(tail).stamp.load(Ordering::Acquire);
            // How far the slot is ahead of "empty, for the push at `tail`".
            let ahead = stamp.wrapping_sub(lap) as isize;
            if ahead == 0 {
                // The Acquire above ordered the previous pop's read of this slot before
                // our write; the compare-and-swap makes the position ours alone.
                match self.tail.compare_exchange_weak(
                    tail,
                    Self::advance(tail),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(Claim { pos: tail }),
                    // A spurious failure (LL/SC) is no contention: retry at once.
                    Err(current) if current == tail => {}
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if ahead < 0 {
                // The slot is a lap behind: it still holds the previous lap's item (the
                // ring is full, or that item's pop is in flight), or the previous lap's
                // push is still in flight. The fence orders our reading of `head` after
                // everything before it, so "full" is only reported for a ring that was.
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(Self::ONE_LAP) == tail || backoff.exhausted() {
                    return None;
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

    /// Claims the position at `head` for a pop, or `None` when that needs waiting.
    #[inline]
    fn claim_pop(&self) -> Option<Claim> {
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let lap = head & !Self::MASK;
            let stamp = self.slot(head).stamp.load(Ordering::Acquire);
            // How far the slot is ahead of "empty, for the push at `head`".
            let ahead = stamp.wrapping_sub(lap) as isize;
            if ahead == FULL as isize {
                // The Acquire above ordered the push's write of the item before our read.
                match self.head.compare_exchange_weak(
                    head,
                    Self::advance(head),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(Claim { pos: head }),
                    // A spurious failure (LL/SC) is no contention: retry at once.
                    Err(current) if current == head => {}
                    Err(current) => {
                        head = current;
                        backoff.spin();
                    }
                }
            } else if ahead <= 0 {
                // No item for this position yet: the ring is empty, or its push is in
                // flight (or the previous lap's pop of the slot still is). Fence: as above.
                fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail == head || backoff.exhausted() {
                    return None;
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

    /// Completes a push claim: writes the item, then publishes it.
    #[inline]
    fn write(&self, claim: Claim, value: T) {
        let slot = self.slot(claim.pos);
        slot.value.with_mut(|p| {
            // SAFETY: the claim gives this thread the slot alone (see `claim_push`); the
            // slot is empty, so nothing is overwritten.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        slot.stamp
            .store((claim.pos & !Self::MASK) | FULL, Ordering::Release);
    }

    /// Completes a pop claim: moves the item out, then frees the slot for the next lap.
    #[inline]
    fn read(&self, claim: Claim) -> T {
        let slot = self.slot(claim.pos);
        let value = slot.value.with(|p| {
            // SAFETY: the claim gives this thread the slot alone (see `claim_pop`), and
            // its stamp said it holds an initialized item, which we move out exactly once
            // (the stamp below marks the slot empty).
            unsafe { p.read().assume_init() }
        });
        slot.stamp.store(
            (claim.pos & !Self::MASK).wrapping_add(Self::ONE_LAP),
            Ordering::Release,
        );
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
        fence(Ordering::SeqCst);
        let waiters = &self.sleepers.not_empty;
        if waiters.sleepers() == 0 {
            return;
        }
        if self.tail.load(Ordering::Relaxed) == Self::advance(pos) {
            waiters.notify_one();
        } else {
            waiters.notify_all();
        }
    }

    /// After a blocking pop freed position `pos`: wakes producers (mirror of
    /// [`wake_consumers`](Self::wake_consumers)).
    #[inline]
    fn wake_producers(&self, pos: usize) {
        fence(Ordering::SeqCst);
        let waiters = &self.sleepers.not_full;
        if waiters.sleepers() == 0 {
            return;
        }
        if self.head.load(Ordering::Relaxed) == Self::advance(pos) {
            waiters.notify_one();
        } else {
            waiters.notify_all();
        }
    }
}

impl<T, const N: usize, W: WaitStrategy> Default for MpmcRing<T, N, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize, W: WaitStrategy> fmt::Debug for MpmcRing<T, N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpmcRing")
            .field("len", &self.len())
            .field("capacity", &N)
            .finish()
    }
}

impl<T, const N: usize, W: WaitStrategy> Drop for MpmcRing<T, N, W> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        for slot in &self.slots {
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

#[cfg(feature = "async")]
impl<T, const N: usize, W: WaitStrategy, const K: usize>
    crate::asynch::Async<MpmcRing<T, N, W>, K>
{
    /// Pushes `value`, waiting asynchronously while the ring is full; then wakes the
    /// parked tasks and a blocked consumer.
    ///
    /// Cancel-safe: dropping the future before it completes drops `value` and leaves
    /// the ring unchanged.
    pub async fn push(&self, value: T) {
        let ring = self.inner();
        let claim =
            core::future::poll_fn(|cx| self.wakers().poll_until(cx, || ring.claim_push())).await;
        // Claim and write happen in the same poll: no claim is left behind by a drop.
        let pos = claim.pos;
        ring.write(claim, value);
        ring.wake_consumers(pos);
        self.wakers().wake_all();
    }

    /// Pops the oldest item, waiting asynchronously while the ring is empty; then wakes
    /// the parked tasks and a blocked producer.
    ///
    /// Cancel-safe: dropping the future before it completes loses no item.
    pub async fn pop(&self) -> T {
        let ring = self.inner();
        let claim =
            core::future::poll_fn(|cx| self.wakers().poll_until(cx, || ring.claim_pop())).await;
        let pos = claim.pos;
        let value = ring.read(claim);
        ring.wake_producers(pos);
        self.wakers().wake_all();
        value
    }

    /// [`MpmcRing::try_push`], then wakes the parked tasks if it succeeded.
    pub fn try_push(&self, value: T) -> Result<(), Full<T>> {
        self.inner().try_push(value)?;
        self.wakers().wake_all();
        Ok(())
    }

    /// [`MpmcRing::try_pop`], then wakes the parked tasks if it succeeded.
    pub fn try_pop(&self) -> Option<T> {
        let value = self.inner().try_pop()?;
        self.wakers().wake_all();
        Some(value)
    }

    /// [`MpmcRing::notify`], and wakes every parked task.
    pub fn notify(&self) {
        self.inner().notify();
        self.wakers().wake_all();
    }
}
