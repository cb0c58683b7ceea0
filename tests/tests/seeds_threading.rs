//! The seeds' `threading` examples (shared/seeds/001_*.txt, 004_*.txt), ported to
//! conkit with the same observable results. Each test names the example it ports.
//!
//! Sleeps are shortened (the seeds sleep seconds to make interleavings visible); what
//! is asserted is what the Python program prints or would print. The runnable, short
//! forms of these programs are `std-adapter/examples/*.rs`; these tests keep more of the
//! seeds' shapes (explicit `acquire`/`release`, `Thread` subclasses) and assert more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use conkit::threading::{
    self, current_thread, BoundedSemaphore, Event, Mutex, RLock, Run, Semaphore, SemaphoreError,
    Thread, Timer,
};

/// seed 004, "Account.deposit": 100 threads each deposit 1 under the account's lock;
/// the read-modify-write spans a sleep, so without the lock deposits would be lost.
/// Python prints "账户余额为: ￥100元". The balance lives in its lock (`Mutex`); the seed's
/// explicit `acquire()` / `try: … finally: release()` is the guard's `acquire()` and
/// `release()`.
#[test]
fn seed_bank_account_100_threads_deposit_under_a_lock() {
    struct Account {
        balance: Mutex<i64>,
    }
    impl Account {
        fn deposit(&self, money: i64) {
            let mut balance = self.balance.acquire();
            let new_balance = *balance + money;
            sleep(Duration::from_micros(200));
            *balance = new_balance;
            balance.release();
        }
    }
    struct AddMoneyThread {
        account: Arc<Account>,
        money: i64,
    }
    impl Run for AddMoneyThread {
        fn run(&mut self) {
            self.account.deposit(self.money);
        }
    }
    let account = Arc::new(Account {
        balance: Mutex::new(0),
    });
    let threads: Vec<Thread> = (0..100)
        .map(|_| {
            let t = Thread::from_run(AddMoneyThread {
                account: account.clone(),
                money: 1,
            });
            t.start().unwrap();
            t
        })
        .collect();
    for t in &threads {
        t.join().unwrap();
    }
    assert_eq!(*account.balance.lock(), 100);
    // The short form (examples/bank_account.rs): threads that borrow the account.
    let account = Account {
        balance: Mutex::new(0),
    };
    threading::scope(|s| {
        for _ in 0..100 {
            s.spawn(|| account.deposit(1));
        }
    });
    assert_eq!(account.balance.into_inner(), 100);
}

/// seed 001, "threading.Lock()": myAdd and myMinu each loop 999 999 times under one
/// lock; Python prints "Done to 0".
#[test]
fn seed_add_and_subtract_under_a_lock_ends_at_zero() {
    static SUM: Mutex<i64> = Mutex::new(0);
    let loopsum: i64 = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    // The seed's `sum += 1` is a read-modify-write, done here as a separate read and
    // write under the lock (`acquire()` … `release()`, as the seed writes it).
    fn bump(delta: i64, n: i64) {
        for _ in 1..n {
            let mut sum = SUM.acquire();
            let v = *sum;
            *sum = v + delta;
            sum.release();
        }
    }
    let t1 = Thread::new(move || bump(1, loopsum));
    let t2 = Thread::new(move || bump(-1, loopsum));
    t1.start().unwrap();
    t2.start().unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
    assert_eq!(*SUM.lock(), 0);
}

/// seed 001, "可重入锁 RLock": five threads each take the RLock with a timeout, bump
/// `num`, take it again (re-entry) and release twice. Python prints
/// "Thread-N set num to 1" … "to 5"; with a plain Lock the second acquire would hang.
#[test]
fn seed_rlock_recursion_five_threads() {
    static MUTEX: RLock = RLock::new();
    static NUM: AtomicUsize = AtomicUsize::new(0);
    let msgs = Arc::new(Mutex::new(Vec::new()));
    struct MyThread(Arc<Mutex<Vec<String>>>);
    impl Run for MyThread {
        fn run(&mut self) {
            sleep(Duration::from_millis(10));
            if MUTEX.acquire_timeout(Duration::from_secs(5)) {
                let num = NUM.fetch_add(1, Ordering::Relaxed) + 1;
                self.0
                    .lock()
                    .push(format!("{}set num to {num}", current_thread().name()));
                MUTEX.acquire();
                assert_eq!(MUTEX.depth(), 2);
                MUTEX.release().unwrap();
                MUTEX.release().unwrap();
            }
        }
    }
    let threads: Vec<Thread> = (0..5)
        .map(|_| {
            let t = Thread::from_run(MyThread(msgs.clone()));
            t.start().unwrap();
            t
        })
        .collect();
    for t in &threads {
        t.join().unwrap();
    }
    let msgs = msgs.lock();
    assert_eq!(msgs.len(), 5);
    for (i, m) in msgs.iter().enumerate() {
        assert!(m.starts_with("Thread-"), "{m}");
        assert!(m.ends_with(&format!("set num to {}", i + 1)), "{m}");
    }
    assert!(!MUTEX.locked());
}

/// seed 001, "threading.Semaphore(2)": six threads, at most two "running" at once.
///
/// Never more than two inside, whatever the scheduling. And two at once whenever the
/// machine let two threads overlap: each thread notes the time it entered (after
/// counting itself in) and the time it left (before counting itself out); if two of
/// those intervals overlap, both threads were counted at the later entry, so the count
/// reached 2. On a machine so starved that no two threads overlapped, only the bound is
/// checked there; that two can be inside at once is then checked without timing: with
/// one permit held here, another thread's `acquire` must succeed (a semaphore that
/// admitted one thread at a time fails that).
#[test]
fn seed_semaphore_of_2_never_admits_more_than_2() {
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let spans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<Thread> = (0..6)
        .map(|_| {
            let (sem, inside, max, spans) =
                (sem.clone(), inside.clone(), max.clone(), spans.clone());
            let t = Thread::new(move || {
                sem.acquire();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                let entered = Instant::now();
                sleep(Duration::from_millis(20));
                let left = Instant::now();
                inside.fetch_sub(1, Ordering::SeqCst);
                sem.release().unwrap();
                spans.lock().unwrap().push((entered, left));
            });
            t.start().unwrap();
            t
        })
        .collect();
    for t in &threads {
        t.join().unwrap();
    }
    let max = max.load(Ordering::SeqCst);
    assert!(max <= 2, "{max} threads inside a Semaphore(2)");
    let spans = spans.lock().unwrap();
    assert_eq!(spans.len(), 6);
    let overlapped = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans[i + 1..].iter().any(|b| a.0.max(b.0) < a.1.min(b.1)));
    if overlapped {
        assert_eq!(
            max, 2,
            "two threads overlapped inside, but the count never reached 2"
        );
    }
    assert_eq!(sem.value(), 2);
    // Two at once, without timing: hold one permit, another thread gets the second.
    sem.acquire();
    let second = {
        let sem = sem.clone();
        std::thread::spawn(move || {
            let got = sem.acquire_timeout(Duration::from_secs(30));
            if got {
                sem.release().unwrap();
            }
            got
        })
    };
    assert!(
        second.join().unwrap(),
        "a second thread could not enter while one permit was held"
    );
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

/// seed 001, "threading.BoundedSemaphore(3)": four threads share three permits; the
/// commented-out second `release()` raises "ValueError: Semaphore released too many
/// times" in Python — here a typed error, and the count stays at 3.
#[test]
fn seed_bounded_semaphore_over_release_is_an_error() {
    let sem = Arc::new(BoundedSemaphore::new(3));
    let threads: Vec<Thread> = (0..4)
        .map(|_| {
            let sem = sem.clone();
            let t = Thread::new(move || {
                sem.acquire();
                sleep(Duration::from_millis(5));
                sem.release().unwrap();
            });
            t.start().unwrap();
            t
        })
        .collect();
    for t in &threads {
        t.join().unwrap();
    }
    assert_eq!(sem.release(), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 3);
}

/// seed 001, "继承threading.Thread": four `MyThread(i)` started and joined one after
/// the other print their args in order 0..4.
#[test]
fn seed_subclassed_thread_run_override() {
    struct MyThread {
        arg: usize,
        out: Arc<Mutex<Vec<String>>>,
    }
    impl Run for MyThread {
        fn run(&mut self) {
            sleep(Duration::from_millis(2));
            self.out
                .lock()
                .push(format!("the args for this class is {}", self.arg));
        }
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    for i in 0..4 {
        let t = Thread::from_run(MyThread {
            arg: i,
            out: out.clone(),
        });
        t.start().unwrap();
        t.join().unwrap();
    }
    let expected: Vec<String> = (0..4)
        .map(|i| format!("the args for this class is {i}"))
        .collect();
    assert_eq!(*out.lock(), expected);
}

/// seed 001, "Event 吃火锅": diners wait on the event; nobody starts eating before
/// the main thread sets it, and everybody does after.
#[test]
fn seed_event_hot_pot_everybody_eats_after_set() {
    let event = Arc::new(Event::new());
    let eating = Arc::new(AtomicUsize::new(0));
    let threads: Vec<Thread> = ["xb", "xh", "xc"]
        .iter()
        .map(|_| {
            let (event, eating) = (event.clone(), eating.clone());
            let t = Thread::new(move || {
                event.wait();
                eating.fetch_add(1, Ordering::SeqCst);
            });
            t.start().unwrap();
            t
        })
        .collect();
    sleep(Duration::from_millis(20));
    assert_eq!(eating.load(Ordering::SeqCst), 0, "nobody eats before set()");
    event.set();
    for t in &threads {
        t.join().unwrap();
    }
    assert_eq!(eating.load(Ordering::SeqCst), 3);
}

/// seed 001, "Event wait 中 timeout 超时": `event.wait(timeout=0.1)` returns (False)
/// long before the main thread's `set()`.
#[test]
fn seed_event_wait_with_timeout_goes_on_without_the_signal() {
    let event = Arc::new(Event::new());
    let e = event.clone();
    let waited = Thread::builder()
        .spawn(move || {
            let t0 = Instant::now();
            let flag = e.wait_timeout(Duration::from_millis(50));
            (flag, t0.elapsed())
        })
        .unwrap();
    let (flag, took) = waited.join().unwrap();
    assert!(!flag);
    assert!(took >= Duration::from_millis(50));
    event.set();
}

/// seed 001, "一旦标志被set激活，而又没clear，则wait不会阻塞": set before the diners
/// arrive, so their `wait()` returns at once.
#[test]
fn seed_event_set_before_wait_does_not_block() {
    let event = Arc::new(Event::new());
    event.set();
    let threads: Vec<Thread> = (0..2)
        .map(|_| {
            let e = event.clone();
            let t = Thread::new(move || e.wait());
            t.start().unwrap();
            t
        })
        .collect();
    for t in &threads {
        assert!(t.join_timeout(Duration::from_secs(10)).unwrap());
    }
}

/// seed 001, "Timer": `Timer(1, hello)` prints "hello, world" after the interval;
/// `cancel()` before it fires means it never runs.
#[test]
fn seed_timer_fires_after_its_interval_and_cancel_stops_it() {
    let fired = Arc::new(Mutex::new(None::<Instant>));
    let f = fired.clone();
    let t0 = Instant::now();
    let t = Timer::new(Duration::from_millis(30), move || {
        *f.lock() = Some(Instant::now());
    });
    t.start().unwrap();
    t.join().unwrap();
    let at = fired.lock().expect("hello, world");
    assert!(at - t0 >= Duration::from_millis(30));

    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let t = Timer::new(Duration::from_secs(30), move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    t.start().unwrap();
    t.cancel();
    t.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}
