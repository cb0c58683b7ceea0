//! Tests of `conkit_core::semaphore`: every operation and error path, timeouts,
//! guards, multi-thread stress (admission bound, permit conservation) and the async
//! front end.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::semaphore::{BoundedSemaphore, Semaphore, SemaphoreError};
use conkit_core::wait::{Spin, WaitStrategy};

const ITEMS: usize = if cfg!(miri) { 200 } else { 1_000_000 };
const THREADS: usize = if cfg!(miri) { 3 } else { 8 };

// ---------------------------------------------------------------------------------
// Test clocks and strategies

use common::{after, eventually, Park, Timed};

/// Tiny xorshift for per-thread pseudo-random permit counts.
fn xorshift(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

// ---------------------------------------------------------------------------------
// Single-thread operations and error paths

#[test]
fn new_value_and_try_acquire() {
    let s: Semaphore = Semaphore::new(3);
    assert_eq!(s.value(), 3);
    assert!(s.try_acquire());
    assert_eq!(s.value(), 2);
    assert!(!s.try_acquire_many(3), "more than available");
    assert_eq!(s.value(), 2, "a failed try_acquire_many takes nothing");
    assert!(s.try_acquire_many(2));
    assert_eq!(s.value(), 0);
    assert!(!s.try_acquire());
    assert!(s.try_acquire_many(0), "zero permits always succeed");
    assert_eq!(s.value(), 0);
}

#[test]
fn release_and_release_many() {
    let s: Semaphore = Semaphore::new(0);
    assert_eq!(s.release(), Ok(()));
    assert_eq!(s.release_many(4), Ok(()));
    assert_eq!(s.release_many(0), Ok(()));
    assert_eq!(s.value(), 5);
    s.acquire();
    s.acquire_many(4);
    assert_eq!(s.value(), 0);
}

#[test]
fn acquire_many_zero_returns_at_once() {
    let s: Semaphore = Semaphore::new(0);
    s.acquire_many(0);
    let b: BoundedSemaphore = BoundedSemaphore::new(0);
    b.acquire_many(0);
    let t: Semaphore<Timed> = Semaphore::new(0);
    assert!(t.acquire_many_until(0, after(0)));
}

#[test]
fn semaphore_overflow_at_u32_max() {
    let s: Semaphore = Semaphore::new(u32::MAX);
    assert_eq!(s.release(), Err(SemaphoreError::Overflow));
    assert_eq!(s.value(), u32::MAX, "unchanged on error");

    let s: Semaphore = Semaphore::new(u32::MAX - 1);
    assert_eq!(s.release_many(2), Err(SemaphoreError::Overflow));
    assert_eq!(s.value(), u32::MAX - 1, "no partial release");
    assert_eq!(s.release_many(u32::MAX), Err(SemaphoreError::Overflow));
    assert_eq!(s.value(), u32::MAX - 1);
    assert_eq!(s.release_many(1), Ok(()));
    assert_eq!(s.value(), u32::MAX);
    assert!(s.try_acquire_many(u32::MAX));
    assert_eq!(s.value(), 0);
}

#[test]
fn bounded_over_release_leaves_value_unchanged() {
    let b: BoundedSemaphore = BoundedSemaphore::new(2);
    assert_eq!(b.initial(), 2);
    assert_eq!(b.release(), Err(SemaphoreError::Overflow));
    assert_eq!(b.value(), 2);

    b.acquire();
    assert_eq!(b.value(), 1);
    assert_eq!(b.release_many(2), Err(SemaphoreError::Overflow));
    assert_eq!(b.value(), 1, "no partial release");
    assert_eq!(b.release(), Ok(()));
    assert_eq!(b.value(), 2);
    assert_eq!(b.release(), Err(SemaphoreError::Overflow));
    assert_eq!(b.value(), 2);
    assert_eq!(b.initial(), 2);

    // Acquire-release pairs never trip the bound.
    for _ in 0..10 {
        b.acquire_many(2);
        assert_eq!(b.release_many(2), Ok(()));
    }
    assert_eq!(b.value(), 2);

    let zero: BoundedSemaphore = BoundedSemaphore::new(0);
    assert_eq!(zero.release(), Err(SemaphoreError::Overflow));
    assert_eq!(zero.release_many(0), Ok(()));
    assert_eq!(zero.value(), 0);
}

#[test]
fn bounded_try_forms() {
    let b: BoundedSemaphore = BoundedSemaphore::new(3);
    assert!(b.try_acquire());
    assert!(!b.try_acquire_many(3));
    assert!(b.try_acquire_many(2));
    assert!(!b.try_acquire());
    assert!(b.try_acquire_many(0));
    assert_eq!(b.release_many(3), Ok(()));
    assert_eq!(b.value(), 3);
}

#[test]
fn statics_defaults_debug_and_errors() {
    static S: Semaphore = Semaphore::new(1);
    static B: BoundedSemaphore<Timed> = BoundedSemaphore::new(1);
    assert!(S.try_acquire());
    assert_eq!(S.release(), Ok(()));
    assert!(B.try_acquire());
    assert_eq!(B.release(), Ok(()));

    let d: Semaphore = Semaphore::default();
    assert_eq!(d.value(), 1, "Python's default value is 1");
    let d: BoundedSemaphore = BoundedSemaphore::default();
    assert_eq!((d.value(), d.initial()), (1, 1));

    let text = format!("{:?}", Semaphore::<Spin>::new(7));
    assert!(text.contains("Semaphore") && text.contains('7'), "{text}");
    let text = format!("{:?}", BoundedSemaphore::<Spin>::new(5));
    assert!(
        text.contains("BoundedSemaphore") && text.contains('5'),
        "{text}"
    );

    let e = SemaphoreError::Overflow;
    assert_eq!(e.to_string(), "semaphore released too many times");
    let _: &dyn std::error::Error = &e;
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore<Park>>();
}

// ---------------------------------------------------------------------------------
// Guards

#[test]
fn guards_release_on_drop() {
    let s: Semaphore = Semaphore::new(2);
    {
        let a = s.acquire_guard();
        assert_eq!(a.permits(), 1);
        let _b = s.try_acquire_guard().expect("second permit");
        assert!(s.try_acquire_guard().is_none());
        assert_eq!(s.value(), 0);
        assert!(format!("{a:?}").contains("SemaphoreGuard"));
    }
    assert_eq!(s.value(), 2);
    {
        let g = s.acquire_many_guard(2);
        assert_eq!(g.permits(), 2);
        assert_eq!(s.value(), 0);
    }
    assert_eq!(s.value(), 2);
    s.acquire_guard().forget();
    assert_eq!(s.value(), 1, "a forgotten guard keeps its permit");
}

#[test]
fn bounded_guard_respects_bound() {
    let b: BoundedSemaphore = BoundedSemaphore::new(1);
    let g = b.acquire_guard();
    assert_eq!(b.value(), 0);
    // Somebody releases a permit that was never acquired...
    assert_eq!(b.release(), Ok(()));
    // ...so the guard's give-back is refused and the count stays at its bound.
    drop(g);
    assert_eq!(b.value(), 1);
}

#[test]
fn guard_until_times_out() {
    let s: Semaphore<Timed> = Semaphore::new(1);
    let g = s.acquire_guard_until(after(10_000)).expect("available");
    let start = Instant::now();
    assert!(s.acquire_guard_until(after(30)).is_none());
    assert!(start.elapsed() >= Duration::from_millis(30));
    drop(g);
    assert_eq!(s.value(), 1);
}

// ---------------------------------------------------------------------------------
// Timeouts

fn check_timeout(start: Instant, ms: u64) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(ms),
        "returned early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "far too late: {elapsed:?}"
    );
}

#[test]
fn acquire_until_times_out_spin() {
    let s: Semaphore<Timed> = Semaphore::new(0);
    let start = Instant::now();
    assert!(!s.acquire_until(after(50)));
    check_timeout(start, 50);
    assert_eq!(s.value(), 0);

    s.release_many(2).unwrap();
    let start = Instant::now();
    assert!(!s.acquire_many_until(3, after(50)), "only 2 of 3");
    check_timeout(start, 50);
    assert_eq!(s.value(), 2, "a timed-out acquire_many takes nothing");
    assert!(s.acquire_until(after(50)));
    assert!(
        s.acquire_many_until(1, after(0)),
        "available: succeeds even past the deadline"
    );
    assert_eq!(s.value(), 0);
}

#[test]
fn acquire_until_times_out_park() {
    let b: BoundedSemaphore<Park> = BoundedSemaphore::new(1);
    b.acquire();
    let start = Instant::now();
    assert!(!b.acquire_until(after(50)));
    check_timeout(start, 50);
    assert!(!b.acquire_many_until(2, after(20)), "more than the bound");
    b.release().unwrap();
    assert!(b.acquire_until(after(50)));
}

#[test]
fn acquire_until_succeeds_when_released_in_time() {
    let s: Semaphore<Park> = Semaphore::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            s.release().unwrap();
        });
        assert!(s.acquire_until(after(20_000)));
    });
    assert_eq!(s.value(), 0);
}

// ---------------------------------------------------------------------------------
// Blocking across threads

fn blocking_handoff<W: WaitStrategy>(s: &Semaphore<W>) {
    let got = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            s.acquire();
            got.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(10));
        assert!(!got.load(Ordering::SeqCst), "acquired without a permit");
        s.release().unwrap();
    });
    assert!(got.load(Ordering::SeqCst));
    assert_eq!(s.value(), 0);
}

#[test]
fn acquire_blocks_until_release_spin() {
    blocking_handoff(&Semaphore::<Spin>::new(0));
}

#[test]
fn acquire_blocks_until_release_park() {
    blocking_handoff(&Semaphore::<Park>::new(0));
}

#[test]
fn acquire_many_needs_all_permits() {
    let s: Semaphore<Park> = Semaphore::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            s.acquire_many(3);
            done.store(true, Ordering::SeqCst);
        });
        // Three releases from three different threads; the waiter needs all of them.
        for i in 0..3 {
            scope
                .spawn(|| {
                    thread::sleep(Duration::from_millis(5));
                    s.release().unwrap();
                })
                .join()
                .unwrap();
            if i < 2 {
                thread::sleep(Duration::from_millis(5));
                assert!(!done.load(Ordering::SeqCst), "woke with {} permits", i + 1);
            }
        }
    });
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(s.value(), 0);
}

#[test]
fn release_wakes_waiters_of_different_sizes() {
    // One waiter for 2 permits and one for 1: a single release_many(3) must wake both
    // (notify_all; a notify_one could wake the wrong one).
    let s: Semaphore<Park> = Semaphore::new(0);
    thread::scope(|scope| {
        let big = scope.spawn(|| s.acquire_many(2));
        let small = scope.spawn(|| s.acquire());
        eventually("two sleepers", || format!("{s:?}").contains("sleepers: 2"));
        s.release_many(3).unwrap();
        big.join().unwrap();
        small.join().unwrap();
    });
    assert_eq!(s.value(), 0);
}

// ---------------------------------------------------------------------------------
// Stress

fn admission_bound<W: WaitStrategy>(iters_per_thread: usize) {
    let s: Semaphore<W> = Semaphore::new(2);
    let inside = AtomicU32::new(0);
    let max_inside = AtomicU32::new(0);
    let entries = AtomicUsize::new(0);
    thread::scope(|scope| {
        for t in 0..THREADS {
            let (s, inside, max_inside, entries) = (&s, &inside, &max_inside, &entries);
            scope.spawn(move || {
                for i in 0..iters_per_thread {
                    let guard = (i + t) % 2 == 0;
                    if guard {
                        let _g = s.acquire_guard();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_inside.fetch_max(now, Ordering::SeqCst);
                        assert!(now <= 2, "{now} callers inside a Semaphore(2)");
                        entries.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        s.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_inside.fetch_max(now, Ordering::SeqCst);
                        assert!(now <= 2, "{now} callers inside a Semaphore(2)");
                        entries.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        s.release().unwrap();
                    }
                }
            });
        }
    });
    assert!(max_inside.load(Ordering::SeqCst) <= 2);
    assert_eq!(entries.load(Ordering::SeqCst), THREADS * iters_per_thread);
    assert_eq!(s.value(), 2);
}

#[test]
fn stress_semaphore_2_never_admits_more_than_2_spin() {
    admission_bound::<Spin>(ITEMS / THREADS);
}

#[test]
fn stress_semaphore_2_never_admits_more_than_2_park() {
    admission_bound::<Park>(ITEMS / THREADS);
}

fn permits_conserved<W: WaitStrategy>(iters_per_thread: usize) {
    const INITIAL: u32 = 5;
    let s: BoundedSemaphore<W> = BoundedSemaphore::new(INITIAL);
    let taken = AtomicU32::new(0);
    thread::scope(|scope| {
        for t in 0..THREADS {
            let (s, taken) = (&s, &taken);
            scope.spawn(move || {
                let mut rng = 0x9E37_79B9 ^ (t as u32 + 1);
                for _ in 0..iters_per_thread {
                    let n = xorshift(&mut rng) % INITIAL + 1; // 1..=5
                    match xorshift(&mut rng) % 3 {
                        0 => {
                            if !s.try_acquire_many(n) {
                                continue;
                            }
                        }
                        _ => s.acquire_many(n),
                    }
                    let now = taken.fetch_add(n, Ordering::SeqCst) + n;
                    assert!(now <= INITIAL, "{now} permits out of {INITIAL}");
                    taken.fetch_sub(n, Ordering::SeqCst);
                    // Give them back in pieces; a bounded semaphore never refuses these.
                    let first = n / 2;
                    s.release_many(first).unwrap();
                    s.release_many(n - first).unwrap();
                }
            });
        }
    });
    assert_eq!(s.value(), INITIAL, "permits lost or created");
}

#[test]
fn stress_permits_conserved_spin() {
    permits_conserved::<Spin>(ITEMS / 2 / THREADS);
}

#[test]
fn stress_permits_conserved_park() {
    permits_conserved::<Park>(ITEMS / 2 / THREADS);
}

#[test]
fn stress_producer_consumer_counts_every_item() {
    // Semaphore as an item counter: producers release, consumers acquire; every
    // release is consumed exactly once.
    let s: Semaphore<Park> = Semaphore::new(0);
    let per_producer = ITEMS / 4;
    let consumed = AtomicUsize::new(0);
    let producers = THREADS.div_ceil(2);
    let consumers = THREADS - producers;
    let total = producers * per_producer;
    thread::scope(|scope| {
        for _ in 0..producers {
            scope.spawn(|| {
                for _ in 0..per_producer {
                    s.release().unwrap();
                }
            });
        }
        for c in 0..consumers {
            let (s, consumed) = (&s, &consumed);
            scope.spawn(move || {
                let share = total / consumers + usize::from(c < total % consumers);
                for _ in 0..share {
                    s.acquire();
                    consumed.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(consumed.load(Ordering::SeqCst), total);
    assert_eq!(s.value(), 0);
}

// ---------------------------------------------------------------------------------
// Async

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use conkit_core::asynch::Async;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    use crate::common::block_on;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn async_acquire_and_release() {
        static S: Async<Semaphore, 4> = Async::new(Semaphore::new(2));
        block_on(S.acquire());
        block_on(S.acquire_many(1));
        block_on(S.acquire_many(0));
        assert_eq!(S.inner().value(), 0);
        assert_eq!(S.release_many(2), Ok(()));
        assert_eq!(S.inner().value(), 2);
        let g = block_on(S.acquire_guard());
        assert_eq!(g.permits(), 1);
        assert!(format!("{g:?}").contains("AsyncSemaphoreGuard"));
        drop(g);
        assert_eq!(S.inner().value(), 2);
        block_on(S.acquire_guard()).forget();
        assert_eq!(S.inner().value(), 1);
        assert_eq!(S.release(), Ok(()));
    }

    #[test]
    fn async_release_errors_leave_value() {
        let b: Async<BoundedSemaphore, 2> = Async::new(BoundedSemaphore::new(1));
        assert_eq!(b.release(), Err(SemaphoreError::Overflow));
        assert_eq!(b.release_many(3), Err(SemaphoreError::Overflow));
        assert_eq!(b.inner().value(), 1);
        block_on(b.acquire());
        assert_eq!(b.release(), Ok(()));
        let u: Async<Semaphore, 2> = Async::new(Semaphore::new(u32::MAX));
        assert_eq!(u.release(), Err(SemaphoreError::Overflow));
        assert_eq!(u.inner().value(), u32::MAX);
    }

    #[test]
    fn async_pending_until_release_then_woken() {
        let s: Async<Semaphore, 4> = Async::new(Semaphore::new(0));
        let woken = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(s.acquire_many(2));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        s.release().unwrap();
        assert!(woken.0.swap(false, Ordering::SeqCst), "release wakes");
        assert!(
            fut.as_mut().poll(&mut cx).is_pending(),
            "one of two permits"
        );
        s.release().unwrap();
        assert!(woken.0.load(Ordering::SeqCst));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert_eq!(s.inner().value(), 0);
    }

    #[test]
    fn async_cross_thread() {
        let s: Async<BoundedSemaphore, 4> = Async::new(BoundedSemaphore::new(1));
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        block_on(s.acquire());
        thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..rounds {
                    let g = block_on(s.acquire_guard());
                    drop(g); // gives back and wakes
                }
            });
            s.release().unwrap();
            for _ in 0..rounds {
                block_on(s.acquire());
                s.release().unwrap();
            }
        });
        assert_eq!(s.inner().value(), 1);
    }

    #[test]
    fn async_cancelled_waiter_does_not_swallow_wakeup() {
        let s: Async<Semaphore, 4> = Async::new(Semaphore::new(0));
        let a = Arc::new(Flag(AtomicBool::new(false)));
        let b = Arc::new(Flag(AtomicBool::new(false)));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut fa = Box::pin(s.acquire());
        let mut fb = pin!(s.acquire());
        assert!(fa.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        assert!(fb.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(fa); // cancelled before the permit arrives
        s.release().unwrap();
        assert!(b.0.load(Ordering::SeqCst), "the remaining waiter is woken");
        assert!(fb.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
        assert_eq!(s.inner().value(), 0, "the cancelled waiter took nothing");
    }
}

/// The watcher of the process-shared semaphore's async proxy (issue #14):
/// `watch_available_until` takes no permit, wakes on the release that makes `n`
/// available, and gives up at its deadline.
#[test]
fn watch_available_takes_nothing_and_wakes_on_release() {
    let sem: Semaphore<Park> = Semaphore::new(1);
    assert!(sem.watch_available_until(1, None));
    assert_eq!(sem.value(), 1, "the watcher took nothing");
    thread::scope(|s| {
        let watcher = s.spawn(|| sem.watch_available_until(3, None));
        sem.release().unwrap();
        sem.release().unwrap();
        assert!(watcher.join().unwrap());
    });
    assert_eq!(sem.value(), 3);
    let timed: Semaphore<Timed> = Semaphore::new(0);
    assert!(!timed.watch_available_until(1, Some(after(1))));
    assert_eq!(timed.value(), 0);
}
