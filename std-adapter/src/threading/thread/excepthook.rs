//! Panics as Python's uncaught exceptions: the panic hook that records a conkit
//! thread's panic, and [`excepthook`] (Python's `threading.excepthook`) that reports it.

use super::*;

/// What the panic hook records for `excepthook`.
pub(super) struct Captured {
    pub(super) location: Option<String>,
    pub(super) backtrace: Option<String>,
}

/// Records a panic caught on thread `me` (the first one is what `join` reports) and
/// hands it to [`excepthook`].
pub(super) fn report_panic(me: &Thread, payload: Box<dyn Any + Send>) {
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
pub(super) fn payload_message(payload: &(dyn Any + Send)) -> String {
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
pub(super) fn install_panic_hook() {
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

pub(super) static EXCEPTHOOK: Mx<Option<Hook>> = Mx::new(None);

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
