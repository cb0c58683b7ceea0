//! Profiling harness for the `mp-threadpool-map` row of `cargo xtask bench`: runs the
//! row's workload (`map(x * x)` over `0..ITEMS` on a 2-thread pool, CALLS calls in a
//! row) for one contender, so `perf stat -e syscalls:sys_enter_futex,context-switches`
//! and `valgrind --tool=callgrind` can count it per call.
//!
//! `cargo run --release -p conkit-tests --example pool_map -- MODE CALLS [ITEMS]`, MODE
//! one of `conkit`, `rayon`, `both` (CALLS rounds of 20 conkit calls then 20 rayon
//! calls, as the bench alternates them), `serial` (the caller alone: `collect` of the squares),
//! `none` (pool made, no call: the fixed cost to subtract).

use std::time::Instant;

fn square(x: u64) -> u64 {
    x * x
}

fn check(v: &[u64], n: u64) {
    assert_eq!(v.len() as u64, n);
    assert_eq!(v.last().copied(), n.checked_sub(1).map(|l| l * l));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("conkit", String::as_str).to_string();
    let calls: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let items: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut times = Vec::with_capacity(calls as usize);
    match mode.as_str() {
        "conkit" => {
            let p = conkit::multiprocessing::pool::ThreadPool::new(2).expect("pool");
            for _ in 0..calls {
                let t = Instant::now();
                let v = p.map(square, 0..items, None).expect("map");
                times.push(t.elapsed());
                check(&v, items);
            }
        }
        "rayon" => {
            use rayon::prelude::*;
            let p = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("pool");
            for _ in 0..calls {
                let t = Instant::now();
                let v: Vec<u64> = p.install(|| (0..items).into_par_iter().map(square).collect());
                times.push(t.elapsed());
                check(&v, items);
            }
        }
        "both" => {
            // The bench's pattern: 20 conkit calls, then 20 rayon calls, CALLS times;
            // the conkit calls' times are the ones reported.
            use rayon::prelude::*;
            let p = conkit::multiprocessing::pool::ThreadPool::new(2).expect("pool");
            let r = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("pool");
            let mut rayon_times = Vec::new();
            for _ in 0..calls {
                for _ in 0..20 {
                    let t = Instant::now();
                    let v = p.map(square, 0..items, None).expect("map");
                    times.push(t.elapsed());
                    check(&v, items);
                }
                for _ in 0..20 {
                    let t = Instant::now();
                    let v: Vec<u64> =
                        r.install(|| (0..items).into_par_iter().map(square).collect());
                    rayon_times.push(t.elapsed());
                    check(&v, items);
                }
            }
            rayon_times.sort();
            println!(
                "rayon (interleaved): median {:.1} us",
                rayon_times[rayon_times.len() / 2].as_secs_f64() * 1e6
            );
        }
        "serial" => {
            for _ in 0..calls {
                let t = Instant::now();
                let v: Vec<u64> = std::hint::black_box(0..items).map(square).collect();
                times.push(t.elapsed());
                check(&v, items);
            }
        }
        "none" => {
            let _p = conkit::multiprocessing::pool::ThreadPool::new(2).expect("pool");
            let _r = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("pool");
        }
        other => panic!("unknown mode {other}"),
    }
    times.sort();
    if let (Some(lo), Some(hi)) = (times.first(), times.last()) {
        let med = times[times.len() / 2];
        let p10 = times[times.len() / 10];
        let total: f64 = times.iter().map(|t| t.as_secs_f64()).sum();
        println!(
            "{mode}: {calls} calls of {items}: median {:.1} us (p10 {:.1}, min {:.1}, max {:.1}), {:.0} M items/s overall",
            med.as_secs_f64() * 1e6,
            p10.as_secs_f64() * 1e6,
            lo.as_secs_f64() * 1e6,
            hi.as_secs_f64() * 1e6,
            (calls * items) as f64 / total / 1e6
        );
    }
}
