//! conkit in the browser: web workers sharing `conkit-core` primitives.
//!
//! Placeholder: the browser demo arrives with its own issue. For now it proves that
//! `conkit-core` builds for `wasm32-unknown-unknown`.
#![no_std]
#![deny(missing_docs)]

pub use conkit_core as core;
