//! [`ShmSlots`]: the slots of an MPMC ring following the ring's indices in the same
//! shared mapping, their number chosen at run time ([`ShmMpmcRing`]).
//!
//! Provenance: `heapless` 0.9's view storage (`heapless::mpmc::QueueView`), where one
//! algorithm runs over an unsized `[T]` at the end of the struct, so the capacity is a
//! property of the value (the slice length) rather than of the type. Here the ring is
//! the same [`MpmcRingIn`] as for inline and heap slots; the storage is an unsized
//! `repr(C)` struct (the `mark` computed once, then the slot slice), built in place in
//! the mapping behind a [`SegmentHeader`](crate::shm::SegmentHeader), which records the
//! capacity for the processes that attach.

use core::alloc::Layout;
use core::mem::{align_of, size_of};
use core::num::NonZeroUsize;
use core::ptr::{self, addr_of_mut, NonNull};

use bytemuck::Pod;

use super::{mark_for, sealed, MpmcRingIn, Sleepers, Slot, SlotStorage};
use crate::atomic::AtomicUsize;
use crate::shm::segment::{attach_tailed, create_tailed, fingerprint, value_offset, Tailed};
use crate::shm::{Segment, SegmentError, SharedWait, ShmSafe};
use crate::wait::{DefaultWait, SlotOwner, Unrecorded, WaitStrategy, Waiters};
use crate::CachePadded;

/// The slots of a [`ShmMpmcRing`]: unsized, they follow the ring in its shared mapping
/// (see [`ShmMpmcRing`]). Only [`ShmMpmcRing::create_in`] makes them.
///
/// ```
/// use conkit_core::mpmc::{MpmcRingIn, ShmMpmcRing, ShmSlots};
/// use conkit_core::wait::Spin;
///
/// // The same ring type, spelled with its storage.
/// fn same(r: &ShmMpmcRing<u32, Spin>) -> &MpmcRingIn<u32, ShmSlots<u32>, Spin> {
///     r
/// }
/// # let _ = same;
/// ```
#[repr(C)]
pub struct ShmSlots<T, R = Unrecorded> {
    /// The ring's `mark` for `slots.len()`, computed once at creation.
    mark: usize,
    slots: [Slot<T, R>],
}

impl<T, R: SlotOwner> sealed::Sealed for ShmSlots<T, R> {}

impl<T, R: SlotOwner> SlotStorage<T> for ShmSlots<T, R> {
    type Owner = R;

    #[inline(always)]
    fn slots(&self) -> &[Slot<T, R>] {
        &self.slots
    }

    #[inline(always)]
    fn mark(&self) -> usize {
        self.mark
    }
}

impl<T, R> core::fmt::Debug for ShmSlots<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShmSlots")
            .field("capacity", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// A bounded MPMC ring whose capacity is chosen at run time and whose slots follow it in
/// one shared mapping: the same algorithm and methods as [`MpmcRing`](super::MpmcRing),
/// made with [`create_in`](MpmcRingIn::create_in) and reached from other processes with
/// [`attach_in`](MpmcRingIn::attach_in).
///
/// ```
/// # #[cfg(all(feature = "std", target_os = "linux"))] {
/// use core::num::NonZeroUsize;
/// use core::ptr::NonNull;
/// use conkit_core::mpmc::ShmMpmcRing;
/// use conkit_core::wait::SharedFutex;
///
/// type Ring = ShmMpmcRing<u64, SharedFutex>;
/// let cap = NonZeroUsize::new(1000).unwrap();
/// let len = Ring::required_len(cap).unwrap();
/// // Stand-in for a `MAP_SHARED` mapping.
/// let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
/// let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
///
/// // SAFETY: `mem` is valid for `len` bytes while the rings are used.
/// let ring = unsafe { Ring::create_in(mem, len, cap) }.unwrap();
/// assert_eq!(ring.capacity(), 1000);
/// ring.try_push(1).unwrap();
/// let other = unsafe { Ring::attach_in(mem, len) }.unwrap();
/// assert_eq!(other.capacity(), 1000);
/// assert_eq!(other.try_pop(), Some(1));
/// # unsafe { std::alloc::dealloc(mem.as_ptr(), layout) };
/// # }
/// ```
pub type ShmMpmcRing<T, W = DefaultWait> =
    MpmcRingIn<T, ShmSlots<T, <W as WaitStrategy>::SlotOwner>, W>;

// SAFETY: `repr(C)` indices, `Waiters` and a `repr(C)` slot slice of `Pod` values
// behind a plain `usize`; no pointers; waits through a `SharedWait` `W`.
unsafe impl<T: Pod + Send, W: SharedWait> ShmSafe for ShmMpmcRing<T, W> {}

/// The layout of a `ShmMpmcRing<T, W>` of `capacity` slots (the `repr(C)` rules, field
/// by field), or `None` if it overflows.
fn ring_layout<T, W: WaitStrategy>(capacity: usize) -> Option<Layout> {
    let slots = Layout::new::<usize>()
        .extend(Layout::array::<Slot<T, W::SlotOwner>>(capacity).ok()?)
        .ok()?
        .0
        .pad_to_align();
    let ring = Layout::new::<CachePadded<AtomicUsize>>()
        .extend(Layout::new::<CachePadded<AtomicUsize>>())
        .ok()?
        .0
        .extend(Layout::new::<CachePadded<Sleepers<W>>>())
        .ok()?
        .0
        .extend(slots)
        .ok()?
        .0;
    Some(ring.pad_to_align())
}

/// The largest capacity: positions need two bits above the index (`mark` and a lap).
const MAX_CAPACITY: usize = usize::MAX >> 3;

impl<T: Pod + Send, W: SharedWait> MpmcRingIn<T, ShmSlots<T, W::SlotOwner>, W> {
    /// Bytes of memory a segment holding a ring of `capacity` slots needs (header,
    /// padding, ring, slots), or `None` if that overflows `usize`.
    ///
    /// ```
    /// use core::num::NonZeroUsize;
    /// use conkit_core::mpmc::ShmMpmcRing;
    /// use conkit_core::wait::Spin;
    ///
    /// let small = ShmMpmcRing::<u64, Spin>::required_len(NonZeroUsize::new(16).unwrap());
    /// let large = ShmMpmcRing::<u64, Spin>::required_len(NonZeroUsize::new(32).unwrap());
    /// // A stamp and a u64 per slot (the whole is padded to the ring's alignment, a
    /// // cache line: 16 slots are a multiple of it).
    /// assert_eq!(large.unwrap() - small.unwrap(), 16 * 16);
    /// # #[cfg(all(feature = "std", target_os = "linux"))] {
    /// use conkit_core::wait::SharedFutex;
    /// let small = ShmMpmcRing::<u64, SharedFutex>::required_len(NonZeroUsize::new(16).unwrap());
    /// let large = ShmMpmcRing::<u64, SharedFutex>::required_len(NonZeroUsize::new(32).unwrap());
    /// // Between processes each slot also records its claimant (a `u32`, padded).
    /// assert_eq!(large.unwrap() - small.unwrap(), 16 * 24);
    /// # }
    /// ```
    pub fn required_len(capacity: NonZeroUsize) -> Option<usize> {
        let layout = ring_layout::<T, W>(capacity.get())?;
        value_offset(layout.align()).checked_add(layout.size())
    }

    /// Creates a segment in the fresh memory at `mem` holding an empty ring of exactly
    /// `capacity` slots, initialised in place (the slots are zeroed: an empty slot of
    /// lap 0 is all zero bits but its uninitialised value).
    ///
    /// Fails with [`SegmentError::InvalidCapacity`] (too large), or as
    /// [`Segment::create`].
    ///
    /// # Safety
    /// As [`Segment::create`].
    pub unsafe fn create_in<'m>(
        mem: NonNull<u8>,
        len: usize,
        capacity: NonZeroUsize,
    ) -> Result<Segment<'m, Self>, SegmentError> {
        // SAFETY: the caller's contract.
        unsafe { create_tailed(mem, len, capacity.get(), false) }
    }

    /// Attaches to a ring another process (or this one) created with
    /// [`create_in`](Self::create_in) at `mem`: checks the header (as
    /// [`Segment::attach`]) and takes the capacity from it.
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
// last field is the slot slice), and `init_at` writes every field of an empty ring.
unsafe impl<T: Pod + Send, W: SharedWait> Tailed for MpmcRingIn<T, ShmSlots<T, W::SlotOwner>, W> {
    fn tail_len(capacity: usize) -> Option<usize> {
        (capacity != 0 && capacity <= MAX_CAPACITY).then_some(capacity)
    }

    fn layout(tail_len: usize) -> Option<Layout> {
        ring_layout::<T, W>(tail_len)
    }

    fn align() -> usize {
        align_of::<CachePadded<AtomicUsize>>()
            .max(align_of::<CachePadded<Sleepers<W>>>())
            .max(align_of::<Slot<T, W::SlotOwner>>())
    }

    fn type_fingerprint() -> u64 {
        fingerprint::<Self>(size_of::<Slot<T, W::SlotOwner>>(), Self::align())
    }

    fn from_raw(p: *mut u8, cap: usize) -> *mut Self {
        // The slice metadata (`cap`) carries over to the struct whose last field is the
        // slot slice.
        ptr::slice_from_raw_parts_mut(p.cast::<Slot<T, W::SlotOwner>>(), cap) as *mut Self
    }

    unsafe fn init_at(ring: *mut Self, cap: usize) {
        // SAFETY: valid and aligned (caller); field pointers are derived without
        // references to the uninitialised value. All-zero slots are empty slots of lap 0
        // (see `Slot::new`), the state of a new ring.
        unsafe {
            addr_of_mut!((*ring).head).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*ring).tail).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*ring).sleepers).write(CachePadded::new(Sleepers {
                not_empty: Waiters::new(),
                not_full: Waiters::new(),
            }));
            let storage = addr_of_mut!((*ring).slots);
            addr_of_mut!((*storage).mark).write(mark_for(cap));
            let slots = addr_of_mut!((*storage).slots).cast::<Slot<T, W::SlotOwner>>();
            ptr::write_bytes(slots, 0, cap);
        }
    }
}

// SAFETY: writes the indices and sleepers of `new()` and zeroes the slots: all-zero
// slots are empty slots of lap 0 (see `Slot::new`), the state `new()` builds.
unsafe impl<T: Pod + Send, const N: usize, W: SharedWait> crate::shm::InPlace
    for MpmcRingIn<T, [Slot<T, W::SlotOwner>; N], W>
{
    unsafe fn init_in_place(this: *mut Self) {
        const { assert!(N > 0, "an MpmcRing needs a capacity N >= 1") };
        // SAFETY: valid and aligned (caller); field pointers only, no references to the
        // uninitialised value.
        unsafe {
            addr_of_mut!((*this).head).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*this).tail).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*this).sleepers).write(CachePadded::new(Sleepers {
                not_empty: Waiters::new(),
                not_full: Waiters::new(),
            }));
            ptr::write_bytes(
                addr_of_mut!((*this).slots).cast::<Slot<T, W::SlotOwner>>(),
                0,
                N,
            );
        }
    }
}
