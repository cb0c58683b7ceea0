//! [`ManagerError`]: what a manager or a proxy call reports (Python's exceptions).

use std::fmt;

use super::protocol::Remote;
use crate::multiprocessing::codec::CodecError;
use crate::multiprocessing::connection::{AuthenticationError, ConnectionError};
use crate::multiprocessing::ProcessError;

/// What went wrong in a manager or a proxy call. Each variant names the Python
/// exception it stands for. A call never panics and never waits for a dead server: a
/// server that is gone is [`Connection`](Self::Connection) (Python's `EOFError` /
/// `ConnectionRefusedError`).
///
/// ```
/// use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
/// mp::init();
/// let manager = Manager().unwrap();
/// let d = manager.dict::<String, u32>().unwrap();
/// assert!(matches!(d.get("missing"), Err(ManagerError::KeyError)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ManagerError {
    /// `KeyError`: no such key in a dict.
    KeyError,
    /// `IndexError`: an index out of range of a list or array, or `pop` from an empty
    /// list.
    IndexError,
    /// `ValueError`: `list.remove`/`list.index` of a value the list does not hold, a
    /// bad parameter (a barrier of 0 parties).
    ValueError(String),
    /// `AttributeError`: a [`NamespaceProxy`](super::NamespaceProxy) has no such name.
    AttributeError(String),
    /// `queue.Empty`: a queue `get` that did not block, or whose timeout passed.
    Empty,
    /// `queue.Full`: a queue `put` that did not block, or whose timeout passed.
    Full,
    /// `RuntimeError`: release of an unlocked lock, of an `RLock` or `Condition` this
    /// connection does not hold, `wait`/`notify` without the condition's lock,
    /// `task_done` called too often, a `BoundedSemaphore` released too often.
    Runtime(String),
    /// `threading.BrokenBarrierError`.
    BrokenBarrier,
    /// `RemoteError`: the server does not know the object, the typeid, or the method
    /// for this kind of object (a proxy of the wrong type for a registered typeid); a
    /// [`Managed`](super::Managed) object's method returned an error (its message).
    Remote(String),
    /// A value could not be encoded, or a reply does not decode as the proxy's type (a
    /// dict written as `DictProxy<String, u32>` and read as `DictProxy<String, String>`).
    Codec(CodecError),
    /// `AuthenticationError`: the server and the client have different authkeys.
    Authentication(AuthenticationError),
    /// The connection to the server failed (`EOFError`, `ConnectionRefusedError`,
    /// `BrokenPipeError`): the server is gone or was never there.
    Connection(ConnectionError),
    /// Starting the server process failed.
    Process(ProcessError),
    /// The manager is not in the state the call needs (Python's `ProcessError` /
    /// `ValueError('Unrecognized Manager state')`): not started, started twice, no such
    /// registered typeid on the client side.
    State(String),
}

impl ManagerError {
    /// `true` when the server could not be reached or went away during the call.
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::ManagerError;
    /// assert!(!ManagerError::KeyError.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Connection(_))
    }
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyError => f.write_str("KeyError: no such key"),
            Self::IndexError => f.write_str("IndexError: index out of range"),
            Self::ValueError(m) => write!(f, "ValueError: {m}"),
            Self::AttributeError(n) => write!(f, "AttributeError: no attribute {n:?}"),
            Self::Empty => f.write_str("queue.Empty"),
            Self::Full => f.write_str("queue.Full"),
            Self::Runtime(m) => write!(f, "RuntimeError: {m}"),
            Self::BrokenBarrier => f.write_str("BrokenBarrierError"),
            Self::Remote(m) => write!(f, "RemoteError: {m}"),
            Self::Codec(e) => write!(f, "{e}"),
            Self::Authentication(e) => write!(f, "{e}"),
            Self::Connection(e) => write!(f, "manager connection: {e}"),
            Self::Process(e) => write!(f, "manager process: {e}"),
            Self::State(m) => write!(f, "manager: {m}"),
        }
    }
}

impl std::error::Error for ManagerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Codec(e) => Some(e),
            Self::Authentication(e) => Some(e),
            Self::Connection(e) => Some(e),
            Self::Process(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CodecError> for ManagerError {
    fn from(e: CodecError) -> Self {
        Self::Codec(e)
    }
}

impl From<ProcessError> for ManagerError {
    fn from(e: ProcessError) -> Self {
        Self::Process(e)
    }
}

impl From<ConnectionError> for ManagerError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Authentication(a) => Self::Authentication(a),
            ConnectionError::Codec(c) => Self::Codec(c),
            e => Self::Connection(e),
        }
    }
}

impl From<std::io::Error> for ManagerError {
    fn from(e: std::io::Error) -> Self {
        Self::Connection(ConnectionError::Io(e))
    }
}

impl From<Remote> for ManagerError {
    fn from(r: Remote) -> Self {
        match r {
            Remote::KeyError => Self::KeyError,
            Remote::IndexError => Self::IndexError,
            Remote::ValueError(m) => Self::ValueError(m),
            Remote::AttributeError(n) => Self::AttributeError(n),
            Remote::Empty => Self::Empty,
            Remote::Full => Self::Full,
            Remote::Runtime(m) => Self::Runtime(m),
            Remote::BrokenBarrier => Self::BrokenBarrier,
            Remote::NoSuchObject(id) => Self::Remote(format!("no object {id:#x} on the server")),
            Remote::WrongMethod(m) => Self::Remote(format!("method not supported: {m}")),
            Remote::UnknownTypeid(t) => Self::Remote(format!("unknown typeid {t:?}")),
            Remote::Method(m) => Self::Remote(m),
            Remote::Cancelled => Self::Remote("the call was cancelled".into()),
        }
    }
}
