//! [`ShmSafe`], [`SharedWait`] and [`InPlace`] for the core types.
//!
//! Each impl below relies on the type being `#[repr(C)]` (or `transparent`) all the way
//! down to its atomics (the `repr` attributes sit on the types themselves), holding no
//! pointer nor process-local id, and waiting only through its `W`, bounded here by
//! [`SharedWait`]. Rings additionally bound their payload by `bytemuck::Pod`.
//!
//! `ReentrantLock` is here only for owner ids that are unique across processes
//! ([`ProcessOwnerId`]: the kernel thread id, as the std adapter's `ThreadOwner`).
//!
//! Not here, on purpose: the locked
//! `BaseQueue`s (their default mutex is a process-local critical section, and their
//! stores are `heapless` collections of unspecified layout), `CriticalSectionMutex`.

use bytemuck::Pod;

use super::{InPlace, ProcessOwnerId, SharedWait, ShmSafe};
use crate::barrier::Barrier;
use crate::cache_padded::CachePadded;
use crate::condvar::Condvar;
use crate::event::Event;
use crate::event_flags::EventFlags;
use crate::lock::{ExclusiveLock, Lock, Mutex, ReentrantLock, SpinLock, TicketLock};
use crate::mpmc::{MpmcRingIn, Slot};
use crate::queue::RingQueueIn;
use crate::semaphore::{BoundedSemaphore, Semaphore};
use crate::spsc::SpscRing;
use crate::wait::{Deadline, Spin, Waiters};

// SAFETY: `Spin` never sleeps and keeps no state: a waiter re-polls the shared word,
// which every process sees, so a change made by any process ends its wait.
unsafe impl<D: Deadline + Send + Sync> SharedWait for Spin<D> {}

// SAFETY: `SharedFutex` calls `FUTEX_WAIT`/`FUTEX_WAKE` without `FUTEX_PRIVATE_FLAG`: the
// kernel keys the futex by the physical page and offset (`man 2 futex`), so a wake from
// any process mapping the word reaches the sleepers of every process; no state is kept.
#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
unsafe impl SharedWait for crate::wait::SharedFutex {}

// The conditions of `ShmSafe` hold for every impl below as stated in the module docs:
// `repr(C)`/`transparent` structs of atomics and plain integers, no pointers, waits only
// through a `SharedWait` `W`, payloads `Pod`.

// SAFETY: see above (`repr(C)` with an alignment, around one `ShmSafe` value).
unsafe impl<T: ShmSafe> ShmSafe for CachePadded<T> {}
// SAFETY: see above (`seq` and `state` words, `PhantomData<W>`).
unsafe impl<W: SharedWait> ShmSafe for Waiters<W> {}
// SAFETY: see above (one state word).
unsafe impl<W: SharedWait> ShmSafe for Lock<W> {}
// SAFETY: see above (`repr(C)`: the inner `Lock<W>` and a depth word); the owner word
// holds ids unique across processes (`ProcessOwnerId`), so "is the caller the owner"
// reads the same in every process.
unsafe impl<O: ProcessOwnerId, W: SharedWait> ShmSafe for ReentrantLock<O, W> {}
// SAFETY: see above (one word, never sleeps).
unsafe impl ShmSafe for SpinLock {}
// SAFETY: see above (two words, never sleeps).
unsafe impl ShmSafe for TicketLock {}
// SAFETY: see above; the guarded value is plain data and reached only under the lock.
unsafe impl<R: ShmSafe + ExclusiveLock, T: Pod + Send> ShmSafe for Mutex<R, T> {}
// SAFETY: see above (count word and `Waiters`).
unsafe impl<W: SharedWait> ShmSafe for Semaphore<W> {}
// SAFETY: see above (count word, `Waiters`, the initial count as a plain `u32`).
unsafe impl<W: SharedWait> ShmSafe for BoundedSemaphore<W> {}
// SAFETY: see above.
unsafe impl<W: SharedWait> ShmSafe for Event<W> {}
// SAFETY: see above (flag word, a seqlock history of atomic words, `Waiters`).
unsafe impl<W: SharedWait> ShmSafe for EventFlags<W> {}
// SAFETY: see above (state word, parties as a plain `u32`, `Waiters`).
unsafe impl<W: SharedWait> ShmSafe for Barrier<W> {}
// SAFETY: see above (ticket words and `Waiters`).
unsafe impl<W: SharedWait> ShmSafe for Condvar<W> {}
// SAFETY: see above; slots are `MaybeUninit<T>` with `T: Pod`, positions are indices.
unsafe impl<T: Pod + Send, const N: usize, W: SharedWait> ShmSafe for SpscRing<T, N, W> {}
// SAFETY: see above; inline slots.
unsafe impl<T: Pod + Send, const N: usize, W: SharedWait> ShmSafe
    for MpmcRingIn<T, [Slot<T, W::SlotOwner>; N], W>
{
}
// SAFETY: see above; the ring plus counters and `Waiters`.
unsafe impl<T: Pod + Send, const N: usize, W: SharedWait> ShmSafe
    for RingQueueIn<T, [Slot<T, W::SlotOwner>; N], W>
{
}

/// `InPlace` by writing `Self::new()`: for the primitives of a few words.
macro_rules! in_place_by_new {
    ($($(#[$m:meta])* [$($g:tt)*] $t:ty;)*) => {$(
        $(#[$m])*
        // SAFETY: `new()` is the initial state; the value is a few words, so moving it
        // costs nothing worth avoiding.
        unsafe impl<$($g)*> InPlace for $t {
            unsafe fn init_in_place(this: *mut Self) {
                // SAFETY: the caller's contract (valid, aligned, unaliased).
                unsafe { this.write(<$t>::new()) }
            }
        }
    )*};
}

in_place_by_new! {
    [W: SharedWait] Lock<W>;
    [] SpinLock;
    [] TicketLock;
    [W: SharedWait] Event<W>;
    [W: SharedWait] EventFlags<W>;
    [W: SharedWait] Condvar<W>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: ShmSafe>() {}
    fn process_shared<W: SharedWait>() {}

    /// The primitives over shareable strategies are `ShmSafe` (the negative cases are the
    /// `compile_fail` examples of the module docs).
    #[test]
    fn primitives_with_shareable_strategies_are_shm_safe() {
        process_shared::<Spin>();
        shareable::<Lock<Spin>>();
        shareable::<Semaphore<Spin>>();
        shareable::<Condvar<Spin>>();
        shareable::<Barrier<Spin>>();
        shareable::<EventFlags<Spin>>();
        shareable::<Mutex<SpinLock, [u32; 4]>>();
        shareable::<SpscRing<u64, 4, Spin>>();
        shareable::<MpmcRingIn<u64, [Slot<u64>; 4], Spin>>();
        shareable::<RingQueueIn<u8, [Slot<u8>; 4], Spin>>();
        #[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
        {
            use crate::wait::SharedFutex;
            process_shared::<SharedFutex>();
            shareable::<Lock<SharedFutex>>();
            shareable::<SpscRing<[u8; 3], 4, SharedFutex>>();
        }
    }
}
