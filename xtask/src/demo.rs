//! `cargo xtask demo`: the live demo.
//!
//! Until the browser demo lands, this runs the host producer/consumer demo
//! (`std-adapter/examples/demo.rs`): OS threads moving items through the `conkit-core`
//! SPSC and MPMC rings, with rates and checksums printed as they run.

use crate::util::{self, cargo, Res};

/// Runs the demo, forwarding extra arguments to it.
pub fn run(args: &[String]) -> Res {
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "-p",
        "conkit",
        "--example",
        "demo",
        "--",
    ]);
    c.args(args);
    util::run(&mut c)
}
