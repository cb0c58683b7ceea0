//! `conkit::threading` Lock, RLock, Semaphore, BoundedSemaphore and Event: every error
//! path, timeouts (tolerant bounds: never before the deadline, within a few seconds),
//! and multi-thread stress tests that count every operation.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::{
    BoundedSemaphore, Event, Lock, RLock, ReleaseError, Semaphore, SemaphoreError,
};

/// How long a timed wait may overrun its deadline on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

/// Runs `f` (a timed wait of `timeout` expected to time out) and checks it returned
/// `false`, not before the deadline and within [`SLACK`] after it.
fn times_out(timeout: Duration, f: impl FnOnce(Duration) -> bool) {
    let start = Instant::now();
    assert!(!f(timeout), "the wait should have timed out");
    let took = start.elapsed();
    assert!(
        took >= timeout,
        "returned after {took:?}, before {timeout:?}"
    );
    assert!(took < timeout + SLACK, "returned after {took:?}");
}

/// Increments `counter` with a separate load and store: a lost update (two threads
/// inside the critical section at once) shows in the final count.
fn racy_increment(counter: &AtomicU64) {
    let v = counter.load(Ordering::Relaxed);
    std::hint::spin_loop();
    counter.store(v + 1, Ordering::Relaxed);
}

fn assert_send_sync<T: Send + Sync + Default + std::fmt::Debug>() {}

#[test]
fn all_types_are_send_sync_default_debug() {
    assert_send_sync::<Lock>();
    assert_send_sync::<RLock>();
    assert_send_sync::<Semaphore>();
    assert_send_sync::<BoundedSemaphore>();
    assert_send_sync::<Event>();
}

// ------------------------------------------------------------------------------------
// Lock
// ------------------------------------------------------------------------------------

#[test]
fn lock_release_of_an_unlocked_lock_is_not_locked() {
    let l = Lock::new();
    assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    l.acquire();
    assert_eq!(l.release(), Ok(()));
    assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    assert!(!l.locked());
    // The error displays like Python's RuntimeError message.
    assert_eq!(
        ReleaseError::NotLocked.to_string(),
        "release of an unlocked lock"
    );
}

#[test]
fn lock_may_be_released_by_another_thread() {
    let l = Lock::new();
    l.acquire();
    thread::scope(|s| {
        s.spawn(|| l.release().unwrap());
    });
    assert!(!l.locked());
    // A guard sent to another thread releases there.
    let g = l.lock();
    thread::scope(|s| {
        s.spawn(move || drop(g));
    });
    assert!(!l.locked());
}

#[test]
fn lock_released_by_another_thread_wakes_a_blocked_acquirer() {
    let l = Lock::new();
    let released = AtomicBool::new(false);
    l.acquire();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            l.acquire();
            let saw = released.load(Ordering::Acquire);
            l.release().unwrap();
            saw
        });
        let releaser = s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            released.store(true, Ordering::Release);
            l.release().unwrap();
        });
        releaser.join().unwrap();
        assert!(waiter.join().unwrap());
    });
    assert!(!l.locked());
}

#[test]
fn lock_try_forms_and_guards() {
    let l = Lock::default();
    assert!(!l.locked());
    assert!(format!("{l:?}").contains("locked: false"));
    {
        let g = l.try_lock().expect("free");
        assert!(l.locked());
        assert!(format!("{l:?}").contains("locked: true"));
        assert!(format!("{g:?}").contains("LockGuard"));
        assert!(!l.try_acquire());
        assert!(l.try_lock().is_none());
        // Another thread cannot take it either.
        thread::scope(|s| {
            s.spawn(|| assert!(!l.try_acquire()));
        });
    }
    assert!(!l.locked());
    assert!(l.try_acquire());
    l.release().unwrap();
    let g = l.lock_timeout(Duration::from_millis(1)).expect("free");
    g.forget();
    assert!(l.locked());
    l.release().unwrap();
}

/// Regression: `try_lock`/`lock_timeout` built their guard eagerly (`then_some`), so a
/// failed attempt dropped a guard and released the lock held by somebody else.
#[test]
fn failed_try_lock_and_lock_timeout_do_not_release_the_holders_lock() {
    let l = Lock::new();
    l.acquire();
    assert!(l.try_lock().is_none());
    assert!(l.locked());
    assert!(l.lock_timeout(Duration::from_millis(1)).is_none());
    assert!(l.locked());
    l.release().unwrap();
}

#[test]
fn lock_acquire_timeout_times_out_not_before_the_deadline() {
    let l = Lock::new();
    l.acquire();
    thread::scope(|s| {
        s.spawn(|| {
            times_out(Duration::from_millis(50), |t| l.acquire_timeout(t));
            times_out(Duration::from_millis(30), |t| l.lock_timeout(t).is_some());
            // A zero timeout tries once.
            assert!(!l.acquire_timeout(Duration::ZERO));
        });
    });
    assert!(l.locked());
    l.release().unwrap();
    // Free: zero and huge timeouts succeed at once.
    assert!(l.acquire_timeout(Duration::ZERO));
    l.release().unwrap();
    assert!(l.acquire_timeout(Duration::MAX));
    l.release().unwrap();
}

#[test]
fn lock_acquire_timeout_succeeds_when_released_in_time() {
    let l = Lock::new();
    l.acquire();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let ok = l.acquire_timeout(Duration::from_secs(30));
            if ok {
                l.release().unwrap();
            }
            ok
        });
        thread::sleep(Duration::from_millis(20));
        l.release().unwrap();
        assert!(waiter.join().unwrap());
    });
    // A huge timeout saturates instead of overflowing.
    l.acquire();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let ok = l.acquire_timeout(Duration::MAX);
            l.release().unwrap();
            ok
        });
        thread::sleep(Duration::from_millis(20));
        l.release().unwrap();
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn lock_stress_8_threads_100k_increments() {
    const THREADS: u64 = 8;
    const EACH: u64 = 100_000;
    let l = Lock::new();
    let counter = AtomicU64::new(0);
    thread::scope(|s| {
        for i in 0..THREADS {
            let (l, counter) = (&l, &counter);
            s.spawn(move || {
                for j in 0..EACH {
                    // Mix the front ends.
                    match (i + j) % 3 {
                        0 => {
                            let _g = l.lock();
                            racy_increment(counter);
                        }
                        1 => {
                            l.acquire();
                            racy_increment(counter);
                            l.release().unwrap();
                        }
                        _ => {
                            let _g = l.lock_timeout(Duration::from_secs(60)).unwrap();
                            racy_increment(counter);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * EACH);
    assert!(!l.locked());
}

/// The seeds' two-thread example: one thread adds, the other subtracts, under a Lock;
/// the balance ends at 0.
#[test]
fn lock_add_and_subtract_end_at_zero() {
    static LOCK: Lock = Lock::new();
    let balance = AtomicU64::new(1_000_000);
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..100_000 {
                let _g = LOCK.lock();
                let v = balance.load(Ordering::Relaxed);
                balance.store(v + 5, Ordering::Relaxed);
            }
        });
        s.spawn(|| {
            for _ in 0..100_000 {
                let _g = LOCK.lock();
                let v = balance.load(Ordering::Relaxed);
                balance.store(v - 5, Ordering::Relaxed);
            }
        });
    });
    assert_eq!(balance.load(Ordering::Relaxed), 1_000_000);
}

// ------------------------------------------------------------------------------------
// RLock
// ------------------------------------------------------------------------------------

#[test]
fn rlock_release_errors() {
    let l = RLock::new();
    assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    l.acquire();
    l.acquire();
    thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(l.release(), Err(ReleaseError::NotOwner));
            assert!(!l.is_owned());
            assert_eq!(l.depth(), 0);
            assert!(l.locked());
        });
    });
    // The refused release changed nothing.
    assert_eq!(l.depth(), 2);
    l.release().unwrap();
    l.release().unwrap();
    assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    assert_eq!(
        ReleaseError::NotOwner.to_string(),
        "release of a lock held by another owner"
    );
}

#[test]
fn rlock_owner_and_depth() {
    let l = RLock::default();
    assert!(!l.is_owned());
    assert_eq!(l.depth(), 0);
    let a = l.lock();
    assert!(l.try_acquire());
    assert!(l.acquire_timeout(Duration::ZERO));
    let b = l.try_lock().unwrap();
    let c = l.lock_timeout(Duration::from_millis(1)).unwrap();
    assert_eq!(l.depth(), 5);
    assert!(l.is_owned());
    let dbg = format!("{l:?}");
    assert!(
        dbg.contains("depth: 5") && dbg.contains("owned_by_caller: true"),
        "{dbg}"
    );
    assert!(format!("{c:?}").contains("depth: 5"));
    drop(c);
    drop(b);
    l.release().unwrap();
    l.release().unwrap();
    assert_eq!(l.depth(), 1);
    drop(a);
    assert!(!l.locked());
    assert!(!l.is_owned());
}

#[test]
fn rlock_other_thread_waits_and_times_out() {
    let l = RLock::new();
    l.acquire();
    l.acquire();
    thread::scope(|s| {
        s.spawn(|| {
            assert!(!l.try_acquire());
            assert!(l.try_lock().is_none());
            times_out(Duration::from_millis(50), |t| l.acquire_timeout(t));
            times_out(Duration::from_millis(30), |t| l.lock_timeout(t).is_some());
        });
    });
    let released = AtomicBool::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let _g = l.lock();
            released.load(Ordering::Acquire)
        });
        thread::sleep(Duration::from_millis(20));
        l.release().unwrap();
        thread::sleep(Duration::from_millis(20));
        // Still held once: the waiter must still be waiting.
        assert!(!waiter.is_finished());
        released.store(true, Ordering::Release);
        l.release().unwrap();
        assert!(waiter.join().unwrap());
    });
    assert!(!l.locked());
}

/// The seeds' RLock recursion: a function that takes the lock calls itself.
#[test]
fn rlock_recursion() {
    static RLOCK: RLock = RLock::new();
    fn sum_to(n: u64) -> u64 {
        let _g = RLOCK.lock();
        if n == 0 {
            0
        } else {
            n + sum_to(n - 1)
        }
    }
    let results: Vec<u64> = thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| sum_to(100))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, [5050; 4]);
    assert!(!RLOCK.locked());
}

#[test]
fn rlock_stress_8_threads_100k_nested_increments() {
    const THREADS: u64 = 8;
    const EACH: u64 = 100_000;
    let l = RLock::new();
    let counter = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            let (l, counter) = (&l, &counter);
            s.spawn(move || {
                for _ in 0..EACH {
                    let _outer = l.lock();
                    l.acquire();
                    assert_eq!(l.depth(), 2);
                    racy_increment(counter);
                    l.release().unwrap();
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * EACH);
    assert!(!l.locked());
}

// ------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore
// ------------------------------------------------------------------------------------

#[test]
fn semaphore_counts_permits() {
    let s = Semaphore::new(0);
    assert!(!s.try_acquire());
    s.release().unwrap();
    assert_eq!(s.value(), 1);
    s.acquire();
    s.release_many(3).unwrap();
    assert!(!s.try_acquire_many(4));
    assert!(s.try_acquire_many(3));
    assert_eq!(s.value(), 0);
    // n == 0: always succeeds / does nothing.
    assert!(s.try_acquire_many(0));
    s.acquire_many(0);
    s.release_many(0).unwrap();
    assert_eq!(s.value(), 0);
    assert_eq!(Semaphore::default().value(), 1);
    assert!(format!("{:?}", Semaphore::new(7)).contains("value: 7"));
}

#[test]
fn semaphore_overflow_is_an_error_and_changes_nothing() {
    let s = Semaphore::new(u32::MAX);
    assert_eq!(s.release(), Err(SemaphoreError::Overflow));
    assert_eq!(s.value(), u32::MAX);
    s.acquire_many(2);
    assert_eq!(s.release_many(3), Err(SemaphoreError::Overflow));
    assert_eq!(s.value(), u32::MAX - 2);
    s.release_many(2).unwrap();
    assert_eq!(s.value(), u32::MAX);
}

/// The seeds' `BoundedSemaphore` over-release (Python: `ValueError`).
#[test]
fn bounded_semaphore_over_release_is_overflow() {
    let b = BoundedSemaphore::new(2);
    assert_eq!(b.initial(), 2);
    assert_eq!(b.release(), Err(SemaphoreError::Overflow));
    b.acquire();
    assert_eq!(b.release_many(2), Err(SemaphoreError::Overflow));
    assert_eq!(b.value(), 1);
    b.release().unwrap();
    assert_eq!(b.release(), Err(SemaphoreError::Overflow));
    assert_eq!(b.value(), 2);
    assert_eq!(
        SemaphoreError::Overflow.to_string(),
        "semaphore released too many times"
    );
    let d = BoundedSemaphore::default();
    assert_eq!((d.value(), d.initial()), (1, 1));
    assert!(format!("{d:?}").contains("BoundedSemaphore"));
    // A zero-valued bounded semaphore can never be released.
    assert_eq!(
        BoundedSemaphore::new(0).release(),
        Err(SemaphoreError::Overflow)
    );
}

#[test]
fn semaphore_guards_give_permits_back() {
    let s = Semaphore::new(2);
    let b = BoundedSemaphore::new(2);
    {
        let g = s.acquire_guard();
        let h = b.try_acquire_guard().unwrap();
        assert_eq!((g.permits(), h.permits()), (1, 1));
        let g2 = s.acquire_guard_timeout(Duration::from_millis(1)).unwrap();
        assert!(s.try_acquire_guard().is_none());
        times_out(Duration::from_millis(20), |t| {
            s.acquire_guard_timeout(t).is_some()
        });
        drop(g2);
        assert_eq!(s.value(), 1);
    }
    assert_eq!((s.value(), b.value()), (2, 2));
    {
        let all = b.acquire_many_guard(2);
        assert_eq!(all.permits(), 2);
        assert_eq!(b.value(), 0);
    }
    assert_eq!(b.value(), 2);
    s.acquire_guard().forget();
    assert_eq!(s.value(), 1);
}

#[test]
fn semaphore_timeouts() {
    let s = Semaphore::new(1);
    let b = BoundedSemaphore::new(3);
    times_out(Duration::from_millis(40), |t| s.acquire_many_timeout(2, t));
    assert_eq!(s.value(), 1, "a timed-out acquire_many takes nothing");
    assert!(s.acquire_timeout(Duration::ZERO));
    times_out(Duration::from_millis(40), |t| s.acquire_timeout(t));
    assert!(b.acquire_many_timeout(3, Duration::MAX));
    times_out(Duration::from_millis(30), |t| b.acquire_timeout(t));
    b.release_many(3).unwrap();
}

#[test]
fn semaphore_release_by_another_thread_wakes_acquirers() {
    let s = Semaphore::new(0);
    thread::scope(|sc| {
        let one = sc.spawn(|| s.acquire());
        let three = sc.spawn(|| s.acquire_many_timeout(3, Duration::from_secs(60)));
        thread::sleep(Duration::from_millis(20));
        s.release_many(4).unwrap();
        one.join().unwrap();
        assert!(three.join().unwrap());
    });
    assert_eq!(s.value(), 0);
}

/// The seeds' `Semaphore(2)`: never more than 2 threads inside (counted).
#[test]
fn semaphore_2_never_admits_more_than_2() {
    const THREADS: usize = 8;
    const EACH: usize = 20_000;
    for bounded in [false, true] {
        let s = Semaphore::new(2);
        let b = BoundedSemaphore::new(2);
        let inside = AtomicU32::new(0);
        let max_inside = AtomicU32::new(0);
        let entries = AtomicU64::new(0);
        thread::scope(|sc| {
            for i in 0..THREADS {
                let (s, b, inside, max_inside, entries) = (&s, &b, &inside, &max_inside, &entries);
                sc.spawn(move || {
                    for j in 0..EACH {
                        let _permit = match (bounded, (i + j) % 2) {
                            (false, 0) => s.acquire_guard(),
                            (false, _) => s.acquire_guard_timeout(Duration::from_secs(60)).unwrap(),
                            (true, 0) => b.acquire_guard(),
                            (true, _) => b.acquire_guard_timeout(Duration::from_secs(60)).unwrap(),
                        };
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_inside.fetch_max(now, Ordering::SeqCst);
                        entries.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        let max = max_inside.load(Ordering::SeqCst);
        assert!((1..=2).contains(&max), "max inside: {max}");
        assert_eq!(entries.load(Ordering::Relaxed), (THREADS * EACH) as u64);
        assert_eq!((s.value(), b.value()), (2, 2));
    }
}

/// A timed acquire that is woken again and again (every release wakes all waiters) but
/// never finds enough permits still returns at its original deadline: the wake-ups do
/// not restart its timeout.
#[test]
fn timed_acquire_woken_repeatedly_still_returns_at_its_deadline() {
    let s = Semaphore::new(0);
    let stop = AtomicBool::new(false);
    let wakes = AtomicU64::new(0);
    thread::scope(|sc| {
        let pest = sc.spawn(|| {
            // One permit at a time, taken back at once: a waiter for 2 never succeeds.
            while !stop.load(Ordering::Acquire) {
                s.release().unwrap();
                while !s.try_acquire() {
                    std::hint::spin_loop();
                }
                wakes.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(1));
            }
        });
        times_out(Duration::from_millis(300), |t| s.acquire_many_timeout(2, t));
        stop.store(true, Ordering::Release);
        pest.join().unwrap();
    });
    assert!(
        wakes.load(Ordering::Relaxed) > 1,
        "the waiter was never poked"
    );
    assert_eq!(s.value(), 0);
}

// ------------------------------------------------------------------------------------
// Event
// ------------------------------------------------------------------------------------

#[test]
fn event_set_clear_is_set() {
    let e = Event::default();
    assert!(!e.is_set());
    assert!(format!("{e:?}").contains("is_set: false"));
    e.set();
    e.set();
    assert!(e.is_set());
    e.wait(); // returns at once
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(Duration::MAX));
    e.clear();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::ZERO));
}

#[test]
fn event_wait_timeout_times_out_not_before_the_deadline() {
    let e = Event::new();
    times_out(Duration::from_millis(50), |t| e.wait_timeout(t));
    assert!(!e.is_set());
}

#[test]
fn event_wait_timeout_returns_true_when_set_in_time() {
    let e = Event::new();
    thread::scope(|s| {
        let waiter = s.spawn(|| e.wait_timeout(Duration::from_secs(60)));
        thread::sleep(Duration::from_millis(20));
        e.set();
        assert!(waiter.join().unwrap());
    });
}

/// `set` wakes every waiter (the seeds' "hot pot" example: all guests eat).
#[test]
fn event_set_wakes_all_waiters() {
    const WAITERS: usize = 8;
    let e = Event::new();
    let started = Barrier::new(WAITERS + 1);
    let woken = AtomicU32::new(0);
    thread::scope(|s| {
        for i in 0..WAITERS {
            let (e, started, woken) = (&e, &started, &woken);
            s.spawn(move || {
                started.wait();
                if i % 2 == 0 {
                    e.wait();
                } else {
                    assert!(e.wait_timeout(Duration::from_secs(60)));
                }
                woken.fetch_add(1, Ordering::SeqCst);
            });
        }
        started.wait();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        e.set();
    });
    assert_eq!(woken.load(Ordering::SeqCst), WAITERS as u32);
}

/// Ping-pong with set / wait / clear: every round trip is seen exactly once.
#[test]
fn event_ping_pong_round_trips() {
    const ROUNDS: u32 = 2_000;
    let ping = Event::new();
    let pong = Event::new();
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..ROUNDS {
                ping.wait();
                ping.clear();
                pong.set();
            }
        });
        for _ in 0..ROUNDS {
            ping.set();
            assert!(pong.wait_timeout(Duration::from_secs(60)));
            pong.clear();
        }
    });
    assert!(!ping.is_set() && !pong.is_set());
}
