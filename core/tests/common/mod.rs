//! Test clocks and strategies shared by the core's test files.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::wait::{Deadline, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

pub mod flag;

/// `native` in a native run, `miri` under Miri: the switch for the counts (items,
/// rounds, laps) that Miri runs smaller. Miri checks for undefined behaviour and data
/// races on the interleavings it runs, each operation some 10^4 times slower than
/// natively: past a few hundred items a count adds run time, not proof (the native runs
/// keep the large counts, where rare interleavings show up).
pub const fn native_or_miri(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// `std::time::Instant` as a `Deadline` (core's `std` feature does the same; a local
/// newtype keeps these tests independent of that feature).
#[derive(Debug, Clone, Copy)]
pub struct At(pub Instant);

impl Deadline for At {
    fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

pub fn after(ms: u64) -> At {
    At(Instant::now() + Duration::from_millis(ms))
}

/// Spinning with a real clock.
pub type Timed = Spin<At>;

/// A futex emulated with one global mutex + condvar: sleepers really sleep until a
/// `wake_*`, so a missing notification hangs the sleeper (reported as a panic after
/// `LOST_WAKEUP` instead of hanging the test run).
#[derive(Debug)]
pub struct Park;

static PARK_LOCK: Mutex<()> = Mutex::new(());
static PARK_CV: Condvar = Condvar::new();
const LOST_WAKEUP: Duration = Duration::from_secs(30);

impl WaitStrategy for Park {
    type Deadline = At;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<At>) -> WaitOutcome {
        let mut guard = PARK_LOCK.lock().unwrap();
        let started = Instant::now();
        loop {
            if word.load(Ordering::SeqCst) != expected {
                return WaitOutcome::Woken;
            }
            let now = Instant::now();
            let limit = match deadline {
                Some(At(d)) if now >= d => return WaitOutcome::TimedOut,
                Some(At(d)) => d - now,
                None => {
                    assert!(now - started < LOST_WAKEUP, "lost wake-up");
                    LOST_WAKEUP
                }
            };
            guard = PARK_CV.wait_timeout(guard, limit).unwrap().0;
        }
    }

    fn wake_one(_word: &WaitWord) {
        let _guard = PARK_LOCK.lock().unwrap();
        PARK_CV.notify_all();
    }

    fn wake_all(_word: &WaitWord) {
        let _guard = PARK_LOCK.lock().unwrap();
        PARK_CV.notify_all();
    }
}

/// Waits (politely) until `cond` holds, failing after a generous bound.
pub fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        thread::yield_now();
    }
}

/// Wakes a parked thread (the waker of [`block_on`]).
struct Unpark(thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls, parks the thread until the waker unparks it.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return r;
        }
        thread::park_timeout(Duration::from_secs(30));
    }
}

/// Data that only the lock under test protects: a plain `UnsafeCell`, with no std
/// mutex inside to keep it right whatever the lock (or a condition variable's
/// re-acquisition) does. Every access goes through [`with`](Self::with), which fails the
/// test if another thread is inside at the same time — a lock or condition that let two
/// threads in together shows up there, instead of being hidden or corrupting memory.
pub struct Exclusive<T> {
    inside: std::sync::atomic::AtomicBool,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: `with` hands out the value to one thread at a time (the `inside` flag; a
// second thread panics before touching it), so sharing it only needs `T: Send`.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inside: std::sync::atomic::AtomicBool::new(false),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value. Call it only while holding the lock under test.
    ///
    /// # Panics
    /// If another thread is inside `with` at the same time (the lock did not exclude).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            !self.inside.swap(true, Ordering::Acquire),
            "two threads inside the critical section at once: the lock under test let them in"
        );
        // SAFETY: the swap above made this thread the only one past it until the store
        // below; every other thread that gets here meanwhile panics before this line.
        let r = f(unsafe { &mut *self.value.get() });
        self.inside.store(false, Ordering::Release);
        r
    }

    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

// ---- the strict executor of the async tests (`async_mixed`, `async_rings`) ----

/// A waker that unparks the blocked thread and records that it was called.
pub struct UnparkFlag {
    thread: thread::Thread,
    woken: AtomicBool,
}

impl Wake for UnparkFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `f` on this thread, sleeping (parked) between polls until its waker is called;
/// panics if it is not done within 20 s (a lost wake-up), where [`block_on`] only
/// polls again after 30 s.
pub fn block_on_woken<F: Future>(f: F) -> F::Output {
    let unpark = Arc::new(UnparkFlag {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    let start = Instant::now();
    loop {
        if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        while !unpark.woken.swap(false, Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "lost wake-up: the task was never woken"
            );
            thread::park_timeout(Duration::from_millis(100));
        }
    }
}
