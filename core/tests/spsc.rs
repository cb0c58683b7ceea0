//! Tests of `conkit_core::spsc`: every operation and error path, drop accounting, and
//! one-producer/one-consumer stress runs that check the exact sequence.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::spsc::{ChunkError, PopError, PushError, SpscRing};
use conkit_core::wait::{Deadline, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;

use common::native_or_miri;

const ITEMS: usize = if cfg!(miri) { 200 } else { 1_000_000 };

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A std clock for `Spin`'s timed waits.
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

/// A strategy that really sleeps (condvar) and never re-polls by itself: a lost
/// notification makes the wait panic after 20 s instead of hanging.
#[derive(Debug)]
struct Sleepy;

static SLEEP_LOCK: Mutex<()> = Mutex::new(());
static SLEEP_CV: Condvar = Condvar::new();

impl WaitStrategy for Sleepy {
    type Deadline = At;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<At>) -> WaitOutcome {
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut guard = SLEEP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        while word.load(Ordering::SeqCst) == expected {
            let now = Instant::now();
            if let Some(d) = deadline {
                if now >= d.0 {
                    return WaitOutcome::TimedOut;
                }
            }
            assert!(now < give_up, "lost wake-up: slept 20 s");
            let limit = deadline.map_or(give_up, |d| d.0.min(give_up));
            guard = SLEEP_CV
                .wait_timeout(guard, limit - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        WaitOutcome::Woken
    }

    fn wake_one(_word: &WaitWord) {
        let _guard = SLEEP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        SLEEP_CV.notify_all();
    }

    fn wake_all(_word: &WaitWord) {
        let _guard = SLEEP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        SLEEP_CV.notify_all();
    }
}

/// Counts its drops.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waiting in the stress loops: yield, because the test machine may have fewer free
/// cores than spinning threads.
fn backoff() {
    thread::yield_now();
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

// ---------------------------------------------------------------------------------------
// Construction, take, split
// ---------------------------------------------------------------------------------------

#[test]
fn static_new_and_take_once() {
    static RING: SpscRing<u32, 4> = SpscRing::new();
    assert_eq!(RING.capacity(), 4);
    let (mut tx, mut rx) = RING.take().expect("first take");
    assert!(RING.take().is_none());
    assert!(RING.take().is_none());
    tx.try_push(1).unwrap();
    assert_eq!(rx.try_pop(), Ok(1));
    drop((tx, rx));
    assert!(
        RING.take().is_none(),
        "take hands the pair out only once, ever"
    );
}

#[test]
fn take_from_threads_exactly_once() {
    static RING: SpscRing<u8, 2> = SpscRing::new();
    let winners: usize = (0..4)
        .map(|_| thread::spawn(|| RING.take().is_some()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(winners, 1);
}

#[test]
fn split_again_keeps_items_and_resets_abandoned() {
    let mut ring: SpscRing<u32, 3> = SpscRing::default();
    {
        let (mut tx, rx) = ring.split();
        tx.try_push(10).unwrap();
        tx.try_push(11).unwrap();
        drop(rx);
        assert!(tx.is_abandoned());
    }
    let (tx, mut rx) = ring.split();
    assert!(!tx.is_abandoned());
    assert!(!rx.is_abandoned());
    assert_eq!(rx.try_pop(), Ok(10));
    assert_eq!(rx.try_pop(), Ok(11));
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

#[test]
fn handles_are_send_and_ring_is_sync() {
    assert_send::<conkit_core::spsc::Producer<'static, String, 4>>();
    assert_send::<conkit_core::spsc::Consumer<'static, String, 4>>();
    assert_sync::<SpscRing<String, 4>>();
    assert_sync::<conkit_core::spsc::Consumer<'static, String, 4>>();
    assert_send::<SpscRing<String, 4, Timed>>();
}

#[test]
fn debug_output() {
    let mut ring: SpscRing<u32, 2> = SpscRing::new();
    assert!(format!("{ring:?}").contains("capacity: 2"));
    let (mut tx, mut rx) = ring.split();
    tx.try_push(1).unwrap();
    assert!(format!("{tx:?}").contains("len: 1"));
    assert!(format!("{rx:?}").contains("Consumer"));
    assert!(format!("{:?}", tx.write_chunk(1).unwrap()).contains("WriteChunk"));
    assert!(format!("{:?}", rx.read_chunk(1).unwrap()).contains("ReadChunk"));
}

// ---------------------------------------------------------------------------------------
// try_push / try_pop / peek / lengths
// ---------------------------------------------------------------------------------------

#[test]
fn try_push_try_pop_full_and_empty() {
    let mut ring: SpscRing<String, 2> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
    tx.try_push("a".into()).unwrap();
    tx.try_push("b".into()).unwrap();
    match tx.try_push("c".into()) {
        Err(PushError::Full(v)) => assert_eq!(v, "c"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.try_pop().as_deref(), Ok("a"));
    tx.try_push("c".into()).unwrap();
    assert_eq!(rx.try_pop().as_deref(), Ok("b"));
    assert_eq!(rx.try_pop().as_deref(), Ok("c"));
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

#[test]
fn capacity_exactly_n_for_many_n() {
    fn check<const N: usize>() {
        let mut ring: SpscRing<usize, N> = SpscRing::new();
        let (mut tx, mut rx) = ring.split();
        // Several laps so that every wrap point is crossed: under Miri only for the
        // small capacities (N = 100 runs the same index arithmetic as 3, 5 and 7, and
        // its 30 000 pushes there would take minutes).
        let laps = if N <= 8 {
            3 * N + 2
        } else {
            native_or_miri(3 * N + 2, 3)
        };
        for lap in 0..laps {
            for i in 0..N {
                tx.try_push(lap * N + i).unwrap();
            }
            assert!(tx.is_full() && rx.is_full());
            assert_eq!(tx.try_push(usize::MAX), Err(PushError::Full(usize::MAX)));
            for i in 0..N {
                assert_eq!(rx.try_pop(), Ok(lap * N + i));
            }
            assert!(tx.is_empty() && rx.is_empty());
            // Shift the start by one slot every lap.
            tx.try_push(7).unwrap();
            assert_eq!(rx.try_pop(), Ok(7));
        }
    }
    check::<1>();
    check::<2>();
    check::<3>();
    check::<4>();
    check::<5>();
    check::<7>();
    check::<8>();
    check::<100>();
}

#[test]
fn lengths_on_both_sides() {
    let mut ring: SpscRing<u8, 5> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!((tx.capacity(), rx.capacity()), (5, 5));
    assert!(tx.is_empty() && rx.is_empty() && !tx.is_full() && !rx.is_full());
    assert_eq!(tx.free_len(), 5);
    for i in 0..3 {
        tx.try_push(i).unwrap();
    }
    assert_eq!((tx.len(), rx.len(), tx.free_len()), (3, 3, 2));
    rx.try_pop().unwrap();
    assert_eq!((tx.len(), rx.len(), tx.free_len()), (2, 2, 3));
    tx.try_push(9).unwrap();
    tx.try_push(9).unwrap();
    tx.try_push(9).unwrap();
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(tx.free_len(), 0);
}

#[test]
fn peek_does_not_remove() {
    let mut ring: SpscRing<u32, 2> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(rx.peek(), None);
    tx.try_push(5).unwrap();
    assert_eq!(rx.peek(), Some(&5));
    assert_eq!(rx.peek(), Some(&5));
    tx.try_push(6).unwrap();
    assert_eq!(rx.try_pop(), Ok(5));
    assert_eq!(rx.peek(), Some(&6));
    assert_eq!(rx.try_pop(), Ok(6));
    assert_eq!(rx.peek(), None);
}

#[test]
fn zero_sized_items() {
    let mut ring: SpscRing<(), 3> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    for _ in 0..3 {
        tx.try_push(()).unwrap();
    }
    assert_eq!(tx.try_push(()), Err(PushError::Full(())));
    assert_eq!(tx.push_slice(&[(); 4]), 0);
    let mut out = [(); 5];
    assert_eq!(rx.pop_slice(&mut out), 3);
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

// ---------------------------------------------------------------------------------------
// Disconnection
// ---------------------------------------------------------------------------------------

#[test]
fn pop_after_producer_dropped_drains_then_disconnected() {
    let mut ring: SpscRing<u32, 4> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    tx.try_push(1).unwrap();
    tx.try_push(2).unwrap();
    assert!(!rx.is_abandoned());
    drop(tx);
    assert!(rx.is_abandoned());
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.pop(), Ok(2));
    assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
}

#[test]
fn push_after_consumer_dropped() {
    let mut ring: SpscRing<u32, 2, Timed> = SpscRing::new();
    let (mut tx, rx) = ring.split();
    assert!(!tx.is_abandoned());
    drop(rx);
    assert!(tx.is_abandoned());
    // The blocking forms report the disconnection at once.
    assert_eq!(tx.push(1), Err(PushError::Disconnected(1)));
    assert_eq!(
        tx.push_until(1, after(1000)),
        Err(PushError::Disconnected(1))
    );
    // The wait-free form only reports it when it cannot push.
    tx.try_push(1).unwrap();
    tx.try_push(2).unwrap();
    assert_eq!(tx.try_push(3), Err(PushError::Disconnected(3)));
}

#[test]
fn blocked_pop_woken_by_producer_drop() {
    let mut ring: SpscRing<u32, 2, Sleepy> = SpscRing::new();
    let (tx, mut rx) = ring.split();
    thread::scope(|s| {
        let h = s.spawn(move || rx.pop());
        thread::sleep(Duration::from_millis(20));
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(PopError::Disconnected));
    });
}

#[test]
fn blocked_push_woken_by_consumer_drop() {
    let mut ring: SpscRing<u32, 1, Sleepy> = SpscRing::new();
    let (mut tx, rx) = ring.split();
    tx.try_push(1).unwrap();
    thread::scope(|s| {
        let h = s.spawn(move || tx.push(2));
        thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(PushError::Disconnected(2)));
    });
}

// ---------------------------------------------------------------------------------------
// Blocking forms and timeouts
// ---------------------------------------------------------------------------------------

#[test]
fn pop_until_times_out_with_empty() {
    let mut ring: SpscRing<u32, 2, Timed> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    let start = Instant::now();
    assert_eq!(rx.pop_until(after(30)), Err(PopError::Empty));
    assert!(start.elapsed() >= Duration::from_millis(30));
    tx.try_push(4).unwrap();
    assert_eq!(rx.pop_until(after(30)), Ok(4));
}

#[test]
fn push_until_times_out_with_full() {
    let mut ring: SpscRing<u32, 1, Timed> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    tx.push_until(1, after(30)).unwrap();
    let start = Instant::now();
    assert_eq!(tx.push_until(2, after(30)), Err(PushError::Full(2)));
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(tx.push_until(2, after(30)), Ok(()));
}

#[test]
fn sleepy_timeouts() {
    let mut ring: SpscRing<u32, 1, Sleepy> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(rx.pop_until(after(20)), Err(PopError::Empty));
    tx.push(1).unwrap();
    assert_eq!(tx.push_until(2, after(20)), Err(PushError::Full(2)));
    assert_eq!(rx.pop(), Ok(1));
}

#[test]
fn blocking_pop_woken_by_blocking_push_sleepy() {
    let mut ring: SpscRing<u32, 1, Sleepy> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..50 {
                assert_eq!(rx.pop(), Ok(i));
            }
            assert_eq!(rx.pop(), Err(PopError::Disconnected));
        });
        for i in 0..50 {
            if i % 10 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
            tx.push(i).unwrap();
        }
        drop(tx);
    });
}

#[test]
fn notify_wakes_consumer_after_try_push() {
    let mut ring: SpscRing<u32, 4, Sleepy> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        let h = s.spawn(move || rx.pop());
        thread::sleep(Duration::from_millis(20));
        tx.try_push(42).unwrap();
        tx.notify();
        assert_eq!(h.join().unwrap(), Ok(42));
        // Keep `tx` alive until here: the wake-up must come from `notify`.
        drop(tx);
    });
}

#[test]
fn notify_wakes_producer_after_try_pop() {
    let mut ring: SpscRing<u32, 1, Sleepy> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    tx.try_push(1).unwrap();
    thread::scope(|s| {
        let h = s.spawn(move || {
            let r = tx.push(2);
            (r, tx)
        });
        thread::sleep(Duration::from_millis(20));
        assert_eq!(rx.try_pop(), Ok(1));
        rx.notify();
        let (r, _tx) = h.join().unwrap();
        assert_eq!(r, Ok(()));
        assert_eq!(rx.try_pop(), Ok(2));
    });
}

// ---------------------------------------------------------------------------------------
// Slices
// ---------------------------------------------------------------------------------------

#[test]
fn push_slice_and_pop_slice_partial_and_wrapping() {
    let mut ring: SpscRing<u32, 5> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(tx.push_slice(&[]), 0);
    assert_eq!(tx.push_slice(&[1, 2, 3]), 3);
    let mut out = [0; 2];
    assert_eq!(rx.pop_slice(&mut out), 2);
    assert_eq!(out, [1, 2]);
    // 4 free slots, wrapping past the end.
    assert_eq!(tx.push_slice(&[4, 5, 6, 7, 8, 9]), 4);
    assert_eq!(tx.push_slice(&[10]), 0);
    let mut out = [0; 8];
    assert_eq!(rx.pop_slice(&mut out), 5);
    assert_eq!(&out[..5], &[3, 4, 5, 6, 7]);
    assert_eq!(rx.pop_slice(&mut out), 0);
    assert_eq!(rx.pop_slice(&mut []), 0);
}

#[test]
fn slices_many_laps() {
    let mut ring: SpscRing<u64, 7> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    let (mut next_in, mut next_out) = (0u64, 0u64);
    for round in 0..200 {
        let want = round % 9;
        let src: Vec<u64> = (next_in..next_in + want as u64).collect();
        next_in += tx.push_slice(&src) as u64;
        let mut dst = vec![0; (round * 7) % 8];
        let n = rx.pop_slice(&mut dst);
        for v in &dst[..n] {
            assert_eq!(*v, next_out);
            next_out += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------

#[test]
fn write_chunk_errors_and_commit() {
    let mut ring: SpscRing<u32, 4> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(
        tx.write_chunk(5).map(|c| c.len()),
        Err(ChunkError::TooFewSlots(4))
    );
    let mut chunk = tx.write_chunk(3).unwrap();
    assert_eq!(chunk.len(), 3);
    assert!(!chunk.is_empty());
    {
        let (a, b) = chunk.as_mut_slices();
        assert_eq!((a.len(), b.len()), (3, 0));
        a[0].write(1);
        a[1].write(2);
    }
    // SAFETY: the first two slots were written.
    unsafe { chunk.commit(2) };
    assert_eq!(rx.len(), 2);
    // Dropping a chunk publishes nothing.
    let _ = tx.write_chunk(2).unwrap();
    assert_eq!(rx.len(), 2);
    assert!(tx.write_chunk(0).unwrap().is_empty());
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.try_pop(), Ok(2));
    // Now positions 2..; a chunk of 4 wraps: 2 slots at the end, 2 at the start.
    let mut chunk = tx.write_chunk(4).unwrap();
    {
        let (a, b) = chunk.as_mut_slices();
        assert_eq!((a.len(), b.len()), (2, 2));
        for (i, s) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            s.write(10 + i as u32);
        }
    }
    // SAFETY: all four slots were written; `commit` clamps 99 to 4.
    unsafe { chunk.commit(99) };
    assert!(rx.is_full());
    let mut out = [0; 4];
    assert_eq!(rx.pop_slice(&mut out), 4);
    assert_eq!(out, [10, 11, 12, 13]);
    let mut chunk = tx.write_chunk(1).unwrap();
    chunk.as_mut_slices().0[0].write(77);
    // SAFETY: the only slot was written.
    unsafe { chunk.commit_all() };
    assert_eq!(rx.try_pop(), Ok(77));
}

#[test]
fn write_chunk_fill_from_iter() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Counted, 3> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    let n = tx
        .write_chunk(2)
        .unwrap()
        .fill_from_iter((0..5).map(|i| Counted(i, drops.clone())));
    assert_eq!(n, 2);
    // The iterator's remaining items were never created (lazy `map`).
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let n = tx
        .write_chunk(1)
        .unwrap()
        .fill_from_iter(core::iter::empty());
    assert_eq!(n, 0);
    assert_eq!(rx.try_pop().map(|c| c.0), Ok(0));
    assert_eq!(rx.try_pop().map(|c| c.0), Ok(1));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn read_chunk_errors_slices_and_commit() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Counted, 4> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(
        rx.read_chunk(1).map(|c| c.len()),
        Err(ChunkError::TooFewSlots(0))
    );
    for i in 0..3 {
        tx.try_push(Counted(i, drops.clone())).unwrap();
    }
    assert_eq!(
        rx.read_chunk(4).map(|c| c.len()),
        Err(ChunkError::TooFewSlots(3))
    );
    let mut chunk = rx.read_chunk(3).unwrap();
    assert!(!chunk.is_empty());
    {
        let (a, b) = chunk.as_slices();
        assert_eq!((a.len(), b.len()), (3, 0));
        assert_eq!(a[2].0, 2);
    }
    chunk.as_mut_slices().0[1].0 = 100;
    chunk.commit(2);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(tx.len(), 1);
    // Dropping a chunk without commit leaves the items.
    let _ = rx.read_chunk(1).unwrap();
    assert_eq!(rx.len(), 1);
    assert!(rx.read_chunk(0).unwrap().is_empty());
    // Wrap: positions 2..6 hold items 2, 3, 4, 5 (slots 2, 3, 0, 1).
    for i in 3..6 {
        tx.try_push(Counted(i, drops.clone())).unwrap();
    }
    let chunk = rx.read_chunk(4).unwrap();
    {
        let (a, b) = chunk.as_slices();
        assert_eq!((a.len(), b.len()), (2, 2));
        let ids: Vec<u32> = a.iter().chain(b).map(|c| c.0).collect();
        assert_eq!(ids, [2, 3, 4, 5]);
    }
    chunk.commit(99); // clamped to 4
    assert_eq!(drops.load(Ordering::SeqCst), 6);
    assert!(rx.is_empty());
    tx.try_push(Counted(6, drops.clone())).unwrap();
    rx.read_chunk(1).unwrap().commit_all();
    assert_eq!(drops.load(Ordering::SeqCst), 7);
    assert!(tx.is_empty());
}

#[test]
fn read_chunk_into_iter_partial() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Counted, 3> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    for i in 0..3 {
        tx.try_push(Counted(i, drops.clone())).unwrap();
    }
    let mut it = rx.read_chunk(3).unwrap().into_iter();
    assert_eq!(it.len(), 3);
    let first = it.next().unwrap();
    let second = it.next().unwrap();
    assert_eq!((first.0, second.0), (0, 1));
    drop(it);
    assert_eq!(rx.len(), 1, "only the taken items are freed");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop((first, second));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let ids: Vec<u32> = rx.read_chunk(1).unwrap().into_iter().map(|c| c.0).collect();
    assert_eq!(ids, [2]);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(rx.is_empty());
}

#[test]
fn read_chunk_commit_with_panicking_drop_never_drops_twice() {
    #[derive(Debug)]
    struct Bomb(bool, Arc<AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
            if self.0 {
                panic!("boom");
            }
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Bomb, 4> = SpscRing::new();
    {
        let (mut tx, mut rx) = ring.split();
        tx.try_push(Bomb(true, drops.clone())).unwrap();
        tx.try_push(Bomb(false, drops.clone())).unwrap();
        tx.try_push(Bomb(false, drops.clone())).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rx.read_chunk(2).unwrap().commit(2)
        }));
        assert!(r.is_err());
        // Both committed items were dropped exactly once and their slots freed.
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(rx.len(), 1);
    }
    drop(ring);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------
// Drop accounting
// ---------------------------------------------------------------------------------------

#[test]
fn ring_drop_drops_remaining_items_exactly_once() {
    fn check<const N: usize>(pushed: usize, popped: usize, shift: usize) {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut ring: SpscRing<Counted, N> = SpscRing::new();
        {
            let (mut tx, mut rx) = ring.split();
            // Move the start position so the remaining items wrap.
            for _ in 0..shift {
                tx.try_push(Counted(0, drops.clone())).unwrap();
                drop(rx.try_pop().unwrap());
            }
            for i in 0..pushed {
                tx.try_push(Counted(i as u32, drops.clone())).unwrap();
            }
            for _ in 0..popped {
                drop(rx.try_pop().unwrap());
            }
        }
        assert_eq!(drops.load(Ordering::SeqCst), shift + popped);
        drop(ring);
        assert_eq!(drops.load(Ordering::SeqCst), shift + pushed);
    }
    check::<4>(4, 0, 0);
    check::<4>(4, 1, 3);
    check::<3>(3, 0, 2);
    check::<5>(2, 2, 4);
    check::<5>(5, 3, 7);
    check::<1>(1, 0, 1);
}

#[test]
fn failed_push_hands_the_item_back_undropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Counted, 1> = SpscRing::new();
    let (mut tx, _rx) = ring.split();
    tx.try_push(Counted(1, drops.clone())).unwrap();
    let back = tx
        .try_push(Counted(2, drops.clone()))
        .unwrap_err()
        .into_inner();
    assert_eq!(back.0, 2);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn error_types() {
    let full: PushError<u8> = PushError::Full(1);
    let gone: PushError<u8> = PushError::Disconnected(2);
    assert!(full.is_full() && !full.is_disconnected());
    assert!(gone.is_disconnected() && !gone.is_full());
    assert_eq!((full.into_inner(), gone.into_inner()), (1, 2));
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(format!("{gone:?}"), "Disconnected(..)");
    assert!(!full.to_string().is_empty() && full.to_string() != gone.to_string());
    assert_ne!(
        PopError::Empty.to_string(),
        PopError::Disconnected.to_string()
    );
    assert_eq!(
        ChunkError::TooFewSlots(3).to_string(),
        "only 3 slots are available"
    );
    fn is_error<E: std::error::Error>(_: &E) {}
    is_error(&full);
    is_error(&PopError::Empty);
    is_error(&ChunkError::TooFewSlots(0));
    // `Debug` without `T: Debug`.
    struct Opaque;
    let e = PushError::Full(Opaque);
    assert_eq!(format!("{e:?}"), "Full(..)");
}

// ---------------------------------------------------------------------------------------
// Stress: 1 producer / 1 consumer, exact sequence
// ---------------------------------------------------------------------------------------

fn stress_try<const N: usize>() {
    let mut ring: SpscRing<u64, N> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..ITEMS as u64 {
                let mut v = i;
                loop {
                    match tx.try_push(v) {
                        Ok(()) => break,
                        Err(PushError::Full(back)) => {
                            v = back;
                            backoff();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut expected = 0u64;
        loop {
            match rx.try_pop() {
                Ok(v) => {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                Err(PopError::Empty) => backoff(),
                Err(PopError::Disconnected) => break,
            }
        }
        assert_eq!(expected, ITEMS as u64);
    });
}

#[test]
fn stress_try_ops_pow2() {
    stress_try::<64>();
}

#[test]
fn stress_try_ops_non_pow2() {
    stress_try::<5>();
}

#[test]
fn stress_blocking_ops() {
    let mut ring: SpscRing<u64, 16> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..ITEMS as u64 {
                tx.push(i).unwrap();
            }
        });
        let mut expected = 0u64;
        while let Ok(v) = rx.pop() {
            assert_eq!(v, expected);
            expected += 1;
        }
        assert_eq!(expected, ITEMS as u64);
    });
}

#[test]
fn stress_blocking_sleepy_with_batches_and_notify() {
    // A real sleeping strategy: the producer pushes batches with the wait-free forms and
    // calls `notify` after each; the consumer mixes blocking and wait-free pops.
    let items = ITEMS / 10;
    let mut ring: SpscRing<u64, 32, Sleepy> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0u64;
            while next < items as u64 {
                if next % 3 == 0 {
                    tx.push(next).unwrap();
                    next += 1;
                } else {
                    let end = (next + 7).min(items as u64);
                    let batch: Vec<u64> = (next..end).collect();
                    let n = tx.push_slice(&batch);
                    next += n as u64;
                    tx.notify();
                    if n == 0 {
                        // Full: wait for room with the blocking form.
                        tx.push(next).unwrap();
                        next += 1;
                    }
                }
            }
        });
        let mut expected = 0u64;
        let mut buf = [0u64; 5];
        loop {
            let n = rx.pop_slice(&mut buf);
            if n > 0 {
                rx.notify();
                for v in &buf[..n] {
                    assert_eq!(*v, expected);
                    expected += 1;
                }
                continue;
            }
            match rx.pop() {
                Ok(v) => {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                Err(_) => break,
            }
        }
        assert_eq!(expected, items as u64);
    });
}

#[test]
fn stress_slices() {
    let mut ring: SpscRing<u64, 100> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut next = 0u64;
            let mut batch = [0u64; 37];
            let mut size = 1;
            while next < ITEMS as u64 {
                let len = size.min(ITEMS - next as usize);
                for (k, v) in batch[..len].iter_mut().enumerate() {
                    *v = next + k as u64;
                }
                let n = tx.push_slice(&batch[..len]);
                next += n as u64;
                if n == 0 {
                    backoff();
                }
                size = size % 37 + 1;
            }
        });
        let mut expected = 0u64;
        let mut buf = [0u64; 23];
        let mut size = 1;
        while expected < ITEMS as u64 {
            let n = rx.pop_slice(&mut buf[..size]);
            for v in &buf[..n] {
                assert_eq!(*v, expected);
                expected += 1;
            }
            if n == 0 {
                assert!(!rx.is_abandoned() || !rx.is_empty(), "items lost");
                backoff();
            }
            size = size % 23 + 1;
        }
        producer.join().unwrap();
        assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    });
}

#[test]
fn stress_chunks() {
    let mut ring: SpscRing<u64, 48> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut next = 0u64;
            let mut size = 1;
            while next < ITEMS as u64 {
                let want = size.min(ITEMS - next as usize);
                size = size % 19 + 1;
                let Ok(chunk) = tx.write_chunk(want) else {
                    backoff();
                    continue;
                };
                next += chunk.fill_from_iter(next..) as u64;
            }
        });
        let mut expected = 0u64;
        let mut size = 1;
        while expected < ITEMS as u64 {
            let avail = rx.len().min(size);
            size = size % 13 + 1;
            if avail == 0 {
                backoff();
                continue;
            }
            let chunk = rx.read_chunk(avail).unwrap();
            if size % 2 == 0 {
                let (a, b) = chunk.as_slices();
                for v in a.iter().chain(b) {
                    assert_eq!(*v, expected);
                    expected += 1;
                }
                chunk.commit_all();
            } else {
                for v in chunk {
                    assert_eq!(v, expected);
                    expected += 1;
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    });
}

#[test]
fn stress_owned_items_none_lost_none_duplicated() {
    let items = ITEMS / 10;
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ring: SpscRing<Counted, 8> = SpscRing::new();
    let created = {
        let (mut tx, mut rx) = ring.split();
        thread::scope(|s| {
            let d = drops.clone();
            let producer = s.spawn(move || {
                let mut created = 0;
                for i in 0..items as u32 {
                    created += 1;
                    if let Err(e) = tx.push(Counted(i, d.clone())) {
                        assert!(e.is_disconnected());
                        break; // the handed-back item is dropped here
                    }
                }
                created
            });
            // Stop early: the rest stays in the ring and is dropped with it.
            for i in 0..(items / 2) as u32 {
                assert_eq!(rx.pop().map(|c| c.0), Ok(i));
            }
            drop(rx);
            producer.join().unwrap()
        })
    };
    assert!(created > items / 2);
    drop(ring);
    assert_eq!(drops.load(Ordering::SeqCst), created);
}

// ---------------------------------------------------------------------------------------
// Async front end
// ---------------------------------------------------------------------------------------

#[cfg(feature = "async")]
mod async_front_end {
    use super::*;
    use conkit_core::asynch::Async;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll, Wake, Waker};

    /// Wakes by unparking the thread that polls.
    struct Unpark(thread::Thread, AtomicBool);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.1.store(true, Ordering::SeqCst);
            self.0.unpark();
        }
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        let unpark = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
        let waker = Waker::from(unpark.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            while !unpark.1.swap(false, Ordering::SeqCst) {
                thread::park_timeout(Duration::from_secs(20));
            }
        }
    }

    /// Polls once with a waker that records whether it was woken.
    fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> (Poll<F::Output>, Arc<Unpark>) {
        let unpark = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
        let waker = Waker::from(unpark.clone());
        let mut cx = Context::from_waker(&waker);
        (fut.poll(&mut cx), unpark)
    }

    #[test]
    fn async_push_pop_and_disconnect() {
        let mut ring: Async<SpscRing<u32, 2>> = Async::new(SpscRing::new());
        let (mut tx, mut rx) = ring.split();
        block_on(async {
            tx.push(1).await.unwrap();
            assert_eq!(tx.try_push(2), Ok(()));
            assert_eq!(tx.try_push(3), Err(PushError::Full(3)));
            assert_eq!(tx.len(), 2);
            assert_eq!(rx.peek(), Some(&1));
            assert_eq!(rx.pop().await, Ok(1));
            assert_eq!(rx.try_pop(), Ok(2));
            assert_eq!(rx.try_pop(), Err(PopError::Empty));
            assert_eq!(tx.push_slice(&[4, 5, 6]), 2);
            let mut out = [0; 3];
            assert_eq!(rx.pop_slice(&mut out), 2);
            assert_eq!(out[..2], [4, 5]);
        });
        tx.notify();
        rx.notify();
        drop(tx);
        assert_eq!(block_on(rx.pop()), Err(PopError::Disconnected));
        assert!(format!("{rx:?}").contains("AsyncConsumer"));
    }

    #[test]
    fn async_push_to_dropped_consumer() {
        let mut ring: Async<SpscRing<u32, 1>> = Async::new(SpscRing::new());
        let (mut tx, rx) = ring.split();
        drop(rx);
        assert_eq!(block_on(tx.push(1)), Err(PushError::Disconnected(1)));
        assert!(format!("{tx:?}").contains("AsyncProducer"));
    }

    #[test]
    fn async_take_once() {
        static RING: Async<SpscRing<u32, 4>> = Async::new(SpscRing::new());
        let (mut tx, mut rx) = RING.take().unwrap();
        assert!(RING.take().is_none());
        assert!(RING.inner().take().is_none());
        block_on(async {
            tx.push(9).await.unwrap();
            assert_eq!(rx.pop().await, Ok(9));
        });
    }

    #[test]
    fn pending_pop_is_woken_by_push_and_by_drop() {
        let mut ring: Async<SpscRing<u32, 1>> = Async::new(SpscRing::new());
        let (mut tx, mut rx) = ring.split();
        {
            let mut fut = pin!(rx.pop());
            let (poll, woken) = poll_once(fut.as_mut());
            assert!(poll.is_pending());
            tx.try_push(5).unwrap();
            assert!(
                woken.1.load(Ordering::SeqCst),
                "try_push wakes the consumer"
            );
            assert_eq!(poll_once(fut.as_mut()).0, Poll::Ready(Ok(5)));
        }
        let mut fut = pin!(rx.pop());
        let (poll, woken) = poll_once(fut.as_mut());
        assert!(poll.is_pending());
        drop(tx);
        assert!(
            woken.1.load(Ordering::SeqCst),
            "dropping the producer wakes"
        );
        assert_eq!(
            poll_once(fut.as_mut()).0,
            Poll::Ready(Err(PopError::Disconnected))
        );
    }

    #[test]
    fn cancelled_push_drops_its_item_and_pop_still_works() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut ring: Async<SpscRing<Counted, 1>> = Async::new(SpscRing::new());
        let (mut tx, mut rx) = ring.split();
        tx.try_push(Counted(1, drops.clone())).unwrap();
        {
            let mut fut = pin!(tx.push(Counted(2, drops.clone())));
            assert!(poll_once(fut.as_mut()).0.is_pending());
            // Cancel: the item goes with the future, the ring is untouched.
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(rx.len(), 1);
        // A cancelled pop does not lose the item either.
        {
            let mut fut = pin!(rx.pop());
            let (poll, _) = poll_once(fut.as_mut());
            let Poll::Ready(Ok(item)) = poll else {
                panic!("an item was ready")
            };
            assert_eq!(item.0, 1);
        }
        {
            let mut fut = pin!(rx.pop());
            assert!(poll_once(fut.as_mut()).0.is_pending());
        }
        tx.try_push(Counted(3, drops.clone())).unwrap();
        assert_eq!(block_on(rx.pop()).map(|c| c.0), Ok(3));
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn async_stress_across_threads() {
        let items = ITEMS / 10;
        let mut ring: Async<SpscRing<u64, 8>> = Async::new(SpscRing::new());
        let (mut tx, mut rx) = ring.split();
        thread::scope(|s| {
            s.spawn(move || {
                block_on(async {
                    for i in 0..items as u64 {
                        tx.push(i).await.unwrap();
                    }
                })
            });
            block_on(async {
                let mut expected = 0u64;
                while let Ok(v) = rx.pop().await {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                assert_eq!(expected, items as u64);
            });
        });
    }
}
