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

pub mod codec;
pub mod heap;
pub mod inherit;
pub mod queues;

pub use queues::{
    Empty, Full, GetError, JoinableQueue, PutError, Queue, SimpleQueue, TaskDoneError,
    DEFAULT_CAPACITY,
};
