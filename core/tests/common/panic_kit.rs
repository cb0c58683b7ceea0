//! The harness of both panic-safety suites (`core/tests/panic_safety.rs`, and
//! `std-adapter/tests/panic_safety.rs` through `#[path]`): a time-limited runner that
//! turns a lock left held into a failure, quiet planned panics, and items whose `Ord` or
//! `Drop` panics on demand.
#![allow(dead_code)]

use std::cell::Cell;
use std::cmp::Ordering;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::Duration;

/// How long a test body may take before it counts as hung (a lock left held).
pub const LIMIT: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 30 });

/// Runs `f` in a helper thread and returns its result; a panic in `f` fails the test
/// with that panic, and a body that does not finish within [`LIMIT`] fails it as hung.
pub fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    quiet_planned_panics();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Ok(r)) => r,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("hung: a lock or counter was left held by a panic"),
    }
}

/// The start of the message of every panic these tests cause on purpose.
pub const PLANNED: &str = "planned panic";

/// A panic payload's message, if it is a string.
pub fn message_of(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Keeps the test output readable: the planned panics are not printed.
pub fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !message_of(info.payload()).is_some_and(|m| m.starts_with(PLANNED)) {
                previous(info);
            }
        }));
    });
}

/// `true` if `f` panicked.
pub fn panics<R>(f: impl FnOnce() -> R) -> bool {
    panic::catch_unwind(AssertUnwindSafe(f)).is_err()
}

thread_local! {
    /// Comparisons left before the next one panics (0: never).
    static CMP_FUSE: Cell<usize> = const { Cell::new(0) };
}

/// Makes the `k`-th comparison of a [`Key`] made from now on (by this thread) panic.
pub fn arm_cmp(k: usize) {
    CMP_FUSE.with(|f| f.set(k));
}

/// Undoes [`arm_cmp`].
pub fn disarm_cmp() {
    CMP_FUSE.with(|f| f.set(0));
}

/// An item ordered by `key` whose comparison can be made to panic ([`arm_cmp`]), and
/// that counts how many of its kind are alive (to see that nothing is lost or dropped
/// twice).
#[derive(Debug)]
pub struct Key {
    pub key: u32,
    alive: Arc<AtomicUsize>,
}

impl Key {
    pub fn new(key: u32, alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, AtomicOrdering::SeqCst);
        Self {
            key,
            alive: Arc::clone(alive),
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        CMP_FUSE.with(|f| match f.get() {
            0 => {}
            1 => {
                f.set(0);
                panic!("planned panic in Ord::cmp");
            }
            n => f.set(n - 1),
        });
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Key {}

/// An item whose drop panics if `bomb` is set, and that counts its drops.
#[derive(Debug)]
pub struct Bomb {
    pub id: u32,
    bomb: bool,
    drops: Arc<AtomicUsize>,
}

impl Bomb {
    pub fn new(id: u32, bomb: bool, drops: &Arc<AtomicUsize>) -> Self {
        Self {
            id,
            bomb,
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, AtomicOrdering::SeqCst);
        if self.bomb {
            panic!("planned panic in Drop of item {}", self.id);
        }
    }
}

/// The keys the priority tests start from (7 items: a heap three levels deep).
pub const KEYS: [u32; 7] = [50, 30, 80, 10, 90, 20, 70];

/// More comparisons than any single push or pop of the tests' heaps makes.
pub const MAX_CMPS: usize = 12;
