//! [`ShmSafe`] for the `threading` front ends over a process-shared strategy: what lets
//! `conkit::multiprocessing` place `Lock<SharedFutex>`, `RLock<SharedFutex>`,
//! `Semaphore<SharedFutex>`, `BoundedSemaphore<SharedFutex>`, `Event<SharedFutex>` and
//! `Condition<Lock<SharedFutex>>` / `Condition<RLock<SharedFutex>>` in `MAP_SHARED`
//! memory — the very same types threads use, not a second copy.
//!
//! Each impl relies on (see [`ShmSafe`]'s contract):
//! * `#[repr(C)]` on the wrapper (the attributes sit on the types) around `#[repr(C)]`
//!   core primitives;
//! * no pointer and no process-local id: the wrappers hold the core primitive and a
//!   deadlock-detection `LockId`, which without the `deadlock-detection` feature is
//!   zero-sized and with it is a lock number unique across processes (process id in the
//!   high half: a lock in shared memory names one lock in every process's graph; each
//!   process's detector sees only its own threads' lock orders). `RLock`'s owner ids are
//!   [`ThreadOwner`](super::ThreadOwner)s, kernel thread ids unique across processes
//!   ([`ProcessOwnerId`](conkit_core::shm::ProcessOwnerId));
//! * waiting only through `W`, bounded here by [`SharedWait`].
//!
//! Not here: [`Barrier`](super::Barrier), whose action is a boxed closure (a pointer
//! into one process); `multiprocessing::Barrier` places the core barrier in shared
//! memory and keeps the action per process.
//!
//! ```
//! use conkit::threading::{Condition, Lock, RLock, Semaphore};
//! use conkit::wait::SharedFutex;
//! use conkit_core::shm::ShmSafe;
//!
//! fn shareable<T: ShmSafe>() {}
//! shareable::<Lock<SharedFutex>>();
//! shareable::<RLock<SharedFutex>>();
//! shareable::<Semaphore<SharedFutex>>();
//! shareable::<Condition<RLock<SharedFutex>>>();
//! ```
//!
//! The process-private default strategy is not shareable:
//!
//! ```compile_fail,E0277
//! use conkit::threading::Lock;
//! use conkit_core::shm::ShmSafe;
//!
//! fn shareable<T: ShmSafe>() {}
//! shareable::<Lock>(); // `Lock<Futex>`: a private futex
//! ```

use conkit_core::shm::{SharedWait, ShmSafe};

use super::{BoundedSemaphore, Condition, ConditionLock, Event, Lock, RLock, Semaphore};
use crate::wait::InstantWait;

// SAFETY: see the module docs (`repr(C)`: the core `Lock<W>` and a `LockId`).
unsafe impl<W: InstantWait + SharedWait> ShmSafe for Lock<W> {}
// SAFETY: see the module docs (`repr(C)`: the core `ReentrantLock<ThreadOwner, W>`,
// itself `ShmSafe` as `ThreadOwner` is a `ProcessOwnerId`, and a `LockId`).
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe impl<W: InstantWait + SharedWait> ShmSafe for RLock<W> {}
// SAFETY: see the module docs (`repr(C)`: the core semaphore).
unsafe impl<W: InstantWait + SharedWait> ShmSafe for Semaphore<W> {}
// SAFETY: see the module docs (`repr(C)`: the core bounded semaphore).
unsafe impl<W: InstantWait + SharedWait> ShmSafe for BoundedSemaphore<W> {}
// SAFETY: see the module docs (`repr(C)`: the core event).
unsafe impl<W: InstantWait + SharedWait> ShmSafe for Event<W> {}
// SAFETY: see the module docs (`repr(C)`: the lock, itself `ShmSafe`, then the core
// condvar over the lock's strategy, which is `SharedWait`, then an `AtomicU32` count of
// releases owed to cancelled async waits).
unsafe impl<L> ShmSafe for Condition<L>
where
    L: ConditionLock + ShmSafe,
    L::Wait: SharedWait,
{
}
