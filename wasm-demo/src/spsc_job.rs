//! Thread-style SPSC demo: one producer worker and one consumer worker share one
//! `conkit_core::spsc::SpscRing<u32, N, W>` in (wasm shared) memory.
//!
//! The producer pushes ids `0, 1, 2, …`; with `batch > 1` it fills a local block and
//! publishes it with `push_slice` (one index store per block), then calls `notify`
//! (the wait-free forms never wake anybody, see the ring's notification contract); when
//! the ring is full it blocks in `push`. The consumer mirrors it with `pop_slice` and
//! blocks in `pop` when the ring is empty. With `batch == 1` both use the blocking
//! per-item `push` / `pop`, which wake the other side themselves.
//!
//! Stop: the producer sees the stop flag, publishes its checksum and drops its handle;
//! the consumer drains the ring, sees `Disconnected`, and publishes its checksum.

use std::sync::atomic::{AtomicBool, Ordering};

use conkit_core::spsc::{Consumer, Producer, SpscRing};
use conkit_core::wait::WaitStrategy;

use crate::checksum::{Checksum, Tally};
use crate::run::{DemoRun, Snapshot, Task, MAX_BATCH};

/// Controls and statistics of an SPSC run (the ring itself is owned by the handles).
#[derive(Debug)]
pub struct SpscRun {
    stop: AtomicBool,
    capacity: usize,
    producer: Tally,
    consumer: Tally,
}

impl DemoRun for SpscRun {
    fn pause(&self, _paused: bool) -> bool {
        false
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        let sent = self.producer.count();
        let received = self.consumer.count();
        Snapshot {
            sent: sent as f64,
            received: received as f64,
            // Both counts are published once per batch, so this is exact to a batch.
            fill: sent.saturating_sub(received).min(self.capacity as u64) as f64,
            capacity: self.capacity as f64,
            active_consumers: u32::from(self.consumer.result().is_none()),
            ..Snapshot::default()
        }
        .with_checksums(self.producer.result(), self.consumer.result())
    }

    fn worker_counts(&self) -> Vec<f64> {
        vec![self.producer.count() as f64, self.consumer.count() as f64]
    }
}

/// Creates an SPSC run with a ring of capacity `N` moving `batch` items per operation
/// (`1..=MAX_BATCH`, clamped): returns the run and its two tasks (producer, consumer).
///
/// The ring and the run are leaked (`'static`) because workers reference them for as
/// long as they run; a run costs `4 N` bytes plus a few cache lines.
pub fn spsc<const N: usize, W>(batch: usize) -> (&'static SpscRun, Vec<Box<dyn Task>>)
where
    W: WaitStrategy + Send + Sync + 'static,
{
    let batch = batch.clamp(1, MAX_BATCH);
    let run: &'static SpscRun = Box::leak(Box::new(SpscRun {
        stop: AtomicBool::new(false),
        capacity: N,
        producer: Tally::new(),
        consumer: Tally::new(),
    }));
    let ring: &'static mut SpscRing<u32, N, W> = Box::leak(Box::new(SpscRing::new()));
    let (tx, rx) = ring.split();
    let tasks: Vec<Box<dyn Task>> = vec![
        Box::new(SpscProducer { tx, run, batch }),
        Box::new(SpscConsumer { rx, run, batch }),
    ];
    (run, tasks)
}

struct SpscProducer<const N: usize, W: WaitStrategy + 'static> {
    tx: Producer<'static, u32, N, W>,
    run: &'static SpscRun,
    batch: usize,
}

impl<const N: usize, W: WaitStrategy + Send + Sync + 'static> Task for SpscProducer<N, W> {
    fn run(self: Box<Self>) {
        let SpscProducer { mut tx, run, batch } = *self;
        let mut sum = Checksum::new();
        let mut next: u32 = 0;
        let mut buf = [0u32; MAX_BATCH];
        'run: while !run.stop.load(Ordering::Relaxed) {
            if batch == 1 {
                if tx.push(next).is_err() {
                    break;
                }
                sum.add(next);
                next = next.wrapping_add(1);
                if next % 1024 == 0 {
                    run.producer.progress(sum.count);
                }
                continue;
            }
            for (i, slot) in buf[..batch].iter_mut().enumerate() {
                *slot = next.wrapping_add(i as u32);
            }
            let mut off = 0;
            while off < batch {
                let k = tx.push_slice(&buf[off..batch]);
                if k > 0 {
                    off += k;
                    tx.notify();
                } else if tx.push(buf[off]).is_ok() {
                    // Full: slept until the consumer made room, then pushed one item.
                    off += 1;
                } else {
                    // The consumer is gone (it never leaves first; kept for honesty).
                    sum.add_all(&buf[..off]);
                    break 'run;
                }
            }
            sum.add_all(&buf[..batch]);
            next = next.wrapping_add(batch as u32);
            run.producer.progress(sum.count);
        }
        run.producer.finish(sum);
        // Dropping `tx` wakes the consumer, which drains the ring and ends.
    }
}

struct SpscConsumer<const N: usize, W: WaitStrategy + 'static> {
    rx: Consumer<'static, u32, N, W>,
    run: &'static SpscRun,
    batch: usize,
}

impl<const N: usize, W: WaitStrategy + Send + Sync + 'static> Task for SpscConsumer<N, W> {
    fn run(self: Box<Self>) {
        let SpscConsumer { mut rx, run, batch } = *self;
        let mut sum = Checksum::new();
        let mut buf = [0u32; MAX_BATCH];
        loop {
            if batch > 1 {
                let n = rx.pop_slice(&mut buf[..batch]);
                if n > 0 {
                    rx.notify();
                    sum.add_all(&buf[..n]);
                    run.consumer.progress(sum.count);
                    continue;
                }
            }
            // Empty (or per-item mode): sleep until an item comes or the producer left.
            match rx.pop() {
                Ok(id) => {
                    sum.add(id);
                    if sum.count % 1024 == 0 {
                        run.consumer.progress(sum.count);
                    }
                }
                Err(_) => break,
            }
        }
        run.consumer.finish(sum);
    }
}
