//! Threads and coroutines on the *same* `conkit::threading` objects (issue #14):
//! Python needs two sets of classes for this (`threading.Event` for threads,
//! `asyncio.Event` for coroutines, and neither wakes the other's waiters); here an OS
//! thread sets the `Event` a task awaits, threads and tasks share one `Semaphore`, and a
//! thread produces under a `Condition` that a task waits on.
//!
//! The coroutines run on tokio's current-thread runtime: one thread, as asyncio.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use conkit::threading::{self, Condition, Event, Lock, Semaphore};

/// Set by a thread, awaited by a task.
static START: Event = Event::new();
/// Two "connections", shared by tasks and threads.
static POOL: Semaphore = Semaphore::new(2);
static IN_USE: AtomicU32 = AtomicU32::new(0);
static MOST_IN_USE: AtomicU32 = AtomicU32::new(0);
/// A thread produces under it, a task consumes.
static COND: Condition<Lock> = Condition::with_lock(Lock::new());
static ITEMS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn use_connection() {
    let now = IN_USE.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_IN_USE.fetch_max(now, Ordering::SeqCst);
}

fn done_with_connection() {
    IN_USE.fetch_sub(1, Ordering::SeqCst);
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");

    let starter = threading::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        START.set(); // wakes the task below: no asyncio.Event needed
    });
    let pool_threads: Vec<_> = (0..2)
        .map(|_| {
            threading::spawn(|| {
                for _ in 0..20 {
                    let _permit = POOL.acquire_guard();
                    use_connection();
                    std::thread::sleep(Duration::from_micros(200));
                    done_with_connection();
                }
            })
        })
        .collect();
    let producer = threading::spawn(|| {
        for i in 0..5 {
            std::thread::sleep(Duration::from_millis(5));
            let _g = COND.lock();
            ITEMS.lock().unwrap().push(i);
            COND.notify(1).unwrap();
        }
    });

    rt.block_on(async {
        START.wait_async().await;
        println!("task: woken by the thread that set the event");

        // Four tasks and the two threads above share the two permits.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..20 {
                        let _permit = POOL.acquire_guard_async().await;
                        use_connection();
                        tokio::task::yield_now().await; // hold it across an await
                        done_with_connection();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a pool task");
        }

        let mut got = Vec::new();
        while got.len() < 5 {
            let _g = COND.lock_async().await;
            COND.wait_for_async(|| !ITEMS.lock().unwrap().is_empty())
                .await
                .expect("the condition's lock is held");
            got.append(&mut ITEMS.lock().unwrap());
        }
        println!("task: consumed {got:?} from a producer thread");
    });

    starter.join().expect("the starter thread");
    for t in pool_threads {
        t.join().expect("a pool thread");
    }
    producer.join().expect("the producer thread");
    println!(
        "pool: at most {} of 2 permits in use by 4 tasks and 2 threads",
        MOST_IN_USE.load(Ordering::SeqCst)
    );
}
