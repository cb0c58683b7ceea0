//! threading.BoundedSemaphore(num) (seed 001; python/bounded_semaphore.py).
use conkit::threading::{self, BoundedSemaphore};
use std::{thread::sleep, time::Duration};

fn fun(semaphore: &BoundedSemaphore, num: u32) {
    // 获得信号量，信号量减一
    semaphore.acquire();
    println!("Thread {num} is running.");
    sleep(Duration::from_millis(150));
    // 释放信号量，信号量加一
    semaphore.release().unwrap();
    // 再次释放信号量，超过限定的信号量数目: Err(SemaphoreError::Overflow) (Python: ValueError)
    // semaphore.release().unwrap();
}

// 初始化信号量，数量为3，最多有3个线程获得信号量，信号量不能通过释放而大于3
static SEMAPHORE: BoundedSemaphore = BoundedSemaphore::new(3);

fn main() {
    // 运行4个线程
    threading::scope(|s| {
        for num in 0..4 {
            s.spawn(move || fun(&SEMAPHORE, num));
        }
    });
}
