//! Tests of `conkit_core::barrier`: construction errors, the action, every way of
//! breaking (abort, failed or panicking action, deadline, reset while waiting), reuse
//! after reset, and a many-generation stress test checking distinct arrival indices.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::barrier::{Barrier, BrokenBarrier, InvalidParties, MAX_PARTIES};

use common::{after, eventually, Park, Timed};

const GENERATIONS: usize = if cfg!(miri) { 20 } else { 10_000 };
const THREADS: u32 = if cfg!(miri) { 3 } else { 8 };

#[test]
fn invalid_party_counts() {
    assert_eq!(Barrier::<Timed>::try_new(0).err(), Some(InvalidParties(0)));
    assert_eq!(
        Barrier::<Timed>::try_new(MAX_PARTIES + 1).err(),
        Some(InvalidParties(MAX_PARTIES + 1))
    );
    assert!(Barrier::<Timed>::try_new(MAX_PARTIES).is_ok());
    assert!(!InvalidParties(0).to_string().is_empty());

    // `new` with an invalid count: broken for good, never panics.
    let b: Barrier = Barrier::new(0);
    assert!(b.broken());
    assert_eq!(b.wait(|| true), Err(BrokenBarrier));
    b.reset();
    assert!(b.broken(), "reset cannot repair an invalid barrier");
    assert_eq!(b.parties(), 0);
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn single_party_returns_at_once_and_runs_the_action() {
    static B: Barrier = Barrier::new(1);
    let runs = AtomicU32::new(0);
    for _ in 0..3 {
        let r = B.wait(|| {
            runs.fetch_add(1, Ordering::Relaxed);
            true
        });
        assert_eq!(r, Ok(0));
    }
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    assert_eq!((B.parties(), B.n_waiting(), B.broken()), (1, 0, false));
    assert!(format!("{B:?}").contains("filling"));
}

#[test]
fn two_parties_get_distinct_indices_and_one_action() {
    let b: Barrier<Park> = Barrier::new(2);
    let runs = AtomicU32::new(0);
    let action = || {
        runs.fetch_add(1, Ordering::SeqCst);
        true
    };
    thread::scope(|s| {
        let other = s.spawn(|| b.wait(action));
        let mine = b.wait(action).unwrap();
        let theirs = other.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn n_waiting_counts_arrivals() {
    let b: Barrier<Park> = Barrier::new(3);
    thread::scope(|s| {
        let a = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        let c = s.spawn(|| b.wait(|| true));
        eventually("two wait", || b.n_waiting() == 2);
        let me = b.wait(|| true).unwrap();
        assert_eq!(me, 2, "the last arrival gets parties - 1");
        let mut others = [a.join().unwrap().unwrap(), c.join().unwrap().unwrap()];
        others.sort_unstable();
        assert_eq!(others, [0, 1]);
    });
}

#[test]
fn abort_breaks_waiting_and_later_parties() {
    let b: Barrier<Park> = Barrier::new(3);
    thread::scope(|s| {
        let waiter = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        b.abort();
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(b.broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.wait(|| true), Err(BrokenBarrier), "still broken");
    assert!(format!("{b:?}").contains("broken"));
}

#[test]
fn failed_action_breaks_every_party() {
    let b: Barrier<Park> = Barrier::new(3);
    let results: Vec<_> = thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait(|| false))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, [Err(BrokenBarrier); 3]);
    assert!(b.broken());
}

#[test]
fn panicking_action_breaks_the_barrier_and_propagates() {
    let b: Barrier<Park> = Barrier::new(2);
    thread::scope(|s| {
        let waiter = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.wait(|| panic!("action failed"))
        }));
        assert!(
            caught.is_err(),
            "the panic reaches the caller that ran the action"
        );
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(b.broken());
    b.reset();
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0, "the panicking caller was uncounted");
}

#[test]
fn deadline_breaks_the_barrier_for_every_party() {
    let b: Barrier<Park> = Barrier::new(3);
    thread::scope(|s| {
        let untimed = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        let start = Instant::now();
        assert_eq!(b.wait_until(Some(after(50)), || true), Err(BrokenBarrier));
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "not before the deadline"
        );
        assert_eq!(untimed.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(b.broken());
    b.reset();
    // Reusable after the reset.
    let b1 = &b;
    thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(move || b1.wait(|| true))).collect();
        let mut idx: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        idx.sort_unstable();
        assert_eq!(idx, [0, 1, 2]);
    });
}

#[test]
fn reset_while_waiting_breaks_the_waiters_then_refills() {
    let b: Barrier<Park> = Barrier::new(2);
    thread::scope(|s| {
        let waiter = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        b.reset();
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(!b.broken(), "a reset barrier is not broken");
    assert_eq!(b.n_waiting(), 0);
    thread::scope(|s| {
        let other = s.spawn(|| b.wait(|| true));
        let mine = b.wait(|| true).unwrap();
        assert_eq!(mine + other.join().unwrap().unwrap(), 1);
    });
}

#[test]
fn action_runs_before_anybody_is_released() {
    let b: Barrier<Park> = Barrier::new(THREADS);
    let acted = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                b.wait(|| {
                    thread::sleep(Duration::from_millis(20));
                    acted.store(true, Ordering::SeqCst);
                    true
                })
                .unwrap();
                assert!(
                    acted.load(Ordering::SeqCst),
                    "released before the action ended"
                );
            });
        }
    });
}

/// Many threads through many generations: every party of every generation gets a
/// distinct index, the action runs once per generation.
#[test]
fn stress_distinct_indices_every_generation() {
    stress::<Park>();
}

/// The same with the process-shared futex: every arrival reserves its record, counts,
/// then records (see "Arrival records" in `core/src/barrier.rs`); arrivals that race
/// for one slot retry, and every record is cleared again when its party leaves.
/// (Not under miri, which cannot call `kill(2)`, the futex's liveness probe; the
/// process-shared path runs under miri in `dead_peer.rs`.)
#[cfg(all(feature = "std", target_os = "linux"))]
#[cfg_attr(miri, ignore)]
#[test]
fn stress_distinct_indices_every_generation_process_shared() {
    let b = stress::<conkit_core::wait::SharedFutex>();
    assert!(format!("{b:?}").contains("recorded: 0"), "{b:?}");
}

fn stress<W: conkit_core::wait::WaitStrategy>() -> Barrier<W> {
    let b: Barrier<W> = Barrier::new(THREADS);
    let masks: Vec<AtomicU32> = (0..GENERATIONS).map(|_| AtomicU32::new(0)).collect();
    let actions = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for mask in &masks {
                    let i = b
                        .wait(|| {
                            actions.fetch_add(1, Ordering::Relaxed);
                            true
                        })
                        .unwrap();
                    let old = mask.fetch_or(1 << i, Ordering::Relaxed);
                    assert_eq!(old & (1 << i), 0, "index {i} given twice");
                }
            });
        }
    });
    let all = (1u32 << THREADS) - 1;
    assert!(masks.iter().all(|m| m.load(Ordering::Relaxed) == all));
    assert_eq!(actions.load(Ordering::Relaxed) as usize, GENERATIONS);
    b
}

/// A watcher (`watch_until`, the async proxy's wait) is woken by the release of a round
/// it is no party of: the two parties get indices 0 and 1 (the watcher took none) and
/// the watcher returns `true`; with no change it returns `false` at its deadline and
/// leaves the barrier as it was.
#[test]
fn watcher_is_woken_by_the_release_and_is_no_party() {
    let b: Barrier<Park> = Barrier::new(2);
    let b = &b;
    thread::scope(|s| {
        let mark = b.watch_mark();
        let watcher = s.spawn(move || b.watch_until(mark, None));
        let first = s.spawn(|| b.wait(|| true));
        eventually("one waits", || b.n_waiting() == 1);
        assert!(!watcher.is_finished(), "an arrival is no change to watch");
        let mine = b.wait(|| true).unwrap();
        assert!(watcher.join().unwrap(), "the release moved the epoch");
        assert_eq!(mine + first.join().unwrap().unwrap(), 1);
    });
    assert_eq!(b.n_waiting(), 0);

    let quiet: Barrier<Timed> = Barrier::new(2);
    let mark = quiet.watch_mark();
    assert!(!quiet.watch_until(mark, Some(after(20))));
    assert_eq!(quiet.n_waiting(), 0);
    assert!(!quiet.broken());
}
