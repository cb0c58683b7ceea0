//! Seed 001 (Producer / Consumer as `Thread` subclasses),
//! `python/queue_producer_consumer_classes.py`: 500 initial products; two producers add
//! 100 while fewer than 1000 are queued, five consumers take 3 while more than 100 are,
//! each for 2 rounds (sleeps scaled down 20x). Python's "subclass `Thread`, override
//! `run`" is `impl Run`; the queue is a `static`, Python's global `q`. Python's
//! interpreter waits for the threads at exit; a Rust `main` does so with
//! `join_non_daemon`. Which consumer takes which product depends on the threads'
//! timing; the number of lines is CPython's.
use std::{thread::sleep, time::Duration};

use conkit::queue::Queue;
use conkit::threading::{active_count, current_thread, join_non_daemon, Run, Thread};

static Q: Queue<String> = Queue::new(0);

struct Producer;

impl Run for Producer {
    fn run(&mut self) {
        let mut count = 0;
        for _ in 0..2 {
            if Q.qsize() < 1000 {
                for _ in 0..100 {
                    count += 1;
                    Q.put(format!("Producing{count}product")).unwrap();
                    println!("Producing{count}product");
                }
            }
            sleep(Duration::from_millis(25));
        }
    }
}

struct Consumer;

impl Run for Consumer {
    fn run(&mut self) {
        for _ in 0..2 {
            if Q.qsize() > 100 {
                for _ in 0..3 {
                    println!("{}consums{}", current_thread().name(), Q.get().unwrap());
                }
            }
            sleep(Duration::from_millis(50));
        }
    }
}

fn main() {
    (0..500).for_each(|i| Q.put(format!("初始产品：{i}")).unwrap());
    (0..2).for_each(|_| Thread::from_run(Producer).start().unwrap());
    (0..5).for_each(|_| Thread::from_run(Consumer).start().unwrap());
    println!("{}", active_count());
    join_non_daemon();
}
