//! The SPSC ring with a run-time capacity (`ShmSpscRing`: the same ring algorithm over
//! an unsized slot slice following the ring behind a segment header), within one
//! process (miri runs them): FIFO order, fullness and wrap-around at capacities 1, 3,
//! 64 and 100 (power-of-two and not, so both position schemes), slices and chunks
//! across the wrap, the same answers as the inline `SpscRing<T, N>` step by step,
//! every `SegmentError` of create and attach, claims shared by two attachments, and two
//! threads on two attachments counting every item. The cross-process proof (real
//! `fork`, `memfd`, `MAP_SHARED`) is `conkit-tests`' `processes_rings`.
#![cfg(not(loom))]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::thread;

use conkit_core::shm::{Segment, SegmentError};
use conkit_core::spsc::{PopError, PushError, ShmSpscRing, SpscRing};
use conkit_core::wait::Spin;

const CAPACITIES: [usize; 4] = [1, 3, 64, 100];
const ITEMS: u64 = if cfg!(miri) { 300 } else { 100_000 };

type Ring = ShmSpscRing<u64, Spin>;

/// Page-aligned zeroed memory standing in for a fresh mapping.
struct Mem {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Mem {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
        Self { ptr, layout }
    }

    fn for_ring(cap: usize) -> Self {
        Self::new(Ring::required_len(NonZeroUsize::new(cap).unwrap()).unwrap())
    }

    fn len(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

// SAFETY: sharing `&Mem` shares the pointer between the test's threads; every access
// through it goes through a segment's atomics and the ring's protocol.
unsafe impl Sync for Mem {}

fn create(mem: &Mem, cap: usize) -> Segment<'_, Ring> {
    // SAFETY: `mem` outlives the segment and is used only through segments.
    unsafe { Ring::create_in(mem.ptr, mem.len(), NonZeroUsize::new(cap).unwrap()) }.unwrap()
}

fn attach(mem: &Mem) -> Segment<'_, Ring> {
    // SAFETY: as in `create`.
    unsafe { Ring::attach_in(mem.ptr, mem.len()) }.unwrap()
}

#[test]
fn fills_to_capacity_and_wraps_in_fifo_order() {
    for cap in CAPACITIES {
        let mem = Mem::for_ring(cap);
        let ring = create(&mem, cap);
        assert_eq!(ring.capacity(), cap);
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        assert_eq!((tx.capacity(), rx.capacity()), (cap, cap));
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        // Several laps, each filling the ring exactly and draining it half-way or fully,
        // so both the wrap of the slots and the wrap of the positions are crossed.
        for lap in 0..(4 * 200 / cap + 4) {
            while tx.try_push(next_in).is_ok() {
                next_in += 1;
            }
            assert!(tx.is_full() && rx.is_full(), "cap {cap}");
            assert_eq!(tx.len(), cap);
            assert_eq!(tx.free_len(), 0);
            assert_eq!(tx.try_push(u64::MAX), Err(PushError::Full(u64::MAX)));
            let take = if lap % 2 == 0 { cap } else { cap.div_ceil(2) };
            for _ in 0..take {
                assert_eq!(rx.peek(), Some(&next_out));
                assert_eq!(rx.try_pop(), Ok(next_out), "cap {cap}");
                next_out += 1;
            }
            assert_eq!(rx.len(), cap - take);
        }
        while let Ok(v) = rx.try_pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert_eq!(rx.try_pop(), Err(PopError::Empty));
        drop(tx);
        assert!(rx.is_abandoned());
        assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    }
}

#[test]
fn slices_and_chunks_cross_the_wrap() {
    for cap in CAPACITIES {
        let mem = Mem::for_ring(cap);
        let ring = create(&mem, cap);
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        let mut buf = vec![0u64; cap + 2];
        for round in 0..(60 + 600 / cap) {
            // Producer: a slice or a chunk of a varying size.
            let want = 1 + (round * 13) % (cap + 1);
            if round % 2 == 0 {
                let src: Vec<u64> = (next_in..next_in + want as u64).collect();
                let free = tx.free_len();
                let n = tx.push_slice(&src);
                assert_eq!(n, want.min(free));
                next_in += n as u64;
            } else {
                let free = tx.free_len();
                match tx.write_chunk(want) {
                    Ok(mut chunk) => {
                        let (a, b) = chunk.as_mut_slices();
                        assert_eq!(a.len() + b.len(), want);
                        for slot in a.iter_mut().chain(b.iter_mut()) {
                            slot.write(next_in);
                            next_in += 1;
                        }
                        // SAFETY: every reserved slot was written above.
                        unsafe { chunk.commit_all() };
                    }
                    Err(e) => {
                        assert!(want > free);
                        assert_eq!(e, conkit_core::spsc::ChunkError::TooFewSlots(free));
                    }
                }
            }
            // Consumer: a slice or a chunk moved out by value.
            let take = 1 + (round * 7) % (cap + 1);
            if round % 3 == 0 {
                let n = rx.pop_slice(&mut buf[..take]);
                for &v in &buf[..n] {
                    assert_eq!(v, next_out, "cap {cap}");
                    next_out += 1;
                }
            } else {
                let n = take.min(rx.len());
                let chunk = rx.read_chunk(n).unwrap();
                for v in chunk {
                    assert_eq!(v, next_out, "cap {cap}");
                    next_out += 1;
                }
            }
        }
        let n = rx.pop_slice(&mut buf);
        for &v in &buf[..n] {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert!(next_in > 3 * cap as u64, "cap {cap}: the wrap was crossed");
    }
}

/// The run-time-capacity ring answers every call as the inline ring of the same
/// capacity does (one algorithm: only where the capacity comes from differs).
#[test]
fn answers_as_the_inline_ring_of_the_same_capacity() {
    fn run<const N: usize>() {
        let mut inline: SpscRing<u64, N, Spin> = SpscRing::new();
        let (mut itx, mut irx) = inline.split();
        let mem = Mem::for_ring(N);
        let ring = create(&mem, N);
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        // A fixed pseudo-random script of pushes and pops.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..2_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 5 < 3 {
                assert_eq!(tx.try_push(step), itx.try_push(step), "N {N} step {step}");
            } else {
                assert_eq!(rx.try_pop(), irx.try_pop(), "N {N} step {step}");
            }
            assert_eq!(tx.len(), itx.len());
            assert_eq!(rx.is_empty(), irx.is_empty());
        }
    }
    run::<1>();
    run::<3>();
    run::<64>();
    run::<100>();
}

#[test]
fn a_reference_to_an_inline_ring_is_a_view_of_it() {
    let mut inline: SpscRing<u64, 3, Spin> = SpscRing::new();
    let view: &mut ShmSpscRing<u64, Spin> = &mut inline;
    assert_eq!(view.capacity(), 3);
    let (mut tx, mut rx) = view.split();
    for v in 0..3 {
        tx.try_push(v).unwrap();
    }
    assert!(tx.try_push(3).is_err());
    assert_eq!(rx.try_pop(), Ok(0));
    drop((tx, rx));
    // The items left are still in the inline ring.
    let (_, mut rx) = inline.split();
    assert_eq!(rx.try_pop(), Ok(1));
}

#[test]
fn create_and_attach_report_typed_errors() {
    let cap = NonZeroUsize::new(100).unwrap();
    let mem = Mem::for_ring(100);
    let len = mem.len();
    // SAFETY: (every call) `mem` outlives the segments and is only used through them.
    unsafe {
        assert_eq!(
            Ring::attach_in(mem.ptr, len).unwrap_err(),
            SegmentError::NotReady
        );
        assert!(matches!(
            Ring::create_in(mem.ptr, len - 1, cap),
            Err(SegmentError::TooSmall { .. })
        ));
        let huge = NonZeroUsize::new(usize::MAX / 2).unwrap();
        assert_eq!(
            Ring::create_in(mem.ptr, len, huge).unwrap_err(),
            SegmentError::InvalidCapacity(usize::MAX / 2)
        );
        assert!(Ring::required_len(huge).is_none());
        let created = Ring::create_in(mem.ptr, len, cap).unwrap();
        assert!(matches!(
            Ring::create_in(mem.ptr, len, cap),
            Err(SegmentError::AlreadyCreated { .. })
        ));
        assert_eq!(Segment::header(&created).capacity(), 100);
        assert!(matches!(
            Ring::attach_in(mem.ptr, len - 1),
            Err(SegmentError::TooSmall { .. })
        ));
        // The same bytes as another payload or another strategy: refused.
        assert!(matches!(
            ShmSpscRing::<u32, Spin>::attach_in(mem.ptr, len),
            Err(SegmentError::FingerprintMismatch { .. })
        ));
        #[cfg(target_os = "linux")]
        assert!(matches!(
            ShmSpscRing::<u64, conkit_core::wait::SharedFutex>::attach_in(mem.ptr, len),
            Err(SegmentError::FingerprintMismatch { .. })
        ));
        // The same bytes as the MPMC ring of run-time capacity: refused too.
        assert!(matches!(
            conkit_core::mpmc::ShmMpmcRing::<u64, Spin>::attach_in(mem.ptr, len),
            Err(SegmentError::FingerprintMismatch { .. })
        ));
        let attached = Ring::attach_in(mem.ptr, len).unwrap();
        assert_eq!(attached.capacity(), 100);
    }
}

#[test]
fn each_side_is_claimed_once_across_attachments() {
    let mem = Mem::for_ring(3);
    let a = create(&mem, 3);
    let b = attach(&mem);
    let mut tx = b.claim_producer().expect("first producer claim");
    assert!(a.claim_producer().is_none());
    assert!(b.claim_producer().is_none());
    let mut rx = a.claim_consumer().expect("first consumer claim");
    assert!(b.claim_consumer().is_none());
    tx.try_push(9).unwrap();
    assert_eq!(rx.try_pop(), Ok(9));
}

/// Two threads, each on its own attachment, move `ITEMS` items through rings of every
/// capacity; each item is marked once in a table, in order.
#[test]
fn two_attachments_move_every_item_once() {
    for cap in CAPACITIES {
        let mem = Mem::for_ring(cap);
        let ring = create(&mem, cap);
        let seen = thread::scope(|s| {
            let producer = s.spawn(|| {
                let ring = attach(&mem);
                let mut tx = ring.claim_producer().unwrap();
                for v in 0..ITEMS {
                    tx.push(v).unwrap();
                }
            });
            let mut rx = ring.claim_consumer().unwrap();
            let mut seen = vec![false; ITEMS as usize];
            let mut next = 0;
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, next, "cap {cap}: in order");
                        assert!(!seen[v as usize], "cap {cap}: item {v} twice");
                        seen[v as usize] = true;
                        next += 1;
                    }
                    Err(PopError::Disconnected) => break,
                    Err(PopError::Empty) => unreachable!("pop without a deadline"),
                }
            }
            producer.join().unwrap();
            seen
        });
        assert!(seen.iter().all(|&s| s), "cap {cap}: every item arrived");
    }
}
