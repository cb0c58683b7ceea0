//! Turns the `CONKIT_MUTANT` environment variable into `cfg(conkit_mutant = "...")`.
//!
//! The loom mutants (`cargo xtask test`'s mutant table in `xtask/src/test.rs`) are broken
//! variants of the algorithms kept next to the correct code behind that cfg; each must
//! make its loom model fail. Passing the cfg from here rather than through `RUSTFLAGS`
//! rebuilds only this crate per mutant, not loom and the other dependencies. Unset (the
//! normal case) the cfg is absent and the correct code is compiled.
fn main() {
    println!("cargo:rerun-if-env-changed=CONKIT_MUTANT");
    if let Ok(mutant) = std::env::var("CONKIT_MUTANT") {
        if !mutant.is_empty() {
            println!("cargo:rustc-cfg=conkit_mutant=\"{mutant}\"");
        }
    }
}
