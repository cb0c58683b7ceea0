//! Python's `threading` module on OS threads and the `conkit-core` primitives.
//!
//! Every synchronisation type here is a `conkit-core` primitive whose waiters sleep in
//! the kernel through [`Futex`](crate::wait::Futex): the same algorithm that runs in
//! firmware with a spinning strategy and between processes with a process-shared futex.
//!
//! Rust's threads run truly in parallel: there is no GIL, so where the Python notes say
//! "only one thread runs Python code at a time", here every thread runs at once and the
//! locks below are what keeps shared data consistent.
//!
//! | Python | conkit |
//! |---|---|
//! | `with lock:` | a guard: `let _g = lock.lock();` |
//! | `acquire(blocking=False)` | `try_acquire()` |
//! | `acquire(timeout=t)` | `acquire_timeout(Duration)` |
//! | exceptions (`RuntimeError`, `ValueError`, `BrokenBarrierError`) | typed `Result` errors |

mod barrier;
mod condition;
pub mod deadlock;
mod event;
mod ident;
mod local;
mod lock;
mod rlock;
mod semaphore;
mod thread;
mod timer;
mod trace;

pub use barrier::*;
pub use condition::*;
pub use event::*;
pub use ident::{get_ident, get_native_id, ThreadOwner};
pub use local::*;
pub use lock::*;
pub use rlock::*;
pub use semaphore::*;
pub use thread::*;
pub use timer::*;
pub use trace::*;
