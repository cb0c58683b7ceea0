//! Tests of `conkit_core::mpmc`: every operation and error path, wrap-around with
//! capacities that are not powers of two (checked against a `VecDeque` model), drop
//! accounting, and many-producer/many-consumer stress runs that check every item arrives
//! exactly once and each consumer sees each producer's items in order — with the `try_*`
//! forms, the blocking forms (spinning, and sleeping in a futex simulation whose
//! `wake_one` wakes exactly one sleeper, so a lost or misdirected notification hangs and
//! fails), timed forms, and async (feature `async`).

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::mpmc::{Full, MpmcRing};
use conkit_core::wait::{Deadline, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

const ITEMS: usize = if cfg!(miri) { 200 } else { 1_000_000 };
/// Producers and consumers of the stress runs (each).
const SIDES: usize = if cfg!(miri) { 2 } else { 4 };
/// The "large" capacity of the tests: 1024, but 64 under miri, where every call retags
/// the whole inline slot array (cost proportional to the capacity).
const BIG: usize = if cfg!(miri) { 64 } else { 1024 };
/// A stress run taking longer than this is taken for a hang (lost wake-up).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 120 });

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A std clock for timed waits.
#[derive(Debug, Clone, Copy)]
struct At(Instant);

impl Deadline for At {
    fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

fn after(ms: u64) -> At {
    At(Instant::now() + Duration::from_millis(ms))
}

type Timed = Spin<At>;

/// A futex simulation: `wait` sleeps until a `wake_*` on the same word picks it (or its
/// deadline passes), never by itself; `wake_one` wakes exactly ONE sleeper of the word,
/// as `FUTEX_WAKE(1)` does. The word check and the registration happen under the lock
/// `wake_*` takes, as in the kernel.
#[derive(Debug)]
struct FutexSim;

struct Sleeper {
    id: u64,
    word: usize,
    woken: bool,
}

static SIM_SLEEPERS: Mutex<Vec<Sleeper>> = Mutex::new(Vec::new());
static SIM_CV: Condvar = Condvar::new();
static SIM_IDS: AtomicU64 = AtomicU64::new(0);

impl WaitStrategy for FutexSim {
    type Deadline = At;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<At>) -> WaitOutcome {
        let addr = word as *const WaitWord as usize;
        let mut sleepers = SIM_SLEEPERS.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        let id = SIM_IDS.fetch_add(1, Ordering::Relaxed);
        sleepers.push(Sleeper {
            id,
            word: addr,
            woken: false,
        });
        loop {
            let at = sleepers.iter().position(|s| s.id == id).unwrap();
            if sleepers[at].woken {
                sleepers.remove(at);
                return WaitOutcome::Woken;
            }
            match deadline {
                None => sleepers = SIM_CV.wait(sleepers).unwrap(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d.0 {
                        sleepers.remove(at);
                        return WaitOutcome::TimedOut;
                    }
                    sleepers = SIM_CV.wait_timeout(sleepers, d.0 - now).unwrap().0;
                }
            }
        }
    }

    fn wake_one(word: &WaitWord) {
        let addr = word as *const WaitWord as usize;
        let mut sleepers = SIM_SLEEPERS.lock().unwrap();
        if let Some(s) = sleepers.iter_mut().find(|s| s.word == addr && !s.woken) {
            s.woken = true;
        }
        SIM_CV.notify_all();
    }

    fn wake_all(word: &WaitWord) {
        let addr = word as *const WaitWord as usize;
        let mut sleepers = SIM_SLEEPERS.lock().unwrap();
        for s in sleepers.iter_mut().filter(|s| s.word == addr) {
            s.woken = true;
        }
        SIM_CV.notify_all();
    }
}

/// Counts drops of its instances.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A tiny deterministic PRNG (xorshift) for the model tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---------------------------------------------------------------------------------------
// Single-thread behaviour
// ---------------------------------------------------------------------------------------

#[test]
fn new_ring_is_empty() {
    let ring: MpmcRing<u32, 4> = MpmcRing::new();
    assert_eq!(ring.capacity(), 4);
    assert_eq!(ring.len(), 0);
    assert!(ring.is_empty());
    assert!(!ring.is_full());
    assert_eq!(ring.try_pop(), None);
    assert_eq!(format!("{ring:?}"), "MpmcRing { len: 0, capacity: 4 }");
}

#[test]
fn default_is_new() {
    let ring: MpmcRing<u32, 3> = MpmcRing::default();
    assert!(ring.is_empty());
    assert_eq!(ring.capacity(), 3);
}

static STATIC_RING: MpmcRing<u32, 5> = MpmcRing::new();

#[test]
fn works_as_a_static() {
    for i in 0..12 {
        STATIC_RING.try_push(i).unwrap();
        assert_eq!(STATIC_RING.try_pop(), Some(i));
    }
    assert!(STATIC_RING.is_empty());
}

#[test]
fn try_push_hands_the_item_back_when_full() {
    let ring: MpmcRing<u32, 3> = MpmcRing::new();
    for i in 0..3 {
        assert_eq!(ring.try_push(i), Ok(()));
        assert_eq!(ring.len(), i as usize + 1);
    }
    assert!(ring.is_full());
    let err = ring.try_push(99).unwrap_err();
    assert_eq!(err, Full(99));
    assert_eq!(err.0, 99);
    assert_eq!(err.into_inner(), 99);
    assert_eq!(ring.len(), 3);
    // Still full after the failure; the ring is unchanged.
    assert_eq!(ring.try_pop(), Some(0));
    assert_eq!(ring.try_push(3), Ok(()));
    assert_eq!(ring.try_push(4), Err(Full(4)));
    for i in 1..4 {
        assert_eq!(ring.try_pop(), Some(i));
    }
    assert_eq!(ring.try_pop(), None);
}

#[test]
fn full_error_traits() {
    let err = Full(String::from("item"));
    assert_eq!(format!("{err}"), "the ring is full");
    assert_eq!(format!("{err:?}"), "Full(..)");
    let e: &dyn std::error::Error = &err;
    assert!(e.source().is_none());
    assert_eq!(err.clone(), Full(String::from("item")));
    let copy = Full(7u8);
    let other = copy;
    assert_eq!(copy, other);
    assert_ne!(Full(1), Full(2));
}

#[test]
fn fifo_order_and_non_copy_items() {
    let ring: MpmcRing<String, 4> = MpmcRing::new();
    for s in ["a", "b", "c", "d"] {
        ring.try_push(s.to_string()).unwrap();
    }
    assert_eq!(ring.try_push("e".into()).unwrap_err().into_inner(), "e");
    for s in ["a", "b", "c", "d"] {
        assert_eq!(ring.try_pop().as_deref(), Some(s));
    }
    assert!(ring.is_empty());
}

#[test]
fn zero_sized_items() {
    let ring: MpmcRing<(), 3> = MpmcRing::new();
    for _ in 0..3 {
        ring.try_push(()).unwrap();
    }
    assert_eq!(ring.try_push(()), Err(Full(())));
    assert_eq!(ring.len(), 3);
    for _ in 0..3 {
        assert_eq!(ring.try_pop(), Some(()));
    }
    assert_eq!(ring.try_pop(), None);
}

/// Random pushes and pops against a `VecDeque`, many laps round the ring: order, `len`,
/// `is_empty`, `is_full`, and the `Full` / `None` error paths at every step.
fn model<const N: usize>(seed: u64) {
    let ring: MpmcRing<u64, N> = MpmcRing::new();
    let mut model = VecDeque::new();
    let mut rng = Rng(seed);
    let mut next = 0u64;
    let steps = if cfg!(miri) { 40 } else { 20_000 };
    for _ in 0..steps {
        // Bursts, so the ring really fills and empties.
        let burst = rng.next() % (2 * N as u64 + 2);
        let pushing = rng.next() % 2 == 0;
        for _ in 0..burst {
            if pushing {
                let r = ring.try_push(next);
                if model.len() < N {
                    assert_eq!(r, Ok(()));
                    model.push_back(next);
                } else {
                    assert_eq!(r, Err(Full(next)));
                }
                next += 1;
            } else {
                assert_eq!(ring.try_pop(), model.pop_front());
            }
            assert_eq!(ring.len(), model.len());
            assert_eq!(ring.is_empty(), model.is_empty());
            assert_eq!(ring.is_full(), model.len() == N);
        }
    }
    while let Some(v) = model.pop_front() {
        assert_eq!(ring.try_pop(), Some(v));
    }
    assert_eq!(ring.try_pop(), None);
}

#[test]
fn wrap_around_capacity_1() {
    model::<1>(1);
}

#[test]
fn wrap_around_capacity_2() {
    model::<2>(2);
}

#[test]
fn wrap_around_capacity_3() {
    model::<3>(3);
}

#[test]
fn wrap_around_capacity_5() {
    model::<5>(5);
}

#[test]
fn wrap_around_capacity_7() {
    model::<7>(7);
}

#[test]
fn wrap_around_capacity_8() {
    model::<8>(8);
}

#[test]
fn wrap_around_capacity_12() {
    model::<12>(12);
}

#[test]
fn fill_and_drain_large_capacity() {
    let ring: Box<MpmcRing<usize, BIG>> = Box::new(MpmcRing::new());
    for round in 0..3 {
        for i in 0..BIG {
            ring.try_push(round * BIG + i).unwrap();
        }
        assert!(ring.is_full());
        assert_eq!(ring.try_push(0), Err(Full(0)));
        for i in 0..BIG {
            assert_eq!(ring.try_pop(), Some(round * BIG + i));
        }
        assert!(ring.is_empty());
    }
}

#[test]
fn blocking_forms_do_not_wait_when_they_need_not() {
    let ring: MpmcRing<u32, 2> = MpmcRing::new();
    ring.push(1);
    ring.push(2);
    assert!(ring.is_full());
    assert_eq!(ring.pop(), 1);
    ring.push(3);
    assert_eq!(ring.pop(), 2);
    assert_eq!(ring.pop(), 3);
    assert!(ring.is_empty());

    let timed: MpmcRing<u32, 2, Timed> = MpmcRing::new();
    assert_eq!(timed.push_until(1, after(10_000)), Ok(()));
    assert_eq!(timed.pop_until(after(10_000)), Some(1));
    // A deadline already passed still succeeds when no wait is needed.
    let past = At(Instant::now());
    assert_eq!(timed.push_until(2, past), Ok(()));
    assert_eq!(timed.pop_until(past), Some(2));
}

#[test]
fn push_until_times_out_and_hands_the_item_back() {
    let ring: MpmcRing<u32, 1, Timed> = MpmcRing::new();
    ring.try_push(1).unwrap();
    let start = Instant::now();
    assert_eq!(ring.push_until(2, after(30)), Err(Full(2)));
    assert!(start.elapsed() >= Duration::from_millis(30));
    // Deadline already passed: fails at once.
    assert_eq!(ring.push_until(3, At(Instant::now())), Err(Full(3)));
    assert_eq!(ring.try_pop(), Some(1));
    assert_eq!(ring.try_pop(), None);
}

#[test]
fn pop_until_times_out_when_empty() {
    let ring: MpmcRing<u32, 3, Timed> = MpmcRing::new();
    let start = Instant::now();
    assert_eq!(ring.pop_until(after(30)), None);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(ring.pop_until(At(Instant::now())), None);
}

#[test]
fn timed_forms_time_out_with_a_sleeping_strategy() {
    let ring: MpmcRing<u32, 1, FutexSim> = MpmcRing::new();
    assert_eq!(ring.pop_until(after(20)), None);
    ring.push(1);
    assert_eq!(ring.push_until(2, after(20)), Err(Full(2)));
    assert_eq!(ring.pop(), 1);
}

#[test]
fn push_until_succeeds_when_room_appears() {
    for_each_waiting_strategy(|ring_spin, ring_sleep| {
        ring_spin.try_push(1).unwrap();
        ring_sleep.try_push(1).unwrap();
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(20));
                assert_eq!(ring_spin.pop(), 1);
                assert_eq!(ring_sleep.pop(), 1);
            });
            assert_eq!(ring_spin.push_until(2, after(60_000)), Ok(()));
            assert_eq!(ring_sleep.push_until(2, after(60_000)), Ok(()));
        });
        assert_eq!(ring_spin.try_pop(), Some(2));
        assert_eq!(ring_sleep.try_pop(), Some(2));
    });
}

#[test]
fn pop_until_succeeds_when_an_item_arrives() {
    for_each_waiting_strategy(|ring_spin, ring_sleep| {
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(20));
                ring_spin.push(5);
                ring_sleep.push(5);
            });
            assert_eq!(ring_spin.pop_until(after(60_000)), Some(5));
            assert_eq!(ring_sleep.pop_until(after(60_000)), Some(5));
        });
    });
}

fn for_each_waiting_strategy(
    f: impl FnOnce(&MpmcRing<u32, 1, Timed>, &MpmcRing<u32, 1, FutexSim>),
) {
    let spin = MpmcRing::new();
    let sleep = MpmcRing::new();
    f(&spin, &sleep);
}

#[test]
fn blocking_pop_waits_for_push_and_push_for_pop() {
    let ring: MpmcRing<u32, 1, FutexSim> = MpmcRing::new();
    thread::scope(|s| {
        let consumer = s.spawn(|| (ring.pop(), ring.pop()));
        thread::sleep(Duration::from_millis(10));
        ring.push(1);
        ring.push(2); // may wait for the first pop
        assert_eq!(consumer.join().unwrap(), (1, 2));
    });
}

#[test]
fn notify_wakes_a_sleeping_consumer_after_try_push() {
    let ring: MpmcRing<u32, 2, FutexSim> = MpmcRing::new();
    // Harmless with nobody asleep.
    ring.notify();
    thread::scope(|s| {
        let consumer = s.spawn(|| ring.pop());
        thread::sleep(Duration::from_millis(20));
        ring.try_push(7).unwrap();
        ring.notify();
        assert_eq!(consumer.join().unwrap(), 7);
    });
    thread::scope(|s| {
        ring.push(1);
        ring.push(2);
        let producer = s.spawn(|| ring.push(3));
        thread::sleep(Duration::from_millis(20));
        assert_eq!(ring.try_pop(), Some(1));
        ring.notify();
        producer.join().unwrap();
    });
    assert_eq!(ring.try_pop(), Some(2));
    assert_eq!(ring.try_pop(), Some(3));
}

#[test]
fn drop_drops_remaining_items_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let item = || Counted(drops.clone());
    {
        let ring: MpmcRing<Counted, 5> = MpmcRing::new();
        for _ in 0..5 {
            ring.try_push(item()).unwrap();
        }
        // A rejected item is handed back, dropped once by us.
        drop(ring.try_push(item()).unwrap_err().into_inner());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // Wrap around: pop 3, push 3.
        for _ in 0..3 {
            drop(ring.try_pop().unwrap());
        }
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        for _ in 0..3 {
            ring.try_push(item()).unwrap();
        }
        drop(ring.try_pop().unwrap());
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        // 4 items left in the ring (across the wrap).
        assert_eq!(ring.len(), 4);
    }
    // 1 + 3 + 1 dropped before, 4 by the ring's drop: 9 created, 9 dropped.
    assert_eq!(drops.load(Ordering::SeqCst), 9);

    // An empty ring after many laps drops nothing.
    let before = drops.load(Ordering::SeqCst);
    {
        let ring: MpmcRing<Counted, 3> = MpmcRing::new();
        for _ in 0..10 {
            ring.try_push(item()).unwrap();
            drop(ring.try_pop());
        }
    }
    assert_eq!(drops.load(Ordering::SeqCst), before + 10);
}

#[test]
fn drop_of_a_full_ring() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let ring: MpmcRing<Counted, 7> = MpmcRing::new();
        for _ in 0..7 {
            ring.try_push(Counted(drops.clone())).unwrap();
        }
    }
    assert_eq!(drops.load(Ordering::SeqCst), 7);
}

// ---------------------------------------------------------------------------------------
// Stress: SIDES producers x SIDES consumers
// ---------------------------------------------------------------------------------------

/// How the stress threads push and pop.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `try_push` / `try_pop` in retry loops.
    Try,
    /// `push` / `pop`.
    Blocking,
    /// `try_push` + `notify` producers, blocking consumers.
    TryNotify,
    /// `push_until` / `pop_until` with short deadlines, retried (timeouts must not lose
    /// or duplicate items, nor swallow wake-ups).
    Timed,
}

fn value(producer: usize, seq: usize) -> u64 {
    ((producer as u64) << 32) | seq as u64
}

/// Moves `items` distinct values from `SIDES` producers to `SIDES` consumers through an
/// `N`-slot ring; checks every value arrives exactly once and that every consumer sees
/// each producer's values in increasing order. Fails (instead of hanging) after `HANG`.
fn stress<const N: usize, W: WaitStrategy<Deadline = At> + 'static>(mode: Mode, items: usize) {
    let per_producer = items / SIDES;
    let items = per_producer * SIDES;
    let ring: Arc<MpmcRing<u64, N, W>> = Arc::new(MpmcRing::new());
    let received = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel::<Result<Vec<u64>, ()>>();

    for p in 0..SIDES {
        let ring = ring.clone();
        let done = done_tx.clone();
        thread::spawn(move || {
            for k in 0..per_producer {
                let mut v = value(p, k);
                match mode {
                    Mode::Try | Mode::TryNotify => loop {
                        match ring.try_push(v) {
                            Ok(()) => break,
                            Err(Full(back)) => {
                                v = back;
                                if mode == Mode::TryNotify {
                                    ring.notify();
                                }
                                thread::yield_now();
                            }
                        }
                    },
                    Mode::Blocking => ring.push(v),
                    Mode::Timed => {
                        while let Err(Full(back)) = ring.push_until(v, after(1)) {
                            v = back;
                        }
                    }
                }
                if mode == Mode::TryNotify {
                    ring.notify();
                }
            }
            let _ = done.send(Ok(Vec::new()));
        });
    }

    let per_consumer = items / SIDES;
    for c in 0..SIDES {
        let ring = ring.clone();
        let received = received.clone();
        let done = done_tx.clone();
        // Blocking consumers pop a fixed share (the last one takes the remainder).
        let share = if c + 1 == SIDES {
            items - per_consumer * (SIDES - 1)
        } else {
            per_consumer
        };
        thread::spawn(move || {
            let mut got = Vec::with_capacity(share);
            match mode {
                Mode::Try => {
                    while received.load(Ordering::Relaxed) < items {
                        match ring.try_pop() {
                            Some(v) => {
                                got.push(v);
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                            None => thread::yield_now(),
                        }
                    }
                }
                Mode::Blocking | Mode::TryNotify => {
                    for _ in 0..share {
                        got.push(ring.pop());
                    }
                }
                Mode::Timed => {
                    while got.len() < share {
                        if let Some(v) = ring.pop_until(after(1)) {
                            got.push(v);
                        }
                    }
                }
            }
            let _ = done.send(Ok(got));
        });
    }
    drop(done_tx);

    let start = Instant::now();
    let mut seen = vec![false; items];
    let mut sum = 0u64;
    let mut count = 0usize;
    for _ in 0..2 * SIDES {
        let left = HANG.saturating_sub(start.elapsed());
        let got = match done_rx.recv_timeout(left) {
            Ok(Ok(got)) => got,
            _ => panic!(
                "{mode:?} N={N}: no progress after {HANG:?} (lost wake-up?); ring len {}",
                ring.len()
            ),
        };
        // Per-producer order as seen by this consumer.
        let mut last = [None::<u64>; SIDES];
        for &v in &got {
            let (p, k) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert!(
                p < SIDES && (k as usize) < per_producer,
                "bogus value {v:#x}"
            );
            if let Some(prev) = last[p] {
                assert!(k > prev, "producer {p}: {k} received after {prev}");
            }
            last[p] = Some(k);
            let idx = p * per_producer + k as usize;
            assert!(!seen[idx], "value {v:#x} received twice");
            seen[idx] = true;
            sum += v;
            count += 1;
        }
    }
    assert_eq!(count, items);
    assert!(seen.iter().all(|&s| s));
    let expected: u64 = (0..SIDES)
        .map(|p| (0..per_producer).map(|k| value(p, k)).sum::<u64>())
        .sum();
    assert_eq!(sum, expected);
    assert!(ring.is_empty());
}

#[test]
fn stress_try_capacity_8() {
    stress::<8, Timed>(Mode::Try, ITEMS);
}

#[test]
fn stress_try_capacity_1024() {
    stress::<BIG, Timed>(Mode::Try, ITEMS);
}

#[test]
fn stress_try_capacity_3() {
    stress::<3, Timed>(Mode::Try, ITEMS / 4);
}

#[test]
fn stress_blocking_spin_capacity_8() {
    stress::<8, Timed>(Mode::Blocking, ITEMS);
}

#[test]
fn stress_blocking_spin_capacity_1024() {
    stress::<BIG, Timed>(Mode::Blocking, ITEMS);
}

#[test]
fn stress_blocking_sleeping_capacity_1() {
    stress::<1, FutexSim>(Mode::Blocking, ITEMS / 20);
}

#[test]
fn stress_blocking_sleeping_capacity_3() {
    stress::<3, FutexSim>(Mode::Blocking, ITEMS / 10);
}

#[test]
fn stress_blocking_sleeping_capacity_8() {
    stress::<8, FutexSim>(Mode::Blocking, ITEMS / 10);
}

#[test]
fn stress_try_push_notify_sleeping_consumers() {
    stress::<5, FutexSim>(Mode::TryNotify, ITEMS / 10);
}

#[test]
fn stress_timed_spin_capacity_2() {
    stress::<2, Timed>(Mode::Timed, ITEMS / 10);
}

#[test]
fn stress_timed_sleeping_capacity_3() {
    stress::<3, FutexSim>(Mode::Timed, ITEMS / 20);
}

/// Try-only producers, blocking consumers with `Spin`: no `notify` needed.
#[test]
fn spin_waiters_need_no_notify() {
    let ring: MpmcRing<usize, 4, Spin> = MpmcRing::new();
    let n = ITEMS / 10;
    thread::scope(|s| {
        let consumer = s.spawn(|| (0..n).map(|_| ring.pop()).sum::<usize>());
        for i in 0..n {
            while ring.try_push(i).is_err() {
                thread::yield_now();
            }
        }
        assert_eq!(consumer.join().unwrap(), n * (n - 1) / 2);
    });
}

// ---------------------------------------------------------------------------------------
// Async front end
// ---------------------------------------------------------------------------------------

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use conkit_core::asynch::Async;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Wake, Waker};

    use crate::common::block_on;

    /// A waker that records whether it was woken.
    struct Flag(AtomicUsize);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flag_waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicUsize::new(0)));
        (flag.clone(), Waker::from(flag))
    }

    static ASYNC_RING: Async<MpmcRing<u32, 3>, 4> = Async::new(MpmcRing::new());

    #[test]
    fn async_static_push_pop_when_ready() {
        block_on(ASYNC_RING.push(1));
        block_on(ASYNC_RING.push(2));
        assert_eq!(ASYNC_RING.inner().len(), 2);
        assert_eq!(block_on(ASYNC_RING.pop()), 1);
        assert_eq!(ASYNC_RING.try_pop(), Some(2));
        assert_eq!(ASYNC_RING.try_pop(), None);
    }

    #[test]
    fn async_try_forms_and_full() {
        let ring: Async<MpmcRing<u32, 1>, 2> = Async::new(MpmcRing::new());
        assert_eq!(ring.try_push(1), Ok(()));
        assert_eq!(ring.try_push(2), Err(Full(2)));
        assert_eq!(ring.try_pop(), Some(1));
        assert_eq!(ring.try_pop(), None);
        ring.notify();
    }

    #[test]
    fn pending_pop_is_woken_by_try_push() {
        let ring: Async<MpmcRing<u32, 2>, 2> = Async::new(MpmcRing::new());
        let (flag, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pop = pin!(ring.pop());
        assert!(pop.as_mut().poll(&mut cx).is_pending());
        ring.try_push(9).unwrap();
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
        assert_eq!(pop.as_mut().poll(&mut cx), Poll::Ready(9));
    }

    #[test]
    fn pending_push_is_woken_by_try_pop() {
        let ring: Async<MpmcRing<u32, 1>, 2> = Async::new(MpmcRing::new());
        ring.try_push(1).unwrap();
        let (flag, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut push = pin!(ring.push(2));
        assert!(push.as_mut().poll(&mut cx).is_pending());
        assert_eq!(ring.try_pop(), Some(1));
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
        assert_eq!(push.as_mut().poll(&mut cx), Poll::Ready(()));
        assert_eq!(ring.try_pop(), Some(2));
    }

    #[test]
    fn cancelled_futures_lose_nothing() {
        let drops = Arc::new(AtomicUsize::new(0));
        let ring: Async<MpmcRing<Counted, 1>, 2> = Async::new(MpmcRing::new());
        let (_flag, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        {
            // A pending pop, dropped: the next pop still gets the item.
            let mut pop = Box::pin(ring.pop());
            assert!(pop.as_mut().poll(&mut cx).is_pending());
        }
        ring.try_push(Counted(drops.clone())).ok().unwrap();
        {
            // A pending push, dropped: its item is dropped, the ring is unchanged.
            let mut push = Box::pin(ring.push(Counted(drops.clone())));
            assert!(push.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(ring.inner().len(), 1);
        drop(block_on(ring.pop()));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(ring.inner().is_empty());
    }

    #[test]
    fn async_stress_many_producers_many_consumers() {
        let ring: Arc<Async<MpmcRing<u64, 4>, 8>> = Arc::new(Async::new(MpmcRing::new()));
        let per = ITEMS / 20 / SIDES;
        let sum = Arc::new(AtomicU64::new(0));
        thread::scope(|s| {
            for p in 0..SIDES {
                let ring = &ring;
                s.spawn(move || {
                    for k in 0..per {
                        block_on(ring.push(value(p, k)));
                    }
                });
            }
            for _ in 0..SIDES {
                let (ring, sum) = (&ring, &sum);
                s.spawn(move || {
                    let mut last = [None::<u64>; SIDES];
                    for _ in 0..per {
                        let v = block_on(ring.pop());
                        let (p, k) = ((v >> 32) as usize, v & 0xffff_ffff);
                        assert!(last[p].is_none_or(|prev| k > prev));
                        last[p] = Some(k);
                        sum.fetch_add(v, Ordering::Relaxed);
                    }
                });
            }
        });
        let expected: u64 = (0..SIDES)
            .map(|p| (0..per).map(|k| value(p, k)).sum::<u64>())
            .sum();
        assert_eq!(sum.load(Ordering::Relaxed), expected);
        assert!(ring.inner().is_empty());
    }
}

/// The process-shared rules between threads (`SharedFutex`: a `notify_one` wake-up goes to
/// every sleeper, sleeps are bounded slices): producers and consumers on the blocking
/// forms of an 8-slot ring, every value exactly once (sum and count checked).
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
#[test]
fn stress_blocking_shared_futex_capacity_8() {
    use conkit_core::wait::SharedFutex;
    let ring: MpmcRing<u64, 8, SharedFutex> = MpmcRing::new();
    let per = (ITEMS / SIDES) as u64;
    let total = AtomicUsize::new(0);
    let sum = AtomicU64::new(0);
    thread::scope(|s| {
        for p in 0..SIDES as u64 {
            let ring = &ring;
            s.spawn(move || {
                for k in 0..per {
                    ring.push(p * per + k);
                }
            });
        }
        for _ in 0..SIDES {
            let (ring, total, sum) = (&ring, &total, &sum);
            s.spawn(move || {
                while total.fetch_add(1, Ordering::SeqCst) < per as usize * SIDES {
                    sum.fetch_add(ring.pop(), Ordering::SeqCst);
                }
            });
        }
    });
    let n = per * SIDES as u64;
    assert_eq!(sum.load(Ordering::SeqCst), n * (n - 1) / 2);
    assert!(ring.is_empty());
}

/// Regression (queue::Queue 1P/1C fell to 0.23–0.35× crossbeam-channel's rate): the
/// claimant record of the process-shared rings was a `u32` in every slot, for every
/// strategy, growing a `u64` slot from 16 to 24 bytes. The slots of the in-process
/// strategies carry no record; only the process-shared ones pay for it.
#[test]
fn slots_of_in_process_strategies_carry_no_claimant_record() {
    use conkit_core::mpmc::{MpmcRing, Slot};
    use conkit_core::wait::{Spin, WaitStrategy};
    use core::mem::size_of;
    type SlotOf<W> = Slot<u64, <W as WaitStrategy>::SlotOwner>;
    assert_eq!(size_of::<SlotOf<Spin>>(), 16);
    assert_eq!(
        size_of::<MpmcRing<u64, 64, Spin>>() - size_of::<MpmcRing<u64, 32, Spin>>(),
        32 * 16
    );
    #[cfg(all(feature = "std", target_os = "linux"))]
    {
        use conkit_core::wait::{Futex, Parking, SharedFutex};
        assert_eq!(size_of::<SlotOf<Futex>>(), 16);
        assert_eq!(size_of::<SlotOf<Parking>>(), 16);
        assert_eq!(size_of::<SlotOf<SharedFutex>>(), 24);
    }
}
