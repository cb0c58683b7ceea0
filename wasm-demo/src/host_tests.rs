//! The demo jobs on the host: OS threads stand in for web workers, and the spinning
//! strategy (bounded by `std::time::Instant`) for `WasmAtomics`. The browser test runs
//! the same jobs with `WasmAtomics` in real workers. The async demo's main-thread
//! consumer runs on a minimal thread-parking executor ([`block_on`]).

use std::thread;
use std::time::{Duration, Instant};

use conkit_core::wait::Spin;

use crate::async_job::{async_spsc, ASYNC_CAPACITY};
use crate::checksum::Checksum;
use crate::mpmc_job::mpmc;
use crate::run::{Clocked, DemoRun, Task};
use crate::spsc_job::spsc;

type HostWait = Spin<Instant>;

impl Clocked for HostWait {
    fn deadline_after_ms(ms: f64) -> Instant {
        Instant::now() + Duration::from_secs_f64(ms / 1000.0)
    }
}

fn spawn_all(tasks: Vec<Box<dyn Task>>) -> Vec<thread::JoinHandle<()>> {
    tasks
        .into_iter()
        .map(|t| thread::spawn(move || t.run()))
        .collect()
}

/// Waits (tolerantly: the machine is loaded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn spsc_round_trip<const N: usize>(batch: usize) {
    let (run, tasks) = spsc::<N, HostWait>(batch);
    assert_eq!(tasks.len(), 2);
    let workers = spawn_all(tasks);
    eventually("items to flow", || run.snapshot().received > 1000.0);
    let s = run.snapshot();
    assert!(s.fill <= N as f64 && s.capacity == N as f64);
    assert!(!s.finished && !s.checksum_ok);
    run.stop();
    for w in workers {
        w.join().unwrap();
    }
    let s = run.snapshot();
    assert!(s.finished, "{s:?}");
    assert!(s.checksum_ok, "{s:?}");
    assert_eq!(s.sent_count, s.received_count);
    assert!(s.received_count > 1000.0);
    assert!(!run.pause(true), "the SPSC demo has no pause");
}

#[test]
fn spsc_per_item_loses_nothing_with_a_tiny_ring() {
    spsc_round_trip::<16>(1);
}

#[test]
fn spsc_batched_loses_nothing_when_batches_exceed_capacity() {
    spsc_round_trip::<16>(64);
}

#[test]
fn spsc_batched_loses_nothing_with_a_large_ring() {
    spsc_round_trip::<4096>(1024);
}

#[test]
fn mpmc_pause_resume_stop_loses_nothing_and_respects_permits() {
    let (run, tasks) = mpmc::<64, HostWait>(3, 4, 2);
    assert_eq!(tasks.len(), 7);
    let workers = spawn_all(tasks);
    eventually("items to flow", || run.snapshot().received > 5000.0);
    // On a loaded machine a producer thread may not have been scheduled yet: wait for
    // every producer to have contributed (the regression: a stop before the third
    // producer ever ran failed "every producer ran" below).
    eventually("every producer to run", || {
        run.worker_counts()[..3].iter().all(|&c| c > 0.0)
    });
    for _ in 0..50 {
        let s = run.snapshot();
        assert!(s.active_consumers <= 2, "{s:?}");
        assert!(s.fill <= 64.0, "{s:?}");
    }

    // Items flow right before the pause (not only at some point earlier): otherwise a
    // "pause" would hold with workers that merely were not running.
    let flowing = run.snapshot();
    eventually("items to flow just before the pause", || {
        let now = run.snapshot();
        now.sent > flowing.sent && now.received > flowing.received
    });
    assert_eq!(run.snapshot().paused_workers, 0);

    assert!(run.pause(true));
    // Workers finish the block they are in, then sleep on the event flags: the pause
    // has taken effect when every one of them is asleep there.
    eventually("every worker to sleep on the pause", || {
        run.snapshot().paused_workers == 7
    });
    let held = run.snapshot();
    thread::sleep(Duration::from_millis(100));
    let later = run.snapshot();
    assert_eq!(
        later.paused_workers, 7,
        "a worker left the pause: {later:?}"
    );
    assert_eq!(
        (later.sent, later.received),
        (held.sent, held.received),
        "items moved during the pause"
    );
    let last = later.received;
    assert!(run.pause(false));
    eventually("items to flow again", || run.snapshot().received > last);
    eventually("every worker to leave the pause", || {
        run.snapshot().paused_workers == 0
    });

    run.stop();
    for w in workers {
        w.join().unwrap();
    }
    let s = run.snapshot();
    assert!(s.finished && s.checksum_ok, "{s:?}");
    assert_eq!(s.fill, 0.0);
    let counts = run.worker_counts();
    assert_eq!(counts.len(), 7);
    let produced: f64 = counts[..3].iter().sum();
    let consumed: f64 = counts[3..].iter().sum();
    assert_eq!(produced, consumed);
    assert!(
        counts[..3].iter().all(|&c| c > 0.0),
        "every producer ran: {counts:?}"
    );
}

#[test]
fn mpmc_stop_while_paused_still_drains() {
    let (run, tasks) = mpmc::<16, HostWait>(2, 2, 1);
    let workers = spawn_all(tasks);
    eventually("items to flow", || run.snapshot().received > 100.0);
    run.pause(true);
    run.stop();
    for w in workers {
        w.join().unwrap();
    }
    let s = run.snapshot();
    assert!(s.finished && s.checksum_ok, "{s:?}");
}

/// A minimal executor for the async consumer: polls on the calling thread and parks it
/// between polls; the waker unparks it. A park that lasts [`LOST_WAKE`] means a lost
/// wake-up (the producer is fast): the test fails instead of hanging.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    const LOST_WAKE: Duration = Duration::from_secs(10);
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let parked = Instant::now();
        thread::park_timeout(LOST_WAKE);
        assert!(
            parked.elapsed() < LOST_WAKE,
            "the consumer task was never woken: a lost wake-up"
        );
    }
}

fn async_round_trip<const N: usize>(items: u32) {
    let (run, producer, consumer) = async_spsc::<N, HostWait>(items);
    let worker = thread::spawn(move || producer.run());
    let sum = block_on(consumer.consume());
    worker.join().unwrap();
    assert_eq!(sum.count, u64::from(items));
    let mut expected = Checksum::new();
    for id in 0..items {
        expected.add(id);
    }
    assert_eq!(sum, expected, "every item once");
    let (sent, received) = run.checksums().expect("both ended");
    assert_eq!(sent, received);
    let s = run.snapshot();
    assert!(s.finished && s.checksum_ok && s.fill == 0.0, "{s:?}");
    // Each `pop().await` takes at least one item; the consumer went to sleep at least
    // once (the producer, blocked on `room`, cannot run ahead by more than the ring).
    assert!(run.awaited_items() >= 1 && run.awaited_items() as u64 <= sum.count);
    assert!(run.suspended() > 0, "the consumer never suspended");
}

#[test]
fn async_main_consumer_gets_every_item_with_a_tiny_ring() {
    async_round_trip::<16>(100_000);
}

#[test]
fn async_main_consumer_gets_every_item_with_the_demo_ring() {
    async_round_trip::<{ ASYNC_CAPACITY }>(200_000);
}

#[test]
fn async_main_consumer_drains_after_a_stop() {
    let (run, producer, consumer) = async_spsc::<64, HostWait>(u32::MAX);
    let worker = thread::spawn(move || producer.run());
    let stopper = thread::spawn(move || {
        eventually("items to flow", || run.snapshot().received > 10_000.0);
        run.stop();
    });
    let sum = block_on(consumer.consume());
    worker.join().unwrap();
    stopper.join().unwrap();
    let (sent, received) = run.checksums().expect("both ended");
    assert_eq!(sent, received);
    assert_eq!(sum, received);
    assert!(sum.count > 10_000);
}
