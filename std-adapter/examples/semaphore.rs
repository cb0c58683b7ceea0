//! threading.Semaphore(num),num默认值为1 (seed 001; python/semaphore.py).
use conkit::threading::{self, Semaphore};
use std::{thread::sleep, time::Duration};

fn fun(semaphore: &Semaphore, num: u32) {
    // 获得信号量，信号量减一
    semaphore.acquire();
    println!("Thread {num} is running.");
    sleep(Duration::from_millis(150));
    // 释放信号量，信号量加一
    semaphore.release().unwrap();
}

// 初始化信号量，数量为2
static SEMAPHORE: Semaphore = Semaphore::new(2);

fn main() {
    // 运行6个线程 (the scope waits for them, as Python's interpreter does at exit)
    threading::scope(|s| {
        for num in 0..6 {
            s.spawn(move || fun(&SEMAPHORE, num));
        }
    });
}
