//! loom models of `conkit_core::lock`. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_lock`.
//!
//! * mutual exclusion of `SpinLock`, `TicketLock`, `Lock<Spin>` and `SpinMutex` (two
//!   threads incrementing a loom-tracked cell: loom reports any unsynchronised access);
//! * `Lock` with a futex model that really sleeps and wakes exactly one sleeper per
//!   `wake_one`: a lost wake-up in the 0 / 1 / 2 protocol shows up as a loom deadlock,
//!   including when a timed waiter consumes a wake-up and then gives up;
//! * `ReentrantLock` nesting with per-thread owner ids;
//! * the owner word (issue #11): two sleepers both woken through the waiters bit, no
//!   wake call for nobody after a contended episode (the bit is exact) nor after a
//!   barger that never slept took the lock, and a dead owner replaced by exactly one
//!   waiter.
#![cfg(loom)]

mod loom_common;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use conkit_core::lock::{
    Acquired, Lock, OwnerId, RawLock, ReentrantLock, ReleaseError, SpinLock, SpinMutex, TicketLock,
};
use conkit_core::wait::{Never, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::{Expired, LoomFutex, Soon, Tally};

/// A lock plus a loom-tracked counter it guards.
struct Guarded<L> {
    lock: L,
    count: UnsafeCell<u32>,
}

// SAFETY: `count` is only touched while holding `lock` (that is what the models check).
unsafe impl<L: Sync> Sync for Guarded<L> {}

impl<L: RawLock> Guarded<L> {
    fn new(lock: L) -> Self {
        Self {
            lock,
            count: UnsafeCell::new(0),
        }
    }
    fn increment(&self) {
        self.lock.acquire();
        // SAFETY: we hold the lock; loom flags it if another thread can touch the cell.
        self.count.with_mut(|p| unsafe { *p += 1 });
        assert_eq!(self.lock.release(), Ok(()));
    }
    fn count(&self) -> u32 {
        // SAFETY: called after every thread has been joined.
        self.count.with(|p| unsafe { *p })
    }
}

/// Two threads increment under `lock`; nothing is lost, and the lock ends free.
fn two_incrementers<L: RawLock + Send + Sync + 'static>(make: fn() -> L) {
    loom::model(move || {
        let g = Arc::new(Guarded::new(make()));
        let g2 = Arc::clone(&g);
        let t = thread::spawn(move || g2.increment());
        g.increment();
        t.join().unwrap();
        assert_eq!(g.count(), 2);
        assert!(!g.lock.locked());
        assert_eq!(g.lock.release(), Err(ReleaseError::NotLocked));
    });
}

#[test]
fn spin_lock_mutual_exclusion() {
    two_incrementers(SpinLock::new);
}

#[test]
fn spin_lock_try_acquire_excludes() {
    loom::model(|| {
        let g = Arc::new(Guarded::new(SpinLock::new()));
        let g2 = Arc::clone(&g);
        let t = thread::spawn(move || {
            if g2.lock.try_acquire() {
                // SAFETY: we hold the lock.
                g2.count.with_mut(|p| unsafe { *p += 1 });
                assert_eq!(g2.lock.release(), Ok(()));
                1
            } else {
                0
            }
        });
        g.increment();
        let n = t.join().unwrap();
        assert_eq!(g.count(), 1 + n);
        assert!(!g.lock.locked());
    });
}

#[test]
fn ticket_lock_mutual_exclusion() {
    two_incrementers(TicketLock::new);
}

#[test]
fn lock_spin_mutual_exclusion() {
    two_incrementers(Lock::<Spin>::new);
}

#[test]
fn spin_mutex_mutual_exclusion() {
    loom::model(|| {
        let m = Arc::new(SpinMutex::new(0u32));
        let m2 = Arc::clone(&m);
        let t = thread::spawn(move || *m2.lock() += 1);
        *m.lock() += 1;
        t.join().unwrap();
        assert_eq!(*m.lock(), 2);
        assert!(!m.is_locked());
    });
}

/// Two threads contend; sleepers really sleep. A lost wake-up is a loom deadlock.
#[test]
fn lock_futex_no_lost_wakeup() {
    tally!(Here);
    two_incrementers(Lock::<LoomFutex<Never, Here>>::new);
    assert!(
        Here::counts().slept() > 0,
        "the sleeping path (state 2) ran"
    );
}

/// Main holds the lock; a patient waiter and a timed waiter queue; main releases.
/// Whatever the timed waiter does (gets it, times out, swallows a wake-up and times
/// out), the patient waiter must get the lock.
#[test]
fn lock_timed_waiter_loses_no_wakeup() {
    tally!(Here);
    loom::model(|| {
        let l = Arc::new(Lock::<LoomFutex<Soon, Here>>::new());
        l.acquire();
        let patient = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                l.acquire();
                assert_eq!(l.release(), Ok(()));
            })
        };
        let timed = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                if l.acquire_until(Soon) {
                    assert_eq!(l.release(), Ok(()));
                }
            })
        };
        assert_eq!(l.release(), Ok(()));
        timed.join().unwrap();
        patient.join().unwrap();
        assert!(!l.locked());
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
    assert!(
        Here::counts().swallowed() > 0,
        "the swallowed-wake-up case was explored"
    );
}

/// As above, but main takes the lock back right after its release (barging, without the
/// waiters bit) and releases it again: a timed waiter that swallowed the wake-up and
/// then finds the lock held gives up, and must pass the wake-up on to the patient
/// sleeper, which would otherwise sleep through main's second release.
#[test]
fn lock_timed_waiter_gives_up_behind_a_barger() {
    tally!(Here);
    loom::model(|| {
        let l = Arc::new(Lock::<LoomFutex<Soon, Here>>::new());
        l.acquire();
        let patient = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                l.acquire();
                assert_eq!(l.release(), Ok(()));
            })
        };
        let timed = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                if l.acquire_until(Soon) {
                    assert_eq!(l.release(), Ok(()));
                }
            })
        };
        assert_eq!(l.release(), Ok(()));
        l.acquire();
        assert_eq!(l.release(), Ok(()));
        timed.join().unwrap();
        patient.join().unwrap();
        assert!(!l.locked());
    });
    assert!(
        Here::counts().swallowed() > 0,
        "the swallowed-wake-up case was explored"
    );
}

// ---------------------------------------------------------------------------------------
// ReentrantLock

static NEXT_ID: StdAtomicUsize = StdAtomicUsize::new(1);

loom::thread_local! {
    static MY_ID: NonZeroU32 =
        NonZeroU32::new(NEXT_ID.fetch_add(1, StdOrdering::Relaxed) as u32).unwrap();
}

struct LoomThread;

impl OwnerId for LoomThread {
    fn current() -> NonZeroU32 {
        MY_ID.with(|id| *id)
    }
}

#[test]
fn reentrant_nesting() {
    loom::model(|| {
        let g = Arc::new(Guarded::new(ReentrantLock::<LoomThread>::new()));
        let inside = Arc::new(AtomicU32::new(0));
        let body = |g: &Guarded<ReentrantLock<LoomThread>>, inside: &AtomicU32| {
            g.lock.acquire();
            assert!(g.lock.try_acquire(), "the owner re-enters");
            assert_eq!(g.lock.depth(), 2);
            assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0, "alone inside");
            // SAFETY: we hold the lock.
            g.count.with_mut(|p| unsafe { *p += 1 });
            inside.fetch_sub(1, Ordering::Relaxed);
            assert_eq!(g.lock.release(), Ok(()));
            assert!(g.lock.is_owned(), "still held once");
            assert_eq!(g.lock.release(), Ok(()));
            assert!(!g.lock.is_owned());
        };
        let t = {
            let (g, inside) = (Arc::clone(&g), Arc::clone(&inside));
            thread::spawn(move || body(&g, &inside))
        };
        body(&g, &inside);
        t.join().unwrap();
        assert_eq!(g.count(), 2);
        assert!(!g.lock.locked());
    });
}

/// A non-owner's release is refused while the owner holds the lock.
#[test]
fn reentrant_release_by_other_is_not_owner() {
    loom::model(|| {
        let l = Arc::new(ReentrantLock::<LoomThread>::new());
        l.acquire();
        let l2 = Arc::clone(&l);
        let t = thread::spawn(move || l2.release());
        assert_eq!(t.join().unwrap(), Err(ReleaseError::NotOwner));
        assert_eq!(l.depth(), 1);
        assert_eq!(l.release(), Ok(()));
    });
}

// ---------------------------------------------------------------------------------------
// The owner word (issue #11): the exact waiters bit, and owners that die.

/// Main holds the lock while two threads go to sleep on it; main releases. The woken
/// one must keep the waiters bit for the other (its release wakes it): forgetting it
/// (the mutant `lock_waiters_bit_dropped`) leaves the second sleeper asleep forever, a
/// loom deadlock.
#[test]
fn lock_two_sleepers_both_wake() {
    tally!(Here);
    loom::model(|| {
        let g = Arc::new(Guarded::new(Lock::<LoomFutex<Never, Here>>::new()));
        g.lock.acquire();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&g);
                thread::spawn(move || g.increment())
            })
            .collect();
        assert_eq!(g.lock.release(), Ok(()));
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(g.count(), 2);
        assert!(!g.lock.locked());
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
}

loom::lazy_static! {
    /// `wake_one` calls of [`CountingFutex`] in the current execution.
    static ref WAKES: AtomicU32 = AtomicU32::new(0);
    /// `wait` calls of [`CountingFutex`] in the current execution.
    static ref WAITS: AtomicU32 = AtomicU32::new(0);
}

/// [`LoomFutex`] that counts its `wake_one` calls in [`WAKES`] and its `wait` calls in
/// [`WAITS`] (`D`: the deadline type).
struct CountingFutex<D = Never>(core::marker::PhantomData<D>);

impl<D: conkit_core::wait::Deadline> WaitStrategy for CountingFutex<D> {
    type Deadline = D;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        WAITS.fetch_add(1, Ordering::SeqCst);
        LoomFutex::<D>::wait(word, expected, deadline)
    }

    fn wake_one(word: &WaitWord) {
        WAKES.fetch_add(1, Ordering::SeqCst);
        LoomFutex::<D>::wake_one(word);
    }

    fn wake_all(word: &WaitWord) {
        LoomFutex::<D>::wake_all(word);
    }
}

/// The exact "someone sleeps" bit: a thread that slept on the lock and then took it
/// releases it, when nobody else waits, without a wake call (issue #11: a waiter took
/// the lock "contended" and every later release of its made a futex call, ~176 000 for
/// 1 200 context switches). The mutant `lock_waiters_bit_sticky` is caught.
#[test]
fn lock_release_after_contention_makes_no_wake_call() {
    loom::model(|| {
        let l = Arc::new(Lock::<CountingFutex>::new());
        l.acquire();
        let waiter = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                l.acquire();
                // Nobody else waits for the lock now: this release must not wake anyone.
                assert_eq!(l.release(), Ok(()));
            })
        };
        // Wakes the waiter if it announced itself.
        assert_eq!(l.release(), Ok(()));
        waiter.join().unwrap();
        assert!(!l.locked());
        // Main's release may wake the waiter; the waiter's own release wakes nobody.
        assert!(WAKES.load(Ordering::SeqCst) <= 1, "a wake call for nobody");
    });
}

/// Only a thread that has slept takes the lock with the waiters bit (for the sleepers
/// that remain): a thread that never slept — a barger that found the lock held, then
/// free — takes it without the bit even while another thread is counted as a sleeper
/// (asleep, or woken and not yet running), since the woken thread is responsible for
/// those. Main holds the lock; a waiter announces itself (sets the bit) and sleeps;
/// another thread releases main's hold while main barges in with a passed deadline (it
/// looks once more after its first try and never announces itself). The waiter is the
/// only thread that sets the bit, once per wait call, so there are at most as many wake
/// calls as wait calls. The mutant `lock_barger_keeps_waiters` (the barger keeps the
/// bit because the woken waiter is still counted — the rule before; issue #11
/// lock-futex: at 4–16 threads on 2 cores nearly every futex call of `Lock` was such a
/// wake for nobody, or a failed sleep behind one) makes main's release a second wake
/// call for the one wait.
#[test]
fn lock_barger_that_never_slept_makes_no_wake_call() {
    loom::model(|| {
        let l = Arc::new(Lock::<CountingFutex<Expired>>::new());
        l.acquire();
        let waiter = {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                l.acquire();
                assert_eq!(l.release(), Ok(()));
            })
        };
        // Until the waiter has announced itself (set the bit): fewer preemptions needed.
        while !format!("{l:?}").contains("contended") {
            thread::yield_now();
        }
        // Main's hold is released by another thread (allowed, as with Python's `Lock`), so
        // that main can barge in right after it with one preemption.
        let releaser = {
            let l = Arc::clone(&l);
            thread::spawn(move || assert_eq!(l.release(), Ok(())))
        };
        if l.acquire_until(Expired) {
            assert_eq!(l.release(), Ok(()));
        }
        releaser.join().unwrap();
        waiter.join().unwrap();
        assert!(!l.locked());
        let (wakes, waits) = (WAKES.load(Ordering::SeqCst), WAITS.load(Ordering::SeqCst));
        assert!(wakes <= waits, "{wakes} wake calls for {waits} wait calls");
    });
}

loom::lazy_static! {
    /// The token of the owner that "died" in the current execution (0: none).
    static ref DEAD: AtomicU32 = AtomicU32::new(0);
}

loom::thread_local! {
    static TOKEN: u32 = NEXT_ID.fetch_add(1, StdOrdering::Relaxed) as u32;
}

/// A strategy whose owners can die: per-thread tokens, `owner_alive` is "not the one in
/// [`DEAD`]", every sleep is one slice that passes (after a yield), so a waiter probes
/// the owner after each.
struct Mortal;

impl WaitStrategy for Mortal {
    type Deadline = loom_common::Expired;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Self::Deadline>) -> WaitOutcome {
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        thread::yield_now();
        if deadline.is_some() {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Woken
        }
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn owner_token() -> u32 {
        TOKEN.with(|t| *t)
    }

    fn owner_alive(token: u32) -> bool {
        DEAD.load(Ordering::SeqCst) != token
    }

    fn sleep_slice(_: Option<Self::Deadline>, _: u32) -> Option<Self::Deadline> {
        Some(loom_common::Expired)
    }
}

/// The holder dies (its token is declared dead; it never releases); two waiters take
/// the lock one after the other: exactly one learns `OwnerDied`, and they never hold it
/// together (a takeover by a plain store, the mutant `lock_takeover_blind`, lets both
/// in: loom sees the unsynchronised accesses to the guarded cell, or two `OwnerDied`).
#[test]
fn lock_dead_owner_is_replaced_once() {
    loom::model(|| {
        let g = Arc::new(Guarded::new(Lock::<Mortal>::new()));
        g.lock.acquire();
        DEAD.store(Mortal::owner_token(), Ordering::SeqCst);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&g);
                thread::spawn(move || {
                    let how = g.lock.acquire_or_recover();
                    // SAFETY: we hold the lock; loom flags it if another thread can
                    // touch the cell.
                    g.count.with_mut(|p| unsafe { *p += 1 });
                    assert_eq!(g.lock.release(), Ok(()));
                    how
                })
            })
            .collect();
        let died = waiters
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|how| *how == Acquired::OwnerDied)
            .count();
        assert_eq!(died, 1);
        assert_eq!(g.count(), 2);
        assert!(!g.lock.locked());
    });
}
