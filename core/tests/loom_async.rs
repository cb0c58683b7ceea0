//! Loom models of the async waker protocol (feature `async`): a task parks on a
//! primitive itself (`Waiters::poll_async`, `Lock::poll_acquire`: its waker in the
//! process-wide table, then the primitive's `TASKS` bit, then a last look), and a
//! notifier that changes the state through the plain blocking API (a thread's
//! `release`, `notify_all`) must wake it. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --features async --test loom_async`.
//!
//! What they check: after the notifier's change, a task whose poll returned
//! `Pending` has been woken (its waker was called) — no lost wake-up, whatever the
//! interleaving of the park, the bit, the last look, the change and the notifier's look.
#![cfg(all(loom, feature = "async"))]

mod loom_common;

use std::sync::Arc as StdArc;
use std::task::{Context, Wake, Waker};

use conkit_core::asynch::TaskSlot;
use conkit_core::lock::Lock;
use conkit_core::wait::{Never, Waiters};
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::LoomFutex;

/// A waker that records it was called (a loom atomic, so the model sees the order).
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type W = LoomFutex<Never>;

/// A token count under one `Waiters`; a thread adds a token and notifies, a task
/// polls once for it.
#[test]
fn waiters_thread_notify_wakes_a_parked_task() {
    loom::model(|| {
        let state = Arc::new((AtomicU32::new(0), Waiters::<W>::new()));
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                state.0.fetch_add(1, Ordering::SeqCst);
                state.1.notify_all();
            })
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let take = || {
            state
                .0
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .ok()
                .map(|_| ())
        };
        let first = state.1.poll_async(&mut slot, &mut cx, take);
        notifier.join().unwrap();
        if first.is_pending() {
            assert!(
                woken.0.load(Ordering::SeqCst),
                "lost wake-up: task never woken"
            );
            assert!(state.1.poll_async(&mut slot, &mut cx, take).is_ready());
        }
    });
}

/// `notify_one` (the queues' notify) wakes parked tasks too.
#[test]
fn waiters_notify_one_wakes_a_parked_task() {
    loom::model(|| {
        let state = Arc::new((AtomicU32::new(0), Waiters::<W>::new()));
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                state.0.store(1, Ordering::SeqCst);
                state.1.notify_one();
            })
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let seen = || (state.0.load(Ordering::SeqCst) == 1).then_some(());
        let first = state.1.poll_async(&mut slot, &mut cx, seen);
        notifier.join().unwrap();
        if first.is_pending() {
            assert!(
                woken.0.load(Ordering::SeqCst),
                "lost wake-up: task never woken"
            );
        }
    });
}

/// A thread holds the lock and releases it with the plain `release`; a task polls to
/// acquire it once. A `Pending` poll must have been woken by the release.
#[test]
fn lock_thread_release_wakes_a_parked_task() {
    loom::model(|| {
        let lock = Arc::new(Lock::<W>::new());
        lock.acquire();
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let releaser = {
            let lock = lock.clone();
            thread::spawn(move || lock.release().unwrap())
        };
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let first = lock.poll_acquire(&mut slot, &mut cx);
        releaser.join().unwrap();
        if first.is_pending() {
            assert!(
                woken.0.load(Ordering::SeqCst),
                "lost wake-up: task never woken"
            );
            assert!(lock.poll_acquire(&mut slot, &mut cx).is_ready());
        }
        lock.release().unwrap();
    });
}

/// A loom-modelled executor thread: the waker sets a flag and signals a loom condvar;
/// the executor sleeps on it between polls, so a wake-up that never comes is a loom
/// deadlock (a lost wake-up), not a spin.
struct Signal {
    woken: loom::sync::Mutex<bool>,
    cv: loom::sync::Condvar,
}

impl Wake for Signal {
    fn wake(self: StdArc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let signal = StdArc::new(Signal {
        woken: loom::sync::Mutex::new(false),
        cv: loom::sync::Condvar::new(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// A thread sleeping in `acquire` and a task awaiting the same lock; the holder
/// releases once: both get the lock in turn — the release wakes both kinds of waiter,
/// and whichever takes it wakes the other with its own release.
#[test]
fn lock_release_wakes_thread_and_task_sleepers() {
    loom::model(|| {
        let lock = Arc::new(Lock::<W>::new());
        lock.acquire();
        let sleeper = {
            let lock = lock.clone();
            thread::spawn(move || {
                lock.acquire();
                lock.release().unwrap();
            })
        };
        let task = {
            let lock = lock.clone();
            thread::spawn(move || {
                block_on(lock.acquire_async());
                lock.release().unwrap();
            })
        };
        lock.release().unwrap();
        sleeper.join().unwrap();
        task.join().unwrap();
        assert!(!lock.locked());
    });
}
