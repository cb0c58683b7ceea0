//! The manager's server: a [`Listener`], one thread per accepted connection (as
//! CPython's `Server.serve_forever` / `handle_request`), and the objects, held
//! type-erased: collections as their items' encoded bytes, the synchronisation kinds as
//! real [`threading`](crate::threading) and [`queue`](crate::queue) objects (a blocking
//! call blocks the connection's server thread, as in CPython).
//!
//! A client that goes away (its connection reaches end of file — the process exited or
//! was killed) gives back what it held: a [`Lock`] it acquired and nobody released, its
//! [`RLock`]/[`Condition`] ownership, and the [`Semaphore`] permits it acquired that
//! are still outstanding (a release by a client that holds none pays for the oldest
//! holder's permit: a semaphore has no owner). CPython keeps them held for ever (every other client of
//! the lock then hangs). An item that a client's blocking `get` took after the client
//! died goes back to the queue, at its end (CPython loses it). The lock a client holds
//! is tracked as the last acquirer's: a lock released by another client than the one
//! that acquired it, in the instant between that acquisition and its recording, can be
//! recorded for the wrong client (a lock handed between processes as a signal).
//!
//! An async call (`Request::Await`) is served by awaiting the object's own async form
//! on the connection's thread (`block_on_conn`: `poll(2)` on the connection and an
//! eventfd woken by the future's waker); the client sending `Cancel` or going away
//! drops the future at once, with the object's cancellation rules. The item of an
//! awaited get is the client's once it acknowledges it (`Ack`), else it is put back.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::ManagerError;
use super::managed::Managed;
use super::protocol::{Kind, Op, Remote, Reply, Request};
use crate::multiprocessing::connection::{Address, Client, Connection, ConnectionError, Listener};
use crate::queue;
use crate::threading::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// A typeid's registration (see [`BaseManager::register`](super::BaseManager::register)).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Registration {
    /// What the server creates; `None`: registered on a client only.
    pub(crate) kind: Option<Kind>,
    /// One object for every call (`lambda: obj`), or a new one per call.
    pub(crate) shared: bool,
    /// For [`Kind::Managed`]: the constructor, a `fn() -> Box<dyn Managed>` of this
    /// binary as its offset (see `process::fn_offset`).
    pub(crate) make: Option<i64>,
}

/// An insertion-ordered map of encoded keys to encoded values (Python's `dict` order).
#[derive(Default)]
struct Dict {
    entries: Vec<Option<(Vec<u8>, Vec<u8>)>>,
    index: HashMap<Vec<u8>, usize>,
}

impl Dict {
    fn get(&self, k: &[u8]) -> Option<&Vec<u8>> {
        let i = *self.index.get(k)?;
        self.entries[i].as_ref().map(|(_, v)| v)
    }

    fn set(&mut self, k: Vec<u8>, v: Vec<u8>) {
        if let Some(&i) = self.index.get(&k) {
            if let Some(e) = self.entries[i].as_mut() {
                e.1 = v;
                return;
            }
        }
        self.index.insert(k.clone(), self.entries.len());
        self.entries.push(Some((k, v)));
    }

    fn remove(&mut self, k: &[u8]) -> Option<Vec<u8>> {
        let i = self.index.remove(k)?;
        let (_, v) = self.entries[i].take()?;
        if self.entries.len() > 16 && self.index.len() * 2 < self.entries.len() {
            self.entries.retain(Option::is_some);
            self.index = self
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
        }
        Some(v)
    }

    fn iter(&self) -> impl Iterator<Item = &(Vec<u8>, Vec<u8>)> {
        self.entries.iter().flatten()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }
}

/// An object held by the server.
enum Obj {
    Dict(Mutex<Dict>),
    List(Mutex<Vec<Vec<u8>>>),
    Array(Mutex<Vec<Vec<u8>>>),
    Namespace(Mutex<BTreeMap<String, Vec<u8>>>),
    Value(Mutex<Vec<u8>>),
    Queue(Box<queue::Queue<Vec<u8>>>),
    /// The lock and the connection that acquired it (until anyone releases it).
    Lock(Lock, Mutex<Option<u64>>),
    RLock(RLock),
    /// The semaphore and who holds its acquired permits.
    Semaphore(Semaphore, Permits),
    /// As `Semaphore`.
    BoundedSemaphore(BoundedSemaphore, Permits),
    Condition(Condition),
    Event(Event),
    Barrier(Barrier),
    Managed(Mutex<Box<dyn Managed>>),
}

/// The acquired permits of a semaphore not released since, by connection, so that a
/// connection that ends gives back only what is still outstanding. A semaphore has no
/// owner: a release by a connection that holds none pays for the oldest holder's
/// permit (before, each connection kept its own net count, and a permit released by
/// another client was given back a second time when its acquirer died).
#[derive(Default)]
struct Permits(Mutex<BTreeMap<u64, u64>>);

impl Permits {
    /// Connection `me` acquired one permit.
    fn took(&self, me: u64) {
        *lock(&self.0).entry(me).or_insert(0) += 1;
    }

    /// Connection `me` releases one permit with `release`: on success, the permit of
    /// `me` (else of the oldest holder) is no longer outstanding. The table stays locked
    /// across the release, so that a connection ending meanwhile cannot give back the
    /// same permit.
    fn release<E>(&self, me: u64, release: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let mut t = lock(&self.0);
        release()?;
        let payer = if t.contains_key(&me) {
            Some(me)
        } else {
            t.keys().next().copied()
        };
        if let Some(payer) = payer {
            if let Some(n) = t.get_mut(&payer) {
                *n -= 1;
                if *n == 0 {
                    t.remove(&payer);
                }
            }
        }
        Ok(())
    }

    /// Connection `me` ended: gives back its outstanding permits with `release`.
    fn give_back<E>(&self, me: u64, mut release: impl FnMut() -> Result<(), E>) {
        let mut t = lock(&self.0);
        for _ in 0..t.remove(&me).unwrap_or(0) {
            let _ = release();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Obj {
    fn new(kind: &Kind, mut items: Vec<Vec<u8>>) -> Result<Obj, Remote> {
        Ok(match kind {
            Kind::Dict => {
                let mut d = Dict::default();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.set(k, v);
                }
                Obj::Dict(Mutex::new(d))
            }
            Kind::List => Obj::List(Mutex::new(items)),
            Kind::Array => Obj::Array(Mutex::new(items)),
            Kind::Namespace => Obj::Namespace(Mutex::new(BTreeMap::new())),
            Kind::Value => Obj::Value(Mutex::new(items.pop().unwrap_or_default())),
            Kind::Queue { maxsize } => Obj::Queue(Box::new(queue::Queue::new(*maxsize))),
            Kind::Lock => Obj::Lock(Lock::new(), Mutex::new(None)),
            Kind::RLock => Obj::RLock(RLock::new()),
            Kind::Semaphore(n) => Obj::Semaphore(Semaphore::new(*n), Permits::default()),
            Kind::BoundedSemaphore(n) => {
                Obj::BoundedSemaphore(BoundedSemaphore::new(*n), Permits::default())
            }
            Kind::Condition => Obj::Condition(Condition::new()),
            Kind::Event => Obj::Event(Event::new()),
            Kind::Barrier(n) => Obj::Barrier(
                Barrier::try_new(*n).map_err(|e| Remote::ValueError(format!("{e:?}")))?,
            ),
            Kind::Managed => {
                return Err(Remote::ValueError(
                    "a managed object is made by its registered typeid".into(),
                ))
            }
        })
    }
}

struct Entry {
    obj: Arc<Obj>,
    refs: usize,
}

/// The server's shared state.
struct State {
    objects: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
    next_conn: AtomicU64,
    registry: HashMap<String, Registration>,
    shared: Mutex<HashMap<String, u64>>,
    stop: AtomicBool,
    address: Address,
    authkey: Option<Vec<u8>>,
}

impl State {
    fn create(&self, kind: &Kind, items: Vec<Vec<u8>>, refs: usize) -> Result<u64, Remote> {
        let obj = Arc::new(Obj::new(kind, items)?);
        Ok(self.insert(obj, refs))
    }

    fn insert(&self, obj: Arc<Obj>, refs: usize) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.objects).insert(id, Entry { obj, refs });
        id
    }

    /// A new object for a registration.
    fn make(&self, reg: &Registration, kind: &Kind, refs: usize) -> Result<u64, Remote> {
        match (kind, reg.make) {
            (Kind::Managed, Some(offset)) => {
                // SAFETY: the offset was taken by `register_managed` from a
                // `fn() -> Box<dyn Managed>` of this binary, in this process or in the
                // parent that started it (see `process::fn_at`).
                let make = unsafe {
                    std::mem::transmute::<usize, fn() -> Box<dyn Managed>>(
                        crate::multiprocessing::process::fn_at(offset),
                    )
                };
                Ok(self.insert(Arc::new(Obj::Managed(Mutex::new(make()))), refs))
            }
            _ => self.create(kind, Vec::new(), refs),
        }
    }

    fn get(&self, id: u64) -> Result<Arc<Obj>, Remote> {
        lock(&self.objects)
            .get(&id)
            .map(|e| e.obj.clone())
            .ok_or(Remote::NoSuchObject(id))
    }

    fn registered(&self, typeid: &str) -> Result<Reply, Remote> {
        let unknown = || Remote::UnknownTypeid(typeid.to_string());
        let reg = self.registry.get(typeid).ok_or_else(unknown)?;
        let kind = reg.kind.clone().ok_or_else(unknown)?;
        if !reg.shared {
            let id = self.make(reg, &kind, 1)?;
            return Ok(Reply::Object(id, kind));
        }
        let mut shared = lock(&self.shared);
        if let Some(&id) = shared.get(typeid) {
            if let Some(e) = lock(&self.objects).get_mut(&id) {
                e.refs += 1;
                return Ok(Reply::Object(id, kind));
            }
        }
        // One reference for the registry (never given back), one for the caller.
        let id = self.make(reg, &kind, 2)?;
        shared.insert(typeid.to_string(), id);
        Ok(Reply::Object(id, kind))
    }
}

/// A manager's server, serving in this process (Python's `BaseManager.get_server()`
/// and `Server.serve_forever()`).
///
/// ```
/// use conkit::multiprocessing::managers::{BaseManager, Kind, QueueProxy};
///
/// let mut m = BaseManager::new("127.0.0.1:0", b"key");
/// m.register("get_queue", Kind::Queue { maxsize: 0 });
/// let server = m.get_server().unwrap();
/// let address = server.address().clone();
/// let t = std::thread::spawn(move || server.serve_forever());
/// let mut client = BaseManager::new(address, b"key");
/// client.register_typeid("get_queue");
/// client.connect().unwrap();
/// let q: QueueProxy<u32> = client.get("get_queue").unwrap();
/// q.put(&7).unwrap();
/// assert_eq!(q.get().unwrap(), 7);
/// client.shutdown().unwrap(); // the server's serve_forever returns
/// t.join().unwrap().unwrap();
/// ```
pub struct Server {
    listener: Listener,
    state: Arc<State>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.state.address)
            .finish()
    }
}

impl Server {
    pub(crate) fn new(
        address: Option<Address>,
        authkey: Option<Vec<u8>>,
        registry: Vec<(String, Registration)>,
    ) -> Result<Server, ManagerError> {
        let mut listener = Listener::new(address, None, 64, authkey.as_deref())?;
        listener.set_handshake_timeout(Some(Duration::from_secs(5)));
        let state = Arc::new(State {
            objects: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            registry: registry.into_iter().collect(),
            shared: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            address: listener.address().clone(),
            authkey,
        });
        Ok(Server { listener, state })
    }

    /// The address the server listens on (for TCP with the port the kernel chose).
    ///
    /// ```
    /// # use conkit::multiprocessing::managers::BaseManager;
    /// let s = BaseManager::new("127.0.0.1:0", b"k").get_server().unwrap();
    /// assert!(s.address().to_string().starts_with("127.0.0.1:"));
    /// ```
    pub fn address(&self) -> &Address {
        &self.state.address
    }

    /// Serves clients, one thread per connection, until a client asks for a shutdown
    /// ([`BaseManager::shutdown`](super::BaseManager::shutdown)); then returns (CPython's
    /// `serve_forever` exits the process instead). A client that fails the handshake is
    /// turned away; the server goes on.
    ///
    /// # Errors
    /// Only when the listener itself fails for good.
    pub fn serve_forever(mut self) -> Result<(), ManagerError> {
        let mut failures = 0u32;
        while !self.state.stop.load(Ordering::Acquire) {
            match self.listener.accept() {
                Ok(conn) => {
                    failures = 0;
                    let state = self.state.clone();
                    let spawned = std::thread::Builder::new()
                        .name("manager-conn".into())
                        .spawn(move || serve_client(conn, state));
                    if let Err(e) = spawned {
                        log::warn!("manager: cannot start a connection thread: {e}");
                    }
                }
                Err(ConnectionError::Closed) => break,
                Err(e) => {
                    // A client's failed handshake, or a transient error (EMFILE...).
                    if matches!(e, ConnectionError::Io(_)) {
                        failures += 1;
                        if failures > 1000 {
                            return Err(e.into());
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    log::debug!("manager: accept: {e}");
                }
            }
        }
        self.listener.close();
        Ok(())
    }
}

/// What one connection holds, given back when it ends.
#[derive(Default)]
struct Held {
    objects: HashMap<u64, Arc<Obj>>,
}

impl Held {
    /// Records object `id` as one to look at when the connection ends.
    fn of(&mut self, id: u64, obj: &Arc<Obj>) {
        self.objects.entry(id).or_insert_with(|| obj.clone());
    }
}

fn serve_client(mut conn: Connection, state: Arc<State>) {
    // Sleep in the kernel at once between requests: a spinning reader per connection
    // took the CPU the client needed (set+get round trips 170 µs -> 25 µs on a shared
    // 2-core guest).
    conn.set_spin(Duration::ZERO);
    let me = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let mut held = Held::default();
    let mut waker: Option<Arc<ConnWaker>> = None;
    loop {
        let request: Request = match conn.recv() {
            Ok(r) => r,
            Err(ConnectionError::Codec(e)) => {
                let reply = Reply::Error(Remote::Runtime(format!("bad request: {e}")));
                if conn.send(&reply).is_err() {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        if state.stop.load(Ordering::Acquire) {
            // Shut down: no more requests (the client sees the connection close).
            break;
        }
        let request = match request {
            // A cancel that arrived after its call completed: nothing to do, no reply.
            Request::Cancel | Request::Ack => continue,
            Request::Await(id, op) => {
                if serve_await(&mut conn, &state, id, op, &mut waker).is_err() {
                    break;
                }
                continue;
            }
            r => r,
        };
        let shutdown = matches!(request, Request::Shutdown);
        let queue_get = match &request {
            Request::Call(id, Op::QueueGet(..)) => Some(*id),
            _ => None,
        };
        let reply = match dispatch(&state, me, &mut held, request) {
            Ok(r) => r,
            Err(e) => Reply::Error(e),
        };
        // A client waits for its reply without sending: a readable connection now is
        // its end of file (it died while the call blocked). An item a dead client's
        // `get` took goes back in the queue (at its end) instead of being lost.
        let gone = queue_get.is_some() && conn.poll(Some(Duration::ZERO)).unwrap_or(true);
        let sent = if gone {
            Err(ConnectionError::Eof)
        } else {
            conn.send(&reply)
        };
        if let (Some(id), Reply::Bytes(item), Err(_)) = (queue_get, &reply, &sent) {
            if let Ok(obj) = state.get(id) {
                if let Obj::Queue(q) = &*obj {
                    if q.put_nowait(item.clone()).is_err() {
                        log::warn!(
                            "manager: an item got by a client that died was lost (queue full)"
                        );
                    }
                }
            }
        }
        if shutdown {
            state.stop.store(true, Ordering::Release);
            // Wake the accept loop.
            let _ = Client(&state.address, state.authkey.as_deref());
            break;
        }
        if sent.is_err() {
            break;
        }
    }
    give_back(me, held);
}

// ----- async calls (`Request::Await`) -----

/// Wakes a connection's server thread out of its `poll(2)` (an eventfd): the waker of
/// the futures it awaits.
struct ConnWaker {
    fd: OwnedFd,
}

impl ConnWaker {
    fn new() -> std::io::Result<Arc<ConnWaker>> {
        // SAFETY: plain syscall; the descriptor is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Arc::new(ConnWaker { fd }))
    }

    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `buf`.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }
}

impl Wake for ConnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from `one` (an eventfd counter increment).
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    }
}

/// How an awaited call ended.
enum Awaited<R> {
    Done(R),
    TimedOut,
    /// The client sent `Cancel`.
    Cancelled,
    /// The client went away (or broke the protocol).
    Gone,
}

/// Polls `fut` to completion on this thread, watching the client's connection: the
/// future is dropped (cancelled) as soon as the client sends `Cancel` or goes away, or
/// at `deadline`.
fn block_on_conn<F: Future>(
    conn: &mut Connection,
    fd: RawFd,
    waker: &Arc<ConnWaker>,
    deadline: Option<Instant>,
    fut: F,
) -> Awaited<F::Output> {
    let w = Waker::from(Arc::clone(waker));
    let mut cx = Context::from_waker(&w);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return Awaited::Done(r);
        }
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Awaited::TimedOut;
                }
                // Rounded up: never wake before the deadline.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut p = [
            libc::pollfd {
                fd: waker.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `p` is a valid array of two pollfds.
        let n = unsafe { libc::poll(p.as_mut_ptr(), 2, timeout_ms) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Awaited::Gone;
        }
        if p[0].revents != 0 {
            waker.drain();
        }
        if p[1].revents != 0 {
            // A client sends nothing while it awaits but a `Cancel`: anything else
            // (the end of file above all) means it is gone.
            return match conn.recv::<Request>() {
                Ok(Request::Cancel) => Awaited::Cancelled,
                _ => Awaited::Gone,
            };
        }
    }
}

fn remote_queue_get(e: queue::GetError) -> Remote {
    match e {
        queue::GetError::Empty => Remote::Empty,
        queue::GetError::ShutDown => Remote::Runtime("queue shut down".into()),
    }
}

/// Serves one `Await`: `Err` when the connection is done (the client is gone).
fn serve_await(
    conn: &mut Connection,
    state: &State,
    id: u64,
    op: Op,
    waker: &mut Option<Arc<ConnWaker>>,
) -> Result<(), ()> {
    let obj = match state.get(id) {
        Ok(o) => o,
        Err(e) => return conn.send(&Reply::Error(e)).map_err(drop),
    };
    let w = match waker {
        Some(w) => Arc::clone(w),
        None => match ConnWaker::new() {
            Ok(w) => Arc::clone(waker.insert(w)),
            Err(e) => {
                let msg = format!("no eventfd: {e}");
                return conn.send(&Reply::Error(Remote::Runtime(msg))).map_err(drop);
            }
        },
    };
    let fd = conn.fileno().map_err(drop)?;
    let deadline = |t: &Option<Duration>| t.map(|t| Instant::now() + t);
    // Each arm: the reply, or `None` when the client is gone.
    let reply: Option<Result<Reply, Remote>> = match (&*obj, op) {
        (Obj::Queue(q), Op::QueueGet(_, t)) => {
            match block_on_conn(conn, fd, &w, deadline(&t), q.get_async()) {
                Awaited::Done(Ok(item)) => {
                    // Delivered once the client acknowledges it (in the poll that
                    // returns it): until then the item is the queue's.
                    let sent = conn.send(&Reply::Bytes(item.clone()));
                    let acked = sent.is_ok() && matches!(conn.recv::<Request>(), Ok(Request::Ack));
                    if !acked {
                        if q.put_nowait(item).is_err() {
                            log::warn!(
                                "manager: an item got for a cancelled get was lost (queue full)"
                            );
                        }
                        return Err(());
                    }
                    return Ok(());
                }
                Awaited::Done(Err(e)) => Some(Err(remote_queue_get(e))),
                Awaited::TimedOut => Some(Err(Remote::Empty)),
                Awaited::Cancelled => Some(Err(Remote::Cancelled)),
                Awaited::Gone => None,
            }
        }
        (Obj::Queue(q), Op::QueuePut(item, _, t)) => {
            match block_on_conn(conn, fd, &w, deadline(&t), q.put_async(item)) {
                Awaited::Done(r) => Some(r.map(|()| Reply::Unit).map_err(|e| match e {
                    queue::PutError::Full(_) => Remote::Full,
                    queue::PutError::ShutDown(_) => Remote::Runtime("queue shut down".into()),
                })),
                Awaited::TimedOut => Some(Err(Remote::Full)),
                Awaited::Cancelled => Some(Err(Remote::Cancelled)),
                Awaited::Gone => None,
            }
        }
        (Obj::Queue(q), Op::QueueJoin(t)) => {
            flag(block_on_conn(conn, fd, &w, deadline(&t), q.join_async()))
        }
        (Obj::Event(e), Op::EventWait(t)) => {
            match block_on_conn(conn, fd, &w, deadline(&t), e.wait_async()) {
                Awaited::TimedOut => Some(Ok(Reply::Bool(e.is_set()))),
                a => flag(a),
            }
        }
        (Obj::Lock(l, _), Op::WaitFree(t)) => {
            let f = async {
                l.acquire_async().await;
                let _ = l.release();
            };
            flag(block_on_conn(conn, fd, &w, deadline(&t), f))
        }
        (Obj::RLock(l), Op::WaitFree(t)) => {
            let f = async {
                l.acquire_async().await;
                let _ = l.release();
            };
            flag(block_on_conn(conn, fd, &w, deadline(&t), f))
        }
        (Obj::Condition(c), Op::WaitFree(t)) => {
            let f = async {
                c.get_lock().acquire_async().await;
                let _ = c.get_lock().release();
            };
            flag(block_on_conn(conn, fd, &w, deadline(&t), f))
        }
        (Obj::Semaphore(s, _), Op::WaitFree(t)) => {
            let f = async {
                s.acquire_async().await;
                let _ = s.release();
            };
            flag(block_on_conn(conn, fd, &w, deadline(&t), f))
        }
        (Obj::BoundedSemaphore(s, _), Op::WaitFree(t)) => {
            let f = async {
                s.acquire_async().await;
                let _ = s.release();
            };
            flag(block_on_conn(conn, fd, &w, deadline(&t), f))
        }
        (Obj::Condition(c), Op::Wait(t)) => {
            if !c.get_lock().is_owned() {
                Some(Err(Remote::Runtime(
                    "cannot wait on un-acquired lock".into(),
                )))
            } else {
                let a = block_on_conn(conn, fd, &w, deadline(&t), c.wait_async());
                // A wait that did not complete was dropped: it passed on a notify it
                // had received and holds the lock again if it was free; otherwise
                // take it back as a timed-out `wait` does (the RLock of another
                // thread is not handed on to a dropped waiter).
                if !matches!(a, Awaited::Done(_)) && !c.get_lock().is_owned() {
                    c.get_lock().acquire();
                }
                match a {
                    Awaited::Done(r) => Some(
                        r.map(|()| Reply::Bool(true))
                            .map_err(|_| Remote::Runtime("cannot wait on un-acquired lock".into())),
                    ),
                    Awaited::TimedOut => Some(Ok(Reply::Bool(false))),
                    Awaited::Cancelled => Some(Err(Remote::Cancelled)),
                    Awaited::Gone => None,
                }
            }
        }
        (Obj::Barrier(b), Op::BarrierWait(None)) => {
            match block_on_conn(conn, fd, &w, None, b.wait_async()) {
                Awaited::Done(r) => Some(r.map(count).map_err(|_| Remote::BrokenBarrier)),
                Awaited::Cancelled => Some(Err(Remote::Cancelled)),
                Awaited::TimedOut | Awaited::Gone => None,
            }
        }
        (_, op) => Some(Err(wrong(&op))),
    };
    match reply {
        Some(r) => {
            let r = r.unwrap_or_else(Reply::Error);
            conn.send(&r).map_err(drop)
        }
        None => Err(()),
    }
}

/// The reply of an awaited wait that answers `true` when it completed.
fn flag<T>(a: Awaited<T>) -> Option<Result<Reply, Remote>> {
    match a {
        Awaited::Done(_) => Some(Ok(Reply::Bool(true))),
        Awaited::TimedOut => Some(Ok(Reply::Bool(false))),
        Awaited::Cancelled => Some(Err(Remote::Cancelled)),
        Awaited::Gone => None,
    }
}

/// Releases what a finished connection still holds.
fn give_back(me: u64, held: Held) {
    for obj in held.objects.into_values() {
        match &*obj {
            Obj::Lock(l, holder) => {
                let mut h = lock(holder);
                if *h == Some(me) {
                    *h = None;
                    let _ = l.release();
                }
            }
            Obj::RLock(l) => while l.is_owned() && l.release().is_ok() {},
            Obj::Condition(c) => while c.get_lock().is_owned() && c.release().is_ok() {},
            Obj::Semaphore(s, permits) => permits.give_back(me, || s.release()),
            Obj::BoundedSemaphore(s, permits) => permits.give_back(me, || s.release()),
            _ => {}
        }
    }
}

fn dispatch(state: &State, me: u64, held: &mut Held, req: Request) -> Result<Reply, Remote> {
    match req {
        Request::Create(kind, items) => {
            let id = state.create(&kind, items, 1)?;
            Ok(Reply::Object(id, kind))
        }
        Request::Get(typeid) => state.registered(&typeid),
        Request::Incref(id) => {
            let mut objects = lock(&state.objects);
            let e = objects.get_mut(&id).ok_or(Remote::NoSuchObject(id))?;
            e.refs += 1;
            Ok(Reply::Unit)
        }
        Request::Decref(id) => {
            let mut objects = lock(&state.objects);
            if let Some(e) = objects.get_mut(&id) {
                e.refs = e.refs.saturating_sub(1);
                if e.refs == 0 {
                    objects.remove(&id);
                }
            }
            Ok(Reply::Unit)
        }
        Request::Shutdown => Ok(Reply::Unit),
        // Served by `serve_client` before dispatch.
        Request::Await(..) | Request::Cancel | Request::Ack => {
            Err(Remote::Runtime("misplaced request".into()))
        }
        Request::Call(id, op) => {
            let obj = state.get(id)?;
            call(&obj, id, op, me, held)
        }
    }
}

fn timed<R>(
    block: bool,
    timeout: Option<Duration>,
    now: impl FnOnce() -> R,
    wait: impl FnOnce(Duration) -> R,
    forever: impl FnOnce() -> R,
) -> R {
    match (block, timeout) {
        (false, _) => now(),
        (true, Some(t)) => wait(t),
        (true, None) => forever(),
    }
}

/// The acquisitions of the lock family and the semaphores, with a client's
/// `block`/`timeout` (Python's `acquire(blocking, timeout)`).
trait Acquire {
    fn try_acquire(&self) -> bool;
    fn acquire_timeout(&self, timeout: Duration) -> bool;
    fn acquire(&self);
}

macro_rules! acquire_of {
    ($($t:ty),*) => {$(
        impl Acquire for $t {
            fn try_acquire(&self) -> bool {
                <$t>::try_acquire(self)
            }
            fn acquire_timeout(&self, timeout: Duration) -> bool {
                <$t>::acquire_timeout(self, timeout)
            }
            fn acquire(&self) {
                <$t>::acquire(self)
            }
        }
    )*};
}

acquire_of!(Lock, RLock, Condition, Semaphore, BoundedSemaphore);

/// Acquires `x` as a client asked: at once, with a timeout, or for as long as needed.
fn acquire(x: &impl Acquire, block: bool, timeout: Option<Duration>) -> bool {
    timed(
        block,
        timeout,
        || x.try_acquire(),
        |t| x.acquire_timeout(t),
        || {
            x.acquire();
            true
        },
    )
}

fn index(len: usize, i: u64) -> Result<usize, Remote> {
    usize::try_from(i)
        .ok()
        .filter(|&i| i < len)
        .ok_or(Remote::IndexError)
}

fn count(n: usize) -> Reply {
    Reply::Count(n as u64)
}

fn wrong(op: &Op) -> Remote {
    let name = format!("{op:?}");
    let name = name.split(['(', ' ']).next().unwrap_or("").to_string();
    Remote::WrongMethod(name)
}

fn call(obj: &Arc<Obj>, id: u64, op: Op, me: u64, held: &mut Held) -> Result<Reply, Remote> {
    match (&**obj, op) {
        // dict
        (Obj::Dict(d), Op::DictGet(k)) => lock(d)
            .get(&k)
            .cloned()
            .map(Reply::Bytes)
            .ok_or(Remote::KeyError),
        (Obj::Dict(d), Op::DictSet(k, v)) => {
            lock(d).set(k, v);
            Ok(Reply::Unit)
        }
        (Obj::Dict(d), Op::DictDel(k)) => lock(d)
            .remove(&k)
            .map(|_| Reply::Unit)
            .ok_or(Remote::KeyError),
        (Obj::Dict(d), Op::DictPop(k)) => {
            lock(d).remove(&k).map(Reply::Bytes).ok_or(Remote::KeyError)
        }
        (Obj::Dict(d), Op::DictContains(k)) => Ok(Reply::Bool(lock(d).get(&k).is_some())),
        (Obj::Dict(d), Op::DictSetDefault(k, v)) => {
            let mut d = lock(d);
            if let Some(old) = d.get(&k) {
                return Ok(Reply::Bytes(old.clone()));
            }
            d.set(k, v.clone());
            Ok(Reply::Bytes(v))
        }
        (Obj::Dict(d), Op::DictUpdate(pairs)) => {
            let mut d = lock(d);
            for (k, v) in pairs {
                d.set(k, v);
            }
            Ok(Reply::Unit)
        }
        (Obj::Dict(d), Op::DictKeys) => {
            Ok(Reply::Many(lock(d).iter().map(|e| e.0.clone()).collect()))
        }
        (Obj::Dict(d), Op::DictValues) => {
            Ok(Reply::Many(lock(d).iter().map(|e| e.1.clone()).collect()))
        }
        (Obj::Dict(d), Op::DictItems) => Ok(Reply::Pairs(lock(d).iter().cloned().collect())),
        (Obj::Dict(d), Op::Len) => Ok(count(lock(d).index.len())),
        (Obj::Dict(d), Op::Clear) => {
            lock(d).clear();
            Ok(Reply::Unit)
        }
        // list and Array
        (Obj::List(l) | Obj::Array(l), Op::Len) => Ok(count(lock(l).len())),
        (Obj::List(l) | Obj::Array(l), Op::ListGet(i)) => {
            let l = lock(l);
            Ok(Reply::Bytes(l[index(l.len(), i)?].clone()))
        }
        (Obj::List(l) | Obj::Array(l), Op::ListSet(i, v)) => {
            let mut l = lock(l);
            let i = index(l.len(), i)?;
            l[i] = v;
            Ok(Reply::Unit)
        }
        (Obj::List(l) | Obj::Array(l), Op::ListAll) => Ok(Reply::Many(lock(l).clone())),
        (Obj::List(l) | Obj::Array(l), Op::ListIndex(v)) => lock(l)
            .iter()
            .position(|x| *x == v)
            .map(count)
            .ok_or_else(|| Remote::ValueError("list.index(x): x not in list".into())),
        (Obj::List(l) | Obj::Array(l), Op::ListCount(v)) => {
            Ok(count(lock(l).iter().filter(|x| **x == v).count()))
        }
        (Obj::List(l), Op::ListDel(i)) => {
            let mut l = lock(l);
            let i = index(l.len(), i)?;
            l.remove(i);
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::Clear) => {
            lock(l).clear();
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListAppend(v)) => {
            lock(l).push(v);
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListExtend(vs)) => {
            lock(l).extend(vs);
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListPop(at)) => {
            let mut l = lock(l);
            let i = match at {
                None if l.is_empty() => return Err(Remote::IndexError),
                None => l.len() - 1,
                Some(i) => index(l.len(), i)?,
            };
            Ok(Reply::Bytes(l.remove(i)))
        }
        (Obj::List(l), Op::ListInsert(i, v)) => {
            let mut l = lock(l);
            let i = usize::try_from(i).unwrap_or(usize::MAX).min(l.len());
            l.insert(i, v);
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListRemove(v)) => {
            let mut l = lock(l);
            let i = l
                .iter()
                .position(|x| *x == v)
                .ok_or_else(|| Remote::ValueError("list.remove(x): x not in list".into()))?;
            l.remove(i);
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListReverse) => {
            lock(l).reverse();
            Ok(Reply::Unit)
        }
        (Obj::List(l), Op::ListAssign(vs)) => {
            *lock(l) = vs;
            Ok(Reply::Unit)
        }
        // Namespace
        (Obj::Namespace(n), Op::NsGet(name)) => lock(n)
            .get(&name)
            .cloned()
            .map(Reply::Bytes)
            .ok_or(Remote::AttributeError(name)),
        (Obj::Namespace(n), Op::NsSet(name, v)) => {
            lock(n).insert(name, v);
            Ok(Reply::Unit)
        }
        (Obj::Namespace(n), Op::NsDel(name)) => lock(n)
            .remove(&name)
            .map(|_| Reply::Unit)
            .ok_or(Remote::AttributeError(name)),
        (Obj::Namespace(n), Op::NsNames) => Ok(Reply::Names(lock(n).keys().cloned().collect())),
        // Value
        (Obj::Value(v), Op::ValueGet) => Ok(Reply::Bytes(lock(v).clone())),
        (Obj::Value(v), Op::ValueSet(new)) => {
            *lock(v) = new;
            Ok(Reply::Unit)
        }
        // Queue
        (Obj::Queue(q), Op::QueuePut(item, block, timeout)) => timed(
            block,
            timeout,
            || q.put_nowait(item.clone()),
            |t| q.put_timeout(item.clone(), t),
            || q.put(item.clone()),
        )
        .map(|()| Reply::Unit)
        .map_err(|e| match e {
            queue::PutError::Full(_) => Remote::Full,
            queue::PutError::ShutDown(_) => Remote::Runtime("queue shut down".into()),
        }),
        (Obj::Queue(q), Op::QueueGet(block, timeout)) => timed(
            block,
            timeout,
            || q.get_nowait(),
            |t| q.get_timeout(t),
            || q.get(),
        )
        .map(Reply::Bytes)
        .map_err(|e| match e {
            queue::GetError::Empty => Remote::Empty,
            queue::GetError::ShutDown => Remote::Runtime("queue shut down".into()),
        }),
        (Obj::Queue(q), Op::QueueSize) => Ok(Reply::Sizes(q.qsize() as u64, q.maxsize() as u64)),
        (Obj::Queue(q), Op::QueueTaskDone) => q
            .task_done()
            .map(|()| Reply::Unit)
            .map_err(|_| Remote::ValueError("task_done() called too many times".into())),
        (Obj::Queue(q), Op::QueueJoin(timeout)) => Ok(Reply::Bool(match timeout {
            Some(t) => q.join_timeout(t),
            None => {
                q.join();
                true
            }
        })),
        // Lock family
        (Obj::Lock(l, holder), Op::Acquire(block, timeout)) => {
            let got = acquire(l, block, timeout);
            if got {
                *lock(holder) = Some(me);
                held.of(id, obj);
            }
            Ok(Reply::Bool(got))
        }
        (Obj::Lock(l, holder), Op::Release) => {
            let mut h = lock(holder);
            l.release()
                .map_err(|_| Remote::Runtime("release unlocked lock".into()))?;
            *h = None;
            Ok(Reply::Unit)
        }
        (Obj::Lock(l, _), Op::Locked) => Ok(Reply::Bool(l.locked())),
        (Obj::RLock(l), Op::Acquire(block, timeout)) => {
            let got = acquire(l, block, timeout);
            if got {
                held.of(id, obj);
            }
            Ok(Reply::Bool(got))
        }
        (Obj::RLock(l), Op::Release) => l
            .release()
            .map(|()| Reply::Unit)
            .map_err(|_| Remote::Runtime("cannot release un-acquired lock".into())),
        (Obj::RLock(l), Op::Locked) => Ok(Reply::Bool(l.locked())),
        (Obj::Condition(c), Op::Acquire(block, timeout)) => {
            let got = acquire(c, block, timeout);
            if got {
                held.of(id, obj);
            }
            Ok(Reply::Bool(got))
        }
        (Obj::Condition(c), Op::Release) => c
            .release()
            .map(|()| Reply::Unit)
            .map_err(|_| Remote::Runtime("cannot release un-acquired lock".into())),
        (Obj::Condition(c), Op::Wait(timeout)) => {
            let r = match timeout {
                Some(t) => c.wait_timeout(t),
                None => c.wait().map(|()| true),
            };
            r.map(Reply::Bool)
                .map_err(|_| Remote::Runtime("cannot wait on un-acquired lock".into()))
        }
        (Obj::Condition(c), Op::Notify(n)) => c
            .notify(usize::try_from(n).unwrap_or(usize::MAX))
            .map(|_| Reply::Unit)
            .map_err(|_| Remote::Runtime("cannot notify on un-acquired lock".into())),
        (Obj::Condition(c), Op::NotifyAll) => c
            .notify_all()
            .map(|_| Reply::Unit)
            .map_err(|_| Remote::Runtime("cannot notify on un-acquired lock".into())),
        (Obj::Semaphore(s, permits), Op::Acquire(block, timeout)) => {
            let got = acquire(s, block, timeout);
            if got {
                permits.took(me);
                held.of(id, obj);
            }
            Ok(Reply::Bool(got))
        }
        (Obj::Semaphore(s, permits), Op::Release) => {
            permits
                .release(me, || s.release())
                .map_err(|e| Remote::ValueError(format!("{e:?}")))?;
            Ok(Reply::Unit)
        }
        (Obj::Semaphore(s, _), Op::Locked) => Ok(count(s.value() as usize)),
        (Obj::BoundedSemaphore(s, permits), Op::Acquire(block, timeout)) => {
            let got = acquire(s, block, timeout);
            if got {
                permits.took(me);
                held.of(id, obj);
            }
            Ok(Reply::Bool(got))
        }
        (Obj::BoundedSemaphore(s, permits), Op::Release) => {
            permits
                .release(me, || s.release())
                .map_err(|_| Remote::ValueError("Semaphore released too many times".into()))?;
            Ok(Reply::Unit)
        }
        (Obj::BoundedSemaphore(s, _), Op::Locked) => Ok(count(s.value() as usize)),
        // Event
        (Obj::Event(e), Op::EventSet) => {
            e.set();
            Ok(Reply::Unit)
        }
        (Obj::Event(e), Op::EventClear) => {
            e.clear();
            Ok(Reply::Unit)
        }
        (Obj::Event(e), Op::EventIsSet) => Ok(Reply::Bool(e.is_set())),
        (Obj::Event(e), Op::EventWait(timeout)) => Ok(Reply::Bool(match timeout {
            Some(t) => e.wait_timeout(t),
            None => {
                e.wait();
                true
            }
        })),
        // Barrier
        (Obj::Barrier(b), Op::BarrierWait(timeout)) => match timeout {
            Some(t) => b.wait_timeout(t),
            None => b.wait(),
        }
        .map(count)
        .map_err(|_| Remote::BrokenBarrier),
        (Obj::Barrier(b), Op::BarrierReset) => {
            b.reset();
            Ok(Reply::Unit)
        }
        (Obj::Barrier(b), Op::BarrierAbort) => {
            b.abort();
            Ok(Reply::Unit)
        }
        (Obj::Barrier(b), Op::BarrierInfo) => Ok(Reply::BarrierInfo(
            b.parties() as u64,
            b.n_waiting() as u64,
            b.broken(),
        )),
        (Obj::Managed(m), Op::Method(name, args)) => lock(m)
            .call(&name, &args)
            .map(Reply::Bytes)
            .map_err(Remote::Method),
        (_, op) => Err(wrong(&op)),
    }
}
