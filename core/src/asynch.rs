//! Async front ends (feature `async`): waker registration under `critical-section`.
//!
//! Wakers are process-local pointers, so they never live inside the primitives
//! themselves (which must stay valid in memory shared between processes or wasm
//! workers). Instead [`Async<P, K>`] wraps a primitive `P` together with a
//! [`WakerSet<K>`]: the primitive's modules add `async fn`s on `Async<TheirType, K>`
//! that poll the primitive's `try_*` operation and park the task's waker, and the
//! state-changing operations of the wrapper wake the parked tasks.
//!
//! Works with any executor (embassy, tokio, wasm-bindgen-futures): it only uses
//! `core::task`. The application provides the `critical-section` implementation.
//!
//! # Cancellation safety
//! Notifications wake *every* parked waker (and drop them from the set). A future that
//! is dropped after being woken therefore cannot swallow a wake-up meant for another
//! task: every other waiting task was woken too and re-checks. A dropped future that was
//! never woken leaves its (stale) waker in its slot until the next notification.
//!
//! # When the set is full
//! `register` reports it, and the poller wakes its own task at once: the task is polled
//! again (busy-polling) instead of sleeping. Nothing is lost; size `K` for the number of
//! tasks that wait at the same time.

use core::cell::RefCell;
use core::fmt;
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;

/// Up to `K` parked wakers, guarded by a critical section.
pub struct WakerSet<const K: usize> {
    slots: Mutex<RefCell<[Option<Waker>; K]>>,
}

impl<const K: usize> fmt::Debug for WakerSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parked = critical_section::with(|cs| {
            self.slots
                .borrow_ref(cs)
                .iter()
                .filter(|s| s.is_some())
                .count()
        });
        f.debug_struct("WakerSet")
            .field("capacity", &K)
            .field("parked", &parked)
            .finish()
    }
}

impl<const K: usize> Default for WakerSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> WakerSet<K> {
    /// An empty set.
    pub const fn new() -> Self {
        Self {
            slots: Mutex::new(RefCell::new([const { None }; K])),
        }
    }

    /// Parks `waker` (once: a waker that `will_wake` the same task replaces the old one).
    /// Returns `false` when all `K` slots hold other tasks' wakers.
    pub fn register(&self, waker: &Waker) -> bool {
        critical_section::with(|cs| {
            let mut slots = self.slots.borrow_ref_mut(cs);
            if let Some(slot) = slots
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|w| w.will_wake(waker)))
            {
                slot.clone_from(&Some(waker.clone()));
                return true;
            }
            match slots.iter_mut().find(|s| s.is_none()) {
                Some(slot) => {
                    *slot = Some(waker.clone());
                    true
                }
                None => false,
            }
        })
    }

    /// Wakes and removes every parked waker. Wakers run outside the critical section.
    ///
    /// # Panics
    /// If a waker's `wake` (executor code) panics, the other wakers are still woken,
    /// then the panic propagates: with the `std` feature each `wake` is caught and the
    /// first panic re-raised after the last one; without it the remaining wakers are
    /// woken while the panic unwinds (a second panicking `wake` then aborts).
    pub fn wake_all(&self) {
        let taken: [Option<Waker>; K] = critical_section::with(|cs| {
            let mut slots = self.slots.borrow_ref_mut(cs);
            core::mem::replace(&mut *slots, [const { None }; K])
        });
        let mut wakers = taken.into_iter().flatten();
        crate::unwind::each_to_end(|| wakers.next(), Waker::wake);
    }

    /// The poll loop of every async operation: `Ready` when `condition` holds, otherwise
    /// parks the task and checks once more (so a notification racing with the park is
    /// never lost).
    pub fn poll_until<R>(
        &self,
        cx: &mut Context<'_>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> Poll<R> {
        if let Some(r) = condition() {
            return Poll::Ready(r);
        }
        if !self.register(cx.waker()) {
            // No slot: ask to be polled again rather than risk sleeping forever.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match condition() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// A primitive `P` plus the [`WakerSet`] of the tasks awaiting it (see the module docs).
///
/// The async operations are defined by each primitive's module on `Async<ThatType, K>`.
/// Operations that only read (`len`, `value`, …) are reached through
/// [`inner`](Self::inner); state changes must go through the wrapper's own methods so
/// that parked tasks are woken.
pub struct Async<P, const K: usize = 4> {
    inner: P,
    wakers: WakerSet<K>,
}

impl<P: fmt::Debug, const K: usize> fmt::Debug for Async<P, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("inner", &self.inner)
            .field("wakers", &self.wakers)
            .finish()
    }
}

impl<P, const K: usize> Async<P, K> {
    /// Wraps `inner` (usable in a `static`: `Async::new(Semaphore::new(0))`).
    pub const fn new(inner: P) -> Self {
        Self {
            inner,
            wakers: WakerSet::new(),
        }
    }

    /// The wrapped primitive, for read-only queries. Operations that change its state
    /// must go through the wrapper, or parked tasks are not woken.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The set of parked tasks (for primitives' modules building their async API).
    pub fn wakers(&self) -> &WakerSet<K> {
        &self.wakers
    }
}
