//! The shared-memory carrier of a [`Pipe`](super::Pipe): one direction of a pipe is
//! the core byte ring ([`ShmByteRing<SharedFutex>`](conkit_core::byte_ring::ShmByteRing),
//! the ring `multiprocessing::queues` carries items in) in a `memfd`
//! [`Mapping`], beside a small state block of core primitives.
//!
//! Reference: the design note of issue #12 ("a shared-memory ring round trip is
//! 0.1-0.3 µs against 3-10 µs for a spinning socketpair"); the wake-up protocol is the
//! eventcount / "announce, re-check, sleep" pattern of the core's `Waiters`, with the
//! socket of the pipe as the thing slept on, so that `fileno`, `poll` and `wait` keep
//! working on a descriptor.
//!
//! Each frame in the ring starts with a tag byte: [`TAG_DATA`] (the message follows)
//! or [`TAG_SOCKET`] (the message is too large for the ring: it follows on the socket,
//! as a CPython frame after a [`FRAME`] byte; or it is a descriptor, sent with
//! [`send_handle`](super::Connection::send_handle): a [`HANDLE`] byte carrying it). The socket carries only those frames
//! and one-byte wake-ups ([`WAKE`]); every byte written to it is written under the
//! writers' lock, so frames and wake-ups never interleave.
//!
//! Several processes may hold the same end (a `fork` copies it, a child gets it as an
//! argument): the writers take turns with a robust [`Lock<SharedFutex>`](Lock), the
//! readers with another (each turn leases its side of the single-producer /
//! single-consumer ring, as the queues do). A holder killed inside a turn leaves the
//! lock to the next one ([`Acquired::OwnerDied`]); the ring publishes a message in one
//! store after it is written, so a killed writer leaves either a whole message or
//! nothing.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Instant;

use conkit_core::byte_ring::{GrantError, RecvError};
use conkit_core::lock::Lock;
use conkit_core::shm::ShmSafe;
use conkit_core::wait::{SharedFutex, Waiters};

use crate::multiprocessing::heap::{ByteRing, Mapping, RingBlock, SharedError};

/// Bytes of each direction's ring: messages of up to half of it (less the 8-byte frame
/// header and the tag byte) go through the ring, longer ones through the socket.
pub(super) const CAPACITY: usize = 64 * 1024;

/// Ring frame tag: the message follows in the frame.
pub(super) const TAG_DATA: u8 = 0;
/// Ring frame tag: the message is the next [`FRAME`] on the socket.
pub(super) const TAG_SOCKET: u8 = 1;
/// Socket byte: a wake-up for a reader that announced it sleeps (no data).
pub(super) const WAKE: u8 = b'W';
/// Socket byte: a CPython frame (length prefix and body) follows.
pub(super) const FRAME: u8 = b'M';
/// Socket byte: carries descriptors (`SCM_RIGHTS`) sent with
/// [`send_handle`](super::Connection::send_handle).
pub(super) const HANDLE: u8 = b'H';

/// A field on a cache line (pair) of its own.
#[repr(C, align(128))]
struct Line<T>(T);

/// The state block beside the ring, in the same mapping.
#[repr(C)]
struct State {
    /// Taken for each write turn (and held while a large frame goes on the socket).
    writers: Line<Lock<SharedFutex>>,
    /// Taken for each read turn (and held while a large frame comes off the socket).
    readers: Line<Lock<SharedFutex>>,
    /// 1 while a reader sleeps on the socket (or is about to): the next writer clears
    /// it and sends one [`WAKE`] byte.
    sleeping: Line<AtomicU32>,
    /// Writers waiting for room in the ring (notified when a read empties it).
    room: Line<Waiters<SharedFutex>>,
}

// SAFETY: `repr(C)`, only atomics and core primitives that are themselves `ShmSafe`
// with `SharedFutex` (`Lock`, `Waiters`): no pointers, valid at any address and in any
// process mapping it.
unsafe impl ShmSafe for State {}

/// One direction of a pipe: the state and the ring in one mapping
/// ([`RingBlock`], the layout the process queues use too).
pub(super) struct Dir {
    block: RingBlock<State>,
}

/// What a read turn found.
pub(super) enum Taken<R> {
    /// A message from the ring, handed to the caller's function.
    Data(R),
    /// The next message is on the socket; the readers' lock is still held (release it
    /// with [`Dir::end_read_turn`] once the frame is read).
    Socket,
    /// Nothing in the ring.
    Empty,
    /// A frame header or tag that no writer of this pipe wrote.
    Corrupt,
}

impl Dir {
    /// A fresh direction with an empty ring.
    pub(super) fn create() -> Result<Self, SharedError> {
        let block = RingBlock::create("conkit-mp-pipe", CAPACITY, || State {
            writers: Line(Lock::new()),
            readers: Line(Lock::new()),
            sleeping: Line(AtomicU32::new(0)),
            room: Line(Waiters::new()),
        })?;
        Ok(Self { block })
    }

    /// A direction created in another process, from its mapping (the header checks
    /// reject memory that is not a pipe direction's).
    pub(super) fn attach(map: Mapping) -> Result<Self, SharedError> {
        Ok(Self {
            block: RingBlock::attach(map)?,
        })
    }

    /// The mapping (what travels to a child).
    pub(super) fn mapping(&self) -> &Mapping {
        self.block.mapping()
    }

    fn state(&self) -> &State {
        self.block.state()
    }

    fn ring(&self) -> &ByteRing {
        self.block.ring()
    }

    /// The longest message that goes through the ring (longer ones: the socket).
    pub(super) fn max_inline(&self) -> usize {
        self.ring().max_message() - 1
    }

    /// Whether the ring holds a message (or a marker). Lock-free; a snapshot.
    pub(super) fn has_data(&self) -> bool {
        !self.ring().is_empty()
    }

    // ----- writers -----

    /// Starts a write turn (waits for the writers' lock; a dead holder's lock is taken
    /// over: it left a whole message or none in the ring).
    pub(super) fn begin_write_turn(&self) {
        let _ = self.state().writers.0.acquire_or_recover();
    }

    /// Ends a write turn.
    pub(super) fn end_write_turn(&self) {
        // Held by this thread: release cannot fail.
        let _ = self.state().writers.0.release();
    }

    /// Puts one frame (`tag`, then `body`) into the ring; inside a write turn.
    pub(super) fn put(&self, tag: u8, body: &[u8]) -> Result<(), GrantError> {
        // SAFETY: inside a write turn: the writers' lock makes this the only producer
        // handle of the ring in use, in any process.
        let mut tx = unsafe { self.ring().lease_producer() };
        let mut g = tx.grant(body.len() + 1)?;
        g[0] = tag;
        g[1..].copy_from_slice(body);
        g.commit(body.len() + 1);
        Ok(())
    }

    /// Waits (at most until `until`) for the readers to empty the ring, then puts the
    /// frame. Waiting for an empty ring rather than for the room of one frame is the
    /// hysteresis that keeps a writer faster than its reader from sleeping and being
    /// woken once per message: it sleeps once per ring-full, and the reader wakes it
    /// once, when it has taken the last message.
    pub(super) fn wait_room(
        &self,
        tag: u8,
        body: &[u8],
        until: Instant,
    ) -> Option<Result<(), GrantError>> {
        self.state().room.0.wait_until(Some(until), || {
            if self.has_data() {
                return None;
            }
            match self.put(tag, body) {
                Err(GrantError::Full) => None,
                other => Some(other),
            }
        })
    }

    /// After a put: whether a reader announced that it sleeps (then the caller sends
    /// one [`WAKE`] byte; the flag is cleared, so one per sleep). The writer's half of
    /// the Dekker pair: the ring's `tail` store, a `SeqCst` fence, the flag.
    pub(super) fn take_sleeper(&self) -> bool {
        fence(Ordering::SeqCst);
        let s = &self.state().sleeping.0;
        s.load(Ordering::Relaxed) != 0 && s.swap(0, Ordering::AcqRel) != 0
    }

    /// Waits (at most until `until`) for the readers to empty the ring (the wait of an
    /// async writer's proxy, see `connection::asynch`); `true` if it is empty.
    pub(super) fn wait_empty(&self, until: Instant) -> bool {
        self.state()
            .room
            .0
            .wait_until(Some(until), || (!self.has_data()).then_some(()))
            .is_some()
    }

    // ----- readers -----

    /// Takes one message (or marker) from the ring in a read turn, handing a message's
    /// bytes to `f`. On [`Taken::Socket`] the turn stays open.
    pub(super) fn take<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Taken<R> {
        let st = self.state();
        let _ = st.readers.0.acquire_or_recover();
        // SAFETY: we hold the readers' lock: the only consumer handle in use.
        let mut rx = unsafe { self.ring().lease_consumer() };
        let out = match rx.read() {
            Ok(g) => match g.split_first() {
                Some((&TAG_DATA, body)) => Taken::Data(f(body)),
                Some((&TAG_SOCKET, [])) => Taken::Socket,
                _ => Taken::Corrupt,
            },
            Err(RecvError::Empty | RecvError::Disconnected) => Taken::Empty,
            Err(RecvError::Corrupt | RecvError::BufferTooSmall { .. }) => Taken::Corrupt,
        };
        // (The grant was released when it dropped: the frame is consumed.)
        drop(rx);
        if !matches!(out, Taken::Socket) {
            let _ = st.readers.0.release();
        }
        // A writer waiting for room waits for an empty ring (see `wait_room`).
        if matches!(out, Taken::Data(_) | Taken::Socket) && !self.has_data() {
            st.room.0.notify_one();
        }
        out
    }

    /// Ends the read turn [`Taken::Socket`] left open.
    pub(super) fn end_read_turn(&self) {
        let _ = self.state().readers.0.release();
    }

    /// The reader's half of the Dekker pair before it sleeps on the socket: announce,
    /// fence, look again. `true`: a message came in the meantime (do not sleep).
    pub(super) fn announce_sleep(&self) -> bool {
        self.state().sleeping.0.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.has_data()
    }
}
