//! `conkit::multiprocessing::Queue` between two processes against CPython's
//! `multiprocessing.Queue`, and against `conkit::queue::Queue` between two threads for
//! context (Linux only).
//!
//! * `mp-queue`: a producer puts the small serde values `1..=items` (`u64`, 1–10 bytes
//!   encoded) one `put` at a time; the consumer `get`s them one at a time and sums
//!   (the sum is checked). Contenders: `conkit mp::Queue 2 processes` (an unbounded
//!   queue, 1 MiB ring; the producer a forked child, both sides blocking forms),
//!   `conkit queue::Queue 2 threads` (the thread queue, unbounded), and CPython's
//!   `multiprocessing.Queue` with a `fork`ed `Process` producer (timed inside Python
//!   from `start()` to the last `get`; capped at 200 000 items and scaled). Target
//!   (issue #12): ≥ 20× CPython's messages per second.
//!
//! The time runs on the consumer (the parent) from a start line in shared memory to
//! the last item.

use std::time::Duration;

use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, StartLine, Target};

/// The benchmarks of this module (none off Linux).
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![("mp-queue", Box::new(move || mp_queue(items)) as Make)]
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = items;
        vec![]
    }
}

/// CPython's peer: a forked producer process, the parent gets and sums.
const PY_MP_QUEUE: &str = r#"
import sys, time
import multiprocessing as mp

def producer(q, n):
    for i in range(1, n + 1):
        q.put(i)

if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t0 = time.perf_counter()
    p = ctx.Process(target=producer, args=(q, n))
    p.start()
    s = 0
    for _ in range(n):
        s += q.get()
    t = time.perf_counter() - t0
    p.join()
    assert s == n * (n + 1) // 2
    print(t)
"#;

/// The expected sum of `1..=n`.
fn tri(n: u64) -> u64 {
    n * (n + 1) / 2
}

fn check(sum: u64, n: u64) -> Res {
    if sum == tri(n) {
        Ok(())
    } else {
        Err(format!("sum {sum}, expected {}", tri(n)))
    }
}

#[cfg(target_os = "linux")]
fn mp_queue(items: u64) -> Group<'static> {
    Group {
        id: "mp-queue",
        title: "Queue of u64 serde values, 1 producer + 1 consumer, put/get one at a time: \
                conkit multiprocessing::Queue between two processes vs CPython's \
                multiprocessing.Queue (fork) and conkit queue::Queue between two threads"
            .into(),
        kind: Kind::Throughput,
        items,
        contenders: vec![
            Contender::conkit("conkit mp::Queue 2 processes", mp_queue_run),
            Contender::peer("conkit queue::Queue 2 threads", thread_queue_run),
            Contender::peer("CPython multiprocessing.Queue", move |n| {
                harness::python(PY_MP_QUEUE, n, 200_000)
            }),
        ],
        targets: vec![Target::new(
            "conkit mp::Queue 2 processes",
            "CPython multiprocessing.Queue",
        )],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn mp_queue_run(n: u64) -> Res<Duration> {
    use conkit::multiprocessing::Queue;
    use conkit_tests::process::{fork, Exit, SharedMem};

    let q: Queue<u64> = Queue::new(0).map_err(|e| e.to_string())?;
    let line = SharedMem::new(|| StartLine::new(2));
    let child = fork(|| {
        line.wait();
        for i in 1..=n {
            if q.put(i).is_err() {
                return 1;
            }
        }
        0
    });
    let deadline = harness::deadline(n);
    let t0 = line.wait();
    let mut sum = 0u64;
    for _ in 0..n {
        // On an error the child is killed when dropped.
        sum += q.get_until(deadline).map_err(|e| format!("get: {e}"))?;
    }
    let d = t0.elapsed();
    match child.wait() {
        Exit::Code(0) => {}
        other => return Err(format!("child: {other:?}")),
    }
    check(sum, n)?;
    Ok(d)
}

fn thread_queue_run(n: u64) -> Res<Duration> {
    let q: conkit::queue::Queue<u64> = conkit::queue::Queue::new(0);
    let line = StartLine::new(2);
    std::thread::scope(|s| {
        let p = s.spawn(|| {
            line.wait();
            for i in 1..=n {
                q.put(i).map_err(|e| format!("put: {e}"))?;
            }
            Res::Ok(())
        });
        let t0 = line.wait();
        let mut sum = 0u64;
        let deadline = harness::deadline(n);
        for _ in 0..n {
            sum += q.get_until(deadline).map_err(|e| format!("get: {e}"))?;
        }
        let d = t0.elapsed();
        p.join().map_err(|_| "producer panicked".to_string())??;
        check(sum, n)?;
        Ok(d)
    })
}
