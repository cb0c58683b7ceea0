//! Seed 002 (协程): "多进程+协程" — several processes, several threads in each, and
//! async tasks on every thread (a current-thread runtime per thread, as one asyncio loop
//! per thread), all sharing ONE `multiprocessing::JoinableQueue`. Two producer
//! processes run two threads of three tasks each that `put_async` their items; the main
//! process's consumer tasks `get_async` and `task_done` them, then `join_async`.
//! The other processes' puts wake the consumer tasks here, and the consumers' gets wake
//! the producer tasks there (a helper thread per process sleeps on the queue's shared
//! memory: see `conkit::multiprocessing::asynch`).
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use conkit::multiprocessing::{self as mp, JoinableQueue, Process};
use conkit::threading::Event;

const PROCESSES: u32 = 2;
const THREADS: u32 = 2;
const TASKS: u32 = 3;
const ITEMS: u32 = 50;

type Item = (u32, u32, u32, u32);

/// Set by the consumer task that sees the last item.
static ALL_IN: Event = Event::new();

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// One producer process: `THREADS` threads, each with `TASKS` tasks putting `ITEMS`.
fn producer((q, p): (JoinableQueue<Item>, u32)) {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                runtime().block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|k| {
                            let q = q.clone();
                            tokio::spawn(async move {
                                for i in 0..ITEMS {
                                    q.put_async((p, t, k, i)).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn main() {
    mp::init();
    // A small bound: producer tasks wait for the consumers (put_async across processes).
    let q: JoinableQueue<Item> = JoinableQueue::new(16).unwrap();
    let mut producers: Vec<_> = (0..PROCESSES)
        .map(|p| Process::new(producer, (q.clone(), p)))
        .collect();
    for p in &mut producers {
        p.start().unwrap();
    }
    let total = (PROCESSES * THREADS * TASKS * ITEMS) as usize;
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    runtime().block_on(async {
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (q, seen) = (q.clone(), Arc::clone(&seen));
                tokio::spawn(async move {
                    loop {
                        let item = q.get_async().await.unwrap();
                        let mut seen = seen.lock().unwrap();
                        assert!(seen.insert(item), "an item arrived twice: {item:?}");
                        q.task_done().unwrap();
                        if seen.len() == total {
                            ALL_IN.set();
                        }
                    }
                })
            })
            .collect();
        ALL_IN.wait_async().await;
        q.join_async().await; // every item marked done
        for c in consumers {
            c.abort(); // the others still await an item that will not come
        }
    });
    for p in &mut producers {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
    let seen = seen.lock().unwrap();
    let from: BTreeSet<_> = seen.iter().map(|(p, t, k, _)| (*p, *t, *k)).collect();
    println!(
        "consumer tasks got {} items from {} tasks on {} threads in {} processes",
        seen.len(),
        from.len(),
        PROCESSES * THREADS,
        PROCESSES
    );
    println!("unfinished tasks: {}", q.unfinished_tasks());
}
