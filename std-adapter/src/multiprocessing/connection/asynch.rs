//! Async forms of [`Connection`] (issue #14): [`recv_async`](Connection::recv_async),
//! [`recv_bytes_async`](Connection::recv_bytes_async),
//! [`poll_async`](Connection::poll_async), [`send_async`](Connection::send_async),
//! [`recv_handle_async`](Connection::recv_handle_async),
//! [`send_bytes_async`](Connection::send_bytes_async) — woken by a writer (or reader) in
//! ANOTHER process, on any executor, without busy-polling.
//!
//! Reference: Python's `asyncio` has no async `multiprocessing.connection`; a coroutine
//! awaits `loop.run_in_executor(None, conn.recv)` (a thread per wait) or registers
//! `conn.fileno()` with `loop.add_reader` (readiness, then a blocking `recv` that may
//! wait for the rest of a message). The mechanism here is the one of
//! [`multiprocessing::asynch`](crate::multiprocessing::asynch): a **proxy waiter**, a
//! helper thread per awaited end per process, does the ordinary blocking wait and wakes
//! the local tasks, which retry a non-blocking attempt.
//!
//! # Design
//! * **What the proxy waits on.** Receiving: `poll(2)` on the end's descriptor for
//!   `POLLIN`, in slices of 100 ms. On a [`Pipe`](super::Pipe) end the messages are in
//!   the shared ring and the descriptor only becomes readable when a writer sends its
//!   wake-up byte, which it does only for a reader that announced it sleeps: the proxy
//!   makes the ring's announcement (set the "reader sleeps" flag, fence, look at the
//!   ring once more) before each `poll`, exactly as a blocking reader does — for the
//!   writer the proxy *is* a sleeping reader. Sending into a full ring: the proxy sleeps
//!   on the ring's "room" waiters (futex in shared memory) until the readers empty it,
//!   and looks whether the reading end is gone after each empty slice.
//! * **What a task does.** A non-blocking attempt, then it parks with the proxy, then
//!   one more attempt (parked before its last look: no lost wake-up). A receive's
//!   attempt takes a message only when it is whole: from the ring (a message is
//!   published in one store), or from the descriptor once the whole frame is in the
//!   end's read buffer (non-blocking reads append to it). It never consumes anything
//!   else: the wake-up bytes it drops were only wake-ups, and bytes it read ahead stay in
//!   the [`Connection`], not in the future.
//! * **Cancellation.** Dropping a pending future loses nothing: it leaves the proxy, and
//!   the message it did not take (whole, or the part read ahead) is there for the next
//!   receive, blocking or async. A future completes only in the poll that returns.
//! * **End of file and dead writers.** The end of file makes the descriptor readable:
//!   the proxy wakes the tasks and the attempt returns the same
//!   [`ConnectionError::Eof`] (or [`Truncated`](ConnectionError::Truncated) for a frame
//!   cut short) as the blocking receive. A writer `SIGKILL`ed in the middle of a ring
//!   message left the whole message or nothing; in the middle of a frame on a socket, the
//!   frame stays incomplete in the buffer and the task sleeps until the end of file.
//!   The proxy's `poll` is sliced (100 ms), so even a lost wake-up byte (a writer killed
//!   between taking the "sleeps" flag and writing the byte) costs a task at most that.
//! * **What still blocks.** A message too long for the end's 32 KiB read buffer (a
//!   [`Pipe`](super::Pipe) sends those on the socket, behind a marker in the ring) is
//!   received by the blocking path once its first bytes (the marker, or a length prefix
//!   that does not fit) are there: the task's thread reads while the writer writes
//!   (bounded by the writer's progress; a writer that dies ends it with
//!   [`Truncated`](ConnectionError::Truncated) or [`Eof`](ConnectionError::Eof) once
//!   no process holds the writing end any more). Likewise [`send_async`](Connection::send_async)
//!   waits without blocking only for room in a [`Pipe`](super::Pipe)'s ring (messages
//!   of up to 32 KiB − 9 bytes); a larger message, or any message on a
//!   [`Listener`](super::Listener)'s connection, is the blocking `send` (which blocks
//!   only while the socket's kernel buffer is full).
//! * **Cost.** An await that finds its message costs what `recv` costs. One that sleeps
//!   costs a thread wake-up on top of the writer's (tens of µs), the proxy's thread
//!   start the first time, and a `poll` per wake-up. The proxy ends after a second
//!   without parked tasks. [`poll_async`](Connection::poll_async)'s timeout uses one
//!   timer thread per process (started on first use, ends when idle).

use std::collections::BTreeMap;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{codec, ring, sys, Connection, ConnectionError, READ_BUF};
use crate::multiprocessing::asynch::{until, Outcome, Proxy, Watch};

/// What a proxy of a connection waits for (the `what` of its key).
const RECV: u8 = 0x40;
const ROOM: u8 = 0x41;

/// A receiving end's proxy wait: the ring's announcement, then `poll` on the descriptor.
struct RecvWatch {
    fd: RawFd,
    rx: Option<Arc<ring::Dir>>,
}

impl Watch for RecvWatch {
    fn wait(&self, _mark: u64, slice: Duration) -> Outcome {
        if let Some(rx) = &self.rx {
            // The reader's half of the ring's Dekker pair: a message published before
            // this is seen here, one after it gets a wake-up byte on the descriptor.
            if rx.announce_sleep() {
                return Outcome::Changed;
            }
        }
        let mut p = [libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        match sys::poll_until(&mut p, Some(Instant::now() + slice)) {
            Ok(0) => Outcome::TimedOut,
            // Readable, the end of file, an error (the attempt reports it).
            _ => Outcome::Changed,
        }
    }
}

/// A sending end's proxy wait for room in the ring: until the readers emptied it, or
/// the reading end is gone.
struct RoomWatch {
    fd: RawFd,
    tx: Arc<ring::Dir>,
}

impl Watch for RoomWatch {
    fn wait(&self, _mark: u64, slice: Duration) -> Outcome {
        if self.tx.wait_empty(Instant::now() + slice) || sys::peer_gone(self.fd).unwrap_or(true) {
            Outcome::Changed
        } else {
            Outcome::TimedOut
        }
    }
}

/// Proxy keys: a ring end by its `Dir` (kept alive by the proxy's watch, so its address
/// is not reused while the proxy lives), a descriptor end by its number (what its watch
/// polls), mapped far from any object's address.
fn fd_key(fd: RawFd) -> usize {
    usize::MAX - fd as usize
}

impl Connection {
    fn recv_proxy(&self, fd: RawFd) -> Arc<Proxy> {
        match &self.rx {
            Some(rx) => Proxy::for_object(Arc::as_ptr(rx) as usize, RECV, || {
                Box::new(RecvWatch {
                    fd,
                    rx: Some(Arc::clone(rx)),
                })
            }),
            None => Proxy::for_object(fd_key(fd), RECV, || Box::new(RecvWatch { fd, rx: None })),
        }
    }

    /// Reads what the descriptor holds into the read buffer without waiting; `Ok(true)`
    /// at the end of file. Stops when the buffer is full.
    fn fill_now(&mut self, fd: RawFd) -> std::io::Result<bool> {
        if self.rbuf.is_empty() {
            self.rbuf = vec![0; READ_BUF].into_boxed_slice();
        }
        if self.rpos > 0 && (self.rend == self.rbuf.len() || self.rpos == self.rend) {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        while self.rend < self.rbuf.len() {
            let want = self.rbuf.len() - self.rend;
            let got = if self.socket {
                self.read_buf(fd, want, true)?
            } else if sys::ready_now(fd)? {
                self.read_buf(fd, want, false)?
            } else {
                None
            };
            match got {
                Some((0, _)) => return Ok(true),
                // A handle is among the bytes: what follows is the peer's next send.
                Some((_, true)) => return Ok(false),
                Some((_, false)) => {}
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Whether the blocking receive of a descriptor end would return without waiting
    /// for more bytes (a whole frame buffered, a frame too large for the buffer begun,
    /// a bad header, the end of file); reads what is there first.
    fn socket_frame_ready(&mut self, fd: RawFd) -> Result<bool, ConnectionError> {
        let eof = self.fill_now(fd)?;
        if eof || self.handle_next() {
            return Ok(true); // the blocking path reports the end or the handle
        }
        let b = &self.rbuf[self.rpos..self.rend];
        if b.len() < 4 {
            return Ok(false);
        }
        let n = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let (header, len) = if n >= 0 {
            (4, n as u64)
        } else if n != -1 {
            return Ok(true); // BadHeader: the blocking path reports it
        } else if b.len() < 12 {
            return Ok(false);
        } else {
            let mut l = [0u8; 8];
            l.copy_from_slice(&b[4..12]);
            (12, u64::from_be_bytes(l))
        };
        let total = len.saturating_add(header);
        Ok(total > READ_BUF as u64 || len > self.max_message_len || b.len() as u64 >= total)
    }

    /// One non-blocking receive attempt: `None` when no whole message is there.
    fn try_recv_with<R>(
        &mut self,
        fd: RawFd,
        ring_f: &mut impl FnMut(&mut Self, &ring::Dir) -> Result<Option<R>, ConnectionError>,
        sock_f: &mut impl FnMut(&mut Self, RawFd) -> Result<R, ConnectionError>,
    ) -> Option<Result<R, ConnectionError>> {
        if let Some(rx) = self.rx.clone() {
            loop {
                if rx.has_data() {
                    match ring_f(self, &rx) {
                        Ok(Some(r)) => return Some(Ok(r)),
                        Ok(None) => continue, // another holder of this end took it
                        Err(e) => return Some(Err(e)),
                    }
                }
                let eof = match self.drain_wakes(fd) {
                    Ok(eof) => eof,
                    Err(e) => return Some(Err(e.into())),
                };
                if rx.has_data() {
                    continue;
                }
                if eof {
                    return Some(Err(ConnectionError::Eof));
                }
                return None;
            }
        }
        match self.socket_frame_ready(fd) {
            Ok(true) => Some(sock_f(self, fd)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Awaits one message in the ring or on the descriptor (see the module docs).
    async fn recv_async_with<R>(
        &mut self,
        mut ring_f: impl FnMut(&mut Self, &ring::Dir) -> Result<Option<R>, ConnectionError>,
        mut sock_f: impl FnMut(&mut Self, RawFd) -> Result<R, ConnectionError>,
    ) -> Result<R, ConnectionError> {
        let fd = self.check_message_next()?;
        let proxy = self.recv_proxy(fd);
        until(proxy, || self.try_recv_with(fd, &mut ring_f, &mut sock_f)).await
    }

    /// Takes the ring's next message with `f` (`Ok(None)`: the ring was empty after
    /// all); a marker's frame is read from the socket by `read` (blocking, see the
    /// module docs).
    fn ring_take<R>(
        &mut self,
        rx: &ring::Dir,
        fd: RawFd,
        f: impl FnMut(&[u8]) -> Result<R, ConnectionError>,
        read: impl FnOnce(&mut Self, RawFd) -> Result<R, ConnectionError>,
    ) -> Result<Option<R>, ConnectionError> {
        match rx.take(f) {
            ring::Taken::Data(r) => self.ring_result(r).map(Some),
            ring::Taken::Socket => self.ring_socket_frame(rx, fd, read).map(Some),
            ring::Taken::Empty => Ok(None),
            ring::Taken::Corrupt => Err(ConnectionError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "pipe ring: a frame no writer of this pipe wrote",
            ))),
        }
    }

    /// Receives one message sent with `send_bytes`, as [`recv_bytes`](Self::recv_bytes)
    /// does, awaiting it instead of blocking: the task is woken by a writer in any
    /// process (see the [module docs](super#async-forms)). Cancel-safe: a dropped future took no
    /// message. [`ConnectionError::Eof`] as `recv_bytes`.
    ///
    /// ```
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// // Here a thread; a child process sending on its end wakes the task the same way.
    /// let t = std::thread::spawn(move || a.send_bytes(b"hello"));
    /// assert_eq!(rt.block_on(b.recv_bytes_async()).unwrap(), b"hello");
    /// t.join().unwrap().unwrap();
    /// ```
    pub async fn recv_bytes_async(&mut self) -> Result<Vec<u8>, ConnectionError> {
        let limit = self.max_message_len;
        self.recv_async_with(
            |c, rx| {
                let fd = c.fd()?;
                c.ring_take(
                    rx,
                    fd,
                    |b| super::check_len(b.len(), limit).map(|()| b.to_vec()),
                    |c, fd| c.recv_bytes_socket(fd, None),
                )
            },
            |c, fd| c.recv_bytes_socket(fd, None),
        )
        .await
    }

    /// Receives one value sent with [`send`](Self::send), as [`recv`](Self::recv) does,
    /// awaiting it instead of blocking (woken by a writer in any process; cancel-safe;
    /// see the [module docs](super#async-forms)).
    ///
    /// ```
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let t = std::thread::spawn(move || a.send(&(1u32, "one".to_string())));
    /// let got: (u32, String) = rt.block_on(b.recv_async()).unwrap();
    /// assert_eq!(got, (1, "one".to_string()));
    /// t.join().unwrap().unwrap();
    /// ```
    pub async fn recv_async<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        let limit = self.max_message_len;
        self.recv_async_with(
            |c, rx| {
                let fd = c.fd()?;
                c.ring_take(
                    rx,
                    fd,
                    |b| {
                        super::check_len(b.len(), limit)?;
                        codec::from_bytes(b).map_err(ConnectionError::from)
                    },
                    |c, fd| c.recv_socket(fd),
                )
            },
            |c, fd| c.recv_socket(fd),
        )
        .await
    }

    /// Whether the next item of this end can be received without waiting for the
    /// peer: a descriptor (or a message, which `recv_handle` reports), or the end of
    /// file. Consumes nothing (wake-up bytes only).
    fn handle_ready(&mut self, fd: RawFd) -> Option<Result<(), ConnectionError>> {
        if self.pending_handle.is_some() {
            return Some(Ok(()));
        }
        match self.rx.clone() {
            Some(rx) => {
                if rx.has_data() {
                    return Some(Ok(()));
                }
                match self.drain_wakes(fd) {
                    Ok(_) if rx.has_data() => Some(Ok(())),
                    Ok(true) => Some(Err(ConnectionError::Eof)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e.into())),
                }
            }
            None => match self.socket_frame_ready(fd) {
                Ok(true) => Some(Ok(())),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            },
        }
    }

    /// Receives a descriptor sent with [`send_handle`](Self::send_handle), as
    /// [`recv_handle`](Self::recv_handle) does (Python's `reduction.recv_handle(conn)`),
    /// awaiting it instead of blocking: woken by a writer in any process (see the
    /// [module docs](super#async-forms)). Cancel-safe: a dropped future took nothing
    /// (the descriptor, or a message in its place, is there for the next receive).
    /// Errors as `recv_handle`'s.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let (mut mine, theirs) = UnixStream::pair().unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// // Here a thread; a child process sending on its end wakes the task the same way.
    /// let t = std::thread::spawn(move || a.send_handle(&theirs));
    /// let fd = rt.block_on(b.recv_handle_async()).unwrap();
    /// t.join().unwrap().unwrap();
    /// let mut got = UnixStream::from(fd);
    /// got.write_all(b"hi").unwrap();
    /// let mut buf = [0u8; 2];
    /// mine.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// ```
    pub async fn recv_handle_async(&mut self) -> Result<std::os::fd::OwnedFd, ConnectionError> {
        let fd = self.check_readable()?;
        if !self.socket {
            return Err(ConnectionError::NotUnixSocket);
        }
        if self.rx.is_none() && !sys::is_unix_socket(fd) {
            return Err(ConnectionError::NotUnixSocket);
        }
        let proxy = self.recv_proxy(fd);
        until(proxy, || {
            self.handle_ready(fd)
                .map(|ready| ready.and_then(|()| self.recv_handle()))
        })
        .await
    }

    /// Whether a message (or the end of file) is ready, awaiting up to `timeout`
    /// (`None`: until one is) instead of blocking: [`poll`](Self::poll)'s async form,
    /// woken by a writer in any process. Takes nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, b) = Pipe(true).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert!(!rt.block_on(b.poll_async(Some(Duration::from_millis(10)))).unwrap());
    /// a.send_bytes(b"x").unwrap();
    /// assert!(rt.block_on(b.poll_async(None)).unwrap());
    /// ```
    pub async fn poll_async(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        let fd = self.check_readable()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let proxy = self.recv_proxy(fd);
        let ready = until(proxy, || match self.poll(Some(Duration::ZERO)) {
            Ok(false) => None,
            other => Some(other),
        });
        let Some(deadline) = deadline else {
            return ready.await;
        };
        let mut ready = pin!(ready);
        let mut timer = Timer {
            at: deadline,
            id: 0,
        };
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = ready.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if Instant::now() >= deadline {
                return Poll::Ready(self.poll(Some(Duration::ZERO)));
            }
            timer.arm(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Sends `buf` as one message, as [`send_bytes`](Self::send_bytes) does, awaiting
    /// room in a full [`Pipe`](super::Pipe) ring instead of blocking (woken when a reader
    /// in any process empties it). Cancel-safe: a dropped future sent nothing. Larger
    /// messages and descriptor ends send as `send_bytes` (see the
    /// [module docs](super#async-forms)).
    ///
    /// ```
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(a.send_bytes_async(b"x")).unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"x");
    /// ```
    pub async fn send_bytes_async(&mut self, buf: &[u8]) -> Result<(), ConnectionError> {
        let fd = self.check_writable()?;
        let Some(tx) = self.tx.clone() else {
            return self.send_body(fd, buf);
        };
        if buf.len() > tx.max_inline() {
            return self.send_body(fd, buf);
        }
        let proxy = Proxy::for_object(Arc::as_ptr(&tx) as usize, ROOM, || {
            Box::new(RoomWatch {
                fd,
                tx: Arc::clone(&tx),
            })
        });
        let peer_checked = &mut self.peer_checked;
        until(proxy, || {
            match super::ring_send_with(&tx, fd, peer_checked, buf, false) {
                Ok(true) => Some(Ok(())),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            }
        })
        .await
    }

    /// Sends a serde value as one message, as [`send`](Self::send) does, awaiting room
    /// in a full [`Pipe`](super::Pipe) ring (see [`send_bytes_async`](Self::send_bytes_async)).
    ///
    /// ```
    /// use conkit::multiprocessing::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(a.send_async(&[1u8, 2, 3])).unwrap();
    /// assert_eq!(b.recv::<[u8; 3]>().unwrap(), [1, 2, 3]);
    /// ```
    pub async fn send_async<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), ConnectionError> {
        self.check_writable()?;
        let mut body = Vec::new();
        codec::extend(&mut body, value)?;
        self.send_bytes_async(&body).await
    }
}

/// One connection's `poll_async(None)` in [`wait_async`].
type PollFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<bool, ConnectionError>> + 'a>>;

/// Awaits until at least one of `connections` has a message (or the end of file) ready,
/// or `timeout` passed (`None`: no limit), and returns those that are ready (possibly
/// none after a timeout): [`wait`](super::wait)'s async form for connections, woken by
/// writers in any process (each end's proxy waiter, see the
/// [module docs](super#async-forms)). Takes nothing from any connection.
///
/// ```
/// use std::time::Duration;
/// use conkit::multiprocessing::{connection::wait_async, Pipe};
///
/// let (mut a1, b1) = Pipe(true).unwrap();
/// let (_a2, b2) = Pipe(true).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let none = rt.block_on(wait_async(&[&b1, &b2], Some(Duration::from_millis(10))));
/// assert!(none.unwrap().is_empty());
/// let t = std::thread::spawn(move || a1.send_bytes(b"x"));
/// let ready = rt.block_on(wait_async(&[&b1, &b2], None)).unwrap();
/// assert_eq!(ready.len(), 1);
/// assert!(std::ptr::eq(ready[0], &b1));
/// t.join().unwrap().unwrap();
/// ```
pub async fn wait_async<'a>(
    connections: &[&'a Connection],
    timeout: Option<Duration>,
) -> Result<Vec<&'a Connection>, ConnectionError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let ready = || -> Result<Vec<&'a Connection>, ConnectionError> {
        let mut out = Vec::new();
        for &c in connections {
            if c.poll(Some(Duration::ZERO))? {
                out.push(c);
            }
        }
        Ok(out)
    };
    let mut each: Vec<PollFuture<'a>> = connections
        .iter()
        .map(|&c| Box::pin(c.poll_async(None)) as PollFuture<'a>)
        .collect();
    let mut timer = deadline.map(|at| Timer { at, id: 0 });
    std::future::poll_fn(|cx| {
        for f in &mut each {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                // One is ready (or failed): the answer is a fresh look at all of them.
                return Poll::Ready(r.and_then(|_| ready()));
            }
        }
        if let Some(timer) = &mut timer {
            if Instant::now() >= timer.at {
                return Poll::Ready(ready());
            }
            timer.arm(cx.waker());
        }
        Poll::Pending
    })
    .await
}

// ----- one timer thread per process, for `poll_async`'s timeout -----

struct Timers {
    armed: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    running: bool,
}

static TIMERS: Mutex<Timers> = Mutex::new(Timers {
    armed: BTreeMap::new(),
    next_id: 1,
    running: false,
});
static TIMERS_CHANGED: Condvar = Condvar::new();

fn timers() -> MutexGuard<'static, Timers> {
    TIMERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the timer thread stays without armed timers before it ends.
const TIMER_IDLE: Duration = Duration::from_secs(1);

/// A deadline's waker with the timer thread; disarmed when dropped.
struct Timer {
    at: Instant,
    id: u64,
}

impl Timer {
    fn arm(&mut self, waker: &Waker) {
        let mut t = timers();
        if self.id == 0 {
            self.id = t.next_id;
            t.next_id += 1;
        }
        t.armed.insert((self.at, self.id), waker.clone());
        if !t.running {
            t.running = true;
            if std::thread::Builder::new()
                .name("conkit-conn-timer".into())
                .spawn(timer_thread)
                .is_err()
            {
                // No thread: wake now (the caller polls again) rather than never.
                t.running = false;
                drop(t);
                waker.wake_by_ref();
                return;
            }
        }
        drop(t);
        TIMERS_CHANGED.notify_one();
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if self.id != 0 {
            let w = timers().armed.remove(&(self.at, self.id));
            drop(w);
        }
    }
}

fn timer_thread() {
    let mut t = timers();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = t.armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            drop(t);
            due.into_iter().for_each(Waker::wake);
            t = timers();
            continue;
        }
        let wait = t
            .armed
            .keys()
            .next()
            .map_or(TIMER_IDLE, |(at, _)| at.saturating_duration_since(now));
        let (g, r) = TIMERS_CHANGED
            .wait_timeout(t, wait)
            .unwrap_or_else(|e| e.into_inner());
        t = g;
        if r.timed_out() && t.armed.is_empty() {
            t.running = false;
            return;
        }
    }
}
