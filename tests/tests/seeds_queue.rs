//! The seeds' `queue` examples (shared/seeds/001_*.txt, 004_*.txt) ported to conkit, and
//! checked against CPython itself: the deterministic ones run the seed's Python program
//! with `python3` and compare its output line by line with what the conkit port prints.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use conkit::queue::{Empty, LifoQueue, PriorityQueue, Queue};
use conkit::threading::Thread;

/// Runs a Python program and returns its output lines (the reference implementation).
fn python(program: &str) -> Vec<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(program)
        .output()
        .expect("python3 is needed for the parity tests (it is on every CI machine)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_owned()
}

/// seed 001: `Queue(maxsize=10)`, put 0..9, get twice, `full()`, `qsize()`, put
/// "haha", drain.
#[test]
fn seed_queue_maxsize_10_two_gets_matches_cpython() {
    let expected = python(
        "import queue\n\
         q = queue.Queue(maxsize=10)\n\
         for i in range(10):\n    q.put(i)\n\
         q.get()\nq.get()\n\
         print(q.full())\n\
         print('the size is :', q.qsize())\n\
         q.put('haha')\n\
         while not q.empty():\n    print(q.get())\n",
    );
    let q: Queue<String> = Queue::new(10);
    for i in 0..10 {
        q.put(i.to_string()).unwrap();
    }
    q.get().unwrap();
    q.get().unwrap();
    let mut got = vec![py_bool(q.full()), format!("the size is : {}", q.qsize())];
    q.put("haha".into()).unwrap();
    while !q.empty() {
        got.push(q.get().unwrap());
    }
    assert_eq!(got, expected);
}

/// seed 001: the same with ten gets: the queue is empty, then holds only "haha".
#[test]
fn seed_queue_maxsize_10_ten_gets_matches_cpython() {
    let expected = python(
        "import queue\n\
         q = queue.Queue(maxsize=10)\n\
         for i in range(10):\n    q.put(i)\n\
         for _ in range(10):\n    q.get()\n\
         print(q.full())\n\
         print('the size is :', q.qsize())\n\
         q.put('haha')\n\
         while not q.empty():\n    print(q.get())\n",
    );
    let q: Queue<String> = Queue::new(10);
    for i in 0..10 {
        q.put(i.to_string()).unwrap();
    }
    for _ in 0..10 {
        q.get().unwrap();
    }
    let mut got = vec![py_bool(q.full()), format!("the size is : {}", q.qsize())];
    q.put("haha".into()).unwrap();
    while !q.empty() {
        got.push(q.get().unwrap());
    }
    assert_eq!(got, expected);
    assert_eq!(q.get_nowait(), Err(Empty));
}

/// seed 001 (stack / queue / priority notes): the three disciplines hand out the same
/// items in CPython's orders.
#[test]
fn seed_fifo_lifo_priority_orders_match_cpython() {
    let expected = python(
        "import queue\n\
         for q in (queue.Queue(), queue.LifoQueue(), queue.PriorityQueue()):\n\
         \x20   for x in (5, 1, 4, 2, 3):\n        q.put(x)\n\
         \x20   print(' '.join(str(q.get()) for _ in range(5)))\n",
    );
    let items = [5, 1, 4, 2, 3];
    let fifo: Queue<i32> = Queue::new(0);
    let lifo: LifoQueue<i32> = LifoQueue::new(0);
    let prio: PriorityQueue<i32> = PriorityQueue::new(0);
    for x in items {
        fifo.put(x).unwrap();
        lifo.put(x).unwrap();
        prio.put(x).unwrap();
    }
    let line = |f: &dyn Fn() -> i32| {
        (0..5)
            .map(|_| f().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let got = vec![
        line(&|| fifo.get().unwrap()),
        line(&|| lifo.get().unwrap()),
        line(&|| prio.get().unwrap()),
    ];
    assert_eq!(got, expected);
}

/// seed 001 "生产者消费者模型": a producer thread and consumer threads joined by a
/// bounded `Queue(maxsize=5)`; the seed's loops run forever, this port moves 10 000
/// numbered products and checks each one is consumed exactly once, with
/// `task_done`/`join` telling the producer when everything was processed.
#[test]
fn seed_producer_consumer_over_a_bounded_queue() {
    const N: u64 = 10_000;
    let q: Arc<Queue<u64>> = Arc::new(Queue::new(5));
    let consumed = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let consumers: Vec<Thread> = ["Tom", "Jerry"]
        .iter()
        .map(|name| {
            let (q, consumed, sum) = (q.clone(), consumed.clone(), sum.clone());
            let t = Thread::builder().name(*name).daemon(true).target(move || {
                while let Ok(n) = q.get() {
                    sum.fetch_add(n, Ordering::Relaxed);
                    consumed.fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
            });
            t.start().unwrap();
            t
        })
        .collect();
    let producer = {
        let q = q.clone();
        Thread::new(move || {
            for count in 1..=N {
                q.put(count).unwrap();
            }
            q.join(); // every product taken AND processed
        })
    };
    producer.start().unwrap();
    producer.join().unwrap();
    assert_eq!(consumed.load(Ordering::Relaxed), N);
    assert_eq!(sum.load(Ordering::Relaxed), N * (N + 1) / 2);
    // Python would leave the daemon consumers blocked in get(); shutting the queue
    // down (3.13) ends them cleanly.
    q.shutdown(false);
    for c in &consumers {
        c.join().unwrap();
    }
}
