//! `cargo xtask demo`: the live browser demo.
//!
//! Builds `wasm-demo` for the browser (installing wasm-pack, the wasm-bindgen CLI, the
//! nightly target and `rust-src` when missing), serves it on `127.0.0.1` with the
//! cross-origin isolation headers shared memory needs, prints the URL and serves until
//! Ctrl-C. Options:
//!
//! * `--port N` — listen on port `N` (default 8000; `0` picks a free port);
//! * `--smoke` (or `--check`) — instead of serving forever: clippy the wasm build, build,
//!   serve on a free port, run the headless Chromium test (browser unit tests, every
//!   demo, checksums, figures), refresh `docs/demo.png`, and exit;
//! * `--seconds S` — with `--smoke`, seconds per measured run (default 2).

use std::time::Duration;

use crate::browser;
use crate::util::Res;

/// Runs the demo.
pub fn run(args: &[String]) -> Res {
    let mut port: u16 = 8000;
    let mut smoke = false;
    let mut seconds = 2.0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number")?;
            }
            "--smoke" | "--check" => smoke = true,
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("--seconds needs a positive number")?;
            }
            other => {
                return Err(format!(
                    "unknown option {other}; usage: cargo xtask demo [--port N] [--smoke] [--seconds S]"
                ))
            }
        }
    }
    if smoke {
        return browser::smoke(seconds, true);
    }
    let server = browser::prepare(port)?;
    println!("\nconkit demo: open {}  (Ctrl-C to stop)", server.url);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
