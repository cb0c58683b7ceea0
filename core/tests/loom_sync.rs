//! Loom models of the semaphore, event flags and event.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_sync`.
//!
//! The blocking paths use `LoomPark`, a futex emulated with a loom mutex + condvar:
//! a sleeper really sleeps until a `wake_*` (no spurious returns), so a lost wake-up
//! shows up as a loom deadlock instead of being hidden by a spinning re-check.
#![cfg(loom)]

mod loom_common;

use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use conkit_core::event::Event;
use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
use conkit_core::semaphore::{BoundedSemaphore, Semaphore};
use loom_common::LoomPark;

/// Two threads take turns in a `Semaphore(1)`: never both inside, the permit comes
/// back, and the one that blocks is woken by the other's release.
#[test]
fn semaphore_never_over_admits() {
    loom::model(|| {
        let s = Arc::new(Semaphore::<LoomPark>::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (s, inside) = (s.clone(), inside.clone());
            thread::spawn(move || {
                s.acquire();
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "over-admitted");
                inside.fetch_sub(1, Ordering::SeqCst);
                s.release().unwrap();
            })
        };
        s.acquire();
        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "over-admitted");
        inside.fetch_sub(1, Ordering::SeqCst);
        s.release().unwrap();
        worker.join().unwrap();
        assert_eq!(s.value(), 1);
    });
}

/// A two-permit waiter and a releaser giving the permits one at a time from two
/// places: the waiter gets both exactly when both are there; a bounded semaphore
/// refuses the extra release without changing the count.
#[test]
fn semaphore_acquire_many_and_bound() {
    loom::model(|| {
        let s = Arc::new(BoundedSemaphore::<LoomPark>::new(2));
        s.acquire_many(2);
        let releaser = {
            let s = s.clone();
            thread::spawn(move || {
                s.release().unwrap();
            })
        };
        s.release().unwrap();
        s.acquire_many(2);
        releaser.join().unwrap();
        assert_eq!(s.value(), 0);
        s.release_many(2).unwrap();
        assert!(s.release().is_err());
        assert_eq!(s.value(), 2);
    });
}

/// A setter and two clear-on-exit consumers (non-blocking) race for one bit: at most
/// one consumer gets it, and if none did it is still set.
#[test]
fn event_flags_clear_on_exit_single_consumer() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<LoomPark>::new());
        let got = Arc::new(AtomicU32::new(0));
        let setter = {
            let f = f.clone();
            thread::spawn(move || {
                f.set(0b1);
            })
        };
        let consumer = {
            let (f, got) = (f.clone(), got.clone());
            thread::spawn(move || {
                if f.try_wait(0b1, WaitFlags::ANY_CLEAR).is_ok() {
                    got.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        match f.try_wait(0b1, WaitFlags::ANY_CLEAR) {
            Ok(v) => {
                assert_eq!(v & 1, 1);
                got.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => assert_eq!(e, FlagsError::WouldBlock),
        }
        setter.join().unwrap();
        consumer.join().unwrap();
        let got = got.load(Ordering::SeqCst);
        assert!(got <= 1, "one set consumed {got} times");
        assert_eq!(got + (f.get() & 1), 1, "the bit was lost or duplicated");
    });
}

/// A blocking clear-on-exit waiter against a setter: the waiter always wakes (no lost
/// wake-up), returns the bit, and leaves the flags clear.
#[test]
fn event_flags_set_wakes_blocking_waiter() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<LoomPark>::new());
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set(0b10))
        };
        assert_eq!(f.wait(0b110, WaitFlags::ANY_CLEAR), Ok(0b10));
        assert_eq!(setter.join().unwrap(), 0b10);
        assert_eq!(f.get(), 0);
    });
}

/// `Event`: set on one thread, wait on the other; the waiter never sleeps through the
/// set.
#[test]
fn event_set_wait_no_lost_wakeup() {
    loom::model(|| {
        let e = Arc::new(Event::<LoomPark>::new());
        let setter = {
            let e = e.clone();
            thread::spawn(move || e.set())
        };
        e.wait();
        assert!(e.is_set());
        setter.join().unwrap();
    });
}

/// `sync` rendezvous of two parties: both return with the whole mask seen, whoever
/// arrives last, and the mask is cleared for the next round.
#[test]
fn event_flags_sync_two_parties() {
    loom::model(|| {
        let f = Arc::new(EventFlags::<LoomPark>::new());
        let other = {
            let f = f.clone();
            thread::spawn(move || f.sync(0b01, 0b11))
        };
        assert_eq!(f.sync(0b10, 0b11).map(|v| v & 0b11), Ok(0b11));
        assert_eq!(other.join().unwrap().map(|v| v & 0b11), Ok(0b11));
        assert_eq!(f.get(), 0);
    });
}
