//! Loom models of the barrier's arrival records between processes (issue #11): a party
//! killed at any instruction of its arrival, or of its withdrawal (a dropped
//! `wait_async`), is identified if it is counted and breaks nothing if it is not (see
//! "Arrival records" in `core/src/barrier.rs`).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_barrier_dead`.
//!
//! A party "dies" by stopping at a point of its arrival (`Barrier::loom_arrive_and_die`,
//! a test hook compiled only under loom) and then declaring its token dead; the
//! strategy `MortalShared` is process-shared, `owner_alive` is "not the one in
//! [`DEAD`]", and every sleep is one slice that passes after a yield, so a waiter
//! probes the recorded parties after each. A model whose waiter is never told about the
//! dead party spins until loom gives up (a failure).
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::wait::{WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use loom_common::Expired;

loom::lazy_static! {
    /// The token of the thread that "died" in the current execution (0: none).
    static ref DEAD: AtomicU32 = AtomicU32::new(0);
}

/// Never reset between executions (a plain atomic, outside the model), so that no two
/// threads of an execution can share a token even if a thread-local outlived the
/// execution that set it (a precaution: a token shared with the dead party makes a
/// live one look dead).
static NEXT_TOKEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

loom::thread_local! {
    static TOKEN: u32 = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A process-shared strategy whose participants can die (see the module docs).
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

/// `loom::model` with room for the waiters' polling: a sleep here is a yield, and
/// every round of a waiter's loop is a dozen atomic accesses.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 20_000;
    builder.check(f);
}

/// Starts a party that arrives and dies: after counting itself, before its record
/// (`counted`), or after reserving its record, before counting. Returns whether it
/// stopped there (it may instead find the barrier broken or full).
fn dying_party(b: &Arc<Barrier<MortalShared>>, counted: bool) -> thread::JoinHandle<bool> {
    let b = b.clone();
    thread::spawn(move || {
        let stopped = b.loom_arrive_and_die(counted);
        DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
        stopped
    })
}

/// [`dying_party`] whose death the model declares itself, later (the thread returns
/// whether it stopped, and its token).
fn stopping_party(
    b: &Arc<Barrier<MortalShared>>,
    counted: bool,
) -> thread::JoinHandle<(bool, u32)> {
    let b = b.clone();
    thread::spawn(move || (b.loom_arrive_and_die(counted), MortalShared::owner_token()))
}

/// A party of two killed between its count and its record: the other party, waiting
/// without a deadline, gets `BrokenBarrier` (it finds the pending record dead and
/// counted, and buries it) — or, if it arrived last, completes the round and a later
/// arrival gets `BrokenBarrier` instead of waiting for the dead party to leave. (The
/// protocol before the reservations, mutant `barrier_record_after_count`, leaves it
/// unidentified: the waiter never returns.)
#[test]
fn party_killed_between_count_and_record_is_buried() {
    model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let b = Arc::new(Barrier::<MortalShared>::new(2));
        let dying = dying_party(&b, true);
        match b.wait(|| true) {
            Err(BrokenBarrier) => {}
            Ok(index) => {
                // We completed the round: the dead party is still counted (draining).
                assert_eq!(index, 1);
                assert_eq!(b.wait(|| true), Err(BrokenBarrier));
            }
        }
        assert!(dying.join().unwrap());
        assert!(b.broken());
    });
}

/// A party killed after reserving its record, before counting, never arrived: the live
/// party of a barrier of one clears its reservation and passes, without a deadline.
#[test]
fn party_killed_after_reserving_never_counts() {
    model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let b = Arc::new(Barrier::<MortalShared>::new(1));
        let dying = dying_party(&b, false);
        assert_eq!(b.wait(|| true), Ok(0));
        let _ = dying.join().unwrap();
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
    });
}

/// A party of three killed between its count and its record; another party's deadline
/// breaks the barrier, and then a reset: a party arriving without a deadline finds the
/// dead party that keeps the reset from finishing and gets `BrokenBarrier` (its record
/// is still pending, and its member bit says that it counted: a broken or resetting
/// barrier decides it as a filling one does). The death is declared
/// after the timed party returned: its last look probes the recorded parties (every
/// last look after a deadline does, between processes), and one that found the party
/// dead would bury it before the break (then the reset leaves a fresh barrier, and
/// the last wait would rightly wait for two more parties).
#[test]
fn break_confirms_a_counted_reservation() {
    model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let b = Arc::new(Barrier::<MortalShared>::new(3));
        let dying = stopping_party(&b, true);
        let timed = {
            let b = b.clone();
            thread::spawn(move || b.wait_until(Some(Expired), || true))
        };
        // Broken by its deadline, or given up before it could enter (the dying party's
        // reservation in the way): `BrokenBarrier` either way.
        assert_eq!(timed.join().unwrap(), Err(BrokenBarrier));
        let (died_counted, token) = dying.join().unwrap();
        DEAD.store(token, Ordering::SeqCst);
        b.reset();
        if died_counted {
            assert_eq!(b.wait(|| true), Err(BrokenBarrier));
        }
    });
}

/// A party of three that arrived, then withdraws (a dropped `wait_async`) and is
/// killed after marking its record, before uncounting itself: it is a dead counted
/// party, and the other party, waiting without a deadline, buries it and gets
/// `BrokenBarrier`. (Mutant `barrier_leave_clears_first`: the record is cleared before
/// the count changes, the dead party is never identified and the wait never returns.)
#[test]
fn withdrawer_killed_before_uncounting_is_buried() {
    model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let b = Arc::new(Barrier::<MortalShared>::new(3));
        let dying = {
            let b = b.clone();
            thread::spawn(move || {
                let stopped = b.loom_withdraw_and_die(false);
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
                stopped
            })
        };
        assert_eq!(b.wait(|| true), Err(BrokenBarrier));
        assert!(dying.join().unwrap());
        assert!(b.broken());
        b.reset();
        assert!(!b.broken());
        assert!(format!("{b:?}").contains("inside: 0"), "{b:?}");
    });
}

/// A party of two that withdraws and is killed after uncounting itself, before freeing
/// its record: it is gone, not dead-and-counted. Two live parties then make a round
/// without `BrokenBarrier` (the leftover record is freed, not buried), and no record
/// is left.
#[test]
fn withdrawer_killed_after_uncounting_breaks_nothing() {
    model(|| {
        DEAD.store(0, Ordering::SeqCst);
        let b = Arc::new(Barrier::<MortalShared>::new(2));
        let dying = {
            let b = b.clone();
            thread::spawn(move || {
                let stopped = b.loom_withdraw_and_die(true);
                DEAD.store(MortalShared::owner_token(), Ordering::SeqCst);
                stopped
            })
        };
        assert!(dying.join().unwrap());
        let other = {
            let b = b.clone();
            thread::spawn(move || b.wait(|| true))
        };
        let mine = b.wait(|| true).unwrap();
        assert_eq!(mine + other.join().unwrap().unwrap(), 1);
        assert!(!b.broken());
        // The dead one's leftover record is freed by a later arrival or probe.
        assert_eq!(b.wait_until(Some(Expired), || true), Err(BrokenBarrier));
        b.reset();
        assert!(format!("{b:?}").contains("recorded: 0"), "{b:?}");
    });
}
