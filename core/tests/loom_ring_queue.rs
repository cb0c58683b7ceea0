//! Loom models of `conkit_core::queue::RingQueue` (the lock-free Python queue over the
//! MPMC ring): 2 threads, capacity 1 or 2, 1-2 operations each.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --features async --test loom_ring_queue`
//!
//! The waiting strategy is a futex stand-in that returns ONLY when the event count's word
//! changes (no spurious returns): a missing or lost notification leaves a waiter
//! spinning forever, which loom reports, so the models check that every blocked caller
//! is woken — in particular the fence-free wake-up protocol of the queue (a `SeqCst`
//! claim against a `SeqCst` announcement, see the module docs of `queue::ring`).
#![cfg(loom)]

mod loom_common;

use conkit_core::queue::{GetError, PutError, RingQueue, ShutDown};
use loom::sync::Arc;
use loom::thread;
use loom_common::UntilChanged;

type Q1 = RingQueue<u32, 1, UntilChanged>;

/// One item crosses threads through blocking put/get exactly once; join completes.
#[test]
fn put_get_task_done_join() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(7).unwrap();
                q.join();
                // join returned: the consumer's task_done happened before.
                assert_eq!(q.unfinished_tasks(), 0);
            })
        };
        assert_eq!(q.get(), Ok(7));
        q.task_done().unwrap();
        producer.join().unwrap();
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
        assert_eq!(
            q.task_done(),
            Err(conkit_core::queue::TaskDoneError::TooManyCalls)
        );
    });
}

/// A put blocked on a full queue (capacity 1) is released by a get; order is kept.
#[test]
fn blocked_put_released_by_get() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        q.put_nowait(1).unwrap();
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(producer.join().unwrap(), Ok(()));
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.unfinished_tasks(), 2);
    });
}

/// Two items through a queue of capacity 1: each side blocks in turn (the getter on
/// empty, the putter on full), and every wake-up arrives.
#[test]
fn two_items_through_capacity_1() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
            })
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Ok(2));
        producer.join().unwrap();
    });
}

/// A put followed by a plain shutdown, racing with two gets: the item is delivered
/// (never stranded behind the shutdown), then the get fails.
#[test]
fn plain_shutdown_after_put_delivers_the_item() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put_nowait(5).unwrap();
                q.shutdown(false);
                assert_eq!(q.put_nowait(6), Err(PutError::ShutDown(6)));
            })
        };
        assert_eq!(q.get(), Ok(5));
        assert_eq!(q.get(), Err(ShutDown));
        producer.join().unwrap();
    });
}

/// An immediate shutdown racing with a put: the put either fails (item handed back)
/// or its item is dropped and counted done; nothing is left and join returns.
#[test]
fn immediate_shutdown_races_with_put() {
    loom::model(|| {
        let q: Arc<RingQueue<u32, 2, UntilChanged>> = Arc::new(RingQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.put_nowait(1))
        };
        q.shutdown(true);
        let put = producer.join().unwrap();
        assert!(matches!(put, Ok(()) | Err(PutError::ShutDown(1))));
        // A put that succeeded claimed before the shutdown, so the shutdown waited for
        // it and dropped its item.
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        q.join();
    });
}

/// A getter blocked on an empty queue is woken by a shutdown.
#[test]
fn shutdown_wakes_a_blocked_getter() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.shutdown(false);
        assert_eq!(getter.join().unwrap(), Err(ShutDown));
    });
}

/// A joiner blocked on an unfinished task is woken by the consumer's task_done.
#[test]
fn task_done_wakes_a_blocked_joiner() {
    loom::model(|| {
        let q: Arc<Q1> = Arc::new(RingQueue::new());
        q.put_nowait(3).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        assert_eq!(q.get_nowait(), Ok(3));
        q.task_done().unwrap();
        joiner.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
    });
}
