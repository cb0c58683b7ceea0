//! `SlotOwner`: whether a slot of a multi-producer ring records who claimed it (see
//! the trait's docs). The record itself is the Linux robust-futex idea (`man 2
//! get_robust_list`: an owner's thread id where a peer can read it after the owner
//! died), here per claimed ring slot.

use crate::atomic::{AtomicU32, Ordering};

mod sealed {
    pub trait Sealed {}
}

/// What a ring slot keeps of its last claimant: one of [`Unrecorded`] and
/// [`Recorded`], chosen by the strategy's [`SlotOwner`](super::WaitStrategy::SlotOwner).
///
/// Between processes a participant of an [`MpmcRing`](crate::mpmc::MpmcRing) or a
/// [`RingQueue`](crate::queue::RingQueue) can die at any point of a push or pop, also
/// between its claim of a slot and its hand-over; the ring then needs to know who is
/// claiming or claimed the slot (each claimant reserves the slot in this record before
/// its claim), to probe that claimant and release, skip or free the slot (see
/// "Participants that die" in [`crate::mpmc`]). That
/// record is a `u32` per slot. Between the threads of one process nobody dies alone,
/// so nothing needs recording, and the word would only cost: it grows a `u64` item's
/// slot from 16 to 24 bytes, which split slots across cache lines and made a
/// `queue::Queue` between two threads about three times slower (measured: 0.23–0.35×
/// crossbeam-channel's rate with the word, 1.16× without, Intel Xeon guest).
///
/// So each strategy names the record its rings' slots carry,
/// [`WaitStrategy::SlotOwner`](super::WaitStrategy::SlotOwner): [`Unrecorded`] (zero
/// bytes) for the process-private strategies, [`Recorded`] (one `u32`) for those with
/// [`PROCESS_SHARED`](super::WaitStrategy::PROCESS_SHARED). This is the one place
/// where a primitive's layout depends on its strategy. A ring of a process-shared
/// strategy over slots without records cannot be built (every constructor takes the
/// strategy's own `SlotOwner`; a constant assertion in the ring backs it up), so dead
/// claimants are never silently left unnamed.
///
/// The trait is sealed: these two types are the only records.
///
/// ```
/// use conkit_core::mpmc::Slot;
/// use conkit_core::wait::{Recorded, Spin, Unrecorded, WaitStrategy};
///
/// // A u64 slot: stamp and item, plus the record between processes.
/// assert_eq!(size_of::<Slot<u64, <Spin as WaitStrategy>::SlotOwner>>(), 16);
/// assert_eq!(size_of::<Slot<u64, Unrecorded>>(), 16);
/// assert_eq!(size_of::<Slot<u64, Recorded>>(), 24);
/// ```
///
/// A process-shared strategy over slots that record nobody is refused:
/// ```compile_fail,E0271
/// # #[cfg(all(feature = "std", target_os = "linux"))] {
/// use conkit_core::mpmc::{MpmcRingIn, Slot};
/// use conkit_core::wait::{SharedFutex, Unrecorded};
///
/// let ring: MpmcRingIn<u64, [Slot<u64, Unrecorded>; 4], SharedFutex> = Default::default();
/// ring.push(1);
/// # }
/// ```
pub trait SlotOwner: sealed::Sealed + Send + Sync + 'static {
    /// Whether claims are recorded (`false` for [`Unrecorded`]).
    const RECORDS: bool;

    /// A record that names nobody.
    #[cfg(not(loom))]
    #[doc(hidden)]
    const NOBODY: Self;

    /// A record that names nobody (under loom, whose atomics are not `const`).
    #[cfg(loom)]
    #[doc(hidden)]
    fn nobody() -> Self;

    /// The record (`Acquire`); always 0 for [`Unrecorded`].
    #[doc(hidden)]
    fn load(&self) -> u32;

    /// Replaces the record with `new` if it is `current` (`AcqRel`, `Acquire` on
    /// failure), giving back the record found; always `Ok(0)` for [`Unrecorded`].
    /// Only on cores with compare-and-swap (or with the `portable-atomic` feature): the
    /// MPMC ring, its only user, needs it too (thumbv6m has neither).
    #[doc(hidden)]
    #[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
    fn compare_exchange(&self, current: u32, new: u32) -> Result<u32, u32>;
}

/// No record (zero bytes): the slots of the process-private strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Unrecorded;

impl sealed::Sealed for Unrecorded {}

impl SlotOwner for Unrecorded {
    const RECORDS: bool = false;

    #[cfg(not(loom))]
    const NOBODY: Self = Unrecorded;

    #[cfg(loom)]
    fn nobody() -> Self {
        Unrecorded
    }

    #[inline(always)]
    fn load(&self) -> u32 {
        0
    }

    #[inline(always)]
    #[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
    fn compare_exchange(&self, _current: u32, _new: u32) -> Result<u32, u32> {
        Ok(0)
    }
}

/// A `u32` record of the last claimant (its owner token, the claimed position's lap,
/// push or pop): the slots of the process-shared strategies. All-zero memory names
/// nobody.
#[repr(transparent)]
pub struct Recorded(AtomicU32);

impl core::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Recorded").field(&self.load()).finish()
    }
}

impl sealed::Sealed for Recorded {}

impl SlotOwner for Recorded {
    const RECORDS: bool = true;

    // Each use of the constant is a fresh word, which is what a new slot needs.
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)]
    const NOBODY: Self = Recorded(AtomicU32::new(0));

    #[cfg(loom)]
    fn nobody() -> Self {
        Recorded(AtomicU32::new(0))
    }

    #[inline(always)]
    fn load(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    #[inline(always)]
    #[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
    fn compare_exchange(&self, current: u32, new: u32) -> Result<u32, u32> {
        self.0
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn unrecorded_takes_no_room_and_names_nobody() {
        assert_eq!(core::mem::size_of::<Unrecorded>(), 0);
        let r = Unrecorded::NOBODY;
        assert_eq!(r.compare_exchange(0, 7), Ok(0));
        assert_eq!(r.load(), 0);
    }

    #[test]
    fn recorded_keeps_the_last_exchange() {
        assert_eq!(core::mem::size_of::<Recorded>(), 4);
        let r = Recorded::NOBODY;
        assert_eq!(r.load(), 0);
        assert_eq!(r.compare_exchange(0, 7), Ok(0));
        assert_eq!(r.compare_exchange(0, 9), Err(7));
        assert_eq!(r.load(), 7);
    }
}
