//! `ReentrantLock<O, W>`: a lock its owner may take again (Python's `threading.RLock`).
//!
//! # Algorithm
//! A recursion depth on top of a plain [`Lock<W>`], whose owner word (the robust-futex
//! layout: owner | waiters bit) records the owner: the shape of CPython's
//! `_thread.RLock` (`rlock_owner` + `rlock_count` over a plain lock) and of Rust std's
//! `ReentrantLock`, with the owner id stored by the very compare-and-swap that takes
//! the lock (as in glibc's recursive and robust mutexes) instead of in a word of its
//! own. `acquire` compares the caller's id ([`OwnerId::current`]) with the owner in
//! the word: if equal it only increments the depth; otherwise it takes the inner lock
//! under its own id and stores depth 1. `release` decrements the depth and, at 0,
//! releases the inner lock.
//!
//! The owner is read with `Relaxed` ordering: it can equal the caller's id only if the
//! caller stored it itself (and has not released it since — its own later stores are
//! always visible to it), so "owner == me" is exact; any other value just means "not
//! me". The depth is written only by the owner. Ids use the word's owner bits
//! ([`OWNER_MASK`](crate::wait::OWNER_MASK), 30 bits): an id is masked to them (0
//! becomes 1), so ids must differ in those bits.
//!
//! # Progress
//! **Blocking**, with the progress of the inner [`Lock<W>`] (not fair). Re-acquiring by
//! the owner never waits. `try_acquire` never waits.
//!
//! # Owner ids
//! [`OwnerId::current`] names the caller: a thread id on std (the std adapter's
//! `ThreadOwner` is the kernel thread id, renewed after `fork`), a task or core id on
//! firmware. Ids must be unique among everybody that can touch the lock at the same
//! time — across processes too if the lock lives in shared memory (Linux `gettid` is
//! system-wide, a per-process counter is not). Ids that are kernel thread ids say so
//! with [`OwnerId::KERNEL_TID`]: then a strategy that can probe owners (`SharedFutex`)
//! hands the lock of a dead owner to the next acquirer, which the `_or_recover` forms
//! report with [`Acquired::OwnerDied`] (the new owner starts at depth 1). On firmware:
//!
//! * single core, one main loop (interrupt handlers use only `try_*` or a critical
//!   section): a constant, e.g. `NonZeroU32::MIN`;
//! * multi-core: read the core id register plus one (Cortex-M: the SIO `CPUID` register
//!   on the RP2040; RISC-V: the `mhartid` CSR);
//! * an RTOS: the current task's handle or index plus one.
//!
//! Note that an interrupt handler running on the same core as the owner would carry the
//! owner's id, and so "re-enter" a lock the code it interrupted is using: never take a
//! reentrant lock in an interrupt handler whose id is not its own.
//!
//! # When to use
//! Code that may call back into itself while holding the lock (Python's `RLock` use
//! case), or a condition variable whose lock must be reentrant. Everywhere else prefer
//! [`Lock`]: it is cheaper and catches accidental recursion as a deadlock instead of
//! hiding it. A reentrant lock does not hand out `&mut` access (two nested acquisitions
//! would alias), so it is not an [`ExclusiveLock`](super::ExclusiveLock) and cannot back
//! a [`Mutex`](super::Mutex).
//!
//! # Example
//! ```
//! use core::num::NonZeroU32;
//! use conkit_core::lock::{OwnerId, ReentrantLock, ReleaseError};
//!
//! /// Single-core firmware main loop: one owner.
//! struct MainLoop;
//! impl OwnerId for MainLoop {
//!     fn current() -> NonZeroU32 {
//!         NonZeroU32::MIN
//!     }
//! }
//!
//! static LOCK: ReentrantLock<MainLoop> = ReentrantLock::new();
//!
//! let outer = LOCK.lock();
//! let inner = LOCK.lock(); // same owner: no deadlock
//! assert_eq!(LOCK.depth(), 2);
//! drop(inner);
//! drop(outer);
//! assert!(!LOCK.locked());
//! assert_eq!(LOCK.release(), Err(ReleaseError::NotLocked));
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroU32;

use super::blocking::word_token;
use super::{Acquired, Lock, RawLock, ReleaseError};
use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::{DefaultWait, WaitStrategy};

/// Names the caller of a [`ReentrantLock`] operation: a thread id on std, a task or core
/// id on firmware (see the [module docs](self#owner-ids) for how to implement it).
///
/// Implementations are zero-sized types used only as type parameters.
pub trait OwnerId {
    /// The id of the calling thread / task / core. It must be unique among everybody who
    /// may use the same lock at the same time, and stable while the caller holds a lock.
    fn current() -> NonZeroU32;

    /// `true` if [`current`](Self::current) is the kernel thread id (Linux `gettid`):
    /// a strategy's [`owner_alive`](WaitStrategy::owner_alive) may then probe it, and a
    /// lock whose owner died is handed over instead of waited for forever. `false` by
    /// default: other ids are never probed.
    const KERNEL_TID: bool = false;
}

/// The caller's id as stored in the owner word.
#[inline]
fn me<O: OwnerId>() -> u32 {
    word_token(O::current().get())
}

/// A lock the owner may re-acquire; it is free again after as many releases as
/// acquisitions (see the [module docs](self)).
#[repr(C)]
pub struct ReentrantLock<O: OwnerId, W: WaitStrategy = DefaultWait> {
    /// The lock; its owner word holds the owner's id.
    lock: Lock<W>,
    /// How many times the holder has acquired it; written only by the holder.
    depth: AtomicU32,
    _owner_id: PhantomData<O>,
}

// SAFETY: the data is atomic words and a `Lock<W>` (itself `Send`); `O` and `W` are never
// stored, they only name associated functions.
unsafe impl<O: OwnerId, W: WaitStrategy> Send for ReentrantLock<O, W> {}
// SAFETY: as above; every access to the words is atomic, and `depth` is written only by
// the owner, which the inner lock makes unique.
unsafe impl<O: OwnerId, W: WaitStrategy> Sync for ReentrantLock<O, W> {}

impl<O: OwnerId, W: WaitStrategy> fmt::Debug for ReentrantLock<O, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = self.lock.owner();
        f.debug_struct("ReentrantLock")
            .field("locked", &self.locked())
            .field("owner", &owner)
            .field("depth", &self.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl<O: OwnerId, W: WaitStrategy> Default for ReentrantLock<O, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O: OwnerId, W: WaitStrategy> ReentrantLock<O, W> {
    maybe_const_fn! {
        /// A free lock.
        #[must_use]
        pub fn new() -> Self {
            Self {
                lock: Lock::new(),
                depth: AtomicU32::new(0),
                _owner_id: PhantomData,
            }
        }
    }

    /// If the caller owns the lock, counts one more acquisition: `Some(true)`, or
    /// `Some(false)` if the depth would overflow `u32`. `None` if the caller is not the
    /// owner.
    #[inline]
    fn reenter(&self, me: u32) -> Option<bool> {
        if self.lock.owner_word() != me {
            return None;
        }
        let depth = self.depth.load(Ordering::Relaxed);
        Some(match depth.checked_add(1) {
            Some(d) => {
                self.depth.store(d, Ordering::Relaxed);
                true
            }
            None => false,
        })
    }

    /// Starts the caller's ownership, right after taking the inner lock under its id.
    #[inline]
    fn enter(&self) {
        self.depth.store(1, Ordering::Relaxed);
    }

    /// Takes the lock if it is free or already the caller's; never waits.
    ///
    /// Returns `false` if another owner holds it (or, for the owner, if the depth is
    /// already `u32::MAX`).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        let me = me::<O>();
        if let Some(ok) = self.reenter(me) {
            return ok;
        }
        if self.lock.try_acquire_as(me) {
            self.enter();
            true
        } else {
            false
        }
    }

    /// Takes the lock (never waiting) if it is free, already the caller's, or held by
    /// an owner that is gone ([`OwnerId::KERNEL_TID`] ids with a strategy that probes
    /// them): `None` if a live owner holds it (or the depth is already `u32::MAX`).
    ///
    /// ```
    /// # use core::num::NonZeroU32;
    /// # use conkit_core::lock::{Acquired, OwnerId, ReentrantLock};
    /// # struct Me;
    /// # impl OwnerId for Me { fn current() -> NonZeroU32 { NonZeroU32::MIN } }
    /// let lock: ReentrantLock<Me> = ReentrantLock::new();
    /// assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::Clean));
    /// assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::Clean)); // re-entered
    /// assert_eq!(lock.depth(), 2);
    /// # lock.release_all().unwrap();
    /// ```
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn try_acquire_or_recover(&self) -> Option<Acquired> {
        let me = me::<O>();
        if let Some(ok) = self.reenter(me) {
            return ok.then_some(Acquired::Clean);
        }
        let how = self.lock.try_acquire_or_recover_as(me, O::KERNEL_TID)?;
        self.enter();
        Some(how)
    }

    /// Takes the lock, waiting (per `W`) while another owner holds it.
    ///
    /// # Panics
    /// If the owner already holds it `u32::MAX` times (the depth would overflow).
    #[inline]
    pub fn acquire(&self) {
        let _ = self.acquire_or_recover();
    }

    /// Takes the lock like [`acquire`](Self::acquire), and says whether the previous
    /// owner died holding it ([`Acquired::OwnerDied`]; re-entering is always `Clean`).
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    #[inline]
    pub fn acquire_or_recover(&self) -> Acquired {
        let me = me::<O>();
        match self.reenter(me) {
            Some(true) => Acquired::Clean,
            Some(false) => depth_overflow(),
            None => {
                let how = if self.lock.try_acquire_as(me) {
                    Acquired::Clean
                } else {
                    self.lock
                        .acquire_contended(me, None, O::KERNEL_TID)
                        .unwrap_or(Acquired::Clean)
                };
                self.enter();
                how
            }
        }
    }

    /// Takes the lock, waiting at most until `deadline` while another owner holds it.
    /// Returns `true` if it was taken (at once if the caller already owns it; `false`
    /// if the depth is already `u32::MAX`).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: W::Deadline) -> bool {
        self.acquire_until_or_recover(deadline).is_some()
    }

    /// Takes the lock like [`acquire_until`](Self::acquire_until), and says how: `None`
    /// if the deadline passed (or the depth is already `u32::MAX`), else whether the
    /// previous owner died holding it.
    ///
    /// ```
    /// # use core::num::NonZeroU32;
    /// # use std::time::{Duration, Instant};
    /// # use conkit_core::lock::{Acquired, OwnerId, ReentrantLock};
    /// # struct Me;
    /// # impl OwnerId for Me { fn current() -> NonZeroU32 { NonZeroU32::MIN } }
    /// let lock: ReentrantLock<Me> = ReentrantLock::new();
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(lock.acquire_until_or_recover(soon), Some(Acquired::Clean));
    /// # lock.release().unwrap();
    /// ```
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn acquire_until_or_recover(&self, deadline: W::Deadline) -> Option<Acquired> {
        let me = me::<O>();
        if let Some(ok) = self.reenter(me) {
            return ok.then_some(Acquired::Clean);
        }
        let how = if self.lock.try_acquire_as(me) {
            Acquired::Clean
        } else {
            self.lock
                .acquire_contended(me, Some(deadline), O::KERNEL_TID)?
        };
        self.enter();
        Some(how)
    }

    /// Undoes one acquisition by the caller; the lock is free again once every
    /// acquisition is undone.
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if nobody holds it; [`ReleaseError::NotOwner`] if
    /// another owner holds it.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.lock.owner_word() != me::<O>() {
            return Err(self.not_mine());
        }
        let depth = self.depth.load(Ordering::Relaxed).saturating_sub(1);
        self.depth.store(depth, Ordering::Relaxed);
        if depth == 0 {
            // The inner release is `Release`: it publishes the store above, and clears
            // the owner.
            let _ = self.lock.release();
        }
        Ok(())
    }

    /// Why a release by a caller that does not own the lock is refused.
    #[cold]
    fn not_mine(&self) -> ReleaseError {
        // A holder between taking the inner lock and storing its id counts too.
        if self.lock.locked() {
            ReleaseError::NotOwner
        } else {
            ReleaseError::NotLocked
        }
    }

    /// Undoes every acquisition by the caller at once, whatever the depth, and returns
    /// that depth, so that [`acquire_depth`](Self::acquire_depth) can restore it later:
    /// the lock is free when this returns `Ok`. This is CPython's
    /// `RLock._release_save`, which a condition variable uses to release a reentrant
    /// lock completely while it waits.
    ///
    /// # Errors
    /// As [`release`](Self::release): [`ReleaseError::NotLocked`] if nobody holds it,
    /// [`ReleaseError::NotOwner`] if another owner holds it (the lock is unchanged).
    #[inline]
    pub fn release_all(&self) -> Result<NonZeroU32, ReleaseError> {
        if self.lock.owner_word() != me::<O>() {
            return Err(self.not_mine());
        }
        // The owner always has a depth of at least 1 (`enter` stores 1, `release`
        // clears the owner when it reaches 0).
        let depth = NonZeroU32::new(self.depth.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN);
        self.depth.store(0, Ordering::Relaxed);
        // The inner release is `Release`: it publishes the store above, and clears the
        // owner.
        let _ = self.lock.release();
        Ok(depth)
    }

    /// Takes the lock, awaiting it (feature `async`), or counts one more acquisition if
    /// the caller already owns it. The owner is [`O::current()`](OwnerId::current) at
    /// the poll that takes the lock: with a thread as the owner (the std `RLock`), every
    /// task of that thread counts as the owner, so use it from one task per thread (or
    /// a [`Lock`], which has no owner). A release by a thread wakes the
    /// task and a task's release wakes a thread (see "Async" in [`super::blocking`]).
    /// Cancellation-safe.
    ///
    /// # Panics
    /// If the depth would overflow `u32`, as [`acquire`](Self::acquire).
    #[cfg(feature = "async")]
    pub fn acquire_async(&self) -> impl core::future::Future<Output = ()> + '_ {
        self.acquire_depth_async(NonZeroU32::MIN)
    }

    /// [`acquire_depth`](Self::acquire_depth) awaiting the lock (feature `async`); see
    /// [`acquire_async`](Self::acquire_async).
    ///
    /// # Panics
    /// If the depth would overflow `u32`.
    #[cfg(feature = "async")]
    pub fn acquire_depth_async(
        &self,
        depth: NonZeroU32,
    ) -> impl core::future::Future<Output = ()> + '_ {
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| {
            let me = me::<O>();
            if self.lock.owner_word() == me {
                slot.leave();
                match self.depth.load(Ordering::Relaxed).checked_add(depth.get()) {
                    Some(d) => self.depth.store(d, Ordering::Relaxed),
                    None => depth_overflow(),
                }
                return core::task::Poll::Ready(());
            }
            self.lock
                .poll_acquire_as(me, O::KERNEL_TID, &mut slot, cx)
                .map(|_| self.depth.store(depth.get(), Ordering::Relaxed))
        })
    }

    /// Takes the lock `depth` times at once, waiting (per `W`) while another owner
    /// holds it: the lock is then free again after `depth` releases (or one
    /// [`release_all`](Self::release_all)). This is CPython's `RLock._acquire_restore`,
    /// the inverse of [`release_all`](Self::release_all).
    ///
    /// If the caller already owns the lock, `depth` is added to its depth.
    ///
    /// # Panics
    /// If the caller already owns the lock and the depth would overflow `u32`.
    #[inline]
    pub fn acquire_depth(&self, depth: NonZeroU32) {
        let me = me::<O>();
        if self.lock.owner_word() == me {
            match self.depth.load(Ordering::Relaxed).checked_add(depth.get()) {
                Some(d) => self.depth.store(d, Ordering::Relaxed),
                None => depth_overflow(),
            }
            return;
        }
        if !self.lock.try_acquire_as(me) {
            let _ = self.lock.acquire_contended(me, None, O::KERNEL_TID);
        }
        self.depth.store(depth.get(), Ordering::Relaxed);
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// `true` if the caller holds the lock.
    #[inline]
    #[must_use]
    pub fn is_owned(&self) -> bool {
        self.lock.owner_word() == me::<O>()
    }

    /// How many times the caller holds the lock (0 if it does not own it; CPython's
    /// `RLock._recursion_count`).
    #[inline]
    #[must_use]
    pub fn depth(&self) -> u32 {
        if self.is_owned() {
            self.depth.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Takes the lock and returns a guard that undoes this acquisition when dropped.
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    #[inline]
    pub fn lock(&self) -> ReentrantLockGuard<'_, O, W> {
        self.acquire();
        ReentrantLockGuard::new(self)
    }

    /// Takes the lock if it is free or already the caller's (never waits).
    #[inline]
    pub fn try_lock(&self) -> Option<ReentrantLockGuard<'_, O, W>> {
        if self.try_acquire() {
            Some(ReentrantLockGuard::new(self))
        } else {
            None
        }
    }

    /// Takes the lock, waiting at most until `deadline`, and returns its guard.
    #[inline]
    pub fn lock_until(&self, deadline: W::Deadline) -> Option<ReentrantLockGuard<'_, O, W>> {
        if self.acquire_until(deadline) {
            Some(ReentrantLockGuard::new(self))
        } else {
            None
        }
    }
}

#[cold]
#[inline(never)]
fn depth_overflow() -> ! {
    panic!("ReentrantLock acquired u32::MAX times by the same owner")
}

impl<O: OwnerId, W: WaitStrategy> RawLock for ReentrantLock<O, W> {
    #[inline]
    fn try_acquire(&self) -> bool {
        ReentrantLock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        ReentrantLock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        ReentrantLock::release(self)
    }
    #[inline]
    fn locked(&self) -> bool {
        ReentrantLock::locked(self)
    }
}

/// Holds one acquisition of a [`ReentrantLock`]; undoes it when dropped.
///
/// Not `Send`: it must be dropped by the owner that took it.
///
/// ```compile_fail,E0277
/// # use core::num::NonZeroU32;
/// # use conkit_core::lock::{OwnerId, ReentrantLock};
/// # struct Me;
/// # impl OwnerId for Me { fn current() -> NonZeroU32 { NonZeroU32::MIN } }
/// static LOCK: ReentrantLock<Me> = ReentrantLock::new();
/// let guard = LOCK.lock();
/// std::thread::spawn(move || drop(guard)); // error: the guard is not `Send`
/// ```
#[must_use = "the acquisition is undone as soon as the guard is dropped"]
pub struct ReentrantLockGuard<'a, O: OwnerId, W: WaitStrategy = DefaultWait> {
    lock: &'a ReentrantLock<O, W>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, O: OwnerId, W: WaitStrategy> ReentrantLockGuard<'a, O, W> {
    #[inline]
    fn new(lock: &'a ReentrantLock<O, W>) -> Self {
        Self {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<O: OwnerId, W: WaitStrategy> fmt::Debug for ReentrantLockGuard<'_, O, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantLockGuard")
            .field("depth", &self.lock.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl<O: OwnerId, W: WaitStrategy> Drop for ReentrantLockGuard<'_, O, W> {
    #[inline]
    fn drop(&mut self) {
        // The guard's owner holds the lock (the guard is not `Send`), so this succeeds.
        let _ = self.lock.release();
    }
}

#[cfg(all(test, feature = "std", not(loom)))]
mod tests {
    use super::*;
    use crate::atomic::AtomicBool;

    std::thread_local! {
        static ID: u32 = {
            static NEXT: AtomicU32 = AtomicU32::new(1);
            NEXT.fetch_add(1, Ordering::Relaxed)
        };
    }

    /// A per-thread owner id for these tests.
    struct Thread;
    impl OwnerId for Thread {
        fn current() -> NonZeroU32 {
            ID.with(|id| NonZeroU32::new(*id).unwrap_or(NonZeroU32::MIN))
        }
    }

    #[test]
    fn release_all_frees_the_lock_whatever_the_depth_and_acquire_depth_restores_it() {
        let l: ReentrantLock<Thread> = ReentrantLock::new();
        assert_eq!(l.release_all(), Err(ReleaseError::NotLocked));
        l.acquire();
        l.acquire();
        l.acquire();
        let depth = l.release_all().unwrap();
        assert_eq!(depth.get(), 3);
        assert!(!l.locked());
        assert_eq!(l.depth(), 0);
        l.acquire_depth(depth);
        assert_eq!(l.depth(), 3);
        for _ in 0..3 {
            l.release().unwrap();
        }
        assert!(!l.locked());
        assert_eq!(l.release(), Err(ReleaseError::NotLocked));
    }

    #[test]
    fn release_all_by_another_owner_is_refused_and_changes_nothing() {
        let l: ReentrantLock<Thread> = ReentrantLock::new();
        l.acquire();
        l.acquire();
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(l.release_all(), Err(ReleaseError::NotOwner)));
        });
        assert_eq!(l.depth(), 2);
        assert_eq!(l.release_all().map(NonZeroU32::get), Ok(2));
    }

    #[test]
    fn acquire_depth_by_the_owner_adds_to_the_depth() {
        let l: ReentrantLock<Thread> = ReentrantLock::new();
        l.acquire();
        l.acquire_depth(NonZeroU32::new(4).unwrap());
        assert_eq!(l.depth(), 5);
        assert_eq!(l.release_all().map(NonZeroU32::get), Ok(5));
    }

    #[test]
    fn acquire_depth_waits_for_another_owner() {
        let l: ReentrantLock<Thread> = ReentrantLock::new();
        let released = AtomicBool::new(false);
        l.acquire();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                l.acquire_depth(NonZeroU32::new(2).unwrap());
                let saw_release = released.load(Ordering::Acquire);
                let depth = l.depth();
                l.release_all().unwrap();
                (saw_release, depth)
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            released.store(true, Ordering::Release);
            l.release().unwrap();
            assert_eq!(waiter.join().unwrap(), (true, 2));
        });
        assert!(!l.locked());
    }
}
