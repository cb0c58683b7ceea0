//! The harness of the async test files (`queue_async.rs`, `threading_async.rs`, through
//! `#[path]`): a watchdog that turns a lost wake-up into a failure, a waker that records
//! it was called, and a pause for a thread to reach its wait.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Wake, Waker};
use std::thread;
use std::time::Duration;

/// Runs `test` on its own thread; fails if it has not finished within 30 s.
pub fn watchdog(test: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        test();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test panicked: report its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: a lost wake-up"),
    }
}

/// A waker that records it was called.
pub struct Flag(pub AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A [`Flag`] and its waker.
pub fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag(AtomicBool::new(false)));
    (f.clone(), Waker::from(f))
}

/// Gives a thread time to reach its wait (the tests pass without it, they only test
/// less).
pub fn settle() {
    thread::sleep(Duration::from_millis(30));
}
