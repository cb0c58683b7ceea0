//! threading.Lock():给变量上锁，保护它被使用的唯一性 (seed 001; python/add_subtract.py).
use conkit::threading::{Mutex, Thread};

static SUM: Mutex<i64> = Mutex::new(0); // the lock and the variable it protects
const LOOPSUM: i64 = 1_000_000;

fn my_add() {
    for _ in 1..LOOPSUM {
        *SUM.lock() += 1;
    }
}
fn my_minu() {
    for _ in 1..LOOPSUM {
        *SUM.lock() -= 1;
    }
}

fn main() {
    println!("starting from {}", *SUM.lock());
    let t1 = Thread::new(my_add);
    let t2 = Thread::new(my_minu);
    t1.start().unwrap();
    t2.start().unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
    println!("Done to {}", *SUM.lock());
}
