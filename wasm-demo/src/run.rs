//! What every demo run shares: the tasks workers execute, the run's controls, and the
//! snapshot the page draws.
//!
//! A run is created on the page's main thread, which never blocks: it only starts,
//! pauses and stops the run and reads [`Snapshot`]s (atomic loads). The blocking work
//! is split into [`Task`]s, each executed by one web worker from start to end (on the
//! host, by one OS thread in the tests).

use conkit_core::wait::WaitStrategy;

/// A waiting strategy that can also make a deadline `ms` milliseconds from now, so the
/// jobs can bound their waits (to re-check a pause or a stop request).
pub trait Clocked: WaitStrategy {
    /// The deadline `ms` milliseconds from now.
    fn deadline_after_ms(ms: f64) -> Self::Deadline;
}

/// One worker's share of a run: it blocks its caller until the run stops.
pub trait Task: Send {
    /// Runs the task to its end.
    fn run(self: Box<Self>);
}

/// The page's view of a run: controls and statistics, all non-blocking.
pub trait DemoRun: Sync {
    /// Pauses (`true`) or resumes (`false`) every worker; `false` if the demo has no
    /// pause control.
    fn pause(&self, paused: bool) -> bool;
    /// Asks every worker to finish: producers stop, consumers drain the queue and stop.
    fn stop(&self);
    /// Current statistics.
    fn snapshot(&self) -> Snapshot;
    /// Items moved by each worker so far, producers first.
    fn worker_counts(&self) -> Vec<f64>;
}

/// Statistics of a run at one moment (counts are `f64` so JavaScript reads them
/// exactly up to 2^53).
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    wasm_bindgen::prelude::wasm_bindgen
)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Snapshot {
    /// Items pushed so far (all producers).
    pub sent: f64,
    /// Items popped so far (all consumers).
    pub received: f64,
    /// Items in the queue now.
    pub fill: f64,
    /// The queue's capacity.
    pub capacity: f64,
    /// Consumers holding a permit of the semaphore now (MPMC), else consumers running.
    pub active_consumers: u32,
    /// Workers asleep on a pause now (MPMC; 0 for demos without a pause): a pause has
    /// taken effect when this equals the number of workers, which tells it apart from
    /// workers that merely did not get to run.
    pub paused_workers: u32,
    /// `true` once every worker has ended and published its checksum.
    pub finished: bool,
    /// Items in the producers' final checksum (valid once `finished`).
    pub sent_count: f64,
    /// Wrapping sum of the producers' final checksum.
    pub sent_sum: u32,
    /// Xor of the producers' final checksum.
    pub sent_xor: u32,
    /// Items in the consumers' final checksum.
    pub received_count: f64,
    /// Wrapping sum of the consumers' final checksum.
    pub received_sum: u32,
    /// Xor of the consumers' final checksum.
    pub received_xor: u32,
    /// `finished` and the two checksums are equal: nothing lost, nothing duplicated.
    pub checksum_ok: bool,
}

impl Snapshot {
    /// Fills the checksum fields from the producers' and consumers' final checksums.
    pub(crate) fn with_checksums(
        mut self,
        sent: Option<crate::checksum::Checksum>,
        received: Option<crate::checksum::Checksum>,
    ) -> Self {
        if let (Some(s), Some(r)) = (sent, received) {
            self.finished = true;
            self.sent_count = s.count as f64;
            self.sent_sum = s.sum;
            self.sent_xor = s.xor;
            self.received_count = r.count as f64;
            self.received_sum = r.sum;
            self.received_xor = r.xor;
            self.checksum_ok = s == r;
        }
        self
    }
}

/// Ring capacities the page offers (the rings are sized at compile time).
pub const CAPACITIES: [u32; 4] = [16, 256, 4096, 65536];

/// Largest batch a worker moves with one slice operation.
pub const MAX_BATCH: usize = 1024;
