//! Cross-crate scenarios: the `conkit-core` primitives, reached through the `conkit`
//! std crate, driven by OS threads the way the Python seeds use them. No strategy is
//! written: `conkit` turns on core's `std` feature, so their default strategy is the
//! sleeping futex (`conkit::wait::DefaultWait`), not the firmware's spin.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
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
    // How often each item was processed: a lost item and a duplicated one would cancel
    // out in a count and a sum, not here.
    let seen: Vec<AtomicU8> = (0..=ITEMS).map(|_| AtomicU8::new(0)).collect();
    let (wrong, unfinished) = thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Ok(v) = QUEUE.get() {
                    // Counted, not asserted here: a panicking consumer would leave
                    // its task undone and hang `join` instead of failing.
                    seen[v as usize].fetch_add(1, Ordering::Relaxed);
                    QUEUE.task_done().expect("one task_done per get");
                }
            });
        }
        for v in 1..=ITEMS {
            QUEUE.put(v).expect("queue not shut down");
        }
        QUEUE.join();
        // join returned: every item was processed, each exactly once.
        let wrong: Vec<(u64, u8)> = (1..=ITEMS)
            .map(|v| (v, seen[v as usize].load(Ordering::Relaxed)))
            .filter(|&(_, times)| times != 1)
            .collect();
        let unfinished = QUEUE.unfinished_tasks();
        // Before asserting: a failed assert inside the scope would leave the workers
        // blocked in `get` and the scope waiting for them forever.
        QUEUE.shutdown(false);
        (wrong, unfinished)
    });
    assert!(
        wrong.is_empty(),
        "items not processed exactly once (item, times): {wrong:?}"
    );
    assert_eq!(unfinished, 0);
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
