//! [`scope`]: conkit threads that borrow (the conkit form of `std::thread::scope`).
//! The docs are on [`scope`].

use std::fmt;

use super::{JoinHandle, ThreadBuilder};

/// A scope in which threads that borrow can be started (see [`scope`]).
///
/// The same type as `std::thread::Scope` (`#[repr(transparent)]` over it), with
/// [`spawn`](Self::spawn) starting conkit threads.
#[repr(transparent)]
pub struct Scope<'scope, 'env: 'scope> {
    inner: std::thread::Scope<'scope, 'env>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// The std scope, for [`ThreadBuilder::spawn_scoped`].
    pub(super) fn std(&'scope self) -> &'scope std::thread::Scope<'scope, 'env> {
        &self.inner
    }

    /// Starts a conkit thread (`Thread-N`, daemon as the calling thread) that runs `f`,
    /// which may borrow anything that outlives the scope; returns its handle, whose
    /// [`join`](JoinHandle::join) gives back `f`'s value. Threads not joined are joined
    /// when the scope ends. To name the thread or set its daemon flag, use
    /// [`ThreadBuilder::spawn_scoped`].
    ///
    /// # Panics
    /// If the operating system cannot create a thread (as `std::thread::Scope::spawn`);
    /// [`ThreadBuilder::spawn_scoped`] returns that as
    /// [`ThreadError::Spawn`](super::ThreadError::Spawn) instead.
    pub fn spawn<F, T>(&'scope self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        ThreadBuilder::new()
            .spawn_scoped(self, f)
            .unwrap_or_else(|e| panic!("failed to spawn thread: {e}"))
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// Runs `f` with a [`Scope`] in which it can start conkit threads that borrow local
/// data, waits for every thread started in it, and returns `f`'s value.
///
/// Python threads share whatever they can name. A Rust thread started with
/// [`Thread::new`](super::Thread::new) or [`spawn`](super::spawn) must own what it uses
/// (`'static`), hence `Arc::new(x)` and a `let x = x.clone();` for each closure. Threads
/// started in a scope may borrow anything that outlives the scope, and the scope waits
/// for all of them before it returns:
///
/// ```
/// use conkit::threading::{self, Mutex};
///
/// let balance = Mutex::new(0); // a local: no Arc, no clones
/// threading::scope(|s| {
///     for _ in 0..100 {
///         s.spawn(|| *balance.lock() += 1);
///     }
/// });
/// assert_eq!(balance.into_inner(), 100);
/// ```
///
/// # Rust and Python
/// The threads are conkit threads, not bare `std::thread::scope` threads: named
/// `Thread-N` (or as [`ThreadBuilder::spawn_scoped`] names them),
/// [`current_thread`](super::current_thread) and [`enumerate`](super::enumerate) see
/// them, their [`Local`](super::Local) values are dropped when they end, and a panic goes
/// to [`excepthook`](super::excepthook) (Python's "Exception in thread …") and to
/// [`JoinHandle::join`] as [`ThreadError::Panicked`](super::ThreadError::Panicked): it
/// does not reach the scope, which returns normally (as Python's main thread carries on
/// after a thread's exception).
///
/// A closure that uses a per-iteration variable needs `move` (it then moves in the
/// references it uses, so it still borrows the data):
///
/// ```
/// use conkit::threading::{self, current_thread, Event};
///
/// let pot_boiling = Event::new();
/// let guests = vec![String::from("xiaoming"), String::from("xiaobai")];
/// let served = threading::scope(|s| {
///     let handles: Vec<_> = guests
///         .iter()
///         .map(|guest| {
///             let pot_boiling = &pot_boiling;
///             // `move` moves the references in: the guest and the event stay borrowed.
///             s.spawn(move || {
///                 pot_boiling.wait();
///                 format!("{guest} on {}", current_thread().name())
///             })
///         })
///         .collect();
///     pot_boiling.set();
///     handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
/// });
/// assert!(served[0].starts_with("xiaoming on Thread-"));
/// ```
///
/// # Algorithm and provenance
/// `std::thread::scope` (the scoped-threads design of crossbeam's `scope`, in std since
/// Rust 1.63) does the borrowing and the joining; each OS thread runs the same bootstrap
/// as [`Thread::start`](super::Thread::start) (registry, name, start hooks, panic capture,
/// `Local` clean-up), so there is one thread life cycle for both kinds.
///
/// # Panics
/// If `f` itself panics, after every thread of the scope has ended (the panic then
/// continues). A panic in a thread of the scope does not make `scope` panic: it goes to
/// [`excepthook`](super::excepthook) and to that thread's
/// [`JoinHandle::join`].
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    std::thread::scope(|s| {
        let s: *const std::thread::Scope<'_, 'env> = s;
        // SAFETY: `Scope` is `#[repr(transparent)]` over `std::thread::Scope`, so the
        // pointer cast keeps the layout and alignment, and the reference keeps the
        // lifetime `std::thread::scope` gave it.
        let s: &Scope<'_, 'env> = unsafe { &*s.cast::<Scope<'_, 'env>>() };
        f(s)
    })
}
