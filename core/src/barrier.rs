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
//! barrier (Python's `threading` rule), and a withdrawal never does. With a
//! process-shared strategy a dropped future **breaks** the round instead (the arrival
//! records are kept by arrival index, which a withdrawal would leave with a hole; see
//! "Participants that die"). A barrier of more than 2^29 parties breaks too when the
//! count has no room left for `parties + k`.
//!
//! # Participants that die
//! Between processes (the barrier in `MAP_SHARED` memory, a process-shared strategy
//! such as `SharedFutex`) a party can be killed at any point. What that costs, and why
//! nothing waits for a dead party:
//! * killed **after arriving** (waiting for the others, released but not yet left, or
//!   while running the action as the last to arrive): with a process-shared strategy
//!   each arrival records its [owner token](WaitStrategy::owner_token) (its kernel
//!   thread id) by its arrival index, for the first [`RECORDED`] indices of a round, and
//!   clears it when it leaves. The record is made *before* the arrival counts (see
//!   "Arrival records" below), so a party killed at any instruction of its arrival is
//!   identifiable. Every party waiting inside `wait` — for the release, or
//!   for a round to finish draining — probes one recorded party per sleep slice
//!   (about 1–16 ms with `SharedFutex`, whatever woke it meanwhile; see
//!   [`Waiters::wait_until_probing`](crate::wait::Waiters::wait_until_probing)); one that is gone is
//!   **buried**: uncounted, and the barrier breaks. So every caller inside, with or
//!   without a deadline, gets [`BrokenBarrier`] within `RECORDED` slices or so (well
//!   under a second), and later arrivals too, until [`reset`](Barrier::reset), which
//!   makes the barrier usable again (its party count is unchanged: the replacement
//!   process takes the dead one's place). Without a process-shared strategy nothing is
//!   recorded (threads die with their process).
//!
//!   What remains: a party with an arrival index of [`RECORDED`] or more is not
//!   recorded: killed, it keeps the round from draining (or from being released), and
//!   the others' deadlines decide — give every wait a deadline when parties may exceed
//!   `RECORDED`. A thread id reused by a new thread makes a dead party look alive
//!   (as for [`Lock`](crate::lock::Lock)). A party killed while it confirms the
//!   reservations of others (below) after breaking or resetting the barrier, while one
//!   of those others is itself killed unconfirmed, leaves that one unidentified (two
//!   kills at two precise instants).
//!
//! # Arrival records
//! With a process-shared strategy an arrival that would take index `c < RECORDED`
//! first **reserves** slot `c` (compare-and-swap from 0 to its token with the
//! `PENDING` bit), then counts itself (the state word's compare-and-swap from
//! `filling | c` to `filling | c + 1`), then clears `PENDING` (its record). Only the
//! holder of slot `c` can take index `c`, which makes a dead reserver's fate decidable
//! from the state word:
//! * *filling* with `count <= c`: it never counted (it died before arriving). Its
//!   reservation is cleared — by the next arrival that needs the slot, or by a waiter's
//!   probe — and nothing else changes (a party killed before arriving).
//! * *filling* with `count > c`, or *draining* (a release needs every index taken): it
//!   counted; it is buried like a recorded party.
//! * *broken* or *resetting*: ambiguous from the word alone, so whoever moves the word
//!   out of *filling* (abort, a passed deadline, a burial, a reset) then **confirms** the
//!   pending slots below the count it left (`PENDING` cleared: those counted), and
//!   whoever breaks a *draining* barrier confirms them all. A
//!   pending slot in these states is left alone: if it counted, its confirmation makes
//!   it an ordinary record; if not, it is not counted and is cleared once the barrier
//!   fills again.
//!
//! A failed count (the word changed) clears the reservation before retrying. Without a
//! process-shared strategy nothing of this runs (no slot is touched).
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
//! Layout: the state word, the party count, the two words of [`Waiters`] and the
//! [`RECORDED`] arrival records (64 bytes); no pointers, so it can be a `static` or live
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
/// How often an arrival retries while the slot it needs is reserved by another live
/// arrival (a few instructions from counting) before it sleeps a slice instead (once
/// under loom, whose spin hint is a yield).
const RESERVED_SPINS: u32 = if cfg!(loom) { 1 } else { 1000 };
const FILLING: u32 = 0;
const DRAINING: u32 = 1 << 30;
const RESETTING: u32 = 2 << 30;
const BROKEN: u32 = 3 << 30;

/// The most parties a barrier can have: `2^30 - 1`.
pub const MAX_PARTIES: u32 = COUNT;

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
    /// of the party inside `wait` with arrival index `i` (`i < RECORDED`), 0 when none
    /// (see "Participants that die" in the module docs).
    arrived: [AtomicU32; RECORDED],
}

/// How many arrivals of a round a barrier records, with a process-shared strategy (the
/// first `RECORDED` arrival indices): a dead party among them is detected by the
/// waiting ones (see "Participants that die" in the [module docs](self)).
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
        /// more than [`MAX_PARTIES`].
        pub fn try_new(parties: u32) -> Result<Self, InvalidParties> {
            if parties == 0 || parties > MAX_PARTIES {
                Err(InvalidParties(parties))
            } else {
                Ok(Self::new(parties))
            }
        }
    }

    maybe_const_fn! {
        /// A barrier for `parties` callers (usable as a `static`).
        ///
        /// With an invalid count (`0` or more than [`MAX_PARTIES`]; Python raises
        /// `ValueError`) the barrier is created **broken for good**: every `wait` returns
        /// [`BrokenBarrier`] and `reset` leaves it broken. Use
        /// [`try_new`](Self::try_new) to get the error instead.
        pub fn new(parties: u32) -> Self {
            let valid = parties != 0 && parties <= MAX_PARTIES;
            Self {
                word: AtomicU32::new(if valid { FILLING } else { BROKEN }),
                parties,
                waiters: Waiters::new(),
                arrived: no_arrivals(),
            }
        }
    }

    /// Whether `parties` is a valid count (a barrier built by `new` with an invalid one
    /// stays broken).
    #[inline]
    fn valid(&self) -> bool {
        self.parties != 0 && self.parties <= MAX_PARTIES
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
    /// [`wait_async`](Self::wait_async) does (breaking the barrier with a
    /// process-shared strategy).
    pub fn wait_until(
        &self,
        deadline: Option<W::Deadline>,
        action: impl FnOnce() -> bool,
    ) -> Result<u32, BrokenBarrier> {
        // A round still draining (or being reset) is waited out, but not past the
        // deadline: between processes a party that died before leaving keeps the round
        // from ever draining (see "Participants that die" in the module docs).
        let mut cursor = 0;
        let index = match self.waiters.wait_until_probing(deadline, |probe| {
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
            index,
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
    /// leaves. With a process-shared strategy a drop before the release breaks the
    /// barrier instead (the others get [`BrokenBarrier`]). There is no deadline: wrap
    /// the future in the executor's timeout.
    ///
    /// With a process-shared strategy a party is recorded under its thread's token
    /// (see "Participants that die"): keep such a task on one thread (a current-thread
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
        let index = self.waiters.wait_async(|| self.try_enter()).await?;
        let exit = Exit {
            barrier: self,
            index,
        };
        let result = if index + 1 == self.parties {
            let breaker = Breaker { barrier: self };
            let ok = action();
            core::mem::forget(breaker);
            self.release(ok)
        } else {
            // Dropped while the round is still filling: `exit` withdraws the caller (or,
            // if the round is complete, counts it as passed; see "Withdrawal"). Between
            // processes the round is broken instead, before `exit` clears the record
            // (so a party killed in between is still a recorded one).
            // (`conkit_mutant`: also within a process, the protocol before withdrawal.)
            let abandon = crate::unwind::OnDrop(|| {
                if (W::PROCESS_SHARED || cfg!(conkit_mutant = "barrier_cancel_breaks"))
                    && self.released().is_none()
                {
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

    /// Joins the round if the barrier is filling (and not full): `Some(Ok(index))`;
    /// broken: `Some(Err)`; draining, resetting or running the action: `None` (wait).
    /// With a process-shared strategy the arrival is reserved, counted, then recorded
    /// (see "Arrival records" in the module docs).
    fn try_enter(&self) -> Option<Result<u32, BrokenBarrier>> {
        self.arrive(Stop::Never)
    }

    /// [`try_enter`](Self::try_enter), which the loom models can stop at a point of the
    /// protocol (`stop`: a party killed there).
    fn arrive(&self, stop: Stop) -> Option<Result<u32, BrokenBarrier>> {
        let mut word = self.word.load(Ordering::Acquire);
        let mut spins = 0;
        loop {
            let (state, count) = (word & STATE, word & COUNT);
            match state {
                BROKEN => return Some(Err(BrokenBarrier)),
                FILLING if count < self.parties => {}
                _ => return None,
            }
            let slot = if W::PROCESS_SHARED {
                self.arrived.get(count as usize)
            } else {
                None
            };
            let reserved = match slot {
                Some(_) => W::owner_token() | PENDING,
                None => 0,
            };
            if let Some(slot) = slot {
                if !cfg!(conkit_mutant = "barrier_record_after_count") {
                    if let Err(held) =
                        slot.compare_exchange(0, reserved, Ordering::AcqRel, Ordering::Acquire)
                    {
                        // Another arrival holds the slot: a live one counts within a few
                        // instructions (then the word moves on); a dead one never will.
                        // (Its death is established first: the word read after it shows
                        // the dead one's count if it made it.)
                        // (`conkit_mutant`: the word read first — it may predate the
                        // dead one's count, whose reservation is then freed though it
                        // counted.)
                        let early = cfg!(conkit_mutant = "barrier_word_before_death")
                            .then(|| self.word.load(Ordering::Acquire));
                        let dead = held & PENDING != 0 && !W::owner_alive(held & !PENDING);
                        let now = early.unwrap_or_else(|| self.word.load(Ordering::Acquire));
                        if dead && now == word {
                            // Dead before counting (the word is still `filling | count`):
                            // it never arrived; free its slot.
                            let _ =
                                slot.compare_exchange(held, 0, Ordering::AcqRel, Ordering::Relaxed);
                        } else if now == word {
                            spins += 1;
                            if spins > RESERVED_SPINS {
                                return None; // sleep a slice, then look again
                            }
                            core::hint::spin_loop();
                        }
                        word = now;
                        continue;
                    }
                }
                if stop == Stop::BeforeCount {
                    return Some(Ok(STOPPED));
                }
            }
            match self.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if let Some(slot) = slot {
                        if stop == Stop::BeforeRecord {
                            return Some(Ok(STOPPED));
                        }
                        if cfg!(conkit_mutant = "barrier_record_after_count") {
                            // The protocol before the reservations: a party killed
                            // between the count and this store is not identified.
                            slot.store(reserved & !PENDING, Ordering::Release);
                        } else {
                            // Our record (a transition out of `filling` may have made
                            // it already: `confirm_arrivals`).
                            let _ = slot.compare_exchange(
                                reserved,
                                reserved & !PENDING,
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            );
                        }
                    }
                    return Some(Ok(count));
                }
                Err(now) => {
                    if let Some(slot) = slot {
                        if !cfg!(conkit_mutant = "barrier_record_after_count") {
                            // Not counted: give the slot back before looking again.
                            let _ = slot.compare_exchange(
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

    /// After a transition out of *filling* that left `count` parties counted: confirms
    /// the reservations of arrival indices below `count` (they counted) — see "Arrival
    /// records" in the module docs. Process-shared strategies only.
    fn confirm_arrivals(&self, count: u32) {
        if !W::PROCESS_SHARED || cfg!(conkit_mutant = "barrier_no_confirm") {
            return;
        }
        for slot in self
            .arrived
            .iter()
            .take(count.min(RECORDED as u32) as usize)
        {
            let token = slot.load(Ordering::Acquire);
            if token & PENDING != 0 {
                let _ = slot.compare_exchange(
                    token,
                    token & !PENDING,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// After the word `before` was replaced by a broken one: confirms the reservations
    /// that counted (below the count when leaving *filling*; all of them when leaving
    /// *draining*, which only a full round reaches).
    fn left(&self, before: u32) {
        match before & STATE {
            FILLING => self.confirm_arrivals(before & COUNT),
            DRAINING => self.confirm_arrivals(u32::MAX),
            _ => {}
        }
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
                Some(Ok(STOPPED)) => return true,
                Some(_) => return false,
                None if self.word.load(Ordering::Acquire) & STATE != FILLING => return false,
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
                self.inside(word) | DRAINING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break Ok(()),
                Err(now) => word = now,
            }
        };
        self.waiters.notify_all();
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
            let (state, count) = (word & STATE, word & COUNT);
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
                count | BROKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.confirm_arrivals(count);
                    self.waiters.notify_all();
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
        if token & PENDING != 0 {
            // A reservation whose holder died: did it count? (See "Arrival records".)
            let word = self.word.load(Ordering::Acquire);
            match (word & STATE, word & COUNT) {
                (FILLING, count) if count <= index as u32 => {
                    // Never counted: it died before arriving. Free its slot.
                    let _ = slot.compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed);
                    return;
                }
                (FILLING | DRAINING, _) => {} // counted: bury it
                // Broken or resetting: the transition out of filling or draining
                // confirms it if it counted (`left`).
                _ => return,
            }
        }
        if slot
            .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let count = (word & COUNT).saturating_sub(1);
            match self.word.compare_exchange_weak(
                word,
                count | BROKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.left(word);
        self.waiters.notify_all();
    }

    /// How many callers are inside `wait` by the word `word`: its count, except while
    /// a complete round runs its action with `k` of its parties gone (dropped async
    /// futures, see "Withdrawal" in the module docs), where the count is `parties + k`.
    #[inline]
    fn inside(&self, word: u32) -> u32 {
        let count = word & COUNT;
        if word & STATE == FILLING && count > self.parties {
            self.parties.saturating_sub(count - self.parties)
        } else {
            count
        }
    }

    /// Uncounts a caller leaving `wait` (arrival `index`); the last to leave a draining
    /// or resetting round starts the next one. A caller leaving a *filling* round (an
    /// async party's dropped future, or a blocking one whose deadline clock panicked)
    /// withdraws from it if it is not complete, or, if it is (the action runs), is
    /// counted as passed: the count goes up to `parties + k` (see "Withdrawal" in the
    /// module docs). With a process-shared strategy it breaks the round instead.
    fn exit(&self, index: u32) {
        if W::PROCESS_SHARED {
            if let Some(slot) = self.arrived.get(index as usize) {
                // A waiter that took us for dead (a reused thread id) has uncounted us
                // already: do not uncount twice.
                let me = W::owner_token();
                if slot
                    .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    return;
                }
            }
        }
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (state, count) = (word & STATE, word & COUNT);
            let next = match state {
                // Between processes the arrival records are kept by arrival index: a
                // withdrawal would leave a hole the next arrival's index falls into.
                FILLING if W::PROCESS_SHARED => BROKEN | count.saturating_sub(1),
                // Not complete: withdraw (the next arrival takes the count as its index).
                // (`conkit_mutant`: also while complete — a newcomer then takes the
                // last index of a round whose action runs, and runs it again.)
                FILLING
                    if count < self.parties || cfg!(conkit_mutant = "barrier_withdraw_blind") =>
                {
                    count.saturating_sub(1)
                }
                // Complete, the action runs: passed; the release uncounts us.
                FILLING if count < COUNT => count + 1,
                // No room left in the count (more than 2^29 parties): break.
                FILLING => BROKEN | (self.inside(word) - 1),
                DRAINING | RESETTING if count <= 1 => FILLING,
                state => state | count.saturating_sub(1),
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next & STATE == BROKEN && state == FILLING {
                        self.left(word);
                        self.waiters.notify_all();
                    } else if next == FILLING && state != FILLING {
                        self.waiters.notify_all();
                    }
                    return;
                }
                Err(now) => word = now,
            }
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
                self.inside(word) | BROKEN,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.left(word);
        self.waiters.notify_all();
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
                count | RESETTING
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        if word & STATE == FILLING && word & COUNT != 0 {
            self.confirm_arrivals(word & COUNT);
        }
        self.waiters.notify_all();
    }

    /// How many parties are waiting in the current round (Python's `n_waiting`; `0`
    /// while draining, resetting or broken). A snapshot.
    pub fn n_waiting(&self) -> u32 {
        let word = self.word.load(Ordering::Relaxed);
        if word & STATE == FILLING {
            (word & COUNT).min(self.parties.saturating_sub(1))
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

/// Where [`Barrier::arrive`] stops (`Never` but in the loom models' test hook).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Never,
    #[cfg_attr(not(loom), allow(dead_code))]
    BeforeCount,
    #[cfg_attr(not(loom), allow(dead_code))]
    BeforeRecord,
}

/// Uncounts a caller when it leaves `wait_until`, also when the action panics.
struct Exit<'a, W: WaitStrategy> {
    barrier: &'a Barrier<W>,
    /// The caller's arrival index.
    index: u32,
}

impl<W: WaitStrategy> Drop for Exit<'_, W> {
    fn drop(&mut self) {
        self.barrier.exit(self.index);
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
