//! Loom models of the release rule of `Event` and `EventFlags`: a waiter that a `set`
//! satisfied returns even if the bits are cleared before it runs (CPython gh-57711;
//! FreeRTOS event groups release waiters at `set` time), and a waiter is never released
//! by a state that did not exist while it waited.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_event`.
//!
//! The blocking paths use `LoomPark` (a sleeper really sleeps until a `wake_*`, no
//! spurious returns): a waiter that misses its `set` sleeps forever, a loom deadlock.
//! "A waiter present at the `set`" is modelled exactly: the waiter's strategy
//! (`Announced`) raises a flag as it goes to sleep, and the thread that sets waits for
//! that flag first (a waiter that has not looked yet may legitimately miss a
//! `set(); clear()` pair: its wait begins after it).
//! The models are run by `cargo xtask test` against two broken variants too (cfg
//! `conkit_mutant`): `event_no_generation` (a woken `Event` waiter only looks at the
//! live flag) and `event_flags_no_history` (a woken `EventFlags` waiter only looks at the
//! live flags); each must make a model here fail.
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::event::Event;
use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
use conkit_core::wait::{Never, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use loom_common::{Expired, LoomPark};

loom::lazy_static! {
    /// Raised when a waiter of the model goes to sleep (reset for every execution).
    static ref ASLEEP: AtomicBool = AtomicBool::new(false);
}

/// `LoomPark` that raises [`ASLEEP`] as the caller goes to sleep.
struct Announced;

impl WaitStrategy for Announced {
    type Deadline = Never;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Never>) -> WaitOutcome {
        ASLEEP.store(true, Ordering::SeqCst);
        LoomPark::<Never>::wait(word, expected, deadline)
    }

    fn wake_one(word: &WaitWord) {
        LoomPark::<Never>::wake_one(word);
    }

    fn wake_all(word: &WaitWord) {
        LoomPark::<Never>::wake_all(word);
    }
}

/// Waits until a waiter of the model is asleep.
fn until_asleep() {
    while !ASLEEP.load(Ordering::SeqCst) {
        thread::yield_now();
    }
}

/// `Event`: `set(); clear()` while a thread waits; the waiter always returns.
#[test]
fn event_set_then_clear_releases_waiter() {
    loom::model(|| {
        let e = Arc::new(Event::<Announced>::new());
        let waiter = {
            let e = e.clone();
            thread::spawn(move || e.wait())
        };
        until_asleep();
        e.set();
        e.clear();
        waiter.join().unwrap();
        assert!(!e.is_set());
    });
}

/// `Event`: a timed waiter that gives up at any point reports `true` only if a `set`
/// happened after it started, never for one that it could not have seen.
#[test]
fn event_timed_waiter_never_released_by_an_earlier_set() {
    loom::model(|| {
        let e = Arc::new(Event::<LoomPark<Expired>>::new());
        e.set();
        e.clear();
        let waiter = {
            let e = e.clone();
            thread::spawn(move || e.wait_until(Expired))
        };
        e.clear();
        assert!(
            !waiter.join().unwrap(),
            "released by the set before it looked"
        );
    });
}

/// `EventFlags`: `set(); clear()` of the waited bits while a wait-all sleeps.
#[test]
fn flags_set_then_clear_releases_waiter() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<Announced>::new());
        let waiter = {
            let f = f.clone();
            thread::spawn(move || f.wait(0b11, WaitFlags::ALL))
        };
        until_asleep();
        f.set(0b11);
        f.clear(0b11);
        assert_eq!(waiter.join().unwrap(), Ok(0b11));
        assert_eq!(f.get(), 0);
    });
}

/// `EventFlags`: a clear-on-exit waiter consumes the bit; a plain waiter for the same
/// bit, asleep at the `set`, still returns.
#[test]
fn flags_consumer_and_plain_waiter_both_return() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<Announced>::new());
        let plain = {
            let f = f.clone();
            thread::spawn(move || f.wait(0b1, WaitFlags::ANY))
        };
        until_asleep();
        let consumer = {
            let f = f.clone();
            thread::spawn(move || f.wait(0b1, WaitFlags::ANY_CLEAR))
        };
        f.set(0b1);
        assert_eq!(consumer.join().unwrap(), Ok(0b1));
        assert_eq!(plain.join().unwrap(), Ok(0b1));
        assert_eq!(f.get(), 0);
    });
}

/// `EventFlags`: an unrelated removal races with the waiter taking its baseline
/// (possibly in flight then), and `set(); clear()` of the waiter's bit follows once it
/// sleeps: the waiter returns.
#[test]
fn flags_release_with_a_removal_racing_the_baseline() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<Announced>::with_flags(0b10));
        let waiter = {
            let f = f.clone();
            thread::spawn(move || f.wait(0b1, WaitFlags::ANY))
        };
        let other = {
            let f = f.clone();
            thread::spawn(move || f.clear(0b10))
        };
        until_asleep();
        f.set(0b1);
        f.clear(0b1);
        other.join().unwrap();
        assert_eq!(waiter.join().unwrap().map(|v| v & 0b1), Ok(0b1));
        assert_eq!(f.get(), 0);
    });
}

/// `EventFlags`: `set(); clear()` races with a waiter's whole wait (no gate): whatever
/// the interleaving, a waiter that returns saw its bit, and one released by the pair
/// leaves nothing behind. (A waiter that looked after the pair would sleep until the
/// final `set`, which every execution performs.)
#[test]
fn flags_set_clear_racing_the_wait_then_final_set() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<LoomPark>::new());
        let waiter = {
            let f = f.clone();
            thread::spawn(move || f.wait(0b1, WaitFlags::ANY))
        };
        f.set(0b1);
        f.clear(0b1);
        f.set(0b1);
        assert_eq!(waiter.join().unwrap(), Ok(0b1));
    });
}

/// `EventFlags`: soundness. The bits of a wait-all are set and cleared one at a time,
/// never together: a timed wait-all that gives up at any point never returns `Ok`.
#[test]
fn flags_wait_all_never_released_by_bits_not_set_together() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<LoomPark<Expired>>::new());
        let waiter = {
            let f = f.clone();
            thread::spawn(move || f.wait_until(0b11, WaitFlags::ALL, Expired))
        };
        f.set(0b01);
        f.clear(0b01);
        f.set(0b10);
        f.clear(0b10);
        assert_eq!(waiter.join().unwrap(), Err(FlagsError::Timeout));
    });
}
