//! Where a ring keeps its slots: [`Slot`], [`SlotStorage`].
//!
//! Provenance: `heapless` 0.9's `spsc` storages (`OwnedStorage<N>`, an array, and
//! `ViewStorage`, an unsized slice at the end of the struct), which let one ring
//! algorithm serve a capacity fixed in the type and one chosen at run time. Here the
//! storage is the slot container itself, as in [`crate::mpmc::SlotStorage`]:
//! `[Slot<T>; N]` for [`SpscRing<T, N, W>`](super::SpscRing) (the capacity `N` is a
//! constant the compiler folds into every position computation) and `[Slot<T>]` for
//! [`ShmSpscRing<T, W>`](super::ShmSpscRing) (the capacity is the slice length, carried
//! in the ring reference's metadata, so reading it costs no memory access).

use core::fmt;
use core::mem::MaybeUninit;

use crate::atomic::UnsafeCell;

/// One slot of an SPSC ring: the place of one item.
///
/// Only useful as the element of a [`SlotStorage`]; its contents are private to the ring.
/// `repr(transparent)` over the item's `MaybeUninit`, so a slice of slots is a slice of
/// `MaybeUninit<T>` (what the slice copies and chunks rely on).
#[repr(transparent)]
pub struct Slot<T>(pub(super) UnsafeCell<MaybeUninit<T>>);

impl<T> Slot<T> {
    crate::atomic::maybe_const_fn! {
        /// An empty slot.
        pub(super) fn new() -> Self {
            Self(UnsafeCell::new(MaybeUninit::uninit()))
        }
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Slot(..)")
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Where an SPSC ring keeps its slots: `[Slot<T>; N]` inline (a capacity in the type),
/// or `[Slot<T>]` (a capacity chosen at run time, for rings made in shared memory by
/// [`ShmSpscRing::create_in`](super::ShmSpscRing)). Sealed: the ring's safety rests on
/// the slots being the same non-empty slice for the ring's whole life, at most
/// `usize::MAX / 4` long, which only this crate's constructors guarantee.
///
/// ```
/// use conkit_core::spsc::{Slot, SlotStorage};
///
/// fn capacity<S: SlotStorage<u8> + ?Sized>(s: &S) -> usize {
///     s.capacity()
/// }
/// let slots: [Slot<u8>; 0] = [];
/// assert_eq!(capacity(&slots), 0);
/// ```
pub trait SlotStorage<T>: sealed::Sealed {
    /// The slots; their number is the capacity.
    fn slots(&self) -> &[Slot<T>];

    /// The number of slots (a constant for the inline storage).
    fn capacity(&self) -> usize;
}

impl<T, const N: usize> sealed::Sealed for [Slot<T>; N] {}

impl<T, const N: usize> SlotStorage<T> for [Slot<T>; N] {
    #[inline(always)]
    fn slots(&self) -> &[Slot<T>] {
        self
    }

    #[inline(always)]
    fn capacity(&self) -> usize {
        N
    }
}

impl<T> sealed::Sealed for [Slot<T>] {}

impl<T> SlotStorage<T> for [Slot<T>] {
    #[inline(always)]
    fn slots(&self) -> &[Slot<T>] {
        self
    }

    #[inline(always)]
    fn capacity(&self) -> usize {
        self.len()
    }
}

#[cfg(not(loom))]
pub(super) const fn empty_slots<T, const N: usize>() -> [Slot<T>; N] {
    [const { Slot::new() }; N]
}

#[cfg(loom)]
pub(super) fn empty_slots<T, const N: usize>() -> [Slot<T>; N] {
    core::array::from_fn(|_| Slot::new())
}
