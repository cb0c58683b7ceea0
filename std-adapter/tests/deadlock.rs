//! Lock-order deadlock detection with the real `Lock` and `RLock` (feature
//! `deadlock-detection`): `cargo test -p conkit --features deadlock-detection`.
#![cfg(feature = "deadlock-detection")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conkit::threading::{
    deadlock_reports, reset_deadlock_hook, set_deadlock_hook, DeadlockReport, Event, Lock, Monitor,
    Mutex as DataMutex, RLock, Thread,
};

/// Generous bound for "returns promptly" on a loaded 2-core machine.
const SOON: Duration = Duration::from_secs(10);

/// Reports whose threads are exactly `names` (in any order).
fn reports_of(names: &[&str]) -> Vec<DeadlockReport> {
    let mut want: Vec<&str> = names.to_vec();
    want.sort_unstable();
    deadlock_reports()
        .into_iter()
        .filter(|r| {
            let mut got = r.thread_names();
            got.sort_unstable();
            got == want
        })
        .collect()
}

fn run(name: &str, f: impl FnOnce() + Send + 'static) -> Thread {
    let t = Thread::builder().name(name).target(f);
    t.start().unwrap();
    t
}

/// Seed 001's deadlock example: `func_1` takes `lock_1` then `lock_2`, `func_2` takes
/// `lock_2` then `lock_1`, each sleeping in between so that both hold their first lock
/// when they ask for the second. In Python it hangs forever; here the inconsistent
/// order is reported as soon as the second thread asks, and the `acquire_timeout`s
/// keep the test from hanging.
#[test]
fn seed_two_lock_deadlock_is_reported_not_hung() {
    let lock_1 = Arc::new(Lock::new());
    let lock_2 = Arc::new(Lock::new());
    let reported_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = reported_at.clone();
    set_deadlock_hook(move |r| {
        let mut names = r.thread_names();
        names.sort_unstable();
        if names == ["func_1", "func_2"] {
            log.lock().unwrap().push(Instant::now());
        }
    });
    // Both hold their first lock before either asks for its second.
    let holds_1 = Arc::new(Event::new());
    let holds_2 = Arc::new(Event::new());
    let wait = Duration::from_millis(300);

    let (l1, l2, mine, theirs) = (
        lock_1.clone(),
        lock_2.clone(),
        holds_1.clone(),
        holds_2.clone(),
    );
    let t1 = Thread::builder()
        .name("func_1")
        .spawn(move || {
            assert!(l1.acquire_timeout(SOON));
            mine.set();
            assert!(theirs.wait_timeout(SOON));
            let got = l1_then_l2(&l2, wait);
            l1.release().unwrap();
            got
        })
        .unwrap();
    let (l1, l2, mine, theirs) = (lock_1.clone(), lock_2.clone(), holds_2, holds_1);
    let t2 = Thread::builder()
        .name("func_2")
        .spawn(move || {
            assert!(l2.acquire_timeout(SOON));
            mine.set();
            assert!(theirs.wait_timeout(SOON));
            let got = l1_then_l2(&l1, wait);
            l2.release().unwrap();
            got
        })
        .unwrap();
    let (got1, ended1) = t1.join().unwrap();
    let (got2, ended2) = t2.join().unwrap();
    reset_deadlock_hook();

    let found = reports_of(&["func_1", "func_2"]);
    assert_eq!(found.len(), 1, "{found:?}");
    let r = &found[0];
    assert_eq!(r.edges.len(), 2);
    // The cycle: one thread holds lock X and wants Y, the other holds Y and wants X.
    assert_eq!(r.edges[0].held, r.edges[1].wanted);
    assert_eq!(r.edges[0].wanted, r.edges[1].held);
    assert_ne!(r.edges[0].held, r.edges[0].wanted);
    // The report tells what happened: the thread that closed the cycle waits; the
    // other asked for its second lock while holding its first (here it is in fact
    // waiting for it too), never that it "took" it.
    let text = r.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let (first, other) = (&r.edges[0], &r.edges[1]);
    assert_eq!(
        lines[1],
        format!(
            "  thread {} (ident {}) holds {} and now waits for {}",
            first.thread_name, first.thread_ident, first.held, first.wanted
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "  thread {} (ident {}) asked for {} while holding {}",
            other.thread_name, other.thread_ident, other.wanted, other.held
        )
    );
    assert!(!text.contains("took"), "{text}");
    let mut names = [first.thread_name.as_str(), other.thread_name.as_str()];
    names.sort_unstable();
    assert_eq!(names, ["func_1", "func_2"]);
    // Reported before anybody gave up waiting.
    let at = reported_at.lock().unwrap();
    assert_eq!(at.len(), 1);
    assert!(at[0] <= ended1 && at[0] <= ended2);
    // It was a real deadlock: at least one of them timed out (the other may have got
    // its second lock once the first let go).
    assert!(!(got1 && got2));
    // Both threads are done: nothing hangs.
    assert!(lock_1.try_acquire() && lock_2.try_acquire());
    lock_1.release().unwrap();
    lock_2.release().unwrap();
}

/// Asks for `second` with a timeout; returns whether it got it and when the wait ended.
fn l1_then_l2(second: &Lock, wait: Duration) -> (bool, Instant) {
    let got = second.acquire_timeout(wait);
    let ended = Instant::now();
    if got {
        second.release().unwrap();
    }
    (got, ended)
}

#[test]
fn a_consistent_order_is_never_reported() {
    let a = Arc::new(Lock::new());
    let b = Arc::new(Lock::new());
    let threads: Vec<Thread> = (0..4)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            run(&format!("ordered-{i}"), move || {
                for _ in 0..100 {
                    let _ga = a.lock();
                    let _gb = b.lock();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let any = deadlock_reports()
        .into_iter()
        .any(|r| r.thread_names().iter().any(|n| n.starts_with("ordered-")));
    assert!(!any);
}

#[test]
fn rlock_recursion_is_not_a_cycle_but_an_inverted_order_is() {
    let r = Arc::new(RLock::new());
    let l = Arc::new(Lock::new());
    let (r1, l1) = (r.clone(), l.clone());
    run("rlock-1", move || {
        let _g1 = r1.lock();
        let _g2 = r1.lock(); // recursion: no edge to itself
        let _g3 = l1.lock(); // r → l
    })
    .join()
    .unwrap();
    assert!(reports_of(&["rlock-1"]).is_empty());
    let (r2, l2) = (r.clone(), l.clone());
    run("rlock-2", move || {
        let _g1 = l2.lock();
        let _g2 = r2.lock(); // l → r: inverted
    })
    .join()
    .unwrap();
    assert_eq!(reports_of(&["rlock-1", "rlock-2"]).len(), 1);
}

#[test]
fn a_lock_released_by_another_thread_is_no_longer_held_by_its_acquirer() {
    let l1 = Arc::new(Lock::new());
    let l3 = Arc::new(Lock::new());
    let holds = Arc::new(Event::new());
    let released = Arc::new(Event::new());
    let (a1, a3, h, rel) = (l1.clone(), l3.clone(), holds.clone(), released.clone());
    let t = run("held-elsewhere", move || {
        a1.acquire();
        h.set();
        assert!(rel.wait_timeout(SOON));
        // l1 was released by the main thread: taking l3 now records no l1 → l3.
        let _g = a3.lock();
    });
    assert!(holds.wait_timeout(SOON));
    l1.release().unwrap(); // Python's Lock may be released by any thread
    released.set();
    t.join().unwrap();
    // l3 then l1 would close a cycle if l1 → l3 had been recorded.
    let (b1, b3) = (l1.clone(), l3.clone());
    run("other-order", move || {
        let _g3 = b3.lock();
        let _g1 = b1.lock();
    })
    .join()
    .unwrap();
    assert!(reports_of(&["held-elsewhere", "other-order"]).is_empty());
}

/// A `Mutex<T>` is a `Lock` for the detector: taking two in inverted orders is reported
/// (with the names given by `set_debug_name`).
#[test]
fn mutexes_taken_in_inverted_orders_are_reported() {
    let a = Arc::new(DataMutex::new(1));
    let b = Arc::new(DataMutex::new(2));
    a.set_debug_name("mutex-a");
    b.set_debug_name("mutex-b");
    let (a1, b1) = (a.clone(), b.clone());
    run("mutex-1", move || {
        let ga = a1.lock();
        let gb = b1.lock(); // a → b
        assert_eq!(*ga + *gb, 3);
    })
    .join()
    .unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    run("mutex-2", move || {
        let _gb = b2.lock();
        let _ga = a2.acquire_timeout(SOON).expect("free"); // b → a: inverted
    })
    .join()
    .unwrap();
    let found = reports_of(&["mutex-1", "mutex-2"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].to_string().contains("mutex-a"), "{}", found[0]);
}

/// A monitor's wait gives its lock back and takes it again through the detector's
/// hooks: after the wait the waiter holds the monitor's lock in the detector's books, so
/// the lock it takes next is recorded as taken under it (here closing a cycle with the
/// notifier's opposite order, which is reported). A wait that re-took the lock without
/// the hooks would record nothing.
#[test]
fn a_monitor_wait_retakes_its_lock_through_the_detector() {
    let m = Arc::new(Monitor::new(false));
    let other = Arc::new(Lock::new());
    let (m1, o1) = (m.clone(), other.clone());
    let waiter = run("monitor-waiter", move || {
        let mut g = m1.lock();
        g.wait_for(|ready| *ready);
        // Held again: taking `other` now records monitor → other.
        let _o = o1.lock();
    });
    let (m2, o2) = (m.clone(), other.clone());
    run("monitor-notifier", move || {
        // other → monitor while the waiter sleeps (its monitor lock released).
        let _o = o2.lock();
        let mut g = m2.lock();
        *g = true;
        g.notify_all();
    })
    .join()
    .unwrap();
    waiter.join().unwrap();
    // The inverted pair (other → monitor, then monitor → other) is a real order
    // inconsistency, reported once; but nothing was reported while the waiter slept.
    let found = reports_of(&["monitor-notifier", "monitor-waiter"]);
    assert_eq!(found.len(), 1, "{found:?}");
}
