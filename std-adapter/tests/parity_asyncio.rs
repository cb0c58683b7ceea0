//! Parity of conkit's async forms with CPython 3.11's asyncio tests
//! (`Lib/test/test_asyncio/test_locks.py`, `test_queues.py`). Each test names the
//! CPython test it mirrors. A task's cancellation is the drop of its pending future
//! (polled at least once). Futures are polled by hand with a waker that records its
//! call (deterministic), or run on tokio's current-thread runtime (asyncio's one
//! thread). Every test runs under a watchdog: a lost wake-up fails instead of hanging.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use conkit::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue};
use conkit::threading::{
    Barrier, BoundedSemaphore, BrokenBarrier, Condition, ConditionError, Event, Lock,
    Semaphore,
};

#[path = "common/tasks.rs"]
mod tasks;

use tasks::{flag, watchdog};

/// tokio's current-thread runtime (asyncio's one thread), in a `LocalSet` so that
/// tasks holding a (non-`Send`) condition guard can be spawned (`spawn_local`).
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(tokio::task::LocalSet::new().run_until(f))
}

/// One poll of `f` with the waker `w`.
fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

/// A boxed future, pollable by hand and droppable (= cancelled).
fn boxed<'a, T>(f: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(f)
}

// ---------------------------------------------------------------- Lock

// LockTests.test_acquire_cancel: a cancelled acquire leaves the lock as it was.
#[test]
fn lock_acquire_cancel() {
    watchdog(|| {
        let lock = Lock::new();
        lock.acquire();
        let (_f, w) = flag();
        let mut a = boxed(lock.acquire_async());
        assert!(poll(a.as_mut(), &w).is_pending());
        drop(a);
        lock.release().unwrap();
        assert!(!lock.locked());
        let mut b = boxed(lock.acquire_async());
        assert_eq!(poll(b.as_mut(), &w), Poll::Ready(()));
        assert!(lock.locked());
    });
}

// LockTests.test_cancel_race / test_cancel_release_race / test_finished_waiter_cancelled:
// waiters A, B, C; the lock is released (A is woken) and A is cancelled before it runs:
// the release is not lost, B gets the lock, then C on the next release.
#[test]
fn lock_woken_waiter_cancelled_passes_the_lock_on() {
    watchdog(|| {
        let lock = Lock::new();
        lock.acquire();
        let (_fa, wa) = flag();
        let (fb, wb) = flag();
        let (fc, wc) = flag();
        let mut a = boxed(lock.acquire_async());
        let mut b = boxed(lock.acquire_async());
        let mut c = boxed(lock.acquire_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(poll(b.as_mut(), &wb).is_pending());
        assert!(poll(c.as_mut(), &wc).is_pending());
        lock.release().unwrap();
        drop(a); // cancelled after the release woke it
        assert!(fb.0.load(Ordering::SeqCst), "B not woken");
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(()));
        if fc.0.swap(false, Ordering::SeqCst) {
            assert!(poll(c.as_mut(), &wc).is_pending());
        }
        lock.release().unwrap();
        assert!(fc.0.load(Ordering::SeqCst), "C not woken");
        assert_eq!(poll(c.as_mut(), &wc), Poll::Ready(()));
        lock.release().unwrap();
        assert!(!lock.locked());
    });
}

// LockTests.test_acquire (the order part): waiters that are never cancelled all get
// the lock, one at a time, in a current-thread runtime.
#[test]
fn lock_waiters_all_acquire_in_turn() {
    watchdog(|| {
        static LOCK: Lock = Lock::new();
        let order = run(async {
            LOCK.acquire();
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let ts: Vec<_> = (0..3)
                .map(|i| {
                    let order = order.clone();
                    tokio::task::spawn_local(async move {
                        let _g = LOCK.lock_async().await;
                        order.lock().unwrap().push(i);
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            LOCK.release().unwrap();
            for t in ts {
                t.await.unwrap();
            }
            let v = order.lock().unwrap().clone();
            v
        });
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2]);
        assert!(!LOCK.locked());
    });
}

// Documented difference (LockTests.test_acquire, asyncio 3.11's `acquire` fast path):
// asyncio.Lock queues a new acquirer behind existing waiters; conkit's Lock barges —
// a running caller may take a just-released lock before the woken waiter runs.
#[test]
fn lock_barges_unlike_asyncio() {
    watchdog(|| {
        let lock = Lock::new();
        lock.acquire();
        let (fa, wa) = flag();
        let mut a = boxed(lock.acquire_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        lock.release().unwrap();
        assert!(fa.0.load(Ordering::SeqCst));
        assert!(lock.try_acquire(), "the barging caller takes it");
        assert!(poll(a.as_mut(), &wa).is_pending(), "the waiter waits again");
        lock.release().unwrap();
        assert_eq!(poll(a.as_mut(), &wa), Poll::Ready(()));
        lock.release().unwrap();
    });
}

// ---------------------------------------------------------------- Event

// EventTests.test_wait / test_wait_on_set: set wakes every waiter; a wait after set
// returns at once.
#[test]
fn event_wait_and_wait_on_set() {
    watchdog(|| {
        let ev = Event::new();
        let (f1, w1) = flag();
        let (f2, w2) = flag();
        let mut a = boxed(ev.wait_async());
        let mut b = boxed(ev.wait_async());
        assert!(poll(a.as_mut(), &w1).is_pending());
        assert!(poll(b.as_mut(), &w2).is_pending());
        ev.set();
        assert!(f1.0.load(Ordering::SeqCst) && f2.0.load(Ordering::SeqCst));
        assert_eq!(poll(a.as_mut(), &w1), Poll::Ready(()));
        assert_eq!(poll(b.as_mut(), &w2), Poll::Ready(()));
        let mut c = boxed(ev.wait_async());
        assert_eq!(poll(c.as_mut(), &w1), Poll::Ready(()));
    });
}

// EventTests.test_wait_cancel: a cancelled waiter is gone; a later set still wakes the
// others.
#[test]
fn event_wait_cancel() {
    watchdog(|| {
        let ev = Event::new();
        let (_f1, w1) = flag();
        let (f2, w2) = flag();
        let mut a = boxed(ev.wait_async());
        let mut b = boxed(ev.wait_async());
        assert!(poll(a.as_mut(), &w1).is_pending());
        assert!(poll(b.as_mut(), &w2).is_pending());
        drop(a);
        ev.set();
        assert!(f2.0.load(Ordering::SeqCst));
        assert_eq!(poll(b.as_mut(), &w2), Poll::Ready(()));
    });
}

// EventTests.test_clear_with_waiters: set() then clear() before the waiters run: the
// waiters still return (they were woken by the set).
#[test]
fn event_set_then_clear_still_releases_waiters() {
    watchdog(|| {
        let ev = Event::new();
        let (_f1, w1) = flag();
        let (_f2, w2) = flag();
        let mut a = boxed(ev.wait_async());
        let mut b = boxed(ev.wait_async());
        assert!(poll(a.as_mut(), &w1).is_pending());
        assert!(poll(b.as_mut(), &w2).is_pending());
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        assert_eq!(poll(a.as_mut(), &w1), Poll::Ready(()));
        assert_eq!(poll(b.as_mut(), &w2), Poll::Ready(()));
    });
}

// ---------------------------------------------------------------- Condition

// ConditionTests.test_wait_unacquired / test_notify_unacquired.
#[test]
fn condition_wait_and_notify_unacquired() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        assert_eq!(run(cond.wait_async()), Err(ConditionError::NotOwned));
        assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
        assert_eq!(cond.notify_all(), Err(ConditionError::NotOwned));
    });
}

// ConditionTests.test_wait / test_notify / test_notify_all: FIFO wake, notify(n) counts.
#[test]
fn condition_notify_n_wakes_oldest_first() {
    watchdog(|| {
        static COND: Condition<Lock> = Condition::with_lock(Lock::new());
        let order = run(async {
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let ts: Vec<_> = (0..4)
                .map(|i| {
                    let order = order.clone();
                    tokio::task::spawn_local(async move {
                        let _g = COND.lock_async().await;
                        COND.wait_async().await.unwrap();
                        order.lock().unwrap().push(i);
                    })
                })
                .collect();
            while COND.waiters() < 4 {
                tokio::task::yield_now().await;
            }
            {
                let _g = COND.lock_async().await;
                assert_eq!(COND.notify(1), Ok(1));
            }
            while order.lock().unwrap().len() < 1 {
                tokio::task::yield_now().await;
            }
            {
                let _g = COND.lock_async().await;
                assert_eq!(COND.notify(2), Ok(2));
            }
            while order.lock().unwrap().len() < 3 {
                tokio::task::yield_now().await;
            }
            {
                let _g = COND.lock_async().await;
                assert_eq!(COND.notify_all(), Ok(1));
                assert_eq!(COND.notify_all(), Ok(0));
            }
            for t in ts {
                t.await.unwrap();
            }
            let v = order.lock().unwrap().clone();
            v
        });
        assert_eq!(order, [0, 1, 2, 3]);
    });
}

// ConditionTests.test_wait_for: the predicate is checked before and after each wake.
#[test]
fn condition_wait_for() {
    watchdog(|| {
        static COND: Condition<Lock> = Condition::with_lock(Lock::new());
        static PRESENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        run(async {
            let t = tokio::task::spawn_local(async {
                let _g = COND.lock_async().await;
                let mut calls = 0;
                COND.wait_for_async(|| {
                    calls += 1;
                    PRESENCE.load(Ordering::SeqCst) == 2
                })
                .await
                .unwrap();
                calls
            });
            for v in 1..=2 {
                while COND.waiters() < 1 {
                    tokio::task::yield_now().await;
                }
                let _g = COND.lock_async().await;
                PRESENCE.store(v, Ordering::SeqCst);
                COND.notify(1).unwrap();
            }
            assert_eq!(t.await.unwrap(), 3);
        });
    });
}

// ConditionTests.test_wait_cancel: a waiter cancelled before any notify gives its place
// up; the next notify reaches the next waiter.
#[test]
fn condition_wait_cancel_before_notify() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        let (fb, wb) = flag();
        cond.acquire();
        let mut a = boxed(cond.wait_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        cond.acquire();
        let mut b = boxed(cond.wait_async());
        assert!(poll(b.as_mut(), &wb).is_pending());
        drop(a);
        assert_eq!(cond.waiters(), 1);
        cond.acquire();
        assert_eq!(cond.notify(1), Ok(1));
        cond.release().unwrap();
        assert!(fb.0.load(Ordering::SeqCst));
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
        cond.release().unwrap();
        assert!(!cond.get_lock().locked());
    });
}

// ConditionTests.test_wait_cancel_after_notify / test_wait_cancel_contested: a waiter
// notified, then cancelled before it re-took the lock, passes the notify on (no
// wake-up is swallowed).
#[test]
fn condition_wait_cancel_after_notify_passes_it_on() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        let (fb, wb) = flag();
        cond.acquire();
        let mut a = boxed(cond.wait_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        cond.acquire();
        let mut b = boxed(cond.wait_async());
        assert!(poll(b.as_mut(), &wb).is_pending());
        cond.acquire();
        assert_eq!(cond.notify(1), Ok(1)); // reaches A
        drop(a); // cancelled while re-taking the (held) lock
        cond.release().unwrap();
        assert!(fb.0.load(Ordering::SeqCst), "the notify was swallowed");
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
        cond.release().unwrap();
        assert!(!cond.get_lock().locked());
    });
}
