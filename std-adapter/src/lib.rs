//! # conkit
//!
//! The std layer of conkit: OS threads and OS processes on top of the `conkit-core`
//! primitives, with Python's names.
//!
//! | module | Python counterpart |
//! |---|---|
//! | [`threading`] | `threading`: `Thread`, `Lock`, `RLock`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`, `Timer`, `local`; and `Mutex<T>` / `Monitor<T>` (a lock / a condition with the data inside), `scope` (threads that borrow), `spawn` (a thread and its value) |
//! | [`queue`] | `queue`: `Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` |
//! | [`wait`] | (no counterpart) how blocked callers sleep: futex, process-shared futex, portable parking |
//! | [`core`] | the `no_std` primitives themselves (`conkit-core`) |
//!
//! `critical-section`'s std implementation is linked in, so the `core` primitives work
//! in any std program.
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Inlined: the core's pages are rendered inside these docs (`conkit::core::…`), so a
// `cargo doc --no-deps -p conkit` resolves every link to a core item (without it they
// would point at `conkit_core` pages that such a build does not generate, and render as
// literal `[...]`).
#[doc(inline)]
pub use conkit_core as core;
// Links critical-section's std implementation into every program that uses conkit.
use critical_section as _;

pub mod queue;
pub mod threading;
pub mod wait;
