//! # conkit in the browser
//!
//! Web workers moving items through the very same `conkit-core` primitives that run in
//! firmware and between OS threads, placed in WebAssembly shared memory:
//!
//! | demo | primitives | module |
//! |---|---|---|
//! | thread-style workers | `SpscRing` (one producer, one consumer) | [`spsc_job`] |
//! | several producers and consumers | `MpmcRing`, `Semaphore`, `EventFlags` | [`mpmc_job`] |
//! | process-style workers | `postMessage` between workers with their own memory (`www/pipe-worker.js`) | — |
//! | the page awaits a worker | `Async<SpscRing>` (async front end), `Semaphore` | [`async_job`] |
//!
//! Workers block with `WasmAtomics` (module `wait`, wasm only), a
//! `conkit_core::wait::WaitStrategy` built on `memory.atomic.wait32`; the page's main
//! thread never blocks: it awaits (`wasm-bindgen-futures`, woken from workers through
//! `Atomics.waitAsync`). Every run proves it lost and duplicated nothing with a
//! [`checksum`].
//!
//! The job logic is portable and tested on the host with OS threads and the spinning
//! strategy; the browser build (nightly, `-Z build-std`, `+atomics`, shared memory) and
//! its headless Chromium test are driven by `cargo xtask demo` / `cargo xtask test`.
#![deny(missing_docs)]
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

pub mod async_job;
pub mod checksum;
pub mod mpmc_job;
pub mod registry;
pub mod run;
pub mod spsc_job;

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub mod bindings;
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
mod critical;
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub mod selftest;
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub mod wait;

pub use conkit_core;

#[cfg(test)]
mod host_tests;
