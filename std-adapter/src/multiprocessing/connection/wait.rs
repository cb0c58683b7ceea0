//! `multiprocessing.connection.wait`: block until some of several connections,
//! listeners, process sentinels or other descriptors are ready.
//!
//! Reference: CPython's `connection.wait` on Unix (a `PollSelector` registered for
//! reading; an object whose descriptor reports data, end of file, hang-up or an error
//! is ready). Here one `ppoll(2)` call, retried with the time left after a signal.

use std::fs::File;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::process::{ChildStderr, ChildStdout};
use std::time::{Duration, Instant};

use super::{sys, Connection, ConnectionError, Listener};

/// Something [`wait`] can wait on: it names a descriptor that becomes readable when
/// the object is ready (a message or the end of file on a connection, a pending
/// client on a listener, a process sentinel when the process has ended).
///
/// ```
/// use std::os::fd::AsRawFd;
/// use conkit::multiprocessing::{connection::Waitable, Pipe};
///
/// let (a, _b) = Pipe(true).unwrap();
/// assert_eq!(a.wait_fd().unwrap().as_raw_fd(), a.fileno().unwrap());
/// ```
pub trait Waitable {
    /// The descriptor to poll for reading; an error for a closed object (Python's
    /// `fileno()` raising `OSError`).
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError>;

    /// Whether the object is ready whatever its descriptor says: a [`Connection`]
    /// holding bytes it has already read from its descriptor (messages read ahead
    /// with an earlier one), or a [`Pipe`](super::Pipe) end whose shared-memory ring
    /// holds a message (the kernel knows nothing of it; when the ring is empty, this
    /// also announces that the reader is about to sleep, so the next writer wakes the
    /// descriptor). `false` unless overridden.
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::Waitable, Pipe};
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// assert!(!b.ready_buffered());
    /// a.send_bytes(b"one").unwrap();
    /// assert!(b.ready_buffered()); // in the ring, not in the socket
    /// assert_eq!(b.recv_bytes().unwrap(), b"one");
    /// assert!(!b.ready_buffered());
    /// ```
    fn ready_buffered(&self) -> bool {
        false
    }

    /// Called by [`wait`] after its `ppoll` found the descriptor readable: whether the
    /// object really is ready. The default says yes; a [`Pipe`](super::Pipe) end's
    /// socket also carries one-byte wake-ups that end a sleep but carry no message
    /// (its messages travel in shared memory): it consumes them here and says whether
    /// a message or the end of file is there.
    ///
    /// ```
    /// use conkit::multiprocessing::connection::Waitable;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// assert!(a.confirm_ready());
    /// ```
    fn confirm_ready(&self) -> bool {
        true
    }

    /// The longest [`wait`] sleeps before it looks at this object again (`None`: no
    /// limit, the default). A [`Pipe`](super::Pipe) end's reader looks at its ring at
    /// least every 10 ms: a writer killed between seeing the reader asleep and waking
    /// it delays it by that much, never forever.
    ///
    /// ```
    /// use conkit::multiprocessing::{connection::Waitable, Pipe};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// assert_eq!(a.sleep_slice(), None);
    /// let (r, _w) = Pipe(false).unwrap();
    /// assert!(r.sleep_slice().is_some());
    /// ```
    fn sleep_slice(&self) -> Option<Duration> {
        None
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        self.fd
            .as_ref()
            .map(AsFd::as_fd)
            .ok_or(ConnectionError::Closed)
    }

    fn ready_buffered(&self) -> bool {
        if self.fd.is_none() || !self.readable {
            return false;
        }
        if self.pending_handle.is_some() {
            return true;
        }
        match self.rx.as_deref() {
            // Also announces the sleep: a writer then wakes the descriptor.
            Some(rx) => rx.has_data() || rx.announce_sleep(),
            None => self.buffered() > 0,
        }
    }

    fn sleep_slice(&self) -> Option<Duration> {
        self.rx.as_ref().map(|_| super::SLEEP_SLICE)
    }

    fn confirm_ready(&self) -> bool {
        match (self.rx.as_deref(), self.fd.as_ref()) {
            (Some(rx), Some(fd)) => {
                use std::os::fd::AsRawFd;
                rx.has_data() || self.socket_ready(fd.as_raw_fd()).unwrap_or(true)
            }
            _ => true,
        }
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        self.socket_fd()
    }
}

/// A raw descriptor number (a process sentinel returned as a number, for instance).
/// The descriptor must stay open while [`wait`] runs; a number that is not open makes
/// `wait` return [`InvalidArgument`](ConnectionError::InvalidArgument) (the kernel's
/// `POLLNVAL`), never a false "ready".
impl Waitable for RawFd {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        if *self < 0 {
            return Err(ConnectionError::InvalidArgument(format!(
                "invalid descriptor {self}"
            )));
        }
        // SAFETY: only the number is used, for the duration of one `ppoll`; a number
        // that is not open makes `ppoll` report `POLLNVAL`, which `wait` turns into an
        // error; no memory safety depends on it.
        Ok(unsafe { BorrowedFd::borrow_raw(*self) })
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        (**self).wait_fd()
    }

    fn ready_buffered(&self) -> bool {
        (**self).ready_buffered()
    }

    fn confirm_ready(&self) -> bool {
        (**self).confirm_ready()
    }

    fn sleep_slice(&self) -> Option<Duration> {
        (**self).sleep_slice()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        (**self).wait_fd()
    }

    fn ready_buffered(&self) -> bool {
        (**self).ready_buffered()
    }

    fn confirm_ready(&self) -> bool {
        (**self).confirm_ready()
    }

    fn sleep_slice(&self) -> Option<Duration> {
        (**self).sleep_slice()
    }
}

macro_rules! waitable_as_fd {
    ($($t:ty),* $(,)?) => {$(
        impl Waitable for $t {
            fn wait_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
                Ok(self.as_fd())
            }
        }
    )*};
}

waitable_as_fd!(
    BorrowedFd<'_>,
    OwnedFd,
    File,
    TcpStream,
    TcpListener,
    UdpSocket,
    UnixStream,
    UnixListener,
    UnixDatagram,
    ChildStdout,
    ChildStderr,
);

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no
/// limit), and returns the ready ones in their order in `objects` (empty on a
/// time-out): Python's `multiprocessing.connection.wait(object_list, timeout)`.
/// Ready means a receive or `accept` would not block: a message, the end of file, a
/// pending client, an ended process's sentinel. A [`Connection`] that has already
/// read a message ahead into its buffer is ready without looking at its descriptor
/// ([`Waitable::ready_buffered`]); the others are then only polled, not waited for.
///
/// ```
/// use std::time::Duration;
/// use conkit::multiprocessing::connection::wait;
/// use conkit::multiprocessing::Pipe;
///
/// let (mut a1, b1) = Pipe(true).unwrap();
/// let (_a2, b2) = Pipe(true).unwrap();
/// assert!(wait(&[&b1, &b2], Some(Duration::from_millis(1))).unwrap().is_empty());
/// a1.send_bytes(b"x").unwrap();
/// let ready = wait(&[&b1, &b2], None).unwrap();
/// assert_eq!(ready.len(), 1);
/// assert!(std::ptr::eq(ready[0], &b1));
/// ```
///
/// Different kinds of object in one call go through `&dyn Waitable`:
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use conkit::multiprocessing::connection::{wait, Waitable};
/// use conkit::multiprocessing::Pipe;
///
/// let (a, b) = Pipe(true).unwrap();
/// let (s, t) = UnixStream::pair().unwrap();
/// drop(t); // end of file: ready
/// let objects: [&dyn Waitable; 2] = [&b, &s];
/// assert_eq!(wait(&objects, None).unwrap().len(), 1);
/// # drop(a);
/// ```
pub fn wait<'a, T: Waitable + ?Sized>(
    objects: &[&'a T],
    timeout: Option<Duration>,
) -> Result<Vec<&'a T>, ConnectionError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let buffered: Vec<bool> = objects.iter().map(|o| o.ready_buffered()).collect();
        let slice = objects.iter().filter_map(|o| o.sleep_slice()).min();
        let this_deadline = if buffered.contains(&true) {
            Some(Instant::now())
        } else {
            match (deadline, slice.map(|s| Instant::now() + s)) {
                (Some(d), Some(s)) => Some(d.min(s)),
                (d, s) => d.or(s),
            }
        };
        let mut fds = Vec::with_capacity(objects.len());
        for o in objects {
            fds.push(libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&o.wait_fd()?),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let n = sys::poll_until(&mut fds, this_deadline)?;
        if let Some(p) = fds.iter().find(|p| p.revents & libc::POLLNVAL != 0) {
            return Err(ConnectionError::InvalidArgument(format!(
                "descriptor {} is not open",
                p.fd
            )));
        }
        let ready: Vec<&'a T> = objects
            .iter()
            .zip(fds.iter().zip(&buffered))
            .filter(|(o, (p, &b))| b || (p.revents & sys::READY != 0 && o.confirm_ready()))
            .map(|(o, _)| *o)
            .collect();
        // Only wake-up bytes (no message after all): sleep again, to the same deadline.
        let timed_out = n == 0 && slice.is_none() || deadline.is_some_and(|d| Instant::now() >= d);
        if !ready.is_empty() || timed_out || buffered.contains(&true) {
            return Ok(ready);
        }
    }
}
