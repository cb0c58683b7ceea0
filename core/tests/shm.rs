//! Tests of `conkit_core::shm` within one process (miri runs them): every
//! `SegmentError` of create and attach, in-place initialisation over garbage memory,
//! the run-time-capacity MPMC ring (its unsized slots after the header), and two
//! attachments of the same memory used by two threads, counted item by item. The
//! cross-process proof (real `fork`, `memfd`, `MAP_SHARED`) is `conkit-tests`'
//! `processes_rings`.
#![cfg(not(loom))]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::thread;

use conkit_core::mpmc::{MpmcRing, ShmMpmcRing};
use conkit_core::semaphore::Semaphore;
use conkit_core::shm::{Segment, SegmentError, LAYOUT_VERSION};
use conkit_core::spsc::SpscRing;
use conkit_core::wait::Spin;

const ITEMS: u64 = if cfg!(miri) { 300 } else { 200_000 };

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

    fn len(&self) -> usize {
        self.layout.size()
    }

    fn fill(&self, byte: u8) {
        // SAFETY: the whole allocation, not in use.
        unsafe { self.ptr.as_ptr().write_bytes(byte, self.len()) };
    }

    fn word(&self, index: usize) -> *mut u32 {
        // SAFETY: tests only poke the header's first words.
        unsafe { self.ptr.as_ptr().cast::<u32>().add(index) }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

// SAFETY: sharing `&Mem` shares the pointer between the test's threads; every access
// through it goes through a segment's atomics.
unsafe impl Sync for Mem {}

type Spsc = SpscRing<u64, 64, Spin>;
type Mpmc = MpmcRing<u64, 64, Spin>;
type Dyn = ShmMpmcRing<u64, Spin>;

#[test]
fn attach_checks_every_header_field() {
    let mem = Mem::new(Segment::<Mpmc>::required_len());
    let len = mem.len();
    // SAFETY: (every call in this test) `mem` outlives the segments and is only used
    // through them (the header pokes below happen while no segment is in use).
    unsafe {
        assert_eq!(
            Segment::<Mpmc>::attach(mem.ptr, len).unwrap_err(),
            SegmentError::NotReady
        );
        let ring = Segment::<Mpmc>::create(mem.ptr, len).unwrap();
        ring.try_push(1).unwrap();
        assert!(matches!(
            Segment::<Mpmc>::create(mem.ptr, len),
            Err(SegmentError::AlreadyCreated { state: 2 })
        ));
        // Another type over the same bytes.
        assert!(matches!(
            Segment::<MpmcRing<u32, 64, Spin>>::attach(mem.ptr, len),
            Err(SegmentError::FingerprintMismatch { .. })
        ));
        assert!(matches!(
            Segment::<Spsc>::attach(mem.ptr, len),
            Err(SegmentError::FingerprintMismatch { .. })
        ));
        // Too short a mapping.
        assert!(matches!(
            Segment::<Mpmc>::attach(mem.ptr, len - 1),
            Err(SegmentError::TooSmall { .. })
        ));
        // Another layout version.
        let version = mem.word(2);
        version.write(LAYOUT_VERSION + 1);
        assert_eq!(
            Segment::<Mpmc>::attach(mem.ptr, len).unwrap_err(),
            SegmentError::LayoutVersion {
                found: LAYOUT_VERSION + 1,
                expected: LAYOUT_VERSION
            }
        );
        version.write(LAYOUT_VERSION);
        // Not a segment at all.
        let magic = mem.word(0);
        magic.write(0xdead_beef);
        assert!(matches!(
            Segment::<Mpmc>::attach(mem.ptr, len),
            Err(SegmentError::BadMagic {
                magic: 0xdead_beef,
                ..
            })
        ));
        magic.write(u32::from_le_bytes(*b"CKSM"));
        // Intact again: the item is there.
        let again = Segment::<Mpmc>::attach(mem.ptr, len).unwrap();
        assert_eq!(again.try_pop(), Some(1));
        // A garbage state word.
        mem.word(1).write(77);
        assert!(matches!(
            Segment::<Mpmc>::attach(mem.ptr, len),
            Err(SegmentError::BadMagic { state: 77, .. })
        ));
    }
}

#[test]
fn create_checks_room_and_alignment() {
    let mem = Mem::new(Segment::<Spsc>::required_len());
    // SAFETY: as above.
    unsafe {
        assert!(matches!(
            Segment::<Spsc>::create(mem.ptr, mem.len() - 8),
            Err(SegmentError::TooSmall { .. })
        ));
        let odd = NonNull::new(mem.ptr.as_ptr().add(8)).unwrap();
        assert!(matches!(
            Segment::<Spsc>::create(odd, mem.len() - 8),
            Err(SegmentError::Misaligned { .. })
        ));
        // Nothing was claimed by the failed attempts.
        assert!(Segment::<Spsc>::create(mem.ptr, mem.len()).is_ok());
    }
}

#[test]
fn in_place_init_overwrites_garbage() {
    let mem = Mem::new(Segment::<Spsc>::required_len());
    mem.fill(0xab);
    // The state word must be zero for `create`: a fresh mapping is.
    // SAFETY: not in use.
    unsafe { mem.word(1).write(0) };
    // SAFETY: as above.
    let ring = unsafe { Segment::<Spsc>::create(mem.ptr, mem.len()) }.unwrap();
    let mut tx = Segment::value(&ring).claim_producer().unwrap();
    let mut rx = Segment::value(&ring).claim_consumer().unwrap();
    assert!(rx.try_pop().is_err());
    for i in 0..64 {
        tx.try_push(i).unwrap();
    }
    assert!(tx.try_push(64).is_err());
    for i in 0..64 {
        assert_eq!(rx.try_pop(), Ok(i));
    }
}

#[test]
fn run_time_capacity_ring_lives_behind_the_header() {
    for cap in [1usize, 3, 64, 100] {
        let cap = NonZeroUsize::new(cap).unwrap();
        let len = Dyn::required_len(cap).unwrap();
        let mem = Mem::new(len);
        // SAFETY: as above.
        let ring = unsafe { Dyn::create_in(mem.ptr, len, cap) }.unwrap();
        assert_eq!(ring.capacity(), cap.get());
        assert_eq!(Segment::header(&ring).capacity(), cap.get());
        for i in 0..cap.get() as u64 {
            ring.try_push(i).unwrap();
        }
        assert!(ring.try_push(99).is_err(), "full at exactly {cap}");
        // SAFETY: as above.
        let other = unsafe { Dyn::attach_in(mem.ptr, len) }.unwrap();
        assert_eq!(other.capacity(), cap.get());
        for i in 0..cap.get() as u64 {
            assert_eq!(other.try_pop(), Some(i));
        }
        assert_eq!(other.try_pop(), None);
        // The same bytes as a fixed-capacity ring, or too short: errors.
        // SAFETY: as above.
        unsafe {
            assert!(matches!(
                Segment::<Mpmc>::attach(mem.ptr, len),
                Err(SegmentError::FingerprintMismatch { .. })
            ));
            assert!(matches!(
                Dyn::attach_in(mem.ptr, len - 1),
                Err(SegmentError::TooSmall { .. })
            ));
        }
    }
}

#[test]
fn run_time_capacity_too_large_is_an_error() {
    let mem = Mem::new(4096);
    let huge = NonZeroUsize::new(usize::MAX / 2).unwrap();
    assert!(Dyn::required_len(huge).is_none());
    // SAFETY: as above (fails before writing).
    let err = unsafe { Dyn::create_in(mem.ptr, mem.len(), huge) }.unwrap_err();
    assert_eq!(err, SegmentError::InvalidCapacity(usize::MAX / 2));
    // Fits the arithmetic but not the memory.
    let big = NonZeroUsize::new(10_000).unwrap();
    // SAFETY: as above.
    let err = unsafe { Dyn::create_in(mem.ptr, mem.len(), big) }.unwrap_err();
    assert!(matches!(err, SegmentError::TooSmall { .. }));
}

#[test]
fn two_attachments_move_every_item_once() {
    let cap = NonZeroUsize::new(37).unwrap();
    let len = Dyn::required_len(cap).unwrap();
    let mem = Mem::new(len);
    // SAFETY: as above.
    let created = unsafe { Dyn::create_in(mem.ptr, len, cap) }.unwrap();
    let mem = &mem;
    let sums: Vec<u64> = thread::scope(|s| {
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                s.spawn(move || {
                    // SAFETY: as above.
                    let ring = unsafe { Dyn::attach_in(mem.ptr, len) }.unwrap();
                    for i in 0..ITEMS {
                        let mut v = p * ITEMS + i;
                        while let Err(full) = ring.try_push(v) {
                            v = full.into_inner();
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(move || {
                    // SAFETY: as above.
                    let ring = unsafe { Dyn::attach_in(mem.ptr, len) }.unwrap();
                    let (mut n, mut sum) = (0u64, 0u64);
                    while n < ITEMS {
                        match ring.try_pop() {
                            Some(v) => {
                                n += 1;
                                sum += v;
                            }
                            None => thread::yield_now(),
                        }
                    }
                    sum
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let total = 2 * ITEMS;
    assert_eq!(sums.iter().sum::<u64>(), total * (total - 1) / 2);
    assert_eq!(created.try_pop(), None);
}

#[test]
fn small_primitives_are_created_with_their_arguments() {
    let mem = Mem::new(Segment::<Semaphore<Spin>>::required_len());
    // SAFETY: as above.
    let sem =
        unsafe { Segment::create_with(mem.ptr, mem.len(), || Semaphore::<Spin>::new(1)) }.unwrap();
    assert!(sem.try_acquire());
    assert!(!sem.try_acquire());
    assert_eq!(
        SegmentError::NotReady.to_string(),
        "segment not initialised yet"
    );
}

#[test]
fn shared_byte_ring_moves_every_message_between_attachments() {
    use conkit_core::byte_ring::{GrantError, RecvError, ShmByteRing};
    type Bytes = ShmByteRing<Spin>;
    assert_eq!(Bytes::required_len(100), None);
    let len = Bytes::required_len(256).unwrap();
    let mem = Mem::new(len);
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            Bytes::create_in(mem.ptr, len, 100).unwrap_err(),
            SegmentError::InvalidCapacity(100)
        );
    }
    // SAFETY: as above.
    let created = unsafe { Bytes::create_in(mem.ptr, len, 256) }.unwrap();
    assert_eq!(created.capacity(), 256);
    assert_eq!(created.max_message(), 120);
    let mem = &mem;
    let messages = ITEMS / 10;
    let sum = thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: as above.
            let ring = unsafe { Bytes::attach_in(mem.ptr, len) }.unwrap();
            let mut tx = Segment::value(&ring).claim_producer().unwrap();
            for i in 0..messages {
                let n = (i % 121) as usize;
                let msg = vec![i as u8; n];
                loop {
                    match tx.send(&msg) {
                        Ok(()) => break,
                        Err(GrantError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        s.spawn(move || {
            // SAFETY: as above.
            let ring = unsafe { Bytes::attach_in(mem.ptr, len) }.unwrap();
            let mut rx = Segment::value(&ring).claim_consumer().unwrap();
            let mut sum = 0u64;
            let mut i = 0;
            loop {
                match rx.read() {
                    Ok(m) => {
                        assert_eq!(m.len(), (i % 121) as usize);
                        assert!(m.iter().all(|&b| b == i as u8));
                        sum += m.len() as u64;
                        i += 1;
                    }
                    Err(RecvError::Empty) => thread::yield_now(),
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(i, messages);
            sum
        })
        .join()
        .unwrap()
    });
    assert_eq!(sum, (0..messages).map(|i| i % 121).sum::<u64>());
}
