//! The async forms of the core primitives awaited directly (no `Async` wrapper), with
//! blocking threads and async tasks on the same object: a thread's plain release /
//! set / notify wakes a parked task, a task's wakes a sleeping thread; cancellation (a
//! dropped pending future swallows nothing); thousands of tasks on one object. Every
//! wait here is bounded by a watchdog (`block_on` panics after 20 s) so a lost wake-up
//! fails the test instead of hanging it.
#![cfg(feature = "async")]

mod common;

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::condvar::Condvar;
use conkit_core::event::Event;
use conkit_core::lock::{BlockingMutex, Lock, OwnerId, ReentrantLock};
use conkit_core::semaphore::Semaphore;
use conkit_core::wait::Futex;

use common::block_on_woken as block_on;
use common::flag::flag;

/// Lets the other thread reach its wait (it parks or sleeps).
fn settle() {
    thread::sleep(Duration::from_millis(30));
}

#[test]
fn lock_released_by_a_thread_wakes_the_task() {
    let lock: Lock<Futex> = Lock::new();
    lock.acquire();
    thread::scope(|s| {
        let task = s.spawn(|| {
            block_on(lock.acquire_async());
            assert!(lock.locked());
            lock.release().unwrap();
        });
        settle();
        lock.release().unwrap(); // the plain blocking API
        task.join().unwrap();
    });
    assert!(!lock.locked());
}

#[test]
fn lock_guard_of_a_task_wakes_a_sleeping_thread() {
    let lock: Lock<Futex> = Lock::new();
    let guard = block_on(lock.lock_async());
    thread::scope(|s| {
        let t = s.spawn(|| {
            lock.acquire(); // sleeps in the futex
            lock.release().unwrap();
        });
        settle();
        drop(guard);
        t.join().unwrap();
    });
    assert!(!lock.locked());
}

#[test]
fn lock_contended_by_threads_and_tasks_keeps_mutual_exclusion() {
    static LOCK: Lock<Futex> = Lock::new();
    static INSIDE: AtomicU32 = AtomicU32::new(0);
    static DONE: AtomicU32 = AtomicU32::new(0);
    const ROUNDS: u32 = if cfg!(miri) { 20 } else { 2_000 };
    fn critical() {
        assert_eq!(INSIDE.fetch_add(1, Ordering::SeqCst), 0, "two holders");
        std::hint::spin_loop();
        INSIDE.fetch_sub(1, Ordering::SeqCst);
        DONE.fetch_add(1, Ordering::SeqCst);
    }
    thread::scope(|s| {
        for i in 0..4 {
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    if i % 2 == 0 {
                        LOCK.acquire();
                        critical();
                        LOCK.release().unwrap();
                    } else {
                        let _g = block_on(LOCK.lock_async());
                        critical();
                    }
                }
            });
        }
    });
    assert_eq!(DONE.load(Ordering::SeqCst), 4 * ROUNDS);
    assert!(!LOCK.locked());
}

#[test]
fn dropped_pending_lock_acquire_then_one_release_the_other_task_gets_it() {
    let lock: Lock<Futex> = Lock::new();
    lock.acquire();
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(lock.acquire_async());
    let mut b = pin!(lock.acquire_async());
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    lock.release().unwrap();
    assert!(fb.0.load(Ordering::SeqCst), "the remaining task is woken");
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
    assert!(lock.locked());
    lock.release().unwrap();
}

#[test]
fn dropped_pending_acquire_then_one_release_the_other_waiter_gets_it() {
    // The shape of embassy-sync's #6964 / #4598.
    let sem: Semaphore<Futex> = Semaphore::new(0);
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    let mut a = Box::pin(sem.acquire_async());
    let mut b = pin!(sem.acquire_async());
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    drop(a);
    sem.release().unwrap();
    assert!(fb.0.load(Ordering::SeqCst), "the remaining task is woken");
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
    assert_eq!(sem.value(), 0);
    // And the same with a blocked thread as the other waiter.
    let (_fc, wc) = flag();
    let mut c = Box::pin(sem.acquire_async());
    assert!(c.as_mut().poll(&mut Context::from_waker(&wc)).is_pending());
    thread::scope(|s| {
        let t = s.spawn(|| sem.acquire());
        settle();
        drop(c);
        sem.release().unwrap();
        t.join().unwrap();
    });
    assert_eq!(sem.value(), 0);
}

#[test]
fn semaphore_released_by_a_thread_wakes_the_task_and_back() {
    let sem: Semaphore<Futex> = Semaphore::new(0);
    thread::scope(|s| {
        let task = s.spawn(|| {
            block_on(sem.acquire_async());
            let g = block_on(sem.acquire_guard_async());
            drop(g); // gives one back to the thread below
        });
        settle();
        sem.release_many(2).unwrap();
        task.join().unwrap();
    });
    sem.acquire();
    assert_eq!(sem.value(), 0);
}

#[test]
fn event_set_by_a_thread_wakes_every_task() {
    let ev: Event<Futex> = Event::new();
    thread::scope(|s| {
        let tasks: Vec<_> = (0..3)
            .map(|_| s.spawn(|| block_on(ev.wait_async())))
            .collect();
        settle();
        ev.set();
        ev.clear(); // a task parked at the `set` still completes
        for t in tasks {
            t.join().unwrap();
        }
    });
}

#[test]
fn condvar_notify_by_a_thread_wakes_the_task_which_retakes_the_lock() {
    let lock: Lock<Futex> = Lock::new();
    let cv: Condvar<Futex> = Condvar::new();
    let ready = AtomicBool::new(false);
    thread::scope(|s| {
        let task = s.spawn(|| {
            block_on(async {
                lock.acquire_async().await;
                while !ready.load(Ordering::SeqCst) {
                    cv.wait_lock_async(&lock).await.unwrap();
                }
                assert!(lock.locked());
                lock.release().unwrap();
            });
        });
        settle();
        lock.acquire();
        ready.store(true, Ordering::SeqCst);
        cv.notify(1);
        lock.release().unwrap();
        task.join().unwrap();
    });
    assert_eq!(cv.waiters(), 0);
}

#[test]
fn condvar_future_dropped_after_its_notify_passes_it_on() {
    let lock: Lock<Futex> = Lock::new();
    let cv: Condvar<Futex> = Condvar::new();
    let (_fa, wa) = flag();
    let (fb, wb) = flag();
    lock.acquire();
    let mut a = Box::pin(cv.wait_lock_async(&lock));
    assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    lock.acquire();
    let mut b = pin!(cv.wait_lock_async(&lock));
    assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    assert!(!lock.locked());
    assert_eq!(cv.waiters(), 2);
    lock.acquire();
    assert_eq!(cv.notify(1), 1); // releases `a`, the oldest
    drop(a); // ...which never completes: the notify goes to `b`
    lock.release().unwrap();
    assert!(fb.0.load(Ordering::SeqCst));
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(Ok(()))
    );
    assert!(lock.locked());
    lock.release().unwrap();
    assert_eq!(cv.waiters(), 0);
}

#[test]
fn barrier_with_threads_and_tasks_as_parties() {
    let b: Barrier<Futex> = Barrier::new(4);
    let mut indices: Vec<u32> = thread::scope(|s| {
        let parties: Vec<_> = (0..4)
            .map(|i| {
                let b = &b;
                s.spawn(move || {
                    if i % 2 == 0 {
                        b.wait(|| true).unwrap()
                    } else {
                        block_on(b.wait_async(|| true)).unwrap()
                    }
                })
            })
            .collect();
        parties.into_iter().map(|p| p.join().unwrap()).collect()
    });
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2, 3]);
}

/// asyncio's `Barrier.wait` cancelled while the barrier fills: the party withdraws
/// (`n_waiting` drops, nobody is broken or woken) and a replacement fills the round.
#[test]
fn cancelled_async_party_withdraws_and_round_still_fills() {
    let b: Barrier<Futex> = Barrier::new(2);
    let actions = AtomicU32::new(0);
    let act = || {
        actions.fetch_add(1, Ordering::SeqCst);
        true
    };
    let (_f, w) = flag();
    let mut fut = Box::pin(b.wait_async(act));
    assert!(fut.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    assert_eq!(b.n_waiting(), 1);
    drop(fut);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
    let mut indices = thread::scope(|s| {
        let t = s.spawn(|| b.wait(act).unwrap());
        let mine = block_on(b.wait_async(act)).unwrap();
        [mine, t.join().unwrap()]
    });
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);
    assert_eq!(actions.load(Ordering::SeqCst), 1);
    assert_eq!(b.n_waiting(), 0);
}

/// A party dropped while the last arrival runs the action (the round is complete)
/// counts as passed: the action runs once, the others are released, the barrier is
/// not broken — and the round stays complete meanwhile: a newcomer (polled from
/// inside the action) waits for the next round instead of taking the dropped party's
/// place and running a second action.
#[test]
fn async_party_dropped_while_the_action_runs_counts_as_passed() {
    let b: Barrier<Futex> = Barrier::new(3);
    let actions = AtomicU32::new(0);
    let (_f, w) = flag();
    let mut cx = Context::from_waker(&w);
    let mut a = Box::pin(b.wait_async(|| true));
    let mut p = Box::pin(b.wait_async(|| true));
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(p.as_mut().poll(&mut cx).is_pending());
    let newcomer = std::cell::RefCell::new(None);
    let mut last = Box::pin(b.wait_async(|| {
        drop(a); // cancelled after the round completed
        let mut n = Box::pin(b.wait_async(|| {
            actions.fetch_add(100, Ordering::SeqCst);
            true
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            n.as_mut().poll(&mut cx).is_pending(),
            "a newcomer took the dropped party's place in a complete round"
        );
        *newcomer.borrow_mut() = Some(n);
        actions.fetch_add(1, Ordering::SeqCst);
        true
    }));
    assert_eq!(last.as_mut().poll(&mut cx), Poll::Ready(Ok(2)));
    drop(last);
    assert_eq!(p.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    assert_eq!(actions.load(Ordering::SeqCst), 1);
    assert!(!b.broken());
    // The newcomer is in the next round (index 0): two more parties complete it.
    let mut n = newcomer.into_inner().unwrap();
    assert_eq!(b.n_waiting(), 0);
    assert!(n.as_mut().poll(&mut cx).is_pending());
    assert_eq!(b.n_waiting(), 1);
    let mut q = Box::pin(b.wait_async(|| true));
    assert!(q.as_mut().poll(&mut cx).is_pending());
    let mut r = Box::pin(b.wait_async(|| true));
    assert_eq!(r.as_mut().poll(&mut cx), Poll::Ready(Ok(2)));
    assert_eq!(n.as_mut().poll(&mut cx), Poll::Ready(Ok(0)));
    assert_eq!(q.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
}

/// A party dropped while the action runs, and then the action fails, or resets the
/// barrier: the round is broken for the parties still inside (the dropped one is not
/// counted twice), and once they left the barrier is empty (after a reset, usable).
#[test]
fn async_party_dropped_during_a_failing_or_resetting_action_leaves_an_empty_barrier() {
    for reset in [false, true] {
        let b: Barrier<Futex> = Barrier::new(3);
        let mut cx = Context::from_waker(Waker::noop());
        let mut a = Box::pin(b.wait_async(|| true));
        let mut p = Box::pin(b.wait_async(|| true));
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(p.as_mut().poll(&mut cx).is_pending());
        let mut last = Box::pin(b.wait_async(|| {
            drop(a);
            if reset {
                b.reset();
            }
            reset // a reset round releases nobody; without one, the action fails
        }));
        assert_eq!(last.as_mut().poll(&mut cx), Poll::Ready(Err(BrokenBarrier)));
        drop(last);
        assert_eq!(p.as_mut().poll(&mut cx), Poll::Ready(Err(BrokenBarrier)));
        drop(p);
        assert!(format!("{b:?}").contains("inside: 0"), "{b:?}");
        assert_eq!(b.broken(), !reset);
        b.reset();
        let mut q = Box::pin(b.wait_async(|| true));
        let mut r = Box::pin(b.wait_async(|| true));
        assert!(q.as_mut().poll(&mut cx).is_pending());
        assert!(r.as_mut().poll(&mut cx).is_pending());
        assert_eq!(b.wait(|| true), Ok(2));
        assert_eq!(q.as_mut().poll(&mut cx), Poll::Ready(Ok(0)));
        assert_eq!(r.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
        assert_eq!(b.n_waiting(), 0);
    }
}

/// Many rounds of a barrier of 3 with two blocking threads and three threads of tasks
/// whose futures are dropped at random right after arriving (racing the last arrival):
/// no party ever sees a broken barrier, every released round released its last arrival
/// (index 2) once and the action ran once per round, and the parties that returned
/// are the released rounds' parties less at most the dropped ones (and those of the
/// round the final abort catches draining). Stopped by an abort (after which every
/// party leaves); the barrier is then empty.
#[test]
fn barrier_random_cancels_from_tasks_and_threads_release_whole_rounds() {
    const PARTIES: u32 = 3;
    let target: u32 = if cfg!(miri) { 4 } else { 10_000 };
    let b: Barrier<Futex> = Barrier::new(PARTIES);
    let actions = AtomicU32::new(0);
    let released = AtomicU32::new(0); // returns of index PARTIES - 1: released rounds
    let passed = AtomicU32::new(0); // every `Ok` return
    let dropped = AtomicU32::new(0); // futures dropped pending (arrived or not)
    let broken = AtomicU32::new(0); // `BrokenBarrier` returns (after the final abort)
    let stop = AtomicBool::new(false);
    let act = || {
        actions.fetch_add(1, Ordering::SeqCst);
        true
    };
    thread::scope(|s| {
        for t in 0..5u32 {
            let (b, released, passed, dropped, broken, stop) =
                (&b, &released, &passed, &dropped, &broken, &stop);
            s.spawn(move || {
                let mut rng = 0x9E37_79B9u32.wrapping_mul(t + 1) | 1;
                loop {
                    rng ^= rng << 13;
                    rng ^= rng >> 17;
                    rng ^= rng << 5;
                    let result = if t < 2 {
                        Some(b.wait(act))
                    } else {
                        let mut fut = Box::pin(b.wait_async(act));
                        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                            Poll::Ready(r) => Some(r),
                            Poll::Pending if rng % 3 == 0 => {
                                if rng & 8 != 0 {
                                    thread::yield_now();
                                }
                                drop(fut);
                                dropped.fetch_add(1, Ordering::SeqCst);
                                None
                            }
                            Poll::Pending => Some(block_on(fut)),
                        }
                    };
                    match result {
                        None => {}
                        Some(Ok(index)) => {
                            assert!(index < PARTIES);
                            passed.fetch_add(1, Ordering::SeqCst);
                            if index == PARTIES - 1 {
                                released.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Some(Err(BrokenBarrier)) => {
                            assert!(stop.load(Ordering::SeqCst), "broken by a cancel");
                            broken.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                }
            });
        }
        let start = std::time::Instant::now();
        while actions.load(Ordering::SeqCst) < target && start.elapsed() < Duration::from_secs(3) {
            thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
        b.abort();
    });
    let (actions, released) = (actions.into_inner(), released.into_inner());
    let (passed, dropped) = (passed.into_inner(), dropped.into_inner());
    let broken = broken.into_inner();
    eprintln!(
        "{actions} actions, {released} released, {passed} passed, {dropped} dropped, \
         {broken} broken by the final abort"
    );
    assert!(actions >= target.min(20), "too few rounds: {actions}");
    // The abort may land while an action runs: that round is not released.
    assert!(actions == released || actions == released + 1);
    assert!(
        passed <= PARTIES * released,
        "{passed} > {PARTIES} * {released}"
    );
    // The parties of a released round returned, or were dropped (withdrawn, or passed
    // unseen), or — the round released just before the final abort — were not yet
    // awake to see the release and got `BrokenBarrier` (Python's rule too; at most
    // `PARTIES - 1` of them: its last arrival returned its index).
    let late = broken.min(PARTIES - 1);
    assert!(
        passed + dropped + late >= PARTIES * released,
        "{passed} + {dropped} + {late} < {PARTIES} * {released}"
    );
    b.reset();
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
    assert!(format!("{b:?}").contains("inside: 0"), "{b:?}");
}

#[test]
fn mutex_lock_async_with_a_blocking_user() {
    const ROUNDS: u32 = if cfg!(miri) { 10 } else { 500 };
    let m: BlockingMutex<Vec<u32>, Futex> = BlockingMutex::new(Vec::new());
    thread::scope(|s| {
        for i in 0..2 {
            let m = &m;
            s.spawn(move || {
                for j in 0..ROUNDS {
                    if i == 0 {
                        m.lock().push(j);
                    } else {
                        block_on(async { m.lock_async().await.push(j) });
                    }
                }
            });
        }
    });
    assert_eq!(m.lock().len(), 2 * ROUNDS as usize);
}

#[test]
fn thousands_of_tasks_on_one_semaphore_all_wake() {
    const TASKS: usize = if cfg!(miri) { 40 } else { 5_000 };
    let sem: Semaphore<Futex> = Semaphore::new(0);
    let flags: Vec<_> = (0..TASKS).map(|_| flag()).collect();
    let mut futs: Vec<_> = (0..TASKS).map(|_| Box::pin(sem.acquire_async())).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&flags) {
        assert!(f.as_mut().poll(&mut Context::from_waker(w)).is_pending());
    }
    // A thread releases them all, in one call.
    thread::scope(|s| {
        s.spawn(|| sem.release_many(TASKS as u32).unwrap());
    });
    for (f, (woken, w)) in futs.iter_mut().zip(&flags) {
        assert!(woken.0.load(Ordering::SeqCst), "every parked task is woken");
        assert!(f.as_mut().poll(&mut Context::from_waker(w)).is_ready());
    }
    assert_eq!(sem.value(), 0);
}

/// Owner id: a per-thread number from a global counter.
struct ThreadId;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static MY_ID: NonZeroU32 =
        NonZeroU32::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)).unwrap();
}

impl OwnerId for ThreadId {
    fn current() -> NonZeroU32 {
        MY_ID.with(|id| *id)
    }
}

#[test]
fn reentrant_lock_released_by_its_owner_thread_wakes_a_task_which_reenters() {
    let lock: ReentrantLock<ThreadId, Futex> = ReentrantLock::new();
    lock.acquire();
    lock.acquire();
    thread::scope(|s| {
        let task = s.spawn(|| {
            block_on(async {
                lock.acquire_async().await; // waits for the other thread
                lock.acquire_async().await; // re-entry: completes at once
                assert_eq!(lock.depth(), 2);
                lock.acquire_depth_async(NonZeroU32::new(3).unwrap()).await;
                assert_eq!(lock.depth(), 5);
            });
            assert_eq!(lock.release_all().map(NonZeroU32::get), Ok(5));
        });
        settle();
        lock.release().unwrap();
        assert!(lock.locked(), "still held once");
        lock.release().unwrap();
        task.join().unwrap();
    });
    assert!(!lock.locked());
}

/// Issue #14: the older `Async<P, K>` wrapper used to wake its tasks only for changes
/// made through the wrapper; a thread's release / set on the inner object stranded
/// them. Its `acquire` / `wait` now forward to the primitive's own async forms.
#[test]
fn async_wrapper_tasks_are_woken_by_a_thread_changing_the_inner_object() {
    use conkit_core::asynch::Async;
    let sem: Async<Semaphore<Futex>, 2> = Async::new(Semaphore::new(0));
    let ev: Async<Event<Futex>, 2> = Async::new(Event::new());
    thread::scope(|s| {
        let task = s.spawn(|| {
            block_on(sem.acquire());
            block_on(ev.wait());
        });
        settle();
        sem.inner().release().unwrap(); // not through the wrapper
        settle();
        ev.inner().set(); // not through the wrapper
        task.join().unwrap();
    });
    assert_eq!(sem.inner().value(), 0);
}
