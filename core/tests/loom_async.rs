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

use std::future::Future;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use conkit_core::asynch::TaskSlot;
use conkit_core::lock::Lock;
use conkit_core::mpmc::MpmcRing;
use conkit_core::queue::RingQueue;
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

/// A task polls `RingQueue::get_async` once on an empty queue while a thread (or an
/// interrupt handler) puts with the plain `put_nowait`: a `Pending` poll must have been
/// woken. The put only notifies when it sees a getter counted in `sleeping_getters`,
/// so the task must count itself there before its last look (the ring queue's Dekker
/// pair) as well as set the `TASKS` bit (`Waiters`').
#[test]
fn ring_queue_thread_put_wakes_a_parked_getter() {
    loom::model(|| {
        let q = Arc::new(RingQueue::<u32, 1, W>::new());
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put_nowait(7).unwrap())
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut get = std::pin::pin!(q.get_async());
        let first = get.as_mut().poll(&mut cx);
        putter.join().unwrap();
        match first {
            Poll::Ready(r) => assert_eq!(r, Ok(7)),
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "lost wake-up: task never woken"
                );
                assert_eq!(get.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
            }
        }
    });
}

/// As `ring_queue_thread_put_wakes_a_parked_getter`, with the `TASKS` bit already set
/// (an earlier getter parked and was dropped: the bit stays set), so the parking task
/// only fences and reads it. `get_async` looks without the ring's own "looks empty"
/// fence: the park's fence must order the registration (and the count) before the
/// last look, or that look and the thread's notify can miss each other.
#[test]
fn ring_queue_thread_put_wakes_a_getter_parked_behind_a_set_bit() {
    loom::model(|| {
        let q = Arc::new(RingQueue::<u32, 1, W>::new());
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut gone = std::pin::pin!(q.get_async());
            assert!(gone.as_mut().poll(&mut cx).is_pending());
        }
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put_nowait(7).unwrap())
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut get = std::pin::pin!(q.get_async());
        let first = get.as_mut().poll(&mut cx);
        putter.join().unwrap();
        match first {
            Poll::Ready(r) => assert_eq!(r, Ok(7)),
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "lost wake-up: task never woken"
                );
                assert_eq!(get.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
            }
        }
    });
}

/// The mirror: a task polls `put_async` once on a full queue while a thread takes the
/// item with the plain `get_nowait`.
#[test]
fn ring_queue_thread_get_wakes_a_parked_putter() {
    loom::model(|| {
        let q = Arc::new(RingQueue::<u32, 1, W>::new());
        q.put_nowait(1).unwrap();
        let getter = {
            let q = q.clone();
            thread::spawn(move || assert_eq!(q.get_nowait(), Ok(1)))
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut put = std::pin::pin!(q.put_async(2));
        let first = put.as_mut().poll(&mut cx);
        getter.join().unwrap();
        if first.is_pending() {
            assert!(
                woken.0.load(Ordering::SeqCst),
                "lost wake-up: task never woken"
            );
            assert_eq!(put.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        }
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

/// A task polls `MpmcRing::pop_async` once on an empty ring while a thread pushes with
/// the plain blocking `push`: a `Pending` poll must have been woken. The push skips its
/// notify when nobody waits; it must count parked tasks as waiting
/// (`Waiters::anyone_waiting`), not only sleeping threads.
#[test]
fn mpmc_thread_push_wakes_a_parked_popper() {
    loom::model(|| {
        let ring = Arc::new(MpmcRing::<u32, 1, W>::new());
        let pusher = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(7))
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut pop = std::pin::pin!(ring.pop_async());
        let first = pop.as_mut().poll(&mut cx);
        pusher.join().unwrap();
        match first {
            Poll::Ready(v) => assert_eq!(v, 7),
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "lost wake-up: task never woken"
                );
                assert_eq!(pop.as_mut().poll(&mut cx), Poll::Ready(7));
            }
        }
    });
}

/// The mirror: a task polls `push_async` once on a full ring while a thread pops with
/// the plain blocking `pop`.
#[test]
fn mpmc_thread_pop_wakes_a_parked_pusher() {
    loom::model(|| {
        let ring = Arc::new(MpmcRing::<u32, 1, W>::new());
        ring.try_push(1).unwrap();
        let popper = {
            let ring = ring.clone();
            thread::spawn(move || assert_eq!(ring.pop(), 1))
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut push = std::pin::pin!(ring.push_async(2));
        let first = push.as_mut().poll(&mut cx);
        popper.join().unwrap();
        if first.is_pending() {
            assert!(
                woken.0.load(Ordering::SeqCst),
                "lost wake-up: task never woken"
            );
            assert_eq!(push.as_mut().poll(&mut cx), Poll::Ready(()));
        }
        assert_eq!(ring.try_pop(), Some(2));
    });
}

/// A task done waiting leaves nothing parked, also when it skips the table's critical
/// section (`Waiters::poll_async` forgets its slot when the `TASKS` bit is already
/// clear: the notifier that cleared it removes the waker). A thread sets the token and
/// notifies while the task polls until ready; after both are done, one more notify must
/// call no waker: a stale entry left in the table would be woken (and leak).
#[test]
fn waiters_finished_task_leaves_no_stale_waker() {
    loom::model(|| {
        let state = Arc::new((AtomicU32::new(0), Waiters::<W>::new()));
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                state.0.store(1, Ordering::SeqCst);
                state.1.notify_all();
            })
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let seen = || (state.0.load(Ordering::SeqCst) == 1).then_some(());
        while state.1.poll_async(&mut slot, &mut cx, seen).is_pending() {
            loom::thread::yield_now();
        }
        notifier.join().unwrap();
        woken.0.store(false, Ordering::SeqCst);
        state.1.notify_all();
        assert!(
            !woken.0.load(Ordering::SeqCst),
            "a finished task's waker was still parked"
        );
        drop(slot);
    });
}

/// The same without any notifier in between: the task parks (sets `TASKS`), the state
/// changes with no notify, the task's next poll is ready — the bit is still set, so it
/// must leave the table itself.
#[test]
fn waiters_ready_without_notify_leaves_the_table() {
    loom::model(|| {
        let state = (AtomicU32::new(0), Waiters::<W>::new());
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let seen = || (state.0.load(Ordering::SeqCst) == 1).then_some(());
        assert!(state.1.poll_async(&mut slot, &mut cx, seen).is_pending());
        state.0.store(1, Ordering::SeqCst); // no notify
        assert!(state.1.poll_async(&mut slot, &mut cx, seen).is_ready());
        state.1.notify_all();
        assert!(
            !woken.0.load(Ordering::SeqCst),
            "a finished task's waker was still parked"
        );
    });
}

/// The `TASKS` bit stays set while tasks park and wake; a notify that finds no task
/// parked clears it. Here the bit is stale (a task parked once and its future was
/// dropped), a thread's notify finds nobody and clears it while a task parks (and,
/// seeing the bit set, does not set it again); then the state changes and is notified:
/// the parked task must be woken. The clearing notify must look for parked tasks once
/// more after its clear, or the task is left parked behind a clear bit that every later
/// notify passes by.
#[test]
fn waiters_stale_bit_cleared_while_a_task_parks() {
    loom::model(|| {
        let state = Arc::new((AtomicU32::new(0), Waiters::<W>::new()));
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut gone = TaskSlot::new();
            let never = || None::<()>;
            assert!(state.1.poll_async(&mut gone, &mut cx, never).is_pending());
        }
        let spurious = {
            let state = state.clone();
            thread::spawn(move || state.1.notify_all())
        };
        let woken = StdArc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = TaskSlot::new();
        let seen = || (state.0.load(Ordering::SeqCst) == 1).then_some(());
        let first = state.1.poll_async(&mut slot, &mut cx, seen);
        spurious.join().unwrap();
        assert!(first.is_pending());
        state.0.store(1, Ordering::SeqCst);
        state.1.notify_all();
        assert!(
            woken.0.load(Ordering::SeqCst),
            "lost wake-up: task parked behind a cleared bit"
        );
    });
}

/// Two tasks park on one primitive (one in the fast cell, the other in the table); a
/// thread changes the state and notifies: both must be woken.
#[test]
fn waiters_notify_wakes_cell_and_table_tasks() {
    loom::model(|| {
        let state = Arc::new((AtomicU32::new(0), Waiters::<W>::new()));
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                state.0.store(1, Ordering::SeqCst);
                state.1.notify_all();
            })
        };
        let seen = || (state.0.load(Ordering::SeqCst) == 1).then_some(());
        let a = StdArc::new(Woken(AtomicBool::new(false)));
        let b = StdArc::new(Woken(AtomicBool::new(false)));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let (mut sa, mut sb) = (TaskSlot::new(), TaskSlot::new());
        let first_a = state
            .1
            .poll_async(&mut sa, &mut Context::from_waker(&wa), seen);
        let first_b = state
            .1
            .poll_async(&mut sb, &mut Context::from_waker(&wb), seen);
        notifier.join().unwrap();
        if first_a.is_pending() {
            assert!(a.0.load(Ordering::SeqCst), "lost wake-up: first task");
        }
        if first_b.is_pending() {
            assert!(b.0.load(Ordering::SeqCst), "lost wake-up: second task");
        }
    });
}
