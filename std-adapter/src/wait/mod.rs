//! Waiting strategies for OS threads and OS processes: how a blocked caller sleeps.
//!
//! These implement [`conkit_core::wait::WaitStrategy`] (the futex contract: sleep while
//! a `u32` word holds an expected value, wake one, wake all) with
//! [`std::time::Instant`] deadlines. They live in `conkit-core` (feature `std`, which
//! `conkit` turns on) and are re-exported here; one backend per file there, as in
//! parking_lot's `thread_parker/`:
//!
//! | strategy | sleeps in | use it for |
//! |---|---|---|
//! | [`Futex`] | Linux `futex(FUTEX_WAIT_PRIVATE)`; elsewhere [`Parking`] | threads of one process: the default of `conkit::threading`, `conkit::queue`, and of every [`conkit::core`](crate::core) primitive ([`DefaultWait`]) |
//! | [`SharedFutex`] | Linux `futex(FUTEX_WAIT)` (no `PRIVATE` flag) | words in `MAP_SHARED` memory, waited on by several processes |
//! | [`Parking`] | a fixed table of `std::sync::{Mutex, Condvar}` buckets keyed by the word's address | any std platform (the portable fallback) |
//!
//! Because `conkit` enables `conkit-core`'s `std` feature, a core primitive used from a
//! std program sleeps without naming a strategy: `conkit::core::semaphore::Semaphore`
//! *is* `Semaphore<Futex>` (see [`DefaultWait`]).
//!
//! Deadlines are absolute (`Instant`): a wait that is woken spuriously or by a wake meant
//! for someone else and waits again still ends at the original deadline.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use conkit::core::semaphore::Semaphore;
//! use conkit::wait::Futex;
//!
//! let sem: Semaphore<Futex> = Semaphore::new(0);
//! // Nobody releases: the timed acquire sleeps in the kernel until the deadline.
//! let deadline = Instant::now() + Duration::from_millis(10);
//! assert!(!sem.acquire_until(deadline));
//! assert!(Instant::now() >= deadline);
//!
//! // The same without naming the strategy: the default is the futex.
//! let sem: Semaphore = Semaphore::new(0);
//! assert!(!sem.acquire_until(Instant::now() + Duration::from_millis(1)));
//! ```

pub use conkit_core::wait::{deadline_after, DefaultWait, Futex, Parking};

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use conkit_core::wait::SharedFutex;
