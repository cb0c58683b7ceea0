//! Every `conkit::threading` type that says it can be a `static` is declared as one
//! here (this file compiling is most of the proof), then used once from two threads.
//!
//! Python programs keep their locks, conditions and events in module globals; these are
//! the Rust counterparts, with no `LazyLock` / `OnceLock` and no `Arc`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use conkit::threading::{
    Barrier, BoundedSemaphore, Condition, Event, Local, Lock, Monitor, Mutex, RLock, Semaphore,
};

static LOCK: Lock = Lock::new();
static RLOCK: RLock = RLock::new();
static COND: Condition = Condition::new();
static COND_OVER_LOCK: Condition<Lock> = Condition::with_lock(Lock::new());
static COND_OVER_STATIC_LOCK: Condition<&Lock> = Condition::with_lock(&LOCK);
static SEM: Semaphore = Semaphore::new(2);
static BSEM: BoundedSemaphore = BoundedSemaphore::new(2);
static EVENT: Event = Event::new();
static BARRIER: Barrier = Barrier::new(2);
static LOCAL: Local<Vec<u32>> = Local::new(Vec::new);
static COUNTER: Local<u32> = Local::new(|| 10);
static MUTEX: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static MONITOR: Monitor<u32> = Monitor::new(0);

#[test]
fn statics_of_every_type_work_across_threads() {
    let ran = AtomicUsize::new(0);
    thread::scope(|s| {
        for i in 0..2u32 {
            let ran = &ran;
            s.spawn(move || {
                {
                    let _g = LOCK.lock();
                    let _r = RLOCK.lock();
                    let _r2 = RLOCK.lock();
                }
                {
                    let _g = COND.lock();
                    COND.notify_all().unwrap();
                }
                {
                    let _g = COND_OVER_LOCK.lock();
                    assert_eq!(COND_OVER_LOCK.notify(1), Ok(0));
                }
                {
                    let _p = SEM.acquire_guard();
                    let _b = BSEM.acquire_guard();
                }
                let index = BARRIER.wait().unwrap();
                assert!(index < 2);
                LOCAL.with_mut(|v| v.push(i));
                assert_eq!(LOCAL.get(), [i], "each thread sees its own value");
                COUNTER.with_mut(|c| *c += i);
                assert_eq!(COUNTER.get(), 10 + i);
                MUTEX.lock().push(i);
                let mut m = MONITOR.lock();
                *m += 1;
                m.notify_all();
                drop(m);
                EVENT.set();
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert!(EVENT.wait_timeout(Duration::ZERO));
    let mut v = MUTEX.lock().clone();
    v.sort_unstable();
    assert_eq!(v, [0, 1]);
    assert_eq!(*MONITOR.lock(), 2);
    assert!(LOCAL.get().is_empty(), "the main thread's own value");
    assert_eq!(COUNTER.get(), 10);
    // The lock of `COND_OVER_STATIC_LOCK` is `LOCK` itself.
    let _g = COND_OVER_STATIC_LOCK.lock();
    assert!(LOCK.locked());
    assert_eq!((SEM.value(), BSEM.value()), (2, 2));
}
