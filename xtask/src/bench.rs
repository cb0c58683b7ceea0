//! `cargo xtask bench [--quick] [--reps N] [--items N] [--out PATH] [--strict] [--list] [FILTER...]`
//!
//! Runs `cargo bench -p conkit-tests --bench core -- <args>`: conkit and its peers
//! (rtrb, ringbuf, heapless, crossbeam, spin, std, parking_lot, tokio, crossbeam-channel,
//! and CPython 3 running the same workloads) measured side by side in one run,
//! interleaved within each repetition, and printed as a markdown table of medians and
//! per-repetition ratios (also written to `target/bench/core.md`). The harness lives in
//! `tests/benches/core.rs` and `tests/benches/harness/mod.rs`.

use crate::util::{self, Res};

/// Runs the benchmarks, forwarding `args` to the harness.
pub fn run(args: &[String]) -> Res {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!(
            "usage: cargo xtask bench [--quick] [--reps N] [--items N] [--out PATH] [--strict] \
             [--list] [FILTER...]\n\
             \n  --quick     5 repetitions of 1 M items (a smoke run, well under a minute)\
             \n  --reps N    repetitions (default 11)\
             \n  --items N   items or operations per measurement (default 10 M)\
             \n  --out PATH  where to write the markdown table (default target/bench/core.md)\
             \n  --strict    exit non-zero if a conkit target is missed\
             \n  --list      print the benchmark ids\
             \n  FILTER      run only the benchmarks whose id contains it (spsc, spsc-pingpong, spsc-work, mpmc, lock, threading, queue, ...)"
        );
        return Ok(());
    }
    util::step("bench: conkit vs peers (release profile, interleaved repetitions)");
    let mut cmd = util::cargo();
    cmd.args(["bench", "-p", "conkit-tests", "--bench", "core", "--"])
        .args(args);
    util::run(&mut cmd)
}
