//! The shared-memory contract: which core types may live in memory mapped by several
//! processes (`MAP_SHARED`, a `memfd`, POSIX `shm_open`), and how such memory is
//! initialised and attached.
//!
//! Every core primitive is a plain struct of atomics with no pointers, so the *same*
//! primitive serves firmware, threads and processes; what differs between processes is
//! the waiting strategy. This module turns that promise into types:
//!
//! * [`ShmSafe`], an `unsafe` marker for the types whose layout is position-independent:
//!   `#[repr(C)]` (or `transparent`), no pointers or references (the mapping has a
//!   different address in every process), no process-local ids, and every strategy they
//!   wait with is a [`SharedWait`]. It is implemented for the core primitives only with
//!   a process-shareable strategy, and for the rings only with [`bytemuck::Pod`]
//!   payloads (plain bytes: no pointers, every bit pattern valid, so a peer can never
//!   hand us an invalid value).
//! * [`SharedWait`], an `unsafe` marker for the strategies whose sleep and wake work
//!   between processes: [`Spin`](crate::wait::Spin) (it never sleeps) and, with `std` on Linux,
//!   `SharedFutex` (a futex without `FUTEX_PRIVATE_FLAG`, keyed by the physical page).
//!   Not `Futex` (a private futex is keyed by the virtual address in one process: a
//!   waker in another process never reaches the sleeper) nor `Parking` (a process-local
//!   thread list).
//! * [`Segment`], a [`SegmentHeader`] (magic, layout version, size, capacity, type
//!   fingerprint, initialisation state) followed by the value in the same mapping. The
//!   creator initialises the value *in place* ([`InPlace`]: field by field, slots left
//!   uninitialised or zeroed, never a ring-sized value on the stack); every other
//!   process attaches, which checks the header and fails with a typed
//!   [`SegmentError`] (another layout, another type, too small, not ready yet) instead
//!   of reading memory as something it is not.
//! * Run-time capacities: [`ShmMpmcRing`](crate::mpmc::ShmMpmcRing) and
//!   [`ShmSpscRing`](crate::spsc::ShmSpscRing), an MPMC and an SPSC ring whose slots
//!   follow the ring in the mapping, with a capacity chosen when the segment is created
//!   (the view-storage idea of `heapless` 0.9: one algorithm over an unsized slot slice;
//!   the SPSC handles are claimed per process with `claim_producer`/`claim_consumer`).
//!
//! # Not (yet) shareable
//! * `ReentrantLock`: its owner ids come from a per-process counter today; it becomes
//!   shareable once its owner word holds kernel thread ids.
//! * The locked queues (`queue::Queue` over `BaseQueue`): their default mutex is a
//!   process-local critical section and their stores are `heapless` collections of
//!   unspecified layout. Between processes use [`RingQueue`](crate::queue::RingQueue).
//!
//! # Provenance
//! The process-shared primitives follow POSIX's `PTHREAD_PROCESS_SHARED` attribute
//! (a mutex in shared memory is usable by every process that maps it, if it was made
//! process-shared) and Linux's futex rule (`man 2 futex`: `FUTEX_PRIVATE_FLAG` only
//! for process-private words). The payload bound is `bytemuck`'s `Pod`, the ecosystem's
//! standard for "plain bytes". The header checked on attach is the usual practice of
//! on-disk and shared-memory formats (a magic number, a version, a size; here also a
//! fingerprint of the type); the unsized trailing slot slice is `heapless`' `View`
//! storage (`heapless::mpmc::QueueView`).
//!
//! # Example
//! A semaphore and a ring in one mapping each, shared with a "child" (here the same
//! process attaches a second time; see `conkit-tests`' `processes_rings` for real
//! `fork`ed children):
//!
//! ```
//! # #[cfg(all(feature = "std", target_os = "linux"))] {
//! use core::ptr::NonNull;
//! use conkit_core::mpmc::MpmcRing;
//! use conkit_core::shm::{Segment, SegmentError};
//! use conkit_core::wait::SharedFutex;
//!
//! type Ring = MpmcRing<u64, 64, SharedFutex>;
//! // Stand-in for a `MAP_SHARED` mapping (page-aligned, like every mapping).
//! let layout = std::alloc::Layout::from_size_align(Segment::<Ring>::required_len(), 4096).unwrap();
//! let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
//!
//! // SAFETY: `mem` is valid for `layout.size()` bytes while the segments live, and is
//! // only ever used through `Segment`s.
//! let created = unsafe { Segment::<Ring>::create(mem, layout.size()) }.unwrap();
//! created.try_push(7).unwrap();
//!
//! // Another process (or mapping) attaches: the header is checked first.
//! let attached = unsafe { Segment::<Ring>::attach(mem, layout.size()) }.unwrap();
//! assert_eq!(attached.try_pop(), Some(7));
//!
//! // The same bytes read as another type: an error, not corruption.
//! let wrong = unsafe { Segment::<MpmcRing<u32, 64, SharedFutex>>::attach(mem, layout.size()) };
//! assert!(matches!(wrong, Err(SegmentError::FingerprintMismatch { .. })));
//! # drop((created, attached));
//! # unsafe { std::alloc::dealloc(mem.as_ptr(), layout) };
//! # }
//! ```
//!
//! # What cannot be placed
//! A primitive that waits with the process-private `Futex` is not [`ShmSafe`], so it
//! cannot be put in a segment (a compile error):
//!
#![cfg_attr(
    all(feature = "std", target_os = "linux"),
    doc = r#"
```compile_fail,E0277
use conkit_core::lock::Lock;
use conkit_core::shm::ShmSafe;
use conkit_core::wait::Futex;

// `Segment::<T>::create` and `attach` require `T: ShmSafe`; `Futex` is
// process-private, so `Lock<Futex>` is not `ShmSafe`.
fn placeable<T: ShmSafe>() {}
placeable::<Lock<Futex>>();
```
"#
)]
//! Nor can a ring whose payload is not plain data (here a reference, an address valid
//! in one process only):
//!
//! ```compile_fail,E0277
//! use conkit_core::shm::ShmSafe;
//! use conkit_core::spsc::SpscRing;
//! use conkit_core::wait::Spin;
//!
//! fn shareable<T: ShmSafe>() {}
//! shareable::<SpscRing<&'static str, 8, Spin>>();
//! ```
//!
//! The same with a plain payload and a shareable strategy compiles:
//!
//! ```
//! use conkit_core::shm::ShmSafe;
//! use conkit_core::spsc::SpscRing;
//! use conkit_core::wait::Spin;
//!
//! fn shareable<T: ShmSafe>() {}
//! shareable::<SpscRing<[u8; 16], 8, Spin>>();
//! ```

mod impls;
pub(crate) mod segment;

pub use segment::{Segment, SegmentError, SegmentHeader, LAYOUT_VERSION, MAGIC};

use crate::wait::WaitStrategy;

/// A type whose value may live in memory shared between processes (see the
/// [module docs](self)).
///
/// # Safety
/// Implement it only for a type that
/// * is `#[repr(C)]` or `#[repr(transparent)]` (recursively), so two processes built
///   from the same source agree on its layout;
/// * holds no pointer, reference or process-local id (a thread id from a per-process
///   counter, a file descriptor, a handle), so its meaning does not depend on where it
///   is mapped nor on which process reads it;
/// * is only ever mutated through atomics or under its own protocol, so that several
///   processes may use it through `&Self` at once (hence `Sync`);
/// * waits, if at all, through a [`SharedWait`] strategy.
///
/// ```
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::shm::ShmSafe;
/// use conkit_core::wait::Spin;
///
/// fn shareable<T: ShmSafe>() {}
/// shareable::<Semaphore<Spin>>();
/// ```
pub unsafe trait ShmSafe: Sync {}

/// A waiting strategy whose `wait` / `wake_*` work between processes sharing the word's
/// memory: [`Spin`](crate::wait::Spin) (it never sleeps) and, with `std` on Linux,
/// `SharedFutex`.
///
/// # Safety
/// A `wake_*` on a word, issued by any process that maps it, must end a `wait` on the
/// same word in any other process (as `wait`'s contract requires within one process),
/// and the strategy must keep no per-process state about the word.
///
/// ```
/// use conkit_core::shm::SharedWait;
/// use conkit_core::wait::Spin;
///
/// fn process_shared<W: SharedWait>() {}
/// process_shared::<Spin>();
/// ```
pub unsafe trait SharedWait: WaitStrategy + Send + Sync {}

/// An [`OwnerId`](crate::lock::OwnerId) whose ids are unique across every process that
/// may share a lock, and mean the same thing in each: what makes a
/// [`ReentrantLock`](crate::lock::ReentrantLock) [`ShmSafe`] (its owner word then names
/// one thread of one process, wherever it is read). The kernel thread id (Linux
/// `gettid`) is such an id; a per-process counter is not.
///
/// # Safety
/// `current()` must return an id that no other thread of any process sharing the lock
/// returns while the caller may hold it.
///
/// ```
/// use core::num::NonZeroU32;
/// use conkit_core::lock::{OwnerId, ReentrantLock};
/// use conkit_core::shm::{ProcessOwnerId, ShmSafe};
/// use conkit_core::wait::Spin;
///
/// /// Firmware with a single core and no processes: one owner, everywhere.
/// struct OnlyCore;
/// impl OwnerId for OnlyCore {
///     fn current() -> NonZeroU32 {
///         NonZeroU32::MIN
///     }
/// }
/// // SAFETY: there is one thread of control in the whole system.
/// unsafe impl ProcessOwnerId for OnlyCore {}
///
/// fn shareable<T: ShmSafe>() {}
/// shareable::<ReentrantLock<OnlyCore, Spin>>();
/// ```
pub unsafe trait ProcessOwnerId: crate::lock::OwnerId {}

/// A [`ShmSafe`] type with an initial state that can be written in place, field by
/// field, into memory of any contents: what [`Segment::create`] uses, so that a ring of
/// megabytes is never built on the stack and copied.
///
/// # Safety
/// After [`init_in_place`](Self::init_in_place) returns, `*this` must be a valid value
/// of `Self` (the state `Self::new()` would have), whatever the bytes were before.
///
/// ```
/// use core::mem::MaybeUninit;
/// use conkit_core::shm::InPlace;
/// use conkit_core::spsc::SpscRing;
/// use conkit_core::wait::Spin;
///
/// let mut place = Box::new(MaybeUninit::<SpscRing<u64, 1024, Spin>>::uninit());
/// // SAFETY: `place` is valid for writes and aligned.
/// unsafe { InPlace::init_in_place(place.as_mut_ptr()) };
/// // SAFETY: just initialised.
/// let ring = unsafe { place.assume_init_ref() };
/// assert_eq!(ring.capacity(), 1024);
/// ```
pub unsafe trait InPlace: ShmSafe {
    /// Writes the initial state into `*this`.
    ///
    /// # Safety
    /// `this` must be valid for writes of `size_of::<Self>()` bytes and aligned; no
    /// other reference to `*this` may be in use. The old contents are overwritten
    /// without being dropped.
    unsafe fn init_in_place(this: *mut Self);
}
