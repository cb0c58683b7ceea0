//! `conkit::multiprocessing::Pipe` between two processes (a `fork`ed child), against a
//! raw `socketpair` and CPython's `multiprocessing.Pipe` (fork context) in the same run
//! (Linux only). Issue #12's "Speed" section gives the targets.
//!
//! * `mp-pipe-rtt`: 8-byte round trips (`send_bytes`, `recv_bytes_into` a reused buffer;
//!   the child echoes). Contenders: conkit's Pipe with its default spin before
//!   sleeping, the same with the spin off (CPython's way: sleep in the kernel at once),
//!   a raw socketpair whose two readers spin on `recv(MSG_DONTWAIT)` (the floor), one
//!   whose readers sleep in `read`, and CPython's `Pipe` (`send_bytes`/`recv_bytes`).
//!   Targets: ≤ 1.3× the spinning socketpair, ≥ 3× faster than CPython. Round trips
//!   per measurement: `items / 1000` (at least 2 000).
//! * `mp-pipe-msgs`: 8-byte messages one way, child → parent (`send_bytes`;
//!   `recv_bytes_into`), against the same framing done by hand on a raw socketpair
//!   (one 12-byte `write` per message; the reader makes two `read`s per message, as
//!   CPython's `Connection` does, or cuts the frames out of 32 KiB `read`s, as
//!   conkit's buffered reader does: the floor) and CPython's `Pipe`. Target: ≥ 3×
//!   CPython's messages/s; the same Pipe with the reader's spin off for comparison
//!   (a sleeping reader costs the sender a wake-up byte per sleep). Messages:
//!   `items / 10`. Over the socket the sender's one `send` per message was the limit
//!   (the buffered reader takes whatever is queued in one `recv`); over the ring a
//!   message is two copies and a few atomic operations on each side.
//! * `mp-pipe-blob1m`: 1 MiB messages one way, counted in KiB (M KiB/s ≈ GB/s):
//!   conkit's Pipe received into a reused buffer (`recv_bytes_into`) and into a fresh
//!   vector per message (`recv_bytes`: the allocation and its page faults included),
//!   against a raw socketpair (`write` of the blob, `read`s into a reused 1 MiB buffer)
//!   and CPython's `Pipe`. Target: ≥ 0.8× the socketpair.
//!
//! * `mp-pipe-create`: `Pipe(true)` made and both ends dropped, against CPython's
//!   `Pipe()` and both ends closed: the price of the rings (two `memfd` mappings whose
//!   pages the core ring zeroes). No target: shown so that it is seen. Pipes:
//!   `items / 10 000` (at least 1 000).
//!
//! Since the rings landed, a `Pipe` carries a message of up to 32 KiB − 9 bytes through
//! a shared-memory byte ring per direction (no system call while the reader is awake;
//! one wake-up byte on the socket per sleep of the reader) and a longer one on the
//! socket after a marker in the ring (see `conkit::multiprocessing::connection`): the
//! 8-byte groups measure the ring, `mp-pipe-blob1m` the socket path. The socketpair
//! contenders stay as the floor of the mechanism the rings replaced.
//!
//! Every receiver checks what it got (the echo, a message counter, the first and last
//! byte of each blob). A stalled run fails at the harness's deadline; the child is
//! killed when its handle drops.

use core_affinity::CoreId;

use super::Make;
#[cfg(target_os = "linux")]
use crate::harness::{self, Contender, Group, Kind, Res, Target};

/// The benchmarks of this module (none off Linux).
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![
            ("mp-pipe-rtt", Box::new(move || rtt(items)) as Make),
            ("mp-pipe-msgs", Box::new(move || msgs(items))),
            ("mp-pipe-blob1m", Box::new(move || blob(items))),
            ("mp-pipe-create", Box::new(move || create(items))),
        ]
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = items;
        vec![]
    }
}

#[cfg(target_os = "linux")]
use linux::*;

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::Pipe;
    use conkit_tests::process::{fork, Child, Exit};

    use crate::harness::Res;

    /// Waits for the child and turns anything but exit 0 into an error.
    pub fn reap(child: Child) -> Res {
        match child.wait() {
            Exit::Code(0) => Ok(()),
            other => Err(format!("child: {other:?}")),
        }
    }

    pub fn e2s(e: impl std::fmt::Display) -> String {
        e.to_string()
    }

    /// A `SOCK_STREAM` socketpair as two streams.
    pub fn socketpair() -> Res<(UnixStream, UnixStream)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        if r != 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: two fresh descriptors we now own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((a.into(), b.into()))
    }

    /// Reads exactly `buf.len()` bytes, spinning on `recv(MSG_DONTWAIT)` (`spin`) or
    /// sleeping in `read`; fails at `deadline`.
    pub fn read_exact(s: &mut UnixStream, buf: &mut [u8], spin: bool, deadline: Instant) -> Res {
        let mut got = 0;
        let mut misses = 0u32;
        while got < buf.len() {
            let n = if spin {
                // SAFETY: the tail of `buf` is writable for the length passed.
                let r = unsafe {
                    libc::recv(
                        s.as_raw_fd(),
                        buf[got..].as_mut_ptr().cast(),
                        buf.len() - got,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        return Err(e.to_string());
                    }
                    misses += 1;
                    if misses % 1024 == 0 && Instant::now() > deadline {
                        return Err("stalled".into());
                    }
                    std::hint::spin_loop();
                    continue;
                }
                r as usize
            } else {
                s.read(&mut buf[got..]).map_err(e2s)?
            };
            if n == 0 {
                return Err("socket closed early".into());
            }
            got += n;
        }
        Ok(())
    }

    /// Closes a forked child's copy of a descriptor whose Rust owner the child never
    /// drops (it ends with `_exit`).
    fn close(fd: std::os::fd::RawFd) {
        // SAFETY: the child's own copy of the number.
        unsafe { libc::close(fd) };
    }

    /// Round trips of 8 bytes over a conkit Pipe with `spin` (the child echoes).
    pub fn pipe_rtt(n: u64, spin: Duration) -> Res<Duration> {
        let (mut a, mut b) = Pipe(true).map_err(e2s)?;
        a.set_spin(spin);
        b.set_spin(spin);
        let a_fd = a.fileno().map_err(e2s)?;
        let child = fork(|| {
            close(a_fd); // the child's copy of the parent's end: EOF must reach the child
            let mut buf = [0u8; 8];
            while let Ok(k) = b.recv_bytes_into(&mut buf, 0) {
                if b.send_bytes(&buf[..k]).is_err() {
                    return 1;
                }
            }
            0
        });
        drop(b);
        let mut buf = [0u8; 8];
        let mut run = |count: u64| -> Res {
            for i in 0..count {
                a.send_bytes(&i.to_le_bytes()).map_err(e2s)?;
                let k = a.recv_bytes_into(&mut buf, 0).map_err(e2s)?;
                if k != 8 || u64::from_le_bytes(buf) != i {
                    return Err(format!("round trip {i}: wrong echo"));
                }
            }
            Ok(())
        };
        run(100)?; // warm-up: the child is running
        let t0 = Instant::now();
        run(n)?;
        let d = t0.elapsed();
        drop(a);
        reap(child)?;
        Ok(d)
    }

    /// Round trips of 8 raw bytes over a socketpair, readers spinning or sleeping.
    pub fn socket_rtt(n: u64, spin: bool) -> Res<Duration> {
        let (mut a, mut b) = socketpair()?;
        let deadline = crate::harness::deadline(n * 100);
        let a_fd = a.as_raw_fd();
        let child = fork(|| {
            close(a_fd); // the child's copy of the parent's end: EOF must reach the child
            let mut buf = [0u8; 8];
            loop {
                if read_exact(&mut b, &mut buf, spin, deadline).is_err() {
                    return 0; // the parent closed its end
                }
                if b.write_all(&buf).is_err() {
                    return 1;
                }
            }
        });
        drop(b);
        let mut buf = [0u8; 8];
        let mut run = |count: u64| -> Res {
            for i in 0..count {
                a.write_all(&i.to_le_bytes()).map_err(e2s)?;
                read_exact(&mut a, &mut buf, spin, deadline)?;
                if u64::from_le_bytes(buf) != i {
                    return Err(format!("round trip {i}: wrong echo"));
                }
            }
            Ok(())
        };
        run(100)?;
        let t0 = Instant::now();
        run(n)?;
        let d = t0.elapsed();
        drop(a);
        reap(child)?;
        Ok(d)
    }

    /// `count` messages of `len` bytes from a child, sent with `send`, received here
    /// with `recv` (which checks message `i`); the time runs from the child's first
    /// ("go") message to the last.
    pub fn one_way<S, R>(count: u64, send: S, recv: R) -> Res<Duration>
    where
        S: FnOnce(u64) -> Res,
        R: FnOnce(u64) -> Res<Instant>,
    {
        let child = fork(|| match send(count) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench sender: {e}");
                1
            }
        });
        let t0 = recv(count)?;
        let d = t0.elapsed();
        reap(child)?;
        Ok(d)
    }

    /// A message of `len` bytes stamped with `i` in its first and last byte.
    pub fn stamp(buf: &mut [u8], i: u64) {
        let n = buf.len();
        buf[0] = i as u8;
        buf[n - 1] = (i >> 8) as u8;
    }

    pub fn stamped(buf: &[u8], i: u64) -> bool {
        buf[0] == i as u8 && buf[buf.len() - 1] == (i >> 8) as u8
    }

    /// Pipe(false): `count` messages of `len` bytes; `fresh`: received with
    /// `recv_bytes` (a new vector each) instead of into a reused buffer; the reader
    /// spins for `spin` before it sleeps.
    pub fn pipe_one_way(count: u64, len: usize, fresh: bool, spin: Duration) -> Res<Duration> {
        let (mut rx, mut tx) = Pipe(false).map_err(e2s)?;
        rx.set_spin(spin);
        one_way(
            count,
            |count| {
                let mut m = vec![0u8; len];
                tx.send_bytes(b"go").map_err(e2s)?;
                for i in 0..count {
                    stamp(&mut m, i);
                    tx.send_bytes(&m).map_err(e2s)?;
                }
                Ok(())
            },
            |count| {
                let mut buf = vec![0u8; len];
                rx.recv_bytes_into(&mut buf, 0).map_err(e2s)?;
                let t0 = Instant::now();
                for i in 0..count {
                    let ok = if fresh {
                        let m = rx.recv_bytes().map_err(e2s)?;
                        m.len() == len && stamped(&m, i)
                    } else {
                        let k = rx.recv_bytes_into(&mut buf, 0).map_err(e2s)?;
                        k == len && stamped(&buf[..k], i)
                    };
                    if !ok {
                        return Err(format!("message {i} wrong"));
                    }
                }
                Ok(t0)
            },
        )
    }

    /// How [`socket_one_way`]'s reader reads.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Reader {
        /// `len`-byte blobs, no framing (the sender writes bodies only).
        Blobs,
        /// A 4-byte prefix then the body: two `read`s per message (CPython's way).
        TwoReads,
        /// 32 KiB `read`s into a buffer, frames cut out of it by hand: the floor for
        /// a framed stream of small messages (what conkit's buffered reader does).
        Buffered,
    }

    /// The same over a raw socketpair: a framed message (4-byte length + body) per
    /// `write` (the body alone for [`Reader::Blobs`]), read as `reader` says.
    pub fn socket_one_way(count: u64, len: usize, reader: Reader) -> Res<Duration> {
        let framed = reader != Reader::Blobs;
        let (mut rx, mut tx) = socketpair()?;
        let deadline = crate::harness::deadline(count);
        one_way(
            count,
            |count| {
                let mut m = vec![0u8; len + 4];
                m[..4].copy_from_slice(&(len as u32).to_be_bytes());
                tx.write_all(b"go").map_err(e2s)?;
                for i in 0..count {
                    stamp(&mut m[4..], i);
                    if framed {
                        tx.write_all(&m).map_err(e2s)?;
                    } else {
                        tx.write_all(&m[4..]).map_err(e2s)?;
                    }
                }
                Ok(())
            },
            |count| {
                let mut go = [0u8; 2];
                read_exact(&mut rx, &mut go, false, deadline)?;
                let t0 = Instant::now();
                let mut head = [0u8; 4];
                let mut buf = vec![0u8; len];
                let mut inbuf = vec![0u8; 32 * 1024];
                let (mut pos, mut end) = (0, 0);
                for i in 0..count {
                    match reader {
                        Reader::Blobs => read_exact(&mut rx, &mut buf, false, deadline)?,
                        Reader::TwoReads => {
                            read_exact(&mut rx, &mut head, false, deadline)?;
                            read_exact(&mut rx, &mut buf, false, deadline)?;
                        }
                        Reader::Buffered => {
                            // One frame: refill when it is not all there (small
                            // frames only: `len + 4` fits the buffer).
                            while end - pos < 4 + len {
                                inbuf.copy_within(pos..end, 0);
                                end -= pos;
                                pos = 0;
                                let n = rx.read(&mut inbuf[end..]).map_err(e2s)?;
                                if n == 0 {
                                    return Err("socket closed early".into());
                                }
                                end += n;
                            }
                            let n = u32::from_be_bytes(inbuf[pos..pos + 4].try_into().unwrap());
                            if n as usize != len {
                                return Err(format!("message {i}: length {n}"));
                            }
                            buf.copy_from_slice(&inbuf[pos + 4..pos + 4 + len]);
                            pos += 4 + len;
                        }
                    }
                    if !stamped(&buf, i) {
                        return Err(format!("message {i} wrong"));
                    }
                }
                Ok(t0)
            },
        )
    }
}

#[cfg(target_os = "linux")]
const PY_RTT: &str = r#"
import sys, time, multiprocessing as mp
def echo(other, c):
    other.close()  # the parent's end, inherited through fork: EOF needs it closed
    while True:
        try:
            m = c.recv_bytes()
        except EOFError:
            break
        c.send_bytes(m)
if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(a, b))
    p.start()
    b.close()
    for i in range(100):
        a.send_bytes(b"01234567"); a.recv_bytes()
    t0 = time.perf_counter()
    for i in range(n):
        m = i.to_bytes(8, "little")
        a.send_bytes(m)
        if a.recv_bytes() != m:
            raise SystemExit("wrong echo")
    t = time.perf_counter() - t0
    a.close()
    p.join()
    print(t)
"#;

#[cfg(target_os = "linux")]
const PY_ONE_WAY: &str = r#"
import sys, time, multiprocessing as mp
LEN = int(sys.argv[2])
def produce(c, n):
    m = bytearray(LEN)
    c.send_bytes(b"go")
    for i in range(n):
        m[0] = i & 255; m[-1] = (i >> 8) & 255
        c.send_bytes(m)
    c.close()
if __name__ == "__main__":
    n = int(sys.argv[1]) // int(sys.argv[3])
    ctx = mp.get_context("fork")
    r, w = ctx.Pipe(False)
    p = ctx.Process(target=produce, args=(w, n))
    p.start()
    w.close()
    r.recv_bytes()
    t0 = time.perf_counter()
    for i in range(n):
        m = r.recv_bytes()
        if len(m) != LEN or m[0] != i & 255 or m[-1] != (i >> 8) & 255:
            raise SystemExit("message %d wrong" % i)
    t = time.perf_counter() - t0
    p.join()
    print(t)
"#;

/// Runs [`PY_ONE_WAY`] for `items` (capped) with messages of `len` bytes, `per` items
/// per message (1, or 1 024 KiB per 1 MiB blob).
#[cfg(target_os = "linux")]
fn py_one_way(items: u64, cap: u64, len: usize, per: u64) -> Res<std::time::Duration> {
    let n = items.min(cap).max(per);
    let secs = harness::python_seconds(std::process::Command::new("python3").args([
        "-c",
        PY_ONE_WAY,
        &n.to_string(),
        &len.to_string(),
        &per.to_string(),
    ]))?;
    let done = n / per * per;
    Ok(std::time::Duration::from_secs_f64(
        secs * items as f64 / done as f64,
    ))
}

#[cfg(target_os = "linux")]
fn rtt(items: u64) -> Group<'static> {
    use conkit::multiprocessing::connection::DEFAULT_SPIN;
    use std::time::Duration;
    let trips = (items / 1000).max(2000);
    Group {
        id: "mp-pipe-rtt",
        title: "Pipe 8-byte round trip between two processes (send_bytes, recv_bytes_into; \
                the child echoes)"
            .into(),
        kind: Kind::Latency,
        items: trips,
        contenders: vec![
            Contender::conkit("conkit Pipe", move |n| pipe_rtt(n, DEFAULT_SPIN)),
            Contender::conkit("conkit Pipe, spin 0", move |n| pipe_rtt(n, Duration::ZERO)),
            Contender::peer("socketpair, spinning readers", move |n| socket_rtt(n, true)),
            Contender::peer("socketpair, sleeping readers", move |n| {
                socket_rtt(n, false)
            }),
            Contender::peer("CPython Pipe", |n| harness::python(PY_RTT, n, 50_000)),
        ],
        targets: vec![
            Target::with_factor("conkit Pipe", "socketpair, spinning readers", 1.0 / 1.3),
            Target::with_factor("conkit Pipe", "CPython Pipe", 3.0),
        ],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn msgs(items: u64) -> Group<'static> {
    use conkit::multiprocessing::connection::DEFAULT_SPIN;
    use std::time::Duration;
    let count = (items / 10).max(10_000);
    Group {
        id: "mp-pipe-msgs",
        title: "Pipe: 8-byte messages one way between two processes (send_bytes; \
                recv_bytes_into)"
            .into(),
        kind: Kind::Throughput,
        items: count,
        contenders: vec![
            Contender::conkit("conkit Pipe", move |n| {
                pipe_one_way(n, 8, false, DEFAULT_SPIN)
            }),
            Contender::conkit("conkit Pipe, spin 0", move |n| {
                pipe_one_way(n, 8, false, Duration::ZERO)
            }),
            Contender::peer(
                "socketpair, framed by hand, 2 reads per message",
                move |n| socket_one_way(n, 8, Reader::TwoReads),
            ),
            Contender::peer("socketpair, framed by hand, 32 KiB reads", move |n| {
                socket_one_way(n, 8, Reader::Buffered)
            }),
            Contender::peer("CPython Pipe", |n| py_one_way(n, 300_000, 8, 1)),
        ],
        targets: vec![Target::with_factor("conkit Pipe", "CPython Pipe", 3.0)],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn blob(items: u64) -> Group<'static> {
    use conkit::multiprocessing::connection::DEFAULT_SPIN;
    const BLOB: usize = 1 << 20;
    // Items are KiB: 1 024 per blob; at least 16 blobs.
    let kib = (items / 8).max(16 * 1024) / 1024 * 1024;
    Group {
        id: "mp-pipe-blob1m",
        title: "Pipe: 1 MiB messages one way between two processes, in M KiB/s (≈ GB/s)".into(),
        kind: Kind::Throughput,
        items: kib,
        contenders: vec![
            Contender::conkit("conkit Pipe, recv_bytes_into", move |n| {
                pipe_one_way(n / 1024, BLOB, false, DEFAULT_SPIN)
            }),
            Contender::conkit("conkit Pipe, recv_bytes", move |n| {
                pipe_one_way(n / 1024, BLOB, true, DEFAULT_SPIN)
            }),
            Contender::peer("socketpair", move |n| {
                socket_one_way(n / 1024, BLOB, Reader::Blobs)
            }),
            Contender::peer("CPython Pipe", |n| py_one_way(n, 256 * 1024, BLOB, 1024)),
        ],
        targets: vec![Target::with_factor(
            "conkit Pipe, recv_bytes_into",
            "socketpair",
            0.8,
        )],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
const PY_CREATE: &str = r#"
import sys, time, multiprocessing as mp
n = int(sys.argv[1])
t0 = time.perf_counter()
for _ in range(n):
    a, b = mp.Pipe()
    a.close()
    b.close()
print(time.perf_counter() - t0)
"#;

#[cfg(target_os = "linux")]
fn create(items: u64) -> Group<'static> {
    use conkit::multiprocessing::Pipe;
    let pipes = (items / 10_000).max(1000);
    Group {
        id: "mp-pipe-create",
        title: "Pipe(true) created and both ends closed".into(),
        kind: Kind::Latency,
        items: pipes,
        contenders: vec![
            Contender::conkit("conkit Pipe", |n| {
                let t0 = std::time::Instant::now();
                for _ in 0..n {
                    let (a, b) = Pipe(true).map_err(e2s)?;
                    drop((a, b));
                }
                Ok(t0.elapsed())
            }),
            Contender::peer("CPython Pipe", |n| harness::python(PY_CREATE, n, 20_000)),
        ],
        targets: vec![],
        missing: vec![],
    }
}
