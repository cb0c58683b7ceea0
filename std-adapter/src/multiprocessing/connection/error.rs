//! The errors of [`Connection`](super::Connection), [`Listener`](super::Listener) and
//! [`Client`](super::Client): CPython's `EOFError`, `OSError`s, `BufferTooShort`,
//! `AuthenticationError` and `ValueError`s as one typed enum.

use std::fmt;
use std::io;

use crate::multiprocessing::codec::CodecError;

/// A message did not fit the buffer given to
/// [`recv_bytes_into`](super::Connection::recv_bytes_into) (Python's
/// `multiprocessing.BufferTooShort`); it carries the whole message, which has been
/// consumed from the connection.
///
/// ```
/// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
///
/// let (mut a, mut b) = Pipe(true).unwrap();
/// a.send_bytes(b"too long for four bytes").unwrap();
/// let mut buf = [0u8; 4];
/// match b.recv_bytes_into(&mut buf, 0) {
///     Err(ConnectionError::BufferTooShort(e)) => {
///         assert_eq!(e.message(), b"too long for four bytes")
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferTooShort {
    message: Vec<u8>,
}

impl BufferTooShort {
    pub(crate) fn new(message: Vec<u8>) -> Self {
        Self { message }
    }

    /// The message that did not fit.
    ///
    /// ```
    /// # use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    /// # let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes(b"abc").unwrap();
    /// if let Err(ConnectionError::BufferTooShort(e)) = b.recv_bytes_into(&mut [0u8; 2], 0) {
    ///     assert_eq!(e.message(), b"abc");
    /// }
    /// ```
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The message, owned.
    ///
    /// ```
    /// # use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    /// # let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send_bytes(b"abc").unwrap();
    /// if let Err(ConnectionError::BufferTooShort(e)) = b.recv_bytes_into(&mut [0u8; 2], 0) {
    ///     assert_eq!(e.into_message(), b"abc".to_vec());
    /// }
    /// ```
    pub fn into_message(self) -> Vec<u8> {
        self.message
    }
}

impl fmt::Display for BufferTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer too short for a message of {} bytes",
            self.message.len()
        )
    }
}

impl std::error::Error for BufferTooShort {}

/// The authentication handshake failed (Python's `multiprocessing.AuthenticationError`):
/// a wrong key on either side, or a peer that does not speak the protocol.
///
/// ```no_run
/// use conkit::multiprocessing::connection::{Client, ConnectionError};
///
/// match Client("/tmp/some-listener", Some(b"wrong key")) {
///     Err(ConnectionError::Authentication(e)) => eprintln!("refused: {e}"),
///     Err(e) => eprintln!("{e}"),
///     Ok(_) => println!("welcome"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationError {
    message: String,
}

impl AuthenticationError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// CPython's message for the same failure (`"digest received was wrong"`,
    /// `"digest sent was rejected"`, …).
    ///
    /// ```
    /// # use conkit::multiprocessing::{connection::ConnectionError, Pipe};
    /// # use conkit::multiprocessing::connection::{answer_challenge, deliver_challenge};
    /// let (mut server, mut client) = Pipe(true).unwrap();
    /// let t = std::thread::spawn(move || answer_challenge(&mut client, b"other key"));
    /// match deliver_challenge(&mut server, b"key") {
    ///     Err(ConnectionError::Authentication(e)) => {
    ///         assert_eq!(e.message(), "digest received was wrong")
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(t.join().unwrap().is_err());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authentication failed: {}", self.message)
    }
}

impl std::error::Error for AuthenticationError {}

/// What can go wrong on a connection. Each variant names the CPython exception it
/// stands for.
///
/// ```
/// use conkit::multiprocessing::{connection::ConnectionError, Pipe};
///
/// let (mut a, b) = Pipe(true).unwrap();
/// drop(b); // every writer of `a`'s peer end is gone
/// assert!(matches!(a.recv_bytes(), Err(ConnectionError::Eof)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// `EOFError`: the peer closed its end (every process holding it did) and no
    /// message is left.
    Eof,
    /// `OSError("handle is closed")`: [`close`](super::Connection::close) was called.
    Closed,
    /// `OSError("connection is write-only")`: the sending end of a `Pipe(false)`, or a
    /// connection whose reading side was poisoned by a bad message length.
    NotReadable,
    /// `OSError("connection is read-only")`: the receiving end of a `Pipe(false)`.
    NotWritable,
    /// `OSError("bad message length")`: the length prefix exceeds the `maxlength` of
    /// [`recv_bytes_max`](super::Connection::recv_bytes_max) or the connection's cap
    /// ([`set_max_message_len`](super::Connection::set_max_message_len)); refused before
    /// anything is allocated. As in CPython the message is left unread, so the
    /// connection can no longer be read: it becomes write-only, or is closed when it
    /// was read-only.
    BadMessageLength {
        /// The length the peer announced.
        length: u64,
        /// The limit it exceeded.
        limit: u64,
    },
    /// `OSError("got end of file during message")`: the peer closed in the middle of a
    /// frame (its length prefix or its body).
    Truncated {
        /// Bytes the frame needed (prefix or body).
        expected: u64,
        /// Bytes that arrived before the end of file.
        received: u64,
    },
    /// A length prefix no CPython or conkit sender writes (negative, other than the
    /// `-1` that announces an 8-byte length). CPython reads such a frame as an empty
    /// message and goes on reading garbage; here the connection is poisoned as for
    /// [`BadMessageLength`](Self::BadMessageLength).
    BadHeader {
        /// The four bytes received.
        header: [u8; 4],
    },
    /// `BufferTooShort`: see [`BufferTooShort`].
    BufferTooShort(BufferTooShort),
    /// `AuthenticationError`: see [`AuthenticationError`].
    Authentication(AuthenticationError),
    /// `ValueError`: an argument out of range (`offset`/`size` beyond the buffer, a
    /// `Pipe` end that is neither readable nor writable, an unusable address).
    InvalidArgument(String),
    /// A value sent with [`send`](super::Connection::send) could not be encoded, or a
    /// received message is not a valid encoding of the requested type (nothing is
    /// executed on receipt: unlike CPython's unpickling).
    Codec(CodecError),
    /// Any other `OSError` (`BrokenPipeError` when the peer is gone, a time-out, `EBADF`
    /// for a descriptor given to [`send_handle`](super::Connection::send_handle) that is
    /// not open, …).
    Io(io::Error),
    /// A receive of a message found a descriptor sent with
    /// [`send_handle`](super::Connection::send_handle) next (CPython reads its byte as
    /// part of a length prefix and goes on reading garbage). Nothing was consumed: take
    /// it with [`recv_handle`](super::Connection::recv_handle), then the messages
    /// behind it.
    UnexpectedHandle,
    /// [`recv_handle`](super::Connection::recv_handle) found a message where a
    /// descriptor was expected (CPython: `RuntimeError('Invalid data received')`, with
    /// the stream out of step). The message was consumed and is returned here; the
    /// connection stays usable.
    UnexpectedMessage(Vec<u8>),
    /// A descriptor came with a count byte that does not match it, or the byte came
    /// without one (CPython: `RuntimeError('Invalid data received')` /
    /// `AssertionError`). The byte and any descriptors that came are consumed (the
    /// descriptors closed).
    BadHandle {
        /// The count byte received.
        announced: u8,
        /// How many descriptors came with it.
        received: usize,
    },
    /// [`send_handle`](super::Connection::send_handle) /
    /// [`recv_handle`](super::Connection::recv_handle) on a connection that is not over
    /// a Unix-domain socket (a TCP connection, a pipe): descriptors travel only over
    /// those (`SCM_RIGHTS`). Nothing was sent or consumed.
    NotUnixSocket,
}

impl ConnectionError {
    /// `true` for [`Eof`](Self::Eof): the peer is gone and nothing is left to read.
    ///
    /// ```
    /// # use conkit::multiprocessing::Pipe;
    /// let (mut r, w) = Pipe(false).unwrap();
    /// drop(w);
    /// assert!(r.recv::<u32>().unwrap_err().is_eof());
    /// ```
    pub fn is_eof(&self) -> bool {
        matches!(self, Self::Eof)
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eof => f.write_str("end of file: the peer closed the connection"),
            Self::Closed => f.write_str("handle is closed"),
            Self::NotReadable => f.write_str("connection is write-only"),
            Self::NotWritable => f.write_str("connection is read-only"),
            Self::BadMessageLength { length, limit } => write!(
                f,
                "bad message length: {length} bytes announced, the limit is {limit}"
            ),
            Self::Truncated { expected, received } => write!(
                f,
                "got end of file during message ({received} of {expected} bytes)"
            ),
            Self::BadHeader { header } => write!(f, "bad message header {header:02x?}"),
            Self::BufferTooShort(e) => e.fmt(f),
            Self::Authentication(e) => e.fmt(f),
            Self::InvalidArgument(m) => f.write_str(m),
            Self::Codec(e) => e.fmt(f),
            Self::Io(e) => e.fmt(f),
            Self::UnexpectedHandle => f.write_str(
                "a descriptor (send_handle) is next on the connection: take it with recv_handle",
            ),
            Self::UnexpectedMessage(m) => write!(
                f,
                "a message of {} bytes where a descriptor (send_handle) was expected",
                m.len()
            ),
            Self::BadHandle {
                announced,
                received,
            } => write!(
                f,
                "invalid descriptor data received: count byte {announced}, {received} descriptors"
            ),
            Self::NotUnixSocket => {
                f.write_str("descriptors can only be passed over a Unix-domain socket")
            }
        }
    }
}

impl std::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BufferTooShort(e) => Some(e),
            Self::Authentication(e) => Some(e),
            Self::Codec(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectionError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<CodecError> for ConnectionError {
    fn from(e: CodecError) -> Self {
        Self::Codec(e)
    }
}

impl From<AuthenticationError> for ConnectionError {
    fn from(e: AuthenticationError) -> Self {
        Self::Authentication(e)
    }
}

impl From<BufferTooShort> for ConnectionError {
    fn from(e: BufferTooShort) -> Self {
        Self::BufferTooShort(e)
    }
}
