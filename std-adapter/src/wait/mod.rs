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
//! The `conkit::threading` types take any of these as their strategy parameter (`W`,
//! bounded by [`InstantWait`], `Futex` when not written): `Lock<SharedFutex>`,
//! `Semaphore<SharedFutex>`, `Mutex<T, SharedFutex>`, … are the same front ends for
//! memory shared by processes.
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

use std::time::Instant;

use conkit_core::wait::WaitStrategy;

/// A waiting strategy whose deadlines are [`Instant`]s: what every `conkit::threading`
/// wrapper is generic over (`Lock<W = Futex>`, `Semaphore<W = Futex>`, …).
///
/// Implemented for every [`WaitStrategy`] with `Deadline = Instant`, so it is never
/// implemented by hand: [`Futex`] (the default of every wrapper), `SharedFutex` (words in
/// `MAP_SHARED` memory, waited on by several processes), [`Parking`], and
/// [`Spin<Instant>`](conkit_core::wait::Spin) (busy-waiting with `Instant` deadlines).
/// The wrappers' algorithms are the core's whichever strategy is plugged in; only how a
/// blocked caller sleeps changes.
///
/// ```
/// use std::time::Duration;
///
/// use conkit::core::wait::Spin;
/// use conkit::threading::Lock;
/// use conkit::wait::{Futex, InstantWait};
///
/// fn hold_briefly<W: InstantWait>(lock: &Lock<W>) -> bool {
///     lock.lock_timeout(Duration::from_millis(10)).is_some()
/// }
///
/// assert!(hold_briefly(&Lock::new())); // `Lock` is `Lock<Futex>`
/// assert!(hold_briefly(&Lock::<Futex>::with_strategy()));
/// assert!(hold_briefly(&Lock::<Spin<std::time::Instant>>::with_strategy()));
/// ```
///
/// It also asks for `Send + Sync` (every strategy is a zero-sized marker type that has
/// both), so that code generic over the strategy can share a `Lock<W>` between threads
/// without repeating those bounds.
pub trait InstantWait: WaitStrategy<Deadline = Instant> + Send + Sync {}

impl<W: WaitStrategy<Deadline = Instant> + Send + Sync> InstantWait for W {}
