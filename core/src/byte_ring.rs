//! A framed single-producer / single-consumer byte ring: variable-size messages,
//! length-prefixed, written and read in place through zero-copy grants.
//!
//! [`ByteRingIn`] carries messages of any size up to a cap (half the buffer, less the
//! 8-byte frame header) from one [`ByteProducer`] to one [`ByteConsumer`]. The producer
//! asks for a [`WriteGrant`] of `n` bytes (a `&mut [u8]` inside the ring), fills it and
//! commits the part it used; the consumer gets a [`ReadGrant`] (a `&[u8]` of exactly
//! one message) and releases it. Nothing is copied but by the caller; the copying
//! forms [`ByteProducer::send`] / [`ByteConsumer::recv`] are built on the grants.
//!
//! Storage: `[Word; WORDS]` inline ([`ByteRing`], `const fn new`), or an unsized
//! `[Word]` whose length is chosen at run time, following the ring in a shared mapping
//! ([`ShmByteRing`], made with [`ShmByteRing::create_in`]): the carrier of queues and
//! pipes between processes.
//!
//! # Algorithm and provenance
//! * Positions and ownership are those of the classic SPSC ring (Lamport 1983, as in
//!   [`crate::spsc`]): `tail` is written by the producer only, `head` by the consumer
//!   only, each published with `Release` after the bytes it covers are written (or
//!   read) and read by the other side with `Acquire`; each side caches the other's
//!   position and reloads it only when the cache says "full" / "empty". Positions count
//!   bytes, always multiples of 8, and wrap freely; the capacity is a power of two.
//! * Frames: an 8-byte header word (the length, or the `PAD` bit) followed by the
//!   payload, padded to 8 bytes, so a frame never shares a word with another.
//! * Wrap-around: a message is always contiguous (zero-copy). When it does not fit
//!   before the end of the buffer, the producer writes a padding frame (`PAD`) over the
//!   rest and places the message at offset 0; the consumer skips a padding frame. This
//!   is the padding record of Aeron's log buffers and of the Linux BPF ring buffer; it
//!   replaces `bbqueue`'s watermark (the grant API follows `bbqueue`: `grant` /
//!   `commit`, `read` / `release`). A message of at most half the buffer always fits
//!   once the ring is empty: either before the end, or, the end being shorter, after a
//!   padding of less than half.
//! * A header from a peer that wrote nonsense (another process, a bug) is reported as
//!   [`RecvError::Corrupt`], never read past the buffer.
//!
//! # Notification
//! As for [`crate::spsc`]: the wait-free forms ([`ByteProducer::grant`],
//! [`ByteProducer::send`], [`ByteConsumer::read`], [`ByteConsumer::recv`], and the
//! commits and releases of their grants) never wake the other side (a wake-up costs a
//! `SeqCst` fence, which per small message would dominate: measured 2 M instead of tens
//! of M 64-byte messages per second between two processes). The blocking forms (`*_until`)
//! and the grants they return wake the other side after their operation. A side that
//! uses only the wait-free forms while the other side sleeps calls
//! [`ByteProducer::notify`] / [`ByteConsumer::notify`] after a batch. Dropping a handle
//! marks the ring abandoned and wakes the other side.
//!
//! # Example
//! ```
//! use conkit_core::byte_ring::{ByteRing, RecvError};
//! use conkit_core::wait::Spin;
//!
//! let mut ring: ByteRing<16, Spin> = ByteRing::new(); // 128 bytes
//! let (mut tx, mut rx) = ring.split();
//! assert_eq!(tx.max_message(), 56);
//!
//! let mut grant = tx.grant(11).unwrap();
//! grant.copy_from_slice(b"hello world");
//! grant.commit(5); // only "hello" is sent
//! tx.send(b"!").unwrap();
//!
//! let msg = rx.read().unwrap();
//! assert_eq!(&*msg, b"hello");
//! msg.release();
//! let mut buf = [0u8; 8];
//! assert_eq!(rx.recv(&mut buf), Ok(1));
//! assert_eq!(&buf[..1], b"!");
//! assert!(matches!(rx.read(), Err(RecvError::Empty)));
//! ```

use core::fmt;
#[cfg(not(loom))]
use core::ops::{Deref, DerefMut};

use crate::atomic::{maybe_const_fn, AtomicBool, AtomicU32, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};
use crate::CachePadded;

#[cfg(not(loom))]
mod shared;
#[cfg(not(loom))]
pub use shared::ShmByteRing;

/// The `PAD` bit of a frame header: the rest of the buffer up to its end is padding.
const PAD: u64 = 1 << 63;
/// Bytes of a frame header.
const HEADER: usize = 8;

/// One 8-byte cell of a byte ring's buffer. Only the ring reads and writes it; it
/// appears in the storage type of [`ByteRing`] (`[Word; WORDS]`) and [`ShmByteRing`]
/// (`[Word]`).
///
/// ```
/// use conkit_core::byte_ring::{ByteRing, ByteRingIn, Word};
///
/// let ring: ByteRingIn<[Word; 4]> = ByteRing::<4>::new();
/// assert_eq!(ring.capacity(), 4 * core::mem::size_of::<Word>());
/// ```
#[repr(transparent)]
pub struct Word(UnsafeCell<u64>);

impl Word {
    maybe_const_fn! {
        /// A zero word.
        fn new() -> Self {
            Self(UnsafeCell::new(0))
        }
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Word(..)")
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Where a byte ring keeps its buffer: `[Word; N]` inline or `[Word]` (unsized, in a
/// shared mapping). Sealed: the ring relies on the length being a power of two `>= 2`
/// that never changes, which only this crate's constructors guarantee.
///
/// ```
/// use conkit_core::byte_ring::{ByteRingIn, Word, Words};
///
/// fn capacity<B: Words + ?Sized>(ring: &ByteRingIn<B>) -> usize {
///     ring.capacity()
/// }
/// let ring: ByteRingIn<[Word; 8]> = ByteRingIn::new();
/// assert_eq!(capacity(&ring), 64);
/// ```
pub trait Words: sealed::Sealed {
    /// The buffer.
    fn words(&self) -> &[Word];
}

impl<const N: usize> sealed::Sealed for [Word; N] {}
impl<const N: usize> Words for [Word; N] {
    #[inline(always)]
    fn words(&self) -> &[Word] {
        self
    }
}
impl sealed::Sealed for [Word] {}
impl Words for [Word] {
    #[inline(always)]
    fn words(&self) -> &[Word] {
        self
    }
}

/// The rarely written state of a ring.
#[repr(C)]
struct Flags {
    producer_gone: AtomicBool,
    consumer_gone: AtomicBool,
    producer_claimed: AtomicBool,
    consumer_claimed: AtomicBool,
    /// The [process token](WaitStrategy::process_token) of the process that claimed
    /// the producer (process-shared strategies only), else 0: probed by a blocked
    /// consumer.
    producer_owner: AtomicU32,
    /// The same for the consumer, probed by a blocked producer.
    consumer_owner: AtomicU32,
}

impl Flags {
    maybe_const_fn! {
        fn new() -> Self {
            Self {
                producer_gone: AtomicBool::new(false),
                consumer_gone: AtomicBool::new(false),
                producer_claimed: AtomicBool::new(false),
                consumer_claimed: AtomicBool::new(false),
                producer_owner: AtomicU32::new(0),
                consumer_owner: AtomicU32::new(0),
            }
        }
    }

    /// Whether the process recorded in `owner` is known to be dead (never with a
    /// process-private strategy, nor when nobody was recorded).
    #[inline]
    fn owner_dead<W: WaitStrategy>(owner: &AtomicU32) -> bool {
        if !W::PROCESS_SHARED {
            return false;
        }
        let token = owner.load(Ordering::Acquire);
        token != 0 && !W::owner_alive(token)
    }

    /// Records the calling process as the owner of a claimed side.
    #[inline]
    fn record_owner<W: WaitStrategy>(owner: &AtomicU32) {
        if W::PROCESS_SHARED {
            owner.store(W::process_token(), Ordering::Release);
        }
    }
}

/// A framed SPSC byte ring over the buffer `B` (see the [module docs](self)): use it as
/// [`ByteRing<WORDS, W>`] (inline) or [`ShmByteRing<W>`] (run-time capacity, shared
/// memory).
///
/// What a dead participant costs (a process killed while it holds a handle): a frame
/// is published only after it is written, so a producer killed mid-write leaves no
/// partial message; only the messages it had not committed (or committed deferred and
/// not flushed) are lost. A consumer killed mid-read frees nothing more. Its handle is
/// never dropped, but with a process-shared strategy (`SharedFutex`) the ring knows
/// which process claimed each side ([`claim_producer`](Self::claim_producer) /
/// [`claim_consumer`](Self::claim_consumer) record its
/// [process token](WaitStrategy::process_token)): a side blocked in a `*_until` form
/// (deadline or `None`) probes the other side's process once per sleep slice (see
/// [`Waiters::wait_until_probing`](crate::wait::Waiters::wait_until_probing)), and once it is gone gets
/// [`RecvError::Disconnected`] (after the messages the producer had published) or
/// [`GrantError::Disconnected`], within ~20 ms, as if the dead side had dropped its
/// handle. The wait-free forms do not probe (they see the ring abandoned once a
/// blocking form noticed). Nothing waits past its deadline, and no unbounded wait
/// outlives a dead peer; each side can be claimed once per ring, so a replacement
/// process needs a new ring. A side nobody has claimed yet is waited for. The process
/// that claimed a side is the one probed: claim in the process that uses the handle.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// let mut ring: ByteRing<64> = ByteRing::new(); // 512 bytes
/// let (mut tx, mut rx) = ring.split();
/// tx.send(b"hello").unwrap();
/// assert_eq!(&*rx.read().unwrap(), b"hello");
/// ```
#[repr(C)]
pub struct ByteRingIn<B: Words + ?Sized, W: WaitStrategy = DefaultWait> {
    /// Bytes consumed so far (wrapping); written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Bytes produced so far (wrapping); written by the producer only.
    tail: CachePadded<AtomicUsize>,
    not_empty: CachePadded<Waiters<W>>,
    not_full: CachePadded<Waiters<W>>,
    flags: CachePadded<Flags>,
    buf: B,
}

/// A framed SPSC byte ring of `WORDS` 8-byte words inline (`WORDS` a power of two
/// `>= 2`, checked at compile time), `const fn new`.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// static RING: ByteRing<512> = ByteRing::new(); // 4 KiB
/// assert_eq!(RING.capacity(), 4096);
/// ```
pub type ByteRing<const WORDS: usize, W = DefaultWait> = ByteRingIn<[Word; WORDS], W>;

// SAFETY: the buffer's bytes move from the producer's thread to the consumer's; a byte
// is accessed by one side at a time (the producer only in `[tail, head + C)`, the
// consumer only in `[head, tail)`), ordered by the Release/Acquire pair on the
// positions. `W` is never stored.
unsafe impl<B: Words + ?Sized, W: WaitStrategy> Sync for ByteRingIn<B, W> {}
// SAFETY: as above; the ring owns plain bytes only.
unsafe impl<B: Words + ?Sized, W: WaitStrategy> Send for ByteRingIn<B, W> {}

impl<const WORDS: usize, W: WaitStrategy> ByteRingIn<[Word; WORDS], W> {
    maybe_const_fn! {
        /// An empty ring of `8 * WORDS` bytes.
        pub fn new() -> Self {
            const { assert!(WORDS >= 2 && WORDS.is_power_of_two(), "ByteRing: WORDS must be a power of two >= 2") };
            Self {
                head: CachePadded::new(AtomicUsize::new(0)),
                tail: CachePadded::new(AtomicUsize::new(0)),
                not_empty: CachePadded::new(Waiters::new()),
                not_full: CachePadded::new(Waiters::new()),
                flags: CachePadded::new(Flags::new()),
                buf: Self::empty_words(),
            }
        }
    }

    #[cfg(not(loom))]
    const fn empty_words() -> [Word; WORDS] {
        [const { Word::new() }; WORDS]
    }

    #[cfg(loom)]
    fn empty_words() -> [Word; WORDS] {
        core::array::from_fn(|_| Word::new())
    }

    /// Splits the ring into its two handles (again once both are dropped).
    pub fn split(
        &mut self,
    ) -> (
        ByteProducer<'_, [Word; WORDS], W>,
        ByteConsumer<'_, [Word; WORDS], W>,
    ) {
        self.flags.producer_gone.store(false, Ordering::Relaxed);
        self.flags.consumer_gone.store(false, Ordering::Relaxed);
        (self.make_producer(), self.make_consumer())
    }
}

impl<const WORDS: usize, W: WaitStrategy> Default for ByteRingIn<[Word; WORDS], W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> ByteRingIn<B, W> {
    /// The buffer size in bytes (a power of two).
    #[inline(always)]
    pub fn capacity(&self) -> usize {
        self.buf.words().len() * 8
    }

    /// The largest message: half the buffer, less its header.
    #[inline(always)]
    pub fn max_message(&self) -> usize {
        self.capacity() / 2 - HEADER
    }

    /// Hands out the producer once in the ring's life, to whichever caller (in any
    /// process mapping the ring) asks first; `None` afterwards. Do not mix with `split`.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let ring: ByteRing<8> = ByteRing::new();
    /// let tx = ring.claim_producer().unwrap();
    /// assert!(ring.claim_producer().is_none());
    /// # drop(tx);
    /// ```
    pub fn claim_producer(&self) -> Option<ByteProducer<'_, B, W>> {
        if self.flags.producer_claimed.swap(true, Ordering::AcqRel) {
            None
        } else {
            Flags::record_owner::<W>(&self.flags.producer_owner);
            Some(self.make_producer())
        }
    }

    /// Hands out the consumer once (see [`claim_producer`](Self::claim_producer)).
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let ring: ByteRing<8> = ByteRing::new();
    /// let rx = ring.claim_consumer().unwrap();
    /// assert!(ring.claim_consumer().is_none());
    /// # drop(rx);
    /// ```
    pub fn claim_consumer(&self) -> Option<ByteConsumer<'_, B, W>> {
        if self.flags.consumer_claimed.swap(true, Ordering::AcqRel) {
            None
        } else {
            Flags::record_owner::<W>(&self.flags.consumer_owner);
            Some(self.make_consumer())
        }
    }

    /// A producer handle for one critical section: several producers (threads or
    /// processes) take turns on the one ring, each holding a lock of its own choosing
    /// while it holds the lease. The lease starts from the shared position and publishes
    /// on commit as usual; dropping it publishes deferred commits but neither abandons
    /// the ring nor wakes anyone. Whatever a lease holder that dies (a killed process)
    /// had not published is simply not there: the next lease starts from the last
    /// published position and writes over it. The turn-taking is what the process
    /// queues of `conkit::multiprocessing` do with a robust `Lock<SharedFutex>`: the
    /// ring stays single-producer at every instant.
    ///
    /// # Safety
    /// While the lease lives, no other producer handle of this ring may be used, in
    /// any process (no [`claim_producer`](Self::claim_producer)ed handle, no other
    /// lease): callers serialise leases with a lock.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let ring: ByteRing<16> = ByteRing::new();
    /// for m in [b"a", b"b"] {
    ///     // SAFETY: one lease at a time (this thread is the only user).
    ///     let mut tx = unsafe { ring.lease_producer() };
    ///     tx.send(m).unwrap();
    /// }
    /// // SAFETY: as above.
    /// let mut rx = unsafe { ring.lease_consumer() };
    /// assert!(!rx.is_abandoned());
    /// assert_eq!(&*rx.read().unwrap(), b"a");
    /// ```
    pub unsafe fn lease_producer(&self) -> ByteProducer<'_, B, W> {
        let mut p = self.make_producer();
        p.leased = true;
        p
    }

    /// A consumer handle for one critical section (see
    /// [`lease_producer`](Self::lease_producer)): starts from the shared position,
    /// releases as usual; dropping it publishes deferred releases but neither abandons
    /// the ring nor wakes anyone. A lease holder that dies before releasing a message
    /// leaves it in the ring for the next one.
    ///
    /// # Safety
    /// While the lease lives, no other consumer handle of this ring may be used, in any
    /// process: callers serialise leases with a lock.
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, RecvError};
    ///
    /// let ring: ByteRing<16> = ByteRing::new();
    /// // SAFETY: one lease of each side at a time.
    /// unsafe { ring.lease_producer() }.send(b"x").unwrap();
    /// assert!(!ring.is_empty());
    /// let mut rx = unsafe { ring.lease_consumer() };
    /// assert_eq!(&*rx.read().unwrap(), b"x");
    /// assert!(matches!(rx.read(), Err(RecvError::Empty)));
    /// drop(rx);
    /// assert!(ring.is_empty());
    /// ```
    pub unsafe fn lease_consumer(&self) -> ByteConsumer<'_, B, W> {
        let mut c = self.make_consumer();
        c.leased = true;
        c
    }

    /// `true` when every published message has been released (a message being read
    /// still counts). A snapshot: the other side may change it at once.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let ring: ByteRing<16> = ByteRing::new();
    /// assert!(ring.is_empty());
    /// // SAFETY: the only producer.
    /// unsafe { ring.lease_producer() }.send(b"x").unwrap();
    /// assert!(!ring.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // `head` first: positions only grow, so a later `tail` equal to it means the
        // ring was empty when `head` was read.
        let head = self.head.load(Ordering::Acquire);
        head == self.tail.load(Ordering::Acquire)
    }

    /// Whether the process that claimed the producer is gone (process-shared strategies
    /// only): if so, marks the ring abandoned by it, as its `Drop` would have.
    #[cfg_attr(loom, allow(dead_code))]
    fn producer_died(&self) -> bool {
        let dead = Flags::owner_dead::<W>(&self.flags.producer_owner);
        if dead {
            self.flags.producer_gone.store(true, Ordering::Release);
        }
        dead
    }

    /// Whether the process that claimed the consumer is gone; if so, marks the ring
    /// abandoned by it.
    #[cfg_attr(loom, allow(dead_code))]
    fn consumer_died(&self) -> bool {
        let dead = Flags::owner_dead::<W>(&self.flags.consumer_owner);
        if dead {
            self.flags.consumer_gone.store(true, Ordering::Release);
        }
        dead
    }

    fn make_producer(&self) -> ByteProducer<'_, B, W> {
        let tail = self.tail.load(Ordering::Acquire);
        ByteProducer {
            ring: self,
            tail,
            cached_head: self.head.load(Ordering::Acquire),
            pending: false,
            leased: false,
        }
    }

    fn make_consumer(&self) -> ByteConsumer<'_, B, W> {
        let head = self.head.load(Ordering::Acquire);
        ByteConsumer {
            ring: self,
            head,
            cached_tail: self.tail.load(Ordering::Acquire),
            pending: false,
            leased: false,
        }
    }

    /// The buffer offset of position `pos`.
    #[inline(always)]
    fn offset(&self, pos: usize) -> usize {
        pos & (self.capacity() - 1)
    }

    /// The word at byte offset `off` (a multiple of 8 below the capacity).
    #[inline(always)]
    fn word(&self, off: usize) -> &Word {
        let words = self.buf.words();
        debug_assert!(off % 8 == 0 && off / 8 < words.len());
        // SAFETY: every caller passes an offset from `offset()` (below the capacity)
        // rounded to 8, or a frame's data inside the buffer (checked by its caller).
        unsafe { words.get_unchecked(off / 8) }
    }

    /// Writes the header word at `off`.
    ///
    /// # Safety
    /// The word must be owned by the producer (free and not yet published).
    #[inline(always)]
    unsafe fn write_word(&self, off: usize, v: u64) {
        // SAFETY: owned by the caller, per the contract.
        self.word(off).0.with_mut(|p| unsafe { p.write(v) });
    }

    /// Reads the header word at `off`.
    ///
    /// # Safety
    /// The word must be owned by the consumer (published and not yet released).
    #[inline(always)]
    unsafe fn read_word(&self, off: usize) -> u64 {
        // SAFETY: owned by the caller, per the contract.
        self.word(off).0.with(|p| unsafe { p.read() })
    }

    /// The message whose header `h` (not `PAD`) sits at offset `off`, with `published`
    /// bytes published from there: (data offset, length), or [`RecvError::Corrupt`] if
    /// the length passes the cap ([`max_message`](Self::max_message)), the end of the
    /// buffer or the published bytes.
    ///
    /// One compare: the frame (`HEADER` + the length rounded up to 8) must fit in
    /// `room`, the least of the three limits, each a multiple of 8 (the cap's and the
    /// buffer end's always; the published bytes' unless a peer scribbled over `tail`,
    /// whence the rounding down), i.e. the length must be at most `room - HEADER`,
    /// itself a multiple of 8: `h < room - 7` (and no frame fits a `room` of 0).
    #[inline(always)]
    fn frame_at(&self, off: usize, h: u64, published: usize) -> Result<(usize, usize), RecvError> {
        let to_end = self.capacity() - off;
        let room = to_end.min(published).min(self.capacity() / 2) & !7;
        if h < (room as u64).saturating_sub(7) {
            // `h < room <= capacity`: fits `usize`.
            Ok((off + HEADER, h as usize))
        } else {
            Err(RecvError::Corrupt)
        }
    }

    /// A raw pointer to byte `off` of the buffer, for the zero-copy grants.
    #[cfg(not(loom))]
    #[inline(always)]
    fn byte_ptr(&self, off: usize) -> *mut u8 {
        // `Word` is `repr(transparent)` over our `UnsafeCell<u64>`, itself over
        // `core::cell::UnsafeCell<u64>`: the words are contiguous interior-mutable bytes.
        self.buf
            .words()
            .as_ptr()
            .cast::<u8>()
            .cast_mut()
            .wrapping_add(off)
    }

    /// Copies `src` to the bytes from `off` (word-aligned, inside the buffer).
    ///
    /// # Safety
    /// The bytes must be owned by the producer.
    #[inline]
    unsafe fn copy_in(&self, off: usize, src: &[u8]) {
        #[cfg(not(loom))]
        // SAFETY: owned by the caller; `src` is a separate borrow.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), self.byte_ptr(off), src.len())
        };
        #[cfg(loom)]
        for (k, chunk) in src.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: owned by the caller.
            unsafe { self.write_word(off + 8 * k, u64::from_le_bytes(w)) };
        }
    }

    /// Copies the bytes from `off` into `dst`.
    ///
    /// # Safety
    /// The bytes must be owned by the consumer.
    #[inline]
    unsafe fn copy_out(&self, off: usize, dst: &mut [u8]) {
        #[cfg(not(loom))]
        // SAFETY: owned by the caller; `dst` is a separate borrow.
        unsafe {
            core::ptr::copy_nonoverlapping(self.byte_ptr(off), dst.as_mut_ptr(), dst.len())
        };
        #[cfg(loom)]
        for (k, chunk) in dst.chunks_mut(8).enumerate() {
            // SAFETY: owned by the caller.
            let w = unsafe { self.read_word(off + 8 * k) }.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> fmt::Debug for ByteRingIn<B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteRing")
            .field("capacity", &self.capacity())
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A frame's size in the buffer: header plus payload rounded up to 8.
#[inline(always)]
fn frame_len(len: usize) -> usize {
    HEADER + len.next_multiple_of(8)
}

/// Why no write grant (or send) was possible.
///
/// ```
/// use conkit_core::byte_ring::{ByteRing, GrantError};
///
/// let mut ring: ByteRing<4> = ByteRing::new();
/// let (mut tx, rx) = ring.split();
/// assert_eq!(tx.send(&[0; 9]), Err(GrantError::TooLarge { len: 9, max: 8 }));
/// drop(rx);
/// while tx.send(b"x").is_ok() {}
/// assert_eq!(tx.send(b"x"), Err(GrantError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GrantError {
    /// The message is larger than [`ByteRingIn::max_message`].
    TooLarge {
        /// The size asked for.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not enough contiguous free space now (for `_until`: still at the deadline).
    Full,
    /// The consumer is gone: nothing written would ever be read.
    Disconnected,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLarge { len, max } => write!(f, "message of {len} bytes exceeds {max}"),
            Self::Full => f.write_str("byte ring full"),
            Self::Disconnected => f.write_str("byte ring consumer gone"),
        }
    }
}

impl core::error::Error for GrantError {}

/// Why no message could be read.
///
/// ```
/// use conkit_core::byte_ring::{ByteRing, RecvError};
///
/// let mut ring: ByteRing<4> = ByteRing::new();
/// let (tx, mut rx) = ring.split();
/// assert!(matches!(rx.read(), Err(RecvError::Empty)));
/// drop(tx);
/// assert!(matches!(rx.read(), Err(RecvError::Disconnected)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecvError {
    /// No message now (for `_until`: still none at the deadline).
    Empty,
    /// No message, and the producer is gone.
    Disconnected,
    /// The next frame's header is impossible (a length past the cap or the buffer's
    /// end): the peer wrote outside the protocol. Nothing was read.
    Corrupt,
    /// [`ByteConsumer::recv`]: the message is longer than the buffer given (it stays in
    /// the ring).
    BufferTooSmall {
        /// The message's length.
        len: usize,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("byte ring empty"),
            Self::Disconnected => f.write_str("byte ring producer gone"),
            Self::Corrupt => f.write_str("byte ring frame header corrupt"),
            Self::BufferTooSmall { len } => write!(f, "message of {len} bytes does not fit"),
        }
    }
}

impl core::error::Error for RecvError {}

/// The writing handle of a byte ring (unique: from [`ByteRingIn::split`] or
/// [`ByteRingIn::claim_producer`]). Dropping it publishes deferred commits, marks the
/// ring abandoned and wakes the consumer.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// let mut ring: ByteRing<8> = ByteRing::new();
/// let (mut tx, mut rx) = ring.split();
/// tx.send(b"a").unwrap();
/// drop(tx);
/// assert!(rx.is_abandoned());
/// assert_eq!(&*rx.read().unwrap(), b"a");
/// ```
pub struct ByteProducer<'a, B: Words + ?Sized, W: WaitStrategy = DefaultWait> {
    ring: &'a ByteRingIn<B, W>,
    /// Our position; the shared `tail` equals it between operations, but for
    /// deferred commits not yet published (`pending`).
    tail: usize,
    /// The consumer's position as last seen.
    cached_head: usize,
    /// Commits made with `commit_deferred` and not yet published.
    pending: bool,
    /// From [`ByteRingIn::lease_producer`]: dropping it does not abandon the ring.
    leased: bool,
}

impl<'a, B: Words + ?Sized, W: WaitStrategy> ByteProducer<'a, B, W> {
    /// The largest message.
    pub fn max_message(&self) -> usize {
        self.ring.max_message()
    }

    /// Where a message of `len` bytes goes: the padding to skip first (0 or the rest of
    /// the buffer). Checks the cap and the free space.
    ///
    /// The fast path (room left by the consumer's position as last seen) is a few
    /// compares, inlined into the grant and send forms; reloading the consumer's
    /// position, and everything a full ring entails, is out of line in
    /// [`place_full`](Self::place_full).
    #[inline(always)]
    fn place(&mut self, len: usize) -> Result<usize, GrantError> {
        let ring = self.ring;
        let cap = ring.capacity();
        if len > ring.max_message() {
            return Err(GrantError::TooLarge {
                len,
                max: ring.max_message(),
            });
        }
        let need = frame_len(len);
        let to_end = cap - ring.offset(self.tail);
        let pad = if need <= to_end { 0 } else { to_end };
        if cap - self.tail.wrapping_sub(self.cached_head) < pad + need {
            return self.place_full(pad, pad + need);
        }
        Ok(pad)
    }

    /// [`place`](Self::place) when the cached position says "full": reloads the
    /// consumer's position; if still full, publishes deferred commits and wakes the
    /// consumer.
    #[cold]
    #[inline(never)]
    fn place_full(&mut self, pad: usize, total: usize) -> Result<usize, GrantError> {
        let ring = self.ring;
        let cap = ring.capacity();
        self.cached_head = ring.head.load(Ordering::Acquire);
        if cap - self.tail.wrapping_sub(self.cached_head) < total {
            // Full: whatever was deferred must reach the consumer now, and wake it
            // (it may sleep while we wait for room: each would wait for the other).
            // (`conkit_mutant`: a broken variant the loom models must catch.)
            if self.pending && !cfg!(conkit_mutant = "byte_ring_no_flush_when_full") {
                self.flush();
                ring.not_empty.notify_one();
            }
            return Err(if ring.flags.consumer_gone.load(Ordering::Acquire) {
                GrantError::Disconnected
            } else {
                GrantError::Full
            });
        }
        Ok(pad)
    }

    /// The buffer offset of the header of a frame placed after `pad` bytes of padding.
    #[inline(always)]
    fn header_at(&self, pad: usize) -> usize {
        self.ring.offset(self.tail.wrapping_add(pad))
    }

    /// Writes the frames (padding, header for `used` bytes) and publishes them.
    ///
    /// # Safety
    /// `place` returned `pad` for a length `>= used`, `at` is
    /// [`header_at(pad)`](Self::header_at), and the payload is written.
    #[inline]
    unsafe fn publish(&mut self, pad: usize, at: usize, used: usize, notify: bool, defer: bool) {
        let ring = self.ring;
        if pad != 0 {
            // SAFETY: the padding lies in space `place` proved free.
            unsafe { ring.write_word(ring.offset(self.tail), PAD) };
        }
        // SAFETY: the header lies in space `place` proved free.
        unsafe { ring.write_word(at, used as u64) };
        self.tail = self.tail.wrapping_add(pad + frame_len(used));
        if defer {
            self.pending = true;
            return;
        }
        self.pending = false;
        self.store_tail();
        if notify {
            ring.not_empty.notify_one();
        }
    }

    fn store_tail(&self) {
        // (`conkit_mutant`: a broken variant the loom models must catch, see lib.rs.)
        let order = if cfg!(conkit_mutant = "byte_ring_tail_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.ring.tail.store(self.tail, order);
    }

    /// Publishes the messages committed with [`WriteGrant::commit_deferred`]
    /// (wait-free; wakes nobody). Also done by the next plain commit, when a grant finds
    /// the ring full, and when the producer is dropped.
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, RecvError};
    ///
    /// let mut ring: ByteRing<16> = ByteRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// for m in [b"a", b"b"] {
    ///     let mut g = tx.grant(1).unwrap();
    ///     g.copy_from_slice(m);
    ///     g.commit_deferred(1);
    /// }
    /// assert!(matches!(rx.read(), Err(RecvError::Empty))); // not published yet
    /// tx.flush(); // one index store for the batch
    /// assert_eq!(&*rx.read().unwrap(), b"a");
    /// ```
    pub fn flush(&mut self) {
        if self.pending {
            self.pending = false;
            self.store_tail();
        }
    }

    /// Reserves `len` contiguous bytes for one message, to be filled in place and
    /// [`commit`](WriteGrant::commit)ted (dropping the grant writes nothing).
    /// Wait-free.
    ///
    /// Fails with [`GrantError::TooLarge`], [`GrantError::Full`] or
    /// [`GrantError::Disconnected`] (full and the consumer gone). Not under `cfg(loom)`.
    #[cfg(not(loom))]
    pub fn grant(&mut self, len: usize) -> Result<WriteGrant<'_, 'a, B, W>, GrantError> {
        let pad = self.place(len)?;
        let at = self.header_at(pad);
        Ok(WriteGrant {
            producer: self,
            pad,
            at,
            len,
            notify: false,
        })
    }

    /// [`grant`](Self::grant), waiting (strategy `W`) while the ring is too full, at
    /// most until `deadline` (`None`: no limit); then [`GrantError::Full`]. Its commit
    /// wakes a consumer blocked in [`ByteConsumer::read_until`].
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, GrantError};
    /// use std::time::{Duration, Instant};
    ///
    /// let mut ring: ByteRing<4> = ByteRing::new();
    /// let (mut tx, _rx) = ring.split();
    /// tx.send(b"1").unwrap();
    /// tx.send(b"2").unwrap();
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert!(matches!(tx.grant_until(1, Some(soon)), Err(GrantError::Full)));
    /// ```
    #[cfg(not(loom))]
    #[inline]
    pub fn grant_until(
        &mut self,
        len: usize,
        deadline: Option<W::Deadline>,
    ) -> Result<WriteGrant<'_, 'a, B, W>, GrantError> {
        // The first look of the wait, inlined: the wait itself only when full.
        let pad = match self.place(len) {
            Err(GrantError::Full) => self.place_waiting(len, deadline)?,
            other => other?,
        };
        let at = self.header_at(pad);
        Ok(WriteGrant {
            producer: self,
            pad,
            at,
            len,
            notify: true,
        })
    }

    /// [`place`](Self::place), waiting while the ring is too full (the slow path of
    /// [`grant_until`](Self::grant_until)).
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn place_waiting(
        &mut self,
        len: usize,
        deadline: Option<W::Deadline>,
    ) -> Result<usize, GrantError> {
        let ring = self.ring;
        ring.not_full
            .wait_until_probing(deadline, |probe| match self.place(len) {
                Err(GrantError::Full) if probe && ring.consumer_died() => Some(self.place(len)),
                Err(GrantError::Full) => None,
                other => Some(other),
            })
            .unwrap_or(Err(GrantError::Full))
    }

    /// Copies `msg` into the ring as one message. Wait-free.
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, GrantError};
    ///
    /// let mut ring: ByteRing<4> = ByteRing::new(); // 32 bytes: messages up to 8
    /// let (mut tx, _rx) = ring.split();
    /// assert_eq!(tx.send(b"123456789"), Err(GrantError::TooLarge { len: 9, max: 8 }));
    /// tx.send(b"12345678").unwrap();
    /// tx.send(b"").unwrap();
    /// assert_eq!(tx.send(b"x"), Err(GrantError::Full));
    /// ```
    pub fn send(&mut self, msg: &[u8]) -> Result<(), GrantError> {
        self.send_inner(msg, false, false)
    }

    /// [`send`](Self::send) without publishing: the message reaches the consumer at
    /// the next [`flush`](Self::flush), plain commit or send, or when a send or grant
    /// finds the ring full (see [`WriteGrant::commit_deferred`]). Wait-free.
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, RecvError};
    ///
    /// let mut ring: ByteRing<8> = ByteRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.send_deferred(b"a").unwrap();
    /// tx.send_deferred(b"b").unwrap();
    /// assert!(matches!(rx.read(), Err(RecvError::Empty)));
    /// tx.flush();
    /// let mut buf = [0u8; 1];
    /// assert_eq!(rx.recv(&mut buf), Ok(1));
    /// assert_eq!(&buf, b"a");
    /// ```
    pub fn send_deferred(&mut self, msg: &[u8]) -> Result<(), GrantError> {
        self.send_inner(msg, false, true)
    }

    #[inline]
    fn send_inner(&mut self, msg: &[u8], notify: bool, defer: bool) -> Result<(), GrantError> {
        let pad = self.place(msg.len())?;
        let at = self.header_at(pad);
        // SAFETY: `place` proved the frame's bytes free; only we write them.
        unsafe {
            self.ring.copy_in(at + HEADER, msg);
            self.publish(pad, at, msg.len(), notify, defer);
        }
        Ok(())
    }

    /// [`send`](Self::send), waiting (strategy `W`) while the ring is full, at most
    /// until `deadline` (`None`: no limit); then [`GrantError::Full`]. Wakes a consumer
    /// blocked in a `*_until` read.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let mut ring: ByteRing<8> = ByteRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// std::thread::scope(|s| {
    ///     s.spawn(move || {
    ///         for i in 0..100u8 {
    ///             tx.send_until(&[i], None).unwrap();
    ///         }
    ///     });
    ///     let mut buf = [0u8; 1];
    ///     for i in 0..100u8 {
    ///         assert_eq!(rx.recv_until(&mut buf, None), Ok(1));
    ///         assert_eq!(buf[0], i);
    ///     }
    /// });
    /// ```
    pub fn send_until(
        &mut self,
        msg: &[u8],
        deadline: Option<W::Deadline>,
    ) -> Result<(), GrantError> {
        // The first look of the wait, inlined: the wait itself only when full.
        match self.send_inner(msg, true, false) {
            Err(GrantError::Full) => self.send_waiting(msg, deadline),
            other => other,
        }
    }

    /// [`send_until`](Self::send_until) once the ring was found full.
    #[cold]
    #[inline(never)]
    fn send_waiting(
        &mut self,
        msg: &[u8],
        deadline: Option<W::Deadline>,
    ) -> Result<(), GrantError> {
        let ring = self.ring;
        let mut outcome = Ok(());
        let done = ring.not_full.wait_until_probing(deadline, |probe| {
            match self.send_inner(msg, true, false) {
                Err(GrantError::Full) if probe && ring.consumer_died() => {
                    outcome = self.send_inner(msg, true, false);
                    Some(())
                }
                Err(GrantError::Full) => None,
                other => {
                    outcome = other;
                    Some(())
                }
            }
        });
        match done {
            Some(()) => outcome,
            None => Err(GrantError::Full),
        }
    }

    /// Wakes a consumer blocked in [`ByteConsumer::read_until`] (for producers that use
    /// the wait-free forms, see "Notification" in the [module docs](self)).
    pub fn notify(&self) {
        self.ring.not_empty.notify_one();
    }

    /// `true` once the consumer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.consumer_gone.load(Ordering::Acquire)
    }

    /// Bytes produced through this ring so far, this handle's deferred commits
    /// included (wrapping): a position that changes exactly when a message (with its
    /// padding) is committed.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let mut ring: ByteRing<16> = ByteRing::new();
    /// let (mut tx, _rx) = ring.split();
    /// assert_eq!(tx.position(), 0);
    /// tx.send(b"abc").unwrap();
    /// assert_eq!(tx.position(), 16); // 8-byte header + 3 bytes padded to 8
    /// ```
    pub fn position(&self) -> usize {
        self.tail
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> Drop for ByteProducer<'_, B, W> {
    fn drop(&mut self) {
        self.flush();
        if self.leased {
            return;
        }
        self.ring.flags.producer_gone.store(true, Ordering::Release);
        self.ring.not_empty.notify_all();
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> fmt::Debug for ByteProducer<'_, B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteProducer")
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// `len` contiguous bytes reserved in the ring for one message (see
/// [`ByteProducer::grant`]): fill them through `DerefMut`, then `commit`.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// let mut ring: ByteRing<8> = ByteRing::new();
/// let (mut tx, mut rx) = ring.split();
/// let mut g = tx.grant(4).unwrap();
/// g.copy_from_slice(&7u32.to_le_bytes());
/// g.commit(4);
/// assert_eq!(*rx.read().unwrap(), 7u32.to_le_bytes());
/// ```
#[cfg(not(loom))]
pub struct WriteGrant<'g, 'a, B: Words + ?Sized, W: WaitStrategy> {
    producer: &'g mut ByteProducer<'a, B, W>,
    pad: usize,
    /// The buffer offset of the frame's header (`ByteProducer::header_at(pad)`).
    at: usize,
    len: usize,
    /// Made by a blocking form: the commit wakes the consumer.
    notify: bool,
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> WriteGrant<'_, '_, B, W> {
    /// Publishes the first `used` bytes (at most the grant's length) as one message
    /// (with any deferred commits before it).
    pub fn commit(self, used: usize) {
        let used = used.min(self.len);
        // SAFETY: `place` returned `pad` for `len >= used`; the caller wrote the bytes.
        unsafe {
            self.producer
                .publish(self.pad, self.at, used, self.notify, false)
        };
    }

    /// Commits the first `used` bytes as one message without publishing it yet: a batch
    /// of deferred commits is published by one index store at
    /// [`ByteProducer::flush`] (or the next plain commit, or when a grant finds the ring
    /// full), sparing the consumer a cache-line transfer per message.
    pub fn commit_deferred(self, used: usize) {
        let used = used.min(self.len);
        // SAFETY: as in `commit`.
        unsafe { self.producer.publish(self.pad, self.at, used, false, true) };
    }

    fn data(&self) -> *mut u8 {
        self.producer.ring.byte_ptr(self.at + HEADER)
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> Deref for WriteGrant<'_, '_, B, W> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes from `data()` lie inside the buffer (a frame fits before
        // its end) in space only the producer owns until it publishes; `u8` has no
        // invalid values (and the bytes were initialised when the ring was).
        unsafe { core::slice::from_raw_parts(self.data(), self.len) }
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> DerefMut for WriteGrant<'_, '_, B, W> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(self.data(), self.len) }
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> fmt::Debug for WriteGrant<'_, '_, B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGrant")
            .field("len", &self.len)
            .finish()
    }
}

/// The reading handle of a byte ring (unique: from [`ByteRingIn::split`] or
/// [`ByteRingIn::claim_consumer`]). Dropping it publishes deferred releases, marks the
/// ring abandoned and wakes the producer.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// let mut ring: ByteRing<8> = ByteRing::new();
/// let (mut tx, mut rx) = ring.split();
/// tx.send(b"abc").unwrap();
/// let mut buf = [0u8; 8];
/// assert_eq!(rx.recv(&mut buf), Ok(3));
/// drop(rx);
/// assert!(tx.is_abandoned());
/// ```
pub struct ByteConsumer<'a, B: Words + ?Sized, W: WaitStrategy = DefaultWait> {
    ring: &'a ByteRingIn<B, W>,
    /// Our position (may run ahead of the shared `head` over padding not yet released,
    /// and over deferred releases: `pending`).
    head: usize,
    /// The producer's position as last seen.
    cached_tail: usize,
    /// Releases made with `release_deferred` and not yet published.
    pending: bool,
    /// From [`ByteRingIn::lease_consumer`]: dropping it does not abandon the ring.
    leased: bool,
}

impl<'a, B: Words + ?Sized, W: WaitStrategy> ByteConsumer<'a, B, W> {
    /// Publishes releases made with [`ReadGrant::release_deferred`] (wait-free; wakes
    /// nobody). Also done by the next plain release, when [`read`](Self::read) finds
    /// the ring empty, and when the consumer is dropped.
    pub fn flush(&mut self) {
        if self.pending {
            self.pending = false;
            self.store_head();
        }
    }

    fn store_head(&self) {
        let order = if cfg!(conkit_mutant = "byte_ring_head_relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.ring.head.store(self.head, order);
    }

    /// The next message: (data offset, length), skipping padding.
    ///
    /// The fast path (a message header below the producer's position as last seen) is
    /// one load and one compare, inlined into the read and receive forms; reloading the
    /// producer's position, padding frames and an empty ring are out of line in
    /// [`next_frame_slow`](Self::next_frame_slow).
    #[inline(always)]
    fn next_frame(&mut self) -> Result<(usize, usize), RecvError> {
        if self.head != self.cached_tail {
            let ring = self.ring;
            let off = ring.offset(self.head);
            // SAFETY: `head != tail`: the word at `head` is a published header we own.
            let h = unsafe { ring.read_word(off) };
            if h != PAD {
                return ring.frame_at(off, h, self.cached_tail.wrapping_sub(self.head));
            }
        }
        self.next_frame_slow()
    }

    /// [`next_frame`](Self::next_frame) past its fast path: the producer's position
    /// reloaded when the cached one is reached, padding skipped.
    #[cold]
    #[inline(never)]
    fn next_frame_slow(&mut self) -> Result<(usize, usize), RecvError> {
        let ring = self.ring;
        loop {
            if self.head == self.cached_tail {
                self.cached_tail = ring.tail.load(Ordering::Acquire);
                if self.head == self.cached_tail {
                    // Caught up: deferred releases must reach the producer now, and wake it
                    // (it may sleep for room while we wait for a message).
                    // (`conkit_mutant`: a broken variant the loom models must catch.)
                    if self.pending && !cfg!(conkit_mutant = "byte_ring_no_flush_when_empty") {
                        self.flush();
                        ring.not_full.notify_one();
                    }
                    return Err(if ring.flags.producer_gone.load(Ordering::Acquire) {
                        // Re-check: a frame published just before the producer left.
                        self.cached_tail = ring.tail.load(Ordering::Acquire);
                        if self.head != self.cached_tail {
                            continue;
                        }
                        RecvError::Disconnected
                    } else {
                        RecvError::Empty
                    });
                }
            }
            let off = ring.offset(self.head);
            // SAFETY: `head != tail`: the word at `head` is a published header we own.
            let h = unsafe { ring.read_word(off) };
            let published = self.cached_tail.wrapping_sub(self.head);
            if h == PAD {
                let to_end = ring.capacity() - off;
                if to_end > published {
                    return Err(RecvError::Corrupt);
                }
                self.head = self.head.wrapping_add(to_end);
                continue;
            }
            return ring.frame_at(off, h, published);
        }
    }

    /// Frees the message of `len` bytes at our position.
    #[inline]
    fn release_frame(&mut self, len: usize, notify: bool, defer: bool) {
        self.head = self.head.wrapping_add(frame_len(len));
        if defer {
            self.pending = true;
            return;
        }
        self.pending = false;
        self.store_head();
        if notify {
            self.ring.not_full.notify_one();
        }
    }

    /// The next message, in place: read it through `Deref`, then drop or
    /// [`release`](ReadGrant::release) the grant to free its space. Wait-free.
    /// Not under `cfg(loom)`.
    #[cfg(not(loom))]
    pub fn read(&mut self) -> Result<ReadGrant<'_, 'a, B, W>, RecvError> {
        let (at, len) = self.next_frame()?;
        Ok(ReadGrant {
            consumer: self,
            at,
            len,
            notify: false,
            defer: false,
        })
    }

    /// [`read`](Self::read), waiting (strategy `W`) while the ring is empty, at most
    /// until `deadline` (`None`: no limit); then [`RecvError::Empty`]. Releasing the
    /// grant wakes a producer blocked in a `*_until` form.
    ///
    /// ```
    /// use conkit_core::byte_ring::{ByteRing, RecvError};
    /// use std::time::{Duration, Instant};
    ///
    /// let mut ring: ByteRing<8> = ByteRing::new();
    /// let (_tx, mut rx) = ring.split();
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert!(matches!(rx.read_until(Some(soon)), Err(RecvError::Empty)));
    /// ```
    #[cfg(not(loom))]
    #[inline]
    pub fn read_until(
        &mut self,
        deadline: Option<W::Deadline>,
    ) -> Result<ReadGrant<'_, 'a, B, W>, RecvError> {
        // The first look of the wait, inlined: the wait itself only when empty.
        let (at, len) = match self.next_frame() {
            Err(RecvError::Empty) => self.next_frame_waiting(deadline)?,
            other => other?,
        };
        Ok(ReadGrant {
            consumer: self,
            at,
            len,
            notify: true,
            defer: false,
        })
    }

    /// [`next_frame`](Self::next_frame), waiting while the ring is empty (the slow
    /// path of [`read_until`](Self::read_until)).
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn next_frame_waiting(
        &mut self,
        deadline: Option<W::Deadline>,
    ) -> Result<(usize, usize), RecvError> {
        let ring = self.ring;
        ring.not_empty
            .wait_until_probing(deadline, |probe| match self.next_frame() {
                Err(RecvError::Empty) if probe && ring.producer_died() => Some(self.next_frame()),
                Err(RecvError::Empty) => None,
                other => Some(other),
            })
            .unwrap_or(Err(RecvError::Empty))
    }

    /// Copies the next message into `buf` and frees it; returns its length. Wait-free.
    /// A message longer than `buf` stays in the ring
    /// ([`RecvError::BufferTooSmall`]).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_inner(buf, false, false)
    }

    /// [`recv`](Self::recv) without publishing the freed space: it reaches the
    /// producer at the next [`flush`](Self::flush) or plain release, or when a read
    /// finds the ring empty (see [`ReadGrant::release_deferred`]). Wait-free.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let mut ring: ByteRing<4> = ByteRing::new(); // two 8-byte messages
    /// let (mut tx, mut rx) = ring.split();
    /// tx.send(b"12345678").unwrap();
    /// tx.send(b"abcdefgh").unwrap();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(rx.recv_deferred(&mut buf), Ok(8));
    /// assert!(tx.send(b"x").is_err()); // not freed yet
    /// rx.flush();
    /// tx.send(b"x").unwrap();
    /// ```
    pub fn recv_deferred(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_inner(buf, false, true)
    }

    #[inline]
    fn recv_inner(
        &mut self,
        buf: &mut [u8],
        notify: bool,
        defer: bool,
    ) -> Result<usize, RecvError> {
        let (at, len) = self.next_frame()?;
        if len > buf.len() {
            return Err(RecvError::BufferTooSmall { len });
        }
        // SAFETY: the frame's bytes are published and ours until released.
        unsafe { self.ring.copy_out(at, &mut buf[..len]) };
        self.release_frame(len, notify, defer);
        Ok(len)
    }

    /// [`recv`](Self::recv), waiting while the ring is empty, at most until `deadline`
    /// (an example is at [`ByteProducer::send_until`]).
    pub fn recv_until(
        &mut self,
        buf: &mut [u8],
        deadline: Option<W::Deadline>,
    ) -> Result<usize, RecvError> {
        // The first look of the wait, inlined: the wait itself only when empty.
        match self.recv_inner(buf, true, false) {
            Err(RecvError::Empty) => self.recv_waiting(buf, deadline),
            other => other,
        }
    }

    /// [`recv_until`](Self::recv_until) once the ring was found empty.
    #[cold]
    #[inline(never)]
    fn recv_waiting(
        &mut self,
        buf: &mut [u8],
        deadline: Option<W::Deadline>,
    ) -> Result<usize, RecvError> {
        let ring = self.ring;
        ring.not_empty
            .wait_until_probing(deadline, |probe| match self.recv_inner(buf, true, false) {
                Err(RecvError::Empty) if probe && ring.producer_died() => {
                    Some(self.recv_inner(buf, true, false))
                }
                Err(RecvError::Empty) => None,
                other => Some(other),
            })
            .unwrap_or(Err(RecvError::Empty))
    }

    /// Wakes a producer blocked in [`ByteProducer::send_until`] (for consumers that use
    /// the wait-free forms, see "Notification" in the [module docs](self)).
    pub fn notify(&self) {
        self.ring.not_full.notify_one();
    }

    /// `true` once the producer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.ring.flags.producer_gone.load(Ordering::Acquire)
    }

    /// Bytes consumed through this ring so far, this handle's deferred releases
    /// included (wrapping): changes exactly when a message (with the padding before it)
    /// is released.
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let mut ring: ByteRing<16> = ByteRing::new();
    /// let (mut tx, mut rx) = ring.split();
    /// tx.send(b"abc").unwrap();
    /// rx.read().unwrap().release();
    /// assert_eq!(rx.position(), 16);
    /// ```
    pub fn position(&self) -> usize {
        self.head
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> Drop for ByteConsumer<'_, B, W> {
    fn drop(&mut self) {
        self.flush();
        if self.leased {
            return;
        }
        self.ring.flags.consumer_gone.store(true, Ordering::Release);
        self.ring.not_full.notify_all();
    }
}

impl<B: Words + ?Sized, W: WaitStrategy> fmt::Debug for ByteConsumer<'_, B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteConsumer")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// One message, in place in the ring (see [`ByteConsumer::read`]); dropping it frees
/// its space.
///
/// ```
/// use conkit_core::byte_ring::ByteRing;
///
/// let mut ring: ByteRing<8> = ByteRing::new();
/// let (mut tx, mut rx) = ring.split();
/// tx.send(b"in place").unwrap();
/// let msg = rx.read().unwrap();
/// assert_eq!(msg.len(), 8);
/// msg.release();
/// ```
#[cfg(not(loom))]
pub struct ReadGrant<'g, 'a, B: Words + ?Sized, W: WaitStrategy> {
    consumer: &'g mut ByteConsumer<'a, B, W>,
    at: usize,
    len: usize,
    /// Made by a blocking form: the release wakes the producer.
    notify: bool,
    /// `release_deferred` was called: do not publish on drop.
    defer: bool,
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> ReadGrant<'_, '_, B, W> {
    /// Frees the message's space (the same as dropping the grant).
    pub fn release(self) {}

    /// Frees the message's space without publishing it yet: a batch of deferred
    /// releases reaches the producer with one index store at [`ByteConsumer::flush`]
    /// (or the next plain release, or when a read finds the ring empty).
    ///
    /// ```
    /// use conkit_core::byte_ring::ByteRing;
    ///
    /// let mut ring: ByteRing<4> = ByteRing::new(); // room for two 8-byte messages
    /// let (mut tx, mut rx) = ring.split();
    /// tx.send(b"12345678").unwrap();
    /// tx.send(b"abcdefgh").unwrap();
    /// rx.read().unwrap().release_deferred();
    /// assert!(tx.send(b"x").is_err()); // the space is not published yet
    /// rx.flush();
    /// tx.send(b"x").unwrap();
    /// ```
    pub fn release_deferred(mut self) {
        self.defer = true;
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> Deref for ReadGrant<'_, '_, B, W> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `next_frame` checked that the frame lies inside the buffer and inside
        // the published range, which the consumer owns until it releases it.
        unsafe { core::slice::from_raw_parts(self.consumer.ring.byte_ptr(self.at), self.len) }
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> Drop for ReadGrant<'_, '_, B, W> {
    fn drop(&mut self) {
        self.consumer
            .release_frame(self.len, self.notify && !self.defer, self.defer);
    }
}

#[cfg(not(loom))]
impl<B: Words + ?Sized, W: WaitStrategy> fmt::Debug for ReadGrant<'_, '_, B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGrant").field("len", &self.len).finish()
    }
}
