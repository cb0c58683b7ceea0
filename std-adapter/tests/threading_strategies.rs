//! Every `conkit::threading` wrapper with a waiting strategy other than the default
//! `Futex`: `SharedFutex` (what the process layer uses for `MAP_SHARED` memory),
//! `Spin<Instant>` (busy-waiting with deadlines) and `Parking` (the portable fallback),
//! each exercised by several threads with every item or increment counted. The default
//! (`Lock` = `Lock<Futex>`, …) is checked to be the same type as before.
//!
//! Before the wrappers were generic these did not compile: `Lock<SharedFutex>` and the
//! others were not types (every wrapper hard-wired `Futex`).

use std::any::TypeId;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use conkit::core::wait::Spin;
use conkit::threading::{
    self, Barrier, BoundedSemaphore, Condition, Event, Lock, Monitor, Mutex, RLock, Semaphore,
    SemaphoreError,
};
use conkit::wait::{Futex, InstantWait, Parking};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 5_000;

/// Runs `body` on a thread of its own and fails if it has not finished within `secs`
/// (a lost wake-up then fails the test with a message instead of hanging the run).
fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        let r = body();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {secs} s (a lost wake-up?)")
        }
    }
}

/// A read-modify-write that is only correct under mutual exclusion: a lost update
/// shows in the final count.
fn bump(counter: &AtomicU64) {
    let v = counter.load(Ordering::Relaxed);
    std::hint::spin_loop();
    counter.store(v + 1, Ordering::Relaxed);
}

fn lock_excludes<W: InstantWait + 'static>() {
    let lock: Arc<Lock<W>> = Arc::new(Lock::with_strategy());
    let counter = Arc::new(AtomicU64::new(0));
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, counter) = (&lock, &counter);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    match (t + i) % 3 {
                        0 => {
                            let _g = lock.lock();
                            bump(counter);
                        }
                        1 => {
                            assert!(lock.acquire_timeout(Duration::from_secs(20)));
                            bump(counter);
                            lock.release().unwrap();
                        }
                        _ => {
                            while !lock.try_acquire() {
                                std::hint::spin_loop();
                            }
                            bump(counter);
                            lock.release().unwrap();
                        }
                    }
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * PER_THREAD);
    // Held here, released by another thread (Python's rule), timed out meanwhile.
    lock.acquire();
    assert!(!lock.acquire_timeout(Duration::from_millis(2)));
    let other = Arc::clone(&lock);
    thread::spawn(move || other.release().unwrap())
        .join()
        .unwrap();
    assert!(!lock.locked());
    assert!(lock.release().is_err());
}

fn rlock_reenters_and_excludes<W: InstantWait + 'static>() {
    let lock: RLock<W> = RLock::with_strategy();
    let counter = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..PER_THREAD {
                    let _outer = lock.lock();
                    let _inner = lock.lock_timeout(Duration::from_secs(20)).unwrap();
                    assert_eq!(lock.depth(), 2);
                    bump(&counter);
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), THREADS * PER_THREAD);
    assert!(!lock.locked());
}

fn mutex_counts<W: InstantWait + 'static>() {
    let total: Mutex<u64, W> = Mutex::with_strategy(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..PER_THREAD {
                    if i % 2 == 0 {
                        *total.lock() += 1;
                    } else {
                        *total.acquire_timeout(Duration::from_secs(20)).unwrap() += 1;
                    }
                }
            });
        }
    });
    assert_eq!(total.into_inner(), THREADS * PER_THREAD);
}

/// Producers push numbered items into a `VecDeque` under a `Monitor`, consumers wait for
/// them: every item arrives exactly once (count and sum).
fn monitor_hands_over_every_item<W: InstantWait + 'static>() {
    let queue: Monitor<(VecDeque<u64>, u64), W> = Monitor::with_strategy((VecDeque::new(), 0));
    let (received, sum) = (AtomicU64::new(0), AtomicU64::new(0));
    let total = 2 * PER_THREAD;
    thread::scope(|s| {
        for p in 0..2 {
            let queue = &queue;
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let mut g = queue.lock();
                    g.0.push_back(p * PER_THREAD + i);
                    g.notify(1);
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| loop {
                let mut g = queue.lock();
                // `.1` counts items taken; consumers stop once all are taken.
                if !g.wait_for_timeout(|q| !q.0.is_empty() || q.1 == total, Duration::from_secs(20))
                {
                    panic!("no item within 20 s");
                }
                let Some(item) = g.0.pop_front() else {
                    g.notify_all();
                    return;
                };
                g.1 += 1;
                if g.1 == total {
                    g.notify_all();
                }
                drop(g);
                received.fetch_add(1, Ordering::Relaxed);
                sum.fetch_add(item, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(received.into_inner(), total);
    assert_eq!(sum.into_inner(), total * (total - 1) / 2);
}

/// A bounded buffer over one lock and two conditions (Python's `Condition(lock)` twice),
/// the lock shared through `Arc`: the conditions sleep with the lock's strategy.
fn conditions_share_a_lock<W: InstantWait + 'static>() {
    let lock: Arc<Lock<W>> = Arc::new(Lock::with_strategy());
    let not_empty = Condition::with_lock(Arc::clone(&lock));
    let not_full = Condition::with_lock(Arc::clone(&lock));
    let items = AtomicU64::new(0); // changed only under `lock`
    let (consumed, sum) = (AtomicU64::new(0), AtomicU64::new(0));
    const CAP: u64 = 4;
    let n = 2 * PER_THREAD;
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                let _g = not_full.lock();
                assert!(not_full
                    .wait_for_timeout(
                        || items.load(Ordering::Relaxed) < CAP,
                        Duration::from_secs(20)
                    )
                    .unwrap());
                items.fetch_add(1, Ordering::Relaxed);
                sum.fetch_add(i, Ordering::Relaxed);
                not_empty.notify(1).unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..n {
                let _g = not_empty.lock();
                assert!(not_empty
                    .wait_for_timeout(
                        || items.load(Ordering::Relaxed) > 0,
                        Duration::from_secs(20)
                    )
                    .unwrap());
                items.fetch_sub(1, Ordering::Relaxed);
                consumed.fetch_add(1, Ordering::Relaxed);
                not_full.notify(1).unwrap();
            }
        });
    });
    assert_eq!(consumed.into_inner(), n);
    assert_eq!(items.into_inner(), 0);
    assert_eq!(sum.into_inner(), n * (n - 1) / 2);
    // An `RLock` with the same strategy, waited on at depth 2 and restored.
    let cond: Condition<RLock<W>> = Condition::with_lock(RLock::with_strategy());
    let _a = cond.lock();
    let _b = cond.lock();
    assert_eq!(cond.wait_timeout(Duration::from_millis(2)), Ok(false));
    assert_eq!(cond.get_lock().depth(), 2);
}

fn semaphores_count_permits<W: InstantWait + 'static>() {
    // At most two inside at once.
    let slots: Semaphore<W> = Semaphore::with_strategy(2);
    let (inside, max_inside, entered) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU64::new(0));
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..PER_THREAD / 5 {
                    let _p = slots.acquire_guard();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    entered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(max_inside.into_inner() <= 2);
    assert_eq!(entered.into_inner(), THREADS * (PER_THREAD / 5));
    assert_eq!(slots.value(), 2);

    // Items released one at a time, taken three at a time: every permit accounted for.
    let items: Semaphore<W> = Semaphore::with_strategy(0);
    let n = 3 * PER_THREAD;
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                if i % 2 == 0 {
                    items.release().unwrap();
                } else {
                    items.release_many(1).unwrap();
                }
            }
        });
        s.spawn(|| {
            for _ in 0..n / 3 {
                assert!(items.acquire_many_timeout(3, Duration::from_secs(20)));
            }
        });
    });
    assert_eq!(items.value(), 0);

    let bounded: BoundedSemaphore<W> = BoundedSemaphore::with_strategy(2);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..PER_THREAD / 5 {
                    let g = bounded.acquire_many_guard(2);
                    assert_eq!(g.permits(), 2);
                }
            });
        }
    });
    assert_eq!(bounded.release(), Err(SemaphoreError::Overflow));
    assert_eq!(bounded.value(), 2);
}

fn event_wakes_every_waiter<W: InstantWait + 'static>() {
    let go: Event<W> = Event::with_strategy();
    let woken = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                assert!(go.wait_timeout(Duration::from_secs(20)));
                woken.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert!(!go.wait_timeout(Duration::from_millis(5)));
        go.set();
    });
    assert_eq!(woken.into_inner(), THREADS as u32);
    go.clear();
    let deadline = Instant::now() + Duration::from_millis(5);
    assert!(!go.wait_until(deadline));
    assert!(Instant::now() >= deadline);
}

fn barrier_rounds<W: InstantWait + 'static>() {
    const ROUNDS: u32 = 200;
    let barrier: Barrier<W> = Barrier::with_strategy(THREADS as u32);
    let indices = AtomicU64::new(0); // a bit per arrival index per round, summed
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let i = barrier.wait_timeout(Duration::from_secs(20)).unwrap();
                    indices.fetch_add(1 << (i * 8), Ordering::Relaxed);
                }
            });
        }
    });
    // Every index 0..THREADS came up exactly once per round.
    let expected: u64 = (0..THREADS).map(|i| u64::from(ROUNDS) << (i * 8)).sum();
    assert_eq!(indices.into_inner(), expected);
    assert!(!barrier.broken());
    assert!(Barrier::<W>::try_with_strategy(0).is_err());
}

macro_rules! with_strategy {
    ($module:ident, $strategy:ty) => {
        mod $module {
            use super::*;

            type S = $strategy;

            #[test]
            fn lock_excludes_and_times_out() {
                within(60, "Lock", lock_excludes::<S>);
            }
            #[test]
            fn rlock_reenters_and_excludes() {
                within(60, "RLock", super::rlock_reenters_and_excludes::<S>);
            }
            #[test]
            fn mutex_counts_every_increment() {
                within(60, "Mutex", mutex_counts::<S>);
            }
            #[test]
            fn monitor_hands_over_every_item() {
                within(60, "Monitor", super::monitor_hands_over_every_item::<S>);
            }
            #[test]
            fn conditions_over_one_lock_hand_over_every_item() {
                within(60, "Condition", conditions_share_a_lock::<S>);
            }
            #[test]
            fn semaphores_count_every_permit() {
                within(60, "Semaphore", semaphores_count_permits::<S>);
            }
            #[test]
            fn event_wakes_every_waiter() {
                within(60, "Event", super::event_wakes_every_waiter::<S>);
            }
            #[test]
            fn barrier_gives_each_index_once_per_round() {
                within(60, "Barrier", barrier_rounds::<S>);
            }
        }
    };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
with_strategy!(shared_futex, conkit::wait::SharedFutex);
with_strategy!(spin_with_instant, Spin<Instant>);
with_strategy!(parking, Parking);

/// The names as users write them are the `Futex` instantiations, unchanged.
#[test]
fn default_strategy_is_the_futex() {
    fn same<A: 'static, B: 'static>() -> bool {
        TypeId::of::<A>() == TypeId::of::<B>()
    }
    assert!(same::<Lock, Lock<Futex>>());
    assert!(same::<RLock, RLock<Futex>>());
    assert!(same::<Semaphore, Semaphore<Futex>>());
    assert!(same::<BoundedSemaphore, BoundedSemaphore<Futex>>());
    assert!(same::<Event, Event<Futex>>());
    assert!(same::<Barrier, Barrier<Futex>>());
    assert!(same::<Mutex<u8>, Mutex<u8, Futex>>());
    assert!(same::<Monitor<u8>, Monitor<u8, Futex>>());
    assert!(same::<
        threading::LockGuard<'static>,
        threading::LockGuard<'static, Futex>,
    >());
    assert!(same::<
        threading::SemaphoreGuard<'static>,
        threading::SemaphoreGuard<'static, Futex>,
    >());
    // `new` needs no annotation and is `const`, as before.
    static LOCK: Lock = Lock::new();
    static SHARED: Mutex<u32> = Mutex::new(0);
    let l = Lock::new();
    let _g = l.lock();
    *SHARED.lock() += 1;
    assert!(LOCK.try_acquire());
    // And the strategy's sleep is the only difference: a `Futex` lock made through
    // `with_strategy` is the `new` one.
    let same_lock: Lock = Lock::with_strategy();
    assert!(!same_lock.locked());
}

/// The std front ends add no bytes to the core primitive they wrap (without the
/// `deadlock-detection` feature, whose lock numbers are per-process): what the process
/// layer puts in shared memory is the core's plain struct of atomics.
#[cfg(all(
    not(feature = "deadlock-detection"),
    any(target_os = "linux", target_os = "android")
))]
#[test]
fn shared_futex_wrappers_are_the_core_layout() {
    use std::mem::{align_of, size_of};

    use conkit::core;
    use conkit::wait::SharedFutex as S;

    fn same<A, B>() -> bool {
        size_of::<A>() == size_of::<B>() && align_of::<A>() == align_of::<B>()
    }
    assert!(same::<Lock<S>, core::lock::Lock<S>>());
    assert!(same::<Semaphore<S>, core::semaphore::Semaphore<S>>());
    assert!(same::<
        BoundedSemaphore<S>,
        core::semaphore::BoundedSemaphore<S>,
    >());
    assert!(same::<Event<S>, core::event::Event<S>>());
    assert!(same::<
        Mutex<u64, S>,
        core::lock::Mutex<core::lock::Lock<S>, u64>,
    >());
}
