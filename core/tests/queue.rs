//! `conkit_core::queue`: Python `queue` semantics (3.13, incl. `shutdown`), error paths,
//! and multi-thread stress tests that count every item.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::lock::{RawLock, ReleaseError};
use conkit_core::queue::{
    BaseQueue, Empty, Fifo, Full, GetError, LifoQueue, Priority, PriorityQueue, PutError, Queue,
    QueueStore, ShutDown, TaskDoneError,
};
use conkit_core::wait::{Deadline, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

const ITEMS: usize = if cfg!(miri) { 200 } else { 1_000_000 };
/// Threads per side in the stress tests.
const SIDE: usize = if cfg!(miri) { 2 } else { 4 };

/// A deadline on the std clock (core's `std` feature is not needed for the tests).
#[derive(Clone, Copy, Debug)]
struct At(Instant);

impl Deadline for At {
    fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

fn after(ms: u64) -> At {
    At(Instant::now() + Duration::from_millis(ms))
}

/// A waiting strategy that yields the OS thread (kind to a 2-core machine).
struct Yield;

impl WaitStrategy for Yield {
    type Deadline = At;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<At>) -> WaitOutcome {
        if word.load(Ordering::Relaxed) != expected {
            return WaitOutcome::Woken;
        }
        if deadline.is_some_and(|d| d.has_passed()) {
            return WaitOutcome::TimedOut;
        }
        thread::yield_now();
        WaitOutcome::Woken
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}
}

type TimedQueue<T, const N: usize> = Queue<T, N, conkit_core::lock::CriticalSectionMutex, Yield>;

/// A tiny test spin lock, to check queues over a user `RawLock`.
struct TestLock(AtomicBool);

impl RawLock for TestLock {
    fn try_acquire(&self) -> bool {
        !self.0.swap(true, Ordering::Acquire)
    }
    fn acquire(&self) {
        while !self.try_acquire() {
            thread::yield_now();
        }
    }
    fn release(&self) -> Result<(), ReleaseError> {
        if self.0.swap(false, Ordering::Release) {
            Ok(())
        } else {
            Err(ReleaseError::NotLocked)
        }
    }
    fn locked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------- order

#[test]
fn fifo_order() {
    let q: Queue<u32, 4> = Queue::new();
    for i in 0..4 {
        q.put_nowait(i).unwrap();
    }
    let got: Vec<u32> = (0..4).map(|_| q.get_nowait().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    // Wrap around the ring a few times.
    for round in 0..10u32 {
        q.put(round).unwrap();
        q.put(round + 100).unwrap();
        assert_eq!(q.get(), Ok(round));
        assert_eq!(q.get(), Ok(round + 100));
    }
}

#[test]
fn lifo_order() {
    let q: LifoQueue<u32, 4> = LifoQueue::new();
    for i in 0..4 {
        q.put(i).unwrap();
    }
    let got: Vec<u32> = (0..4).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, [3, 2, 1, 0]);
}

#[test]
fn priority_order_smallest_first() {
    let q: PriorityQueue<i32, 8> = PriorityQueue::new();
    for v in [5, 1, 4, 1, 3, -2, 9, 2] {
        q.put_nowait(v).unwrap();
    }
    let got: Vec<i32> = (0..8).map(|_| q.get_nowait().unwrap()).collect();
    assert_eq!(got, [-2, 1, 1, 2, 3, 4, 5, 9]);
}

#[test]
fn priority_ties_with_sequence_numbers_keep_insertion_order() {
    // Python's recipe: (priority, count, item) entries.
    let q: PriorityQueue<(u8, u32, &str), 8> = PriorityQueue::new();
    let items = [(2, "c"), (1, "a"), (2, "d"), (1, "b"), (3, "e"), (2, "f")];
    for (seq, (prio, name)) in items.iter().enumerate() {
        q.put_nowait((*prio, seq as u32, *name)).unwrap();
    }
    let got: Vec<&str> = (0..items.len())
        .map(|_| q.get_nowait().unwrap().2)
        .collect();
    assert_eq!(got, ["a", "b", "c", "d", "f", "e"]);
}

#[test]
fn priority_ties_come_out_in_priority_order() {
    // Equal priorities: the set of items is kept and priorities never decrease.
    let q: PriorityQueue<(u8, char), 6> = PriorityQueue::new();
    for item in [(1, 'x'), (0, 'y'), (1, 'z'), (0, 'w'), (1, 'v'), (0, 'u')] {
        q.put(item).unwrap();
    }
    let got: Vec<(u8, char)> = (0..6).map(|_| q.get().unwrap()).collect();
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    let mut names: Vec<char> = got.iter().map(|e| e.1).collect();
    names.sort_unstable();
    assert_eq!(names, ['u', 'v', 'w', 'x', 'y', 'z']);
}

// ---------------------------------------------------------------- full / empty

#[test]
fn full_and_empty_hand_items_back() {
    let q: Queue<String, 2> = Queue::new();
    assert!(q.empty());
    assert!(!q.full());
    assert_eq!(q.maxsize(), 2);
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    q.put_nowait("a".into()).unwrap();
    q.put_nowait("b".into()).unwrap();
    assert!(q.full());
    assert_eq!(q.qsize(), 2);
    let err = q.put_nowait("c".into()).unwrap_err();
    assert!(err.is_full() && !err.is_shutdown());
    assert_eq!(err.to_string(), "the queue is full");
    assert_eq!(err.into_inner(), "c");
    // The refused item did not count as a task.
    assert_eq!(q.unfinished_tasks(), 2);
    assert_eq!(q.get_nowait().as_deref(), Ok("a"));
    assert_eq!(q.get_nowait().as_deref(), Ok("b"));
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert!(q.empty());
}

#[test]
fn timed_put_and_get_time_out() {
    let q: TimedQueue<u32, 1> = Queue::new();
    let t = Instant::now();
    assert_eq!(q.get_until(after(30)), Err(GetError::Empty));
    assert!(t.elapsed() >= Duration::from_millis(30));
    q.put(1).unwrap();
    let t = Instant::now();
    assert_eq!(q.put_until(2, after(30)), Err(PutError::Full(2)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    // A deadline in the past still succeeds when the operation can proceed at once.
    assert_eq!(q.get_until(At(Instant::now())), Ok(1));
    assert_eq!(q.put_until(3, At(Instant::now())), Ok(()));
    assert_eq!(q.get_until(after(1)), Ok(3));
}

#[test]
fn timed_with_core_spin_strategy() {
    let q: Queue<u32, 1, conkit_core::lock::CriticalSectionMutex, Spin<At>> = Queue::new();
    assert_eq!(q.get_until(after(10)), Err(GetError::Empty));
    q.put_until(7, after(10)).unwrap();
    assert_eq!(q.put_until(8, after(10)), Err(PutError::Full(8)));
    assert!(!q.join_until(after(10)));
    assert_eq!(q.get_until(after(10)), Ok(7));
    q.task_done().unwrap();
    assert!(q.join_until(after(10)));
}

#[test]
fn timed_get_receives_item_from_other_thread() {
    let q: TimedQueue<u32, 1> = Queue::new();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.put(42).unwrap();
        });
        assert_eq!(q.get_until(after(10_000)), Ok(42));
    });
}

#[test]
fn timed_put_gets_slot_freed_by_other_thread() {
    let q: TimedQueue<u32, 1> = Queue::new();
    q.put(1).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            assert_eq!(q.get(), Ok(1));
        });
        assert_eq!(q.put_until(2, after(10_000)), Ok(()));
    });
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn timed_out_gets_never_swallow_items() {
    // Many short timed gets racing with puts: every item put is received exactly once.
    let n = if cfg!(miri) { 50 } else { 20_000 };
    let q: TimedQueue<usize, 2> = Queue::new();
    let received = AtomicUsize::new(0);
    let sum = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                match q.get_until(At(Instant::now() + Duration::from_micros(5))) {
                    Ok(v) => {
                        sum.fetch_add(v, Ordering::Relaxed);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(GetError::Empty) => {}
                    Err(GetError::ShutDown) => break,
                }
            });
        }
        for i in 0..n {
            q.put(i).unwrap();
        }
        q.shutdown(false);
    });
    assert_eq!(received.load(Ordering::Relaxed), n);
    assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
}

// ---------------------------------------------------------------- task_done / join

#[test]
fn task_done_called_too_many_times() {
    let q: Queue<u8, 2> = Queue::new();
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    assert_eq!(
        TaskDoneError::TooManyCalls.to_string(),
        "task_done() called too many times"
    );
    q.put(1).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    q.get().unwrap();
    // Getting does not finish the task.
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    assert_eq!(q.unfinished_tasks(), 0);
    q.join();
}

#[test]
fn join_waits_for_task_done_from_workers() {
    let q: TimedQueue<u32, 4> = Queue::new();
    let done = AtomicUsize::new(0);
    let jobs = if cfg!(miri) { 20 } else { 1000 };
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Ok(_job) = q.get() {
                    done.fetch_add(1, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
        }
        for job in 0..jobs {
            q.put(job).unwrap();
        }
        q.join();
        // join returned: every task_done happened before.
        assert_eq!(done.load(Ordering::SeqCst), jobs as usize);
        assert_eq!(q.unfinished_tasks(), 0);
        q.shutdown(false);
    });
}

#[test]
fn join_blocks_until_last_task_done() {
    let q: TimedQueue<u32, 2> = Queue::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let finished = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            q.join();
            finished.store(true, Ordering::SeqCst);
        });
        q.get().unwrap();
        q.task_done().unwrap();
        q.get().unwrap();
        thread::sleep(Duration::from_millis(20));
        assert!(!finished.load(Ordering::SeqCst), "join returned early");
        q.task_done().unwrap();
    });
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn join_until_times_out() {
    let q: TimedQueue<u32, 2> = Queue::new();
    assert!(q.join_until(after(1)), "no tasks: join returns at once");
    q.put(1).unwrap();
    let t = Instant::now();
    assert!(!q.join_until(after(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    q.get().unwrap();
    assert!(!q.join_until(after(1)), "got but not done");
    q.task_done().unwrap();
    assert!(q.join_until(after(1)));
}

// ---------------------------------------------------------------- shutdown

#[test]
fn shutdown_normal_drains_then_fails() {
    let q: Queue<String, 4> = Queue::new();
    q.put("a".into()).unwrap();
    q.put("b".into()).unwrap();
    assert!(!q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
    // Puts fail and hand the item back.
    assert_eq!(q.put("c".into()), Err(PutError::ShutDown("c".to_string())));
    assert_eq!(
        q.put_nowait("d".into()),
        Err(PutError::ShutDown("d".to_string()))
    );
    assert_eq!(PutError::ShutDown(5).into_inner(), 5);
    assert_eq!(ShutDown.to_string(), "the queue is shut down");
    // Gets drain the remaining items, then fail.
    assert_eq!(q.get().as_deref(), Ok("a"));
    assert_eq!(q.get_nowait().as_deref(), Ok("b"));
    assert_eq!(q.get(), Err(ShutDown));
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    // Tasks are still accounted normally.
    assert_eq!(q.unfinished_tasks(), 2);
    q.task_done().unwrap();
    q.task_done().unwrap();
    q.join();
}

#[test]
fn shutdown_immediate_discards_and_counts_tasks_done() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = AtomicUsize::new(0);
    let q: Queue<Counted<'_>, 4> = Queue::new();
    for _ in 0..3 {
        assert!(q.put_nowait(Counted(&dropped)).is_ok());
    }
    let taken = q.get().ok().unwrap(); // one task in progress
    assert_eq!(q.unfinished_tasks(), 3);
    q.shutdown(true);
    assert!(q.is_shutdown());
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "remaining items dropped");
    assert_eq!(q.qsize(), 0);
    assert_eq!(q.unfinished_tasks(), 1, "only the taken task is unfinished");
    assert!(matches!(q.get_nowait(), Err(GetError::ShutDown)));
    assert!(matches!(q.get(), Err(ShutDown)));
    let refused = q.put_nowait(Counted(&dropped));
    assert!(matches!(refused, Err(PutError::ShutDown(_))));
    drop(refused);
    drop(taken);
    q.task_done().unwrap();
    q.join();
    // Python: a shutdown(False) after an immediate one changes nothing.
    q.shutdown(false);
    assert!(matches!(q.get_nowait(), Err(GetError::ShutDown)));
}

#[test]
fn shutdown_immediate_with_items_makes_gets_fail_at_once() {
    let q: Queue<u8, 4> = Queue::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.shutdown(true);
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    q.join();
}

#[test]
fn shutdown_unblocks_blocked_getters() {
    let q: TimedQueue<u8, 2> = Queue::new();
    thread::scope(|s| {
        let getters: Vec<_> = (0..2).map(|_| s.spawn(|| q.get())).collect();
        let timed = s.spawn(|| q.get_until(after(60_000)));
        thread::sleep(Duration::from_millis(20));
        q.shutdown(false);
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(ShutDown));
        }
        assert_eq!(timed.join().unwrap(), Err(GetError::ShutDown));
    });
}

#[test]
fn shutdown_unblocks_blocked_putters_handing_items_back() {
    let q: TimedQueue<u8, 1> = Queue::new();
    q.put(0).unwrap();
    thread::scope(|s| {
        let p1 = s.spawn(|| q.put(1));
        let p2 = s.spawn(|| q.put_until(2, after(60_000)));
        thread::sleep(Duration::from_millis(20));
        q.shutdown(false);
        assert_eq!(p1.join().unwrap(), Err(PutError::ShutDown(1)));
        assert_eq!(p2.join().unwrap(), Err(PutError::ShutDown(2)));
    });
    // The queued item survives a normal shutdown.
    assert_eq!(q.get(), Ok(0));
}

#[test]
fn shutdown_immediate_unblocks_joiners() {
    let q: TimedQueue<u8, 4> = Queue::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    thread::scope(|s| {
        let j1 = s.spawn(|| q.join());
        let j2 = s.spawn(|| q.join_until(after(60_000)));
        thread::sleep(Duration::from_millis(20));
        q.shutdown(true);
        j1.join().unwrap();
        assert!(j2.join().unwrap());
    });
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn shutdown_normal_does_not_release_joiners() {
    let q: TimedQueue<u8, 4> = Queue::new();
    q.put(1).unwrap();
    q.shutdown(false);
    assert!(!q.join_until(after(20)));
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(q.join_until(after(20)));
}

// ---------------------------------------------------------------- misc

#[test]
fn custom_mutex_and_store() {
    let q: BaseQueue<Fifo<u32, 3>, TestLock> = Queue::with_mutex(TestLock(AtomicBool::new(false)));
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.get(), Ok(1));
    let p: BaseQueue<Priority<u32, 3>, TestLock> =
        BaseQueue::with_store(Priority::new(), TestLock(AtomicBool::new(false)));
    p.put(9).unwrap();
    p.put(3).unwrap();
    assert_eq!(p.get(), Ok(3));
    let d: Queue<u8, 2> = Default::default();
    assert_eq!(d.maxsize(), 2);
}

#[test]
fn stores_directly() {
    let mut f: Fifo<u8, 2> = Fifo::new();
    assert!(f.is_empty());
    f.push(1).unwrap();
    f.push(2).unwrap();
    assert!(f.is_full());
    assert_eq!(f.push(3), Err(3));
    assert_eq!(f.len(), 2);
    assert_eq!(f.capacity(), 2);
    assert_eq!(f.pop(), Some(1));
    assert_eq!(format!("{f:?}"), "Fifo { len: 1, capacity: 2 }");
}

#[test]
fn debug_shows_counters() {
    let q: Queue<u8, 3> = Queue::new();
    q.put(1).unwrap();
    assert_eq!(
        format!("{q:?}"),
        "BaseQueue { qsize: 1, maxsize: 3, unfinished_tasks: 1, shutdown: Open }"
    );
}

#[test]
fn errors_implement_error() {
    fn is_error<E: std::error::Error>(_: &E) {}
    is_error(&PutError::Full(1u8));
    is_error(&PutError::ShutDown(1u8));
    is_error(&GetError::Empty);
    is_error(&TaskDoneError::TooManyCalls);
    // The variants are re-exported under Python's names: one type per direction.
    assert_eq!(ShutDown, GetError::ShutDown);
    assert_eq!(Empty, GetError::Empty);
    assert_eq!(Full(4), PutError::Full(4));
    assert_eq!(GetError::Empty.to_string(), "the queue is empty");
    assert_eq!(Full(4).to_string(), "the queue is full");
}

fn assert_sync<T: Sync + Send>() {}

#[test]
fn queues_are_send_and_sync() {
    assert_sync::<Queue<String, 4>>();
    assert_sync::<LifoQueue<Vec<u8>, 4>>();
    assert_sync::<PriorityQueue<u64, 4>>();
}

/// An item whose `Ord` calls back into its own queue (with a reentrant critical section
/// that would alias the store): must panic, not corrupt memory, and leave the queue usable.
#[derive(PartialEq, Eq, Debug)]
struct Evil(u32);

static EVIL_Q: PriorityQueue<Evil, 4> = PriorityQueue::new();
static EVIL_ON: AtomicBool = AtomicBool::new(false);

impl PartialOrd for Evil {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Evil {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if EVIL_ON.load(Ordering::SeqCst) {
            let _ = EVIL_Q.qsize();
        }
        self.0.cmp(&other.0)
    }
}

#[test]
fn reentry_from_ord_panics_cleanly() {
    EVIL_Q.put_nowait(Evil(2)).unwrap();
    EVIL_ON.store(true, Ordering::SeqCst);
    let r = std::panic::catch_unwind(|| EVIL_Q.put_nowait(Evil(1)));
    EVIL_ON.store(false, Ordering::SeqCst);
    assert!(r.is_err(), "re-entry must panic");
    // Still usable afterwards.
    EVIL_Q.put_nowait(Evil(3)).unwrap();
    let mut got = Vec::new();
    while let Ok(e) = EVIL_Q.get_nowait() {
        got.push(e.0);
    }
    // A put whose `Ord` panicked stored nothing (the heap is all-or-nothing, see
    // `queue::heap`); no item is lost or duplicated.
    got.sort_unstable();
    assert_eq!(got, [2, 3]);
}

// ---------------------------------------------------------------- stress

/// `SIDE` producers and `SIDE` consumers move `ITEMS` distinct items through `q` with
/// blocking put/get; every item is seen exactly once and `join` ends at zero.
fn stress<S>(q: &BaseQueue<S, conkit_core::lock::CriticalSectionMutex, Yield>)
where
    S: QueueStore<Item = u64> + Send,
{
    let seen: Vec<AtomicU8> = (0..ITEMS).map(|_| AtomicU8::new(0)).collect();
    let start = Barrier::new(2 * SIDE + 1);
    thread::scope(|s| {
        for _ in 0..SIDE {
            let (seen, start) = (&seen, &start);
            s.spawn(move || {
                start.wait();
                while let Ok(v) = q.get() {
                    seen[v as usize].fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
            });
        }
        let producers: Vec<_> = (0..SIDE)
            .map(|p| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut i = p;
                    while i < ITEMS {
                        q.put(i as u64).unwrap();
                        i += SIDE;
                    }
                })
            })
            .collect();
        start.wait();
        for p in producers {
            p.join().unwrap();
        }
        // Every item was put: join waits until each was taken and marked done.
        q.join();
        assert_eq!(seen_total(&seen), ITEMS);
        q.shutdown(false);
    });
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.empty());
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.load(Ordering::Relaxed), 1, "item {i}");
    }
}

fn seen_total(seen: &[AtomicU8]) -> usize {
    seen.iter()
        .map(|s| usize::from(s.load(Ordering::Relaxed)))
        .sum()
}

#[test]
fn stress_fifo_4x4() {
    let q: Queue<u64, 16, conkit_core::lock::CriticalSectionMutex, Yield> = Queue::new();
    stress(&q);
}

#[test]
fn stress_lifo() {
    let q: LifoQueue<u64, 16, conkit_core::lock::CriticalSectionMutex, Yield> = LifoQueue::new();
    stress(&q);
}

#[test]
fn stress_priority() {
    let q: PriorityQueue<u64, 16, conkit_core::lock::CriticalSectionMutex, Yield> =
        PriorityQueue::new();
    stress(&q);
}

#[test]
fn stress_fifo_keeps_per_producer_order() {
    // FIFO promise: items of one producer reach one consumer in the order put. With a
    // single consumer, every producer's sequence arrives in order.
    let per = ITEMS / 10;
    let q: TimedQueue<(u8, usize), 16> = Queue::new();
    thread::scope(|s| {
        for p in 0..2u8 {
            let q = &q;
            s.spawn(move || {
                for i in 0..per {
                    q.put((p, i)).unwrap();
                }
            });
        }
        let mut next = [0usize; 2];
        for _ in 0..2 * per {
            let (p, i) = q.get().unwrap();
            assert_eq!(i, next[p as usize]);
            next[p as usize] += 1;
            q.task_done().unwrap();
        }
        assert_eq!(next, [per, per]);
    });
    q.join();
}

#[test]
fn stress_with_core_spin_and_shared_arc() {
    // The default strategy (Spin) with owned handles, fewer items.
    let n = ITEMS / 20;
    let q: Arc<Queue<u64, 8>> = Arc::new(Queue::new());
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..n as u64 {
                    q.put(i * 2 + p).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Ok(v) = q.get() {
                    count += 1;
                    sum += v;
                    q.task_done().unwrap();
                }
                (count, sum)
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.join();
    q.shutdown(false);
    let (count, sum) = consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let total = 2 * n as u64;
    assert_eq!(count, total);
    assert_eq!(sum, total * (total - 1) / 2);
}

// ---------------------------------------------------------------- async

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use conkit_core::asynch::Async;

    use crate::common::block_on;

    #[test]
    fn async_put_get_join() {
        let q: Async<Queue<u32, 2>> = Async::new(Queue::new());
        block_on(async {
            q.put(1).await.unwrap();
            q.put(2).await.unwrap();
            assert_eq!(q.get().await, Ok(1));
            q.task_done().unwrap();
            assert_eq!(q.get_nowait(), Ok(2));
            q.task_done().unwrap();
            q.join().await;
        });
        assert_eq!(q.put_nowait(3), Ok(()));
        assert_eq!(q.inner().qsize(), 1);
    }

    #[test]
    fn async_across_threads() {
        let n = if cfg!(miri) { 50 } else { 20_000u64 };
        let q: Async<Queue<u64, 4>> = Async::new(Queue::new());
        thread::scope(|s| {
            s.spawn(|| {
                block_on(async {
                    for i in 0..n {
                        q.put(i).await.unwrap();
                    }
                    q.join().await;
                    q.shutdown(false);
                })
            });
            let sum = block_on(async {
                let mut sum = 0;
                while let Ok(v) = q.get().await {
                    sum += v;
                    q.task_done().unwrap();
                }
                sum
            });
            assert_eq!(sum, n * (n - 1) / 2);
        });
    }

    #[test]
    fn async_shutdown_wakes_parked_get_and_put() {
        let q: Async<Queue<u8, 1>> = Async::new(Queue::new());
        thread::scope(|s| {
            let g = s.spawn(|| block_on(q.get()));
            thread::sleep(Duration::from_millis(20));
            q.shutdown(false);
            assert_eq!(g.join().unwrap(), Err(ShutDown));
        });
        let q: Async<Queue<u8, 1>> = Async::new(Queue::new());
        q.put_nowait(0).unwrap();
        thread::scope(|s| {
            let p = s.spawn(|| block_on(q.put(5)));
            thread::sleep(Duration::from_millis(20));
            q.shutdown(true);
            assert_eq!(p.join().unwrap(), Err(PutError::ShutDown(5)));
        });
        assert_eq!(q.inner().unfinished_tasks(), 0);
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        assert_eq!(q.put_nowait(1), Err(PutError::ShutDown(1)));
    }
}
