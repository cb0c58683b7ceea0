//! [`ShmByteRing`]: a byte ring whose buffer follows it in a shared mapping, its size
//! chosen at run time (the unsized-storage idea of `heapless`' views, as for
//! [`ShmMpmcRing`](crate::mpmc::ShmMpmcRing)); and the shared-memory contract of the
//! inline [`ByteRing`](super::ByteRing).

use core::alloc::Layout;
use core::mem::{align_of, size_of};
use core::ptr::{self, addr_of_mut, NonNull};

use super::{ByteRingIn, Flags, Word};
use crate::atomic::AtomicUsize;
use crate::shm::segment::{attach_tailed, create_tailed, fingerprint, tailed_required_len, Tailed};
use crate::shm::{InPlace, Segment, SegmentError, SharedWait, ShmSafe};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

/// A framed SPSC byte ring whose buffer size is chosen at run time and follows the
/// ring in one shared mapping: made with [`create_in`](ByteRingIn::create_in), reached
/// from other processes with [`attach_in`](ByteRingIn::attach_in); the same methods as
/// [`ByteRing`](super::ByteRing).
///
/// ```
/// # #[cfg(all(feature = "std", target_os = "linux"))] {
/// use core::ptr::NonNull;
/// use conkit_core::byte_ring::ShmByteRing;
/// use conkit_core::shm::Segment;
/// use conkit_core::wait::SharedFutex;
///
/// type Ring = ShmByteRing<SharedFutex>;
/// let len = Ring::required_len(1 << 16).unwrap();
/// // Stand-in for a `MAP_SHARED` mapping.
/// let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
/// let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
///
/// // SAFETY: `mem` is valid for `len` bytes while the rings are used.
/// let ring = unsafe { Ring::create_in(mem, len, 1 << 16) }.unwrap();
/// let mut tx = Segment::value(&ring).claim_producer().unwrap();
/// tx.send(b"ping").unwrap();
/// let other = unsafe { Ring::attach_in(mem, len) }.unwrap();
/// let mut rx = Segment::value(&other).claim_consumer().unwrap();
/// assert_eq!(&*rx.read().unwrap(), b"ping");
/// # drop((tx, rx));
/// # unsafe { std::alloc::dealloc(mem.as_ptr(), layout) };
/// # }
/// ```
pub type ShmByteRing<W = DefaultWait> = ByteRingIn<[Word], W>;

// SAFETY: `repr(C)` positions, `Waiters`, flags and a buffer of plain `u64` words; no
// pointers; waits through a `SharedWait` `W`.
unsafe impl<const N: usize, W: SharedWait> ShmSafe for ByteRingIn<[Word; N], W> {}
// SAFETY: as above, with the buffer unsized.
unsafe impl<W: SharedWait> ShmSafe for ShmByteRing<W> {}

/// Writes every field but the buffer with the state of `new()`.
///
/// # Safety
/// `this` valid for writes and aligned.
unsafe fn init_fields<B: super::Words + ?Sized, W: WaitStrategy>(this: *mut ByteRingIn<B, W>) {
    // SAFETY: the caller's contract; field pointers only.
    unsafe {
        addr_of_mut!((*this).head).write(CachePadded::new(AtomicUsize::new(0)));
        addr_of_mut!((*this).tail).write(CachePadded::new(AtomicUsize::new(0)));
        addr_of_mut!((*this).not_empty).write(CachePadded::new(Waiters::new()));
        addr_of_mut!((*this).not_full).write(CachePadded::new(Waiters::new()));
        addr_of_mut!((*this).flags).write(CachePadded::new(Flags::new()));
    }
}

// SAFETY: writes the fields of `new()` and zeroes the buffer (`new()`'s zero words).
unsafe impl<const N: usize, W: SharedWait> InPlace for ByteRingIn<[Word; N], W> {
    unsafe fn init_in_place(this: *mut Self) {
        const {
            assert!(
                N >= 2 && N.is_power_of_two(),
                "ByteRing: WORDS must be a power of two >= 2"
            )
        };
        // SAFETY: the caller's contract; zero bits are a valid `Word`.
        unsafe {
            init_fields(this);
            ptr::write_bytes(addr_of_mut!((*this).buf).cast::<Word>(), 0, N);
        }
    }
}

/// The layout of a ring of `words` words (the `repr(C)` rules, field by field).
fn ring_layout<W: WaitStrategy>(words: usize) -> Option<Layout> {
    let l = Layout::new::<CachePadded<AtomicUsize>>()
        .extend(Layout::new::<CachePadded<AtomicUsize>>())
        .ok()?
        .0
        .extend(Layout::new::<CachePadded<Waiters<W>>>())
        .ok()?
        .0
        .extend(Layout::new::<CachePadded<Waiters<W>>>())
        .ok()?
        .0
        .extend(Layout::new::<CachePadded<Flags>>())
        .ok()?
        .0
        .extend(Layout::array::<Word>(words).ok()?)
        .ok()?
        .0;
    Some(l.pad_to_align())
}

impl<W: SharedWait> ShmByteRing<W> {
    /// The words of a buffer of `capacity` bytes, if that is a power of two `>= 16`
    /// that fits the arithmetic.
    fn words_for(capacity: usize) -> Option<usize> {
        (capacity >= 16 && capacity.is_power_of_two() && capacity <= isize::MAX as usize / 2)
            .then_some(capacity / 8)
    }

    /// Bytes of memory a segment holding a ring of `capacity` buffer bytes needs, or
    /// `None` if `capacity` is not a power of two `>= 16` (or overflows).
    ///
    /// ```
    /// use conkit_core::byte_ring::ShmByteRing;
    /// use conkit_core::wait::Spin;
    ///
    /// assert!(ShmByteRing::<Spin>::required_len(1 << 20).unwrap() > 1 << 20);
    /// assert_eq!(ShmByteRing::<Spin>::required_len(1000), None);
    /// ```
    pub fn required_len(capacity: usize) -> Option<usize> {
        tailed_required_len::<Self>(capacity)
    }

    /// Creates a segment in the fresh memory at `mem` holding an empty ring with a
    /// buffer of `capacity` bytes (a power of two `>= 16`), initialised in place.
    ///
    /// Fails with [`SegmentError::InvalidCapacity`], or as [`Segment::create`].
    ///
    /// # Safety
    /// As [`Segment::create`].
    pub unsafe fn create_in<'m>(
        mem: NonNull<u8>,
        len: usize,
        capacity: usize,
    ) -> Result<Segment<'m, Self>, SegmentError> {
        // SAFETY: the caller's contract.
        unsafe { create_tailed(mem, len, capacity, false) }
    }

    /// [`create_in`](Self::create_in) in memory known to be all zero — a fresh `memfd`
    /// or `shm_open` object is zero-filled by the kernel — without writing the buffer's
    /// zero bytes again: creating a ring then touches only its header and indices, not
    /// every page of the buffer (0.7 ms per MiB measured on the CI machine).
    ///
    /// Fails as [`create_in`](Self::create_in).
    ///
    /// # Safety
    /// As [`create_in`](Self::create_in), and the `len` bytes at `mem` are all zero.
    ///
    /// ```
    /// use conkit_core::byte_ring::ShmByteRing;
    /// use conkit_core::wait::Spin;
    /// use std::alloc::{alloc_zeroed, dealloc, Layout};
    /// use std::ptr::NonNull;
    ///
    /// let len = ShmByteRing::<Spin>::required_len(64).unwrap();
    /// let layout = Layout::from_size_align(len, 128).unwrap();
    /// // SAFETY: a non-zero size.
    /// let mem = NonNull::new(unsafe { alloc_zeroed(layout) }).unwrap();
    /// // SAFETY: `len` zeroed bytes, used only through this segment, freed after it.
    /// let seg = unsafe { ShmByteRing::<Spin>::create_in_zeroed(mem, len, 64) }.unwrap();
    /// // SAFETY: the only producer and the only consumer handle.
    /// let (mut tx, mut rx) = unsafe { (seg.lease_producer(), seg.lease_consumer()) };
    /// tx.send(b"hi").unwrap();
    /// assert_eq!(&*rx.read().unwrap(), b"hi");
    /// drop((tx, rx, seg));
    /// // SAFETY: allocated above with this layout.
    /// unsafe { dealloc(mem.as_ptr(), layout) };
    /// ```
    pub unsafe fn create_in_zeroed<'m>(
        mem: NonNull<u8>,
        len: usize,
        capacity: usize,
    ) -> Result<Segment<'m, Self>, SegmentError> {
        // SAFETY: the caller's contract (the memory is all zero).
        unsafe { create_tailed(mem, len, capacity, true) }
    }

    /// Attaches to a ring created with [`create_in`](Self::create_in) at `mem`: checks
    /// the header (as [`Segment::attach`]) and takes the capacity from it.
    ///
    /// # Safety
    /// As [`Segment::attach`].
    pub unsafe fn attach_in<'m>(
        mem: NonNull<u8>,
        len: usize,
    ) -> Result<Segment<'m, Self>, SegmentError> {
        // SAFETY: the caller's contract.
        unsafe { attach_tailed(mem, len) }
    }
}

// SAFETY: `layout` is `ring_layout`, the layout of the ring `from_raw` points to (its
// last field is the word buffer), and `init_at` writes every field and zeroes the buffer.
unsafe impl<W: SharedWait> Tailed for ShmByteRing<W> {
    fn tail_len(capacity: usize) -> Option<usize> {
        Self::words_for(capacity)
    }

    fn layout(words: usize) -> Option<Layout> {
        ring_layout::<W>(words)
    }

    fn align() -> usize {
        align_of::<CachePadded<AtomicUsize>>().max(align_of::<Word>())
    }

    fn type_fingerprint() -> u64 {
        fingerprint::<Self>(size_of::<Word>(), Self::align())
    }

    fn from_raw(p: *mut u8, words: usize) -> *mut Self {
        ptr::slice_from_raw_parts_mut(p.cast::<Word>(), words) as *mut Self
    }

    unsafe fn init_at(ring: *mut Self, words: usize) {
        // SAFETY: valid for writes and aligned (caller); field pointers only.
        unsafe {
            init_fields(ring);
            ptr::write_bytes(addr_of_mut!((*ring).buf).cast::<Word>(), 0, words);
        }
    }

    unsafe fn init_at_zeroed(ring: *mut Self, _words: usize) {
        // SAFETY: as `init_at`; the buffer's words are zero already (caller): an
        // all-zero `Word` is a valid atomic holding 0.
        unsafe { init_fields(ring) };
    }
}
