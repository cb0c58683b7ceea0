//! `conkit::threading::Condition` and `conkit::threading::Barrier`: the seeds'
//! producer/consumer examples, exact `notify(n)`, the not-holding-the-lock errors,
//! `RLock` depth restored across a wait, real deadlines, and every way a barrier breaks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use conkit::threading::{
    Barrier, BrokenBarrier, Condition, ConditionError, ConditionLock, InvalidParties, Lock, RLock,
};

/// Polls `cond` until it holds; fails after a generous bound (loaded 2-core machine).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Data that only the `Condition`'s lock protects: a plain `UnsafeCell` (no std mutex
/// to keep it right whatever the `Condition` does). Every access goes through `with`,
/// which fails the test if another thread is inside at the same time: a wait that
/// returned without re-taking the lock shows up there. The access holds the flag for a
/// `yield_now`, so that such an overlap is likely to be seen when it can happen.
struct Exclusive<T> {
    inside: AtomicBool,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: `with` hands out the value to one thread at a time (the `inside` flag; a
// second thread panics before touching it).
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    fn new(value: T) -> Self {
        Self {
            inside: AtomicBool::new(false),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value; call it only while holding the lock under test.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            !self.inside.swap(true, Ordering::Acquire),
            "two threads inside the critical section at once: the Condition's lock was not held"
        );
        // SAFETY: the swap made this thread the only one past it until the store below;
        // any other thread arriving meanwhile panics before this line.
        let r = f(unsafe { &mut *self.value.get() });
        thread::yield_now();
        self.inside.store(false, Ordering::Release);
        r
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
        // Finished, or panicked (the sender is dropped): join reports which.
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

// ---------------------------------------------------------------------------------
// The seeds' examples

/// Seed 001, "多线程条件类示例": a producer holds the condition's lock, produces up to 5,
/// `notify()`s and `wait()`s; two customers with 3 coins each buy one item at a time,
/// and when there is none they `notify()` the producer and `wait()`.
///
/// The seed tests `if num <= 0` once; with truly parallel threads a woken customer must
/// re-check (`while`), otherwise it can take an item that is not there. The producer is
/// a daemon in the seed; here it stops when told.
#[test]
fn seed_producer_customers_with_notify() {
    within(120, "producer and customers", seed_producer_customers_body);
}

fn seed_producer_customers_body() {
    struct Shop {
        num: i64,
        produced: i64,
    }
    let con = Arc::new(Condition::new());
    // Only touched under `con`'s lock.
    let shop = Arc::new(Exclusive::new(Shop {
        num: 0,
        produced: 0,
    }));
    let stop = Arc::new(AtomicBool::new(false));

    let producer = {
        let (con, shop, stop) = (con.clone(), shop.clone(), stop.clone());
        thread::spawn(move || {
            con.acquire();
            while !stop.load(Ordering::Relaxed) {
                let full = shop.with(|s| {
                    s.num += 1;
                    s.produced += 1;
                    s.num >= 5
                });
                if full {
                    con.notify(1).unwrap(); // wake a customer
                    con.wait().unwrap(); // release the lock until a customer asks
                }
            }
            con.release().unwrap();
        })
    };

    let customers: Vec<_> = (0..2)
        .map(|_| {
            let (con, shop) = (con.clone(), shop.clone());
            thread::spawn(move || {
                let mut money = 3;
                let mut bought = 0;
                while money > 0 {
                    con.acquire();
                    while shop.with(|s| s.num) <= 0 {
                        con.notify(1).unwrap(); // tell the producer
                        con.wait().unwrap();
                    }
                    money -= 1;
                    bought += 1;
                    let left = shop.with(|s| {
                        s.num -= 1;
                        s.num
                    });
                    assert!(left >= 0, "bought an item that was not there");
                    con.release().unwrap();
                }
                bought
            })
        })
        .collect();

    let bought: i32 = customers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(bought, 6, "each customer spent its 3 coins");

    {
        let _g = con.lock();
        stop.store(true, Ordering::Relaxed);
        con.notify_all().unwrap();
    }
    producer.join().unwrap();
    let _g = con.lock();
    let (left, produced) = shop.with(|s| (s.num, s.produced));
    assert_eq!(produced, 6 + left, "every item accounted for");
    assert!((0..=5).contains(&left));
}

/// Seed 001, "condition案例2": 4 producers add random amounts to a stock of 1000 ten
/// times in all and `notify_all()`; 5 consumers take random amounts, waiting while the
/// stock is short, and leave when production is over. Ported with `wait_for`.
#[test]
fn seed_stock_with_notify_all_and_wait_for() {
    within(120, "producers and consumers", seed_stock_body);
}

fn seed_stock_body() {
    const TOTAL_TIMES: u64 = 10;
    struct Stock {
        product: u64,
        times: u64,
        produced: u64,
        consumed: u64,
    }
    let cond = Arc::new(Condition::new());
    // Touched only under `cond`'s lock, which alone keeps it right.
    let stock = Arc::new(Exclusive::new(Stock {
        product: 1000,
        times: 0,
        produced: 0,
        consumed: 0,
    }));

    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let (cond, stock) = (cond.clone(), stock.clone());
            thread::spawn(move || {
                let mut rng = 0x9E37_79B9 + p;
                loop {
                    let amount = 100 + xorshift(&mut rng) % 901;
                    let _g = cond.lock();
                    let over = stock.with(|s| {
                        if s.times >= TOTAL_TIMES {
                            return true;
                        }
                        s.product += amount;
                        s.produced += amount;
                        s.times += 1;
                        false
                    });
                    if over {
                        break;
                    }
                    cond.notify_all().unwrap(); // does not release the lock
                    drop(_g);
                    thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();

    let consumers: Vec<_> = (0..5u64)
        .map(|c| {
            let (cond, stock) = (cond.clone(), stock.clone());
            thread::spawn(move || {
                let mut rng = 0xDEAD_BEEF + c;
                loop {
                    let want = 100 + xorshift(&mut rng) % 901;
                    let _g = cond.lock();
                    cond.wait_for(|| stock.with(|s| s.product >= want || s.times >= TOTAL_TIMES))
                        .unwrap();
                    // Still under the lock the predicate held: the stock cannot have
                    // changed since it was true.
                    let leave = stock.with(|s| {
                        if s.product < want {
                            assert!(
                                s.times >= TOTAL_TIMES,
                                "the stock shrank between wait_for's predicate and the take"
                            );
                            return true; // production is over and the stock is short
                        }
                        s.product -= want;
                        s.consumed += want;
                        false
                    });
                    if leave {
                        return;
                    }
                    drop(_g);
                    thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();

    for t in producers.into_iter().chain(consumers) {
        t.join().unwrap();
    }
    let _g = cond.lock();
    stock.with(|s| {
        assert_eq!(s.times, TOTAL_TIMES);
        assert_eq!(s.product, 1000 + s.produced - s.consumed, "nothing lost");
    });
}

// ---------------------------------------------------------------------------------
// Condition semantics

#[test]
fn notify_n_wakes_exactly_n() {
    const WAITERS: usize = 5;
    let cond = Arc::new(Condition::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (cond, woken) = (cond.clone(), woken.clone());
            thread::spawn(move || {
                let _g = cond.lock();
                cond.wait().unwrap();
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    eventually("all wait", || cond.waiters() == WAITERS);
    {
        let _g = cond.lock();
        assert_eq!(cond.notify(2), Ok(2));
    }
    eventually("two woke", || woken.load(Ordering::SeqCst) == 2);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(woken.load(Ordering::SeqCst), 2, "no more than n");
    assert_eq!(cond.waiters(), WAITERS - 2);
    {
        let _g = cond.lock();
        assert_eq!(cond.notify(0), Ok(0));
        assert_eq!(cond.notify_all(), Ok(WAITERS - 2));
        assert_eq!(cond.notify_all(), Ok(0));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), WAITERS);
}

#[test]
fn waiting_or_notifying_without_the_lock_is_an_error() {
    let cond = Condition::new();
    assert_eq!(cond.wait(), Err(ConditionError::NotOwned));
    assert_eq!(
        cond.wait_timeout(Duration::from_millis(1)),
        Err(ConditionError::NotOwned)
    );
    assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
    assert_eq!(cond.notify_all(), Err(ConditionError::NotOwned));
    assert_eq!(
        cond.wait_for_timeout(|| false, Duration::from_millis(1)),
        Err(ConditionError::NotOwned)
    );
    assert_eq!(cond.wait_for(|| false), Err(ConditionError::NotOwned));
    // As in Python, a predicate that is already true needs no wait and no lock.
    assert_eq!(cond.wait_for(|| true), Ok(()));
    assert_eq!(cond.wait_for_timeout(|| true, Duration::ZERO), Ok(true));
    assert!(!ConditionError::NotOwned.to_string().is_empty());

    // An RLock held by another thread is not the caller's.
    let cond = Arc::new(Condition::new());
    let held = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let holder = {
        let (cond, held, release) = (cond.clone(), held.clone(), release.clone());
        thread::spawn(move || {
            let _g = cond.lock();
            held.store(true, Ordering::SeqCst);
            eventually("released", || release.load(Ordering::SeqCst));
        })
    };
    eventually("held", || held.load(Ordering::SeqCst));
    assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
    assert_eq!(cond.wait(), Err(ConditionError::NotOwned));
    release.store(true, Ordering::SeqCst);
    holder.join().unwrap();

    // A plain Lock: CPython's heuristic, "held" means owned; a free lock is not.
    let cond = Condition::with_lock(Lock::new());
    assert_eq!(cond.notify(1), Err(ConditionError::NotOwned));
    assert!(
        !cond.get_lock().locked(),
        "the ownership probe gave the lock back"
    );
    cond.acquire();
    assert_eq!(cond.notify(1), Ok(0));
    assert_eq!(cond.wait_timeout(Duration::from_millis(1)), Ok(false));
    assert!(cond.get_lock().locked(), "held again after the wait");
    cond.release().unwrap();
}

#[test]
fn rlock_depth_is_restored_after_wait() {
    let cond = Arc::new(Condition::new());
    cond.acquire();
    cond.acquire();
    cond.acquire();
    assert_eq!(cond.get_lock().depth(), 3);
    // Timed out: fully released during the wait, depth 3 again after.
    assert_eq!(cond.wait_timeout(Duration::from_millis(5)), Ok(false));
    assert_eq!(cond.get_lock().depth(), 3);

    // Notified by a thread that could only take the lock because the wait released all
    // three levels.
    let notifier = {
        let cond = cond.clone();
        thread::spawn(move || {
            eventually("the main thread waits", || cond.waiters() == 1);
            let _g = cond.lock();
            assert_eq!(cond.get_lock().depth(), 1);
            cond.notify(1).unwrap();
        })
    };
    assert_eq!(cond.wait(), Ok(()));
    assert_eq!(cond.get_lock().depth(), 3);
    notifier.join().unwrap();
    for _ in 0..3 {
        cond.release().unwrap();
    }
    assert!(!cond.get_lock().locked());
}

#[test]
fn wait_for_keeps_its_deadline_when_woken_repeatedly() {
    let cond = Arc::new(Condition::new());
    let stop = Arc::new(AtomicBool::new(false));
    let wakes = Arc::new(AtomicUsize::new(0));
    let pester = {
        let (cond, stop, wakes) = (cond.clone(), stop.clone(), wakes.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                {
                    let _g = cond.lock();
                    wakes.fetch_add(cond.notify_all().unwrap(), Ordering::SeqCst);
                }
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let result = {
        let _g = cond.lock();
        cond.wait_for_timeout(|| false, timeout)
    };
    let elapsed = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    pester.join().unwrap();
    assert_eq!(result, Ok(false));
    assert!(
        elapsed >= timeout,
        "returned before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "far past the deadline: {elapsed:?}"
    );
    assert!(
        wakes.load(Ordering::SeqCst) >= 2,
        "the waiter was woken several times"
    );
}

#[test]
fn wait_for_returns_once_the_predicate_holds() {
    let cond = Arc::new(Condition::with_lock(Arc::new(Lock::new())));
    let flag = Arc::new(AtomicBool::new(false));
    let setter = {
        let (cond, flag) = (cond.clone(), flag.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let _g = cond.lock();
            flag.store(true, Ordering::Relaxed);
            cond.notify_all().unwrap();
        })
    };
    let _g = cond.lock();
    let ok = cond.wait_for_timeout(|| flag.load(Ordering::Relaxed), Duration::from_secs(30));
    assert_eq!(ok, Ok(true));
    drop(_g);
    setter.join().unwrap();
}

#[test]
fn two_conditions_share_one_lock() {
    let lock = RLock::new();
    let a = Condition::with_lock(&lock);
    let b = Condition::with_lock(&lock);
    let _g = a.lock();
    assert!(ConditionLock::is_owned(b.get_lock()));
    assert_eq!(b.notify(1), Ok(0));
    assert_eq!(b.wait_timeout(Duration::from_millis(1)), Ok(false));
    assert_eq!(lock.depth(), 1);
    assert!(format!("{a:?}").contains("Condition"));
}

#[test]
fn timed_out_waiter_is_not_counted() {
    let cond = Condition::new();
    let _g = cond.lock();
    assert_eq!(cond.wait_timeout(Duration::ZERO), Ok(false));
    assert_eq!(cond.waiters(), 0);
    assert_eq!(cond.notify(1), Ok(0));
}

// ---------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_invalid_parties() {
    assert_eq!(Barrier::try_new(0).err(), Some(InvalidParties(0)));
    assert_eq!(
        Barrier::try_new(u32::MAX).err(),
        Some(InvalidParties(u32::MAX))
    );
    assert!(Barrier::try_new(conkit::core::barrier::MAX_PARTIES).is_ok());
    // `new` (const) panics instead: a compile error in a `static`, a panic at run time.
    assert!(std::panic::catch_unwind(|| Barrier::new(0)).is_err());
    let b = Barrier::new(4);
    assert_eq!((b.parties(), b.n_waiting(), b.broken()), (4, 0, false));
    assert!(format!("{b:?}").contains("Barrier"));
}

#[test]
fn barrier_indices_are_distinct_every_round() {
    const THREADS: u32 = 8;
    const ROUNDS: usize = 200;
    let actions = Arc::new(AtomicUsize::new(0));
    let b = {
        let actions = actions.clone();
        Arc::new(Barrier::new(THREADS).with_action(move || {
            actions.fetch_add(1, Ordering::SeqCst);
        }))
    };
    let masks: Arc<Vec<AtomicUsize>> = Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, masks) = (b.clone(), masks.clone());
            thread::spawn(move || {
                for mask in masks.iter() {
                    let i = b.wait().unwrap();
                    assert!(i < THREADS as usize);
                    let old = mask.fetch_or(1 << i, Ordering::SeqCst);
                    assert_eq!(old & (1 << i), 0, "index {i} twice in one round");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(masks
        .iter()
        .all(|m| m.load(Ordering::SeqCst) == (1 << THREADS) - 1));
    assert_eq!(actions.load(Ordering::SeqCst), ROUNDS);
}

/// Starts `n` threads that wait on `b` and returns their handles.
fn waiters(b: &Arc<Barrier>, n: usize) -> Vec<thread::JoinHandle<Result<usize, BrokenBarrier>>> {
    (0..n)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait())
        })
        .collect()
}

#[test]
fn barrier_abort_breaks_every_party() {
    let b = Arc::new(Barrier::new(4));
    let hs = waiters(&b, 3);
    eventually("three wait", || b.n_waiting() == 3);
    b.abort();
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(b.broken());
    assert_eq!(b.wait(), Err(BrokenBarrier), "broken until reset");
}

#[test]
fn barrier_timeout_breaks_every_party() {
    let b = Arc::new(Barrier::new(3));
    let hs = waiters(&b, 1);
    eventually("one waits", || b.n_waiting() == 1);
    let start = Instant::now();
    assert_eq!(
        b.wait_timeout(Duration::from_millis(50)),
        Err(BrokenBarrier)
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(b.broken());
}

#[test]
fn barrier_default_timeout_applies_to_wait() {
    let b = Barrier::new(2).with_timeout(Duration::from_millis(20));
    let start = Instant::now();
    assert_eq!(b.wait(), Err(BrokenBarrier));
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(b.broken());
}

#[test]
fn barrier_action_panic_breaks_every_party_and_reaches_its_caller() {
    let b = Arc::new(Barrier::new(3).with_action(|| panic!("action failed")));
    let hs = waiters(&b, 2);
    eventually("two wait", || b.n_waiting() == 2);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait()));
    let payload = caught.expect_err("the action's panic reaches the thread that ran it");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"action failed"));
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(b.broken());
}

#[test]
fn barrier_reset_breaks_waiters_and_is_reusable() {
    let b = Arc::new(Barrier::new(3));
    let hs = waiters(&b, 2);
    eventually("two wait", || b.n_waiting() == 2);
    b.reset();
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(BrokenBarrier));
    }
    assert!(!b.broken());
    // A broken barrier is repaired by reset, then serves full rounds again.
    b.abort();
    b.reset();
    for _ in 0..3 {
        let hs = waiters(&b, 3);
        let mut idx: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        idx.sort_unstable();
        assert_eq!(idx, [0, 1, 2]);
    }
}
