//! `Waiters`: the event count every blocking front end goes through.
//!
//! Algorithm: an event count (Dmitry Vyukov, "Eventcount", 1024cores.net; the same
//! shape as `folly::EventCount` and Linux's futex-based condition variables). A waiter
//! announces itself in `sleepers`, reads the sequence word, re-checks its condition and
//! only then sleeps on the sequence word. A notifier changes the state, issues a
//! `SeqCst` fence, and only if `sleepers != 0` bumps the sequence and wakes. The two
//! `SeqCst` fences (waiter after announcing, notifier after changing state) form a
//! Dekker pair: either the notifier sees the sleeper, or the sleeper's re-check sees the
//! new state. So no wake-up is lost, and a notify with no sleepers costs one fence and
//! one load — no syscall.
//!
//! Before announcing itself, a waiter re-checks its condition
//! [`W::RELAX_ROUNDS`](WaitStrategy::RELAX_ROUNDS) times, pausing with
//! [`W::relax`](WaitStrategy::relax) between looks (growing spins; OS strategies yield
//! in the last rounds): putting a thread to sleep and waking it costs tens of µs with an
//! OS futex, far more than the time a producer usually needs to refill an empty queue or
//! a holder to release a permit. A waiter that succeeds in this phase never touches
//! `sleepers`, so its notifier skips the wake-up call too. (The same idea as the spin
//! phase of [`Lock`](crate::lock::Lock), crossbeam's `Backoff` and glibc's adaptive
//! mutex.)
//!
//! Layout: two `u32` words, no pointers, valid in shared memory between processes and
//! wasm workers when `W` is a process-shared strategy.

use core::fmt;
use core::marker::PhantomData;

use super::{Deadline, WaitOutcome, WaitStrategy};
use crate::atomic::{counter_add, counter_sub, fence, maybe_const_fn, AtomicU32, Ordering};

/// Sleepers of one primitive, and how to wake them (see the module docs).
pub struct Waiters<W: WaitStrategy> {
    /// The futex word: bumped by every notify that saw a sleeper.
    seq: AtomicU32,
    /// How many callers are between announcing themselves and leaving `wait_until`.
    sleepers: AtomicU32,
    _strategy: PhantomData<W>,
}

impl<W: WaitStrategy> fmt::Debug for Waiters<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

impl<W: WaitStrategy> Default for Waiters<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> Waiters<W> {
    maybe_const_fn! {
        /// No sleepers.
        pub fn new() -> Self {
            Self {
                seq: AtomicU32::new(0),
                sleepers: AtomicU32::new(0),
                _strategy: PhantomData,
            }
        }
    }

    /// Blocks until `condition` returns `Some`, or until `deadline` passes (then `None`).
    ///
    /// `condition` is the primitive's `try_*` operation: it is called before every sleep
    /// and after every wake-up, and is called once more after the deadline has passed
    /// before giving up, so a timed-out wait never leaves behind a state change that was
    /// meant for it. Before the first sleep it is also called a few times in a brief
    /// spin (see the module docs), so it may run any number of times: it must only change
    /// state when it succeeds (returns `Some`).
    pub fn wait_until<R>(
        &self,
        deadline: Option<W::Deadline>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        // No adaptive phase under loom, whose spin hint is a yield: the models must
        // reach the sleeping path.
        let rounds = if cfg!(loom) { 0 } else { W::RELAX_ROUNDS };
        for round in 0..rounds {
            if let Some(r) = condition() {
                return Some(r);
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    // Let the loop below take its last look and report the time-out.
                    break;
                }
            }
            W::relax(round);
        }
        loop {
            if let Some(r) = condition() {
                return Some(r);
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    return None;
                }
            }
            counter_add(&self.sleepers, 1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let key = self.seq.load(Ordering::Acquire);
            if let Some(r) = condition() {
                counter_sub(&self.sleepers, 1, Ordering::Release);
                return Some(r);
            }
            let outcome = W::wait(&self.seq, key, deadline);
            counter_sub(&self.sleepers, 1, Ordering::Release);
            if outcome == WaitOutcome::TimedOut {
                // Last look: the state may have changed just as the deadline passed.
                return condition();
            }
        }
    }

    /// Blocks until `condition` returns `Some` (no deadline).
    pub fn wait<R>(&self, mut condition: impl FnMut() -> Option<R>) -> R {
        loop {
            // Without a deadline `wait_until` only returns `Some`; loop for the type.
            if let Some(r) = self.wait_until(None, &mut condition) {
                return r;
            }
        }
    }

    /// Wakes one sleeper. Call it after the state change that may satisfy a waiter.
    ///
    /// Only use it when every sleeper waits for the same kind of change and any one of
    /// them can consume it (e.g. "an item is available" for single-item pops); otherwise
    /// use [`notify_all`](Self::notify_all).
    #[inline]
    pub fn notify_one(&self) {
        if self.has_sleepers() {
            counter_add(&self.seq, 1, Ordering::Release);
            W::wake_one(&self.seq);
        }
    }

    /// Wakes every sleeper. Call it after the state change that may satisfy a waiter.
    #[inline]
    pub fn notify_all(&self) {
        if self.has_sleepers() {
            counter_add(&self.seq, 1, Ordering::Release);
            W::wake_all(&self.seq);
        }
    }

    /// The notifier's half of the Dekker pair: a fence, then a look at `sleepers`.
    #[inline]
    fn has_sleepers(&self) -> bool {
        fence(Ordering::SeqCst);
        self.sleepers.load(Ordering::Relaxed) != 0
    }

    /// How many callers are currently inside a blocking wait (a snapshot).
    pub fn sleepers(&self) -> u32 {
        self.sleepers.load(Ordering::Relaxed)
    }
}
