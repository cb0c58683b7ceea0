//! The client side: each thread of each process keeps one connection per server
//! (CPython keeps one per proxy and thread), made on first use; a call is one request
//! and one reply on it, so a blocking call blocks only the calling thread. Async calls
//! ([`await_call`]) use a connection each, from a per-process pool; a condition's
//! async wait ([`await_on_thread`]) uses the thread's.
//! [`Token`]: one reference to an object on a server, counted there.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ManagerError;
use super::protocol::{Kind, Op, Reply, Request};
use crate::multiprocessing::codec;
use crate::multiprocessing::connection::{Address, Client, Connection, ConnectionError};

/// How long a client polls for a reply before it sleeps: not at all (as CPython). The
/// server does work between request and reply; on a shared 2-core guest, set+get
/// round trips ran ~1.3x faster without the spin (6 interleaved pairs).
const SPIN: std::time::Duration = std::time::Duration::ZERO;

/// Where a server is and the key to talk to it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub(crate) address: Address,
    pub(crate) authkey: Option<Vec<u8>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A kept connection: process id, server address, the connection, and the condition
/// whose `Await(Wait)` was cancelled on it and whose reply is still to be read.
type Kept = (u32, Address, Connection, Option<u64>);

thread_local! {
    /// This thread's connections. An entry made by another process (a `fork` copied
    /// this thread) is forgotten, never used or closed: its descriptor number is not
    /// this process's.
    static CONNECTIONS: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

fn take(address: &Address) -> Option<Connection> {
    let pid = std::process::id();
    let (conn, stale) = CONNECTIONS
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            let mut i = 0;
            while i < c.len() {
                if c[i].0 != pid {
                    let (_, _, stale, _) = c.swap_remove(i);
                    std::mem::forget(stale);
                    continue;
                }
                if c[i].1 == *address {
                    let (_, _, conn, stale) = c.swap_remove(i);
                    return Some((conn, stale));
                }
                i += 1;
            }
            None
        })
        .ok()
        .flatten()?;
    match stale {
        None => Some(conn),
        Some(id) => settle(conn, id),
    }
}

/// Reads the reply of a cancelled condition wait (the server answers a `Cancel` at
/// once, or as soon as it has the condition's lock back) and passes on a notify the
/// wait had received; `None` (the connection closed) if that fails.
fn settle(mut conn: Connection, id: u64) -> Option<Connection> {
    match conn.recv::<Reply>().ok()? {
        Reply::Bool(true) => {
            conn.send(&Request::Call(id, Op::Notify(1))).ok()?;
            conn.recv::<Reply>().ok()?;
            Some(conn)
        }
        _ => Some(conn),
    }
}

fn put_back(address: &Address, conn: Connection) {
    keep(address, conn, None);
}

fn keep(address: &Address, conn: Connection, stale: Option<u64>) {
    let entry = (std::process::id(), address.clone(), conn, stale);
    let _ = CONNECTIONS.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.push(entry);
        }
    });
}

/// Forgets this thread's connection to `address` (closes it).
pub(crate) fn forget(address: &Address) {
    drop(take(address));
}

/// Sends `request` to the server at `ep` and returns its reply (server-side errors as
/// `Err`).
pub(crate) fn request(ep: &Endpoint, request: &Request) -> Result<Reply, ManagerError> {
    let connect = || connect(ep);
    let exchange = |conn: &mut Connection| -> Result<Reply, ConnectionError> {
        conn.send(request)?;
        conn.recv()
    };
    let (mut conn, cached) = match take(&ep.address) {
        Some(c) => (c, true),
        None => (connect()?, false),
    };
    let reply = match exchange(&mut conn) {
        Ok(r) => r,
        // A kept connection whose server is gone or shut down (then restarted at the
        // same address): nothing was done there; try once on a new connection.
        Err(e) if cached && is_gone(&e) => {
            conn = connect()?;
            exchange(&mut conn)?
        }
        Err(e) => return Err(e.into()),
    };
    put_back(&ep.address, conn);
    match reply {
        Reply::Error(e) => Err(e.into()),
        r => Ok(r),
    }
}

fn connect(ep: &Endpoint) -> Result<Connection, ManagerError> {
    let mut c = Client(&ep.address, ep.authkey.as_deref())?;
    c.set_spin(SPIN);
    Ok(c)
}

/// The connections of this process's finished async calls, for the next ones (any
/// thread): (process id, server address, connection).
static POOL: Mutex<Vec<(u32, Address, Connection)>> = Mutex::new(Vec::new());

/// How many idle connections [`POOL`] keeps per process (more are closed).
const POOL_MAX: usize = 16;

fn pool() -> std::sync::MutexGuard<'static, Vec<(u32, Address, Connection)>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn pool_take(address: &Address) -> Option<Connection> {
    let pid = std::process::id();
    let mut p = pool();
    // Entries of the parent (copied by `fork`) are forgotten, never closed.
    let mut i = 0;
    while i < p.len() {
        if p[i].0 != pid {
            std::mem::forget(p.swap_remove(i).2);
        } else {
            i += 1;
        }
    }
    let i = p.iter().position(|e| e.1 == *address)?;
    Some(p.swap_remove(i).2)
}

fn pool_put(address: &Address, conn: Connection) {
    let mut p = pool();
    if p.len() < POOL_MAX {
        p.push((std::process::id(), address.clone(), conn));
    }
}

/// An async call's socket while its reply is awaited: shut down if the future is
/// dropped before, so that the server sees the end of file at once (a plain close
/// waits for this process's recv proxy thread, which may be in `poll(2)` on the
/// descriptor, to return: up to its 100 ms slice, during which the server could
/// complete the call for a future that is gone).
struct InFlight(Option<std::os::fd::RawFd>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(fd) = self.0 {
            // SAFETY: `fd` is the call's connection's descriptor, still open (the
            // connection is dropped after this guard).
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }
}

/// An async call (`Request::Await`): on a connection of its own (from [`POOL`], or a
/// new one), given back to the pool once the reply is read. A future dropped before
/// that closes the connection with it: the server cancels the call (see
/// `Request::Await`). The item of a `QueueGet` is acknowledged in the poll that reads
/// it.
pub(crate) async fn await_call(ep: &Endpoint, id: u64, op: Op) -> Result<Reply, ManagerError> {
    let ack = matches!(op, Op::QueueGet(..));
    let req = Request::Await(id, op);
    let (mut conn, cached) = match pool_take(&ep.address) {
        Some(c) => (c, true),
        None => (connect(ep)?, false),
    };
    if let Err(e) = conn.send(&req) {
        if !(cached && is_gone(&e)) {
            return Err(e.into());
        }
        conn = connect(ep)?;
        conn.send(&req)?;
    }
    let mut flying = InFlight(conn.fileno().ok());
    let reply: Reply = match conn.recv_async().await {
        Ok(r) => r,
        // A pooled connection whose server went away between calls: nothing was done.
        Err(e) if cached && is_gone(&e) => {
            conn = connect(ep)?;
            flying.0 = conn.fileno().ok();
            conn.send(&req)?;
            conn.recv_async().await?
        }
        Err(e) => return Err(e.into()),
    };
    if ack && matches!(reply, Reply::Bytes(_)) {
        conn.send(&Request::Ack)?;
    }
    flying.0 = None;
    pool_put(&ep.address, conn);
    match reply {
        Reply::Error(e) => Err(e.into()),
        r => Ok(r),
    }
}

/// A condition wait's place on this thread's connection; a future dropped before the
/// reply sends `Cancel` and leaves the reply to [`settle`].
struct Flight<'a> {
    address: &'a Address,
    id: u64,
    conn: Option<Connection>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if conn.send(&Request::Cancel).is_ok() {
                keep(self.address, conn, Some(self.id));
            }
        }
    }
}

/// An async condition wait (`Request::Await(id, Wait)`) on this thread's connection —
/// the one whose server thread owns the condition's lock, as for the blocking `wait`.
pub(crate) async fn await_on_thread(ep: &Endpoint, id: u64, op: Op) -> Result<Reply, ManagerError> {
    let conn = match take(&ep.address) {
        Some(c) => c,
        None => connect(ep)?,
    };
    let mut flight = Flight {
        address: &ep.address,
        id,
        conn: Some(conn),
    };
    let conn = flight
        .conn
        .as_mut()
        .ok_or(ManagerError::State("no connection".into()))?;
    if let Err(e) = conn.send(&Request::Await(id, op)) {
        flight.conn = None;
        return Err(e.into());
    }
    let reply = conn.recv_async::<Reply>().await;
    let conn = flight.conn.take();
    let reply = match (reply, conn) {
        (Ok(r), Some(c)) => {
            put_back(&ep.address, c);
            r
        }
        (Err(e), _) => return Err(e.into()),
        (Ok(_), None) => return Err(ManagerError::State("no connection".into())),
    };
    match reply {
        Reply::Error(e) => Err(e.into()),
        r => Ok(r),
    }
}

fn is_gone(e: &ConnectionError) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    match e {
        ConnectionError::Eof => true,
        ConnectionError::Io(e) => matches!(e.kind(), BrokenPipe | ConnectionReset),
        _ => false,
    }
}

/// One reference to an object on a manager's server (Python's `Token` plus its
/// reference): the server keeps the object while references exist. Proxies share one
/// token (cloning a proxy is free); the last drop gives the reference back.
///
/// A token serialises with its server's address and authkey, taking one more
/// reference on the server for the copy (the receiver adopts it): that is how a proxy
/// passed as a [`Process`](crate::multiprocessing::Process) or
/// [`Pool`](crate::multiprocessing::Pool) argument, or put in a manager queue, reaches
/// the same object. The authkey travelling with it differs from CPython (which sends
/// it only to a child it spawns and otherwise relies on the receiver's own
/// `current_process().authkey`): send proxies only to parties you would give the key.
/// A serialisation that is never deserialised leaves that reference (and the object)
/// on the server until it shuts down.
pub struct Token {
    ep: Arc<Endpoint>,
    id: u64,
    kind: Kind,
}

impl Token {
    pub(crate) fn new(ep: Arc<Endpoint>, id: u64, kind: Kind) -> Token {
        Token { ep, id, kind }
    }

    pub(crate) fn from_reply(
        ep: &Arc<Endpoint>,
        reply: Reply,
        want: &str,
    ) -> Result<Token, ManagerError> {
        match reply {
            Reply::Object(id, kind) => {
                let token = Token::new(ep.clone(), id, kind);
                if token.kind.name() != want {
                    return Err(ManagerError::Remote(format!(
                        "the object is a {}, not a {want}",
                        token.kind.name()
                    )));
                }
                Ok(token)
            }
            r => Err(unexpected(r)),
        }
    }

    /// The object's id on its server.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let a = m.list::<u8>().unwrap();
    /// let b = m.list::<u8>().unwrap();
    /// assert_ne!(a.token().id(), b.token().id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the object is.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::{Kind, Manager}};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// assert_eq!(m.event().unwrap().token().kind(), &Kind::Event);
    /// ```
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The address of the object's server.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// assert_eq!(m.dict::<u8, u8>().unwrap().token().address(), m.address().unwrap());
    /// ```
    pub fn address(&self) -> &Address {
        &self.ep.address
    }

    pub(crate) fn call(&self, op: Op) -> Result<Reply, ManagerError> {
        request(&self.ep, &Request::Call(self.id, op))
    }

    /// `op` as an async call on a connection of its own (see [`await_call`]).
    pub(crate) async fn call_async(&self, op: Op) -> Result<Reply, ManagerError> {
        await_call(&self.ep, self.id, op).await
    }

    /// `op` as an async call on this thread's connection (see [`await_on_thread`]).
    pub(crate) async fn call_async_on_thread(&self, op: Op) -> Result<Reply, ManagerError> {
        await_on_thread(&self.ep, self.id, op).await
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // Best effort: the server may be gone.
        let _ = request(&self.ep, &Request::Decref(self.id));
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("kind", &self.kind.name())
            .field("id", &self.id)
            .field("address", &self.ep.address)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    ep: Endpoint,
    id: u64,
    kind: Kind,
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        request(&self.ep, &Request::Incref(self.id))
            .map_err(|e| serde::ser::Error::custom(format!("manager proxy: {e}")))?;
        Wire {
            ep: (*self.ep).clone(),
            id: self.id,
            kind: self.kind.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(Token::new(Arc::new(w.ep), w.id, w.kind))
    }
}

pub(crate) fn unexpected(r: Reply) -> ManagerError {
    ManagerError::Remote(format!("unexpected reply {r:?}"))
}

pub(crate) fn enc<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, ManagerError> {
    Ok(codec::to_bytes(v)?)
}

pub(crate) fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, ManagerError> {
    Ok(codec::from_bytes(b)?)
}

impl Reply {
    pub(crate) fn unit(self) -> Result<(), ManagerError> {
        match self {
            Reply::Unit => Ok(()),
            r => Err(unexpected(r)),
        }
    }
    pub(crate) fn boolean(self) -> Result<bool, ManagerError> {
        match self {
            Reply::Bool(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }
    pub(crate) fn count(self) -> Result<usize, ManagerError> {
        match self {
            Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            r => Err(unexpected(r)),
        }
    }
    pub(crate) fn value<T: DeserializeOwned>(self) -> Result<T, ManagerError> {
        match self {
            Reply::Bytes(b) => dec(&b),
            r => Err(unexpected(r)),
        }
    }
    pub(crate) fn values<T: DeserializeOwned>(self) -> Result<Vec<T>, ManagerError> {
        match self {
            Reply::Many(v) => v.iter().map(|b| dec(b)).collect(),
            r => Err(unexpected(r)),
        }
    }
}
