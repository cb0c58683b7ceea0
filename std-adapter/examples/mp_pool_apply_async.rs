//! Seed 002 (python/mp_pool_apply_async.py): a `Pool` of 4 processes runs 5 tasks with
//! `apply_async`; `close()` then `join()` waits for all of them.
use conkit::multiprocessing::pool::Pool;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

fn long_time_task(name: u32) {
    println!("Run task {name} ({})...", std::process::id());
    let start = Instant::now();
    let random = RandomState::new().hash_one(name) as f64 / u64::MAX as f64; // random()
    std::thread::sleep(Duration::from_secs_f64(random * 3.0));
    let secs = start.elapsed().as_secs_f64();
    println!("Task {name} runs {secs:.2} seconds.");
}

fn main() {
    conkit::multiprocessing::init();
    println!("Parent process {}.", std::process::id());
    let p = Pool::new(4).unwrap();
    for i in 0..5 {
        p.apply_async(long_time_task, i).unwrap();
    }
    println!("Waiting for all subprocesses done...");
    p.close();
    p.join().unwrap();
    println!("All subprocesses done.");
}
