//! Loom models of the condition variable and the barrier.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_condvar_barrier`.
//!
//! The blocking paths use `LoomPark`, a futex emulated with a loom mutex + condvar: a
//! sleeper really sleeps until a `wake_*` (no spurious returns), so a lost wake-up shows
//! up as a loom deadlock. Its deadline type `Expired` has always passed, so a timed wait
//! gives up at whichever point of the interleaving it first looks at the deadline:
//! loom explores all of them.
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::condvar::Condvar;
use conkit_core::lock::Lock;
use loom_common::Expired;

/// Timed waits in these models always find their deadline passed.
type LoomPark = loom_common::LoomPark<Expired>;

/// A condition guarded by a lock: the flag, the lock and the condition variable.
struct Cond {
    lock: Lock<LoomPark>,
    cv: Condvar<LoomPark>,
    flag: AtomicBool,
}

impl Cond {
    fn new() -> Self {
        Self {
            lock: Lock::new(),
            cv: Condvar::new(),
            flag: AtomicBool::new(false),
        }
    }

    /// The textbook waiter: under the lock, wait until the flag is set.
    fn wait_for_flag(&self) {
        self.lock.acquire();
        while !self.flag.load(Ordering::Relaxed) {
            self.cv.wait_lock(&self.lock).unwrap();
        }
        self.lock.release().unwrap();
    }

    /// Under the lock: set the flag, notify one; returns how many were woken.
    fn set_and_notify(&self) -> u32 {
        self.lock.acquire();
        self.flag.store(true, Ordering::Relaxed);
        let n = self.cv.notify(1);
        self.lock.release().unwrap();
        n
    }
}

/// One waiter, one notifier: the waiter always wakes (a lost wake-up would be a loom
/// deadlock), and the notify counted it iff it was asleep.
#[test]
fn condvar_notify_one_no_lost_wakeup() {
    loom::model(|| {
        let c = Arc::new(Cond::new());
        let waiter = {
            let c = c.clone();
            thread::spawn(move || c.wait_for_flag())
        };
        let woken = c.set_and_notify();
        assert!(woken <= 1);
        waiter.join().unwrap();
        assert_eq!(c.cv.waiters(), 0);
    });
}

/// A waiter that times out, racing with a notify(1), next to an untimed waiter: the
/// notify's count equals the number of waits that reported "notified", and if the
/// timed waiter was not notified the untimed one is (else: loom deadlock). If the timed
/// waiter took the notify (it was still asleep when it came), the notifier passes it on.
#[test]
fn condvar_timed_out_waiter_does_not_absorb_notify() {
    loom::model(|| {
        let c = Arc::new(Cond::new());
        let timed_notified = Arc::new(AtomicU32::new(0));
        let timed = {
            let (c, timed_notified) = (c.clone(), timed_notified.clone());
            thread::spawn(move || {
                c.lock.acquire();
                if c.cv.wait_lock_until(&c.lock, Some(Expired)) == Ok(true) {
                    timed_notified.store(1, Ordering::SeqCst);
                }
                c.lock.release().unwrap();
            })
        };
        let untimed = {
            let c = c.clone();
            thread::spawn(move || c.wait_for_flag())
        };
        let mut counted = c.set_and_notify();
        timed.join().unwrap();
        if timed_notified.load(Ordering::SeqCst) == 1 {
            c.lock.acquire();
            counted += c.cv.notify(1);
            c.lock.release().unwrap();
        }
        untimed.join().unwrap();
        assert!(counted >= timed_notified.load(Ordering::SeqCst));
        assert_eq!(c.cv.waiters(), 0, "no token left behind");
    });
}

/// A waiter that has fully timed out leaves nothing behind: a later notify(1) goes to
/// the waiter that is still asleep.
#[test]
fn condvar_timeout_then_notify_reaches_sleeper() {
    loom::model(|| {
        let c = Arc::new(Cond::new());
        let sleeper = {
            let c = c.clone();
            thread::spawn(move || c.wait_for_flag())
        };
        c.lock.acquire();
        assert_eq!(c.cv.wait_lock_until(&c.lock, Some(Expired)), Ok(false));
        c.lock.release().unwrap();
        c.set_and_notify();
        sleeper.join().unwrap();
    });
}

/// A wait whose lock release fails (the lock is not held) racing with a notify (also
/// without the lock, breaking the rule): neither hangs, and the notifier never runs
/// `head` past `tail` (regressions: the semaphore hand-shake of the earlier algorithm
/// hung here; the ticket queue once read a stale `tail` and ran past it).
#[test]
fn condvar_failed_release_racing_notify_does_not_hang() {
    loom::model(|| {
        let c = Arc::new(Cond::new());
        let notifier = {
            let c = c.clone();
            thread::spawn(move || c.cv.notify(1))
        };
        assert!(c.cv.wait_lock(&c.lock).is_err());
        assert!(notifier.join().unwrap() <= 1);
        assert_eq!(c.cv.waiters(), 0);
    });
}

/// Two parties: both return, with indices 0 and 1, the action ran once; then a second
/// round on the same barrier.
#[test]
fn barrier_two_parties_two_rounds() {
    loom::model(|| {
        let b = Arc::new(Barrier::<LoomPark>::new(2));
        let actions = Arc::new(AtomicU32::new(0));
        let other = {
            let (b, actions) = (b.clone(), actions.clone());
            thread::spawn(move || {
                let act = || {
                    actions.fetch_add(1, Ordering::SeqCst);
                    true
                };
                (b.wait(act).unwrap(), b.wait(act).unwrap())
            })
        };
        let act = || {
            actions.fetch_add(1, Ordering::SeqCst);
            true
        };
        let mine = (b.wait(act).unwrap(), b.wait(act).unwrap());
        let theirs = other.join().unwrap();
        assert_eq!(mine.0 + theirs.0, 1);
        assert_eq!(mine.1 + theirs.1, 1);
        assert_eq!(actions.load(Ordering::SeqCst), 2);
        assert_eq!(b.n_waiting(), 0);
    });
}

/// Three parties, one round: distinct indices.
#[test]
fn barrier_three_parties() {
    loom::model(|| {
        let b = Arc::new(Barrier::<LoomPark>::new(3));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait(|| true).unwrap())
            })
            .collect();
        let mut mask = 1u32 << b.wait(|| true).unwrap();
        for h in hs {
            mask |= 1 << h.join().unwrap();
        }
        assert_eq!(mask, 0b111);
    });
}

/// Two of three parties wait while a third thread aborts: both get `BrokenBarrier`
/// (never hang), then a reset makes the barrier usable again.
#[test]
fn barrier_abort_breaks_waiters() {
    loom::model(|| {
        let b = Arc::new(Barrier::<LoomPark>::new(3));
        let waiter = {
            let b = b.clone();
            thread::spawn(move || b.wait(|| true))
        };
        let aborter = {
            let b = b.clone();
            thread::spawn(move || b.abort())
        };
        assert_eq!(b.wait(|| true), Err(BrokenBarrier));
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrier));
        aborter.join().unwrap();
        assert!(b.broken());
        b.reset();
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
    });
}

/// A party whose deadline passes breaks the barrier for the other party, unless the
/// other arrived first and completed the round.
#[test]
fn barrier_deadline_breaks_or_completes() {
    loom::model(|| {
        let b = Arc::new(Barrier::<LoomPark>::new(2));
        let other = {
            let b = b.clone();
            thread::spawn(move || b.wait(|| true))
        };
        let mine = b.wait_until(Some(Expired), || true);
        let theirs = other.join().unwrap();
        match (mine, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a + b, 1),
            (Err(BrokenBarrier), Err(BrokenBarrier)) => {}
            outcome => panic!("parties disagree: {outcome:?}"),
        }
    });
}
