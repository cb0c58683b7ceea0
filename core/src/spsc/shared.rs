//! The ring in memory shared between processes: in-place initialisation
//! ([`InPlace`]) and one handle per side claimed by whichever process asks first
//! ([`SpscRing::claim_producer`], [`SpscRing::claim_consumer`]).
//!
//! `split` needs `&mut` and `take` a `&'static` ring, and both hand out the two handles
//! together, to one thread: between processes the producer lives in one process and the
//! consumer in another, each claiming its side of the same mapping once. A claim is a
//! `swap` on a flag in the ring, so it holds between processes (unlike `take`, whose
//! critical section is process-local with `std`).

use core::ptr::addr_of_mut;

use crate::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::shm::{InPlace, SharedWait};
use crate::wait::{WaitStrategy, Waiters};
use crate::CachePadded;

use super::ring::Flags;
use super::{Consumer, Producer, SpscRing};

// SAFETY: writes every field but the slots with the state of `new()`; the slots are
// `MaybeUninit` (no item), so any bytes there are valid and are never read before the
// producer writes them.
unsafe impl<T: bytemuck::Pod + Send, const N: usize, W: SharedWait> InPlace for SpscRing<T, N, W> {
    unsafe fn init_in_place(this: *mut Self) {
        const { assert!(N > 0, "SpscRing capacity must be at least 1") };
        const { assert!(N <= usize::MAX / 4, "SpscRing capacity too large") };
        // SAFETY: `this` is valid for writes and aligned (caller); each field pointer is
        // derived from it without creating a reference to the uninitialised whole.
        unsafe {
            addr_of_mut!((*this).head).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*this).tail).write(CachePadded::new(AtomicUsize::new(0)));
            addr_of_mut!((*this).not_empty).write(CachePadded::new(Waiters::new()));
            addr_of_mut!((*this).not_full).write(CachePadded::new(Waiters::new()));
            addr_of_mut!((*this).flags).write(CachePadded::new(Flags {
                consumer_gone: AtomicBool::new(false),
                producer_gone: AtomicBool::new(false),
                taken: AtomicBool::new(false),
                producer_claimed: AtomicBool::new(false),
                consumer_claimed: AtomicBool::new(false),
            }));
        }
    }
}

impl<T, const N: usize, W: WaitStrategy> SpscRing<T, N, W> {
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
    pub fn claim_producer(&self) -> Option<Producer<'_, T, N, W>> {
        if self.flags.producer_claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        Some(Producer {
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
    pub fn claim_consumer(&self) -> Option<Consumer<'_, T, N, W>> {
        if self.flags.consumer_claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        Some(Consumer {
            ring: self,
            head,
            cached_tail: tail,
        })
    }
}
