//! Loom models of the ticket queue of `conkit_core::condvar::Condvar`: waiters are
//! released in the order they started waiting, and a waiter that gave up (timed out) is
//! skipped by the next notify instead of absorbing it.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_condvar_fifo`.
//! `cargo xtask test` also runs `timed_out_waiter_is_skipped` against the broken variant
//! `cfg(conkit_mutant = "condvar_cancel_not_recorded")` (a waiter that gives up is not
//! recorded), which must deadlock it.
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::condvar::Condvar;
use conkit_core::lock::Lock;
use loom_common::{until, Expired, LoomPark};

type Cv = Condvar<LoomPark<Expired>>;

/// Two waiters queued one after the other; `notify(1)` releases the first only, the
/// second `notify(1)` the second.
#[test]
fn waiters_released_in_arrival_order() {
    loom::model(|| {
        let lock = Arc::new(Lock::<LoomPark>::new());
        let cv = Arc::new(Cv::new());
        let (queued1, queued2) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (back1, back2) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let spawn = |queued: Arc<AtomicBool>, back: Arc<AtomicBool>| {
            let (lock, cv) = (lock.clone(), cv.clone());
            thread::spawn(move || {
                lock.acquire();
                // Raised under the lock: once the main thread holds the lock after
                // seeing it, this waiter has its ticket.
                queued.store(true, Ordering::SeqCst);
                cv.wait_lock(&*lock).unwrap();
                back.store(true, Ordering::SeqCst);
                lock.release().unwrap();
            })
        };
        let first = spawn(queued1.clone(), back1.clone());
        until(&queued1);
        lock.acquire();
        lock.release().unwrap();
        let second = spawn(queued2.clone(), back2.clone());
        until(&queued2);
        lock.acquire();
        assert_eq!(cv.notify(1), 1);
        lock.release().unwrap();
        first.join().unwrap();
        assert!(
            !back2.load(Ordering::SeqCst),
            "the second waiter went first"
        );
        lock.acquire();
        assert_eq!(cv.notify(1), 1);
        lock.release().unwrap();
        second.join().unwrap();
        assert!(back1.load(Ordering::SeqCst));
    });
}

/// A timed waiter that gives up (at any point loom chooses) and an untimed one: once
/// the timed one has left, one `notify(1)` releases the untimed one, whichever of the
/// two queued first.
#[test]
fn timed_out_waiter_is_skipped() {
    loom::model(|| {
        let lock = Arc::new(Lock::<LoomPark>::new());
        let cv = Arc::new(Cv::new());
        let queued = Arc::new(AtomicBool::new(false));
        let timed = {
            let (lock, cv) = (lock.clone(), cv.clone());
            thread::spawn(move || {
                lock.acquire();
                let notified = cv.wait_lock_until(&*lock, Some(Expired)).unwrap();
                lock.release().unwrap();
                notified
            })
        };
        let untimed = {
            let (lock, cv, queued) = (lock.clone(), cv.clone(), queued.clone());
            thread::spawn(move || {
                lock.acquire();
                queued.store(true, Ordering::SeqCst);
                cv.wait_lock(&*lock).unwrap();
                lock.release().unwrap();
            })
        };
        assert!(!timed.join().unwrap(), "nobody notified the timed waiter");
        until(&queued);
        lock.acquire();
        assert_eq!(cv.notify(1), 1);
        lock.release().unwrap();
        untimed.join().unwrap();
    });
}
