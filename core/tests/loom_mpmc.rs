//! loom models of `conkit_core::mpmc` (every interleaving of 2 threads, small capacities).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_mpmc`.
#![cfg(loom)]

mod loom_common;

use conkit_core::mpmc::{Full, MpmcRing};
use conkit_core::wait::{WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use loom::sync::atomic::AtomicU32;
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::{Expired, LoomPark};

/// Retries `try_push` until it succeeds (yielding, so loom schedules the peer).
fn push_retry<T, const N: usize>(ring: &MpmcRing<T, N>, mut v: T) {
    loop {
        match ring.try_push(v) {
            Ok(()) => return,
            Err(Full(back)) => {
                v = back;
                thread::yield_now();
            }
        }
    }
}

/// Retries `try_pop` until it yields an item.
fn pop_retry<T, const N: usize>(ring: &MpmcRing<T, N>) -> T {
    loop {
        if let Some(v) = ring.try_pop() {
            return v;
        }
        thread::yield_now();
    }
}

/// Capacity 1: a producer pushes two items, a consumer pops two; both arrive, in order.
#[test]
fn capacity_1_push_two_pop_two() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1>> = Arc::new(MpmcRing::new());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                push_retry(&ring, 1);
                push_retry(&ring, 2);
            })
        };
        let a = pop_retry(&ring);
        let b = pop_retry(&ring);
        producer.join().unwrap();
        assert_eq!((a, b), (1, 2));
        assert!(ring.is_empty());
        assert_eq!(ring.try_pop(), None);
    });
}

/// Capacity 2, two threads that each push one item and then pop one: every item comes
/// out exactly once, whatever the interleaving of the two claims on each side.
#[test]
fn capacity_2_two_threads_push_then_pop() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2>> = Arc::new(MpmcRing::new());
        let other = {
            let ring = ring.clone();
            thread::spawn(move || {
                push_retry(&ring, 1);
                pop_retry(&ring)
            })
        };
        push_retry(&ring, 2);
        let mine = pop_retry(&ring);
        let theirs = other.join().unwrap();
        let mut got = [mine, theirs];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert!(ring.is_empty());
    });
}

/// Capacity 2, two concurrent producers, then everything drained: both items present
/// once, and a third push fits exactly once the ring has room again.
#[test]
fn capacity_2_concurrent_pushes() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2>> = Arc::new(MpmcRing::new());
        let other = {
            let ring = ring.clone();
            thread::spawn(move || ring.try_push(1))
        };
        let mine = ring.try_push(2);
        let theirs = other.join().unwrap();
        assert_eq!((mine, theirs), (Ok(()), Ok(())));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.try_push(3), Err(Full(3)));
        let mut got = [ring.try_pop().unwrap(), ring.try_pop().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(ring.try_pop(), None);
    });
}

/// A full ring (capacity 1): `try_push` races a `try_pop`. The pop always gets the old
/// item; the push either lands (then the ring holds it) or hands its item back.
#[test]
fn full_ring_try_push_races_pop() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1>> = Arc::new(MpmcRing::new());
        ring.try_push(1).unwrap();
        let pusher = {
            let ring = ring.clone();
            thread::spawn(move || ring.try_push(2))
        };
        assert_eq!(ring.try_pop(), Some(1));
        match pusher.join().unwrap() {
            Ok(()) => assert_eq!(ring.try_pop(), Some(2)),
            Err(Full(v)) => assert_eq!(v, 2),
        }
        assert_eq!(ring.try_pop(), None);
    });
}

/// `Full` only for a ring that was full. A full ring (capacity 1): the main thread pops
/// its item, then issues a `SeqCst` fence and reads `started`; the pusher sets
/// `started` and then calls `try_push`. If the main thread did not see `started`, its
/// fence comes before the pusher's `try_push` in the single `SeqCst` order, so the pop
/// (complete before that fence) happened before the push began: the ring had room for
/// the whole push, which must succeed. That is what the fence on `try_push`'s
/// "looks full" path buys (fences pair in the `SeqCst` order): without it the push may
/// read a `head` from before the pop and report `Full` for a ring that was not full
/// at any moment of the call (the `mpmc_no_full_fence` mutant; loom finds it).
///
/// (Natively the same fence is the getter's half of `RingQueue`'s Dekker pair; under
/// loom that pair is checked with stand-in fences, see `queue::ring`, so this model is
/// what checks the fence itself.)
#[test]
fn full_only_for_a_ring_that_was_full() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1>> = Arc::new(MpmcRing::new());
        ring.try_push(1).unwrap();
        let started = Arc::new(AtomicBool::new(false));
        let pusher = {
            let (ring, started) = (ring.clone(), started.clone());
            thread::spawn(move || {
                started.store(true, Ordering::Relaxed);
                ring.try_push(2)
            })
        };
        assert_eq!(ring.try_pop(), Some(1));
        fence(Ordering::SeqCst);
        let push_began_before = started.load(Ordering::Relaxed);
        let pushed = pusher.join().unwrap();
        if !push_began_before {
            assert_eq!(pushed, Ok(()), "Full reported after the pop had made room");
        }
        assert_eq!(ring.try_pop(), pushed.ok().map(|()| 2));
    });
}

/// `None` only for a ring that was empty: the mirror of
/// [`full_only_for_a_ring_that_was_full`] for `try_pop` (the `mpmc_no_empty_fence`
/// mutant).
#[test]
fn empty_only_for_a_ring_that_was_empty() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1>> = Arc::new(MpmcRing::new());
        let started = Arc::new(AtomicBool::new(false));
        let popper = {
            let (ring, started) = (ring.clone(), started.clone());
            thread::spawn(move || {
                started.store(true, Ordering::Relaxed);
                ring.try_pop()
            })
        };
        ring.try_push(7).unwrap();
        fence(Ordering::SeqCst);
        let pop_began_before = started.load(Ordering::Relaxed);
        let popped = popper.join().unwrap();
        if !pop_began_before {
            assert_eq!(popped, Some(7), "None reported after the push had landed");
        }
        assert_eq!(
            ring.try_pop(),
            if popped.is_some() { None } else { Some(7) }
        );
    });
}

/// A full ring (capacity 1): a blocking `push` races a blocking `pop`; the push
/// completes once the pop frees the slot, and both items pass exactly once, in order.
#[test]
fn full_ring_blocking_push_races_pop() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1>> = Arc::new(MpmcRing::new());
        ring.try_push(1).unwrap();
        let pusher = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(2))
        };
        assert_eq!(ring.pop(), 1);
        pusher.join().unwrap();
        assert_eq!(ring.try_pop(), Some(2));
        assert_eq!(ring.try_pop(), None);
    });
}

/// Counts drops, with loom's atomics.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A push racing a pop on an empty ring of capacity 1, then the ring is dropped: the
/// item is dropped exactly once, by whoever holds it at the end.
#[test]
fn drop_after_race_drops_each_item_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let ring: Arc<MpmcRing<Counted, 1>> = Arc::new(MpmcRing::new());
        let pusher = {
            let (ring, drops) = (ring.clone(), drops.clone());
            thread::spawn(move || {
                let _ = ring.try_push(Counted(drops));
            })
        };
        let popped = ring.try_pop();
        pusher.join().unwrap();
        drop(popped);
        drop(ring);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// A consumer blocked on an empty ring (capacity 1, a futex that never wakes
/// spuriously) is woken by a blocking push: the push's wake-up check (`SeqCst` fence,
/// then a look at the sleepers) and the consumer's announcement (the event count's
/// fence, then its last look at the ring) form a Dekker pair; without the push's fence
/// it may see no sleeper while the consumer sees no item, and the consumer sleeps
/// forever (the `mpmc_no_wake_fence` mutant; a loom deadlock). Then the mirror: a
/// producer blocked on the full ring is woken by a blocking pop.
#[test]
fn blocking_pop_and_push_are_woken_by_the_other_side() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1, LoomPark>> = Arc::new(MpmcRing::new());
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || (ring.pop(), ring.pop()))
        };
        ring.push(1);
        ring.push(2);
        assert_eq!(consumer.join().unwrap(), (1, 2));
        assert!(ring.is_empty());
    });
}

// ---------------------------------------------------------------------------------------
// Participants that die (issue #11): with a process-shared strategy a slot records who
// claimed it, and a blocking operation that finds a slot in flight after a sleep slice
// skips it if that claimant is dead.

loom::lazy_static! {
    /// The token of the thread that "died" in the current execution (0: none).
    static ref DEAD: AtomicU32 = AtomicU32::new(0);
    static ref NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);
}

loom::thread_local! {
    static TOKEN: u32 = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
}

/// A process-shared strategy whose participants can die: per-thread tokens,
/// `owner_alive` is "not the one in [`DEAD`]", and every sleep is one slice that passes
/// (after a yield), so a blocked operation probes after each.
struct MortalShared;

impl WaitStrategy for MortalShared {
    type Deadline = Expired;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Expired>) -> WaitOutcome {
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        thread::yield_now();
        if deadline.is_some() {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Woken
        }
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn owner_token() -> u32 {
        TOKEN.with(|t| *t)
    }

    fn owner_alive(token: u32) -> bool {
        DEAD.load(Ordering::SeqCst) != token
    }

    fn sleep_slice(_: Option<Expired>, _: u32) -> Option<Expired> {
        Some(Expired)
    }
}

/// A producer dies between claim and hand-over (its token declared dead afterwards);
/// another pushes behind it (or before it), then pops. The blocking `pop` skips the
/// dead push's slot once it sees the claimant dead and returns the item around it; the
/// skipped slot then serves the next lap.
///
/// Two threads: the live producer is also the consumer. (With the consumer in a third
/// thread, a thread stopped between its reservation and its claim has the other two
/// waiting for it, each yielding in turn, and loom's scheduler, which owes a stopped
/// thread no fairness, explores ever longer such rounds within one preemption: the
/// model exceeds any branch limit. The waits that thread added are the models
/// `dead_reserver_before_its_push_claim_is_cleared` (a reserver that dies there) and
/// `live_slow_reserver_is_never_cleared` (one that lives); a consumer probing beside a
/// live push is `live_pusher_behind_a_dead_record_is_not_skipped`.)
#[test]
fn dead_pusher_slot_is_skipped() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2, MortalShared>> = Arc::new(MpmcRing::new());
        let dying = {
            let ring = ring.clone();
            thread::spawn(move || {
                assert!(ring.loom_claim_push_and_die());
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
            })
        };
        ring.push(7);
        assert_eq!(ring.pop(), 7);
        dying.join().unwrap();
        ring.push(8);
        assert_eq!(ring.pop(), 8);
        ring.push(9);
        ring.push(10);
        assert_eq!((ring.pop(), ring.pop()), (9, 10));
        assert!(ring.is_empty());
    });
}

/// A consumer dies between claim and read-out; a blocking `push` a lap later frees
/// its slot (the item is lost) instead of waiting for it forever.
#[test]
fn dead_popper_slot_is_freed() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1, MortalShared>> = Arc::new(MpmcRing::new());
        ring.push(1);
        let dying = {
            let ring = ring.clone();
            thread::spawn(move || {
                assert!(ring.loom_claim_pop_and_die());
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
            })
        };
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(2))
        };
        producer.join().unwrap();
        dying.join().unwrap();
        assert_eq!(ring.pop(), 2);
    });
}

/// The record names the claim it belongs to: a thread that popped the slot's previous
/// item and then died left its (dead) token there, and a live producer claims the slot
/// for the next lap. A consumer's probe that finds that push in flight (reserved and
/// claimed, not yet written) must leave it alone: the claim's `Release` shows the probe
/// the live producer's reservation, and the record names the claim it belongs to.
/// (Before the reservations the claim was recorded after it, and the mutant
/// `mpmc_skip_any_dead_record`, which trusts any dead token in the slot, was caught
/// here; the reservation made it harmless, see `claimant_dead`.) The consumer probes on its own between
/// `try_pop`s: in the blocking `pop` every look at the ring yields to the producer (so
/// loom, which runs a yielding thread's peers first, never stops the producer there).
#[test]
fn live_pusher_behind_a_dead_record_is_not_skipped() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1, MortalShared>> = Arc::new(MpmcRing::new());
        ring.push(1);
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                let v = ring.pop();
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
                v
            })
        };
        assert_eq!(reader.join().unwrap(), 1);
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(2))
        };
        let got = loop {
            assert!(!ring.loom_skip_dead_push(), "skipped a live push");
            if let Some(v) = ring.try_pop() {
                break v;
            }
            thread::yield_now();
        };
        assert_eq!(got, 2);
        producer.join().unwrap();
        assert!(ring.is_empty());
    });
}

/// A producer reserves the position at `tail` (the step before its claim) and dies
/// there, its position not claimed. A blocking `push` that finds the reservation
/// frees it once it sees the reserver dead, and claims the position itself: nothing
/// hangs, no item is lost (the mutant `mpmc_dead_reservation_kept` never frees such a
/// reservation: the push waits for good).
#[test]
fn dead_reserver_before_its_push_claim_is_cleared() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2, MortalShared>> = Arc::new(MpmcRing::new());
        let dying = {
            let ring = ring.clone();
            thread::spawn(move || {
                assert!(ring.loom_reserve_push_and_die());
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
            })
        };
        ring.push(7);
        dying.join().unwrap();
        ring.push(8);
        assert_eq!((ring.pop(), ring.pop()), (7, 8));
        assert!(ring.is_empty());
    });
}

/// The mirror: a consumer reserves the item at `head` and dies before claiming it; a
/// blocking `pop` frees the reservation and takes the item (mutant
/// `mpmc_dead_reservation_kept`).
#[test]
fn dead_reserver_before_its_pop_claim_is_cleared() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 1, MortalShared>> = Arc::new(MpmcRing::new());
        ring.push(1);
        let dying = {
            let ring = ring.clone();
            thread::spawn(move || {
                // Nothing to reserve if the `pop` below took the item first.
                let _ = ring.loom_reserve_pop_and_die();
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
            })
        };
        assert_eq!(ring.pop(), 1);
        dying.join().unwrap();
        ring.push(2);
        assert_eq!(ring.pop(), 2);
    });
}

/// A producer reserves, claims and dies before writing, while a producer's probe runs
/// (`skip_dead_pop`, which frees the reservations of pushes that died *before*
/// claiming). The probe must leave the claimant's record alone, so that a consumer
/// can then name it dead and skip its slot. The mutant `mpmc_index_before_death`
/// reads `tail` before learning that the reserver is dead: it sees the position
/// unclaimed, erases the record of what is by then a dead claim, and the consumer's
/// `pop` waits for that slot for good.
#[test]
fn dead_claimant_is_not_taken_for_a_dead_reserver() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2, MortalShared>> = Arc::new(MpmcRing::new());
        let dying = {
            let ring = ring.clone();
            thread::spawn(move || {
                assert!(ring.loom_claim_push_and_die());
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
            })
        };
        // Let the producer start first (a yield, not a preemption).
        thread::yield_now();
        let _ = ring.loom_skip_dead_pop();
        dying.join().unwrap();
        ring.push(7);
        assert_eq!(ring.pop(), 7);
    });
}

/// A live producer between its reservation and its claim is never taken for dead: a
/// probe (`skip_dead_pop`) running beside its `push` frees nothing (the mutant
/// `mpmc_clear_live_reservation` frees a reservation without asking whether its
/// reserver lives).
#[test]
fn live_slow_reserver_is_never_cleared() {
    loom::model(|| {
        let ring: Arc<MpmcRing<u32, 2, MortalShared>> = Arc::new(MpmcRing::new());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(5))
        };
        thread::yield_now();
        assert!(!ring.loom_skip_dead_pop(), "freed a live reservation");
        producer.join().unwrap();
        assert_eq!(ring.pop(), 5);
    });
}

/// A put races a shutdown of a `RingQueue` between processes: the put's reservation
/// of the slot and its claim on one side, the mark `close` sets on `tail` on the
/// other. Either the put claimed first (its item is delivered, then gets fail) or its
/// claim fails and it gets the item back (its reservation withdrawn); a later put is
/// refused, and nothing waits.
#[test]
fn shutdown_races_a_reserving_put() {
    use conkit_core::queue::{GetError, PutError, RingQueue};
    loom::model(|| {
        let q: Arc<RingQueue<u32, 1, MortalShared>> = Arc::new(RingQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.put_nowait(1))
        };
        q.shutdown(false);
        let put = producer.join().unwrap();
        match put {
            Ok(()) => assert_eq!(q.get(), Ok(1)),
            Err(e) => assert!(matches!(e, PutError::ShutDown(1))),
        }
        assert_eq!(q.get(), Err(GetError::ShutDown));
        assert!(matches!(q.put_nowait(2), Err(PutError::ShutDown(2))));
    });
}

/// `loom::model` with room for a blocking `RingQueue` call behind a put in flight: it
/// pauses 64 times for the put (each pause a yield under loom) before it sleeps.
fn long_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 20_000;
    builder.check(f);
}

/// [`MortalShared`] whose every sleep ends with a wake-up (a stream of notifies from
/// live peers, or wake-ups meant for others): no slice ever passes unwoken.
struct Restless;

impl WaitStrategy for Restless {
    type Deadline = Expired;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(_: &WaitWord, _: u32, _: Option<Expired>) -> WaitOutcome {
        thread::yield_now();
        WaitOutcome::Woken
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn owner_token() -> u32 {
        MortalShared::owner_token()
    }

    fn owner_alive(token: u32) -> bool {
        MortalShared::owner_alive(token)
    }

    fn sleep_slice(_: Option<Expired>, _: u32) -> Option<Expired> {
        Some(Expired)
    }
}

/// A putter of a `RingQueue` dies between claim and hand-over; an unbounded `get` of the
/// item put behind it returns although every sleep of the getter ends with a wake-up:
/// it probes once a slice has passed, whatever woke it. (Mutant
/// `waiters_probe_only_unwoken`, the rule before: it probes only after a slice that
/// passed without a wake-up, so this getter never probes and waits for good.)
#[test]
fn ring_queue_get_behind_a_dead_put_probes_though_every_sleep_is_woken() {
    use conkit_core::queue::RingQueue;
    long_model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let q: Arc<RingQueue<u32, 2, Restless>> = Arc::new(RingQueue::new());
        let dying = {
            let q = q.clone();
            thread::spawn(move || {
                assert!(q.loom_claim_put_and_die());
                DEAD.store(Restless::owner_token(), Ordering::SeqCst);
            })
        };
        q.put(7).unwrap();
        assert_eq!(q.get(), Ok(7));
        dying.join().unwrap();
    });
}

/// [`MortalShared`] without a clock for its probes (`sleep_slice` keeps the caller's
/// deadline): only a slice that passed unwoken, or the last look after the deadline,
/// probes.
struct Clockless;

impl WaitStrategy for Clockless {
    type Deadline = Expired;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Expired>) -> WaitOutcome {
        MortalShared::wait(word, expected, deadline)
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn owner_token() -> u32 {
        MortalShared::owner_token()
    }

    fn owner_alive(token: u32) -> bool {
        MortalShared::owner_alive(token)
    }
}

/// A putter of a `RingQueue` died between claim and hand-over, an item is put behind
/// it, then a `get_until` whose deadline has passed before it begins (as a deadline
/// passes in slow looks before the first sleep on a loaded machine): its last look
/// probes the dead putter, skips its slot and returns the item. (Mutant
/// `waiters_deadline_without_probe`: the last look does not probe unless the deadline
/// passed in a sleep; the get reports `Empty` with the dead put never named.)
#[test]
fn ring_queue_get_until_past_its_deadline_probes_the_dead_put() {
    use conkit_core::queue::{GetError, RingQueue};
    long_model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let q: Arc<RingQueue<u32, 2, Clockless>> = Arc::new(RingQueue::new());
        let dying = {
            let q = q.clone();
            thread::spawn(move || {
                assert!(q.loom_claim_put_and_die());
                DEAD.store(Clockless::owner_token(), Ordering::SeqCst);
            })
        };
        dying.join().unwrap();
        q.put(7).unwrap();
        assert_eq!(q.get_until(Expired), Ok(7));
        assert_eq!(q.get_until(Expired), Err(GetError::Empty));
    });
}
