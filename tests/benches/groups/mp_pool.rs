//! `conkit::multiprocessing::pool::{Pool, ThreadPool}` against CPython's
//! `multiprocessing.Pool` (run in the same bench run) and `rayon` (Linux only). Issue
//! #13's rows and targets:
//!
//! * `mp-pool-map`: `Pool(2).map` of `x * x` over `u64`s, Python's default chunk size:
//!   ≥ 5× CPython's items per second.
//! * `mp-pool-map-chunksize-1`: the same with `chunksize = 1` (one task per item):
//!   ≥ 20× CPython.
//! * `mp-pool-imap-unordered`: `imap_unordered(chunksize = 1)`, every item consumed
//!   (CPython's default 20× target).
//! * `mp-pool-apply-async`: one `apply_async(square, i).get()` round trip at a time:
//!   ≤ 1/5 of CPython's time.
//! * `mp-pool-create-join`: `Pool(2)` created, closed and joined (workers started with
//!   fork / spawn): spawn ≥ 10× faster than CPython's spawn.
//! * `mp-threadpool-map`: `ThreadPool(2).map` of `x * x` against rayon's
//!   `par_iter().map().collect()` on a 2-thread pool: within 1.5× rayon.
//!
//! The pools of the throughput rows are made once, before the first measurement (as
//! the CPython script makes its pool, and maps 100 items, before its clock starts).
//! All contenders use the `fork` start method except where the row says otherwise.

use std::time::{Duration, Instant};

use conkit::multiprocessing::pool::{Pool, ThreadPool};
use conkit::multiprocessing::StartMethod;
use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, Target};

/// Items per measurement of the map rows (the issue's 100 k).
const MAP_ITEMS: u64 = 100_000;
/// Round trips per measurement of the apply row.
const APPLY_OPS: u64 = 2_000;
/// Pools per measurement of the create row.
const CREATES: u64 = 20;

/// The benchmarks of this module (none off Linux).
pub fn all(_items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![
            (
                "mp-pool-map",
                Box::new(|| map_group("mp-pool-map", None)) as Make,
            ),
            (
                "mp-pool-map-chunksize-1",
                Box::new(|| map_group("mp-pool-map-chunksize-1", Some(1))),
            ),
            ("mp-pool-imap-unordered", Box::new(imap_unordered_group)),
            ("mp-pool-apply-async", Box::new(apply_group)),
            ("mp-pool-create-join", Box::new(create_group)),
            ("mp-threadpool-map", Box::new(threadpool_group)),
        ]
    }
    #[cfg(not(target_os = "linux"))]
    {
        vec![]
    }
}

fn square(x: u64) -> u64 {
    x * x
}

const PY: &str = r#"
import sys, time, multiprocessing as mp
def square(x):
    return x * x
if __name__ == "__main__":
    mode, n, method = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = mp.get_context(method)
    if mode == "create":
        t0 = time.perf_counter()
        for _ in range(n):
            p = ctx.Pool(2)
            p.close()
            p.join()
        print(time.perf_counter() - t0)
        sys.exit(0)
    with ctx.Pool(2) as p:
        p.map(square, range(100))
        t0 = time.perf_counter()
        if mode == "map":
            r = p.map(square, range(n))
            assert r[-1] == (n - 1) ** 2
        elif mode == "map1":
            r = p.map(square, range(n), chunksize=1)
            assert r[-1] == (n - 1) ** 2
        elif mode == "imap1":
            s = sum(p.imap_unordered(square, range(n), chunksize=1))
            assert s == sum(x * x for x in range(n))
        elif mode == "apply":
            for i in range(n):
                assert p.apply_async(square, (i,)).get() == i * i
        t = time.perf_counter() - t0
    print(t)
"#;

/// CPython's peer: the script (written to a file: spawn re-imports `__main__`) with
/// `min(items, cap)` operations, its time scaled to `items`.
fn python(mode: &str, method: &str, items: u64, cap: u64) -> Res<Duration> {
    let path = std::env::temp_dir().join(format!("conkit_mp_pool_{}.py", std::process::id()));
    std::fs::write(&path, PY).map_err(|e| e.to_string())?;
    let n = items.min(cap).max(1);
    let secs = harness::python_seconds(
        std::process::Command::new("python3")
            .arg(&path)
            .arg(mode)
            .arg(n.to_string())
            .arg(method),
    );
    let _ = std::fs::remove_file(&path);
    Ok(Duration::from_secs_f64(secs? * items as f64 / n as f64))
}

fn fork_pool() -> Res<Pool> {
    Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .map_err(|e| e.to_string())
}

/// A contender that makes its pool on first use and keeps it.
fn with_pool(name: &str, mut body: impl FnMut(&Pool, u64) -> Res + 'static) -> Contender<'static> {
    let mut pool: Option<Pool> = None;
    Contender::conkit(name, move |n| {
        if pool.is_none() {
            let p = fork_pool()?;
            p.map(square, 0..100, None).map_err(|e| e.to_string())?;
            pool = Some(p);
        }
        let p = pool.as_ref().ok_or("no pool")?;
        let t = Instant::now();
        body(p, n)?;
        Ok(t.elapsed())
    })
}

fn check_squares(v: &[u64], n: u64) -> Res {
    match v.last() {
        Some(&last) if v.len() as u64 == n && last == (n - 1) * (n - 1) => Ok(()),
        _ => Err("wrong map result".into()),
    }
}

fn map_group(id: &'static str, chunksize: Option<usize>) -> Group<'static> {
    let mode = if chunksize.is_some() { "map1" } else { "map" };
    let cap = if chunksize.is_some() {
        20_000
    } else {
        MAP_ITEMS
    };
    Group {
        id,
        title: match chunksize {
            None => "Pool(2).map(square, 100k items), default chunksize".into(),
            Some(c) => format!("Pool(2).map(square, 100k items, chunksize={c})"),
        },
        kind: Kind::Throughput,
        items: MAP_ITEMS,
        contenders: vec![
            with_pool("conkit Pool.map", move |p, n| {
                let v = p.map(square, 0..n, chunksize).map_err(|e| e.to_string())?;
                check_squares(&v, n)
            }),
            Contender::peer("CPython Pool.map", move |n| python(mode, "fork", n, cap)),
        ],
        targets: vec![Target::with_factor(
            "conkit Pool.map",
            "CPython Pool.map",
            if chunksize.is_some() { 20.0 } else { 5.0 },
        )],
        missing: vec![],
    }
}

fn imap_unordered_group() -> Group<'static> {
    Group {
        id: "mp-pool-imap-unordered",
        title: "Pool(2).imap_unordered(square, 100k items, chunksize=1)".into(),
        kind: Kind::Throughput,
        items: MAP_ITEMS,
        contenders: vec![
            with_pool("conkit Pool.imap_unordered", |p, n| {
                let mut sum = 0u64;
                for r in p
                    .imap_unordered(square, 0..n, 1)
                    .map_err(|e| e.to_string())?
                {
                    sum = sum.wrapping_add(r.map_err(|e| e.to_string())?);
                }
                let want = (0..n).fold(0u64, |s, x| s.wrapping_add(x * x));
                if sum == want {
                    Ok(())
                } else {
                    Err("wrong sum".into())
                }
            }),
            Contender::peer("CPython Pool.imap_unordered", |n| {
                python("imap1", "fork", n, 20_000)
            }),
        ],
        targets: vec![Target::new(
            "conkit Pool.imap_unordered",
            "CPython Pool.imap_unordered",
        )],
        missing: vec![],
    }
}

fn apply_group() -> Group<'static> {
    Group {
        id: "mp-pool-apply-async",
        title: "Pool(2).apply_async(square, (i,)).get() round trip".into(),
        kind: Kind::Latency,
        items: APPLY_OPS,
        contenders: vec![
            with_pool("conkit apply_async().get()", |p, n| {
                for i in 0..n {
                    let r = p.apply_async(square, i).map_err(|e| e.to_string())?;
                    if r.get().map_err(|e| e.to_string())? != i * i {
                        return Err("wrong result".into());
                    }
                }
                Ok(())
            }),
            Contender::peer("CPython apply_async().get()", |n| {
                python("apply", "fork", n, APPLY_OPS)
            }),
        ],
        targets: vec![Target::with_factor(
            "conkit apply_async().get()",
            "CPython apply_async().get()",
            5.0,
        )],
        missing: vec![],
    }
}

fn conkit_create(method: StartMethod, n: u64) -> Res<Duration> {
    let t = Instant::now();
    for _ in 0..n {
        let p = Pool::builder()
            .processes(2)
            .start_method(method)
            .build()
            .map_err(|e| e.to_string())?;
        p.close();
        p.join().map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed())
}

fn create_group() -> Group<'static> {
    Group {
        id: "mp-pool-create-join",
        title: "Pool(2) create + close + join".into(),
        kind: Kind::Latency,
        items: CREATES,
        contenders: vec![
            Contender::conkit("conkit Pool fork", |n| conkit_create(StartMethod::Fork, n)),
            Contender::conkit("conkit Pool spawn", |n| {
                conkit_create(StartMethod::Spawn, n)
            }),
            Contender::peer("CPython Pool fork", |n| {
                python("create", "fork", n, CREATES)
            }),
            Contender::peer("CPython Pool spawn", |n| {
                python("create", "spawn", n, CREATES / 4)
            }),
        ],
        targets: vec![Target::with_factor(
            "conkit Pool spawn",
            "CPython Pool spawn",
            10.0,
        )],
        missing: vec![],
    }
}

/// Items per `ThreadPool.map` / rayon call; a measurement makes 20 calls in a row (one
/// call is ~50 µs: alone, whether the workers happened to be asleep decided the figure).
const TP_CALL: u64 = 100_000;

fn threadpool_group() -> Group<'static> {
    let mut tp: Option<ThreadPool> = None;
    let mut rp: Option<rayon::ThreadPool> = None;
    Group {
        id: "mp-threadpool-map",
        title:
            "ThreadPool(2).map(x * x, 100k items) vs rayon par_iter (2 threads), 20 calls in a row"
                .into(),
        kind: Kind::Throughput,
        items: TP_CALL * 20,
        contenders: vec![
            Contender::conkit("conkit ThreadPool.map", move |n| {
                if tp.is_none() {
                    tp = Some(ThreadPool::new(2).map_err(|e| e.to_string())?);
                }
                let p = tp.as_ref().ok_or("no pool")?;
                let mut took = Duration::ZERO;
                for _ in 0..(n / TP_CALL).max(1) {
                    let per = n.min(TP_CALL);
                    let t = Instant::now();
                    let v = p.map(square, 0..per, None).map_err(|e| e.to_string())?;
                    took += t.elapsed();
                    check_squares(&v, per)?;
                }
                Ok(took)
            }),
            Contender::peer("rayon par_iter().map().collect()", move |n| {
                use rayon::prelude::*;
                if rp.is_none() {
                    rp = Some(
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(2)
                            .build()
                            .map_err(|e| e.to_string())?,
                    );
                }
                let p = rp.as_ref().ok_or("no pool")?;
                let mut took = Duration::ZERO;
                for _ in 0..(n / TP_CALL).max(1) {
                    let per = n.min(TP_CALL);
                    let t = Instant::now();
                    let v: Vec<u64> = p.install(|| (0..per).into_par_iter().map(square).collect());
                    took += t.elapsed();
                    check_squares(&v, per)?;
                }
                Ok(took)
            }),
        ],
        targets: vec![Target::with_factor(
            "conkit ThreadPool.map",
            "rayon par_iter().map().collect()",
            1.0 / 1.5,
        )],
        missing: vec![],
    }
}
