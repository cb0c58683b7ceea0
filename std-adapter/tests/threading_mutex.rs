//! `conkit::threading::Mutex<T>` and `conkit::threading::Monitor<T>` (the data-holding
//! lock and the data-holding `Condition`): the same error paths, timeouts and stress
//! tests as `Lock` and `Condition`, the seeds' producer/consumer programs with the data
//! inside the monitor, and FIFO `notify`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::{Monitor, MonitorGuard, Mutex, MutexGuard};

/// How long a timed wait may overrun its deadline on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

/// Runs `f` (a timed wait of `timeout` expected to time out) and checks it returned
/// `false`, not before the deadline and within [`SLACK`] after it.
fn times_out(timeout: Duration, f: impl FnOnce(Duration) -> bool) {
    let start = Instant::now();
    assert!(!f(timeout), "the wait should have timed out");
    let took = start.elapsed();
    assert!(
        took >= timeout,
        "returned after {took:?}, before {timeout:?}"
    );
    assert!(took < timeout + SLACK, "returned after {took:?}");
}

/// Polls `cond` until it holds; fails after a generous bound (loaded 2-core machine).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `body` on a thread of its own and fails if it has not finished within `secs`
/// (a lost wake-up then fails the test with a message instead of hanging the run).
fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        let r = body();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {secs} s (a lost wake-up?)")
        }
    }
}

/// Tiny xorshift (the seeds use `random.randint`).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn assert_send_sync<T: Send + Sync + Default + std::fmt::Debug>() {}
fn assert_send<T: Send>() {}

#[test]
fn types_are_send_sync_default_debug_and_guards_are_send() {
    assert_send_sync::<Mutex<Vec<u8>>>();
    assert_send_sync::<Monitor<Vec<u8>>>();
    assert_send::<MutexGuard<'static, Vec<u8>>>();
    assert_send::<MonitorGuard<'static, Vec<u8>>>();
}

// ------------------------------------------------------------------------------------
// Mutex
// ------------------------------------------------------------------------------------

#[test]
fn mutex_guards_the_value_in_both_vocabularies() {
    static BALANCE: Mutex<i64> = Mutex::new(0);
    {
        let mut g = BALANCE.lock(); // with lock:
        *g += 10;
        assert!(BALANCE.locked());
        assert!(BALANCE.try_lock().is_none());
        assert!(BALANCE.try_acquire().is_none());
    }
    assert!(!BALANCE.locked());
    let mut g = BALANCE.acquire(); // lock.acquire()
    *g -= 3;
    g.release(); // lock.release()
    assert!(!BALANCE.locked());
    assert_eq!(*BALANCE.try_acquire().expect("free"), 7);
    assert_eq!(*BALANCE.try_lock().expect("free"), 7);

    let mut m = Mutex::<Vec<u32>>::default();
    m.get_mut().push(1);
    m.lock().push(2);
    assert!(format!("{m:?}").contains("Mutex"));
    let g = m.lock();
    assert_eq!(format!("{g:?}"), "[1, 2]");
    assert!(
        format!("{m:?}").contains("locked: true"),
        "Debug never locks: {m:?}"
    );
    drop(g);
    assert_eq!(m.into_inner(), [1, 2]);
}

/// A failed `try_lock` / `acquire_timeout` / `acquire_until` must not release the lock
/// held by somebody else (no guard is made for a failed attempt).
#[test]
fn mutex_failed_attempts_do_not_release_the_holders_lock() {
    let m = Mutex::new(0);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    assert!(m.acquire_timeout(Duration::from_millis(1)).is_none());
    assert!(m.lock_timeout(Duration::ZERO).is_none());
    assert!(m
        .acquire_until(Instant::now() + Duration::from_millis(1))
        .is_none());
    assert!(m.lock_until(Instant::now()).is_none());
    assert!(m.locked());
    drop(g);
    assert!(!m.locked());
}

#[test]
fn mutex_timeouts_time_out_not_before_the_deadline() {
    let m = Mutex::new(1u8);
    let g = m.lock();
    thread::scope(|s| {
        s.spawn(|| {
            times_out(Duration::from_millis(50), |t| {
                m.acquire_timeout(t).is_some()
            });
            times_out(Duration::from_millis(30), |t| {
                m.acquire_until(Instant::now() + t).is_some()
            });
            assert!(m.acquire_timeout(Duration::ZERO).is_none());
        });
    });
    drop(g);
    // Free: zero and huge timeouts succeed at once.
    assert_eq!(*m.acquire_timeout(Duration::ZERO).expect("free"), 1);
    assert_eq!(*m.acquire_timeout(Duration::MAX).expect("free"), 1);
    assert_eq!(*m.acquire_until(Instant::now()).expect("free"), 1);
}

/// A guard sent to another thread releases the mutex there (the lock has no owner), and
/// a waiter with a timeout gets the value the releaser left.
#[test]
fn mutex_timed_acquire_succeeds_when_released_in_time_by_another_thread() {
    let m = Mutex::new(String::from("before"));
    let g = m.lock();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            m.acquire_timeout(Duration::from_secs(30))
                .map(|v| v.clone())
        });
        s.spawn(move || {
            let mut g = g;
            thread::sleep(Duration::from_millis(20));
            g.push_str(", after");
            drop(g);
        });
        assert_eq!(waiter.join().unwrap().as_deref(), Some("before, after"));
    });
}

#[test]
fn mutex_stress_8_threads_100k_increments() {
    const THREADS: u64 = 8;
    const EACH: u64 = 100_000;
    let m = Mutex::new(0u64);
    thread::scope(|s| {
        for i in 0..THREADS {
            let m = &m;
            s.spawn(move || {
                for j in 0..EACH {
                    // Mix the front ends; a separate read and write, so that two threads
                    // inside at once would lose an update.
                    let mut g = match (i + j) % 4 {
                        0 => m.lock(),
                        1 => m.acquire(),
                        2 => m.acquire_timeout(Duration::from_secs(60)).unwrap(),
                        _ => loop {
                            if let Some(g) = m.try_lock() {
                                break g;
                            }
                            std::hint::spin_loop();
                        },
                    };
                    let v = *g;
                    std::hint::spin_loop();
                    *g = v + 1;
                    if j % 2 == 0 {
                        g.release();
                    }
                }
            });
        }
    });
    assert_eq!(m.into_inner(), THREADS * EACH);
}

/// No poisoning: a panic in the critical section releases the mutex and leaves the value
/// as the section left it.
#[test]
fn mutex_released_on_panic_without_poisoning() {
    let m = Mutex::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = m.lock();
        *g = 7;
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(!m.locked());
    assert_eq!(*m.lock(), 7);
}

// ------------------------------------------------------------------------------------
// Monitor: the seeds' programs with the data inside
// ------------------------------------------------------------------------------------

/// Seed 001, "多线程条件类示例": a producer holds the lock, produces up to 5,
/// `notify()`s and `wait()`s; two customers with 3 coins each buy one item at a time,
/// and when there is none they `notify()` the producer and `wait()`. The shop's count is
/// the monitor's data: no second lock, no `unwrap`s.
#[test]
fn seed_producer_customers_with_the_count_in_the_monitor() {
    within(120, "producer and customers", || {
        struct Shop {
            num: i64,
            produced: i64,
            stop: bool,
        }
        let shop = Arc::new(Monitor::new(Shop {
            num: 0,
            produced: 0,
            stop: false,
        }));
        let producer = {
            let shop = shop.clone();
            thread::spawn(move || {
                let mut s = shop.lock();
                while !s.stop {
                    s.num += 1;
                    s.produced += 1;
                    if s.num >= 5 {
                        s.notify(1);
                        s.wait();
                    }
                }
            })
        };
        let customers: Vec<_> = (0..2)
            .map(|_| {
                let shop = shop.clone();
                thread::spawn(move || {
                    let mut bought = 0;
                    for _ in 0..3 {
                        let mut s = shop.lock();
                        while s.num <= 0 {
                            s.notify(1);
                            s.wait();
                        }
                        s.num -= 1;
                        bought += 1;
                        assert!(s.num >= 0, "bought an item that was not there");
                    }
                    bought
                })
            })
            .collect();
        let bought: i64 = customers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(bought, 6);
        {
            let mut s = shop.lock();
            s.stop = true;
            s.notify_all();
        }
        producer.join().unwrap();
        let s = shop.lock();
        assert_eq!(s.produced, 6 + s.num, "every item accounted for");
        assert!((0..=5).contains(&s.num));
    });
}

/// Seed 001, "condition案例2": 4 producers add random amounts to a stock of 1000 ten
/// times in all and `notify_all()`; 5 consumers take random amounts, waiting with
/// `wait_for` while the stock is short, and leave when production is over.
#[test]
fn seed_stock_with_notify_all_and_wait_for() {
    within(120, "producers and consumers", || {
        const TOTAL_TIMES: u64 = 10;
        struct Stock {
            product: u64,
            times: u64,
            produced: u64,
            consumed: u64,
        }
        static STOCK: Monitor<Stock> = Monitor::new(Stock {
            product: 1000,
            times: 0,
            produced: 0,
            consumed: 0,
        });
        thread::scope(|sc| {
            for p in 0..4u64 {
                sc.spawn(move || {
                    let mut rng = 0x9E37_79B9 + p;
                    loop {
                        let amount = 100 + xorshift(&mut rng) % 901;
                        let mut s = STOCK.lock();
                        if s.times >= TOTAL_TIMES {
                            break;
                        }
                        s.product += amount;
                        s.produced += amount;
                        s.times += 1;
                        s.notify_all();
                        drop(s);
                        thread::sleep(Duration::from_millis(2));
                    }
                });
            }
            for c in 0..5u64 {
                sc.spawn(move || {
                    let mut rng = 0xDEAD_BEEF + c;
                    loop {
                        let want = 100 + xorshift(&mut rng) % 901;
                        let mut s = STOCK.lock();
                        s.wait_for(|s| s.product >= want || s.times >= TOTAL_TIMES);
                        if s.product < want {
                            assert!(s.times >= TOTAL_TIMES, "woken with the stock short");
                            return;
                        }
                        s.product -= want;
                        s.consumed += want;
                        drop(s);
                        thread::sleep(Duration::from_millis(1));
                    }
                });
            }
        });
        let s = STOCK.lock();
        assert_eq!(s.times, TOTAL_TIMES);
        assert_eq!(s.product, 1000 + s.produced - s.consumed, "nothing lost");
    });
}

/// Producer/consumer stress: 4 producers × 5 000 items into a bounded deque of 8, 4
/// consumers; every item received exactly once.
#[test]
fn monitor_bounded_buffer_stress_every_item_once() {
    within(120, "bounded buffer", || {
        const PRODUCERS: u64 = 4;
        const EACH: u64 = 5_000;
        const CAP: usize = 8;
        struct Buf {
            items: VecDeque<u64>,
            done_producers: u64,
        }
        let buf = Monitor::new(Buf {
            items: VecDeque::new(),
            done_producers: 0,
        });
        let seen = Mutex::new(vec![0u8; (PRODUCERS * EACH) as usize]);
        thread::scope(|s| {
            for p in 0..PRODUCERS {
                let buf = &buf;
                s.spawn(move || {
                    for i in 0..EACH {
                        let mut b = buf.lock();
                        b.wait_for(|b| b.items.len() < CAP);
                        b.items.push_back(p * EACH + i);
                        b.notify_all();
                    }
                    let mut b = buf.lock();
                    b.done_producers += 1;
                    b.notify_all();
                });
            }
            for _ in 0..4 {
                let (buf, seen) = (&buf, &seen);
                s.spawn(move || loop {
                    let mut b = buf.lock();
                    b.wait_for(|b| !b.items.is_empty() || b.done_producers == PRODUCERS);
                    let Some(item) = b.items.pop_front() else {
                        return;
                    };
                    assert!(b.items.len() < CAP);
                    b.notify_all();
                    drop(b);
                    seen.lock()[item as usize] += 1;
                });
            }
        });
        let seen = seen.into_inner();
        assert!(seen.iter().all(|&n| n == 1), "an item lost or duplicated");
        assert!(!buf.locked());
    });
}

// ------------------------------------------------------------------------------------
// Monitor semantics
// ------------------------------------------------------------------------------------

#[test]
fn monitor_notify_n_wakes_exactly_n_oldest_first() {
    const WAITERS: usize = 5;
    let m = Arc::new(Monitor::new(Vec::new()));
    let woken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..WAITERS)
        .map(|i| {
            // Start them one at a time so their waiting order is known.
            let t = {
                let (m, woken) = (m.clone(), woken.clone());
                thread::spawn(move || {
                    let mut g = m.lock();
                    g.wait();
                    g.push(i);
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            };
            eventually("it waits", || m.waiters() == i + 1);
            t
        })
        .collect();
    assert_eq!(m.lock().notify(2), 2);
    eventually("two woke", || woken.load(Ordering::SeqCst) == 2);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(woken.load(Ordering::SeqCst), 2, "no more than n");
    {
        let g = m.lock();
        let mut first: Vec<usize> = g.clone();
        first.sort_unstable();
        assert_eq!(first, [0, 1], "notify(2) woke the two oldest waiters");
        assert_eq!(g.notify(0), 0);
        assert_eq!(g.notify_all(), WAITERS - 2);
        assert_eq!(g.notify_all(), 0);
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(m.lock().len(), WAITERS);
}

#[test]
fn monitor_wait_releases_the_lock_and_holds_it_again_after() {
    let m = Arc::new(Monitor::new(0));
    let waiter = {
        let m = m.clone();
        thread::spawn(move || {
            let mut g = m.lock();
            while *g == 0 {
                g.wait();
            }
            assert!(m.locked(), "held again after the wait");
            *g
        })
    };
    // The waiter takes its place in line before it releases the lock: wait for both.
    eventually("it waits with the lock released", || {
        m.waiters() == 1 && !m.locked()
    });
    assert!(
        !waiter.is_finished(),
        "it is still waiting, without the lock"
    );
    {
        let mut g = m.lock();
        *g = 42;
        assert_eq!(g.notify(1), 1);
    }
    assert_eq!(waiter.join().unwrap(), 42);
}

#[test]
fn monitor_timed_waits_time_out_not_before_the_deadline_and_hold_the_lock_after() {
    let m = Monitor::new(());
    let mut g = m.lock();
    times_out(Duration::from_millis(50), |t| g.wait_timeout(t));
    times_out(Duration::from_millis(30), |t| {
        g.wait_until(Instant::now() + t)
    });
    times_out(Duration::from_millis(30), |t| {
        g.wait_for_timeout(|_| false, t)
    });
    times_out(Duration::from_millis(30), |t| {
        g.wait_for_until(|_| false, Instant::now() + t)
    });
    assert!(m.locked());
    assert!(!g.wait_timeout(Duration::ZERO));
    // An already true predicate needs no wait.
    assert!(g.wait_for_timeout(|_| true, Duration::ZERO));
    g.wait_for(|_| true);
    drop(g);
    assert!(!m.locked());
    assert_eq!(m.waiters(), 0, "timed-out waiters are not counted");
}

#[test]
fn monitor_timed_wait_returns_true_when_notified_in_time() {
    let m = Arc::new(Monitor::new(false));
    let notifier = {
        let m = m.clone();
        thread::spawn(move || {
            eventually("it waits", || m.waiters() == 1);
            let mut g = m.lock();
            *g = true;
            g.notify_all();
        })
    };
    let mut g = m.lock();
    assert!(g.wait_for_timeout(|ready| *ready, Duration::from_secs(30)));
    assert!(*g);
    drop(g);
    notifier.join().unwrap();
}

/// `wait_for_timeout` keeps its original deadline however often it is woken with the
/// predicate still false.
#[test]
fn monitor_wait_for_keeps_its_deadline_when_woken_repeatedly() {
    let m = Arc::new(Monitor::new(0u32));
    let stop = Arc::new(AtomicBool::new(false));
    let pester = {
        let (m, stop) = (m.clone(), stop.clone());
        thread::spawn(move || {
            let mut wakes = 0;
            while !stop.load(Ordering::SeqCst) {
                {
                    let mut g = m.lock();
                    *g += 1;
                    wakes += g.notify_all();
                }
                thread::sleep(Duration::from_millis(10));
            }
            wakes
        })
    };
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let result = m.lock().wait_for_timeout(|_| false, timeout);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let wakes = pester.join().unwrap();
    assert!(!result);
    assert!(
        elapsed >= timeout,
        "returned before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < timeout + SLACK,
        "far past the deadline: {elapsed:?}"
    );
    assert!(wakes >= 2, "the waiter was woken several times");
}

/// A panic in a `wait_for` predicate propagates with the lock held by the caller's
/// guard, which releases it while unwinding; the monitor stays usable.
#[test]
fn monitor_predicate_panic_releases_the_lock() {
    let m = Monitor::new(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = m.lock();
        g.wait_for(|_| panic!("planned panic in the predicate"));
    }));
    assert!(r.is_err());
    assert!(!m.locked());
    assert_eq!(m.waiters(), 0);
    let mut g = m.lock();
    *g += 1;
    assert!(g.wait_for_timeout(|v| *v == 2, Duration::ZERO));
}

#[test]
fn monitor_try_and_timed_lock_forms() {
    let mut m = Monitor::new(5);
    *m.get_mut() += 1;
    {
        let g = m.try_lock().expect("free");
        assert_eq!(*g, 6);
        assert!(m.try_acquire().is_none());
        assert!(m.acquire_timeout(Duration::from_millis(1)).is_none());
        assert!(m.lock_until(Instant::now()).is_none());
        assert!(format!("{g:?}").contains('6'));
        g.release();
    }
    assert!(m.lock_timeout(Duration::ZERO).is_some());
    assert!(m.acquire_until(Instant::now()).is_some());
    assert!(format!("{m:?}").contains("Monitor"));
    assert_eq!(m.into_inner(), 6);
}
