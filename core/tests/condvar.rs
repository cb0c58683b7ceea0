//! Tests of `conkit_core::condvar`: notify counting, timeouts that are not counted, the
//! lock-release error path, state handed from `release` to `reacquire`, and
//! multi-thread producer/consumer and timeout-vs-notify stress.
#![cfg(not(loom))]

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;

use conkit_core::condvar::Condvar;
use conkit_core::lock::{Lock, ReleaseError};

use common::{after, eventually, Exclusive, Park, Timed};

const ITEMS: u64 = if cfg!(miri) { 50 } else { 100_000 };
const ROUNDS: u32 = if cfg!(miri) { 5 } else { 500 };

#[test]
fn notify_without_waiters_wakes_nobody() {
    let cv: Condvar = Condvar::new();
    assert_eq!(cv.notify(1), 0);
    assert_eq!(cv.notify_all(), 0);
    assert_eq!(cv.waiters(), 0);
    assert_eq!(format!("{cv:?}"), "Condvar { waiters: 0 }");
    let _default: Condvar = Condvar::default();
}

#[test]
fn timed_out_waiter_is_not_counted() {
    let cv: Condvar<Timed> = Condvar::new();
    let lock: Lock<Timed> = Lock::new();
    lock.acquire();
    assert_eq!(cv.wait_lock_until(&lock, Some(after(0))), Ok(false));
    assert!(lock.locked(), "the lock is held again after the wait");
    assert_eq!(cv.waiters(), 0, "the timed-out waiter took its token back");
    assert_eq!(cv.notify(1), 0, "nobody left to notify");
    lock.release().unwrap();
}

#[test]
fn wait_lock_without_holding_the_lock_is_an_error() {
    let cv: Condvar<Timed> = Condvar::new();
    let lock: Lock<Timed> = Lock::new();
    assert_eq!(cv.wait_lock(&lock), Err(ReleaseError::NotLocked));
    assert_eq!(
        cv.wait_lock_until(&lock, Some(after(1000))),
        Err(ReleaseError::NotLocked)
    );
    assert_eq!(cv.waiters(), 0, "a failed wait leaves no token behind");
    assert_eq!(cv.notify_all(), 0);
}

#[test]
fn release_state_is_handed_to_reacquire() {
    // A reentrant-style lock: release hands over a depth, reacquire restores it.
    let cv: Condvar<Timed> = Condvar::new();
    let depth = AtomicU32::new(3);
    let (restored, notified) = cv.wait_until(
        Some(after(1)),
        || depth.swap(0, Ordering::Relaxed),
        |d| {
            depth.store(d, Ordering::Relaxed);
            d
        },
    );
    assert!(!notified);
    assert_eq!(restored, 3);
    assert_eq!(depth.load(Ordering::Relaxed), 3);
}

#[test]
fn notify_wakes_a_waiter_with_a_std_mutex() {
    let cv: Condvar<Park> = Condvar::new();
    let data = Mutex::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut guard = data.lock().unwrap();
            while !*guard {
                guard = cv.wait(|| drop(guard), |()| data.lock().unwrap());
            }
        });
        eventually("the waiter sleeps", || cv.waiters() == 1);
        let mut guard = data.lock().unwrap();
        *guard = true;
        assert_eq!(cv.notify(1), 1);
        drop(guard);
        waiter.join().unwrap();
    });
}

#[test]
fn notify_n_wakes_exactly_n() {
    const WAITERS: u32 = if cfg!(miri) { 3 } else { 6 };
    let cv: Condvar<Park> = Condvar::new();
    let lock: Lock<Park> = Lock::new();
    let notified = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..WAITERS {
            s.spawn(|| {
                lock.acquire();
                cv.wait_lock(&lock).unwrap();
                notified.fetch_add(1, Ordering::SeqCst);
                lock.release().unwrap();
            });
        }
        eventually("all wait", || cv.waiters() == WAITERS);
        lock.acquire();
        assert_eq!(cv.notify(2), 2);
        lock.release().unwrap();
        eventually("two woke", || notified.load(Ordering::SeqCst) == 2);
        // The notify released exactly two tickets; nobody else is released.
        assert_eq!(cv.waiters(), WAITERS - 2);
        assert_eq!(notified.load(Ordering::SeqCst), 2);
        lock.acquire();
        assert_eq!(cv.notify_all(), WAITERS - 2);
        lock.release().unwrap();
    });
    assert_eq!(notified.load(Ordering::SeqCst), WAITERS);
}

/// Regression for CPython's timeout race: a waiter that timed out must not absorb a
/// later notify meant for a waiter that is still asleep.
#[test]
fn timed_out_waiter_does_not_absorb_a_later_notify() {
    let cv: Condvar<Park> = Condvar::new();
    let lock: Lock<Park> = Lock::new();
    thread::scope(|s| {
        let sleeper = s.spawn(|| {
            lock.acquire();
            let r = cv.wait_lock(&lock);
            lock.release().unwrap();
            r
        });
        eventually("the sleeper sleeps", || cv.waiters() == 1);
        lock.acquire();
        assert_eq!(cv.wait_lock_until(&lock, Some(after(20))), Ok(false));
        assert_eq!(cv.notify(1), 1, "the notify goes to the sleeper");
        lock.release().unwrap();
        assert_eq!(sleeper.join().unwrap(), Ok(()));
    });
}

/// Waiters with short deadlines race with notifiers: every notify's count equals the
/// number of waits that reported "notified"; no waiter is left behind.
#[test]
fn notify_counts_match_notified_waiters_under_timeouts() {
    let cv: Condvar<Park> = Condvar::new();
    let lock: Lock<Park> = Lock::new();
    let notified = AtomicU32::new(0);
    let counted = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    for i in 0..ROUNDS {
                        lock.acquire();
                        let deadline = after(u64::from(i % 3));
                        if cv.wait_lock_until(&lock, Some(deadline)) == Ok(true) {
                            notified.fetch_add(1, Ordering::SeqCst);
                        }
                        lock.release().unwrap();
                    }
                })
            })
            .collect();
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                lock.acquire();
                counted.fetch_add(cv.notify(1), Ordering::SeqCst);
                lock.release().unwrap();
                thread::yield_now();
            }
        });
        for w in waiters {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
    });
    assert_eq!(cv.waiters(), 0);
    assert_eq!(
        notified.load(Ordering::SeqCst),
        counted.load(Ordering::SeqCst)
    );
}

/// A bounded buffer with two condition variables (the textbook producer/consumer):
/// several producers and consumers move every item exactly once, and the buffer never
/// holds more than its capacity. The buffer and the counts are plain data that only
/// `lock` protects ([`Exclusive`]): a condition variable that returned from a wait
/// without the lock re-taken would let two threads in at once (caught), or let a
/// producer push onto a full buffer (caught by the capacity assert).
#[test]
fn producer_consumer_counts_every_item() {
    const PRODUCERS: u64 = 2;
    const CONSUMERS: u64 = 2;
    const CAPACITY: usize = 8;
    struct Shared {
        buffer: VecDeque<u64>,
        taken: u64,
        /// How often each item was taken.
        seen: Vec<u8>,
    }
    let lock: Lock<Park> = Lock::new();
    let not_empty: Condvar<Park> = Condvar::new();
    let not_full: Condvar<Park> = Condvar::new();
    let shared = Exclusive::new(Shared {
        buffer: VecDeque::new(),
        taken: 0,
        seen: vec![0; (PRODUCERS * ITEMS) as usize],
    });
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (lock, not_empty, not_full, shared) = (&lock, &not_empty, &not_full, &shared);
            s.spawn(move || {
                for i in 0..ITEMS {
                    lock.acquire();
                    while shared.with(|sh| sh.buffer.len() == CAPACITY) {
                        not_full.wait_lock(lock).unwrap();
                    }
                    shared.with(|sh| {
                        sh.buffer.push_back(p * ITEMS + i);
                        assert!(sh.buffer.len() <= CAPACITY, "pushed onto a full buffer");
                    });
                    not_empty.notify(1);
                    lock.release().unwrap();
                }
            });
        }
        for _ in 0..CONSUMERS {
            s.spawn(|| loop {
                lock.acquire();
                let item = loop {
                    let next = shared.with(|sh| {
                        if sh.taken == PRODUCERS * ITEMS {
                            return Some(None);
                        }
                        let item = sh.buffer.pop_front()?;
                        sh.taken += 1;
                        sh.seen[item as usize] += 1;
                        Some(Some(item))
                    });
                    match next {
                        Some(item) => break item,
                        None => not_empty.wait_lock(&lock).unwrap(),
                    }
                };
                match item {
                    Some(_) => {
                        not_full.notify(1);
                        if shared.with(|sh| sh.taken) == PRODUCERS * ITEMS {
                            // The last item: release the other consumers.
                            not_empty.notify_all();
                        }
                        lock.release().unwrap();
                    }
                    None => {
                        lock.release().unwrap();
                        break;
                    }
                }
            });
        }
    });
    let shared = shared.into_inner();
    assert_eq!(shared.taken, PRODUCERS * ITEMS);
    assert!(shared.buffer.is_empty());
    let wrong: Vec<_> = (0..shared.seen.len())
        .filter(|&i| shared.seen[i] != 1)
        .take(5)
        .map(|i| (i, shared.seen[i]))
        .collect();
    assert!(
        wrong.is_empty(),
        "items not taken exactly once (item, times): {wrong:?}"
    );
}

/// The ticket-less watcher (`head_mark` / `watch_until`, issue #14): it is no waiter
/// (`waiters()` does not count it, `notify(1)` goes to the ticket waiter), a notify
/// wakes it, and with no notify it gives up at its deadline.
#[test]
fn watcher_wakes_on_notify_and_is_never_counted() {
    let cv: Condvar<Park> = Condvar::new();
    let lock: Lock<Park> = Lock::new();
    let back = AtomicBool::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            lock.acquire();
            cv.wait_lock(&lock).unwrap();
            back.store(true, Ordering::SeqCst);
            lock.release().unwrap();
        });
        eventually("the waiter waits", || cv.waiters() == 1);
        let mark = cv.head_mark();
        let cv = &cv;
        let watcher = s.spawn(move || cv.watch_until(mark, None));
        lock.acquire();
        assert_eq!(cv.waiters(), 1, "the watcher is no waiter");
        assert_eq!(cv.notify(1), 1);
        lock.release().unwrap();
        waiter.join().unwrap();
        assert!(back.load(Ordering::SeqCst));
        assert!(watcher.join().unwrap(), "the watcher saw the line move");
    });
    // Nobody notifies: the watcher gives up at its deadline.
    let timed: Condvar<Timed> = Condvar::new();
    let mark = timed.head_mark();
    assert!(!timed.watch_until(mark, Some(after(1))));
    assert_eq!(
        timed.notify(1),
        0,
        "a notify with only a watcher counts nobody"
    );
}
