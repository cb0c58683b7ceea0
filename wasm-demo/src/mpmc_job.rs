//! MPMC demo: several producer workers and several consumer workers share one
//! `conkit_core::mpmc::MpmcRing<u32, N, W>`; a counting
//! `conkit_core::semaphore::Semaphore<W>` lets at most `permits` consumers work at
//! once, and `conkit_core::event_flags::EventFlags<W>` start, pause and stop them all.
//!
//! * Producer `k` of `P` pushes ids `k, k + P, k + 2P, …` (so ids are distinct across
//!   producers) with `try_push`, falls back to `push_until` (50 ms) when the ring is
//!   full, and calls `notify` once per block of [`BLOCK`] items.
//! * A consumer takes a permit (`acquire_guard`, sleeping while `permits` others hold
//!   one), pops a block with `try_pop` / `pop_until` (50 ms), gives the permit back.
//! * Everyone waits for `RUN | STOP` on the event flags before each block: clearing
//!   `RUN` pauses all workers (they sleep in the flags' wait), setting `STOP` ends them.
//!   After `STOP`, producers publish their checksums and leave; consumers keep popping
//!   until the last producer has left, drain the ring, then publish theirs.
//!
//! The 50 ms bounds make a worker blocked on a full or empty ring re-check a pause or
//! stop request promptly.

use std::sync::atomic::{AtomicU32, Ordering};

use conkit_core::event_flags::EventFlags;
use conkit_core::mpmc::MpmcRing;
use conkit_core::semaphore::Semaphore;

use crate::checksum::{merge_all, Checksum, Tally};
use crate::run::{Clocked, DemoRun, Snapshot, Task};

/// Event flag: workers may run.
pub const RUN: u32 = 1 << 0;
/// Event flag: workers must finish.
pub const STOP: u32 = 1 << 1;
/// Items a worker moves between two looks at the event flags.
pub const BLOCK: usize = 256;
/// How long a worker blocks on a full or empty ring before re-checking the flags.
const RECHECK_MS: f64 = 50.0;

/// Shared state of an MPMC run.
pub struct MpmcRun<const N: usize, W: Clocked> {
    ring: MpmcRing<u32, N, W>,
    permits: Semaphore<W>,
    permits_total: u32,
    flags: EventFlags<W>,
    /// Workers asleep on the flags because `RUN` is clear (see [`Snapshot::paused_workers`]).
    paused: AtomicU32,
    producers_live: AtomicU32,
    producers: Box<[Tally]>,
    consumers: Box<[Tally]>,
}

impl<const N: usize, W: Clocked> core::fmt::Debug for MpmcRun<N, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MpmcRun")
            .field("capacity", &N)
            .field("producers", &self.producers.len())
            .field("consumers", &self.consumers.len())
            .field("permits", &self.permits_total)
            .finish_non_exhaustive()
    }
}

impl<const N: usize, W: Clocked + Send + Sync> DemoRun for MpmcRun<N, W> {
    fn pause(&self, paused: bool) -> bool {
        if paused {
            self.flags.clear(RUN);
        } else {
            self.flags.set(RUN);
        }
        true
    }

    fn stop(&self) {
        self.flags.set(STOP);
    }

    fn snapshot(&self) -> Snapshot {
        let sent: u64 = self.producers.iter().map(Tally::count).sum();
        let received: u64 = self.consumers.iter().map(Tally::count).sum();
        Snapshot {
            sent: sent as f64,
            received: received as f64,
            fill: self.ring.len() as f64,
            capacity: N as f64,
            active_consumers: self.permits_total.saturating_sub(self.permits.value()),
            paused_workers: self.paused.load(Ordering::SeqCst),
            ..Snapshot::default()
        }
        .with_checksums(merge_all(&*self.producers), merge_all(&*self.consumers))
    }

    fn worker_counts(&self) -> Vec<f64> {
        self.producers
            .iter()
            .chain(self.consumers.iter())
            .map(|t| t.count() as f64)
            .collect()
    }
}

/// Creates an MPMC run (ring capacity `N`, `producers` and `consumers` workers, each at
/// least 1, and `permits` concurrent consumers, clamped to `1..=consumers`), started
/// (the `RUN` flag is set). Returns the run and its tasks, producers first.
///
/// The run is leaked (`'static`): workers reference it for as long as they run.
pub fn mpmc<const N: usize, W>(
    producers: usize,
    consumers: usize,
    permits: u32,
) -> (&'static MpmcRun<N, W>, Vec<Box<dyn Task>>)
where
    W: Clocked + Send + Sync + 'static,
{
    let producers = producers.max(1);
    let consumers = consumers.max(1);
    let permits = permits.clamp(1, consumers as u32);
    let run: &'static MpmcRun<N, W> = Box::leak(Box::new(MpmcRun {
        ring: MpmcRing::new(),
        permits: Semaphore::new(permits),
        permits_total: permits,
        flags: EventFlags::with_flags(RUN),
        paused: AtomicU32::new(0),
        producers_live: AtomicU32::new(producers as u32),
        producers: (0..producers).map(|_| Tally::new()).collect(),
        consumers: (0..consumers).map(|_| Tally::new()).collect(),
    }));
    let mut tasks: Vec<Box<dyn Task>> = Vec::with_capacity(producers + consumers);
    for k in 0..producers {
        tasks.push(Box::new(MpmcProducer {
            run,
            index: k,
            step: producers as u32,
        }));
    }
    for k in 0..consumers {
        tasks.push(Box::new(MpmcConsumer { run, index: k }));
    }
    (run, tasks)
}

impl<const N: usize, W: Clocked> MpmcRun<N, W> {
    /// Waits until the flags say run or stop; `true` for stop.
    fn stop_requested(&self) -> bool {
        let mut flags = self.flags.get();
        if flags & (RUN | STOP) == 0 {
            // Paused: counted while asleep on the flags.
            self.paused.fetch_add(1, Ordering::SeqCst);
            // `wait_any` fails only for an empty mask, and this one is not empty.
            flags = self.flags.wait_any(RUN | STOP).unwrap_or(STOP);
            self.paused.fetch_sub(1, Ordering::SeqCst);
        }
        flags & STOP != 0
    }
}

struct MpmcProducer<const N: usize, W: Clocked + 'static> {
    run: &'static MpmcRun<N, W>,
    index: usize,
    step: u32,
}

impl<const N: usize, W: Clocked + Send + Sync + 'static> Task for MpmcProducer<N, W> {
    fn run(self: Box<Self>) {
        let run = self.run;
        let tally = &run.producers[self.index];
        let mut sum = Checksum::new();
        let mut id = self.index as u32;
        while !run.stop_requested() {
            for _ in 0..BLOCK {
                let pushed = match run.ring.try_push(id) {
                    Ok(()) => true,
                    Err(full) => run
                        .ring
                        .push_until(full.into_inner(), W::deadline_after_ms(RECHECK_MS))
                        .is_ok(),
                };
                if !pushed {
                    break; // full for 50 ms: look at the flags again
                }
                sum.add(id);
                id = id.wrapping_add(self.step);
            }
            run.ring.notify();
            tally.progress(sum.count);
        }
        tally.finish(sum);
        run.producers_live.fetch_sub(1, Ordering::Release);
        run.ring.notify();
    }
}

struct MpmcConsumer<const N: usize, W: Clocked + 'static> {
    run: &'static MpmcRun<N, W>,
    index: usize,
}

impl<const N: usize, W: Clocked + Send + Sync + 'static> Task for MpmcConsumer<N, W> {
    fn run(self: Box<Self>) {
        let run = self.run;
        let tally = &run.consumers[self.index];
        let mut sum = Checksum::new();
        loop {
            if run.stop_requested() && run.producers_live.load(Ordering::Acquire) == 0 {
                // Every producer has left, so every item ever pushed is in the ring or
                // already popped: drain what is left and end.
                while let Some(id) = run.ring.try_pop() {
                    sum.add(id);
                }
                break;
            }
            // At most `permits` consumers get past this line at once.
            let permit = run.permits.acquire_guard();
            for _ in 0..BLOCK {
                let item = match run.ring.try_pop() {
                    Some(id) => Some(id),
                    None => run.ring.pop_until(W::deadline_after_ms(RECHECK_MS)),
                };
                match item {
                    Some(id) => sum.add(id),
                    None => break, // empty for 50 ms: look at the flags again
                }
            }
            drop(permit);
            run.ring.notify();
            tally.progress(sum.count);
        }
        tally.finish(sum);
    }
}
