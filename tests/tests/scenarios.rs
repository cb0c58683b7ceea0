//! Cross-crate scenarios: the `conkit-core` primitives, reached through the `conkit`
//! std crate, driven by OS threads the way the Python seeds use them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use conkit::core::queue::Queue;
use conkit::core::semaphore::Semaphore;
use conkit::core::spsc::SpscRing;

/// `queue.Queue` producer/consumer with `task_done` / `join`, as in seed 001:
/// every item processed exactly once and `join` returns once all are done.
#[test]
fn queue_workers_task_done_join_count_every_item() {
    static QUEUE: Queue<u64, 8> = Queue::new();
    const ITEMS: u64 = 20_000;
    let sum = AtomicU64::new(0);
    let count = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Ok(v) = QUEUE.get() {
                    sum.fetch_add(v, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    QUEUE.task_done().expect("one task_done per get");
                }
            });
        }
        for v in 1..=ITEMS {
            QUEUE.put(v).expect("queue not shut down");
        }
        QUEUE.join();
        assert_eq!(count.load(Ordering::Relaxed), ITEMS);
        assert_eq!(sum.load(Ordering::Relaxed), ITEMS * (ITEMS + 1) / 2);
        assert_eq!(QUEUE.unfinished_tasks(), 0);
        QUEUE.shutdown(false);
    });
}

/// `Semaphore(2)` never lets more than two threads in (seed 001's example).
#[test]
fn semaphore_two_never_admits_three() {
    static SEM: Semaphore = Semaphore::new(2);
    let inside = AtomicU32::new(0);
    let max = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..2_000 {
                    SEM.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    SEM.release().expect("release of an acquired permit");
                }
            });
        }
    });
    assert!(max.load(Ordering::SeqCst) <= 2);
    assert_eq!(SEM.value(), 2);
}

/// A `static` SPSC ring handed out once, used by two OS threads, order kept.
#[test]
fn static_spsc_ring_between_threads_keeps_order() {
    static RING: SpscRing<u32, 16> = SpscRing::new();
    let (mut tx, mut rx) = RING.take().expect("first take");
    assert!(RING.take().is_none());
    let producer = thread::spawn(move || {
        for v in 0..50_000u32 {
            tx.push(v).expect("consumer alive");
        }
    });
    for want in 0..50_000u32 {
        assert_eq!(rx.pop(), Ok(want));
    }
    producer.join().expect("producer thread");
}
