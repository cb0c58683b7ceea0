//! The async forms of `conkit::threading` (issue #14) against tokio's own primitives
//! and CPython's `asyncio`, each awaited by one task on a current-thread runtime (as
//! asyncio: one thread): uncontended `Lock` and `Semaphore` acquire + release; and the
//! async queues (issue #14, the per-primitive mechanism): a ping-pong between two tasks
//! over two one-slot queues, and one producer task / one consumer task through a
//! 1024-slot queue — conkit `queue::Queue` (and the core MPMC ring's own async form)
//! against `tokio::sync::mpsc`, `async-channel` and CPython's `asyncio.Queue`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use conkit_tests::async_queues;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, Target};

/// The benchmarks of this module.
pub fn all(items: u64) -> Vec<(&'static str, Make)> {
    vec![
        ("async-lock", Box::new(move || lock(items))),
        ("async-semaphore", Box::new(move || semaphore(items))),
        (
            "async-queue-pingpong",
            Box::new(move || queue_pingpong(items)),
        ),
        ("async-queue-1p1c", Box::new(move || queue_1p1c(items))),
    ]
}

/// A current-thread runtime, built before the clock starts.
fn runtime() -> Res<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Times `n` rounds of `round` inside one task of a fresh current-thread runtime.
fn timed<F: std::future::Future<Output = bool>>(
    n: u64,
    mut round: impl FnMut() -> F,
) -> Res<Duration> {
    let rt = runtime()?;
    rt.block_on(async {
        let t0 = Instant::now();
        for _ in 0..n {
            if !round().await {
                return Err("WRONG RESULT: a round failed".to_string());
            }
        }
        Ok(t0.elapsed())
    })
}

const PY_LOCK: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def main():
    lock = asyncio.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        async with lock:
            pass
    return time.perf_counter() - t0
print(asyncio.run(main()))
"#;

fn lock(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Lock lock_async", |n| {
            let l = conkit::threading::Lock::new();
            timed(n, || async {
                let g = black_box(&l).lock_async().await;
                drop(g);
                true
            })
        }),
        Contender::peer("tokio::sync::Mutex", |n| {
            let m = tokio::sync::Mutex::new(0u64);
            timed(n, || async {
                *black_box(&m).lock().await += 1;
                true
            })
        }),
        Contender::peer("CPython asyncio.Lock", |n| {
            harness::python(PY_LOCK, n, 1_000_000)
        }),
    ];
    Group {
        id: "async-lock",
        title: "async Lock uncontended acquire + release (one task, current-thread runtime)".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new("conkit threading::Lock lock_async", "tokio::sync::Mutex"),
            Target::new("conkit threading::Lock lock_async", "CPython asyncio.Lock"),
        ],
        missing: vec![],
    }
}

const PY_SEMAPHORE: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def main():
    sem = asyncio.Semaphore(1)
    t0 = time.perf_counter()
    for _ in range(n):
        await sem.acquire()
        sem.release()
    return time.perf_counter() - t0
print(asyncio.run(main()))
"#;

fn semaphore(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Semaphore acquire_async", |n| {
            let s = conkit::threading::Semaphore::new(1);
            timed(n, || async {
                black_box(&s).acquire_async().await;
                s.release().is_ok()
            })
        }),
        Contender::peer("tokio::sync::Semaphore", |n| {
            let s = tokio::sync::Semaphore::new(1);
            timed(n, || async {
                let permit = black_box(&s).acquire().await;
                let ok = permit.is_ok();
                drop(permit);
                ok
            })
        }),
        Contender::peer("CPython asyncio.Semaphore", |n| {
            harness::python(PY_SEMAPHORE, n, 1_000_000)
        }),
    ];
    Group {
        id: "async-semaphore",
        title: "async Semaphore uncontended acquire + release (one task, current-thread runtime)"
            .into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new(
                "conkit threading::Semaphore acquire_async",
                "tokio::sync::Semaphore",
            ),
            Target::new(
                "conkit threading::Semaphore acquire_async",
                "CPython asyncio.Semaphore",
            ),
        ],
        missing: vec![],
    }
}

/// Runs `f` inside a `LocalSet` (so tasks need not be `Send`) on a current-thread
/// runtime, timed.
fn local<F: std::future::Future<Output = Res<Duration>>>(f: impl FnOnce() -> F) -> Res<Duration> {
    async_queues::local(f)?
}

async fn timed_local<F: std::future::Future<Output = bool>>(f: F) -> Res<Duration> {
    let t0 = Instant::now();
    if !f.await {
        return Err("WRONG RESULT: items lost or reordered".to_string());
    }
    Ok(t0.elapsed())
}

const PY_QUEUE_PINGPONG: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def main():
    a, b = asyncio.Queue(1), asyncio.Queue(1)
    async def pong():
        for _ in range(n):
            await b.put(await a.get())
    t0 = time.perf_counter()
    task = asyncio.create_task(pong())
    for i in range(n):
        await a.put(i)
        assert await b.get() == i
    await task
    return time.perf_counter() - t0
print(asyncio.run(main()))
"#;

fn queue_pingpong(items: u64) -> Group<'static> {
    let n = items / 10;
    let contenders = vec![
        Contender::conkit("conkit queue::Queue get_async/put_async", |n| {
            local(|| timed_local(async_queues::pingpong_conkit(n)))
        }),
        Contender::peer("tokio::sync::mpsc", |n| {
            local(|| timed_local(async_queues::pingpong_tokio(n)))
        }),
        Contender::peer("async-channel", |n| {
            local(|| timed_local(async_queues::pingpong_async_channel(n)))
        }),
        Contender::peer("CPython asyncio.Queue", |n| {
            harness::python(PY_QUEUE_PINGPONG, n, 200_000)
        }),
    ];
    Group {
        id: "async-queue-pingpong",
        title: "async queue ping-pong between two tasks (two 1-slot queues, current-thread runtime), per round trip".into(),
        kind: Kind::Latency,
        items: n,
        contenders,
        targets: vec![
            Target::new("conkit queue::Queue get_async/put_async", "tokio::sync::mpsc"),
            Target::new("conkit queue::Queue get_async/put_async", "async-channel"),
            Target::new("conkit queue::Queue get_async/put_async", "CPython asyncio.Queue"),
        ],
        missing: vec![],
    }
}

const PY_QUEUE_1P1C: &str = r#"
import asyncio, sys, time
n = int(sys.argv[1])
async def main():
    q = asyncio.Queue(1024)
    async def produce():
        for i in range(n):
            await q.put(i)
    t0 = time.perf_counter()
    task = asyncio.create_task(produce())
    total = 0
    for _ in range(n):
        total += await q.get()
    await task
    assert total == n * (n - 1) // 2
    return time.perf_counter() - t0
print(asyncio.run(main()))
"#;

fn queue_1p1c(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit queue::Queue get_async/put_async", |n| {
            local(|| timed_local(async_queues::p1c1_conkit(n)))
        }),
        Contender::conkit("conkit core HeapRingQueue get_async/put_async", |n| {
            local(|| timed_local(async_queues::p1c1_heap_ring_queue(n)))
        }),
        Contender::conkit("conkit core MpmcRing pop_async/push_async", |n| {
            local(|| timed_local(async_queues::p1c1_mpmc_ring(n)))
        }),
        Contender::peer("tokio::sync::mpsc", |n| {
            local(|| timed_local(async_queues::p1c1_tokio(n)))
        }),
        Contender::peer("async-channel", |n| {
            local(|| timed_local(async_queues::p1c1_async_channel(n)))
        }),
        Contender::peer("CPython asyncio.Queue", |n| {
            harness::python(PY_QUEUE_1P1C, n, 1_000_000)
        }),
    ];
    Group {
        id: "async-queue-1p1c",
        title: "async queue, one producer task and one consumer task (1024 slots, current-thread runtime)".into(),
        kind: Kind::Throughput,
        items,
        contenders,
        targets: vec![
            Target::new("conkit queue::Queue get_async/put_async", "tokio::sync::mpsc"),
            Target::new("conkit queue::Queue get_async/put_async", "async-channel"),
            Target::new("conkit core MpmcRing pop_async/push_async", "tokio::sync::mpsc"),
            Target::new("conkit queue::Queue get_async/put_async", "CPython asyncio.Queue"),
        ],
        missing: vec![],
    }
}
