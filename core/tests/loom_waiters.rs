//! Loom models of `conkit_core::wait::Waiters`, the event count under every blocking
//! primitive, with the exact futex model (`LoomFutex`: one `wake_one` wakes exactly one
//! sleeper). Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_waiters`.
//!
//! What they check: `notify_one` leaves the waking to a wake-up already in flight
//! (`PENDING`) and records that it did (`MORE`); whoever collects the flags — the woken
//! sleeper, a caller that was about to sleep, or a timed waiter that gave up — wakes
//! the others. A notify that is skipped and never relayed leaves a consumer asleep with
//! a token waiting for it: a loom deadlock.
#![cfg(loom)]

mod loom_common;

use conkit_core::wait::{Never, Waiters};
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::{bury_the_dead, doom_this_thread, LoomDyingFutex, LoomFutex, Soon, Tally};

/// Tokens handed from producers to consumers through one `Waiters` (a counting
/// semaphore made of an event count, as the queues use it: one item, one `notify_one`).
struct Tokens<W: conkit_core::wait::WaitStrategy> {
    count: AtomicU32,
    waiters: Waiters<W>,
}

impl<W: conkit_core::wait::WaitStrategy> Tokens<W> {
    fn new() -> Self {
        Self {
            count: AtomicU32::new(0),
            waiters: Waiters::new(),
        }
    }

    /// Takes a token if there is one (never waits).
    fn try_take(&self) -> Option<()> {
        self.count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| ())
    }

    fn give(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.waiters.notify_one();
    }

    fn take(&self) {
        self.waiters.wait(|| self.try_take());
    }

    fn take_until(&self, deadline: W::Deadline) -> bool {
        self.waiters
            .wait_until(Some(deadline), || self.try_take())
            .is_some()
    }
}

/// Two consumers, two producers, one token each: whichever notifies are skipped while
/// the first wake-up is in flight, both consumers get a token.
#[test]
fn notify_one_skipped_while_a_wake_is_in_flight_is_relayed() {
    tally!(Here);
    loom::model(|| {
        let t = Arc::new(Tokens::<LoomFutex<Never, Here>>::new());
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let t = Arc::clone(&t);
                thread::spawn(move || t.take())
            })
            .collect();
        let producer = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.give())
        };
        t.give();
        producer.join().unwrap();
        for c in consumers {
            c.join().unwrap();
        }
        assert_eq!(t.count.load(Ordering::SeqCst), 0);
        assert_eq!(t.waiters.sleepers(), 0);
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
}

/// One consumer takes two tokens in a row from one producer: a `PENDING` left by the
/// first wake-up (collected or not) never makes the second wait sleep through the
/// second token.
#[test]
fn one_consumer_waits_twice() {
    tally!(Here);
    loom::model(|| {
        let t = Arc::new(Tokens::<LoomFutex<Never, Here>>::new());
        let consumer = {
            let t = Arc::clone(&t);
            thread::spawn(move || {
                t.take();
                t.take();
            })
        };
        t.give();
        t.give();
        consumer.join().unwrap();
        assert_eq!(t.count.load(Ordering::SeqCst), 0);
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
}

/// A patient consumer and a timed one, two tokens: the timed consumer may take a
/// token, time out, or take the wake-up meant for the patient one and give up; in every
/// case the patient consumer gets a token, and no token is lost.
#[test]
fn timed_waiter_that_takes_the_wake_up_strands_nobody() {
    tally!(Here);
    loom::model(|| {
        let t = Arc::new(Tokens::<LoomFutex<Soon, Here>>::new());
        let patient = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.take())
        };
        let timed = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.take_until(Soon))
        };
        t.give();
        t.give();
        patient.join().unwrap();
        let got = u32::from(timed.join().unwrap());
        assert_eq!(t.count.load(Ordering::SeqCst), 1 - got);
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
    assert!(
        Here::counts().swallowed() > 0,
        "the swallowed-wake-up case was explored"
    );
}

/// Between processes (`PROCESS_SHARED`): two consumers asleep, one of which dies as
/// soon as it is woken (it takes its wake-up token with it and never re-checks), and
/// two tokens given with `notify_one`: the live consumer still gets a token (issue #11,
/// item 3). With the thread strategies' `wake_one` (mutant `waiters_shared_wake_one`)
/// the first wake-up may go to the dying consumer alone, its `PENDING` is never
/// collected, the second `notify_one` only sets `MORE`, and the live consumer sleeps
/// forever.
#[test]
fn shared_woken_consumer_dies_the_other_still_gets_a_token() {
    tally!(Here);
    loom::model(|| {
        let t = Arc::new(Tokens::<LoomDyingFutex<Never, Here>>::new());
        let doomed = {
            let t = Arc::clone(&t);
            thread::spawn(move || {
                doom_this_thread();
                t.take();
            })
        };
        let live = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.take())
        };
        t.give();
        t.give();
        live.join().unwrap();
        bury_the_dead();
        doomed.join().unwrap();
        assert_eq!(t.count.load(Ordering::SeqCst), 0);
    });
    assert!(Here::counts().slept() > 0, "the sleeping path ran");
}
