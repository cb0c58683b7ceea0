//! `cargo xtask firmware` (in progress).

use crate::util::Res;

/// Builds and runs the firmware proof in QEMU.
pub fn run() -> Res {
    Err("firmware: not built yet".into())
}
