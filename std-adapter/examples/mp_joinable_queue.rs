//! Seed 001 (JoinableQueue举例实现多生产者多消费者模型), `python/mp_joinable_queue.py`:
//! five producer processes put ten products each on a `JoinableQueue` and wait
//! (`join`) until every product is marked done; five daemon consumer processes eat
//! forever (`get`, `task_done`) and end with the main process. Which consumer eats
//! which product depends on the run; the number of lines is CPython's.
use conkit::multiprocessing::{self as mp, JoinableQueue, Process};

fn producer((q, j): (JoinableQueue<String>, u32)) {
    println!("第{}个进程开始生产", j + 1);
    for i in 0..10 {
        q.put(format!("进程{}生产第{}个产品", j + 1, i + 1))
            .unwrap();
    }
    println!("进程{}的生产完毕", j + 1);
    q.join();
}

fn consumer(q: JoinableQueue<String>) {
    loop {
        let ifo = q.get().unwrap();
        println!("进程{}吃掉了{ifo}", std::process::id());
        q.task_done().unwrap();
    }
}

fn main() {
    mp::init();
    println!("主程序开始运行");
    let q: JoinableQueue<String> = JoinableQueue::new(0).unwrap();
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for i in 0..5 {
        let mut p = Process::new(producer, (q.clone(), i));
        // Daemon: killed when the main process ends (it never returns by itself).
        let mut c = Process::new(consumer, q.clone()).daemon(true);
        p.start().unwrap();
        c.start().unwrap();
        producers.push(p);
        consumers.push(c);
    }
    for p in &mut producers {
        p.join().unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 0);
    println!("程序运行完毕");
}
