//! The examples step of `cargo xtask test`: every program in `std-adapter/examples/`
//! runs (exit status 0 within a time limit, the expected lines in its output), its
//! output is compared with its Python original's (`std-adapter/examples/python/NAME.py`,
//! run by `python3`), and its length is held to [`LINE_RATIO`] times the Python's.
//!
//! The table is [`EXAMPLES`] in `xtask/src/test.rs`; an example
//! file without a row there (or a Python original without one) fails the step, so every
//! example is run by the test command.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::test::EXAMPLES;
use crate::util::{cargo, root, run, Res};

/// A Rust port may be at most this many times as long as its Python original
/// (non-blank, non-comment lines), plus [`MAIN_LINES`].
pub const LINE_RATIO: f64 = 1.3;

/// The lines a Rust program needs that a Python script does not: `fn main() {` and its
/// `}` (what decides the ratio of a five-line script, not of a real program).
pub const MAIN_LINES: usize = 2;

/// How long one example (or its Python original) may run.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// How an example's output is compared with its Python original's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The same lines in the same order (a deterministic program).
    Exact,
    /// The same lines, in any order (threads print in the order they happen to run).
    Sorted,
    /// The same number of lines (which thread prints which item depends on timing).
    LineCount,
    /// Both run to completion (the program prints random amounts: nothing to compare
    /// but the exit status and the `expect` lines of the port).
    Runs,
}

/// One row of [`EXAMPLES`]: an example of the `conkit` crate and how it is checked.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// `std-adapter/examples/NAME.rs`, run as `cargo run -p conkit --example NAME`.
    pub name: &'static str,
    /// Command-line arguments.
    pub args: &'static [&'static str],
    /// Lines the output must contain (each a whole line, anywhere).
    pub expect: &'static [&'static str],
    /// `Some`: the Python original `std-adapter/examples/python/NAME.py` exists, its
    /// output is compared this way, and the line ratio applies. `None`: no Python
    /// original.
    pub python: Option<Compare>,
}

fn examples_dir() -> PathBuf {
    root().join("std-adapter/examples")
}

fn python_path(name: &str) -> PathBuf {
    examples_dir().join("python").join(format!("{name}.py"))
}

/// Non-blank lines that are not comments (`//`, `//!`, `///` in Rust; `#` in Python).
pub fn code_lines(text: &str, comment: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(comment))
        .count()
}

/// One row of the line-count table.
#[derive(Debug)]
pub struct Lines {
    pub name: &'static str,
    pub python: usize,
    pub rust: usize,
}

impl Lines {
    pub fn ratio(&self) -> f64 {
        self.rust as f64 / self.python as f64
    }

    pub fn within(&self) -> bool {
        self.python > 0 && self.rust as f64 <= LINE_RATIO * self.python as f64 + MAIN_LINES as f64
    }
}

fn read(path: &Path) -> Res<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The line counts of every example that has a Python original.
pub fn line_table() -> Res<Vec<Lines>> {
    let mut rows = Vec::new();
    for ex in EXAMPLES.iter().filter(|e| e.python.is_some()) {
        let rust = read(&examples_dir().join(format!("{}.rs", ex.name)))?;
        let python = read(&python_path(ex.name))?;
        rows.push(Lines {
            name: ex.name,
            python: code_lines(&python, "#"),
            rust: code_lines(&rust, "//"),
        });
    }
    Ok(rows)
}

/// The table as markdown, and the rows over [`LINE_RATIO`].
pub fn print_line_table(rows: &[Lines]) -> Vec<&'static str> {
    eprintln!("\n    | example | Python lines | Rust lines | ratio (max {LINE_RATIO}x + {MAIN_LINES} lines) |");
    eprintln!("    |---|---:|---:|---:|");
    for r in rows {
        eprintln!(
            "    | {} | {} | {} | {:.2}{} |",
            r.name,
            r.python,
            r.rust,
            r.ratio(),
            if r.within() { "" } else { " TOO LONG" }
        );
    }
    rows.iter()
        .filter(|r| !r.within())
        .map(|r| r.name)
        .collect()
}

/// Example files (`NAME.rs`) and Python originals (`python/NAME.py`) without a row in
/// [`EXAMPLES`], and rows whose files are missing.
pub fn unlisted() -> Res<Vec<String>> {
    let names = |dir: &Path, ext: &str| -> Res<BTreeSet<String>> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                file.strip_suffix(ext).map(str::to_owned)
            })
            .collect())
    };
    let rust = names(&examples_dir(), ".rs")?;
    let python = names(&examples_dir().join("python"), ".py")?;
    let listed: BTreeSet<&str> = EXAMPLES.iter().map(|e| e.name).collect();
    let mut problems = Vec::new();
    for name in rust.iter().filter(|n| !listed.contains(n.as_str())) {
        problems.push(format!(
            "std-adapter/examples/{name}.rs has no row in EXAMPLES"
        ));
    }
    for name in python.iter().filter(|n| !listed.contains(n.as_str())) {
        problems.push(format!(
            "std-adapter/examples/python/{name}.py has no row in EXAMPLES"
        ));
    }
    for ex in EXAMPLES {
        if !rust.contains(ex.name) {
            problems.push(format!("EXAMPLES lists {}, which has no .rs file", ex.name));
        }
        if ex.python.is_some() && !python.contains(ex.name) {
            problems.push(format!(
                "EXAMPLES compares {} with python/{}.py, which does not exist",
                ex.name, ex.name
            ));
        }
    }
    Ok(problems)
}

/// Runs `cmd` to completion within [`TIME_LIMIT`] and returns its standard output;
/// fails on a non-zero exit status or a time-out (the process is killed).
fn run_limited(what: &str, cmd: &mut Command) -> Res<String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start {cmd:?}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what}: still running after {} s, killed",
                    TIME_LIMIT.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    let out = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{what}: exit status {status}\n{out}{err}"))
    }
}

/// Runs a Python original. `print` is replaced by one that writes the line and its end
/// with a single call: CPython's `print` writes them separately, so lines printed by
/// several threads can run into each other ("Producing1productProducing1product"),
/// where Rust's `println!` writes each line whole. The program itself is unchanged.
fn python(name: &str) -> Res<String> {
    const SHIM: &str = "import builtins, runpy, sys\n\
        def _print(*args, sep=' ', end='\\n', file=None, flush=False):\n\
        \x20   (file or sys.stdout).write(sep.join(map(str, args)) + end)\n\
        builtins.print = _print\n\
        runpy.run_path(sys.argv[1], run_name='__main__')\n";
    run_limited(
        &format!("python3 python/{name}.py"),
        Command::new("python3")
            .env("PYTHONIOENCODING", "utf-8")
            .arg("-c")
            .arg(SHIM)
            .arg(python_path(name)),
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Checks one example's output: the expected lines, then the comparison with Python.
fn check(ex: &Example, out: &str) -> Res<String> {
    let got = lines(out);
    for want in ex.expect {
        if !got.contains(want) {
            return Err(format!(
                "{}: the line {want:?} is missing from its output:\n{out}",
                ex.name
            ));
        }
    }
    let Some(mode) = ex.python else {
        return Ok(format!("{} lines, expected lines present", got.len()));
    };
    let py_out = python(ex.name)?;
    let py = lines(&py_out);
    let same = match mode {
        Compare::Exact => got == py,
        Compare::Sorted => {
            let (mut a, mut b) = (got.clone(), py.clone());
            a.sort_unstable();
            b.sort_unstable();
            a == b
        }
        Compare::LineCount => got.len() == py.len(),
        Compare::Runs => true,
    };
    if !same {
        return Err(format!(
            "{}: output differs from python/{}.py ({mode:?}):\n--- conkit ---\n{out}--- CPython ---\n{py_out}",
            ex.name, ex.name
        ));
    }
    Ok(format!(
        "{} lines, expected lines present, = CPython ({mode:?})",
        got.len()
    ))
}

/// The step: builds the examples, runs each, compares with Python, checks the lengths.
pub fn run_all() -> Res {
    let problems = unlisted()?;
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    run(cargo().args(["build", "-p", "conkit", "--examples"]))?;
    let bin_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("debug/examples");
    let mut failed = Vec::new();
    for ex in EXAMPLES {
        let t = Instant::now();
        let result = run_limited(
            &format!("example {}", ex.name),
            Command::new(bin_dir.join(ex.name))
                .args(ex.args)
                .current_dir(root()),
        )
        .and_then(|out| check(ex, &out));
        match result {
            Ok(summary) => eprintln!(
                "    ok      {:<34} {:5.2} s  {summary}",
                ex.name,
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("    FAILED  {e}");
                failed.push(ex.name);
            }
        }
    }
    let too_long = print_line_table(&line_table()?);
    if !too_long.is_empty() {
        failed.extend(too_long.iter().copied());
        eprintln!("    longer than {LINE_RATIO}x their Python + {MAIN_LINES} lines: {too_long:?}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("examples failed: {failed:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_code_lines_only() {
        let rust = "//! doc\n\nuse a;\n    // note\nfn main() {\n    /// x\n}\n";
        assert_eq!(code_lines(rust, "//"), 3);
        let py = "# seed\nimport queue\n\n    # why\nq = 1\n";
        assert_eq!(code_lines(py, "#"), 2);
    }

    /// Every example and Python original has a row, and every row its files.
    #[test]
    fn every_example_is_in_the_table() {
        let problems = unlisted().unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// The ports stay within [`LINE_RATIO`] times their Python original.
    #[test]
    fn every_example_is_within_the_line_ratio() {
        let rows = line_table().unwrap();
        let too_long = print_line_table(&rows);
        assert!(
            too_long.is_empty(),
            "longer than {LINE_RATIO}x + {MAIN_LINES} lines: {too_long:?}"
        );
    }
}
