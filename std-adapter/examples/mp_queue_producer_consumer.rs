//! Seed 001 (消费者生产者模型, "另外一种写法"), `python/mp_queue_producer_consumer.py`:
//! a producer process puts ten dishes and a `None` sentinel on a
//! `multiprocessing::Queue`; a consumer process eats until the sentinel. The queue is
//! each child's argument (its shared memory travels with it). Which process id prints
//! depends on the run; the lines are CPython's.
use std::thread::sleep;
use std::time::Duration;

use conkit::multiprocessing::{self as mp, Process, Queue};

fn prodecer(q: Queue<Option<String>>) {
    for i in 0..10 {
        q.put(Some(format!("厨师制作的{i}号菜品"))).unwrap();
    }
    q.put(None).unwrap();
}

fn consumer(q: Queue<Option<String>>) {
    while let Some(ifo) = q.get().unwrap() {
        sleep(Duration::from_millis(10));
        println!("{} 吃掉了 {ifo}", std::process::id());
    }
}

fn main() {
    mp::init();
    println!("主程序开始运行");
    let q: Queue<Option<String>> = Queue::new(0).unwrap();
    let mut p = Process::new(prodecer, q.clone());
    let mut c = Process::new(consumer, q.clone());
    p.start().unwrap();
    c.start().unwrap();
    p.join().unwrap();
    c.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(c.exitcode(), Some(0));
    assert!(q.empty());
    println!("程序运行结束");
}
