//! `threading::Event` against CPython's own checks (`Lib/test/lock_tests.py`,
//! `EventTests`): above all the regression test of gh-57711 (bpo-13502), "a `set()`
//! immediately followed by `clear()` must release every waiter present at the `set()`".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier as StdBarrier;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::Event;

/// How long a waiter of these tests may block before the test calls it lost.
const PATIENCE: Duration = Duration::from_secs(3);

/// Waits until `n` threads are inside `Event::wait*` (they announce themselves just
/// before calling it; a short grace period lets them reach the sleep).
fn until_waiting(ready: &AtomicUsize, n: usize) {
    let start = Instant::now();
    while ready.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < PATIENCE, "waiters never started");
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(20));
}

/// CPython `test_set_and_clear` (gh-57711): five threads wait with a timeout; `set()`
/// then at once `clear()`; every waiter must return `true`. Before the fix a woken
/// waiter re-checked the (already clear) flag and went back to sleep: 0, 3 or 4 of 5
/// returned `true`, the others timed out.
#[test]
fn set_then_clear_releases_every_waiter_with_timeout() {
    for round in 0..40 {
        let ev = Event::new();
        let ready = AtomicUsize::new(0);
        let results: Vec<bool> = thread::scope(|s| {
            let waiters: Vec<_> = (0..5)
                .map(|_| {
                    s.spawn(|| {
                        ready.fetch_add(1, Ordering::SeqCst);
                        ev.wait_timeout(PATIENCE)
                    })
                })
                .collect();
            until_waiting(&ready, 5);
            ev.set();
            ev.clear();
            waiters.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(results, [true; 5], "round {round}: a waiter missed the set");
        assert!(!ev.is_set());
    }
}

/// The same without a timeout: a waiter that misses the set would sleep until the next
/// `set` (here: never), so the test gives each waiter `PATIENCE` and then reports.
#[test]
fn set_then_clear_releases_every_untimed_waiter() {
    for round in 0..40 {
        let ev = Event::new();
        let ready = AtomicUsize::new(0);
        let returned = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    ready.fetch_add(1, Ordering::SeqCst);
                    ev.wait();
                    returned.fetch_add(1, Ordering::SeqCst);
                });
            }
            until_waiting(&ready, 5);
            ev.set();
            ev.clear();
            let start = Instant::now();
            while returned.load(Ordering::SeqCst) < 5 && start.elapsed() < PATIENCE {
                thread::sleep(Duration::from_millis(1));
            }
            let n = returned.load(Ordering::SeqCst);
            if n < 5 {
                // Release the stranded waiters so the scope can end, then fail.
                ev.set();
                panic!("round {round}: only {n} of 5 waiters returned after set(); clear()");
            }
        });
    }
}

/// Many `set(); clear()` pairs in a row while the waiters are still waking up: each
/// waiter present at the first `set` returns `true`, however many pairs follow.
#[test]
fn set_clear_bursts_release_every_waiter() {
    for round in 0..20 {
        let ev = Event::new();
        let ready = AtomicUsize::new(0);
        let results: Vec<bool> = thread::scope(|s| {
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        ready.fetch_add(1, Ordering::SeqCst);
                        ev.wait_timeout(PATIENCE)
                    })
                })
                .collect();
            until_waiting(&ready, 4);
            for _ in 0..1000 {
                ev.set();
                ev.clear();
            }
            waiters.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(results, [true; 4], "round {round}");
    }
}

/// A waiter that arrives after `set(); clear()` is not released by it (the flag is a
/// level, and that `set` happened before it looked): it times out with `false`.
#[test]
fn waiter_arriving_after_set_clear_times_out() {
    let ev = Event::new();
    ev.set();
    ev.clear();
    let start = Instant::now();
    assert!(!ev.wait_timeout(Duration::from_millis(50)));
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// CPython `test_timeout`: `wait(timeout)` returns `false` after the timeout when the
/// flag stays clear, `true` at once when it is set.
#[test]
fn wait_timeout_reports_the_flag() {
    let ev = Event::new();
    let start = Instant::now();
    assert!(!ev.wait_timeout(Duration::from_millis(30)));
    assert!(start.elapsed() >= Duration::from_millis(30));
    ev.set();
    assert!(ev.wait_timeout(Duration::from_secs(60)));
    assert!(ev.wait_timeout(Duration::ZERO));
}

/// CPython `test_notify`-style: waiters started together all see one `set`.
#[test]
fn set_wakes_all_waiters_once_started_together() {
    let ev = Event::new();
    let gate = StdBarrier::new(6);
    let woken = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..5 {
            s.spawn(|| {
                gate.wait();
                assert!(ev.wait_timeout(PATIENCE));
                woken.fetch_add(1, Ordering::SeqCst);
            });
        }
        gate.wait();
        thread::sleep(Duration::from_millis(10));
        ev.set();
    });
    assert_eq!(woken.load(Ordering::SeqCst), 5);
}
