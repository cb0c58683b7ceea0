//! `conkit::multiprocessing::connection` against a real `python3`: CPython's
//! `multiprocessing.connection.Client` against the `connection_echo` example's `serve`,
//! the example's `connect` against CPython's `Listener` — over a Unix socket path and
//! TCP, with the right and a wrong key — and `send_bytes`/`recv_bytes` (with
//! `maxlength`, offsets, `recv_bytes_into`/`BufferTooShort`) over a socket shared with
//! a CPython `Connection`. Every child runs under a time limit and is killed past it.
//!
//! The installed `python3` decides the handshake variant under test: CPython ≤ 3.11
//! speaks the legacy HMAC-MD5 form (a 20-byte challenge), ≥ 3.12 the `{sha256}`
//! negotiation; our side speaks both (the legacy and modern forms are also tested
//! against each other in the unit tests).

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use conkit::multiprocessing::connection::{Connection, ConnectionError};

/// How long any child process (python3 or the example) may run.
const LIMIT: Duration = Duration::from_secs(30);

fn python_available() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import multiprocessing.connection")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `target/<profile>/examples/connection_echo` (built by `cargo test`; built here when a
/// narrower `cargo test --test` left it out).
fn echo_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let bin = profile_dir.join("examples").join("connection_echo");
        if bin.exists() {
            return bin;
        }
        // A separate target directory: the outer cargo may hold the lock on ours.
        let target = profile_dir.join("interop-build");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "-q",
            "-p",
            "conkit",
            "--example",
            "connection_echo",
        ])
        .env("CARGO_TARGET_DIR", &target);
        if release {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("cargo").success(),
            "building the example"
        );
        target
            .join(if release { "release" } else { "debug" })
            .join("examples")
            .join("connection_echo")
    })
    .clone()
}

/// Waits for `child` at most [`LIMIT`] (killing it past that) and collects its output.
fn finish(mut child: Child, what: &str) -> Output {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if started.elapsed() > LIMIT => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{what}: no exit within {LIMIT:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Starts a server whose first stdout line is `<prefix><address>`; returns the child
/// and the address (the rest of stdout stays readable through the returned reader).
fn start_server(mut cmd: Command, prefix: &str) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = match rx.recv_timeout(LIMIT) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("server did not start: {}", text(&out.stderr));
        }
    };
    let address = first
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (child, address, rx)
}

fn unix_path(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!("conkit-interop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p.to_string_lossy().into_owned()
}

/// Python's spelling of an address: a tuple for `host:port`, a string for a path.
fn py_address(address: &str) -> String {
    match address.rsplit_once(':') {
        Some((host, port)) if !address.contains('/') => format!("('{host}', {port})"),
        _ => format!("{address:?}"),
    }
}

const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
from multiprocessing import AuthenticationError
address = eval(sys.argv[1])
try:
    c = Client(address, authkey=sys.argv[2].encode())
except AuthenticationError as e:
    print("AuthenticationError:", e)
    sys.exit(0)
for m in [b"hello", b"", b"x" * 100000, bytes(range(256))]:
    c.send_bytes(m)
    assert c.recv_bytes() == m, m[:20]
print("python client: 4 echoes ok")
c.close()
"#;

/// CPython's `Client` against our `serve`.
fn python_client_against_serve(address: &str, wrong_key: bool) {
    let mut serve = Command::new(echo_bin());
    serve.args(["serve", address, "s3cret"]);
    let (server, bound, lines) = start_server(serve, "listening on ");
    let key = if wrong_key { "not the key" } else { "s3cret" };
    let py = Command::new("python3")
        .args(["-c", PY_CLIENT, &py_address(&bound), key])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let py = finish(py, "python client");
    let server = finish(server, "serve");
    let py_out = text(&py.stdout);
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(py.status.success(), "python: {}", text(&py.stderr));
    if wrong_key {
        assert!(
            py_out.contains("AuthenticationError: digest sent was rejected"),
            "{py_out}"
        );
        assert!(!server.status.success());
        assert!(
            text(&server.stderr).contains("authentication failed: digest received was wrong"),
            "{}",
            text(&server.stderr)
        );
    } else {
        assert!(py_out.contains("python client: 4 echoes ok"), "{py_out}");
        assert!(server.status.success(), "{}", text(&server.stderr));
        assert_eq!(rest, ["peer closed after 4 messages"]);
    }
}

const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
from multiprocessing import AuthenticationError
address = eval(sys.argv[1])
with Listener(address, authkey=sys.argv[2].encode()) as l:
    a = l.address
    print("listening on", a if isinstance(a, str) else "%s:%d" % a, flush=True)
    try:
        c = l.accept()
    except AuthenticationError as e:
        print("AuthenticationError:", e)
        sys.exit(0)
    n = 0
    while True:
        try:
            m = c.recv_bytes()
        except EOFError:
            break
        c.send_bytes(m.upper())
        n += 1
    print("python listener echoed", n)
"#;

/// Our `connect` against CPython's `Listener`.
fn connect_against_python_listener(address: &str, wrong_key: bool) {
    let mut listener = Command::new("python3");
    listener.args(["-c", PY_LISTENER, &py_address(address), "s3cret"]);
    let (py, bound, lines) = start_server(listener, "listening on ");
    let key = if wrong_key { "nope" } else { "s3cret" };
    let mut connect = Command::new(echo_bin())
        .args(["connect", &bound, key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("connect");
    connect
        .stdin
        .take()
        .expect("piped")
        .write_all(b"first line\nsecond line\n")
        .expect("stdin");
    let connect = finish(connect, "connect");
    let py = finish(py, "python listener");
    assert!(py.status.success(), "python: {}", text(&py.stderr));
    let py_lines: Vec<String> = lines.try_iter().collect();
    if wrong_key {
        assert!(!connect.status.success());
        assert!(
            text(&connect.stderr).contains("authentication failed: digest sent was rejected"),
            "{}",
            text(&connect.stderr)
        );
        assert_eq!(py_lines, ["AuthenticationError: digest received was wrong"]);
    } else {
        assert!(connect.status.success(), "{}", text(&connect.stderr));
        assert_eq!(
            text(&connect.stdout),
            "echo: FIRST LINE\necho: SECOND LINE\n"
        );
        assert_eq!(py_lines, ["python listener echoed 2"]);
    }
}

#[test]
fn python_client_to_our_listener_unix_and_tcp() {
    if !python_available() {
        eprintln!("python3 with multiprocessing not found: skipped");
        return;
    }
    for wrong in [false, true] {
        python_client_against_serve(&unix_path(&format!("serve-{wrong}")), wrong);
        python_client_against_serve("127.0.0.1:0", wrong);
    }
}

#[test]
fn our_client_to_python_listener_unix_and_tcp() {
    if !python_available() {
        eprintln!("python3 with multiprocessing not found: skipped");
        return;
    }
    for wrong in [false, true] {
        connect_against_python_listener(&unix_path(&format!("listen-{wrong}")), wrong);
        connect_against_python_listener("127.0.0.1:0", wrong);
    }
}

const PY_BYTES: &str = r#"
import sys
from multiprocessing.connection import Connection
from multiprocessing import BufferTooShort
c = Connection(int(sys.argv[1]))
for _ in range(4):                      # small, empty, large (two writes), binary
    m = c.recv_bytes()
    c.send_bytes(m[::-1])
c.send_bytes(b"0123456789", 2, 5)       # offset and size
buf = bytearray(4)
try:
    c.recv_bytes_into(buf)
except BufferTooShort as e:
    c.send_bytes(b"too short: " + e.args[0])
c.send_bytes(b"x" * 20000)
try:
    c.recv_bytes(10)                    # our 11-byte message
except OSError as e:
    print("python:", e)
c.close()
"#;

/// `send_bytes`/`recv_bytes` between us and a CPython `Connection` sharing a socket.
#[test]
fn bytes_interop_with_a_python_connection() {
    if !python_available() {
        eprintln!("python3 with multiprocessing not found: skipped");
        return;
    }
    let (ours, theirs) = UnixStream::pair().unwrap();
    // The child inherits `theirs` (no close-on-exec); our copy is closed after spawn.
    // SAFETY: plain fcntl calls on our own descriptor.
    unsafe {
        let fd = theirs.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFD);
        assert!(flags >= 0);
        assert_eq!(libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC), 0);
    }
    let py = Command::new("python3")
        .args(["-c", PY_BYTES, &theirs.as_raw_fd().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    drop(theirs);
    let mut c = Connection::from_fd(ours.into(), true, true).unwrap();
    let messages: [Vec<u8>; 4] = [
        b"hello".to_vec(),
        Vec::new(),
        (0..100_000u32).map(|i| i as u8).collect(),
        (0..=255u8).collect(),
    ];
    for m in &messages {
        c.send_bytes(m).unwrap();
        let mut rev = m.clone();
        rev.reverse();
        assert_eq!(c.recv_bytes().unwrap(), rev);
    }
    assert_eq!(c.recv_bytes().unwrap(), b"23456");
    c.send_bytes(b"more than four").unwrap();
    assert_eq!(c.recv_bytes().unwrap(), b"too short: more than four");
    // Our own maxlength on a message from CPython (its 20 000 bytes go out in two writes).
    assert!(matches!(
        c.recv_bytes_max(100),
        Err(ConnectionError::BadMessageLength {
            length: 20_000,
            limit: 100
        })
    ));
    // Poisoned for reading as in CPython, still writable.
    c.send_bytes(b"eleven byte").unwrap();
    let py = finish(py, "python connection");
    assert!(py.status.success(), "python: {}", text(&py.stderr));
    assert_eq!(text(&py.stdout), "python: bad message length\n");
}

/// The example's own demo (both sides in one process) and its usage error.
#[test]
fn example_demo_and_usage() {
    let out = finish(
        Command::new(echo_bin())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "demo",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("server echoed 2 messages"));
    let mut bad = Command::new(echo_bin())
        .arg("nonsense")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    bad.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let out = finish(bad, "usage");
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("usage"));
}
