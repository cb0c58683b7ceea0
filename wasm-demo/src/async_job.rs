//! The page's main thread as an async consumer: a producer worker feeds a ring that the
//! main thread — which must never block — **awaits** through conkit-core's async front
//! end ([`Async<SpscRing>`](conkit_core::asynch::Async)), instead of polling it.
//!
//! * The ring is a `conkit_core::spsc::SpscRing<u32, N, W>` behind `Async<_, 1>`: the
//!   producer's handle is an [`AsyncProducer`], whose `push_slice` wakes the task parked
//!   in the front end's waker set; the consumer's is an [`AsyncConsumer`], whose
//!   `pop().await` parks the main thread's task until then.
//! * Back-pressure without blocking the main thread: a counting
//!   `Semaphore<W>` `room`, starting at `N`. The producer (a worker, which may block)
//!   takes `k` units (`acquire_many`, sleeping in `memory.atomic.wait32` while the ring
//!   is full) before it pushes `k` items, so its push always finds room; the main
//!   thread gives back one unit per item it took (`release_many` never blocks: it is a
//!   `memory.atomic.notify`, legal on the main thread).
//! * What wakes the main thread (browser): the waker parked in the ring's waker set is
//!   `wasm-bindgen-futures`' task waker. In a build with `+atomics` that waker is
//!   thread-safe and is a bridge from `Atomics.waitAsync` to a `Waker`: the task, when
//!   idle, sits on a promise from `Atomics.waitAsync` on its own state word; a worker's
//!   `wake()` stores to that word and `Atomics.notify`s it, which resolves the promise on
//!   the main thread's event loop, which polls the task. No `postMessage`, no timer, no
//!   polling loop on the page.
//!
//! Why the main thread parks as a *task* and does not simply `Atomics.waitAsync` on the
//! primitive's own wait word (a "main-thread `WaitStrategy`"): conkit's notifiers issue
//! `memory.atomic.notify` only when they see a registered sleeper (a count or a bit in
//! the primitive's state); a promise pending on the word is invisible to them, so its
//! wake-up would be skipped. Parking the task's waker where the primitive looks — the
//! front end's waker set here, or the "tasks parked" bit and task table of the
//! primitives' own async forms (`Semaphore::acquire_async` etc.; `tests.html` checks a
//! main-thread task woken by a worker's plain `release()`) — keeps one protocol, and
//! the `Atomics.waitAsync` bridge sits where it belongs: between the waker and the
//! page's event loop.
//!
//! The main thread counts every poll of `pop()` that returned `Pending` (it went back to
//! the event loop and a worker woke it): a non-zero count proves the items came through
//! the async path, not a busy loop. The checksums (see [`checksum`](crate::checksum))
//! prove nothing was lost or duplicated. The host tests run the same consumer with an
//! OS thread as the producer and a minimal thread-parking executor.
//!
//! References: the `Atomics.waitAsync` waker is `js-sys` 0.3.107's
//! `futures/task/multithread.rs` (re-exported by `wasm-bindgen-futures` 0.4.80; without
//! `Atomics.waitAsync` it falls back to a helper worker that `Atomics.wait`s and
//! `postMessage`s); the front end's protocol is `conkit_core::asynch` and
//! `conkit_core::spsc` (`AsyncProducer` / `AsyncConsumer`).

use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use conkit_core::asynch::Async;
use conkit_core::semaphore::Semaphore;
use conkit_core::spsc::{AsyncConsumer, AsyncProducer, PopError, SpscRing};
use conkit_core::wait::WaitStrategy;

use crate::checksum::{Checksum, Tally};
use crate::run::{DemoRun, Snapshot, Task, MAX_BATCH};

/// Ring capacity of the async demo.
pub const ASYNC_CAPACITY: usize = 256;

/// Statistics of an async run, shared by the producer worker, the main-thread consumer
/// and the page (all reads are atomic loads).
#[derive(Debug)]
pub struct AsyncRun {
    /// Items to send; `u32::MAX`: until stopped.
    items: u32,
    capacity: usize,
    stop: AtomicBool,
    producer: Tally,
    consumer: Tally,
    /// Polls of `pop()` that returned `Pending`: the main thread went back to its event
    /// loop and was woken by the producer.
    suspended: AtomicU32,
    /// Items taken by `pop().await` (the rest came with `pop_slice` right after it).
    awaited_items: AtomicU32,
}

impl AsyncRun {
    /// Items the producer sends (`u32::MAX`: until stopped).
    pub fn items(&self) -> u32 {
        self.items
    }

    /// Items the producer pushed so far.
    pub fn sent(&self) -> u64 {
        self.producer.count()
    }

    /// Items the main thread received so far.
    pub fn received(&self) -> u64 {
        self.consumer.count()
    }

    /// How often the main thread's task suspended in `pop().await` and was woken.
    pub fn suspended(&self) -> u32 {
        self.suspended.load(Ordering::Relaxed)
    }

    /// Items the main thread took with `pop().await` itself.
    pub fn awaited_items(&self) -> u32 {
        self.awaited_items.load(Ordering::Relaxed)
    }

    /// The producer's and the consumer's final checksums, once both ended.
    pub fn checksums(&self) -> Option<(Checksum, Checksum)> {
        Some((self.producer.result()?, self.consumer.result()?))
    }
}

impl DemoRun for AsyncRun {
    fn pause(&self, _paused: bool) -> bool {
        false
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        let (sent, received) = (self.sent(), self.received());
        Snapshot {
            sent: sent as f64,
            received: received as f64,
            fill: sent.saturating_sub(received).min(self.capacity as u64) as f64,
            capacity: self.capacity as f64,
            active_consumers: u32::from(self.consumer.result().is_none()),
            ..Snapshot::default()
        }
        .with_checksums(self.producer.result(), self.consumer.result())
    }

    fn worker_counts(&self) -> Vec<f64> {
        vec![self.sent() as f64, self.received() as f64]
    }
}

/// The shared ring type: `SpscRing` behind the async front end with one waker slot
/// (one task, the page's, waits on it).
type Ring<const N: usize, W> = Async<SpscRing<u32, N, W>, 1>;

/// The main thread's half of an async run: await [`consume`](Self::consume).
pub struct MainConsumer<const N: usize, W: WaitStrategy + 'static> {
    rx: AsyncConsumer<'static, u32, N, W, 1>,
    room: &'static Semaphore<W>,
    run: &'static AsyncRun,
}

impl<const N: usize, W: WaitStrategy + 'static> core::fmt::Debug for MainConsumer<N, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MainConsumer")
            .field("run", &self.run)
            .finish()
    }
}

/// Creates an async run of `items` items (`u32::MAX`: until [`DemoRun::stop`]) over a
/// ring of capacity `N`: the run, the producer's task (for a worker) and the main
/// thread's consumer.
///
/// The ring, the semaphore and the run are leaked (`'static`): the worker references
/// them for as long as it runs (a run costs `4 N` bytes plus a few cache lines).
///
/// On the host, with an OS thread as the worker and a thread-parking executor as the
/// page's event loop:
///
/// ```
/// use std::future::Future;
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Wake, Waker};
/// use std::time::Instant;
///
/// use conkit_core::wait::Spin;
/// use conkit_wasm_demo::async_job::async_spsc;
/// use conkit_wasm_demo::run::DemoRun;
///
/// let (run, producer, consumer) = async_spsc::<16, Spin<Instant>>(10_000);
/// let worker = std::thread::spawn(move || producer.run());
///
/// struct Unpark(std::thread::Thread);
/// impl Wake for Unpark {
///     fn wake(self: Arc<Self>) {
///         self.0.unpark();
///     }
/// }
/// let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
/// let mut consume = std::pin::pin!(consumer.consume());
/// let sum = loop {
///     match consume.as_mut().poll(&mut Context::from_waker(&waker)) {
///         Poll::Ready(sum) => break sum,
///         // (Bounded, so an example never hangs; the host tests fail on a lost wake.)
///         Poll::Pending => std::thread::park_timeout(std::time::Duration::from_secs(1)),
///     }
/// };
/// worker.join().unwrap();
/// assert_eq!(sum.count, 10_000);
/// assert!(run.snapshot().checksum_ok);
/// ```
pub fn async_spsc<const N: usize, W>(
    items: u32,
) -> (&'static AsyncRun, Box<dyn Task>, MainConsumer<N, W>)
where
    W: WaitStrategy + Send + Sync + 'static,
{
    let run: &'static AsyncRun = Box::leak(Box::new(AsyncRun {
        items,
        capacity: N,
        stop: AtomicBool::new(false),
        producer: Tally::new(),
        consumer: Tally::new(),
        suspended: AtomicU32::new(0),
        awaited_items: AtomicU32::new(0),
    }));
    let room: &'static Semaphore<W> = Box::leak(Box::new(Semaphore::new(N as u32)));
    let ring: &'static mut Ring<N, W> = Box::leak(Box::new(Async::new(SpscRing::new())));
    let (tx, rx) = ring.split();
    let producer = Box::new(AsyncFeeder { tx, room, run });
    (run, producer, MainConsumer { rx, room, run })
}

/// The producer: a worker that may block (on `room`), pushing through the front end so
/// that every push wakes the awaiting main thread.
struct AsyncFeeder<const N: usize, W: WaitStrategy + 'static> {
    tx: AsyncProducer<'static, u32, N, W, 1>,
    room: &'static Semaphore<W>,
    run: &'static AsyncRun,
}

impl<const N: usize, W: WaitStrategy + Send + Sync + 'static> Task for AsyncFeeder<N, W> {
    fn run(self: Box<Self>) {
        let AsyncFeeder { mut tx, room, run } = *self;
        let mut sum = Checksum::new();
        let mut next = 0u32;
        // Small blocks (at most a quarter of the ring), so the main thread is woken many
        // times per run rather than once per full ring.
        let block = (N / 4).clamp(1, MAX_BATCH);
        let mut buf = [0u32; MAX_BATCH];
        while next < run.items && !run.stop.load(Ordering::Relaxed) {
            let k = block.min((run.items - next) as usize);
            // Sleeps (worker) while the ring holds `N - k` items or more.
            room.acquire_many(k as u32);
            for (i, slot) in buf[..k].iter_mut().enumerate() {
                *slot = next + i as u32;
            }
            // `room` guarantees the space; `push_slice` wakes the parked main thread.
            let mut off = 0;
            while off < k {
                off += tx.push_slice(&buf[off..k]);
            }
            sum.add_all(&buf[..k]);
            next += k as u32;
            run.producer.progress(sum.count);
        }
        run.producer.finish(sum);
        // Dropping `tx` marks the ring abandoned and wakes the main thread, whose
        // `pop()` returns `Disconnected` once it has drained the ring.
    }
}

impl<const N: usize, W: WaitStrategy + 'static> MainConsumer<N, W> {
    /// Receives until the producer has gone and the ring is drained; never blocks the
    /// calling thread (it awaits). Returns the checksum of what it received (also
    /// published in the run).
    pub async fn consume(self) -> Checksum {
        let MainConsumer { mut rx, room, run } = self;
        let mut sum = Checksum::new();
        let mut buf = [0u32; MAX_BATCH];
        loop {
            let first = {
                let mut pop = pin!(rx.pop());
                core::future::poll_fn(|cx| match pop.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(r),
                    Poll::Pending => {
                        run.suspended.fetch_add(1, Ordering::Relaxed);
                        Poll::Pending
                    }
                })
                .await
            };
            let id = match first {
                Ok(id) => id,
                Err(PopError::Disconnected | PopError::Empty) => break,
            };
            run.awaited_items.fetch_add(1, Ordering::Relaxed);
            sum.add(id);
            // Whatever else is there now, in one slice.
            let more = rx.pop_slice(&mut buf);
            sum.add_all(&buf[..more]);
            // Never fails: at most `N` units are ever out.
            let _ = room.release_many(1 + more as u32);
            run.consumer.progress(sum.count);
        }
        run.consumer.finish(sum);
        sum
    }
}
