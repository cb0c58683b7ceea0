//! `cargo xtask bench` (in progress).

use crate::util::Res;

/// Runs the benchmarks.
pub fn run(_args: &[String]) -> Res {
    Err("bench: not built yet".into())
}
