//! `threading::Condition` wakes its waiters first-come first-served, as CPython's does
//! (its waiters are a FIFO `deque`): four waiters queued one after another, then
//! `notify(1)` four times, come back in the order they started waiting, every run.
//! Before, 20 runs gave 6 different orders.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::Condition;

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn notify_one_wakes_in_arrival_order() {
    for run in 0..20 {
        let cond = Condition::new();
        let order = StdMutex::new(Vec::new());
        let back = AtomicUsize::new(0);
        thread::scope(|s| {
            for i in 0..4 {
                let (cond, order, back) = (&cond, &order, &back);
                s.spawn(move || {
                    let _g = cond.lock();
                    cond.wait().unwrap();
                    order.lock().unwrap().push(i);
                    back.fetch_add(1, Ordering::SeqCst);
                });
                eventually("waiting", || cond.waiters() == i + 1);
            }
            for k in 1..=4 {
                {
                    let _g = cond.lock();
                    assert_eq!(cond.notify(1).unwrap(), 1);
                }
                eventually("woken waiter back", || back.load(Ordering::SeqCst) == k);
            }
        });
        assert_eq!(order.into_inner().unwrap(), [0, 1, 2, 3], "run {run}");
    }
}

#[test]
fn notify_n_wakes_the_oldest_n() {
    for run in 0..20 {
        let cond = Condition::new();
        let woken = StdMutex::new(Vec::new());
        thread::scope(|s| {
            for i in 0..5 {
                let (cond, woken) = (&cond, &woken);
                s.spawn(move || {
                    let _g = cond.lock();
                    cond.wait().unwrap();
                    woken.lock().unwrap().push(i);
                });
                eventually("waiting", || cond.waiters() == i + 1);
            }
            {
                let _g = cond.lock();
                assert_eq!(cond.notify(3).unwrap(), 3);
            }
            eventually("three back", || woken.lock().unwrap().len() == 3);
            let mut first = woken.lock().unwrap().clone();
            first.sort_unstable();
            assert_eq!(first, [0, 1, 2], "run {run}");
            let _g = cond.lock();
            assert_eq!(cond.notify_all().unwrap(), 2);
        });
    }
}
