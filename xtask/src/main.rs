//! `cargo xtask <command>`: the README's commands.
//!
//! * `demo`     — the live browser demo (`--smoke`: build, serve, test headless, exit)
//! * `test`     — everything CI checks (installs what it needs first)
//! * `bench`    — benchmarks of conkit against its peers, as a markdown table
//! * `firmware` — builds the Cortex-M firmware proof and runs it in QEMU

mod bench;
mod browser;
mod demo;
mod examples;
mod firmware;
mod test;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run_all(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("firmware") => firmware::run(),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|bench|firmware>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
