//! Profiling harness for the `queue-2t` row of `cargo xtask bench`: runs the row's
//! workload (one producer thread `put`s `1..=ITEMS`, one consumer thread `get`s them and
//! sums them, through 1024 slots, blocking calls, threads not pinned) for one
//! contender, ROUNDS times, so `perf stat -e syscalls:sys_enter_futex,context-switches`
//! can count it per item. Prints, per round, the wall time and each thread's CPU time
//! and context switches (voluntary = it slept, involuntary = it was preempted), from
//! `getrusage(RUSAGE_THREAD)`.
//!
//! `cargo run --release -p conkit-tests --example queue_2t -- MODE [ITEMS] [ROUNDS] [pin]`,
//! MODE one of `conkit`, `crossbeam`, `std`, `bench-conkit` / `bench-crossbeam` (the
//! row's own code, copied), `pp-conkit` / `pp-crossbeam` (ITEMS round trips of one item
//! through two queues); `pin` puts the producer on core 0 and the
//! consumer on core 1 (the row does not pin).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CAP: usize = 1024;

/// CPU time, voluntary and involuntary context switches of the calling thread.
fn thread_usage() -> (Duration, i64, i64) {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    (t(u.ru_utime) + t(u.ru_stime), u.ru_nvcsw, u.ru_nivcsw)
}

fn delta(a: (Duration, i64, i64), b: (Duration, i64, i64)) -> (Duration, i64, i64) {
    (b.0 - a.0, b.1 - a.1, b.2 - a.2)
}

type Usage = (Duration, i64, i64);

fn two_threads(
    items: u64,
    pin: bool,
    mut put: impl FnMut(u64) + Send,
    mut get: impl FnMut() -> u64 + Send,
) -> (Duration, Usage, Usage) {
    let ready = AtomicUsize::new(0);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = |i: usize| if pin { cores.get(i).copied() } else { None };
    std::thread::scope(|s| {
        let ready = &ready;
        let p = s.spawn(move || {
            if let Some(c) = core(0) {
                core_affinity::set_for_current(c);
            }
            ready.fetch_add(1, Ordering::SeqCst);
            while ready.load(Ordering::SeqCst) < 2 {
                std::hint::spin_loop();
            }
            let u0 = thread_usage();
            for v in 1..=items {
                put(v);
            }
            delta(u0, thread_usage())
        });
        let c = s.spawn(move || {
            if let Some(c) = core(1) {
                core_affinity::set_for_current(c);
            }
            ready.fetch_add(1, Ordering::SeqCst);
            while ready.load(Ordering::SeqCst) < 2 {
                std::hint::spin_loop();
            }
            let u0 = thread_usage();
            let t0 = Instant::now();
            let mut sum = 0u64;
            for _ in 0..items {
                sum = sum.wrapping_add(get());
            }
            let d = t0.elapsed();
            assert_eq!(sum, items * (items + 1) / 2, "items lost");
            (d, delta(u0, thread_usage()))
        });
        let pu = p.join().expect("producer");
        let (d, cu) = c.join().expect("consumer");
        (d, pu, cu)
    })
}

/// Round trips of one item between two threads through two queues (a latency check:
/// the consumer never has a batch to wait for).
fn pingpong(mode: &str, trips: u64) -> Duration {
    let (a, b) = (
        conkit::queue::Queue::new(CAP),
        conkit::queue::Queue::new(CAP),
    );
    let (a, b) = (&a, &b);
    std::thread::scope(|s| {
        if mode == "pp-conkit" {
            s.spawn(move || {
                for _ in 0..trips {
                    let v: u64 = a.get().expect("get");
                    b.put(v).expect("put");
                }
            });
            let t0 = Instant::now();
            for i in 0..trips {
                a.put(i).expect("put");
                assert_eq!(b.get().expect("get"), i);
            }
            t0.elapsed()
        } else {
            let (atx, arx) = crossbeam_channel::bounded(CAP);
            let (btx, brx) = crossbeam_channel::bounded(CAP);
            s.spawn(move || {
                for _ in 0..trips {
                    let v: u64 = arx.recv().expect("recv");
                    btx.send(v).expect("send");
                }
            });
            let t0 = Instant::now();
            for i in 0..trips {
                atx.send(i).expect("send");
                assert_eq!(brx.recv().expect("recv"), i);
            }
            t0.elapsed()
        }
    })
}

/// Histogram of the queue length seen by the consumer (with `QL_SAMPLE` set): every
/// 4096th get first looks at the length: nearly empty (< 4), low (< 64), middle, nearly
/// full (> CAP - 64). Tells the regime of a run without a third thread.
static HIST: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn sample(i: &mut u64, len: impl FnOnce() -> usize) {
    *i += 1;
    if *i % 4096 == 0 {
        let n = len();
        let b = if n < 4 {
            0
        } else if n < 64 {
            1
        } else if n <= CAP - 64 {
            2
        } else {
            3
        };
        HIST[b].fetch_add(1, Ordering::Relaxed);
    }
}

fn print_hist() {
    let h: Vec<u64> = HIST.iter().map(|a| a.swap(0, Ordering::Relaxed)).collect();
    let t = h.iter().sum::<u64>().max(1) as f64 / 100.0;
    if h.iter().sum::<u64>() > 0 {
        println!(
            "length seen by the consumer: <4 {:.0}%  <64 {:.0}%  middle {:.0}%  >{} {:.0}%",
            h[0] as f64 / t,
            h[1] as f64 / t,
            h[2] as f64 / t,
            CAP - 64,
            h[3] as f64 / t
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("conkit", String::as_str).to_string();
    let items: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let pin = args.get(4).is_some_and(|s| s == "pin");
    for _ in 0..rounds {
        let (d, p, c) = match mode.as_str() {
            "conkit" => {
                let q = conkit::queue::Queue::new(CAP);
                let (mut i, on) = (0, std::env::var_os("QL_SAMPLE").is_some());
                two_threads(
                    items,
                    pin,
                    |v| q.put(v).expect("put"),
                    || {
                        if on {
                            sample(&mut i, || q.qsize());
                        }
                        q.get().expect("get")
                    },
                )
            }
            "crossbeam" => {
                let (tx, rx) = crossbeam_channel::bounded(CAP);
                let (mut i, on) = (0, std::env::var_os("QL_SAMPLE").is_some());
                two_threads(
                    items,
                    pin,
                    |v| tx.send(v).expect("send"),
                    || {
                        if on {
                            sample(&mut i, || rx.len());
                        }
                        rx.recv().expect("recv")
                    },
                )
            }
            "std" => {
                let (tx, rx) = std::sync::mpsc::sync_channel(CAP);
                two_threads(
                    items,
                    pin,
                    move |v| tx.send(v).expect("send"),
                    move || rx.recv().expect("recv"),
                )
            }
            "pp-conkit" | "pp-crossbeam" => {
                let d = pingpong(&mode, items);
                println!(
                    "{mode}: {:.0} ns per round trip",
                    d.as_nanos() as f64 / items as f64
                );
                continue;
            }
            m => panic!("unknown mode {m}"),
        };
        let per = |x: Duration| x.as_nanos() as f64 / items as f64;
        println!(
            "{mode}: {:.1} M items/s, wall {:.1} ns/item, cpu prod {:.1} cons {:.1} ns/item, \
             csw prod {}v/{}i cons {}v/{}i",
            items as f64 / d.as_secs_f64() / 1e6,
            per(d),
            per(p.0),
            per(c.0),
            p.1,
            p.2,
            c.1,
            c.2
        );
        print_hist();
    }
}
