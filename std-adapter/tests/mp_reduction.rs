//! `multiprocessing::reduction::{send_handle, recv_handle}` between processes: a
//! parent passes an open file and a pipe's write end to a child over a `Pipe` (every
//! start method), interleaved with messages; and descriptors exchanged with a real
//! `python3` (CPython's `reduction.send_handle`/`recv_handle`) over a `Listener`/`Client`
//! Unix connection, in both roles. Every child is bounded.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conkit::multiprocessing::connection::{Address, Client, ConnectionError, Family, Listener};
use conkit::multiprocessing::{self as mp, reduction, Connection, Pipe, StartMethod};

mod common;
use common::mp::{bounded, serial, LIMIT};

const METHODS: [StartMethod; 3] = [
    StartMethod::Fork,
    StartMethod::Spawn,
    StartMethod::Forkserver,
];

/// The child: messages and descriptors arrive in the order sent; reads the file
/// through the first, writes through the second, answers on the connection.
fn uses_received_handles(mut c: Connection) {
    assert_eq!(c.recv::<String>().unwrap(), "a file follows");
    let mut file = std::fs::File::from(reduction::recv_handle(&mut c).unwrap());
    assert_eq!(c.recv::<String>().unwrap(), "a pipe follows");
    let pipe = reduction::recv_handle(&mut c).unwrap();
    // A message where a handle is expected: typed, returned, the connection goes on.
    match c.recv_handle() {
        Err(ConnectionError::UnexpectedMessage(m)) => assert_eq!(m, b"not a handle"),
        other => panic!("{other:?}"),
    }
    let mut text = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    std::fs::File::from(pipe)
        .write_all(format!("child read: {text}").as_bytes())
        .unwrap();
    // The other way: the child sends a descriptor back.
    let (r, w) = common::mp::pipe();
    std::fs::File::from(w)
        .write_all(b"from the child's pipe")
        .unwrap();
    c.send_handle(&r).unwrap();
    c.send(&"done".to_string()).unwrap();
}

#[test]
fn handles_pass_to_a_child_over_a_pipe_under_every_method() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut p = mp::get_context(m).process(uses_received_handles, theirs);
        p.start().unwrap();
        let mut file = tempfile();
        file.write_all(b"the parent's file").unwrap();
        let (mut r, w) = common::mp::pipe();
        ours.send(&"a file follows").unwrap();
        reduction::send_handle(&mut ours, file.as_raw_fd(), p.pid().unwrap()).unwrap();
        ours.send(&"a pipe follows").unwrap();
        ours.send_handle(&w).unwrap();
        ours.send_bytes(b"not a handle").unwrap();
        drop(w);
        let back = std::fs::File::from(ours.recv_handle().unwrap());
        assert_eq!(ours.recv::<String>().unwrap(), "done", "{m:?}");
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "child read: the parent's file", "{m:?}");
        let mut got = String::new();
        BufReader::new(back).read_to_string(&mut got).unwrap();
        assert_eq!(got, "from the child's pipe", "{m:?}");
    }
}

/// An unlinked temporary file.
fn tempfile() -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "conkit-reduction-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import multiprocessing.reduction"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// CPython's side: a `Client` (argv: address) or a `Listener` (no argument; prints its
/// address). Receives a message and a descriptor (writes through it), sends a
/// descriptor (a pipe's read end holding bytes) and a message.
const PY: &str = r#"
import os, sys
from multiprocessing import reduction
from multiprocessing.connection import Client, Listener
key = b"reduction key"
if len(sys.argv) > 1:
    c = Client(sys.argv[1], authkey=key)
else:
    l = Listener(family="AF_UNIX", authkey=key)
    print(l.address, flush=True)
    c = l.accept()
assert c.recv_bytes() == b"a descriptor follows"
fd = reduction.recv_handle(c)
os.write(fd, b"written by python")
os.close(fd)
r, w = os.pipe()
os.write(w, b"python's pipe")
os.close(w)
reduction.send_handle(c, r, os.getppid())
os.close(r)
c.send_bytes(b"bye")
assert c.recv_bytes() == b"end"
"#;

/// Our half of the exchange with [`PY`].
fn exchange(c: &mut Connection) {
    let (mut r, w) = common::mp::pipe();
    c.send_bytes(b"a descriptor follows").unwrap();
    c.send_handle(&w).unwrap();
    drop(w);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(got, "written by python");
    // Sent before we ask: a read-ahead may take the descriptor's byte with the
    // message behind it (both stay in order).
    let fd: OwnedFd = reduction::recv_handle(c).unwrap();
    let mut got = String::new();
    std::fs::File::from(fd).read_to_string(&mut got).unwrap();
    assert_eq!(got, "python's pipe");
    assert_eq!(c.recv_bytes().unwrap(), b"bye");
    c.send_bytes(b"end").unwrap();
}

fn finish(mut child: std::process::Child) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "python3: {status}\n{err}");
            return;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("python3 did not end within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// CPython's `reduction.send_handle`/`recv_handle` against ours, over a Unix
/// `Listener`/`Client` connection with the authentication handshake, both roles.
#[test]
fn handles_interoperate_with_python() {
    if !python_available() {
        eprintln!("python3 with multiprocessing not found: skipped");
        return;
    }
    let key: &[u8] = b"reduction key";
    // Our Listener, CPython's Client.
    let path = std::env::temp_dir().join(format!("conkit-reduction-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut l = Listener::new(
        Some(Address::Unix(path.clone())),
        Some(Family::Unix),
        1,
        Some(key),
    )
    .unwrap();
    let py = Command::new("python3")
        .args(["-c", PY, path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = l.accept().unwrap();
    exchange(&mut c);
    finish(py);
    drop(l);
    // CPython's Listener, our Client.
    let mut py = Command::new("python3")
        .args(["-c", PY])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut c = Client(line.trim(), Some(key)).unwrap();
    exchange(&mut c);
    finish(py);
}

/// The child of the async test: a message, then (later) a descriptor of a pipe it
/// wrote into.
fn sends_a_handle_later(mut c: Connection) {
    std::thread::sleep(Duration::from_millis(100));
    let (r, w) = common::mp::pipe();
    std::fs::File::from(w).write_all(b"async").unwrap();
    c.send_handle(&r).unwrap();
    c.send(&"after".to_string()).unwrap();
}

/// `recv_handle_async` on a `Pipe` end (the ring) and on a `Listener`/`Client` socket
/// end, woken by a child process / a thread; a dropped pending one takes nothing.
#[test]
fn recv_handle_async_awaits_a_descriptor_and_a_dropped_one_takes_nothing() {
    mp::init();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (mut ours, theirs) = Pipe(true).unwrap();
    // Dropped before anything arrives: nothing is taken.
    let r = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(20), ours.recv_handle_async()).await
    });
    assert!(r.is_err());
    let mut p = mp::Process::new(sends_a_handle_later, theirs);
    p.start().unwrap();
    let fd = rt
        .block_on(reduction::recv_handle_async(&mut ours))
        .unwrap();
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).unwrap();
    assert_eq!(text, "async");
    assert_eq!(ours.recv::<String>().unwrap(), "after");
    assert_eq!(bounded(&mut p), 0);

    // A socket end (no ring): a Listener's connection.
    let mut l = Listener::new(
        Some(Address::Unix(
            std::env::temp_dir().join(format!("conkit-rha-{}", std::process::id())),
        )),
        Some(Family::Unix),
        1,
        None,
    )
    .unwrap();
    let addr = l.address().clone();
    let t = std::thread::spawn(move || {
        let mut c = Client(&addr, None).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.send(&"a message first".to_string()).unwrap();
        let (r, w) = common::mp::pipe();
        std::fs::File::from(w).write_all(b"socket").unwrap();
        c.send_handle(&r).unwrap();
        c.recv::<String>().unwrap()
    });
    let mut c = l.accept().unwrap();
    // A message where a handle is awaited: returned, the connection goes on.
    match rt.block_on(c.recv_handle_async()) {
        Err(ConnectionError::UnexpectedMessage(_)) => {}
        other => panic!("{other:?}"),
    }
    let fd = rt.block_on(c.recv_handle_async()).unwrap();
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).unwrap();
    assert_eq!(text, "socket");
    c.send(&"bye".to_string()).unwrap();
    assert_eq!(t.join().unwrap(), "bye");
}
