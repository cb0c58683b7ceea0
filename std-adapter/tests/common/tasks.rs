//! The harness of the async test files (`queue_async.rs`, `threading_async.rs`, through
//! `#[path]`): a watchdog that turns a lost wake-up into a failure, a waker that records
//! it was called (core's `tests/common/flag.rs`), and a pause for a thread to reach its
//! wait.
#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[path = "../../../core/tests/common/flag.rs"]
mod flag;
pub use flag::flag;

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

/// Gives a thread time to reach its wait (the tests pass without it, they only test
/// less).
pub fn settle() {
    thread::sleep(Duration::from_millis(30));
}
