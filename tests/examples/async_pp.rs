//! Profiling harness for the async rows of `cargo xtask bench` (issue #14): runs exactly
//! the bench's `async-queue-pingpong` (or `async-queue-1p1c`) workload of one contender
//! (`conkit_tests::async_queues`, shared with the bench) for N round trips (items), so
//! `valgrind --tool=callgrind` can count it.
//!
//! `cargo run --release -p conkit-tests --example async_pp -- MODE N`, MODE one of
//! `conkit`, `tokio`, `async-channel`, `conkit-1p1c`, `heap-1p1c`, `mpmc-1p1c`,
//! `tokio-1p1c`, `async-channel-1p1c`, `none` (runtime only).
//!
//! `... --example async_pp -- ab MODE1,MODE2,... N REPS` alternates the modes REPS
//! times in this one process (N items each) and prints, per mode, the median, min and
//! max of the process's CPU time per item (`CLOCK_PROCESS_CPUTIME_ID`, all threads;
//! the runtime's build of a few microseconds included), and the median wall time: fine-grained interleaving on a loaded host, where wall time mostly
//! measures the neighbours.
//!
//! Store-forwarding stalls (the two issue #14 found in the RingQueue futures) do not
//! show in instruction counts: `tests/tools/stlf_check.py` replays a
//! `valgrind --tool=lackey --trace-mem=yes` trace of this example (or of the bench
//! binary's rows) through a store-buffer model and lists the loads that cannot be
//! forwarded.

use std::time::{Duration, Instant};

use conkit_tests::async_queues::{self as w, local};

/// Runs one workload of `mode` for `n` items; `None` for an unknown mode.
fn run(mode: &str, n: u64) -> Option<Result<bool, String>> {
    Some(match mode {
        "conkit" => local(|| w::pingpong_conkit(n)),
        "tokio" => local(|| w::pingpong_tokio(n)),
        "async-channel" => local(|| w::pingpong_async_channel(n)),
        "conkit-1p1c" => local(|| w::p1c1_conkit(n)),
        "heap-1p1c" => local(|| w::p1c1_heap_ring_queue(n)),
        "mpmc-1p1c" => local(|| w::p1c1_mpmc_ring(n)),
        "tokio-1p1c" => local(|| w::p1c1_tokio(n)),
        "async-channel-1p1c" => local(|| w::p1c1_async_channel(n)),
        "none" => local(|| async { true }),
        _ => return None,
    })
}

/// This process's CPU time (all its threads).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let _ = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// `ab MODES N REPS` (see the module docs).
fn ab(modes: &str, n: u64, reps: usize) {
    let modes: Vec<&str> = modes.split(',').collect();
    let per_item = |d: Duration| d.as_nanos() as f64 / n.max(1) as f64;
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); modes.len()];
    for _ in 0..reps {
        for (m, (cpu, wall)) in modes.iter().zip(&mut times) {
            let (c0, w0) = (cpu_time(), Instant::now());
            let ok = run(m, n);
            let (dc, dw) = (cpu_time().saturating_sub(c0), w0.elapsed());
            assert_eq!(ok, Some(Ok(true)), "{m}: wrong result or unknown mode");
            cpu.push(per_item(dc));
            wall.push(per_item(dw));
        }
    }
    for (m, (cpu, wall)) in modes.iter().zip(&mut times) {
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        println!(
            "{m:>20}: CPU median {:7.1} ns/item (min {:7.1}, max {:7.1}); wall median {:7.1} ({reps} reps of {n})",
            cpu[cpu.len() / 2],
            cpu[0],
            cpu[cpu.len() - 1],
            wall[wall.len() / 2]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("conkit", String::as_str).to_string();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    if mode == "ab" {
        let modes = args.get(2).map_or("conkit,tokio", String::as_str);
        let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
        let reps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(30);
        ab(modes, n, reps.max(1));
        return;
    }
    let t0 = Instant::now();
    let ok = run(&mode, n);
    let dt = t0.elapsed();
    assert_eq!(ok, Some(Ok(true)), "wrong result or unknown mode");
    println!(
        "{mode} {n}: {:.1} ns/item",
        dt.as_nanos() as f64 / n.max(1) as f64
    );
}
