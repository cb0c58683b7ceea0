//! 多线程定时类（Timer） (seed 001; python/timer.py).
use conkit::threading::Timer;
use std::time::Duration;

fn main() {
    let t = Timer::new(Duration::from_millis(50), || println!("hello, world"));
    t.start().unwrap(); // after 50 ms, "hello, world" will be printed
    t.join().unwrap(); // (Python's interpreter waits for the timer thread at exit)
}
