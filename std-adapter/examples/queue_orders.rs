//! Seed 001 (栈, 队列, 优先级队列), `python/queue_orders.py`: the three orders of
//! Python's queues. A `LifoQueue` is a stack, a `Queue` first in first out, a
//! `PriorityQueue` hands out the smallest item first (a `heapq` min-heap), so a
//! `(weight, task)` tuple with the smallest weight is the most urgent task. The output
//! is CPython's, line for line.
use conkit::queue::{LifoQueue, PriorityQueue, Queue};

fn main() {
    let (stack, fifo, tasks) = (LifoQueue::new(0), Queue::new(0), PriorityQueue::new(0));
    for i in 1..=5 {
        stack.put(i).unwrap();
        fifo.put(i).unwrap();
    }
    let stack: Vec<i32> = (0..5).map(|_| stack.get().unwrap()).collect();
    println!("LifoQueue: {stack:?}");
    let fifo: Vec<i32> = (0..5).map(|_| fifo.get().unwrap()).collect();
    println!("Queue: {fifo:?}");
    tasks.put((2, "write the report")).unwrap();
    tasks.put((1, "fix the build")).unwrap();
    tasks.put((3, "lunch")).unwrap();
    while let Ok((weight, task)) = tasks.get_nowait() {
        println!("{weight} {task}");
    }
}
