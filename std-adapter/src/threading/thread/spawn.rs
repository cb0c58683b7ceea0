//! [`ThreadBuilder`], [`spawn`] and [`JoinHandle`]: starting threads (with a name, a
//! daemon flag, a return value) and the body every conkit thread runs (CPython's
//! `_bootstrap_inner`).

use super::*;

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
    pub(super) name: Option<String>,
    pub(super) daemon: Option<bool>,
}

impl ThreadBuilder {
    /// Defaults: name `Thread-N`, daemon as the creating thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// The thread's name. An empty name gives the default `Thread-N`, as Python's
    /// `Thread(name="")` (CPython takes any false name as no name).
    ///
    /// The default name is `Thread-N` without CPython 3.10's ` (target)` suffix: a Rust
    /// closure has no name to append.
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
    pub(super) fn build_with(self, body: Option<Box<dyn FnOnce() + Send>>) -> Thread {
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| new_name("Thread"));
        let daemon = self.daemon.unwrap_or_else(|| current_thread().daemon());
        Thread {
            inner: Arc::new(Inner::new(Kind::Conkit, name, daemon, body)),
        }
    }

    pub(super) fn build(self, body: Box<dyn FnOnce() + Send>) -> Thread {
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

    /// Builds and starts a thread in `scope` (see [`scope`](crate::threading::scope)): its
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
        scope: &'scope crate::threading::Scope<'scope, 'env>,
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
    pub(super) fn spawn_with<'scope, F, T>(
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
/// local data instead of moving it in, use [`scope`](crate::threading::scope).
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
/// [`ThreadBuilder::spawn`], [`Scope::spawn`](crate::threading::Scope::spawn)).
pub struct JoinHandle<T> {
    pub(super) thread: Thread,
    pub(super) slot: Arc<Mx<Option<T>>>,
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
pub(super) fn bootstrap(me: Thread, body: Box<dyn FnOnce() + Send + '_>) {
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
        crate::threading::trace::run_start_hooks(&me);
        body();
    };
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(run)) {
        report_panic(&me, payload);
    }
    // Python frees a thread's `local` values when it ends; do it before `finished` so
    // a joiner sees them dropped. A value whose drop panics is reported like a panic
    // of the body (the thread still ends normally: `finished` is set below).
    if let Some(payload) = crate::threading::local::clear_current_thread() {
        report_panic(&me, payload);
    }
    // The handle is dropped after the registry's guard: dropping a last handle must
    // not run user `Drop`s (or lock hooks) under the registry lock.
    let removed = REGISTRY.lock().remove(&ident);
    drop(removed);
    me.inner.finished.set();
}
