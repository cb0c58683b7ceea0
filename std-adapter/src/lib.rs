//! # conkit
//!
//! The std layer of conkit: OS threads and OS processes on top of the `conkit-core`
//! primitives, with Python's names (`threading`, `queue`, `multiprocessing`).
//!
//! This release ships the foundation: the `core` primitives re-exported as
//! [`core`], with `critical-section`'s std implementation linked in so they work in
//! any std program. The Python-shaped modules arrive with their own issues.
#![deny(missing_docs)]

pub use conkit_core as core;
// Links critical-section's std implementation into every program that uses conkit.
use critical_section as _;
