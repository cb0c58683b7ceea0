//! `cargo xtask bench` (= `cargo bench -p conkit-tests --bench core -- [options] [filters]`):
//! conkit-core against its peers, measured side by side in one run, interleaved.
//!
//! Options: `--reps N` (repetitions, default 11), `--items N` (items per measurement,
//! default 10 000 000), `--quick` (5 repetitions of 1 000 000 items: a smoke run),
//! `--out PATH` (markdown copy, default `target/bench/core.md`), `--strict` (exit 1
//! if a target is missed), `--list` (print the benchmark ids); any other word selects
//! the benchmarks whose id contains it (e.g. `spsc`, `lock`).
//!
//! See `harness/mod.rs` for the method (why interleaved, what is checked).

mod groups;
mod harness;

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;

use core_affinity::CoreId;
use harness::{
    latency, mpmc, ping_pong, push_pop, spsc_batched, spsc_work, tri, Contender, Group, Kind, Res,
    Target,
};

/// Ring capacity of every queue contender (usable slots).
const CAP: usize = 1024;

struct Opts {
    reps: usize,
    items: u64,
    filters: Vec<String>,
    out: Option<PathBuf>,
    strict: bool,
    list: bool,
    help: bool,
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        reps: 11,
        items: 10_000_000,
        filters: Vec::new(),
        out: None,
        strict: false,
        list: false,
        help: false,
    };
    let (mut reps, mut items) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| -> Res<String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            // `cargo bench` passes `--bench` to `harness = false` targets.
            "--bench" => {}
            "--quick" => {
                o.reps = 5;
                o.items = 1_000_000;
            }
            "--reps" => {
                reps = Some(
                    val("--reps")?
                        .parse::<usize>()
                        .map_err(|e| format!("--reps: {e}"))?,
                )
            }
            "--items" => {
                items = Some(
                    val("--items")?
                        .parse::<u64>()
                        .map_err(|e| format!("--items: {e}"))?,
                )
            }
            "--out" => o.out = Some(val("--out")?.into()),
            "--strict" => o.strict = true,
            "--list" => o.list = true,
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask bench [--quick] [--reps N] [--items N] [--out PATH] \
                     [--strict] [--list] [FILTER...]"
                );
                o.help = true;
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => o.filters.push(s.to_string()),
        }
    }
    if let Some(r) = reps {
        o.reps = r;
    }
    if let Some(i) = items {
        o.items = i;
    }
    if o.reps == 0 || o.items < 1_000 {
        return Err("--reps must be ≥ 1 and --items ≥ 1000".into());
    }
    Ok(o)
}

/// The default output path: `<target dir>/bench/core.md`, found from this binary's
/// path (`<target dir>/release/deps/core-<hash>`).
fn default_out() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(|t| t.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("bench")
        .join("core.md")
}

type Pins = (Option<CoreId>, Option<CoreId>);

// ---------------------------------------------------------------------------------
// 1. SPSC, one item per call, pinned: the two regimes measured on purpose (see
//    "The two single-item SPSC regimes" in harness/mod.rs)
// ---------------------------------------------------------------------------------

/// Round trips per ping-pong measurement, per item of the other rows: a round trip
/// costs about as much as 20 streamed items.
const TRIPS_PER_ITEM: u64 = 20;

/// Round-trip latency: two rings of the same type, an item there and back.
fn spsc_ping_pong(items: u64, pins: Pins) -> Group<'static> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    let mut contenders = Vec::new();
    conkit_spsc_ping_pong(&mut contenders, pins);
    contenders.push(Contender::peer("rtrb", move |n| {
        let there = rtrb::RingBuffer::<u64>::new(CAP);
        let back = rtrb::RingBuffer::<u64>::new(CAP);
        ping_pong(
            n,
            pins,
            there,
            back,
            |p, v| p.push(v).is_ok(),
            |c| c.pop().ok(),
        )
    }));
    contenders.push(Contender::peer("ringbuf", move |n| {
        let there = ringbuf::HeapRb::<u64>::new(CAP).split();
        let back = ringbuf::HeapRb::<u64>::new(CAP).split();
        ping_pong(
            n,
            pins,
            there,
            back,
            |p, v| p.try_push(v).is_ok(),
            |c| c.try_pop(),
        )
    }));
    contenders.push(Contender::peer("heapless::spsc", move |n| {
        // heapless' usable capacity is N - 1.
        let mut q1 = heapless::spsc::Queue::<u64, { CAP + 1 }>::new();
        let mut q2 = heapless::spsc::Queue::<u64, { CAP + 1 }>::new();
        ping_pong(
            n,
            pins,
            q1.split(),
            q2.split(),
            |p, v| p.enqueue(v).is_ok(),
            |c| c.dequeue(),
        )
    }));
    Group {
        id: "spsc-pingpong",
        title: format!("SPSC u64 ping-pong round trip (2 rings of {CAP} slots), pinned"),
        kind: Kind::Latency,
        items: (items / TRIPS_PER_ITEM).max(1_000),
        contenders,
        targets: vec![Target::new("conkit SpscRing", "rtrb")],
        missing: vec![],
    }
}

// CONKIT SPSC ping-pong: two `SpscRing<u64, CAP>`, `split()`, `try_push` / `try_pop`.
fn conkit_spsc_ping_pong(contenders: &mut Vec<Contender<'static>>, pins: Pins) {
    use conkit_core::spsc::SpscRing;
    contenders.push(Contender::conkit("conkit SpscRing", move |n| {
        let mut there: SpscRing<u64, CAP> = SpscRing::new();
        let mut back: SpscRing<u64, CAP> = SpscRing::new();
        ping_pong(
            n,
            pins,
            there.split(),
            back.split(),
            |p, v| p.try_push(v).is_ok(),
            |c| c.try_pop().ok(),
        )
    }));
}

/// Streaming throughput with a fixed amount of work per item on the consumer.
fn spsc_work_group(items: u64, pins: Pins) -> Group<'static> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    let mut contenders = Vec::new();
    conkit_spsc_work(&mut contenders, pins);
    contenders.push(Contender::peer("rtrb", move |n| {
        let (p, c) = rtrb::RingBuffer::<u64>::new(CAP);
        spsc_work(n, pins, p, c, |p, v| p.push(v).is_ok(), |c| c.pop().ok())
    }));
    contenders.push(Contender::peer("ringbuf", move |n| {
        let (p, c) = ringbuf::HeapRb::<u64>::new(CAP).split();
        spsc_work(n, pins, p, c, |p, v| p.try_push(v).is_ok(), |c| c.try_pop())
    }));
    contenders.push(Contender::peer("heapless::spsc", move |n| {
        let mut q = heapless::spsc::Queue::<u64, { CAP + 1 }>::new();
        let (p, c) = q.split();
        spsc_work(n, pins, p, c, |p, v| p.enqueue(v).is_ok(), |c| c.dequeue())
    }));
    contenders.push(Contender::peer("crossbeam ArrayQueue", move |n| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        spsc_work(n, pins, &q, &q, |q, v| q.push(v).is_ok(), |q| q.pop())
    }));
    // The floor: the consumer's work alone, on its core, no ring.
    contenders.push(Contender::peer("no ring (the work alone)", move |n| {
        harness::work_alone(pins.1, n)
    }));
    Group {
        id: "spsc-work",
        title: format!(
            "SPSC u64, 1 per call, {CAP} slots, pinned, {} rounds of work per item on the consumer",
            harness::WORK_ROUNDS
        ),
        kind: Kind::Throughput,
        // The work makes an item cost ~3x a streamed one: half as many items.
        items: (items / 2).max(1_000),
        contenders,
        targets: vec![Target::new("conkit SpscRing", "rtrb")],
        missing: vec![],
    }
}

// CONKIT SPSC (single item, with work): `SpscRing<u64, CAP>`, `try_push` / `try_pop`.
fn conkit_spsc_work(contenders: &mut Vec<Contender<'static>>, pins: Pins) {
    use conkit_core::spsc::SpscRing;
    contenders.push(Contender::conkit("conkit SpscRing", move |n| {
        let mut ring: SpscRing<u64, CAP> = SpscRing::new();
        let (p, c) = ring.split();
        spsc_work(
            n,
            pins,
            p,
            c,
            |p, v| p.try_push(v).is_ok(),
            |c| c.try_pop().ok(),
        )
    }));
}

// ---------------------------------------------------------------------------------
// 2. SPSC in batches of 256
// ---------------------------------------------------------------------------------

fn spsc_batch(items: u64, pins: Pins) -> Group<'static> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    let mut contenders = Vec::new();
    conkit_spsc_batched(&mut contenders, pins);
    contenders.push(Contender::peer("rtrb", move |n| {
        let (p, c) = rtrb::RingBuffer::<u64>::new(CAP);
        // push/pop_partial_slice are rtrb's copy-in/copy-out wrappers over
        // write_chunk_uninit/read_chunk.
        spsc_batched(
            n,
            pins,
            p,
            c,
            |p, s| p.push_partial_slice(s).0.len(),
            |c, d| c.pop_partial_slice(d).0.len(),
        )
    }));
    contenders.push(Contender::peer("rtrb chunks", move |n| {
        let (p, c) = rtrb::RingBuffer::<u64>::new(CAP);
        // The same safe chunk calls as "conkit SpscRing chunks".
        spsc_batched(
            n,
            pins,
            p,
            c,
            |p, s| {
                let chunk = match p.write_chunk_uninit(s.len()) {
                    Ok(ch) => ch,
                    Err(rtrb::chunks::ChunkError::TooFewSlots(0)) => return 0,
                    Err(rtrb::chunks::ChunkError::TooFewSlots(k)) => {
                        match p.write_chunk_uninit(k) {
                            Ok(ch) => ch,
                            Err(_) => return 0,
                        }
                    }
                };
                chunk.fill_from_iter(s.iter().copied())
            },
            |c, d| {
                let chunk = match c.read_chunk(d.len()) {
                    Ok(ch) => ch,
                    Err(rtrb::chunks::ChunkError::TooFewSlots(0)) => return 0,
                    Err(rtrb::chunks::ChunkError::TooFewSlots(k)) => match c.read_chunk(k) {
                        Ok(ch) => ch,
                        Err(_) => return 0,
                    },
                };
                let (a, b) = chunk.as_slices();
                let n = a.len() + b.len();
                d[..a.len()].copy_from_slice(a);
                d[a.len()..n].copy_from_slice(b);
                chunk.commit_all();
                n
            },
        )
    }));
    contenders.push(Contender::peer("ringbuf", move |n| {
        let (p, c) = ringbuf::HeapRb::<u64>::new(CAP).split();
        spsc_batched(n, pins, p, c, |p, s| p.push_slice(s), |c, d| c.pop_slice(d))
    }));
    Group {
        id: "spsc-batch",
        title: format!("SPSC u64, {} per call, {CAP} slots, pinned", harness::BATCH),
        kind: Kind::Throughput,
        items,
        contenders,
        targets: vec![Target::new("conkit SpscRing", "rtrb")],
        missing: vec![],
    }
}

// CONKIT SPSC (batched): `Producer::push_slice(&[u64]) -> usize`,
// `Consumer::pop_slice(&mut [u64]) -> usize`, and the chunk API
// (`write_chunk(n)` + `fill_from_iter`, `read_chunk(n)` + `as_slices` + `commit`).
fn conkit_spsc_batched(contenders: &mut Vec<Contender<'static>>, pins: Pins) {
    use conkit_core::spsc::{ChunkError, SpscRing};
    contenders.push(Contender::conkit("conkit SpscRing", move |n| {
        let mut ring: SpscRing<u64, CAP> = SpscRing::new();
        let (p, c) = ring.split();
        spsc_batched(n, pins, p, c, |p, s| p.push_slice(s), |c, d| c.pop_slice(d))
    }));
    contenders.push(Contender::conkit("conkit SpscRing chunks", move |n| {
        let mut ring: SpscRing<u64, CAP> = SpscRing::new();
        let (p, c) = ring.split();
        spsc_batched(
            n,
            pins,
            p,
            c,
            |p, s| {
                // Like rtrb: a chunk is exactly `n` slots, so ask again with what is free.
                let chunk = match p.write_chunk(s.len()) {
                    Ok(ch) => ch,
                    Err(ChunkError::TooFewSlots(0)) => return 0,
                    Err(ChunkError::TooFewSlots(k)) => match p.write_chunk(k) {
                        Ok(ch) => ch,
                        Err(_) => return 0,
                    },
                };
                chunk.fill_from_iter(s.iter().copied())
            },
            |c, d| {
                let chunk = match c.read_chunk(d.len()) {
                    Ok(ch) => ch,
                    Err(ChunkError::TooFewSlots(0)) => return 0,
                    Err(ChunkError::TooFewSlots(k)) => match c.read_chunk(k) {
                        Ok(ch) => ch,
                        Err(_) => return 0,
                    },
                };
                let (a, b) = chunk.as_slices();
                let n = a.len() + b.len();
                d[..a.len()].copy_from_slice(a);
                d[a.len()..n].copy_from_slice(b);
                chunk.commit(n);
                n
            },
        )
    }));
}

// ---------------------------------------------------------------------------------
// 3. MPMC, 2 producers + 2 consumers on the machine's cores
// ---------------------------------------------------------------------------------

fn mpmc_2p2c(items: u64) -> Group<'static> {
    let mut contenders = Vec::new();
    conkit_mpmc(&mut contenders);
    contenders.push(Contender::peer("crossbeam ArrayQueue", move |n| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        mpmc(n, 2, 2, &q, |q, v| q.push(v).is_ok(), |q| q.pop())
    }));
    contenders.push(Contender::peer("heapless::mpmc", move |n| {
        // Deprecated upstream ("not truly lock-free", heapless#583): measured anyway.
        #[allow(deprecated)]
        let q = heapless::mpmc::Queue::<u64, CAP>::new();
        mpmc(n, 2, 2, &q, |q, v| q.enqueue(v).is_ok(), |q| q.dequeue())
    }));
    Group {
        id: "mpmc-2p2c",
        title: format!("MPMC u64, 2P/2C, {CAP} slots"),
        kind: Kind::Throughput,
        items,
        contenders,
        targets: vec![Target::new("conkit MpmcRing", "crossbeam ArrayQueue")],
        missing: vec![],
    }
}

// CONKIT MPMC: `mpmc::MpmcRing<u64, CAP>`, `try_push(&self, v)`, `try_pop(&self)`.
fn conkit_mpmc(contenders: &mut Vec<Contender<'static>>) {
    use conkit_core::mpmc::MpmcRing;
    contenders.push(Contender::conkit("conkit MpmcRing", move |n| {
        let q: MpmcRing<u64, CAP> = MpmcRing::new();
        mpmc(n, 2, 2, &q, |q, v| q.try_push(v).is_ok(), |q| q.try_pop())
    }));
}

// ---------------------------------------------------------------------------------
// 4. Uncontended lock + unlock
// ---------------------------------------------------------------------------------

fn lock_latency(items: u64, core: Option<CoreId>) -> Group<'static> {
    let mut contenders = Vec::new();
    conkit_locks(&mut contenders, core);
    contenders.push(Contender::peer("spin::Mutex", move |n| {
        let m = spin::Mutex::new(0u64);
        latency(
            core,
            n,
            |_| {
                let mut g = black_box(&m).lock();
                *g += 1;
                *g
            },
            tri,
        )
    }));
    contenders.push(Contender::peer("std Mutex", move |n| {
        let m = std::sync::Mutex::new(0u64);
        latency(
            core,
            n,
            |_| {
                let mut g = black_box(&m).lock().unwrap_or_else(|p| p.into_inner());
                *g += 1;
                *g
            },
            tri,
        )
    }));
    Group {
        id: "lock",
        title: "uncontended lock + unlock".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new("conkit SpinLock", "spin::Mutex"),
            Target::new("conkit SpinMutex", "spin::Mutex"),
        ],
        missing: vec![],
    }
}

// CONKIT LOCKS: `lock::SpinLock`, `lock::SpinMutex<u64>`, `lock::TicketLock`,
// `lock::Lock` (blocking, default Spin strategy).
fn conkit_locks(contenders: &mut Vec<Contender<'static>>, core: Option<CoreId>) {
    use conkit_core::lock::{Lock, SpinLock, TicketLock};
    // A data-less lock guards a counter kept by the loop: lock, bump, unlock.
    macro_rules! guarded {
        ($name:expr, $make:expr) => {
            contenders.push(Contender::conkit($name, move |n| {
                let l = $make;
                harness::guarded_count(core, n, || black_box(&l).lock())
            }));
        };
    }
    guarded!("conkit SpinLock", SpinLock::new());
    contenders.push(Contender::conkit(
        "conkit SpinLock acquire/release",
        move |n| {
            let l = SpinLock::new();
            harness::acquire_release_count(
                core,
                n,
                || black_box(&l).acquire(),
                || black_box(&l).release().is_ok(),
            )
        },
    ));
    guarded!("conkit TicketLock", TicketLock::new());
    guarded!("conkit Lock", Lock::<conkit_core::wait::Spin>::new());
    conkit_spin_mutex(contenders, core);
}

// CONKIT SpinMutex<u64>: `SpinMutex::new(0)`, `lock()` guard derefs to the u64.
fn conkit_spin_mutex(contenders: &mut Vec<Contender<'static>>, core: Option<CoreId>) {
    use conkit_core::lock::SpinMutex;
    contenders.push(Contender::conkit("conkit SpinMutex", move |n| {
        let m = SpinMutex::new(0u64);
        latency(
            core,
            n,
            |_| {
                let mut g = black_box(&m).lock();
                *g += 1;
                *g
            },
            tri,
        )
    }));
}

// ---------------------------------------------------------------------------------
// 5. Single-thread latencies: SPSC and MPMC push + pop, semaphore try_acquire + release
// ---------------------------------------------------------------------------------

fn spsc_latency(items: u64, core: Option<CoreId>) -> Group<'static> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    // Push then pop on one thread: the instruction cost of the fast paths, free of the
    // core-to-core effects that dominate the two-thread rows.
    let contenders = vec![
        Contender::conkit("conkit SpscRing", move |n| {
            let mut ring: conkit_core::spsc::SpscRing<u64, CAP> =
                conkit_core::spsc::SpscRing::new();
            let (p, c) = ring.split();
            push_pop(
                core,
                n,
                p,
                c,
                |p, v| p.try_push(v).is_ok(),
                |c| c.try_pop().ok(),
            )
        }),
        Contender::peer("rtrb", move |n| {
            let (p, c) = rtrb::RingBuffer::<u64>::new(CAP);
            push_pop(core, n, p, c, |p, v| p.push(v).is_ok(), |c| c.pop().ok())
        }),
        Contender::peer("ringbuf", move |n| {
            let (p, c) = ringbuf::HeapRb::<u64>::new(CAP).split();
            push_pop(core, n, p, c, |p, v| p.try_push(v).is_ok(), |c| c.try_pop())
        }),
        Contender::peer("heapless::spsc", move |n| {
            let mut q = heapless::spsc::Queue::<u64, { CAP + 1 }>::new();
            let (p, c) = q.split();
            push_pop(core, n, p, c, |p, v| p.enqueue(v).is_ok(), |c| c.dequeue())
        }),
    ];
    Group {
        id: "spsc-latency",
        title: "SPSC push + pop, one thread".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![],
        missing: vec![],
    }
}

fn mpmc_latency(items: u64, core: Option<CoreId>) -> Group<'static> {
    let mut contenders = Vec::new();
    conkit_mpmc_latency(&mut contenders, core);
    contenders.push(Contender::peer("crossbeam ArrayQueue", move |n| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        latency(
            core,
            n,
            |i| {
                let q = black_box(&q);
                let _ = q.push(i + 1);
                q.pop().unwrap_or(0)
            },
            tri,
        )
    }));
    contenders.push(Contender::peer("heapless::mpmc", move |n| {
        #[allow(deprecated)]
        let q = heapless::mpmc::Queue::<u64, CAP>::new();
        latency(
            core,
            n,
            |i| {
                let q = black_box(&q);
                let _ = q.enqueue(i + 1);
                q.dequeue().unwrap_or(0)
            },
            tri,
        )
    }));
    Group {
        id: "mpmc-latency",
        title: "MPMC push + pop, one thread".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![],
        missing: vec![],
    }
}

// CONKIT MPMC latency: `MpmcRing::try_push` + `try_pop` on one thread.
fn conkit_mpmc_latency(contenders: &mut Vec<Contender<'static>>, core: Option<CoreId>) {
    use conkit_core::mpmc::MpmcRing;
    contenders.push(Contender::conkit("conkit MpmcRing", move |n| {
        let q: MpmcRing<u64, CAP> = MpmcRing::new();
        latency(
            core,
            n,
            |i| {
                let q = black_box(&q);
                let _ = q.try_push(i + 1);
                q.try_pop().unwrap_or(0)
            },
            tri,
        )
    }));
}

fn semaphore_latency(items: u64, core: Option<CoreId>) -> Group<'static> {
    let mut contenders = Vec::new();
    conkit_semaphore(&mut contenders, core);
    // No common no_std crate has a counting semaphore with try_acquire; a checked
    // decrement (compare-and-swap) plus an increment on one atomic is the floor any
    // semaphore pays.
    contenders.push(Contender::peer("AtomicUsize CAS floor", move |n| {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let s = AtomicUsize::new(1);
        latency(
            core,
            n,
            |_| {
                let s = black_box(&s);
                let ok = s
                    .fetch_update(Ordering::Acquire, Ordering::Relaxed, |c| c.checked_sub(1))
                    .is_ok();
                s.fetch_add(1, Ordering::Release);
                ok as u64
            },
            |n| n,
        )
    }));
    Group {
        id: "semaphore",
        title: "uncontended semaphore try_acquire + release".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![],
        missing: vec![],
    }
}

// CONKIT SEMAPHORE: `semaphore::Semaphore`, `try_acquire()` + `release()`.
fn conkit_semaphore(contenders: &mut Vec<Contender<'static>>, core: Option<CoreId>) {
    use conkit_core::semaphore::{BoundedSemaphore, Semaphore};
    macro_rules! sem {
        ($name:expr, $ty:ty) => {
            contenders.push(Contender::conkit($name, move |n| {
                let s: $ty = <$ty>::new(1);
                latency(
                    core,
                    n,
                    |_| {
                        let s = black_box(&s);
                        let ok = s.try_acquire();
                        (ok & s.release().is_ok()) as u64
                    },
                    |n| n,
                )
            }));
        };
    }
    sem!("conkit Semaphore", Semaphore);
    sem!("conkit BoundedSemaphore", BoundedSemaphore);
}

// ---------------------------------------------------------------------------------

/// The 1-minute load average (Linux), to tell a quiet run from a busy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn run(o: &Opts) -> Res<bool> {
    let cores = harness::cores();
    let pins: Pins = if cores.len() >= 2 {
        (Some(cores[0]), Some(cores[1]))
    } else {
        eprintln!("warning: fewer than 2 cores reported: SPSC threads run unpinned");
        (None, None)
    };
    let n = o.items;
    type Make = Box<dyn Fn() -> Group<'static>>;
    let all: Vec<(&str, Make)> = vec![
        ("spsc-pingpong", Box::new(move || spsc_ping_pong(n, pins))),
        ("spsc-work", Box::new(move || spsc_work_group(n, pins))),
        ("spsc-batch", Box::new(move || spsc_batch(n, pins))),
        ("mpmc-2p2c", Box::new(move || mpmc_2p2c(n))),
        ("lock", Box::new(move || lock_latency(n, pins.0))),
        ("spsc-latency", Box::new(move || spsc_latency(n, pins.0))),
        ("mpmc-latency", Box::new(move || mpmc_latency(n, pins.0))),
        ("semaphore", Box::new(move || semaphore_latency(n, pins.0))),
    ];
    let mut all = all;
    all.extend(groups::all(n, pins.0));
    if o.help {
        return Ok(true);
    }
    if o.list {
        for (id, _) in &all {
            println!("{id}");
        }
        return Ok(true);
    }
    let selected: Vec<&(&str, Make)> = all
        .iter()
        .filter(|(id, _)| o.filters.is_empty() || o.filters.iter().any(|f| id.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        return Err(format!("no benchmark matches {:?} (see --list)", o.filters));
    }
    let load0 = load_average();
    let t0 = std::time::Instant::now();
    let mut results = Vec::new();
    for (_, make) in selected {
        results.push(harness::run_group(make(), o.reps)?);
    }
    let pinning = if pins.0.is_some() {
        "pinned to cores 0 and 1"
    } else {
        "unpinned"
    };
    let header = format!(
        "### conkit vs peers\n\n{} repetitions, contenders interleaved in a rotating \
         order; {} cores, SPSC threads {pinning}; {:.0} s; load average {load0} at start, \
         {} at end.",
        o.reps,
        cores.len(),
        t0.elapsed().as_secs_f64(),
        load_average()
    );
    let busy = [load0.as_str(), load_average().as_str()]
        .iter()
        .filter_map(|l| l.parse::<f64>().ok())
        .any(|l| l > cores.len() as f64);
    let header = if busy {
        format!(
            "{header}\n\n**Busy machine** (load average above the core count): other \
             processes took CPU time from the contenders; treat these figures as noise."
        )
    } else {
        header
    };
    let (md, met, total) = harness::report(&results, &header);
    let all_met = met == total;
    println!("{md}");
    let out = o.out.clone().unwrap_or_else(default_out);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, &md).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("written to {}", out.display());
    eprintln!("targets met: {met} of {total} (a target not measured counts as not met)");
    Ok(all_met || !o.strict)
}

fn main() -> ExitCode {
    // Spawned children of the mp-process group run their target here and exit.
    #[cfg(target_os = "linux")]
    conkit::multiprocessing::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
