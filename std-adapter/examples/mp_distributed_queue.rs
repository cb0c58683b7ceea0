//! Seed 003 分布式进程 (python/mp_distributed_queue.py): the master exposes a task queue
//! and a result queue on a `BaseManager` over TCP with an authkey; workers (child
//! processes here, other machines in the seed) `connect()` and use the network queues.
use conkit::multiprocessing::managers::{BaseManager, Kind, QueueProxy};
use conkit::multiprocessing::{self as mp, Process};
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

fn worker(address: String) {
    let mut m = BaseManager::new(address, b"abc");
    m.register_typeid("get_task_queue")
        .register_typeid("get_result_queue");
    m.connect().unwrap();
    let task: QueueProxy<u64> = m.get("get_task_queue").unwrap();
    let result: QueueProxy<String> = m.get("get_result_queue").unwrap();
    while let Ok(n) = task.get_timeout(Duration::from_secs(1)) {
        println!("run task {n} * {n}...");
        result.put(&format!("{n} * {n} = {}", n * n)).unwrap();
    }
}

fn main() {
    mp::init();
    let mut manager = BaseManager::new("127.0.0.1:0", b"abc");
    manager.register("get_task_queue", Kind::Queue { maxsize: 0 });
    manager.register("get_result_queue", Kind::Queue { maxsize: 0 });
    manager.start().unwrap();
    let task: QueueProxy<u64> = manager.get("get_task_queue").unwrap();
    let result: QueueProxy<String> = manager.get("get_result_queue").unwrap();
    for i in 0..10 {
        let n = RandomState::new().hash_one(i) % 10001; // random.randint(0, 10000)
        println!("Put task {n}...");
        task.put(&n).unwrap();
    }
    let address = manager.address().unwrap().to_string();
    let mut workers: Vec<Process> = (0..2)
        .map(|_| Process::new(worker, address.clone()))
        .collect();
    workers.iter_mut().for_each(|w| w.start().unwrap());
    println!("Try get results...");
    for _ in 0..10 {
        println!(
            "Result: {}",
            result.get_timeout(Duration::from_secs(10)).unwrap()
        );
    }
    workers.iter_mut().for_each(|w| w.join().unwrap());
    manager.shutdown().unwrap();
    println!("master exit.");
}
