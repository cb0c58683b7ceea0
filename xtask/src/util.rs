//! Small helpers shared by the xtask commands.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Result type of every xtask step: the error is a message for the user.
pub type Res<T = ()> = Result<T, String>;

/// The workspace root (the parent of `xtask/`).
///
/// Taken from `CARGO_MANIFEST_DIR` as `cargo run` sets it when the binary starts, and
/// only without it from the path compiled in: a `target/` copied into another checkout
/// (an A/B worktree) holds an xtask binary that cargo does not rebuild, and with the
/// compiled-in path it ran every command in the checkout it was built in.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Prints a step banner.
pub fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Runs a command to completion, failing on a non-zero exit.
pub fn run(cmd: &mut Command) -> Res {
    eprintln!("    $ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Runs a command and returns its standard output, failing on a non-zero exit.
pub fn output(cmd: &mut Command) -> Res<String> {
    eprintln!("    $ {cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `cargo` (the one that runs this xtask), in the workspace root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Whether a program is on `PATH`.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `rustup target add` for each missing target of a toolchain (`""` = default).
pub fn ensure_targets(toolchain: &str, targets: &[&str]) -> Res {
    let mut list = Command::new("rustup");
    if !toolchain.is_empty() {
        list.arg(format!("+{toolchain}"));
    }
    let installed = output(list.args(["target", "list", "--installed"]))?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    if !toolchain.is_empty() {
        add.arg(format!("+{toolchain}"));
    }
    run(add.args(["target", "add"]).args(&missing))
}

/// `rustup component add` for each missing component of a toolchain (`""` = default).
pub fn ensure_components(toolchain: &str, components: &[&str]) -> Res {
    let mut list = Command::new("rustup");
    if !toolchain.is_empty() {
        list.arg(format!("+{toolchain}"));
    }
    let installed = output(list.args(["component", "list", "--installed"]))?;
    let missing: Vec<&str> = components
        .iter()
        .copied()
        .filter(|c| {
            !installed
                .lines()
                .any(|l| l.trim().starts_with(&format!("{c}-")) || l.trim() == *c)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    if !toolchain.is_empty() {
        add.arg(format!("+{toolchain}"));
    }
    run(add.args(["component", "add"]).args(&missing))
}
