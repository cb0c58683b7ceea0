//! Python's `multiprocessing.connection`: [`Connection`], [`Pipe`], [`wait`],
//! [`Listener`] and [`Client`], wire-compatible with CPython.
//!
//! Reference: CPython's `Lib/multiprocessing/connection.py` (3.11 installed here, and
//! 3.12+ for the digest negotiation of the handshake). A [`Connection`] frames each
//! message exactly as CPython's `Connection._send_bytes`/`_recv_bytes` do: a 4-byte
//! big-endian *signed* length, or `-1` followed by an 8-byte big-endian length for a
//! message longer than `0x7fffffff` bytes, then the bytes. So a `python3` on the other
//! end of a socket — a [`Listener`]/[`Client`] pair, or an inherited descriptor — reads
//! what [`send_bytes`](Connection::send_bytes) writes and the other way round.
//! [`send`](Connection::send)/[`recv`](Connection::recv) carry serde values in
//! [`codec`]'s format (postcard) where CPython pickles: decoding runs no
//! code, and a malformed message is [`ConnectionError::Codec`].
//!
//! # How a [`Pipe`] carries its messages
//! Between the two ends of a [`Pipe`] (in one process or in several: a child gets an
//! end as an argument, under every start method, or by `fork`) a message travels
//! through shared memory: one core byte ring
//! ([`ShmByteRing<SharedFutex>`](conkit_core::byte_ring::ShmByteRing), the ring the
//! process queues use) per direction, in a `memfd` mapping of 64 KiB plus a state
//! block (a robust writers' lock, a robust readers' lock, a "reader sleeps" flag and
//! the writers' waiters for room). A message of up to 32 KiB − 9 bytes is copied into
//! the ring and out of it: no system call on either side while the reader is awake
//! (the socket pair costs one `send` and one `recv` per message, and a wake-up of the
//! reader when it sleeps). The socket pair is still there, for what only a descriptor
//! can do:
//! - **Readiness.** [`fileno`](Connection::fileno) is the socket. A reader that found
//!   the ring empty spins on it for [`spin`](Connection::spin), then announces that it
//!   sleeps and sleeps in `ppoll` on the socket; the next writer sends one byte to wake
//!   it (one per sleep, not per message). [`poll`](Connection::poll), [`wait`] and the
//!   receives announce the sleep; a bare descriptor number handed to `wait` or to
//!   another poller does not, so wait on the [`Connection`] itself.
//! - **End of file.** Once every process holding the writing end has closed it (or
//!   died), the socket reports the end of file; the reader drains the ring first, so
//!   nothing sent is lost.
//! - **Broken pipe.** A writer asks the socket whether the reading end is gone (one
//!   `poll`) on its first message, then at most once a millisecond, and while it waits
//!   for room in a full ring: messages sent within that millisecond after the last
//!   reader vanished go into the ring and are lost (as bytes in a socket buffer would
//!   be), where CPython's next `send` fails.
//! - **Large messages.** A longer message is sent as a marker in the ring and its frame
//!   (CPython's framing) on the socket; the reader takes the frame when it reaches the
//!   marker, so the order holds.
//! - **A full ring.** A writer that finds the ring full (64 KiB of frames: about
//!   2 700 messages of 8 bytes) waits until the readers have emptied it, then goes on:
//!   one sleep and one wake-up per ring-full rather than per message.
//!
//! The price is at creation: a duplex `Pipe` makes two `memfd` mappings and the core
//! ring zeroes its buffer, faulting in its pages (tens of microseconds, several times
//! CPython's `socketpair`), and each end holds their descriptors. Processes that share
//! one end take turns through its lock (CPython's processes race
//! on the socket). A writer killed with `SIGKILL` in the middle of a message leaves
//! either the whole message in the ring or nothing (the ring publishes a message in
//! one store after it is written; the lock is robust, the next writer takes it over);
//! killed in the middle of a large frame on the socket, it leaves the reader
//! [`ConnectionError::Truncated`] as a plain socket would. An end costs three
//! descriptors (the socket and the two rings' mappings; a simplex end: two). Where
//! shared memory cannot be had (`memfd_create` refused), `Pipe` falls back to the
//! socket for everything. [`Listener`]/[`Client`] connections and
//! [`Connection::from_fd`] always use their descriptor (a `python3` may be on the other
//! end).
//!
//! # Async forms
//! [`Connection::recv_async`], [`recv_bytes_async`](Connection::recv_bytes_async),
//! [`poll_async`](Connection::poll_async), [`send_async`](Connection::send_async) and
//! [`send_bytes_async`](Connection::send_bytes_async), and [`wait_async`] for several
//! ends, await instead of blocking, on any
//! executor, woken by a peer in any process (issue #14). A helper thread per awaited end
//! per process (the proxy waiter of [`multiprocessing::asynch`](super::asynch)) makes
//! the blocking wait — on a [`Pipe`] end it announces itself to the writers as a
//! sleeping reader and sleeps in `poll` on the socket; on a socket it sleeps in `poll` —
//! and wakes the tasks, which take a message only when it is whole (from the ring, or
//! once the whole frame is in the end's read buffer). Dropping a pending future loses
//! no message: what it did not take stays in the ring or in the [`Connection`]. The end
//! of file and dead writers give the errors of the blocking forms. Still blocking: the
//! body of a message longer than 32 KiB once its first bytes are there (it is read
//! while the writer writes it), and `send_async` of such a message or on a socket
//! connection (the blocking `send`, which waits only while the kernel's buffer is
//! full). Python has no async `Connection` (`loop.run_in_executor(None, conn.recv)`).
//!
//! Differences from CPython, and why:
//! - A receiver refuses a length prefix above its cap
//!   ([`DEFAULT_MAX_MESSAGE_LEN`], 1 GiB; [`Connection::set_max_message_len`]) before
//!   allocating anything: CPython allocates whatever a peer announces. Raise the cap
//!   to `u64::MAX` for CPython's behaviour. Below the cap, memory grows with the bytes
//!   that actually arrive, so a lying prefix costs at most 16 MiB.
//! - A negative length other than `-1` is [`ConnectionError::BadHeader`] (CPython reads
//!   an empty message and continues in the middle of the garbage).
//! - The reader spins briefly before it sleeps in the kernel
//!   ([`Connection::set_spin`], [`DEFAULT_SPIN`]): waking a sleeping process costs tens
//!   of microseconds, a reply that comes within the spin costs a few. On a descriptor
//!   the spin polls with a non-blocking `recv`, so the call that finds the data has
//!   read it; on a [`Pipe`] it looks at the ring in shared memory.
//! - On a descriptor (a [`Listener`]'s connection, [`Connection::from_fd`], the large
//!   messages of a [`Pipe`]) the reader is buffered: one `recv` takes whatever is there up to 32 KiB — a
//!   small message's prefix and body together, and the messages queued behind it —
//!   where CPython makes two `read`s per message. A body of 32 KiB or more goes from
//!   the socket straight into its destination (the caller's buffer for
//!   [`recv_bytes_into`](Connection::recv_bytes_into)), and the prefix after it is
//!   read alone and without a spin (a stream of large messages is bound by copying;
//!   a reader probing the socket while the sender fills it only slows the sender). A sender makes one system call per message: a frame up to 1 KiB is
//!   put together on the stack and goes out with one `send`, a longer one with one
//!   `sendmsg` gathering prefix and body (the body is not copied). Messages still never merge or split, and bytes read ahead count as
//!   ready for [`poll`](Connection::poll) and [`wait`]. What this changes: messages
//!   read ahead by one process are not in the socket for another process holding the
//!   same end (CPython's processes sharing an end race for each message; here one may
//!   take several at once), and a `fork` copies them into the child as it copies all
//!   memory. An end passed to a child as its argument carries the bytes it read ahead,
//!   so the child reads on where the parent stopped; pass an end on and close the
//!   parent's copy, as CPython's documentation advises.
//! - `Pipe(false)` is a socket pair with each end shut down in the unused direction
//!   (CPython: `os.pipe()`), so both kinds of pipe read with `MSG_DONTWAIT` while they
//!   spin and write with `MSG_NOSIGNAL` (a vanished peer is an error, never a
//!   `SIGPIPE`).
//! - Methods that read or write take `&mut self`: two threads sharing one end would
//!   interleave frames (CPython's notes ask for a lock around a shared end; here the
//!   borrow checker asks).
//!
//! Linux only (as the rest of [`multiprocessing`](super)); other Unix systems would
//! need the abstract socket names and `MSG_NOSIGNAL` replaced.

mod asynch;
mod auth;
mod error;
mod listener;
mod ring;
mod sys;
mod wait;

pub use asynch::wait_async;
pub use auth::{answer_challenge, deliver_challenge, deliver_challenge_with, ChallengeDigest};
pub use error::{AuthenticationError, BufferTooShort, ConnectionError};
pub use listener::{arbitrary_address, Address, Client, Family, Listener};
pub(crate) use sys::random_bytes;
pub use wait::{wait, Waitable};

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Serialize};

use super::heap::Mapping;
use super::{codec, inherit};
use conkit_core::byte_ring::GrantError;

/// The default cap on a received message's length: 1 GiB. A longer length prefix is
/// [`ConnectionError::BadMessageLength`] before anything is allocated.
pub const DEFAULT_MAX_MESSAGE_LEN: u64 = 1 << 30;

/// How long a reader polls without sleeping before it blocks in the kernel: 50 µs.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// The largest length a 4-byte prefix carries (CPython's `0x7fffffff`).
const SHORT_MAX: usize = 0x7fff_ffff;

/// The read buffer of a receiving end: one `recv` takes up to this much (a small
/// message's prefix and body, and the messages behind it); a body at least this long
/// goes from the descriptor straight to its destination.
const READ_BUF: usize = 32 * 1024;

/// Memory reserved for a body before its bytes arrive: a lying length prefix below the
/// cap costs at most this much; past it the buffer grows with the data.
const FIRST_CHUNK: usize = 1 << 24;

/// A writer over a pipe's ring looks whether the reading end is gone (one `poll`) on
/// its first message, then at most once per this interval, and whenever the ring is
/// full (see the module docs).
const PEER_CHECK: Duration = Duration::from_millis(1);

/// A writer waiting for room in a full ring looks whether the reader is gone at least
/// this often.
const ROOM_SLICE: Duration = Duration::from_millis(10);

/// A reader of a pipe's ring sleeps on the socket at most this long before it looks at
/// the ring again: a writer killed between taking the "reader sleeps" flag and sending
/// its wake-up byte (while other processes still hold the writing end, so no end of
/// file comes) costs the reader at most this much delay, never a hang. The same bound
/// as a sleep on the core's `Waiters` between processes.
pub(crate) const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// One end of a pipe or socket carrying framed messages (Python's
/// `multiprocessing.connection.Connection`).
///
/// ```
/// use conkit::multiprocessing::Pipe;
///
/// let (mut parent, mut child) = Pipe(true).unwrap();
/// parent.send(&("hello", 42u32)).unwrap();
/// assert_eq!(child.recv::<(String, u32)>().unwrap(), ("hello".to_string(), 42));
/// child.send_bytes(b"raw bytes").unwrap();
/// assert_eq!(parent.recv_bytes().unwrap(), b"raw bytes");
/// ```
///
/// A connection goes to a child process as one of its arguments (it serialises through
/// [`inherit`]; outside a child's arguments serialising it is an error):
///
/// ```ignore
/// use conkit::multiprocessing::{self as mp, Connection, Pipe, Process};
///
/// fn consumer(mut conn: Connection) {
///     while let Ok(item) = conn.recv::<String>() {
///         println!("got {item}");
///     }
/// }
///
/// fn main() {
///     mp::init();
///     let (rx, mut tx) = Pipe(false).unwrap();
///     let mut p = Process::new(consumer, rx);
///     p.start().unwrap();
///     tx.send(&"item".to_string()).unwrap();
///     drop(tx); // the child's recv then ends with Eof
///     p.join().unwrap();
/// }
/// ```
pub struct Connection {
    fd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    socket: bool,
    max_message_len: u64,
    spin: Duration,
    /// Reused by `send` and `recv` (no allocation per message).
    scratch: Vec<u8>,
    /// Bytes read from the descriptor and not yet delivered: `rbuf[rpos..rend]`
    /// ([`READ_BUF`] bytes, allocated by the first receive).
    rbuf: Box<[u8]>,
    rpos: usize,
    rend: usize,
    /// The last message received was at least [`READ_BUF`] long: the next length
    /// prefix is read alone (no read-ahead into the body that follows, which then goes
    /// straight to its destination), without a spin first (a stream of large messages
    /// is bound by copying, not by wake-ups, and a reader probing the socket while the
    /// sender fills it slows the sender down).
    large: bool,
    /// The ring this end writes into ([`Pipe`] ends; `None`: the socket carries every
    /// message).
    tx: Option<Arc<ring::Dir>>,
    /// The ring this end reads from.
    rx: Option<Arc<ring::Dir>>,
    /// When the writer last looked whether the reading end is gone.
    peer_checked: Option<Instant>,
    /// Bytes read from the descriptor so far (into `rbuf` or straight into a
    /// destination): the stream position just past the last byte read. The byte at
    /// `rbuf[rpos]` is at `read_total - buffered()`.
    read_total: u64,
    /// Descriptors received (`SCM_RIGHTS`) and not yet taken by
    /// [`recv_handle`](Self::recv_handle), each with the stream position of the byte
    /// they came with (see [`sys::recv_fds`]).
    handles: VecDeque<(u64, Vec<OwnedFd>)>,
    /// A [`Pipe`] end: the descriptors of a handle whose ring marker a receive of a
    /// message took (the handle stays next, for `recv_handle`).
    pending_handle: Option<Vec<OwnedFd>>,
}

/// Two connected [`Connection`]s (Python's `multiprocessing.Pipe(duplex)`): with
/// `duplex`, both ends send and receive; without, the first end only receives and the
/// second only sends. Messages travel through a shared-memory ring per direction, the
/// socket pair beside them gives the descriptor, the end of file and the broken pipe
/// (see the [module docs](self#how-a-pipe-carries-its-messages)).
///
/// ```
/// use conkit::multiprocessing::Pipe;
///
/// let (mut reader, mut writer) = Pipe(false).unwrap();
/// assert!(reader.readable() && !reader.writable());
/// writer.send(&1u8).unwrap();
/// assert_eq!(reader.recv::<u8>().unwrap(), 1);
/// assert!(writer.recv::<u8>().is_err()); // write-only
/// ```
#[allow(non_snake_case)]
pub fn Pipe(duplex: bool) -> Result<(Connection, Connection), ConnectionError> {
    let (mut a, mut b) = socket_pipe(duplex)?;
    // Without shared memory (`memfd` refused: a limit, a sandbox) the socket carries
    // every message, as for a `Listener`'s connections.
    if duplex {
        if let (Ok(ab), Ok(ba)) = (ring::Dir::create(), ring::Dir::create()) {
            let (ab, ba) = (Arc::new(ab), Arc::new(ba));
            a.tx = Some(ab.clone());
            b.rx = Some(ab);
            b.tx = Some(ba.clone());
            a.rx = Some(ba);
        }
    } else if let Ok(ba) = ring::Dir::create() {
        let ba = Arc::new(ba);
        b.tx = Some(ba.clone());
        a.rx = Some(ba);
    }
    Ok((a, b))
}

/// A pipe whose socket carries every message (no ring): what [`Pipe`] was before the
/// rings, and what a [`Listener`]'s connections are. For the tests of the socket path.
pub(crate) fn socket_pipe(duplex: bool) -> Result<(Connection, Connection), ConnectionError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors the call writes.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: two fresh descriptors owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if duplex {
        return Ok((
            Connection::from_parts(a, true, true, true),
            Connection::from_parts(b, true, true, true),
        ));
    }
    // SAFETY: plain calls on our own descriptors.
    unsafe {
        libc::shutdown(a.as_raw_fd(), libc::SHUT_WR);
        libc::shutdown(b.as_raw_fd(), libc::SHUT_RD);
    }
    Ok((
        Connection::from_parts(a, true, false, true),
        Connection::from_parts(b, false, true, true),
    ))
}

impl Connection {
    fn from_parts(fd: OwnedFd, readable: bool, writable: bool, socket: bool) -> Self {
        Self {
            fd: Some(fd),
            readable,
            writable,
            socket,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            spin: DEFAULT_SPIN,
            scratch: Vec::new(),
            rbuf: Box::default(),
            rpos: 0,
            rend: 0,
            large: false,
            tx: None,
            rx: None,
            peer_checked: None,
            read_total: 0,
            handles: VecDeque::new(),
            pending_handle: None,
        }
    }

    /// A connection over an open descriptor (a socket, a pipe end, a character device):
    /// Python's `Connection(handle, readable, writable)`. At least one of `readable`
    /// and `writable` must be true.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use conkit::multiprocessing::Connection;
    ///
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let mut a = Connection::from_fd(a.into(), true, true).unwrap();
    /// let mut b = Connection::from_fd(b.into(), true, true).unwrap();
    /// a.send_bytes(b"x").unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"x");
    /// ```
    pub fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Result<Self, ConnectionError> {
        if !readable && !writable {
            return Err(ConnectionError::InvalidArgument(
                "at least one of `readable` and `writable` must be true".into(),
            ));
        }
        let socket = sys::is_socket(fd.as_raw_fd());
        Ok(Self::from_parts(fd, readable, writable, socket))
    }

    /// The longest message this end accepts (the length prefix is checked before
    /// anything is allocated).
    ///
    /// ```
    /// # use conkit::multiprocessing::{connection::DEFAULT_MAX_MESSAGE_LEN, Pipe};
    /// let (a, _b) = Pipe(true).unwrap();
    /// assert_eq!(a.max_message_len(), DEFAULT_MAX_MESSAGE_LEN);
    /// ```
    pub fn max_message_len(&self) -> u64 {
        self.max_message_len
    }

    /// Sets the longest message this end accepts (`u64::MAX`: CPython's "no limit").
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// b.set_max_message_len(4);
    /// a.send_bytes(b"12345").unwrap();
    /// assert!(matches!(
    ///     b.recv_bytes(),
    ///     Err(ConnectionError::BadMessageLength { length: 5, limit: 4 })
    /// ));
    /// ```
    pub fn set_max_message_len(&mut self, len: u64) {
        self.max_message_len = len;
    }

    /// How long a receive polls before it sleeps in the kernel.
    ///
    /// ```
    /// # use conkit::multiprocessing::{connection::DEFAULT_SPIN, Pipe};
    /// let (a, _b) = Pipe(true).unwrap();
    /// assert_eq!(a.spin(), DEFAULT_SPIN);
    /// ```
    pub fn spin(&self) -> Duration {
        self.spin
    }

    /// Sets how long a receive (and [`poll`](Self::poll)) polls without sleeping before
    /// it blocks in the kernel; `Duration::ZERO` sleeps at once (CPython's behaviour,
    /// kinder to a machine with more processes than cores).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, _b) = Pipe(true).unwrap();
    /// a.set_spin(Duration::ZERO);
    /// assert_eq!(a.spin(), Duration::ZERO);
    /// ```
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// `true` once [`close`](Self::close) was called (or a bad message length closed
    /// a read-only end).
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, _b) = Pipe(true).unwrap();
    /// assert!(!a.closed());
    /// a.close();
    /// assert!(a.closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.fd.is_none()
    }

    /// Whether this end receives.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (r, w) = Pipe(false).unwrap();
    /// assert!(r.readable() && !w.readable());
    /// ```
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end sends.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (r, w) = Pipe(false).unwrap();
    /// assert!(w.writable() && !r.writable());
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The descriptor (Python's `fileno()`); [`ConnectionError::Closed`] after `close`.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (a, _b) = Pipe(true).unwrap();
    /// assert!(a.fileno().unwrap() >= 0);
    /// ```
    pub fn fileno(&self) -> Result<RawFd, ConnectionError> {
        self.fd
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or(ConnectionError::Closed)
    }

    /// Closes this end (idempotent; dropping the connection does the same). The peer
    /// sees the end of file once every process holding this end has closed it.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.close();
    /// a.close();
    /// assert!(b.recv_bytes().unwrap_err().is_eof());
    /// ```
    pub fn close(&mut self) {
        self.fd = None;
        self.tx = None;
        self.rx = None;
        self.handles.clear();
        self.pending_handle = None;
        self.rbuf = Box::default();
        self.rpos = 0;
        self.rend = 0;
    }

    fn fd(&self) -> Result<RawFd, ConnectionError> {
        self.fileno()
    }

    fn check_readable(&self) -> Result<RawFd, ConnectionError> {
        let fd = self.fd()?;
        if !self.readable {
            return Err(ConnectionError::NotReadable);
        }
        Ok(fd)
    }

    /// [`check_readable`](Self::check_readable) for a receive of a message: a handle
    /// a receive already found (a [`Pipe`] end) is still next.
    fn check_message_next(&self) -> Result<RawFd, ConnectionError> {
        let fd = self.check_readable()?;
        if self.pending_handle.is_some() {
            return Err(ConnectionError::UnexpectedHandle);
        }
        Ok(fd)
    }

    /// One read of at most `want` bytes into the read buffer after `rend` (see
    /// [`sys::read_some`]), counted in [`read_total`](Self::read_total); descriptors
    /// that came with the bytes are kept in [`handles`](Self::handles) with the
    /// position of the last byte read. `Some((n, true))`: descriptors came.
    fn read_buf(
        &mut self,
        fd: RawFd,
        want: usize,
        dontwait: bool,
    ) -> std::io::Result<Option<(usize, bool)>> {
        let room = &mut self.rbuf[self.rend..self.rend + want];
        let mut stream = Stream {
            socket: self.socket,
            read_total: &mut self.read_total,
            handles: &mut self.handles,
        };
        // SAFETY: `room` is writable for `want` bytes.
        let got = unsafe { stream.read(fd, room.as_mut_ptr(), want, dontwait)? };
        if let Some((n, _)) = got {
            self.rend += n;
        }
        Ok(got)
    }

    /// One blocking read straight into `dst` (the body of a large message), counted
    /// and keeping descriptors as [`read_buf`](Self::read_buf).
    ///
    /// # Safety
    /// `dst..dst + len` must be writable memory that does not overlap the read buffer.
    unsafe fn read_direct(
        &mut self,
        fd: RawFd,
        dst: *mut u8,
        len: usize,
    ) -> std::io::Result<Option<usize>> {
        let mut stream = Stream {
            socket: self.socket,
            read_total: &mut self.read_total,
            handles: &mut self.handles,
        };
        // SAFETY: the caller's contract.
        Ok(unsafe { stream.read(fd, dst, len, false)? }.map(|(n, _)| n))
    }

    /// Whether the next buffered byte came with descriptors (a handle is next).
    /// Descriptors whose byte was consumed as something else (a peer that sent them
    /// inside a message) are closed here.
    fn handle_next(&mut self) -> bool {
        if self.handles.is_empty() {
            return false;
        }
        let here = self.read_total - self.buffered() as u64;
        while self.handles.front().is_some_and(|(at, _)| *at < here) {
            self.handles.pop_front();
        }
        self.buffered() > 0 && self.handles.front().is_some_and(|(at, _)| *at == here)
    }

    fn check_writable(&self) -> Result<RawFd, ConnectionError> {
        let fd = self.fd()?;
        if !self.writable {
            return Err(ConnectionError::NotWritable);
        }
        Ok(fd)
    }

    /// CPython's `_bad_message_length`: the rest of the frame is unread, so this end can
    /// no longer receive: it becomes write-only, or is closed if it could only read.
    fn poison(&mut self) {
        self.rbuf = Box::default();
        self.rpos = 0;
        self.rend = 0;
        if self.writable {
            self.readable = false;
        } else {
            self.close();
        }
    }

    // ----- sending -----

    /// Sends `buf` as one message (Python's `send_bytes(buf)`).
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes(b"").unwrap(); // an empty message is a message
    /// a.send_bytes(b"two").unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"");
    /// assert_eq!(b.recv_bytes().unwrap(), b"two");
    /// ```
    pub fn send_bytes(&mut self, buf: &[u8]) -> Result<(), ConnectionError> {
        let fd = self.check_writable()?;
        self.send_body(fd, buf)
    }

    /// Sends `size` bytes of `buf` from `offset` (`None`: to the end) as one message
    /// (Python's `send_bytes(buf, offset, size)`); a range outside `buf` is
    /// [`ConnectionError::InvalidArgument`] and sends nothing.
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes_at(b"0123456789", 2, Some(3)).unwrap();
    /// a.send_bytes_at(b"0123456789", 7, None).unwrap();
    /// assert_eq!(b.recv_bytes().unwrap(), b"234");
    /// assert_eq!(b.recv_bytes().unwrap(), b"789");
    /// assert!(matches!(
    ///     a.send_bytes_at(b"0123", 2, Some(3)),
    ///     Err(ConnectionError::InvalidArgument(_))
    /// ));
    /// ```
    pub fn send_bytes_at(
        &mut self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), ConnectionError> {
        let fd = self.check_writable()?;
        if offset > buf.len() {
            return Err(ConnectionError::InvalidArgument(format!(
                "buffer length {} < offset {offset}",
                buf.len()
            )));
        }
        let end = match size {
            None => buf.len(),
            Some(size) => match offset.checked_add(size) {
                Some(end) if end <= buf.len() => end,
                _ => {
                    return Err(ConnectionError::InvalidArgument(format!(
                        "buffer length {} < offset {offset} + size {size}",
                        buf.len()
                    )))
                }
            },
        };
        self.send_body(fd, &buf[offset..end])
    }

    /// Sends one message: through the ring of a [`Pipe`] end, else as a frame on the
    /// descriptor.
    fn send_body(&mut self, fd: RawFd, body: &[u8]) -> Result<(), ConnectionError> {
        match self.tx.as_deref() {
            Some(tx) => ring_send(tx, fd, &mut self.peer_checked, body),
            None => send_frame(fd, self.socket, body),
        }
    }

    /// Sends a serde value as one message (Python's `send(obj)`, with
    /// [`codec`] in place of pickle).
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send(&vec![1u32, 2, 3]).unwrap();
    /// assert_eq!(b.recv::<Vec<u32>>().unwrap(), [1, 2, 3]);
    /// ```
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConnectionError> {
        let fd = self.check_writable()?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let result = codec::extend(&mut buf, value)
            .map_err(ConnectionError::from)
            .and_then(|()| {
                let body = buf.len() - 4;
                if let Some(tx) = self.tx.as_deref() {
                    ring_send(tx, fd, &mut self.peer_checked, &buf[4..])
                } else if body <= SHORT_MAX {
                    buf[..4].copy_from_slice(&(body as i32).to_be_bytes());
                    sys::write_all(fd, self.socket, [&buf]).map_err(Into::into)
                } else {
                    send_frame(fd, self.socket, &buf[4..])
                }
            });
        if buf.capacity() <= FIRST_CHUNK {
            self.scratch = buf;
        }
        result
    }

    // ----- receiving -----
    //
    // One `recv` fetches as much as is there, up to `READ_BUF` bytes, into `rbuf`: a
    // small message's prefix and body together, and with them any messages behind it
    // (a stream of small messages costs one system call per buffer, not two per
    // message). A body too large for the buffer goes from the descriptor straight into
    // its destination. The spin before sleeping polls with the same non-blocking
    // `recv`, so the call that finds the data is the one that reads it.

    /// Bytes buffered and not yet delivered.
    fn buffered(&self) -> usize {
        self.rend - self.rpos
    }

    /// Reads until at least `need` (at most [`READ_BUF`]) bytes are buffered or the end
    /// of file; returns whether they are. Reads ask for all the room in the buffer
    /// (read-ahead), or after a large message only for the `need` bytes. `spin`: poll
    /// with non-blocking reads for up to [`spin`](Self::spin) before the first blocking
    /// read.
    fn fill(&mut self, fd: RawFd, need: usize, spin: bool) -> std::io::Result<bool> {
        debug_assert!(need <= READ_BUF);
        if self.buffered() >= need {
            return Ok(true);
        }
        if self.rbuf.is_empty() {
            self.rbuf = vec![0; READ_BUF].into_boxed_slice();
        }
        if self.rpos + need > self.rbuf.len() || self.rpos == self.rend {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        let mut spinning = spin && !self.spin.is_zero();
        let started = if spinning { Some(Instant::now()) } else { None };
        while self.buffered() < need {
            let want = if self.large {
                need - self.buffered()
            } else {
                self.rbuf.len() - self.rend
            };
            let got = if !spinning {
                self.read_buf(fd, want, false)?
            } else if self.socket {
                self.read_buf(fd, want, true)?
            } else if sys::ready_now(fd)? {
                self.read_buf(fd, want, false)?
            } else {
                None
            };
            match got {
                Some((0, _)) => return Ok(false),
                // Descriptors came with the last byte: the bytes behind them are the
                // next send's (a receive waiting for more would wait for the peer's
                // next message); the caller finds the handle.
                Some((_, true)) => return Ok(self.buffered() >= need),
                Some((_, false)) => {}
                None => {
                    // No back-off between probes (as the raw socket's spinning reader
                    // in the `mp-pipe-rtt` bench): a failed `recv` already takes a few
                    // hundred nanoseconds, and a back-off of up to 64 `pause`s (a few
                    // microseconds on cores with a slow `pause`) is latency added after
                    // the data has arrived.
                    if started.is_some_and(|s| s.elapsed() >= self.spin) {
                        spinning = false;
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        Ok(true)
    }

    /// Reads `len` bytes into `dst`: the buffered ones first, then the rest of a large
    /// message straight from the descriptor, of a small one through the buffer (which
    /// may then hold the messages behind it). Returns how many arrived (fewer than
    /// `len` only at the end of file).
    ///
    /// # Safety
    /// `dst..dst + len` must be writable (possibly uninitialised) memory that does not
    /// overlap this connection's buffer.
    unsafe fn read_exact_into(
        &mut self,
        fd: RawFd,
        dst: *mut u8,
        len: usize,
    ) -> std::io::Result<usize> {
        let mut got = 0;
        while got < len {
            let left = len - got;
            if self.buffered() == 0 {
                if self.large || left >= READ_BUF {
                    // SAFETY: the caller's contract on `dst..dst + len`; `left` bytes
                    // remain past `got`.
                    match unsafe { self.read_direct(fd, dst.add(got), left)? } {
                        Some(0) | None => return Ok(got),
                        Some(n) => got += n,
                    }
                    continue;
                }
                if !self.fill(fd, 1, false)? {
                    return Ok(got);
                }
            }
            let n = self.buffered().min(left);
            // SAFETY: `n` initialised bytes of the buffer are copied into the caller's
            // writable `dst + got..dst + got + n`; the two do not overlap (contract).
            unsafe {
                std::ptr::copy_nonoverlapping(self.rbuf.as_ptr().add(self.rpos), dst.add(got), n);
            }
            self.rpos += n;
            got += n;
        }
        Ok(got)
    }

    /// Reads a frame's length prefix (spinning first, unless the last message was
    /// large).
    fn recv_header(&mut self, fd: RawFd) -> Result<u64, ConnectionError> {
        let whole = self.fill(fd, 4, !self.large)?;
        if self.handle_next() {
            return Err(ConnectionError::UnexpectedHandle);
        }
        if !whole {
            let got = self.buffered();
            if got == 0 {
                return Err(ConnectionError::Eof);
            }
            return Err(ConnectionError::Truncated {
                expected: 4,
                received: got as u64,
            });
        }
        let mut h = [0u8; 4];
        h.copy_from_slice(&self.rbuf[self.rpos..self.rpos + 4]);
        let n = i32::from_be_bytes(h);
        if n >= 0 {
            self.rpos += 4;
            return Ok(n as u64);
        }
        if n != -1 {
            self.poison();
            return Err(ConnectionError::BadHeader { header: h });
        }
        self.rpos += 4;
        if !self.fill(fd, 8, false)? {
            return Err(ConnectionError::Truncated {
                expected: 8,
                received: self.buffered() as u64,
            });
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&self.rbuf[self.rpos..self.rpos + 8]);
        self.rpos += 8;
        Ok(u64::from_be_bytes(l))
    }

    /// Reads a frame's length prefix and checks it against `maxlength` and the cap.
    fn recv_length(&mut self, fd: RawFd, maxlength: Option<u64>) -> Result<usize, ConnectionError> {
        let length = self.recv_header(fd)?;
        let limit = maxlength.map_or(self.max_message_len, |m| m.min(self.max_message_len));
        match usize::try_from(length) {
            Ok(len) if length <= limit => {
                self.large = len >= READ_BUF;
                Ok(len)
            }
            _ => {
                self.poison();
                Err(ConnectionError::BadMessageLength { length, limit })
            }
        }
    }

    /// Appends a body of `len` bytes to `out` (memory grows with the bytes that arrive).
    fn recv_body(
        &mut self,
        fd: RawFd,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ConnectionError> {
        let start = out.len();
        out.reserve(len.min(FIRST_CHUNK));
        while out.len() - start < len {
            if out.len() == out.capacity() {
                let have = out.len() - start;
                out.reserve((len - have).min(have.max(FIRST_CHUNK)));
            }
            let want = (out.capacity() - out.len()).min(len - (out.len() - start));
            // SAFETY: `want` bytes of spare capacity after `out.len()` are writable and
            // belong to `out`, not to the connection's buffer.
            let n = unsafe { self.read_exact_into(fd, out.as_mut_ptr().add(out.len()), want)? };
            // SAFETY: the read initialised `n <= want` bytes past the old length.
            unsafe { out.set_len(out.len() + n) };
            if n < want {
                let received = (out.len() - start) as u64;
                out.truncate(start);
                return Err(ConnectionError::Truncated {
                    expected: len as u64,
                    received,
                });
            }
        }
        Ok(())
    }

    /// Receives one message sent with `send_bytes` (Python's `recv_bytes()`); blocks
    /// until one arrives. [`ConnectionError::Eof`] when the peer is gone and nothing is
    /// left.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let t = std::thread::spawn(move || a.send_bytes(&[7u8; 100_000]));
    /// assert_eq!(b.recv_bytes().unwrap(), vec![7u8; 100_000]);
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>, ConnectionError> {
        self.recv_bytes_limited(None)
    }

    /// Receives one message of at most `maxlength` bytes (Python's
    /// `recv_bytes(maxlength)`). A longer one is
    /// [`ConnectionError::BadMessageLength`], found from its length prefix before
    /// anything is allocated; as in CPython the rest of that message stays unread, so
    /// this end can no longer receive (it becomes write-only; a read-only end is
    /// closed).
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes(b"0123456789").unwrap();
    /// assert!(matches!(
    ///     b.recv_bytes_max(4),
    ///     Err(ConnectionError::BadMessageLength { length: 10, limit: 4 })
    /// ));
    /// assert!(!b.readable() && b.writable());
    /// assert!(matches!(b.recv_bytes(), Err(ConnectionError::NotReadable)));
    /// ```
    pub fn recv_bytes_max(&mut self, maxlength: usize) -> Result<Vec<u8>, ConnectionError> {
        self.recv_bytes_limited(Some(maxlength as u64))
    }

    fn recv_bytes_limited(&mut self, maxlength: Option<u64>) -> Result<Vec<u8>, ConnectionError> {
        let fd = self.check_message_next()?;
        if let Some(rx) = self.rx.clone() {
            let limit = self.limit(maxlength);
            let got = self.ring_recv(fd, &rx, |b| check_len(b.len(), limit).map(|()| b.to_vec()));
            return match got {
                Ok(Some(r)) => self.ring_result(r),
                Ok(None) => {
                    self.ring_socket_frame(&rx, fd, |c, fd| c.recv_bytes_socket(fd, maxlength))
                }
                Err(e) => Err(e),
            };
        }
        self.recv_bytes_socket(fd, maxlength)
    }

    fn recv_bytes_socket(
        &mut self,
        fd: RawFd,
        maxlength: Option<u64>,
    ) -> Result<Vec<u8>, ConnectionError> {
        let len = self.recv_length(fd, maxlength)?;
        let mut out = Vec::new();
        self.recv_body(fd, len, &mut out)?;
        Ok(out)
    }

    /// Receives one message into `buf` from `offset` and returns its length (Python's
    /// `recv_bytes_into(buf, offset)`). A message that does not fit is consumed and
    /// returned inside [`ConnectionError::BufferTooShort`]; an `offset` beyond `buf` is
    /// [`ConnectionError::InvalidArgument`] (nothing is read).
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes(b"abc").unwrap();
    /// let mut buf = [b'.'; 6];
    /// assert_eq!(b.recv_bytes_into(&mut buf, 2).unwrap(), 3);
    /// assert_eq!(&buf, b"..abc.");
    /// ```
    pub fn recv_bytes_into(
        &mut self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<usize, ConnectionError> {
        let fd = self.check_message_next()?;
        if offset > buf.len() {
            return Err(ConnectionError::InvalidArgument(format!(
                "offset {offset} too large for a buffer of {} bytes",
                buf.len()
            )));
        }
        if let Some(rx) = self.rx.clone() {
            let limit = self.max_message_len;
            let room = &mut buf[offset..];
            let got = self.ring_recv(fd, &rx, |b| {
                check_len(b.len(), limit)?;
                if b.len() <= room.len() {
                    room[..b.len()].copy_from_slice(b);
                    Ok(b.len())
                } else {
                    Err(BufferTooShort::new(b.to_vec()).into())
                }
            });
            return match got {
                Ok(Some(r)) => self.ring_result(r),
                Ok(None) => self.ring_socket_frame(&rx, fd, |c, fd| {
                    c.recv_bytes_into_socket(fd, &mut buf[offset..])
                }),
                Err(e) => Err(e),
            };
        }
        self.recv_bytes_into_socket(fd, &mut buf[offset..])
    }

    fn recv_bytes_into_socket(
        &mut self,
        fd: RawFd,
        room: &mut [u8],
    ) -> Result<usize, ConnectionError> {
        let len = self.recv_length(fd, None)?;
        if len <= room.len() {
            // SAFETY: `room` holds at least `len` writable bytes, and is the caller's
            // memory, not the connection's buffer.
            let n = unsafe { self.read_exact_into(fd, room.as_mut_ptr(), len)? };
            if n < len {
                return Err(ConnectionError::Truncated {
                    expected: len as u64,
                    received: n as u64,
                });
            }
            return Ok(len);
        }
        let mut message = Vec::new();
        self.recv_body(fd, len, &mut message)?;
        Err(BufferTooShort::new(message).into())
    }

    /// Receives one value sent with [`send`](Self::send) (Python's `recv()`). Decoding
    /// runs no code: a message that is not a `T` is [`ConnectionError::Codec`].
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send(&Some(3.5f64)).unwrap();
    /// assert_eq!(b.recv::<Option<f64>>().unwrap(), Some(3.5));
    /// a.send_bytes(&[0xff; 3]).unwrap();
    /// assert!(matches!(b.recv::<String>(), Err(ConnectionError::Codec(_))));
    /// ```
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        let fd = self.check_message_next()?;
        if let Some(rx) = self.rx.clone() {
            let limit = self.max_message_len;
            // Decoded straight from the ring's memory (no copy).
            let got = self.ring_recv(fd, &rx, |b| {
                check_len(b.len(), limit)?;
                codec::from_bytes(b).map_err(ConnectionError::from)
            });
            return match got {
                Ok(Some(r)) => self.ring_result(r),
                Ok(None) => self.ring_socket_frame(&rx, fd, |c, fd| c.recv_socket(fd)),
                Err(e) => Err(e),
            };
        }
        self.recv_socket(fd)
    }

    fn recv_socket<T: DeserializeOwned>(&mut self, fd: RawFd) -> Result<T, ConnectionError> {
        let len = self.recv_length(fd, None)?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let result = self
            .recv_body(fd, len, &mut buf)
            .and_then(|()| codec::from_bytes(&buf).map_err(Into::into));
        if buf.capacity() <= FIRST_CHUNK {
            self.scratch = buf;
        }
        result
    }

    /// Whether a message (or the end of file) is ready to be received, waiting up to
    /// `timeout` (`None`: until one is; Python's `poll(None)`; `Some(Duration::ZERO)`:
    /// Python's `poll()`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut a, b) = Pipe(true).unwrap();
    /// assert!(!b.poll(Some(Duration::from_millis(1))).unwrap());
    /// a.send_bytes(b"x").unwrap();
    /// assert!(b.poll(None).unwrap());
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        let fd = self.check_readable()?;
        if self.pending_handle.is_some() {
            return Ok(true);
        }
        if let Some(rx) = self.rx.as_deref() {
            return self.ring_poll(fd, rx, timeout);
        }
        if self.buffered() > 0 {
            return Ok(true);
        }
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        if !self.spin.is_zero() && timeout != Some(Duration::ZERO) {
            let spin_end = started + timeout.map_or(self.spin, |t| t.min(self.spin));
            while Instant::now() < spin_end {
                if sys::ready_now(fd)? {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
        }
        let mut p = [libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        Ok(sys::poll_until(&mut p, deadline)? > 0 && p[0].revents & sys::READY != 0)
    }

    // ----- descriptors (`multiprocessing.reduction`) -----

    /// Sends an open descriptor to the process at the other end (Python's
    /// `multiprocessing.reduction.send_handle(conn, handle, destination_pid)`; see
    /// [`reduction`](crate::multiprocessing::reduction)): the receiver's
    /// [`recv_handle`](Self::recv_handle) gets its own descriptor for the same open
    /// file, pipe or socket. Ours stays open.
    ///
    /// On a connection over a Unix socket (a [`Listener`]/[`Client`] connection with
    /// [`Family::Unix`], [`Connection::from_fd`] of a Unix socket) the wire format is
    /// CPython's `sendfds`: one byte, the number of descriptors modulo 256, carrying
    /// them (`SCM_RIGHTS`), with no length prefix — a `python3` at the other end takes
    /// it with `reduction.recv_handle(conn)`. On a [`Pipe`] end it keeps its place among
    /// the messages of the pipe's shared-memory ring (a marker in the ring, the
    /// descriptor on the pipe's socket). Over anything else (TCP, an OS pipe):
    /// [`ConnectionError::NotUnixSocket`], nothing sent.
    ///
    /// ```
    /// use conkit::multiprocessing::Pipe;
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let (mut here, there) = UnixStream::pair().unwrap();
    /// a.send(&"a descriptor follows").unwrap();
    /// a.send_handle(&there).unwrap();
    /// drop(there);
    /// assert_eq!(b.recv::<String>().unwrap(), "a descriptor follows");
    /// let received = UnixStream::from(b.recv_handle().unwrap());
    /// (&received).write_all(b"through the received descriptor").unwrap();
    /// drop(received);
    /// let mut got = String::new();
    /// here.read_to_string(&mut got).unwrap();
    /// assert_eq!(got, "through the received descriptor");
    /// ```
    pub fn send_handle(&mut self, handle: impl AsFd) -> Result<(), ConnectionError> {
        let fd = self.check_writable()?;
        let raw = handle.as_fd().as_raw_fd();
        if !self.socket || !sys::is_unix_socket(fd) {
            return Err(ConnectionError::NotUnixSocket);
        }
        match self.tx.as_deref() {
            Some(tx) => {
                ring_send_unit(tx, fd, &mut self.peer_checked, &[], Some(&[raw]), true).map(|_| ())
            }
            None => sys::send_fds(fd, &[1], &[raw]).map_err(Into::into),
        }
    }

    /// Receives a descriptor sent with [`send_handle`](Self::send_handle) (or by
    /// CPython's `reduction.send_handle`): Python's
    /// `multiprocessing.reduction.recv_handle(conn)`. The descriptor is this process's
    /// own (close-on-exec). Blocks until something arrives.
    ///
    /// Messages and descriptors keep their order, and neither is lost to the other:
    /// descriptors that arrive while this end reads ahead are kept with their place in
    /// the stream. Errors, each leaving the connection usable:
    /// - a message is next: [`ConnectionError::UnexpectedMessage`] with the message
    ///   (consumed);
    /// - a byte without descriptors, or a count that does not match them:
    ///   [`ConnectionError::BadHandle`] (consumed, the descriptors closed);
    /// - the peer is gone: [`ConnectionError::Eof`];
    /// - not a Unix socket: [`ConnectionError::NotUnixSocket`] (nothing read).
    ///
    /// Conversely, a receive of a message that finds a descriptor next is
    /// [`ConnectionError::UnexpectedHandle`] and consumes nothing.
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// a.send_handle(&file).unwrap();
    /// a.send_bytes(b"then a message").unwrap();
    /// assert!(matches!(b.recv_bytes(), Err(ConnectionError::UnexpectedHandle)));
    /// let _fd = b.recv_handle().unwrap();
    /// match b.recv_handle() {
    ///     Err(ConnectionError::UnexpectedMessage(m)) => assert_eq!(m, b"then a message"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn recv_handle(&mut self) -> Result<OwnedFd, ConnectionError> {
        let fd = self.check_readable()?;
        if !self.socket {
            return Err(ConnectionError::NotUnixSocket);
        }
        let fds = match self.pending_handle.take() {
            Some(fds) => fds,
            None => match self.rx.clone() {
                Some(rx) => self.ring_recv_handle(fd, &rx)?,
                None => self.socket_recv_handle(fd)?,
            },
        };
        let received = fds.len();
        match <[OwnedFd; 1]>::try_from(fds) {
            Ok([one]) => Ok(one),
            Err(_) => Err(ConnectionError::BadHandle {
                announced: 1,
                received,
            }),
        }
    }

    /// The descriptors of the next item of a [`Pipe`] end: a marker in the ring and
    /// the [`ring::HANDLE`] byte on the socket (a message instead is returned in
    /// [`ConnectionError::UnexpectedMessage`]).
    fn ring_recv_handle(
        &mut self,
        fd: RawFd,
        rx: &ring::Dir,
    ) -> Result<Vec<OwnedFd>, ConnectionError> {
        let limit = self.max_message_len;
        let got = self.ring_recv(fd, rx, |b| check_len(b.len(), limit).map(|()| b.to_vec()));
        match got? {
            Some(r) => Err(ConnectionError::UnexpectedMessage(self.ring_result(r)?)),
            None => {
                let r = match self.socket_frame_start(fd) {
                    Ok(Some(fds)) => Ok(fds),
                    Ok(None) => self
                        .recv_bytes_socket(fd, None)
                        .and_then(|m| Err(ConnectionError::UnexpectedMessage(m))),
                    Err(e) => Err(e),
                };
                rx.end_read_turn();
                r
            }
        }
    }

    /// The descriptors of the next item of a socket end: CPython's `recvfds` unit (one
    /// count byte carrying them); a message instead is read and returned in
    /// [`ConnectionError::UnexpectedMessage`].
    fn socket_recv_handle(&mut self, fd: RawFd) -> Result<Vec<OwnedFd>, ConnectionError> {
        if !sys::is_unix_socket(fd) {
            return Err(ConnectionError::NotUnixSocket);
        }
        if !self.fill(fd, 1, true)? {
            return Err(ConnectionError::Eof);
        }
        if !self.handle_next() {
            let m = self.recv_bytes_socket(fd, None)?;
            return Err(ConnectionError::UnexpectedMessage(m));
        }
        let announced = self.rbuf[self.rpos];
        self.rpos += 1;
        self.large = false;
        let fds = self.handles.pop_front().map(|(_, f)| f).unwrap_or_default();
        if fds.is_empty() || fds.len() % 256 != announced as usize {
            return Err(ConnectionError::BadHandle {
                announced,
                received: fds.len(),
            });
        }
        Ok(fds)
    }

    // ----- the ring of a `Pipe` end -----

    /// The effective length limit for a `maxlength`.
    fn limit(&self, maxlength: Option<u64>) -> u64 {
        maxlength.map_or(self.max_message_len, |m| m.min(self.max_message_len))
    }

    /// A message taken from the ring: a length refused by the limit poisons this end
    /// as on the socket (CPython's `_bad_message_length`).
    fn ring_result<R>(&mut self, r: Result<R, ConnectionError>) -> Result<R, ConnectionError> {
        if matches!(r, Err(ConnectionError::BadMessageLength { .. })) {
            self.poison();
        }
        r
    }

    /// Waits for the next message of the ring `rx`. `Ok(Some(r))`: `f`'s result on a
    /// message from the ring; `Ok(None)`: the next message is a frame on the socket,
    /// and the readers' turn is open (the caller reads it with
    /// [`ring_socket_frame`](Self::ring_socket_frame)).
    ///
    /// While the ring is empty: spin on it for [`spin`](Self::spin) (loads of shared
    /// memory, no system call), then drop the wake-up bytes the socket holds, announce
    /// the sleep, look at the ring once more and sleep in `ppoll` on the socket until a
    /// writer's wake-up byte, a large frame or the end of file (every writer gone: the
    /// ring has been drained by then, nothing is lost).
    fn ring_recv<R>(
        &mut self,
        fd: RawFd,
        rx: &ring::Dir,
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<Option<R>, ConnectionError> {
        let mut spin_end: Option<Instant> = None;
        loop {
            if rx.has_data() {
                match rx.take(&mut f) {
                    ring::Taken::Data(r) => return Ok(Some(r)),
                    ring::Taken::Socket => return Ok(None),
                    // Another process holding this end took it.
                    ring::Taken::Empty => continue,
                    ring::Taken::Corrupt => {
                        return Err(ConnectionError::Io(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "pipe ring: a frame no writer of this pipe wrote",
                        )))
                    }
                }
            }
            if !self.spin.is_zero() {
                let now = Instant::now();
                if now < *spin_end.get_or_insert(now + self.spin) {
                    std::hint::spin_loop();
                    continue;
                }
            }
            let eof = self.drain_wakes(fd)?;
            if rx.announce_sleep() {
                continue;
            }
            if eof {
                return Err(ConnectionError::Eof);
            }
            let mut p = [libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            sys::poll_until(&mut p, Some(Instant::now() + SLEEP_SLICE))?;
        }
    }

    /// Reads the frame a ring marker announced from the socket (the wake-up bytes
    /// before it skipped) with `read`, then ends the readers' turn.
    fn ring_socket_frame<R>(
        &mut self,
        rx: &ring::Dir,
        fd: RawFd,
        read: impl FnOnce(&mut Self, RawFd) -> Result<R, ConnectionError>,
    ) -> Result<R, ConnectionError> {
        let r = match self.socket_frame_start(fd) {
            Ok(None) => read(self, fd),
            // A handle (`send_handle`) where a message was expected: kept, still next.
            Ok(Some(fds)) => {
                self.pending_handle = Some(fds);
                Err(ConnectionError::UnexpectedHandle)
            }
            Err(e) => Err(e),
        };
        rx.end_read_turn();
        r
    }

    /// Skips wake-up bytes up to the [`ring::FRAME`] byte that starts a frame
    /// (`Ok(None)`) or the [`ring::HANDLE`] byte that carries descriptors (`Ok(Some)`).
    fn socket_frame_start(&mut self, fd: RawFd) -> Result<Option<Vec<OwnedFd>>, ConnectionError> {
        loop {
            if !self.fill(fd, 1, false)? {
                // The writer died between the marker and its frame.
                return Err(ConnectionError::Eof);
            }
            let came = self.handle_next();
            let b = self.rbuf[self.rpos];
            self.rpos += 1;
            match b {
                ring::WAKE => continue,
                ring::FRAME => return Ok(None),
                ring::HANDLE => {
                    let fds = if came {
                        self.handles.pop_front().map(|(_, f)| f).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    if fds.is_empty() {
                        return Err(ConnectionError::BadHandle {
                            announced: b,
                            received: 0,
                        });
                    }
                    return Ok(Some(fds));
                }
                other => {
                    self.poison();
                    return Err(ConnectionError::BadHeader {
                        header: [other, 0, 0, 0],
                    });
                }
            }
        }
    }

    /// Drops the wake-up bytes at the front of what the socket holds (read without
    /// waiting); `true` at the end of file. Bytes of a frame stay.
    fn drain_wakes(&mut self, fd: RawFd) -> std::io::Result<bool> {
        loop {
            while self.rpos < self.rend && self.rbuf[self.rpos] == ring::WAKE {
                self.rpos += 1;
            }
            if self.rpos < self.rend {
                return Ok(false);
            }
            if self.rbuf.is_empty() {
                self.rbuf = vec![0; READ_BUF].into_boxed_slice();
            }
            self.rpos = 0;
            self.rend = 0;
            let want = self.rbuf.len();
            let got = match self.read_buf(fd, want, true) {
                // The peer closed while wake-up bytes it never read were queued for it:
                // the kernel reports a reset; for a ring end that is the end of file.
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Some((0, false)),
                other => other?,
            };
            match got {
                Some((0, _)) => return Ok(true),
                None => return Ok(false),
                Some(_) => {}
            }
        }
    }

    /// Whether the socket of a ring end has something `recv` would return: the end
    /// of file (or an error), or a frame's bytes. Wake-up bytes at its front are
    /// consumed (they only ended a sleep), so a later `ppoll` does not see them.
    fn socket_ready(&self, fd: RawFd) -> std::io::Result<bool> {
        if self.rbuf[self.rpos..self.rend]
            .iter()
            .any(|&b| b != ring::WAKE)
        {
            return Ok(true);
        }
        let mut peek = [0u8; 64];
        loop {
            let n = match sys::peek(fd, &mut peek) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(false),
                Err(_) => return Ok(true), // `recv` reports it
            };
            if n == 0 {
                return Ok(true);
            }
            let wakes = peek[..n].iter().take_while(|&&b| b == ring::WAKE).count();
            if wakes > 0 {
                sys::recv_into(fd, true, &mut peek[..wakes], true)?;
            }
            if wakes < n {
                return Ok(true);
            }
        }
    }

    /// [`poll`](Self::poll) of a ring end: spin on the ring, then sleep on the socket
    /// as `recv` does (ready: a message in the ring, or the end of file).
    fn ring_poll(
        &self,
        fd: RawFd,
        rx: &ring::Dir,
        timeout: Option<Duration>,
    ) -> Result<bool, ConnectionError> {
        if rx.has_data() {
            return Ok(true);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(self.socket_ready(fd)? || rx.has_data());
        }
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        if !self.spin.is_zero() {
            let spin_end = started + timeout.map_or(self.spin, |t| t.min(self.spin));
            while Instant::now() < spin_end {
                if rx.has_data() {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
        }
        loop {
            // Wake-up bytes are dropped before the announcement (those after it are
            // for it), then the ring is looked at once more: a message published
            // before the announcement was seen is not slept through.
            if self.socket_ready(fd)? || rx.announce_sleep() {
                return Ok(true);
            }
            let mut p = [libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            let slice_end = Instant::now() + SLEEP_SLICE;
            let this = deadline.map_or(slice_end, |d| d.min(slice_end));
            if sys::poll_until(&mut p, Some(this))? == 0
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Ok(rx.has_data());
            }
        }
    }
}

/// The reading side's stream bookkeeping of a [`Connection`] (borrowed apart from its
/// read buffer).
struct Stream<'a> {
    socket: bool,
    read_total: &'a mut u64,
    handles: &'a mut VecDeque<(u64, Vec<OwnedFd>)>,
}

impl Stream<'_> {
    /// One read (see [`sys::read_some`]; on a socket [`sys::recv_fds`]), counted;
    /// descriptors that came are kept with the position of the last byte read.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be writable memory.
    unsafe fn read(
        &mut self,
        fd: RawFd,
        ptr: *mut u8,
        len: usize,
        dontwait: bool,
    ) -> std::io::Result<Option<(usize, bool)>> {
        if !self.socket {
            // SAFETY: the caller's contract.
            let got = unsafe { sys::read_some(fd, false, ptr, len, dontwait)? };
            if let Some(n) = got {
                *self.read_total += n as u64;
            }
            return Ok(got.map(|n| (n, false)));
        }
        // SAFETY: the caller's contract.
        let Some((n, fds)) = (unsafe { sys::recv_fds(fd, ptr, len, dontwait)? }) else {
            return Ok(None);
        };
        *self.read_total += n as u64;
        let came = !fds.is_empty() && n > 0;
        if came {
            self.handles.push_back((*self.read_total - 1, fds));
        }
        Ok(Some((n, came)))
    }
}

/// Refuses a message longer than `limit`.
fn check_len(len: usize, limit: u64) -> Result<(), ConnectionError> {
    if len as u64 > limit {
        return Err(ConnectionError::BadMessageLength {
            length: len as u64,
            limit,
        });
    }
    Ok(())
}

/// Sends one message of a [`Pipe`] end through its ring `tx`: inline if it fits, else
/// as a marker in the ring and the frame on the socket (order holds: the reader takes
/// the frame when it reaches the marker). Wakes a reader that announced it sleeps with
/// one byte on the socket. All under the writers' lock.
fn ring_send(
    tx: &ring::Dir,
    fd: RawFd,
    peer_checked: &mut Option<Instant>,
    body: &[u8],
) -> Result<(), ConnectionError> {
    ring_send_with(tx, fd, peer_checked, body, true).map(|_| ())
}

/// [`ring_send`]; with `wait` false, a full ring returns `Ok(false)` at once (nothing
/// sent) instead of waiting for room: the attempt of
/// [`send_bytes_async`](Connection::send_bytes_async). `Ok(true)`: sent.
fn ring_send_with(
    tx: &ring::Dir,
    fd: RawFd,
    peer_checked: &mut Option<Instant>,
    body: &[u8],
    wait: bool,
) -> Result<bool, ConnectionError> {
    ring_send_unit(tx, fd, peer_checked, body, None, wait)
}

/// [`ring_send_with`] of a message (`handle` `None`) or of descriptors: a marker in
/// the ring and a [`ring::HANDLE`] byte carrying them on the socket.
fn ring_send_unit(
    tx: &ring::Dir,
    fd: RawFd,
    peer_checked: &mut Option<Instant>,
    body: &[u8],
    handle: Option<&[RawFd]>,
    wait: bool,
) -> Result<bool, ConnectionError> {
    let now = Instant::now();
    if peer_checked.is_none_or(|t| now.duration_since(t) >= PEER_CHECK) {
        if sys::peer_gone(fd)? {
            return Err(broken_pipe());
        }
        *peer_checked = Some(now);
    }
    let inline = handle.is_none() && body.len() <= tx.max_inline();
    let (tag, payload) = if inline {
        (ring::TAG_DATA, body)
    } else {
        (ring::TAG_SOCKET, &[][..])
    };
    tx.begin_write_turn();
    let result = (|| {
        let mut put = tx.put(tag, payload);
        while matches!(put, Err(GrantError::Full)) {
            if sys::peer_gone(fd)? {
                return Err(broken_pipe());
            }
            if !wait {
                return Ok(false);
            }
            put = tx
                .wait_room(tag, payload, Instant::now() + ROOM_SLICE)
                .unwrap_or(Err(GrantError::Full));
        }
        put.map_err(|e| ConnectionError::Io(std::io::Error::other(e)))?;
        if tx.take_sleeper() {
            match sys::write_all(fd, true, [&[ring::WAKE][..]]) {
                // The reader's end closed after it announced its sleep (it may have
                // found this message at a later look and returned): an inline message
                // is in the ring, as a socket's send is in the kernel's buffer, so the
                // send succeeded; the next peer check reports the broken pipe.
                Err(e) if inline && is_peer_closed(&e) => {}
                r => r?,
            }
        }
        if let Some(fds) = handle {
            if let Err(e) = sys::send_fds(fd, &[ring::HANDLE], fds) {
                // The marker is in the ring: the byte must follow, or the reader would
                // wait for it. Without the descriptors it is a `BadHandle` there.
                let _ = sys::write_all(fd, true, [&[ring::HANDLE][..]]);
                return Err(e.into());
            }
        } else if !inline {
            let mut header = [0u8; 12];
            let header: &[u8] = if body.len() <= SHORT_MAX {
                header[..4].copy_from_slice(&(body.len() as i32).to_be_bytes());
                &header[..4]
            } else {
                header[..4].copy_from_slice(&(-1i32).to_be_bytes());
                header[4..].copy_from_slice(&(body.len() as u64).to_be_bytes());
                &header[..]
            };
            sys::write_all(fd, true, [&[ring::FRAME][..], header, body])?;
        }
        Ok(true)
    })();
    tx.end_write_turn();
    result
}

/// The error of a write into a socket whose other end is closed.
fn is_peer_closed(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET))
}

fn broken_pipe() -> ConnectionError {
    ConnectionError::Io(std::io::Error::from_raw_os_error(libc::EPIPE))
}

/// Writes one frame: CPython's `_send_bytes` (a 4-byte signed big-endian length, or
/// `-1` and an 8-byte length above `0x7fffffff`), prefix and body in one system call.
fn send_frame(fd: RawFd, socket: bool, body: &[u8]) -> Result<(), ConnectionError> {
    let mut header = [0u8; 12];
    let header: &[u8] = if body.len() <= SHORT_MAX {
        header[..4].copy_from_slice(&(body.len() as i32).to_be_bytes());
        &header[..4]
    } else {
        header[..4].copy_from_slice(&(-1i32).to_be_bytes());
        header[4..].copy_from_slice(&(body.len() as u64).to_be_bytes());
        &header[..]
    };
    sys::write_all(fd, socket, [header, body]).map_err(Into::into)
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_ref().map(|f| f.as_raw_fd()))
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("buffered", &self.buffered())
            .field("ring", &(self.tx.is_some() || self.rx.is_some()))
            .finish()
    }
}

/// The serialised form: the descriptor's index in the [`inherit`] table and the
/// settings of this end.
#[derive(Serialize, Deserialize)]
struct Wire<M> {
    fd: u32,
    readable: bool,
    writable: bool,
    max_message_len: u64,
    spin_ns: u64,
    /// Bytes this end had read ahead and not delivered: the child's end starts with
    /// them, so it sees the stream a CPython child would.
    pending: Vec<u8>,
    /// The mappings of the rings of a [`Pipe`] end (written into, read from).
    tx: Option<M>,
    rx: Option<M>,
    /// Descriptors received with the pending bytes and not yet taken: each one's byte
    /// (its offset in `pending`) and their indices in the [`inherit`] table.
    handles: Vec<(u64, Vec<u32>)>,
    /// A [`Pipe`] end's handle that a receive found and left next.
    pending_handle: Option<Vec<u32>>,
}

/// Adds `fds` to the [`inherit`] table being collected (a child's arguments).
fn export_fds<E: serde::ser::Error>(fds: &[OwnedFd]) -> Result<Vec<u32>, E> {
    fds.iter()
        .map(|f| {
            inherit::export_fd(f.as_fd()).ok_or_else(|| {
                E::custom("a Connection can be passed only as a child process's argument")
            })
        })
        .collect()
}

/// Serialises as a descriptor handed to a child process (only as a child's argument,
/// through [`inherit`]); the parent's end stays open, as in CPython.
impl Serialize for Connection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| S::Error::custom("handle is closed"))?;
        let index = inherit::export_fd(fd.as_fd()).ok_or_else(|| {
            S::Error::custom("a Connection can be passed only as a child process's argument")
        })?;
        Wire {
            fd: index,
            readable: self.readable,
            writable: self.writable,
            max_message_len: self.max_message_len,
            spin_ns: self.spin.as_nanos().min(u64::MAX as u128) as u64,
            pending: self.rbuf[self.rpos..self.rend].to_vec(),
            tx: self.tx.as_deref().map(ring::Dir::mapping),
            rx: self.rx.as_deref().map(ring::Dir::mapping),
            handles: {
                let here = self.read_total - self.buffered() as u64;
                self.handles
                    .iter()
                    .filter(|(at, _)| *at >= here)
                    .map(|(at, fds)| Ok((at - here, export_fds(fds)?)))
                    .collect::<Result<_, S::Error>>()?
            },
            pending_handle: self.pending_handle.as_deref().map(export_fds).transpose()?,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::<Mapping>::deserialize(d)?;
        let fd = inherit::import_fd(w.fd).map_err(D::Error::custom)?;
        let mut c = Connection::from_fd(fd, w.readable, w.writable).map_err(D::Error::custom)?;
        c.max_message_len = w.max_message_len;
        c.spin = Duration::from_nanos(w.spin_ns);
        let attach = |m: Option<Mapping>| {
            m.map(|m| ring::Dir::attach(m).map(Arc::new))
                .transpose()
                .map_err(D::Error::custom)
        };
        c.tx = attach(w.tx)?;
        c.rx = attach(w.rx)?;
        let import = |indices: Vec<u32>| {
            indices
                .into_iter()
                .map(|i| inherit::import_fd(i).map_err(D::Error::custom))
                .collect::<Result<Vec<OwnedFd>, D::Error>>()
        };
        for (at, fds) in w.handles {
            c.handles.push_back((at, import(fds)?));
        }
        c.pending_handle = w.pending_handle.map(import).transpose()?;
        c.read_total = w.pending.len() as u64;
        if !w.pending.is_empty() {
            let mut rbuf = w.pending;
            c.rend = rbuf.len();
            rbuf.resize(rbuf.len().max(READ_BUF), 0);
            c.rbuf = rbuf.into_boxed_slice();
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests;
