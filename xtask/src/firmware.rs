//! `cargo xtask firmware`: builds the Cortex-M firmware proof (`tests/firmware`) and
//! runs it in QEMU.
//!
//! Steps:
//! 1. `rustup target add thumbv7m-none-eabi thumbv6m-none-eabi` if missing.
//! 2. QEMU: the `qemu-system-arm` on `PATH` if it works, else a private copy under
//!    `target/qemu/` — the distribution's `.deb`s fetched with `apt-get download` and
//!    unpacked with `dpkg-deb -x`, so the machine's installed packages are never
//!    touched (`apt-get install qemu-system-arm` can fail on images that carry a
//!    backports `qemu-utils`). Missing shared libraries are found with `ldd` and
//!    fetched the same way, round after round. Idempotent: an unpacked copy that
//!    answers `--version` is reused.
//! 3. For each board — Cortex-M3 `lm3s6965evb` (thumbv7m), then Cortex-M0 `microbit`
//!    (thumbv6m, conkit-core with `portable-atomic`) — and each of the [`VARIANTS`] —
//!    the blocking program (`src/main.rs`, a spinning `main`) and the async one
//!    (`src/bin/async.rs`, feature `async`: a task on embassy's executor) —
//!    `cargo build --release --bin ...` in `tests/firmware` (its own workspace and
//!    cargo config), a QEMU run with semihosting and a timeout, a check of the exit
//!    status and of the summary line the firmware prints, and the sizes of the ELF's
//!    `.text`, `.rodata`, `.data` and `.bss`, printed side by side for the variants
//!    (`.text` over a variant's budget on any board fails the step: 5 KB blocking,
//!    12 KB async).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Res};

/// A QEMU machine the firmware runs on.
struct Board {
    /// Rust target the firmware is built for.
    target: &'static str,
    /// `qemu-system-arm -cpu`.
    cpu: &'static str,
    /// `qemu-system-arm -machine`.
    machine: &'static str,
    /// For the log.
    label: &'static str,
}

/// The boards, in order; the runners in `tests/firmware/.cargo/config.toml` match.
const BOARDS: &[Board] = &[
    Board {
        target: "thumbv7m-none-eabi",
        cpu: "cortex-m3",
        machine: "lm3s6965evb",
        label: "Cortex-M3",
    },
    Board {
        target: "thumbv6m-none-eabi",
        cpu: "cortex-m0",
        machine: "microbit",
        label: "Cortex-M0, no CAS: portable-atomic",
    },
];
/// A firmware program: one binary of the `tests/firmware` package.
struct Variant {
    /// Binary name (`cargo build --bin`).
    bin: &'static str,
    /// Cargo features it needs (`--features`; empty: none).
    features: &'static str,
    /// The line it prints when every check passed.
    expected: &'static str,
    /// The most `.text` it may take on any board; over it, the step fails: look at what
    /// grew with `llvm-nm --size-sort -S` on the ELF.
    text_budget: u32,
    /// For the log and the size table.
    label: &'static str,
}

/// The programs, in order: the blocking one (a spinning `main`), then the async one
/// (a task on embassy's executor).
const VARIANTS: &[Variant] = &[
    Variant {
        bin: "conkit-firmware",
        features: "",
        expected: "conkit firmware: 1000 items in order, 0 lost, 0 duplicated, flags ok",
        // Issue #11: ≤ 5 KB; a heapless-only SPSC version of the same program is 4.1 KB.
        text_budget: 5 * 1024,
        label: "blocking",
    },
    Variant {
        bin: "conkit-firmware-async",
        features: "async",
        expected: "conkit async firmware: 1000 items in order, 0 lost, 0 duplicated, flags ok",
        // embassy's executor and task storage, the waker tables and the task's state
        // machine come on top of the blocking program (measured 9.6 KB on thumbv7m).
        text_budget: 12 * 1024,
        label: "async (embassy)",
    },
];
/// Longest a QEMU run may take before it is killed and the step fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds of "fetch what `ldd` reports missing" before giving up.
const LIB_ROUNDS: usize = 6;

/// Builds and runs the firmware proof in QEMU.
pub fn run() -> Res {
    let started = Instant::now();

    util::step("firmware: Rust targets");
    let targets: Vec<&str> = BOARDS.iter().map(|b| b.target).collect();
    util::ensure_targets("", &targets)?;

    util::step("firmware: QEMU");
    let qemu = ensure_qemu()?;

    let mut sizes = Vec::new();
    for board in BOARDS {
        for variant in VARIANTS {
            sizes.push((board, variant, build_and_run(board, variant, &qemu)?));
        }
    }

    util::step("firmware: result (code size per board and variant)");
    for (board, variant, size) in &sizes {
        println!(
            "firmware {:<16} {:<20} {}",
            variant.label,
            board.target,
            size.line()
        );
    }
    for board in BOARDS {
        let of = |bin: &str| {
            sizes
                .iter()
                .find(|(b, v, _)| b.target == board.target && v.bin == bin)
                .map(|(_, _, s)| s)
        };
        if let (Some(blocking), Some(asynch)) = (of(VARIANTS[0].bin), of(VARIANTS[1].bin)) {
            println!(
                "firmware {:<16} {:<20} .text: {:+} B, all sections: {:+} B",
                "async - blocking",
                board.target,
                i64::from(asynch.text) - i64::from(blocking.text),
                i64::from(asynch.total()) - i64::from(blocking.total())
            );
        }
    }
    for (board, variant, size) in &sizes {
        if size.text > variant.text_budget {
            return Err(format!(
                "firmware ({}) .text is {} B on {}, over its budget of {} B (see \
                 VARIANTS in xtask/src/firmware.rs)",
                variant.label, size.text, board.target, variant.text_budget
            ));
        }
    }
    println!(
        "firmware: ok on {}, blocking and async ({}) in {:.1} s",
        BOARDS
            .iter()
            .map(|b| b.machine)
            .collect::<Vec<_>>()
            .join(" and "),
        VARIANTS
            .iter()
            .map(|v| v.expected)
            .collect::<Vec<_>>()
            .join("; "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Section sizes of a firmware ELF, in bytes.
struct Sizes {
    text: u32,
    rodata: u32,
    data: u32,
    bss: u32,
}

impl Sizes {
    /// `.text: N B (.rodata: N, .data: N, .bss: N; text+rodata+data+bss: N)`: the
    /// last figure is what `size` (Berkeley format) adds up as text+data+bss, where its
    /// "text" includes `.rodata` (both sit in flash).
    fn line(&self) -> String {
        format!(
            ".text: {:>5} B (.rodata: {:>4}, .data: {:>3}, .bss: {:>4}; text+rodata+data+bss: {:>5})",
            self.text,
            self.rodata,
            self.data,
            self.bss,
            self.total()
        )
    }

    /// `.text + .rodata + .data + .bss`.
    fn total(&self) -> u32 {
        self.text + self.rodata + self.data + self.bss
    }
}

/// Builds `variant` for `board`, runs it in QEMU, checks it, and returns its section
/// sizes.
fn build_and_run(board: &Board, variant: &Variant, qemu: &Qemu) -> Res<Sizes> {
    util::step(&format!(
        "firmware: build {} for {} (release)",
        variant.bin, board.target
    ));
    let dir = util::root().join("tests").join("firmware");
    let mut build = util::cargo();
    build
        .current_dir(&dir)
        .args(["build", "--release", "--target", board.target])
        .args(["--bin", variant.bin]);
    if !variant.features.is_empty() {
        build.args(["--features", variant.features]);
    }
    // The firmware's own `.cargo/config.toml` sets the linker script; environment
    // overrides from the caller would replace it (RUSTFLAGS drops `-Tlink.x`) or move
    // the output, so they are cleared.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        build.env_remove(var);
    }
    util::run(&mut build)?;
    let elf = dir
        .join("target")
        .join(board.target)
        .join("release")
        .join(variant.bin);
    if !elf.is_file() {
        return Err(format!("firmware ELF not found at {}", elf.display()));
    }

    util::step(&format!(
        "firmware: run {} in QEMU ({}, {})",
        variant.label, board.machine, board.label
    ));
    let mut cmd = qemu.command();
    cmd.args(["-cpu", board.cpu, "-machine", board.machine])
        .args([
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .arg("-kernel")
        .arg(&elf);
    let run = run_with_timeout(cmd, RUN_TIMEOUT)?;
    for line in run.stdout.lines() {
        eprintln!("    | {line}");
    }
    for line in run.stderr.lines() {
        eprintln!("    | (qemu) {line}");
    }
    eprintln!("    (QEMU ran {:.2} s)", run.took.as_secs_f64());
    let Some(ok) = run.success else {
        return Err(format!(
            "QEMU did not exit within {} s on {} (killed): the firmware hung",
            RUN_TIMEOUT.as_secs(),
            board.machine
        ));
    };
    if !ok {
        return Err(format!(
            "the firmware failed on {} (QEMU exit status non-zero)",
            board.machine
        ));
    }
    if !run.stdout.lines().any(|l| l.trim() == variant.expected) {
        return Err(format!(
            "QEMU exited cleanly on {} but the firmware ({}) did not print `{}`",
            board.machine, variant.label, variant.expected
        ));
    }

    let sections = elf_sections(&elf)?;
    let size_of = |name: &str| {
        sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |&(_, size)| size)
    };
    Ok(Sizes {
        text: size_of(".text"),
        rodata: size_of(".rodata"),
        data: size_of(".data"),
        bss: size_of(".bss"),
    })
}

/// A QEMU that answers `--version`.
struct Qemu {
    /// The program to start: `qemu-system-arm` or the wrapper script of a local copy.
    program: PathBuf,
}

impl Qemu {
    fn command(&self) -> Command {
        Command::new(&self.program)
    }

    /// The first line of `--version`, if it runs.
    fn version(&self) -> Option<String> {
        let out = self
            .command()
            .arg("--version")
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().next().map(str::to_owned)
    }
}

/// Finds a working `qemu-system-arm`, unpacking a private copy if needed.
fn ensure_qemu() -> Res<Qemu> {
    let system = Qemu {
        program: "qemu-system-arm".into(),
    };
    if util::have("qemu-system-arm") {
        if let Some(v) = system.version() {
            eprintln!("    using qemu-system-arm from PATH: {v}");
            return Ok(system);
        }
        eprintln!("    qemu-system-arm on PATH does not run; using a local copy");
    }

    let prefix = util::root().join("target").join("qemu");
    let wrapper = prefix.join("bin").join("qemu-system-arm");
    let local = Qemu {
        program: wrapper.clone(),
    };
    if wrapper.is_file() {
        if let Some(v) = local.version() {
            eprintln!("    using the local copy {}: {v}", wrapper.display());
            return Ok(local);
        }
    }

    install_local_qemu(&prefix)?;
    match local.version() {
        Some(v) => {
            eprintln!("    installed {v} into {}", prefix.display());
            eprintln!(
                "    (to use it by hand: PATH={}:$PATH cargo run --release in tests/firmware)",
                prefix.join("bin").display()
            );
            Ok(local)
        }
        None => Err(format!(
            "the local QEMU in {} does not run; try `{} --version`",
            prefix.display(),
            wrapper.display()
        )),
    }
}

/// Unpacks `qemu-system-arm` and the shared libraries it lacks into `prefix`, and
/// writes `prefix/bin/qemu-system-arm`, a wrapper that sets `LD_LIBRARY_PATH`.
fn install_local_qemu(prefix: &Path) -> Res {
    for tool in ["apt-get", "dpkg-deb", "ldd"] {
        if !util::have(tool) {
            return Err(format!(
                "qemu-system-arm is not installed and `{tool}` is missing to unpack a local \
                 copy: install QEMU for Arm (qemu-system-arm) and rerun"
            ));
        }
    }
    let debs = prefix.join("debs");
    let root = prefix.join("root");
    fs::create_dir_all(&debs).map_err(|e| format!("create {}: {e}", debs.display()))?;
    fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;

    // Pin QEMU to the machine's own Debian release (its Breaks/Depends match the
    // libraries there); the mirror is whatever the machine's apt sources name.
    let qemu_pkg = match os_codename() {
        Some(c) => format!("qemu-system-arm/{c}"),
        None => "qemu-system-arm".to_owned(),
    };
    eprintln!(
        "    unpacking {qemu_pkg} into {} (installed packages are not touched)",
        root.display()
    );
    download_and_unpack(&debs, &root, &[qemu_pkg])?;
    let binary = root.join("usr").join("bin").join("qemu-system-arm");
    if !binary.is_file() {
        return Err(format!("{} missing after unpacking", binary.display()));
    }

    let mut fetched: Vec<String> = Vec::new();
    for _ in 0..LIB_ROUNDS {
        let lib_path = library_path(&root);
        let missing = missing_libraries(&binary, &lib_path)?;
        if missing.is_empty() {
            write_wrapper(prefix, &binary, &lib_path)?;
            return Ok(());
        }
        let packages: Vec<String> = missing
            .iter()
            .filter_map(|soname| package_of(soname))
            .filter(|p| !fetched.contains(p))
            .collect();
        if packages.is_empty() {
            return Err(format!(
                "QEMU still lacks {} and no package name could be derived; install \
                 qemu-system-arm by hand",
                missing.join(", ")
            ));
        }
        eprintln!(
            "    missing {}: fetching {}",
            missing.join(" "),
            packages.join(" ")
        );
        download_and_unpack(&debs, &root, &packages)?;
        fetched.extend(packages);
    }
    Err(format!(
        "QEMU's libraries were still incomplete after {LIB_ROUNDS} rounds"
    ))
}

/// `VERSION_CODENAME` from `/etc/os-release` (e.g. `bookworm`).
fn os_codename() -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// `apt-get download`s `packages` into `debs` (running `apt-get update` once if the
/// package lists do not know them) and `dpkg-deb -x`es each into `root`.
fn download_and_unpack(debs: &Path, root: &Path, packages: &[String]) -> Res {
    let before: Vec<PathBuf> = list_debs(debs)?;
    let download = || {
        let mut cmd = Command::new("apt-get");
        cmd.current_dir(debs).arg("-q");
        if is_root() {
            // apt drops to the `_apt` user for downloads; it cannot write to our
            // directory, so it warns and downloads as root anyway. Say so up front.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        cmd.arg("download").args(packages);
        util::output(&mut cmd)
    };
    if let Err(first) = download() {
        eprintln!("    apt-get download failed; refreshing the package lists");
        util::output(Command::new("apt-get").args(["-q", "update"])).map_err(|e| {
            format!("apt-get download failed ({first}) and apt-get update failed too ({e})")
        })?;
        download()?;
    }
    let after = list_debs(debs)?;
    let new: Vec<&PathBuf> = after.iter().filter(|p| !before.contains(p)).collect();
    // Unpack what was just fetched; if apt found the files already present, unpack
    // the matching ones.
    let to_unpack: Vec<&PathBuf> = if new.is_empty() {
        after
            .iter()
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                packages.iter().any(|pkg| {
                    name.starts_with(&format!("{}_", pkg.split('/').next().unwrap_or(pkg)))
                })
            })
            .collect()
    } else {
        new
    };
    for deb in to_unpack {
        util::output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root))?;
    }
    Ok(())
}

fn list_debs(dir: &Path) -> Res<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    Ok(entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The directories under `root` that hold shared libraries, joined for
/// `LD_LIBRARY_PATH` (e.g. `root/usr/lib/x86_64-linux-gnu`).
fn library_path(root: &Path) -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for base in [root.join("usr").join("lib"), root.join("lib")] {
        let mut candidates = vec![base.clone()];
        if let Ok(entries) = fs::read_dir(&base) {
            candidates.extend(
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir()),
            );
        }
        for dir in candidates {
            let has_lib = fs::read_dir(&dir).is_ok_and(|mut es| {
                es.any(|e| {
                    e.is_ok_and(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.starts_with("lib") && n.contains(".so")
                    })
                })
            });
            if has_lib {
                dirs.push(dir);
            }
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Sonames `ldd` reports as `not found` for `binary` with `lib_path` searched first.
fn missing_libraries(binary: &Path, lib_path: &OsString) -> Res<Vec<String>> {
    let out = Command::new("ldd")
        .arg(binary)
        .env("LD_LIBRARY_PATH", lib_path)
        .output()
        .map_err(|e| format!("cannot run ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut missing: Vec<String> = text
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    missing.sort();
    missing.dedup();
    Ok(missing)
}

/// The Debian package that ships a soname, by the Debian policy naming rule (§8.1):
/// `libfoo.so.1` → `libfoo1`, `libnl-3.so.200` → `libnl-3-200` (a dash when the name
/// ends in a digit).
fn package_of(soname: &str) -> Option<String> {
    let (name, version) = soname.split_once(".so.")?;
    let version = version.split('.').next()?;
    let sep = if name.ends_with(|c: char| c.is_ascii_digit()) {
        "-"
    } else {
        ""
    };
    Some(format!(
        "{}{sep}{version}",
        name.to_ascii_lowercase().replace('_', "-")
    ))
}

/// Writes `prefix/bin/qemu-system-arm`, which runs the unpacked binary with its
/// libraries (so the firmware's cargo runner works with this directory on `PATH`).
fn write_wrapper(prefix: &Path, binary: &Path, lib_path: &OsString) -> Res {
    let bin = prefix.join("bin");
    fs::create_dir_all(&bin).map_err(|e| format!("create {}: {e}", bin.display()))?;
    let wrapper = bin.join("qemu-system-arm");
    let script = format!(
        "#!/bin/sh\n# Written by `cargo xtask firmware`: QEMU unpacked from .debs, not installed.\n\
         LD_LIBRARY_PATH='{}'${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}} exec '{}' \"$@\"\n",
        lib_path.to_string_lossy(),
        binary.display()
    );
    fs::write(&wrapper, script).map_err(|e| format!("write {}: {e}", wrapper.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", wrapper.display()))?;
    }
    Ok(())
}

/// What a QEMU run left behind.
struct RunOutcome {
    /// `None` if it was killed at the timeout.
    success: Option<bool>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `cmd` with stdout and stderr captured, killing it after `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Res<RunOutcome> {
    eprintln!("    $ {cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    });
    let success = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status.success()),
            Ok(None) if start.elapsed() <= timeout => thread::sleep(Duration::from_millis(20)),
            // Timed out (or cannot be waited for): kill it; the pipes then close.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let took = start.elapsed();
    let [stdout, stderr] =
        readers.map(|r| String::from_utf8_lossy(&r.join().unwrap_or_default()).into_owned());
    Ok(RunOutcome {
        success,
        stdout,
        stderr,
        took,
    })
}

/// `(name, size)` of every section of a little-endian 32-bit ELF file.
fn elf_sections(path: &Path) -> Res<Vec<(String, u32)>> {
    let data = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let bad = || format!("{} is not a little-endian 32-bit ELF file", path.display());
    if data.len() < 52 || &data[..4] != b"\x7fELF" || data[4] != 1 || data[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let shoff = u32_at(0x20).ok_or_else(bad)? as usize;
    let shentsize = u16_at(0x2E).ok_or_else(bad)? as usize;
    let shnum = u16_at(0x30).ok_or_else(bad)? as usize;
    let shstrndx = u16_at(0x32).ok_or_else(bad)? as usize;
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 16).ok_or_else(bad)? as usize;
    let mut sections = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let name_off = u32_at(header(i)).ok_or_else(bad)? as usize;
        let size = u32_at(header(i) + 20).ok_or_else(bad)?;
        let start = strtab + name_off;
        let name_bytes = data.get(start..).ok_or_else(bad)?;
        let end = name_bytes.iter().position(|&b| b == 0).ok_or_else(bad)?;
        sections.push((
            String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
            size,
        ));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::package_of;

    #[test]
    fn soname_to_package() {
        assert_eq!(package_of("libfdt.so.1").as_deref(), Some("libfdt1"));
        assert_eq!(
            package_of("libcapstone.so.4").as_deref(),
            Some("libcapstone4")
        );
        assert_eq!(package_of("libnl-3.so.200").as_deref(), Some("libnl-3-200"));
        assert_eq!(
            package_of("libnl-route-3.so.200").as_deref(),
            Some("libnl-route-3-200")
        );
        assert_eq!(package_of("libslirp.so.0").as_deref(), Some("libslirp0"));
        assert_eq!(package_of("libfoo.so"), None);
    }
}
