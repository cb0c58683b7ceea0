//! [`Thread`]: the handle of one thread (Python's `threading.Thread` object), its
//! shared state, and the methods that start, join and describe it.

use super::*;

/// What kind of thread a handle stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Created by [`Thread`] (or [`Timer`](crate::threading::Timer)).
    Conkit,
    /// The process's main thread (`MainThread`).
    Main,
    /// A thread conkit did not start (`Dummy-N`).
    Dummy,
}

/// Where a [`Kind::Conkit`] thread is in its life.
pub(super) enum State {
    /// Not started: holds the body.
    New(Box<dyn FnOnce() + Send>),
    /// `start` was called (successfully or not).
    Started,
}

pub(super) struct Inner {
    pub(super) kind: Kind,
    pub(super) name: Mx<String>,
    pub(super) daemon: AtomicBool,
    pub(super) state: Mx<State>,
    pub(super) ident: OnceLock<u64>,
    /// The kernel thread id (0 = not known yet); changes in a forked child.
    pub(super) native_id: AtomicU64,
    /// Set by the thread once it is registered (CPython's `_started`).
    pub(super) started: Event<Futex>,
    /// Set once the body has ended and the thread left the registry.
    pub(super) finished: Event<Futex>,
    /// The panic message if the body panicked (set before `finished`).
    pub(super) panic: Mx<Option<String>>,
    /// The OS thread, joined by the first `join` that sees `finished`.
    pub(super) os: Mx<Option<std::thread::JoinHandle<()>>>,
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
/// that hook as well as reported to [`excepthook`]. A [`Local`](crate::threading::Local) value
/// whose `Drop` panics when the thread ends is reported the same way (the thread's
/// other values are still dropped, and the thread still ends, so `join` returns).
#[derive(Clone)]
pub struct Thread {
    pub(super) inner: Arc<Inner>,
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

impl Inner {
    /// Records the calling thread's kernel id as this thread's.
    pub(super) fn set_native_id(&self) {
        self.native_id.store(get_native_id(), Ordering::Relaxed);
    }

    pub(super) fn new(
        kind: Kind,
        name: String,
        daemon: bool,
        body: Option<Box<dyn FnOnce() + Send>>,
    ) -> Self {
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

    pub(super) fn special(kind: Kind, name: String, daemon: bool) -> Self {
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
    pub(super) fn launch<'scope>(
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

    pub(super) fn check_joinable(&self) -> Result<(), ThreadError> {
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
    pub(super) fn outcome(&self) -> Result<(), ThreadError> {
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
