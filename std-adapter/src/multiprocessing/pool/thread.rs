//! [`ThreadPool`]: Python's `multiprocessing.pool.ThreadPool`, the pool API over worker
//! threads, taking closures (no serialisation).
//!
//! Reference: CPython `Lib/multiprocessing/pool.py` (`ThreadPool`, a `Pool` whose
//! workers are `threading.Thread`s). The task queue is [`crate::queue::Queue`] (the
//! core's queue, the one every conkit thread uses), shut down with Python 3.13's
//! `shutdown(immediate)` semantics on `close`/`terminate`. A task that is dropped
//! without running (by `terminate`) reports [`TaskError::Terminated`]. Threads cannot be
//! killed: `terminate` fails the queued tasks and waits for the running ones (as
//! CPython's `ThreadPool.terminate`).
//!
//! `map`, `starmap`, `imap` and `imap_unordered` do not queue a closure per chunk: the
//! input is one buffer whose chunk ranges the workers claim, and `map` writes the
//! results in place (see [`work`](super::work)).
//!
//! **At most `processes` tasks run at once** (Python's bound: pools serve as
//! concurrency limiters), counting every task, every chunk, and every caller running
//! chunks. A blocking `map`/`starmap` may run `f` on the calling thread (as rayon's
//! caller does; CPython runs every task on a worker): when one of the pool's
//! `processes` slots is free as the call starts, the caller takes it, one worker fewer
//! is asked to help, and the caller runs chunks until none is left; when no slot is
//! free it waits, as CPython's caller does. A worker takes a slot for each task it
//! runs. Pools made [`with_initializer`](ThreadPool::with_initializer) run tasks only
//! on their workers.
//!
//! **Idle workers look for work before sleeping.** A worker that ends a task spins
//! (yielding the CPU) for about as long as waking a sleeping worker has been measured to
//! take, one worker at a time, before it sleeps on the queue; a task submitted meanwhile
//! is handed straight to it (no futex call, no wake-up latency), and while a blocking
//! `map` caller reads its input the spinner keeps looking (at most 1 ms), since that
//! caller's helper task comes next. A blocking `map` caller that ran out of chunks looks
//! for its result the same way before sleeping on it. On the 2-core KVM guests a wake-up
//! costs the submitter ~10 µs and the task ~25 µs: a whole 100 k-item `map` of `x * x`
//! paid both per call (`mp-threadpool-map`). Spinning for as long as a wake-up takes costs
//! at most twice what sleeping would (the ski-rental bound), and nothing where wake-ups
//! are cheap. Measured on the 2-core Intel guest: the wake-up costs went (helper queued
//! in ~0.6 µs, started ~0.3 µs later), but the caller's reading of 100 k `u64`s slowed
//! from ~23 to ~33 µs beside the spinner, and on a loaded machine (other processes on
//! both cores) the row is ~4 % worse than without spinning. With `map` reading an
//! exact-size input while its chunks run (see [`work`](super::work)), the caller no
//! longer waits for the helper's start; measured again (2-core Intel guest, load
//! average ~2-3 from other builds, `pool_map` example): ~55-61 µs a call with the spin,
//! ~70-72 µs without, but the spinner also slows the rayon calls interleaved with them
//! (~75 against ~43 µs), and under heavier load the two were level.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::result::{
    ApplyCollector, AsyncResult, Callbacks, Completion, IMapIterator, MapResult, Sink,
};
use super::work::{in_place, End, Host, Output, Work};
use super::{
    default_chunksize, install_panic_capture, run_caught, CallbackThread, PoolError, TaskError,
};
use crate::queue::Queue;
use crate::threading::{Semaphore, SemaphoreGuard};

const RUNNING: u8 = 0;
const CLOSED: u8 = 1;
const TERMINATED: u8 = 2;

/// A queued task, and when it was queued; dropped without running, it reports
/// [`TaskError::Terminated`].
struct Job(Option<Box<dyn FnOnce(bool) + Send>>, Instant);

impl Job {
    fn new(f: Box<dyn FnOnce(bool) + Send>) -> Self {
        Job(Some(f), Instant::now())
    }

    fn run(mut self, run: bool) {
        if let Some(f) = self.0.take() {
            f(run);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(false);
        }
    }
}

/// Idle workers look for the next task a while before sleeping. Waking a sleeping
/// worker costs the submitter a futex call and the task a wake-up latency (on a VM
/// whose idle vCPU halted, tens of µs: as long as a whole 100 k-item `map`); a worker
/// that looks for about as long as a wake-up takes before sleeping pays at most twice
/// that cost (the ski-rental bound), and back-to-back calls find it awake.
///
/// One worker at a time spins (the others sleep at once: a spinner competes for the
/// CPUs with the threads running chunks). The submitter hands a task straight to it
/// when no task is queued: through the queue, `put` would also wake a sleeping worker
/// for a task that the spinner takes.
struct Idle {
    /// Tasks in the queue not yet taken by a worker.
    queued: AtomicUsize,
    /// Blocking `map` callers reading their input: the helpers they will queue are
    /// coming, so the spinner keeps looking however long the reading takes (up to
    /// [`MAX_SPIN`]).
    incoming: AtomicUsize,
    hand: Mutex<Hand>,
    /// `hand.job` is set (polled by the spinner without the lock).
    handed: AtomicBool,
    /// The wake-up latency measured (queued → started, for a task that did not find its
    /// worker spinning), a moving average in ns: the spin's budget. Updated without a
    /// lock (two workers' samples at once may lose one).
    wake_ns: AtomicU64,
    /// Tasks whose worker had to be woken (or was about to sleep): the samples taken.
    woken: AtomicUsize,
}

struct Hand {
    spinning: bool,
    job: Option<Job>,
}

/// The spin budget before any wake-up was measured.
const FIRST_WAKE: Duration = Duration::from_micros(50);
/// The longest spin (a pool whose wake-ups take longer sleeps sooner).
const MAX_SPIN: Duration = Duration::from_millis(1);

impl Idle {
    fn new() -> Self {
        Self {
            queued: AtomicUsize::new(0),
            incoming: AtomicUsize::new(0),
            hand: Mutex::new(Hand {
                spinning: false,
                job: None,
            }),
            handed: AtomicBool::new(false),
            wake_ns: AtomicU64::new(u64::try_from(FIRST_WAKE.as_nanos()).unwrap_or(u64::MAX)),
            woken: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hand> {
        self.hand.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One wake-up measured: `wake_ns += (sample - wake_ns) / 4`.
    fn record_wake(&self, sample: Duration) {
        self.woken.fetch_add(1, Ordering::Relaxed);
        let s = u64::try_from(sample.min(MAX_SPIN).as_nanos()).unwrap_or(u64::MAX);
        let old = self.wake_ns.load(Ordering::Relaxed);
        self.wake_ns.store(old - old / 4 + s / 4, Ordering::Relaxed);
    }

    /// Hands `job` to the spinning worker when there is one and nothing is queued ahead
    /// of it (called under the pool's `gate`); gives it back otherwise.
    fn offer(&self, job: Job) -> Result<(), Job> {
        if self.queued.load(Ordering::Acquire) > 0 {
            return Err(job);
        }
        let mut h = self.lock();
        if !h.spinning || h.job.is_some() {
            return Err(job);
        }
        h.job = Some(job);
        self.handed.store(true, Ordering::Release);
        Ok(())
    }

    /// Queues `job` in `queue` (counted in `queued`), or hands it to the spinner.
    fn submit(&self, queue: &Queue<Job>, job: Job) {
        if let Err(job) = self.offer(job) {
            self.queued.fetch_add(1, Ordering::AcqRel);
            // An unbounded queue: `put` only fails after a shutdown, which the pool's
            // `gate` excludes; a refused job reports Terminated when dropped.
            if queue.put(job).is_err() {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Polls `done` (yielding the CPU in between) for up to the spin budget; whether it
    /// turned true.
    fn look(&self, done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        let budget = self.budget();
        loop {
            if done() {
                return true;
            }
            if start.elapsed() >= budget {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// The spin budget: the measured wake-up latency, at most [`MAX_SPIN`].
    fn budget(&self) -> Duration {
        Duration::from_nanos(self.wake_ns.load(Ordering::Relaxed)).min(MAX_SPIN)
    }

    /// An idle worker's wait before its blocking `get`: unless another worker spins,
    /// looks (yielding the CPU) until a task is handed over or queued, the pool stops
    /// running, or the budget is spent with no `map` caller reading its input. The task
    /// handed over, if any, and whether a task came while it looked.
    fn spin(&self, state: &AtomicU8) -> (Option<Job>, bool) {
        if self.queued.load(Ordering::Acquire) > 0 {
            return (None, true);
        }
        {
            let mut h = self.lock();
            if h.spinning {
                return (None, false);
            }
            h.spinning = true;
        }
        let start = Instant::now();
        let budget = self.budget();
        loop {
            if self.handed.load(Ordering::Acquire)
                || self.queued.load(Ordering::Acquire) > 0
                || state.load(Ordering::Acquire) != RUNNING
            {
                break;
            }
            let spent = start.elapsed();
            let caller_reading = self.incoming.load(Ordering::Acquire) > 0;
            if spent >= budget && !(caller_reading && spent < MAX_SPIN) {
                break;
            }
            std::thread::yield_now();
        }
        let mut h = self.lock();
        h.spinning = false;
        self.handed.store(false, Ordering::Relaxed);
        let job = h.job.take();
        drop(h);
        let found = job.is_some() || self.queued.load(Ordering::Acquire) > 0;
        (job, found)
    }
}

/// Counts a blocking `map` caller as reading its input until dropped.
struct Reading<'a>(&'a AtomicUsize);

impl<'a> Reading<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Reading(n)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Inner {
    queue: Queue<Job>,
    /// RUNNING, CLOSED or TERMINATED; changed and checked-then-put under `gate`.
    state: AtomicU8,
    gate: Mutex<()>,
    callbacks: CallbackThread,
    /// `workers` permits: a worker holds one while it runs a job, a `map` caller while
    /// it runs chunks, so at most `workers` tasks run at once (Python's bound).
    slots: Semaphore,
    /// Idle workers look for the next task a while before sleeping.
    idle: Idle,
}

impl Host for Inner {
    fn terminated(&self) -> bool {
        self.state.load(Ordering::Acquire) == TERMINATED
    }

    fn callbacks(&self) -> &CallbackThread {
        &self.callbacks
    }
}

/// A pool of worker threads (Python's `multiprocessing.pool.ThreadPool`): the [`Pool`]
/// API with closures.
///
/// [`Pool`]: super::Pool
///
/// ```
/// use conkit::multiprocessing::pool::ThreadPool;
///
/// let pool = ThreadPool::new(4).unwrap();
/// let squares = pool.map(|x: u64| x * x, 0..100, None).unwrap();
/// assert_eq!(squares[9], 81);
/// let sums = pool.starmap(|a: u32, b: u32| a + b, vec![(1, 2), (3, 4)], None).unwrap();
/// assert_eq!(sums, vec![3, 7]);
/// pool.close();
/// pool.join().unwrap();
/// ```
pub struct ThreadPool {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    workers: usize,
    /// `map` runs chunks on the calling thread too (a pool without an initializer).
    caller_helps: bool,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers)
            .field("state", &self.inner.state.load(Ordering::Relaxed))
            .finish()
    }
}

/// A closure over one tuple of arguments: what [`ThreadPool::starmap`] calls (Python's
/// `func(*args)`). Implemented for closures of 1 to 4 arguments.
pub trait StarCall<Args, R>: Send + Sync + 'static {
    /// Calls `self(a, b, …)` with the tuple's fields.
    ///
    /// ```
    /// use conkit::multiprocessing::pool::StarCall;
    /// assert_eq!(StarCall::call_star(&|a: u8, b: u8| a + b, (1, 2)), 3);
    /// ```
    fn call_star(&self, args: Args) -> R;
}

macro_rules! star_call {
    ($($a:ident),+) => {
        impl<F, R, $($a),+> StarCall<($($a,)+), R> for F
        where
            F: Fn($($a),+) -> R + Send + Sync + 'static,
        {
            #[allow(non_snake_case)]
            fn call_star(&self, ($($a,)+): ($($a,)+)) -> R {
                self($($a),+)
            }
        }
    };
}
star_call!(A);
star_call!(A, B);
star_call!(A, B, C);
star_call!(A, B, C, D);

impl ThreadPool {
    /// A pool of `threads` worker threads (Python's `ThreadPool(processes)`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] for 0, [`PoolError::Os`] if a thread cannot be started.
    pub fn new(threads: usize) -> Result<Self, PoolError> {
        Self::start(threads, Arc::new(|| {}), true)
    }

    /// A pool whose every worker runs `initializer()` first (Python's `initializer`,
    /// `initargs`: the closure captures the arguments).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let pool = conkit::multiprocessing::pool::ThreadPool::with_initializer(3, move || {
    ///     s.fetch_add(1, Ordering::SeqCst);
    /// })
    /// .unwrap();
    /// pool.close();
    /// pool.join().unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 3);
    /// ```
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_initializer(
        threads: usize,
        initializer: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, PoolError> {
        // The calling thread never ran the initializer: it runs no task.
        Self::start(threads, Arc::new(initializer), false)
    }

    fn start(
        threads: usize,
        init: Arc<dyn Fn() + Send + Sync>,
        caller_helps: bool,
    ) -> Result<Self, PoolError> {
        if threads == 0 {
            return Err(PoolError::NoWorkers);
        }
        install_panic_capture(false);
        let inner = Arc::new(Inner {
            queue: Queue::new(0),
            state: AtomicU8::new(RUNNING),
            gate: Mutex::new(()),
            callbacks: CallbackThread::new(),
            slots: Semaphore::new(u32::try_from(threads).unwrap_or(u32::MAX)),
            idle: Idle::new(),
        });
        let pool = ThreadPool {
            inner: inner.clone(),
            threads: Mutex::new(Vec::with_capacity(threads)),
            workers: threads,
            caller_helps,
        };
        for i in 0..threads {
            let inner = inner.clone();
            let init = init.clone();
            let h = std::thread::Builder::new()
                .name(format!("ThreadPoolWorker-{}", i + 1))
                .spawn(move || {
                    if run_caught(|| init()).is_err() {
                        return;
                    }
                    loop {
                        let (handed, found) = inner.idle.spin(&inner.state);
                        let job = match handed {
                            Some(job) => job,
                            None => match inner.queue.get() {
                                Ok(job) => {
                                    inner.idle.queued.fetch_sub(1, Ordering::AcqRel);
                                    job
                                }
                                Err(_) => break,
                            },
                        };
                        if !found {
                            // It slept (or was about to) when the task came: how long
                            // the wake-up took, the next spins' budget.
                            inner.idle.record_wake(job.1.elapsed());
                        }
                        if inner.state.load(Ordering::Acquire) == TERMINATED {
                            job.run(false);
                            continue;
                        }
                        // One of the pool's `workers` slots, while a `map` caller may
                        // hold another (given back by the guard even on unwinding).
                        let _slot = inner.slots.acquire_guard();
                        let run = inner.state.load(Ordering::Acquire) != TERMINATED;
                        job.run(run);
                    }
                })
                .map_err(PoolError::Os)?;
            pool.threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h);
        }
        Ok(pool)
    }

    /// The number of worker threads.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::pool::ThreadPool::new(1).unwrap().workers(), 1);
    /// ```
    pub fn workers(&self) -> usize {
        self.workers
    }

    fn submit(&self, job: Box<dyn FnOnce(bool) + Send>) -> Result<(), PoolError> {
        let _g = self.inner.gate.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.state.load(Ordering::Acquire) != RUNNING {
            // Never queued: its result is never handed out, so nothing waits for it.
            drop(job);
            return Err(PoolError::NotRunning);
        }
        self.inner.idle.submit(&self.inner.queue, Job::new(job));
        Ok(())
    }

    /// Queues one helper per worker (at most one per chunk) for `work`, one fewer when
    /// the caller helps too (it holds one of the `workers` slots: a call runs on at
    /// most `workers` threads).
    fn submit_work<A, R, F>(
        &self,
        work: Work<A, R, F, Inner>,
        caller_helps: bool,
    ) -> Result<Arc<Work<A, R, F, Inner>>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let _g = self.inner.gate.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.state.load(Ordering::Acquire) != RUNNING {
            // Nothing ran: dropping `work` drops its inputs; its result is never handed
            // out.
            return Err(PoolError::NotRunning);
        }
        let helpers = self.workers.min(work.chunks()) - usize::from(caller_helps);
        let work = Arc::new(work);
        for _ in 0..helpers {
            let w = work.clone();
            self.inner.idle.submit(
                &self.inner.queue,
                Job::new(Box::new(move |run: bool| w.help(run, End::Front))),
            );
        }
        Ok(work)
    }

    /// Runs `f()` on a worker and waits for its value (Python's `apply`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(1).unwrap();
    /// assert_eq!(pool.apply(|| 2 + 2).unwrap(), 4);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Task`] if `f` panicked, [`PoolError::NotRunning`] after `close`.
    pub fn apply<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        self.apply_async(f)?.get()
    }

    /// Runs `f()` on a worker (Python's `apply_async`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| "hi").unwrap();
    /// assert_eq!(r.get().unwrap(), "hi");
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`/`terminate`.
    pub fn apply_async<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.apply_async_with(f, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with a `callback` / `error_callback`.
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{Callbacks, ThreadPool};
    /// let pool = ThreadPool::new(1).unwrap();
    /// let cb = Callbacks::new().error_callback(|e| eprintln!("failed: {e}"));
    /// let r = pool.apply_async_with(|| -> u8 { panic!("boom") }, cb).unwrap();
    /// assert!(r.get().is_err());
    /// ```
    ///
    /// # Errors
    /// As [`apply_async`](Self::apply_async).
    pub fn apply_async_with<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>, PoolError> {
        let result = AsyncResult::pending();
        let sink: Sink<R> = Arc::new(ApplyCollector::new(Completion::new(&result, callbacks)));
        let inner = self.inner.clone();
        self.submit(Box::new(move |run: bool| {
            let r = if run {
                run_caught(f).map(|v| vec![v])
            } else {
                Err(TaskError::Terminated)
            };
            sink.chunk_done(0, r, &inner.callbacks);
        }))?;
        Ok(result)
    }

    fn chunksize_for(&self, len: usize, chunksize: Option<usize>) -> usize {
        chunksize.unwrap_or_else(|| default_chunksize(len, self.workers))
    }

    /// `f` over every item, in order (Python's `map(func, iterable, chunksize)`; `None`
    /// takes Python's default chunk size, `len / (4 * workers)` rounded up).
    ///
    /// `f` may run on the calling thread: if one of the pool's
    /// [`workers`](Self::workers) slots is free when the call starts, the caller takes
    /// it and runs chunks (one worker fewer helps) instead of sleeping, as rayon's
    /// caller does; otherwise it waits, as CPython's caller does (CPython runs every
    /// task on a worker). Either way the pool runs at most `workers` tasks and chunks
    /// at any moment, callers running chunks included, whatever other threads submit
    /// meanwhile. A pool made [`with_initializer`](Self::with_initializer) runs `f`
    /// only on its workers. As in CPython, an `f` that waits for another task of the
    /// same pool can wait forever once every slot is taken. An iterator of exact length
    /// (`size_hint`) is read while the chunks run, the caller's chunks computed as they
    /// are read: an iterator that yields fewer or more items than it reported still
    /// gives every item's result, in order; one that panics propagates its panic.
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// assert_eq!(pool.map(|s: &str| s.len(), vec!["a", "bb"], Some(1)).unwrap(), vec![1, 2]);
    /// ```
    ///
    /// # Errors
    /// The first failed chunk's [`PoolError::Task`]; [`PoolError::NotRunning`].
    pub fn map<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let iter = iterable.into_iter();
        let (lo, hi) = iter.size_hint();
        if self.caller_helps && lo > 0 && hi == Some(lo) {
            if let Some(slot) = self.inner.slots.try_acquire_guard() {
                return self.map_reading(f, iter, lo, chunksize, slot);
            }
        }
        self.map_collected(f, iter, chunksize)
    }

    /// A blocking `map` that reads the whole input before its chunks run.
    fn map_collected<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let (result, help) = self.map_start(f, iterable, chunksize, Callbacks::new(), true)?;
        if let Some((work, slot)) = help {
            work.help(true, End::Back);
            drop(slot);
            // No chunk is left to claim: the ones still running are the workers' last.
            // Looked for as an idle worker looks for tasks before sleeping on the result
            // (whose wake-up would be the call's last latency).
            self.inner.idle.look(|| result.ready());
        }
        result.get()
    }

    /// A blocking `map` of `len` items (an exact `size_hint`) in a free slot: the caller
    /// reads the items while the helpers run the chunks it hands them, running its own
    /// chunks as it reads them (see [`Work::read`]); items past the hint are mapped
    /// by a `map` of their own, appended.
    fn map_reading<A, R, F>(
        &self,
        f: F,
        mut iter: impl Iterator<Item = A>,
        len: usize,
        chunksize: Option<usize>,
        slot: SemaphoreGuard<'_>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let size = self.chunksize_for(len, chunksize);
        let result = AsyncResult::pending();
        let completion = Completion::new(&result, Callbacks::new());
        let f = Arc::new(f);
        let g = f.clone();
        let Some(work) = Work::unread(
            move |a| g(a),
            self.inner.clone(),
            len,
            size,
            in_place(completion),
        ) else {
            drop(slot);
            return self.map_collected(move |a| f(a), iter, chunksize);
        };
        let helpers = self.workers.min(work.chunks()) - 1;
        let work = self.submit_work(work, true)?;
        let extra = work.read(&mut iter, helpers);
        drop(work);
        drop(slot);
        self.inner.idle.look(|| result.ready());
        let mut out = result.get();
        if let Some(a) = extra {
            // The iterator gave more than its `size_hint`: the rest in a call of its own.
            let rest: Vec<A> = std::iter::once(a).chain(iter).collect();
            let more = self.map_collected(move |a| f(a), rest, chunksize);
            match (&mut out, more) {
                (Ok(v), Ok(m)) => v.extend(m),
                (Ok(_), Err(e)) => out = Err(e),
                (Err(_), _) => {}
            }
        }
        out
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// let r = pool.map_async(|x: i32| -x, vec![1, 2], None).unwrap();
    /// assert_eq!(r.get().unwrap(), vec![-1, -2]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn map_async<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        self.map_async_with(f, iterable, chunksize, Callbacks::new())
    }

    /// [`map_async`](Self::map_async) with a `callback` (receiving the whole list) /
    /// `error_callback`.
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{Callbacks, ThreadPool};
    /// let pool = ThreadPool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<u8>| assert_eq!(v.len(), 3));
    /// pool.map_async_with(|x: u8| x, vec![1, 2, 3], None, cb).unwrap().wait();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn map_async_with<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        Ok(self.map_start(f, iterable, chunksize, callbacks, false)?.0)
    }

    /// Starts a `map`; with `wait` (a blocking `map`), in a pool whose caller helps and
    /// when one of the `workers` slots is free, also the call for the caller to help
    /// with and the slot it holds meanwhile.
    #[allow(clippy::type_complexity)]
    fn map_start<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
        wait: bool,
    ) -> Result<
        (
            MapResult<R>,
            Option<(Arc<Work<A, R, F, Inner>>, SemaphoreGuard<'_>)>,
        ),
        PoolError,
    >
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        // A spinning worker keeps looking while a blocking caller reads its input.
        let _reading = (wait && self.caller_helps).then(|| Reading::new(&self.inner.idle.incoming));
        let items: Vec<A> = iterable.into_iter().collect();
        let size = self.chunksize_for(items.len(), chunksize);
        let result = AsyncResult::pending();
        let completion = Completion::new(&result, callbacks);
        if items.is_empty() {
            if self.inner.state.load(Ordering::Acquire) != RUNNING {
                return Err(PoolError::NotRunning);
            }
            completion.complete(Ok(Vec::new()), &self.inner.callbacks);
            return Ok((result, None));
        }
        let work = Work::new(f, self.inner.clone(), items, size, in_place(completion));
        // The caller runs chunks only in a free slot, taken before the helpers are
        // queued (one fewer of them); with none free it queues a helper per worker and
        // waits, as a caller of `map_async`. It never waits for a slot: a queued task
        // keeps its place ahead of this call's chunks.
        let slot = if wait && self.caller_helps {
            self.inner.slots.try_acquire_guard()
        } else {
            None
        };
        let work = self.submit_work(work, slot.is_some())?;
        Ok((result, slot.map(|slot| (work, slot))))
    }

    /// `f(a, b, …)` over tuples of arguments (Python's `starmap`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// let v = pool.starmap(|a: u8, b: u8, c: u8| a * b + c, vec![(2, 3, 1)], None).unwrap();
    /// assert_eq!(v, vec![7]);
    /// ```
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<Args, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        Args: Send + 'static,
        R: Send + 'static,
        F: StarCall<Args, R>,
    {
        self.map(move |args: Args| f.call_star(args), iterable, chunksize)
    }

    /// [`starmap`](Self::starmap) without waiting (Python's `starmap_async`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// let r = pool.starmap_async(|a: u8, b: u8| a + b, vec![(1, 1)], None).unwrap();
    /// assert_eq!(r.get().unwrap(), vec![2]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn starmap_async<Args, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        Args: Send + 'static,
        R: Send + 'static,
        F: StarCall<Args, R>,
    {
        self.map_async(move |args: Args| f.call_star(args), iterable, chunksize)
    }

    fn imap_impl<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let items: Vec<A> = iterable.into_iter().collect();
        let it = IMapIterator::new(items.len().div_ceil(chunksize.max(1)), ordered);
        let sink: Sink<R> = it.collector();
        let work = Work::new(f, self.inner.clone(), items, chunksize, |_, _| {
            Output::Chunks(sink)
        });
        self.submit_work(work, false)?;
        Ok(it)
    }

    /// `f` over every item, yielding results in input order as they arrive (Python's
    /// `imap(func, iterable, chunksize=1)`; a `chunksize` of 0 is taken as 1, where
    /// CPython raises `ValueError`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// let v: Vec<u8> = pool.imap(|x: u8| x + 1, 0..3, 2).unwrap().map(Result::unwrap).collect();
    /// assert_eq!(v, vec![1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn imap<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        self.imap_impl(f, iterable, chunksize, true)
    }

    /// As [`imap`](Self::imap), yielding in completion order (Python's `imap_unordered`).
    ///
    /// ```
    /// let pool = conkit::multiprocessing::pool::ThreadPool::new(2).unwrap();
    /// let mut v: Vec<u8> = pool.imap_unordered(|x: u8| x, 0..4, 1).unwrap().map(Result::unwrap).collect();
    /// v.sort();
    /// assert_eq!(v, vec![0, 1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn imap_unordered<A, R, F>(
        &self,
        f: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        self.imap_impl(f, iterable, chunksize, false)
    }

    /// Accepts no more tasks; the workers end once the queued ones are done (Python's
    /// `close`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{PoolError, ThreadPool};
    /// let pool = ThreadPool::new(1).unwrap();
    /// pool.close();
    /// assert!(matches!(pool.apply(|| 1), Err(PoolError::NotRunning)));
    /// ```
    pub fn close(&self) {
        let _g = self.inner.gate.lock().unwrap_or_else(|e| e.into_inner());
        let _ =
            self.inner
                .state
                .compare_exchange(RUNNING, CLOSED, Ordering::AcqRel, Ordering::Acquire);
        self.inner.queue.shutdown(false);
    }

    /// Fails every queued task with [`TaskError::Terminated`], waits for the running
    /// ones and ends the workers (Python's `terminate`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let slow = pool
    ///     .apply_async(move || {
    ///         tx.send(()).unwrap();
    ///         std::thread::sleep(std::time::Duration::from_millis(500))
    ///     })
    ///     .unwrap();
    /// let queued = pool.apply_async(|| 1).unwrap();
    /// rx.recv().unwrap(); // the only worker runs `slow`: `queued` waits in the queue
    /// pool.terminate();
    /// assert!(slow.get().is_ok()); // a running task finishes
    /// assert_eq!(queued.get().unwrap_err().to_string(), "the pool was terminated");
    /// ```
    pub fn terminate(&self) {
        {
            let _g = self.inner.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.state.store(TERMINATED, Ordering::Release);
            // Queued jobs are dropped by the immediate shutdown: each reports Terminated.
            self.inner.queue.shutdown(true);
        }
        self.join_threads();
    }

    fn join_threads(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        self.inner.callbacks.join();
    }

    /// Waits for the workers to end, and for every callback (Python's `join`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{PoolError, ThreadPool};
    /// let pool = ThreadPool::new(1).unwrap();
    /// assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
    /// pool.close();
    /// pool.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] unless [`close`](Self::close) or
    /// [`terminate`](Self::terminate) came first.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.inner.state.load(Ordering::Acquire) == RUNNING {
            return Err(PoolError::StillRunning);
        }
        self.join_threads();
        Ok(())
    }
}

impl Drop for ThreadPool {
    /// Terminates the pool (Python's `with ThreadPool() as p:` exit).
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::{Idle, Job, ThreadPool, MAX_SPIN, RUNNING};
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn set_budget(idle: &Idle, d: Duration) {
        idle.wake_ns
            .store(u64::try_from(d.as_nanos()).unwrap(), Ordering::Relaxed);
    }

    /// One worker spins at a time; a task offered while it spins is handed to it (not
    /// queued); with none, it gives up after its budget, or after `MAX_SPIN` while a
    /// `map` caller reads its input; offers go to the queue when nobody spins or a task
    /// is queued ahead.
    #[test]
    fn idle_worker_spins_alone_takes_handed_tasks_and_gives_up_after_its_budget() {
        let idle = Arc::new(Idle::new());
        let state = Arc::new(AtomicU8::new(RUNNING));
        set_budget(&idle, MAX_SPIN);
        let ran = Arc::new(AtomicBool::new(false));
        let job = {
            let ran = ran.clone();
            Job::new(Box::new(move |run| ran.store(run, Ordering::SeqCst)))
        };
        // Nobody spins: the offer is refused.
        let job = idle.offer(job).unwrap_err();
        set_budget(&idle, Duration::from_secs(3600)); // capped at MAX_SPIN
        let spinner = {
            let (idle, state) = (idle.clone(), state.clone());
            std::thread::spawn(move || {
                let mut spins = 0;
                loop {
                    spins += 1;
                    if let (Some(job), true) = idle.spin(&state) {
                        return (job, spins);
                    }
                }
            })
        };
        while !idle.lock().spinning {
            std::thread::yield_now();
        }
        // A second idle worker does not spin beside it.
        let t = Instant::now();
        let second = idle.spin(&state);
        assert!(second.0.is_none() && !second.1);
        // A task queued ahead: the offer goes to the queue too.
        idle.queued.fetch_add(1, Ordering::SeqCst);
        let job = idle.offer(job).unwrap_err();
        idle.queued.fetch_sub(1, Ordering::SeqCst);
        // Handed while it spins (retried if its budget ran out in between).
        let mut job = Some(job);
        while let Some(j) = job.take() {
            if let Err(j) = idle.offer(j) {
                job = Some(j);
                std::thread::yield_now();
            }
        }
        let (job, _) = spinner.join().unwrap();
        job.run(true);
        assert!(ran.load(Ordering::SeqCst));
        assert!(t.elapsed() < Duration::from_secs(60));
        // Nothing comes: it gives up after its budget...
        set_budget(&idle, Duration::from_micros(1));
        let t = Instant::now();
        assert!(matches!(idle.spin(&state), (None, false)));
        let alone = t.elapsed();
        // ... or after MAX_SPIN while a map caller reads its input.
        idle.incoming.fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        assert!(matches!(idle.spin(&state), (None, false)));
        assert!(
            t.elapsed() >= MAX_SPIN,
            "{:?} (alone: {alone:?})",
            t.elapsed()
        );
        // A pool that stopped running: no spin at all, even with a caller reading.
        state.store(super::CLOSED, Ordering::SeqCst);
        set_budget(&idle, Duration::from_secs(3600));
        assert!(matches!(idle.spin(&state), (None, false)));
        idle.incoming.fetch_sub(1, Ordering::SeqCst);
    }

    /// `mp-threadpool-map` made 20 `map` calls in a row, and each woke a sleeping
    /// worker for its helper (a futex call on the caller, ~25 µs before the helper ran,
    /// on the 2-core KVM guest: as long as the call). The worker that ran the helper
    /// now looks for the next call's helper before sleeping.
    #[test]
    fn back_to_back_maps_find_a_worker_awake() {
        let pool = ThreadPool::new(2).unwrap();
        // The budget is a measured wake-up latency: give it the most (1 ms) so that a
        // loaded test machine's scheduling does not decide the count.
        set_budget(&pool.inner.idle, MAX_SPIN);
        let calls = 20;
        let mut woken = Vec::new();
        for _ in 0..calls {
            let before = pool.inner.idle.woken.load(Ordering::SeqCst);
            let v = pool.map(|x: u64| x * x, 0..20_000, None).unwrap();
            assert_eq!(v[19_999], 19_999 * 19_999);
            woken.push(pool.inner.idle.woken.load(Ordering::SeqCst) - before);
            set_budget(&pool.inner.idle, MAX_SPIN);
        }
        // Before: one wake-up per call (20). The first calls may still wake one.
        let total: usize = woken.iter().sum();
        assert!(
            total <= calls / 2,
            "{total} wake-ups in {calls} calls: {woken:?}"
        );
    }

    /// A pool whose workers spin ends at once on `close` + `join` and on `terminate`,
    /// and a task handed to a spinner is not lost when the pool closes.
    #[test]
    fn spinning_workers_end_with_the_pool_and_run_handed_tasks() {
        for terminate in [false, true] {
            let pool = ThreadPool::new(2).unwrap();
            set_budget(&pool.inner.idle, MAX_SPIN);
            let rs: Vec<_> = (0..50u32)
                .map(|i| pool.apply_async(move || i * 2).unwrap())
                .collect();
            let t = Instant::now();
            if terminate {
                pool.terminate();
                for r in rs {
                    match r.get() {
                        Ok(v) => assert!(v % 2 == 0),
                        Err(e) => assert_eq!(e.to_string(), "the pool was terminated"),
                    }
                }
            } else {
                pool.close();
                pool.join().unwrap();
                let got: Vec<u32> = rs.into_iter().map(|r| r.get().unwrap()).collect();
                assert_eq!(got, (0..50).map(|i| i * 2).collect::<Vec<_>>());
            }
            assert!(t.elapsed() < Duration::from_secs(30));
        }
    }
}
