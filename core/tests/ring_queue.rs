//! `conkit_core::queue::RingQueue` (and `HeapRingQueue` with feature `std`): Python
//! `queue.Queue` semantics on the lock-free ring — every error path, shutdown in both
//! modes, task accounting, races of shutdown with puts, and stress tests that count
//! every item.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{after, eventually, native_or_miri, Park, Timed};
use conkit_core::queue::{GetError, PutError, RingQueue, RingQueueIn, ShutDown, TaskDoneError};

const ITEMS: usize = if cfg!(miri) { 200 } else { 200_000 };
/// Threads per side in the stress tests.
const SIDE: usize = if cfg!(miri) { 2 } else { 4 };
/// Rounds of the shutdown races.
const RACES: usize = if cfg!(miri) { 3 } else { 300 };

/// Counts its drop, unless [defused](Tracked::defuse).
#[derive(Debug)]
struct Tracked {
    drops: Arc<AtomicUsize>,
    armed: bool,
}

fn tracked(drops: &Arc<AtomicUsize>) -> Tracked {
    Tracked {
        drops: drops.clone(),
        armed: true,
    }
}

impl Tracked {
    /// Drops it without counting (an item that reached its receiver).
    fn defuse(mut self) {
        self.armed = false;
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.armed {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn new_queue_is_empty_and_open() {
    let q: RingQueue<u32, 4> = RingQueue::new();
    assert_eq!(q.qsize(), 0);
    assert!(q.empty());
    assert!(!q.full());
    assert_eq!(q.maxsize(), 4);
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(!q.is_shutdown());
    assert_eq!(
        format!("{q:?}"),
        "RingQueue { qsize: 0, maxsize: 4, unfinished_tasks: 0, is_shutdown: false }"
    );
    let d: RingQueue<u32, 2> = RingQueue::default();
    assert_eq!(d.maxsize(), 2);
}

static STATIC_Q: RingQueue<u32, 3> = RingQueue::new();

#[test]
fn works_as_a_static() {
    STATIC_Q.put_nowait(7).unwrap();
    assert_eq!(STATIC_Q.get_nowait(), Ok(7));
    STATIC_Q.task_done().unwrap();
    STATIC_Q.join();
}

#[test]
fn put_nowait_on_full_queue_hands_the_item_back() {
    let q: RingQueue<String, 2> = RingQueue::new();
    q.put_nowait("a".into()).unwrap();
    q.put_nowait("b".into()).unwrap();
    assert!(q.full());
    assert_eq!(q.qsize(), 2);
    assert_eq!(
        q.put_nowait("c".into()),
        Err(PutError::Full("c".to_string()))
    );
    assert_eq!(q.unfinished_tasks(), 2, "a failed put is not a task");
    assert_eq!(q.get_nowait().as_deref(), Ok("a"));
    assert_eq!(q.get_nowait().as_deref(), Ok("b"));
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
}

#[test]
fn fifo_order_with_wrap_around_for_odd_capacities() {
    fn run<const N: usize>() {
        let q: RingQueue<usize, N> = RingQueue::new();
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..50 {
            let n = 1 + round % N;
            for _ in 0..n {
                q.put_nowait(next_in).unwrap();
                next_in += 1;
            }
            for _ in 0..n {
                assert_eq!(q.get_nowait(), Ok(next_out));
                next_out += 1;
            }
        }
        assert_eq!(q.unfinished_tasks(), next_in);
    }
    run::<1>();
    run::<2>();
    run::<3>();
    run::<5>();
    run::<8>();
}

#[test]
fn task_done_too_many_times_is_an_error_and_keeps_the_count() {
    let q: RingQueue<u8, 4> = RingQueue::new();
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    assert_eq!(q.unfinished_tasks(), 0);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!(q.unfinished_tasks(), 2);
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    assert_eq!(q.unfinished_tasks(), 0);
    // The items are still there: task_done is bookkeeping only.
    assert_eq!(q.qsize(), 2);
}

#[test]
fn timeouts_report_full_and_empty_not_before_the_deadline() {
    let q: RingQueue<u8, 1, Timed> = RingQueue::new();
    let t = Instant::now();
    assert_eq!(q.get_until(after(30)), Err(GetError::Empty));
    assert!(t.elapsed() >= Duration::from_millis(30));
    q.put_until(1, after(30)).unwrap();
    let t = Instant::now();
    assert_eq!(q.put_until(2, after(30)), Err(PutError::Full(2)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    let t = Instant::now();
    assert!(!q.join_until(after(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(q.get_until(after(30)), Ok(1));
    q.task_done().unwrap();
    assert!(q.join_until(after(30)));
}

#[test]
fn blocking_forms_complete_when_the_other_side_acts() {
    let q: RingQueue<u32, 1, Park> = RingQueue::new();
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100 {
                q.put(i).unwrap();
            }
        });
        for i in 0..100 {
            assert_eq!(q.get(), Ok(i));
            q.task_done().unwrap();
        }
    });
    q.join();
    // `get_until` returns an item put while it waits.
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            q.put(5).unwrap();
        });
        assert_eq!(q.get_until(after(10_000)), Ok(5));
    });
    // `put_until` succeeds when a slot frees while it waits.
    q.put_nowait(6).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            assert_eq!(q.get(), Ok(6));
        });
        assert_eq!(q.put_until(7, after(10_000)), Ok(()));
    });
    assert_eq!(q.get_nowait(), Ok(7));
}

#[test]
fn every_put_after_shutdown_hands_the_item_back() {
    let q: RingQueue<String, 2, Timed> = RingQueue::new();
    q.shutdown(false);
    assert!(q.is_shutdown());
    assert_eq!(q.put("a".into()), Err(PutError::ShutDown("a".to_string())));
    assert_eq!(
        q.put_nowait("b".into()),
        Err(PutError::ShutDown("b".to_string()))
    );
    assert_eq!(
        q.put_until("c".into(), after(10)),
        Err(PutError::ShutDown("c".to_string()))
    );
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(q.get(), Err(ShutDown));
    assert_eq!(q.get_until(after(10)), Err(GetError::ShutDown));
}

#[test]
fn shutdown_put_on_a_full_queue_is_shut_down_not_full() {
    let q: RingQueue<u8, 1> = RingQueue::new();
    q.put_nowait(1).unwrap();
    q.shutdown(false);
    assert_eq!(q.put_nowait(2), Err(PutError::ShutDown(2)));
}

#[test]
fn shutdown_lets_gets_drain_then_fails_them() {
    let q: RingQueue<u8, 4, Timed> = RingQueue::new();
    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    q.shutdown(false);
    assert_eq!(q.get_nowait(), Ok(0));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get_until(after(10)), Ok(2));
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 3, "a plain shutdown keeps the tasks");
    for _ in 0..3 {
        q.task_done().unwrap();
    }
    q.join();
}

#[test]
fn immediate_shutdown_drops_the_items_and_releases_join() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q: RingQueue<Tracked, 4> = RingQueue::new();
    for _ in 0..4 {
        q.put_nowait(tracked(&drops)).unwrap();
    }
    let taken = q.get_nowait().unwrap();
    assert_eq!(q.unfinished_tasks(), 4);
    q.shutdown(true);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "the 3 queued items were dropped"
    );
    assert_eq!(q.unfinished_tasks(), 1, "only the taken item is unfinished");
    assert_eq!(q.qsize(), 0);
    assert!(q.get_nowait().is_err());
    assert!(matches!(
        q.put_nowait(tracked(&drops)),
        Err(PutError::ShutDown(_))
    ));
    drop(taken);
    q.task_done().unwrap();
    q.join();
    // A later plain shutdown does not undo the immediate one.
    q.shutdown(false);
    assert_eq!(q.get_nowait().err(), Some(GetError::ShutDown));
}

#[test]
fn immediate_shutdown_fails_gets_even_with_items_left_from_a_plain_one() {
    let q: RingQueue<u8, 4> = RingQueue::new();
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    q.shutdown(false);
    q.shutdown(true);
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 0);
    q.join();
}

#[test]
fn immediate_shutdown_does_not_underflow_after_early_task_done() {
    // `task_done` without `get` (legal in Python): the count reaches 0 while items are
    // still queued; dropping them must saturate, not wrap.
    let q: RingQueue<u8, 4> = RingQueue::new();
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    q.task_done().unwrap();
    q.task_done().unwrap();
    q.shutdown(true);
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn dropping_the_queue_drops_the_items_left() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let q: RingQueue<Tracked, 3> = RingQueue::new();
        q.put_nowait(tracked(&drops)).unwrap();
        q.put_nowait(tracked(&drops)).unwrap();
        drop(q.get_nowait().unwrap());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn shutdown_wakes_blocked_getters_and_putters() {
    let empty: RingQueue<u8, 1, Park> = RingQueue::new();
    let full: RingQueue<u8, 1, Park> = RingQueue::new();
    full.put_nowait(0).unwrap();
    thread::scope(|s| {
        let g = s.spawn(|| empty.get());
        let p = s.spawn(|| full.put(1));
        thread::sleep(Duration::from_millis(30));
        empty.shutdown(false);
        full.shutdown(false);
        assert_eq!(g.join().unwrap(), Err(ShutDown));
        assert_eq!(p.join().unwrap(), Err(PutError::ShutDown(1)));
    });
}

#[test]
fn immediate_shutdown_wakes_a_blocked_joiner() {
    let q: RingQueue<u8, 2, Park> = RingQueue::new();
    q.put_nowait(1).unwrap();
    let joined = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            q.join();
            joined.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(30));
        assert!(!joined.load(Ordering::SeqCst));
        q.shutdown(true);
        eventually("join returns", || joined.load(Ordering::SeqCst));
    });
}

/// 4 producers × 4 consumers through `q`; every item arrives exactly once.
fn stress<S: conkit_core::mpmc::SlotStorage<usize>>(q: &RingQueueIn<usize, S, Park>) {
    let per = ITEMS / SIDE;
    let seen: Vec<AtomicBool> = (0..per * SIDE).map(|_| AtomicBool::new(false)).collect();
    let received = AtomicUsize::new(0);
    thread::scope(|s| {
        let producers: Vec<_> = (0..SIDE)
            .map(|p| {
                s.spawn(move || {
                    for k in 0..per {
                        let v = p * per + k;
                        match k % 3 {
                            0 => q.put(v).unwrap(),
                            1 => q.put_until(v, after(60_000)).unwrap(),
                            _ => {
                                let mut v = v;
                                loop {
                                    match q.put_nowait(v) {
                                        Ok(()) => break,
                                        Err(PutError::Full(back)) => {
                                            v = back;
                                            thread::yield_now();
                                        }
                                        Err(e) => panic!("{e}"),
                                    }
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for _ in 0..SIDE {
            s.spawn(|| {
                // Until the shutdown below: then the drained queue fails the get.
                while let Ok(v) = q.get() {
                    assert!(!seen[v].swap(true, Ordering::Relaxed), "{v} twice");
                    received.fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
            });
        }
        for p in producers {
            p.join().unwrap();
        }
        // Every item is put: `join` returns once each was got and marked done (a
        // consumer counts an item before its `task_done`), never by timing out.
        let joined = q.join_until(after(120_000));
        let after_join = (q.unfinished_tasks(), received.load(Ordering::Relaxed));
        // Before asserting, so that a failure does not leave the consumers blocked.
        q.shutdown(false);
        assert!(
            joined,
            "join timed out with (unfinished, received) {after_join:?}"
        );
        assert_eq!(
            after_join,
            (0, per * SIDE),
            "join returned early: (unfinished tasks, items received)"
        );
    });
    assert!(seen.iter().all(|b| b.load(Ordering::Relaxed)));
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.empty());
}

#[test]
fn stress_4x4_every_item_once_inline() {
    let q: Box<RingQueue<usize, 64, Park>> = Box::new(RingQueue::new());
    stress(&q);
}

#[test]
fn stress_4x4_every_item_once_capacity_1() {
    let q: RingQueue<usize, 1, Park> = RingQueue::new();
    stress(&q);
}

/// Shutdown (plain or immediate) racing with producers and consumers: every item a put
/// reported as put is either got or (immediate only) dropped, exactly once, and the
/// task count comes back to zero. A stranded item (put that claimed before the shutdown
/// landing after every getter decided "empty and shut down") fails the count.
fn shutdown_race(immediate: bool) {
    for _ in 0..RACES {
        let drops = Arc::new(AtomicUsize::new(0));
        let q: RingQueue<Tracked, 4, Park> = RingQueue::new();
        let put_ok = AtomicUsize::new(0);
        let got = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    match q.put(tracked(&drops)) {
                        Ok(()) => {
                            put_ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            // A blocking put only fails with ShutDown.
                            assert!(e.is_shutdown());
                            // Handed back: not counted as got, nor as dropped.
                            e.into_inner().defuse();
                            break;
                        }
                    }
                });
            }
            for _ in 0..2 {
                s.spawn(|| {
                    while let Ok(item) = q.get() {
                        item.defuse();
                        got.fetch_add(1, Ordering::SeqCst);
                        q.task_done().unwrap();
                    }
                });
            }
            thread::sleep(Duration::from_micros(200));
            q.shutdown(immediate);
        });
        let dropped = drops.load(Ordering::SeqCst);
        assert_eq!(
            put_ok.load(Ordering::SeqCst),
            got.load(Ordering::SeqCst) + dropped,
            "an item was lost"
        );
        if !immediate {
            assert_eq!(dropped, 0);
        }
        assert_eq!(q.qsize(), 0, "an item was stranded");
        assert_eq!(q.unfinished_tasks(), 0);
        q.join();
    }
}

#[test]
fn plain_shutdown_racing_with_puts_strands_no_item() {
    shutdown_race(false);
}

#[test]
fn immediate_shutdown_racing_with_puts_drops_or_delivers_every_item() {
    shutdown_race(true);
}

#[cfg(feature = "std")]
mod heap {
    use super::*;
    use conkit_core::queue::HeapRingQueue;
    use core::num::NonZeroUsize;

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn runtime_capacities_fill_exactly_and_keep_fifo_order() {
        for n in [1usize, 2, 3, 64, 65, if cfg!(miri) { 40 } else { 1000 }] {
            let q: HeapRingQueue<usize> = HeapRingQueue::with_capacity(cap(n));
            assert_eq!(q.maxsize(), n);
            for round in 0..3 {
                for i in 0..n {
                    q.put_nowait(round * n + i).unwrap();
                }
                assert!(q.full());
                assert_eq!(q.qsize(), n);
                assert_eq!(q.put_nowait(usize::MAX), Err(PutError::Full(usize::MAX)));
                for i in 0..n {
                    assert_eq!(q.get_nowait(), Ok(round * n + i));
                }
                assert_eq!(q.get_nowait(), Err(GetError::Empty));
            }
            assert_eq!(q.unfinished_tasks(), 3 * n);
            q.shutdown(true);
        }
    }

    #[test]
    fn runtime_capacity_shutdown_both_modes() {
        let q: HeapRingQueue<u8> = HeapRingQueue::with_capacity(cap(3));
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        q.shutdown(false);
        assert_eq!(q.put_nowait(3), Err(PutError::ShutDown(3)));
        assert_eq!(q.get_nowait(), Ok(1));
        q.shutdown(true);
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        assert_eq!(q.unfinished_tasks(), 1);
    }

    #[test]
    fn stress_4x4_every_item_once_runtime_capacity_3_and_1000() {
        for n in [3usize, if cfg!(miri) { 40 } else { 1000 }] {
            let q: HeapRingQueue<usize, Park> = HeapRingQueue::with_capacity(cap(n));
            stress(&q);
        }
    }

    /// The bare ring with heap slots (the same algorithm as the inline `MpmcRing`):
    /// runtime capacities fill exactly and wrap around in order.
    #[test]
    fn heap_mpmc_ring_runtime_capacities() {
        use conkit_core::mpmc::{Full, HeapMpmcRing};
        for n in [1usize, 2, 3, 64, 65, if cfg!(miri) { 40 } else { 1000 }] {
            let ring: HeapMpmcRing<usize> = HeapMpmcRing::with_capacity(cap(n));
            assert_eq!(ring.capacity(), n);
            assert_eq!(
                format!("{ring:?}"),
                format!("MpmcRing {{ len: 0, capacity: {n} }}")
            );
            for round in 0..3 {
                for i in 0..n {
                    ring.try_push(round * n + i).unwrap();
                }
                assert!(ring.is_full());
                assert_eq!(ring.try_push(7), Err(Full(7)));
                for i in 0..n {
                    assert_eq!(ring.try_pop(), Some(round * n + i));
                }
                assert!(ring.is_empty());
            }
            // The blocking forms across threads.
            thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..100 {
                        ring.push(i);
                    }
                });
                for i in 0..100 {
                    assert_eq!(ring.pop(), i);
                }
            });
        }
    }

    /// A put on a full queue first waits for a batch of free slots (a sixteenth of
    /// them), but only briefly: when the consumer frees a single slot and stops, the
    /// put still completes, in order, and a timed put still times out when none frees.
    #[test]
    fn full_queue_put_waits_for_a_batch_only_briefly() {
        let q: HeapRingQueue<usize, Park> = HeapRingQueue::with_capacity(cap(64));
        for i in 0..64 {
            q.put_nowait(i).unwrap();
        }
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(20));
                assert_eq!(q.get_nowait(), Ok(0));
            });
            q.put(64).unwrap(); // one slot frees, never four
        });
        assert!(q.full());
        for i in 1..=64 {
            assert_eq!(q.get_nowait(), Ok(i));
        }
        let t: HeapRingQueue<u8, Timed> = HeapRingQueue::with_capacity(cap(64));
        for _ in 0..64 {
            t.put_nowait(0).unwrap();
        }
        let start = Instant::now();
        assert_eq!(t.put_until(1, after(30)), Err(PutError::Full(1)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        t.shutdown(false);
        assert_eq!(t.put(2), Err(PutError::ShutDown(2)));
    }

    #[test]
    fn heap_ring_drops_items_left() {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let q: HeapRingQueue<Tracked> = HeapRingQueue::with_capacity(cap(3));
            q.put_nowait(tracked(&drops)).unwrap();
            q.put_nowait(tracked(&drops)).unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use conkit_core::asynch::Async;

    use crate::common::block_on;

    static Q: Async<RingQueue<u32, 2>, 4> = Async::new(RingQueue::new());

    #[test]
    fn async_forms_put_get_join_and_fail_after_shutdown() {
        let q: Async<RingQueue<u32, 2>, 4> = Async::new(RingQueue::new());
        block_on(q.put(1)).unwrap();
        q.put_nowait(2).unwrap();
        assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
        assert_eq!(block_on(q.get()), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
        q.task_done().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
        block_on(q.join());
        q.shutdown(false);
        assert_eq!(block_on(q.put(4)), Err(PutError::ShutDown(4)));
        assert_eq!(block_on(q.get()), Err(ShutDown));
    }

    #[test]
    fn async_get_and_put_are_woken_by_the_other_side() {
        let n = native_or_miri(1000, 200) as u32;
        thread::scope(|s| {
            let consumer = s.spawn(move || {
                let mut sum = 0;
                for _ in 0..n {
                    sum += block_on(Q.get()).unwrap();
                    Q.task_done().unwrap();
                }
                sum
            });
            for i in 0..n {
                block_on(Q.put(i)).unwrap();
            }
            assert_eq!(consumer.join().unwrap(), (0..n).sum::<u32>());
        });
        block_on(Q.join());
    }

    #[test]
    fn async_shutdown_wakes_a_parked_get() {
        let q: Async<RingQueue<u32, 2>, 4> = Async::new(RingQueue::new());
        thread::scope(|s| {
            let g = s.spawn(|| block_on(q.get()));
            thread::sleep(Duration::from_millis(30));
            q.shutdown(false);
            assert_eq!(g.join().unwrap(), Err(ShutDown));
        });
    }
}

/// The process-shared rules between threads (`SharedFutex`: a `notify_one` wake-up goes to
/// every sleeper, sleeps are bounded slices, a peer in flight is given up after a
/// bounded spin and waited for by sleeping): 4 producers × 4 consumers through 8
/// slots, blocking and timed forms, every item exactly once and `join` released.
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
#[test]
fn stress_4x4_every_item_once_shared_futex() {
    use conkit_core::wait::SharedFutex;
    let q: RingQueue<usize, 8, SharedFutex> = RingQueue::new();
    let per = ITEMS / SIDE;
    let seen: Vec<AtomicBool> = (0..per * SIDE).map(|_| AtomicBool::new(false)).collect();
    let far = || Instant::now() + Duration::from_secs(60);
    thread::scope(|s| {
        let producers: Vec<_> = (0..SIDE)
            .map(|p| {
                let q = &q;
                s.spawn(move || {
                    for k in 0..per {
                        let v = p * per + k;
                        if k % 2 == 0 {
                            q.put(v).unwrap();
                        } else {
                            q.put_until(v, far()).unwrap();
                        }
                    }
                })
            })
            .collect();
        for c in 0..SIDE {
            let (q, seen) = (&q, &seen);
            s.spawn(move || loop {
                let got = if c % 2 == 0 {
                    q.get()
                } else {
                    q.get_until(far())
                };
                match got {
                    Ok(v) => {
                        assert!(!seen[v].swap(true, Ordering::Relaxed), "{v} twice");
                        q.task_done().unwrap();
                    }
                    Err(GetError::ShutDown) => break,
                    Err(e) => panic!("{e}"),
                }
            });
        }
        for p in producers {
            p.join().unwrap();
        }
        let joined = q.join_until(far());
        q.shutdown(false);
        assert!(
            joined,
            "join timed out: {} unfinished",
            q.unfinished_tasks()
        );
    });
    assert!(seen.iter().all(|b| b.load(Ordering::Relaxed)));
}
