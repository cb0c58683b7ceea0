//! Lock-order deadlock detection (feature `deadlock-detection`; off by default).
//!
//! The hooks below are called by `Lock` and `RLock` around every acquisition and
//! release. Without the feature they are empty `#[inline]` functions over a zero-sized
//! [`LockId`], so they cost nothing.
//
// HOOK CONTRACT (fixed; the implementation behind the feature is free):
//   LockId::new()                    const; one per lock object, stored in the lock
//   before_acquire(&id, blocking)    before any acquisition attempt (blocking = may wait)
//   after_acquire(&id)               after an acquisition succeeded (RLock: first level only)
//   after_release(&id)               after the lock became free (RLock: last level only);
//                                    may run on a thread other than the acquirer (Lock)
//   LockId is neither Copy nor Clone (with the feature it may hold an atomic, lazily
//   assigned id); it is Send + Sync and Debug.

/// Identity of one lock for the detector (zero-sized without the feature).
#[derive(Debug, Default)]
pub(crate) struct LockId;

impl LockId {
    /// A fresh identity.
    #[inline]
    pub(crate) const fn new() -> Self {
        LockId
    }
}

/// Called before trying to take `id`; `blocking` if the attempt may wait.
#[inline]
pub(crate) fn before_acquire(_id: &LockId, _blocking: bool) {}

/// Called once `id` has been taken by the calling thread.
#[inline]
pub(crate) fn after_acquire(_id: &LockId) {}

/// Called once `id` has been released (by any thread).
#[inline]
pub(crate) fn after_release(_id: &LockId) {}
