//! Panic safety of `conkit::queue` and `conkit::threading`: user code that panics while a
//! lock, flag or counter is held (an item's `Ord` or `Drop`, a `Barrier` action, a
//! `Condition::wait_for` predicate, a `Timer` function, a `Local` initialiser or value)
//! leaves every object usable, with exactly the contents it had before the failed call.
//! Plus Python's assignable `q.maxsize` (`set_maxsize`).
//!
//! Every test runs its body in a helper thread with a time limit ([`within`]), so that a
//! lock left held turns into a failure instead of a hung test run.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use conkit::queue::{
    FixedCapacity, Full, GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue,
};
use conkit::threading::{
    set_excepthook, Barrier, BrokenBarrier, Condition, Local, Lock, RLock, Thread, ThreadError,
    Timer,
};

// ---------------------------------------------------------------------------------------
// Helpers

#[path = "../../core/tests/common/panic_kit.rs"]
mod panic_kit;

use panic_kit::{
    arm_cmp, disarm_cmp, message_of, panics, Bomb, Key, KEYS, LIMIT, MAX_CMPS, PLANNED,
};

/// Panics reported to `excepthook` by conkit threads (every test shares the hook).
static HOOKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// [`panic_kit::within`] with conkit threads' panics going to a recording `excepthook`.
fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        set_excepthook(|args| {
            let name = args.thread.map(Thread::name).unwrap_or_default();
            HOOKED
                .lock()
                .unwrap()
                .push(format!("{name}: {}", args.message));
        });
    });
    panic_kit::within(f)
}

fn filled(alive: &Arc<AtomicUsize>) -> PriorityQueue<Key> {
    let q = PriorityQueue::new(0);
    for k in KEYS {
        q.put(Key::new(k, alive)).unwrap();
    }
    q
}

/// Every item out, smallest first, exactly `expected`; all done; `join` returns.
fn drain_in_order(q: &PriorityQueue<Key>, expected: &[u32]) {
    let mut got = Vec::new();
    while let Ok(item) = q.get_nowait() {
        got.push(item.key);
        q.task_done().unwrap();
    }
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.join_timeout(Duration::from_secs(5)));
}

/// Wakes a parked thread.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls `fut` on this thread, parking in between.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(start.elapsed() < LIMIT, "lost wake-up");
        thread::park_timeout(Duration::from_millis(100));
    }
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// PriorityQueue: a panicking `Ord`

#[test]
fn priority_queue_usable_after_ord_panics_in_put() {
    within(|| {
        let mut panicked_somewhere = false;
        for k in 1..=MAX_CMPS {
            let alive = Arc::new(AtomicUsize::new(0));
            let q = filled(&alive);
            let new = Key::new(5, &alive);
            arm_cmp(k);
            let panicked = panics(|| q.put_nowait(new));
            disarm_cmp();
            let mut expected = KEYS.to_vec();
            if panicked {
                panicked_somewhere = true;
                assert_eq!(q.qsize(), KEYS.len(), "k = {k}");
                assert_eq!(q.unfinished_tasks(), KEYS.len(), "k = {k}");
                assert_eq!(alive.load(AtomicOrdering::SeqCst), KEYS.len(), "k = {k}");
            } else {
                expected.push(5);
            }
            drain_in_order(&q, &expected);
            drop(q);
            assert_eq!(alive.load(AtomicOrdering::SeqCst), 0, "k = {k}");
        }
        assert!(panicked_somewhere);
    });
}

#[test]
fn priority_queue_usable_after_ord_panics_in_get() {
    within(|| {
        let mut panicked_somewhere = false;
        for k in 1..=MAX_CMPS {
            let alive = Arc::new(AtomicUsize::new(0));
            let q = filled(&alive);
            arm_cmp(k);
            let got = panic::catch_unwind(AssertUnwindSafe(|| q.get_nowait()));
            disarm_cmp();
            let mut expected = KEYS.to_vec();
            match got {
                Err(_) => {
                    panicked_somewhere = true;
                    assert_eq!(q.qsize(), KEYS.len(), "k = {k}");
                    assert_eq!(alive.load(AtomicOrdering::SeqCst), KEYS.len(), "k = {k}");
                }
                Ok(item) => {
                    assert_eq!(item.unwrap().key, 10);
                    expected.retain(|&x| x != 10);
                    q.task_done().unwrap();
                }
            }
            drain_in_order(&q, &expected);
        }
        assert!(panicked_somewhere);
    });
}

#[test]
fn priority_queue_blocking_and_timed_forms_usable_after_ord_panics() {
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let q = filled(&alive);
        arm_cmp(1);
        assert!(panics(|| q.get()));
        arm_cmp(1);
        assert!(panics(|| q.get_timeout(Duration::from_millis(10))));
        arm_cmp(1);
        assert!(panics(|| q.put(Key::new(1, &alive))));
        arm_cmp(1);
        assert!(panics(
            || q.put_timeout(Key::new(1, &alive), Duration::from_millis(10))
        ));
        disarm_cmp();
        assert_eq!(q.qsize(), KEYS.len());
        assert_eq!(q.unfinished_tasks(), KEYS.len());
        drain_in_order(&q, &KEYS);
    });
}

#[test]
fn priority_queue_async_forms_usable_after_ord_panics() {
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let q = filled(&alive);
        arm_cmp(1);
        assert!(panics(|| block_on(q.get_async())));
        arm_cmp(1);
        assert!(panics(|| block_on(q.put_async(Key::new(1, &alive)))));
        disarm_cmp();
        assert_eq!(block_on(q.get_async()).unwrap().key, 10);
        q.task_done().unwrap();
        drain_in_order(&q, &[20, 30, 50, 70, 80, 90]);
    });
}

#[test]
fn priority_queue_other_threads_keep_working_after_ord_panics() {
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let q = Arc::new(PriorityQueue::new(0));
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get().map(|k: Key| k.key))
        };
        eventually("the getter waits", || q.empty());
        thread::sleep(Duration::from_millis(20));
        q.put(Key::new(3, &alive)).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(3));
        q.put(Key::new(4, &alive)).unwrap();
        arm_cmp(1);
        assert!(panics(|| q.put(Key::new(2, &alive))));
        disarm_cmp();
        let other = {
            let q = q.clone();
            thread::spawn(move || q.get().map(|k: Key| k.key))
        };
        assert_eq!(other.join().unwrap(), Ok(4));
    });
}

// ---------------------------------------------------------------------------------------
// Immediate shutdown with items whose `Drop` panics

#[test]
fn lifo_queue_shutdown_immediate_drains_every_item_when_drops_panic() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = LifoQueue::new(0);
        for id in 0..6 {
            q.put(Bomb::new(id, id == 2 || id == 4, &drops)).unwrap();
        }
        let payload = panic::catch_unwind(AssertUnwindSafe(|| q.shutdown(true))).unwrap_err();
        // LIFO: item 4 is dropped first; its panic is the one that comes back.
        assert_eq!(
            message_of(&*payload),
            Some("planned panic in Drop of item 4")
        );
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 6);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.join_timeout(Duration::from_secs(5)));
        assert_eq!(q.get_nowait().map(|b| b.id), Err(GetError::ShutDown));
    });
}

#[test]
fn queue_shutdown_immediate_drains_every_item_when_drops_panic() {
    within(|| {
        // Bounded: the lock-free ring; 0: the lock-based store.
        for maxsize in [8, 0] {
            let drops = Arc::new(AtomicUsize::new(0));
            let q = Queue::new(maxsize);
            for id in 0..6 {
                q.put(Bomb::new(id, id == 1 || id == 3, &drops)).unwrap();
            }
            let taken = q.get().unwrap();
            assert!(panics(|| q.shutdown(true)), "maxsize {maxsize}");
            assert_eq!(drops.load(AtomicOrdering::SeqCst), 5, "maxsize {maxsize}");
            assert_eq!(q.qsize(), 0);
            assert_eq!(q.unfinished_tasks(), 1, "maxsize {maxsize}");
            drop(taken);
            q.task_done().unwrap();
            assert!(q.join_timeout(Duration::from_secs(5)), "maxsize {maxsize}");
        }
    });
}

#[test]
fn join_blocked_during_a_panicking_shutdown_is_released() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Arc::new(LifoQueue::new(0));
        for id in 0..3 {
            q.put(Bomb::new(id, id == 2, &drops)).unwrap();
        }
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        thread::sleep(Duration::from_millis(20));
        assert!(panics(|| q.shutdown(true)));
        joiner.join().unwrap();
    });
}

#[test]
fn simple_queue_item_whose_drop_panics_after_get_leaves_it_usable() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = SimpleQueue::new();
        q.put(Bomb::new(0, true, &drops));
        q.put(Bomb::new(1, false, &drops));
        assert!(panics(|| drop(q.get())));
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get().id, 1);
    });
}

// ---------------------------------------------------------------------------------------
// threading

#[test]
fn barrier_action_panic_breaks_it_for_the_others_and_reset_restores_it() {
    within(|| {
        let fail = Arc::new(AtomicBool::new(true));
        let b = {
            let fail = fail.clone();
            Arc::new(Barrier::new(3).with_action(move || {
                if fail.load(AtomicOrdering::SeqCst) {
                    panic!("planned panic in the barrier action");
                }
            }))
        };
        let run_round = |b: &Arc<Barrier>| {
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || panic::catch_unwind(AssertUnwindSafe(|| b.wait())))
                })
                .collect();
            eventually("two parties wait", || b.n_waiting() == 2);
            let mine = panic::catch_unwind(AssertUnwindSafe(|| b.wait()));
            let mut all: Vec<_> = others.into_iter().map(|o| o.join().unwrap()).collect();
            all.push(mine);
            all
        };
        let results = run_round(&b);
        // The last to arrive ran the action and panicked; the others got BrokenBarrier.
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(
            results
                .iter()
                .filter(|r| matches!(r, Ok(Err(BrokenBarrier))))
                .count(),
            2
        );
        assert!(b.broken());
        b.reset();
        fail.store(false, AtomicOrdering::SeqCst);
        let mut indices: Vec<usize> = run_round(&b)
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2]);
    });
}

#[test]
fn condition_wait_for_predicate_panic_releases_the_lock_with_the_guard() {
    within(|| {
        wait_for_predicate_panic_case(Condition::new()); // RLock
        wait_for_predicate_panic_case(Condition::with_lock(Lock::new()));
    });
}

fn wait_for_predicate_panic_case<L>(cond: Condition<L>)
where
    L: conkit::threading::ConditionLock + Send + Sync + 'static,
{
    let cond = Arc::new(cond);
    let state = Arc::new(AtomicUsize::new(0));
    // A well-behaved waiter, waiting for state == 2.
    let good = {
        let (cond, state) = (cond.clone(), state.clone());
        thread::spawn(move || cond.wait_for_value(&state, 2, false))
    };
    // A waiter whose predicate panics once it is woken (state != 0).
    let bad = {
        let (cond, state) = (cond.clone(), state.clone());
        thread::spawn(move || {
            panic::catch_unwind(AssertUnwindSafe(|| cond.wait_for_value(&state, 9, true))).is_err()
        })
    };
    eventually("both wait", || cond.waiters() == 2);
    cond.set_and_notify_all(&state, 1);
    assert!(
        bad.join().unwrap(),
        "the predicate's panic reached its caller"
    );
    // The panicking waiter's guard released the lock on unwind, so the good waiter
    // could re-check and sleep again.
    eventually("the good waiter sleeps again", || cond.waiters() == 1);
    cond.set_and_notify_all(&state, 2);
    assert!(good.join().unwrap());
    assert_eq!(cond.waiters(), 0);
}

/// The operations the condition test needs, over `Condition<Lock>` and
/// `Condition<RLock>` alike.
trait CondOps {
    fn wait_for_value(&self, state: &AtomicUsize, want: usize, panic_when_woken: bool) -> bool;
    fn set_and_notify_all(&self, state: &AtomicUsize, value: usize);
}

impl<L: conkit::threading::ConditionLock> CondOps for Condition<L> {
    fn wait_for_value(&self, state: &AtomicUsize, want: usize, panic_when_woken: bool) -> bool {
        let _g = self.lock();
        self.wait_for(|| {
            let now = state.load(AtomicOrdering::SeqCst);
            if panic_when_woken && now != 0 {
                panic!("planned panic in the wait_for predicate");
            }
            now == want
        })
        .is_ok()
    }
    fn set_and_notify_all(&self, state: &AtomicUsize, value: usize) {
        let _g = self.lock();
        state.store(value, AtomicOrdering::SeqCst);
        self.notify_all().unwrap();
    }
}

#[test]
fn rlock_guard_released_at_every_depth_when_the_section_panics() {
    within(|| {
        let l = Arc::new(RLock::new());
        assert!(panics(|| {
            let _a = l.lock();
            let _b = l.lock();
            panic!("planned panic under an RLock");
        }));
        let l2 = l.clone();
        assert!(
            thread::spawn(move || l2.try_acquire() && l2.release().is_ok())
                .join()
                .unwrap()
        );
    });
}

#[test]
fn timer_function_panic_marks_it_finished_reports_it_and_join_returns() {
    within(|| {
        let t = Timer::new(Duration::from_millis(1), || {
            panic!("planned panic in the timer function")
        });
        t.thread().set_name("panicking-timer");
        t.start().unwrap();
        let joined = t.join();
        assert!(
            matches!(&joined, Err(ThreadError::Panicked { message, .. }) if message.starts_with(PLANNED)),
            "{joined:?}"
        );
        assert!(t.is_finished(), "the timer is not marked finished");
        assert!(t.finished().wait_timeout(Duration::from_secs(1)));
        t.cancel(); // no effect, no hang
        assert!(HOOKED
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.starts_with("panicking-timer: planned panic in the timer function")));
    });
}

#[test]
fn local_init_panic_stores_nothing_and_the_next_access_initialises() {
    within(|| {
        let first = Arc::new(AtomicBool::new(true));
        let local = {
            let first = first.clone();
            Local::with_init(move || {
                if first.swap(false, AtomicOrdering::SeqCst) {
                    panic!("planned panic in the Local initialiser");
                }
                7u32
            })
        };
        assert!(panics(|| local.get()));
        assert_eq!(local.get(), 7);
        local.with_mut(|v| *v += 1);
        // A panic inside `with_mut` keeps the value (no poisoning) and frees the slot.
        assert!(panics(|| local.with_mut(|v| {
            *v += 1;
            panic!("planned panic inside with_mut");
        })));
        assert_eq!(local.get(), 9);
    });
}

#[test]
fn thread_join_returns_when_a_local_value_drop_panics() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let local = Arc::new(Local::with_init({
            let drops = drops.clone();
            move || Bomb::new(0, false, &drops)
        }));
        let t = {
            let local = local.clone();
            let drops = drops.clone();
            Thread::builder().name("local-bomb").target(move || {
                local.set(Bomb::new(1, true, &drops));
            })
        };
        t.start().unwrap();
        let joined = t.join();
        assert!(
            matches!(&joined, Err(ThreadError::Panicked { message, .. }) if message.contains("item 1")),
            "{joined:?}"
        );
        assert!(!t.is_alive());
        // init's value (item 0) and the set one (item 1) were both dropped.
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 2);
    });
}

// ---------------------------------------------------------------------------------------
// set_maxsize (Python: `q.maxsize = n`)

#[test]
fn set_maxsize_grow_wakes_a_blocked_putter() {
    within(|| {
        let q = Arc::new(PriorityQueue::new(1));
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        thread::sleep(Duration::from_millis(30));
        assert_eq!(q.qsize(), 1, "the putter must wait");
        q.set_maxsize(2).unwrap();
        putter.join().unwrap().unwrap();
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.maxsize(), 2);
        assert!(q.full());
    });
}

#[test]
fn set_maxsize_zero_makes_it_unbounded_and_wakes_an_async_putter() {
    within(|| {
        let q = Arc::new(LifoQueue::new(1));
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put_async(2)))
        };
        thread::sleep(Duration::from_millis(30));
        q.set_maxsize(0).unwrap();
        putter.join().unwrap().unwrap();
        for i in 3..100 {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(q.maxsize(), 0);
        assert!(!q.full());
    });
}

#[test]
fn set_maxsize_shrink_applies_to_the_next_put_and_keeps_the_items() {
    within(|| {
        let q = Queue::new(0); // lock-based backend
        for i in 0..5 {
            q.put(i).unwrap();
        }
        q.set_maxsize(3).unwrap();
        assert_eq!(q.qsize(), 5);
        assert!(q.full());
        assert_eq!(q.put_nowait(9), Err(Full(9)));
        assert_eq!(
            q.put_timeout(9, Duration::from_millis(5)),
            Err(PutError::Full(9))
        );
        for i in 0..3 {
            assert_eq!(q.get().unwrap(), i);
        }
        q.put_nowait(9).unwrap();
        assert_eq!(q.put_nowait(10), Err(Full(10)));
    });
}

#[test]
fn set_maxsize_on_a_bounded_ring_queue_is_a_typed_error() {
    let q = Queue::<u8>::new(4);
    assert_eq!(q.set_maxsize(8), Err(FixedCapacity));
    assert_eq!(q.set_maxsize(0), Err(FixedCapacity));
    assert_eq!(q.set_maxsize(4), Ok(()));
    assert_eq!(q.maxsize(), 4);
    assert_eq!(FixedCapacity.to_string(), "the queue's capacity is fixed");
}
