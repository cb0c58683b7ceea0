//! Python's `multiprocessing`: processes, pipes and connections, process-shared
//! primitives and data, queues between processes. Linux first.
//!
//! Every object here that other processes can reach lives in memory shared with them
//! and is built from the same `conkit-core` primitives as [`threading`](crate::threading)
//! and [`queue`](crate::queue), waiting with
//! [`SharedFutex`](crate::wait::SharedFutex) — never a second copy of a primitive.
//!
//! Building blocks:
//! - [`inherit`]: how objects that own a descriptor (a connection's socket, a shared
//!   object's `memfd`) travel to a child with its arguments.
//! - [`heap`]: [`Mapping`](heap::Mapping) (a `memfd` mapped `MAP_SHARED`) and
//!   [`Shared<T>`](heap::Shared), one core object in its own mapping.
//! - [`codec`]: the serde format of process arguments, `Connection::send`/`recv` and the
//!   queues' items.
//!
//! Process-shared primitives and data:
//! - [`synchronize`]: [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`],
//!   [`Event`], [`Condition`], [`Barrier`] — the `threading` types over `SharedFutex`.
//! - [`sharedctypes`]: [`Value`], [`Array`], [`RawValue`], [`RawArray`].
//! - [`shared_memory`]: [`SharedMemory`](shared_memory::SharedMemory), named POSIX
//!   shared memory.
//!
//! Pipes and connections: [`connection`] ([`Pipe`], [`Connection`], `wait`, `Listener`,
//! `Client`; CPython's wire format and handshake); [`reduction`] (`send_handle`,
//! `recv_handle`: open descriptors passed over a connection, CPython's wire format).
//!
//! Queues between processes: [`queues`] ([`Queue`], [`JoinableQueue`], [`SimpleQueue`]
//! over the core byte ring, no feeder thread).
//!
//! Managers: [`managers`] ([`Manager()`](managers::Manager), [`managers::SyncManager`],
//! [`managers::BaseManager`]: objects in a server process, reached through
//! typed proxies from other processes or machines).
//!
//! Logging: [`util`] ([`get_logger`], [`log_to_stderr`]: Python's `multiprocessing`
//! logger on the `log` crate).

pub mod asynch;
pub mod codec;
pub mod connection;
pub mod heap;
pub mod inherit;
pub mod managers;
mod per_process;
pub mod pool;
pub mod process;
pub mod reduction;
pub mod shared_memory;
pub mod sharedctypes;
pub mod synchronize;
pub mod util;

pub use process::{
    active_children, cpu_count, current_process, get_all_start_methods, get_context,
    get_start_method, init, parent_process, set_start_method, ActiveChild, Context, CurrentProcess,
    ParentProcess, Process, ProcessError, Run, StartMethod,
};
pub use process::{allow_connection_pickling, freeze_support};
pub use process::{get_executable, set_executable, set_forkserver_preload};
pub use sharedctypes::{Array, IndexError, RawArray, RawValue, Value};
pub use sharedctypes::{LockRef, SyncGuard, SyncLock};
pub use synchronize::{
    Acquired, Barrier, BarrierError, BoundedSemaphore, BrokenBarrier, Condition, ConditionError,
    Event, InvalidParties, Lock, LockCondition, RLock, ReleaseError, Semaphore, SemaphoreError,
};
pub use synchronize::{ConditionOn, ConditionOnGuard, SharedLock};
pub use util::{get_logger, log_to_stderr};

pub use connection::{AuthenticationError, BufferTooShort, Connection, Pipe};
pub mod queues;

pub use managers::{
    ArrayProxy, BarrierProxy, BaseManager, BoundedSemaphoreProxy, ConditionProxy, DictProxy,
    EventProxy, JoinableQueueProxy, ListProxy, LockProxy, Managed, ManagedProxy, Manager,
    ManagerError, NamespaceProxy, QueueProxy, RLockProxy, SemaphoreProxy, SyncManager, ValueProxy,
};
pub use pool::{AsyncResult, Pool, PoolError, TaskError, ThreadPool};
pub use queues::{
    Empty, Full, GetError, JoinableQueue, PutError, Queue, SimpleQueue, TaskDoneError,
    DEFAULT_CAPACITY,
};
