//! The seeds' message about coroutines (seed 002, 协程: "和多线程比，线程数量越多，协程的
//! 性能优势就越明显"; "多进程+协程"), measured: the same producer/consumer as threads, as
//! processes and as coroutines, each beside its CPython peer in the same run, and how
//! many waiters threads and tasks hold before a handoff degrades (issue #14).
//!
//! * `coro-pc`: one producer, one consumer, `min(items, 1 000 000)` small items
//!   (`u64`) through a queue bounded at 1 000, put and got one at a time; the consumer
//!   sums (checked). Contenders: `conkit queue::Queue 2 threads` (blocking `put`/`get`),
//!   `conkit mp::Queue 2 processes` (a forked producer, blocking forms),
//!   `conkit mp::Queue 2 processes, consumer task` (the parent consumes with
//!   `get_async` on a current-thread runtime: the producer process's puts wake it
//!   through `multiprocessing::asynch`'s proxy), `conkit queue::Queue 2 tasks`
//!   (`put_async`/`get_async` on one current-thread runtime: coroutines), and CPython's
//!   `threading` + `queue.Queue(1000)`, `multiprocessing.Queue(1000)` (fork) and
//!   `asyncio.Queue(1000)` (capped at 200 000 items and scaled, except asyncio). Targets:
//!   each conkit form ≥ 20× its CPython peer.
//! * `coro-waiters-N`: N waiters parked on an empty `queue::Queue` (threads blocked in
//!   `get`, or tasks of one current-thread runtime awaiting `get_async`), then N items
//!   put one after another; the time from the first put to the last waiter done, per
//!   handoff (ns). N threads = 10 / 100 / 1 000, N tasks = 10 / 1 000 / 100 000 (the
//!   rows share the N where both exist), each beside CPython's `threading` +
//!   `queue.Queue` and `asyncio.Queue` with the same N. No target: the table shows
//!   where each degrades.
//! * `coro-mp-pingpong`: the cost of waking a task from another process
//!   (`multiprocessing::asynch`'s proxy hop): a forked child and the parent bounce a
//!   turn through two process-shared `Semaphore(0)`s, `min(items, 20 000)` round trips;
//!   the parent awaits with `acquire_async` on a current-thread runtime, or blocks in
//!   `acquire` (the same without a task), against CPython's two
//!   `multiprocessing.Semaphore`s with a forked `Process`. The blocking parent spins
//!   before it sleeps (≈0.1 µs a round trip while both have a core); a task cannot
//!   spin on its executor's thread, so its wake is two thread wake-ups (the proxy's
//!   futex, then the runtime's thread). Target: the task form at least as fast as
//!   CPython (a round trip is kernel wake-ups, not interpreter time: not the 20× of
//!   the other CPython rows).

use std::sync::Arc;
use std::time::{Duration, Instant};

use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, StartLine, Target};

/// The producer/consumer's item count at most (the seeds' million).
const PC_ITEMS: u64 = 1_000_000;

/// The producer/consumer's queue bound.
const BOUND: usize = 1_000;

/// The benchmarks of this module.
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    let mut v: Vec<(&'static str, Make)> = vec![(
        "coro-pc",
        Box::new(move || producer_consumer(items.min(PC_ITEMS))),
    )];
    v.push((
        "coro-waiters-10",
        Box::new(|| waiters("coro-waiters-10", 10, true, true)),
    ));
    v.push((
        "coro-waiters-100",
        Box::new(|| waiters("coro-waiters-100", 100, true, false)),
    ));
    v.push((
        "coro-waiters-1000",
        Box::new(|| waiters("coro-waiters-1000", 1000, true, true)),
    ));
    #[cfg(target_os = "linux")]
    v.push((
        "coro-mp-pingpong",
        Box::new(move || mp_pingpong(items.min(PINGPONG_ITEMS))),
    ));
    v.push((
        "coro-waiters-100000",
        Box::new(|| waiters("coro-waiters-100000", 100_000, false, true)),
    ));
    v
}

/// A current-thread runtime (one thread, as asyncio), built before the clock starts.
fn runtime() -> Res<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn check(sum: u64, n: u64) -> Res {
    if sum == harness::tri(n) {
        Ok(())
    } else {
        Err(format!(
            "WRONG RESULT: sum {sum}, expected {}",
            harness::tri(n)
        ))
    }
}

const PY_THREADS_PC: &str = r#"
import sys, time, threading, queue
n = int(sys.argv[1])
q = queue.Queue(1000)
def producer():
    for i in range(1, n + 1):
        q.put(i)
t0 = time.perf_counter()
p = threading.Thread(target=producer)
p.start()
s = 0
for _ in range(n):
    s += q.get()
t = time.perf_counter() - t0
p.join()
assert s == n * (n + 1) // 2
print(t)
"#;

const PY_MP_PC: &str = r#"
import sys, time
import multiprocessing as mp

def producer(q, n):
    for i in range(1, n + 1):
        q.put(i)

if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    q = ctx.Queue(1000)
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

const PY_ASYNCIO_PC: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def producer(q):
    for i in range(1, n + 1):
        await q.put(i)
async def main():
    q = asyncio.Queue(1000)
    t0 = time.perf_counter()
    p = asyncio.create_task(producer(q))
    s = 0
    for _ in range(n):
        s += await q.get()
    await p
    t = time.perf_counter() - t0
    assert s == n * (n + 1) // 2
    return t
print(asyncio.run(main()))
"#;

const THREADS: &str = "conkit queue::Queue 2 threads";
const PROCESSES: &str = "conkit mp::Queue 2 processes";
const PROCESSES_TASK: &str = "conkit mp::Queue 2 processes, consumer task";
const TASKS: &str = "conkit queue::Queue 2 tasks";
const PY_THREADS: &str = "CPython threading + queue.Queue";
const PY_PROCESSES: &str = "CPython multiprocessing.Queue";
const PY_TASKS: &str = "CPython asyncio.Queue";

fn producer_consumer(items: u64) -> Group<'static> {
    let mut contenders = vec![
        Contender::conkit(THREADS, threads_pc),
        Contender::conkit(TASKS, tasks_pc),
        Contender::peer(PY_THREADS, |n| harness::python(PY_THREADS_PC, n, 200_000)),
        Contender::peer(PY_TASKS, |n| harness::python(PY_ASYNCIO_PC, n, PC_ITEMS)),
    ];
    let mut targets = vec![
        Target::new(THREADS, PY_THREADS),
        Target::new(TASKS, PY_TASKS),
    ];
    #[cfg(target_os = "linux")]
    {
        contenders.push(Contender::conkit(PROCESSES, |n| processes_pc(n, false)));
        contenders.push(Contender::conkit(PROCESSES_TASK, |n| processes_pc(n, true)));
        contenders.push(Contender::peer(PY_PROCESSES, |n| {
            harness::python(PY_MP_PC, n, 200_000)
        }));
        targets.push(Target::new(PROCESSES, PY_PROCESSES));
        targets.push(Target::new(PROCESSES_TASK, PY_PROCESSES));
    }
    Group {
        id: "coro-pc",
        title: format!(
            "producer/consumer of {items} u64 items, queue bounded at {BOUND}: threads, \
             processes and coroutines (tokio current-thread tasks), each vs CPython's"
        ),
        kind: Kind::Throughput,
        items,
        contenders,
        targets,
        missing: vec![],
    }
}

fn threads_pc(n: u64) -> Res<Duration> {
    let q: conkit::queue::Queue<u64> = conkit::queue::Queue::new(BOUND);
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
        let deadline = harness::deadline(n);
        let mut sum = 0u64;
        for _ in 0..n {
            sum += q.get_until(deadline).map_err(|e| format!("get: {e}"))?;
        }
        let d = t0.elapsed();
        p.join().map_err(|_| "producer panicked".to_string())??;
        check(sum, n)?;
        Ok(d)
    })
}

fn tasks_pc(n: u64) -> Res<Duration> {
    let rt = runtime()?;
    let q = Arc::new(conkit::queue::Queue::<u64>::new(BOUND));
    rt.block_on(async {
        let t0 = Instant::now();
        let theirs = Arc::clone(&q);
        let producer = tokio::spawn(async move {
            let q = theirs;
            for i in 1..=n {
                if q.put_async(i).await.is_err() {
                    return false;
                }
            }
            true
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum += q.get_async().await.map_err(|e| format!("get: {e}"))?;
        }
        let d = t0.elapsed();
        if !producer.await.map_err(|e| format!("producer: {e}"))? {
            return Err("producer: put failed".to_string());
        }
        check(sum, n)?;
        Ok(d)
    })
}

#[cfg(target_os = "linux")]
fn processes_pc(n: u64, consumer_task: bool) -> Res<Duration> {
    use conkit::multiprocessing::Queue;
    use conkit_tests::process::{fork, Exit, SharedMem};

    let q: Queue<u64> = Queue::new(BOUND).map_err(|e| e.to_string())?;
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
    let rt = runtime()?;
    let t0 = line.wait();
    let mut sum = 0u64;
    if consumer_task {
        rt.block_on(async {
            for _ in 0..n {
                sum += q.get_async().await.map_err(|e| format!("get: {e}"))?;
                if Instant::now() > deadline {
                    return Err("stalled".to_string());
                }
            }
            Res::Ok(())
        })?;
    } else {
        for _ in 0..n {
            // On an error the child is killed when dropped.
            sum += q.get_until(deadline).map_err(|e| format!("get: {e}"))?;
        }
    }
    let d = t0.elapsed();
    match child.wait() {
        Exit::Code(0) => {}
        other => return Err(format!("child: {other:?}")),
    }
    check(sum, n)?;
    Ok(d)
}

const PY_THREAD_WAITERS: &str = r#"
import sys, time, threading, queue
n = int(sys.argv[1])
q = queue.Queue()
started = threading.Semaphore(0)
def waiter():
    started.release()
    q.get()
ts = [threading.Thread(target=waiter) for _ in range(n)]
for t in ts:
    t.start()
for _ in range(n):
    started.acquire()
time.sleep(0.05)
t0 = time.perf_counter()
for i in range(n):
    q.put(i)
for t in ts:
    t.join()
print(time.perf_counter() - t0)
"#;

const PY_TASK_WAITERS: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def main():
    q = asyncio.Queue()
    tasks = [asyncio.create_task(q.get()) for _ in range(n)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    for i in range(n):
        q.put_nowait(i)
    got = await asyncio.gather(*tasks)
    t = time.perf_counter() - t0
    assert sorted(got) == list(range(n))
    return t
print(asyncio.run(main()))
"#;

fn waiters(id: &'static str, n: u64, threads: bool, tasks: bool) -> Group<'static> {
    let mut contenders = Vec::new();
    if threads {
        contenders.push(Contender::conkit(
            "conkit queue::Queue threads",
            thread_waiters,
        ));
        contenders.push(Contender::peer("CPython threading + queue.Queue", |n| {
            harness::python(PY_THREAD_WAITERS, n, n)
        }));
    }
    if tasks {
        contenders.push(Contender::conkit("conkit queue::Queue tasks", task_waiters));
        contenders.push(Contender::peer("CPython asyncio.Queue", |n| {
            harness::python(PY_TASK_WAITERS, n, n)
        }));
    }
    Group {
        id,
        title: format!(
            "{n} waiters parked on one empty queue, then {n} items put: time per handoff \
             (threads blocked in get / tokio current-thread tasks in get_async)"
        ),
        kind: Kind::Latency,
        items: n,
        contenders,
        targets: vec![],
        missing: vec![],
    }
}

fn thread_waiters(n: u64) -> Res<Duration> {
    let q: conkit::queue::Queue<u64> = conkit::queue::Queue::new(0);
    let started = conkit::threading::Semaphore::new(0);
    let deadline = harness::deadline(n);
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    started.release().map_err(|e| e.to_string())?;
                    q.get_until(deadline).map_err(|e| format!("get: {e}"))
                })
            })
            .collect();
        for _ in 0..n {
            started.acquire();
        }
        std::thread::sleep(Duration::from_millis(50)); // all parked in get
        let t0 = Instant::now();
        for i in 0..n {
            q.put(i).map_err(|e| format!("put: {e}"))?;
        }
        let mut sum = 0;
        for w in waiters {
            sum += w.join().map_err(|_| "waiter panicked".to_string())??;
        }
        let d = t0.elapsed();
        check(sum + n, n)?; // 0..n sums to tri(n) - n
        Ok(d)
    })
}

fn task_waiters(n: u64) -> Res<Duration> {
    let rt = runtime()?;
    let q = Arc::new(conkit::queue::Queue::<u64>::new(0));
    rt.block_on(async {
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                let q = Arc::clone(&q);
                tokio::spawn(async move { q.get_async().await })
            })
            .collect();
        // Each task runs once and parks in get_async.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let t0 = Instant::now();
        for i in 0..n {
            q.put(i).map_err(|e| format!("put: {e}"))?;
        }
        let mut sum = 0;
        for w in waiters {
            sum += w
                .await
                .map_err(|e| format!("waiter: {e}"))?
                .map_err(|e| format!("get: {e}"))?;
        }
        let d = t0.elapsed();
        check(sum + n, n)?;
        Ok(d)
    })
}

/// The cross-process ping-pong's round trips at most.
#[cfg(target_os = "linux")]
const PINGPONG_ITEMS: u64 = 20_000;

#[cfg(target_os = "linux")]
const PY_MP_PINGPONG: &str = r#"
import sys, time
import multiprocessing as mp

def child(ping, pong, n):
    for _ in range(n):
        ping.acquire()
        pong.release()

if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    ping, pong = ctx.Semaphore(0), ctx.Semaphore(0)
    p = ctx.Process(target=child, args=(ping, pong, n))
    p.start()
    t0 = time.perf_counter()
    for _ in range(n):
        ping.release()
        pong.acquire()
    t = time.perf_counter() - t0
    p.join()
    print(t)
"#;

#[cfg(target_os = "linux")]
fn mp_pingpong(items: u64) -> Group<'static> {
    const TASK: &str = "conkit mp::Semaphore, parent task (acquire_async)";
    const BLOCKING: &str = "conkit mp::Semaphore, parent blocking (acquire)";
    const PY: &str = "CPython multiprocessing.Semaphore";
    Group {
        id: "coro-mp-pingpong",
        title: format!(
            "{items} round trips between two processes through two shared Semaphore(0)s: \
             a parent task woken from the other process vs a blocking parent vs CPython"
        ),
        kind: Kind::Latency,
        items,
        contenders: vec![
            Contender::conkit(TASK, |n| pingpong_run(n, true)),
            Contender::peer(BLOCKING, |n| pingpong_run(n, false)),
            Contender::peer(PY, |n| harness::python(PY_MP_PINGPONG, n, PINGPONG_ITEMS)),
        ],
        targets: vec![Target::with_factor(TASK, PY, 1.0)],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn pingpong_run(n: u64, task: bool) -> Res<Duration> {
    use conkit::multiprocessing::Semaphore;
    use conkit_tests::process::{fork, Exit, SharedMem};

    let ping = Semaphore::try_new(0).map_err(|e| e.to_string())?;
    let pong = Semaphore::try_new(0).map_err(|e| e.to_string())?;
    let line = SharedMem::new(|| StartLine::new(2));
    let limit = Duration::from_secs(10);
    let child = fork(|| {
        line.wait();
        for _ in 0..n {
            if !ping.acquire_timeout(limit) || pong.release().is_err() {
                return 1;
            }
        }
        0
    });
    let rt = runtime()?;
    let deadline = harness::deadline(n);
    let t0 = line.wait();
    if task {
        rt.block_on(async {
            for _ in 0..n {
                ping.release().map_err(|e| e.to_string())?;
                pong.acquire_async().await;
                if Instant::now() > deadline {
                    return Err("stalled".to_string());
                }
            }
            Res::Ok(())
        })?;
    } else {
        for _ in 0..n {
            ping.release().map_err(|e| e.to_string())?;
            if !pong.acquire_timeout(limit) {
                return Err("stalled".to_string());
            }
        }
    }
    let d = t0.elapsed();
    match child.wait() {
        Exit::Code(0) => {}
        other => return Err(format!("child: {other:?}")),
    }
    Ok(d)
}
