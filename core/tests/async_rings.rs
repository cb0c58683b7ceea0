//! The async forms of the rings and core queues on the per-primitive mechanism (issue
//! #14): SPSC `push_async`/`pop_async`, MPMC `push_async`/`pop_async`, `RingQueue` and
//! `BaseQueue` (`Queue`, `LifoQueue`, `PriorityQueue`) `put_async`/`get_async`/
//! `join_async`, and the older `Async<...>` fronts now built on them. A thread that
//! changes the object through its plain blocking API wakes a parked task, and back;
//! a dropped pending future swallows nothing; many tasks on one object. Every wait is
//! bounded by a watchdog (`block_on` panics after 20 s) so a lost wake-up fails the
//! test instead of hanging it.
#![cfg(feature = "async")]

mod common;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::asynch::{Async, WakerSet};
use conkit_core::event_flags::{EventFlags, WaitFlags};
use conkit_core::lock::CriticalSectionMutex;
use conkit_core::mpmc::MpmcRing;
use conkit_core::queue::{GetError, LifoQueue, PriorityQueue, Queue, RingQueue};
use conkit_core::spsc::SpscRing;
use conkit_core::wait::Futex;

use common::block_on_woken as block_on;
use common::flag::flag;

fn settle() {
    thread::sleep(Duration::from_millis(20));
}

const N: u32 = if cfg!(miri) { 40 } else { 20_000 };

/// A thread pushes with the plain blocking `push`, a task pops with `pop_async`, and
/// the other way round, through 2 slots: every item is a hand-over.
#[test]
fn spsc_threads_and_tasks_wake_each_other() {
    let mut ring: SpscRing<u32, 2, Futex> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..N {
                tx.push(i).unwrap(); // plain blocking push
            }
        });
        block_on(async {
            for i in 0..N {
                assert_eq!(rx.pop_async().await, Ok(i));
            }
        });
    });
    let mut ring: SpscRing<u32, 2, Futex> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..N {
                assert_eq!(rx.pop(), Ok(i)); // plain blocking pop
            }
        });
        block_on(async {
            for i in 0..N {
                tx.push_async(i).await.unwrap();
            }
        });
    });
}

/// The older `Async<SpscRing>` front: its consumer task is woken by the producer
/// thread's `try_push` (which notifies), and a dropped producer disconnects it.
#[test]
fn spsc_async_front_is_woken_by_a_thread() {
    let mut ring: Async<SpscRing<u32, 4, Futex>> = Async::new(SpscRing::new());
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..N {
                while tx.try_push(i).is_err() {
                    thread::yield_now();
                }
            }
        });
        block_on(async {
            for i in 0..N {
                assert_eq!(rx.pop().await, Ok(i));
            }
            assert!(rx.pop().await.is_err(), "producer gone: Disconnected");
        });
    });
}

/// MPMC: two pushing threads (plain `push`), two popping tasks on two threads
/// (`pop_async`) and the reverse; every item arrives once.
#[test]
fn mpmc_threads_and_tasks_wake_each_other() {
    let ring: MpmcRing<u32, 2, Futex> = MpmcRing::new();
    let sums: Vec<u64> = thread::scope(|s| {
        for p in 0..2 {
            let ring = &ring;
            s.spawn(move || {
                for i in 0..N {
                    ring.push(p * N + i);
                }
            });
        }
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let ring = &ring;
                s.spawn(move || {
                    block_on(async {
                        let mut sum = 0u64;
                        for _ in 0..N {
                            sum += u64::from(ring.pop_async().await);
                        }
                        sum
                    })
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let n = u64::from(2 * N);
    assert_eq!(sums.iter().sum::<u64>(), n * (n - 1) / 2);

    let ring: MpmcRing<u32, 2, Futex> = MpmcRing::new();
    let sum: u64 = thread::scope(|s| {
        for _ in 0..2 {
            let ring = &ring;
            s.spawn(move || {
                block_on(async {
                    for i in 0..N {
                        ring.push_async(i).await
                    }
                })
            });
        }
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let ring = &ring;
                s.spawn(move || (0..N).map(|_| u64::from(ring.pop())).sum::<u64>())
            })
            .collect();
        poppers.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert_eq!(sum, 2 * u64::from(N) * u64::from(N - 1) / 2);
}

/// `RingQueue` (lock-free) and `BaseQueue` (`Queue`, `LifoQueue`, `PriorityQueue`): a
/// task awaiting `get_async` is woken by a thread's plain `put`, a task awaiting
/// `put_async` on a full queue by a thread's plain `get`, `join_async` by a thread's
/// `task_done`.
macro_rules! queue_wakes {
    ($name:ident, $q:ty) => {
        #[test]
        fn $name() {
            let q: $q = <$q>::new();
            thread::scope(|s| {
                s.spawn(|| {
                    settle();
                    q.put(1).unwrap();
                });
                assert_eq!(block_on(q.get_async()), Ok(1));
            });
            q.put(2).unwrap();
            thread::scope(|s| {
                s.spawn(|| {
                    settle();
                    assert_eq!(q.get(), Ok(2));
                });
                block_on(q.put_async(3)).unwrap();
            });
            thread::scope(|s| {
                s.spawn(|| {
                    settle();
                    q.task_done().unwrap();
                    q.task_done().unwrap();
                });
                assert_eq!(q.get(), Ok(3));
                q.task_done().unwrap();
                block_on(q.join_async());
            });
            assert_eq!(q.unfinished_tasks(), 0);
            // A thread's shutdown wakes a parked getter.
            thread::scope(|s| {
                s.spawn(|| {
                    settle();
                    q.shutdown(false);
                });
                assert_eq!(block_on(q.get_async()), Err(GetError::ShutDown));
            });
        }
    };
}

queue_wakes!(ring_queue_thread_and_task, RingQueue<u32, 1, Futex>);
queue_wakes!(queue_thread_and_task, Queue<u32, 1, CriticalSectionMutex, Futex>);
queue_wakes!(lifo_queue_thread_and_task, LifoQueue<u32, 1, CriticalSectionMutex, Futex>);
queue_wakes!(priority_queue_thread_and_task, PriorityQueue<u32, 1, CriticalSectionMutex, Futex>);

/// Cancellation: two pending getters, the first dropped, one item put by a thread: the
/// other getter gets it. Two pending putters on a full queue, the first dropped, one
/// get by a thread: the other putter proceeds (embassy-sync #6964 / #4598's shape).
#[test]
fn dropped_pending_futures_swallow_nothing() {
    let q: RingQueue<u32, 1, Futex> = RingQueue::new();
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(q.get_async());
    let mut b = Box::pin(q.get_async());
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    thread::scope(|s| {
        s.spawn(|| q.put(9).unwrap());
    });
    assert!(fb.0.load(Ordering::SeqCst));
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(Ok(9))
    );
    drop(b);

    q.put(1).unwrap();
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(q.put_async(2));
    let mut b = Box::pin(q.put_async(3));
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    thread::scope(|s| {
        s.spawn(|| assert_eq!(q.get(), Ok(1)));
    });
    assert!(fb.0.load(Ordering::SeqCst));
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(Ok(()))
    );
    drop(b);
    assert_eq!(q.get_nowait(), Ok(3));

    let ring: MpmcRing<u32, 1, Futex> = MpmcRing::new();
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(ring.pop_async());
    let mut b = Box::pin(ring.pop_async());
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    thread::scope(|s| {
        s.spawn(|| ring.push(4));
    });
    assert!(fb.0.load(Ordering::SeqCst));
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(4)
    );
}

/// The older `Async<RingQueue>` front forwards to the queue's own forms: a thread's
/// plain put through the *inner* queue (not the wrapper) wakes a task awaiting the
/// wrapper's `get` — before this mechanism it was never woken.
#[test]
fn async_queue_front_is_woken_by_the_inner_queue() {
    let q: Async<RingQueue<u32, 2, Futex>> = Async::new(RingQueue::new());
    thread::scope(|s| {
        s.spawn(|| {
            settle();
            q.inner().put(5).unwrap();
        });
        assert_eq!(block_on(q.get()), Ok(5));
    });
}

/// 5 000 tasks (futures polled by one thread, each with its own waker) parked on one
/// queue; a thread puts 5 000 items with the plain blocking `put`: every future is
/// woken and completes, each with one item.
#[test]
fn five_thousand_tasks_on_one_queue() {
    const TASKS: usize = if cfg!(miri) { 40 } else { 5_000 };
    let q: RingQueue<u32, 64, Futex> = RingQueue::new();
    let mut futs: Vec<_> = (0..TASKS).map(|_| Box::pin(q.get_async())).collect();
    let flags: Vec<_> = (0..TASKS).map(|_| flag()).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&flags) {
        assert!(f.as_mut().poll(&mut Context::from_waker(w)).is_pending());
    }
    let mut done = vec![false; TASKS];
    let mut sum = 0u64;
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..TASKS as u32 {
                q.put(i).unwrap();
            }
        });
        let start = Instant::now();
        let mut left = TASKS;
        while left > 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "lost wake-up");
            for (i, f) in futs.iter_mut().enumerate() {
                if done[i] || !flags[i].0 .0.swap(false, Ordering::SeqCst) {
                    continue;
                }
                if let Poll::Ready(r) = f.as_mut().poll(&mut Context::from_waker(&flags[i].1)) {
                    sum += u64::from(r.unwrap());
                    done[i] = true;
                    left -= 1;
                }
            }
            thread::yield_now();
        }
    });
    let n = TASKS as u64;
    assert_eq!(sum, n * (n - 1) / 2);
}

/// `EventFlags::wait_async`: a thread's (or an interrupt's) plain `set` wakes the task;
/// the older `Async<EventFlags>` front is woken by a `set` on the inner flags too.
#[test]
fn event_flags_thread_set_wakes_a_task() {
    let flags: EventFlags<Futex> = EventFlags::new();
    thread::scope(|s| {
        s.spawn(|| {
            settle();
            flags.set(0b100);
        });
        assert_eq!(
            block_on(flags.wait_async(0b100, WaitFlags::ANY.clear_on_exit(true))),
            Ok(0b100)
        );
    });
    assert_eq!(flags.get(), 0);
    let front: Async<EventFlags<Futex>> = Async::new(EventFlags::new());
    thread::scope(|s| {
        s.spawn(|| {
            settle();
            front.inner().set(0b1);
        });
        assert_eq!(block_on(front.wait_any(0b1)), Ok(0b1));
    });
}

/// With `std` a `WakerSet` past its `K` inline slots keeps every further waker: no
/// task is left to busy-poll, and `wake_all` wakes them all.
#[test]
fn waker_set_beyond_k_parks_every_task() {
    let set: WakerSet<2> = WakerSet::new();
    let flags: Vec<_> = (0..if cfg!(miri) { 10 } else { 100 })
        .map(|_| flag())
        .collect();
    for (_, w) in &flags {
        assert!(set.register(w), "a full set must not refuse with std");
    }
    // Registering the same task again replaces its waker (no duplicates).
    assert!(set.register(&flags[5].1));
    assert!(flags.iter().all(|(f, _)| !f.0.load(Ordering::SeqCst)));
    set.wake_all();
    assert!(flags.iter().all(|(f, _)| f.0.load(Ordering::SeqCst)));
    // `poll_until` on a set past `K` parks instead of waking itself at once.
    let (f, w) = flag();
    for (_, w) in &flags[..10] {
        set.register(w);
    }
    let mut cx = Context::from_waker(&w);
    assert!(set.poll_until::<()>(&mut cx, || None).is_pending());
    assert!(!f.0.load(Ordering::SeqCst), "no busy-poll past K");
    set.wake_all();
    assert!(f.0.load(Ordering::SeqCst));
}
