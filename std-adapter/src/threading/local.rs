//! Python's `threading.local`: one value per thread, invisible to the other threads.
//!
//! ```
//! use conkit::threading::{self, Local};
//!
//! static DATA: Local<Vec<u32>> = Local::new(Vec::new); // Python: mydata = local()
//!
//! DATA.with_mut(|v| v.push(1)); // the main thread's value
//! threading::spawn(|| {
//!     assert!(DATA.with(Vec::is_empty)); // this thread's own, fresh value
//!     DATA.set(vec![7, 7]);
//! })
//! .join()
//! .unwrap(); // its value was dropped when it ended
//! assert_eq!(DATA.get(), [1]);
//! ```
//!
//! # Rust and Python
//! Python's `local` is an object with per-thread attributes (`mydata.x = 1`); here a
//! `Local<T>` holds one per-thread `T` (use a struct for several attributes), created
//! on a thread's first access by the initialiser given to [`Local::new`] (Python's
//! subclass `__init__`, which also runs once per thread). Rust's `thread_local!` is the
//! compile-time form; `Local` is a value: a `static` (`Local::new` is `const`), or made
//! at run time as many times as you like, shared in an `Arc` or borrowed, dropped.
//!
//! # Algorithm and provenance
//! The layout of CPython's `_threading_local` and of the `thread_local` crate's idea
//! ("a per-object table of per-thread values"), turned around so that no lock is taken
//! on the fast path by any other thread: each thread keeps, in a `thread_local!` map
//! keyed by the `Local`'s unique number, an `Arc` to its slot; the `Local` keeps only
//! `Weak` references to the slots. A thread's values are dropped when it ends (its map
//! goes away: explicitly at the end of a conkit [`Thread`](super::Thread), through the
//! thread-local destructor on any other thread); all remaining values are dropped with
//! the `Local` (it upgrades each `Weak` and takes the value out).

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::RawMutex as Mx;

/// Numbers the `Local`s (at first use); never reused, so a thread's map never confuses a
/// dropped `Local` with a new one.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One thread's value of one `Local`. The owning thread uses it; the `Local`'s drop may
/// take the value out from another thread (the only contention).
struct Slot<T> {
    value: Mx<Option<T>>,
    /// Set when the `Local` was dropped: the owning thread's map may forget the slot.
    dead: AtomicBool,
}

/// A type-erased [`Slot`], as a thread's map holds it.
trait AnySlot: Send + Sync {
    fn is_dead(&self) -> bool;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Send + 'static> AnySlot for Slot<T> {
    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

type SlotMap = BTreeMap<u64, Arc<dyn AnySlot>>;

thread_local! {
    /// This thread's slots, by `Local` id.
    static SLOTS: RefCell<SlotMap> = const { RefCell::new(BTreeMap::new()) };
}

/// Drops the calling thread's values of every [`Local`] (called when a conkit thread's
/// body ends). Every value is dropped even if some drops panic; the first panic's
/// payload is returned (the others are discarded after the panic hook reported them).
pub(crate) fn clear_current_thread() -> Option<Box<dyn Any + Send>> {
    // Take the map out first: a value's `Drop` may itself use a `Local`.
    let map = SLOTS
        .try_with(|m| std::mem::take(&mut *m.borrow_mut()))
        .unwrap_or_default();
    let mut first = None;
    for (_, slot) in map {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(slot))) {
            match first {
                None => first = Some(payload),
                Some(_) => drop(panic::catch_unwind(AssertUnwindSafe(move || drop(payload)))),
            }
        }
    }
    first
}

/// Per-thread values (Python's `threading.local`): each thread that touches a
/// `Local<T>` sees its own `T`, created by the initialiser on first use and dropped
/// when the thread ends (or when the `Local` is dropped, whichever comes first).
///
/// `Send + Sync` when `T: Send`, so it can be a `static` ([`new`](Self::new) is
/// `const`), shared in an `Arc`, or borrowed by [`scope`](super::scope)d threads.
///
/// Python's `local` is an object with per-thread attributes (`mydata.x = 1`); a
/// `Local<T>` holds one per-thread `T` (use a struct for several attributes), made on
/// a thread's first access by the initialiser (Python's subclass `__init__`, which also
/// runs once per thread). Rust's `thread_local!` is the static, compile-time form;
/// `Local` is a value: make as many as you like at run time, share them, drop them.
///
/// # Panics
/// * If the initialiser panics, no value is stored and the panic propagates; the next
///   access on that thread runs the initialiser again.
/// * If the closure given to [`with`](Self::with) / [`with_mut`](Self::with_mut)
///   panics, the value keeps what the closure did to it (no poisoning) and stays
///   usable.
/// * If a value's `Drop` panics when its thread ends, every other value of that thread
///   is still dropped; on a conkit [`Thread`](super::Thread) the panic is reported to
///   [`excepthook`](super::excepthook) and by [`Thread::join`](super::Thread::join), and
///   the thread still ends. When the `Local` itself is dropped, all its values are
///   dropped and the first such panic propagates afterwards.
///
/// ```
/// use conkit::threading::{self, Local};
///
/// static COUNTER: Local<u32> = Local::new(|| 0);
///
/// threading::scope(|s| {
///     for i in 0..4 {
///         s.spawn(move || {
///             for _ in 0..=i {
///                 COUNTER.with_mut(|n| *n += 1);
///             }
///             assert_eq!(COUNTER.get(), i + 1); // nobody else touched this thread's value
///         });
///     }
/// });
/// assert_eq!(COUNTER.get(), 0); // the main thread's value is untouched
///
/// // An initialiser that captures state: `with_init` (not `const`).
/// let base = 10;
/// let offset = Local::with_init(move || base + 1);
/// assert_eq!(offset.get(), 11);
/// ```
pub struct Local<T> {
    /// This `Local`'s number, assigned at first use (0: not yet), so that `new` can be
    /// `const`.
    id: AtomicU64,
    init: Init<T>,
    /// The slots of the threads that touched this `Local` (dead ones pruned lazily).
    slots: Mx<Vec<Weak<Slot<T>>>>,
}

/// How a `Local` makes a thread's first value.
enum Init<T> {
    /// A function pointer ([`Local::new`], `const`).
    Fn(fn() -> T),
    /// A closure that may capture ([`Local::with_init`]).
    Boxed(Box<dyn Fn() -> T + Send + Sync>),
}

impl<T> Init<T> {
    fn call(&self) -> T {
        match self {
            Init::Fn(f) => f(),
            Init::Boxed(f) => f(),
        }
    }
}

impl<T> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("id", &self.id.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Default + Send + 'static> Default for Local<T> {
    fn default() -> Self {
        Self::new(T::default)
    }
}

impl<T: Send + 'static> Local<T> {
    /// A `Local` whose value on each thread starts as `init()` (run on that thread, at
    /// its first access; Python: a `local` subclass's `__init__`). `const`, so it can be
    /// a `static`: `init` is a function or a closure that captures nothing
    /// (`Local::new(Vec::new)`, `Local::new(|| 0)`); for one that captures, use
    /// [`with_init`](Self::with_init).
    #[must_use]
    pub const fn new(init: fn() -> T) -> Self {
        Self {
            id: AtomicU64::new(0),
            init: Init::Fn(init),
            slots: Mx::new(Vec::new()),
        }
    }

    /// A `Local` whose value on each thread starts as `init()`, for an initialiser that
    /// captures state (`Local::with_init(move || base + 1)`). Not `const`: the closure
    /// is boxed.
    pub fn with_init<F>(init: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        Self {
            id: AtomicU64::new(0),
            init: Init::Boxed(Box::new(init)),
            slots: Mx::new(Vec::new()),
        }
    }

    /// This `Local`'s number, assigned at the first use by any thread.
    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            // Another thread numbered it first (`fresh` is simply never used).
            Err(theirs) => theirs,
        }
    }

    /// The calling thread's slot, created (and initialised) on first use; `None` while
    /// the thread's thread-locals are being destroyed.
    fn slot(&self) -> Option<Arc<Slot<T>>> {
        let id = self.id();
        let found = SLOTS.try_with(|m| m.borrow().get(&id).cloned()).ok()?;
        if let Some(erased) = found {
            // Only `Slot<T>`s are stored under this `Local`'s id.
            if let Ok(slot) = erased.into_any().downcast::<Slot<T>>() {
                return Some(slot);
            }
        }
        // Not borrowed while user code runs: the initialiser may use other `Local`s.
        let slot = Arc::new(Slot {
            value: Mx::new(Some(self.init.call())),
            dead: AtomicBool::new(false),
        });
        let erased: Arc<dyn AnySlot> = slot.clone();
        let dead = SLOTS
            .try_with(|m| {
                let mut m = m.borrow_mut();
                // Forget the slots of dropped `Local`s (values already taken) ...
                let dead: Vec<_> = m
                    .iter()
                    .filter(|(_, s)| s.is_dead())
                    .map(|(&id, _)| id)
                    .collect();
                let dead: Vec<_> = dead.into_iter().filter_map(|id| m.remove(&id)).collect();
                m.insert(id, erased);
                dead
            })
            .ok()?;
        // ... outside the map's borrow.
        drop(dead);
        let mut slots = self.slots.lock();
        slots.retain(|w| w.strong_count() > 0);
        slots.push(Arc::downgrade(&slot));
        Some(slot)
    }

    /// Runs `f` on the calling thread's value mutably.
    ///
    /// # Panics
    /// If called from inside `with`/`with_mut` of the same `Local` on the same thread
    /// (the value is already borrowed, as with `RefCell`). From a thread-local
    /// destructor that runs after this thread's values were dropped, `f` gets a fresh
    /// value that is dropped right after.
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let Some(slot) = self.slot() else {
            return f(&mut self.init.call());
        };
        let mut guard = slot
            .value
            .try_lock()
            .expect("conkit::threading::Local already borrowed on this thread");
        let value = guard.get_or_insert_with(|| self.init.call());
        f(value)
    }

    /// Runs `f` on the calling thread's value.
    ///
    /// # Panics
    /// As [`with_mut`](Self::with_mut).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.with_mut(|v| f(v))
    }

    /// Replaces the calling thread's value (Python's `mydata.x = v`).
    ///
    /// # Panics
    /// As [`with_mut`](Self::with_mut).
    pub fn set(&self, value: T) {
        drop(self.replace(value));
    }

    /// Replaces the calling thread's value and returns the old one.
    ///
    /// # Panics
    /// As [`with_mut`](Self::with_mut).
    pub fn replace(&self, value: T) -> T {
        self.with_mut(|v| std::mem::replace(v, value))
    }

    /// A copy of the calling thread's value.
    ///
    /// # Panics
    /// As [`with_mut`](Self::with_mut).
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        // Nobody can be inside `with` (that borrows `self`); the owning threads may be
        // ending at this moment, which only drops their `Arc`s.
        let slots = std::mem::take(&mut *self.slots.lock());
        let mut first = None;
        for weak in slots {
            if let Some(slot) = weak.upgrade() {
                slot.dead.store(true, Ordering::Relaxed);
                let value = slot.value.lock().take();
                // Every value is dropped even if one's drop panics; the first panic
                // goes on after the last.
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
                    match first {
                        None => first = Some(payload),
                        Some(_) => {
                            drop(panic::catch_unwind(AssertUnwindSafe(move || drop(payload))));
                        }
                    }
                }
            }
        }
        if let Some(payload) = first {
            panic::resume_unwind(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots_on_this_thread() -> usize {
        SLOTS.with(|m| m.borrow().len())
    }

    #[test]
    fn slots_of_dropped_locals_are_forgotten_by_a_long_lived_thread() {
        std::thread::spawn(|| {
            for i in 0..100u32 {
                let l = Local::with_init(move || i);
                assert_eq!(l.get(), i);
            }
            // At most the last dead slot is left before the next insertion prunes it.
            assert!(slots_on_this_thread() <= 1, "{}", slots_on_this_thread());
            let keep = Local::new(|| 1u8);
            keep.set(2);
            assert_eq!(slots_on_this_thread(), 1);
            assert_eq!(keep.get(), 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nested_access_to_another_local_works() {
        let a = Local::new(|| 1u32);
        let b = Local::new(|| 2u32);
        let sum = a.with(|x| b.with(|y| x + y));
        assert_eq!(sum, 3);
    }

    #[test]
    fn nested_access_to_the_same_local_panics_instead_of_deadlocking() {
        let a = std::sync::Arc::new(Local::new(|| 1u32));
        let a2 = a.clone();
        let r = std::thread::spawn(move || a2.with(|_| a2.with(|v| *v))).join();
        assert!(r.is_err());
    }
}
