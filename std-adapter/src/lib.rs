//! # conkit
//!
//! The std layer of conkit: OS threads and OS processes on top of the `conkit-core`
//! primitives, with Python's names.
//!
//! | module | Python counterpart |
//! |---|---|
//! | [`threading`] | `threading`: `Thread`, `Lock`, `RLock`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`, `Timer`, `local`; and `Mutex<T>` / `Monitor<T>` (a lock / a condition with the data inside), `scope` (threads that borrow), `spawn` (a thread and its value) |
//! | [`multiprocessing`] | `multiprocessing` (Linux): processes, pipes, connections, process-shared primitives, queues |
//! | [`queue`] | `queue`: `Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` |
//! | [`wait`] | (no counterpart) how blocked callers sleep: futex, process-shared futex, portable parking |
//! | [`core`] | the `no_std` primitives themselves (`conkit-core`) |
//!
//! # The `core` primitives sleep here
//! `conkit` turns on `conkit-core`'s `std` feature, which makes the sleeping
//! [`Futex`](wait::Futex) the default waiting strategy of every core primitive
//! ([`wait::DefaultWait`]). So the types under [`core`] — `core::queue::Queue<T, N>`,
//! `core::semaphore::Semaphore`, `core::spsc::SpscRing<T, N>`,
//! `core::event_flags::EventFlags`, `core::lock::BlockingMutex<T>`, … — block in the
//! kernel (after a short spin) when used from OS threads, without a strategy written,
//! and their `_until` forms take a [`std::time::Instant`]:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use conkit::core::semaphore::Semaphore;
//!
//! static PERMITS: Semaphore = Semaphore::new(0); // = Semaphore<conkit::wait::Futex>
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| PERMITS.acquire()); // sleeps until the release below
//!     std::thread::sleep(Duration::from_millis(10));
//!     PERMITS.release().unwrap();
//! });
//! assert!(!PERMITS.acquire_until(Instant::now() + Duration::from_millis(1)));
//! ```
//!
//! One rule changes with sleeping waiters: the rings' wait-free forms (`try_push`,
//! `try_pop`, slices, chunks of `SpscRing` and `MpmcRing`) never wake a peer blocked
//! in `pop`/`push`; call the ring's `notify()` after such a batch, or name
//! `conkit::core::wait::Spin` as the strategy to keep the firmware behaviour.
//!
//! `critical-section`'s std implementation is linked in, so the `core` primitives work
//! in any std program (a crate that depends on `conkit-core` alone adds
//! `critical-section = { version = "1.2", features = ["std"] }` itself: see the
//! [`core`] crate's docs).
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

#[cfg(target_os = "linux")]
pub mod multiprocessing;
pub mod queue;
pub mod threading;
pub mod wait;
