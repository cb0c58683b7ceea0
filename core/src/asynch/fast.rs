//! The parked-task table's fast entries: one waker per cell, reached without the table's
//! lock (features `async` + `std`, and under loom).
//!
//! Algorithm: a one-entry cell whose state word is its own try-lock and its index at
//! once: `FREE`, `BUSY` (someone reads or writes the entry), or the key of the task
//! parked in it. Parking takes a free cell with one compare-and-swap and publishes the
//! key with a plain `Release` store; waking checks the word for its key (a load),
//! takes the entry with one compare-and-swap and frees it with a store. The table's
//! shard mutex costs two locked instructions on each side (its lock's compare-and-swap
//! and its unlock's swap, which must look for sleepers); a cell costs one. A cell taken
//! by another key, or claimed by someone else at that moment, sends the task to the
//! locked table as before (parking never waits). The shape is tokio's `AtomicWaker`
//! (one waker, a state word that serialises registration and wake-up), keyed like a
//! one-slot cache of the table (the process-wide table cannot live in the primitive,
//! which must stay valid in shared memory).
//!
//! `BUSY` is held for a few instructions only: no executor code runs inside (the waker
//! is cloned before the cell is taken and dropped after it is freed; `will_wake` only
//! compares two pointers). A notifier or a leaving slot that finds the cell `BUSY` waits
//! for it (the holder may be moving the entry it is looking for), so waking and leaving
//! are not lock-free against a holder preempted in those instructions; parking is.
//!
//! Why a notifier may skip a cell that does not hold its key, and the table when its
//! length mirror is 0, without any lock: a parker writes the cell (or the table and its
//! mirror) before its `SeqCst` step on the primitive's "tasks are parked" bit (its
//! read-modify-write setting it, or its fence before reading it), and the notifier looks
//! after its own step on that bit (a read-modify-write that read the parker's, or its
//! `SeqCst` fence, which follows the parker's in the `SeqCst` order whenever the
//! parker's last look missed the notifier's change; see `Waiters`, "Async tasks"). Either
//! way the notifier's look sees the parker's write or a later one, and a later write to
//! the cell or the mirror is made by whoever removed that entry (a notifier, who wakes
//! it, or the slot itself, leaving).

use core::task::Waker;

use crate::atomic::{AtomicUsize, Ordering, UnsafeCell};
use crate::wait::Backoff;

/// The cell holds no entry.
const FREE: usize = 0;
/// Someone reads or writes the cell's entry.
const BUSY: usize = 1;

/// How many cells (one per table shard with `std`).
pub(super) const CELLS: usize = 16;

/// Whether `key` can be a cell's state: an address that is neither `FREE` nor `BUSY`
/// and is at least 4-aligned (every primitive is), so no key is mistaken for another.
#[inline]
pub(super) fn usable(key: usize) -> bool {
    key > BUSY && key & 3 == 0
}

/// One parked task's registration (see the module docs).
pub(super) struct Cell {
    /// `FREE`, `BUSY`, or the key of the entry's task.
    state: AtomicUsize,
    /// Written only by the holder of `BUSY`.
    entry: UnsafeCell<Entry>,
}

/// The contents of a [`Cell`].
struct Entry {
    /// The registration token of the entry's slot (0 when free).
    token: usize,
    /// The parked waker (`Some` while the state is a key).
    waker: Option<Waker>,
    /// The next token this cell hands out (never 0).
    next: usize,
}

// SAFETY: `entry` is only read or written by the thread that moved `state` to `BUSY`
// (an `Acquire` compare-and-swap) until it stores another state (`Release`), so the
// accesses of successive holders are ordered; the waker inside is `Send + Sync`.
unsafe impl Sync for Cell {}

impl Cell {
    crate::atomic::maybe_const_fn! {
        /// A free cell.
        pub(super) fn new() -> Self {
            Self {
                state: AtomicUsize::new(FREE),
                entry: UnsafeCell::new(Entry {
                    token: 0,
                    waker: None,
                    next: 1,
                }),
            }
        }
    }

    /// Runs `f` on the entry. Only by the holder of `BUSY`.
    #[inline]
    fn with_entry<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> R {
        // SAFETY: the caller holds `BUSY` (see `impl Sync`): no other access meanwhile.
        self.entry.with_mut(|e| f(unsafe { &mut *e }))
    }

    /// Moves the state from `from` to `BUSY`; while it is `BUSY`, waits (a holder is
    /// a few instructions from done). `false`: the state is neither `from` nor `BUSY`.
    #[inline]
    fn hold(&self, from: usize) -> bool {
        let mut backoff = Backoff::new();
        loop {
            // A plain look first: a failed compare-and-swap costs a locked instruction.
            let now = self.state.load(Ordering::Relaxed);
            if now == BUSY {
                pause(&mut backoff);
                continue;
            }
            if now != from {
                return false;
            }
            match self
                .state
                .compare_exchange(from, BUSY, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(BUSY) => {
                    pause(&mut backoff);
                }
                Err(_) => return false,
            }
        }
    }

    /// Parks `waker` under `key` if the cell is free: the new registration's token,
    /// or `None` (the cell holds another entry or is busy: use the table).
    pub(super) fn park(&self, key: usize, waker: &Waker) -> Option<usize> {
        if self.state.load(Ordering::Relaxed) != FREE {
            return None;
        }
        // Cloned before the cell is taken: a waker's clone is executor code.
        let waker = waker.clone();
        if self
            .state
            .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let token = self.with_entry(|e| {
            let t = e.next;
            e.next = t.wrapping_add(1).max(1);
            e.token = t;
            e.waker = Some(waker);
            t
        });
        self.state.store(key, Ordering::Release);
        Some(token)
    }

    /// Whether the registration `(key, token)` is still here with a waker that
    /// `will_wake` the same task as `waker` ([`Kept::Here`], nothing changes).
    /// [`Kept::Replaced`]: it was here with another task's waker and is removed (the
    /// caller parks anew and drops the old waker outside); [`Kept::Gone`]: not here.
    pub(super) fn keep(&self, key: usize, token: usize, waker: &Waker) -> Kept {
        if !self.hold(key) {
            return Kept::Gone;
        }
        let kept = self.with_entry(|e| {
            if e.token != token {
                Kept::Gone
            } else if e.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                Kept::Here
            } else {
                e.token = 0;
                e.waker.take().map_or(Kept::Gone, Kept::Replaced)
            }
        });
        let after = if matches!(kept, Kept::Replaced(_)) {
            FREE
        } else {
            key
        };
        self.state.store(after, Ordering::Release);
        kept
    }

    /// Whether the cell may hold an entry of `key` (it holds one, or is busy): `false`
    /// means an entry of `key` parked here earlier was removed since (by whoever wrote
    /// the state after it). One relaxed load.
    #[inline]
    pub(super) fn may_hold(&self, key: usize) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s == key || s == BUSY
    }

    /// Removes and returns the entry of `key` if the cell holds one (any slot's).
    pub(super) fn take(&self, key: usize) -> Option<Waker> {
        if !self.hold(key) {
            return None;
        }
        let waker = self.with_entry(|e| {
            e.token = 0;
            e.waker.take()
        });
        self.state.store(FREE, Ordering::Release);
        waker
    }

    /// Removes and returns the registration `(key, token)` if it is still here.
    pub(super) fn leave(&self, key: usize, token: usize) -> Option<Waker> {
        if !self.hold(key) {
            return None;
        }
        let waker = self.with_entry(|e| {
            if e.token == token {
                e.token = 0;
                e.waker.take()
            } else {
                None
            }
        });
        self.state
            .store(if waker.is_some() { FREE } else { key }, Ordering::Release);
        waker
    }

    /// Whether the registration `(key, token)` is here.
    pub(super) fn contains(&self, key: usize, token: usize) -> bool {
        if !self.hold(key) {
            return false;
        }
        let here = self.with_entry(|e| e.token == token);
        self.state.store(key, Ordering::Release);
        here
    }
}

/// What [`Cell::keep`] found.
pub(super) enum Kept {
    /// The registration is here and kept.
    Here,
    /// The registration is gone.
    Gone,
    /// The registration was here with another task's waker: removed, its waker.
    Replaced(Waker),
}

/// One pause of a caller waiting for a `BUSY` cell: the crate's [`Backoff`] (growing
/// spins, then, with `std`, yielding the thread in case the holder was preempted).
#[inline]
fn pause(backoff: &mut Backoff) {
    #[cfg(all(feature = "std", not(loom)))]
    backoff.snooze();
    #[cfg(not(all(feature = "std", not(loom))))]
    backoff.spin();
}
