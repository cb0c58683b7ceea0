//! Loom models of `conkit_core::queue` (2 threads, capacity 1, 1-2 ops each).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_queue`
//!
//! The queues' default `CriticalSectionMutex` cannot be modelled: loom runs its threads as
//! coroutines on ONE OS thread, so the std critical-section implementation (a
//! thread-local "already inside" flag plus a global mutex) would treat a second loom
//! thread as a nested section and not exclude it. The models use a loom spin lock through
//! `Queue::with_mutex` instead; the queue algorithm is the same for every mutex.
//!
//! The waiting strategy is a futex stand-in that returns ONLY when the event count's word
//! changes (no spurious returns, unlike `Spin`): a missing or lost notification leaves a
//! waiter spinning forever, which loom reports (branch limit), so the models also check
//! that every blocked caller is woken.
#![cfg(loom)]

mod loom_common;

use conkit_core::lock::{RawLock, ReleaseError};
use conkit_core::queue::{GetError, PutError, Queue};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::UntilChanged;

/// A minimal loom-visible test-and-set lock.
struct LoomLock(AtomicBool);

impl LoomLock {
    fn new() -> Self {
        Self(AtomicBool::new(false))
    }
}

impl RawLock for LoomLock {
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

type Q = Queue<u32, 1, LoomLock, UntilChanged>;

fn queue() -> Arc<Q> {
    Arc::new(Q::with_mutex(LoomLock::new()))
}

/// One item crosses threads through blocking put/get exactly once; join completes.
#[test]
fn put_get_join() {
    loom::model(|| {
        let q = queue();
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
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// A put blocked on a full queue (capacity 1) is released by a get; order is kept.
#[test]
fn blocked_put_released_by_get() {
    loom::model(|| {
        let q = queue();
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

/// A get racing with a put followed by a normal shutdown: whether it was blocked or not,
/// it receives the item (a normal shutdown still delivers queued items).
#[test]
fn shutdown_races_with_get() {
    loom::model(|| {
        let q = queue();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        let put = q.put_nowait(5);
        q.shutdown(false);
        let got = getter.join().unwrap();
        assert_eq!(put, Ok(()));
        // Normal shutdown: the item put before it is still delivered.
        assert_eq!(got, Ok(5));
        assert_eq!(q.put_nowait(6), Err(PutError::ShutDown(6)));
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    });
}

/// An immediate shutdown releases a blocked putter (handing its item back) and a joiner:
/// the queued item is discarded and counted done.
#[test]
fn immediate_shutdown_releases_join_and_put() {
    loom::model(|| {
        let q = queue();
        q.put_nowait(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || {
                let r = q.put(2);
                q.join();
                r
            })
        };
        q.shutdown(true);
        assert_eq!(putter.join().unwrap(), Err(PutError::ShutDown(2)));
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.empty());
    });
}
