//! The dead-peer rules of the shared primitives, within one process (miri runs them):
//! a strategy whose participants can be declared dead (`Mortal`: process-shared, a
//! token per thread, `owner_alive` is "not in `DEAD`", every sleep one slice that ends
//! at once) stands in for `SharedFutex` and `SIGKILL`. A blocked SPSC or byte-ring side
//! whose peer is declared dead gets `Disconnected` without a deadline (after the items
//! the peer published), and barrier parties waiting without a deadline get
//! `BrokenBarrier` when an arrived party is declared dead; `reset` then makes the
//! barrier usable again. The cross-process proof (real `fork`, `MAP_SHARED`, `SIGKILL`)
//! is `conkit-tests`' `processes_rings` and `processes_wedge`.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::byte_ring::{ByteRing, GrantError, RecvError};
use conkit_core::spsc::{PopError, PushError, SpscRing};
use conkit_core::wait::{WaitOutcome, WaitStrategy, Waiters};
use conkit_core::WaitWord;

/// Tokens declared dead.
static DEAD: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static NEXT: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static TOKEN: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
}

/// The calling thread's token, declared dead.
fn die() {
    DEAD.lock().unwrap().push(Mortal::owner_token());
}

struct Mortal;

impl WaitStrategy for Mortal {
    type Deadline = Instant;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        thread::yield_now();
        match deadline {
            Some(d) if Instant::now() >= d => WaitOutcome::TimedOut,
            _ => WaitOutcome::Woken,
        }
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn owner_token() -> u32 {
        TOKEN.with(|t| *t)
    }

    fn process_token() -> u32 {
        Self::owner_token()
    }

    fn owner_alive(token: u32) -> bool {
        !DEAD.lock().unwrap().contains(&token)
    }

    fn sleep_slice(_: Option<Instant>, _: u32) -> Option<Instant> {
        Some(Instant::now())
    }
}

#[test]
fn spsc_consumer_declared_dead_disconnects_a_blocked_producer() {
    let ring: SpscRing<u64, 2, Mortal> = SpscRing::new();
    let mut tx = ring.claim_producer().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let mut rx = ring.claim_consumer().unwrap();
            assert_eq!(rx.pop(), Ok(1));
            die();
            // Its handle is never dropped (as in a killed process).
            std::mem::forget(rx);
        });
        tx.push(1).unwrap();
    });
    tx.push(2).unwrap();
    tx.push(3).unwrap();
    // Full, consumer dead: no deadline, yet it returns.
    assert_eq!(tx.push(4), Err(PushError::Disconnected(4)));
    assert!(tx.is_abandoned());
}

#[test]
fn spsc_producer_declared_dead_disconnects_after_its_items() {
    let ring: SpscRing<u64, 4, Mortal> = SpscRing::new();
    let mut rx = ring.claim_consumer().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.claim_producer().unwrap();
            for i in 0..3 {
                tx.push(i).unwrap();
            }
            die();
            std::mem::forget(tx);
        });
    });
    for i in 0..3 {
        assert_eq!(rx.pop(), Ok(i), "published items first");
    }
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
    assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
}

#[test]
fn byte_ring_dead_sides_disconnect_blocked_peers() {
    // Consumer dead: a producer blocked on the full ring.
    let ring: ByteRing<8, Mortal> = ByteRing::new(); // 64 bytes, messages up to 24
    let mut tx = ring.claim_producer().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let rx = ring.claim_consumer().unwrap();
            die();
            std::mem::forget(rx);
        });
    });
    // Two 32-byte frames fill it.
    tx.send(&[1; 24]).unwrap();
    tx.send(&[1; 24]).unwrap();
    assert_eq!(tx.send_until(&[2; 24], None), Err(GrantError::Disconnected));
    assert!(matches!(
        tx.grant_until(24, None),
        Err(GrantError::Disconnected)
    ));

    // Producer dead: a consumer reads what it published, then `Disconnected`.
    let ring: ByteRing<8, Mortal> = ByteRing::new();
    let mut rx = ring.claim_consumer().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.claim_producer().unwrap();
            tx.send(b"last words").unwrap();
            die();
            std::mem::forget(tx);
        });
    });
    let mut buf = [0u8; 24];
    assert_eq!(rx.recv_until(&mut buf, None), Ok(10));
    assert_eq!(&buf[..10], b"last words");
    assert!(matches!(rx.read_until(None), Err(RecvError::Disconnected)));
    assert!(rx.is_abandoned());
}

#[test]
fn barrier_party_declared_dead_breaks_unbounded_waiters() {
    let b: Barrier<Mortal> = Barrier::new(3);
    let first = AtomicU32::new(0);
    thread::scope(|s| {
        let arrived = s.spawn(|| {
            first.store(Mortal::owner_token(), Ordering::SeqCst);
            // Arrives and waits; then it is declared dead while it waits (a live
            // thread the barrier takes for dead: uncounted once, never twice).
            b.wait(|| true)
        });
        while b.n_waiting() == 0 {
            thread::yield_now();
        }
        let waiting = s.spawn(|| b.wait(|| true));
        while b.n_waiting() < 2 {
            thread::yield_now();
        }
        DEAD.lock().unwrap().push(first.load(Ordering::SeqCst));
        // Neither has a deadline; the probe breaks the barrier for both.
        assert_eq!(waiting.join().unwrap(), Err(BrokenBarrier));
        assert_eq!(arrived.join().unwrap(), Err(BrokenBarrier));
    });
    assert!(b.broken());
    b.reset();
    assert!(
        !b.broken(),
        "every party left or was buried: the reset empties it"
    );
    thread::scope(|s| {
        let parties: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait(|| true))).collect();
        let mut got: Vec<u32> = parties
            .into_iter()
            .map(|p| p.join().unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2], "a full round after the reset");
    });
}

/// [`Mortal`] whose every sleep is ended by a wake-up (a stream of notifies from live
/// peers, or wake-ups meant for other sleepers): no slice ever passes unwoken.
struct Restless;

impl WaitStrategy for Restless {
    type Deadline = Instant;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(_: &WaitWord, _: u32, _: Option<Instant>) -> WaitOutcome {
        thread::yield_now();
        WaitOutcome::Woken
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}

    fn sleep_slice(_: Option<Instant>, _: u32) -> Option<Instant> {
        Some(Instant::now())
    }
}

/// Issue #11 (a `RingQueue` get behind a killed putter did not return): a waiter
/// between processes probed its peers only after a sleep slice that passed without a
/// wake-up, so one woken in every slice never probed. Now it probes once a slice has
/// passed since the wait began (or since its last probe), whatever woke it.
#[test]
fn a_waiter_woken_in_every_slice_still_probes() {
    let w: Waiters<Restless> = Waiters::new();
    let mut looks = 0;
    let probed = w.wait_until_probing(None, |probe| {
        looks += 1;
        // (Gives up after many looks instead of hanging when it never probes.)
        (probe || looks > 1_000).then_some(probe)
    });
    assert_eq!(probed, Some(true), "no probe in {looks} looks");
}

/// [`Mortal`] without a clock for its probes (`sleep_slice` keeps the caller's
/// deadline): only a slice that passed unwoken, or the last look after the deadline,
/// probes.
struct Clockless;

impl WaitStrategy for Clockless {
    type Deadline = Instant;
    type SlotOwner = conkit_core::wait::Recorded;
    const PROCESS_SHARED: bool = true;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        Mortal::wait(word, expected, deadline)
    }

    fn wake_one(_: &WaitWord) {}

    fn wake_all(_: &WaitWord) {}
}

/// Issue #11 (`RingQueue::get_until` behind a killed putter gave up with the putter
/// never named): the last look after the deadline probed only when the deadline passed
/// in a sleep, not when it passed before the first one (in the adaptive phase, or in
/// slow looks on a loaded machine). Now every last look between processes probes.
#[test]
fn a_deadline_passed_before_any_sleep_still_gets_a_probing_last_look() {
    let w: Waiters<Clockless> = Waiters::new();
    let past = Instant::now();
    assert_eq!(
        w.wait_until_probing(Some(past), |probe| probe.then_some(())),
        Some(())
    );
    // A process-private strategy never probes: the same wait times out.
    let w: Waiters<conkit_core::wait::Spin<Instant>> = Waiters::new();
    assert_eq!(
        w.wait_until_probing(Some(past), |probe| probe.then_some(())),
        None
    );
}
