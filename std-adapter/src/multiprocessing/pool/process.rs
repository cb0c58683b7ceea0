//! [`Pool`]: Python's `multiprocessing.Pool`, worker processes started with any start
//! method, tasks that are `fn` items plus serde arguments.
//!
//! Reference: CPython `Lib/multiprocessing/pool.py` (`Pool`, `worker`, the
//! `maxtasksperchild` replacement in `_maintain_pool`, `mapstar`/`starmapstar`).
//!
//! # How it works
//! Each worker is a [`Process`] (daemonic, named `ForkPoolWorker-N` /
//! `SpawnPoolWorker-N` as in CPython) running one loop: take a task from its own
//! [`Queue`] (the core byte ring in shared memory), record the task's number in a shared
//! slot ([`RawValue<u64>`]), run it, put the reply on the pool's one result [`Queue`].
//! The parent has one supervisor thread: it takes the replies, hands each worker two
//! tasks at a time (one running, the next ready, so a worker never waits for the parent
//! between small tasks; up to 16 while many are queued, at most `maxtasksperchild`),
//! gives an idle worker the ready tasks of a busy one (work stealing: no task waits
//! behind a long one while a worker is idle), and watches the workers' pidfds with
//! `poll`. CPython shares one task pipe between all workers instead, which is why it
//! cannot tell which task a dead worker was running.
//!
//! When a worker ends unexpectedly (a signal, an exit), the supervisor first takes every
//! reply already queued, then fails the task named in the worker's slot — if it had not
//! replied — with [`TaskError::WorkerLost`], gives the worker's other (not started)
//! tasks to the rest, and starts a replacement. A worker that ends after
//! `maxtasksperchild` tasks is replaced the same way, with nothing to fail.
//!
//! # Start-up
//! [`PoolBuilder::build`] makes the result queue and the workers' task queues on several
//! threads at once (a new queue's ring is written through once: about 0.7 ms per MiB),
//! then starts `spawn` workers at once, one thread each, so that no `exec` waits for the
//! one before; `fork` and `forkserver` workers start one after the other (a child
//! forked while a sibling thread holds a lock would inherit it held).
//!
//! # Spawned workers under `cargo test`
//! The supervisor thread starts the workers (also the replacements), so it takes the
//! name of the thread that created the pool: a `spawn` worker re-executes the test
//! binary with that test's name (see [`process`](super::super::process)).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::os::fd::RawFd;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::result::{
    ApplyCollector, AsyncResult, Callbacks, Completion, IMapIterator, MapCollector, MapResult, Sink,
};
use super::{
    chunks, default_chunksize, install_panic_capture, run_caught, CallbackThread, PoolError,
    TaskError,
};
use crate::multiprocessing::codec;
use crate::multiprocessing::process::{cpu_count, get_start_method, Process, StartMethod};
use crate::multiprocessing::queues::{GetError, PutError, Queue};
use crate::multiprocessing::RawValue;

/// Tasks a worker holds at once: the one it runs and the next; up to [`MAX_CREDIT`]
/// while the backlog is long (fewer trips through the parent for small tasks; idle
/// workers take the surplus back by stealing).
const CREDIT: usize = 2;
/// The most tasks a worker holds at once.
const MAX_CREDIT: usize = 16;
/// How often the supervisor looks at the workers' pidfds (at most).
const TICK: Duration = Duration::from_millis(20);
/// The ring of each queue when none is chosen ([`PoolBuilder::queue_capacity`]).
const QUEUE_BYTES: usize = crate::multiprocessing::queues::DEFAULT_CAPACITY;
/// A reply number that only wakes the supervisor (and a worker's slot between tasks).
const WAKE: u64 = 0;
/// A worker's slot after its initializer failed.
const INIT_FAILED: u64 = u64::MAX;
/// A worker's slot until its loop starts (after the initializer).
const NOT_STARTED: u64 = u64::MAX - 1;
/// Workers in a row that end before their loop starts, after which the tasks they would
/// have run fail ([`TaskError::NoWorker`]) instead of waiting for one that starts.
const START_FAILURES: u32 = 3;
/// Threads that make the queues and start the workers of a new pool at once (at most).
const START_THREADS: usize = 8;

// ---------------------------------------------------------------------------------------
// Functions across `exec`: offsets from an anchor of this binary.

#[inline(never)]
fn anchor() {}

fn offset_of(addr: usize) -> i64 {
    addr as i64 - anchor as fn() as usize as i64
}

fn rebase(offset: i64) -> usize {
    (anchor as fn() as usize as i64 + offset) as usize
}

type ChunkTramp = fn(usize, &[u8]) -> Result<Vec<u8>, TaskError>;
type InitTramp = fn(usize, &[u8]) -> Result<(), TaskError>;

/// Decodes a chunk of `A`s, maps them with the `fn(A) -> R` at `target`, encodes the `R`s.
fn map_tramp<A: DeserializeOwned, R: Serialize>(
    target: usize,
    bytes: &[u8],
) -> Result<Vec<u8>, TaskError> {
    let items: Vec<A> =
        codec::from_bytes(bytes).map_err(|e| TaskError::Arguments(e.to_string()))?;
    // SAFETY: `target` is the address of an `fn(A) -> R` taken in the parent for this
    // very instance of the trampoline (same binary: fork shares the image; spawn checked
    // the executable's fingerprint and the offset was rebased on this process's anchor).
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(target) };
    let out = run_caught(|| items.into_iter().map(f).collect::<Vec<R>>())?;
    codec::to_bytes(&out).map_err(|e| TaskError::Result(e.to_string()))
}

/// As [`map_tramp`] for a [`StarFn`] over tuples.
fn star_tramp<S: StarFn<Args, R>, Args: DeserializeOwned, R: Serialize>(
    target: usize,
    bytes: &[u8],
) -> Result<Vec<u8>, TaskError> {
    let items: Vec<Args> =
        codec::from_bytes(bytes).map_err(|e| TaskError::Arguments(e.to_string()))?;
    // SAFETY: as in `map_tramp`: `target` is the address of the `S` function pointer.
    let f = unsafe { S::from_addr(target) };
    let out = run_caught(|| items.into_iter().map(|a| f.call(a)).collect::<Vec<R>>())?;
    codec::to_bytes(&out).map_err(|e| TaskError::Result(e.to_string()))
}

fn init_tramp<I: DeserializeOwned>(target: usize, bytes: &[u8]) -> Result<(), TaskError> {
    let args: I = codec::from_bytes(bytes).map_err(|e| TaskError::Arguments(e.to_string()))?;
    // SAFETY: as in `map_tramp`, for the `fn(I)` initializer.
    let f = unsafe { std::mem::transmute::<usize, fn(I)>(target) };
    run_caught(|| f(args))
}

mod sealed {
    pub trait Sealed {}
}

/// A function pointer over a tuple of arguments: what [`Pool::starmap`] sends to the
/// workers (Python's `func(*args)`). Implemented for `fn` pointers of 1 to 4 arguments;
/// a function item becomes one with `as`: `add as fn(u32, u32) -> u32`.
///
/// ```
/// use conkit::multiprocessing::pool::StarFn;
/// fn add(a: u32, b: u32) -> u32 { a + b }
/// assert_eq!(StarFn::call(add as fn(u32, u32) -> u32, (1, 2)), 3);
/// ```
pub trait StarFn<Args, R>: sealed::Sealed + Copy + Send + Sync + 'static {
    /// Calls the function with the tuple's fields.
    ///
    /// ```
    /// use conkit::multiprocessing::pool::StarFn;
    /// fn neg(a: i8) -> i8 { -a }
    /// assert_eq!(StarFn::call(neg as fn(i8) -> i8, (1,)), -1);
    /// ```
    fn call(self, args: Args) -> R;
    #[doc(hidden)]
    fn addr(self) -> usize;
    #[doc(hidden)]
    /// # Safety
    /// `addr` must come from [`StarFn::addr`] of the same type in the same binary.
    unsafe fn from_addr(addr: usize) -> Self;
}

macro_rules! star_fn {
    ($($a:ident),+) => {
        impl<R, $($a),+> sealed::Sealed for fn($($a),+) -> R {}
        impl<R: 'static, $($a: 'static),+> StarFn<($($a,)+), R> for fn($($a),+) -> R {
            #[allow(non_snake_case)]
            fn call(self, ($($a,)+): ($($a,)+)) -> R {
                self($($a),+)
            }
            fn addr(self) -> usize {
                self as usize
            }
            unsafe fn from_addr(addr: usize) -> Self {
                // SAFETY: the caller passes an address taken with `addr` from this type.
                unsafe { std::mem::transmute::<usize, Self>(addr) }
            }
        }
    };
}
star_fn!(A);
star_fn!(A, B);
star_fn!(A, B, C);
star_fn!(A, B, C, D);

// ---------------------------------------------------------------------------------------
// Messages.

/// Already-encoded bytes inside a message, as one serde byte string (a length and a
/// block copy; a plain `Vec<u8>` is a sequence, one call per byte).
mod blob {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::Serializer;
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut v = Vec::new();
            while let Some(b) = seq.next_element()? {
                v.push(b);
            }
            Ok(v)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(Bytes)
    }

    /// A `Vec<u8>` that travels as a byte string.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub(super) struct Blob(#[serde(with = "self")] pub(super) Vec<u8>);
}

#[derive(Serialize, Deserialize)]
enum Task {
    Run {
        seq: u64,
        tramp: i64,
        target: i64,
        #[serde(with = "blob")]
        args: Vec<u8>,
    },
    Stop,
}

#[derive(Serialize, Deserialize)]
struct Reply {
    seq: u64,
    result: Result<blob::Blob, TaskError>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Initializer {
    tramp: i64,
    target: i64,
    #[serde(with = "blob")]
    args: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct WorkerArgs {
    tasks: Queue<Task>,
    results: Queue<Reply>,
    running: RawValue<u64>,
    init: Option<Initializer>,
    maxtasks: Option<usize>,
}

/// The worker process's body (Python's `multiprocessing.pool.worker`).
fn worker_main(w: WorkerArgs) {
    install_panic_capture(true);
    if let Some(init) = &w.init {
        // SAFETY: the offset of an `init_tramp::<I>` instance of this binary (see
        // `map_tramp`).
        let f = unsafe { std::mem::transmute::<usize, InitTramp>(rebase(init.tramp)) };
        if let Err(e) = f(rebase(init.target), &init.args) {
            eprintln!(
                "Process {}: pool initializer failed: {e}",
                crate::multiprocessing::current_process().name()
            );
            w.running
                .as_atomic()
                .store(INIT_FAILED, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: _exit ends this worker process (the pool starts another).
            unsafe { libc::_exit(1) };
        }
    }
    w.running
        .as_atomic()
        .store(WAKE, std::sync::atomic::Ordering::SeqCst);
    let mut done = 0usize;
    loop {
        let (seq, tramp, target, args) = match w.tasks.get() {
            Ok(Task::Run {
                seq,
                tramp,
                target,
                args,
            }) => (seq, tramp, target, args),
            Ok(Task::Stop) | Err(GetError::Closed | GetError::Corrupt) => break,
            Err(GetError::Empty | GetError::Decode(_)) => continue,
        };
        w.running
            .as_atomic()
            .store(seq, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: the offset of a `map_tramp`/`star_tramp` instance of this binary.
        let f = unsafe { std::mem::transmute::<usize, ChunkTramp>(rebase(tramp)) };
        let result = f(rebase(target), &args).map(blob::Blob);
        drop(args);
        match w.results.put(Reply { seq, result }) {
            Ok(()) => {}
            Err(PutError::TooLarge { len, max, .. }) => {
                let _ = w.results.put(Reply {
                    seq,
                    result: Err(TaskError::TooLarge { len, max }),
                });
            }
            Err(e) => {
                let msg = e.to_string();
                let _ = w.results.put(Reply {
                    seq,
                    result: Err(TaskError::Result(msg)),
                });
            }
        }
        w.running
            .as_atomic()
            .store(WAKE, std::sync::atomic::Ordering::SeqCst);
        done += 1;
        if w.maxtasks.is_some_and(|m| done >= m) {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent's side.

/// Decodes a chunk's results and feeds them to the call's collector.
trait ByteSink: Send + Sync {
    fn deliver(&self, chunk: usize, r: Result<Vec<u8>, TaskError>, cb: &CallbackThread);
}

struct Decoder<R>(Sink<R>);

impl<R: DeserializeOwned + Send + 'static> ByteSink for Decoder<R> {
    fn deliver(&self, chunk: usize, r: Result<Vec<u8>, TaskError>, cb: &CallbackThread) {
        let r = r.and_then(|b| {
            codec::from_bytes::<Vec<R>>(&b).map_err(|e| TaskError::Result(e.to_string()))
        });
        self.0.chunk_done(chunk, r, cb);
    }
}

struct Pending {
    seq: u64,
    tramp: i64,
    target: i64,
    args: Vec<u8>,
    chunk: usize,
    sink: Arc<dyn ByteSink>,
}

struct WorkerSlot {
    pid: u32,
    tasks: Queue<Task>,
    running: RawValue<u64>,
    /// Tasks handed to it and not replied.
    holding: usize,
    alive: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Closed,
    Terminated,
}

struct State {
    phase: Phase,
    maxtasks: Option<usize>,
    /// Workers in a row that ended before their loop started.
    start_failures: u32,
    next_seq: u64,
    backlog: VecDeque<Pending>,
    inflight: HashMap<u64, (usize, Pending)>,
    workers: Vec<WorkerSlot>,
}

type Failed = Vec<(Pending, TaskError)>;

impl State {
    /// Hands backlog tasks to workers with room: first one to every idle worker, then a
    /// second (ready) one to each; with the backlog empty, moves ready-but-not-started
    /// tasks from busy workers to idle ones ([`State::steal`]).
    fn pump(&mut self) -> Failed {
        let mut failed = Vec::new();
        if self.phase == Phase::Terminated {
            return failed;
        }
        let alive = self.workers.iter().filter(|w| w.alive).count().max(1);
        let mut credit = (self.backlog.len() / alive).clamp(CREDIT, MAX_CREDIT);
        if let Some(m) = self.maxtasks {
            credit = credit.min(m.max(1)); // more would only be handed back at its exit
        }
        'levels: for level in 1..=credit {
            for w in 0..self.workers.len() {
                if !self.workers[w].alive || self.workers[w].holding >= level {
                    continue;
                }
                let Some(p) = self.backlog.pop_front() else {
                    break 'levels;
                };
                let task = Task::Run {
                    seq: p.seq,
                    tramp: p.tramp,
                    target: p.target,
                    args: p.args.clone(),
                };
                match self.workers[w].tasks.put_nowait(task) {
                    Ok(()) => {
                        self.workers[w].holding += 1;
                        self.inflight.insert(p.seq, (w, p));
                    }
                    Err(PutError::Full(_)) => self.backlog.push_front(p),
                    Err(PutError::TooLarge { len, max, .. }) => {
                        failed.push((p, TaskError::TooLarge { len, max }))
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        failed.push((p, TaskError::Arguments(msg)));
                    }
                }
            }
        }
        if self.backlog.is_empty() {
            self.steal();
        }
        failed
    }

    /// Work stealing: an idle worker takes the ready task of a worker that is running
    /// another one (the parent gets it back out of that worker's queue — the queue's
    /// consumer lock decides who has it — and puts it in the idle worker's). So a long
    /// task never waits behind another while a worker is idle, as with CPython's one
    /// shared queue, and the parent still knows which worker holds which task.
    fn steal(&mut self) {
        for idle in 0..self.workers.len() {
            if !self.workers[idle].alive || self.workers[idle].holding > 0 {
                continue;
            }
            let Some(donor) = (0..self.workers.len())
                .find(|&d| d != idle && self.workers[d].alive && self.workers[d].holding >= 2)
            else {
                return;
            };
            let Ok(task) = self.workers[donor].tasks.get_nowait() else {
                continue; // the donor took it itself meanwhile
            };
            let Task::Run { seq, .. } = &task else {
                continue;
            };
            let seq = *seq;
            self.workers[donor].holding -= 1;
            match self.workers[idle].tasks.put_nowait(task) {
                Ok(()) => {
                    self.workers[idle].holding += 1;
                    if let Some(entry) = self.inflight.get_mut(&seq) {
                        entry.0 = idle;
                    }
                }
                Err(_) => {
                    if let Some((_, p)) = self.inflight.remove(&seq) {
                        self.backlog.push_front(p);
                    }
                }
            }
        }
    }
}

struct Shared {
    state: Mutex<State>,
    results: Queue<Reply>,
    callbacks: CallbackThread,
    config: Config,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, failed: Failed) {
        for (p, e) in failed {
            p.sink.deliver(p.chunk, Err(e), &self.callbacks);
        }
    }

    fn wake(&self) {
        let _ = self.results.put_nowait(Reply {
            seq: WAKE,
            result: Ok(blob::Blob(Vec::new())),
        });
    }

    /// Handles `first` and every reply already queued behind it (up to a batch): one
    /// lock to settle them and hand out new tasks, then the deliveries.
    fn handle(&self, first: Reply) {
        let mut replies = vec![first];
        while replies.len() < 256 {
            match self.results.get_nowait() {
                Ok(r) => replies.push(r),
                Err(_) => break,
            }
        }
        let mut found = Vec::with_capacity(replies.len());
        let failed = {
            let mut st = self.lock();
            for reply in replies {
                if reply.seq == WAKE {
                    continue;
                }
                if let Some((w, p)) = st.inflight.remove(&reply.seq) {
                    st.start_failures = 0;
                    if let Some(slot) = st.workers.get_mut(w) {
                        slot.holding = slot.holding.saturating_sub(1);
                    }
                    found.push((p, reply.result.map(|b| b.0)));
                }
            }
            st.pump()
        };
        for (p, result) in found {
            p.sink.deliver(p.chunk, result, &self.callbacks);
        }
        self.fail(failed);
    }

    /// Handles every reply already queued.
    fn drain(&self) {
        while let Ok(r) = self.results.get_nowait() {
            self.handle(r);
        }
    }
}

#[derive(Clone)]
struct Config {
    processes: usize,
    method: StartMethod,
    init: Option<Initializer>,
    maxtasks: Option<usize>,
    queue_bytes: usize,
}

/// What [`PoolBuilder::build`] makes before the workers start.
enum Prepared {
    Results(Queue<Reply>),
    Worker(WorkerMem),
}

/// `f(0)`, …, `f(n - 1)` on up to `threads` threads at once (this one among them; the
/// others named `name`), the results in order. A thread that cannot be made leaves its
/// share to the others.
fn par_collect<T: Send>(
    n: usize,
    threads: usize,
    name: &str,
    f: impl Fn(usize) -> Result<T, PoolError> + Sync,
) -> Vec<Result<T, PoolError>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<T, PoolError>>>> = Mutex::new((0..n).map(|_| None).collect());
    let run = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i >= n {
            return;
        }
        let r = f(i);
        out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
    };
    std::thread::scope(|s| {
        for _ in 1..n.min(threads) {
            let _ = std::thread::Builder::new()
                .name(name.to_string())
                .spawn_scoped(s, run);
        }
        run();
    });
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(PoolError::Os(std::io::Error::other("not started")))))
        .collect()
}

/// A worker's task queue and running slot, made before its process starts.
struct WorkerMem {
    tasks: Queue<Task>,
    running: RawValue<u64>,
}

fn os_error(e: crate::multiprocessing::heap::SharedError) -> PoolError {
    PoolError::Os(std::io::Error::other(e.to_string()))
}

impl WorkerMem {
    fn new(queue_bytes: usize) -> Result<Self, PoolError> {
        Ok(Self {
            tasks: Queue::with_capacity(0, queue_bytes).map_err(os_error)?,
            running: RawValue::try_new(NOT_STARTED).map_err(os_error)?,
        })
    }
}

fn new_worker(shared: &Shared, number: usize) -> Result<(WorkerSlot, Process), PoolError> {
    start_worker(shared, number, WorkerMem::new(shared.config.queue_bytes)?)
}

fn start_worker(
    shared: &Shared,
    number: usize,
    mem: WorkerMem,
) -> Result<(WorkerSlot, Process), PoolError> {
    let WorkerMem { tasks, running } = mem;
    let args = WorkerArgs {
        tasks: tasks.clone(),
        results: shared.results.clone(),
        running: running.clone(),
        init: shared.config.init.clone(),
        maxtasks: shared.config.maxtasks,
    };
    // CPython's names: ForkPoolWorker-N, SpawnPoolWorker-N, ForkServerPoolWorker-N.
    let kind = match shared.config.method.as_str() {
        "fork" => "Fork",
        "forkserver" => "ForkServer",
        _ => "Spawn",
    };
    let mut p = Process::new(worker_main, args)
        .name(format!("{kind}PoolWorker-{number}"))
        .daemon(true)
        .start_method(shared.config.method);
    p.start().map_err(PoolError::Start)?;
    let slot = WorkerSlot {
        pid: p.pid().unwrap_or(0),
        tasks,
        running,
        holding: 0,
        alive: true,
    };
    Ok((slot, p))
}

/// Ends a worker: SIGTERM, then SIGKILL if it is still there after a second.
fn stop_process(p: &mut Process) {
    let _ = p.terminate();
    if !matches!(p.join_timeout(Duration::from_secs(1)), Ok(true)) {
        let _ = p.kill();
        let _ = p.join();
    }
}

/// The supervisor thread's loop.
fn supervise(shared: Arc<Shared>, mut procs: Vec<Process>, mut started: usize) {
    let mut last_check = Instant::now();
    loop {
        match shared.results.get_timeout(TICK) {
            Ok(r) => shared.handle(r),
            Err(_) => last_check = Instant::now().checked_sub(TICK).unwrap_or(last_check),
        }
        let phase = shared.lock().phase;
        if phase == Phase::Terminated {
            for p in &mut procs {
                stop_process(p);
            }
            return;
        }
        if last_check.elapsed() >= TICK {
            last_check = Instant::now();
            check_workers(&shared, &mut procs, &mut started);
        }
        let idle = {
            let st = shared.lock();
            st.phase == Phase::Closed && st.backlog.is_empty() && st.inflight.is_empty()
        };
        if idle {
            let st = shared.lock();
            for w in st.workers.iter().filter(|w| w.alive) {
                let _ = w.tasks.put_nowait(Task::Stop);
            }
            drop(st);
            for p in &mut procs {
                if !matches!(p.join_timeout(Duration::from_secs(10)), Ok(true)) {
                    stop_process(p);
                }
            }
            return;
        }
    }
}

fn pidfd_ended(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0
}

/// Finds workers that ended; fails the task each was running, requeues the others,
/// starts replacements.
fn check_workers(shared: &Arc<Shared>, procs: &mut [Process], started: &mut usize) {
    for (i, proc) in procs.iter_mut().enumerate() {
        let ended = match proc.sentinel() {
            Ok(fd) => pidfd_ended(fd),
            Err(_) => false,
        };
        if !ended {
            continue;
        }
        // Replies it put before it ended count.
        shared.drain();
        let _ = proc.join();
        let code = proc.exitcode();
        let failed = {
            let mut st = shared.lock();
            let slot = &mut st.workers[i];
            slot.alive = false;
            slot.holding = 0;
            let pid = slot.pid;
            let running = slot
                .running
                .as_atomic()
                .load(std::sync::atomic::Ordering::SeqCst);
            let mine: Vec<u64> = st
                .inflight
                .iter()
                .filter(|(_, (w, _))| *w == i)
                .map(|(s, _)| *s)
                .collect();
            let mut failed = Vec::new();
            let mut requeue = Vec::new();
            // A worker that never got to its loop (e.g. exited in its initializer, or
            // a spawned binary that cannot run it): its tasks go to the others, until
            // START_FAILURES such workers in a row make them fail.
            let start_failure = (running == NOT_STARTED).then(|| {
                st.start_failures += 1;
                TaskError::NoWorker(format!(
                    "{} workers in a row ended before they started (last exit code {code:?})",
                    st.start_failures
                ))
            });
            let give_up = start_failure
                .as_ref()
                .filter(|_| st.start_failures >= START_FAILURES);
            if let Some(e) = give_up {
                failed.extend(st.backlog.drain(..).map(|p| (p, e.clone())));
            }
            for seq in mine {
                if let Some((_, p)) = st.inflight.remove(&seq) {
                    if let Some(e) = give_up {
                        failed.push((p, e.clone()));
                    } else if running == INIT_FAILED {
                        failed.push((p, TaskError::Initializer));
                    } else if seq == running {
                        failed.push((
                            p,
                            TaskError::WorkerLost {
                                pid,
                                signal: code.filter(|c| *c < 0).map(|c| -c),
                                exitcode: code,
                            },
                        ));
                    } else {
                        requeue.push(p);
                    }
                }
            }
            requeue.sort_by_key(|p| std::cmp::Reverse(p.seq));
            for p in requeue {
                st.backlog.push_front(p);
            }
            failed
        };
        shared.fail(failed);
        let replace = {
            let st = shared.lock();
            st.phase == Phase::Running || !(st.backlog.is_empty() && st.inflight.is_empty())
        };
        if !replace {
            continue;
        }
        *started += 1;
        match new_worker(shared, *started) {
            Ok((slot, p)) => {
                *proc = p;
                let failed = {
                    let mut st = shared.lock();
                    st.workers[i] = slot;
                    st.pump()
                };
                shared.fail(failed);
            }
            Err(e) => {
                // Retried at the next check; with no worker left, nothing would run
                // the queued tasks: they fail now instead of waiting forever.
                let failed: Failed = {
                    let mut st = shared.lock();
                    if st.workers.iter().any(|w| w.alive) {
                        Vec::new()
                    } else {
                        let msg = e.to_string();
                        st.backlog
                            .drain(..)
                            .map(|p| (p, TaskError::NoWorker(msg.clone())))
                            .collect()
                    }
                };
                shared.fail(failed);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The public type.

/// Options of a [`Pool`] (Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`).
///
/// ```
/// use conkit::multiprocessing::{self as mp, pool::Pool, StartMethod};
/// fn setup(greeting: String) { println!("{greeting}") }
/// mp::init();
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup, "ready".to_string())
///     .maxtasksperchild(100)
///     .start_method(StartMethod::Spawn)
///     .build()
///     .unwrap();
/// pool.close();
/// pool.join().unwrap();
/// ```
pub struct PoolBuilder {
    processes: Option<usize>,
    method: Option<StartMethod>,
    init: Option<Result<Initializer, TaskError>>,
    maxtasks: Option<usize>,
    queue_bytes: usize,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("method", &self.method)
            .field("initializer", &self.init.is_some())
            .field("maxtasksperchild", &self.maxtasks)
            .field("queue_capacity", &self.queue_bytes)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of worker processes (default [`cpu_count`]).
    ///
    /// ```
    /// let _b = conkit::multiprocessing::pool::Pool::builder().processes(3);
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// The start method of the workers (default [`get_start_method`]; Python's
    /// `context`).
    ///
    /// ```
    /// use conkit::multiprocessing::{pool::Pool, StartMethod};
    /// let _b = Pool::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// `f(args)` runs first in every worker (Python's `initializer`, `initargs`). A
    /// worker whose initializer panics exits with code 1; the tasks it held fail with
    /// [`TaskError::Initializer`] (in CPython they wait forever) and another worker
    /// replaces it (as in CPython, an initializer that always fails makes the pool start
    /// workers over and over, and then every task fails that way).
    ///
    /// ```
    /// fn setup(_: u8) {}
    /// let _b = conkit::multiprocessing::pool::Pool::builder().initializer(setup, 1);
    /// ```
    pub fn initializer<I: Serialize + DeserializeOwned + 'static>(
        mut self,
        f: fn(I),
        args: I,
    ) -> Self {
        self.init = Some(
            codec::to_bytes(&args)
                .map(|bytes| Initializer {
                    tramp: offset_of(init_tramp::<I> as InitTramp as usize),
                    target: offset_of(f as usize),
                    args: bytes,
                })
                .map_err(|e| TaskError::Arguments(e.to_string())),
        );
        self
    }

    /// A worker ends after this many tasks and a new one replaces it (Python's
    /// `maxtasksperchild`; a chunk of `map` is one task). 0 is taken as no limit:
    /// Python's `None` (a `usize` has no `None`; CPython raises `ValueError` for 0).
    ///
    /// ```
    /// let _b = conkit::multiprocessing::pool::Pool::builder().maxtasksperchild(10);
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasks = (n > 0).then_some(n);
        self
    }

    /// The size in bytes of the shared ring of each queue (the pool's result queue
    /// and each worker's task queue; default [`DEFAULT_CAPACITY`], 1 MiB, rounded up
    /// to a power of two). One task's encoded arguments (a whole chunk for `map`), and
    /// one task's encoded results, may be up to half of it; a larger one fails that task
    /// with [`TaskError::TooLarge`]. The memory is a `memfd`, set up when the pool
    /// starts.
    ///
    /// [`DEFAULT_CAPACITY`]: crate::multiprocessing::queues::DEFAULT_CAPACITY
    ///
    /// ```
    /// let _b = conkit::multiprocessing::pool::Pool::builder().queue_capacity(16 << 20);
    /// ```
    pub fn queue_capacity(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// Starts the workers.
    ///
    /// ```
    /// conkit::multiprocessing::init();
    /// let pool = conkit::multiprocessing::pool::Pool::builder().processes(1).build().unwrap();
    /// drop(pool); // terminates
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] for 0 processes; [`PoolError::Task`] with
    /// [`TaskError::Arguments`] if the initializer's arguments cannot be serialised;
    /// [`PoolError::Start`] / [`PoolError::Os`] if a worker or its queue cannot be
    /// made.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(cpu_count);
        if processes == 0 {
            return Err(PoolError::NoWorkers);
        }
        let init = self.init.transpose().map_err(PoolError::Task)?;
        let name = std::thread::current().name().unwrap_or("main").to_string();
        // Each queue's ring is written through once when it is made (most of a pool's
        // start-up besides the `exec`s): the result queue and the workers' task queues
        // are made on several threads at once.
        let queue_bytes = self.queue_bytes;
        let mut mems = par_collect(processes + 1, START_THREADS, &name, |i| {
            if i == 0 {
                Queue::with_capacity(0, queue_bytes)
                    .map_err(os_error)
                    .map(Prepared::Results)
            } else {
                WorkerMem::new(queue_bytes).map(Prepared::Worker)
            }
        })
        .into_iter();
        let results = match mems.next() {
            Some(Ok(Prepared::Results(q))) => q,
            Some(Err(e)) => return Err(e),
            _ => return Err(PoolError::Os(std::io::Error::other("no result queue"))),
        };
        let mut worker_mems = Vec::with_capacity(processes);
        for m in mems {
            match m? {
                Prepared::Worker(w) => worker_mems.push(Mutex::new(Some(w))),
                Prepared::Results(_) => {
                    return Err(PoolError::Os(std::io::Error::other("no worker queue")))
                }
            }
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                phase: Phase::Running,
                maxtasks: self.maxtasks,
                start_failures: 0,
                next_seq: WAKE + 1,
                backlog: VecDeque::new(),
                inflight: HashMap::new(),
                workers: Vec::new(),
            }),
            results,
            callbacks: CallbackThread::new(),
            config: Config {
                processes,
                method: self.method.unwrap_or_else(get_start_method),
                init,
                maxtasks: self.maxtasks,
                queue_bytes: self.queue_bytes,
            },
        });
        let (tx, rx) = mpsc::channel::<Result<(), PoolError>>();
        let sup = shared.clone();
        let sup_name = name.clone();
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                // Spawned workers start at once, each on its own thread (named as the
                // creator's, for `spawn` under `cargo test`): no `exec` waits for the
                // one before it. `fork` (and the fork server's) stay one at a time: a
                // child forked while a sibling thread holds a lock (the allocator's,
                // the children table's) would inherit it held.
                let threads = if sup.config.method == StartMethod::Spawn {
                    START_THREADS
                } else {
                    1
                };
                let started = par_collect(processes, threads, &sup_name, |i| {
                    let mem = worker_mems[i]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    match mem {
                        Some(mem) => start_worker(&sup, i + 1, mem),
                        None => Err(PoolError::Os(std::io::Error::other("no worker queue"))),
                    }
                });
                let mut procs = Vec::with_capacity(processes);
                let mut error = None;
                for r in started {
                    match r {
                        Ok((slot, p)) => {
                            sup.lock().workers.push(slot);
                            procs.push(p);
                        }
                        Err(e) => error = error.or(Some(e)),
                    }
                }
                if let Some(e) = error {
                    for p in &mut procs {
                        stop_process(p);
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
                let _ = tx.send(Ok(()));
                supervise(sup, procs, processes);
            })
            .map_err(PoolError::Os)?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(e);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(PoolError::Os(std::io::Error::other(
                    "the pool's supervisor thread ended",
                )));
            }
        }
        Ok(Pool {
            shared,
            supervisor: Mutex::new(Some(handle)),
        })
    }
}

/// A pool of worker processes (Python's `multiprocessing.Pool`). See the
/// [module docs](super) for how it differs from CPython, in particular how it survives
/// killed workers.
///
/// ```
/// use conkit::multiprocessing::{self as mp, pool::Pool};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// mp::init(); // first thing in main: runs a spawned worker's loop
/// let pool = Pool::new(4).unwrap();
/// assert_eq!(pool.map(square, 0..10, None).unwrap()[3], 9);
/// let r = pool.apply_async(square, 12).unwrap();
/// assert_eq!(r.get().unwrap(), 144);
/// pool.close();
/// pool.join().unwrap();
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Pool")
            .field("processes", &self.shared.config.processes)
            .field("start_method", &self.shared.config.method)
            .field("phase", &st.phase)
            .field("queued", &st.backlog.len())
            .field("running", &st.inflight.len())
            .finish()
    }
}

impl Pool {
    /// A pool of `processes` workers with the default start method (Python's
    /// `Pool(processes)`).
    ///
    /// ```
    /// conkit::multiprocessing::init();
    /// let pool = conkit::multiprocessing::pool::Pool::new(2).unwrap();
    /// assert_eq!(pool.processes(), 2);
    /// ```
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Self::builder().processes(processes).build()
    }

    /// The options of a pool (initializer, `maxtasksperchild`, start method).
    ///
    /// ```
    /// let _b = conkit::multiprocessing::pool::Pool::builder();
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            method: None,
            init: None,
            maxtasks: None,
            queue_bytes: QUEUE_BYTES,
        }
    }

    /// The number of workers.
    ///
    /// ```
    /// conkit::multiprocessing::init();
    /// assert_eq!(conkit::multiprocessing::pool::Pool::new(3).unwrap().processes(), 3);
    /// ```
    pub fn processes(&self) -> usize {
        self.shared.config.processes
    }

    /// The workers' process ids now (CPython keeps them in the private `_pool`).
    ///
    /// ```
    /// conkit::multiprocessing::init();
    /// let pool = conkit::multiprocessing::pool::Pool::new(2).unwrap();
    /// assert_eq!(pool.pids().len(), 2);
    /// ```
    pub fn pids(&self) -> Vec<u32> {
        self.shared
            .lock()
            .workers
            .iter()
            .filter(|w| w.alive)
            .map(|w| w.pid)
            .collect()
    }

    fn submit_parts<A: Serialize, R>(
        &self,
        tramp: ChunkTramp,
        target: usize,
        parts: Vec<Vec<A>>,
        sink: Sink<R>,
    ) -> Result<(), PoolError>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let sink: Arc<dyn ByteSink> = Arc::new(Decoder(sink));
        let encoded: Vec<_> = parts.iter().map(codec::to_bytes).collect();
        let (tramp, target) = (offset_of(tramp as usize), offset_of(target));
        let mut failed = Vec::new();
        {
            let mut st = self.shared.lock();
            if st.phase != Phase::Running {
                return Err(PoolError::NotRunning);
            }
            for (chunk, bytes) in encoded.into_iter().enumerate() {
                let seq = st.next_seq;
                st.next_seq += 1;
                let p = |args| Pending {
                    seq,
                    tramp,
                    target,
                    args,
                    chunk,
                    sink: sink.clone(),
                };
                match bytes {
                    Ok(args) => st.backlog.push_back(p(args)),
                    Err(e) => failed.push((p(Vec::new()), TaskError::Arguments(e.to_string()))),
                }
            }
            failed.extend(st.pump());
        }
        self.shared.fail(failed);
        Ok(())
    }

    /// Runs `f(args)` in a worker and waits for its value (Python's `apply`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn add(p: (u32, u32)) -> u32 { p.0 + p.1 }
    /// mp::init();
    /// let pool = Pool::new(1).unwrap();
    /// assert_eq!(pool.apply(add, (2, 3)).unwrap(), 5);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Task`] when the task failed; [`PoolError::NotRunning`] after
    /// `close`/`terminate`.
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Runs `f(args)` in a worker (Python's `apply_async`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn double(x: i64) -> i64 { 2 * x }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.apply_async(double, 21).unwrap();
    /// assert_eq!(r.get().unwrap(), 42);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`/`terminate`.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, args, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with a `callback` / `error_callback` (run in
    /// this process, see [`Callbacks`]).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::{Callbacks, Pool}};
    /// fn work(x: u32) -> u32 { x + 1 }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &u32| println!("got {v} in {}", std::process::id()));
    /// pool.apply_async_with(work, 1, cb).unwrap().wait();
    /// ```
    ///
    /// # Errors
    /// As [`apply_async`](Self::apply_async).
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let result = AsyncResult::pending();
        let sink: Sink<R> = Arc::new(ApplyCollector::new(Completion::new(&result, callbacks)));
        self.submit_parts(map_tramp::<A, R>, f as usize, vec![vec![args]], sink)?;
        Ok(result)
    }

    fn chunksize_for(&self, len: usize, chunksize: Option<usize>) -> usize {
        chunksize.unwrap_or_else(|| default_chunksize(len, self.shared.config.processes))
    }

    /// `f` over every item, in order (Python's `map(func, iterable, chunksize)`; `None`
    /// takes Python's default chunk size, `len / (4 * processes)` rounded up). One
    /// failed chunk fails the call with its error.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn square(x: u64) -> u64 { x * x }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.map(square, 1..4, None).unwrap(), vec![1, 4, 9]);
    /// assert_eq!(pool.map(square, 1..4, Some(1)).unwrap(), vec![1, 4, 9]);
    /// ```
    ///
    /// # Errors
    /// The first failed chunk's [`PoolError::Task`]; [`PoolError::NotRunning`].
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, iterable, chunksize)?.get()
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn neg(x: i32) -> i32 { -x }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.map_async(neg, vec![1, 2], None).unwrap().get().unwrap(), vec![-1, -2]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async_with(f, iterable, chunksize, Callbacks::new())
    }

    /// [`map_async`](Self::map_async) with a `callback` (receiving the whole list) /
    /// `error_callback`.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::{Callbacks, Pool}};
    /// fn id(x: u8) -> u8 { x }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<u8>| assert_eq!(v.len(), 3));
    /// pool.map_async_with(id, vec![1, 2, 3], None, cb).unwrap().wait();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn map_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_parts(
            iterable,
            chunksize,
            callbacks,
            map_tramp::<A, R>,
            f as usize,
        )
    }

    /// The body of [`map_async_with`](Self::map_async_with) and
    /// [`starmap_async_with`](Self::starmap_async_with): the items in chunks, each run
    /// in a worker as `tramp(target, chunk)`, collected in order into the result.
    fn map_parts<A, R>(
        &self,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
        tramp: ChunkTramp,
        target: usize,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let items: Vec<A> = iterable.into_iter().collect();
        let size = self.chunksize_for(items.len(), chunksize);
        let parts = chunks(items, size);
        let result = AsyncResult::pending();
        let sink: Sink<R> = Arc::new(MapCollector::new(
            parts.len(),
            Completion::new(&result, callbacks),
            &self.shared.callbacks,
        ));
        self.submit_parts(tramp, target, parts, sink)?;
        Ok(result)
    }

    /// `f(a, b, …)` over tuples of arguments (Python's `starmap`); `f` is a function
    /// pointer ([`StarFn`]).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn add(a: u32, b: u32) -> u32 { a + b }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let v = pool.starmap(add as fn(u32, u32) -> u32, vec![(1, 2), (3, 4)], None).unwrap();
    /// assert_eq!(v, vec![3, 7]);
    /// ```
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<Args, R, S>(
        &self,
        f: S,
        iterable: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        S: StarFn<Args, R>,
    {
        self.starmap_async(f, iterable, chunksize)?.get()
    }

    /// [`starmap`](Self::starmap) without waiting (Python's `starmap_async`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn mul(a: u32, b: u32) -> u32 { a * b }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let r = pool.starmap_async(mul as fn(u32, u32) -> u32, vec![(2, 3)], None).unwrap();
    /// assert_eq!(r.get().unwrap(), vec![6]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn starmap_async<Args, R, S>(
        &self,
        f: S,
        iterable: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        S: StarFn<Args, R>,
    {
        self.starmap_async_with(f, iterable, chunksize, Callbacks::new())
    }

    /// [`starmap_async`](Self::starmap_async) with a `callback` / `error_callback`.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::{Callbacks, Pool}};
    /// fn mul(a: u32, b: u32) -> u32 { a * b }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let cb = Callbacks::new().callback(|v: &Vec<u32>| assert_eq!(v, &[6]));
    /// pool.starmap_async_with(mul as fn(u32, u32) -> u32, vec![(2, 3)], None, cb).unwrap().wait();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn starmap_async_with<Args, R, S>(
        &self,
        f: S,
        iterable: impl IntoIterator<Item = Args>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> Result<MapResult<R>, PoolError>
    where
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        S: StarFn<Args, R>,
    {
        self.map_parts(
            iterable,
            chunksize,
            callbacks,
            star_tramp::<S, Args, R>,
            f.addr(),
        )
    }

    fn imap_impl<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let parts = chunks(iterable, chunksize);
        let it = IMapIterator::new(parts.len(), ordered);
        let sink: Sink<R> = it.collector();
        self.submit_parts(map_tramp::<A, R>, f as usize, parts, sink)?;
        Ok(it)
    }

    /// `f` over every item, yielding the results in input order as they arrive
    /// (Python's `imap(func, iterable, chunksize=1)`; a `chunksize` of 0 is taken as 1,
    /// where CPython raises `ValueError`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn inc(x: u8) -> u8 { x + 1 }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let v: Vec<u8> = pool.imap(inc, 0..3, 1).unwrap().map(Result::unwrap).collect();
    /// assert_eq!(v, vec![1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_impl(f, iterable, chunksize, true)
    }

    /// As [`imap`](Self::imap), yielding in completion order (Python's
    /// `imap_unordered`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn inc(x: u8) -> u8 { x + 1 }
    /// mp::init();
    /// let pool = Pool::new(2).unwrap();
    /// let mut v: Vec<u8> = pool.imap_unordered(inc, 0..3, 1).unwrap().map(Result::unwrap).collect();
    /// v.sort();
    /// assert_eq!(v, vec![1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotRunning`].
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        iterable: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_impl(f, iterable, chunksize, false)
    }

    /// Accepts no more tasks; the workers exit once the submitted ones are done (Python's
    /// `close`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::{Pool, PoolError}};
    /// fn id(x: u8) -> u8 { x }
    /// mp::init();
    /// let pool = Pool::new(1).unwrap();
    /// pool.close();
    /// assert!(matches!(pool.apply(id, 1), Err(PoolError::NotRunning)));
    /// pool.join().unwrap();
    /// ```
    pub fn close(&self) {
        {
            let mut st = self.shared.lock();
            if st.phase == Phase::Running {
                st.phase = Phase::Closed;
            }
        }
        self.shared.wake();
    }

    /// Stops the workers now (SIGTERM, then SIGKILL after a second) and fails every
    /// result not yet ready with [`TaskError::Terminated`] (Python's `terminate`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::Pool};
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// mp::init();
    /// let pool = Pool::new(1).unwrap();
    /// let r = pool.map_async(nap, vec![1000; 100], Some(1)).unwrap();
    /// pool.terminate();
    /// assert!(r.get().is_err());
    /// ```
    pub fn terminate(&self) {
        let failed: Failed = {
            let mut st = self.shared.lock();
            st.phase = Phase::Terminated;
            let mut all: Vec<Pending> = st.backlog.drain(..).collect();
            all.extend(st.inflight.drain().map(|(_, (_, p))| p));
            all.sort_by_key(|p| p.seq);
            all.into_iter()
                .map(|p| (p, TaskError::Terminated))
                .collect()
        };
        self.shared.fail(failed);
        self.shared.wake();
        self.join_supervisor();
    }

    fn join_supervisor(&self) {
        let h = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = h {
            let _ = h.join();
        }
        self.shared.callbacks.join();
    }

    /// Waits for the workers to exit and for every callback (Python's `join`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, pool::{Pool, PoolError}};
    /// mp::init();
    /// let pool = Pool::new(1).unwrap();
    /// assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
    /// pool.close();
    /// pool.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] unless [`close`](Self::close) or
    /// [`terminate`](Self::terminate) came first.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.shared.lock().phase == Phase::Running {
            return Err(PoolError::StillRunning);
        }
        self.join_supervisor();
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates the pool unless it was joined (Python's `with Pool() as p:` exit).
    fn drop(&mut self) {
        let joined = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none();
        if !joined {
            self.terminate();
        }
    }
}

impl crate::multiprocessing::Context {
    /// A [`Pool`] of `processes` workers started with this context's method (Python's
    /// `ctx.Pool(processes)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, StartMethod};
    /// fn double(x: u32) -> u32 { 2 * x }
    /// mp::init();
    /// let pool = mp::get_context(StartMethod::Spawn).pool(2).unwrap();
    /// assert_eq!(pool.map(double, 1..4, None).unwrap(), vec![2, 4, 6]);
    /// pool.close();
    /// pool.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    pub fn pool(&self, processes: usize) -> Result<Pool, PoolError> {
        Pool::builder()
            .processes(processes)
            .start_method(self.start_method())
            .build()
    }
}
