//! Tests of the prefetch paths (the integration tests use small rings, where they are off).

extern crate std;

use std::thread;
use std::vec::Vec;

use super::*;
use core::fmt;

// Under Miri the prefetches are compiled out and these tests only move items through
// rings with a second thread: 150 items still wrap the 74- and 64-slot rings twice
// (500 took ~3 CPU minutes of CI's miri step, spinning on the other thread).
const ITEMS: u64 = if cfg!(miri) { 150 } else { 100_000 };

/// An item of `S` bytes carrying a sequence number (sizes that do not divide a line).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Item<const S: usize>([u8; S]);

impl<const S: usize> Item<S> {
    fn new(n: u64) -> Self {
        let mut b = [0u8; S];
        b[..8].copy_from_slice(&n.to_le_bytes());
        b[S - 1] = n as u8;
        Item(b)
    }
}

/// How the two threads move items.
#[derive(Clone, Copy)]
enum Mode {
    /// `try_push` / `try_pop`.
    Single,
    /// `push_slice` / `pop_slice` with varying batch sizes.
    Slices,
    /// `write_chunk` + `commit` / `pop_slice`.
    Chunks,
}

/// Moves `ITEMS` items through a ring between two threads and checks the exact
/// sequence on the consumer side.
fn fifo<T: Copy + Send + PartialEq + fmt::Debug, const N: usize>(make: fn(u64) -> T, mode: Mode) {
    let mut ring: SpscRing<T, N> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0u64;
            let mut batch = Vec::new();
            while next < ITEMS {
                let k = match mode {
                    Mode::Single => 1,
                    _ => (next % 97 + 1).min(ITEMS - next).min(N as u64) as usize,
                };
                batch.clear();
                batch.extend((next..next + k as u64).map(make));
                let done = match mode {
                    Mode::Single => usize::from(tx.try_push(batch[0]).is_ok()),
                    Mode::Slices => tx.push_slice(&batch),
                    Mode::Chunks => match tx.write_chunk(k) {
                        Ok(mut chunk) => {
                            let (a, b) = chunk.as_mut_slices();
                            for (slot, v) in a.iter_mut().chain(b.iter_mut()).zip(&batch) {
                                slot.write(*v);
                            }
                            // SAFETY: all `k` slots were written just above.
                            unsafe { chunk.commit_all() };
                            k
                        }
                        Err(_) => 0,
                    },
                };
                if done == 0 {
                    thread::yield_now();
                }
                next += done as u64;
            }
        });
        let mut want = 0u64;
        let mut buf = Vec::from_iter((0..64).map(make));
        while want < ITEMS {
            let got = match mode {
                Mode::Single => match rx.try_pop() {
                    Ok(v) => {
                        buf[0] = v;
                        1
                    }
                    Err(_) => 0,
                },
                _ => {
                    let k = (want % 61 + 1) as usize;
                    rx.pop_slice(&mut buf[..k])
                }
            };
            if got == 0 {
                thread::yield_now();
            }
            for v in &buf[..got] {
                assert_eq!(*v, make(want), "item {want}");
                want += 1;
            }
        }
    });
}

/// The prefetch is on exactly where a free line ahead can exist.
#[test]
fn prefetch_decision_by_item_size_and_capacity() {
    assert_eq!(SpscRing::<u64, 1024>::AHEAD, 64);
    assert_eq!(SpscRing::<Item<24>, 1000>::AHEAD, 22);
    assert_eq!(SpscRing::<Item<128>, 64>::AHEAD, 4);
    assert_eq!(SpscRing::<(), 1024>::AHEAD, 0);
    assert_eq!(SpscRing::<u64, 1024>::AHEAD_FREE, 64 + 9);
    assert_eq!(SpscRing::<Item<128>, 64>::AHEAD_FREE, 4 + 2);
    assert_eq!(SpscRing::<u64, 1024>::new().prefetches(), prefetch::ENABLED);
    assert_eq!(SpscRing::<u64, 74>::new().prefetches(), prefetch::ENABLED);
    assert_eq!(
        SpscRing::<Item<24>, 1000>::new().prefetches(),
        prefetch::ENABLED
    );
    assert_eq!(
        SpscRing::<Item<128>, 64>::new().prefetches(),
        prefetch::ENABLED
    );
    // No line ahead is ever free in these.
    assert!(!SpscRing::<u64, 73>::new().prefetches());
    assert!(!SpscRing::<u64, 16>::new().prefetches());
    assert!(!SpscRing::<Item<128>, 6>::new().prefetches());
    assert!(!SpscRing::<(), 1024>::new().prefetches());
}

/// The CPUID answer is cached and stable.
#[test]
fn prefetchw_detection_is_stable() {
    let first = prefetch::supported();
    for _ in 0..3 {
        assert_eq!(prefetch::supported(), first);
    }
}

#[test]
fn prefetching_rings_keep_fifo_order_single() {
    fifo::<u64, 1024>(|n| n, Mode::Single);
    fifo::<u64, 1000>(|n| n, Mode::Single);
    fifo::<u64, 74>(|n| n, Mode::Single);
    fifo::<Item<24>, 1000>(Item::new, Mode::Single);
    fifo::<Item<128>, 64>(Item::new, Mode::Single);
}

#[test]
fn prefetching_rings_keep_fifo_order_slices() {
    fifo::<u64, 1024>(|n| n, Mode::Slices);
    fifo::<u64, 1000>(|n| n, Mode::Slices);
    fifo::<Item<24>, 1000>(Item::new, Mode::Slices);
    fifo::<Item<128>, 64>(Item::new, Mode::Slices);
}

#[test]
fn prefetching_rings_keep_fifo_order_chunks() {
    fifo::<u64, 1024>(|n| n, Mode::Chunks);
    fifo::<u64, 1000>(|n| n, Mode::Chunks);
    fifo::<Item<24>, 1000>(Item::new, Mode::Chunks);
    fifo::<Item<128>, 64>(Item::new, Mode::Chunks);
}
