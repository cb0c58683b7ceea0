//! The ring in memory shared between processes: in-place initialisation
//! ([`InPlace`]), a capacity chosen at run time with the slots following the ring in
//! the same mapping ([`ShmSpscRing`]: [`required_len`](SpscRingIn::required_len),
//! [`create_in`](SpscRingIn::create_in), [`attach_in`](SpscRingIn::attach_in)), and one
//! handle per side claimed by whichever process asks first
//! ([`SpscRingIn::claim_producer`], [`SpscRingIn::claim_consumer`]).
//!
//! `split` needs `&mut` and `take` a `&'static` ring, and both hand out the two handles
//! together, to one thread: between processes the producer lives in one process and the
//! consumer in another, each claiming its side of the same mapping once. A claim is a
//! `swap` on a flag in the ring, so it holds between processes (unlike `take`, whose
//! critical section is process-local with `std`).
//!
//! Provenance of the run-time capacity: `heapless` 0.9's `spsc` view storage (one
//! algorithm over an unsized slot slice at the end of the struct, the capacity being the
//! slice length), built in place behind a checked
//! [`SegmentHeader`](crate::shm::SegmentHeader) as [`ShmMpmcRing`](crate::mpmc::ShmMpmcRing) is.

use core::alloc::Layout;
use core::mem::{align_of, size_of};
use core::num::NonZeroUsize;
use core::ptr::{self, addr_of_mut, NonNull};

use crate::atomic::{AtomicUsize, Ordering};
use crate::shm::segment::{attach_tailed, create_tailed, fingerprint, value_offset, Tailed};
use crate::shm::{InPlace, Segment, SegmentError, SharedWait, ShmSafe};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

use super::ring::Flags;
use super::storage::{Slot, SlotStorage};
use super::{ConsumerIn, ProducerIn, SpscRing, SpscRingIn};

// SAFETY: writes every field but the slots with the state of `new()`; the slots are
// `MaybeUninit` (no item), so any bytes there are valid and are never read before the
// producer writes them.
unsafe impl<T: bytemuck::Pod + Send, const N: usize, W: SharedWait> InPlace for SpscRing<T, N, W> {
    unsafe fn init_in_place(this: *mut Self) {
        const { assert!(N > 0, "SpscRing capacity must be at least 1") };
        const { assert!(N <= usize::MAX / 4, "SpscRing capacity too large") };
        // SAFETY: `this` is valid for writes and aligned (caller).
        unsafe { init_fields(this) };
    }
}

/// Writes every field of the ring at `this` but the slots with the state of `new()`.
///
/// # Safety
/// `this` must be valid for writes of the ring's fields and aligned; each field pointer
/// is derived from it without creating a reference to the uninitialised whole.
unsafe fn init_fields<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy>(
    this: *mut SpscRingIn<T, S, W>,
) {
    // SAFETY: the caller's contract.
    unsafe {
        addr_of_mut!((*this).head).write(CachePadded::new(AtomicUsize::new(0)));
        addr_of_mut!((*this).tail).write(CachePadded::new(AtomicUsize::new(0)));
        addr_of_mut!((*this).not_empty).write(CachePadded::new(Waiters::new()));
        addr_of_mut!((*this).not_full).write(CachePadded::new(Waiters::new()));
        addr_of_mut!((*this).flags).write(CachePadded::new(Flags::new()));
        addr_of_mut!((*this).items).write(core::marker::PhantomData);
    }
}

impl<T, S: SlotStorage<T> + ?Sized, W: WaitStrategy> SpscRingIn<T, S, W> {
    /// Hands out the ring's producer, once in the ring's life, to whichever caller (in
    /// any process mapping the ring) asks first; `None` afterwards.
    ///
    /// For rings in shared memory, where the two sides live in different processes; a
    /// ring in one process uses [`split`](Self::split) or [`take`](Self::take). Do not
    /// mix: a ring whose handles came from `split` or `take` must not be claimed.
    ///
    /// ```
    /// use conkit_core::spsc::SpscRing;
    /// use conkit_core::wait::Spin;
    ///
    /// let ring: SpscRing<u64, 8, Spin> = SpscRing::new();
    /// let mut tx = ring.claim_producer().expect("first claim");
    /// assert!(ring.claim_producer().is_none());
    /// let mut rx = ring.claim_consumer().expect("first claim");
    /// tx.try_push(5).unwrap();
    /// assert_eq!(rx.try_pop(), Ok(5));
    /// ```
    pub fn claim_producer(&self) -> Option<ProducerIn<'_, T, S, W>> {
        if self.flags.producer_claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        if W::PROCESS_SHARED {
            let me = W::process_token();
            self.flags.producer_owner.store(me, Ordering::Release);
        }
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        Some(ProducerIn {
            ring: self,
            tail,
            cached_head: head,
        })
    }

    /// Hands out the ring's consumer, once, to whichever caller asks first (see
    /// [`claim_producer`](Self::claim_producer)).
    ///
    /// ```
    /// use conkit_core::spsc::SpscRing;
    /// use conkit_core::wait::Spin;
    ///
    /// let ring: SpscRing<u64, 8, Spin> = SpscRing::new();
    /// let rx = ring.claim_consumer().expect("first claim");
    /// assert!(ring.claim_consumer().is_none());
    /// # drop(rx);
    /// ```
    pub fn claim_consumer(&self) -> Option<ConsumerIn<'_, T, S, W>> {
        if self.flags.consumer_claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        if W::PROCESS_SHARED {
            let me = W::process_token();
            self.flags.consumer_owner.store(me, Ordering::Release);
        }
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        Some(ConsumerIn {
            ring: self,
            head,
            cached_tail: tail,
        })
    }
}

/// An SPSC ring whose capacity is chosen at run time and whose slots follow it in one
/// shared mapping: the same algorithm, handles and methods as
/// [`SpscRing`], made with [`create_in`](SpscRingIn::create_in) and reached from other
/// processes with [`attach_in`](SpscRingIn::attach_in); each process then claims its side
/// ([`claim_producer`](SpscRingIn::claim_producer),
/// [`claim_consumer`](SpscRingIn::claim_consumer)).
///
/// A `&SpscRing<T, N, W>` also coerces to a `&ShmSpscRing<T, W>` (a view of any
/// capacity, as `heapless`' `QueueView`).
///
/// # What a dead side costs
/// A process killed while holding a handle never runs its `Drop`. With a process-shared
/// strategy (`SharedFutex`) the ring knows which process claimed each side
/// ([`claim_producer`](SpscRingIn::claim_producer) records its
/// [process token](crate::wait::WaitStrategy::process_token)), and a side blocked in
/// [`push`](ProducerIn::push) / [`pop`](ConsumerIn::pop) (or their `_until` forms)
/// probes the other side's process after every sleep slice that passed without a
/// wake-up (1 ms, doubling to 16 ms): once it is gone the ring is abandoned as if its
/// handle had been dropped, so the blocked side gets `Disconnected` within ~20 ms, with
/// or without a deadline. Items the dead producer had published (a push is published
/// by one store of `tail` after the item is written) are still delivered first; an
/// item it was writing is lost. A dead consumer frees nothing more: a producer blocked
/// on the full ring gets [`PushError::Disconnected`](super::PushError::Disconnected).
/// The dead side's claim stays taken (a replacement process needs a new ring), and the
/// wait-free forms (`try_*`, slices, chunks) do not probe: they learn of the death once a
/// blocking form has noticed it.
///
/// A side nobody has claimed yet is waited for (as a pipe's reader waits for a writer
/// to come). The process that claimed a side is the one probed: claim each side in the
/// process that uses it (a handle claimed in a parent and used only by its forked child would be
/// reported dead when the parent exits). (`conkit-tests`' `processes_rings` kills
/// producers and consumers blocked on the other side, repeatedly, to show it.)
///
/// ```
/// # #[cfg(all(feature = "std", target_os = "linux"))] {
/// use core::num::NonZeroUsize;
/// use core::ptr::NonNull;
/// use conkit_core::spsc::ShmSpscRing;
/// use conkit_core::wait::SharedFutex;
///
/// type Ring = ShmSpscRing<u64, SharedFutex>;
/// let cap = NonZeroUsize::new(100).unwrap();
/// let len = Ring::required_len(cap).unwrap();
/// // Stand-in for a `MAP_SHARED` mapping.
/// let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
/// let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
///
/// // SAFETY: `mem` is valid for `len` bytes while the rings are used.
/// let ring = unsafe { Ring::create_in(mem, len, cap) }.unwrap();
/// assert_eq!(ring.capacity(), 100);
/// let mut tx = ring.claim_producer().unwrap();
/// tx.try_push(1).unwrap();
/// // Another process attaches (here: the same one, a second time).
/// let other = unsafe { Ring::attach_in(mem, len) }.unwrap();
/// assert_eq!(other.capacity(), 100);
/// let mut rx = other.claim_consumer().unwrap();
/// assert!(other.claim_consumer().is_none());
/// assert_eq!(rx.try_pop(), Ok(1));
/// # drop((tx, rx));
/// # unsafe { std::alloc::dealloc(mem.as_ptr(), layout) };
/// # }
/// ```
///
/// Only plain-data payloads and process-shared strategies can be placed: with the
/// process-private `Futex` (or a payload that is not `bytemuck::Pod`) there is no
/// `create_in`.
///
#[cfg_attr(
    all(feature = "std", target_os = "linux"),
    doc = r#"
```compile_fail,E0599
use core::num::NonZeroUsize;
use conkit_core::spsc::ShmSpscRing;
use conkit_core::wait::Futex;

let _ = ShmSpscRing::<u64, Futex>::required_len(NonZeroUsize::new(8).unwrap());
```
"#
)]
pub type ShmSpscRing<T, W = DefaultWait> = SpscRingIn<T, [Slot<T>], W>;

/// The producer of a [`ShmSpscRing`].
pub type ShmProducer<'a, T, W = DefaultWait> = ProducerIn<'a, T, [Slot<T>], W>;

/// The consumer of a [`ShmSpscRing`].
pub type ShmConsumer<'a, T, W = DefaultWait> = ConsumerIn<'a, T, [Slot<T>], W>;

// SAFETY: the `repr(C)` ring (positions, `Waiters`, flags) and a `repr(transparent)`
// slot slice of `MaybeUninit<T>` with `T: Pod`; no pointers; waits through a
// `SharedWait` `W`.
unsafe impl<T: bytemuck::Pod + Send, W: SharedWait> ShmSafe for ShmSpscRing<T, W> {}

/// The layout of a `ShmSpscRing<T, W>` of `capacity` slots (the `repr(C)` rules, field by
/// field), or `None` if it overflows.
fn ring_layout<T, W: WaitStrategy>(capacity: usize) -> Option<Layout> {
    let padded = Layout::new::<CachePadded<AtomicUsize>>();
    let waiters = Layout::new::<CachePadded<Waiters<W>>>();
    let ring = padded
        .extend(padded)
        .ok()?
        .0
        .extend(waiters)
        .ok()?
        .0
        .extend(waiters)
        .ok()?
        .0
        .extend(Layout::new::<CachePadded<Flags>>())
        .ok()?
        .0
        .extend(Layout::array::<Slot<T>>(capacity).ok()?)
        .ok()?
        .0;
    Some(ring.pad_to_align())
}

/// The largest capacity: positions run over `[0, 2N)` with room for a sum of two.
const MAX_CAPACITY: usize = usize::MAX / 4;

impl<T: bytemuck::Pod + Send, W: SharedWait> SpscRingIn<T, [Slot<T>], W> {
    /// Bytes of memory a segment holding a ring of `capacity` slots needs (header,
    /// padding, ring, slots), or `None` if that overflows `usize`.
    ///
    /// ```
    /// use core::num::NonZeroUsize;
    /// use conkit_core::spsc::ShmSpscRing;
    /// use conkit_core::wait::Spin;
    ///
    /// let small = ShmSpscRing::<u64, Spin>::required_len(NonZeroUsize::new(32).unwrap());
    /// let large = ShmSpscRing::<u64, Spin>::required_len(NonZeroUsize::new(64).unwrap());
    /// // A u64 per slot (the whole is padded to the ring's alignment, a cache line).
    /// assert_eq!(large.unwrap() - small.unwrap(), 32 * 8);
    /// ```
    pub fn required_len(capacity: NonZeroUsize) -> Option<usize> {
        let layout = ring_layout::<T, W>(capacity.get())?;
        value_offset(layout.align()).checked_add(layout.size())
    }

    /// Creates a segment in the fresh memory at `mem` holding an empty ring of exactly
    /// `capacity` slots, initialised in place (the slots are left as they are: a slot
    /// holds no item until the producer writes it).
    ///
    /// Fails with [`SegmentError::InvalidCapacity`] (larger than `usize::MAX / 4`), or
    /// as [`Segment::create`].
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
// last field is the slot slice), and `init_at` writes every field but the slots
// (`MaybeUninit`: any bytes are a valid "no item").
unsafe impl<T: bytemuck::Pod + Send, W: SharedWait> Tailed for SpscRingIn<T, [Slot<T>], W> {
    fn tail_len(capacity: usize) -> Option<usize> {
        (capacity != 0 && capacity <= MAX_CAPACITY).then_some(capacity)
    }

    fn layout(tail_len: usize) -> Option<Layout> {
        ring_layout::<T, W>(tail_len)
    }

    fn align() -> usize {
        align_of::<CachePadded<AtomicUsize>>()
            .max(align_of::<CachePadded<Waiters<W>>>())
            .max(align_of::<CachePadded<Flags>>())
            .max(align_of::<Slot<T>>())
    }

    fn type_fingerprint() -> u64 {
        fingerprint::<Self>(size_of::<Slot<T>>(), Self::align())
    }

    fn from_raw(p: *mut u8, cap: usize) -> *mut Self {
        // The slice metadata (`cap`) carries over to the struct whose last field is the
        // slot slice.
        ptr::slice_from_raw_parts_mut(p.cast::<Slot<T>>(), cap) as *mut Self
    }

    unsafe fn init_at(this: *mut Self, _tail_len: usize) {
        // SAFETY: the caller's contract (valid for writes, aligned).
        unsafe { init_fields(this) }
    }
}
