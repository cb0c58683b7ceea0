//! Puts the board's memory map, as `memory.x`, where the linker script of
//! `cortex-m-rt` (`link.x`) finds it: `lm3s6965evb` for thumbv7m (the default target),
//! the micro:bit's nRF51 for thumbv6m. (Neither file is named `memory.x` in the crate
//! root: the linker looks in its working directory before the search path, so such a
//! file would win over the copy for the other target.)

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let memory = if target.starts_with("thumbv6m") {
        "memory-microbit.x"
    } else {
        "memory-lm3s6965.x"
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(memory, out.join("memory.x")).expect("copy the memory map to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
}
