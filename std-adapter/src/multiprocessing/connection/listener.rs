//! `Listener` and `Client`: connections between unrelated processes over a Unix socket
//! (a path, or a Linux abstract name) or TCP, authenticated with an `authkey`.
//!
//! Reference: CPython's `Listener`, `SocketListener`, `SocketClient`, `Client`,
//! `address_type` and `arbitrary_address` (`Lib/multiprocessing/connection.py`). The
//! differences: an address is one [`Address`] value parsed from text ([`From<&str>`]:
//! `host:port` is TCP, a leading NUL an abstract name, anything else a path) where
//! CPython tells a tuple from a string; a listener can bound the handshake of each
//! accepted client ([`Listener::set_handshake_timeout`]; CPython waits for ever for a
//! client that connects and says nothing).

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{self as unix, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::{answer_challenge, deliver_challenge, deliver_challenge_with, ChallengeDigest};
use super::{sys, Connection, ConnectionError};

/// An address family (Python's `'AF_INET'` and `'AF_UNIX'`).
///
/// ```
/// use conkit::multiprocessing::connection::{Address, Family};
/// assert_eq!(Address::from("localhost:6000").family(), Family::Inet);
/// assert_eq!(Address::from("/tmp/x.sock").family(), Family::Unix);
/// assert_eq!(Family::default(), Family::Unix); // CPython's `default_family` on Unix
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// TCP over IPv4 or IPv6 (`AF_INET`).
    Inet,
    /// Unix-domain sockets: paths and abstract names (`AF_UNIX`).
    #[default]
    Unix,
}

/// Where a [`Listener`] listens and a [`Client`] connects.
///
/// Built from text as CPython tells its address types apart: a string starting with
/// NUL is an abstract Unix name, `host:port` (a numeric port, no `/` anywhere; IPv6 in
/// brackets) is TCP, anything else is a socket path.
///
/// ```
/// use conkit::multiprocessing::connection::Address;
///
/// assert_eq!(
///     Address::from("127.0.0.1:5000"),
///     Address::Inet { host: "127.0.0.1".into(), port: 5000 }
/// );
/// assert_eq!(Address::from("[::1]:80"), Address::Inet { host: "::1".into(), port: 80 });
/// assert_eq!(Address::from("/run/app.sock"), Address::Unix("/run/app.sock".into()));
/// assert_eq!(Address::from("./a:1"), Address::Unix("./a:1".into()));
/// assert_eq!(Address::from("\0name"), Address::Abstract(b"name".to_vec()));
/// assert_eq!(Address::from("[::1]:80").to_string(), "[::1]:80");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A TCP host (name or IP) and port (Python's `(host, port)` tuple).
    Inet {
        /// Host name or IP address.
        host: String,
        /// Port (0: any free port, for a listener).
        port: u16,
    },
    /// A Unix socket path (an empty path: an unnamed peer, as `last_accepted` reports).
    Unix(PathBuf),
    /// A Linux abstract socket name (Python's address starting with `'\0'`), without
    /// the leading NUL.
    Abstract(Vec<u8>),
}

impl Address {
    /// The family of this address (Python's `address_type`).
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{Address, Family};
    /// assert_eq!(Address::Abstract(b"x".to_vec()).family(), Family::Unix);
    /// ```
    pub fn family(&self) -> Family {
        match self {
            Self::Inet { .. } => Family::Inet,
            Self::Unix(_) | Self::Abstract(_) => Family::Unix,
        }
    }

    fn from_unix(a: &unix::SocketAddr) -> Self {
        if let Some(p) = a.as_pathname() {
            Self::Unix(p.to_path_buf())
        } else if let Some(name) = a.as_abstract_name() {
            Self::Abstract(name.to_vec())
        } else {
            Self::Unix(PathBuf::new())
        }
    }
}

impl From<&str> for Address {
    fn from(s: &str) -> Self {
        if let Some(name) = s.strip_prefix('\0') {
            return Self::Abstract(name.as_bytes().to_vec());
        }
        if !s.contains('/') {
            if let Some((host, port)) = s.rsplit_once(':') {
                if let Ok(port) = port.parse::<u16>() {
                    let host = host
                        .strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(host);
                    if !host.is_empty() {
                        return Self::Inet {
                            host: host.to_string(),
                            port,
                        };
                    }
                }
            }
        }
        Self::Unix(PathBuf::from(s))
    }
}

impl From<String> for Address {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<&String> for Address {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<&Path> for Address {
    fn from(p: &Path) -> Self {
        Self::Unix(p.to_path_buf())
    }
}

impl From<&PathBuf> for Address {
    fn from(p: &PathBuf) -> Self {
        Self::Unix(p.clone())
    }
}

impl From<PathBuf> for Address {
    fn from(p: PathBuf) -> Self {
        Self::Unix(p)
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Self::Inet {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

impl From<(&str, u16)> for Address {
    fn from((host, port): (&str, u16)) -> Self {
        Self::Inet {
            host: host.to_string(),
            port,
        }
    }
}

impl From<&Address> for Address {
    fn from(a: &Address) -> Self {
        a.clone()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Inet { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(p) => write!(f, "{}", p.display()),
            Self::Abstract(n) => write!(f, "\0{}", String::from_utf8_lossy(n)),
        }
    }
}

/// A fresh address to listen on (Python's `arbitrary_address`): `localhost:0` for TCP
/// (the kernel picks the port), a new path in the temporary directory for Unix.
///
/// ```
/// use conkit::multiprocessing::connection::{arbitrary_address, Address, Family};
///
/// assert_eq!(
///     arbitrary_address(Family::Inet),
///     Address::Inet { host: "localhost".into(), port: 0 }
/// );
/// assert_ne!(arbitrary_address(Family::Unix), arbitrary_address(Family::Unix));
/// ```
pub fn arbitrary_address(family: Family) -> Address {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    match family {
        Family::Inet => Address::Inet {
            host: "localhost".into(),
            port: 0,
        },
        Family::Unix => {
            let mut r = [0u8; 6];
            let _ = sys::random_bytes(&mut r);
            let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            Address::Unix(
                std::env::temp_dir().join(format!("listener-{}-{n}-{tag}", std::process::id())),
            )
        }
    }
}

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Socket {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(l) => l.as_fd(),
            Self::Unix(l) => l.as_fd(),
        }
    }
}

/// A bound, listening socket that hands out authenticated [`Connection`]s (Python's
/// `multiprocessing.connection.Listener`). A Unix socket path is removed when the
/// listener is closed or dropped.
///
/// ```
/// use conkit::multiprocessing::connection::{Client, Family, Listener};
///
/// let mut listener = Listener::new(None, Some(Family::Inet), 1, Some(b"secret")).unwrap();
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || {
///     let mut c = Client(address, Some(b"secret")).unwrap();
///     c.send(&"hello").unwrap();
/// });
/// let mut conn = listener.accept().unwrap();
/// assert_eq!(conn.recv::<String>().unwrap(), "hello");
/// t.join().unwrap();
/// ```
pub struct Listener {
    socket: Option<Socket>,
    address: Address,
    authkey: Option<Vec<u8>>,
    digest: ChallengeDigest,
    handshake_timeout: Option<Duration>,
    last_accepted: Option<Address>,
    unlink: Option<PathBuf>,
}

impl Listener {
    /// Binds and listens (Python's `Listener(address, family, backlog, authkey)`):
    /// `address` `None` picks [`arbitrary_address`] of `family` (default: the family
    /// of `address`, else Unix); a non-empty `authkey` makes [`accept`](Self::accept)
    /// run the handshake (an empty key, like `None`, does not: as CPython's
    /// `if self._authkey`).
    ///
    /// ```
    /// use conkit::multiprocessing::connection::{Address, Listener};
    ///
    /// let l = Listener::new(Some("\0conkit-doc-listener".into()), None, 1, None).unwrap();
    /// assert_eq!(l.address(), &Address::Abstract(b"conkit-doc-listener".to_vec()));
    /// ```
    pub fn new(
        address: Option<Address>,
        family: Option<Family>,
        backlog: i32,
        authkey: Option<&[u8]>,
    ) -> Result<Self, ConnectionError> {
        let family = family
            .or(address.as_ref().map(Address::family))
            .unwrap_or_default();
        let address = address.unwrap_or_else(|| arbitrary_address(family));
        if address.family() != family {
            return Err(ConnectionError::InvalidArgument(format!(
                "address {address} is not of family {family:?}"
            )));
        }
        let (socket, address, unlink) = match &address {
            Address::Inet { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port))?;
                let bound = Address::from(l.local_addr()?);
                (Socket::Tcp(l), bound, None)
            }
            Address::Unix(path) => {
                let l = UnixListener::bind(path)?;
                (Socket::Unix(l), address.clone(), Some(path.clone()))
            }
            Address::Abstract(name) => {
                let a = unix::SocketAddr::from_abstract_name(name)?;
                let l = UnixListener::bind_addr(&a)?;
                (Socket::Unix(l), address.clone(), None)
            }
        };
        // std listens with its own backlog; CPython's is the caller's (1 by default).
        // SAFETY: a plain call on our listening socket.
        if unsafe {
            libc::listen(
                std::os::fd::AsRawFd::as_raw_fd(&socket.fd()),
                backlog.max(0),
            )
        } != 0
        {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(Self {
            socket: Some(socket),
            address,
            authkey: authkey.filter(|k| !k.is_empty()).map(<[u8]>::to_vec),
            digest: ChallengeDigest::default(),
            handshake_timeout: None,
            last_accepted: None,
            unlink,
        })
    }

    /// [`new`](Self::new) with the family of `address` and CPython's backlog of 1.
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::Listener;
    /// let l = Listener::bind("127.0.0.1:0", None).unwrap();
    /// assert_ne!(l.address().to_string(), "127.0.0.1:0"); // the port the kernel chose
    /// ```
    pub fn bind(
        address: impl Into<Address>,
        authkey: Option<&[u8]>,
    ) -> Result<Self, ConnectionError> {
        Self::new(Some(address.into()), None, 1, authkey)
    }

    /// The bound address (for TCP with the port the kernel chose; Python's `address`).
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{Address, Listener};
    /// let l = Listener::bind("localhost:0", None).unwrap();
    /// assert!(matches!(l.address(), Address::Inet { port, .. } if *port != 0));
    /// ```
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The peer address of the last accepted connection (Python's `last_accepted`; an
    /// empty path for an unnamed Unix peer).
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{Client, Listener};
    /// let mut l = Listener::bind("127.0.0.1:0", None).unwrap();
    /// assert!(l.last_accepted().is_none());
    /// let _c = Client(l.address(), None).unwrap();
    /// let _s = l.accept().unwrap();
    /// assert!(l.last_accepted().unwrap().to_string().starts_with("127.0.0.1:"));
    /// ```
    pub fn last_accepted(&self) -> Option<&Address> {
        self.last_accepted.as_ref()
    }

    /// Chooses the digest [`accept`](Self::accept) asks clients for (default SHA-256 as
    /// CPython ≥ 3.12; [`ChallengeDigest::Legacy`] behaves as CPython ≤ 3.11).
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{ChallengeDigest, Client, Listener};
    /// let mut l = Listener::bind("127.0.0.1:0", Some(b"k")).unwrap();
    /// l.set_challenge_digest(ChallengeDigest::Legacy);
    /// let a = l.address().clone();
    /// let t = std::thread::spawn(move || Client(a, Some(b"k")).map(drop));
    /// l.accept().unwrap();
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn set_challenge_digest(&mut self, digest: ChallengeDigest) {
        self.digest = digest;
    }

    /// Bounds each wait for a client's handshake frame during [`accept`](Self::accept)
    /// (`None`, the default: no bound, as CPython). A client that stays silent then
    /// makes `accept` return an error (`TimedOut`) instead of blocking for ever.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use std::net::TcpStream;
    /// # use conkit::multiprocessing::connection::{Listener, ConnectionError};
    /// let mut l = Listener::bind("127.0.0.1:0", Some(b"k")).unwrap();
    /// l.set_handshake_timeout(Some(Duration::from_millis(50)));
    /// let _silent = TcpStream::connect(l.address().to_string()).unwrap();
    /// assert!(matches!(l.accept(), Err(ConnectionError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut));
    /// ```
    pub fn set_handshake_timeout(&mut self, timeout: Option<Duration>) {
        self.handshake_timeout = timeout;
    }

    pub(super) fn socket_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        self.socket
            .as_ref()
            .map(Socket::fd)
            .ok_or(ConnectionError::Closed)
    }

    /// Waits for a client, runs the handshake when the listener has an authkey, and
    /// returns the connection (Python's `accept()`). A failed handshake — wrong key,
    /// garbage, a client that hung up — is an error for that client only; the
    /// listener goes on accepting.
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{Client, Listener};
    /// let mut l = Listener::bind("\0conkit-doc-accept", None).unwrap();
    /// let mut c = Client("\0conkit-doc-accept", None).unwrap();
    /// let mut s = l.accept().unwrap();
    /// c.send_bytes(b"ping").unwrap();
    /// assert_eq!(s.recv_bytes().unwrap(), b"ping");
    /// ```
    pub fn accept(&mut self) -> Result<Connection, ConnectionError> {
        let socket = self.socket.as_ref().ok_or(ConnectionError::Closed)?;
        let (fd, peer): (OwnedFd, Address) = match socket {
            Socket::Tcp(l) => {
                let (s, a) = l.accept()?;
                (s.into(), a.into())
            }
            Socket::Unix(l) => {
                let (s, a) = l.accept()?;
                (s.into(), Address::from_unix(&a))
            }
        };
        self.last_accepted = Some(peer);
        let mut conn = Connection::from_parts(fd, true, true, true);
        if let Some(key) = &self.authkey {
            let raw = conn.fileno()?;
            if self.handshake_timeout.is_some() {
                sys::set_recv_timeout(raw, self.handshake_timeout)?;
            }
            deliver_challenge_with(&mut conn, key, self.digest)
                .and_then(|()| answer_challenge(&mut conn, key))
                .map_err(timed_out)?;
            if self.handshake_timeout.is_some() {
                sys::set_recv_timeout(raw, None)?;
            }
        }
        Ok(conn)
    }

    /// Closes the socket and removes a Unix socket path (idempotent; Python's
    /// `close()`). Later [`accept`](Self::accept)s are [`ConnectionError::Closed`].
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::{Address, Family, Listener, ConnectionError};
    /// let mut l = Listener::new(None, Some(Family::Unix), 1, None).unwrap();
    /// let Address::Unix(path) = l.address().clone() else { unreachable!() };
    /// assert!(path.exists());
    /// l.close();
    /// assert!(!path.exists());
    /// assert!(matches!(l.accept(), Err(ConnectionError::Closed)));
    /// ```
    pub fn close(&mut self) {
        self.socket = None;
        if let Some(path) = self.unlink.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A receive time-out (`SO_RCVTIMEO` reports `EAGAIN`) as `TimedOut`.
fn timed_out(e: ConnectionError) -> ConnectionError {
    match e {
        ConnectionError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            ConnectionError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client's handshake timed out",
            ))
        }
        e => e,
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("closed", &self.socket.is_none())
            .field("authenticated", &self.authkey.is_some())
            .finish()
    }
}

/// Connects to a [`Listener`] (Python's `multiprocessing.connection.Client(address,
/// authkey=...)`; the family is the address's). With `Some(authkey)` — even an empty
/// one, as CPython — the handshake runs: the listener's challenge is answered, then the
/// listener is challenged; a wrong key is [`ConnectionError::Authentication`].
///
/// ```no_run
/// use conkit::multiprocessing::connection::Client;
///
/// let mut conn = Client("localhost:6000", Some(b"secret password")).unwrap();
/// conn.send_bytes(b"hello").unwrap();
/// println!("{:?}", conn.recv_bytes().unwrap());
/// ```
#[allow(non_snake_case)]
pub fn Client(
    address: impl Into<Address>,
    authkey: Option<&[u8]>,
) -> Result<Connection, ConnectionError> {
    let fd: OwnedFd = match address.into() {
        Address::Inet { host, port } => TcpStream::connect((host.as_str(), port))?.into(),
        Address::Unix(path) => UnixStream::connect(path)?.into(),
        Address::Abstract(name) => {
            UnixStream::connect_addr(&unix::SocketAddr::from_abstract_name(name)?)?.into()
        }
    };
    let mut conn = Connection::from_parts(fd, true, true, true);
    if let Some(key) = authkey {
        answer_challenge(&mut conn, key)?;
        deliver_challenge(&mut conn, key)?;
    }
    Ok(conn)
}
