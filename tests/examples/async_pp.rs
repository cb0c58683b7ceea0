//! Profiling harness for the async rows of `cargo xtask bench` (issue #14): runs exactly
//! the bench's `async-queue-pingpong` (or `async-queue-1p1c`) workload of one contender
//! (`conkit_tests::async_queues`, shared with the bench) for N round trips (items), so
//! `valgrind --tool=callgrind` can count it.
//!
//! `cargo run --release -p conkit-tests --example async_pp -- MODE N`, MODE one of
//! `conkit`, `tokio`, `async-channel`, `conkit-1p1c`, `heap-1p1c`, `mpmc-1p1c`,
//! `tokio-1p1c`, `async-channel-1p1c`, `none` (runtime only).

use std::time::Instant;

use conkit_tests::async_queues::{self as w, local};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("conkit", String::as_str).to_string();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let t0 = Instant::now();
    let ok = match mode.as_str() {
        "conkit" => local(|| w::pingpong_conkit(n)),
        "tokio" => local(|| w::pingpong_tokio(n)),
        "async-channel" => local(|| w::pingpong_async_channel(n)),
        "conkit-1p1c" => local(|| w::p1c1_conkit(n)),
        "heap-1p1c" => local(|| w::p1c1_heap_ring_queue(n)),
        "mpmc-1p1c" => local(|| w::p1c1_mpmc_ring(n)),
        "tokio-1p1c" => local(|| w::p1c1_tokio(n)),
        "async-channel-1p1c" => local(|| w::p1c1_async_channel(n)),
        _ => local(|| async { true }),
    };
    let dt = t0.elapsed();
    assert_eq!(ok, Ok(true), "wrong result");
    println!(
        "{mode} {n}: {:.1} ns/item",
        dt.as_nanos() as f64 / n.max(1) as f64
    );
}
