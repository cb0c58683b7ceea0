//! The module's bookkeeping: thread names, the default stack size, the registry of
//! live threads (CPython's `_active`), the main thread, the calling thread's handle, and
//! the repair after `fork` (CPython's `_after_fork`); the module-level functions that
//! read them (`current_thread`, `main_thread`, `enumerate`, `active_count`,
//! `stack_size`, `join_non_daemon`, `main`).

use super::*;

/// Python's `_counter`: numbers `Thread-N` and `Dummy-N` names.
pub(super) static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) fn new_name(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The default stack size of new threads (0 = the platform's / Rust's default).
pub(super) static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Live threads other than the main thread, by [`get_ident`] (CPython's `_active`).
pub(super) static REGISTRY: Mx<BTreeMap<u64, Thread>> = Mx::new(BTreeMap::new());

/// The main thread's handle, made on first use (replaced in a forked child).
pub(super) static MAIN: Mx<Option<Thread>> = Mx::new(None);

/// The calling thread's handle, and whether it is a dummy that must leave the registry
/// when the thread ends.
pub(super) struct CurrentSlot {
    pub(super) thread: Thread,
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
    pub(super) static CURRENT: RefCell<Option<CurrentSlot>> = const { RefCell::new(None) };
    /// Set on threads started by conkit: their panics go to `excepthook`.
    pub(super) static CONKIT_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The last panic seen by the hook on this (conkit) thread.
    pub(super) static LAST_PANIC: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// Whether the calling OS thread is the process's main thread.
///
/// Linux / Android: its kernel thread id equals the process id (exact). Elsewhere:
/// Rust's runtime names the main thread `"main"` (true for a Rust `fn main`; a thread
/// you name `"main"` yourself would be taken for it, and a program whose `main` is not
/// Rust's has no main thread in this sense).
pub(super) fn is_main_os_thread() -> bool {
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
pub(super) fn take_over_after_fork<T>(m: &Mx<T>, fresh: T) -> Option<T> {
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
    crate::threading::deadlock::after_fork_in_child();
}
