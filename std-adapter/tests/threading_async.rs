//! The async forms of `conkit::threading`: the same `Lock`, `RLock`, `Semaphore`,
//! `BoundedSemaphore`, `Event`, `Condition` and `Barrier` awaited by tasks (tokio's
//! current-thread runtime, as asyncio: one thread) while OS threads use the blocking
//! API on the same object. Each test runs under a watchdog: a lost wake-up fails it
//! after 30 s instead of hanging the run.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::thread;

use conkit::threading::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

#[path = "common/tasks.rs"]
mod tasks;

use tasks::{flag, settle, watchdog};

/// tokio's current-thread runtime (asyncio's one thread).
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn lock_between_a_thread_and_tokio_tasks() {
    watchdog(|| {
        static LOCK: Lock = Lock::new();
        static COUNT: AtomicU32 = AtomicU32::new(0);
        LOCK.acquire(); // a thread holds it while the tasks start
        let releaser = thread::spawn(|| {
            settle();
            LOCK.release().unwrap(); // the plain release wakes the parked tasks
        });
        run(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    tokio::spawn(async {
                        for _ in 0..100 {
                            let _g = LOCK.lock_async().await;
                            let c = COUNT.load(Ordering::Relaxed);
                            tokio::task::yield_now().await; // held across an await
                            COUNT.store(c + 1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        releaser.join().unwrap();
        assert_eq!(COUNT.load(Ordering::Relaxed), 800);
        assert!(!LOCK.locked());
    });
}

#[test]
fn lock_guard_dropped_by_a_task_wakes_a_blocked_thread() {
    watchdog(|| {
        static LOCK: Lock = Lock::new();
        run(async {
            let g = LOCK.lock_async().await;
            let t = thread::spawn(|| {
                LOCK.acquire();
                LOCK.release().unwrap();
            });
            settle();
            drop(g);
            t.join().unwrap();
        });
    });
}

#[test]
fn dropped_pending_acquire_then_one_release_the_other_waiter_gets_it() {
    watchdog(|| {
        let sem = Semaphore::new(0);
        let (_fa, wa) = flag();
        let (fb, wb) = flag();
        let mut a = Box::pin(sem.acquire_async());
        let mut b = pin!(sem.acquire_async());
        assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(a);
        sem.release().unwrap();
        assert!(fb.0.load(Ordering::SeqCst));
        assert_eq!(
            b.as_mut().poll(&mut Context::from_waker(&wb)),
            Poll::Ready(())
        );
        assert_eq!(sem.value(), 0);

        let lock = Lock::new();
        lock.acquire();
        let (_fa, wa) = flag();
        let (fb, wb) = flag();
        let mut a = Box::pin(lock.acquire_async());
        let mut b = pin!(lock.acquire_async());
        assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(a);
        lock.release().unwrap();
        assert!(fb.0.load(Ordering::SeqCst));
        assert_eq!(
            b.as_mut().poll(&mut Context::from_waker(&wb)),
            Poll::Ready(())
        );
        assert!(lock.locked());
        lock.release().unwrap();
    });
}

#[test]
fn semaphores_released_by_threads_wake_tasks() {
    watchdog(|| {
        static SEM: Semaphore = Semaphore::new(0);
        static BOUNDED: BoundedSemaphore = BoundedSemaphore::new(2);
        BOUNDED.acquire_many(2);
        let t = thread::spawn(|| {
            settle();
            for _ in 0..4 {
                SEM.release().unwrap();
            }
            BOUNDED.release_many(2).unwrap();
        });
        run(async {
            let takers: Vec<_> = (0..4).map(|_| tokio::spawn(SEM.acquire_async())).collect();
            for tk in takers {
                tk.await.unwrap();
            }
            let g = BOUNDED.acquire_guard_async().await;
            BOUNDED.acquire_many_async(1).await;
            drop(g);
            BOUNDED.release().unwrap();
        });
        t.join().unwrap();
        assert_eq!((SEM.value(), BOUNDED.value()), (0, 2));
    });
}

#[test]
fn event_set_by_a_thread_wakes_every_task() {
    watchdog(|| {
        static EV: Event = Event::new();
        let t = thread::spawn(|| {
            settle();
            EV.set();
            EV.clear(); // the tasks parked at the set still complete
        });
        run(async {
            let waiters: Vec<_> = (0..5).map(|_| tokio::spawn(EV.wait_async())).collect();
            for w in waiters {
                w.await.unwrap();
            }
        });
        t.join().unwrap();
    });
}

#[test]
fn condition_between_a_thread_and_a_task_both_ways() {
    watchdog(|| {
        static COND: Condition<Lock> = Condition::with_lock(Lock::new());
        static ITEMS: AtomicU32 = AtomicU32::new(0);
        // A thread produces, a task consumes.
        let producer = thread::spawn(|| {
            for _ in 0..50 {
                let _g = COND.lock();
                ITEMS.fetch_add(1, Ordering::Relaxed);
                COND.notify(1).unwrap();
            }
        });
        run(async {
            for _ in 0..50 {
                let _g = COND.lock_async().await;
                COND.wait_for_async(|| ITEMS.load(Ordering::Relaxed) > 0)
                    .await
                    .unwrap();
                ITEMS.fetch_sub(1, Ordering::Relaxed);
            }
        });
        producer.join().unwrap();
        // A task notifies, a thread waits.
        let waiter = thread::spawn(|| {
            let _g = COND.lock();
            COND.wait_for(|| ITEMS.load(Ordering::Relaxed) == 7)
                .unwrap();
        });
        settle();
        run(async {
            let _g = COND.lock_async().await;
            ITEMS.store(7, Ordering::Relaxed);
            COND.notify_all().unwrap();
        });
        waiter.join().unwrap();
        // Waiting without the lock is refused.
        assert_eq!(
            run(COND.wait_async()),
            Err(conkit::threading::ConditionError::NotOwned)
        );
    });
}

#[test]
fn condition_with_the_default_rlock_restores_the_depth() {
    watchdog(|| {
        static COND: Condition = Condition::new();
        static GO: AtomicBool = AtomicBool::new(false);
        let t = thread::spawn(|| {
            settle();
            let _g = COND.lock();
            GO.store(true, Ordering::Relaxed);
            COND.notify_all().unwrap();
        });
        run(async {
            COND.get_lock().acquire_async().await;
            COND.get_lock().acquire_async().await;
            assert_eq!(COND.get_lock().depth(), 2);
            COND.wait_for_async(|| GO.load(Ordering::Relaxed))
                .await
                .unwrap();
            assert_eq!(COND.get_lock().depth(), 2);
            COND.release().unwrap();
            COND.release().unwrap();
        });
        t.join().unwrap();
        assert!(!COND.get_lock().locked());
    });
}

// Issue #14, the guard form (`wait_for_guard_async`): a thread notifies, a task waits
// holding the guard it gets back.
#[test]
fn condition_guard_wait_between_a_thread_and_a_task() {
    watchdog(|| {
        static COND: Condition<Lock> = Condition::with_lock(Lock::new());
        static ITEMS: AtomicU32 = AtomicU32::new(0);
        let producer = thread::spawn(|| {
            for _ in 0..200 {
                let _g = COND.lock();
                ITEMS.fetch_add(1, Ordering::Relaxed);
                COND.notify(1).unwrap();
            }
        });
        run(async {
            let mut g = COND.lock_async().await;
            for _ in 0..200 {
                g = COND
                    .wait_for_guard_async(g, || ITEMS.load(Ordering::Relaxed) > 0)
                    .await
                    .unwrap();
                ITEMS.fetch_sub(1, Ordering::Relaxed);
            }
            drop(g);
        });
        producer.join().unwrap();
        assert!(!COND.get_lock().locked());
    });
}

// Issue #14, the guard form on tokio's multi-threaded runtime (`tokio::spawn`: the
// task holds a `Condition<Lock>` guard across awaits, so the guard must be `Send`):
// four consumer tasks wait with a 1 ms `tokio::time::timeout` each round while a thread
// produces under the lock. Every item is taken once, no two holders are ever inside
// the critical section, and the lock ends free (no release owed or lost).
#[test]
fn condition_guard_wait_with_timeouts_on_a_multi_threaded_runtime() {
    use std::time::Duration;
    static COND: Condition<Lock> = Condition::with_lock(Lock::new());
    static ITEMS: AtomicU32 = AtomicU32::new(0);
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    static INSIDE: AtomicU32 = AtomicU32::new(0);
    static MAX: AtomicU32 = AtomicU32::new(0);
    const N: u32 = 400;
    fn critical_section(f: impl FnOnce()) {
        let n = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
        MAX.fetch_max(n, Ordering::SeqCst);
        f();
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
    watchdog(|| {
        let producer = thread::spawn(|| {
            for i in 0..N {
                let _g = COND.lock();
                critical_section(|| {
                    ITEMS.fetch_add(1, Ordering::SeqCst);
                });
                COND.notify(1).unwrap();
                drop(_g);
                if i % 16 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let timeouts = rt.block_on(async {
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    tokio::spawn(async {
                        let mut timeouts = 0u32;
                        loop {
                            let g = COND.lock_async().await;
                            if TAKEN.load(Ordering::SeqCst) == N {
                                return timeouts;
                            }
                            let more = || {
                                ITEMS.load(Ordering::SeqCst) > 0
                                    || TAKEN.load(Ordering::SeqCst) == N
                            };
                            let waited = tokio::time::timeout(
                                Duration::from_millis(1),
                                COND.wait_for_guard_async(g, more),
                            );
                            let Ok(g) = waited.await else {
                                timeouts += 1; // no guard: take the lock again
                                continue;
                            };
                            let g = g.unwrap();
                            critical_section(|| {
                                if ITEMS.load(Ordering::SeqCst) > 0 {
                                    ITEMS.fetch_sub(1, Ordering::SeqCst);
                                    TAKEN.fetch_add(1, Ordering::SeqCst);
                                }
                            });
                            if TAKEN.load(Ordering::SeqCst) == N {
                                COND.notify_all().unwrap();
                            }
                            drop(g);
                        }
                    })
                })
                .collect();
            let mut timeouts = 0;
            for t in tasks {
                timeouts += t.await.unwrap();
            }
            timeouts
        });
        producer.join().unwrap();
        assert_eq!(TAKEN.load(Ordering::SeqCst), N);
        assert_eq!(MAX.load(Ordering::SeqCst), 1, "two holders at once");
        assert!(!COND.get_lock().locked(), "a release was owed or lost");
        eprintln!("{timeouts} timeouts");
    });
}

// Issue #14, the guard form over the default RLock: a completed wait restores the depth
// (the guard's level and one more); a wait dropped while another thread holds the lock
// leaves this thread owning nothing — its outer release is refused, the other thread's
// lock untouched and its release the one that frees it.
#[test]
fn condition_guard_wait_with_the_default_rlock() {
    watchdog(|| {
        static COND: Condition = Condition::new();
        static GO: AtomicBool = AtomicBool::new(false);
        static HELD: AtomicBool = AtomicBool::new(false);
        static DONE: AtomicBool = AtomicBool::new(false);
        let t = thread::spawn(|| {
            settle();
            let _g = COND.lock();
            GO.store(true, Ordering::Relaxed);
            COND.notify_all().unwrap();
        });
        run(async {
            COND.get_lock().acquire_async().await;
            let g = COND.lock_async().await;
            assert_eq!(COND.get_lock().depth(), 2);
            let g = COND
                .wait_for_guard_async(g, || GO.load(Ordering::Relaxed))
                .await
                .unwrap();
            assert_eq!(COND.get_lock().depth(), 2);
            drop(g);
            COND.release().unwrap();
        });
        t.join().unwrap();
        assert!(!COND.get_lock().locked());

        let holder = thread::spawn(|| {
            while COND.waiters() == 0 {
                thread::yield_now();
            }
            let _g = COND.lock();
            HELD.store(true, Ordering::SeqCst);
            while !DONE.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            assert!(COND.get_lock().is_owned(), "the holder lost its lock");
        });
        COND.acquire(); // an outer level
        let (_f, w) = flag();
        let mut wait = Box::pin(COND.wait_guard_async(COND.lock()));
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&w))
            .is_pending());
        while !HELD.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        drop(wait); // the timeout
        assert!(!COND.get_lock().is_owned());
        assert!(
            COND.release().is_err(),
            "the outer level went with the wait"
        );
        DONE.store(true, Ordering::SeqCst);
        holder.join().unwrap();
        assert!(!COND.get_lock().locked());
    });
}

#[test]
fn rlock_async_reentry_and_thread_handoff() {
    watchdog(|| {
        static RL: RLock = RLock::new();
        RL.acquire();
        let t = thread::spawn(|| {
            run(async {
                let _a = RL.lock_async().await; // waits for the main thread
                let _b = RL.lock_async().await; // re-entry
                assert_eq!(RL.depth(), 2);
            });
        });
        settle();
        RL.release().unwrap();
        t.join().unwrap();
        assert!(!RL.locked());
    });
}

#[test]
fn barrier_with_thread_and_task_parties_and_a_withdrawn_party() {
    watchdog(|| {
        static B: Barrier = Barrier::new(3);
        let threads: Vec<_> = (0..2)
            .map(|_| thread::spawn(|| B.wait().unwrap()))
            .collect();
        let mine = run(B.wait_async()).unwrap();
        let mut all: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        all.push(mine);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2]);
        // A task party that gives up (its future dropped) withdraws, as in asyncio: the
        // waiting thread keeps waiting, and two later parties complete the round.
        let t = thread::spawn(|| B.wait());
        settle();
        let (_f, w) = flag();
        let mut fut = Box::pin(B.wait_async());
        assert!(fut.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        assert_eq!(B.n_waiting(), 2);
        drop(fut);
        assert_eq!(B.n_waiting(), 1);
        assert!(!B.broken());
        let t2 = thread::spawn(|| B.wait());
        let mine = run(B.wait_async()).unwrap();
        let mut all = vec![
            t.join().unwrap().unwrap(),
            t2.join().unwrap().unwrap(),
            mine,
        ];
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2]);
        assert_eq!(B.n_waiting(), 0);
    });
}

#[test]
fn thousands_of_tokio_tasks_on_one_semaphore() {
    watchdog(|| {
        static SEM: Semaphore = Semaphore::new(0);
        const TASKS: u32 = 10_000;
        let releaser = thread::spawn(|| {
            settle();
            for _ in 0..TASKS {
                SEM.release().unwrap();
            }
        });
        run(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| tokio::spawn(SEM.acquire_async()))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        releaser.join().unwrap();
        assert_eq!(SEM.value(), 0);
    });
}

/// The futures (and the `Lock` / `Semaphore` guards) are `Send`, so tasks that await
/// them can run on a multi-threaded runtime (`tokio::spawn` requires it).
#[test]
fn futures_and_guards_are_send() {
    fn send<T: Send>(_: &T) {}
    static L: Lock = Lock::new();
    static S: Semaphore = Semaphore::new(1);
    static BS: BoundedSemaphore = BoundedSemaphore::new(1);
    static E: Event = Event::new();
    static C: Condition<Lock> = Condition::with_lock(Lock::new());
    static B: Barrier = Barrier::new(1);
    send(&L.acquire_async());
    send(&L.lock_async());
    send(&S.acquire_async());
    send(&S.acquire_many_async(2));
    send(&BS.acquire_guard_async());
    send(&E.wait_async());
    send(&C.wait_async());
    send(&B.wait_async());
    let g = run(L.lock_async());
    send(&g);
    drop(g);
    let p = run(S.acquire_guard_async());
    send(&p);
    // A `Condition<Lock>`'s guard and the guard form of its wait (issue #14); an
    // `RLock`'s guard is not `Send` (a compile_fail doctest on `ConditionGuard`).
    let cg = C.lock();
    send(&cg);
    send(&C.wait_guard_async(cg));
    send(&C.wait_for_guard_async(C.lock(), || true));
}
