//! `Waiters` with a strategy that counts its calls: how many wake-up calls reach the
//! strategy while a woken sleeper has not run yet.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::wait::{Never, WaitOutcome, WaitStrategy, Waiters};
use conkit_core::WaitWord;

static LOCK: Mutex<()> = Mutex::new(());
static CV: Condvar = Condvar::new();
/// While closed, a sleeper stays asleep even after a wake-up (a thread the OS has not
/// scheduled yet).
static GATE_OPEN: AtomicBool = AtomicBool::new(false);
static ASLEEP: AtomicUsize = AtomicUsize::new(0);
static WAKE_ONE_CALLS: AtomicUsize = AtomicUsize::new(0);
static WAKE_ALL_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A futex stand-in that counts wake calls and holds its sleepers until `GATE_OPEN`.
struct Gated;

impl WaitStrategy for Gated {
    type Deadline = Never;
    type SlotOwner = conkit_core::wait::Unrecorded;
    const RELAX_ROUNDS: u32 = 0;

    fn wait(word: &WaitWord, expected: u32, _deadline: Option<Never>) -> WaitOutcome {
        let mut guard = LOCK.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        ASLEEP.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        while word.load(Ordering::SeqCst) == expected || !GATE_OPEN.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(30), "lost wake-up");
            guard = CV.wait_timeout(guard, Duration::from_millis(10)).unwrap().0;
        }
        ASLEEP.fetch_sub(1, Ordering::SeqCst);
        WaitOutcome::Woken
    }

    fn wake_one(_word: &WaitWord) {
        WAKE_ONE_CALLS.fetch_add(1, Ordering::SeqCst);
        let _guard = LOCK.lock().unwrap();
        CV.notify_all();
    }

    fn wake_all(_word: &WaitWord) {
        WAKE_ALL_CALLS.fetch_add(1, Ordering::SeqCst);
        let _guard = LOCK.lock().unwrap();
        CV.notify_all();
    }
}

fn take(tokens: &AtomicU32) -> Option<()> {
    tokens
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .ok()
        .map(|_| ())
}

/// Regression: a producer putting items while the consumer it woke had not run yet made
/// one wake-up system call per item (2 000–19 000 futex calls per million items between
/// the two threads of a `queue::Queue`). Now the first `notify_one` wakes, the next 99 only
/// record that they came, and the woken sleeper passes that on when it leaves (one
/// `wake_all`, which finds nobody else asleep here).
#[test]
fn notify_one_while_a_wake_up_is_in_flight_makes_no_more_wake_calls() {
    let waiters: Waiters<Gated> = Waiters::new();
    let tokens = AtomicU32::new(0);
    thread::scope(|s| {
        let consumer = s.spawn(|| waiters.wait(|| take(&tokens)));
        let start = Instant::now();
        while ASLEEP.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(30), "never slept");
            thread::yield_now();
        }
        for _ in 0..100 {
            tokens.fetch_add(1, Ordering::SeqCst);
            waiters.notify_one();
        }
        assert_eq!(
            WAKE_ONE_CALLS.load(Ordering::SeqCst),
            1,
            "one wake-up in flight"
        );
        assert_eq!(WAKE_ALL_CALLS.load(Ordering::SeqCst), 0);
        GATE_OPEN.store(true, Ordering::SeqCst);
        {
            let _guard = LOCK.lock().unwrap();
            CV.notify_all();
        }
        consumer.join().unwrap();
    });
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        99,
        "the consumer took one token"
    );
    assert_eq!(waiters.sleepers(), 0);
    // The skipped notifies were passed on once; with nobody asleep a later notify makes
    // no call at all.
    let (one, all) = (
        WAKE_ONE_CALLS.load(Ordering::SeqCst),
        WAKE_ALL_CALLS.load(Ordering::SeqCst),
    );
    waiters.notify_one();
    waiters.notify_all();
    assert_eq!(WAKE_ONE_CALLS.load(Ordering::SeqCst), one);
    assert_eq!(WAKE_ALL_CALLS.load(Ordering::SeqCst), all);
    assert!(one + all <= 2);
}
