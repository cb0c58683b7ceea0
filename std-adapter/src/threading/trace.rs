//! `threading.settrace` / `threading.setprofile`: hooks run in every new conkit thread
//! before its body.
//!
//! Python passes these functions to `sys.settrace` / `sys.setprofile` in each thread
//! started by `threading`, before `run()`. Rust has no interpreter-level tracing, so
//! here a hook is a function called once, in the new thread, with its [`Thread`]
//! handle, right before the body runs: the place to install a per-thread tracing
//! subscriber, name the thread for a profiler, pin it to a core, or count starts.
//! Profile hooks run first, then trace hooks (CPython's order). A panicking hook is a
//! panic of that thread (reported by `excepthook`; the body does not run).

use std::sync::Arc;

use super::RawMutex;
use super::Thread;

/// A hook run at the start of every thread started by conkit.
pub type StartHook = Arc<dyn Fn(&Thread) + Send + Sync>;

static TRACE: RawMutex<Option<StartHook>> = RawMutex::new(None);
static PROFILE: RawMutex<Option<StartHook>> = RawMutex::new(None);

/// Sets the hook every thread started from now on runs before its body (Python's
/// `threading.settrace(func)`).
///
/// Python passes these functions to `sys.settrace` / `sys.setprofile` in each thread
/// started by `threading`, before `run()`. Rust has no interpreter-level tracing, so
/// here a hook is a function called once, in the new thread, with its [`Thread`]
/// handle, right before the body runs: the place to install a per-thread tracing
/// subscriber, name the thread for a profiler, pin it to a core, or count starts.
/// Profile hooks ([`setprofile`]) run first, then trace hooks (CPython's order). A
/// panicking hook is a panic of that thread (reported by `excepthook`; the body does
/// not run).
///
/// ```
/// use conkit::threading::{settrace, Thread};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let starts = Arc::new(AtomicUsize::new(0));
/// let seen = starts.clone();
/// settrace(move |t: &Thread| {
///     assert_eq!(t.name(), "traced");
///     seen.fetch_add(1, Ordering::SeqCst);
/// });
/// let t = Thread::builder().name("traced").target(|| {});
/// t.start().unwrap();
/// t.join().unwrap();
/// conkit::threading::clear_trace();
/// assert_eq!(starts.load(Ordering::SeqCst), 1);
/// ```
pub fn settrace(hook: impl Fn(&Thread) + Send + Sync + 'static) {
    // The old hook is dropped after the lock's guard: its `Drop` is user code.
    let old = TRACE.lock().replace(Arc::new(hook));
    drop(old);
}

/// The hook set by [`settrace`], if any (Python's `threading.gettrace()`).
#[must_use]
pub fn gettrace() -> Option<StartHook> {
    TRACE.lock().clone()
}

/// Removes the [`settrace`] hook (Python's `threading.settrace(None)`).
pub fn clear_trace() {
    let old = TRACE.lock().take();
    drop(old);
}

/// Sets the profile hook every thread started from now on runs before its body
/// (Python's `threading.setprofile(func)`); it runs before the trace hook.
pub fn setprofile(hook: impl Fn(&Thread) + Send + Sync + 'static) {
    // The old hook is dropped after the lock's guard: its `Drop` is user code.
    let old = PROFILE.lock().replace(Arc::new(hook));
    drop(old);
}

/// The hook set by [`setprofile`], if any (Python's `threading.getprofile()`).
#[must_use]
pub fn getprofile() -> Option<StartHook> {
    PROFILE.lock().clone()
}

/// Removes the [`setprofile`] hook (Python's `threading.setprofile(None)`).
pub fn clear_profile() {
    let old = PROFILE.lock().take();
    drop(old);
}

/// Runs the hooks in a new thread, before its body (called by the thread bootstrap).
pub(crate) fn run_start_hooks(me: &Thread) {
    // Cloned out of the locks: a hook may itself call `settrace` or start threads.
    if let Some(p) = getprofile() {
        p(me);
    }
    if let Some(t) = gettrace() {
        t(me);
    }
}
