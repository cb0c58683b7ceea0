//! # conkit-core
//!
//! `#![no_std]`, allocation-free concurrency primitives that link into firmware, OS
//! threads, OS processes and web workers unchanged:
//!
//! | module | what |
//! |---|---|
//! | [`spsc`] | wait-free single-producer/single-consumer ring with split handles |
//! | [`mpmc`] | bounded lock-free multi-producer/multi-consumer ring |
//! | [`lock`] | spin lock, fair ticket lock, reentrant lock, data-guarding `Mutex` |
//! | [`semaphore`] | counting and bounded semaphores |
//! | [`condvar`] | a condition variable for any lock (Python's `Condition`) |
//! | [`barrier`] | a reusable barrier with an action, abort and reset (Python's `Barrier`) |
//! | [`event_flags`] | 32-bit event flag groups (wait-any / wait-all / clear-on-exit) |
//! | [`event`] | a one-bit `Event` (Python's `threading.Event`) |
//! | [`queue`] | Python-style FIFO / LIFO / priority queues with `task_done`/`join` and `shutdown`: a locked `BaseQueue` over fixed-capacity stores, and the lock-free `RingQueue` |
//! | [`wait`] | waiting strategies: how a blocked caller sleeps |
//! | `asynch` | async front ends (feature `async`) |
//!
//! Every type has a `const fn new`, holds no heap and no internal pointers, and its
//! layout does not depend on its address, so it can be a `static` in firmware or be
//! placed in memory shared between processes or wasm workers. Every operation that can
//! wait comes in three front ends over one core: `try_*` (never waits, legal in an
//! interrupt), blocking (generic over a [`wait::WaitStrategy`]) and `async`
//! (feature `async`, via `asynch::Async`).
#![no_std]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Mutants: `cfg(conkit_mutant = "NAME")` selects a deliberately broken variant of one
// spot (a weaker ordering, a missing fence, a wake-up not passed on) next to the correct
// code. No real build sets it: the correct code is what compiles, and the `cfg!` tests
// fold away. `cargo xtask test` builds each mutant of its table (`MUTANTS` in
// `xtask/src/test.rs`) under loom and requires the named model to fail, which shows
// that the models catch those bugs.

#[cfg(feature = "std")]
extern crate std;

mod atomic;
mod cache_padded;
#[allow(dead_code)]
mod unwind;

#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod barrier;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod condvar;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod event;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod event_flags;
pub mod lock;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "ptr"))]
pub mod mpmc;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod queue;
#[cfg(any(feature = "portable-atomic", target_has_atomic = "32"))]
pub mod semaphore;
pub mod spsc;
pub mod wait;

#[cfg(feature = "async")]
pub mod asynch;

pub use atomic::WaitWord;
pub use cache_padded::CachePadded;
