//! `Lock<W>`: the lock that sleeps (Python's `threading.Lock`).
//!
//! # Algorithm
//! Ulrich Drepper, "Futexes Are Tricky" (Red Hat, 2004–2011), mutex #3 — the design of
//! glibc's low-level lock and of Rust std's futex mutex. One `u32` state word, which is
//! also the word waiters sleep on:
//!
//! | state | meaning |
//! |---|---|
//! | `0` | free |
//! | `1` | held, nobody sleeps |
//! | `2` | held, maybe somebody sleeps |
//!
//! * acquire: `compare_exchange(0, 1)`; if that fails, spin briefly (up to 100 looks while
//!   the state is `1`: waking a sleeper costs tens of µs, more than most critical
//!   sections), then `swap(2)` until the swap returns `0`, sleeping with
//!   `W::wait(state, 2)` in between. A waiter that has been through this path takes the
//!   lock in state `2`, so the release that ends its critical section wakes the next
//!   sleeper.
//! * release: `swap(0)`; if the old state was `2`, `W::wake_one(state)`. The uncontended
//!   pair is one compare-and-swap plus one swap, and never enters the strategy.
//! * acquire with a deadline: the same loop, where the `swap(2)` comes before each look
//!   at the deadline, so a caller that gives up leaves the state at `2` while the lock is
//!   held: a wake-up it may have consumed is passed on by the holder's release.
//!
//! The state word is the futex word, so this is the one primitive that calls the
//! [`WaitStrategy`] directly instead of going through [`Waiters`](crate::wait::Waiters).
//!
//! # Progress
//! **Blocking.** Not fair: a running thread can take the lock before a woken sleeper
//! ("barging"), which keeps throughput high but lets a waiter starve under constant
//! contention. With [`Spin`](crate::wait::Spin) (the default without the `std`
//! feature) waiters spin; with a futex strategy (the default with `std`, and the std
//! adapter's `threading::Lock`) they sleep in the kernel. `try_acquire` never waits and
//! `release` never waits (it may issue a wake-up), so both may be used in an interrupt
//! handler if the strategy's `wake_one` may (for `Spin` it does nothing).
//!
//! Any thread may release a held lock, as with Python's `threading.Lock` (it has no
//! owner); releasing a free lock is [`ReleaseError::NotLocked`], detected exactly (the
//! release is one `swap`).
//!
//! # When to use
//! Mutual exclusion between OS threads, processes (with a process-shared strategy) or
//! wasm workers, where a waiter should sleep instead of burning a core. On single-core
//! firmware with the [`Spin`](crate::wait::Spin) strategy it behaves like a spin lock: never `acquire` it
//! both in an interrupt handler and in the main loop of the same core (use
//! [`CriticalSectionMutex`](super::CriticalSectionMutex) for that).
//!
//! # Example
//! ```
//! use conkit_core::lock::{BlockingMutex, Lock};
//!
//! static LOCK: Lock = Lock::new();
//! static SHARED: BlockingMutex<Vec<u32>> = BlockingMutex::new(Vec::new());
//!
//! LOCK.acquire();
//! // Released by another thread: allowed, as with Python's `threading.Lock`.
//! std::thread::spawn(|| LOCK.release().unwrap()).join().unwrap();
//! assert!(!LOCK.locked());
//! assert!(LOCK.release().is_err()); // NotLocked
//!
//! SHARED.lock().push(7);
//! assert_eq!(*SHARED.lock(), [7]);
//! ```

use core::fmt;
use core::marker::PhantomData;

use super::{ExclusiveLock, RawLock, ReleaseError};
use crate::atomic::{maybe_const_fn, spin_hint, AtomicU32, Ordering};
use crate::wait::{Deadline, DefaultWait, WaitStrategy};

const FREE: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Looks at the state this many times while it is `LOCKED` before going to sleep, with
/// exponentially growing pauses between looks (1, 2, 4 … 64 spin hints, ~127 in all):
/// fewer looks than one per hint keep the lock's cache line with its holder, who can
/// then release and re-take it without a transfer (parking_lot's `SpinWait` shape).
/// None under loom, whose spin hint is a yield that would always let the holder release
/// first, hiding the sleeping path from the models.
const SPIN_LIMIT: u32 = if cfg!(loom) { 0 } else { 7 };

/// A lock whose waiters sleep with the strategy `W` (see the [module docs](self)).
///
/// `W` is only a type parameter (`PhantomData`): the layout is one `u32` whatever the
/// strategy, so a `Lock` can live in a `static` or in memory shared between processes.
#[repr(C)]
pub struct Lock<W: WaitStrategy = DefaultWait> {
    /// 0 free, 1 held, 2 held with (maybe) sleepers; the futex word.
    state: AtomicU32,
    _strategy: PhantomData<W>,
}

// SAFETY: the only data is an atomic word; `W` is never stored (it is a marker for the
// associated functions used to wait), so sharing or sending the lock shares no `W` value.
unsafe impl<W: WaitStrategy> Send for Lock<W> {}
// SAFETY: as above; every access to `state` is atomic.
unsafe impl<W: WaitStrategy> Sync for Lock<W> {}

impl<W: WaitStrategy> fmt::Debug for Lock<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.load(Ordering::Relaxed) {
            FREE => "unlocked",
            LOCKED => "locked",
            _ => "locked (contended)",
        };
        f.debug_struct("Lock").field("state", &state).finish()
    }
}

impl<W: WaitStrategy> Default for Lock<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> Lock<W> {
    maybe_const_fn! {
        /// A free lock.
        #[must_use]
        pub fn new() -> Self {
            Self {
                state: AtomicU32::new(FREE),
                _strategy: PhantomData,
            }
        }
    }

    /// Takes the lock if it is free; never waits (legal in an interrupt handler).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, sleeping (per `W`) as long as needed.
    #[inline]
    pub fn acquire(&self) {
        if !self.try_acquire_weak() {
            self.acquire_contended(None);
        }
    }

    /// Takes the lock, waiting at most until `deadline`. Returns `true` if it was taken.
    ///
    /// Tries at least once, even if the deadline has already passed.
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: W::Deadline) -> bool {
        self.try_acquire_weak() || self.acquire_contended(Some(deadline))
    }

    #[inline]
    fn try_acquire_weak(&self) -> bool {
        self.state
            .compare_exchange_weak(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Spins while the lock is held without sleepers; returns the last state seen.
    #[inline]
    fn spin(&self) -> u32 {
        let mut round = 0;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state != LOCKED || round == SPIN_LIMIT {
                return state;
            }
            for _ in 0..1u32 << round {
                spin_hint();
            }
            round += 1;
        }
    }

    #[cold]
    fn acquire_contended(&self, deadline: Option<W::Deadline>) -> bool {
        // Before ever announcing ourselves, a free lock may be taken in state 1.
        let mut state = self.spin();
        if state == FREE {
            match self
                .state
                .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        loop {
            // Announce a (possible) sleeper; taking the lock this way keeps state 2, so
            // our release wakes whoever else may be asleep.
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == FREE {
                return true;
            }
            if let Some(d) = deadline {
                // Our last look (the swap above, or `spin`) found the lock held in state
                // 2, so the release that ends this hold will wake a sleeper: giving up now
                // passes on any wake-up our previous `wait` may have consumed. (Checking
                // the deadline right after `wait` instead would lose it; the loom model
                // `lock_timed_waiter_loses_no_wakeup` finds that deadlock.)
                if d.has_passed() {
                    return false;
                }
            }
            // Sleeps only while the state is still 2; spurious returns just loop.
            let _ = W::wait(&self.state, CONTENDED, deadline);
            state = self.spin();
        }
    }

    /// Releases the lock (any thread may release it, as with Python's `threading.Lock`).
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if the lock was free (detected exactly).
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        match self.state.swap(FREE, Ordering::Release) {
            FREE => Err(ReleaseError::NotLocked),
            LOCKED => Ok(()),
            _ => {
                W::wake_one(&self.state);
                Ok(())
            }
        }
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != FREE
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, W> {
        self.acquire();
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free (never waits) and returns its guard.
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, W>> {
        if self.try_acquire() {
            Some(LockGuard { lock: self })
        } else {
            None
        }
    }

    /// Takes the lock, waiting at most until `deadline`, and returns its guard.
    #[inline]
    pub fn lock_until(&self, deadline: W::Deadline) -> Option<LockGuard<'_, W>> {
        if self.acquire_until(deadline) {
            Some(LockGuard { lock: self })
        } else {
            None
        }
    }
}

impl<W: WaitStrategy> RawLock for Lock<W> {
    #[inline]
    fn try_acquire(&self) -> bool {
        Lock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        Lock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        Lock::release(self)
    }
    #[inline]
    fn locked(&self) -> bool {
        Lock::locked(self)
    }
}

// SAFETY: every acquisition moves the state from 0 (free) to 1 or 2, and only `release`
// moves it back to 0, so while the lock is held no acquisition succeeds, whoever asks;
// `release` may be called from any thread.
unsafe impl<W: WaitStrategy> ExclusiveLock for Lock<W> {}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, W: WaitStrategy = DefaultWait> {
    lock: &'a Lock<W>,
}

impl<W: WaitStrategy> fmt::Debug for LockGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl<W: WaitStrategy> Drop for LockGuard<'_, W> {
    #[inline]
    fn drop(&mut self) {
        // The guard proves the lock is held, so this cannot fail.
        let _ = self.lock.release();
    }
}
