//! Python's `threading.Thread` and the module-level thread functions
//! (`current_thread`, `main_thread`, `active_count`, `enumerate`, `stack_size`,
//! `excepthook`, `TIMEOUT_MAX`), on `std::thread`.
//!
//! ```
//! use conkit::threading::{current_thread, Thread};
//!
//! let t = Thread::builder().name("worker").target(|| {
//!     assert_eq!(current_thread().name(), "worker");
//! });
//! assert_eq!(t.ident(), None); // not started yet
//! t.start().unwrap();
//! t.join().unwrap();
//! assert!(!t.is_alive());
//! assert!(t.ident().is_some());
//! ```
//!
//! See [`Thread`] for the Python ↔ Rust mapping and how panics are reported.
//!
//! # Algorithm and provenance
//! The bookkeeping follows CPython's `Lib/threading.py`: a `_started` event that `start`
//! waits for (so `ident`, `native_id` and `is_alive` are valid once `start` returns), a
//! registry of active threads (`_active`) that a thread enters before it runs and leaves
//! when its body has finished, `_DummyThread` handles for threads started elsewhere, and
//! a global name counter (`Thread-N`, `Dummy-N`). The "finished" and "started" flags are
//! `conkit-core` [`Event`]s over the [`Futex`] strategy, the registry is a `conkit-core`
//! [`BlockingMutex`](conkit_core::lock::BlockingMutex).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use conkit_core::event::Event;

use super::ident::{get_ident, get_native_id};
use crate::wait::{deadline_after, Futex};

#[cfg(feature = "deadlock-detection")]
pub use super::deadlock::{
    deadlock_reports, default_deadlock_hook, reset_deadlock_hook, set_deadlock_hook,
    take_deadlock_reports, DeadlockEdge, DeadlockReport, LockInfo,
};

/// The internal mutex of this module: a `conkit-core` futex lock (no poisoning), not
/// seen by the deadlock detector (see [`RawMutex`](super::RawMutex)).
use super::RawMutex as Mx;

/// The longest timeout the blocking `*_timeout` calls honour exactly (Python's
/// `threading.TIMEOUT_MAX`, 9 223 372 036 s on Linux, about 292 years).
///
/// Unlike Python, a longer timeout is not an error: it waits "forever" in practice (the
/// deadline saturates, see [`deadline_after`]).
pub const TIMEOUT_MAX: Duration = Duration::from_secs(9_223_372_036);

/// The smallest stack size [`stack_size`] accepts (other than 0): 32 KiB, as CPython.
pub const MIN_STACK_SIZE: usize = 32 * 1024;

/// Python's `RuntimeError`s (and `ValueError` of `stack_size`) of `threading`, plus
/// the panic that [`Thread::join`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum ThreadError {
    /// `start` was called a second time ("threads can only be started once").
    AlreadyStarted,
    /// `join` before `start` ("cannot join thread before it is started").
    NotStarted,
    /// A thread tried to join itself ("cannot join current thread").
    JoinSelf,
    /// `join` on a handle of a thread not started by conkit ("cannot join a dummy
    /// thread"): there is nothing that would tell it finished.
    JoinDummy,
    /// `set_daemon` after `start` ("cannot set daemon status of active thread").
    DaemonAfterStart,
    /// The thread's body panicked; it was reported to [`excepthook`].
    Panicked {
        /// The thread's name when it panicked.
        name: String,
        /// The panic message (the payload if it is a string, else `Box<dyn Any>`).
        message: String,
    },
    /// The operating system refused to create the thread ("can't start new thread").
    /// The body was dropped; the thread cannot be started again.
    Spawn(io::Error),
    /// [`stack_size`] with a size below [`MIN_STACK_SIZE`] that is not 0
    /// (Python's `ValueError: size not valid`).
    InvalidStackSize(usize),
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyStarted => f.write_str("threads can only be started once"),
            Self::NotStarted => f.write_str("cannot join thread before it is started"),
            Self::JoinSelf => f.write_str("cannot join current thread"),
            Self::JoinDummy => f.write_str("cannot join a dummy thread"),
            Self::DaemonAfterStart => f.write_str("cannot set daemon status of active thread"),
            Self::Panicked { name, message } => {
                write!(f, "thread {name} panicked: {message}")
            }
            Self::Spawn(e) => write!(f, "can't start new thread: {e}"),
            Self::InvalidStackSize(n) => write!(f, "size not valid: {n} bytes"),
        }
    }
}

impl std::error::Error for ThreadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// The Rust form of "subclass `Thread` and override `run()`": a type whose `run` is a
/// thread's body. Start it with [`Thread::from_run`] or [`ThreadBuilder::run`].
///
/// ```
/// use conkit::threading::{Mutex, Run, Thread};
///
/// static OUT: Mutex<Vec<u32>> = Mutex::new(Vec::new());
///
/// struct MyThread {
///     arg: u32,
/// }
///
/// impl Run for MyThread {
///     fn run(&mut self) {
///         OUT.lock().push(self.arg * 10);
///     }
/// }
///
/// for i in 0..4 {
///     let t = Thread::from_run(MyThread { arg: i });
///     t.start().unwrap();
///     t.join().unwrap();
/// }
/// assert_eq!(*OUT.lock(), [0, 10, 20, 30]);
/// ```
///
/// To read the object's fields after it ran (Python's attributes of a finished
/// thread object), spawn it with [`ThreadBuilder::spawn`] and return it:
/// `Thread::builder().spawn(move || { obj.run(); obj })`.
pub trait Run: Send + 'static {
    /// The thread's body (Python's `Thread.run`).
    fn run(&mut self);
}

/// What kind of thread a handle stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Created by [`Thread`] (or [`Timer`](super::Timer)).
    Conkit,
    /// The process's main thread (`MainThread`).
    Main,
    /// A thread conkit did not start (`Dummy-N`).
    Dummy,
}

/// Where a [`Kind::Conkit`] thread is in its life.
enum State {
    /// Not started: holds the body.
    New(Box<dyn FnOnce() + Send>),
    /// `start` was called (successfully or not).
    Started,
}

struct Inner {
    kind: Kind,
    name: Mx<String>,
    daemon: AtomicBool,
    state: Mx<State>,
    ident: OnceLock<u64>,
    /// The kernel thread id (0 = not known yet); changes in a forked child.
    native_id: AtomicU64,
    /// Set by the thread once it is registered (CPython's `_started`).
    started: Event<Futex>,
    /// Set once the body has ended and the thread left the registry.
    finished: Event<Futex>,
    /// The panic message if the body panicked (set before `finished`).
    panic: Mx<Option<String>>,
    /// The OS thread, joined by the first `join` that sees `finished`.
    os: Mx<Option<std::thread::JoinHandle<()>>>,
}

/// A thread of control (Python's `threading.Thread`).
///
/// A `Thread` is a cheap handle (an `Arc` inside): clones, [`current_thread`] and
/// [`enumerate`] all return the same object, compared with `==`.
///
/// ```
/// use conkit::threading::{enumerate, Thread};
/// use std::time::Duration;
///
/// let t = Thread::new(|| std::thread::sleep(Duration::from_millis(50)));
/// assert!(t.name().starts_with("Thread-"));
/// t.start().unwrap();
/// assert!(t.is_alive());
/// assert!(enumerate().contains(&t));
/// assert!(t.start().is_err()); // threads can only be started once
/// t.join().unwrap();
/// assert!(!t.is_alive());
/// ```
///
/// # Rust and Python
/// | Python | conkit |
/// |---|---|
/// | `Thread(target=f, args=(a,))` | [`Thread::new`]`(move \|\| f(a))`, or [`Thread::builder`] |
/// | `class T(Thread): def run(self)` | `impl` [`Run`] `for T`, then [`Thread::from_run`] |
/// | `t.join()` / `t.join(timeout)` | [`join`](Thread::join) → `Result` (tells you it panicked) / [`join_timeout`](Thread::join_timeout) → `Ok(finished)` |
/// | `t.daemon = True` | [`set_daemon`](Thread::set_daemon) (before `start`, else [`ThreadError::DaemonAfterStart`]) |
/// | `RuntimeError` (start twice, join before start, join self) | [`ThreadError`] |
/// | a thread's return value is lost | also [`ThreadBuilder::spawn`] → [`JoinHandle<T>`] whose `join` returns `T` |
/// | exceptions → [`threading.excepthook`](set_excepthook) | panics → the same hook, the process keeps running |
/// | the interpreter joins non-daemon threads at exit | [`main`] / [`join_non_daemon`] (a Rust process ends when `main` returns) |
///
/// Rust threads run truly in parallel: there is no GIL.
///
/// # Panics are Python's uncaught exceptions
/// The first [`Thread::start`] installs a process-wide panic hook that wraps the hook
/// that was in place: a panic on a thread started by conkit is not printed by Rust's
/// hook but recorded (message, location, and a backtrace when `RUST_BACKTRACE` asks
/// for one); if the panic ends the thread's body, [`excepthook`] receives it (default:
/// `Exception in thread <name>:` and the panic on stderr), the thread ends, the process
/// keeps running, and [`Thread::join`] returns [`ThreadError::Panicked`]. A panic that
/// the thread catches itself (`catch_unwind`) is, like a caught Python exception, not
/// printed. Panics on other threads go to the previous hook unchanged. A hook the
/// program sets later replaces the wrapper: then conkit threads' panics are printed by
/// that hook as well as reported to [`excepthook`]. A [`Local`](super::Local) value
/// whose `Drop` panics when the thread ends is reported the same way (the thread's
/// other values are still dropped, and the thread still ends, so `join` returns).
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Inner>,
}

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Thread {}

impl std::hash::Hash for Thread {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.inner).hash(state);
    }
}

impl fmt::Debug for Thread {
    /// Python's repr: `<Thread(Thread-1, started daemon 1234)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = match self.inner.kind {
            Kind::Conkit => "Thread",
            Kind::Main => "_MainThread",
            Kind::Dummy => "_DummyThread",
        };
        let status = if self.inner.finished.is_set() {
            "stopped"
        } else if self.inner.started.is_set() {
            "started"
        } else {
            "initial"
        };
        write!(f, "<{ty}({}, {status}", self.name())?;
        if self.daemon() {
            f.write_str(" daemon")?;
        }
        if let Some(id) = self.ident() {
            write!(f, " {id}")?;
        }
        f.write_str(")>")
    }
}

/// Python's `_counter`: numbers `Thread-N` and `Dummy-N` names.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_name(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The default stack size of new threads (0 = the platform's / Rust's default).
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Live threads other than the main thread, by [`get_ident`] (CPython's `_active`).
static REGISTRY: Mx<BTreeMap<u64, Thread>> = Mx::new(BTreeMap::new());

/// The main thread's handle, made on first use (replaced in a forked child).
static MAIN: Mx<Option<Thread>> = Mx::new(None);

/// The calling thread's handle, and whether it is a dummy that must leave the registry
/// when the thread ends.
struct CurrentSlot {
    thread: Thread,
}

impl Drop for CurrentSlot {
    fn drop(&mut self) {
        // A thread that conkit did not start is ending: its dummy handle stops being
        // alive (conkit threads leave the registry in `bootstrap`).
        if self.thread.inner.kind == Kind::Dummy {
            if let Some(id) = self.thread.inner.ident.get() {
                // Dropped after the registry's guard (a `let`, not a temporary).
                let removed = REGISTRY.lock().remove(id);
                drop(removed);
            }
            self.thread.inner.finished.set();
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<CurrentSlot>> = const { RefCell::new(None) };
    /// Set on threads started by conkit: their panics go to `excepthook`.
    static CONKIT_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The last panic seen by the hook on this (conkit) thread.
    static LAST_PANIC: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// What the panic hook records for `excepthook`.
struct Captured {
    location: Option<String>,
    backtrace: Option<String>,
}

impl Inner {
    /// Records the calling thread's kernel id as this thread's.
    fn set_native_id(&self) {
        self.native_id.store(get_native_id(), Ordering::Relaxed);
    }

    fn new(kind: Kind, name: String, daemon: bool, body: Option<Box<dyn FnOnce() + Send>>) -> Self {
        Self {
            kind,
            name: Mx::new(name),
            daemon: AtomicBool::new(daemon),
            state: Mx::new(match body {
                Some(b) => State::New(b),
                None => State::Started,
            }),
            ident: OnceLock::new(),
            native_id: AtomicU64::new(0),
            started: Event::new(),
            finished: Event::new(),
            panic: Mx::new(None),
            os: Mx::new(None),
        }
    }
}

impl Thread {
    /// A thread (not started) that will run `target`, named `Thread-N`, daemon if the
    /// creating thread is (Python's `Thread(target=f)`). Arguments are captured by the
    /// closure.
    pub fn new<F>(target: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        ThreadBuilder::new().target(target)
    }

    /// A thread (not started) whose body is `obj.run()`: the Rust form of subclassing
    /// `Thread` and overriding `run`. See [`Run`].
    pub fn from_run<R: Run>(obj: R) -> Self {
        ThreadBuilder::new().run(obj)
    }

    /// A builder to set the name and daemon flag (Python's `Thread(name=..., daemon=...)`).
    pub fn builder() -> ThreadBuilder {
        ThreadBuilder::new()
    }

    fn special(kind: Kind, name: String, daemon: bool) -> Self {
        let t = Self {
            inner: Arc::new(Inner::new(kind, name, daemon, None)),
        };
        t.inner.started.set();
        t
    }

    /// Starts the thread (Python's `start()`): returns once it runs, so
    /// [`ident`](Self::ident), [`native_id`](Self::native_id) and
    /// [`is_alive`](Self::is_alive) are valid afterwards.
    ///
    /// # Errors
    /// [`ThreadError::AlreadyStarted`] the second time (and for the main thread and
    /// dummy handles, which are running already); [`ThreadError::Spawn`] if the OS
    /// cannot create a thread.
    pub fn start(&self) -> Result<(), ThreadError> {
        let body = {
            let mut state = self.inner.state.lock();
            match std::mem::replace(&mut *state, State::Started) {
                State::New(body) => body,
                State::Started => return Err(ThreadError::AlreadyStarted),
            }
        };
        self.launch(body, |builder, run| builder.spawn(run).map(Some))
    }

    /// Starts the OS thread of this handle (whose state is already `Started`) through
    /// `spawn` (`std::thread::Builder::spawn`, or `spawn_scoped` for a [`Scope`]), which
    /// returns the OS handle to keep if there is one; returns once the thread runs.
    fn launch<'scope>(
        &self,
        body: Box<dyn FnOnce() + Send + 'scope>,
        spawn: impl FnOnce(
            std::thread::Builder,
            Box<dyn FnOnce() + Send + 'scope>,
        ) -> io::Result<Option<std::thread::JoinHandle<()>>>,
    ) -> Result<(), ThreadError> {
        install_panic_hook();
        let name = self.name();
        let mut builder = std::thread::Builder::new();
        if !name.contains('\0') {
            builder = builder.name(name);
        }
        let size = STACK_SIZE.load(Ordering::Relaxed);
        if size != 0 {
            builder = builder.stack_size(size);
        }
        let me = self.clone();
        let handle =
            spawn(builder, Box::new(move || bootstrap(me, body))).map_err(ThreadError::Spawn)?;
        if let Some(handle) = handle {
            *self.inner.os.lock() = Some(handle);
        }
        self.inner.started.wait();
        Ok(())
    }

    fn check_joinable(&self) -> Result<(), ThreadError> {
        if self.inner.kind == Kind::Dummy {
            return Err(ThreadError::JoinDummy);
        }
        if !self.inner.started.is_set() {
            return Err(ThreadError::NotStarted);
        }
        if *self == current_thread() {
            return Err(ThreadError::JoinSelf);
        }
        Ok(())
    }

    /// After `finished`: joins the OS thread (so its thread-locals are gone) and
    /// reports a panic.
    fn outcome(&self) -> Result<(), ThreadError> {
        let os = self.inner.os.lock().take();
        if let Some(handle) = os {
            // The body's panics were caught in `bootstrap`; nothing else can panic there.
            let _ = handle.join();
        }
        match &*self.inner.panic.lock() {
            None => Ok(()),
            Some(message) => Err(ThreadError::Panicked {
                name: self.name(),
                message: message.clone(),
            }),
        }
    }

    /// Waits until the thread ends (Python's `join()`).
    ///
    /// Joining the main thread from another thread waits until the process ends, as in
    /// Python. May be called any number of times, from any threads.
    ///
    /// # Errors
    /// [`ThreadError::Panicked`] if the body panicked (it was reported to
    /// [`excepthook`] when it happened); [`ThreadError::NotStarted`],
    /// [`ThreadError::JoinSelf`], [`ThreadError::JoinDummy`] as Python's
    /// `RuntimeError`s.
    pub fn join(&self) -> Result<(), ThreadError> {
        self.check_joinable()?;
        self.inner.finished.wait();
        self.outcome()
    }

    /// Waits at most `timeout` for the thread to end (Python's `join(timeout)`):
    /// `Ok(true)` if it ended, `Ok(false)` if it is still running (then
    /// [`is_alive`](Self::is_alive) is `true`).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ThreadError> {
        self.join_until(deadline_after(timeout))
    }

    /// Waits until the thread ends or `deadline` passes: `Ok(true)` if it ended,
    /// `Ok(false)` if it is still running. A deadline that has passed only looks.
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_until(&self, deadline: Instant) -> Result<bool, ThreadError> {
        self.check_joinable()?;
        if !self.inner.finished.wait_until(deadline) {
            return Ok(false);
        }
        self.outcome().map(|()| true)
    }

    /// Whether the thread has started and its body has not ended yet (Python's
    /// `is_alive()`). The main thread is always alive; a dummy handle until its thread
    /// ends.
    pub fn is_alive(&self) -> bool {
        self.inner.started.is_set() && !self.inner.finished.is_set()
    }

    /// The thread's name (Python's `name`): `Thread-N` unless given, `MainThread`,
    /// `Dummy-N`. Only for identification: several threads may share one.
    pub fn name(&self) -> String {
        self.inner.name.lock().clone()
    }

    /// Renames the thread (Python's `name = ...`), at any time. The OS-level name
    /// (seen by debuggers) is the one at `start`.
    pub fn set_name(&self, name: impl Into<String>) {
        *self.inner.name.lock() = name.into();
    }

    /// The thread's [`get_ident`] (Python's `ident`); `None` until started. For the
    /// main thread it is known once the main thread itself has called into
    /// `conkit::threading` (e.g. [`current_thread`]).
    pub fn ident(&self) -> Option<u64> {
        self.inner.ident.get().copied()
    }

    /// The thread's [`get_native_id`] (Python's `native_id`); `None` until started.
    pub fn native_id(&self) -> Option<u64> {
        match self.inner.native_id.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// Whether this is a daemon thread (Python's `daemon`): [`join_non_daemon`] and
    /// [`main`] do not wait for daemon threads.
    pub fn daemon(&self) -> bool {
        self.inner.daemon.load(Ordering::Relaxed)
    }

    /// Sets the daemon flag (Python's `daemon = ...`).
    ///
    /// # Errors
    /// [`ThreadError::DaemonAfterStart`] once the thread was started.
    pub fn set_daemon(&self, daemon: bool) -> Result<(), ThreadError> {
        let state = self.inner.state.lock();
        if matches!(*state, State::Started) {
            return Err(ThreadError::DaemonAfterStart);
        }
        self.inner.daemon.store(daemon, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the thread's body ended by panicking (`false` while it runs).
    pub fn panicked(&self) -> bool {
        self.inner.panic.lock().is_some()
    }
}

/// Sets up a [`Thread`] (Python's `Thread(name=..., daemon=...)` keyword arguments),
/// then builds it from a closure, a [`Run`] object, or spawns it at once with a result.
///
/// ```
/// use conkit::threading::Thread;
///
/// let h = Thread::builder().name("adder").spawn(|| 2 + 2).unwrap();
/// assert_eq!(h.thread().name(), "adder");
/// assert_eq!(h.join().unwrap(), 4);
/// ```
#[derive(Debug, Default, Clone)]
pub struct ThreadBuilder {
    name: Option<String>,
    daemon: Option<bool>,
}

impl ThreadBuilder {
    /// Defaults: name `Thread-N`, daemon as the creating thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// The thread's name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The daemon flag (default: the creating thread's, as in Python).
    #[must_use]
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// A conkit thread with this builder's name and daemon flag; `body` is `None` for
    /// a thread started at once (its state is then `Started`).
    fn build_with(self, body: Option<Box<dyn FnOnce() + Send>>) -> Thread {
        let name = self.name.unwrap_or_else(|| new_name("Thread"));
        let daemon = self.daemon.unwrap_or_else(|| current_thread().daemon());
        Thread {
            inner: Arc::new(Inner::new(Kind::Conkit, name, daemon, body)),
        }
    }

    fn build(self, body: Box<dyn FnOnce() + Send>) -> Thread {
        self.build_with(Some(body))
    }

    /// A thread (not started) that will run `target`.
    pub fn target<F>(self, target: F) -> Thread
    where
        F: FnOnce() + Send + 'static,
    {
        self.build(Box::new(target))
    }

    /// A thread (not started) that will run `obj.run()`.
    pub fn run<R: Run>(self, obj: R) -> Thread {
        let mut obj = obj;
        self.build(Box::new(move || obj.run()))
    }

    /// Builds and starts a thread whose closure returns a value, which
    /// [`JoinHandle::join`] hands back (the Rust-friendly form; the thread is an
    /// ordinary [`Thread`] otherwise: named, registered, reported on panic).
    /// [`threading::spawn(f)`](spawn) is this with the default name and daemon flag.
    ///
    /// # Errors
    /// [`ThreadError::Spawn`] if the OS cannot create a thread.
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, ThreadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(f, |thread, body| {
            thread.launch(body, |builder, run| builder.spawn(run).map(Some))
        })
    }

    /// Builds and starts a thread in `scope` (see [`scope`](super::scope)): its
    /// closure may borrow anything that outlives the scope, and the scope waits for it
    /// before it returns. Otherwise as [`spawn`](Self::spawn): a named, registered
    /// conkit thread whose panic goes to [`excepthook`] and to [`JoinHandle::join`].
    ///
    /// ```
    /// use conkit::threading::{self, current_thread, Thread};
    ///
    /// let greeting = String::from("hello");
    /// threading::scope(|s| {
    ///     let h = Thread::builder()
    ///         .name("greeter")
    ///         .spawn_scoped(s, || format!("{greeting} from {}", current_thread().name()))
    ///         .unwrap();
    ///     assert_eq!(h.join().unwrap(), "hello from greeter");
    /// });
    /// ```
    ///
    /// # Errors
    /// [`ThreadError::Spawn`] if the OS cannot create a thread.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope super::Scope<'scope, 'env>,
        f: F,
    ) -> Result<JoinHandle<T>, ThreadError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(f, |thread, body| {
            thread.launch(body, |builder, run| {
                // The scope joins the OS thread itself when it ends: no handle to keep.
                builder.spawn_scoped(scope.std(), run).map(|_| None)
            })
        })
    }

    /// A thread (its state already `Started`) whose body stores `f`'s value for the
    /// returned handle, started by `launch`.
    fn spawn_with<'scope, F, T>(
        self,
        f: F,
        launch: impl FnOnce(&Thread, Box<dyn FnOnce() + Send + 'scope>) -> Result<(), ThreadError>,
    ) -> Result<JoinHandle<T>, ThreadError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let thread = self.build_with(None);
        let slot = Arc::new(Mx::new(None));
        let out = Arc::clone(&slot);
        launch(
            &thread,
            Box::new(move || {
                let v = f();
                *out.lock() = Some(v);
            }),
        )?;
        Ok(JoinHandle { thread, slot })
    }
}

/// Starts a thread that runs `f` and returns a handle whose [`join`](JoinHandle::join)
/// gives back what `f` returned: the one-call way to run something on a conkit thread
/// (`Thread-N`, listed by [`enumerate`], [`current_thread`] inside, a panic reported by
/// [`excepthook`] and returned by `join` as [`ThreadError::Panicked`]). The daemon flag
/// is the calling thread's, as in Python.
///
/// `Thread::new(f)` + `start` is Python's two-step form (and a `Thread` can be
/// started later); [`ThreadBuilder::spawn`] sets a name or the daemon flag; to borrow
/// local data instead of moving it in, use [`scope`](super::scope).
///
/// ```
/// use conkit::threading;
///
/// let words = vec!["hot", "pot"];
/// let h = threading::spawn(move || words.join(" "));
/// assert!(h.thread().name().starts_with("Thread-"));
/// assert_eq!(h.join().unwrap(), "hot pot");
/// ```
///
/// # Panics
/// If the operating system cannot create a thread (as `std::thread::spawn`);
/// [`ThreadBuilder::spawn`] returns that as [`ThreadError::Spawn`] instead.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    ThreadBuilder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("failed to spawn thread: {e}"))
}

/// A started [`Thread`] whose closure returns a `T` (from [`spawn`],
/// [`ThreadBuilder::spawn`], [`Scope::spawn`](super::Scope::spawn)).
pub struct JoinHandle<T> {
    thread: Thread,
    slot: Arc<Mx<Option<T>>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// The thread (its name, ident, [`join_timeout`](Thread::join_timeout), …).
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Whether the thread's body has ended (then [`join`](Self::join) returns at once).
    pub fn is_finished(&self) -> bool {
        self.thread.inner.finished.is_set()
    }

    /// Waits for the thread and returns what its closure returned.
    ///
    /// # Errors
    /// [`ThreadError::Panicked`] if it panicked; [`ThreadError::JoinSelf`] if called on
    /// the thread itself.
    pub fn join(self) -> Result<T, ThreadError> {
        self.thread.join()?;
        let value = self.slot.lock().take();
        // A body that returned stored its value before `finished` was set.
        value.ok_or(ThreadError::NotStarted)
    }
}

/// The body of every conkit thread (CPython's `_bootstrap_inner`).
fn bootstrap(me: Thread, body: Box<dyn FnOnce() + Send + '_>) {
    let ident = get_ident();
    let _ = me.inner.ident.set(ident);
    me.inner.set_native_id();
    CONKIT_THREAD.with(|c| c.set(true));
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(CurrentSlot { thread: me.clone() });
    });
    REGISTRY.lock().insert(ident, me.clone());
    me.inner.started.set();

    let run = || {
        super::trace::run_start_hooks(&me);
        body();
    };
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(run)) {
        report_panic(&me, payload);
    }
    // Python frees a thread's `local` values when it ends; do it before `finished` so
    // a joiner sees them dropped. A value whose drop panics is reported like a panic
    // of the body (the thread still ends normally: `finished` is set below).
    if let Some(payload) = super::local::clear_current_thread() {
        report_panic(&me, payload);
    }
    // The handle is dropped after the registry's guard: dropping a last handle must
    // not run user `Drop`s (or lock hooks) under the registry lock.
    let removed = REGISTRY.lock().remove(&ident);
    drop(removed);
    me.inner.finished.set();
}

/// Records a panic caught on thread `me` (the first one is what `join` reports) and
/// hands it to [`excepthook`].
fn report_panic(me: &Thread, payload: Box<dyn Any + Send>) {
    let captured = LAST_PANIC.with(|p| p.borrow_mut().take());
    let message = payload_message(&*payload);
    me.inner.panic.lock().get_or_insert_with(|| message.clone());
    let args = ExceptHookArgs {
        thread: Some(me),
        message: &message,
        location: captured.as_ref().and_then(|c| c.location.as_deref()),
        backtrace: captured.as_ref().and_then(|c| c.backtrace.as_deref()),
        payload: &*payload,
    };
    excepthook(&args);
    // Dropping a payload can panic in theory (a payload with a panicking Drop).
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

/// The message of a panic payload (`&str`, `String`, else `Box<dyn Any>` as Rust's
/// own hook prints).
fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Installs (once) the panic hook that records panics of conkit threads for
/// `excepthook` and leaves the others to the hook that was there before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    // `take_hook` must not run on a panicking thread (e.g. a `start` inside a `Drop`
    // during unwinding): install at the next `start` instead.
    if std::thread::panicking() {
        return;
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = CONKIT_THREAD.try_with(Cell::get).unwrap_or(false);
            if !ours {
                previous(info);
                return;
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let bt = std::backtrace::Backtrace::capture();
            let backtrace =
                (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
            let _ = LAST_PANIC.try_with(|p| {
                *p.borrow_mut() = Some(Captured {
                    location,
                    backtrace,
                });
            });
        }));
    });
}

/// What [`excepthook`] receives about a panic that ended a thread (Python's
/// `threading.ExceptHookArgs`: `exc_type`/`exc_value` are the payload and message,
/// `exc_traceback` the location and backtrace).
#[derive(Clone, Copy)]
pub struct ExceptHookArgs<'a> {
    /// The thread whose body panicked (Python's `thread`, which may be `None`).
    pub thread: Option<&'a Thread>,
    /// The panic message.
    pub message: &'a str,
    /// `file:line:column` of the panic, if known.
    pub location: Option<&'a str>,
    /// A backtrace, if `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asked for one.
    pub backtrace: Option<&'a str>,
    /// The panic payload, for downcasting (e.g. to a custom error type).
    pub payload: &'a (dyn Any + Send),
}

impl fmt::Debug for ExceptHookArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExceptHookArgs")
            .field("thread", &self.thread)
            .field("message", &self.message)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

type Hook = Arc<dyn Fn(&ExceptHookArgs<'_>) + Send + Sync>;

static EXCEPTHOOK: Mx<Option<Hook>> = Mx::new(None);

/// Replaces the hook called when a thread's body panics (Python's
/// `threading.excepthook = f`). [`reset_excepthook`] restores the default.
///
/// ```
/// use conkit::threading::{reset_excepthook, set_excepthook, Mutex, Thread};
///
/// static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// set_excepthook(|args| {
///     let name = args.thread.map(|t| t.name()).unwrap_or_default();
///     SEEN.lock().push(format!("{name}: {}", args.message));
/// });
/// let t = Thread::builder().name("bad").target(|| panic!("boom"));
/// t.start().unwrap();
/// assert!(t.join().is_err()); // join says it panicked; the process goes on
/// reset_excepthook();
/// assert_eq!(*SEEN.lock(), ["bad: boom"]);
/// ```
pub fn set_excepthook<F>(hook: F)
where
    F: Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static,
{
    // The old hook is dropped after the lock's guard: its `Drop` is user code.
    let old = EXCEPTHOOK.lock().replace(Arc::new(hook));
    drop(old);
}

/// Restores [`default_excepthook`] (Python's `threading.excepthook =
/// threading.__excepthook__`).
pub fn reset_excepthook() {
    let old = EXCEPTHOOK.lock().take();
    drop(old);
}

/// Calls the current hook (Python's `threading.excepthook(args)`). If the hook itself
/// panics, the default hook reports the original panic.
pub fn excepthook(args: &ExceptHookArgs<'_>) {
    let hook = EXCEPTHOOK.lock().clone();
    match hook {
        None => default_excepthook(args),
        Some(hook) => {
            if panic::catch_unwind(AssertUnwindSafe(|| hook(args))).is_err() {
                default_excepthook(args);
            }
        }
    }
}

/// The default hook (Python's `threading.__excepthook__`): prints
/// `Exception in thread <name>:`, the location and message of the panic, and the
/// backtrace if one was captured, to stderr.
pub fn default_excepthook(args: &ExceptHookArgs<'_>) {
    let name = args
        .thread
        .map_or_else(|| get_ident().to_string(), Thread::name);
    let mut text = format!("Exception in thread {name}:\n");
    if let Some(loc) = args.location {
        text.push_str(&format!("panicked at {loc}:\n"));
    }
    text.push_str(args.message);
    text.push('\n');
    if let Some(bt) = args.backtrace {
        text.push_str(&format!("stack backtrace:\n{bt}\n"));
    }
    eprint!("{text}");
}

/// Whether the calling OS thread is the process's main thread.
///
/// Linux / Android: its kernel thread id equals the process id (exact). Elsewhere:
/// Rust's runtime names the main thread `"main"` (true for a Rust `fn main`; a thread
/// you name `"main"` yourself would be taken for it, and a program whose `main` is not
/// Rust's has no main thread in this sense).
fn is_main_os_thread() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        get_native_id() == u64::from(std::process::id())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        std::thread::current().name() == Some("main")
    }
}

/// The main thread's handle (Python's `main_thread()`), named `MainThread`, not daemon,
/// always alive.
///
/// Its [`ident`](Thread::ident) is known once the main thread has called into
/// `conkit::threading`; its [`native_id`](Thread::native_id) on Linux always (the
/// process id).
///
/// How the main thread is recognised (the first thread to use conkit need not be it):
/// on Linux and Android, its kernel thread id equals the process id (exact); elsewhere,
/// Rust's runtime names the main thread `"main"` (true for a Rust `fn main`; a thread
/// you name `"main"` yourself would be taken for it).
///
/// ```
/// use conkit::threading::{current_thread, main_thread};
///
/// // Doc tests run on the main thread of their program.
/// assert_eq!(current_thread(), main_thread());
/// assert_eq!(main_thread().name(), "MainThread");
/// assert!(!main_thread().daemon());
/// ```
pub fn main_thread() -> Thread {
    MAIN.lock()
        .get_or_insert_with(|| {
            let t = Thread::special(Kind::Main, "MainThread".to_owned(), false);
            #[cfg(any(target_os = "linux", target_os = "android"))]
            t.inner
                .native_id
                .store(u64::from(std::process::id()), Ordering::Relaxed);
            t
        })
        .clone()
}

/// The calling thread's handle (Python's `current_thread()`): the [`Thread`] that
/// started it, [`main_thread`], or for a thread conkit did not start (e.g.
/// `std::thread::spawn`) a daemon handle named `Dummy-N` that is listed by
/// [`enumerate`] until that thread ends.
pub fn current_thread() -> Thread {
    let found = CURRENT.try_with(|c| c.borrow().as_ref().map(|s| s.thread.clone()));
    match found {
        Ok(Some(t)) => t,
        Ok(None) => {
            let t = if is_main_os_thread() {
                let t = main_thread();
                let _ = t.inner.ident.set(get_ident());
                t.inner.set_native_id();
                t
            } else {
                let t = Thread::special(Kind::Dummy, new_name("Dummy"), true);
                let ident = get_ident();
                let _ = t.inner.ident.set(ident);
                t.inner.set_native_id();
                REGISTRY.lock().insert(ident, t.clone());
                t
            };
            CURRENT.with(|c| *c.borrow_mut() = Some(CurrentSlot { thread: t.clone() }));
            t
        }
        // This thread's thread-locals are being destroyed: a throw-away dummy handle.
        Err(_) => {
            let t = Thread::special(Kind::Dummy, new_name("Dummy"), true);
            let _ = t.inner.ident.set(get_ident());
            t.inner.set_native_id();
            t
        }
    }
}

/// The threads alive now (Python's `enumerate()`): the main thread, started conkit
/// threads whose body has not ended, and dummy handles of other threads that asked for
/// [`current_thread`] and still run. Sorted by ident, main thread first.
pub fn enumerate() -> Vec<Thread> {
    let mut all = vec![main_thread()];
    all.extend(REGISTRY.lock().values().cloned());
    all
}

/// How many threads [`enumerate`] lists (Python's `active_count()`).
pub fn active_count() -> usize {
    1 + REGISTRY.lock().len()
}

/// Reads, and with `Some(size)` sets, the stack size of threads started afterwards
/// (Python's `stack_size([size])`); returns the previous value. 0 means the platform's
/// default (Rust's: 2 MiB, or `RUST_MIN_STACK`).
///
/// ```
/// use conkit::threading::{stack_size, ThreadError};
///
/// assert!(matches!(stack_size(Some(1000)), Err(ThreadError::InvalidStackSize(1000))));
/// ```
///
/// # Errors
/// [`ThreadError::InvalidStackSize`] for a size other than 0 below [`MIN_STACK_SIZE`]
/// (Python's `ValueError`); the setting is unchanged.
pub fn stack_size(size: Option<usize>) -> Result<usize, ThreadError> {
    match size {
        None => Ok(STACK_SIZE.load(Ordering::Relaxed)),
        Some(n) if n != 0 && n < MIN_STACK_SIZE => Err(ThreadError::InvalidStackSize(n)),
        Some(n) => Ok(STACK_SIZE.swap(n, Ordering::Relaxed)),
    }
}

/// Waits for every non-daemon conkit thread to end (what Python's interpreter does
/// before it exits), including threads started meanwhile. A Rust process ends when
/// `main` returns, killing the remaining threads as Python kills daemon threads; call
/// this (or use [`main`]) at the end of `main` for Python's behaviour.
///
/// Threads that panicked were reported by [`excepthook`]; their errors are not
/// repeated here. The calling thread is skipped.
pub fn join_non_daemon() {
    let me = current_thread();
    loop {
        let pending: Vec<Thread> = REGISTRY
            .lock()
            .values()
            .filter(|t| t.inner.kind == Kind::Conkit && !t.daemon() && **t != me)
            .cloned()
            .collect();
        if pending.is_empty() {
            return;
        }
        for t in pending {
            let _ = t.join();
        }
    }
}

/// Runs `body` and then [`join_non_daemon`]: Python's program shape, where the
/// interpreter waits for non-daemon threads before exiting. Use it as the whole body of
/// `fn main`.
///
/// ```
/// use conkit::threading::{self, Thread};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = done.clone();
/// threading::main(|| {
///     Thread::new(move || {
///         std::thread::sleep(Duration::from_millis(50));
///         flag.store(true, Ordering::SeqCst);
///     })
///     .start()
///     .unwrap();
///     // main's body returns at once...
/// });
/// // ...but the non-daemon thread finished before `main` returned.
/// assert!(done.load(Ordering::SeqCst));
/// ```
pub fn main<R>(body: impl FnOnce() -> R) -> R {
    let r = body();
    join_non_daemon();
    r
}

/// Takes `m` over in a forked child, where the thread that may hold it does not exist:
/// frees it if it is locked and puts `fresh` in. Returns the old contents if they are
/// consistent (the lock was free at the fork); otherwise they are leaked, as they may
/// be half-updated.
fn take_over_after_fork<T>(m: &Mx<T>, fresh: T) -> Option<T> {
    let was_locked = m.is_locked();
    if was_locked {
        // Its holder was another thread of the parent: nobody will ever release it.
        // SAFETY: that holder's guard lives in a thread that does not exist in this
        // child, so it is never used or dropped here: no other guard is alive.
        let _ = unsafe { m.raw() }.release();
    }
    let old = std::mem::replace(&mut *m.lock(), fresh);
    if was_locked {
        std::mem::forget(old);
        None
    } else {
        Some(old)
    }
}

/// Repairs the thread bookkeeping in the child of a `fork()` (CPython's
/// `threading._after_fork`): only the forking thread exists there. It becomes the main
/// thread (as in Python; it keeps its handle, ident and name, and gets its new kernel
/// id), every other handle stops being alive, the registry and the deadlock detector's
/// record of held locks start over. Call it first thing in the child.
#[allow(dead_code, reason = "for multiprocessing's `fork` start method")]
pub(crate) fn after_fork_in_child() {
    // The forking thread's thread-locals were copied: its own handle is still there.
    let me = CURRENT
        .try_with(|c| c.borrow().as_ref().map(|s| s.thread.clone()))
        .ok()
        .flatten();
    let old_registry = take_over_after_fork(&REGISTRY, BTreeMap::new());
    let old_main = take_over_after_fork(&MAIN, None).flatten();
    let me = me.unwrap_or_else(|| {
        // The forking thread never asked for its handle: make one now.
        let t = Thread::special(Kind::Main, "MainThread".to_owned(), false);
        let _ = t.inner.ident.set(get_ident());
        t
    });
    me.inner.set_native_id();
    for t in old_registry
        .into_iter()
        .flat_map(BTreeMap::into_values)
        .chain(old_main)
    {
        if t != me {
            // Its OS thread does not exist here: joining it would wait forever, and
            // detaching it would touch a dead thread's state. Forget the handle.
            // (`try_lock`: a parent thread may have held it at the fork.)
            if let Some(mut os) = t.inner.os.try_lock() {
                std::mem::forget(os.take());
            }
            t.inner.finished.set();
        }
    }
    // Set it only if it was missing: replacing the slot would drop the old one, which
    // for a dummy handle means "this thread ended".
    let _ = CURRENT.try_with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| CurrentSlot { thread: me.clone() });
    });
    *MAIN.lock() = Some(me);
    super::deadlock::after_fork_in_child();
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::time::Instant;

    /// What the child of a fork sees after `after_fork_in_child`; `true` if all is as
    /// in Python.
    fn child_checks(other: &Thread, pid: u64) -> bool {
        after_fork_in_child();
        let me = current_thread();
        let main = main_thread();
        let listed = enumerate();
        me == main
            && main.is_alive()
            && me.native_id() == Some(pid)
            && listed == [me.clone()]
            && active_count() == 1
            && !other.is_alive()
            && other.join_timeout(Duration::ZERO).is_ok_and(|done| done)
    }

    #[test]
    fn after_fork_only_the_forking_thread_is_alive_and_it_is_main() {
        let gate = Arc::new(Event::<Futex>::new());
        let g = gate.clone();
        let other = Thread::new(move || g.wait());
        other.start().unwrap();
        // Make sure the registry has entries and this (test) thread has a handle.
        let me = current_thread();
        assert!(enumerate().contains(&other) && enumerate().contains(&me));

        // SAFETY: fork has no preconditions; the child only runs `child_checks` (which
        // allocates: glibc's malloc is fork-safe) and leaves with `_exit`, never
        // returning into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: getpid has no preconditions.
            let child = u64::try_from(unsafe { libc::getpid() }).unwrap_or_default();
            let ok = child_checks(&other, child);
            // SAFETY: _exit ends the child at once, without running the parent's atexit
            // handlers or destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: killing and reaping our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        // The parent is untouched.
        assert!(other.is_alive());
        assert_ne!(current_thread(), main_thread());
        gate.set();
        other.join().unwrap();
    }
}
