//! Python's `threading.Thread` and the module-level thread functions
//! (`current_thread`, `main_thread`, `active_count`, `enumerate`, `stack_size`,
//! `excepthook`, `TIMEOUT_MAX`), on `std::thread`.
//!
//! ```
//! use conkit::threading::{current_thread, Thread};
//!
//! let t = Thread::builder().name("worker").target(|| {
//!     assert_eq!(current_thread().name(), "worker");
//! });
//! assert_eq!(t.ident(), None); // not started yet
//! t.start().unwrap();
//! t.join().unwrap();
//! assert!(!t.is_alive());
//! assert!(t.ident().is_some());
//! ```
//!
//! See [`Thread`] for the Python ↔ Rust mapping and how panics are reported.
//!
//! # Algorithm and provenance
//! The bookkeeping follows CPython's `Lib/threading.py`: a `_started` event that `start`
//! waits for (so `ident`, `native_id` and `is_alive` are valid once `start` returns), a
//! registry of active threads (`_active`) that a thread enters before it runs and leaves
//! when its body has finished, `_DummyThread` handles for threads started elsewhere, and
//! a global name counter (`Thread-N`, `Dummy-N`). The "finished" and "started" flags are
//! `conkit-core` [`Event`]s over the [`Futex`] strategy, the registry is a `conkit-core`
//! [`BlockingMutex`](conkit_core::lock::BlockingMutex).
//!
//! # Files
//! | file | holds |
//! |---|---|
//! | `error.rs` | [`ThreadError`], [`Run`] |
//! | `handle.rs` | [`Thread`] and its shared state: start, join, name, daemon, ident |
//! | `spawn.rs` | [`ThreadBuilder`], [`spawn`], [`JoinHandle`], the body every thread runs |
//! | `registry.rs` | names, stack size, the registry of live threads, the main and the current thread, the repair after `fork` |
//! | `excepthook.rs` | the panic hook and [`excepthook`] |
//! | `tests.rs` | the module's own tests (`fork`) |
//!
//! The imports below are shared: each file takes them, and its siblings' items, with
//! `use super::*`; what the files share among themselves is `pub(super)`, so nothing is
//! visible outside this module that was not before the split.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use conkit_core::event::Event;

use super::ident::{get_ident, get_native_id};
use crate::wait::{deadline_after, Futex};

#[cfg(feature = "deadlock-detection")]
pub use super::deadlock::{
    deadlock_reports, default_deadlock_hook, reset_deadlock_hook, set_deadlock_hook,
    take_deadlock_reports, DeadlockEdge, DeadlockReport, LockInfo,
};

/// The internal mutex of this module: a `conkit-core` futex lock (no poisoning), not
/// seen by the deadlock detector (see [`RawMutex`](super::RawMutex)).
use super::RawMutex as Mx;

/// The longest timeout the blocking `*_timeout` calls honour exactly (Python's
/// `threading.TIMEOUT_MAX`, 9 223 372 036 s on Linux, about 292 years).
///
/// Unlike Python, a longer timeout is not an error: it waits "forever" in practice (the
/// deadline saturates, see [`deadline_after`]).
pub const TIMEOUT_MAX: Duration = Duration::from_secs(9_223_372_036);

/// The smallest stack size [`stack_size`] accepts (other than 0): 32 KiB, as CPython.
pub const MIN_STACK_SIZE: usize = 32 * 1024;

mod error;
mod excepthook;
mod handle;
mod registry;
mod spawn;
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests;

pub use error::*;
pub use excepthook::*;
pub use handle::*;
pub use registry::*;
pub use spawn::*;
