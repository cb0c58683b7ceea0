//! The futex of the loom models that need real sleeping (shared by `loom_sync` and
//! `loom_condvar_barrier`).
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

use loom::sync::atomic::Ordering;
use loom::sync::{Condvar, Mutex};

use conkit_core::wait::{Deadline, Never, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

loom::lazy_static! {
    static ref PARK: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
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
