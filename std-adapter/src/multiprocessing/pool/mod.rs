//! Python's `multiprocessing.pool`: [`Pool`] (worker processes), [`ThreadPool`] (worker
//! threads) and their results [`AsyncResult`], [`MapResult`], [`IMapIterator`].
//!
//! Reference: CPython `Lib/multiprocessing/pool.py` (`Pool`, `ThreadPool`,
//! `ApplyResult`, `MapResult`, `IMapIterator`, `IMapUnorderedIterator`, the default
//! `chunksize` rule of `_map_async`, `mapstar`/`starmapstar`). The API follows it; the
//! machinery differs (each difference is said where it applies):
//!
//! * **Tasks.** A [`Pool`] task is a plain `fn` item plus serde arguments, as for
//!   [`Process`](super::Process) (the Rust counterpart of "a picklable module-level
//!   function"); a [`ThreadPool`] task is any closure (no serialisation).
//! * **Results never hang.** A worker process killed while it runs a task (e.g.
//!   `SIGKILL`) fails exactly that task with [`TaskError::WorkerLost`] (its pid and
//!   signal) within about 50 ms, a replacement worker starts and the pool carries on;
//!   tasks queued for that worker but not started are given to the others. CPython's
//!   `get()` blocks forever there. A panic in a task is that task's
//!   [`TaskError::Panicked`] (message and location); the worker survives. Workers that
//!   cannot start fail the tasks instead of leaving them queued: an initializer that
//!   panics fails the tasks its worker held ([`TaskError::Initializer`]); after three
//!   workers in a row end before their loop starts (an initializer that exits, a
//!   spawned binary that cannot run), or when no worker can be started at all, the
//!   queued tasks fail with [`TaskError::NoWorker`]. The pool keeps starting
//!   replacements (as CPython does), so a pool whose workers can never start stays
//!   usable only in that every task fails fast.
//! * **`get` moves the value out.** [`AsyncResult::get`] returns the value once; a second
//!   `get` is [`PoolError::AlreadyTaken`] (Python returns the same object again; a Rust
//!   value has one owner). Errors can be read any number of times.
//! * **Callbacks** run in the parent on one callback thread per pool, in completion
//!   order; a result with a callback becomes ready after its callback returned (as in
//!   CPython), and a slow callback delays only the callbacks queued behind it, not
//!   results without callbacks. A panicking callback is reported on stderr and
//!   ignored (CPython's result handler thread would die).
//! * **Iterables** are consumed when the call is made, on the caller's thread (CPython's
//!   task handler thread consumes them as fast as it can, too: neither is lazy on
//!   input). [`imap`](Pool::imap) is lazy on output: items are yielded as they arrive.
//! * **Chunk sizes** of 0 are taken as 1 (CPython's `imap` raises `ValueError`).
//! * **Message size.** A [`Pool`] task's encoded arguments (a whole chunk for `map`) and
//!   its encoded results travel through shared rings of 1 MiB by default and may be up
//!   to half of one ([`PoolBuilder::queue_capacity`] chooses the size); a larger one
//!   fails that task with [`TaskError::TooLarge`].
//!
//! | Python | conkit |
//! |---|---|
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`Pool::new(n)`](Pool::new), [`Pool::builder()`](Pool::builder) |
//! | `get_context(m).Pool(n)` | [`get_context(m).pool(n)`](super::Context::pool) |
//! | `ThreadPool(processes, initializer, initargs)` | [`ThreadPool::new(n)`](ThreadPool::new), [`ThreadPool::with_initializer`] |
//! | `apply(f, args)` / `apply_async(f, args, callback, error_callback)` | `apply(f, args)` / `apply_async(f, args)`, `apply_async_with(f, args, Callbacks)` |
//! | `map(f, it, chunksize)` / `map_async` / `starmap` / `starmap_async` | `map(f, it, Option<usize>)` / `map_async` / `starmap` / `starmap_async` |
//! | `imap(f, it, chunksize=1)` / `imap_unordered` | `imap(f, it, chunksize)` / `imap_unordered` |
//! | `close()`, `join()`, `terminate()`, `with Pool() as p:` | `close()`, `join()`, `terminate()`, drop |
//! | `r.get(timeout)`, `r.wait(timeout)`, `r.ready()`, `r.successful()` | `get()`, `get_timeout(d)`, `wait()`, `wait_timeout(d)`, `ready()`, `successful()`, `.await` |
//! | `multiprocessing.TimeoutError` | [`PoolError::Timeout`] |
//!
//! ```
//! use conkit::multiprocessing::pool::ThreadPool;
//!
//! let pool = ThreadPool::new(2).unwrap();
//! assert_eq!(pool.map(|x: u64| x * x, 0..5, None).unwrap(), vec![0, 1, 4, 9, 16]);
//! let r = pool.apply_async(|| 6 * 7).unwrap();
//! assert_eq!(r.get().unwrap(), 42);
//! pool.close();
//! pool.join().unwrap();
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, Once};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::process::ProcessError;

mod process;

mod result;
mod thread;
mod work;

pub use process::{Pool, PoolBuilder, StarFn};
pub use result::{AsyncResult, Callbacks, IMapIterator, MapResult};
pub use thread::{StarCall, ThreadPool};

/// Why one task (or one `map` call) failed: what [`AsyncResult::get`] returns inside
/// [`PoolError::Task`], and what an error callback receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked (Python: the exception the function raised).
    Panicked {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic, when known.
        location: Option<String>,
    },
    /// The worker process running the task died (killed by a signal, or exited).
    WorkerLost {
        /// The worker's process id.
        pid: u32,
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        /// Its exit code: `-signal` when killed by a signal.
        exitcode: Option<i32>,
    },
    /// The arguments could not be serialised in the parent, or deserialised in the worker.
    Arguments(String),
    /// The result could not be serialised in the worker, or deserialised in the parent.
    Result(String),
    /// The encoded arguments or result exceed the pool's queue item cap.
    TooLarge {
        /// The encoded length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The pool was terminated before the task finished.
    Terminated,
    /// The worker's initializer failed (panicked, or its arguments did not decode) before
    /// the task could run; the pool starts another worker, as CPython does.
    Initializer,
    /// No worker is left and a new one cannot be started (the reason).
    NoWorker(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked { message, location } => match location {
                Some(l) => write!(f, "task panicked at {l}: {message}"),
                None => write!(f, "task panicked: {message}"),
            },
            TaskError::WorkerLost {
                pid,
                signal: Some(s),
                ..
            } => write!(f, "worker {pid} died (signal {s}) while running the task"),
            TaskError::WorkerLost { pid, exitcode, .. } => write!(
                f,
                "worker {pid} died (exit code {exitcode:?}) while running the task"
            ),
            TaskError::Arguments(e) => write!(f, "task arguments: {e}"),
            TaskError::Result(e) => write!(f, "task result: {e}"),
            TaskError::TooLarge { len, max } => {
                write!(f, "task message of {len} bytes exceeds the cap of {max}")
            }
            TaskError::Terminated => f.write_str("the pool was terminated"),
            TaskError::Initializer => f.write_str("the worker's initializer failed"),
            TaskError::NoWorker(e) => write!(f, "no worker can be started: {e}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Why a pool operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// The task failed (see [`TaskError`]).
    Task(TaskError),
    /// `get_timeout` / `next_timeout` elapsed (Python's `multiprocessing.TimeoutError`).
    Timeout,
    /// `successful()` before the result is ready (Python: `ValueError`).
    NotReady,
    /// The value was already moved out by an earlier `get`.
    AlreadyTaken,
    /// A task submitted to a pool that was closed or terminated (Python: `ValueError:
    /// Pool not running`).
    NotRunning,
    /// `join()` before `close()` or `terminate()` (Python: `ValueError`).
    StillRunning,
    /// A pool of zero workers (Python: "Number of processes must be at least 1").
    NoWorkers,
    /// Starting a worker failed.
    Start(ProcessError),
    /// A system call or resource allocation failed.
    Os(std::io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Task(e) => e.fmt(f),
            PoolError::Timeout => f.write_str("timed out waiting for the result"),
            PoolError::NotReady => f.write_str("result is not ready"),
            PoolError::AlreadyTaken => f.write_str("the result was already taken by get"),
            PoolError::NotRunning => f.write_str("Pool not running"),
            PoolError::StillRunning => f.write_str("join before close or terminate"),
            PoolError::NoWorkers => f.write_str("Number of processes must be at least 1"),
            PoolError::Start(e) => write!(f, "cannot start a worker: {e}"),
            PoolError::Os(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Task(e) => Some(e),
            PoolError::Start(e) => Some(e),
            PoolError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TaskError> for PoolError {
    fn from(e: TaskError) -> Self {
        PoolError::Task(e)
    }
}

/// Python's default chunk size of `map`/`starmap`: `len / (4 * workers)`, rounded up;
/// 0 items give 0.
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    let per = workers.max(1) * 4;
    len.div_ceil(per)
}

/// Splits `items` into chunks of `chunksize` (at least 1), each moved out of one
/// collected vector with a block copy.
pub(crate) fn chunks<A>(items: impl IntoIterator<Item = A>, chunksize: usize) -> Vec<Vec<A>> {
    let size = chunksize.max(1);
    let mut items: Vec<A> = items.into_iter().collect();
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    while !items.is_empty() {
        let start = (items.len() - 1) / size * size;
        out.push(items.split_off(start));
    }
    out.reverse();
    out
}

// ---------------------------------------------------------------------------------------
// Panics inside tasks: message and location.

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs (once per process, or again when `force`) a panic hook that records the
/// location of a panic inside a task on this thread (silently, as CPython keeps a
/// task's exception for `get`) and hands every other panic to the previous hook.
pub(crate) fn install_panic_capture(force: bool) {
    static ONCE: Once = Once::new();
    let install = || {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TASK.with(|t| t.get()) {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(loc));
            } else {
                prev(info);
            }
        }));
    };
    if force {
        install();
    } else {
        ONCE.call_once(install);
    }
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// Runs `f`, turning a panic into [`TaskError::Panicked`].
pub(crate) fn run_caught<R>(f: impl FnOnce() -> R) -> Result<R, TaskError> {
    catch_task(f).map_err(task_panicked)
}

/// Runs `f` as a task (a panic's location recorded, its message not printed): the
/// panic's payload, for [`task_panicked`] or to resume unwinding.
pub(crate) fn catch_task<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn std::any::Any + Send>> {
    IN_TASK.with(|t| t.set(true));
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_TASK.with(|t| t.set(false));
    r
}

/// The [`TaskError::Panicked`] of a task's panic just caught by [`catch_task`].
pub(crate) fn task_panicked(payload: Box<dyn std::any::Any + Send>) -> TaskError {
    TaskError::Panicked {
        message: payload_message(&*payload),
        location: LAST_PANIC.with(|p| p.borrow_mut().take()).flatten(),
    }
}

// ---------------------------------------------------------------------------------------
// The callback thread.

type Job = Box<dyn FnOnce() + Send>;

/// One thread per pool that runs the callbacks in completion order.
pub(crate) struct CallbackThread {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    handle: Mutex<Option<JoinHandle<()>>>,
    joined: AtomicBool,
}

impl CallbackThread {
    pub(crate) fn new() -> Self {
        Self {
            tx: Mutex::new(None),
            handle: Mutex::new(None),
            joined: AtomicBool::new(false),
        }
    }

    /// Runs `job` on the callback thread (started on first use); inline if the thread
    /// is gone (after `join`).
    pub(crate) fn run(&self, job: Job) {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if tx.is_none() && !self.joined.load(Ordering::Acquire) {
            let mut handle = self.handle.lock().unwrap_or_else(|e| e.into_inner());
            if handle.is_none() {
                let (t, r) = mpsc::channel::<Job>();
                let spawned = std::thread::Builder::new()
                    .name("conkit-pool-callbacks".into())
                    .spawn(move || {
                        for job in r {
                            job();
                        }
                    });
                if let Ok(h) = spawned {
                    *handle = Some(h);
                    *tx = Some(t);
                }
            }
        }
        let job = match tx.as_ref() {
            Some(t) => match t.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        drop(tx);
        job();
    }

    /// Waits until every callback queued so far ran, and ends the thread.
    pub(crate) fn join(&self) {
        self.joined.store(true, Ordering::Release);
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let h = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = h {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// Runs a user callback; a panic is reported and ignored.
pub(crate) fn run_callback(f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "conkit pool: a callback panicked (ignored)"
        );
    }
}
