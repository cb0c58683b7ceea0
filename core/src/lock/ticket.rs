//! `TicketLock`: a fair (FIFO) ticket spin lock.
//!
//! # Algorithm
//! The ticket lock of J. M. Mellor-Crummey & M. L. Scott, "Algorithms for scalable
//! synchronization on shared-memory multiprocessors" (ACM TOCS 9(1), 1991), with their
//! proportional backoff; the scheme of Linux's x86 ticket spinlocks (2008) and of
//! `spin::mutex::TicketMutex`. Two `u32` counters: `next_ticket` and `now_serving`. To
//! acquire, take a ticket with `fetch_add` on `next_ticket` and spin until `now_serving`
//! equals it, pausing in proportion to how many tickets are ahead. To release, advance
//! `now_serving`. `try_acquire` takes a ticket only if it would be served at once:
//! `compare_exchange(now_serving, now_serving + 1)` on `next_ticket`. Both counters wrap;
//! up to `u32::MAX` callers can queue at once.
//!
//! # Progress
//! **Blocking, not lock-free**, but **starvation-free**: callers are served in the order
//! they took their tickets, so each waiter gets the lock after at most the number of
//! callers ahead of it (as long as every holder releases). The price: a waiter that is
//! preempted while its turn comes holds up everybody behind it until the scheduler runs
//! it again, so with more spinning threads than cores every hand-off can cost a time
//! slice (measured: 4 threads sharing 2 busy cores did not finish 100 000 hand-offs in
//! 10 minutes; 2 threads finish 1 000 000 in seconds). [`TicketLock::try_acquire`] never
//! waits (interrupt-safe).
//!
//! # When to use
//! Short critical sections between a few cores where fairness matters (no waiter may
//! starve). Not with oversubscribed OS threads (use [`Lock`](super::Lock)), and, like
//! every spin lock, never taken with `acquire` both in an interrupt handler and the main
//! loop of the same core without masking interrupts (the handler would spin forever on a
//! lock held by the code it interrupted): use
//! [`CriticalSectionMutex`](super::CriticalSectionMutex) there.
//!
//! # Release errors
//! Releasing a free lock reports [`ReleaseError::NotLocked`]; a release racing another
//! release, or an acquisition, of the same lock is not detected (the check is a load).
//!
//! # Example
//! ```
//! use conkit_core::lock::{TicketLock, TicketMutex};
//!
//! static TOTAL: TicketMutex<u64> = TicketMutex::new(0);
//!
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             for _ in 0..1000 {
//!                 *TOTAL.lock() += 1;
//!             }
//!         });
//!     }
//! });
//! assert_eq!(*TOTAL.lock(), 2000);
//!
//! let raw = TicketLock::new();
//! let guard = raw.lock();
//! assert_eq!(raw.queued(), 1);
//! drop(guard);
//! assert!(!raw.locked());
//! ```

use core::fmt;

use super::{ExclusiveLock, RawLock, ReleaseError};
use crate::atomic::{maybe_const_fn, spin_hint, AtomicU32, Ordering};

/// A fair FIFO ticket spin lock (see the [module docs](self)).
#[repr(C)]
pub struct TicketLock {
    /// The ticket the next caller of `acquire` gets.
    next_ticket: AtomicU32,
    /// The ticket that holds the lock; equal to `next_ticket` when free.
    now_serving: AtomicU32,
}

// `TicketLock` is `Send + Sync` automatically (two atomic words); nothing to assert.

impl fmt::Debug for TicketLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketLock")
            .field("next_ticket", &self.next_ticket.load(Ordering::Relaxed))
            .field("now_serving", &self.now_serving.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for TicketLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Spin hints per ticket ahead of ours between two looks at `now_serving`.
const BACKOFF_PER_TICKET: u32 = if cfg!(loom) { 1 } else { 16 };
/// Cap of the proportional backoff (in spin hints).
const MAX_BACKOFF: u32 = if cfg!(loom) { 1 } else { 1024 };

impl TicketLock {
    maybe_const_fn! {
        /// A free lock.
        #[must_use]
        pub fn new() -> Self {
            Self {
                next_ticket: AtomicU32::new(0),
                now_serving: AtomicU32::new(0),
            }
        }
    }

    /// Takes the lock if it is free and nobody is queued; never waits (interrupt-safe).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        // `Acquire` pairs with the `Release` store of the last `release`: if the lock
        // is free, `serving` was written by that release.
        let serving = self.now_serving.load(Ordering::Acquire);
        self.next_ticket
            .compare_exchange(
                serving,
                serving.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Takes a ticket and waits (spinning) until it is served.
    #[inline]
    pub fn acquire(&self) {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        if self.now_serving.load(Ordering::Acquire) != ticket {
            self.wait_for_turn(ticket);
        }
    }

    #[cold]
    fn wait_for_turn(&self, ticket: u32) {
        loop {
            let serving = self.now_serving.load(Ordering::Acquire);
            if serving == ticket {
                return;
            }
            // Proportional backoff: the further back in the queue, the longer the pause.
            let ahead = ticket.wrapping_sub(serving);
            let pause = ahead.saturating_mul(BACKOFF_PER_TICKET).min(MAX_BACKOFF);
            for _ in 0..pause {
                spin_hint();
            }
        }
    }

    /// Serves the next ticket (any thread may release a held lock).
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if the lock was free. A release racing another
    /// release or an acquisition of the same lock is not detected.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        // Only the holder writes `now_serving`, so this load sees the current value.
        let serving = self.now_serving.load(Ordering::Relaxed);
        if self.next_ticket.load(Ordering::Relaxed) == serving {
            return Err(ReleaseError::NotLocked);
        }
        self.now_serving
            .store(serving.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.queued() != 0
    }

    /// How many callers hold or wait for the lock: 0 when free, 1 when held with nobody
    /// waiting, `1 + n` with `n` waiters (a snapshot).
    #[inline]
    #[must_use]
    pub fn queued(&self) -> u32 {
        let serving = self.now_serving.load(Ordering::Relaxed);
        self.next_ticket
            .load(Ordering::Relaxed)
            .wrapping_sub(serving)
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    #[inline]
    pub fn lock(&self) -> TicketLockGuard<'_> {
        self.acquire();
        TicketLockGuard { lock: self }
    }

    /// Takes the lock if it is free (never waits) and returns its guard.
    #[inline]
    pub fn try_lock(&self) -> Option<TicketLockGuard<'_>> {
        if self.try_acquire() {
            Some(TicketLockGuard { lock: self })
        } else {
            None
        }
    }

    /// Serves the next ticket without checking (the caller holds the lock).
    #[inline]
    fn release_held(&self) {
        let serving = self.now_serving.load(Ordering::Relaxed);
        self.now_serving
            .store(serving.wrapping_add(1), Ordering::Release);
    }
}

impl RawLock for TicketLock {
    #[inline]
    fn try_acquire(&self) -> bool {
        TicketLock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        TicketLock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        TicketLock::release(self)
    }
    #[inline]
    fn release_held(&self) {
        // Only the holder writes `now_serving`.
        let serving = self.now_serving.load(Ordering::Relaxed);
        self.now_serving
            .store(serving.wrapping_add(1), Ordering::Release);
    }
    #[inline]
    fn locked(&self) -> bool {
        TicketLock::locked(self)
    }
}

// SAFETY: a caller holds the lock only while `now_serving` equals its ticket, and each
// ticket is handed out once (fetch_add / compare_exchange on `next_ticket`), so no second
// acquisition succeeds while the lock is held, whoever asks; `release` may be called from
// any thread.
unsafe impl ExclusiveLock for TicketLock {}

/// Holds a [`TicketLock`]; releases it (serves the next ticket) when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct TicketLockGuard<'a> {
    lock: &'a TicketLock,
}

impl fmt::Debug for TicketLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketLockGuard").finish_non_exhaustive()
    }
}

impl Drop for TicketLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release_held();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Both counters wrap around `u32::MAX` without losing the lock or the queue length.
    #[test]
    fn counters_wrap() {
        let l = TicketLock {
            next_ticket: AtomicU32::new(u32::MAX - 1),
            now_serving: AtomicU32::new(u32::MAX - 1),
        };
        assert!(!l.locked());
        for _ in 0..4 {
            assert!(l.try_acquire());
            assert_eq!(l.queued(), 1);
            assert!(!l.try_acquire());
            assert_eq!(l.release(), Ok(()));
            assert_eq!(l.release(), Err(ReleaseError::NotLocked));
            l.acquire();
            drop(TicketLockGuard { lock: &l });
            assert_eq!(l.queued(), 0);
        }
        assert_eq!(l.now_serving.load(Ordering::Relaxed), 6);
    }
}
