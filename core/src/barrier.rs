//! `Barrier<W>`: a reusable rendezvous of a fixed number of parties (Python's
//! `threading.Barrier`).
//!
//! Each of `parties` callers calls [`wait_until`](Barrier::wait_until); all of them block
//! until the last one arrives, then all return together, each with a distinct arrival
//! index `0..parties` (unless an async party withdrew from the round, see
//! [Withdrawal](#withdrawal-cancelled-async-parties)). The last to arrive first runs an
//! action (a closure returning whether it succeeded). The barrier is then reusable for
//! the next round.
//!
//! It can **break**: [`abort`](Barrier::abort), a waiter whose deadline passes, or an
//! action that fails (or panics) puts it in the broken state, and every party that is
//! waiting or arrives later gets [`BrokenBarrier`] until [`reset`](Barrier::reset).
//!
//! ```
//! use conkit_core::barrier::Barrier;
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! static START: Barrier = Barrier::new(3);
//! static SEEN: AtomicU32 = AtomicU32::new(0);
//!
//! let workers: Vec<_> = (0..3)
//!     .map(|_| std::thread::spawn(|| START.wait(|| true).unwrap()))
//!     .collect();
//! for w in workers {
//!     SEEN.fetch_or(1 << w.join().unwrap(), Ordering::Relaxed);
//! }
//! assert_eq!(SEEN.load(Ordering::Relaxed), 0b111); // indices 0, 1 and 2, once each
//! ```
//!
//! # Algorithm and provenance
//! The state machine of CPython's `threading.Barrier` (`Lib/threading.py`: *filling*,
//! *draining*, *resetting*, *broken*, and a count of callers inside `wait`), without its
//! lock and condition: the state and the count share one `u32` word changed by
//! compare-and-swap, and blocked callers sleep on a [`Waiters`] event count.
//!
//! * *filling*: arrivals take index `count` and increment it. The one that makes
//!   `count == parties` runs the action, then switches to *draining* (or *broken* if the
//!   action failed) and wakes everybody. While the action runs (`count == parties`),
//!   newcomers wait and deadlines do not break the barrier (as in Python, where the
//!   action runs under the barrier's lock).
//! * *draining*: released callers leave, decrementing the count; newcomers wait. The last
//!   to leave switches back to *filling*: the next round starts. Because a caller stays
//!   counted until it leaves, no round can start while one of its parties is still
//!   inside, so no generation number is needed.
//! * *resetting* (a [`reset`](Barrier::reset) while callers are inside): those callers
//!   get [`BrokenBarrier`]; the last to leave switches to *filling*.
//! * *broken*: every caller gets [`BrokenBarrier`] until a reset.
//!
//! # Withdrawal (cancelled async parties)
//! A [`wait_async`](Barrier::wait_async) future dropped after it arrived **withdraws**
//! its party, as asyncio's `Barrier.wait` does when cancelled (`finally: self._count
//! -= 1` in CPython's `Lib/asyncio/locks.py`). The drop is one compare-and-swap on the
//! state word, so it is ordered with the last arrival's own compare-and-swap, and the
//! race resolves to exactly one of:
//! * *filling*, `count < parties` (the round is not complete): the count goes down by
//!   one — withdrawn. Nobody is woken or broken; the next arrival takes the count as
//!   its index (asyncio's index, which may repeat an index already taken in this round:
//!   the distinct-index promise holds only for rounds without a withdrawal; the last
//!   arrival always gets `parties - 1`), and a later arrival can complete the round.
//! * *filling*, `count >= parties` (complete: the last arrival runs the action): the
//!   party **passed** — it is one of the round's parties, the action runs once, the
//!   others are released. It cannot uncount itself yet (a newcomer would then take the
//!   last index and run the action again), so it counts itself up instead: `count ==
//!   parties + k` means "complete, `k` parties already gone", and the transition out of
//!   *filling* (release, abort, reset) leaves `parties - k` inside.
//! * *draining*, *resetting*, *broken*: the round was decided; the party leaves as any
//!   released or broken one does.
//!
//! Blocking waits cannot be cancelled; a blocking party's deadline still breaks the
//! barrier (Python's `threading` rule), and a withdrawal never does. The same holds
//! with a process-shared strategy (parties in several processes): the withdrawing
//! party's [member bit](#arrival-records) goes with the count in the same
//! compare-and-swap, and its record slot is freed for the next arrival. A barrier of
//! more than 2^29 parties breaks when the count has no room left for `parties + k`.
//!
//! # Watchers
//! [`watch_until`](Barrier::watch_until) sleeps among the waiters without arriving:
//! never counted in a round, it takes no index and no wake-up (every wake-up of a
//! barrier wakes every sleeper), and returns when an epoch, moved on before each
//! wake-up, has passed its mark. The `std` adapter's process-shared barrier wakes its
//! async parties (tasks, which arrive and withdraw themselves) through one.
//!
//! # Participants that die
//! Between processes (the barrier in `MAP_SHARED` memory, a process-shared strategy
//! such as `SharedFutex`) a party can be killed at any point. What that costs, and why
//! nothing waits for a dead party:
//! * killed **after arriving** (waiting for the others, released but not yet left,
//!   withdrawing, or while running the action as the last to arrive): with a
//!   process-shared strategy each arrival records its
//!   [owner token](WaitStrategy::owner_token) (its kernel thread id) in a free one of
//!   [`RECORDED`] record slots, and frees it when it leaves. The record is made
//!   *before* the arrival counts and freed *after* it is uncounted, and a member bit in
//!   the state word says which (see "Arrival records" below), so a party killed at any
//!   instruction of its arrival or of its leaving is identifiable. Every party waiting
//!   inside `wait` — for the release, or for a round to finish draining — probes one
//!   record slot per sleep slice (about 1–16 ms with `SharedFutex`, whatever woke it
//!   meanwhile; see
//!   [`Waiters::wait_until_probing`](crate::wait::Waiters::wait_until_probing)); a
//!   party that is gone and still counted is **buried**: uncounted, and the barrier
//!   breaks. So every caller inside, with or without a deadline, gets [`BrokenBarrier`]
//!   within `RECORDED` slices or so (well under a second), and later arrivals too,
//!   until [`reset`](Barrier::reset), which makes the barrier usable again (its party
//!   count is unchanged: the replacement process takes the dead one's place). A record
//!   left by a party killed before it counted, or after it was uncounted (a withdrawal
//!   that completed), is freed without breaking anything. Without a process-shared
//!   strategy nothing is recorded (threads die with their process).
//!
//!   What remains: a party that finds every record slot taken (more than [`RECORDED`]
//!   parties inside at once) is not recorded: killed, it keeps the round from draining
//!   (or from being released), and the others' deadlines decide — give every wait a
//!   deadline when parties may exceed `RECORDED`. A thread id reused by a new thread
//!   makes a dead party look alive (as for [`Lock`](crate::lock::Lock)).
//!
//! # Arrival records
//! With a process-shared strategy the state word holds, besides the state and the count
//! (14 bits: at most [`MAX_SHARED_PARTIES`] parties), one **member bit** per record
//! slot, set exactly while the party recorded there is counted. An arrival first
//! **reserves** a free slot `j` (compare-and-swap from 0 to its token with the
//! `PENDING` bit), then counts itself *and* sets bit `j` in one compare-and-swap of the
//! state word, then clears `PENDING` (its record). A party leaving (released, broken,
//! reset, withdrawing or passed) marks its record `PENDING` again, clears bit `j` in
//! the same compare-and-swap that changes the count, then frees the slot. Only the
//! holder of slot `j` sets or clears bit `j` (or a waiter burying it), so a dead
//! holder's fate is read from the word in every state: bit set, it is counted and is
//! buried (bit cleared with the count, the barrier broken); bit clear, it never
//! counted or has left, and its slot is freed — by an arrival that needs a slot, or by
//! a waiter's probe. Slots are not tied to arrival indices, so a withdrawal leaves no
//! hole. Clearing the bit is what uncounts a buried party, so two waiters that find
//! it never uncount it twice; a waiter looks at the slot again after reading the bit
//! (a slot freed and taken by a new arrival meanwhile carries the new arrival's bit).
//!
//! A failed count (the word changed) frees the reservation before retrying. Without a
//! process-shared strategy nothing of this runs (no slot is touched, the word has no
//! member bits).
//!
//! A party killed **before arriving** is not inside, so nothing records it: the round
//! never fills, and every party waiting with a deadline breaks the barrier when it
//! passes, as for a party that is late (Python's rule); without a deadline a party
//! waits for it as for any late party. With threads, the action's outcome decides
//! while it runs, whatever the deadlines (as in Python); with a process-shared
//! strategy the waiting parties' deadlines break the barrier then too.
//!
//! # Progress
//! **Blocking** by nature. [`abort`](Barrier::abort), [`reset`](Barrier::reset),
//! [`n_waiting`](Barrier::n_waiting), [`broken`](Barrier::broken) never wait (lock-free;
//! `abort` may be called from an interrupt handler if the strategy's wake-up may).
//!
//! Layout: the state word (with a process-shared strategy, its member bits), the party
//! count, the two words of [`Waiters`] and the [`RECORDED`] arrival records (64 bytes);
//! no pointers, so it can be a `static` or live
//! in memory shared between processes.

use core::fmt;

use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// The count of callers inside `wait` (low 30 bits of the state word).
const COUNT: u32 = (1 << 30) - 1;
/// The state (high 2 bits).
const STATE: u32 = !COUNT;
/// In an arrival record: reserved by an arrival that may not have counted yet (see
/// "Arrival records" in the module docs). Owner tokens are at most
/// [`OWNER_MASK`](crate::wait::OWNER_MASK) (2^30 - 1), so they never have this bit.
const PENDING: u32 = 1 << 31;
const FILLING: u32 = 0;
const DRAINING: u32 = 1 << 30;
const RESETTING: u32 = 2 << 30;
const BROKEN: u32 = 3 << 30;

/// The most parties a barrier can have: `2^30 - 1` (between threads; see
/// [`MAX_SHARED_PARTIES`] for a process-shared strategy).
pub const MAX_PARTIES: u32 = COUNT;

/// With a process-shared strategy: the count (low 14 bits of the state word), which
/// leaves room for one member bit per arrival record (see "Arrival records" in the
/// module docs).
const SHARED_COUNT: u32 = (1 << 14) - 1;
/// With a process-shared strategy: bit `MEMBER_SHIFT + j` is set while the party
/// recorded in slot `j` is counted.
const MEMBER_SHIFT: u32 = 14;
/// With a process-shared strategy: the member bits.
const MEMBERS: u32 = COUNT & !SHARED_COUNT;

/// The most parties a barrier with a process-shared strategy (such as `SharedFutex`)
/// can have: `8191` (its state word also holds one member bit per arrival record, and
/// its count must hold `parties + k` while a complete round runs its action with `k`
/// parties gone, see "Withdrawal" in the [module docs](self)).
pub const MAX_SHARED_PARTIES: u32 = SHARED_COUNT / 2;

/// The barrier is broken (Python's `threading.BrokenBarrierError`): it was aborted, a
/// party's deadline passed, the action failed, or it was reset while this party waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl core::error::Error for BrokenBarrier {}

/// A party count outside `1..=MAX_PARTIES` (Python: `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InvalidParties(pub u32);

impl fmt::Display for InvalidParties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a barrier needs 1..={MAX_PARTIES} parties, not {}",
            self.0
        )
    }
}

impl core::error::Error for InvalidParties {}

/// A reusable barrier for `parties` callers (see the [module docs](self)), generic over
/// how a blocked caller waits (`W`, [`DefaultWait`] by default: spinning without the
/// `std` feature, a futex with it).
///
/// ```
/// use conkit_core::barrier::{Barrier, BrokenBarrier};
///
/// static ROUND: Barrier = Barrier::new(2);
///
/// ROUND.abort(); // e.g. a worker failed: nobody may wait for it
/// assert!(ROUND.broken());
/// assert_eq!(ROUND.wait(|| true), Err(BrokenBarrier));
/// ROUND.reset(); // back to an empty round
/// assert!(!ROUND.broken());
/// assert_eq!(ROUND.parties(), 2);
/// ```
#[repr(C)]
pub struct Barrier<W: WaitStrategy = DefaultWait> {
    /// `state | count`.
    word: AtomicU32,
    parties: u32,
    waiters: Waiters<W>,
    /// With a process-shared strategy only: the [owner token](WaitStrategy::owner_token)
    /// of a party inside `wait` (any free slot at its arrival), 0 when none; member bit
    /// `j` of the word says whether the party of slot `j` is counted (see "Arrival
    /// records" in the module docs).
    arrived: [AtomicU32; RECORDED],
    /// Moves on before every wake-up of the waiters (a release, a break, a reset, the
    /// next round's start): what a [watcher](Barrier::watch_until) compares with its
    /// mark. Never read by the parties.
    epoch: AtomicU32,
}

/// How many parties inside a barrier at once it records, with a process-shared strategy
/// (a slot freed by a party that leaves or withdraws is taken by the next arrival): a
/// dead party among them is detected by the waiting ones (see "Participants that die"
/// in the [module docs](self)).
///
/// ```
/// use conkit_core::barrier::{Barrier, RECORDED};
/// use conkit_core::wait::Spin;
///
/// // Room for the records is part of every barrier (the layout never depends on the
/// // strategy): 4 bytes each.
/// assert!(core::mem::size_of::<Barrier<Spin>>() >= RECORDED * 4);
/// ```
pub const RECORDED: usize = 16;

#[cfg(not(loom))]
const fn no_arrivals() -> [AtomicU32; RECORDED] {
    [const { AtomicU32::new(0) }; RECORDED]
}

#[cfg(loom)]
fn no_arrivals() -> [AtomicU32; RECORDED] {
    core::array::from_fn(|_| AtomicU32::new(0))
}

// SAFETY: `Barrier` holds only atomics and a `u32`; `W` is a zero-sized strategy used
// only through associated functions and never stored, so sharing or sending a `Barrier`
// never shares or sends a `W` value.
unsafe impl<W: WaitStrategy> Sync for Barrier<W> {}
// SAFETY: as above: no `W` value is ever stored.
unsafe impl<W: WaitStrategy> Send for Barrier<W> {}

impl<W: WaitStrategy> Barrier<W> {
    maybe_const_fn! {
        /// A barrier for `parties` callers, or [`InvalidParties`] if `parties` is `0` or
        /// more than [`MAX_PARTIES`] ([`MAX_SHARED_PARTIES`] with a process-shared
        /// strategy).
        pub fn try_new(parties: u32) -> Result<Self, InvalidParties> {
            if parties == 0 || parties > Self::MAX {
                Err(InvalidParties(parties))
            } else {
                Ok(Self::new(parties))
            }
        }
    }

    maybe_const_fn! {
        /// A barrier for `parties` callers (usable as a `static`).
        ///
        /// With an invalid count (`0` or more than [`MAX_PARTIES`], or
        /// [`MAX_SHARED_PARTIES`] with a process-shared strategy; Python raises
        /// `ValueError`) the barrier is created **broken for good**: every `wait` returns
        /// [`BrokenBarrier`] and `reset` leaves it broken. Use
        /// [`try_new`](Self::try_new) to get the error instead.
        pub fn new(parties: u32) -> Self {
            let valid = parties != 0 && parties <= Self::MAX;
            Self {
                word: AtomicU32::new(if valid { FILLING } else { BROKEN }),
                parties,
                waiters: Waiters::new(),
                arrived: no_arrivals(),
                epoch: AtomicU32::new(0),
            }
        }
    }

    /// Whether `parties` is a valid count (a barrier built by `new` with an invalid one
    /// stays broken).
    #[inline]
    fn valid(&self) -> bool {
        self.parties != 0 && self.parties <= Self::MAX
    }

    /// The most parties this barrier's strategy allows: [`MAX_PARTIES`], or
    /// [`MAX_SHARED_PARTIES`] with a process-shared strategy.
    pub const MAX: u32 = if W::PROCESS_SHARED {
        MAX_SHARED_PARTIES
    } else {
        MAX_PARTIES
    };

    /// The count's bits of the state word (fewer with a process-shared strategy, whose
    /// word also holds the member bits).
    const COUNT_MASK: u32 = if W::PROCESS_SHARED {
        SHARED_COUNT
    } else {
        COUNT
    };

    /// The member bits of `word` (always none without a process-shared strategy).
    #[inline]
    fn members(word: u32) -> u32 {
        if W::PROCESS_SHARED {
            word & MEMBERS
        } else {
            0
        }
    }

    /// The member bit of arrival record `slot` (see "Arrival records" in the module
    /// docs).
    #[inline]
    fn member(slot: usize) -> u32 {
        1 << (MEMBER_SHIFT + slot as u32)
    }

    /// Waits until all parties have arrived (no deadline). See
    /// [`wait_until`](Self::wait_until).
    ///
    /// # Errors
    /// [`BrokenBarrier`], as for [`wait_until`](Self::wait_until).
    pub fn wait(&self, action: impl FnOnce() -> bool) -> Result<u32, BrokenBarrier> {
        self.wait_until(None, action)
    }

    /// Arrives at the barrier and waits until all parties have arrived, or until
    /// `deadline` passes. Returns this caller's arrival index, `0..parties` (distinct for
    /// every party of a round, unless an async party withdrew from it: see
    /// [Withdrawal](self#withdrawal-cancelled-async-parties); Python's `wait()` return
    /// value).
    ///
    /// The last party to arrive runs `action` before anybody is released (Python's
    /// `action`; pass `|| true` for none). If it returns `false` (or panics; the panic
    /// then continues in that caller after the barrier is broken) the barrier breaks.
    ///
    /// While the barrier drains the previous round, a new arrival waits for it to finish,
    /// at most until `deadline` (Python waits without one): then it gets
    /// [`BrokenBarrier`] without joining or breaking any round. Between processes, a
    /// party of that round that died before leaving is detected and the barrier breaks
    /// (see "Participants that die" in the module docs).
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is broken when arriving or while waiting (an
    /// [`abort`](Self::abort), a failed action, a [`reset`](Self::reset) during the
    /// wait, or a party's deadline; a caller whose deadline passes breaks the barrier for
    /// every party, as in Python, except while the action runs: then only with a
    /// process-shared strategy, see "Participants that die" in the module docs).
    ///
    /// # Panics
    /// If `action` panics, the barrier is broken (every other party of the round gets
    /// [`BrokenBarrier`]), this caller is uncounted, and the panic continues in this
    /// caller; [`reset`](Self::reset) makes the barrier usable again. A panic of the
    /// deadline's clock withdraws the caller before it propagates, as a dropped
    /// [`wait_async`](Self::wait_async) does.
    pub fn wait_until(
        &self,
        deadline: Option<W::Deadline>,
        action: impl FnOnce() -> bool,
    ) -> Result<u32, BrokenBarrier> {
        // A round still draining (or being reset) is waited out, but not past the
        // deadline: between processes a party that died before leaving keeps the round
        // from ever draining (see "Participants that die" in the module docs).
        let mut cursor = 0;
        let (index, slot) = match self.waiters.wait_until_probing(deadline, |probe| {
            if probe {
                self.bury_a_dead_party(&mut cursor);
            }
            self.try_enter()
        }) {
            Some(entered) => entered?,
            None => return Err(BrokenBarrier),
        };
        // From here this caller is counted (and recorded, with a process-shared
        // strategy: `try_enter`); `Exit` uncounts it even if `action` panics.
        let exit = Exit {
            barrier: self,
            slot,
            token: Self::token(),
        };
        let result = if index + 1 == self.parties {
            let breaker = Breaker { barrier: self };
            let ok = action();
            core::mem::forget(breaker);
            self.release(ok)
        } else {
            self.wait_released(deadline)
        };
        drop(exit);
        result.map(|()| index)
    }

    /// Arrives at the barrier and awaits until all parties have arrived (feature
    /// `async`): [`wait`](Self::wait) for a task. Returns the arrival index; the last
    /// party runs `action` (inside its poll) before anybody is released. Threads and
    /// tasks may be parties of the same round: a thread's arrival wakes the parked
    /// tasks and a task's wakes the sleeping threads.
    ///
    /// Cancellation, as asyncio's `Barrier.wait` (see
    /// [Withdrawal](self#withdrawal-cancelled-async-parties)): a future dropped before
    /// it arrived changes nothing; one dropped after it arrived, while the round is not
    /// complete, **withdraws** (`n_waiting` drops by one, nobody is woken or broken, a
    /// later arrival can complete the round; the index is the count at arrival, so after
    /// a withdrawal an index of the round may repeat — asyncio's too — while the last
    /// arrival always gets `parties - 1`). A drop racing the last arrival is decided by
    /// which of the two compare-and-swaps on the state word comes first: either the
    /// party withdrew (the round is not complete, the others keep waiting) or it
    /// **passed** (the round completed with it: the action runs once, the others are
    /// released) — never both, never a stuck round. One dropped after the release only
    /// leaves. The same holds with a process-shared strategy (parties in several
    /// processes): the withdrawal frees the party's record slot with it (see "Arrival
    /// records"). There is no deadline: wrap the future in the executor's timeout.
    ///
    /// With a process-shared strategy a party is recorded under the token of the thread
    /// that polled its arrival (see "Participants that die"): the record is freed
    /// whichever thread drops the future, but while it waits the party is alive only as
    /// long as that thread is, so keep such a task on one thread (a current-thread
    /// executor) from arrival to completion.
    ///
    /// ```
    /// use conkit_core::barrier::Barrier;
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
    /// # }
    ///
    /// static ALONE: Barrier = Barrier::new(1);
    /// assert_eq!(block_on(ALONE.wait_async(|| true)), Ok(0));
    /// ```
    ///
    /// # Errors
    /// [`BrokenBarrier`] as for [`wait`](Self::wait).
    ///
    /// # Panics
    /// As [`wait_until`](Self::wait_until), if `action` panics.
    #[cfg(feature = "async")]
    pub async fn wait_async(&self, action: impl FnOnce() -> bool) -> Result<u32, BrokenBarrier> {
        let (index, slot) = self.waiters.wait_async(|| self.try_enter()).await?;
        let exit = Exit {
            barrier: self,
            slot,
            token: Self::token(),
        };
        let result = if index + 1 == self.parties {
            let breaker = Breaker { barrier: self };
            let ok = action();
            core::mem::forget(breaker);
            self.release(ok)
        } else {
            // Dropped while the round is still filling: `exit` withdraws the caller (or,
            // if the round is complete, counts it as passed; see "Withdrawal"), also
            // between processes: its member bit goes in the same compare-and-swap.
            // (`conkit_mutant`: the round is broken instead, the protocol before
            // withdrawal.)
            let abandon = crate::unwind::OnDrop(|| {
                if cfg!(conkit_mutant = "barrier_cancel_breaks") && self.released().is_none() {
                    self.abort();
                }
            });
            let released = self.waiters.wait_async(|| self.released()).await;
            core::mem::forget(abandon);
            released
        };
        drop(exit);
        result.map(|()| index)
    }

    /// Joins the round if the barrier is filling (and not full): `Some(Ok((index, slot)))`;
    /// broken: `Some(Err)`; draining, resetting or running the action: `None` (wait).
    /// With a process-shared strategy the arrival reserves a record slot, counts itself
    /// with its member bit, then confirms its record (see "Arrival records" in the
    /// module docs).
    fn try_enter(&self) -> Option<Result<(u32, u32), BrokenBarrier>> {
        self.arrive(Stop::Never)
    }

    /// [`try_enter`](Self::try_enter), which the loom models can stop at a point of the
    /// protocol (`stop`: a party killed there). `Ok((index, slot))`: the arrival index
    /// and the record slot ([`NO_SLOT`] if not recorded).
    fn arrive(&self, stop: Stop) -> Option<Result<(u32, u32), BrokenBarrier>> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (state, count) = (word & STATE, word & Self::COUNT_MASK);
            match state {
                BROKEN => return Some(Err(BrokenBarrier)),
                FILLING if count < self.parties => {}
                _ => return None,
            }
            let slot = if W::PROCESS_SHARED {
                self.free_slot(count)
            } else {
                None
            };
            if W::PROCESS_SHARED && slot.is_none() && stop != Stop::Never {
                return None; // the loom models' dying parties are recorded ones
            }
            let reserved = match slot {
                Some(_) => W::owner_token() | PENDING,
                None => 0,
            };
            if let Some(j) = slot {
                if !cfg!(conkit_mutant = "barrier_record_after_count")
                    && self.arrived[j]
                        .compare_exchange(0, reserved, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                {
                    // Taken meanwhile: look again.
                    word = self.word.load(Ordering::Acquire);
                    continue;
                }
                if stop == Stop::BeforeCount {
                    return Some(Ok((STOPPED, NO_SLOT)));
                }
            }
            // Counted and, with a record, a member in the same compare-and-swap.
            let bit = slot.map_or(0, Self::member);
            match self.word.compare_exchange_weak(
                word,
                (word + 1) | bit,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let Some(j) = slot else {
                        return Some(Ok((count, NO_SLOT)));
                    };
                    if stop == Stop::BeforeRecord {
                        return Some(Ok((STOPPED, NO_SLOT)));
                    }
                    if cfg!(conkit_mutant = "barrier_record_after_count") {
                        // The protocol before the reservations: a party killed between
                        // the count and this store is not identified.
                        self.arrived[j].store(reserved & !PENDING, Ordering::Release);
                    } else {
                        // Our record (only we change a member's pending record).
                        let _ = self.arrived[j].compare_exchange(
                            reserved,
                            reserved & !PENDING,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                    return Some(Ok((count, j as u32)));
                }
                Err(now) => {
                    if let Some(j) = slot {
                        if !cfg!(conkit_mutant = "barrier_record_after_count") {
                            // Not counted: give the slot back before looking again.
                            let _ = self.arrived[j].compare_exchange(
                                reserved,
                                0,
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            );
                        }
                    }
                    word = now;
                }
            }
        }
    }

    /// A free record slot for an arrival (process-shared strategies), looking from
    /// `count` on; frees on the way the reservation of an arrival that died before it
    /// counted. `None` if every slot is taken: the arrival is then not recorded.
    fn free_slot(&self, count: u32) -> Option<usize> {
        let recorded = (self.parties as usize).min(RECORDED);
        (0..recorded)
            .map(|k| (count as usize + k) % recorded)
            .find(|&j| {
                let slot = &self.arrived[j];
                let early = cfg!(conkit_mutant = "barrier_word_before_death")
                    .then(|| self.word.load(Ordering::Acquire));
                let held = slot.load(Ordering::Acquire);
                if held == 0 {
                    return true;
                }
                if held & PENDING == 0 || W::owner_alive(held & !PENDING) {
                    return false;
                }
                // A reservation whose holder died: it counted iff its member bit is set.
                // (Its death is established first: the word read after it shows the
                // bit if the dead one set it.) (`conkit_mutant`: the word read first —
                // it may predate the dead one's count, whose reservation is then freed
                // though it counted.)
                let now = early.unwrap_or_else(|| self.word.load(Ordering::Acquire));
                now & Self::member(j) == 0
                    && slot
                        .compare_exchange(held, 0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
            })
    }

    /// Test hook of the loom models (only under `cfg(loom)`): arrives as
    /// [`wait`](Self::wait) does but stops — as if killed — after reserving its slot
    /// (`counted == false`) or after counting itself, before its record
    /// (`counted == true`). Returns whether it got that far (not if it found the
    /// barrier broken, draining or full).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_arrive_and_die(&self, counted: bool) -> bool {
        let stop = if counted {
            Stop::BeforeRecord
        } else {
            Stop::BeforeCount
        };
        loop {
            match self.arrive(stop) {
                Some(Ok((STOPPED, _))) => return true,
                Some(_) => return false,
                None if self.word.load(Ordering::Acquire) & STATE != FILLING => return false,
                None => loom::thread::yield_now(),
            }
        }
    }

    /// Test hook of the loom models (only under `cfg(loom)`): arrives as
    /// [`wait_async`](Self::wait_async) does, then withdraws as its dropped future does
    /// but stops — as if killed — before uncounting itself (`uncounted == false`) or
    /// after, before freeing its record (`uncounted == true`). Returns whether it got
    /// that far (not if it would have completed the round, or was not recorded: then it
    /// leaves normally, or if it found the barrier broken).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_withdraw_and_die(&self, uncounted: bool) -> bool {
        let stop = if uncounted {
            Stop::BeforeRecord
        } else {
            Stop::BeforeCount
        };
        loop {
            match self.arrive(Stop::Never) {
                Some(Ok((index, slot))) => {
                    let recorded = slot != NO_SLOT && index + 1 < self.parties;
                    if !recorded {
                        if index + 1 == self.parties {
                            let _ = self.release(true);
                        }
                    }
                    self.exit(
                        slot,
                        Self::token(),
                        if recorded { stop } else { Stop::Never },
                    );
                    return recorded;
                }
                Some(Err(BrokenBarrier)) => return false,
                None => loom::thread::yield_now(),
            }
        }
    }

    /// The last arrival, after the action: release the round (or break it).
    fn release(&self, action_ok: bool) -> Result<(), BrokenBarrier> {
        if !action_ok {
            self.abort();
            return Err(BrokenBarrier);
        }
        let mut word = self.word.load(Ordering::Acquire);
        let result = loop {
            if word & STATE != FILLING {
                // Aborted or reset while the action ran.
                break Err(BrokenBarrier);
            }
            match self.word.compare_exchange_weak(
                word,
                self.inside(word) | Self::members(word) | DRAINING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break Ok(()),
                Err(now) => word = now,
            }
        };
        self.wake_all();
        result
    }

    /// `Some(Ok)` once released, `Some(Err)` if broken or reset, `None` while filling.
    fn released(&self) -> Option<Result<(), BrokenBarrier>> {
        match self.word.load(Ordering::Acquire) & STATE {
            DRAINING => Some(Ok(())),
            FILLING => None,
            _ => Some(Err(BrokenBarrier)),
        }
    }

    /// Wakes every sleeper (parties and [watchers](Self::watch_until)) after a change a
    /// waiting party can act on, the epoch moved on first.
    #[inline]
    fn wake_all(&self) {
        // (`conkit_mutant`: the epoch stays: a watcher that looked before the change
        // sleeps past it, and the tasks it watches for are never woken.)
        if !cfg!(conkit_mutant = "barrier_watch_no_epoch") {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.waiters.notify_all();
    }

    /// A mark for [`watch_until`](Self::watch_until): take it *before* looking at the
    /// barrier on behalf of the parties watched for (their arrival or their release).
    ///
    /// ```
    /// use conkit_core::barrier::Barrier;
    /// use conkit_core::wait::Spin;
    ///
    /// let b: Barrier<Spin> = Barrier::new(2);
    /// let mark = b.watch_mark();
    /// b.abort(); // a change the parties can act on
    /// assert!(b.watch_until(mark, None)); // returns at once
    /// assert_eq!(b.n_waiting(), 0); // the watcher is no party
    /// ```
    pub fn watch_mark(&self) -> u32 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Sleeps until the barrier changed in a way a waiting party can act on since
    /// `mark` (a [`watch_mark`](Self::watch_mark)) — a release, a break, a reset, the
    /// next round opening — or until `deadline` passes; returns whether it changed. A
    /// *watcher*, never a party: it is not counted in any round, takes no arrival
    /// index, and sleeps among the waiters (every change of that kind wakes every
    /// sleeper, so it takes no wake-up meant for a party), with a process-shared
    /// strategy in one piece until `deadline` (see
    /// [`Waiters::watch_until`](crate::wait::Waiters::watch_until)). For a helper that
    /// wakes parties waiting elsewhere (the async proxy of the `std` adapter's
    /// process-shared barrier, whose parties are tasks).
    ///
    /// With a process-shared strategy a watch that times out first probes every
    /// recorded party, as a waiting party does one per sleep slice: a dead one is
    /// buried (see "Participants that die" in the module docs), so parties that are
    /// all tasks still get [`BrokenBarrier`] when a peer dies.
    ///
    /// Arrivals and withdrawals inside a round that is still filling do not count as a
    /// change (no waiting party can act on them). The mark is an epoch moved on before
    /// every wake-up, not the state word: the word can come back to the value a watcher
    /// marked (a round released, drained and refilled to the same count and members
    /// while the watcher was awake), and a watcher comparing words would then sleep
    /// through the opening of a round that a task waiting to arrive was woken for.
    pub fn watch_until(&self, mark: u32, deadline: Option<W::Deadline>) -> bool {
        let moved = || (self.epoch.load(Ordering::SeqCst) != mark).then_some(());
        if self.waiters.watch_until(deadline, moved).is_some() {
            return true;
        }
        let mut cursor = 0;
        for _ in 0..(self.parties as usize).min(RECORDED) {
            self.bury_a_dead_party(&mut cursor);
        }
        moved().is_some()
    }

    /// A party that is not the last: wait for the release; a passed deadline breaks the
    /// barrier unless the last party has arrived (then the action is running).
    fn wait_released(&self, deadline: Option<W::Deadline>) -> Result<(), BrokenBarrier> {
        let mut cursor = 0;
        if let Some(r) = self.waiters.wait_until_probing(deadline, |probe| {
            if probe {
                self.bury_a_dead_party(&mut cursor);
            }
            self.released()
        }) {
            return r;
        }
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (state, count) = (word & STATE, word & Self::COUNT_MASK);
            if state != FILLING {
                return self.released().unwrap_or(Err(BrokenBarrier));
            }
            if count >= self.parties && !W::PROCESS_SHARED {
                // The action is running: its outcome decides, whatever the deadline.
                // (Between processes the party running it may have died: the deadline
                // breaks the barrier then too, see "Participants that die".)
                return self.waiters.wait(|| self.released());
            }
            match self.word.compare_exchange_weak(
                word,
                (word & !STATE) | BROKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.wake_all();
                    return Err(BrokenBarrier);
                }
                Err(now) => word = now,
            }
        }
    }

    /// Looks at one recorded party (the one at `*cursor`, which moves on: a waiter
    /// probes one party per sleep slice, so a wait with many parties costs one probe a
    /// slice) and, if it is dead, buries it: uncounts it and breaks the barrier (every
    /// caller inside gets [`BrokenBarrier`]; [`reset`](Self::reset) makes it usable
    /// again once the live ones have left). The compare-and-swap that clears the record
    /// lets one waiter bury a party.
    fn bury_a_dead_party(&self, cursor: &mut usize) {
        if !W::PROCESS_SHARED {
            return;
        }
        let recorded = (self.parties as usize).min(RECORDED);
        if recorded == 0 {
            return;
        }
        let index = *cursor % recorded;
        let slot = &self.arrived[index];
        *cursor = (*cursor + 1) % recorded;
        let token = slot.load(Ordering::Acquire);
        if token == 0 || W::owner_alive(token & !PENDING) {
            return;
        }
        // Marked pending first (if it was not): from here only the member bit says
        // whether it is counted, and only one of the waiters that found it uncounts it
        // (the one whose compare-and-swap clears the bit), whatever the state.
        let pending = token | PENDING;
        if token != pending
            && slot
                .compare_exchange(token, pending, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Its death is established: the word read now shows its bit if it counted.
        let bit = Self::member(index);
        let mut word = self.word.load(Ordering::Acquire);
        let mut buried = false;
        while word & bit != 0 {
            // The bit is the dead one's only if the slot held its record all along:
            // another waiter may have found the bit clear and freed the slot, and a new
            // arrival taken it and set the bit again since we read the slot.
            // (`conkit_mutant`: not looked at again — that arrival is buried.)
            if !cfg!(conkit_mutant = "barrier_bury_reused_slot")
                && slot.load(Ordering::Acquire) != pending
            {
                return;
            }
            let count = (word & Self::COUNT_MASK).saturating_sub(1);
            match self.word.compare_exchange_weak(
                word,
                count | (Self::members(word) & !bit) | BROKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    buried = true;
                    break;
                }
                Err(now) => word = now,
            }
        }
        // Counted and now uncounted, or never counted (it died before arriving, or
        // after leaving): its slot is free.
        let _ = slot.compare_exchange(pending, 0, Ordering::AcqRel, Ordering::Relaxed);
        if buried {
            self.wake_all();
        }
    }

    /// How many callers are inside `wait` by the word `word`: its count, except while
    /// a complete round runs its action with `k` of its parties gone (dropped async
    /// futures, see "Withdrawal" in the module docs), where the count is `parties + k`.
    #[inline]
    fn inside(&self, word: u32) -> u32 {
        let count = word & Self::COUNT_MASK;
        if word & STATE == FILLING && count > self.parties {
            self.parties.saturating_sub(count - self.parties)
        } else {
            count
        }
    }

    /// Uncounts a caller leaving `wait` (record `slot`, [`NO_SLOT`] if not recorded);
    /// the last to leave a draining or resetting round starts the next one. A caller
    /// leaving a *filling* round (an async party's dropped future, or a blocking one
    /// whose deadline clock panicked) withdraws from it if it is not complete, or, if it
    /// is (the action runs), is counted as passed: the count goes up to `parties + k`
    /// (see "Withdrawal" in the module docs). With a process-shared strategy the record
    /// is marked pending first and the member bit goes with the count's change (see
    /// "Arrival records").
    ///
    /// `stop` (the loom models' test hook): return — as if killed — before the count's
    /// change (`BeforeCount`) or after it, before the record is freed (`BeforeRecord`).
    fn exit(&self, slot: u32, me: u32, stop: Stop) {
        let mut bit = 0;
        let mut record = None;
        if W::PROCESS_SHARED {
            if let Some(s) = self.arrived.get(slot as usize) {
                // (`conkit_mutant`: the record cleared before the count changes — a
                // party killed in between is counted and never identified.)
                let mark = if cfg!(conkit_mutant = "barrier_leave_clears_first") {
                    0
                } else {
                    me | PENDING
                };
                if s.compare_exchange(me, mark, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    // A waiter that took us for dead (a reused thread id) has uncounted
                    // us already: do not uncount twice.
                    return;
                }
                bit = Self::member(slot as usize);
                record = Some((s, mark));
            }
        }
        if stop == Stop::BeforeCount {
            return;
        }
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if bit != 0 && word & bit == 0 {
                // Uncounted by a waiter that took us for dead (a reused thread id).
                break;
            }
            let (state, count) = (word & STATE, word & Self::COUNT_MASK);
            let next = match state {
                // Not complete: withdraw (the next arrival takes the count as its index).
                // (`conkit_mutant`: also while complete — a newcomer then takes the
                // last index of a round whose action runs, and runs it again.)
                FILLING
                    if count < self.parties || cfg!(conkit_mutant = "barrier_withdraw_blind") =>
                {
                    count.saturating_sub(1)
                }
                // Complete, the action runs: passed; the release uncounts us.
                FILLING if count < Self::COUNT_MASK => count + 1,
                // No room left in the count (more than 2^29 parties): break.
                FILLING => BROKEN | (self.inside(word) - 1),
                DRAINING | RESETTING if count <= 1 => FILLING,
                state => state | count.saturating_sub(1),
            } | (Self::members(word) & !bit);
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Broken (no room left), or the next round starts: wake everybody.
                    if (next & STATE == BROKEN && state == FILLING)
                        || (next == FILLING && state != FILLING)
                    {
                        self.wake_all();
                    }
                    break;
                }
                Err(now) => word = now,
            }
        }
        if stop == Stop::BeforeRecord {
            return;
        }
        if let Some((s, mark)) = record {
            let _ = s.compare_exchange(mark, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// This thread's owner token with a process-shared strategy (0 otherwise: nothing
    /// is recorded).
    #[inline]
    fn token() -> u32 {
        if W::PROCESS_SHARED {
            W::owner_token()
        } else {
            0
        }
    }

    /// Puts the barrier in the broken state (Python's `abort()`): every party waiting now
    /// or arriving later gets [`BrokenBarrier`] until [`reset`](Self::reset). Never
    /// waits.
    pub fn abort(&self) {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            match self.word.compare_exchange_weak(
                word,
                self.inside(word) | Self::members(word) | BROKEN,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.wake_all();
    }

    /// Returns the barrier to its initial, empty state (Python's `reset()`). Parties
    /// waiting in the current round get [`BrokenBarrier`]; the barrier fills again once
    /// they have left. A barrier that is draining a completed round finishes it normally.
    /// A barrier built by [`new`](Self::new) with an invalid party count stays broken.
    /// Never waits.
    pub fn reset(&self) {
        if !self.valid() {
            return;
        }
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let (state, count) = (word & STATE, self.inside(word));
            let next = if count == 0 {
                FILLING
            } else if state == DRAINING {
                word
            } else {
                count | Self::members(word) | RESETTING
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.wake_all();
    }

    /// How many parties are waiting in the current round (Python's `n_waiting`; `0`
    /// while draining, resetting or broken). A snapshot.
    pub fn n_waiting(&self) -> u32 {
        let word = self.word.load(Ordering::Relaxed);
        if word & STATE == FILLING {
            (word & Self::COUNT_MASK).min(self.parties.saturating_sub(1))
        } else {
            0
        }
    }

    /// The number of parties (Python's `parties`).
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// Whether the barrier is broken (Python's `broken`).
    pub fn broken(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE == BROKEN
    }
}

/// What [`Barrier::arrive`] returns when it stopped at its `stop` point (never an
/// arrival index: those are below `MAX_PARTIES`).
const STOPPED: u32 = u32::MAX;

/// The record slot of a party that is not recorded (see [`Barrier::arrive`]).
const NO_SLOT: u32 = u32::MAX;

/// Where [`Barrier::arrive`] stops (`Never` but in the loom models' test hook).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Never,
    /// Arriving: after the reservation. Leaving: before the count's change.
    #[cfg_attr(not(loom), allow(dead_code))]
    BeforeCount,
    /// Arriving: after the count, before the record. Leaving: after the count's change,
    /// before the record is freed.
    #[cfg_attr(not(loom), allow(dead_code))]
    BeforeRecord,
}

/// Uncounts a caller when it leaves `wait_until`, also when the action panics.
struct Exit<'a, W: WaitStrategy> {
    barrier: &'a Barrier<W>,
    /// The caller's record slot ([`NO_SLOT`]: not recorded).
    slot: u32,
    /// The caller's owner token when it arrived (its record; 0 without a
    /// process-shared strategy), so that a future dropped on another thread still
    /// finds its record.
    token: u32,
}

impl<W: WaitStrategy> Drop for Exit<'_, W> {
    fn drop(&mut self) {
        self.barrier.exit(self.slot, self.token, Stop::Never);
    }
}

/// Breaks the barrier if the action unwinds (forgotten when it returns).
struct Breaker<'a, W: WaitStrategy> {
    barrier: &'a Barrier<W>,
}

impl<W: WaitStrategy> Drop for Breaker<'_, W> {
    fn drop(&mut self) {
        self.barrier.abort();
    }
}

impl<W: WaitStrategy> fmt::Debug for Barrier<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word.load(Ordering::Relaxed);
        let state = match word & STATE {
            FILLING => "filling",
            DRAINING => "draining",
            RESETTING => "resetting",
            _ => "broken",
        };
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("state", &state)
            .field("inside", &self.inside(word))
            .field(
                "recorded",
                &self
                    .arrived
                    .iter()
                    .filter(|slot| slot.load(Ordering::Relaxed) != 0)
                    .count(),
            )
            .finish()
    }
}
