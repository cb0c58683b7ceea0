//! One timeout convention across `conkit::threading`: every blocking call `x()` has
//! `x_timeout(Duration)` and `x_until(Instant)`. Each `_until` form here times out not
//! before its deadline (and not long after), succeeds when the wait is satisfied in
//! time, and treats a deadline in the past as "try once".

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::{
    Barrier, BoundedSemaphore, BrokenBarrier, Condition, Event, Lock, RLock, Semaphore, Thread,
    Timer,
};

/// How long a timed wait may overrun its deadline on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

/// Runs `f` with a deadline `timeout` from now, expecting it to time out (`false`), not
/// before the deadline and within [`SLACK`] after it.
fn times_out_at(timeout: Duration, f: impl FnOnce(Instant) -> bool) {
    let deadline = Instant::now() + timeout;
    assert!(!f(deadline), "the wait should have timed out");
    let now = Instant::now();
    assert!(now >= deadline, "returned {:?} early", deadline - now);
    assert!(now < deadline + SLACK, "returned {:?} late", now - deadline);
}

fn past() -> Instant {
    Instant::now()
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[test]
fn lock_and_rlock_acquire_until() {
    let l = Lock::new();
    assert!(
        l.acquire_until(past()),
        "free: a past deadline still tries once"
    );
    thread::scope(|s| {
        s.spawn(|| {
            times_out_at(Duration::from_millis(40), |d| l.acquire_until(d));
            times_out_at(Duration::from_millis(20), |d| l.lock_until(d).is_some());
        });
    });
    l.release().unwrap();
    assert!(l.lock_until(later()).is_some());

    let r = RLock::new();
    assert!(r.acquire_until(past()));
    assert!(r.acquire_until(past()), "re-entry never waits");
    assert_eq!(r.depth(), 2);
    thread::scope(|s| {
        s.spawn(|| {
            times_out_at(Duration::from_millis(40), |d| r.acquire_until(d));
            times_out_at(Duration::from_millis(20), |d| r.lock_until(d).is_some());
        });
    });
    r.release().unwrap();
    r.release().unwrap();
    let g = r.lock_until(later()).expect("free");
    drop(g);
    assert!(!r.locked());
}

#[test]
fn semaphores_acquire_until() {
    let sem = Semaphore::new(1);
    assert!(sem.acquire_until(past()));
    times_out_at(Duration::from_millis(40), |d| sem.acquire_until(d));
    times_out_at(Duration::from_millis(20), |d| sem.acquire_many_until(2, d));
    times_out_at(Duration::from_millis(20), |d| {
        sem.acquire_guard_until(d).is_some()
    });
    thread::scope(|s| {
        let waiter = s.spawn(|| sem.acquire_until(later()));
        thread::sleep(Duration::from_millis(20));
        sem.release().unwrap();
        assert!(waiter.join().unwrap());
    });
    let b = BoundedSemaphore::new(2);
    assert!(b.acquire_many_until(2, past()));
    times_out_at(Duration::from_millis(30), |d| b.acquire_until(d));
    b.release_many(2).unwrap();
    assert_eq!(b.acquire_guard_until(past()).map(|g| g.permits()), Some(1));
    assert_eq!(b.value(), 2);
}

#[test]
fn event_wait_until() {
    let e = Event::new();
    times_out_at(Duration::from_millis(40), |d| e.wait_until(d));
    assert!(!e.wait_until(past()));
    thread::scope(|s| {
        let waiter = s.spawn(|| e.wait_until(later()));
        thread::sleep(Duration::from_millis(20));
        e.set();
        assert!(waiter.join().unwrap());
    });
    assert!(e.wait_until(past()), "set: returns at once");
}

#[test]
fn barrier_wait_until() {
    let b = Barrier::new(2);
    let start = Instant::now();
    assert_eq!(
        b.wait_until(start + Duration::from_millis(40)),
        Err(BrokenBarrier)
    );
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert!(
        b.broken(),
        "a party's deadline breaks the barrier, as in Python"
    );
    b.reset();
    thread::scope(|s| {
        let other = s.spawn(|| b.wait_until(later()));
        let mine = b.wait_until(later()).unwrap();
        let theirs = other.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1, "indices 0 and 1");
    });
}

#[test]
fn thread_and_timer_join_until() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let t = Thread::new(move || g.wait());
    t.start().unwrap();
    times_out_at(Duration::from_millis(40), |d| t.join_until(d).unwrap());
    gate.set();
    assert!(t.join_until(later()).unwrap());
    assert!(t.join_until(past()).unwrap(), "finished: returns at once");

    let timer = Timer::new(Duration::from_secs(60), || {});
    timer.start().unwrap();
    times_out_at(Duration::from_millis(20), |d| timer.join_until(d).unwrap());
    timer.cancel();
    assert!(timer.join_until(later()).unwrap());
}

#[test]
fn condition_acquire_until_and_wait_for_forms() {
    let cond = Arc::new(Condition::new());
    assert!(cond.acquire_until(past()));
    // Not ready: the Python-shaped wait_for forms time out with the lock held again.
    times_out_at(Duration::from_millis(40), |d| {
        cond.wait_for_until(|| false, d).unwrap()
    });
    let start = Instant::now();
    assert!(!cond
        .wait_for_timeout(|| false, Duration::from_millis(30))
        .unwrap());
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(cond.wait_for_timeout(|| true, Duration::ZERO).unwrap());
    cond.wait_for(|| true).unwrap();
    assert_eq!(cond.get_lock().depth(), 1);
    thread::scope(|s| {
        s.spawn(|| {
            times_out_at(Duration::from_millis(20), |d| cond.acquire_until(d));
        });
    });
    cond.release().unwrap();
    // Woken in time.
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let notifier = {
        let (cond, ready) = (cond.clone(), ready.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let _g = cond.lock();
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            cond.notify_all().unwrap();
        })
    };
    let _g = cond.lock();
    assert!(cond
        .wait_for_until(|| ready.load(std::sync::atomic::Ordering::SeqCst), later())
        .unwrap());
    drop(_g);
    notifier.join().unwrap();
}
