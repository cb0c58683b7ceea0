//! `SpinLock`: a test-and-test-and-set spin lock with exponential backoff.
//!
//! # Algorithm
//! Test-and-test-and-set (Rudolph & Segall, "Dynamic decentralized cache schemes for
//! MIMD parallel processors", ISCA 1984) with the bounded exponential backoff measured in
//! T. E. Anderson, "The performance of spin lock alternatives for shared-memory
//! multiprocessors" (IEEE TPDS, 1990); the same shape as `spin::mutex::SpinMutex`.
//! One `u32` word: `0` free, `1` held. Taking it is one compare-and-swap; a waiter that
//! loses spins on plain loads (which keep the cache line shared) with a growing number of
//! `spin_loop` hints (1, 2, 4 … 64) and only retries the compare-and-swap once the word
//! reads `0`. Releasing is a check and a `Release` store. The word is a `u32` rather than a
//! `bool` because RISC-V has word-sized atomics only (byte atomics are emulated there).
//!
//! # Progress
//! **Blocking, not lock-free**: a holder that is preempted or interrupted stops every
//! waiter. Not fair: a releasing thread can take the lock again before a waiter notices,
//! so a waiter may starve under constant contention (use [`TicketLock`](super::TicketLock) for FIFO order).
//! [`SpinLock::try_acquire`] never waits, so it is safe in an interrupt handler.
//!
//! # When to use
//! Very short critical sections (a few loads and stores) on firmware or between cores
//! that are never descheduled. Not for long sections or oversubscribed OS threads: there
//! use [`Lock`](super::Lock) with a sleeping strategy.
//!
//! **Interrupts.** A spin lock must never be taken (with `acquire`/`lock`) both in an
//! interrupt handler and in the main loop of the same core without masking interrupts:
//! if the interrupt arrives while the main loop holds the lock, the handler spins forever
//! on a lock whose holder cannot run. Use [`CriticalSectionMutex`](super::CriticalSectionMutex)
//! for data shared with an interrupt handler, or only `try_acquire` in the handler.
//!
//! # Release errors
//! `release` checks the word with a load and then stores `0` (rather than one `swap`,
//! which would make the uncontended lock + unlock pair slower than `spin::Mutex`). So
//! releasing a free lock reports [`ReleaseError::NotLocked`], but two releases racing
//! each other on a held lock may both succeed: a lock is released by the one party that
//! holds it (any thread may be that party, as with Python's `threading.Lock`).
//!
//! # Example
//! ```
//! use conkit_core::lock::SpinLock;
//!
//! static LOCK: SpinLock = SpinLock::new();
//!
//! {
//!     let _guard = LOCK.lock();
//!     assert!(LOCK.locked());
//!     assert!(!LOCK.try_acquire());
//! } // released here
//! assert!(LOCK.try_acquire());
//! assert_eq!(LOCK.release(), Ok(()));
//! assert!(LOCK.release().is_err()); // NotLocked
//! ```

use core::fmt;

use super::{ExclusiveLock, RawLock, ReleaseError};
use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::Backoff;

const FREE: u32 = 0;
const HELD: u32 = 1;

/// A raw test-and-test-and-set spin lock (see the [module docs](self)).
///
/// Has no data; wrap data in a [`SpinMutex`](super::SpinMutex), or take the lock with
/// [`lock`](Self::lock) for an RAII guard.
#[repr(C)]
pub struct SpinLock {
    state: AtomicU32,
}

// `SpinLock` is `Send + Sync` automatically (it is one atomic word); nothing to assert.

impl fmt::Debug for SpinLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.locked())
            .finish()
    }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

impl SpinLock {
    maybe_const_fn! {
        /// A free lock.
        #[must_use]
        pub fn new() -> Self {
            Self { state: AtomicU32::new(FREE) }
        }
    }

    /// Takes the lock if it is free; never waits (legal in an interrupt handler).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, spinning (with exponential backoff) as long as needed.
    #[inline]
    pub fn acquire(&self) {
        if self
            .state
            .compare_exchange_weak(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.acquire_contended();
        }
    }

    #[cold]
    fn acquire_contended(&self) {
        let mut backoff = Backoff::new();
        loop {
            // Test: spin on loads, which keep the line shared among the waiters.
            while self.state.load(Ordering::Relaxed) != FREE {
                backoff.spin();
            }
            // Test-and-set: only once it looks free.
            if self
                .state
                .compare_exchange_weak(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Gives the lock back (any thread may release a held lock).
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if the lock was free. A release racing another
    /// release of the same held lock is not detected (see the [module docs](self)).
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.state.load(Ordering::Relaxed) == FREE {
            return Err(ReleaseError::NotLocked);
        }
        self.state.store(FREE, Ordering::Release);
        Ok(())
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != FREE
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_> {
        self.acquire();
        SpinLockGuard { lock: self }
    }

    /// Takes the lock if it is free (never waits) and returns its guard.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_>> {
        if self.try_acquire() {
            Some(SpinLockGuard { lock: self })
        } else {
            None
        }
    }
}

impl RawLock for SpinLock {
    #[inline]
    fn try_acquire(&self) -> bool {
        SpinLock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        SpinLock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        SpinLock::release(self)
    }
    #[inline]
    fn release_held(&self) {
        self.state.store(FREE, Ordering::Release);
    }
    #[inline]
    fn locked(&self) -> bool {
        SpinLock::locked(self)
    }
}

// SAFETY: `try_acquire`/`acquire` succeed only by moving the word from FREE to HELD, so
// while it is HELD (by anyone, the caller included) no second acquisition succeeds; and
// `release` may be called from any thread.
unsafe impl ExclusiveLock for SpinLock {}

/// Holds a [`SpinLock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a> {
    lock: &'a SpinLock,
}

impl fmt::Debug for SpinLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLockGuard").finish_non_exhaustive()
    }
}

impl Drop for SpinLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // The guard proves the lock is held: no need to check before storing.
        self.lock.state.store(FREE, Ordering::Release);
    }
}
