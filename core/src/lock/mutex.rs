//! `Mutex<R, T>`: data guarded by a raw lock.
//!
//! # Design
//! The `lock_api` pattern (Amanieu d'Antras' `lock_api::Mutex<R, T>`, the base of
//! `parking_lot` and `spin`): one generic wrapper pairs any raw lock `R` with a value `T`
//! and hands out a guard that dereferences to `T` and releases on drop. The algorithm
//! lives in `R`; the friendly names are type aliases:
//!
//! | alias | raw lock | waiters |
//! |---|---|---|
//! | [`SpinMutex<T>`] | [`SpinLock`] | spin (test-and-test-and-set) |
//! | [`TicketMutex<T>`] | [`TicketLock`] | spin, served in FIFO order |
//! | [`BlockingMutex<T, W>`] | [`Lock<W>`] | sleep per the strategy `W` |
//!
//! Each alias has a `const fn new(value)`, so a `Mutex` can be a `static`. A generic
//! `new` would need a trait constant for `R`'s initial value, which cannot exist under
//! loom (its atomics have no `const fn new`); [`Mutex::from_raw`] builds any other
//! combination.
//!
//! `R` must be an [`ExclusiveLock`]: a lock that no caller can take twice. A reentrant
//! lock would let one owner hold two guards, that is two `&mut T` to the same value.
//!
//! It does not compile with a reentrant lock:
//!
//! ```compile_fail,E0599
//! use core::num::NonZeroU32;
//! use conkit_core::lock::{Mutex, OwnerId, ReentrantLock};
//!
//! struct Me;
//! impl OwnerId for Me {
//!     fn current() -> NonZeroU32 {
//!         NonZeroU32::MIN
//!     }
//! }
//! let m = Mutex::from_raw(ReentrantLock::<Me>::new(), 0);
//! let _a = m.lock(); // `ReentrantLock` is not an `ExclusiveLock`
//! ```
//!
//! The raw lock is reachable only through `unsafe` ([`Mutex::raw`]): releasing it while
//! a guard exists would let a second guard in, that is a second `&mut T`:
//!
//! ```compile_fail,E0133
//! use conkit_core::lock::{RawLock, SpinMutex};
//!
//! let m = SpinMutex::new(0);
//! let mut a = m.lock();
//! m.raw().release().unwrap(); // error: `raw` is an unsafe fn
//! let mut b = m.lock(); // (would be a second `&mut` to the value)
//! *a += 1;
//! *b += 1;
//! ```
//!
//! and a guard is `Sync` only if the value is (a `Cell` is `Send` but not `Sync`):
//!
//! ```compile_fail,E0277
//! use core::cell::Cell;
//! use conkit_core::lock::SpinMutex;
//!
//! fn share<T: Sync>(_: &T) {}
//! let m = SpinMutex::new(Cell::new(0));
//! share(&m); // fine: the mutex is `Sync`
//! let g = m.lock();
//! share(&g); // error: `Cell` is not `Sync`
//! ```
//!
//! # Progress
//! That of `R` (all locks here are blocking). The guard releases the lock even when the
//! critical section panics (there is no poisoning).
//!
//! # Example
//! ```
//! use conkit_core::lock::SpinMutex;
//!
//! static READINGS: SpinMutex<[u16; 4]> = SpinMutex::new([0; 4]);
//!
//! READINGS.lock()[2] = 512;
//! if let Some(mut r) = READINGS.try_lock() {
//!     r[0] = 1;
//! }
//! assert_eq!(*READINGS.lock(), [1, 0, 512, 0]);
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::RawLock;
use crate::atomic::{maybe_const_fn, UnsafeCell};

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
use super::{Lock, SpinLock, TicketLock};
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
use crate::wait::{DefaultWait, WaitStrategy};

/// A [`RawLock`] that guarantees exclusion: while it is held, no acquisition succeeds,
/// not even by the holder; and it may be released from any thread.
///
/// # Safety
/// [`Mutex`] hands out `&mut T` on the strength of a successful acquisition and lets its
/// guard be sent to another thread to be dropped there. An implementation must make
/// `try_acquire`/`acquire` succeed only when no other acquisition is outstanding, make
/// `release` by any thread after a successful acquisition succeed and end it, and order
/// memory as a lock does (acquisitions `Acquire`, releases `Release`).
pub unsafe trait ExclusiveLock: RawLock {}

/// A value of type `T` guarded by the raw lock `R` (see the [module docs](self)).
#[repr(C)]
pub struct Mutex<R, T> {
    raw: R,
    data: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, which exists only while `raw` is
// held; `ExclusiveLock` makes that at most one guard at a time, so sharing the `Mutex`
// gives one thread at a time `&mut T`: that is sending `T`, hence `T: Send`. The raw lock
// itself is shared, hence `R: Sync`. (Without `R: ExclusiveLock` no guard can be made
// and the value is reachable only through `&mut Mutex`.)
unsafe impl<R: Sync, T: Send> Sync for Mutex<R, T> {}

impl<R: fmt::Debug, T> fmt::Debug for Mutex<R, T> {
    /// Shows the raw lock's state only: printing never takes the lock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl<R: Default, T: Default> Default for Mutex<R, T> {
    fn default() -> Self {
        Self::from_raw(R::default(), T::default())
    }
}

impl<R, T> Mutex<R, T> {
    maybe_const_fn! {
        /// Pairs `value` with the raw lock `raw` (which should be free).
        pub fn from_raw(raw: R, value: T) -> Self {
            Self {
                raw,
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the mutex and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The value, through an exclusive borrow (no locking needed).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists and nobody else can reach the cell.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// The raw lock (lock_api's `Mutex::raw`), e.g. to release it for a holder that can
    /// no longer do so (a thread that does not exist in a forked child). To know whether
    /// it is held, [`is_locked`](Self::is_locked) needs no `unsafe`.
    ///
    /// # Safety
    /// The raw lock must not be released while a [`MutexGuard`] of this mutex exists
    /// and may still be used (and must not be acquired without making a guard that
    /// releases it, except to keep it held for good): otherwise a second guard, hence a
    /// second `&mut T`, could be made while the first one lives.
    #[inline]
    pub unsafe fn raw(&self) -> &R {
        &self.raw
    }
}

impl<R: ExclusiveLock, T> Mutex<R, T> {
    /// Takes the lock, waiting as `R` does, and returns a guard to the value.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, R, T> {
        self.raw.acquire();
        MutexGuard::new(self)
    }

    /// Takes the lock if it is free (never waits) and returns a guard to the value.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, R, T>> {
        if self.raw.try_acquire() {
            Some(MutexGuard::new(self))
        } else {
            None
        }
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.locked()
    }

    /// A guard for an acquisition of the raw lock that the caller has made itself
    /// (lock_api's `make_guard_unchecked`): for wrappers that take the lock in ways this
    /// type does not know, e.g. with a deadline of their own clock.
    ///
    /// # Safety
    /// The caller must hold the raw lock through an acquisition that no other guard
    /// stands for (typically: it has just acquired it through [`Mutex::raw`]); the
    /// guard releases it when dropped.
    #[inline]
    pub unsafe fn make_guard_unchecked(&self) -> MutexGuard<'_, R, T> {
        MutexGuard::new(self)
    }
}

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
impl<W: WaitStrategy, T> Mutex<Lock<W>, T> {
    /// Takes the lock, waiting at most until `deadline`; `None` if it timed out.
    #[inline]
    pub fn lock_until(&self, deadline: W::Deadline) -> Option<MutexGuard<'_, Lock<W>, T>> {
        if self.raw.acquire_until(deadline) {
            Some(MutexGuard::new(self))
        } else {
            None
        }
    }

    /// Takes the lock, awaiting it (feature `async`; see
    /// [`Lock::acquire_async`]), and returns the guard. The guard is `Send` if `T` is,
    /// so it may be held across an `.await` on a multi-threaded executor; dropping it
    /// wakes the next task or thread. Cancellation-safe.
    ///
    /// ```
    /// use conkit_core::lock::BlockingMutex;
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
    /// # }
    ///
    /// static COUNT: BlockingMutex<u32> = BlockingMutex::new(0);
    /// block_on(async { *COUNT.lock_async().await += 1 });
    /// assert_eq!(*COUNT.lock(), 1);
    /// ```
    #[cfg(feature = "async")]
    pub async fn lock_async(&self) -> MutexGuard<'_, Lock<W>, T> {
        self.raw.acquire_async().await;
        MutexGuard::new(self)
    }
}

/// A value guarded by a [`SpinLock`].
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub type SpinMutex<T> = Mutex<SpinLock, T>;

/// A value guarded by a fair [`TicketLock`].
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub type TicketMutex<T> = Mutex<TicketLock, T>;

/// A value guarded by a [`Lock<W>`], whose waiters sleep per `W`.
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub type BlockingMutex<T, W = DefaultWait> = Mutex<Lock<W>, T>;

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
impl<T> Mutex<SpinLock, T> {
    maybe_const_fn! {
        /// `value` guarded by a free [`SpinLock`].
        pub fn new(value: T) -> Self {
            Self::from_raw(SpinLock::new(), value)
        }
    }
}

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
impl<T> Mutex<TicketLock, T> {
    maybe_const_fn! {
        /// `value` guarded by a free [`TicketLock`].
        pub fn new(value: T) -> Self {
            Self::from_raw(TicketLock::new(), value)
        }
    }
}

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
impl<W: WaitStrategy, T> Mutex<Lock<W>, T> {
    maybe_const_fn! {
        /// `value` guarded by a free [`Lock<W>`].
        pub fn new(value: T) -> Self {
            Self::from_raw(Lock::new(), value)
        }
    }
}

/// Access to the value of a locked [`Mutex`]; releases the lock when dropped.
///
/// `Send` if `T: Send` (the raw locks allow release from any thread), `Sync` if
/// `T: Sync`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, R: ExclusiveLock, T> {
    mutex: &'a Mutex<R, T>,
    /// Makes the guard `Send`/`Sync` exactly as `&mut T` is.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, R: ExclusiveLock, T> MutexGuard<'a, R, T> {
    /// The caller has just acquired `mutex.raw`.
    #[inline]
    fn new(mutex: &'a Mutex<R, T>) -> Self {
        Self {
            mutex,
            _marker: PhantomData,
        }
    }

    /// The mutex this guard locks.
    #[inline]
    pub fn mutex(guard: &Self) -> &'a Mutex<R, T> {
        guard.mutex
    }
}

impl<R: ExclusiveLock, T> Deref for MutexGuard<'_, R, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the exclusive lock, so no `&mut T` exists elsewhere;
        // the borrow lives no longer than `&self`, and so no longer than the lock.
        self.mutex.data.with(|p| unsafe { &*p })
    }
}

impl<R: ExclusiveLock, T> DerefMut for MutexGuard<'_, R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the exclusive lock (`ExclusiveLock`: no other
        // acquisition, ours included, succeeds meanwhile) and `&mut self` is unique.
        self.mutex.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<R: ExclusiveLock, T: fmt::Debug> fmt::Debug for MutexGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<R: ExclusiveLock, T> Drop for MutexGuard<'_, R, T> {
    #[inline]
    fn drop(&mut self) {
        // The guard holds the lock.
        self.mutex.raw.release_held();
    }
}
