//! The futexes of the loom models that need real sleeping.
//!
//! `LoomPark<D>`: `wait` sleeps on a loom condvar while the word holds `expected`,
//! checked under the lock that `wake_*` takes, so a wake after the check cannot be
//! missed, and a sleeper never returns spuriously: a lost wake-up shows up as a loom
//! deadlock instead of being hidden by a spinning re-check. A deadline that has passed
//! makes `wait` return `TimedOut` without sleeping; with [`Expired`] every timed wait
//! gives up at whichever point of the interleaving first looks at its deadline, and
//! loom explores all of them.
#![allow(dead_code)]

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;

use conkit_core::wait::{Deadline, Never, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

loom::lazy_static! {
    static ref PARK: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
}

/// Waits (yielding to loom's other threads) until `flag` is raised.
pub fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        thread::yield_now();
    }
}

/// Sleeps until the word changes; wakes are implied by the change (a futex without
/// spurious wake-ups, and without the cost of `LoomPark`'s lock): a missing or lost
/// notification leaves a waiter spinning forever, which loom reports.
pub struct UntilChanged;

impl WaitStrategy for UntilChanged {
    type Deadline = Never;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, _deadline: Option<Never>) -> WaitOutcome {
        while word.load(Ordering::Acquire) == expected {
            thread::yield_now();
        }
        WaitOutcome::Woken
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}
}

/// A deadline that has always passed.
#[derive(Debug, Clone, Copy)]
pub struct Expired;

impl Deadline for Expired {
    fn has_passed(&self) -> bool {
        true
    }
}

/// A futex emulated with a loom mutex + condvar (see the module docs); `D` is the
/// deadline type (`Never`: untimed waits only).
pub struct LoomPark<D = Never>(PhantomData<D>);

impl<D: Deadline> WaitStrategy for LoomPark<D> {
    type Deadline = D;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        if deadline.is_some_and(|d| d.has_passed()) {
            return WaitOutcome::TimedOut;
        }
        let (lock, cv) = &*PARK;
        let mut guard = lock.lock().unwrap();
        while word.load(Ordering::SeqCst) == expected {
            guard = cv.wait(guard).unwrap();
        }
        WaitOutcome::Woken
    }

    fn wake_one(_word: &WaitWord) {
        let (lock, cv) = &*PARK;
        let _guard = lock.lock().unwrap();
        cv.notify_all();
    }

    fn wake_all(word: &WaitWord) {
        Self::wake_one(word);
    }
}

// ---------------------------------------------------------------------------------------
// `LoomFutex`, the exact futex model of `loom_lock` and `loom_waiters`: `wait` sleeps
// until a later `wake_*` hands it a token; `wake_one` hands out exactly one token (if
// someone sleeps without one), so a protocol that relies on waking more than one sleeper
// per `wake_one` deadlocks. A timed wait may, at a point loom chooses, time out; the
// adversarial case — it consumed a wake-up meant for another sleeper and still reports
// `TimedOut` — is allowed by the contract and modelled. One futex for the whole model:
// use it where a single word is waited on.

pub struct FutexState {
    pub sleepers: u32,
    pub tokens: u32,
}

loom::lazy_static! {
    /// The one futex of a model: its sleepers and undelivered wake-ups.
    pub static ref FUTEX: (Mutex<FutexState>, Condvar) =
        (Mutex::new(FutexState { sleepers: 0, tokens: 0 }), Condvar::new());
}

loom::thread_local! {
    /// Whether this thread's timed wait has timed out (then its deadline has passed).
    static EXPIRED: AtomicBool = AtomicBool::new(false);
}

/// What a model's futex did, over all the executions loom explored: how many real
/// sleeps, and how many timed waits gave up after consuming a wake-up.
#[derive(Debug)]
pub struct Counts {
    pub slept: StdAtomicUsize,
    pub swallowed: StdAtomicUsize,
}

impl Counts {
    pub const fn new() -> Self {
        Self {
            slept: StdAtomicUsize::new(0),
            swallowed: StdAtomicUsize::new(0),
        }
    }

    pub fn slept(&self) -> usize {
        self.slept.load(StdOrdering::Relaxed)
    }

    pub fn swallowed(&self) -> usize {
        self.swallowed.load(StdOrdering::Relaxed)
    }
}

/// Where a [`LoomFutex`] counts: a test that asserts on the counts (e.g. "the sleeping
/// path ran") declares its own with [`tally!`], so the sleeps of the other tests of the
/// binary, which run at the same time, never count for it.
pub trait Tally: 'static {
    fn counts() -> &'static Counts;
}

/// The tally of the models that do not look at their counts.
pub struct NoTally;

impl Tally for NoTally {
    fn counts() -> &'static Counts {
        static COUNTS: Counts = Counts::new();
        &COUNTS
    }
}

/// `tally!(Name)`: a [`Tally`] of its own for one test.
#[macro_export]
macro_rules! tally {
    ($name:ident) => {
        struct $name;
        impl $crate::loom_common::Tally for $name {
            fn counts() -> &'static $crate::loom_common::Counts {
                static COUNTS: $crate::loom_common::Counts = $crate::loom_common::Counts::new();
                &COUNTS
            }
        }
    };
}

/// A deadline that passes when the thread's timed wait times out.
#[derive(Clone, Copy, Debug)]
pub struct Soon;

impl Deadline for Soon {
    fn has_passed(&self) -> bool {
        EXPIRED.with(|e| e.load(Ordering::Relaxed))
    }
}

/// The exact futex model (see above), counting in `T`.
pub struct LoomFutex<D, T = NoTally>(core::marker::PhantomData<(D, T)>);

impl<D: Deadline, T: Tally> WaitStrategy for LoomFutex<D, T> {
    type Deadline = D;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        let (m, cv) = &*FUTEX;
        let mut s = m.lock().unwrap();
        // Checked under the futex lock, which every waker takes after changing the word.
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        T::counts().slept.fetch_add(1, StdOrdering::Relaxed);
        s.sleepers += 1;
        if deadline.is_some() {
            // Give wakers a chance to run while we "sleep", then time out.
            drop(s);
            thread::yield_now();
            let mut s = m.lock().unwrap();
            s.sleepers -= 1;
            if s.tokens > 0 {
                // Worst case: we take a wake-up and still report a timeout.
                s.tokens -= 1;
                T::counts().swallowed.fetch_add(1, StdOrdering::Relaxed);
            }
            EXPIRED.with(|e| e.store(true, Ordering::Relaxed));
            return WaitOutcome::TimedOut;
        }
        while s.tokens == 0 {
            s = cv.wait(s).unwrap();
        }
        s.tokens -= 1;
        s.sleepers -= 1;
        WaitOutcome::Woken
    }

    fn wake_one(_word: &WaitWord) {
        let (m, cv) = &*FUTEX;
        let mut s = m.lock().unwrap();
        if s.tokens < s.sleepers {
            s.tokens += 1;
        }
        cv.notify_all();
    }

    fn wake_all(_word: &WaitWord) {
        let (m, cv) = &*FUTEX;
        let mut s = m.lock().unwrap();
        s.tokens = s.sleepers;
        cv.notify_all();
    }
}

// ---------------------------------------------------------------------------------------
// `LoomDyingFutex`: the exact futex model of `LoomFutex`, declared process-shared
// (`PROCESS_SHARED = true`), in which a thread marked doomed (`doom_this_thread`) "dies"
// the moment it is woken: it has taken its wake-up token and then stops, still counted
// by the primitive, until the model's main thread has checked what it needs to and
// calls `bury_the_dead` (loom requires every thread to end; until then the doomed
// thread is as good as killed: it changes nothing and never re-checks). A protocol that
// hands a wake-up to one sleeper alone, or that needs the woken sleeper to collect a
// flag, leaves the live sleepers asleep: a loom deadlock.

loom::lazy_static! {
    /// Set by `bury_the_dead`: the doomed threads may go on (after the checks).
    static ref BURIED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
}

loom::thread_local! {
    static DOOMED: AtomicBool = AtomicBool::new(false);
}

/// Marks the calling thread: it dies the first time it is woken from a sleep.
pub fn doom_this_thread() {
    DOOMED.with(|d| d.store(true, Ordering::Relaxed));
}

/// Lets the doomed threads end (call after the model's checks, before joining them).
pub fn bury_the_dead() {
    let (m, cv) = &*BURIED;
    *m.lock().unwrap() = true;
    cv.notify_all();
}

/// The exact futex model, process-shared, whose doomed threads die when woken.
pub struct LoomDyingFutex<D, T = NoTally>(core::marker::PhantomData<(D, T)>);

impl<D: Deadline, T: Tally> WaitStrategy for LoomDyingFutex<D, T> {
    type Deadline = D;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<D>) -> WaitOutcome {
        let outcome = LoomFutex::<D, T>::wait(word, expected, deadline);
        if DOOMED.with(|d| d.load(Ordering::Relaxed)) {
            // Killed just after being woken: nothing more until the checks are done.
            let (m, cv) = &*BURIED;
            let mut buried = m.lock().unwrap();
            while !*buried {
                buried = cv.wait(buried).unwrap();
            }
        }
        outcome
    }

    fn wake_one(word: &WaitWord) {
        LoomFutex::<D, T>::wake_one(word);
    }

    fn wake_all(word: &WaitWord) {
        LoomFutex::<D, T>::wake_all(word);
    }
}
