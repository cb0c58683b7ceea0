//! Python's `multiprocessing.managers`: [`Manager()`](Manager), [`SyncManager`],
//! [`BaseManager`] — objects held by a server process, used from any process (or any
//! machine, over TCP) through typed proxies.
//!
//! Reference: CPython's `Lib/multiprocessing/managers.py`. The server listens on a
//! [`Listener`](super::connection::Listener) (a fresh Unix socket by default; TCP for
//! an `address` such as `"127.0.0.1:5000"`), authenticates every client with the
//! manager's `authkey` (CPython's HMAC handshake), and serves each connection on its
//! own thread; requests and replies are serde enums over a
//! [`super::Connection`]. [`Manager()`](Manager) and
//! [`BaseManager::start`] run the server in a child [`super::Process`]
//! (a daemon: it dies with its parent, even a SIGKILLed one — start the manager from a
//! thread that outlives it, see [`Process::daemon`](super::Process::daemon)), and
//! learn its address over a [`super::Pipe`]; [`BaseManager::get_server`] +
//! [`Server::serve_forever`] serve in the calling process; [`BaseManager::connect`]
//! attaches to a running server.
//!
//! The server holds collections type-erased, as the [`codec`](super::codec) encoding of
//! their items (so dict keys compare by their encoded bytes: see [`DictProxy`]), and the
//! synchronisation kinds as real [`threading`](crate::threading) and
//! [`queue`](crate::queue) objects. Proxies are typed on the client
//! ([`DictProxy<K, V>`](DictProxy), [`ListProxy<T>`](ListProxy), …); a value read as
//! the wrong type is [`ManagerError::Codec`], never a panic. Proxies serialise (address,
//! authkey, object id; see [`Token`]), so they can be passed as
//! [`super::Process`] and [`super::Pool`] arguments or through a manager
//! queue: the receiver connects to the server itself.
//!
//! | Python | conkit |
//! |---|---|
//! | `with multiprocessing.Manager() as m:` | `let m = Manager()?;` (dropped: shut down) |
//! | `m.dict()`, `m.list()`, `m.Namespace()` | [`m.dict::<K, V>()`](BaseManager::dict), [`m.list::<T>()`](BaseManager::list), [`m.namespace()`](BaseManager::namespace) |
//! | `m.Value(typecode, v)`, `m.Array(typecode, seq)` | [`m.value(v)`](BaseManager::value), [`m.array(seq)`](BaseManager::array) |
//! | `m.Queue(maxsize)`, `m.JoinableQueue()` | [`m.queue::<T>(maxsize)`](BaseManager::queue), [`m.joinable_queue::<T>(maxsize)`](BaseManager::joinable_queue) |
//! | `m.Lock()`, `m.RLock()`, `m.Semaphore(n)`, `m.BoundedSemaphore(n)`, `m.Condition()`, `m.Event()`, `m.Barrier(n)` | [`m.lock()`](BaseManager::lock), [`rlock`](BaseManager::rlock), [`semaphore(n)`](BaseManager::semaphore), [`bounded_semaphore(n)`](BaseManager::bounded_semaphore), [`condition`](BaseManager::condition), [`event`](BaseManager::event), [`barrier(n)`](BaseManager::barrier) |
//! | `d[k]`, `d[k] = v`, `d.get(k, default)`, `k in d`, `len(d)` | [`d.get(k)`](DictProxy::get), [`d.set(k, v)`](DictProxy::set), [`d.get_or(k, default)`](DictProxy::get_or), [`d.contains(k)`](DictProxy::contains), [`d.len()`](DictProxy::len) |
//! | `ns.x`, `ns.x = v` | [`ns.get::<T>("x")`](NamespaceProxy::get), [`ns.set("x", &v)`](NamespaceProxy::set) |
//! | `v.value`, `v.value = x` | [`v.value()`](ValueProxy::value), [`v.set(x)`](ValueProxy::set) |
//! | `class QM(BaseManager): pass` + `QM.register('get_q', callable=lambda: q)` | [`m.register("get_q", Kind::Queue { maxsize: 0 })`](BaseManager::register) (one shared object) |
//! | `QM.register('Foo', Foo)` (a new object per call) | [`m.register_factory("Foo", kind)`](BaseManager::register_factory); a user type: [`m.register_managed("Foo", make_foo, false)`](BaseManager::register_managed) + [`Managed`], [`ManagedProxy::call`] |
//! | client: `QM.register('get_q')`, `m.connect()`, `m.get_q()` | [`m.register_typeid("get_q")`](BaseManager::register_typeid), [`m.connect()`](BaseManager::connect), [`m.get::<QueueProxy<T>>("get_q")`](BaseManager::get) |
//! | `m.get_server().serve_forever()`, `m.shutdown()`, `m.address` | [`get_server`](BaseManager::get_server), [`Server::serve_forever`], [`shutdown`](BaseManager::shutdown), [`address`](BaseManager::address) |
//!
//! Differences from CPython:
//! - Not Python-compatible: values are serde/[`postcard`] bytes, not pickles; a CPython
//!   client cannot talk to a conkit server (the handshake is the same, the requests
//!   are not).
//! - `register(typeid, callable, proxytype, exposed)`: the callable is a [`Kind`] (one
//!   of the built-in kinds) or, for the user's own type, a constructor
//!   `fn() -> Box<dyn Managed>` ([`register_managed`](BaseManager::register_managed));
//!   a [`Managed`] type dispatches its methods by name itself (no `exposed` list, no
//!   attribute access, no custom `proxytype`: the client's [`ManagedProxy::call`] names
//!   the method and types its arguments and result per call). A constructor must be a
//!   function of the program (the server process runs the same executable); a lambda
//!   capturing an object of the parent has no counterpart (register a shared [`Kind`]
//!   or a shared managed type instead).
//! - Registered typeids are reached with [`BaseManager::get`] instead of a generated
//!   method `m.get_task_queue()`.
//! - Async forms of the waiting calls (see [Async forms](#async-forms)); CPython's
//!   proxies have none.
//! - A client that goes away gives back what it held: a manager [`LockProxy`] it
//!   acquired, its [`RLockProxy`]/[`ConditionProxy`] ownership, the semaphore permits it
//!   acquired that nobody released since — a release by a client that holds none pays
//!   for the oldest holder's permit, so a permit is never given back twice (CPython
//!   keeps them held for ever). Its object references stay counted (CPython's too).
//! - Proxies carry the authkey when serialised (see [`Token`]); CPython relies on the
//!   receiving process's `current_process().authkey`.
//! - Each client thread uses one connection per server, shared by its proxies (CPython:
//!   one per proxy and thread).
//! - [`Server::serve_forever`] returns after a shutdown request (CPython exits the
//!   process).
//!
//! # Async forms
//! Every waiting proxy call has an async form (issue #14), awaited on any executor
//! (tokio, smol, a hand-written `block_on`) without blocking its thread and without a
//! runtime dependency — the reply is awaited as
//! [`Connection::recv_async`](super::Connection::recv_async) awaits a message:
//!
//! | Python (a coroutine today) | conkit |
//! |---|---|
//! | `await loop.run_in_executor(None, q.get)` / `q.put` / `q.join` | [`QueueProxy::get_async`] / [`put_async`](QueueProxy::put_async) / [`join_async`](QueueProxy::join_async), and `get_timeout_async`, `put_timeout_async`, `join_timeout_async` |
//! | `… run_in_executor(None, lock.acquire)` | [`LockProxy::acquire_async`], `acquire_timeout_async`, [`lock_async`](LockProxy::lock_async) (a [`ProxyGuard`]); the same on [`RLockProxy`], [`SemaphoreProxy`], [`BoundedSemaphoreProxy`], [`ConditionProxy`] |
//! | `… run_in_executor(None, event.wait)` | [`EventProxy::wait_async`], `wait_timeout_async` |
//! | `… run_in_executor(None, cond.wait)` | [`ConditionProxy::wait_async`], `wait_timeout_async` |
//! | `… run_in_executor(None, barrier.wait)` | [`BarrierProxy::wait_async`] |
//!
//! How: an async call goes over a connection of its own (kept in a per-process pool
//! for the next async call once its reply is read; a new one costs a connect and the
//! handshake, made in the first poll), and the server serves it by awaiting the
//! object's own async form ([`queue::Queue::get_async`](crate::queue::Queue::get_async),
//! [`threading::Semaphore::acquire_async`](crate::threading::Semaphore::acquire_async),
//! …) on that connection's thread, watching the connection meanwhile.
//!
//! **Cancellation** (a future dropped after its request was sent): the future's
//! connection is shut down, the server sees it at once and drops its side of the call,
//! with the object's own cancellation rules. Nothing is lost:
//! - `get_async`: an item is the caller's only once the future returned it (the
//!   client acknowledges it in that poll); an item taken for a dropped future goes back
//!   to the queue, at its end.
//! - `put_async`: either the item was put (the server had accepted it) or nothing was;
//!   the caller keeps its `&item` in both cases.
//! - `acquire_async` and the like: the wait takes nothing (the server acquires and
//!   releases at once, a pass-through; the acquisition itself is a non-blocking
//!   `try_acquire` on this thread's connection, as [`LockProxy::acquire`]'s, so it is
//!   this thread's to release). A dropped future holds nothing and swallowed no
//!   release. Not fair: a release goes to whoever tries first.
//! - `EventProxy::wait_async`, `join_async`: the waits take nothing.
//! - `ConditionProxy::wait_async`: on this thread's connection (whose server thread
//!   owns the condition's lock); a dropped wait sends a cancel, the server cancels the
//!   threading condition's wait (asyncio's rules: a notify it had received is passed on
//!   to another waiter, and the lock is held again).
//! - `BarrierProxy::wait_async`: the party withdraws (asyncio's rule), unless the round
//!   had completed with it.
//!
//! Cost: a pending call holds a connection and a server thread (as a blocking call
//! does), and this process's recv proxy thread for that connection (one per pending
//! call: see [`connection`](super::connection#async-forms)).
//!
//! ```
//! use conkit::multiprocessing::{self as mp, managers::Manager};
//! mp::init();
//! let m = Manager().unwrap();
//! let q = m.queue::<u32>(0).unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     // A get dropped by a timeout: no item is lost to it.
//!     let r = tokio::time::timeout(std::time::Duration::from_millis(10), q.get_async()).await;
//!     assert!(r.is_err());
//!     q.put(&1).unwrap();
//!     assert_eq!(q.get_async().await.unwrap(), 1);
//! });
//! ```
//!
//! ```
//! use conkit::multiprocessing::{self as mp, managers::{DictProxy, Manager}, Process};
//!
//! fn worker((id, d): (u32, DictProxy<String, u32>)) {
//!     d.set(&format!("worker {id}"), id * 10).unwrap();
//! }
//!
//! mp::init();
//! let manager = Manager().unwrap();
//! let d = manager.dict::<String, u32>().unwrap();
//! let mut children: Vec<Process> = (0..3).map(|i| Process::new(worker, (i, d.clone()))).collect();
//! for p in &mut children {
//!     p.start().unwrap();
//! }
//! for p in &mut children {
//!     p.join().unwrap();
//! }
//! assert_eq!(d.len().unwrap(), 3);
//! assert_eq!(d.get("worker 2").unwrap(), 20);
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod client;
mod error;
mod managed;
mod protocol;
mod proxies;
mod server;

pub use client::Token;
pub use error::ManagerError;
pub use managed::{decode_args, encode_reply, Managed};
pub use protocol::Kind;
pub use proxies::{
    ArrayProxy, BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, DictProxy, EventProxy,
    ListProxy, LockProxy, ManagedProxy, NamespaceProxy, Proxy, ProxyGuard, QueueProxy, RLockProxy,
    SemaphoreProxy, ValueProxy,
};
pub use server::Server;

use client::{enc, forget, request, Endpoint};
use protocol::Request;
use server::Registration;

use super::connection::{random_bytes, Address, Client, Connection};
use super::{Pipe, Process};

/// `JoinableQueue` proxies are [`QueueProxy`]s (Python's `queue.Queue` has
/// `task_done`/`join`).
pub type JoinableQueueProxy<T> = QueueProxy<T>;

/// Python's `SyncManager`: [`BaseManager`] already has its methods (`dict`, `list`,
/// `lock`, `queue`, …).
pub type SyncManager = BaseManager;

/// A started [`SyncManager`] with a fresh Unix socket address and a random authkey
/// (Python's `multiprocessing.Manager()`). Dropping it shuts the server down (the end
/// of Python's `with` block).
///
/// ```
/// use conkit::multiprocessing::{self as mp, managers::Manager};
/// mp::init();
/// let manager = Manager().unwrap();
/// let l = manager.list::<u32>().unwrap();
/// l.append(&1).unwrap();
/// assert_eq!(l.to_vec().unwrap(), [1]);
/// ```
///
/// # Errors
/// The server process could not start.
#[allow(non_snake_case)]
pub fn Manager() -> Result<SyncManager, ManagerError> {
    let mut m = SyncManager::default();
    m.start()?;
    Ok(m)
}

enum State {
    Initial,
    Started(Process, Arc<Endpoint>),
    Connected(Arc<Endpoint>),
    Shutdown,
}

/// Python's `BaseManager(address, authkey)`: a server of shared objects, started in a
/// child process ([`start`](Self::start)), served in this one
/// ([`get_server`](Self::get_server)), or reached over the network
/// ([`connect`](Self::connect)). See the [module](self) documentation.
///
/// ```
/// use conkit::multiprocessing::{self as mp, managers::{BaseManager, Kind, QueueProxy}};
/// mp::init();
/// let mut master = BaseManager::new("127.0.0.1:0", b"abc");
/// master.register("get_task_queue", Kind::Queue { maxsize: 0 });
/// master.start().unwrap();
/// let address = master.address().unwrap().clone();
///
/// let mut worker = BaseManager::new(address, b"abc");
/// worker.register_typeid("get_task_queue");
/// worker.connect().unwrap();
/// let task: QueueProxy<u32> = worker.get("get_task_queue").unwrap();
/// task.put(&5).unwrap();
/// let same: QueueProxy<u32> = master.get("get_task_queue").unwrap();
/// assert_eq!(same.get().unwrap(), 5);
/// ```
pub struct BaseManager {
    address: Option<Address>,
    authkey: Vec<u8>,
    registry: Vec<(String, Registration)>,
    state: State,
}

impl Default for BaseManager {
    /// A manager that will listen on a fresh Unix socket, with a random 32-byte
    /// authkey (CPython: `current_process().authkey`).
    fn default() -> Self {
        let mut key = vec![0u8; 32];
        if random_bytes(&mut key).is_err() {
            // getrandom cannot fail on Linux ≥ 3.17; fall back to something unguessable
            // enough rather than panicking.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            key = format!("{t:x}-{}", std::process::id()).into_bytes();
        }
        BaseManager {
            address: None,
            authkey: key,
            registry: Vec::new(),
            state: State::Initial,
        }
    }
}

impl std::fmt::Debug for BaseManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Initial => "initial",
            State::Started(..) => "started",
            State::Connected(_) => "connected",
            State::Shutdown => "shutdown",
        };
        f.debug_struct("BaseManager")
            .field("address", &self.address())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct ServerArgs {
    address: Option<Address>,
    authkey: Vec<u8>,
    registry: Vec<(String, Registration)>,
    reply: Connection,
}

/// The manager's server process.
fn run_server(args: ServerArgs) {
    let ServerArgs {
        address,
        authkey,
        registry,
        mut reply,
    } = args;
    match server::Server::new(address, Some(authkey), registry) {
        Ok(server) => {
            let sent = reply.send(&Ok::<Address, String>(server.address().clone()));
            drop(reply);
            if sent.is_ok() {
                if let Err(e) = server.serve_forever() {
                    log::error!("manager server: {e}");
                }
            }
        }
        Err(e) => {
            let _ = reply.send(&Err::<Address, String>(e.to_string()));
        }
    }
}

impl BaseManager {
    /// A manager for `address` (`"host:port"` for TCP, `"127.0.0.1:0"` for any free
    /// port, a path for a Unix socket) with `authkey` (Python's
    /// `BaseManager(address=..., authkey=...)`).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::BaseManager;
    /// let m = BaseManager::new(("127.0.0.1", 5000), b"abc");
    /// assert_eq!(m.address().unwrap().to_string(), "127.0.0.1:5000");
    /// ```
    pub fn new(address: impl Into<Address>, authkey: impl AsRef<[u8]>) -> BaseManager {
        BaseManager {
            address: Some(address.into()),
            authkey: authkey.as_ref().to_vec(),
            registry: Vec::new(),
            state: State::Initial,
        }
    }

    /// Registers `typeid` on the server side: every [`get`](Self::get) of it returns
    /// the same object, created on first use (Python's `register(typeid,
    /// callable=lambda: obj)`). Register before [`start`](Self::start) or
    /// [`get_server`](Self::get_server).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::{BaseManager, Kind};
    /// let mut m = BaseManager::default();
    /// m.register("get_result_queue", Kind::Queue { maxsize: 0 });
    /// ```
    pub fn register(&mut self, typeid: &str, kind: Kind) -> &mut Self {
        self.add(typeid, Some(kind), true)
    }

    /// Registers `typeid` so that every [`get`](Self::get) creates a new object (Python's
    /// `register(typeid, callable=SomeClass)`).
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::{BaseManager, Kind, ListProxy}};
    /// # mp::init();
    /// let mut m = BaseManager::default();
    /// m.register_factory("List", Kind::List);
    /// m.start().unwrap();
    /// let a: ListProxy<u8> = m.get("List").unwrap();
    /// let b: ListProxy<u8> = m.get("List").unwrap();
    /// a.append(&1).unwrap();
    /// assert_eq!(b.len().unwrap(), 0);
    /// ```
    pub fn register_factory(&mut self, typeid: &str, kind: Kind) -> &mut Self {
        self.add(typeid, Some(kind), false)
    }

    /// Registers `typeid` on a client (Python's `register(typeid)` without a callable):
    /// [`get`](Self::get) asks the server for it.
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::BaseManager;
    /// let mut m = BaseManager::new("127.0.0.1:5000", b"abc");
    /// m.register_typeid("get_task_queue");
    /// ```
    pub fn register_typeid(&mut self, typeid: &str) -> &mut Self {
        self.add(typeid, None, true)
    }

    /// Registers `typeid` for objects of the user's type made by `make` (Python's
    /// `register('Counter', Counter)`; `shared`: one object for every
    /// [`get`](Self::get), as `callable=lambda: obj`): see [`Managed`]. `make` must be a
    /// function of this program (the server process runs the same executable).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::{BaseManager, Managed};
    /// struct Nothing;
    /// impl Managed for Nothing {
    ///     fn call(&mut self, m: &str, _: &[u8]) -> Result<Vec<u8>, String> {
    ///         Err(format!("no method {m}"))
    ///     }
    /// }
    /// fn make() -> Box<dyn Managed> {
    ///     Box::new(Nothing)
    /// }
    /// BaseManager::default().register_managed("Nothing", make, true);
    /// ```
    pub fn register_managed(
        &mut self,
        typeid: &str,
        make: fn() -> Box<dyn Managed>,
        shared: bool,
    ) -> &mut Self {
        let offset = super::process::fn_offset(make as usize);
        self.add(typeid, Some(Kind::Managed), shared);
        if let Some((_, reg)) = self.registry.last_mut() {
            reg.make = Some(offset);
        }
        self
    }

    fn add(&mut self, typeid: &str, kind: Option<Kind>, shared: bool) -> &mut Self {
        self.registry.retain(|(t, _)| t != typeid);
        let reg = Registration {
            kind,
            shared,
            make: None,
        };
        self.registry.push((typeid.to_string(), reg));
        self
    }

    /// The server's address: once started, the one it listens on (for TCP port 0,
    /// with the port the kernel chose); before, the one given (`None` for a default
    /// manager not yet started).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::BaseManager;
    /// assert!(BaseManager::default().address().is_none());
    /// ```
    pub fn address(&self) -> Option<&Address> {
        match &self.state {
            State::Started(_, ep) | State::Connected(ep) => Some(&ep.address),
            _ => self.address.as_ref(),
        }
    }

    /// The server process's id, for a [`start`](Self::start)ed manager (CPython's
    /// `m._process.pid`).
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// assert_ne!(Manager().unwrap().process_id(), Some(std::process::id()));
    /// ```
    pub fn process_id(&self) -> Option<u32> {
        match &self.state {
            State::Started(p, _) => p.pid(),
            _ => None,
        }
    }

    /// The authkey (give it to the processes that [`connect`](Self::connect)).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::BaseManager;
    /// assert_eq!(BaseManager::new("127.0.0.1:1", b"abc").authkey(), b"abc");
    /// ```
    pub fn authkey(&self) -> &[u8] {
        &self.authkey
    }

    /// Starts the server in a child process (Python's `start()`) and waits until it
    /// listens.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::BaseManager};
    /// # mp::init();
    /// let mut m = BaseManager::default();
    /// m.start().unwrap();
    /// assert!(m.start().is_err()); // already started
    /// m.shutdown().unwrap();
    /// ```
    ///
    /// # Errors
    /// Already started or connected; the process could not start; the server could not
    /// listen on the address (in use, …).
    pub fn start(&mut self) -> Result<(), ManagerError> {
        if !matches!(self.state, State::Initial) {
            return Err(ManagerError::State("already started or connected".into()));
        }
        let (mut reader, writer) = Pipe(false)?;
        let args = ServerArgs {
            address: self.address.clone(),
            authkey: self.authkey.clone(),
            registry: self.registry.clone(),
            reply: writer,
        };
        let mut process = Process::new(run_server, args)
            .name("SyncManager")
            .daemon(true);
        process.start()?;
        let ready = reader.poll(Some(Duration::from_secs(30)))?;
        let answer = if ready {
            reader
                .recv::<Result<Address, String>>()
                .map_err(ManagerError::from)
        } else {
            Err(ManagerError::State(
                "the server process did not answer".into(),
            ))
        };
        match answer {
            Ok(Ok(address)) => {
                let ep = Arc::new(Endpoint {
                    address,
                    authkey: Some(self.authkey.clone()),
                });
                self.state = State::Started(process, ep);
                Ok(())
            }
            Ok(Err(message)) => {
                let _ = process.join_timeout(Duration::from_secs(1));
                Err(ManagerError::State(format!("the server failed: {message}")))
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.join_timeout(Duration::from_secs(1));
                Err(e)
            }
        }
    }

    /// A server for this manager's address, authkey and registrations, to serve in
    /// this process ([`Server::serve_forever`]; Python's `get_server()`).
    ///
    /// # Errors
    /// The address cannot be listened on.
    pub fn get_server(&self) -> Result<Server, ManagerError> {
        Server::new(
            self.address.clone(),
            Some(self.authkey.clone()),
            self.registry.clone(),
        )
    }

    /// Attaches to a running server at this manager's address (Python's `connect()`).
    /// Connects once to check the server and the authkey.
    ///
    /// # Errors
    /// [`ManagerError::Authentication`] for a wrong authkey,
    /// [`ManagerError::Connection`] when nothing listens there.
    pub fn connect(&mut self) -> Result<(), ManagerError> {
        if !matches!(self.state, State::Initial) {
            return Err(ManagerError::State("already started or connected".into()));
        }
        let address = self
            .address
            .clone()
            .ok_or_else(|| ManagerError::State("connect() needs an address".into()))?;
        let ep = Arc::new(Endpoint {
            address,
            authkey: Some(self.authkey.clone()),
        });
        forget(&ep.address);
        drop(Client(&ep.address, ep.authkey.as_deref())?);
        self.state = State::Connected(ep);
        Ok(())
    }

    /// Stops the server (Python's `shutdown()`): a started one is asked to stop, then
    /// its process is joined (terminated, then killed, after a second each). A
    /// connected manager asks the server to stop (a [`get_server`](Self::get_server)
    /// server's `serve_forever` returns). Proxies of its objects then return
    /// [`ManagerError::Connection`]. Idempotent.
    ///
    /// # Errors
    /// A connected manager whose server could not be reached.
    pub fn shutdown(&mut self) -> Result<(), ManagerError> {
        match std::mem::replace(&mut self.state, State::Shutdown) {
            State::Started(mut process, ep) => {
                let _ = request(&ep, &Request::Shutdown);
                forget(&ep.address);
                let second = Duration::from_secs(1);
                if !process.join_timeout(second).unwrap_or(false) {
                    let _ = process.terminate();
                    if !process.join_timeout(second).unwrap_or(false) {
                        let _ = process.kill();
                        let _ = process.join();
                    }
                }
                Ok(())
            }
            State::Connected(ep) => {
                let r = request(&ep, &Request::Shutdown).map(drop);
                forget(&ep.address);
                r
            }
            State::Initial => {
                self.state = State::Initial;
                Ok(())
            }
            State::Shutdown => Ok(()),
        }
    }

    fn endpoint(&self) -> Result<&Arc<Endpoint>, ManagerError> {
        match &self.state {
            State::Started(_, ep) | State::Connected(ep) => Ok(ep),
            State::Initial => Err(ManagerError::State("manager not started".into())),
            State::Shutdown => Err(ManagerError::State("manager shut down".into())),
        }
    }

    fn create<P: Proxy>(&self, kind: Kind, items: Vec<Vec<u8>>) -> Result<P, ManagerError> {
        let ep = self.endpoint()?;
        let reply = request(ep, &Request::Create(kind, items))?;
        Ok(P::from_token(Token::from_reply(ep, reply, P::KIND)?))
    }

    /// The object registered as `typeid` on the server, as proxy `P` (Python's
    /// generated method `m.typeid()`).
    ///
    /// # Errors
    /// `typeid` not registered here (Python: no such method) or on the server
    /// ([`ManagerError::Remote`]), or registered as another kind than `P`'s.
    pub fn get<P: Proxy>(&self, typeid: &str) -> Result<P, ManagerError> {
        if !self.registry.iter().any(|(t, _)| t == typeid) {
            return Err(ManagerError::State(format!(
                "typeid {typeid:?} is not registered"
            )));
        }
        let ep = self.endpoint()?;
        let reply = request(ep, &Request::Get(typeid.to_string()))?;
        Ok(P::from_token(Token::from_reply(ep, reply, P::KIND)?))
    }

    /// A new empty `dict` (Python's `m.dict()`).
    ///
    /// # Errors
    /// The server cannot be reached; the manager is not started.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError> {
        self.create(Kind::Dict, Vec::new())
    }

    /// A new `dict` holding `pairs` (Python's `m.dict(mapping)`).
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let d = m.dict_from([("a".to_string(), 1)]).unwrap();
    /// assert_eq!(d.get("a").unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// As [`dict`](Self::dict); a value that cannot be encoded.
    pub fn dict_from<K: Serialize, V: Serialize>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>, ManagerError> {
        let mut items = Vec::new();
        for (k, v) in pairs {
            items.push(enc(&k)?);
            items.push(enc(&v)?);
        }
        self.create(Kind::Dict, items)
    }

    /// A new empty `list` (Python's `m.list()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn list<T>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.create(Kind::List, Vec::new())
    }

    /// A new `list` holding `items` (Python's `m.list(sequence)`).
    ///
    /// # Errors
    /// As [`dict_from`](Self::dict_from).
    pub fn list_from<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let items = items
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<_, _>>()?;
        self.create(Kind::List, items)
    }

    /// A new `Namespace` (Python's `m.Namespace()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn namespace(&self) -> Result<NamespaceProxy, ManagerError> {
        self.create(Kind::Namespace, Vec::new())
    }

    /// A new `Value` holding `value` (Python's `m.Value(typecode, value)`).
    ///
    /// # Errors
    /// As [`dict_from`](Self::dict_from).
    pub fn value<T: Serialize>(&self, value: T) -> Result<ValueProxy<T>, ManagerError> {
        self.create(Kind::Value, vec![enc(&value)?])
    }

    /// A new fixed-length `Array` holding `items` (Python's `m.Array(typecode, seq)`).
    ///
    /// # Errors
    /// As [`dict_from`](Self::dict_from).
    pub fn array<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ManagerError> {
        let items = items
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<_, _>>()?;
        self.create(Kind::Array, items)
    }

    /// A new `queue.Queue(maxsize)` (0: unbounded; Python's `m.Queue(maxsize)`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ManagerError> {
        self.create(Kind::Queue { maxsize }, Vec::new())
    }

    /// A new joinable queue (Python's `m.JoinableQueue(maxsize)`; the same as
    /// [`queue`](Self::queue)).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<JoinableQueueProxy<T>, ManagerError> {
        self.queue(maxsize)
    }

    /// A new `Lock` (Python's `m.Lock()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        self.create(Kind::Lock, Vec::new())
    }

    /// A new `RLock` (Python's `m.RLock()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn rlock(&self) -> Result<RLockProxy, ManagerError> {
        self.create(Kind::RLock, Vec::new())
    }

    /// A new `Semaphore(value)` (Python's `m.Semaphore(value)`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn semaphore(&self, value: u32) -> Result<SemaphoreProxy, ManagerError> {
        self.create(Kind::Semaphore(value), Vec::new())
    }

    /// A new `BoundedSemaphore(value)` (Python's `m.BoundedSemaphore(value)`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn bounded_semaphore(&self, value: u32) -> Result<BoundedSemaphoreProxy, ManagerError> {
        self.create(Kind::BoundedSemaphore(value), Vec::new())
    }

    /// A new `Condition` over an `RLock` (Python's `m.Condition()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        self.create(Kind::Condition, Vec::new())
    }

    /// A new `Event` (Python's `m.Event()`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict).
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.create(Kind::Event, Vec::new())
    }

    /// A new `Barrier(parties)` (Python's `m.Barrier(parties)`).
    ///
    /// # Errors
    /// As [`dict`](Self::dict); [`ManagerError::ValueError`] for 0 parties.
    pub fn barrier(&self, parties: u32) -> Result<BarrierProxy, ManagerError> {
        self.create(Kind::Barrier(parties), Vec::new())
    }
}

impl Drop for BaseManager {
    fn drop(&mut self) {
        if matches!(self.state, State::Started(..)) {
            let _ = self.shutdown();
        }
    }
}
