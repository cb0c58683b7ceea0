//! Queues between processes: [`Queue`], [`JoinableQueue`] and [`SimpleQueue`] of serde
//! values, over the core byte ring in shared memory.
//!
//! Reference: CPython's `Lib/multiprocessing/queues.py` (`Queue`, `JoinableQueue`,
//! `SimpleQueue`) for the API and its meaning. The carrier is different, and so are a
//! few guarantees (each is said where it applies):
//!
//! * **Carrier.** One [`ShmByteRing<SharedFutex>`](conkit_core::byte_ring::ShmByteRing)
//!   (the framed byte ring of `conkit-core`, the one threads and firmware use too)
//!   in a `memfd` [`Mapping`], beside a small state block of core
//!   primitives in the same mapping: two robust [`Lock<SharedFutex>`](Lock) (one for
//!   the producers, one for the consumers), counters, and three
//!   [`Waiters<SharedFutex>`](Waiters) (not empty, not full, all tasks done). The ring
//!   is single-producer / single-consumer; the locks make each side take turns
//!   ([`lease_producer`](conkit_core::byte_ring::ByteRingIn::lease_producer) /
//!   [`lease_consumer`](conkit_core::byte_ring::ByteRingIn::lease_consumer)), so any
//!   number of processes may put and get. CPython uses a pipe, a lock per side, a
//!   semaphore for `maxsize` and a feeder thread.
//! * **No feeder thread.** `put` serialises the item with [`codec`]
//!   and copies it into the ring before it returns: errors (an item that cannot be
//!   encoded, or larger than the ring's message cap) reach the caller as [`PutError`],
//!   and a process that exits right after `put` loses nothing. CPython's `put` hands
//!   the object to a feeder thread; pickling errors surface in that thread, and a
//!   process that exits (e.g. `os._exit`, or a `cancel_join_thread`ed queue) may lose
//!   everything still buffered. Consequently [`join_thread`](Queue::join_thread) and
//!   [`cancel_join_thread`](Queue::cancel_join_thread) have nothing to do here.
//! * **Exact counts.** [`qsize`](Queue::qsize) counts the items put and not yet got,
//!   exactly whenever no `put`/`get` is under way (during one it is the count before or
//!   after it); [`empty`](Queue::empty) is `true` only when no item is in the ring.
//!   CPython's `qsize` is approximate (and unimplemented on macOS) and its `empty` can
//!   say `True` while the feeder thread still holds items.
//! * **Capacity.** `maxsize` counts items, as in CPython (0: no limit on the count).
//!   Independently the ring holds [`DEFAULT_CAPACITY`] bytes (choose it with
//!   [`Queue::with_capacity`]); each item takes its encoding rounded up to 8 bytes
//!   plus an 8-byte header, and one item is at most half the ring less 8 bytes
//!   ([`max_item_len`](Queue::max_item_len)). When the bytes run out, `put` waits
//!   exactly as for a full queue (and `put_nowait` fails with [`PutError::Full`]).
//! * **Items with descriptors.** Values are serialised with [`codec`]
//!   outside a child's start, so objects that own a descriptor or a mapping (a
//!   `Connection`, a shared `Lock`, a `Queue`) cannot be put: their serialisation fails
//!   with [`PutError::Encode`]. Pass them as a child's arguments instead (CPython
//!   pickles them through `multiprocessing.reduction`).
//!
//! # Processes that die
//! A producer killed in the middle of a `put` (e.g. `SIGKILL`) costs at most the item
//! it was putting: an item is published in one store after it is fully written, so it
//! is either all there or not at all; the producers' lock is robust, so the next
//! producer takes it over ([`Acquired::OwnerDied`]) and repairs the count (an item
//! published but not yet counted is counted then). A consumer killed in a `get` loses
//! the item only if it had already taken it out of the ring; otherwise the item stays
//! for the next consumer. Its side's count is repaired the same way, by the next get,
//! or by a get that finds the queue empty or a put that finds it full by the count
//! (both look whether the consumers' lock was left by a dead holder). Until a repair,
//! [`qsize`](Queue::qsize) may be off by that one item ([`empty`](Queue::empty),
//! which looks at the ring, never is). Waiters of a dead process are harmless (see
//! [`Waiters`]: every sleep is bounded by a 10 ms slice between processes). A
//! [`JoinableQueue`] item whose consumer died before `task_done` keeps
//! [`join`](JoinableQueue::join) waiting, as in CPython.
//!
//! # Async
//! [`Queue::get_async`] / [`Queue::put_async`] (and [`JoinableQueue::join_async`],
//! [`SimpleQueue::get_async`] / [`SimpleQueue::put_async`]) retry the non-blocking
//! form on each poll. A put in another *process* cannot call a waker in this one, so a
//! task that has to wait parks with this process's proxy waiter for the queue (one
//! helper thread per queue and direction, however many tasks wait): it sleeps on the
//! queue's shared [`Waiters`] (woken by the other process's futex wake, at most 100 ms
//! at a time) and then wakes the parked tasks. See
//! [`multiprocessing::asynch`](super::asynch) for the design. Waiting costs a thread
//! wake-up (tens of µs), never a busy loop; an item already there costs nothing extra.
//!
//! # Example
//! ```
//! use conkit::multiprocessing::{Empty, Queue};
//!
//! let q: Queue<(u32, String)> = Queue::new(0).unwrap();
//! q.put((1, "one".into())).unwrap();
//! assert_eq!(q.qsize(), 1);
//! assert_eq!(q.get().unwrap(), (1, "one".into()));
//! assert!(q.empty());
//! assert!(matches!(q.get_nowait(), Err(Empty)));
//! ```

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conkit_core::byte_ring::{GrantError, RecvError, ShmByteRing};
use conkit_core::lock::{Acquired, Lock};
use conkit_core::shm::{SegmentError, ShmSafe};
use conkit_core::wait::{SharedFutex, Waiters};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Serialize};

pub use conkit_core::queue::TaskDoneError;

use super::asynch::{self, Outcome, Proxy, Watch};
use super::codec::{self, CodecError};
use super::heap::{Mapping, RingBlock, SharedError};

/// The ring's size in bytes when none is chosen: 1 MiB (items of up to 512 KiB − 8
/// bytes). The memory is a `memfd`: pages are allocated as the ring first reaches them.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// The smallest ring [`Queue::with_capacity`] makes (smaller requests are rounded up).
pub const MIN_CAPACITY: usize = 4096;

type Ring = ShmByteRing<SharedFutex>;

/// One side (producers or consumers) of the state block: on a cache line (pair) of
/// its own, so the producer and the consumer do not share lines they write.
#[repr(C, align(128))]
struct Side {
    /// Taken while a turn on the ring's side is leased.
    lock: Lock<SharedFutex>,
    /// Items moved through this side (published, or taken out) and counted, shifted
    /// left by one; bit 0 (`MID_COUNT`) is set while the holder has counted its item
    /// but not yet stored `pos`, so that a repair after its death neither counts the
    /// item twice nor misses it (see `Side::count_one` and `Inner::repair`). Written
    /// under `lock`; read with [`Side::counted`].
    count: AtomicU64,
    /// The ring's position (of this side) after the last counted item; under `lock`.
    pos: AtomicUsize,
    /// Notified after each move: the other side's waiters (the producers' side wakes
    /// the waiting getters, the consumers' side the waiting putters).
    moved: Waiters<SharedFutex>,
}

/// Bit 0 of `Side::count`: counted, `pos` not yet stored.
const MID_COUNT: u64 = 1;

impl Side {
    /// Items counted through this side.
    fn counted(&self) -> u64 {
        self.count.load(Ordering::Acquire) >> 1
    }

    /// Counts the item the lock's holder just moved, and records the ring's position
    /// `pos` after it. A holder killed at any point in here leaves a state `repair`
    /// reads right: count and position both old (then the ring's position differs:
    /// count it), or the count new with `MID_COUNT` set (store the position only).
    fn count_one(&self, pos: usize) {
        let next = ((self.count.load(Ordering::Relaxed) >> 1) + 1) << 1;
        self.count.store(next | MID_COUNT, Ordering::Release);
        self.pos.store(pos, Ordering::Relaxed);
        self.count.store(next, Ordering::Release);
    }

    /// After the lock's holder died: completes its count of the item it moved, if any
    /// (`ring_pos` is the ring's position of this side now). `true` if it counted one.
    fn repair(&self, ring_pos: usize) -> bool {
        let word = self.count.load(Ordering::Relaxed);
        if word & MID_COUNT != 0 {
            // Counted; the position may not be stored.
            self.pos.store(ring_pos, Ordering::Relaxed);
            self.count.store(word & !MID_COUNT, Ordering::Release);
            true
        } else if ring_pos != self.pos.load(Ordering::Relaxed) {
            // Moved, not counted.
            self.count.store(word + 2, Ordering::Release);
            self.pos.store(ring_pos, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn new() -> Self {
        Self {
            lock: Lock::new(),
            count: AtomicU64::new(0),
            pos: AtomicUsize::new(0),
            moved: Waiters::new(),
        }
    }
}

/// The state block beside the ring, in the same mapping.
#[repr(C)]
struct State {
    put: Side,
    get: Side,
    /// `task_done` calls (JoinableQueue), by anyone, atomically.
    done: AtomicU64,
    /// `maxsize`; 0: no limit on the count. Set at creation.
    maxsize: AtomicU64,
    all_done: Waiters<SharedFutex>,
}

// SAFETY: `repr(C)`, only atomics and core primitives that are themselves `ShmSafe`
// with `SharedFutex` (`Lock`, `Waiters`): no pointers, valid at any address and in any
// process mapping it.
unsafe impl ShmSafe for State {}

impl State {
    fn new(maxsize: u64) -> Self {
        Self {
            put: Side::new(),
            get: Side::new(),
            done: AtomicU64::new(0),
            maxsize: AtomicU64::new(maxsize),
            all_done: Waiters::new(),
        }
    }
}

/// Releases a side's lock when dropped.
struct Held<'a>(&'a Lock<SharedFutex>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Held by this thread: release cannot fail.
        let _ = self.0.release();
    }
}

/// What every handle of one queue in this process shares.
struct Inner {
    /// The state and the ring in one mapping.
    block: RingBlock<State>,
    /// `close()` was called in this process.
    closed: AtomicBool,
}

/// One attempt's outcome that the waiting loops retry.
enum Attempt<R> {
    Done(R),
    Retry,
}

impl Inner {
    fn create(maxsize: usize, capacity: usize) -> Result<Self, SharedError> {
        let invalid = SharedError::Segment(SegmentError::InvalidCapacity(capacity));
        let capacity = capacity
            .max(MIN_CAPACITY)
            .checked_next_power_of_two()
            .ok_or(invalid)?;
        let maxsize = maxsize as u64;
        Ok(Self {
            block: RingBlock::create("conkit-mp-queue", capacity, || State::new(maxsize))?,
            closed: AtomicBool::new(false),
        })
    }

    fn attach(map: Mapping) -> Result<Self, SharedError> {
        Ok(Self {
            block: RingBlock::attach(map)?,
            closed: AtomicBool::new(false),
        })
    }

    fn state(&self) -> &State {
        self.block.state()
    }

    fn ring(&self) -> &Ring {
        self.block.ring()
    }

    /// Takes a side's lock (at most until `deadline`), repairing the count if its last
    /// holder died. `None` at the deadline.
    fn lock_side<'a>(
        &'a self,
        lock: &'a Lock<SharedFutex>,
        deadline: Option<Instant>,
        put_side: bool,
    ) -> Option<Held<'a>> {
        let how = match deadline {
            None => lock.acquire_or_recover(),
            Some(d) => lock.acquire_until_or_recover(d)?,
        };
        let held = Held(lock);
        if how == Acquired::OwnerDied {
            self.repair(put_side);
        }
        Some(held)
    }

    /// After a holder of the side's lock died: counts the one item it may have
    /// published (or taken out) but not counted. At most one, as one item is moved per
    /// turn, and the ring's position changes exactly when one is.
    fn repair(&self, put_side: bool) {
        let st = self.state();
        let ring = self.ring();
        if put_side {
            // SAFETY: we hold the producers' lock: the only producer handle in use.
            let pos = unsafe { ring.lease_producer() }.position();
            if st.put.repair(pos) {
                st.put.moved.notify_all();
            }
        } else {
            // SAFETY: we hold the consumers' lock.
            let pos = unsafe { ring.lease_consumer() }.position();
            if st.get.repair(pos) {
                st.get.moved.notify_all();
            }
        }
    }

    /// Repairs a side's count if its lock is free of live holders and its last holder
    /// died (the side may see no operation for a while: a get on an empty queue does
    /// not take the consumers' lock, a put on a full one waits without it).
    fn repair_if_dead(&self, put_side: bool) {
        let st = self.state();
        let side = if put_side { &st.put } else { &st.get };
        if let Some(how) = side.lock.try_acquire_or_recover() {
            let _held = Held(&side.lock);
            if how == Acquired::OwnerDied {
                self.repair(put_side);
            }
        }
    }

    fn qsize(&self) -> u64 {
        let st = self.state();
        // `gets` first: both only grow, so this never under-reads `puts` against it.
        let gets = st.get.counted();
        st.put.counted().saturating_sub(gets)
    }

    fn maxsize(&self) -> u64 {
        self.state().maxsize.load(Ordering::Relaxed)
    }

    /// One try to put the encoded item `bytes` (its length checked by the caller).
    fn try_put(&self, bytes: &[u8], deadline: Option<Instant>) -> Attempt<()> {
        let st = self.state();
        let Some(_held) = self.lock_side(&st.put.lock, deadline, true) else {
            return Attempt::Retry;
        };
        let max = st.maxsize.load(Ordering::Relaxed);
        if max != 0 && st.put.counted().saturating_sub(st.get.counted()) >= max {
            drop(_held);
            // Full by the count: unless a consumer died between taking an item out
            // and counting it.
            self.repair_if_dead(false);
            return Attempt::Retry;
        }
        // SAFETY: we hold the producers' lock: the only producer handle in use.
        let mut tx = unsafe { self.ring().lease_producer() };
        match tx.send(bytes) {
            Ok(()) => {
                let pos = tx.position();
                drop(tx);
                st.put.count_one(pos);
                drop(_held);
                st.put.moved.notify_one();
                Attempt::Done(())
            }
            // `TooLarge` was ruled out by the caller; nobody abandons the ring.
            Err(GrantError::Full | GrantError::TooLarge { .. } | GrantError::Disconnected) => {
                Attempt::Retry
            }
        }
    }

    /// One try to take an item and decode it with `f`.
    fn try_get<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Attempt<Result<R, GetError>> {
        let st = self.state();
        if self.ring().is_empty() {
            // Also where a consumer that died uncounted is noticed when nothing else
            // would take the consumers' lock.
            self.repair_if_dead(false);
            return Attempt::Retry;
        }
        let Some(held) = self.lock_side(&st.get.lock, deadline, false) else {
            return Attempt::Retry;
        };
        // SAFETY: we hold the consumers' lock: the only consumer handle in use.
        let mut rx = unsafe { self.ring().lease_consumer() };
        let out = match rx.read() {
            Ok(grant) => {
                let r = f(&grant);
                grant.release();
                Ok(r)
            }
            Err(RecvError::Empty | RecvError::Disconnected) => return Attempt::Retry,
            Err(RecvError::Corrupt | RecvError::BufferTooSmall { .. }) => {
                return Attempt::Done(Err(GetError::Corrupt))
            }
        };
        let pos = rx.position();
        drop(rx);
        st.get.count_one(pos);
        drop(held);
        st.get.moved.notify_one();
        Attempt::Done(out)
    }

    /// Puts `bytes`, waiting for room until `deadline` (`block == false`: no wait for
    /// room).
    fn put_bytes(&self, bytes: &[u8], block: bool, deadline: Option<Instant>) -> bool {
        if !block {
            // The lock is held only for one copy (or by a dead holder, taken over), so
            // even the non-blocking form waits for it: `Full` means full, never busy.
            return matches!(self.try_put(bytes, None), Attempt::Done(()));
        }
        self.state()
            .get
            .moved
            .wait_until(deadline, || match self.try_put(bytes, deadline) {
                Attempt::Done(()) => Some(()),
                Attempt::Retry => None,
            })
            .is_some()
    }

    fn get_with<R>(
        &self,
        block: bool,
        deadline: Option<Instant>,
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<R, GetError> {
        if !block {
            // As in `put_bytes`: `Empty` means empty, never "another getter is busy"
            // (CPython's `get_nowait` raises `Empty` then).
            return match self.try_get(None, &mut f) {
                Attempt::Done(r) => r,
                Attempt::Retry => Err(GetError::Empty),
            };
        }
        self.state()
            .put
            .moved
            .wait_until(deadline, || match self.try_get(deadline, &mut f) {
                Attempt::Done(r) => Some(r),
                Attempt::Retry => None,
            })
            .unwrap_or(Err(GetError::Empty))
    }
}

thread_local! {
    /// The encoding buffer of `put` (reused: no allocation per item).
    static ENCODED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why an item was not put; the item comes back in every variant.
///
/// ```
/// use conkit::multiprocessing::{PutError, Queue};
///
/// let q: Queue<u8> = Queue::new(1).unwrap();
/// q.put(1).unwrap();
/// assert!(matches!(q.put_nowait(2), Err(PutError::Full(2))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue is full (`maxsize` items, or no room left in the ring's bytes): from
    /// the non-blocking form, or still full at the deadline (Python: `queue.Full`).
    Full(T),
    /// [`close`](Queue::close) was called in this process (Python: `ValueError: Queue
    /// … is closed`).
    Closed(T),
    /// The encoded item is larger than the ring's message cap ([`Queue::max_item_len`]);
    /// choose a larger ring with [`Queue::with_capacity`].
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The item could not be serialised (Python: a pickling error, raised in the
    /// feeder thread there).
    Encode {
        /// The item.
        item: T,
        /// Why.
        error: CodecError,
    },
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.put_nowait(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::Closed(t) => t,
            Self::TooLarge { item, .. } | Self::Encode { item, .. } => item,
        }
    }

    /// `true` for [`PutError::Full`].
    ///
    /// ```
    /// use conkit::multiprocessing::PutError;
    /// assert!(PutError::Full(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue full"),
            Self::Closed(_) => f.write_str("queue is closed"),
            Self::TooLarge { len, max, .. } => {
                write!(
                    f,
                    "item of {len} bytes exceeds the queue's cap of {max} bytes"
                )
            }
            Self::Encode { error, .. } => write!(f, "item not queued: {error}"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}

/// Why no item was got.
///
/// ```
/// use conkit::multiprocessing::{GetError, Queue};
///
/// let q: Queue<u8> = Queue::new(0).unwrap();
/// assert_eq!(q.get_nowait(), Err(GetError::Empty));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// No item now (non-blocking form), or still none at the deadline (Python:
    /// `queue.Empty`).
    Empty,
    /// [`close`](Queue::close) was called in this process (Python: `ValueError`).
    Closed,
    /// An item was taken but could not be decoded as `T` (a peer put another type):
    /// it is consumed; the queue carries on.
    Decode(CodecError),
    /// The ring's next frame is impossible (the shared memory was overwritten by
    /// something else): nothing was taken.
    Corrupt,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("queue empty"),
            Self::Closed => f.write_str("queue is closed"),
            Self::Decode(e) => write!(f, "item dropped: {e}"),
            Self::Corrupt => f.write_str("queue memory corrupt"),
        }
    }
}

impl std::error::Error for GetError {}

/// Python's `queue.Empty` (a [`GetError`] variant).
pub use GetError::Empty;
/// Python's `queue.Full` (a [`PutError`] variant).
pub use PutError::Full;

/// A FIFO queue between processes (Python's `multiprocessing.Queue`) of serde values.
///
/// `Clone` shares the queue (within a process, as Python's object would be);
/// serialising it as a child process's argument hands it to the child (the mapping
/// travels through [`inherit`](super::inherit)). See the [module docs](self) for the
/// carrier, the byte capacity and how it differs from CPython.
///
/// ```
/// use conkit::multiprocessing::Queue;
/// use std::time::Duration;
///
/// let q: Queue<Vec<u8>> = Queue::with_capacity(2, 1 << 16).unwrap();
/// q.put(vec![1, 2]).unwrap();
/// q.put_timeout(vec![3], Duration::from_millis(10)).unwrap();
/// assert!(q.full());
/// assert!(q.put_timeout(vec![4], Duration::from_millis(10)).unwrap_err().is_full());
/// assert_eq!(q.get().unwrap(), vec![1, 2]);
/// ```
pub struct Queue<T> {
    inner: Arc<Inner>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    /// Shows the counts, never the items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.inner.qsize())
            .field("maxsize", &self.inner.maxsize())
            .field("capacity", &self.inner.ring().capacity())
            .finish()
    }
}

impl<T> Serialize for Queue<T> {
    /// As its [`Mapping`]: only inside a child's start ([`inherit::collect`](super::inherit::collect)).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.inner.block.mapping().serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Mapping::deserialize(d)?;
        let inner = Inner::attach(map).map_err(D::Error::custom)?;
        Ok(Self {
            inner: Arc::new(inner),
            _items: PhantomData,
        })
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` items (0: no limit but the ring's
    /// [`DEFAULT_CAPACITY`] bytes). Python's `Queue(maxsize=0)`; fails only if the
    /// shared memory cannot be made.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<String> = Queue::new(0).unwrap();
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Result<Self, SharedError> {
        Self::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` items whose ring holds `capacity` bytes (rounded
    /// up to a power of two, at least [`MIN_CAPACITY`]); items may be up to half of it
    /// less 8 bytes.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<Vec<u8>> = Queue::with_capacity(0, 10_000).unwrap();
    /// assert_eq!(q.capacity(), 16384);
    /// assert_eq!(q.max_item_len(), 8184);
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Self, SharedError> {
        Ok(Self {
            inner: Arc::new(Inner::create(maxsize, capacity)?),
            _items: PhantomData,
        })
    }

    fn put_inner(
        &self,
        item: T,
        block: bool,
        deadline: Option<Instant>,
    ) -> Result<(), PutError<T>> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(PutError::Closed(item));
        }
        let max = self.inner.ring().max_message();
        let outcome = ENCODED.with(|buf| {
            // A re-entrant put (from a `Serialize` impl) gets its own buffer.
            let mut own = Vec::new();
            let mut guard = buf.try_borrow_mut();
            let buf: &mut Vec<u8> = match guard {
                Ok(ref mut b) => b,
                Err(_) => &mut own,
            };
            buf.clear();
            if let Err(error) = codec::extend(buf, &item) {
                return Err(Err(error));
            }
            if buf.len() > max {
                return Err(Ok(buf.len()));
            }
            Ok(self.inner.put_bytes(buf, block, deadline))
        });
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(PutError::Full(item)),
            Err(Ok(len)) => Err(PutError::TooLarge { item, len, max }),
            Err(Err(error)) => Err(PutError::Encode { item, error }),
        }
    }

    /// Puts `item`, waiting as long as the queue is full (Python: `q.put(item)`). The
    /// item is serialised and in the shared ring when this returns.
    ///
    /// # Errors
    /// [`PutError::Closed`], [`PutError::TooLarge`], [`PutError::Encode`] (never `Full`).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<String> = Queue::new(0).unwrap();
    /// q.put("x".to_string()).unwrap();
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, true, None)
    }

    /// Puts `item`, waiting at most `timeout` for room (Python:
    /// `q.put(item, timeout=t)`); [`PutError::Full`] after that.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    /// use std::time::Duration;
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// q.put_timeout(1, Duration::from_millis(5)).unwrap();
    /// assert!(q.put_timeout(2, Duration::from_millis(5)).unwrap_err().is_full());
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, Instant::now() + timeout)
    }

    /// Puts `item`, waiting for room at most until `deadline`.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    /// use std::time::Instant;
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// q.put_until(1, Instant::now()).unwrap();
    /// assert!(q.put_until(2, Instant::now()).is_err());
    /// ```
    pub fn put_until(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.put_inner(item, true, Some(deadline))
    }

    /// Puts `item` only if there is room now (Python: `q.put_nowait(item)`,
    /// `q.put(item, block=False)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Full, Queue};
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// q.put_nowait(1).unwrap();
    /// assert!(matches!(q.put_nowait(2), Err(Full(2))));
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, false, None)
    }

    fn get_inner(&self, block: bool, deadline: Option<Instant>) -> Result<T, GetError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        self.inner
            .get_with(block, deadline, |bytes| codec::from_bytes::<T>(bytes))?
            .map_err(GetError::Decode)
    }

    /// Takes the oldest item, waiting as long as the queue is empty (Python:
    /// `q.get()`).
    ///
    /// # Errors
    /// [`GetError::Closed`], [`GetError::Decode`], [`GetError::Corrupt`].
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// q.put(5).unwrap();
    /// assert_eq!(q.get(), Ok(5));
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_inner(true, None)
    }

    /// Takes the oldest item, waiting at most `timeout` (Python: `q.get(timeout=t)`);
    /// [`GetError::Empty`] after that.
    ///
    /// ```
    /// use conkit::multiprocessing::{Empty, Queue};
    /// use std::time::Duration;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(Empty));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(Instant::now() + timeout)
    }

    /// Takes the oldest item, waiting at most until `deadline`.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    /// use std::time::Instant;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// assert!(q.get_until(Instant::now()).is_err());
    /// ```
    pub fn get_until(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_inner(true, Some(deadline))
    }

    /// Takes the oldest item if there is one now (Python: `q.get_nowait()`,
    /// `q.get(block=False)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Empty, Queue};
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// assert_eq!(q.get_nowait(), Err(Empty));
    /// ```
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_inner(false, None)
    }

    /// [`put`](Self::put) for async code: retried on each poll; while the queue is
    /// full a helper thread waits on the shared memory and wakes the task (see the
    /// [module docs](self)). Cancel-safe: the item is put only by the poll that
    /// returns `Ok`.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     q.put_async(1).await.unwrap();
    ///     assert_eq!(q.get_async().await, Ok(1));
    /// });
    /// ```
    pub async fn put_async(&self, item: T) -> Result<(), PutError<T>> {
        let mut item = Some(item);
        asynch::until(proxy(&self.inner, Waiting::NotFull), || {
            let it = item.take()?;
            match self.put_nowait(it) {
                Err(PutError::Full(it)) => {
                    item = Some(it);
                    None
                }
                other => Some(other),
            }
        })
        .await
    }

    /// [`get`](Self::get) for async code: retried on each poll; while the queue is
    /// empty a helper thread waits on the shared memory and wakes the task. Cancel-safe:
    /// an item is taken only by the poll that returns it.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<String> = Queue::new(0).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || q2.put("late".into()).unwrap());
    /// assert_eq!(rt.block_on(q.get_async()), Ok("late".to_string()));
    /// t.join().unwrap();
    /// ```
    pub async fn get_async(&self) -> Result<T, GetError> {
        asynch::until(proxy(&self.inner, Waiting::NotEmpty), || {
            match self.get_nowait() {
                Err(GetError::Empty) => None,
                other => Some(other),
            }
        })
        .await
    }
}

impl<T> Queue<T> {
    /// The number of items in the queue: exact whenever no put or get is under way
    /// (Python's is approximate).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.qsize(), 2);
    /// ```
    pub fn qsize(&self) -> usize {
        usize::try_from(self.inner.qsize()).unwrap_or(usize::MAX)
    }

    /// `true` only when no item is in the queue (an item being got still counts).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// assert!(q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.inner.ring().is_empty()
    }

    /// `true` when `maxsize` items are in the queue (0: never by count; a ring out of
    /// bytes is not reported here, `put` then waits).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(1).unwrap();
    /// q.put(1).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        let max = self.inner.maxsize();
        max != 0 && self.inner.qsize() >= max
    }

    /// The item limit given at creation (0: none).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// assert_eq!(Queue::<u8>::new(3).unwrap().maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        usize::try_from(self.inner.maxsize()).unwrap_or(usize::MAX)
    }

    /// The ring's size in bytes.
    ///
    /// ```
    /// use conkit::multiprocessing::{Queue, DEFAULT_CAPACITY};
    ///
    /// assert_eq!(Queue::<u8>::new(0).unwrap().capacity(), DEFAULT_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.ring().capacity()
    }

    /// The largest encoded item the ring takes (half of it less 8 bytes).
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// assert_eq!(Queue::<u8>::with_capacity(0, 4096).unwrap().max_item_len(), 2040);
    /// ```
    pub fn max_item_len(&self) -> usize {
        self.inner.ring().max_message()
    }

    /// This process will neither put nor get through this queue any more (every
    /// clone in the process included): later calls fail with `Closed`. Other processes
    /// are unaffected, and the memory lives while any process holds the queue. As
    /// Python's `close()` (which also raises `ValueError` in `put`/`get` afterwards).
    ///
    /// ```
    /// use conkit::multiprocessing::{PutError, Queue};
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// q.close();
    /// assert_eq!(q.put(1), Err(PutError::Closed(1)));
    /// ```
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
    }

    /// Python's `join_thread()`: waits for the feeder thread to flush. There is no
    /// feeder thread (every `put` is in shared memory when it returns), so there is
    /// nothing to wait for; returns at once.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.close();
    /// q.join_thread();
    /// ```
    pub fn join_thread(&self) {}

    /// Python's `cancel_join_thread()`: lets a process exit without flushing its
    /// feeder thread (losing data). Nothing is ever buffered in the process here, so it
    /// has no effect and loses nothing.
    ///
    /// ```
    /// use conkit::multiprocessing::Queue;
    ///
    /// let q: Queue<u8> = Queue::new(0).unwrap();
    /// q.cancel_join_thread();
    /// ```
    pub fn cancel_join_thread(&self) {}
}

/// What the proxy of an async form waits for (see [`asynch`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    NotEmpty = 11,
    NotFull = 12,
    AllDone = 13,
}

/// A queue's proxy wait: on the shared [`Waiters`] the blocking forms sleep on (woken
/// by another process's futex wake).
struct QueueWatch {
    inner: Arc<Inner>,
    what: Waiting,
}

impl Watch for QueueWatch {
    /// Gets so far: "room" is only seen as "a get happened since".
    fn mark(&self) -> u64 {
        self.inner.state().get.counted()
    }

    fn wait(&self, mark: u64, slice: Duration) -> Outcome {
        let (inner, st) = (&self.inner, self.inner.state());
        let deadline = Some(Instant::now() + slice);
        let woke = match self.what {
            Waiting::NotEmpty => st
                .put
                .moved
                .wait_until(deadline, || (!inner.ring().is_empty()).then_some(())),
            Waiting::NotFull => st
                .get
                .moved
                .wait_until(deadline, || (st.get.counted() != mark).then_some(())),
            Waiting::AllDone => st.all_done.wait_until(deadline, || {
                (st.done.load(Ordering::Acquire) >= st.put.counted()).then_some(())
            }),
        };
        if woke.is_some() {
            Outcome::Changed
        } else {
            Outcome::TimedOut
        }
    }
}

/// This process's proxy waiter for `inner` awaited as `what`.
fn proxy(inner: &Arc<Inner>, what: Waiting) -> Arc<Proxy> {
    let addr = Arc::as_ptr(inner) as usize;
    Proxy::for_object(addr, what as u8, || {
        Box::new(QueueWatch {
            inner: Arc::clone(inner),
            what,
        })
    })
}

/// A [`Queue`] whose consumers report each item done, so that a producer can wait
/// for all of them (Python's `multiprocessing.JoinableQueue`): [`task_done`](Self::task_done)
/// and [`join`](Self::join); every [`Queue`] method through `Deref`.
///
/// The count of unfinished tasks is shared memory: items put minus `task_done` calls,
/// in any process. A consumer that dies between `get` and `task_done` leaves its task
/// unfinished for good (`join` then waits forever, as in CPython; use
/// [`join_timeout`](Self::join_timeout)).
///
/// ```
/// use conkit::multiprocessing::JoinableQueue;
///
/// let q: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
/// q.put(1).unwrap();
/// let worker = {
///     let q = q.clone();
///     std::thread::spawn(move || {
///         let _item = q.get().unwrap();
///         q.task_done().unwrap();
///     })
/// };
/// q.join();
/// assert!(q.task_done().is_err()); // nothing left to mark
/// worker.join().unwrap();
/// ```
// Serialised as the `Queue` inside: only as a child process's argument.
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue of at most `maxsize` items (0: no limit but the ring's bytes).
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Result<Self, SharedError> {
        Ok(Self {
            queue: Queue::new(maxsize)?,
        })
    }

    /// A joinable queue whose ring holds `capacity` bytes (see
    /// [`Queue::with_capacity`]).
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::with_capacity(0, 8192).unwrap();
    /// assert_eq!(q.capacity(), 8192);
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Self, SharedError> {
        Ok(Self {
            queue: Queue::with_capacity(maxsize, capacity)?,
        })
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one item got from the queue as processed (Python: `q.task_done()`).
    ///
    /// # Errors
    /// [`TaskDoneError::TooManyCalls`] when called more often than items were put
    /// (Python: `ValueError: task_done() called too many times`); the count is
    /// unchanged.
    ///
    /// ```
    /// use conkit::multiprocessing::{JoinableQueue, TaskDoneError};
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let st = self.queue.inner.state();
        let mut done = st.done.load(Ordering::Acquire);
        loop {
            // Items known put: every item got was put, and a put is counted just after
            // its item is published, so `gets` may be ahead of `puts` for an instant.
            let put = st.put.counted().max(st.get.counted());
            if done >= put {
                return Err(TaskDoneError::TooManyCalls);
            }
            match st
                .done
                .compare_exchange_weak(done, done + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => done = now,
            }
        }
        st.all_done.notify_all();
        Ok(())
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done), in all
    /// processes.
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        let st = self.queue.inner.state();
        let done = st.done.load(Ordering::Acquire);
        usize::try_from(st.put.counted().saturating_sub(done)).unwrap_or(usize::MAX)
    }

    fn all_done(&self) -> Option<()> {
        let st = self.queue.inner.state();
        (st.done.load(Ordering::Acquire) >= st.put.counted()).then_some(())
    }

    /// Waits until every item put so far (by any process) has been marked done
    /// (Python: `q.join()`).
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// q.join(); // nothing put: returns at once
    /// ```
    pub fn join(&self) {
        self.queue
            .inner
            .state()
            .all_done
            .wait_until(None, || self.all_done());
    }

    /// [`join`](Self::join), waiting at most `timeout`; `true` if every task is done.
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    /// use std::time::Duration;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert!(!q.join_timeout(Duration::from_millis(5)));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.queue
            .inner
            .state()
            .all_done
            .wait_until(Some(Instant::now() + timeout), || self.all_done())
            .is_some()
    }

    /// [`join`](Self::join) for async code (a helper thread waits on the shared memory
    /// while tasks are unfinished, see the [module docs](self)).
    ///
    /// ```
    /// use conkit::multiprocessing::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
    /// q.put(1).unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || {
    ///     q2.get().unwrap();
    ///     q2.task_done().unwrap();
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(q.join_async());
    /// t.join().unwrap();
    /// ```
    pub async fn join_async(&self) {
        asynch::until(proxy(&self.queue.inner, Waiting::AllDone), || {
            self.all_done()
        })
        .await;
    }
}

/// The simplest queue between processes (Python's `multiprocessing.SimpleQueue`):
/// `put`, `get`, `empty`, `close`; no item limit (the ring's bytes only: `put` waits
/// when they run out).
///
/// ```
/// use conkit::multiprocessing::SimpleQueue;
///
/// let q: SimpleQueue<String> = SimpleQueue::new().unwrap();
/// q.put("a".into()).unwrap();
/// assert!(!q.empty());
/// assert_eq!(q.get().unwrap(), "a");
/// assert!(q.empty());
/// ```
// Serialised as the `Queue` inside: only as a child process's argument.
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &self.queue.empty())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// An empty queue with a ring of [`DEFAULT_CAPACITY`] bytes.
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// assert!(SimpleQueue::<u8>::new().unwrap().empty());
    /// ```
    pub fn new() -> Result<Self, SharedError> {
        Ok(Self {
            queue: Queue::new(0)?,
        })
    }

    /// Puts `item`, waiting while the ring has no room for it.
    ///
    /// # Errors
    /// [`PutError::Closed`], [`PutError::TooLarge`], [`PutError::Encode`].
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
    /// q.put(1).unwrap();
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// Takes the oldest item, waiting while there is none.
    ///
    /// # Errors
    /// [`GetError::Closed`], [`GetError::Decode`], [`GetError::Corrupt`].
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
    /// q.put(9).unwrap();
    /// assert_eq!(q.get(), Ok(9));
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }

    /// [`put`](Self::put) for async code (as [`Queue::put_async`]).
    ///
    /// # Errors
    /// As [`put`](Self::put).
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(q.put_async(3)).unwrap();
    /// assert_eq!(q.get(), Ok(3));
    /// ```
    pub async fn put_async(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put_async(item).await
    }

    /// [`get`](Self::get) for async code (as [`Queue::get_async`]): woken by a put in
    /// any process.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || q2.put(4).unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(q.get_async()), Ok(4));
    /// t.join().unwrap();
    /// ```
    pub async fn get_async(&self) -> Result<T, GetError> {
        self.queue.get_async().await
    }
}

impl<T> SimpleQueue<T> {
    /// `true` only when no item is in the queue.
    ///
    /// ```
    /// use conkit::multiprocessing::SimpleQueue;
    ///
    /// assert!(SimpleQueue::<u8>::new().unwrap().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// This process will neither put nor get any more (Python's `close()` closes the
    /// pipe's two ends in this process); other processes are unaffected.
    ///
    /// ```
    /// use conkit::multiprocessing::{GetError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
    /// q.close();
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// ```
    pub fn close(&self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` in a forked child that then `_exit`s without unwinding (a process that
    /// dies at that point), and waits for it.
    fn in_child_that_dies(f: impl FnOnce()) {
        // SAFETY: the child only touches shared memory and atomics, then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            f();
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: our child; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    }

    #[test]
    fn an_item_a_dead_producer_published_uncounted_is_counted_by_the_next_put() {
        let q: Queue<u32> = Queue::new(0).unwrap();
        let bytes = codec::to_bytes(&7u32).unwrap();
        in_child_that_dies(|| {
            let st = q.inner.state();
            st.put.lock.acquire();
            // SAFETY: we hold the producers' lock.
            unsafe { q.inner.ring().lease_producer() }
                .send(&bytes)
                .unwrap();
            // Dies here: published, not counted, lock held.
        });
        assert_eq!(q.qsize(), 0);
        assert!(!q.empty());
        q.put(8).unwrap(); // takes the lock over and counts the orphan
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get(), Ok(7));
        assert_eq!(q.get(), Ok(8));
        assert_eq!(q.qsize(), 0);
    }

    /// A producer killed after counting its item but before recording the ring's
    /// position: the next put must not count the item a second time (`qsize` was 2
    /// with one item queued, found by mp_queue's producer_killed_mid_put).
    #[test]
    fn an_item_counted_by_a_producer_that_died_before_recording_is_not_counted_twice() {
        let q: Queue<u32> = Queue::new(0).unwrap();
        let bytes = codec::to_bytes(&7u32).unwrap();
        in_child_that_dies(|| {
            let st = q.inner.state();
            st.put.lock.acquire();
            // SAFETY: we hold the producers' lock.
            let mut tx = unsafe { q.inner.ring().lease_producer() };
            tx.send(&bytes).unwrap();
            drop(tx);
            // `count_one` up to its first store: counted, position not recorded.
            st.put.count.store((1 << 1) | MID_COUNT, Ordering::Release);
            // Dies here: lock held.
        });
        assert_eq!(q.qsize(), 1);
        q.put(8).unwrap(); // takes the lock over and completes the count
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get(), Ok(7));
        assert_eq!(q.get(), Ok(8));
        assert_eq!(q.qsize(), 0);
        assert!(q.empty());
    }

    #[test]
    fn an_item_a_dead_consumer_took_uncounted_is_counted_by_the_next_look() {
        let q: Queue<u32> = Queue::new(1).unwrap();
        q.put(1).unwrap();
        in_child_that_dies(|| {
            let st = q.inner.state();
            st.get.lock.acquire();
            // SAFETY: we hold the consumers' lock.
            let mut rx = unsafe { q.inner.ring().lease_consumer() };
            rx.read().unwrap().release();
            // Dies here: taken out, not counted, lock held.
        });
        assert!(q.empty());
        assert_eq!(q.qsize(), 1);
        // Full by the stale count; the put notices the dead consumer and goes in.
        q.put_timeout(2, Duration::from_secs(5)).unwrap();
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.qsize(), 0);
    }

    #[test]
    fn a_dead_consumer_is_noticed_by_a_get_on_the_empty_queue() {
        let q: Queue<u32> = Queue::new(0).unwrap();
        q.put(1).unwrap();
        in_child_that_dies(|| {
            q.inner.state().get.lock.acquire();
            // SAFETY: we hold the consumers' lock.
            unsafe { q.inner.ring().lease_consumer() }
                .read()
                .unwrap()
                .release();
        });
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
        assert_eq!(q.qsize(), 0);
    }
}
