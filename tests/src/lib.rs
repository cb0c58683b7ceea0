//! Cross-crate scenario tests and benchmarks for conkit (see `tests/` and `benches/`).
#![deny(missing_docs)]

#[cfg(target_os = "linux")]
pub mod mp;
#[cfg(target_os = "linux")]
pub mod process;
