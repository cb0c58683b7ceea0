//! 进程锁 (seed 001; python/mp_lock.py): ten processes print under one process-shared
//! `Lock` (handed to each child with its arguments).
use conkit::multiprocessing::{self as mp, Lock, Process};

fn f((l, i): (Lock, u32)) {
    let _g = l.lock(); // acquire … finally: release
    println!("{}", std::process::id());
    println!("hello world {i}");
}

fn main() {
    mp::init();
    let lock = Lock::new();

    let mut ps: Vec<Process> = (0..10)
        .map(|num| Process::new(f, (lock.clone(), num)))
        .collect();
    ps.iter_mut().for_each(|p| p.start().unwrap());
    // Python joins non-daemon children at exit; here, by hand.
    ps.iter_mut().for_each(|p| p.join().unwrap());
}
