//! [`RingQueue`]: Python's bounded FIFO `queue.Queue` without a lock, on the
//! [`mpmc`](crate::mpmc) ring.
//!
//! # Algorithm
//! The items travel through one [`MpmcRingIn`] (Dmitry Vyukov's bounded MPMC queue with
//! crossbeam's `ArrayQueue` refinements; see [`crate::mpmc`]): the same code, with its
//! slots inline ([`RingQueue<T, N, W>`], a `const fn new`, for firmware, `static`s and
//! shared memory) or on the heap with a capacity chosen at run time
//! (`HeapRingQueue<T, W>`, feature `std`, behind `conkit::queue::Queue`). Python's
//! `queue.Queue` bookkeeping is added around it without a lock:
//!
//! * **Shutdown** closes the ring the way crossbeam-channel's array flavor marks a
//!   disconnected channel: one bit of the ring's `tail`, set with a `fetch_or`. A put
//!   claims its slot with a compare-and-swap on that same word, so every put either
//!   claimed before the shutdown (its item is in the queue, even if still being
//!   written) or fails with `ShutDown` and gets its item back — there is no window in
//!   which a put that "passed the flag check" is still on its way. A get reports
//!   `ShutDown` only when `head` has caught up with the closed `tail`, i.e. when no item
//!   is left *and no put is in flight*: an item put before the shutdown is never
//!   stranded.
//! * **Immediate shutdown** also sets the `immediate` flag, which every get checks
//!   first, then takes and drops every item left (each counting as one `task_done`).
//!   A put that claimed its slot before the shutdown may still be writing its item:
//!   the shutdown waits for it (a few instructions, unless that thread was preempted)
//!   and drops that item too, so `join` is released once the items already taken are
//!   done.
//! * **Task accounting without a counter on the put path**: a put's claim is the
//!   increment. The ring's `tail` moves exactly once per successful put (claimed before
//!   the item is published, never for a failed put, so there is nothing to undo), so
//!   the number of puts is `tail` read as a count, and the queue keeps only a `done`
//!   counter: `unfinished = puts - done`. `task_done` is a compare-and-swap loop on
//!   `done` that refuses to overtake the puts ([`TaskDoneError::TooManyCalls`], nothing
//!   changed). Both counts are kept modulo the number of positions before `tail` wraps
//!   (about `2^63`, `2^31` on 32-bit targets).
//! * **Waking without a fence on the fast path.** The blocking forms wait on the
//!   ring's own not-full / not-empty [`Waiters`] (event counts, spinning briefly
//!   first), and `join` on a third one. A getter that is about to
//!   sleep first counts itself in `sleeping_getters` (`SeqCst`), then looks at the
//!   ring once more (its look at `tail` follows a `SeqCst` fence); a put claims with a
//!   `SeqCst` compare-and-swap on `tail` and then reads `sleeping_getters` with a
//!   `SeqCst` load, and only when it is non-zero pays for the event count's notify.
//!   In the single `SeqCst` order either the getter's look comes after the claim (it
//!   sees the item, or that it is being written), or the put's load comes after the
//!   getter's count (the put wakes it). A getter never sleeps on an item that is
//!   being written (it waits that out, pausing with `W::relax`), so the claim is all a
//!   put has to order. Putters waiting for room mirror this with `sleeping_putters`
//!   and `head`. So a put that wakes nobody costs the bare ring's `try_push` plus one
//!   load, and a get its `try_pop` plus two (the `immediate` flag), where the ring's
//!   own blocking forms also pay a `SeqCst` fence. Under loom, which models `SeqCst`
//!   operations as `AcqRel`, fences stand in for the `SeqCst` order (`loom_ring_queue`).
//!
//! # A full queue refills in batches
//! A blocking put that finds the queue full does not take the first slot a getter
//! frees: it first waits, for a few growing pauses (`W::relax`, about 130 spin hints
//! in all with the OS strategies), until `capacity / 16` slots are free, then claims
//! one as usual (queues of fewer than 32 slots skip this). Without it, a producer
//! faster than its consumer refills each slot the moment it is freed, so the two
//! threads write the same cache lines, item after item, and every item costs a few
//! cache-line transfers between cores; with it, the producer writes a run of lines the
//! consumer has left, while the consumer reads lines the producer has finished. It
//! doubled 1-producer/1-consumer throughput through a 1024-slot `queue::Queue` on the
//! 2-core test machine (about 22 to 43 M items/s; `crossbeam-channel` 34 M). The wait
//! is bounded and stops at the put's deadline and at a shutdown, so it changes no
//! outcome: a put still succeeds whenever a slot is free (only a little later), and
//! `put_nowait` never waits. (crossbeam-channel and std's `sync_channel` take the
//! first free slot.)
//!
//! # An empty queue lets a streaming putter run ahead
//! The mirror image for a blocking get: one that finds no item, or the next item's put
//! in flight, looks at the slots before it takes anything (a few growing pauses of
//! `W::relax`, at most as many as the batched refill above, never past the get's
//! deadline). A lone item with nothing written behind it (a reply, a single job) is
//! taken at the first look that sees it, so request/response traffic pays nothing; a
//! look that finds no item and no new put claimed since the last one ends the wait too
//! (a putter that is not running, e.g. one sharing the getter's CPU, is left to the
//! event count's wait). Only when a second item is already written behind the first (a
//! putter streaming) does the get let it run ahead, until `capacity / 16` items are
//! written or their count stops growing. Without it a consumer faster than its
//! producer reads each slot's line as the producer writes it and polls `tail` right
//! behind it, and every item costs cache-line transfers both ways: on the 2-core AMD
//! guest a 1-producer/1-consumer
//! `queue::Queue` flipped between this "tailgating" state (5–14 M items/s, the consumer
//! finding the queue nearly empty) and the batched-refill state above (28–45 M items/s)
//! from run to run, and even from build to build of the same code. The looks are slot
//! stamps (lines the get reads next anyway), not `tail`, so they do not slow the putter.
//!
//! # Semantics (Python 3.13's `queue.Queue`)
//! As [`BaseQueue`](super::BaseQueue): `put*` count one unfinished task per item;
//! `shutdown(false)`: puts fail, gets drain then fail; `shutdown(true)`: puts and gets
//! fail at once, the remaining items are dropped, each as one `task_done`; every blocked
//! caller is woken; a failed put hands the item back; a timed-out get never takes an
//! item. `qsize`/`empty`/`full` are snapshots, as in Python. Differences that come from
//! having no lock, each over in a handful of instructions:
//! * `put_nowait` may report `Full` while a getter is still moving the item out of the
//!   slot it needs, and `get_nowait` may report `Empty` while a put is writing the next
//!   item (the ring's "in flight" windows, see [`crate::mpmc`]); the blocking forms wait
//!   those out.
//! * A get racing with `shutdown(true)` may still return an item (it is then the get's,
//!   and counted as unfinished until its `task_done`).
//!
//! # Progress, interrupts
//! Every non-blocking form (`put_nowait`, `get_nowait`, `task_done`, `shutdown(false)`,
//! the queries) is lock-free in the sense of [`crate::mpmc`] and never waits, so it is
//! legal in an interrupt handler, with the rule stated there (treat `Full`/`Empty` as
//! "not now"). `shutdown(true)` waits for the puts that claimed a slot before it to
//! finish writing (a few instructions each): call it from an interrupt handler only if
//! that handler cannot have interrupted a put of the same queue.
//!
//! # Participants that die
//! Between processes (the queue in `MAP_SHARED` memory with a process-shared strategy
//! such as `SharedFutex`), what a participant killed at any point costs, and why
//! nothing hangs for a caller with a deadline:
//! * killed **asleep, or just woken**: nothing (wake-ups go to every sleeper, see
//!   [`Waiters`]); a waker that died before waking delays a sleeper by at most one
//!   sleep slice (at most 16 ms with `SharedFutex`). A dead getter or putter stays counted in
//!   the queue's "someone may sleep" counters, so later puts and gets pay for a
//!   wake-up call;
//! * killed **mid-put** (between claim and hand-over): its item is lost. The ring
//!   knows who claimed the slot (every claim is reserved in the slot's record first, see
//!   "Participants that die" in [`crate::mpmc`]): blocking gets stop waiting for the
//!   put after a bounded spin (`SHARED_IN_FLIGHT_ROUNDS` pauses in all, per call),
//!   sleep in slices, and probe the claimant once a slice has passed (whatever woke
//!   them; also on the last look after a deadline, see
//!   [`Waiters::wait_until_probing`]); a dead one's slot is skipped
//!   and its task counted done (nobody will get it), so `get` (with or without
//!   deadline) goes on with the items behind it and `join` is not held up by it.
//!   `shutdown(true)` skips such a slot too (the ring is closed, so nobody else will
//!   ever use it; if the putter was only slow, its item lands there and stays until the
//!   queue itself is dropped);
//! * killed **before its claim** (after reserving the slot, before the compare-and-swap
//!   that claims it): nothing is lost; the next put (for a dead getter: the next get)
//!   that finds the reservation probes the reserver after a slice, frees it and takes
//!   the slot itself;
//! * killed **mid-get**: its item is lost (with the process). A blocking put that comes
//!   round to its slot probes the claimant after a slice and frees the slot when it is
//!   dead, so puts go on. Its task stays unfinished (nobody will call `task_done` for
//!   it): `join_until` reports `false`;
//! * killed between a get and its `task_done`: the task stays unfinished, as above.
//!
//! With threads of one process (the default strategies) a peer in flight always
//! resumes, and the blocking forms wait it out as before.
//!
//! # Why in core
//! It needs no allocator: the inline form is a plain struct of atomics and slots with a
//! `const fn new` (usable as a `static` and in shared memory with a process-shared
//! strategy), and only the heap storage of the ring is behind `std`. So firmware gets
//! the same lock-free Python queue as the std adapter, which uses the heap form.
//!
//! # When to use
//! Python's FIFO queue semantics (`task_done`/`join`, `shutdown`) at ring speed. For LIFO
//! or priority order, or a custom store, use [`BaseQueue`](super::BaseQueue); without
//! any of the bookkeeping, use the bare [`MpmcRing`](crate::mpmc::MpmcRing).
//!
//! # Example
//! ```
//! use conkit_core::queue::{GetError, PutError, RingQueue};
//!
//! static JOBS: RingQueue<u32, 4> = RingQueue::new();
//!
//! JOBS.put_nowait(1).unwrap();
//! JOBS.put_nowait(2).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         while let Ok(job) = JOBS.get() {
//!             let _ = job * 2;
//!             JOBS.task_done().unwrap();
//!         }
//!     });
//!     for job in 3..100 {
//!         JOBS.put(job).unwrap(); // waits while the 4 slots are full
//!     }
//!     JOBS.join(); // every job was taken and marked done
//!     JOBS.shutdown(false); // the worker's `get` fails once the queue is empty
//! });
//! assert_eq!(JOBS.put_nowait(7), Err(PutError::ShutDown(7)));
//! assert_eq!(JOBS.get_nowait(), Err(GetError::ShutDown));
//! ```

use core::fmt;

use super::error::{GetError, PutError, TaskDoneError};
use crate::atomic::{maybe_const_fn, AtomicBool, AtomicUsize, Ordering};
use crate::mpmc::{Claim, MpmcRingIn, NoItem, NoSlot, Slot, SlotStorage};
use crate::unwind::{drop_each, OnDrop};
use crate::wait::{Deadline, DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

/// The claims of the queue take part in Dekker pairs (see the module docs).
const CLAIM: Ordering = Ordering::SeqCst;

/// A putter that found the queue full waits for `capacity / ROOM_SHARE` free slots
/// (see "A full queue refills in batches" in the module docs).
const ROOM_SHARE: usize = 16;

/// ... for at most this many `W::relax` pauses.
const ROOM_ROUNDS: u32 = 7;

/// With a process-shared strategy (`WaitStrategy::PROCESS_SHARED`), how many pauses of
/// `W::relax` a blocking call waits for a peer in flight (a put that claimed the next
/// item's slot, a get still moving an item out of the next free one) before it treats
/// the peer as possibly dead: the call then sleeps a bounded slice on its event count
/// and looks again (so its deadline is honoured), and `shutdown(true)` skips the slot.
/// The pauses count for the whole call, not per look: the event count looks many times
/// before its first sleep (its adaptive phase), and a budget per look made a get
/// behind a dead put pause ~1 200 times (mostly `sched_yield`s, each a scheduler slice
/// on a loaded machine: seconds) before it could probe the putter.
/// Threads of one process never give up on a peer in flight: it resumes.
const SHARED_IN_FLIGHT_ROUNDS: usize = 64;

/// Whether a blocking call of a queue with strategy `W` stops waiting for a peer in
/// flight after `waited` pauses in all (see [`SHARED_IN_FLIGHT_ROUNDS`]).
#[inline(always)]
fn give_up_on_peer<W: WaitStrategy>(waited: usize) -> bool {
    W::PROCESS_SHARED && waited >= SHARED_IN_FLIGHT_ROUNDS
}

/// What changes rarely (at shutdown, when a caller goes to sleep, when the last task is
/// done) and is read often, away from the hot lines.
#[repr(C)]
struct Control<W: WaitStrategy> {
    /// `shutdown(true)` was called: gets fail at once.
    immediate: AtomicBool,
    /// Getters about to sleep or asleep on the ring's `not_empty`.
    sleeping_getters: AtomicUsize,
    /// Putters about to sleep or asleep on the ring's `not_full`.
    sleeping_putters: AtomicUsize,
    /// Notified (all) when `unfinished` drops to zero.
    all_tasks_done: Waiters<W>,
}

/// A bounded Python-style FIFO queue over the lock-free ring of [`crate::mpmc`], with
/// its slots in `S` (see the [module docs](self)). Use it as [`RingQueue<T, N, W>`]
/// (inline slots) or `HeapRingQueue<T, W>` (feature `std`: heap slots, runtime
/// capacity).
#[repr(C)]
pub struct RingQueueIn<T, S: SlotStorage<T>, W: WaitStrategy = DefaultWait> {
    ring: MpmcRingIn<T, S, W>,
    /// Tasks marked done (by `task_done`, or by an immediate shutdown dropping an
    /// item), counted modulo the ring's `push_count_modulus` like the ring's count of
    /// claimed pushes; `unfinished = pushes_claimed - done`. Never ahead of the pushes.
    done: CachePadded<AtomicUsize>,
    control: CachePadded<Control<W>>,
}

/// A bounded, lock-free Python-style FIFO queue of capacity exactly `N`, slots inline
/// (`const fn new`: usable in a `static`). See the [module docs](self).
///
/// ```
/// use conkit_core::queue::{GetError, PutError, RingQueue};
///
/// let q: RingQueue<&str, 2> = RingQueue::new();
/// q.put_nowait("a").unwrap();
/// q.put_nowait("b").unwrap();
/// assert_eq!(q.put_nowait("c"), Err(PutError::Full("c"))); // the item comes back
/// assert_eq!(q.get_nowait(), Ok("a"));
/// q.task_done().unwrap();
/// assert_eq!(q.unfinished_tasks(), 1);
/// q.shutdown(true); // drops "b", counting it as done
/// assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
/// q.join(); // returns at once
/// ```
pub type RingQueue<T, const N: usize, W = DefaultWait> =
    RingQueueIn<T, [Slot<T, <W as WaitStrategy>::SlotOwner>; N], W>;

/// A bounded, lock-free Python-style FIFO queue whose capacity is chosen at run time,
/// slots on the heap (feature `std`). See the [module docs](self).
///
/// ```
/// use core::num::NonZeroUsize;
/// use conkit_core::queue::{HeapRingQueue, PutError};
///
/// let q: HeapRingQueue<u8> = HeapRingQueue::with_capacity(NonZeroUsize::new(3).unwrap());
/// for i in 0..3 {
///     q.put_nowait(i).unwrap();
/// }
/// assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
/// assert_eq!(q.maxsize(), 3);
/// ```
#[cfg(feature = "std")]
pub type HeapRingQueue<T, W = DefaultWait> =
    RingQueueIn<T, crate::mpmc::HeapSlots<T, <W as WaitStrategy>::SlotOwner>, W>;

impl<T, const N: usize, W: WaitStrategy> RingQueueIn<T, [Slot<T, W::SlotOwner>; N], W> {
    maybe_const_fn! {
        /// An empty queue of capacity exactly `N` (`const`: usable in a `static`;
        /// `N == 0` fails to compile).
        pub fn new() -> Self {
            Self::with_ring(MpmcRingIn::new())
        }
    }
}

#[cfg(feature = "std")]
impl<T, W: WaitStrategy> RingQueueIn<T, crate::mpmc::HeapSlots<T, W::SlotOwner>, W> {
    /// An empty queue of capacity exactly `capacity`, its slots on the heap.
    ///
    /// All `capacity` slots are allocated at once (one stamp word plus one `T` each).
    ///
    /// # Panics
    /// As `Vec::with_capacity`: if the slots' size overflows `isize::MAX` bytes (the
    /// allocator aborts if memory runs out).
    pub fn with_capacity(capacity: core::num::NonZeroUsize) -> Self {
        Self::with_ring(MpmcRingIn::with_capacity(capacity))
    }
}

/// Under loom, a `SeqCst` fence where the native code relies on the single order of
/// `SeqCst` *operations*: loom models those as `AcqRel` (loom's README, "Unsupported
/// features") but models `SeqCst` fences, so the models check the fence form of the
/// same Dekker pairs (each fence sits right after the `SeqCst` store it stands for).
#[inline(always)]
fn sc_order_for_loom() {
    #[cfg(loom)]
    crate::atomic::fence(Ordering::SeqCst);
}

/// Counts the caller in `count` while it is alive (`SeqCst`: one half of a Dekker
/// pair, see the module docs).
struct Announced<'a>(&'a AtomicUsize);

impl<'a> Announced<'a> {
    #[inline]
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        sc_order_for_loom();
        Self(count)
    }
}

#[cfg(feature = "async")]
impl<'a> Announced<'a> {
    /// [`new`](Self::new) followed by a `SeqCst` fence: one locked instruction on x86
    /// (`add_then_fence`), for a task whose count stands for its park's fence.
    #[inline]
    fn new_fenced(count: &'a AtomicUsize) -> Self {
        crate::atomic::add_then_fence(count);
        Self(count)
    }
}

impl Drop for Announced<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An item taken by an immediate shutdown: dropping it drops the item, then marks one
/// task done (also when the item's drop panics: the other fields are dropped during the
/// unwind).
struct Discarded<'a, T, S: SlotStorage<T>, W: WaitStrategy> {
    _item: T,
    _done: MarkDone<'a, T, S, W>,
}

/// Marks one task done when dropped.
struct MarkDone<'a, T, S: SlotStorage<T>, W: WaitStrategy>(&'a RingQueueIn<T, S, W>);

impl<T, S: SlotStorage<T>, W: WaitStrategy> Drop for MarkDone<'_, T, S, W> {
    fn drop(&mut self) {
        // Saturating: `task_done` may already have been called for it.
        let _ = self.0.mark_done();
    }
}

impl<T, S: SlotStorage<T>, W: WaitStrategy> RingQueueIn<T, S, W> {
    maybe_const_fn! {
        fn with_ring(ring: MpmcRingIn<T, S, W>) -> Self {
            Self {
                ring,
                done: CachePadded::new(AtomicUsize::new(0)),
                control: CachePadded::new(Control {
                    immediate: AtomicBool::new(false),
                    sleeping_getters: AtomicUsize::new(0),
                    sleeping_putters: AtomicUsize::new(0),
                    all_tasks_done: Waiters::new(),
                }),
            }
        }
    }

    // ---- the building blocks of every front end ----

    /// Claims a slot for a put. The claim itself counts the task: `tail` only moves
    /// for successful claims, and `unfinished` is derived from it.
    #[inline]
    fn claim_counted(&self) -> Result<Claim, NoSlot> {
        self.ring.claim_push_with(CLAIM)
    }

    /// `pushes - done` in the modular count (`done` is never ahead).
    #[inline]
    fn unfinished_between(&self, done: usize, pushes: usize) -> usize {
        if pushes >= done {
            pushes - done
        } else {
            self.ring.push_count_modulus() - done + pushes
        }
    }

    /// Marks one task done: `Ok(true)` if none is left now, `Err` if none was
    /// unfinished (then nothing changes).
    #[inline]
    fn mark_done(&self) -> Result<bool, TaskDoneError> {
        let modulus = self.ring.push_count_modulus();
        let mut done = self.done.load(Ordering::SeqCst);
        loop {
            let pushes = self.ring.pushes_claimed();
            if done == pushes {
                return Err(TaskDoneError::TooManyCalls);
            }
            let next = if done + 1 == modulus { 0 } else { done + 1 };
            match self
                .done
                .compare_exchange_weak(done, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(next == pushes),
                Err(current) => done = current,
            }
        }
    }

    /// Completes a claimed put: publishes the item, wakes a getter if one
    /// announced it may sleep.
    #[inline]
    fn finish_put(&self, claim: Claim, item: T) {
        self.ring.write(claim, item);
        // The other half of the Dekker pair with `get_blocking`: our claim (`SeqCst`)
        // comes before this `SeqCst` load.
        sc_order_for_loom();
        if self.control.sleeping_getters.load(Ordering::SeqCst) != 0 {
            self.ring.sleepers().not_empty.notify_one();
        }
    }

    /// Completes a claimed get: moves the item out, wakes a putter if one announced it
    /// may sleep.
    #[inline]
    fn finish_get(&self, claim: Claim) -> T {
        let item = self.ring.read(claim);
        sc_order_for_loom();
        if self.control.sleeping_putters.load(Ordering::SeqCst) != 0 {
            self.ring.sleepers().not_full.notify_one();
        }
        item
    }

    /// One never-waiting put: `Ok(None)` done, `Ok(Some(item))` no free slot now (full,
    /// or a getter in flight in the next slot), `Err(item)` shut down.
    #[inline]
    fn try_put(&self, item: T) -> Result<Option<T>, T> {
        match self.claim_counted() {
            Ok(claim) => {
                self.finish_put(claim, item);
                Ok(None)
            }
            Err(NoSlot::Full | NoSlot::InFlight) => Ok(Some(item)),
            Err(NoSlot::Closed) => Err(item),
        }
    }

    /// One never-waiting get: `Some(result)` when it is decided, `None` for "no item
    /// now" (empty, or the next item's put in flight).
    #[inline]
    fn try_get(&self) -> Option<Result<T, GetError>> {
        if self.control.immediate.load(Ordering::Acquire) {
            return Some(Err(GetError::ShutDown));
        }
        match self.ring.claim_pop_with(CLAIM) {
            Ok(claim) => Some(Ok(self.finish_get(claim))),
            Err(NoItem::Closed) => Some(Err(GetError::ShutDown)),
            Err(NoItem::Empty | NoItem::InFlight) => None,
        }
    }

    /// A put attempt for a caller that may sleep: like [`try_put`](Self::try_put), but
    /// waits out a getter in flight (pausing with `W::relax`) instead of reporting "no
    /// slot", so that it only sleeps on a queue that is really full (see the module
    /// docs): `Some(Ok(claim))` claimed, `Some(Err(()))` shut down, `None` full.
    /// `waited`: the pauses the call has spent on peers in flight so far (see
    /// [`SHARED_IN_FLIGHT_ROUNDS`]).
    #[inline]
    fn claim_for_blocking_put(&self, waited: &mut usize) -> Option<Result<Claim, ()>> {
        let mut round = 0;
        loop {
            match self.claim_counted() {
                Ok(claim) => return Some(Ok(claim)),
                Err(NoSlot::Closed) => return Some(Err(())),
                Err(NoSlot::Full) => return None,
                // A getter of another process may have died in flight: sleep a slice
                // and look again instead of waiting for it for good.
                Err(NoSlot::InFlight) if give_up_on_peer::<W>(*waited) => return None,
                Err(NoSlot::InFlight) => {
                    // Only a process-shared strategy ever gives up: only it counts
                    // (the process-private ones never touch `waited`).
                    if W::PROCESS_SHARED {
                        *waited += 1;
                    }
                    W::relax(round);
                    round = (round + 1).min(W::RELAX_ROUNDS.saturating_sub(1));
                }
            }
        }
    }

    /// A get attempt for a caller that may sleep: like [`try_get`](Self::try_get), but
    /// waits out a put in flight instead of reporting "no item" (see
    /// [`claim_for_blocking_put`](Self::claim_for_blocking_put)). With `batch`
    /// (`Some(deadline)`, the first attempt of a blocking get), the first look that
    /// finds no item ready first lets a streaming putter run ahead
    /// ([`wait_for_items`](Self::wait_for_items)).
    #[inline]
    fn get_for_blocking(
        &self,
        waited: &mut usize,
        mut batch: Option<Option<W::Deadline>>,
    ) -> Option<Result<T, GetError>> {
        let mut round = 0;
        loop {
            if self.control.immediate.load(Ordering::Acquire) {
                return Some(Err(GetError::ShutDown));
            }
            match self.ring.claim_pop_with(CLAIM) {
                Ok(claim) => return Some(Ok(self.finish_get(claim))),
                Err(NoItem::Closed) => return Some(Err(GetError::ShutDown)),
                Err(NoItem::Empty) => {
                    let deadline = batch.take()?;
                    self.wait_for_items(deadline);
                }
                // As in `claim_for_blocking_put`: a putter may have died in flight.
                Err(NoItem::InFlight) if give_up_on_peer::<W>(*waited) => return None,
                Err(NoItem::InFlight) if batch.is_some() => {
                    if let Some(deadline) = batch.take() {
                        self.wait_for_items(deadline);
                    }
                }
                Err(NoItem::InFlight) => {
                    // Only a process-shared strategy ever gives up: only it counts
                    // (the process-private ones never touch `waited`).
                    if W::PROCESS_SHARED {
                        *waited += 1;
                    }
                    W::relax(round);
                    round = (round + 1).min(W::RELAX_ROUNDS.saturating_sub(1));
                }
            }
        }
    }

    /// The blocking put: waits on the ring's `not_full` event count, and announces
    /// itself in `sleeping_putters` once the event count has counted it as a sleeper
    /// (after the adaptive phase, right before its last look), so that getters only
    /// pay for waking it when it may really sleep. `None` if `deadline` passed.
    #[inline]
    fn put_blocking(&self, deadline: Option<W::Deadline>) -> Option<Result<Claim, ()>> {
        // Fast path: a free slot, no event count involved.
        let mut waited = 0;
        if let Some(r) = self.claim_for_blocking_put(&mut waited) {
            return Some(r);
        }
        self.put_waiting(deadline, waited)
    }

    /// The waiting part of [`put_blocking`](Self::put_blocking); `waited` as for
    /// [`claim_for_blocking_put`](Self::claim_for_blocking_put).
    #[cold]
    fn put_waiting(
        &self,
        deadline: Option<W::Deadline>,
        mut waited: usize,
    ) -> Option<Result<Claim, ()>> {
        self.wait_for_room(deadline);
        let waiters = &self.ring.sleepers().not_full;
        let mut announced = None;
        waiters.wait_until_probing(deadline, |probe| {
            // Our own registration in `waiters` is visible to us: non-zero before every
            // look that may be followed by a sleep (and maybe earlier, harmlessly).
            if announced.is_none() && waiters.sleepers() != 0 {
                announced = Some(Announced::new(&self.control.sleeping_putters));
            }
            // Between processes, when a probe is due: free the slot of a
            // get whose process died in flight (its item is lost with it).
            if probe {
                while self.ring.skip_dead_pop() {}
            }
            self.claim_for_blocking_put(&mut waited)
        })
    }

    /// A putter that found the queue full first waits, briefly, until a batch of
    /// slots is free: `capacity / ROOM_SHARE` of them, for at most `ROOM_ROUNDS`
    /// pauses of `W::relax` (about 130 spin hints with the OS strategies), and never
    /// past `deadline` or a shutdown. Then it takes any free slot as before. See "A
    /// full queue refills in batches" in the module docs.
    #[inline]
    fn wait_for_room(&self, deadline: Option<W::Deadline>) {
        let capacity = self.ring.capacity();
        let want = capacity / ROOM_SHARE;
        // Small queues have no batch to wait for; loom models the protocol, not this
        // pause (it changes no state).
        if want < 2 || cfg!(loom) {
            return;
        }
        for round in 0..ROOM_ROUNDS.min(W::RELAX_ROUNDS) {
            if capacity - self.ring.len() >= want
                || self.ring.is_closed()
                || deadline.is_some_and(|d| d.has_passed())
            {
                return;
            }
            W::relax(round);
        }
    }

    /// A getter that found no item ready looks at the slots, for a few growing pauses
    /// of `W::relax` (at most `ROOM_ROUNDS`, never past `deadline`): it returns at
    /// the first look that sees one item written with none written behind it (a reply:
    /// take it now), or no item and no put claimed since the last look (no putter
    /// running), once `capacity / ROOM_SHARE` items are written, or once their count
    /// stops growing (the putter paused). See "An empty queue lets a streaming
    /// putter run ahead" in the module docs. It changes no state: the caller claims as
    /// before.
    #[inline]
    fn wait_for_items(&self, deadline: Option<W::Deadline>) {
        let want = self.ring.capacity() / ROOM_SHARE;
        // Small queues have no batch to wait for; loom models the protocol, not this
        // pause (as `wait_for_room`).
        if want < 2 || cfg!(loom) {
            return;
        }
        // Items counted at the last look of a stream (0: no stream seen yet).
        let mut last = 0;
        // Puts claimed so far: while none is written, the wait goes on only while
        // this moves (a putter that is not running, e.g. one sharing the getter's
        // CPU, is not waited for here; the event count's own wait follows).
        let mut claimed = self.ring.pushes_claimed();
        for round in 0..ROOM_ROUNDS.min(W::RELAX_ROUNDS) {
            if deadline.is_some_and(|d| d.has_passed()) {
                return;
            }
            W::relax(round);
            if last == 0 {
                if !self.ring.written_ahead(0) {
                    let now = self.ring.pushes_claimed();
                    if now == claimed {
                        return;
                    }
                    claimed = now;
                    continue;
                }
                if !self.ring.written_ahead(1) {
                    return;
                }
            }
            if self.ring.written_ahead(want - 1) {
                return;
            }
            // A stream: `len` (claims included) only while it is one, at growing
            // intervals.
            let now = self.ring.len();
            if now <= last {
                return;
            }
            last = now;
        }
    }

    /// The blocking get (mirror of [`put_blocking`](Self::put_blocking)).
    #[inline]
    fn get_blocking(&self, deadline: Option<W::Deadline>) -> Option<Result<T, GetError>> {
        // Fast path: an item, no event count involved.
        let mut waited = 0;
        if let Some(r) = self.get_for_blocking(&mut waited, Some(deadline)) {
            return Some(r);
        }
        self.get_waiting(deadline, waited)
    }

    /// The waiting part of [`get_blocking`](Self::get_blocking); `waited` as for
    /// [`claim_for_blocking_put`](Self::claim_for_blocking_put).
    #[cold]
    fn get_waiting(
        &self,
        deadline: Option<W::Deadline>,
        mut waited: usize,
    ) -> Option<Result<T, GetError>> {
        let waiters = &self.ring.sleepers().not_empty;
        let mut announced = None;
        waiters.wait_until_probing(deadline, |probe| {
            if announced.is_none() && waiters.sleepers() != 0 {
                announced = Some(Announced::new(&self.control.sleeping_getters));
            }
            // Between processes, when a probe is due: skip the slot of a
            // put whose process died in flight, and count its task done (nobody will
            // get it), as `shutdown(true)` does.
            if probe {
                let mut skipped = false;
                while self.ring.skip_dead_push() {
                    let _ = self.mark_done();
                    skipped = true;
                }
                if skipped {
                    self.control.all_tasks_done.notify_all();
                    self.ring.sleepers().not_full.notify_all();
                }
            }
            self.get_for_blocking(&mut waited, None)
        })
    }

    /// Test hook of the loom models (only under `cfg(loom)`): claims a slot for a put
    /// (between processes reserved first, as every claim) and stops there, as a process
    /// killed between claim and hand-over. `false` if no slot could be claimed without
    /// waiting.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_claim_put_and_die(&self) -> bool {
        loop {
            match self.claim_counted() {
                Ok(_) => return true,
                // Another claimant's reservation: let it go on.
                Err(NoSlot::InFlight) => loom::thread::yield_now(),
                Err(_) => return false,
            }
        }
    }

    // ---- try_* front end (never waits; legal in an interrupt) ----

    /// Puts `item` if a slot is free; never waits (Python's `put_nowait`). Wakes one
    /// blocked getter.
    ///
    /// # Errors
    /// [`PutError::Full`] when no slot can be claimed without waiting (the queue is
    /// full, or a getter is still moving an item out of the next slot),
    /// [`PutError::ShutDown`] after [`shutdown`](Self::shutdown); both hand `item` back.
    #[inline]
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        match self.try_put(item) {
            Ok(None) => Ok(()),
            Ok(Some(item)) => Err(PutError::Full(item)),
            Err(item) => Err(PutError::ShutDown(item)),
        }
    }

    /// Takes the next item if it can be taken without waiting (Python's `get_nowait`).
    /// Wakes one blocked putter.
    ///
    /// # Errors
    /// [`GetError::Empty`] when there is no item (or the next one is still being
    /// written by its put); [`GetError::ShutDown`] after a shutdown once the queue is
    /// empty, or at once after an immediate shutdown.
    #[inline]
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.try_get().unwrap_or(Err(GetError::Empty))
    }

    /// Marks one item taken with a get as processed (Python's `task_done`); wakes the
    /// callers of [`join`](Self::join) when the count reaches zero.
    ///
    /// # Errors
    /// [`TaskDoneError::TooManyCalls`] when there is no unfinished task (Python's
    /// `ValueError`); the count stays at zero.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.mark_done()? {
            self.control.all_tasks_done.notify_all();
        }
        Ok(())
    }

    /// Shuts the queue down (Python 3.13's `shutdown(immediate)`); wakes every blocked
    /// caller.
    ///
    /// From now on puts fail with `ShutDown` (handing the item back). With
    /// `immediate == false`, gets keep returning the remaining items (including those of
    /// puts that were in flight) and fail once the queue is empty; with
    /// `immediate == true`, gets fail at once and the remaining items are dropped, each
    /// counting as one `task_done` (so [`join`](Self::join) returns once the tasks
    /// already taken are done). Calling it again is allowed; a later `shutdown(false)`
    /// does not undo an immediate one.
    ///
    /// `shutdown(false)` never waits. `shutdown(true)` waits for the puts that claimed
    /// a slot before it (a few instructions each) to write their items, so that it can
    /// drop them: in an interrupt handler use it only if the handler cannot have
    /// interrupted a put of the same queue. With a process-shared strategy it waits for
    /// such a put only briefly, then skips its slot (the putter may be dead; see
    /// "Participants that die" in the [module docs](self)).
    ///
    /// # Panics
    /// If an item's `Drop` panics during an immediate shutdown, the drain goes on as for
    /// [`BaseQueue::shutdown`](super::BaseQueue::shutdown): every item is still taken,
    /// dropped and counted done (the one whose drop panicked included), `join` is
    /// released, then the (first) panic reaches the caller.
    pub fn shutdown(&self, immediate: bool) {
        if immediate {
            self.control.immediate.store(true, Ordering::SeqCst);
        }
        // Refuses every later claim for a put, and wakes every blocked putter and getter.
        self.ring.close();
        if !immediate {
            return;
        }
        // `join` is released however the drain ends.
        let _wake_joiners = OnDrop(|| self.control.all_tasks_done.notify_all());
        let mut round = 0;
        let mut waited = 0;
        drop_each(|| loop {
            match self.ring.claim_pop_with(CLAIM) {
                // Counted done once dropped, also if its drop panics.
                Ok(claim) => {
                    waited = 0;
                    return Some(Discarded {
                        _item: self.finish_get(claim),
                        _done: MarkDone(self),
                    });
                }
                // Closed and drained (`Empty` cannot happen once closed).
                Err(NoItem::Closed | NoItem::Empty) => return None,
                // Between processes the put in flight may be dead: skip its slot
                // (closed ring: nobody claims it again, a late write of a live putter
                // only lands in it) and count its task done; the item, if it ever
                // comes, stays in the slot until the queue itself is dropped.
                Err(NoItem::InFlight) if give_up_on_peer::<W>(waited) => {
                    waited = 0;
                    if self.ring.skip_in_flight_pop() {
                        let _ = self.mark_done();
                    }
                }
                Err(NoItem::InFlight) => {
                    waited += 1;
                    W::relax(round);
                    round = (round + 1).min(W::RELAX_ROUNDS.saturating_sub(1));
                }
            }
        });
    }

    // ---- queries (snapshots) ----

    /// How many items are queued (Python's `qsize`; puts in flight included), a
    /// snapshot.
    pub fn qsize(&self) -> usize {
        self.ring.len()
    }

    /// `true` when no item is queued (Python's `empty`), a snapshot.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// `true` when no slot is free (Python's `full`), a snapshot.
    pub fn full(&self) -> bool {
        self.qsize() == self.maxsize()
    }

    /// The capacity (Python's `maxsize`).
    pub fn maxsize(&self) -> usize {
        self.ring.capacity()
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done) (Python's
    /// `unfinished_tasks` attribute).
    ///
    /// Counted modulo about `2^63` (`2^31` on 32-bit targets): only a program that
    /// leaves more tasks than that unfinished would see it wrap.
    pub fn unfinished_tasks(&self) -> usize {
        // `done` first: the pushes read afterwards can only be more.
        let done = self.done.load(Ordering::SeqCst);
        self.unfinished_between(done, self.ring.pushes_claimed())
    }

    /// `true` after [`shutdown`](Self::shutdown) (Python's `is_shutdown`).
    pub fn is_shutdown(&self) -> bool {
        self.ring.is_closed()
    }

    // ---- blocking front end ----

    /// Puts `item`, waiting while the queue is full (Python's `put()`).
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down before a
    /// slot frees up; never `Full`.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        loop {
            match self.put_blocking(None) {
                Some(Ok(claim)) => {
                    self.finish_put(claim, item);
                    return Ok(());
                }
                Some(Err(())) => return Err(PutError::ShutDown(item)),
                // Without a deadline the wait only returns `Some`; loop for the type.
                None => {}
            }
        }
    }

    /// Puts `item`, waiting at most until `deadline` for a free slot (Python's
    /// `put(timeout=...)`).
    ///
    /// # Errors
    /// [`PutError::Full`] if no slot freed up in time, [`PutError::ShutDown`] if the
    /// queue is or gets shut down; both hand `item` back.
    pub fn put_until(&self, item: T, deadline: W::Deadline) -> Result<(), PutError<T>> {
        match self.put_blocking(Some(deadline)) {
            Some(Ok(claim)) => {
                self.finish_put(claim, item);
                Ok(())
            }
            Some(Err(())) => Err(PutError::ShutDown(item)),
            None => Err(PutError::Full(item)),
        }
    }

    /// Takes the next item, waiting while the queue is empty (Python's `get()`).
    ///
    /// # Errors
    /// [`GetError::ShutDown`] once the queue is shut down and empty, or at once after an
    /// immediate shutdown; never `Empty`.
    pub fn get(&self) -> Result<T, GetError> {
        loop {
            // Without a deadline the wait only returns `Some`; loop for the type.
            if let Some(result) = self.get_blocking(None) {
                return result;
            }
        }
    }

    /// Takes the next item, waiting at most until `deadline` (Python's
    /// `get(timeout=...)`). A get that times out never takes an item.
    ///
    /// # Errors
    /// [`GetError::Empty`] if no item arrived in time; [`GetError::ShutDown`] as for
    /// [`get`](Self::get).
    pub fn get_until(&self, deadline: W::Deadline) -> Result<T, GetError> {
        self.get_blocking(Some(deadline))
            .unwrap_or(Err(GetError::Empty))
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](Self::task_done) (Python's `join`).
    pub fn join(&self) {
        self.control
            .all_tasks_done
            .wait(|| (self.unfinished_tasks() == 0).then_some(()));
    }

    /// [`join`](Self::join) with a deadline: `true` if all tasks were done in time.
    pub fn join_until(&self, deadline: W::Deadline) -> bool {
        self.control
            .all_tasks_done
            .wait_until(Some(deadline), || {
                (self.unfinished_tasks() == 0).then_some(())
            })
            .is_some()
    }
}

impl<T, const N: usize, W: WaitStrategy> Default for RingQueueIn<T, [Slot<T, W::SlotOwner>; N], W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, S: SlotStorage<T>, W: WaitStrategy> fmt::Debug for RingQueueIn<T, S, W> {
    /// Prints the counters, never the items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingQueue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

// ---- async front end ----

/// The async forms (feature `async`), on the queue itself: a task that must wait counts
/// itself in `sleeping_getters` (`sleeping_putters`) as a blocked thread does, then
/// parks on the same event count ([`Waiters::poll_async`]): the count makes a put
/// (get) — by a task, a thread's plain blocking call, or an interrupt's `put_nowait` —
/// pay for the notify, and the notify sees the `TASKS` bit and wakes the task. The two
/// Dekker pairs are the blocking path's (the count, then the task's last look) and
/// `Waiters`' ("Async tasks"); `core/tests/loom_async.rs` models them. One `SeqCst`
/// fence serves both: the park's, after the count and the registration, before the
/// last look; so the async looks skip the ring's own "looks empty / full" fence (a
/// stale "empty" before the park only leads to the park and that look), one locked
/// instruction fewer per look. A task that
/// finds the next slot held by a peer still in flight (a few instructions) asks to be
/// polled again instead of parking (no wake-up would follow); with a process-shared
/// strategy it probes that peer every `SHARED_IN_FLIGHT_ROUNDS` (64) such polls and skips
/// the slot of a dead one, as the blocking forms do after a slice.
#[cfg(feature = "async")]
impl<T, S: SlotStorage<T>, W: WaitStrategy> RingQueueIn<T, S, W> {
    /// The poll loop of every async form that waits on `waiters`, announced in
    /// `count`: `attempt(&mut in_flight)` is the never-waiting operation (`None`: not
    /// now; it sets `in_flight` when a peer holds the next slot).
    ///
    /// The callers mark `attempt` `#[inline(always)]`: called from three places here,
    /// it was otherwise compiled out of line, returning its `Option<Result<..>>` through
    /// memory, which the poll then read back and copied as the bytes after the tag
    /// (two overlapping 8-byte moves, unaligned at offset 1 and 8) — loads that straddle
    /// two earlier stores, which the CPU cannot forward from its store buffer, so each
    /// waits for the stores to reach the cache: three such stalls per get were the
    /// hottest instructions of the async ping-pong (issue #14). Inline, the result
    /// stays in registers.
    fn wait_side_async<'a, R: 'a>(
        waiters: &'a Waiters<W>,
        count: &'a AtomicUsize,
        mut attempt: impl FnMut(&mut bool) -> Option<R> + 'a,
    ) -> impl core::future::Future<Output = R> + 'a {
        let mut slot = crate::asynch::TaskSlot::new();
        let mut announced: Option<Announced<'a>> = None;
        core::future::poll_fn(move |cx| {
            let mut in_flight = false;
            // Mutant (see `cargo xtask test`'s mutant table): the task never counts
            // itself, so a put that sees no sleeping getter skips the notify.
            let announce = !cfg!(conkit_mutant = "ring_queue_async_not_announced");
            let polled = if announced.is_none() {
                // Fast path: ready without touching the counters or the table.
                if let Some(r) = attempt(&mut in_flight) {
                    return core::task::Poll::Ready(r);
                }
                // Just looked: park, count ourselves (the count's locked instruction is
                // the park's fence too), then the one look after the count and the bit.
                waiters.park_announce_look(
                    &mut slot,
                    cx,
                    || {
                        if announce {
                            announced = Some(Announced::new_fenced(count));
                        } else {
                            crate::atomic::fence(Ordering::SeqCst);
                        }
                    },
                    || attempt(&mut in_flight),
                )
            } else {
                waiters.poll_async(&mut slot, cx, || attempt(&mut in_flight))
            };
            match polled {
                core::task::Poll::Ready(r) => {
                    announced = None;
                    core::task::Poll::Ready(r)
                }
                core::task::Poll::Pending => {
                    if in_flight {
                        // The peer in the next slot finishes in a few instructions
                        // and may owe us no wake-up: look again soon.
                        cx.waker().wake_by_ref();
                    }
                    core::task::Poll::Pending
                }
            }
        })
    }

    /// Puts `item`, waiting (asynchronously) while the queue is full (Python's
    /// `await asyncio.Queue.put(item)`); a get by a task, a thread or an interrupt
    /// makes room and wakes it.
    ///
    /// Cancel-safe: the slot is claimed and written in the poll that completes the
    /// future; a future dropped before that drops the item, takes no slot and leaves
    /// nothing parked (the room a get makes goes to another putter).
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down first.
    ///
    /// ```
    /// use conkit_core::queue::RingQueue;
    ///
    /// static Q: RingQueue<u32, 2> = RingQueue::new();
    /// let task = async {
    ///     Q.put_async(1).await.unwrap();
    ///     assert_eq!(Q.get_async().await, Ok(1));
    /// };
    /// # let _ = task;
    /// ```
    pub fn put_async(
        &self,
        item: T,
    ) -> impl core::future::Future<Output = Result<(), PutError<T>>> + '_ {
        let mut pending = Some(item);
        // A word, not a `u32`: see `get_async`.
        let mut waited = 0usize;
        Self::wait_side_async(
            &self.ring.sleepers().not_full,
            &self.control.sleeping_putters,
            // Inline: see `wait_side_async`.
            #[inline(always)]
            move |in_flight| {
                let item = pending.take()?;
                // No fence on the "looks full" path: a stale `Full` only parks, and the
                // last look follows the park's fence (see `claim_push_fenced`).
                match self.ring.claim_push_fenced::<false>(CLAIM) {
                    Ok(claim) => {
                        self.finish_put(claim, item);
                        Some(Ok(()))
                    }
                    Err(NoSlot::Closed) => Some(Err(PutError::ShutDown(item))),
                    Err(NoSlot::Full) => {
                        pending = Some(item);
                        None
                    }
                    Err(NoSlot::InFlight) => {
                        pending = Some(item);
                        waited += 1;
                        if give_up_on_peer::<W>(waited) {
                            // Between processes: free the slot of a dead getter.
                            waited = 0;
                            while self.ring.skip_dead_pop() {}
                        }
                        *in_flight = true;
                        None
                    }
                }
            },
        )
    }

    /// Takes the next item, waiting (asynchronously) while the queue is empty (Python's
    /// `await asyncio.Queue.get()`); a put by a task, a thread or an interrupt wakes it.
    ///
    /// Cancel-safe: the item is taken in the poll that completes the future; a future
    /// dropped before that takes nothing and leaves nothing parked (the next item goes
    /// to another getter).
    ///
    /// # Errors
    /// [`GetError::ShutDown`] as for the blocking [`get`](Self::get).
    ///
    /// ```
    /// use conkit_core::queue::RingQueue;
    ///
    /// let q: RingQueue<&str, 2> = RingQueue::new();
    /// q.put_nowait("job").unwrap();
    /// let task = async { assert_eq!(q.get_async().await, Ok("job")) };
    /// # let _ = task;
    /// ```
    pub fn get_async(&self) -> impl core::future::Future<Output = Result<T, GetError>> + '_ {
        // A word, not a `u32`: a 4-byte capture left a 4-byte hole before the task
        // slot, and the future was then built through a stack copy of hole + slot
        // (a 16-byte load straddling the 16-byte store that zeroed the slot, which the
        // CPU cannot forward: a store-buffer stall on every future made, the hottest
        // instruction of the 1P/1C rows, issue #14).
        let mut waited = 0usize;
        Self::wait_side_async(
            &self.ring.sleepers().not_empty,
            &self.control.sleeping_getters,
            // Inline: see `wait_side_async`.
            #[inline(always)]
            move |in_flight| {
                if self.control.immediate.load(Ordering::Acquire) {
                    return Some(Err(GetError::ShutDown));
                }
                // No fence on the "looks empty" path, as in `put_async`.
                match self.ring.claim_pop_fenced::<false>(CLAIM) {
                    Ok(claim) => Some(Ok(self.finish_get(claim))),
                    Err(NoItem::Closed) => Some(Err(GetError::ShutDown)),
                    Err(NoItem::Empty) => None,
                    Err(NoItem::InFlight) => {
                        waited += 1;
                        if give_up_on_peer::<W>(waited) {
                            // Between processes: skip the slot of a dead putter and
                            // count its task done, as the blocking get does.
                            waited = 0;
                            let mut skipped = false;
                            while self.ring.skip_dead_push() {
                                let _ = self.mark_done();
                                skipped = true;
                            }
                            if skipped {
                                self.control.all_tasks_done.notify_all();
                                self.ring.sleepers().not_full.notify_all();
                            }
                        }
                        *in_flight = true;
                        None
                    }
                }
            },
        )
    }

    /// Waits (asynchronously) until every item put has been marked done (Python's
    /// `await asyncio.Queue.join()`); the last `task_done`, by a task or a thread,
    /// wakes it.
    ///
    /// ```
    /// use conkit_core::queue::RingQueue;
    ///
    /// let q: RingQueue<u8, 2> = RingQueue::new();
    /// let task = async { q.join_async().await }; // nothing unfinished: ready at once
    /// # let _ = task;
    /// ```
    pub fn join_async(&self) -> impl core::future::Future<Output = ()> + '_ {
        self.control
            .all_tasks_done
            .wait_async(move || (self.unfinished_tasks() == 0).then_some(()))
    }
}

/// The older wrapper (kept for compatibility): every method forwards to the queue's own
/// async forms above, which wake and are woken by every user of the queue; the
/// wrapper's [`WakerSet`](crate::asynch::WakerSet) is no longer used by queues.
#[cfg(feature = "async")]
impl<T, S: SlotStorage<T>, W: WaitStrategy, const K: usize>
    crate::asynch::Async<RingQueueIn<T, S, W>, K>
{
    /// Puts `item`, waiting (asynchronously) while the queue is full: the queue's own
    /// [`RingQueueIn::put_async`].
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down first.
    pub async fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.inner().put_async(item).await
    }

    /// Takes the next item, waiting (asynchronously) while the queue is empty: the
    /// queue's own [`RingQueueIn::get_async`].
    ///
    /// # Errors
    /// [`GetError::ShutDown`] as for the blocking [`RingQueueIn::get`].
    pub async fn get(&self) -> Result<T, GetError> {
        self.inner().get_async().await
    }

    /// Waits (asynchronously) until every item put has been marked done: the queue's
    /// own [`RingQueueIn::join_async`].
    pub async fn join(&self) {
        self.inner().join_async().await;
    }

    /// [`RingQueueIn::put_nowait`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`RingQueueIn::put_nowait`].
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.inner().put_nowait(item)
    }

    /// [`RingQueueIn::get_nowait`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`RingQueueIn::get_nowait`].
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.inner().get_nowait()
    }

    /// [`RingQueueIn::task_done`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`RingQueueIn::task_done`].
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.inner().task_done()
    }

    /// [`RingQueueIn::shutdown`] (which wakes the parked tasks itself).
    pub fn shutdown(&self, immediate: bool) {
        self.inner().shutdown(immediate);
    }
}

#[cfg(all(
    test,
    feature = "std",
    not(loom),
    any(target_os = "linux", target_os = "android")
))]
mod tests {
    use super::*;
    use crate::wait::SharedFutex;
    use std::time::{Duration, Instant};

    /// A put that claimed its slot and never wrote it (its process died between claim
    /// and hand-over; here the claim is simply never completed), with the
    /// process-shared strategy: a get gives up on it and returns at its deadline, a
    /// put with a deadline likewise once the ring has come round, `shutdown(true)`
    /// skips the slot and counts its task done, so `join` returns and no task is left.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "a get's last look probes the claimant with kill(2), which Miri cannot run"
    )]
    fn shared_shutdown_skips_a_put_that_never_completes() {
        let q: RingQueue<u32, 2, SharedFutex> = RingQueue::new();
        // Claimed, never written nor handed over (a `Claim` has no `Drop`).
        let _dead = q.claim_counted().expect("a free slot");
        q.put_nowait(7).unwrap();
        let start = Instant::now();
        let soon = || Instant::now() + Duration::from_millis(20);
        assert_eq!(q.get_until(soon()), Err(GetError::Empty));
        assert!(matches!(q.put_until(8, soon()), Err(PutError::Full(8))));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(q.unfinished_tasks(), 2);
        q.shutdown(true);
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.join_until(soon()));
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    }

    /// The batched get (`wait_for_items`) only delays a get while a putter streams: a
    /// reply, a short burst and an item behind a deadline that has passed are taken
    /// at once, in order (a put that stops is not waited for until a batch fills).
    #[test]
    fn blocking_get_takes_a_reply_or_a_short_burst_without_waiting_for_a_batch() {
        let q: HeapRingQueue<u32> =
            HeapRingQueue::with_capacity(core::num::NonZeroUsize::new(1024).unwrap());
        // (Fewer under Miri, whose spin hints are slow.)
        let (rounds, bursts) = if cfg!(miri) { (10, 6) } else { (1000, 40) };
        let start = Instant::now();
        for round in 0..rounds {
            q.put(round).unwrap();
            assert_eq!(q.get(), Ok(round));
        }
        for burst in 1..bursts {
            for i in 0..burst {
                q.put_nowait(i).unwrap();
            }
            for i in 0..burst {
                assert_eq!(q.get(), Ok(i));
            }
        }
        q.put_nowait(5).unwrap();
        assert_eq!(q.get_until(Instant::now()), Ok(5));
        // Each get above waits a few dozen spin hints at most; a batch wait per get
        // would still be far below this bound, which only catches a get that waits
        // for items that never come (a sleep, or an unbounded wait).
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    /// `written_ahead` looks `k` positions past `head`, across the end of the slots.
    #[test]
    fn written_ahead_sees_the_items_past_head_across_the_wrap() {
        let q: RingQueue<u32, 4> = RingQueue::new();
        for start in 0..6 {
            for i in 0..3 {
                q.put_nowait(start + i).unwrap();
            }
            assert!(q.ring.written_ahead(0) && q.ring.written_ahead(2));
            assert!(!q.ring.written_ahead(3));
            for i in 0..3 {
                assert_eq!(q.get_nowait(), Ok(start + i));
            }
            assert!(!q.ring.written_ahead(0));
            // Move `head` one further each round, so the looks cross the wrap.
            q.put_nowait(99).unwrap();
            assert_eq!(q.get_nowait(), Ok(99));
        }
    }
}
