//! `cargo xtask test`: everything CI checks, installing what it needs first.
//!
//! Steps (each must pass): toolchain components and targets, `cargo fmt --check`,
//! `cargo clippy -D warnings`, docs with `-D warnings`, host tests (debug, and release
//! with every host feature), `no_std` builds for the firmware and wasm targets, the
//! firmware run in QEMU, the loom models, miri on `conkit-core`, and the wasm demo in
//! headless Chromium.

use std::process::Command;
use std::time::Instant;

use crate::util::{cargo, ensure_components, ensure_targets, root, run, step, Res};

/// The `no_std` targets `conkit-core` must build for, with the features each needs.
pub const NO_STD_TARGETS: &[(&str, &str)] = &[
    ("thumbv6m-none-eabi", ""),
    ("thumbv6m-none-eabi", "portable-atomic,async"),
    ("thumbv7em-none-eabihf", "async"),
    ("riscv32imac-unknown-none-elf", "async"),
    ("wasm32-unknown-unknown", "async"),
];

/// Options of `cargo xtask test`.
struct Options {
    /// Skip the slow proof steps (loom, miri, firmware) for a quick local loop.
    quick: bool,
}

/// Runs every check.
pub fn run_all(args: &[String]) -> Res {
    let opts = Options {
        quick: args.iter().any(|a| a == "--quick"),
    };
    let started = Instant::now();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut timed = |name: &'static str, f: &dyn Fn() -> Res| -> Res {
        step(name);
        let t = Instant::now();
        f().map_err(|e| format!("step `{name}` failed: {e}"))?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    timed("toolchain: components and targets", &setup)?;
    timed("cargo fmt --check", &fmt)?;
    timed("cargo clippy -D warnings", &clippy)?;
    timed("cargo doc -D warnings", &doc)?;
    timed("host tests", &host_tests)?;
    timed("no_std target builds", &no_std_builds)?;
    if !opts.quick {
        timed("firmware in QEMU", &crate::firmware::run)?;
        timed("loom models", &loom)?;
        timed("miri on conkit-core", &miri)?;
        timed("wasm demo in headless Chromium", &crate::browser::test)?;
    }

    eprintln!("\n==> summary ({:.0} s)", started.elapsed().as_secs_f64());
    for (name, secs) in &steps {
        eprintln!("    ok  {secs:7.1} s  {name}");
    }
    println!("xtask: {} passed, 0 failed", steps.len());
    Ok(())
}

fn setup() -> Res {
    ensure_components("", &["rustfmt", "clippy"])?;
    let mut targets: Vec<&str> = NO_STD_TARGETS.iter().map(|(t, _)| *t).collect();
    targets.push("thumbv7m-none-eabi");
    targets.dedup();
    ensure_targets("", &targets)?;
    ensure_components("nightly", &["miri", "rust-src"])
}

fn fmt() -> Res {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo()
        .current_dir(root().join("tests/firmware"))
        .args(["fmt", "--check"]))
}

fn clippy() -> Res {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "-p",
        "conkit-core",
        "--all-targets",
        "--features",
        "async,std",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "-p",
        "conkit",
        "--all-targets",
        "--features",
        "deadlock-detection",
        "--",
        "-D",
        "warnings",
    ]))
}

fn doc() -> Res {
    run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--features",
        "conkit-core/async",
    ]))
}

fn host_tests() -> Res {
    run(cargo().args(["test", "--workspace"]))?;
    run(cargo().args([
        "test",
        "-p",
        "conkit-core",
        "--release",
        "--features",
        "async,std",
    ]))?;
    // The lock-order deadlock detector is off by default: test it on its own.
    run(cargo().args(["test", "-p", "conkit", "--features", "deadlock-detection"]))
}

fn no_std_builds() -> Res {
    for (target, features) in NO_STD_TARGETS {
        let mut c = cargo();
        c.args(["build", "-p", "conkit-core", "--target", target]);
        if !features.is_empty() {
            c.args(["--features", features]);
        }
        run(&mut c)?;
    }
    Ok(())
}

fn loom() -> Res {
    let tests = std::fs::read_dir(root().join("core/tests"))
        .map_err(|e| format!("core/tests: {e}"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("loom_")
                .and_then(|_| name.strip_suffix(".rs"))
                .map(str::to_owned)
        })
        .collect::<Vec<_>>();
    if tests.is_empty() {
        return Err("no loom models found in core/tests/loom_*.rs".into());
    }
    let mut c = cargo();
    c.env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .env("CARGO_TARGET_DIR", root().join("target/loom"))
        .args([
            "test",
            "-p",
            "conkit-core",
            "--release",
            "--features",
            "async",
        ]);
    for t in &tests {
        c.args(["--test", t]);
    }
    run(&mut c)
}

fn miri() -> Res {
    run(Command::new("cargo")
        .current_dir(root())
        .env("MIRIFLAGS", "-Zmiri-strict-provenance")
        .env("CARGO_TARGET_DIR", root().join("target/miri"))
        .args([
            "+nightly",
            "miri",
            "test",
            "-p",
            "conkit-core",
            "--features",
            "async",
        ]))
}
