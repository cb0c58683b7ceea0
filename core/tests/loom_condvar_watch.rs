//! Loom model of the ticket-less watcher of `conkit_core::condvar::Condvar`
//! (`head_mark` / `watch_until`, issue #14): the proxy that wakes a process's async
//! tasks on a notify from another process sleeps among the condvar's sleepers without
//! a ticket, so a `notify(1)` is never spent on it, and it never sleeps through the
//! notify it watches for.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_condvar_watch`.
//! `cargo xtask test` also runs `watcher_wakes_and_notify_goes_to_the_waiter` against
//! the broken variant `cfg(conkit_mutant = "waiters_watch_no_recheck")` (a watcher that
//! does not look at the mark again after announcing itself), which must deadlock it.
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::condvar::Condvar;
use conkit_core::lock::Lock;
use loom_common::{until, Expired, LoomPark};

/// One ticket waiter, one watcher (mark taken before the notify), one `notify(1)`:
/// the notify counts and releases the waiter (not the watcher), and the watcher wakes
/// whatever the interleaving (`LoomPark` never wakes spuriously: a watcher that slept
/// through the notify is a loom deadlock).
#[test]
fn watcher_wakes_and_notify_goes_to_the_waiter() {
    loom::model(|| {
        let lock = Arc::new(Lock::<LoomPark>::new());
        let cv = Arc::new(Condvar::<LoomPark>::new());
        let queued = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (lock, cv, queued) = (lock.clone(), cv.clone(), queued.clone());
            thread::spawn(move || {
                lock.acquire();
                queued.store(true, Ordering::SeqCst);
                cv.wait_lock(&*lock).unwrap();
                lock.release().unwrap();
            })
        };
        let mark = cv.head_mark();
        let watcher = {
            let cv = cv.clone();
            thread::spawn(move || cv.watch_until(mark, None))
        };
        until(&queued);
        lock.acquire();
        // The watcher, asleep or not, is no waiter.
        assert_eq!(cv.waiters(), 1);
        assert_eq!(cv.notify(1), 1, "the notify was not counted for the waiter");
        lock.release().unwrap();
        waiter.join().unwrap();
        assert!(watcher.join().unwrap(), "the watcher woke without a move");
        assert_eq!(cv.waiters(), 0);
    });
}

/// A watcher with a deadline (one that passes at whichever look loom picks) next to a
/// `notify(1)` with no ticket waiter: the notify counts nobody (the watcher is no
/// waiter), the line does not move, and the watcher gives up without a move.
#[test]
fn watcher_is_never_counted() {
    loom::model(|| {
        let cv = Arc::new(Condvar::<LoomPark<Expired>>::new());
        let mark = cv.head_mark();
        let watcher = {
            let cv = cv.clone();
            thread::spawn(move || cv.watch_until(mark, Some(Expired)))
        };
        assert_eq!(cv.notify(1), 0);
        assert_eq!(cv.waiters(), 0);
        assert!(
            !watcher.join().unwrap(),
            "a notify with no waiter moved the line"
        );
    });
}
