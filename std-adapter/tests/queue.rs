//! `conkit::queue`: Python's `queue` module (semantics checked against CPython 3.13).

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use conkit::queue::{
    Empty, FixedCapacity, Full, GetError, LifoQueue, PriorityQueue, PutError, Queue, ShutDown,
    SimpleQueue, TaskDoneError,
};

// ---- helpers ----

/// Wakes a parked thread (the executor of `block_on`) and counts wake-ups.
struct ThreadWaker {
    thread: thread::Thread,
    wakes: AtomicUsize,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn thread_waker() -> (Arc<ThreadWaker>, Waker) {
    let w = Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (w.clone(), Waker::from(w))
}

/// A boxed `get_async` future of a `Queue<i32>`.
type GetFuture<'a> = Pin<Box<dyn Future<Output = Result<i32, GetError>> + 'a>>;

/// A `get_async` future of the empty `q`, polled once (pending) with a waker that
/// counts its wake-ups.
fn pending_get(q: &Queue<i32>) -> (Arc<ThreadWaker>, Waker, GetFuture<'_>) {
    let (w, waker) = thread_waker();
    let mut f: GetFuture<'_> = Box::pin(q.get_async());
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    (w, waker, f)
}

/// A minimal executor: polls `fut` on this thread, parking in between (a lost wake-up
/// shows as a hang, reported after 30 s).
fn block_on<F: Future>(fut: F) -> F::Output {
    let (_, waker) = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "lost wake-up");
        thread::park_timeout(Duration::from_secs(1));
    }
}

/// Waits (politely) until `cond` holds, failing after a generous bound.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

const GENEROUS: Duration = Duration::from_secs(10);

/// Runs its closure if the thread panics while it lives (e.g. shuts a queue down so
/// that threads blocked on it fail too, instead of hanging the test's scope).
struct OnPanic<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnPanic<F> {
    fn drop(&mut self) {
        if thread::panicking() {
            (self.0)();
        }
    }
}

/// Per-item accounting: how often each item `0..n` was received. A count and a sum
/// would let a lost item and a duplicated one cancel out; this does not.
struct Seen(Vec<AtomicU8>);

impl Seen {
    fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicU8::new(0)).collect())
    }

    /// Records that `item` was received. (Not asserted here: a consumer that panicked
    /// would leave tasks undone and block the test instead of failing it.)
    fn mark(&self, item: u64) {
        self.0[item as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How often `item` was received.
    fn times(&self, item: u64) -> u8 {
        self.0[item as usize].load(Ordering::Relaxed)
    }

    /// Fails unless every item was received exactly once.
    fn assert_each_once(&self) {
        let wrong: Vec<(usize, u8)> = (0..self.0.len())
            .map(|i| (i, self.0[i].load(Ordering::Relaxed)))
            .filter(|&(_, times)| times != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {} items not received exactly once, e.g. (item, times) {:?}",
            wrong.len(),
            self.0.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}

// ---- the seed's producer/consumer ----

#[test]
fn producer_consumer_with_task_done_and_join() {
    // Python: q = Queue(); producers put; daemon consumers get/task_done; q.join().
    let q = Queue::new(10);
    let done = AtomicUsize::new(0);
    let seen = Seen::new(2000);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Ok(item) = q.get() {
                    seen.mark(item);
                    done.fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
            });
        }
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let q = &q;
                s.spawn(move || {
                    for i in 0..500 {
                        q.put(p * 1000 + i).unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.join();
        // After join every item was taken and marked done.
        let counts = (done.load(Ordering::Relaxed), q.unfinished_tasks());
        // Before asserting: a failed assert here would leave the consumers blocked in
        // `get` and the scope waiting for them forever.
        q.shutdown(false);
        assert_eq!(
            counts,
            (1000, 0),
            "(items done, unfinished tasks) after join"
        );
    });
    // Producer p put p * 1000 + 0..500: mark the numbers nobody put as seen.
    for v in (500..1000).chain(1500..2000) {
        seen.mark(v);
    }
    seen.assert_each_once();
}

// ---- every error ----

#[test]
fn put_nowait_on_full_queue_hands_the_item_back() {
    let q = Queue::new(1);
    q.put_nowait(String::from("a")).unwrap();
    assert!(q.full());
    assert_eq!(
        q.put_nowait(String::from("b")),
        Err(Full(String::from("b")))
    );
    assert_eq!(q.qsize(), 1);
}

#[test]
fn put_timeout_on_full_queue_returns_full_not_before_the_deadline() {
    let q = Queue::new(1);
    q.put(1).unwrap();
    let t = Instant::now();
    assert_eq!(q.put_timeout(2, Duration::from_millis(50)), Err(Full(2)));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert!(waited < GENEROUS, "{waited:?}");
}

#[test]
fn get_nowait_and_get_timeout_on_empty_queue_are_empty() {
    let q: Queue<u8> = Queue::new(0);
    assert_eq!(q.get_nowait(), Err(Empty));
    let t = Instant::now();
    assert_eq!(q.get_timeout(Duration::from_millis(50)), Err(Empty));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert!(waited < GENEROUS, "{waited:?}");
    // Python: get(timeout=0) on an empty queue raises Empty at once.
    assert_eq!(q.get_timeout(Duration::ZERO), Err(Empty));
}

#[test]
fn task_done_too_many_times_is_an_error() {
    let q = Queue::new(0);
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    q.put(1).unwrap();
    q.get().unwrap();
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn every_put_after_shutdown_hands_the_item_back() {
    let q = Queue::new(4);
    q.shutdown(false);
    assert!(q.is_shutdown());
    assert_eq!(q.put(1), Err(PutError::ShutDown(1)));
    assert_eq!(q.put_nowait(2), Err(PutError::ShutDown(2)));
    assert_eq!(
        q.put_timeout(3, Duration::from_millis(1)),
        Err(PutError::ShutDown(3))
    );
    assert_eq!(q.qsize(), 0);
}

#[test]
fn timed_out_join_returns_false_not_before_the_deadline() {
    let q = Queue::new(0);
    q.put(1).unwrap();
    let t = Instant::now();
    assert!(!q.join_timeout(Duration::from_millis(50)));
    assert!(t.elapsed() >= Duration::from_millis(50));
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_millis(1)));
}

// ---- the three orders ----

#[test]
fn fifo_order() {
    let q = Queue::new(0);
    for i in [3, 1, 2] {
        q.put(i).unwrap();
    }
    let got: Vec<_> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, [3, 1, 2]);
}

#[test]
fn lifo_order() {
    let q = LifoQueue::new(0);
    for i in [3, 1, 2] {
        q.put(i).unwrap();
    }
    let got: Vec<_> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, [2, 1, 3]);
}

#[test]
fn priority_order_is_smallest_first_like_heapq() {
    let q = PriorityQueue::new(0);
    for (p, name) in [(5, "e"), (1, "a"), (3, "c"), (2, "b"), (4, "d"), (1, "a2")] {
        q.put((p, name)).unwrap();
    }
    let got: Vec<_> = (0..6).map(|_| q.get().unwrap()).collect();
    assert_eq!(
        got,
        [(1, "a"), (1, "a2"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    );
}

#[test]
fn maxsize_zero_is_unbounded() {
    let q = Queue::new(0);
    assert_eq!(q.maxsize(), 0);
    for i in 0..10_000 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.full());
    assert_eq!(q.qsize(), 10_000);
    let bounded: LifoQueue<u8> = LifoQueue::new(3);
    assert_eq!(bounded.maxsize(), 3);
    assert!(Queue::<u8>::default().maxsize() == 0);
}

#[test]
fn empty_full_qsize() {
    let q = PriorityQueue::new(2);
    assert!(q.empty() && !q.full() && q.qsize() == 0);
    q.put(1).unwrap();
    assert!(!q.empty() && !q.full() && q.qsize() == 1);
    q.put(2).unwrap();
    assert!(!q.empty() && q.full() && q.qsize() == 2);
}

// ---- shutdown (Python 3.13) ----

#[test]
fn shutdown_lets_gets_drain_then_fails_them() {
    let q = Queue::new(3);
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.shutdown(false);
    assert_eq!(q.put(3), Err(PutError::ShutDown(3)));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(q.get(), Err(ShutDown));
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(
        q.get_timeout(Duration::from_millis(1)),
        Err(GetError::ShutDown)
    );
    // CPython 3.13: unfinished_tasks is still 2 (nothing was marked done).
    assert_eq!(q.unfinished_tasks(), 2);
}

#[test]
fn immediate_shutdown_drops_the_items_and_releases_join() {
    // CPython 3.13: put 1, 2, 3; get one; shutdown(immediate=True) → qsize 0,
    // unfinished 1, get raises ShutDown; one task_done releases join.
    let q = Queue::new(3);
    let last = Arc::new(3);
    q.put(Arc::new(1)).unwrap();
    q.put(Arc::new(2)).unwrap();
    q.put(last.clone()).unwrap();
    let taken = q.get().unwrap();
    q.shutdown(true);
    assert_eq!(q.qsize(), 0);
    assert_eq!(Arc::strong_count(&last), 1, "the queue dropped its items");
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get(), Err(ShutDown));
    assert_eq!(*taken, 1);
    thread::scope(|s| {
        let joiner = s.spawn(|| q.join());
        thread::sleep(Duration::from_millis(20));
        q.task_done().unwrap();
        joiner.join().unwrap();
    });
    // A later non-immediate shutdown does not undo it.
    q.shutdown(false);
    assert!(q.is_shutdown());
}

#[test]
fn shutdown_wakes_blocked_getters_and_putters() {
    let empty: Queue<u32> = Queue::new(1);
    let full = Queue::new(1);
    full.put(0).unwrap();
    thread::scope(|s| {
        let getters: Vec<_> = (0..3).map(|_| s.spawn(|| empty.get())).collect();
        let full = &full;
        let putters: Vec<_> = (1..=3).map(|i| s.spawn(move || full.put(i))).collect();
        thread::sleep(Duration::from_millis(50));
        empty.shutdown(false);
        full.shutdown(false);
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(ShutDown));
        }
        let mut back: Vec<u32> = putters
            .into_iter()
            .map(|p| p.join().unwrap().unwrap_err().into_inner())
            .collect();
        back.sort();
        assert_eq!(back, [1, 2, 3], "every putter got its item back");
    });
    // Non-immediate: the queued item can still be got.
    assert_eq!(full.get(), Ok(0));
}

#[test]
fn immediate_shutdown_wakes_a_blocked_joiner() {
    let q = Queue::new(0);
    q.put(1).unwrap();
    q.put(2).unwrap();
    thread::scope(|s| {
        let joiner = s.spawn(|| q.join());
        thread::sleep(Duration::from_millis(20));
        q.shutdown(true);
        joiner.join().unwrap();
    });
    assert_eq!(q.unfinished_tasks(), 0);
}

// ---- stress: every item counted once ----

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 250_000;

/// 4 producers × 4 consumers × 250 000 items through a bounded queue; every item is
/// received exactly once (per-item accounting), then `join` sees every task done.
/// With `$fifo`, each consumer also receives each producer's items in the order they
/// were put.
macro_rules! stress {
    ($q:expr, $fifo:expr) => {{
        let q = $q;
        let n = PRODUCERS * PER_PRODUCER;
        let seen = Seen::new(n as usize + 1);
        seen.mark(0); // items are 1..=n
        let out_of_order = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..CONSUMERS {
                s.spawn(|| {
                    let mut last = [0u64; PRODUCERS as usize];
                    while let Ok(v) = q.get() {
                        seen.mark(v);
                        if $fifo {
                            let p = ((v - 1) / PER_PRODUCER) as usize;
                            if v <= last[p] {
                                // Asserted below (a panic here would hang `join`).
                                out_of_order.fetch_add(1, Ordering::Relaxed);
                            }
                            last[p] = v;
                        }
                        q.task_done().unwrap();
                    }
                });
            }
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let q = &q;
                    s.spawn(move || {
                        for i in 0..PER_PRODUCER {
                            q.put(p * PER_PRODUCER + i + 1).unwrap();
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            assert!(
                q.join_timeout(Duration::from_secs(120)),
                "join: tasks left undone (a lost wake-up?)"
            );
            q.shutdown(false);
        });
        // join returned: every item was got and marked done.
        seen.assert_each_once();
        assert_eq!(
            out_of_order.load(Ordering::Relaxed),
            0,
            "items of one producer reached a consumer out of order"
        );
        assert_eq!(q.qsize(), 0);
    }};
}

#[test]
fn stress_fifo_4x4_every_item_once() {
    stress!(Queue::new(64), true);
}

#[test]
fn stress_lifo_4x4_every_item_once() {
    stress!(LifoQueue::new(64), false);
}

#[test]
fn stress_priority_4x4_every_item_once() {
    stress!(PriorityQueue::new(64), false);
}

#[test]
fn get_timeout_never_swallows_an_item() {
    // Many getters with very short timeouts race a producer: a timed-out get that took
    // an item and then reported `Empty` would lose it, and the count would come up short.
    const ITEMS: u64 = 100_000;
    let q = Queue::new(16);
    let producing = AtomicBool::new(true);
    let seen = Seen::new(ITEMS as usize + 1);
    seen.mark(0); // items are 1..=ITEMS
    thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| loop {
                match q.get_timeout(Duration::from_micros(50)) {
                    Ok(v) => seen.mark(v),
                    Err(Empty) if producing.load(Ordering::Acquire) => {}
                    Err(Empty) => {
                        if q.empty() {
                            return;
                        }
                    }
                    Err(GetError::ShutDown) => unreachable!(),
                }
            });
        }
        for i in 1..=ITEMS {
            // Short put timeouts too: a timed-out put must hand the item back.
            let mut item = i;
            loop {
                match q.put_timeout(item, Duration::from_micros(50)) {
                    Ok(()) => break,
                    Err(Full(back)) => item = back,
                    Err(PutError::ShutDown(_)) => unreachable!(),
                }
            }
        }
        producing.store(false, Ordering::Release);
    });
    seen.assert_each_once();
}

// ---- async forms on the same queue ----

#[test]
fn get_async_is_woken_by_a_blocking_put() {
    let q = Queue::new(1);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.put(7).unwrap();
        });
        assert_eq!(block_on(q.get_async()), Ok(7));
    });
}

#[test]
fn put_async_is_woken_by_a_blocking_get() {
    let q = Queue::new(1);
    q.put(1).unwrap();
    thread::scope(|s| {
        let getter = s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            let first = q.get().unwrap();
            (first, q.get().unwrap())
        });
        assert_eq!(block_on(q.put_async(2)), Ok(()));
        assert_eq!(getter.join().unwrap(), (1, 2));
    });
}

#[test]
fn blocking_get_is_woken_by_put_async() {
    let q = Queue::new(1);
    thread::scope(|s| {
        let getter = s.spawn(|| q.get());
        thread::sleep(Duration::from_millis(20));
        block_on(q.put_async(5)).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(5));
    });
}

#[test]
fn join_async_is_woken_by_a_blocking_task_done() {
    let q = Queue::new(0);
    q.put(1).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.get().unwrap();
            q.task_done().unwrap();
        });
        block_on(q.join_async());
    });
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn async_ops_fail_after_shutdown_and_hand_the_item_back() {
    let q = Queue::new(1);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.shutdown(false);
        });
        assert_eq!(block_on(q.get_async()), Err(ShutDown));
    });
    assert_eq!(block_on(q.put_async("x")), Err(PutError::ShutDown("x")));
}

#[test]
fn dropping_a_pending_get_future_loses_no_wakeup() {
    // Two tasks wait for an item; the first is dropped (cancelled) while pending. The
    // single item put afterwards must still wake the second.
    let q = Queue::new(1);
    let (w1, _, f1) = pending_get(&q);
    let (w2, waker2, mut f2) = pending_get(&q);
    drop(f1);
    thread::scope(|s| {
        s.spawn(|| q.put(9).unwrap());
    });
    eventually("the second task is woken", || {
        w2.wakes.load(Ordering::SeqCst) > 0
    });
    assert_eq!(
        f2.as_mut().poll(&mut Context::from_waker(&waker2)),
        Poll::Ready(Ok(9))
    );
    let _ = w1;
}

#[test]
fn dropping_a_woken_get_future_loses_no_wakeup() {
    // The first task is woken by the put, then dropped before it polls again: the
    // second task must have been woken too, and gets the item.
    let q = Queue::new(1);
    let (w1, _, f1) = pending_get(&q);
    let (w2, waker2, mut f2) = pending_get(&q);
    q.put(3).unwrap();
    assert!(w1.wakes.load(Ordering::SeqCst) > 0);
    drop(f1);
    assert!(w2.wakes.load(Ordering::SeqCst) > 0);
    assert_eq!(
        f2.as_mut().poll(&mut Context::from_waker(&waker2)),
        Poll::Ready(Ok(3))
    );
}

#[test]
fn async_and_blocking_consumers_share_one_queue() {
    // Blocking and async consumers drain the same queue fed by blocking and async
    // producers; every item is counted once.
    const N: u64 = 20_000;
    let q = Queue::new(8);
    let seen = Seen::new(N as usize + 1);
    seen.mark(0); // items are 1..=N
    let consume = |v: u64| seen.mark(v);
    let (q, consume) = (&q, &consume);
    thread::scope(|s| {
        s.spawn(move || {
            while let Ok(v) = q.get() {
                consume(v);
            }
        });
        s.spawn(move || {
            block_on(async {
                while let Ok(v) = q.get_async().await {
                    consume(v);
                }
            })
        });
        let p1 = s.spawn(move || {
            for i in 1..=N / 2 {
                q.put(i).unwrap();
            }
        });
        let p2 = s.spawn(move || {
            block_on(async {
                for i in N / 2 + 1..=N {
                    q.put_async(i).await.unwrap();
                }
            })
        });
        p1.join().unwrap();
        p2.join().unwrap();
        eventually("the queue drains", || q.empty());
        q.shutdown(false);
    });
    seen.assert_each_once();
}

// ---- SimpleQueue ----

#[test]
fn simple_queue_is_an_unbounded_fifo() {
    let q = SimpleQueue::new();
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err(Empty));
    let t = Instant::now();
    assert_eq!(q.get_timeout(Duration::from_millis(30)), Err(Empty));
    assert!(t.elapsed() >= Duration::from_millis(30));
    for i in 0..1000 {
        q.put(i);
    }
    q.put_nowait(1000);
    assert_eq!(q.qsize(), 1001);
    let got: Vec<_> = (0..=1000).map(|_| q.get()).collect();
    assert_eq!(got, (0..=1000).collect::<Vec<_>>());
}

#[test]
fn simple_queue_between_threads_counts_every_item() {
    let q = SimpleQueue::new();
    let total = Mutex::new(0u64);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut t = 0;
                for _ in 0..50_000 {
                    t += q.get();
                }
                *total.lock().unwrap() += t;
            });
        }
        for p in 0..2u64 {
            let q = &q;
            s.spawn(move || {
                for i in 0..50_000 {
                    q.put(p * 50_000 + i + 1);
                }
            });
        }
    });
    assert_eq!(*total.lock().unwrap(), 100_000 * 100_001 / 2);
    assert!(q.empty());
}

// ---- traits ----

#[test]
fn queues_are_send_sync_and_debug() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Queue<String>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<PriorityQueue<String>>();
    send_sync::<SimpleQueue<String>>();
    fn send<T: Send>(_: &T) {}
    let q: Queue<String> = Queue::new(2);
    send(&q.get_async());
    send(&q.put_async(String::new()));
    send(&q.join_async());
    q.put(String::from("secret")).unwrap();
    let shown = format!("{q:?}");
    assert!(
        shown.contains("qsize: 1") && shown.contains("maxsize: 2"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret"),
        "items are never formatted: {shown}"
    );
    assert!(format!("{:?}", SimpleQueue::<u8>::new()).contains("SimpleQueue"));
}

// ---- timed waits that succeed ----

#[test]
fn get_timeout_returns_an_item_put_while_it_waits() {
    let q = Queue::new(1);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(30));
            q.put(42).unwrap();
        });
        assert_eq!(q.get_timeout(GENEROUS), Ok(42));
    });
}

#[test]
fn put_timeout_succeeds_when_a_slot_frees_while_it_waits() {
    let q = Queue::new(1);
    q.put(1).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(30));
            assert_eq!(q.get(), Ok(1));
        });
        assert_eq!(q.put_timeout(2, GENEROUS), Ok(()));
    });
    assert_eq!(q.get_nowait(), Ok(2));
}

// ---- static queues (`const fn new`) ----

#[test]
fn static_queues_work_across_threads_without_an_arc() {
    static FIFO: Queue<u32> = Queue::new(4);
    static UNBOUNDED: Queue<u32> = Queue::new(0);
    static LIFO: LifoQueue<u32> = LifoQueue::new(0);
    static PRIO: PriorityQueue<u32> = PriorityQueue::new(2);
    static SIMPLE: SimpleQueue<u32> = SimpleQueue::new();
    let producer = thread::spawn(|| {
        for i in 1..=100 {
            FIFO.put(i).unwrap(); // waits while 4 are queued
            UNBOUNDED.put(i).unwrap();
            SIMPLE.put(i);
        }
    });
    let mut sums = [0u32; 3];
    for _ in 0..100 {
        sums[0] += FIFO.get().unwrap();
        FIFO.task_done().unwrap();
        sums[1] += UNBOUNDED.get().unwrap();
        sums[2] += SIMPLE.get();
    }
    producer.join().unwrap();
    assert_eq!(sums, [5050; 3]);
    FIFO.join();
    for i in [3, 1, 2] {
        LIFO.put(i).unwrap();
    }
    assert_eq!(LIFO.get_nowait(), Ok(2));
    PRIO.put(9).unwrap();
    PRIO.put(4).unwrap();
    assert_eq!(PRIO.put_nowait(1), Err(Full(1)));
    assert_eq!(PRIO.get_nowait(), Ok(4));
}

#[test]
fn an_untouched_static_queue_behaves_as_a_used_one() {
    // The storage is built on first use, whatever the first call is.
    static RING: Queue<u8> = Queue::new(3);
    static GROWS: Queue<u8> = Queue::new(0);
    static SHUT: LifoQueue<u8> = LifoQueue::new(1);
    static ASYNC: Queue<u8> = Queue::new(1);
    assert_eq!(RING.maxsize(), 3);
    assert_eq!(RING.set_maxsize(5), Err(FixedCapacity));
    assert_eq!(GROWS.set_maxsize(1), Ok(()));
    GROWS.put(1).unwrap();
    assert_eq!(GROWS.put_nowait(2), Err(Full(2)));
    SHUT.shutdown(false);
    assert_eq!(SHUT.get(), Err(ShutDown));
    assert_eq!(block_on(ASYNC.put_async(1)), Ok(()));
    let fresh: Queue<u8> = Queue::new(2);
    assert_eq!(
        format!("{fresh:?}"),
        "Queue { qsize: 0, maxsize: 2, unfinished_tasks: 0, is_shutdown: false }"
    );
}

// ---- absolute deadlines: the `_until` forms ----

#[test]
fn until_forms_time_out_at_the_deadline_not_before() {
    fn check(what: &str, wait: impl FnOnce(Instant) -> bool) {
        let deadline = Instant::now() + Duration::from_millis(30);
        assert!(wait(deadline), "{what}: wrong outcome");
        let now = Instant::now();
        assert!(now >= deadline, "{what}: returned before its deadline");
        assert!(now < deadline + GENEROUS, "{what}: far past its deadline");
    }
    let fifo = Queue::new(1);
    fifo.put(1).unwrap();
    check("Queue::put_until", |d| fifo.put_until(2, d) == Err(Full(2)));
    check("Queue::join_until", |d| !fifo.join_until(d));
    let lifo: LifoQueue<u8> = LifoQueue::new(0);
    check("LifoQueue::get_until", |d| lifo.get_until(d) == Err(Empty));
    let prio = PriorityQueue::new(1);
    prio.put(1).unwrap();
    check("PriorityQueue::put_until", |d| {
        prio.put_until(0, d) == Err(Full(0))
    });
    let simple: SimpleQueue<u8> = SimpleQueue::new();
    check("SimpleQueue::get_until", |d| {
        simple.get_until(d) == Err(Empty)
    });
}

#[test]
fn until_forms_succeed_when_the_other_side_comes_in_time() {
    let q = Queue::new(1);
    let far = Instant::now() + GENEROUS;
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.put(1).unwrap();
            thread::sleep(Duration::from_millis(20));
            q.put(2).unwrap();
        });
        assert_eq!(q.get_until(far), Ok(1));
        q.task_done().unwrap();
        assert_eq!(q.get_until(far), Ok(2));
        assert_eq!(q.put_until(3, far), Ok(()));
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.get().unwrap();
            q.task_done().unwrap();
            q.task_done().unwrap();
        });
        assert!(q.join_until(far));
    });
    let simple = SimpleQueue::new();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            simple.put("late");
        });
        assert_eq!(simple.get_until(far), Ok("late"));
    });
}

#[test]
fn a_deadline_already_past_is_a_nowait() {
    let past = Instant::now();
    let q = Queue::new(1);
    assert_eq!(q.put_until(1, past), Ok(()));
    assert_eq!(q.put_until(2, past), Err(Full(2)));
    assert_eq!(q.get_until(past), Ok(1));
    assert_eq!(q.get_until(past), Err(Empty));
    assert!(!q.join_until(past));
    q.task_done().unwrap();
    assert!(q.join_until(past));
}

#[test]
fn lifo_and_priority_queues_have_the_async_forms_too() {
    let lifo = LifoQueue::new(2);
    let prio = PriorityQueue::new(2);
    block_on(async {
        lifo.put_async(1).await.unwrap();
        lifo.put_async(2).await.unwrap();
        assert_eq!(lifo.get_async().await, Ok(2));
        prio.put_async(9).await.unwrap();
        prio.put_async(3).await.unwrap();
        assert_eq!(prio.get_async().await, Ok(3));
    });
    assert_eq!(lifo.unfinished_tasks(), 2);
    assert_eq!(prio.qsize(), 1);
}

// ---- the lock-free backend of bounded `Queue`s ----

#[test]
fn huge_maxsize_reserves_nothing_up_front() {
    // Python code uses a huge maxsize as "practically unbounded"; the queue must not try
    // to allocate that many ring slots (it uses the growable backend instead).
    let q = Queue::new(usize::MAX / 2);
    assert_eq!(q.maxsize(), usize::MAX / 2);
    for i in 0..3000u32 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.full());
    assert_eq!(q.qsize(), 3000);
    assert_eq!(q.get_nowait(), Ok(0));
}

#[test]
fn bounded_queues_of_odd_capacities_fill_exactly() {
    for maxsize in [1usize, 3, 1000, 5000] {
        let q = Queue::new(maxsize);
        for i in 0..maxsize {
            q.put_nowait(i).unwrap();
        }
        assert!(q.full(), "maxsize {maxsize}");
        assert_eq!(q.put_nowait(usize::MAX), Err(Full(usize::MAX)));
        for i in 0..maxsize {
            assert_eq!(q.get_nowait(), Ok(i));
        }
        assert_eq!(q.get_nowait(), Err(Empty));
        assert_eq!(q.unfinished_tasks(), maxsize);
    }
}

#[test]
fn shutdown_racing_with_puts_strands_no_item_in_a_bounded_queue() {
    // Regression guard for the lock-free backend: a put that got in before the shutdown
    // lands its item, and the getters drain it before reporting ShutDown.
    // Producer p puts p, p + 2, p + 4, … until its first failed put (at most LIMIT).
    const LIMIT: u64 = 1 << 17;
    for _ in 0..50 {
        let q = Queue::new(4);
        let seen = Seen::new(2 * LIMIT as usize);
        let put_by: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
        thread::scope(|s| {
            for (p, put) in put_by.iter().enumerate() {
                let q = &q;
                s.spawn(move || {
                    for i in 0..LIMIT {
                        if q.put(p as u64 + 2 * i).is_err() {
                            break;
                        }
                        put.store(i + 1, Ordering::Relaxed);
                    }
                });
            }
            for _ in 0..2 {
                s.spawn(|| {
                    while let Ok(v) = q.get() {
                        seen.mark(v);
                        q.task_done().unwrap();
                    }
                });
            }
            thread::sleep(Duration::from_millis(1));
            q.shutdown(false);
        });
        // What the gets received is exactly what the puts reported as put.
        for (p, put) in put_by.iter().enumerate() {
            let n = put.load(Ordering::Relaxed);
            assert!(n < LIMIT, "the shutdown came after every put");
            for i in 0..LIMIT {
                let v = p as u64 + 2 * i;
                let expected = u8::from(i < n);
                assert_eq!(seen.times(v), expected, "item {v} (put: {})", i < n);
            }
        }
        assert!(q.empty());
        assert!(q.join_timeout(GENEROUS));
    }
}

#[test]
fn async_consumer_and_blocking_producer_through_one_slot() {
    // Capacity 1 makes every put and get meet the other side in flight: the async
    // getter must neither miss a wake-up nor lose an item.
    const N: u64 = 20_000;
    let q = Queue::new(1);
    thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=N {
                q.put(i).unwrap();
            }
        });
        // A failure below shuts the queue down, so the producer fails too instead of
        // blocking the scope forever.
        let _unblock = OnPanic(|| q.shutdown(true));
        block_on(async {
            for i in 1..=N {
                assert_eq!(q.get_async().await.unwrap(), i, "in order, each once");
                q.task_done().unwrap();
            }
        });
    });
    q.join();
}

#[test]
fn async_producer_and_blocking_consumer_through_one_slot() {
    const N: u64 = 20_000;
    let q = Queue::new(1);
    thread::scope(|s| {
        s.spawn(|| {
            block_on(async {
                for i in 1..=N {
                    q.put_async(i).await.unwrap();
                }
            })
        });
        let _unblock = OnPanic(|| q.shutdown(true));
        for i in 1..=N {
            assert_eq!(q.get_timeout(GENEROUS), Ok(i), "in order, each once");
        }
    });
}
