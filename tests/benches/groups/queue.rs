//! `conkit::queue` against its peers and CPython.
//!
//! `queue-2t`: one producer thread puts `1..=items` with the *blocking* put, one consumer
//! thread takes them with the blocking get and sums them (Python's classic
//! producer/consumer), through a queue of 1024 slots. Peers: `crossbeam_channel::bounded`,
//! `std::sync::mpsc::sync_channel` and CPython's `queue.Queue` with two
//! `threading.Thread`s. The threads are not pinned: a blocking queue lets the OS place
//! its threads, as a Python program does.
//!
//! A bounded `conkit::queue::Queue` runs on the core's lock-free `HeapRingQueue` (the
//! MPMC ring plus Python's bookkeeping), so this compares like with like: crossbeam's
//! bounded channel is the same Vyukov array algorithm.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, StartLine, Target};

/// Queue slots of every contender.
const CAP: usize = 1024;
/// CPython moves ~0.5–1 M items/s: cap its run, the time is scaled to `items`.
const PYTHON_ITEMS: u64 = 200_000;

/// The benchmarks of this module.
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    vec![("queue-2t", Box::new(move || queue_2t(items)))]
}

/// One producer and one consumer thread: `put(v)` for `v` in `1..=items`, `items` times
/// `get()`; timed from the start line to the last item received. The sum of what
/// arrived is checked. A run that stalls (a lost wake-up leaves a thread blocked
/// forever) is reported by a watchdog, which ends the process: blocking calls cannot be
/// abandoned.
fn two_threads(
    items: u64,
    mut put: impl FnMut(u64) -> Res + Send,
    mut get: impl FnMut() -> Res<u64> + Send,
) -> Res<Duration> {
    let start = StartLine::new(2);
    let deadline = harness::deadline(items);
    let (finished, watchdog) = mpsc::channel::<()>();
    thread::scope(|s| {
        s.spawn(move || {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(mpsc::RecvTimeoutError::Timeout) = watchdog.recv_timeout(left) {
                eprintln!(
                    "bench: queue-2t stalled: no progress before the deadline (lost wake-up?)"
                );
                std::process::exit(1);
            }
        });
        let start = &start;
        let producer = s.spawn(move || -> Res {
            start.wait();
            for v in 1..=items {
                put(v)?;
            }
            Ok(())
        });
        let consumer = s.spawn(move || -> Res<(Instant, Instant, u64)> {
            let t0 = start.wait();
            let mut sum = 0u64;
            for _ in 0..items {
                sum = sum.wrapping_add(get()?);
            }
            Ok((t0, Instant::now(), sum))
        });
        let produced = producer.join().map_err(|_| "producer panicked".to_string());
        let consumed = consumer.join().map_err(|_| "consumer panicked".to_string());
        drop(finished);
        produced??;
        let (t0, t1, sum) = consumed??;
        let want = items.wrapping_mul(items.wrapping_add(1)) / 2;
        if sum != want {
            return Err(format!(
                "ITEMS LOST OR CORRUPTED: sum {sum}, expected {want} for {items} items"
            ));
        }
        Ok(t1.duration_since(t0))
    })
}

const PYTHON_QUEUE: &str = r#"
import queue, sys, threading, time
n = int(sys.argv[1])
q = queue.Queue(1024)
total = [0]
def consumer():
    get = q.get
    s = 0
    for _ in range(n):
        s += get()
    total[0] = s
t = threading.Thread(target=consumer)
t.start()
t0 = time.perf_counter()
put = q.put
for i in range(1, n + 1):
    put(i)
t.join()
dt = time.perf_counter() - t0
assert total[0] == n * (n + 1) // 2
print(dt)
"#;

fn queue_2t(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit queue::Queue", move |n| {
            let q = conkit::queue::Queue::new(CAP);
            two_threads(
                n,
                |v| q.put(v).map_err(|e| e.to_string()),
                || q.get().map_err(|e| e.to_string()),
            )
        }),
        Contender::peer("crossbeam_channel::bounded", move |n| {
            let (tx, rx) = crossbeam_channel::bounded(CAP);
            two_threads(
                n,
                |v| tx.send(v).map_err(|e| e.to_string()),
                || rx.recv().map_err(|e| e.to_string()),
            )
        }),
        Contender::peer("std mpsc::sync_channel", move |n| {
            let (tx, rx) = mpsc::sync_channel(CAP);
            two_threads(
                n,
                move |v| tx.send(v).map_err(|e| e.to_string()),
                move || rx.recv().map_err(|e| e.to_string()),
            )
        }),
        Contender::peer("CPython queue.Queue", move |n| {
            harness::python(PYTHON_QUEUE, n, PYTHON_ITEMS)
        }),
    ];
    Group {
        id: "queue-2t",
        title: format!("queue put/get u64, 1 producer + 1 consumer thread, {CAP} slots"),
        kind: Kind::Throughput,
        items,
        contenders,
        targets: vec![
            Target::new("conkit queue::Queue", "crossbeam_channel::bounded"),
            Target::new("conkit queue::Queue", "CPython queue.Queue"),
        ],
        missing: vec![],
    }
}
