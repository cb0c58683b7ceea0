//! The async forms of `conkit::threading` (issue #14) against tokio's own primitives
//! and CPython's `asyncio`, each awaited by one task on a current-thread runtime (as
//! asyncio: one thread): uncontended `Lock` and `Semaphore` acquire + release, and an
//! `Event` ping-pong between two tasks of that runtime.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, Target};

/// The benchmarks of this module.
pub fn all(items: u64) -> Vec<(&'static str, Make)> {
    vec![
        ("async-lock", Box::new(move || lock(items))),
        ("async-semaphore", Box::new(move || semaphore(items))),
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
