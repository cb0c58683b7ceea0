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
    Barrier, BoundedSemaphore, BrokenBarrier, Condition, ConditionError, Event, Lock, Semaphore,
};

#[path = "common/tasks.rs"]
mod tasks;

use tasks::{flag, watchdog};

/// tokio's current-thread runtime (asyncio's one thread), in a `LocalSet` so that
/// tasks holding a (non-`Send`) condition guard can be spawned (`spawn_local`).
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
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
            while order.lock().unwrap().is_empty() {
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
// up and holds the lock again (asyncio: `cond.locked()` after the CancelledError); the
// next notify reaches the next waiter.
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
        assert!(
            cond.get_lock().locked(),
            "the cancelled wait holds the lock again"
        );
        assert_eq!(cond.notify(1), Ok(1));
        cond.release().unwrap(); // A's release (its `async with` block ends)
        assert!(fb.0.load(Ordering::SeqCst));
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
        cond.release().unwrap();
        assert!(!cond.get_lock().locked());
    });
}

// ConditionTests.test_wait_cancel_after_notify / test_wait_cancel_contested: a waiter
// notified, then cancelled while the notifier still holds the lock, passes the notify
// on (no wake-up is swallowed) and gets the lock back when the notifier releases it
// (asyncio: the cancelled wait re-takes the lock before it raises); its own release
// then lets the next waiter in.
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
        assert!(
            fb.0.swap(false, Ordering::SeqCst),
            "the notify was swallowed"
        );
        cond.release().unwrap(); // the notifier's release hands the lock to A
        assert!(cond.get_lock().locked());
        assert!(poll(b.as_mut(), &wb).is_pending());
        cond.release().unwrap(); // A's release
        assert!(fb.0.load(Ordering::SeqCst));
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
        cond.release().unwrap();
        assert!(!cond.get_lock().locked());
    });
}

// asyncio 3.13's ConditionTests (a waiter cancelled after its notify, while re-taking
// the lock): the `&self` form dropped while it awaits the lock the notifier holds passes
// the notify on too, and still gets the lock back (its release is the matching one).
#[test]
fn condition_wait_async_dropped_while_retaking_passes_the_notify_on() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        let (_fb, wb) = flag();
        cond.acquire();
        let mut a = boxed(cond.wait_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        cond.acquire();
        let mut b = boxed(cond.wait_async());
        assert!(poll(b.as_mut(), &wb).is_pending());
        cond.acquire();
        assert_eq!(cond.notify(1), Ok(1)); // reaches A
        assert!(
            poll(a.as_mut(), &wa).is_pending(),
            "the notifier holds the lock"
        );
        drop(a);
        assert_eq!(cond.waiters(), 0, "the notify was swallowed");
        cond.release().unwrap(); // the notifier's release hands the lock to A
        assert!(cond.get_lock().locked());
        cond.release().unwrap(); // A's release
        assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
        cond.release().unwrap();
        assert!(!cond.get_lock().locked());
    });
}

// Documented difference (issue #14): `wait_async(&self)` dropped (a runtime timeout)
// while another holds the lock cannot wait for it. The cancelled caller's guard is
// still alive, and until the other holder releases, both believe they hold the lock
// (that release is then handed to the cancelled caller, whose own release frees it).
// asyncio's cancelled `wait()` blocks in the re-take instead; the guard form below
// (`wait_guard_async`) has no such window.
#[test]
fn condition_wait_async_dropped_while_another_holds_the_lock_two_believe_they_hold_it() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        let a_guard = cond.lock(); // task A: async with cond:
        let mut a = boxed(cond.wait_async());
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(!cond.get_lock().locked(), "the wait released the lock");
        let b_guard = cond.lock(); // task B takes it
        drop(a); // A's timeout fires while B holds the lock
                 // The window: A's guard and B's guard both live, one acquisition behind them.
        assert!(cond.get_lock().locked());
        drop(b_guard); // handed to A instead of freeing it
        assert!(cond.get_lock().locked(), "B's release was owed to A");
        drop(a_guard);
        assert!(!cond.get_lock().locked());
    });
}

/// Issue #14 under tokio: task A waits with `tokio::time::timeout`; task B takes the
/// lock once A waits and holds it for 3× A's timeout. After its timeout A does what its
/// form lets it: the `&self` form (`guard_form == false`) leaves A's guard alive, so A
/// goes on in its critical section; the guard form leaves A without a guard, so A takes
/// the lock again first. Returns the most holders inside a critical section at once.
fn timeout_while_another_task_holds_the_lock(guard_form: bool) -> u32 {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;
    let cond: &'static Condition<Lock> = Box::leak(Box::new(Condition::with_lock(Lock::new())));
    let inside: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let max: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let enter = move || {
        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(n, Ordering::SeqCst);
    };
    let exit = move || {
        inside.fetch_sub(1, Ordering::SeqCst);
    };
    let give_up = Duration::from_millis(20);
    run(async move {
        let a = tokio::task::spawn_local(async move {
            let g = cond.lock_async().await;
            if guard_form {
                let waited = tokio::time::timeout(give_up, cond.wait_guard_async(g)).await;
                assert!(waited.is_err(), "nobody notifies");
                let g = cond.lock_async().await; // no guard left: take the lock again
                enter();
                tokio::task::yield_now().await;
                exit();
                drop(g);
            } else {
                let waited = tokio::time::timeout(give_up, cond.wait_async()).await;
                assert!(waited.is_err(), "nobody notifies");
                enter(); // the guard `g` is alive: A believes it holds the lock
                tokio::task::yield_now().await;
                exit();
                drop(g);
            }
        });
        let b = tokio::task::spawn_local(async move {
            while cond.waiters() < 1 {
                tokio::task::yield_now().await;
            }
            let g = cond.lock_async().await;
            enter();
            tokio::time::sleep(give_up * 3).await; // across A's timeout
            exit();
            drop(g);
        });
        a.await.unwrap();
        b.await.unwrap();
    });
    assert!(!cond.get_lock().locked(), "a release was owed or lost");
    max.load(Ordering::SeqCst)
}

// Documented difference (issue #14), the same hole as above under tokio: `wait_async`
// given up by `tokio::time::timeout` while task B holds the lock lets task A run its
// critical section inside B's.
#[test]
fn condition_wait_async_timeout_while_another_task_holds_the_lock_overlaps_its_critical_section() {
    watchdog(|| assert_eq!(timeout_while_another_task_holds_the_lock(false), 2));
}

// Issue #14: the guard form given up by `tokio::time::timeout` while task B holds the
// lock: A has no guard afterwards and B's critical section is never overlapped.
#[test]
fn condition_guard_wait_timeout_while_another_task_holds_the_lock_never_overlaps() {
    watchdog(|| assert_eq!(timeout_while_another_task_holds_the_lock(true), 1));
}

/// Issue #14: the guard form's result, the guard or a panic.
fn ready_guard<T>(p: Poll<Result<T, ConditionError>>) -> T {
    match p {
        Poll::Ready(Ok(g)) => g,
        Poll::Ready(Err(e)) => panic!("wait failed: {e}"),
        Poll::Pending => panic!("wait still pending"),
    }
}

// Issue #14, the guard form (`wait_guard_async(guard)`): task A waits; B takes the lock;
// A's future is dropped (its timeout) while B holds the lock — asleep, or notified and
// re-taking the lock. A's guard went with the future: only B holds the lock, and B's
// release frees it (nothing owed). Dropped before its first poll, the wait never
// released the lock and its guard releases it.
#[test]
fn condition_guard_wait_dropped_while_another_holds_the_lock_leaves_one_holder() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        // Asleep.
        let mut a = boxed(cond.wait_guard_async(cond.lock()));
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(!cond.get_lock().locked(), "the wait released the lock");
        let b = cond.lock();
        drop(a);
        assert_eq!(cond.waiters(), 0, "the dropped waiter gave its place up");
        assert!(cond.get_lock().locked());
        drop(b);
        assert!(
            !cond.get_lock().locked(),
            "B's release was owed to the dropped wait"
        );
        // Notified, re-taking the lock B holds.
        let mut a = boxed(cond.wait_guard_async(cond.lock()));
        assert!(poll(a.as_mut(), &wa).is_pending());
        let b = cond.lock();
        assert_eq!(cond.notify(1), Ok(1));
        assert!(poll(a.as_mut(), &wa).is_pending(), "B holds the lock");
        drop(a);
        assert!(cond.get_lock().locked());
        drop(b);
        assert!(
            !cond.get_lock().locked(),
            "B's release was owed to the dropped wait"
        );
        // Before the first poll.
        let a = boxed(cond.wait_guard_async(cond.lock()));
        assert!(cond.get_lock().locked());
        drop(a);
        assert!(!cond.get_lock().locked());
        // Completed: the guard comes back holding the lock.
        let mut a = boxed(cond.wait_guard_async(cond.lock()));
        assert!(poll(a.as_mut(), &wa).is_pending());
        cond.acquire();
        cond.notify(1).unwrap();
        cond.release().unwrap();
        let g = ready_guard(poll(a.as_mut(), &wa));
        assert!(cond.get_lock().locked());
        drop(g);
        assert!(!cond.get_lock().locked());
    });
}

// Issue #14, the guard form, ConditionTests.test_wait_cancel_after_notify: a notify that
// reached a waiter whose future is dropped — asleep, or re-taking the lock the notifier
// still holds — is passed to the next waiter; the lock is released exactly once.
#[test]
fn condition_guard_wait_dropped_after_notify_passes_it_on() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        for retaking in [false, true] {
            let (_fa, wa) = flag();
            let (fb, wb) = flag();
            let mut a = boxed(cond.wait_guard_async(cond.lock()));
            assert!(poll(a.as_mut(), &wa).is_pending());
            let mut b = boxed(cond.wait_guard_async(cond.lock()));
            assert!(poll(b.as_mut(), &wb).is_pending());
            let notifier = cond.lock();
            assert_eq!(cond.notify(1), Ok(1)); // reaches A
            if retaking {
                assert!(
                    poll(a.as_mut(), &wa).is_pending(),
                    "the notifier holds the lock"
                );
            }
            drop(a);
            assert!(fb.0.load(Ordering::SeqCst), "B was not woken");
            assert_eq!(
                cond.waiters(),
                0,
                "the notify was swallowed (retaking: {retaking})"
            );
            drop(notifier);
            assert!(!cond.get_lock().locked());
            let g = ready_guard(poll(b.as_mut(), &wb));
            drop(g);
            assert!(!cond.get_lock().locked());
        }
    });
}

// Issue #14, the guard form: a guard of another condition over the same lock is fine
// (Python's conditions sharing one lock); one over another lock is refused (and
// released); a guard whose lock was released behind its back is `NotOwned`.
#[test]
fn condition_guard_wait_checks_the_guards_lock() {
    watchdog(|| {
        let lock = Arc::new(Lock::new());
        let not_empty = Condition::with_lock(lock.clone());
        let not_full = Condition::with_lock(lock.clone());
        let other = Condition::with_lock(Arc::new(Lock::new()));
        let (_f, w) = flag();
        let mut a = boxed(not_empty.wait_guard_async(not_full.lock()));
        assert!(poll(a.as_mut(), &w).is_pending());
        assert!(!lock.locked());
        {
            let _g = not_full.lock();
            assert_eq!(not_empty.notify(1), Ok(1));
        }
        drop(ready_guard(poll(a.as_mut(), &w)));
        assert!(!lock.locked());
        let mut f = boxed(not_empty.wait_guard_async(other.lock()));
        assert!(matches!(
            poll(f.as_mut(), &w),
            Poll::Ready(Err(ConditionError::OtherLock))
        ));
        assert!(!other.get_lock().locked() && !lock.locked());
        let g = not_empty.lock();
        not_empty.release().unwrap();
        let mut f = boxed(not_empty.wait_guard_async(g));
        assert!(matches!(
            poll(f.as_mut(), &w),
            Poll::Ready(Err(ConditionError::NotOwned))
        ));
        assert!(!lock.locked());
    });
}

// Issue #14, the guard form under real concurrency: thousands of rounds of a task's
// wait dropped in every phase (before its first poll, asleep, re-taking the lock, or
// completed) while a thread holds the lock and notifies. Each holder counts itself in
// and out of its critical section: never two at once; no release owed, none lost (the
// thread would hang on a lock nobody frees).
#[test]
fn condition_guard_wait_cancel_rounds_never_overlap_a_holder() {
    use std::sync::atomic::{AtomicBool, AtomicU32};
    static COND: Condition<Lock> = Condition::with_lock(Lock::new());
    static INSIDE: AtomicU32 = AtomicU32::new(0);
    static MAX: AtomicU32 = AtomicU32::new(0);
    static STOP: AtomicBool = AtomicBool::new(false);
    fn critical_section() {
        let n = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
        MAX.fetch_max(n, Ordering::SeqCst);
        for _ in 0..20 {
            std::hint::spin_loop();
        }
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
    watchdog(|| {
        let notifier = std::thread::spawn(|| {
            let mut rounds = 0u32;
            while !STOP.load(Ordering::Relaxed) {
                let _g = COND.lock();
                critical_section();
                COND.notify(1).unwrap();
                critical_section();
                rounds += 1;
                drop(_g);
                if rounds % 8 == 0 {
                    std::thread::yield_now();
                }
            }
            rounds
        });
        let (_f, w) = flag();
        let (mut completed, mut dropped) = (0u32, 0u32);
        for round in 0..20_000u32 {
            let g = COND.lock();
            critical_section();
            let mut a = boxed(COND.wait_guard_async(g));
            let mut done = None;
            for _ in 0..round % 4 {
                if let Poll::Ready(r) = poll(a.as_mut(), &w) {
                    done = Some(r);
                    break;
                }
                std::thread::yield_now();
            }
            drop(a);
            match done {
                Some(r) => {
                    let g = r.unwrap();
                    critical_section();
                    drop(g);
                    completed += 1;
                }
                None => dropped += 1,
            }
        }
        STOP.store(true, Ordering::Relaxed);
        let rounds = notifier.join().unwrap();
        assert_eq!(MAX.load(Ordering::SeqCst), 1, "two holders at once");
        assert!(!COND.get_lock().locked(), "a release was owed or lost");
        assert_eq!(COND.waiters(), 0);
        eprintln!("{completed} completed, {dropped} dropped, {rounds} notifier rounds");
    });
}

// ---------------------------------------------------------------- Semaphore

// SemaphoreTests.test_acquire / test_release_not_acquired: counts, and a
// BoundedSemaphore released above its initial value is an error (ValueError).
#[test]
fn semaphore_counts_and_bounded_release_not_acquired() {
    watchdog(|| {
        let sem = Semaphore::new(3);
        run(async {
            for _ in 0..3 {
                sem.acquire_async().await;
            }
        });
        assert_eq!(sem.value(), 0);
        assert!(!sem.try_acquire());
        let bounded = BoundedSemaphore::new(1);
        assert!(bounded.release().is_err());
        run(bounded.acquire_async());
        assert_eq!(bounded.value(), 0);
        bounded.release().unwrap();
        assert!(bounded.release().is_err());
        assert_eq!(bounded.value(), 1);
    });
}

// SemaphoreTests.test_acquire_cancel: a cancelled acquire takes no permit.
#[test]
fn semaphore_acquire_cancel() {
    watchdog(|| {
        let sem = Semaphore::new(0);
        let (_f, w) = flag();
        let mut a = boxed(sem.acquire_async());
        assert!(poll(a.as_mut(), &w).is_pending());
        drop(a);
        sem.release().unwrap();
        assert_eq!(sem.value(), 1);
    });
}

// SemaphoreTests.test_acquire_cancel_before_awoken: four waiters, two releases, one of
// the woken waiters cancelled before it runs: its permit goes to another waiter (two
// waiters finish, none of the permits is lost).
#[test]
fn semaphore_acquire_cancel_before_awoken() {
    watchdog(|| {
        let sem = Semaphore::new(0);
        let ws: Vec<_> = (0..4).map(|_| flag()).collect();
        let mut fs: Vec<_> = (0..4).map(|_| Some(boxed(sem.acquire_async()))).collect();
        for (f, (_, w)) in fs.iter_mut().zip(&ws) {
            assert!(poll(f.as_mut().unwrap().as_mut(), w).is_pending());
        }
        sem.release().unwrap();
        sem.release().unwrap();
        fs[1] = None; // cancelled (woken or not)
        let mut done = 0;
        for (i, f) in fs.iter_mut().enumerate() {
            if let Some(fut) = f {
                if ws[i].0 .0.load(Ordering::SeqCst) && poll(fut.as_mut(), &ws[i].1).is_ready() {
                    done += 1;
                    *f = None;
                }
            }
        }
        assert_eq!(done, 2, "a permit was lost with the cancelled waiter");
        assert_eq!(sem.value(), 0);
    });
}

// SemaphoreTests.test_acquire_hang: two waiters, one release, the woken one cancelled:
// the other must not hang.
#[test]
fn semaphore_acquire_hang() {
    watchdog(|| {
        static SEM: Semaphore = Semaphore::new(0);
        run(async {
            let t1 = tokio::task::spawn_local(SEM.acquire_async());
            let t2 = tokio::task::spawn_local(SEM.acquire_async());
            tokio::task::yield_now().await;
            SEM.release().unwrap();
            t1.abort();
            assert!(t1.await.unwrap_err().is_cancelled());
            t2.await.unwrap();
        });
        assert_eq!(SEM.value(), 0);
    });
}

// ---------------------------------------------------------------- Barrier

// BarrierTests.test_barrier / test_barrier_parties / test_wait_task_multi: every party
// gets its own index, n_waiting counts the arrived ones, the barrier is reusable.
#[test]
fn barrier_rounds_indices_and_n_waiting() {
    watchdog(|| {
        static B: Barrier = Barrier::new(3);
        assert_eq!(B.parties(), 3);
        run(async {
            for _round in 0..2 {
                let a = tokio::task::spawn_local(B.wait_async());
                let b = tokio::task::spawn_local(B.wait_async());
                tokio::task::yield_now().await;
                assert_eq!(B.n_waiting(), 2);
                let c = B.wait_async().await.unwrap();
                let mut idx = vec![a.await.unwrap().unwrap(), b.await.unwrap().unwrap(), c];
                idx.sort_unstable();
                assert_eq!(idx, [0, 1, 2]);
                assert_eq!(B.n_waiting(), 0);
                assert!(!B.broken());
            }
        });
    });
}

// BarrierTests.test_abort_barrier / test_reset_barrier / test_abort_and_reset: abort
// breaks the waiters and later callers until reset; reset breaks the current waiters
// and leaves a usable barrier.
#[test]
fn barrier_abort_and_reset() {
    watchdog(|| {
        static B: Barrier = Barrier::new(2);
        run(async {
            let a = tokio::task::spawn_local(B.wait_async());
            tokio::task::yield_now().await;
            B.abort();
            assert_eq!(a.await.unwrap(), Err(BrokenBarrier));
            assert!(B.broken());
            assert_eq!(B.wait_async().await, Err(BrokenBarrier));
            B.reset();
            assert!(!B.broken());
            let a = tokio::task::spawn_local(B.wait_async());
            tokio::task::yield_now().await;
            B.reset(); // the waiting party is broken out
            assert_eq!(a.await.unwrap(), Err(BrokenBarrier));
            assert!(!B.broken());
            let a = tokio::task::spawn_local(B.wait_async());
            let b = B.wait_async().await.unwrap();
            assert_eq!(a.await.unwrap().unwrap() + b, 1);
        });
    });
}

// asyncio.Barrier has no action; threading.Barrier's action runs once per round, in
// the last party (here a task).
#[test]
fn barrier_action_runs_once_per_round() {
    watchdog(|| {
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let b = Arc::new(Barrier::new(2).with_action(|| {
            RUNS.fetch_add(1, Ordering::SeqCst);
        }));
        run(async {
            for _ in 0..3 {
                let b2 = b.clone();
                let t = tokio::task::spawn_local(async move { b2.wait_async().await });
                b.wait_async().await.unwrap();
                t.await.unwrap().unwrap();
            }
        });
        assert_eq!(RUNS.load(Ordering::SeqCst), 3);
    });
}

// BarrierTests.test_filling_tasks_cancel_one: a cancelled waiting party withdraws
// (n_waiting drops by one, the barrier stays whole) and replacement parties fill the
// round: every party that was not cancelled passes, n_waiting is 0, not broken.
#[test]
fn barrier_filling_tasks_cancel_one() {
    watchdog(|| {
        let b = Barrier::new(3);
        let (_f1, w1) = flag();
        let (f2, w2) = flag();
        let (f3, w3) = flag();
        let (_f4, w4) = flag();
        let mut t1 = boxed(b.wait_async());
        assert!(poll(t1.as_mut(), &w1).is_pending());
        assert_eq!(b.n_waiting(), 1);
        let mut t2 = boxed(b.wait_async());
        assert!(poll(t2.as_mut(), &w2).is_pending());
        assert_eq!(b.n_waiting(), 2);
        drop(t1); // t1.cancel()
        assert_eq!(b.n_waiting(), 1);
        assert!(!b.broken());
        assert!(
            !f2.0.load(Ordering::SeqCst),
            "nobody is woken by a withdrawal"
        );
        let mut t3 = boxed(b.wait_async());
        assert!(poll(t3.as_mut(), &w3).is_pending());
        assert_eq!(b.n_waiting(), 2);
        let mut t4 = boxed(b.wait_async());
        let last = poll(t4.as_mut(), &w4);
        assert_eq!(last, Poll::Ready(Ok(2)), "t4 completes the round");
        assert!(f2.0.load(Ordering::SeqCst) && f3.0.load(Ordering::SeqCst));
        // asyncio's index is the count at arrival: after a withdrawal two parties may
        // share one (t2 arrived as 1, t3 took 1 again after t1 left).
        assert_eq!(poll(t2.as_mut(), &w2), Poll::Ready(Ok(1)));
        assert_eq!(poll(t3.as_mut(), &w3), Poll::Ready(Ok(1)));
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    });
}

// ---------------------------------------------------------------- Queue

// QueueBasicTests.test_maxsize / test_empty / test_full / test_nonblocking_get_exception
// / test_nonblocking_put_exception / test_qsize: maxsize 0 is unbounded, and the
// nowait forms fail with Full / Empty instead of waiting.
#[test]
fn queue_basics_maxsize_and_nowait_errors() {
    watchdog(|| {
        let q = Queue::new(0);
        assert!(q.empty() && !q.full());
        for i in 0..1000 {
            q.put_nowait(i).unwrap();
        }
        assert!(!q.full());
        assert_eq!(q.qsize(), 1000);
        let q = Queue::new(2);
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
        q.put_nowait(1).unwrap();
        run(q.put_async(2)).unwrap();
        assert!(q.full());
        assert!(matches!(q.put_nowait(3), Err(PutError::Full(3))));
        assert_eq!(run(q.get_async()), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
        assert!(q.empty());
    });
}

// LifoQueueTests.test_order / PriorityQueueTests.test_order.
#[test]
fn lifo_and_priority_order() {
    watchdog(|| {
        let lifo = LifoQueue::new(0);
        let prio = PriorityQueue::new(0);
        run(async {
            for i in [1, 3, 2] {
                lifo.put_async(i).await.unwrap();
                prio.put_async(i).await.unwrap();
            }
            let mut l = Vec::new();
            let mut p = Vec::new();
            for _ in 0..3 {
                l.push(lifo.get_async().await.unwrap());
                p.push(prio.get_async().await.unwrap());
            }
            assert_eq!(l, [2, 3, 1]);
            assert_eq!(p, [1, 2, 3]);
        });
    });
}

// QueueGetTests.test_get_cancelled_race / test_cancelled_getters_not_being_held_in_
// self_getters: two getters, one item put, the first getter cancelled after the put
// woke it: the other getter gets the item; a cancelled getter leaves nothing behind.
#[test]
fn queue_get_cancelled_race() {
    watchdog(|| {
        let q = Queue::new(0);
        let (_f1, w1) = flag();
        let (f2, w2) = flag();
        let mut g1 = boxed(q.get_async());
        let mut g2 = boxed(q.get_async());
        assert!(poll(g1.as_mut(), &w1).is_pending());
        assert!(poll(g2.as_mut(), &w2).is_pending());
        q.put_nowait('a').unwrap();
        drop(g1);
        assert!(f2.0.load(Ordering::SeqCst), "the put's wake-up was lost");
        assert_eq!(poll(g2.as_mut(), &w2), Poll::Ready(Ok('a')));
        // Cancelled getters are not held: many come and go, then a put/get still works.
        for _ in 0..100 {
            let mut g = boxed(q.get_async());
            assert!(poll(g.as_mut(), &w1).is_pending());
        }
        q.put_nowait('b').unwrap();
        assert_eq!(q.get_nowait(), Ok('b'));
    });
}

// QueuePutTests.test_put_cancelled_race / test_cancelled_puts_not_being_held_in_self_
// putters / test_get_with_putters: a full queue, two putters, one get (waking the
// first putter) and that putter cancelled: the other putter's item gets in.
#[test]
fn queue_put_cancelled_race() {
    watchdog(|| {
        let q = Queue::new(1);
        q.put_nowait('a').unwrap();
        let (_f1, w1) = flag();
        let (f2, w2) = flag();
        let mut p1 = boxed(q.put_async('b'));
        let mut p2 = boxed(q.put_async('c'));
        assert!(poll(p1.as_mut(), &w1).is_pending());
        assert!(poll(p2.as_mut(), &w2).is_pending());
        assert_eq!(q.get_nowait(), Ok('a'));
        drop(p1);
        assert!(f2.0.load(Ordering::SeqCst), "the get's wake-up was lost");
        assert!(matches!(poll(p2.as_mut(), &w2), Poll::Ready(Ok(()))));
        assert_eq!(q.get_nowait(), Ok('c'));
        assert!(q.empty());
    });
}

// QueueGetTests.test_why_are_getters_waiting / QueuePutTests.test_why_are_putters_
// waiting: many producer and consumer tasks on a small queue all finish.
#[test]
fn queue_why_are_getters_and_putters_waiting() {
    watchdog(|| {
        static Q: Queue<u32> = Queue::new(2);
        run(async {
            let consumers: Vec<_> = (0..5)
                .map(|_| tokio::task::spawn_local(async { Q.get_async().await.unwrap() }))
                .collect();
            let producers: Vec<_> = (0..5)
                .map(|i| tokio::task::spawn_local(async move { Q.put_async(i).await.unwrap() }))
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            let mut got: Vec<u32> = Vec::new();
            for c in consumers {
                got.push(c.await.unwrap());
            }
            got.sort_unstable();
            assert_eq!(got, [0, 1, 2, 3, 4]);
        });
    });
}

// _QueueJoinTests.test_task_done / test_join_empty_queue / test_task_done_underflow:
// join returns at once with nothing unfinished, waits for every task_done otherwise;
// one task_done too many is an error (ValueError).
#[test]
fn queue_join_and_task_done() {
    watchdog(|| {
        static Q: Queue<u32> = Queue::new(0);
        assert!(Q.task_done().is_err());
        run(async {
            Q.join_async().await; // empty: at once
            for i in 0..10 {
                Q.put_async(i).await.unwrap();
            }
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    tokio::task::spawn_local(async {
                        let mut sum = 0;
                        while let Ok(v) = Q.get_nowait() {
                            tokio::task::yield_now().await;
                            sum += v;
                            Q.task_done().unwrap();
                        }
                        sum
                    })
                })
                .collect();
            Q.join_async().await;
            assert_eq!(Q.unfinished_tasks(), 0);
            let mut total = 0;
            for w in workers {
                total += w.await.unwrap();
            }
            assert_eq!(total, 45);
        });
        assert!(Q.task_done().is_err());
    });
}

// ConditionTests.test_wait_cancel_contested: asyncio's cancelled wait re-takes the lock
// before it raises, so the `async with cond:` block releases it exactly once. Here the
// task's guard outlives its dropped wait: its release must not free the lock another
// task took meanwhile.
#[test]
fn condition_guard_after_cancelled_wait_keeps_anothers_lock() {
    watchdog(|| {
        let cond = Condition::with_lock(Lock::new());
        let (_fa, wa) = flag();
        let outer = async {
            let _g = cond.lock_async().await;
            cond.wait_async().await.unwrap();
        };
        let mut a = boxed(outer);
        assert!(poll(a.as_mut(), &wa).is_pending()); // waiting, the lock released
        assert!(cond.try_acquire(), "another task takes the lock");
        drop(a); // the task is cancelled: its wait and its guard are dropped
        assert!(
            cond.get_lock().locked(),
            "the cancelled task released another's lock"
        );
        cond.release().unwrap();
    });
}

// The same with the default RLock (ConditionTests.test_wait_cancel_contested): a task
// of the same thread that took the lock keeps it; a thread that took it keeps it.
#[test]
fn condition_rlock_guard_after_cancelled_wait_keeps_anothers_lock() {
    watchdog(|| {
        let cond = Arc::new(Condition::new());
        let (_fa, wa) = flag();
        let c = cond.clone();
        let mut a = boxed(async move {
            let _g = c.lock_async().await;
            c.wait_async().await.unwrap();
        });
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(
            cond.try_acquire(),
            "another task of this thread takes the lock"
        );
        drop(a);
        assert!(
            cond.get_lock().is_owned(),
            "the cancelled task released another's lock"
        );
        cond.release().unwrap();
        assert!(!cond.get_lock().is_owned());

        let c = cond.clone();
        let mut a = boxed(async move {
            let _g = c.lock_async().await;
            c.wait_async().await.unwrap();
        });
        assert!(poll(a.as_mut(), &wa).is_pending());
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let c = cond.clone();
        let t = std::thread::spawn(move || {
            let _g = c.lock();
            held_tx.send(()).unwrap();
            done_rx.recv().unwrap();
            c.release().is_ok() // the thread's own release still works
        });
        held_rx.recv().unwrap();
        drop(a); // cannot take it back from the thread: its release is refused
        done_tx.send(()).unwrap();
        t.join().unwrap();
        assert!(cond.try_acquire(), "the lock is free again");
        cond.release().unwrap();
    });
}

// ConditionTests.test_wait_cancel (the `try: … finally: cond.release()` form): a wait
// dropped inside the task (a `select!` or timeout that gave up) leaves the task holding
// the lock, so its own release afterwards is the matching one.
#[test]
fn condition_wait_given_up_then_released_by_the_task() {
    watchdog(|| {
        static COND: Condition<Lock> = Condition::with_lock(Lock::new());
        run(async {
            let give_up = std::time::Duration::from_millis(10);
            COND.acquire();
            assert!(tokio::time::timeout(give_up, COND.wait_async())
                .await
                .is_err());
            assert!(COND.get_lock().locked(), "held again after giving up");
            COND.release().unwrap();
            assert!(!COND.get_lock().locked());
            // Contested: another task holds the lock when the wait is given up.
            COND.acquire();
            let holder = tokio::task::spawn_local(async move {
                let _g = COND.lock_async().await;
                tokio::time::sleep(give_up * 3).await;
            });
            assert!(tokio::time::timeout(give_up, COND.wait_async())
                .await
                .is_err());
            COND.release().unwrap(); // the matching release: the holder keeps its lock
            assert!(COND.get_lock().locked());
            holder.await.unwrap();
            assert!(!COND.get_lock().locked());
        });
    });
}
