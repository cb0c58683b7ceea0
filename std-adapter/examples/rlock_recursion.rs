//! 可重入锁（递归锁）示例---RLock (seed 001; python/rlock_recursion.py).
use conkit::threading::{self, current_thread, RLock};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::{thread::sleep, time::Duration};

fn run() {
    sleep(Duration::from_millis(50));
    if MUTEX.acquire_timeout(Duration::from_millis(50)) {
        let num = NUM.fetch_add(1, Relaxed) + 1;
        println!("{}set num to {num}", current_thread().name());
        MUTEX.acquire();
        MUTEX.release().unwrap();
        MUTEX.release().unwrap();
    }
}

static NUM: AtomicU32 = AtomicU32::new(0); // changed only under MUTEX
static MUTEX: RLock = RLock::new(); // 若该处为 Lock, 第二次 acquire() 就会永远等待

fn main() {
    threading::scope(|s| {
        for _ in 0..5 {
            s.spawn(run);
        }
    });
}
