//! `threading::Lock` scaling (issue #11): T threads on 2 cores (pinned alternately to
//! the first two), each doing N/T increments of one counter under the lock, for
//! T = 2, 4, 8, 16, against `parking_lot::Mutex` and `std::sync::Mutex`. More threads
//! than cores means preempted holders and sleeping waiters: the run that found
//! `threading::Lock` flat at ~30 M/s while parking_lot rose to ~52 M/s (a release made
//! a wake call after every contended episode, even with nobody asleep).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Make;
use crate::harness::{cores, pin, Contender, Group, Kind, Res, StartLine, Target};

/// The thread counts of the rows.
const THREADS: [usize; 4] = [2, 4, 8, 16];

/// The benchmarks of this module: one group per thread count.
pub fn all(items: u64) -> Vec<(&'static str, Make)> {
    THREADS
        .iter()
        .map(|&t| {
            let id: &'static str = match t {
                2 => "threading-lock-scaling-2",
                4 => "threading-lock-scaling-4",
                8 => "threading-lock-scaling-8",
                _ => "threading-lock-scaling-16",
            };
            let make: Make = Box::new(move || scaling(id, items, t));
            (id, make)
        })
        .collect()
}

/// A counter incremented with a separate load and store: a lock that lets two threads
/// in at once loses updates, which the count check catches.
fn racy_increment(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// `threads` threads, pinned alternately to the first two cores, share `items`
/// increments (the first `items % threads` do one more), each through `inc`; returns
/// the time from the start line to the last thread done, after checking that
/// `count()` is `items` (no lost update).
fn run_threads<L: Sync>(
    items: u64,
    threads: usize,
    lock: &L,
    inc: impl Fn(&L) + Sync,
    count: impl FnOnce(&L) -> u64,
) -> Res<Duration> {
    let cores = cores();
    let start = StartLine::new(threads);
    let t = threads as u64;
    let (t0, end, done) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let k = items / t + u64::from((i as u64) < items % t);
                let core = cores.get(i % 2).or(cores.first()).copied();
                let (start, inc) = (&start, &inc);
                s.spawn(move || {
                    pin(core);
                    let t0 = start.wait();
                    for _ in 0..k {
                        inc(black_box(lock));
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        let times: Vec<(Instant, Instant)> = hs.into_iter().filter_map(|h| h.join().ok()).collect();
        (
            times.iter().map(|t| t.0).min(),
            times.iter().map(|t| t.1).max(),
            times.len(),
        )
    });
    let (Some(t0), Some(end)) = (t0, end) else {
        return Err("no worker thread finished".into());
    };
    if done != threads {
        return Err("a worker thread panicked".into());
    }
    match count(lock) {
        got if got == items => Ok(end - t0),
        got => Err(format!("WRONG RESULT: counted {got}, expected {items}")),
    }
}

fn scaling(id: &'static str, items: u64, threads: usize) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Lock", move |n| {
            let pair = (conkit::threading::Lock::new(), AtomicU64::new(0));
            run_threads(
                n,
                threads,
                &pair,
                |(l, c)| {
                    let _g = l.lock();
                    racy_increment(c);
                },
                |(_, c)| c.load(Ordering::Relaxed),
            )
        }),
        Contender::peer("parking_lot::Mutex", move |n| {
            let m = parking_lot::Mutex::new(0u64);
            run_threads(n, threads, &m, |m| *m.lock() += 1, |m| *m.lock())
        }),
        Contender::peer("std Mutex", move |n| {
            let m = std::sync::Mutex::new(0u64);
            run_threads(
                n,
                threads,
                &m,
                |m| *m.lock().unwrap_or_else(|p| p.into_inner()) += 1,
                |m| *m.lock().unwrap_or_else(|p| p.into_inner()),
            )
        }),
    ];
    Group {
        id,
        title: format!(
            "threading::Lock, {threads} threads on 2 cores × N/{threads} increments of one counter"
        ),
        kind: Kind::Throughput,
        items,
        contenders,
        targets: vec![
            Target::new("conkit threading::Lock", "parking_lot::Mutex"),
            Target::new("conkit threading::Lock", "std Mutex"),
        ],
        missing: vec![],
    }
}
