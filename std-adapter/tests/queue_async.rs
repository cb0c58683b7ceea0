//! The async forms of `conkit::queue` on the one per-primitive mechanism (issue #14):
//! tasks park on the queue's own event counts, so a thread's plain blocking `put` /
//! `get` / `task_done` wakes a parked task, as a task's does. Every queue kind is
//! covered: `Queue` bounded (the lock-free ring) and unbounded (the locked store),
//! `LifoQueue`, `PriorityQueue`, `SimpleQueue`. Cancellation (a dropped pending future
//! swallows nothing: the shape of embassy-sync's bugs #6964/#4598), 5 000 tasks on one
//! queue (tokio multi-thread and current-thread), `join_async` released by threads'
//! `task_done`. Each test runs under a watchdog: a lost wake-up fails it after 30 s
//! instead of hanging the run.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use conkit::queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue};

#[path = "common/tasks.rs"]
mod tasks;

use tasks::{flag, settle, watchdog};

/// tokio's current-thread runtime (asyncio's one thread).
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// tokio's multi-thread runtime, two workers.
fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// The operations the tests run on every queue kind.
trait Kind: Send + Sync + 'static {
    fn put(&self, v: u32);
    fn get(&self) -> u32;
    fn put_async(&self, v: u32) -> impl Future<Output = ()> + Send + '_;
    fn get_async(&self) -> impl Future<Output = u32> + Send + '_;
}

macro_rules! kind {
    ($ty:ident) => {
        impl Kind for $ty<u32> {
            fn put(&self, v: u32) {
                $ty::put(self, v).unwrap();
            }
            fn get(&self) -> u32 {
                $ty::get(self).unwrap()
            }
            async fn put_async(&self, v: u32) {
                $ty::put_async(self, v).await.unwrap();
            }
            async fn get_async(&self) -> u32 {
                $ty::get_async(self).await.unwrap()
            }
        }
    };
}
kind!(Queue);
kind!(LifoQueue);
kind!(PriorityQueue);

impl Kind for SimpleQueue<u32> {
    fn put(&self, v: u32) {
        SimpleQueue::put(self, v);
    }
    fn get(&self) -> u32 {
        SimpleQueue::get(self)
    }
    async fn put_async(&self, v: u32) {
        SimpleQueue::put(self, v);
    }
    async fn get_async(&self) -> u32 {
        SimpleQueue::get_async(self).await
    }
}

/// A task awaiting `get_async` is woken by a thread's plain blocking `put`.
fn task_woken_by_thread_put<Q: Kind>(q: Arc<Q>) {
    let rt = current_thread();
    let putter = {
        let q = q.clone();
        thread::spawn(move || {
            settle();
            q.put(7);
        })
    };
    assert_eq!(rt.block_on(q.get_async()), 7);
    putter.join().unwrap();
}

#[test]
fn a_threads_plain_put_wakes_a_parked_task() {
    watchdog(|| {
        task_woken_by_thread_put(Arc::new(Queue::<u32>::new(1)));
        task_woken_by_thread_put(Arc::new(Queue::<u32>::new(0)));
        task_woken_by_thread_put(Arc::new(LifoQueue::<u32>::new(1)));
        task_woken_by_thread_put(Arc::new(PriorityQueue::<u32>::new(0)));
        task_woken_by_thread_put(Arc::new(SimpleQueue::<u32>::new()));
    });
}

/// A task awaiting `put_async` on a full queue is woken by a thread's plain `get`.
fn task_putter_woken_by_thread_get<Q: Kind>(q: Arc<Q>) {
    let rt = current_thread();
    q.put(1);
    let getter = {
        let q = q.clone();
        thread::spawn(move || {
            settle();
            q.get()
        })
    };
    rt.block_on(q.put_async(2));
    assert_eq!(getter.join().unwrap(), 1);
    assert_eq!(q.get(), 2);
}

#[test]
fn a_threads_plain_get_wakes_a_parked_putter() {
    watchdog(|| {
        task_putter_woken_by_thread_get(Arc::new(Queue::<u32>::new(1)));
        task_putter_woken_by_thread_get(Arc::new(LifoQueue::<u32>::new(1)));
        task_putter_woken_by_thread_get(Arc::new(PriorityQueue::<u32>::new(1)));
    });
}

/// Tasks wake tasks: a producer and a consumer task on one thread, through a queue of
/// one slot (every item is a hand-over that needs a wake-up both ways).
fn tasks_wake_tasks<Q: Kind>(q: Arc<Q>, n: u32) {
    let rt = current_thread();
    let got = rt.block_on(async {
        let producer = tokio::spawn({
            let q = q.clone();
            async move {
                for i in 0..n {
                    q.put_async(i).await;
                }
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum += u64::from(q.get_async().await);
        }
        producer.await.unwrap();
        sum
    });
    assert_eq!(got, u64::from(n) * u64::from(n - 1) / 2);
}

#[test]
fn a_tasks_put_and_get_wake_tasks() {
    watchdog(|| {
        tasks_wake_tasks(Arc::new(Queue::<u32>::new(1)), 2000);
        tasks_wake_tasks(Arc::new(Queue::<u32>::new(0)), 2000);
        tasks_wake_tasks(Arc::new(LifoQueue::<u32>::new(1)), 2000);
        tasks_wake_tasks(Arc::new(PriorityQueue::<u32>::new(1)), 2000);
        tasks_wake_tasks(Arc::new(SimpleQueue::<u32>::new()), 2000);
    });
}

/// Two pending `get_async`s; the first is dropped, then one item is put (by a thread's
/// plain `put`): the other getter is woken and gets it.
fn dropped_getter_swallows_nothing<Q: Kind>(q: Arc<Q>) {
    let (fa, wa) = flag();
    let (fb, wb) = flag();
    {
        let mut a = Box::pin(q.get_async());
        let mut b = pin!(q.get_async());
        assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(a);
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(5))
        };
        putter.join().unwrap();
        assert!(fb.0.load(Ordering::SeqCst), "the live getter was not woken");
        assert_eq!(
            b.as_mut().poll(&mut Context::from_waker(&wb)),
            Poll::Ready(5)
        );
    }
    let _ = fa;
}

#[test]
fn a_dropped_pending_get_swallows_no_item() {
    watchdog(|| {
        dropped_getter_swallows_nothing(Arc::new(Queue::<u32>::new(4)));
        dropped_getter_swallows_nothing(Arc::new(Queue::<u32>::new(0)));
        dropped_getter_swallows_nothing(Arc::new(LifoQueue::<u32>::new(4)));
        dropped_getter_swallows_nothing(Arc::new(PriorityQueue::<u32>::new(4)));
        dropped_getter_swallows_nothing(Arc::new(SimpleQueue::<u32>::new()));
    });
}

/// A full queue, two pending `put_async`s; the first is dropped, then one get (a
/// thread's plain `get`): the other putter is woken and its item goes in.
fn dropped_putter_swallows_nothing<Q: Kind>(q: Arc<Q>) {
    q.put(1);
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(q.put_async(2));
    let mut b = Box::pin(q.put_async(3));
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    let getter = {
        let q = q.clone();
        thread::spawn(move || q.get())
    };
    assert_eq!(getter.join().unwrap(), 1);
    assert!(fb.0.load(Ordering::SeqCst), "the live putter was not woken");
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(())
    );
    drop(b);
    assert_eq!(q.get(), 3, "the dropped putter's item never went in");
}

#[test]
fn a_dropped_pending_put_swallows_no_room() {
    watchdog(|| {
        dropped_putter_swallows_nothing(Arc::new(Queue::<u32>::new(1)));
        dropped_putter_swallows_nothing(Arc::new(LifoQueue::<u32>::new(1)));
        dropped_putter_swallows_nothing(Arc::new(PriorityQueue::<u32>::new(1)));
    });
}

/// `TASKS` tasks await `get_async` on one queue; a thread puts one item each with the
/// plain blocking `put`: every task gets exactly one, the items add up.
fn many_tasks_on_one_queue(rt: tokio::runtime::Runtime, q: Arc<Queue<u32>>) {
    const TASKS: u32 = 5_000;
    let started = Arc::new(AtomicUsize::new(0));
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let q = q.clone();
                let started = started.clone();
                tokio::spawn(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    u64::from(q.get_async().await.unwrap())
                })
            })
            .collect();
        // Let every task park before the first put.
        while started.load(Ordering::SeqCst) < TASKS as usize {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..TASKS {
                    q.put(i).unwrap();
                }
            })
        };
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        producer.join().unwrap();
        sum
    });
    assert_eq!(sum, u64::from(TASKS) * u64::from(TASKS - 1) / 2);
    assert!(q.empty());
}

#[test]
fn five_thousand_tasks_on_one_queue_multi_thread() {
    watchdog(|| {
        many_tasks_on_one_queue(multi_thread(), Arc::new(Queue::new(64)));
        many_tasks_on_one_queue(multi_thread(), Arc::new(Queue::new(0)));
    });
}

#[test]
fn five_thousand_tasks_on_one_queue_current_thread() {
    watchdog(|| {
        many_tasks_on_one_queue(current_thread(), Arc::new(Queue::new(64)));
        many_tasks_on_one_queue(current_thread(), Arc::new(Queue::new(0)));
    });
}

/// `join_async` is released by threads' `task_done`.
fn join_released_by_threads(q: Arc<Queue<u32>>) {
    const ITEMS: u32 = 200;
    for i in 0..ITEMS.min(q.maxsize() as u32).max(1) {
        q.put(i).unwrap();
    }
    let queued = q.qsize() as u32;
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                while let Ok(_item) = q.get() {
                    thread::sleep(Duration::from_micros(200));
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    let rt = current_thread();
    rt.block_on(q.join_async());
    assert_eq!(q.unfinished_tasks(), 0);
    q.shutdown(false);
    for w in workers {
        w.join().unwrap();
    }
    assert!(queued > 0);
}

#[test]
fn join_async_is_released_by_threads_task_done() {
    watchdog(|| {
        join_released_by_threads(Arc::new(Queue::new(64)));
        join_released_by_threads(Arc::new(Queue::new(0)));
    });
}

/// Mixed users of one queue: two producer threads (plain `put`) and two producer
/// tasks, two consumer threads (plain `get`) and two consumer tasks, through a small
/// bounded queue on the multi-thread runtime: every item arrives exactly once.
#[test]
fn threads_and_tasks_share_one_queue() {
    watchdog(|| {
        const PER: u32 = 5_000;
        for maxsize in [4, 0] {
            let q = Arc::new(Queue::<u32>::new(maxsize));
            let rt = multi_thread();
            let total = Arc::new(AtomicUsize::new(0));
            let count = Arc::new(AtomicUsize::new(0));
            let mut producers = Vec::new();
            let mut threads = Vec::new();
            for p in 0..2 {
                let q = q.clone();
                producers.push(thread::spawn(move || {
                    for i in 0..PER {
                        q.put(p * PER + i).unwrap();
                    }
                }));
            }
            for _ in 0..2 {
                let (q, total, count) = (q.clone(), total.clone(), count.clone());
                threads.push(thread::spawn(move || {
                    while let Ok(v) = q.get() {
                        total.fetch_add(v as usize, Ordering::SeqCst);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            rt.block_on(async {
                let mut tasks = Vec::new();
                for p in 2..4 {
                    let q = q.clone();
                    tasks.push(tokio::spawn(async move {
                        for i in 0..PER {
                            q.put_async(p * PER + i).await.unwrap();
                        }
                    }));
                }
                let mut consumers = Vec::new();
                for _ in 0..2 {
                    let (q, total, count) = (q.clone(), total.clone(), count.clone());
                    consumers.push(tokio::spawn(async move {
                        while let Ok(v) = q.get_async().await {
                            total.fetch_add(v as usize, Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                tokio::task::spawn_blocking(move || {
                    for p in producers {
                        p.join().unwrap();
                    }
                })
                .await
                .unwrap();
                // Every item is in: the getters drain what is left, then fail.
                q.shutdown(false);
                for c in consumers {
                    c.await.unwrap();
                }
            });
            for t in threads {
                t.join().unwrap();
            }
            let n = 4 * PER as usize;
            assert_eq!(count.load(Ordering::SeqCst), n);
            assert_eq!(total.load(Ordering::SeqCst), n * (n - 1) / 2);
        }
    });
}

/// Shutdown wakes parked tasks on both sides, made by a thread.
#[test]
fn a_threads_shutdown_wakes_parked_getters_and_putters() {
    watchdog(|| {
        let q = Arc::new(Queue::<u32>::new(1));
        q.put(1).unwrap();
        let (fg, wg) = flag();
        let (fp, wp) = flag();
        let empty = Arc::new(Queue::<u32>::new(1));
        let mut g = Box::pin(empty.get_async());
        let mut p = Box::pin(q.put_async(2));
        assert!(g.as_mut().poll(&mut Context::from_waker(&wg)).is_pending());
        assert!(p.as_mut().poll(&mut Context::from_waker(&wp)).is_pending());
        let (q2, e2) = (q.clone(), empty.clone());
        thread::spawn(move || {
            q2.shutdown(false);
            e2.shutdown(false);
        })
        .join()
        .unwrap();
        assert!(fg.0.load(Ordering::SeqCst) && fp.0.load(Ordering::SeqCst));
        assert_eq!(
            g.as_mut().poll(&mut Context::from_waker(&wg)),
            Poll::Ready(Err(GetError::ShutDown))
        );
        assert_eq!(
            p.as_mut().poll(&mut Context::from_waker(&wp)),
            Poll::Ready(Err(PutError::ShutDown(2)))
        );
    });
}
