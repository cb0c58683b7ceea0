//! Loom models of a cancelled async barrier party (feature `async`): a dropped
//! `wait_async` future withdraws from a round that is still filling, or, if the round
//! completed first, counts as passed — never both, never a broken or stuck round (see
//! "Withdrawal" in `core/src/barrier.rs`). The `shared_*` models run the same races
//! with a process-shared strategy (arrival records and member bits: the withdrawal
//! also frees its record), racing the last arrival, another withdrawal, an abort and a
//! reset; the deaths of withdrawing parties are in `loom_barrier_dead`. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --features async --test loom_barrier_withdraw`.
//!
//! Threads wait through `LoomFutex` (a sleeper sleeps until a wake-up token: a lost
//! wake-up is a loom deadlock); tasks are polled by hand with a no-op waker, at points
//! of the model where the poll's outcome is decided (no polling loop).
#![cfg(all(loom, feature = "async"))]

mod loom_common;

use std::future::Future;
use std::task::{Context, Poll, Waker};

use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::wait::{Never, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::{Expired, LoomFutex};

type W = LoomFutex<Never>;

loom::lazy_static! {
    static ref NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);
}

loom::thread_local! {
    static TOKEN: u32 = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
}

/// [`LoomFutex`] declared process-shared (arrival records, member bits): the
/// barrier's protocol between processes, with every party alive (each thread its own
/// token).
struct Shared;

impl WaitStrategy for Shared {
    type Deadline = Never;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Never>) -> WaitOutcome {
        W::wait(word, expected, deadline)
    }

    fn wake_one(word: &WaitWord) {
        W::wake_one(word);
    }

    fn wake_all(word: &WaitWord) {
        W::wake_all(word);
    }

    fn owner_token() -> u32 {
        TOKEN.with(|t| *t)
    }
}

/// Whether `b` has nobody inside and no record left (its `Debug` form).
fn empty<S: WaitStrategy>(b: &Barrier<S>) -> bool {
    let seen = format!("{b:?}");
    seen.contains("inside: 0") && seen.contains("recorded: 0")
}

/// One poll with a no-op waker (the models poll again rather than wait for a wake-up).
fn poll<F: Future + ?Sized>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// A thread that waits at `b` (blocking, no deadline), counting its action in
/// `actions`; `done` is set once it returned.
fn thread_party<S: WaitStrategy + 'static>(
    b: &Arc<Barrier<S>>,
    actions: &Arc<AtomicU32>,
    done: &Arc<AtomicBool>,
) -> thread::JoinHandle<Result<u32, BrokenBarrier>> {
    let (b, actions, done) = (b.clone(), actions.clone(), done.clone());
    thread::spawn(move || {
        let r = b.wait(|| {
            actions.fetch_add(1, Ordering::SeqCst);
            true
        });
        done.store(true, Ordering::SeqCst);
        r
    })
}

/// Two parties: task A arrived; its future is dropped while thread T arrives (the last
/// arrival, running the action). Exactly one of: A withdrew (T waits; a replacement
/// task C fills the round with it) or A passed with T (the action ran once, T was
/// released; C is alone in the next round and withdraws in turn). Either way the
/// action ran once and the barrier ends empty and whole. (Mutant
/// `barrier_withdraw_blind`: A, dropped while T's action runs, uncounts itself from
/// the complete round; C takes index 1 as well and runs a second action.)
#[test]
fn cancel_racing_the_last_arrival_withdraws_or_passes() {
    loom::model(racing_the_last_arrival::<W>);
}

/// [`cancel_racing_the_last_arrival_withdraws_or_passes`] between processes (a
/// process-shared strategy: records and member bits): the same outcomes, and no
/// record is left.
#[test]
fn shared_cancel_racing_the_last_arrival_withdraws_or_passes() {
    loom::model(racing_the_last_arrival::<Shared>);
}

fn racing_the_last_arrival<S: WaitStrategy + 'static>() {
    {
        let b = Arc::new(Barrier::<S>::new(2));
        let actions = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let act = || {
            actions.fetch_add(1, Ordering::SeqCst);
            true
        };
        let mut a = Box::pin(b.wait_async(act));
        assert!(poll(a.as_mut()).is_pending()); // arrived, index 0
        let t = thread_party(&b, &actions, &done);
        drop(a); // cancelled, racing T's arrival and action
                 // One poll of C: it arrives (A withdrew: T then has its partner, or C completes
                 // the round with T), or it waits for T's round (A passed) to drain. Either
                 // way T returns.
        let mut c = Box::pin(b.wait_async(act));
        let first = poll(c.as_mut());
        let theirs = t.join().unwrap();
        let mine = match first {
            Poll::Ready(r) => Some(r),
            Poll::Pending => match poll(c.as_mut()) {
                Poll::Ready(r) => Some(r),
                Poll::Pending => None,
            },
        };
        assert_eq!(actions.load(Ordering::SeqCst), 1, "one round, one action");
        match mine {
            // A withdrew: C and T made the round.
            Some(Ok(i)) => assert_eq!(i + theirs.unwrap(), 1),
            // A passed with T; C waits alone in the next round, and withdraws.
            None => {
                assert_eq!(theirs, Ok(1));
                assert_eq!(b.n_waiting(), 1);
                drop(c);
            }
            Some(Err(BrokenBarrier)) => panic!("a cancel broke the barrier"),
        }
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
        assert!(empty(&b), "{b:?}");
    }
}

/// Three parties: task A arrived and is dropped while thread T arrives and sleeps;
/// then task C and this thread arrive: they and T make the round (A withdrew before
/// the round could fill), nobody sees a broken barrier, the action runs once.
/// (Mutant `barrier_cancel_breaks`, the protocol before withdrawal: A's drop breaks
/// the round.)
#[test]
fn cancel_then_replacement_fills_the_round() {
    loom::model(replacement_fills_the_round::<W>);
}

/// [`cancel_then_replacement_fills_the_round`] between processes: the withdrawn
/// party's record slot is free again, nobody is broken. (Mutant
/// `barrier_cancel_breaks`, main's protocol between processes: A's drop breaks the
/// round.)
#[test]
fn shared_cancel_then_replacement_fills_the_round() {
    loom::model(replacement_fills_the_round::<Shared>);
}

fn replacement_fills_the_round<S: WaitStrategy + 'static>() {
    {
        let b = Arc::new(Barrier::<S>::new(3));
        let actions = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let act = || {
            actions.fetch_add(1, Ordering::SeqCst);
            true
        };
        let mut a = Box::pin(b.wait_async(act));
        assert!(poll(a.as_mut()).is_pending());
        let t = thread_party(&b, &actions, &done);
        drop(a);
        // C arrives (two parties at most are in: it cannot complete the round).
        let mut c = Box::pin(b.wait_async(act));
        assert!(poll(c.as_mut()).is_pending());
        let mine = b.wait(act);
        let theirs = t.join().unwrap();
        let Poll::Ready(replacement) = poll(c.as_mut()) else {
            panic!("the round was released without C");
        };
        let all = [mine, theirs, replacement];
        assert!(all.iter().all(Result::is_ok), "{all:?}");
        // The index is the count at arrival (asyncio's): T may have taken 1 before A
        // left and C 1 again; the last arrival always has 2.
        assert_eq!(all.iter().filter(|r| **r == Ok(2)).count(), 1, "{all:?}");
        assert_eq!(actions.load(Ordering::SeqCst), 1);
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
        assert!(empty(&b), "{b:?}");
    }
}

/// A withdrawal racing a thread party whose deadline passes (the threading rule
/// stays: a passed deadline breaks the barrier): T completes the round with A (A
/// passed, or was dropped after T's arrival), or T's deadline breaks it. Never does T
/// pass alone, and the barrier ends with nobody inside.
#[test]
fn cancel_racing_a_timed_thread_party() {
    loom::model(|| {
        let b = Arc::new(Barrier::<LoomFutex<Expired>>::new(2));
        let mut a = Box::pin(b.wait_async(|| true));
        assert!(poll(a.as_mut()).is_pending());
        let timed = {
            let b = b.clone();
            thread::spawn(move || b.wait_until(Some(Expired), || true))
        };
        drop(a);
        match timed.join().unwrap() {
            Ok(1) => assert!(!b.broken()),
            Err(BrokenBarrier) => {
                assert!(b.broken());
                b.reset();
            }
            other => panic!("the timed party passed without A: {other:?}"),
        }
        assert_eq!(b.n_waiting(), 0);
        assert!(format!("{b:?}").contains("inside: 0"), "{b:?}");
    });
}

/// A withdrawal racing a reset: whichever comes first, the barrier ends empty and
/// filling, and a full round of two passes.
#[test]
fn cancel_racing_a_reset_leaves_an_empty_barrier() {
    loom::model(|| {
        let b = Arc::new(Barrier::<W>::new(2));
        let mut a = Box::pin(b.wait_async(|| true));
        assert!(poll(a.as_mut()).is_pending());
        let resetter = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        drop(a);
        resetter.join().unwrap();
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
        let other = {
            let b = b.clone();
            thread::spawn(move || b.wait(|| true))
        };
        let mine = b.wait(|| true).unwrap();
        assert_eq!(mine + other.join().unwrap().unwrap(), 1);
    });
}

/// Between processes, two withdrawals at once (a task of this thread and one of
/// another): both uncount themselves and free their record slots, whatever the order
/// of their compare-and-swaps; then a full round of three passes with indices 0, 1, 2.
#[test]
fn shared_two_withdrawals_race() {
    loom::model(|| {
        let b = Arc::new(Barrier::<Shared>::new(3));
        let mut a = Box::pin(b.wait_async(|| true));
        assert!(poll(a.as_mut()).is_pending());
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                let mut c = Box::pin(b.wait_async(|| true));
                assert!(poll(c.as_mut()).is_pending());
                drop(c);
            })
        };
        drop(a);
        other.join().unwrap();
        assert!(!b.broken());
        assert!(empty(&b), "{b:?}");
    });
}

/// Between processes, a withdrawal racing an `abort`: the barrier ends broken with
/// nobody inside and no record; a reset makes it whole.
#[test]
fn shared_cancel_racing_an_abort() {
    loom::model(|| {
        let b = Arc::new(Barrier::<Shared>::new(2));
        let mut a = Box::pin(b.wait_async(|| true));
        assert!(poll(a.as_mut()).is_pending());
        let aborter = {
            let b = b.clone();
            thread::spawn(move || b.abort())
        };
        drop(a);
        aborter.join().unwrap();
        assert!(b.broken());
        assert!(empty(&b), "{b:?}");
        b.reset();
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
    });
}

/// Between processes, a withdrawal racing a reset: the barrier ends empty, filling and
/// without records, and a full round of two passes.
#[test]
fn shared_cancel_racing_a_reset() {
    loom::model(|| {
        let b = Arc::new(Barrier::<Shared>::new(2));
        let mut a = Box::pin(b.wait_async(|| true));
        assert!(poll(a.as_mut()).is_pending());
        let resetter = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        drop(a);
        resetter.join().unwrap();
        assert!(!b.broken());
        assert!(empty(&b), "{b:?}");
        let other = {
            let b = b.clone();
            thread::spawn(move || b.wait(|| true))
        };
        let mine = b.wait(|| true).unwrap();
        assert_eq!(mine + other.join().unwrap().unwrap(), 1);
    });
}

/// The async proxy's watcher between processes (`Barrier::watch_until`): task A's
/// party waits for the release, a watcher thread takes a mark, polls A (the task's
/// look), and watches from the mark; thread T is the other party. Whichever arrives
/// last, the release wakes the watcher, whose next poll of A completes it: both
/// parties get distinct indices, the action ran once, the watcher was never a party
/// (the round had exactly A and T) and the barrier ends empty. (Mutant
/// `barrier_watch_no_epoch`: the release does not move the epoch; the watcher, woken,
/// finds its mark unchanged and sleeps again — a loom deadlock.)
#[test]
fn shared_watcher_is_woken_by_the_release_and_is_no_party() {
    loom::model(|| {
        let b = Arc::new(Barrier::<Shared>::new(2));
        let actions = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (b, actions) = (b.clone(), actions.clone());
            thread::spawn(move || {
                let mut a = Box::pin(b.wait_async(|| {
                    actions.fetch_add(1, Ordering::SeqCst);
                    true
                }));
                loop {
                    // The proxy's order: the mark before the task's look.
                    let mark = b.watch_mark();
                    if let Poll::Ready(r) = poll(a.as_mut()) {
                        return r;
                    }
                    assert!(b.watch_until(mark, None));
                }
            })
        };
        let t = thread_party(&b, &actions, &done);
        let mine = watcher.join().unwrap().unwrap();
        let theirs = t.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1, "indices 0 and 1");
        assert_eq!(actions.load(Ordering::SeqCst), 1, "one round, one action");
        assert!(empty(&b), "{b:?}");
    });
}
