//! Seed 001 (队列 Queue), `python/queue_fifo.py`: a FIFO queue of maxsize 10, two gets,
//! `full()` and `qsize()`, then drained. The output is CPython's, line for line.
//!
//! Python's queue holds any object, ints and then the string "haha"; a Rust queue holds
//! one type, so the numbers go in as strings.
use conkit::queue::Queue;

fn main() {
    let q = Queue::new(10);
    (0..10).for_each(|i| q.put(i.to_string()).unwrap());
    q.get().unwrap();
    q.get().unwrap();
    println!("{}", if q.full() { "True" } else { "False" });
    println!("the size is : {}", q.qsize());
    q.put("haha".to_string()).unwrap();
    while !q.empty() {
        println!("{}", q.get().unwrap());
    }
}
