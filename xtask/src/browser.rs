//! The browser demo: build the threaded wasm crate, serve it, test it in headless
//! Chromium.
//!
//! * [`ensure_tools`] installs what is missing, without prompting: the nightly
//!   `wasm32-unknown-unknown` target and `rust-src` (for `-Z build-std`), the
//!   `wasm-bindgen` CLI matching the crate's `wasm-bindgen` exactly, `wasm-pack`, Debian's
//!   `chromium` (apt) and the test's npm packages (`npm ci`).
//! * [`build`] runs `wasm-pack build --target web --release --mode no-install` on
//!   `wasm-demo/` with nightly, `-Z build-std=std,panic_abort` and the shared-memory
//!   flags, all scoped to that one command (the rest of the workspace stays on stable).
//!   The package goes to `target/demo/pkg`.
//! * [`Server`] is a small std-only HTTP server on `127.0.0.1` that serves
//!   `wasm-demo/www/` and the package under `/pkg/` with
//!   `Cross-Origin-Opener-Policy: same-origin` and
//!   `Cross-Origin-Embedder-Policy: require-corp` (without them the page gets no shared
//!   memory).
//! * [`test()`] runs `wasm-demo/tests/browser.mjs` (playwright-core driving
//!   `/usr/bin/chromium`) against the server: browser unit tests, every demo, checksums,
//!   figures, and `target/demo/screenshot.png`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::util::{ensure_components, ensure_targets, have, output, root, run, step, Res};

/// wasm-bindgen CLI version: must equal the `wasm-bindgen` crate pinned in
/// `wasm-demo/Cargo.toml`.
const WASM_BINDGEN: &str = "0.2.130";
/// wasm-pack version known to work with `--mode no-install` here.
const WASM_PACK: &str = "0.15.1";
/// rustflags of the threaded build: `+atomics` alone silently yields NON-shared memory;
/// the TLS exports are what wasm-bindgen's thread support needs.
const THREAD_RUSTFLAGS: &str = "-C target-feature=+atomics,+bulk-memory,+mutable-globals \
    -C link-arg=--shared-memory -C link-arg=--import-memory \
    -C link-arg=--max-memory=1073741824 -C link-arg=--export=__wasm_init_tls \
    -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
    -C link-arg=--export=__tls_base";

/// `target/demo`: the wasm package, the screenshot, the test's figures.
pub fn out_dir() -> PathBuf {
    root().join("target/demo")
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// `PATH` with cargo's bin directory first, so freshly installed tools are found.
fn path_with_cargo_bin() -> std::ffi::OsString {
    let mut dirs = vec![cargo_bin()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The `--version` line of a program, if it runs.
fn version_of(program: &str) -> Option<String> {
    Command::new(program)
        .env("PATH", path_with_cargo_bin())
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// `cargo install <krate> --version <version>` unless `program --version` says it.
fn ensure_cargo_tool(program: &str, krate: &str, version: &str) -> Res {
    if version_of(program).is_some_and(|v| v.split_whitespace().any(|w| w == version)) {
        return Ok(());
    }
    // No `--locked`: wasm-bindgen-cli 0.2.130's lockfile does not build here.
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .env_remove("CARGO_TARGET_DIR")
            .args(["install", krate, "--version", version, "--force"]),
    )
}

/// The Chromium binary the test drives (`$CHROMIUM`, else Debian's `/usr/bin/chromium`).
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn ensure_chromium() -> Res {
    if chromium().exists() {
        return Ok(());
    }
    let is_root = output(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| -> Res {
        let mut c = if is_root {
            Command::new("apt-get")
        } else {
            let mut s = Command::new("sudo");
            s.args(["-n", "apt-get"]);
            s
        };
        run(c.env("DEBIAN_FRONTEND", "noninteractive").args(args))
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", "chromium"])?;
    if chromium().exists() {
        Ok(())
    } else {
        Err(format!(
            "{} is still missing after apt-get install",
            chromium().display()
        ))
    }
}

fn ensure_npm_packages() -> Res {
    let dir = root().join("wasm-demo/tests");
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Ok(());
    }
    if !have("npm") {
        return Err("npm is missing (Node.js is required for the browser test)".into());
    }
    run(Command::new("npm")
        .current_dir(&dir)
        .args(["ci", "--no-audit", "--no-fund"]))
}

/// Installs everything the browser build and test need that is missing.
pub fn ensure_tools() -> Res {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src,clippy",
            "--target",
            "wasm32-unknown-unknown",
        ]))?;
    }
    ensure_targets("nightly", &["wasm32-unknown-unknown"])?;
    ensure_components("nightly", &["rust-src", "clippy"])?;
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", WASM_BINDGEN)?;
    ensure_cargo_tool("wasm-pack", "wasm-pack", WASM_PACK)?;
    ensure_chromium()?;
    ensure_npm_packages()
}

/// A command in `wasm-demo/` with the threaded build's toolchain, flags and target
/// directory (`$CARGO_TARGET_DIR/wasm-threads`, else `target/wasm-threads`), all scoped
/// to this one command.
fn threaded(program: &str) -> Command {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("wasm-threads");
    let mut c = Command::new(program);
    c.current_dir(root().join("wasm-demo"))
        .env("PATH", path_with_cargo_bin())
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .env("RUSTFLAGS", THREAD_RUSTFLAGS)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO");
    c
}

/// Clippy on the wasm-only modules (the workspace clippy step compiles the crate for
/// the host, where they are `cfg`'d out).
pub fn clippy_wasm() -> Res {
    run(threaded("cargo").args([
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "--release",
        "-Z",
        "build-std=std,panic_abort",
        "--",
        "-D",
        "warnings",
    ]))
}

/// Builds the threaded wasm package into `target/demo/pkg`.
pub fn build() -> Res {
    let pkg = out_dir().join("pkg");
    let mut c = threaded("wasm-pack");
    c.args([
        "build",
        "--target",
        "web",
        "--release",
        "--mode",
        "no-install",
    ])
    .arg("--no-pack")
    .arg("--out-dir")
    .arg(&pkg)
    // Extra cargo arguments go after the crate path (a `--` fails in 0.15.1).
    .args([".", "-Z", "build-std=std,panic_abort"]);
    run(&mut c)
}

/// A static file server with the cross-origin isolation headers, on its own thread.
#[derive(Debug)]
pub struct Server {
    /// The page's URL, ending in `/`.
    pub url: String,
}

impl Server {
    /// Serves `wasm-demo/www` (and `target/demo/pkg` under `/pkg/`) on
    /// `127.0.0.1:port` (`0`: any free port).
    pub fn start(port: u16) -> Res<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let www = root().join("wasm-demo/www");
        let pkg = out_dir().join("pkg");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (www, pkg) = (www.clone(), pkg.clone());
                thread::spawn(move || {
                    let _ = serve_one(stream, &www, &pkg);
                });
            }
        });
        Ok(Server {
            url: format!("http://{addr}/"),
        })
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file: `/pkg/…` in the package, the rest in `www`; `None`
/// for anything that tries to leave those directories.
fn resolve(url_path: &str, www: &Path, pkg: &Path) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let (base, rest) = match path.strip_prefix("/pkg/") {
        Some(rest) => (pkg, rest),
        None => (www, path.trim_start_matches('/')),
    };
    let rest = if rest.is_empty() { "index.html" } else { rest };
    let rel = Path::new(rest);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(base.join(rel))
}

fn serve_one(mut stream: TcpStream, www: &Path, pkg: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    let file = resolve(target, www, pkg).filter(|p| p.is_file());
    let (status, body, ctype) = match (method, file) {
        ("GET" | "HEAD", Some(p)) => match std::fs::read(&p) {
            Ok(b) => ("200 OK", b, content_type(&p)),
            Err(_) => (
                "500 Internal Server Error",
                b"read error".to_vec(),
                "text/plain",
            ),
        },
        ("GET" | "HEAD", None) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        _ => ("405 Method Not Allowed", b"GET only".to_vec(), "text/plain"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\n\
         Cross-Origin-Embedder-Policy: require-corp\r\n\
         Cross-Origin-Resource-Policy: same-origin\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&body)?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Runs the headless Chromium test against a running server; writes
/// `target/demo/screenshot.png` and `target/demo/results.json`.
pub fn run_browser_test(server: &Server, seconds: f64) -> Res {
    let dir = root().join("wasm-demo/tests");
    run(Command::new("node")
        .current_dir(&dir)
        .arg("browser.mjs")
        .arg("--url")
        .arg(&server.url)
        .arg("--out")
        .arg(out_dir())
        .arg("--seconds")
        .arg(seconds.to_string())
        .arg("--chromium")
        .arg(chromium()))
}

/// Copies the screenshot to `docs/demo.png` (the README's picture).
pub fn publish_screenshot() -> Res {
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs).map_err(|e| format!("{}: {e}", docs.display()))?;
    let from = out_dir().join("screenshot.png");
    let to = docs.join("demo.png");
    std::fs::copy(&from, &to)
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    eprintln!(
        "    screenshot: {} (copied to {})",
        from.display(),
        to.display()
    );
    Ok(())
}

/// The whole check, shared by `cargo xtask test` and `cargo xtask demo --smoke`: install
/// what is missing, clippy the wasm-only code, build, serve on a free port, run the
/// headless test with `seconds` per measured run, then copy the screenshot to
/// `docs/demo.png` (`refresh_docs`), or only when that file is missing (so a test run
/// does not dirty the checkout).
pub fn smoke(seconds: f64, refresh_docs: bool) -> Res {
    step("wasm demo: tools");
    ensure_tools()?;
    step("wasm demo: clippy on the wasm32 build");
    clippy_wasm()?;
    step("wasm demo: wasm-pack build (nightly, build-std, shared memory)");
    build()?;
    let server = Server::start(0)?;
    step("wasm demo: headless Chromium");
    run_browser_test(&server, seconds)?;
    if refresh_docs || !root().join("docs/demo.png").exists() {
        publish_screenshot()?;
    }
    Ok(())
}

/// `cargo xtask test`'s browser step (see [`smoke`]).
pub fn test() -> Res {
    smoke(2.0, false)
}

/// Installs and builds, then serves on `127.0.0.1:port` (for `cargo xtask demo`).
pub fn prepare(port: u16) -> Res<Server> {
    step("wasm demo: tools");
    ensure_tools()?;
    step("wasm demo: wasm-pack build (nightly, build-std, shared memory)");
    build()?;
    Server::start(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_the_served_directories() {
        let (www, pkg) = (Path::new("/w"), Path::new("/p"));
        assert_eq!(resolve("/", www, pkg), Some(PathBuf::from("/w/index.html")));
        assert_eq!(
            resolve("/app.js?x=1", www, pkg),
            Some(PathBuf::from("/w/app.js"))
        );
        assert_eq!(
            resolve("/pkg/a.wasm", www, pkg),
            Some(PathBuf::from("/p/a.wasm"))
        );
        assert_eq!(resolve("/../etc/passwd", www, pkg), None);
        assert_eq!(resolve("/pkg/../../x", www, pkg), None);
        assert_eq!(
            resolve("//etc/passwd", www, pkg),
            Some(PathBuf::from("/w/etc/passwd"))
        );
    }

    #[test]
    fn server_sends_the_isolation_headers_and_refuses_traversal() {
        use std::io::Read;
        let server = Server::start(0).unwrap();
        let addr = server
            .url
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            r
        };
        let page = get("/");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("Cross-Origin-Opener-Policy: same-origin"));
        assert!(page.contains("Cross-Origin-Embedder-Policy: require-corp"));
        assert!(page.contains("text/html"));
        assert!(get("/../Cargo.toml").starts_with("HTTP/1.1 404"));
    }
}
