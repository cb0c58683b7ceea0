//! CPython 3.11's own tests of `threading` and `queue` (`Lib/test/lock_tests.py`,
//! `test_threading.py`, `test_queue.py`; 3.13's `test_queue.py` for `shutdown`), ported
//! to `conkit::threading` and `conkit::queue`: each test names the CPython test it
//! mirrors. Where a CPython test checks something Rust's types rule out (a negative
//! timeout or count, `acquire(False, timeout)`), the port checks the Rust form instead
//! and the comment says so. Every wait here is bounded, and the whole file runs in well
//! under a second on an idle machine.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conkit::queue::{
    Empty, FixedCapacity, Full, GetError, LifoQueue, PriorityQueue, PutError, Queue, ShutDown,
    SimpleQueue, TaskDoneError,
};
use conkit::threading::{
    self, current_thread, enumerate, Barrier, BoundedSemaphore, BrokenBarrier, Condition,
    ConditionError, Event, Lock, RLock, ReleaseError, Semaphore, SemaphoreError, Thread,
    ThreadError, TIMEOUT_MAX,
};

/// CPython's `support.SHORT_TIMEOUT` stand-in: the longest a "promptly" may take on a
/// loaded 2-core machine before the test fails instead of hanging.
const SOON: Duration = Duration::from_secs(10);
/// A timeout that is expected to pass (CPython's tests use 0.5 s; shorter here).
const SHORT: Duration = Duration::from_millis(50);

/// Polls `cond` until it holds (CPython's `support.sleeping_retry`), failing after
/// [`SOON`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SOON;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// CPython's `assertTimeout(dt, timeout)`: not before the timeout, not long after.
fn assert_timeout(took: Duration, timeout: Duration) {
    assert!(
        took >= timeout,
        "returned after {took:?}, before {timeout:?}"
    );
    assert!(took < timeout + SOON, "returned after {took:?}");
}

/// CPython's `Bunch(f, n)`: runs `f` on `n` threads and joins them all.
fn bunch(n: usize, f: impl Fn() + Sync) {
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(&f);
        }
    });
}

// ---------------------------------------------------------------------------------
// Lock (lock_tests.BaseLockTests, LockTests)
// ---------------------------------------------------------------------------------

// lock_tests.BaseLockTests.test_try_acquire / test_try_acquire_contended
#[test]
fn lock_try_acquire_and_contended() {
    let lock = Lock::new();
    assert!(lock.try_acquire());
    lock.release().unwrap();
    lock.acquire();
    let result = AtomicBool::new(true);
    bunch(1, || result.store(lock.try_acquire(), Ordering::SeqCst));
    assert!(!result.load(Ordering::SeqCst));
    lock.release().unwrap();
}

// lock_tests.BaseLockTests.test_acquire_contended
#[test]
fn lock_acquire_contended_all_finish_after_release() {
    let lock = Lock::new();
    lock.acquire();
    let finished = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..5 {
            s.spawn(|| {
                lock.acquire();
                lock.release().unwrap();
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        thread::sleep(Duration::from_millis(10));
        assert_eq!(finished.load(Ordering::SeqCst), 0);
        lock.release().unwrap();
    });
    assert_eq!(finished.load(Ordering::SeqCst), 5);
}

// lock_tests.BaseLockTests.test_with: the guard releases on a normal exit and when
// the block raises (panics).
#[test]
fn lock_guard_releases_also_when_the_block_panics() {
    let lock = Lock::new();
    {
        let _g = lock.lock();
    }
    bunch(1, || {
        lock.acquire();
        lock.release().unwrap();
    });
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = lock.lock();
        panic!("TypeError");
    }));
    assert!(r.is_err());
    assert!(!lock.locked());
    bunch(1, || {
        lock.acquire();
        lock.release().unwrap();
    });
}

// lock_tests.BaseLockTests.test_timeout. Python's `acquire(False, 1)` and
// `acquire(timeout=-100)` (`ValueError`) cannot be written: `try_acquire` takes no
// timeout and a `Duration` is never negative. Above `TIMEOUT_MAX` Python raises
// `OverflowError`; here the deadline saturates (documented on `acquire_timeout`).
#[test]
fn lock_timeout_forms() {
    let lock = Lock::new();
    assert!(lock.acquire_timeout(TIMEOUT_MAX));
    lock.release().unwrap();
    assert!(lock.acquire_timeout(Duration::MAX));
    lock.release().unwrap();
    let start = Instant::now();
    assert!(lock.acquire_timeout(Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(5));
    bunch(1, || {
        let start = Instant::now();
        assert!(!lock.acquire_timeout(SHORT));
        assert_timeout(start.elapsed(), SHORT);
    });
    lock.release().unwrap();
}

// lock_tests.LockTests.test_reacquire: a second acquire by the holder waits until
// somebody releases.
#[test]
fn lock_reacquire_waits_for_a_release() {
    let lock = Lock::new();
    let phase = AtomicU32::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            lock.acquire();
            phase.fetch_add(1, Ordering::SeqCst);
            lock.acquire();
            phase.fetch_add(1, Ordering::SeqCst);
        });
        wait_until("phase 1", || phase.load(Ordering::SeqCst) == 1);
        thread::sleep(Duration::from_millis(5));
        assert_eq!(phase.load(Ordering::SeqCst), 1);
        lock.release().unwrap();
        wait_until("phase 2", || phase.load(Ordering::SeqCst) == 2);
    });
    lock.release().unwrap();
}

// lock_tests.LockTests.test_different_thread
// (and test_threading.ThreadingExceptionTests.test_releasing_unacquired_lock)
#[test]
fn lock_released_by_a_different_thread_then_unlocked_release_errs() {
    let lock = Lock::new();
    lock.acquire();
    bunch(1, || lock.release().unwrap());
    lock.acquire();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
}

// lock_tests.LockTests.test_state_after_timeout
#[test]
fn lock_state_after_a_timed_out_acquire() {
    let lock = Lock::new();
    lock.acquire();
    assert!(!lock.acquire_timeout(Duration::from_millis(10)));
    lock.release().unwrap();
    assert!(!lock.locked());
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

// ---------------------------------------------------------------------------------
// RLock (lock_tests.RLockTests)
// ---------------------------------------------------------------------------------

// lock_tests.RLockTests.test_reacquire / test_release_unacquired
#[test]
fn rlock_reacquire_and_release_unacquired() {
    let lock = RLock::new();
    assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
    lock.acquire();
    lock.acquire();
    lock.release().unwrap();
    lock.acquire();
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
}

// lock_tests.RLockTests.test_recursion_count: the count is the caller's, 0 while
// another thread holds the lock.
#[test]
fn rlock_recursion_count_is_the_callers() {
    let lock = RLock::new();
    assert_eq!(lock.depth(), 0);
    lock.acquire();
    assert_eq!(lock.depth(), 1);
    lock.acquire();
    lock.acquire();
    assert_eq!(lock.depth(), 3);
    lock.release().unwrap();
    assert_eq!(lock.depth(), 2);
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.depth(), 0);

    let phase = AtomicU32::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            lock.acquire();
            phase.store(1, Ordering::SeqCst);
            wait_until("phase 2", || phase.load(Ordering::SeqCst) == 2);
            lock.release().unwrap();
            phase.store(3, Ordering::SeqCst);
        });
        wait_until("phase 1", || phase.load(Ordering::SeqCst) == 1);
        assert_eq!(lock.depth(), 0);
        assert!(lock.locked() && !lock.is_owned());
        phase.store(2, Ordering::SeqCst);
        wait_until("phase 3", || phase.load(Ordering::SeqCst) == 3);
        assert_eq!(lock.depth(), 0);
    });
}

// lock_tests.RLockTests.test_different_thread: only the owner may release.
#[test]
fn rlock_release_by_another_thread_is_not_owner() {
    let lock = RLock::new();
    let (held, done) = (Event::new(), Event::new());
    thread::scope(|s| {
        s.spawn(|| {
            lock.acquire();
            held.set();
            assert!(done.wait_timeout(SOON));
            lock.release().unwrap();
        });
        assert!(held.wait_timeout(SOON));
        assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
        assert!(lock.locked());
        done.set();
    });
}

// lock_tests.RLockTests.test__is_owned
#[test]
fn rlock_is_owned() {
    let lock = RLock::new();
    assert!(!lock.is_owned());
    lock.acquire();
    assert!(lock.is_owned());
    lock.acquire();
    assert!(lock.is_owned());
    let other = AtomicBool::new(true);
    bunch(1, || other.store(lock.is_owned(), Ordering::SeqCst));
    assert!(!other.load(Ordering::SeqCst));
    lock.release().unwrap();
    assert!(lock.is_owned());
    lock.release().unwrap();
    assert!(!lock.is_owned());
}

// lock_tests.BaseLockTests.test_with for RLock: every level released by unwinding.
#[test]
fn rlock_guards_release_also_when_the_block_panics() {
    let lock = RLock::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _a = lock.lock();
        let _b = lock.lock();
        panic!("TypeError");
    }));
    assert!(r.is_err());
    assert!(!lock.locked());
    bunch(1, || drop(lock.lock()));
}

// ---------------------------------------------------------------------------------
// Event (lock_tests.EventTests)
// ---------------------------------------------------------------------------------

// lock_tests.EventTests.test_is_set
#[test]
fn event_is_set() {
    let evt = Event::new();
    assert!(!evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
}

// lock_tests.EventTests.test_notify: every waiter is released, twice, also after an
// explicit clear.
#[test]
fn event_set_releases_every_waiter_twice() {
    let evt = Event::new();
    let check = |evt: &Event| {
        let (r1, r2) = (AtomicUsize::new(0), AtomicUsize::new(0));
        thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    assert!(evt.wait_timeout(SOON));
                    r1.fetch_add(1, Ordering::SeqCst);
                    assert!(evt.wait_timeout(SOON));
                    r2.fetch_add(1, Ordering::SeqCst);
                });
            }
            thread::sleep(Duration::from_millis(10));
            assert_eq!(r1.load(Ordering::SeqCst), 0);
            evt.set();
        });
        assert_eq!((r1.into_inner(), r2.into_inner()), (5, 5));
    };
    check(&evt);
    evt.set();
    evt.clear();
    check(&evt);
}

// lock_tests.EventTests.test_timeout: `wait(0.0)` and a timed-out `wait(t)` return
// `False`; once set, both return `True`.
#[test]
fn event_wait_timeout_returns_the_flag() {
    let evt = Event::new();
    let f = || {
        let r0 = evt.wait_timeout(Duration::ZERO);
        let start = Instant::now();
        let r = evt.wait_timeout(SHORT);
        (r0, r, start.elapsed())
    };
    thread::scope(|s| {
        let hs: Vec<_> = (0..5).map(|_| s.spawn(f)).collect();
        for h in hs {
            let (r0, r, took) = h.join().unwrap();
            assert!(!r0 && !r);
            assert_timeout(took, SHORT);
        }
    });
    evt.set();
    thread::scope(|s| {
        let hs: Vec<_> = (0..5).map(|_| s.spawn(f)).collect();
        for h in hs {
            let (r0, r, _) = h.join().unwrap();
            assert!(r0 && r);
        }
    });
}

// lock_tests.EventTests.test_set_and_clear (gh-57711)
#[test]
fn event_wait_is_true_even_if_cleared_before_the_waiter_wakes() {
    let event = Event::new();
    let waiting = AtomicUsize::new(0);
    let trues = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..5 {
            s.spawn(|| {
                waiting.fetch_add(1, Ordering::SeqCst);
                if event.wait_timeout(SOON) {
                    trues.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        wait_until("5 waiters", || waiting.load(Ordering::SeqCst) == 5);
        thread::sleep(Duration::from_millis(10));
        event.set();
        event.clear();
    });
    assert_eq!(trues.into_inner(), 5);
}

// ---------------------------------------------------------------------------------
// Condition (lock_tests.ConditionTests)
// ---------------------------------------------------------------------------------

// lock_tests.ConditionTests.test_acquire: the default lock is reentrant; over a
// `Lock`, the condition's acquire/release are the lock's.
#[test]
fn condition_acquire_is_its_locks() {
    let cond = Condition::new();
    cond.acquire();
    cond.acquire();
    cond.release().unwrap();
    cond.release().unwrap();

    let lock = Lock::new();
    let cond = Condition::with_lock(&lock);
    cond.acquire();
    assert!(!lock.try_acquire());
    cond.release().unwrap();
    assert!(lock.try_acquire());
    assert!(!cond.try_acquire());
    lock.release().unwrap();
    {
        let _g = cond.lock();
        assert!(!lock.try_acquire());
    }
    assert!(!lock.locked());
}

// lock_tests.ConditionTests.test_unacquired_wait / test_unacquired_notify
#[test]
fn condition_wait_or_notify_unacquired_is_not_owned() {
    let cond = Condition::new();
    assert_eq!(cond.wait(), Err(ConditionError::NotOwned));
    assert_eq!(cond.wait_timeout(SHORT), Err(ConditionError::NotOwned));
    assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
    assert_eq!(cond.notify_all(), Err(ConditionError::NotOwned));
    let cond = Condition::with_lock(Lock::new());
    assert_eq!(cond.wait(), Err(ConditionError::NotOwned));
    assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
}

// lock_tests.ConditionTests.test_unacquired_wait, for `wait_for(pred, timeout)`: with
// the predicate false, CPython waits at least once, so a timeout that has already
// passed still raises `RuntimeError` when the lock is not held; a predicate that is
// already true returns it without looking at the lock.
#[test]
fn condition_wait_for_with_a_passed_timeout_unacquired_is_not_owned() {
    let cond = Condition::new();
    assert_eq!(
        cond.wait_for_timeout(|| false, Duration::ZERO),
        Err(ConditionError::NotOwned)
    );
    assert_eq!(
        cond.wait_for_until(|| false, Instant::now()),
        Err(ConditionError::NotOwned)
    );
    assert_eq!(cond.wait_for_timeout(|| true, Duration::ZERO), Ok(true));
    assert_eq!(cond.wait_for(|| true), Ok(()));
    let cond = Condition::with_lock(Lock::new());
    assert_eq!(
        cond.wait_for_timeout(|| false, Duration::ZERO),
        Err(ConditionError::NotOwned)
    );
    // Held: the predicate's value, `false`, with the lock still held.
    let _g = cond.lock();
    assert_eq!(cond.wait_for_timeout(|| false, Duration::ZERO), Ok(false));
    assert!(cond.get_lock().locked());
}

// lock_tests.ConditionTests.test_notify (`_check_notify`, twice): notify(3) of 5
// waiters wakes exactly 3, notify(5) the rest (the first 3 wait again), notify_all
// everyone; each woken wait reports `True`.
#[test]
fn condition_notify_n_and_notify_all_wake_exactly() {
    let cond = Condition::new();
    for _round in 0..2 {
        let phase = AtomicU32::new(0);
        let results1 = Mutex::new(Vec::new());
        let results2 = Mutex::new(Vec::new());
        thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    let g = cond.lock();
                    assert_eq!(cond.wait_timeout(SOON), Ok(true));
                    results1.lock().unwrap().push(phase.load(Ordering::SeqCst));
                    assert_eq!(cond.wait_timeout(SOON), Ok(true));
                    results2.lock().unwrap().push(phase.load(Ordering::SeqCst));
                    drop(g);
                });
            }
            wait_until("5 waiters", || cond.waiters() == 5);
            {
                let _g = cond.lock();
                assert_eq!(cond.notify(3), Ok(3));
                phase.store(1, Ordering::SeqCst);
            }
            wait_until("3 woken", || results1.lock().unwrap().len() == 3);
            wait_until("5 waiters again", || cond.waiters() == 5);
            assert_eq!(*results1.lock().unwrap(), [1, 1, 1]);
            assert!(results2.lock().unwrap().is_empty());
            {
                let _g = cond.lock();
                assert_eq!(cond.notify(5), Ok(5));
                phase.store(2, Ordering::SeqCst);
            }
            wait_until("8 woken", || {
                results1.lock().unwrap().len() + results2.lock().unwrap().len() == 8
            });
            wait_until("2 waiters", || cond.waiters() == 2);
            assert_eq!(*results1.lock().unwrap(), [1, 1, 1, 2, 2]);
            assert_eq!(*results2.lock().unwrap(), [2, 2, 2]);
            {
                let _g = cond.lock();
                assert_eq!(cond.notify_all(), Ok(2));
                phase.store(3, Ordering::SeqCst);
            }
        });
        assert_eq!(*results2.lock().unwrap(), [2, 2, 2, 3, 3]);
    }
}

// lock_tests.ConditionTests.test_timeout: a timed wait nobody notifies returns
// `False`, not before its timeout, with the lock held again.
#[test]
fn condition_wait_timeout_returns_false() {
    let cond = Condition::new();
    bunch(5, || {
        let _g = cond.lock();
        let start = Instant::now();
        assert_eq!(cond.wait_timeout(SHORT), Ok(false));
        assert_timeout(start.elapsed(), SHORT);
        assert!(cond.get_lock().is_owned());
    });
}

// lock_tests.ConditionTests.test_waitfor
#[test]
fn condition_wait_for_returns_once_the_predicate_holds() {
    let cond = Condition::new();
    let state = AtomicU32::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let _g = cond.lock();
            cond.wait_for(|| state.load(Ordering::SeqCst) == 4).unwrap();
            assert_eq!(state.load(Ordering::SeqCst), 4);
        });
        for _ in 0..4 {
            thread::sleep(Duration::from_millis(2));
            let _g = cond.lock();
            state.fetch_add(1, Ordering::SeqCst);
            cond.notify(1).unwrap();
        }
    });
}

// lock_tests.ConditionTests.test_waitfor_timeout: returns the predicate's last value
// (`False`) once the timeout has passed, however often it was woken.
#[test]
fn condition_wait_for_timeout_returns_the_predicates_last_value() {
    let cond = Condition::new();
    let state = AtomicU32::new(0);
    let timeout = Duration::from_millis(100);
    thread::scope(|s| {
        s.spawn(|| {
            let _g = cond.lock();
            let start = Instant::now();
            let r = cond.wait_for_timeout(|| state.load(Ordering::SeqCst) == 4, timeout);
            assert_eq!(r, Ok(false));
            assert_timeout(start.elapsed(), timeout);
        });
        for _ in 0..3 {
            thread::sleep(Duration::from_millis(2));
            let _g = cond.lock();
            state.fetch_add(1, Ordering::SeqCst);
            cond.notify(1).unwrap();
        }
    });
    // And `True` at once when it already holds, without waiting or needing a notify.
    let _g = cond.lock();
    assert_eq!(cond.wait_for_timeout(|| true, Duration::ZERO), Ok(true));
}

// ---------------------------------------------------------------------------------
// Semaphore / BoundedSemaphore (lock_tests.BaseSemaphoreTests and subclasses)
// ---------------------------------------------------------------------------------

// lock_tests.BaseSemaphoreTests.test_constructor: `Semaphore(-1)` is a `ValueError`
// in Python; the value is a `u32` here, so it cannot be written. test_acquire:
#[test]
fn semaphore_acquire_release() {
    let sem = Semaphore::new(1);
    sem.acquire();
    sem.release().unwrap();
    let sem = Semaphore::new(2);
    sem.acquire();
    sem.acquire();
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

// lock_tests.BaseSemaphoreTests.test_acquire_contended (release one at a time) and
// test_multirelease (release(n)): 10 threads acquire twice from 7 permits.
#[test]
fn semaphore_acquire_contended_and_multirelease() {
    for multi in [false, true] {
        let sem = Semaphore::new(7);
        sem.acquire();
        let phase = AtomicU32::new(0);
        let results = Mutex::new(Vec::new());
        let count = || results.lock().unwrap().len();
        let release = |n: u32| {
            if multi {
                sem.release_many(n).unwrap();
            } else {
                for _ in 0..n {
                    sem.release().unwrap();
                }
            }
        };
        thread::scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    for _ in 0..2 {
                        assert!(sem.acquire_timeout(SOON));
                        results.lock().unwrap().push(phase.load(Ordering::SeqCst));
                    }
                });
            }
            wait_until("6 acquired", || count() == 6);
            thread::sleep(Duration::from_millis(5));
            assert_eq!(count(), 6);
            phase.store(1, Ordering::SeqCst);
            release(7);
            wait_until("13 acquired", || count() == 13);
            phase.store(2, Ordering::SeqCst);
            release(6);
            wait_until("19 acquired", || count() == 19);
            assert!(!sem.try_acquire());
            release(1);
        });
        let mut r = results.into_inner().unwrap();
        r.sort_unstable();
        let mut want = vec![0; 6];
        want.extend([1; 7]);
        want.extend([2; 7]);
        assert_eq!(r, want, "multi-release: {multi}");
    }
}

// lock_tests.BaseSemaphoreTests.test_try_acquire / test_try_acquire_contended
#[test]
fn semaphore_try_acquire_and_contended() {
    let sem = Semaphore::new(2);
    assert!(sem.try_acquire());
    assert!(sem.try_acquire());
    assert!(!sem.try_acquire());
    sem.release().unwrap();
    assert!(sem.try_acquire());

    let sem = Semaphore::new(4);
    sem.acquire();
    let results = Mutex::new(Vec::new());
    bunch(5, || {
        let a = sem.try_acquire();
        let b = sem.try_acquire();
        results.lock().unwrap().extend([a, b]);
    });
    let mut r = results.into_inner().unwrap();
    r.sort_unstable();
    assert_eq!(r, [[false; 7].as_slice(), &[true; 3]].concat());
}

// lock_tests.BaseSemaphoreTests.test_acquire_timeout. Python's `acquire(False,
// timeout=1.0)` (`ValueError`) cannot be written: `try_acquire` takes no timeout.
#[test]
fn semaphore_acquire_timeout() {
    let sem = Semaphore::new(2);
    let t = Duration::from_millis(5);
    assert!(sem.acquire_timeout(t));
    assert!(sem.acquire_timeout(t));
    assert!(!sem.acquire_timeout(t));
    sem.release().unwrap();
    assert!(sem.acquire_timeout(t));
    let start = Instant::now();
    assert!(!sem.acquire_timeout(SHORT));
    assert_timeout(start.elapsed(), SHORT);
}

// lock_tests.BaseSemaphoreTests.test_default_value: one permit.
#[test]
fn semaphore_default_value_is_one() {
    for bounded in [false, true] {
        let (sem, bsem) = (Semaphore::default(), BoundedSemaphore::default());
        let acquire = || {
            if bounded {
                bsem.acquire()
            } else {
                sem.acquire()
            }
        };
        let release = || {
            if bounded {
                bsem.release().unwrap();
            } else {
                sem.release().unwrap();
            }
        };
        acquire();
        let finished = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                acquire();
                release();
                finished.store(true, Ordering::SeqCst);
            });
            thread::sleep(Duration::from_millis(10));
            assert!(!finished.load(Ordering::SeqCst));
            release();
        });
        assert!(finished.into_inner());
    }
}

// lock_tests.BaseSemaphoreTests.test_with: guards nest, and give their permit back
// when the block panics.
#[test]
fn semaphore_guards_nest_and_release_on_panic() {
    let sem = Semaphore::new(2);
    let with = |fail: bool| {
        let _a = sem.acquire_guard();
        assert!(sem.try_acquire());
        sem.release().unwrap();
        let _b = sem.acquire_guard();
        assert!(!sem.try_acquire());
        assert!(!fail, "TypeError");
    };
    with(false);
    assert!(sem.try_acquire());
    sem.release().unwrap();
    assert!(panic::catch_unwind(AssertUnwindSafe(|| with(true))).is_err());
    assert!(sem.try_acquire());
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

// lock_tests.SemaphoreTests.test_release_unacquired: an unbounded semaphore may be
// released above its initial value.
#[test]
fn semaphore_release_unacquired_adds_a_permit() {
    let sem = Semaphore::new(1);
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
    sem.acquire();
    sem.acquire();
    sem.release().unwrap();
}

// lock_tests.BoundedSemaphoreTests.test_release_unacquired
#[test]
fn bounded_semaphore_release_unacquired_is_overflow() {
    let sem = BoundedSemaphore::default();
    assert_eq!(sem.release(), Err(SemaphoreError::Overflow));
    sem.acquire();
    sem.release().unwrap();
    assert_eq!(sem.release(), Err(SemaphoreError::Overflow));
    // Python 3.11's release(n) checks `value + n > initial` before adding any.
    let sem = BoundedSemaphore::new(3);
    sem.acquire();
    assert_eq!(sem.release_many(2), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 2);
}

// test_threading.ThreadTests.test_BoundedSemaphore_limit
#[test]
fn bounded_semaphore_limit_across_threads() {
    for limit in 1..10 {
        let bs = BoundedSemaphore::new(limit);
        bunch(limit as usize, || bs.acquire());
        bunch(limit as usize, || bs.release().unwrap());
        assert_eq!(bs.release(), Err(SemaphoreError::Overflow));
    }
}

// ---------------------------------------------------------------------------------
// Barrier (lock_tests.BarrierTests: N = 5, default timeout 2 s)
// ---------------------------------------------------------------------------------

const N: usize = 5;

fn barrier() -> Barrier {
    Barrier::new(N as u32).with_timeout(Duration::from_secs(2))
}

// lock_tests.BarrierTests.test_barrier / test_barrier_10 (multipass)
#[test]
fn barrier_passes_in_lockstep_for_10_rounds() {
    let b = barrier();
    let (r0, r1) = (AtomicUsize::new(0), AtomicUsize::new(0));
    bunch(N, || {
        for i in 0..10 {
            r0.fetch_add(1, Ordering::SeqCst);
            assert_eq!(r1.load(Ordering::SeqCst), i * N);
            b.wait().unwrap();
            r1.fetch_add(1, Ordering::SeqCst);
            assert_eq!(r0.load(Ordering::SeqCst), (i + 1) * N);
            b.wait().unwrap();
        }
        assert!(!b.broken());
    });
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.parties(), N);
}

// lock_tests.BarrierTests.test_wait_return, and CPython's `index == parties - 1` for
// the party that runs the action (lock_tests.BarrierTests.test_action: once a round,
// before anybody is released).
#[test]
fn barrier_wait_returns_distinct_indices_and_the_last_runs_the_action() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static RAN_ACTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    let b = barrier().with_action(|| {
        RUNS.fetch_add(1, Ordering::SeqCst);
        RAN_ACTION.with(|r| r.set(true));
    });
    let indices = Mutex::new(Vec::new());
    bunch(N, || {
        let i = b.wait().unwrap();
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);
        assert_eq!(RAN_ACTION.with(|r| r.get()), i == N - 1, "index {i}");
        indices.lock().unwrap().push(i);
    });
    let mut indices = indices.into_inner().unwrap();
    indices.sort_unstable();
    assert_eq!(indices, (0..N).collect::<Vec<_>>());
}

// lock_tests.BarrierTests.test_abort
#[test]
fn barrier_abort_breaks_it_for_every_other_party() {
    let b = barrier();
    let (r1, r2) = (AtomicUsize::new(0), AtomicUsize::new(0));
    // As in CPython, a party released from the first round that has not yet returned
    // when the abort comes gets `BrokenBarrier` from that first wait (CPython's test
    // counts both waits' errors alike).
    bunch(N, || match b.wait() {
        Ok(i) if i == N / 2 => b.abort(),
        Ok(_) => match b.wait() {
            Ok(_) => drop(r1.fetch_add(1, Ordering::SeqCst)),
            Err(BrokenBarrier) => drop(r2.fetch_add(1, Ordering::SeqCst)),
        },
        Err(BrokenBarrier) => drop(r2.fetch_add(1, Ordering::SeqCst)),
    });
    assert_eq!((r1.into_inner(), r2.into_inner()), (0, N - 1));
    assert!(b.broken());
}

// lock_tests.BarrierTests.test_reset: a reset frees the waiting parties with
// `BrokenBarrier` and the barrier is usable again.
#[test]
fn barrier_reset_frees_waiters_and_it_passes_again() {
    let b = barrier();
    let (r1, r2, r3) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    bunch(N, || {
        let i = b.wait().unwrap();
        if i == N / 2 {
            wait_until("the others waiting", || b.n_waiting() == N - 1);
            b.reset();
        } else {
            match b.wait() {
                Ok(_) => r1.fetch_add(1, Ordering::SeqCst),
                Err(BrokenBarrier) => r2.fetch_add(1, Ordering::SeqCst),
            };
        }
        b.wait().unwrap();
        r3.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(
        (r1.into_inner(), r2.into_inner(), r3.into_inner()),
        (0, N - 1, N)
    );
}

// lock_tests.BarrierTests.test_abort_and_reset
#[test]
fn barrier_reset_after_abort_makes_it_usable() {
    let b = barrier();
    let b2 = Barrier::new(N as u32).with_timeout(SOON);
    let (r1, r2, r3) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    bunch(N, || {
        match b.wait() {
            Ok(i) if i == N / 2 => b.abort(),
            Ok(_) => match b.wait() {
                Ok(_) => drop(r1.fetch_add(1, Ordering::SeqCst)),
                Err(BrokenBarrier) => drop(r2.fetch_add(1, Ordering::SeqCst)),
            },
            Err(BrokenBarrier) => drop(r2.fetch_add(1, Ordering::SeqCst)),
        }
        if b2.wait().unwrap() == N / 2 {
            b.reset();
        }
        b2.wait().unwrap();
        b.wait().unwrap();
        r3.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(
        (r1.into_inner(), r2.into_inner(), r3.into_inner()),
        (0, N - 1, N)
    );
}

// lock_tests.BarrierTests.test_timeout: a late party makes the others' shorter
// timeouts break the barrier for everyone, the late one included.
#[test]
fn barrier_timeout_breaks_it_for_every_party() {
    let b = barrier();
    bunch(N, || {
        let i = b.wait().unwrap();
        if i == N / 2 {
            thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(
            b.wait_timeout(Duration::from_millis(100)),
            Err(BrokenBarrier)
        );
    });
    assert!(b.broken());
}

// lock_tests.BarrierTests.test_default_timeout
#[test]
fn barrier_default_timeout_breaks_it() {
    let timeout = Duration::from_millis(100);
    let b = Barrier::new(2).with_timeout(timeout);
    let start = Instant::now();
    bunch(1, || assert_eq!(b.wait(), Err(BrokenBarrier)));
    assert_timeout(start.elapsed(), timeout);
    assert!(b.broken());
}

// lock_tests.BarrierTests.test_single_thread
#[test]
fn barrier_of_one_party_never_waits() {
    let b = Barrier::new(1);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
    // Python's `Barrier(1).wait(0)`: the last party never waits, so no timeout applies.
    assert_eq!(b.wait_timeout(Duration::ZERO), Ok(0));
    assert_eq!(b.wait_until(Instant::now()), Ok(0));
    assert!(!b.broken());
}

// lock_tests.BarrierTests (wait(timeout)): the party that completes a round is released
// even with a zero timeout (Python: `b.wait(0)` by the last party returns its index).
#[test]
fn barrier_last_party_with_a_zero_timeout_completes_the_round() {
    let b = Barrier::new(2);
    thread::scope(|s| {
        let first = s.spawn(|| b.wait_timeout(SOON));
        wait_until("the first party waiting", || b.n_waiting() == 1);
        assert_eq!(b.wait_timeout(Duration::ZERO), Ok(1));
        assert_eq!(first.join().unwrap(), Ok(0));
    });
    assert!(!b.broken());
}

// lock_tests.BarrierTests (constructor): `Barrier(0)` is a `ValueError`.
#[test]
fn barrier_of_zero_parties_is_an_error() {
    assert!(Barrier::try_new(0).is_err());
    assert!(Barrier::try_new(1).is_ok());
}

// ---------------------------------------------------------------------------------
// Thread (test_threading)
// ---------------------------------------------------------------------------------

// test_threading.ThreadTests.test_name: a given name is kept; an empty name (Python:
// any false name) gives the default `Thread-N`.
#[test]
fn thread_empty_name_gets_the_default_name() {
    let t = Thread::builder().name("myname1").target(|| {});
    assert_eq!(t.name(), "myname1");
    let t = Thread::builder().name("").target(|| {});
    assert!(t.name().starts_with("Thread-"), "{:?}", t.name());
    let h = Thread::builder()
        .name("")
        .spawn(|| current_thread().name())
        .unwrap();
    assert!(h.join().unwrap().starts_with("Thread-"));
}

// test_threading.ThreadTests.test_various_ops: ident unset before start; distinct
// native ids while running; joined threads are not alive and keep their ident.
#[test]
fn thread_various_ops() {
    let sema = BoundedSemaphore::new(3);
    let running = AtomicUsize::new(0);
    let gate = Arc::new(Event::new());
    let threads: Vec<Thread> = (0..10)
        .map(|_| {
            let gate = gate.clone();
            Thread::new(move || assert!(gate.wait_timeout(SOON)))
        })
        .collect();
    for t in &threads {
        assert_eq!(t.ident(), None);
        assert!(format!("{t:?}").contains(", initial"), "{t:?}");
        t.start().unwrap();
    }
    let mut native: Vec<u64> = threads.iter().map(|t| t.native_id().unwrap()).collect();
    native.push(threading::get_native_id());
    native.sort_unstable();
    native.dedup();
    assert_eq!(native.len(), 11);
    gate.set();
    for t in &threads {
        t.join().unwrap();
        assert!(!t.is_alive());
        assert!(t.ident().is_some_and(|i| i != 0));
        let repr = format!("{t:?}");
        assert!(repr.contains(", stopped "), "{repr}");
    }
    // The semaphore part of the CPython test: at most 3 at once.
    bunch(10, || {
        let _p = sema.acquire_guard();
        let n = running.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(n <= 3);
        thread::sleep(Duration::from_millis(1));
        running.fetch_sub(1, Ordering::SeqCst);
    });
}

// test_threading.ThreadTests.test_enumerate_after_join
#[test]
fn thread_not_enumerated_after_join() {
    for _ in 0..20 {
        let t = Thread::new(|| {});
        t.start().unwrap();
        t.join().unwrap();
        assert!(!enumerate().contains(&t));
    }
}

// test_threading.ThreadTests.test_repr_daemon / test_daemon_param
#[test]
fn thread_daemon_param_and_repr() {
    let t = Thread::builder().daemon(false).target(|| {});
    assert!(!t.daemon());
    assert!(!format!("{t:?}").contains("daemon"));
    t.set_daemon(true).unwrap();
    assert!(format!("{t:?}").contains("daemon"));
    let t = Thread::builder().daemon(true).target(|| {});
    assert!(t.daemon());
}

// test_threading.ThreadingExceptionTests: test_start_thread_again,
// test_joining_current_thread, test_joining_inactive_thread,
// test_daemonize_active_thread
#[test]
fn thread_runtime_errors() {
    let t = Thread::new(|| {});
    assert!(matches!(t.join(), Err(ThreadError::NotStarted)));
    assert!(matches!(
        t.join_timeout(SHORT),
        Err(ThreadError::NotStarted)
    ));
    t.start().unwrap();
    assert!(matches!(t.start(), Err(ThreadError::AlreadyStarted)));
    assert!(matches!(
        t.set_daemon(true),
        Err(ThreadError::DaemonAfterStart)
    ));
    t.join().unwrap();
    let h = threading::spawn(|| {
        let me = current_thread();
        matches!(me.join(), Err(ThreadError::JoinSelf))
    });
    assert!(h.join().unwrap());
}

// ---------------------------------------------------------------------------------
// queue.Queue / LifoQueue / PriorityQueue (test_queue.BaseQueueTestMixin)
// ---------------------------------------------------------------------------------

const QUEUE_SIZE: usize = 5;

/// Runs `$body` once for each queue type, `$q` bound to a fresh queue of
/// `$maxsize` items and `$kind` to its Python name.
macro_rules! for_each_queue {
    (|$q:ident: $maxsize:expr, $kind:ident| $body:block) => {{
        {
            let $q: Queue<i64> = Queue::new($maxsize);
            let $kind = "Queue";
            $body
        }
        {
            let $q: LifoQueue<i64> = LifoQueue::new($maxsize);
            let $kind = "LifoQueue";
            $body
        }
        {
            let $q: PriorityQueue<i64> = PriorityQueue::new($maxsize);
            let $kind = "PriorityQueue";
            $body
        }
    }};
}

// test_queue.BaseQueueTestMixin.test_basic (basic_queue_test, twice on one queue)
#[test]
fn queue_basic() {
    for_each_queue!(|q: QUEUE_SIZE, kind| {
        for _ in 0..2 {
            assert_eq!(q.qsize(), 0);
            assert!(q.empty() && !q.full());
            for x in [111, 333, 222] {
                q.put(x).unwrap();
            }
            let order = [q.get().unwrap(), q.get().unwrap(), q.get().unwrap()];
            let want = match kind {
                "Queue" => [111, 333, 222],
                "LifoQueue" => [222, 333, 111],
                _ => [111, 222, 333],
            };
            assert_eq!(order, want, "{kind}");
            for i in 0..QUEUE_SIZE as i64 - 1 {
                q.put(i).unwrap();
                assert!(q.qsize() > 0);
            }
            assert!(!q.full());
            q.put(2 * QUEUE_SIZE as i64).unwrap();
            assert!(q.full() && !q.empty());
            assert_eq!(q.put_nowait(30), Err(Full(30)));
            assert_eq!(q.put_timeout(30, Duration::from_millis(10)), Err(Full(30)));
            // A blocking put, released by a get (do_blocking_test), plain and timed.
            thread::scope(|s| {
                let getter = s.spawn(|| {
                    thread::sleep(Duration::from_millis(5));
                    q.get().unwrap()
                });
                q.put(30).unwrap();
                getter.join().unwrap();
                let getter = s.spawn(|| {
                    thread::sleep(Duration::from_millis(5));
                    q.get().unwrap()
                });
                q.put_timeout(30, SOON).unwrap();
                getter.join().unwrap();
            });
            for _ in 0..QUEUE_SIZE {
                q.get().unwrap();
            }
            assert_eq!(q.qsize(), 0);
            assert_eq!(q.get_nowait(), Err(Empty));
            assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(Empty));
            // A blocking get, released by a put, plain and timed.
            thread::scope(|s| {
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(5));
                    q.put(-7).unwrap();
                });
                assert_eq!(q.get(), Ok(-7));
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(5));
                    q.put(-8).unwrap();
                });
                assert_eq!(q.get_timeout(SOON), Ok(-8));
            });
            // Tasks: every put above is one; finish them for the second pass.
            while q.task_done().is_ok() {}
        }
    });
}

// test_queue.BaseQueueTestMixin.test_queue_task_done
#[test]
fn queue_task_done_on_a_fresh_queue_is_an_error() {
    for_each_queue!(|q: 0, kind| {
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls), "{kind}");
    });
    let q: Queue<i64> = Queue::new(QUEUE_SIZE);
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
}

// test_queue.BaseQueueTestMixin.test_queue_join (queue_join_test twice): join waits
// for every task_done, can be called twice, and a task_done too many is an error.
#[test]
fn queue_join_waits_for_every_task() {
    fn join_test<Q: Sync>(
        q: &Q,
        put: impl Fn(&Q, i64) + Sync,
        get: impl Fn(&Q) -> i64 + Sync,
        done: impl Fn(&Q) + Sync,
        join: impl Fn(&Q),
    ) {
        let cum = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    let x = get(q);
                    if x < 0 {
                        done(q);
                        return;
                    }
                    cum.fetch_add(x as usize, Ordering::SeqCst);
                    done(q);
                });
            }
            for i in 0..100 {
                put(q, i);
            }
            join(q);
            assert_eq!(cum.load(Ordering::SeqCst), (0..100).sum::<usize>());
            put(q, -1);
            put(q, -1);
            join(q);
        });
    }
    macro_rules! check {
        ($q:expr) => {{
            let q = $q;
            for _ in 0..2 {
                join_test(
                    &q,
                    |q, x| q.put(x).unwrap(),
                    |q| q.get_timeout(SOON).unwrap(),
                    |q| q.task_done().unwrap(),
                    |q| assert!(q.join_timeout(SOON)),
                );
            }
            assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
        }};
    }
    check!(Queue::<i64>::new(0));
    check!(Queue::<i64>::new(QUEUE_SIZE));
    check!(LifoQueue::<i64>::new(0));
    check!(PriorityQueue::<i64>::new(0));
}

// test_queue.BaseQueueTestMixin.test_nowait
#[test]
fn queue_nowait() {
    for_each_queue!(|q: QUEUE_SIZE, kind| {
        for _ in 0..QUEUE_SIZE {
            q.put_nowait(1).unwrap();
        }
        assert_eq!(q.put_nowait(1), Err(Full(1)), "{kind}");
        for _ in 0..QUEUE_SIZE {
            q.get_nowait().unwrap();
        }
        assert_eq!(q.get_nowait(), Err(Empty), "{kind}");
    });
}

// test_queue.BaseQueueTestMixin.test_negative_timeout_raises_exception: Python's
// `ValueError: 'timeout' must be a non-negative number` cannot happen (a `Duration`
// is never negative). The nearest Rust input, a zero timeout, tries once.
#[test]
fn queue_zero_timeout_tries_once() {
    for_each_queue!(|q: 1, kind| {
        assert_eq!(q.get_timeout(Duration::ZERO), Err(Empty), "{kind}");
        q.put_timeout(1, Duration::ZERO).unwrap();
        assert_eq!(q.put_timeout(2, Duration::ZERO), Err(Full(2)));
        assert_eq!(q.get_timeout(Duration::ZERO), Ok(1));
    });
}

// test_queue.BaseQueueTestMixin.test_shrinking_queue (issue 10110). A bounded `Queue`
// is a fixed-size lock-free ring: its maxsize cannot change (`FixedCapacity`,
// documented on `Queue::set_maxsize`); LifoQueue and PriorityQueue shrink as Python's.
#[test]
fn queue_shrinking() {
    let q: LifoQueue<i64> = LifoQueue::new(3);
    let p: PriorityQueue<i64> = PriorityQueue::new(3);
    for x in 1..=3 {
        q.put(x).unwrap();
        p.put(x).unwrap();
    }
    assert_eq!(q.put_nowait(4), Err(Full(4)));
    assert_eq!(p.put_nowait(4), Err(Full(4)));
    assert_eq!((q.qsize(), p.qsize()), (3, 3));
    q.set_maxsize(2).unwrap();
    p.set_maxsize(2).unwrap();
    assert_eq!(q.put_nowait(4), Err(Full(4)));
    assert_eq!(p.put_nowait(4), Err(Full(4)));
    assert!(q.full() && p.full());

    let q: Queue<i64> = Queue::new(3);
    for x in 1..=3 {
        q.put(x).unwrap();
    }
    assert_eq!(q.set_maxsize(2), Err(FixedCapacity));
    assert_eq!((q.maxsize(), q.qsize()), (3, 3));
    // An unbounded `Queue` (not a ring) can take a bound, as Python's.
    let q: Queue<i64> = Queue::new(0);
    for x in 1..=3 {
        q.put(x).unwrap();
    }
    q.set_maxsize(2).unwrap();
    assert_eq!(q.put_nowait(4), Err(Full(4)));
}

// test_queue: Python's `maxsize <= 0` is unbounded (`maxsize == 0` here).
#[test]
fn queue_maxsize_zero_is_unbounded() {
    for_each_queue!(|q: 0, kind| {
        for i in 0..1000 {
            q.put_nowait(i).unwrap();
        }
        assert!(!q.full(), "{kind}");
        assert_eq!((q.maxsize(), q.qsize()), (0, 1000));
    });
}

// test_queue.FailingQueueTest: a `_put` / `_get` that raises leaves the queue usable.
// The Rust counterpart of user code inside a put or get is `Ord` of a PriorityQueue's
// items; see tests/panic_safety.rs (`priority_queue_usable_after_ord_panics_*`).

// --- 3.13's shutdown (test_queue.BaseQueueTestMixin.test_shutdown_*) ---

// test_shutdown_empty / test_shutdown_nonempty / test_shutdown_immediate
#[test]
fn queue_shutdown_empty_nonempty_immediate() {
    for_each_queue!(|q: 0, kind| {
        q.shutdown(false);
        assert_eq!(q.put(1), Err(PutError::ShutDown(1)), "{kind}");
        assert_eq!(q.get(), Err(ShutDown));
    });
    for_each_queue!(|q: 0, kind| {
        q.put(1).unwrap();
        q.shutdown(false);
        assert_eq!(q.get(), Ok(1), "{kind}");
        assert_eq!(q.get(), Err(ShutDown));
    });
    for_each_queue!(|q: 0, kind| {
        q.put(1).unwrap();
        q.shutdown(true);
        assert_eq!(q.get(), Err(ShutDown), "{kind}");
    });
}

// test_shutdown_allowed_transitions
#[test]
fn queue_shutdown_allowed_transitions() {
    for_each_queue!(|q: 0, kind| {
        assert!(!q.is_shutdown(), "{kind}");
        q.shutdown(false);
        assert!(q.is_shutdown());
        q.shutdown(true);
        assert!(q.is_shutdown());
        q.shutdown(false);
        assert!(q.is_shutdown());
    });
}

// test_shutdown_all_methods_in_one_thread / test_shutdown_immediate_all_methods_in_one_thread
#[test]
fn queue_shutdown_all_methods_in_one_thread() {
    for immediate in [false, true] {
        for_each_queue!(|q: 2, kind| {
            q.put(1).unwrap();
            q.put_nowait(2).unwrap();
            q.shutdown(immediate);
            // A full queue after shutdown: `ShutDown`, not `Full`.
            assert_eq!(q.put(3), Err(PutError::ShutDown(3)), "{kind}");
            assert_eq!(q.put_nowait(4), Err(PutError::ShutDown(4)), "{kind}");
            assert_eq!(q.put_timeout(5, SHORT), Err(PutError::ShutDown(5)));
            if immediate {
                assert_eq!(q.get(), Err(ShutDown));
                assert_eq!(q.get_nowait(), Err(ShutDown));
                assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls), "{kind}");
                assert!(q.join_timeout(SOON));
            } else {
                assert!([1, 2].contains(&q.get().unwrap()));
                q.task_done().unwrap();
                assert!([1, 2].contains(&q.get().unwrap()));
                q.task_done().unwrap();
                assert!(q.join_timeout(SOON));
                assert_eq!(q.get(), Err(ShutDown));
                assert_eq!(q.get_nowait(), Err(ShutDown));
                assert_eq!(q.get_timeout(Duration::from_secs(1)), Err(ShutDown));
            }
        });
    }
}

// test_shutdown_join / test_shutdown_immediate_join: joiners are released by the
// drain (immediate) or by the getters' task_done (not immediate).
#[test]
fn queue_shutdown_join() {
    for immediate in [false, true] {
        for_each_queue!(|q: 0, kind| {
            q.put(7).unwrap();
            let go = Event::new();
            thread::scope(|s| {
                let joiners: Vec<_> = (0..2).map(|_| s.spawn(|| q.join_timeout(SOON))).collect();
                if !immediate {
                    s.spawn(|| {
                        assert!(go.wait_timeout(SOON));
                        q.get().unwrap();
                        q.task_done().unwrap();
                    });
                }
                q.shutdown(immediate);
                go.set();
                for j in joiners {
                    assert!(j.join().unwrap(), "{kind} immediate={immediate}");
                }
            });
        });
    }
}

// test_shutdown_put_join / test_shutdown_immediate_put_join: a putter blocked on a
// full queue gets `ShutDown`; the joiner is released once the queued item is done.
#[test]
fn queue_shutdown_put_join() {
    for immediate in [false, true] {
        for_each_queue!(|q: 1, kind| {
            q.put(7).unwrap();
            thread::scope(|s| {
                let putter = s.spawn(|| q.put_timeout(8, SOON));
                let joiner = s.spawn(|| q.join_timeout(SOON));
                thread::sleep(Duration::from_millis(10));
                assert_eq!(q.unfinished_tasks(), 1, "{kind}");
                q.shutdown(immediate);
                if immediate {
                    assert_eq!(q.get_nowait(), Err(ShutDown));
                } else {
                    assert_eq!(q.get(), Ok(7));
                    q.task_done().unwrap();
                }
                assert_eq!(putter.join().unwrap(), Err(PutError::ShutDown(8)), "{kind}");
                assert!(joiner.join().unwrap());
            });
        });
    }
}

// 3.13's shutdown(immediate=True) counts only the drained items done: an item taken
// before it stays unfinished until its task_done (join waits for it).
#[test]
fn queue_immediate_shutdown_keeps_taken_tasks_unfinished() {
    for_each_queue!(|q: 4, kind| {
        q.put(1).unwrap();
        q.put(2).unwrap();
        q.get().unwrap();
        q.shutdown(true);
        assert_eq!(q.unfinished_tasks(), 1, "{kind}");
        assert!(!q.join_timeout(Duration::from_millis(10)));
        q.task_done().unwrap();
        assert!(q.join_timeout(SOON));
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    });
}

// test_shutdown_get_task_done_join
#[test]
fn queue_shutdown_get_task_done_join() {
    for_each_queue!(|q: 2, kind| {
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.unfinished_tasks(), q.qsize());
        let go = Event::new();
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    assert!(go.wait_timeout(SOON));
                    q.get().unwrap();
                    q.task_done().unwrap();
                });
            }
            let joiners: Vec<_> = (0..2).map(|_| s.spawn(|| q.join_timeout(SOON))).collect();
            go.set();
            q.shutdown(false);
            for j in joiners {
                assert!(j.join().unwrap(), "{kind}");
            }
        });
    });
}

// test_shutdown_pending_get
#[test]
fn queue_shutdown_wakes_a_pending_get() {
    for_each_queue!(|q: 0, kind| {
        thread::scope(|s| {
            let getter = s.spawn(|| q.get_timeout(SOON));
            thread::sleep(Duration::from_millis(10));
            q.shutdown(false);
            assert_eq!(getter.join().unwrap(), Err(ShutDown), "{kind}");
        });
    });
}

// ---------------------------------------------------------------------------------
// SimpleQueue (test_queue.BaseSimpleQueueTest)
// ---------------------------------------------------------------------------------

// test_queue.BaseSimpleQueueTest.test_basic
#[test]
fn simple_queue_basic() {
    let q = SimpleQueue::new();
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    q.put(1);
    assert!(!q.empty());
    assert_eq!(q.qsize(), 1);
    q.put(2);
    q.put_nowait(3);
    q.put(4);
    assert_eq!(q.qsize(), 4);
    assert_eq!(q.get(), 1);
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(q.get_nowait(), Ok(3));
    assert_eq!(q.get_timeout(Duration::from_millis(100)), Ok(4));
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err::<i32, _>(GetError::Empty));
    assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Empty));
    assert_eq!(q.qsize(), 0);
}

// test_queue.BaseSimpleQueueTest.test_order / test_many_threads /
// test_many_threads_nonblock / test_many_threads_timeout (8 threads a side, 2000
// items, instead of 50 and 10000)
#[test]
fn simple_queue_order_and_many_threads() {
    const SENTINEL: i64 = -1;
    let run = |n: usize, items: i64, consume: &(dyn Fn(&SimpleQueue<i64>) -> i64 + Sync)| {
        let q = SimpleQueue::new();
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as i64;
                    if i >= items {
                        q.put(SENTINEL);
                        return;
                    }
                    q.put(i);
                });
                s.spawn(|| loop {
                    let v = consume(&q);
                    if v == SENTINEL {
                        return;
                    }
                    results.lock().unwrap().push(v);
                });
            }
        });
        assert!(q.empty());
        results.into_inner().unwrap()
    };
    let blocking = |q: &SimpleQueue<i64>| q.get();
    let nonblock = |q: &SimpleQueue<i64>| loop {
        match q.get_nowait() {
            Ok(v) => return v,
            Err(_) => thread::yield_now(),
        }
    };
    let timeout = |q: &SimpleQueue<i64>| loop {
        if let Ok(v) = q.get_timeout(Duration::from_micros(10)) {
            return v;
        }
    };
    assert_eq!(run(1, 100, &blocking), (0..100).collect::<Vec<_>>());
    for consume in [
        &blocking as &(dyn Fn(&SimpleQueue<i64>) -> i64 + Sync),
        &nonblock,
        &timeout,
    ] {
        let mut r = run(8, 2000, consume);
        r.sort_unstable();
        assert_eq!(r, (0..2000).collect::<Vec<_>>());
    }
}

// test_queue.BaseSimpleQueueTest.test_references: the queue keeps no reference to an
// item once it has been taken (here: every queue type).
#[test]
fn queues_keep_no_reference_to_a_taken_item() {
    let item = Arc::new(());
    let sq = SimpleQueue::new();
    let q = Queue::new(QUEUE_SIZE);
    let uq = Queue::new(0);
    let lq = LifoQueue::new(0);
    for _ in 0..QUEUE_SIZE {
        sq.put(item.clone());
        q.put(item.clone()).unwrap();
        uq.put(item.clone()).unwrap();
        lq.put(item.clone()).unwrap();
    }
    for _ in 0..QUEUE_SIZE {
        drop(sq.get());
        drop(q.get().unwrap());
        drop(uq.get().unwrap());
        drop(lq.get().unwrap());
    }
    assert_eq!(Arc::strong_count(&item), 1);
}
