//! Cache-line padding, so that two hot atomics written by different cores never share a line.
//!
//! Line sizes follow crossbeam-utils' `CachePadded` survey: 128 bytes on x86_64, aarch64
//! and powerpc64 (adjacent-line prefetch pairs lines), 32 on 32-bit ARM/MIPS/RISC-V
//! application cores, 64 elsewhere. On bare-metal targets (`target_os = "none"`) the
//! Cortex-M / RISC-V microcontrollers this crate targets have no data cache coherence
//! traffic to avoid, so padding shrinks to 8 bytes to save RAM.

use core::ops::{Deref, DerefMut};

/// Pads and aligns `T` to the length of a cache line.
#[cfg_attr(
    all(
        not(target_os = "none"),
        any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "powerpc64"
        )
    ),
    repr(align(128))
)]
#[cfg_attr(
    all(
        not(target_os = "none"),
        any(
            target_arch = "arm",
            target_arch = "mips",
            target_arch = "riscv32",
            target_arch = "wasm32"
        )
    ),
    repr(align(32))
)]
#[cfg_attr(
    all(
        not(target_os = "none"),
        not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "powerpc64",
            target_arch = "arm",
            target_arch = "mips",
            target_arch = "riscv32",
            target_arch = "wasm32"
        ))
    ),
    repr(align(64))
)]
#[cfg_attr(target_os = "none", repr(align(8)))]
#[derive(Debug, Default)]
#[repr(C)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Pads `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }
    /// Returns the inner value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
