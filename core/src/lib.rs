//! # conkit-core
//!
//! `#![no_std]`, allocation-free concurrency primitives that link into firmware, OS
//! threads, OS processes and web workers unchanged:
//!
//! | module | what |
//! |---|---|
//! | [`spsc`] | wait-free single-producer/single-consumer ring with split handles |
//! | [`byte_ring`] | framed SPSC byte ring: variable-size messages through zero-copy grants |
//! | [`mpmc`] | bounded lock-free multi-producer/multi-consumer ring |
//! | [`lock`] | spin lock, fair ticket lock, reentrant lock, data-guarding `Mutex` |
//! | [`semaphore`] | counting and bounded semaphores |
//! | [`condvar`] | a condition variable for any lock (Python's `Condition`) |
//! | [`barrier`] | a reusable barrier with an action, abort and reset (Python's `Barrier`) |
//! | [`event_flags`] | 32-bit event flag groups (wait-any / wait-all / clear-on-exit) |
//! | [`event`] | a one-bit `Event` (Python's `threading.Event`) |
//! | [`queue`] | Python-style FIFO / LIFO / priority queues with `task_done`/`join` and `shutdown`: a locked `BaseQueue` over fixed-capacity stores, and the lock-free `RingQueue` |
//! | [`wait`] | waiting strategies: how a blocked caller sleeps |
//! | [`shm`] | the shared-memory contract: which types may live in memory shared by processes, and checked segments to put them in |
//! | `asynch` | async front ends (feature `async`) |
//!
//! Every type has a `const fn new`, holds no heap and no internal pointers, and its
//! layout does not depend on its address, so it can be a `static` in firmware or be
//! placed in memory shared between processes or wasm workers ([`shm`] says which types,
//! with which strategies and payloads, and checks a mapping's layout on attach). Every operation that can
//! wait comes in three front ends over one core: `try_*` (never waits, legal in an
//! interrupt), blocking (generic over a [`wait::WaitStrategy`]) and `async`
//! (feature `async`, via `asynch::Async`).
//!
//! # Waiting: spinning on firmware, sleeping with `std`
//! How a blocked caller waits is one type parameter, `W`, and it has a default,
//! [`wait::DefaultWait`]:
//!
//! | build | `DefaultWait` | a blocked `acquire`, `get`, `pop`, `wait` … | deadlines of the `_until` forms |
//! |---|---|---|---|
//! | `no_std` (firmware; the default features) | [`wait::Spin`] | spins with backoff, re-checking | none (`Spin<D>` takes your clock `D`) |
//! | feature `std` (the `conkit` crate turns it on) | `wait::Futex` (Linux; `wait::Parking` elsewhere) | spins briefly, then sleeps in the kernel until woken | `std::time::Instant` |
//!
//! So a std program that writes `static SEM: Semaphore = Semaphore::new(2);` or
//! `let q: queue::Queue<Job, 64> = queue::Queue::new();` gets a semaphore and a queue
//! whose waiters sleep, without knowing the strategies exist, while the same line in
//! firmware spins. Name the strategy to choose another (`Semaphore<Spin>`,
//! `Semaphore<SharedFutex>` for memory shared between processes, your own). The one
//! behaviour that differs: the rings' wait-free forms never wake a sleeping peer (see
//! [`wait`], "The strategies, and the default").
//!
//! # What a build needs: a `critical-section` implementation
//! Some operations run a short critical section through the
//! [`critical-section`](https://docs.rs/critical-section) crate (the default queue
//! mutex, waker registration, atomics emulated on cores without compare-and-swap). As
//! that crate's README asks of libraries, this crate never picks the implementation:
//! the *application* does, once, in its own dependencies. Without one, the program
//! fails to link:
//!
//! ```text
//! rust-lld: error: undefined symbol: _critical_section_1_0_acquire
//! rust-lld: error: undefined symbol: _critical_section_1_0_release
//! ```
//!
//! | the application runs on | add to its `[dependencies]` |
//! |---|---|
//! | an OS (host builds, tests, tools) | `critical-section = { version = "1.2", features = ["std"] }` (a process-wide mutex) |
//! | single-core Cortex-M, bare metal | `cortex-m = { version = "0.7", features = ["critical-section-single-core"] }` (masks interrupts) |
//! | single-core RISC-V, bare metal | `riscv = { version = "0.16", features = ["critical-section-single-hart"] }` |
//! | an RTOS, a HAL or a multi-core chip | the implementation the HAL / RTOS crate provides (e.g. `embassy-rp`'s, `esp-hal`'s) |
//!
//! The `conkit` std crate already links the `std` implementation, so a program that
//! depends on `conkit` (and reaches this crate as `conkit::core`) needs nothing more.
//! The crate's own tests use `critical-section/std` as a dev-dependency.
//!
//! # Features
//! | feature | what it adds |
//! |---|---|
//! | `std` | the OS waiting strategies (`wait::Futex`, `wait::SharedFutex`, `wait::Parking`) as the default, `Deadline` for `Instant`, the heap-backed rings (`HeapMpmcRing`, `HeapRingQueue`) |
//! | `async` | the `async` front ends (`asynch::Async`) |
//! | `portable-atomic` | compare-and-swap on cores without it (thumbv6m), through `portable-atomic`'s critical-section fallback |
//! | `defmt` | `defmt::Format` for the error types |
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
#[cfg(any(feature = "portable-atomic", target_has_atomic = "ptr"))]
pub mod byte_ring;
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
#[cfg(all(not(loom), any(feature = "portable-atomic", target_has_atomic = "ptr")))]
pub mod shm;
pub mod spsc;
pub mod wait;

#[cfg(feature = "async")]
pub mod asynch;

pub use atomic::WaitWord;
pub use cache_padded::CachePadded;
