//! The requests a proxy sends to a manager's server and the replies it gets, as serde
//! enums over a [`Connection`](crate::multiprocessing::Connection). Values travel as
//! their [`codec`](crate::multiprocessing::codec) encoding: the server never decodes
//! them (it holds bytes), so keys compare by their encoded bytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a manager's server creates for a [`register`](super::BaseManager::register)ed
/// typeid or a [`BaseManager`](super::BaseManager) method such as
/// [`dict`](super::BaseManager::dict): the kinds of object a server holds, with their
/// construction parameters (Python's `callable` of `register(typeid, callable)`, limited
/// to these kinds).
///
/// ```
/// use conkit::multiprocessing::managers::Kind;
/// assert_eq!(Kind::Queue { maxsize: 0 }.name(), "Queue");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// `dict`: [`DictProxy`](super::DictProxy).
    Dict,
    /// `list`: [`ListProxy`](super::ListProxy).
    List,
    /// `Namespace`: [`NamespaceProxy`](super::NamespaceProxy).
    Namespace,
    /// `Value`: [`ValueProxy`](super::ValueProxy) (starts holding the unit value `()`
    /// when created by a registration: set it before reading it as another type).
    Value,
    /// `Array`: [`ArrayProxy`](super::ArrayProxy) (empty when created by a
    /// registration).
    Array,
    /// `queue.Queue(maxsize)` (0: unbounded): [`QueueProxy`](super::QueueProxy), with
    /// `task_done`/`join` as Python's `queue.Queue`.
    Queue {
        /// Python's `maxsize` (0: unbounded).
        maxsize: usize,
    },
    /// `threading.Lock`: [`LockProxy`](super::LockProxy).
    Lock,
    /// `threading.RLock`: [`RLockProxy`](super::RLockProxy).
    RLock,
    /// `threading.Semaphore(value)`: [`SemaphoreProxy`](super::SemaphoreProxy).
    Semaphore(u32),
    /// `threading.BoundedSemaphore(value)`: [`SemaphoreProxy`](super::SemaphoreProxy).
    BoundedSemaphore(u32),
    /// `threading.Condition()` (over an `RLock`): [`ConditionProxy`](super::ConditionProxy).
    Condition,
    /// `threading.Event`: [`EventProxy`](super::EventProxy).
    Event,
    /// `threading.Barrier(parties)`: [`BarrierProxy`](super::BarrierProxy).
    Barrier(u32),
    /// An object of the user's type, made by the constructor given to
    /// [`register_managed`](super::BaseManager::register_managed):
    /// [`ManagedProxy`](super::ManagedProxy).
    Managed,
}

impl Kind {
    /// The Python type name of this kind (`"dict"`, `"Queue"`, `"Lock"`, …), without
    /// the parameters: what a typed proxy checks.
    ///
    /// ```
    /// use conkit::multiprocessing::managers::Kind;
    /// assert_eq!(Kind::Semaphore(3).name(), "Semaphore");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Dict => "dict",
            Kind::List => "list",
            Kind::Namespace => "Namespace",
            Kind::Value => "Value",
            Kind::Array => "Array",
            Kind::Queue { .. } => "Queue",
            Kind::Lock => "Lock",
            Kind::RLock => "RLock",
            Kind::Semaphore(_) => "Semaphore",
            Kind::BoundedSemaphore(_) => "BoundedSemaphore",
            Kind::Condition => "Condition",
            Kind::Event => "Event",
            Kind::Barrier(_) => "Barrier",
            Kind::Managed => "managed",
        }
    }
}

/// A request to the server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// A new object of `Kind` with initial items (list/array items; dict: key, value,
    /// key, value …; value: one item) → `Object`.
    Create(Kind, Vec<Vec<u8>>),
    /// The object of a registered typeid → `Object`.
    Get(String),
    /// One more reference to an object → `Unit`.
    Incref(u64),
    /// One reference fewer (the object goes with the last) → `Unit`.
    Decref(u64),
    /// A method of an object.
    Call(u64, Op),
    /// A waiting method of an object, for an async proxy call: the server awaits the
    /// object's own async form and cancels it (the object's cancellation rules: no item
    /// or permit taken, a notify passed on, a barrier party withdrawn) as soon as the
    /// client sends [`Cancel`](Self::Cancel) or goes away. Ops: `QueueGet`, `QueuePut`,
    /// `QueueJoin`, `WaitFree`, `Wait`, `EventWait`, `BarrierWait(None)`.
    Await(u64, Op),
    /// Cancels the `Await` in progress (its reply is then `Error(Cancelled)` unless it
    /// had already completed); ignored, and not answered, between calls.
    Cancel,
    /// The client read the item of an `Await(QueueGet)` (until then the server puts it
    /// back if the client goes away).
    Ack,
    /// Stop the server → `Unit`.
    Shutdown,
}

/// A method call on an object held by the server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    // dict
    DictGet(Vec<u8>),
    DictSet(Vec<u8>, Vec<u8>),
    DictDel(Vec<u8>),
    DictContains(Vec<u8>),
    DictPop(Vec<u8>),
    DictSetDefault(Vec<u8>, Vec<u8>),
    DictUpdate(Vec<(Vec<u8>, Vec<u8>)>),
    DictKeys,
    DictValues,
    DictItems,
    // list and Array (`Len`, `Clear` also for dict)
    Len,
    Clear,
    ListGet(u64),
    ListSet(u64, Vec<u8>),
    ListDel(u64),
    ListAppend(Vec<u8>),
    ListExtend(Vec<Vec<u8>>),
    ListPop(Option<u64>),
    ListInsert(u64, Vec<u8>),
    ListRemove(Vec<u8>),
    ListIndex(Vec<u8>),
    ListCount(Vec<u8>),
    ListReverse,
    ListAll,
    ListAssign(Vec<Vec<u8>>),
    // Namespace
    NsGet(String),
    NsSet(String, Vec<u8>),
    NsDel(String),
    NsNames,
    // Value
    ValueGet,
    ValueSet(Vec<u8>),
    // Queue
    QueuePut(Vec<u8>, bool, Option<Duration>),
    QueueGet(bool, Option<Duration>),
    QueueSize,
    QueueTaskDone,
    QueueJoin(Option<Duration>),
    // Lock, RLock, Semaphore, BoundedSemaphore, Condition
    Acquire(bool, Option<Duration>),
    Release,
    Locked,
    /// Waits until the lock or semaphore could be acquired, taking nothing (acquires
    /// and releases at once: a pass-through) → `Bool` (`false`: timed out).
    WaitFree(Option<Duration>),
    // Condition
    Wait(Option<Duration>),
    Notify(u64),
    NotifyAll,
    // Event
    EventSet,
    EventClear,
    EventIsSet,
    EventWait(Option<Duration>),
    // Barrier
    BarrierWait(Option<Duration>),
    BarrierReset,
    BarrierAbort,
    BarrierInfo,
    // A managed object of the user's type: method name, encoded arguments.
    Method(String, Vec<u8>),
}

/// The server's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Unit,
    Bool(bool),
    Count(u64),
    Bytes(Vec<u8>),
    Many(Vec<Vec<u8>>),
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    Names(Vec<String>),
    /// An object's id and kind.
    Object(u64, Kind),
    /// Queue: size, maxsize.
    Sizes(u64, u64),
    /// Barrier: parties, waiting, broken.
    BarrierInfo(u64, u64, bool),
    Error(Remote),
}

/// A Python exception raised by the server's side of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Remote {
    KeyError,
    IndexError,
    ValueError(String),
    AttributeError(String),
    Empty,
    Full,
    Runtime(String),
    BrokenBarrier,
    NoSuchObject(u64),
    WrongMethod(String),
    UnknownTypeid(String),
    /// A managed object's method failed (its message).
    Method(String),
    /// An `Await` cancelled by the client's `Cancel`.
    Cancelled,
}
