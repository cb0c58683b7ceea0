//! Python's `multiprocessing.reduction` on Unix: passing open file descriptors between
//! processes over a connection ([`send_handle`], [`recv_handle`]).
//!
//! Reference: CPython `Lib/multiprocessing/reduction.py` (`sendfds`, `recvfds`,
//! `send_handle`, `recv_handle`). The wire format is CPython's: one byte — the number
//! of descriptors modulo 256 — carrying them as `SCM_RIGHTS` ancillary data, straight on
//! the Unix socket with no length prefix (no acknowledgement byte: CPython sends one
//! only on macOS). So a `python3` at the other end of a [`Listener`]/[`Client`] Unix
//! connection exchanges descriptors with conkit. Between the ends of a [`Pipe`] the
//! descriptor keeps its place among the messages of the pipe's shared-memory ring (see
//! [`Connection::send_handle`]).
//!
//! Differences from CPython: a descriptor that arrives while the receiving end reads
//! ahead is kept with its place in the stream, never lost (CPython's `Connection`
//! does not read ahead, and its `recv_handle` reads the socket directly); a message
//! where a descriptor is expected, or the other way round, is a typed error that
//! leaves the connection usable (CPython: `RuntimeError`, the stream out of step). The
//! other objects of CPython's module (`ForkingPickler`, `DupFd`, `register`) belong to
//! pickling, which conkit does not do: a descriptor goes to a child with its arguments
//! through [`inherit`](super::inherit) instead.
//!
//! [`Listener`]: super::connection::Listener
//! [`Client`]: super::connection::Client
//! [`Pipe`]: super::Pipe

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use super::connection::{Connection, ConnectionError};

/// Sends the open descriptor `handle` over `conn` (Python's
/// `reduction.send_handle(conn, handle, destination_pid)`; `destination_pid` is unused
/// on Unix, as in CPython). The receiver gets its own descriptor for the same open
/// file; `handle` stays open here. A number that is not an open descriptor is
/// [`ConnectionError::Io`] (`EBADF`), a connection that is not over a Unix socket
/// [`ConnectionError::NotUnixSocket`]; nothing is sent then. See
/// [`Connection::send_handle`] (which takes an [`AsFd`](std::os::fd::AsFd)).
///
/// ```
/// use conkit::multiprocessing::{reduction, Pipe};
/// use std::io::Read;
/// use std::os::fd::AsRawFd;
///
/// let (mut a, mut b) = Pipe(true).unwrap();
/// let file = std::fs::File::open("/proc/self/exe").unwrap();
/// reduction::send_handle(&mut a, file.as_raw_fd(), std::process::id()).unwrap();
/// let mut received = std::fs::File::from(reduction::recv_handle(&mut b).unwrap());
/// let mut magic = [0u8; 4];
/// received.read_exact(&mut magic).unwrap();
/// assert_eq!(&magic, b"\x7fELF");
/// ```
pub fn send_handle(
    conn: &mut Connection,
    handle: RawFd,
    destination_pid: u32,
) -> Result<(), ConnectionError> {
    let _ = destination_pid;
    // CPython hands the number to the kernel as it is: a closed one is EBADF.
    // SAFETY: `fcntl(F_GETFD)` only looks the number up.
    if handle < 0 || unsafe { libc::fcntl(handle, libc::F_GETFD) } < 0 {
        return Err(ConnectionError::Io(std::io::Error::from_raw_os_error(
            libc::EBADF,
        )));
    }
    // SAFETY: the number is open (checked above) and only passed to the kernel during
    // the call; nothing is closed or assumed about its ownership.
    conn.send_handle(unsafe { BorrowedFd::borrow_raw(handle) })
}

/// Receives a descriptor sent with [`send_handle`] (Python's
/// `reduction.recv_handle(conn)`, which returns the number; here the owned
/// descriptor, close-on-exec). See [`Connection::recv_handle`] for the errors.
///
/// ```
/// use conkit::multiprocessing::{connection::ConnectionError, reduction, Pipe};
///
/// let (mut a, mut b) = Pipe(true).unwrap();
/// a.send_bytes(b"not a descriptor").unwrap();
/// assert!(matches!(
///     reduction::recv_handle(&mut b),
///     Err(ConnectionError::UnexpectedMessage(m)) if m == b"not a descriptor"
/// ));
/// ```
pub fn recv_handle(conn: &mut Connection) -> Result<OwnedFd, ConnectionError> {
    conn.recv_handle()
}

/// [`recv_handle`] awaiting the descriptor instead of blocking:
/// [`Connection::recv_handle_async`] (woken by a sender in any process; cancel-safe).
///
/// ```
/// use conkit::multiprocessing::{reduction, Pipe};
///
/// let (mut a, mut b) = Pipe(true).unwrap();
/// let file = std::fs::File::open("/dev/null").unwrap();
/// a.send_handle(&file).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let fd = rt.block_on(reduction::recv_handle_async(&mut b)).unwrap();
/// assert!(std::fs::File::from(fd).metadata().is_ok());
/// ```
///
/// # Errors
/// As [`recv_handle`].
pub async fn recv_handle_async(conn: &mut Connection) -> Result<OwnedFd, ConnectionError> {
    conn.recv_handle_async().await
}
