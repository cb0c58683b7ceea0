//! Cross-crate scenario tests and benchmarks for conkit (see `tests/` and `benches/`).
#![deny(missing_docs)]

pub mod async_queues;

#[cfg(target_os = "linux")]
pub mod mp;
#[cfg(target_os = "linux")]
pub mod process;
