//! Seed 001 (队列 Queue), `python/queue_fifo_drained.py`: the same queue emptied by ten
//! gets (the seed writes out all ten), so it is not full, holds 0 items, then only
//! "haha". The output is CPython's, line for line.
use conkit::queue::Queue;

fn main() {
    let q = Queue::new(10);
    (0..10).for_each(|i| q.put(i.to_string()).unwrap());
    for _ in 0..10 {
        q.get().unwrap();
    }
    println!("{}", if q.full() { "True" } else { "False" });
    println!("the size is : {}", q.qsize());
    q.put("haha".to_string()).unwrap();
    while !q.empty() {
        println!("{}", q.get().unwrap());
    }
}
