//! [`Segment`]: a checked header, then one [`ShmSafe`] value, in one mapping.
//!
//! Provenance: a magic number, a format version and sizes at the start of a shared
//! region, checked before use, is the practice of shared-memory and file formats (e.g.
//! the header of a PostgreSQL shared-memory segment); the initialisation state word,
//! claimed by one creator with a compare-and-swap and published with a `Release` store,
//! is the usual once-flag.

use core::any::type_name;
use core::fmt;
use core::mem::{align_of, size_of};
use core::ops::Deref;
use core::ptr::NonNull;

use crate::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::{InPlace, ShmSafe};

/// The first word of every segment: `"CKSM"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"CKSM");

/// The version of the segment layout (the header and the rules for placing the value).
/// Bumped whenever a core type's layout changes in a way a fingerprint would not catch.
pub const LAYOUT_VERSION: u32 = 1;

/// Nobody has started to create the segment (fresh, zeroed memory).
const EMPTY: u32 = 0;
/// A creator has claimed the segment and is writing it.
const INITIALIZING: u32 = 1;
/// The header and the value are written: attach may proceed.
const READY: u32 = 2;

/// The header at the start of a segment (see [`Segment`]). Every field is atomic, since
/// processes read it while the creator may still write it.
///
/// ```
/// use core::ptr::NonNull;
/// use conkit_core::lock::SpinLock;
/// use conkit_core::shm::Segment;
///
/// let mut mem = vec![0u64; 64];
/// let ptr = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
/// // SAFETY: `mem` outlives the segment and is used only through it.
/// let lock = unsafe { Segment::<SpinLock>::create(ptr, 512) }.unwrap();
/// let header = Segment::header(&lock);
/// assert_eq!(header.size(), core::mem::size_of::<SpinLock>());
/// assert_eq!(header.capacity(), 0);
/// ```
#[repr(C)]
pub struct SegmentHeader {
    /// [`MAGIC`].
    magic: AtomicU32,
    /// `EMPTY` → `INITIALIZING` (one creator's compare-and-swap) → `READY` (a `Release`
    /// store once everything is written).
    state: AtomicU32,
    /// [`LAYOUT_VERSION`].
    version: AtomicU32,
    /// Low and high halves of the type fingerprint (two words: no 64-bit atomics needed).
    fingerprint_lo: AtomicU32,
    fingerprint_hi: AtomicU32,
    /// Byte offset of the value from the start of the segment.
    offset: AtomicUsize,
    /// Byte size of the value.
    size: AtomicUsize,
    /// The run-time capacity of the value (slots), 0 for a value of fixed size.
    capacity: AtomicUsize,
}

impl SegmentHeader {
    /// The run-time capacity recorded by the creator (0 for a type of fixed size).
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// The byte size of the value.
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// The fingerprint of the value's type (see [`SegmentError::FingerprintMismatch`]).
    pub fn fingerprint(&self) -> u64 {
        u64::from(self.fingerprint_lo.load(Ordering::Relaxed))
            | u64::from(self.fingerprint_hi.load(Ordering::Relaxed)) << 32
    }
}

impl fmt::Debug for SegmentHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentHeader")
            .field("state", &self.state.load(Ordering::Relaxed))
            .field("version", &self.version.load(Ordering::Relaxed))
            .field("size", &self.size())
            .field("capacity", &self.capacity())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// Why a segment could not be created or attached. Every check that fails leaves the
/// memory untouched (but for `create`'s claim, see [`SegmentError::AlreadyCreated`]).
///
/// ```
/// use core::ptr::NonNull;
/// use conkit_core::lock::{SpinLock, TicketLock};
/// use conkit_core::shm::{Segment, SegmentError};
///
/// let mut mem = vec![0u64; 64];
/// let ptr = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
/// // SAFETY: `mem` outlives the segments and is used only through them.
/// unsafe {
///     Segment::<SpinLock>::create(ptr, 512).unwrap();
///     assert!(matches!(
///         Segment::<SpinLock>::create(ptr, 512),
///         Err(SegmentError::AlreadyCreated { .. })
///     ));
///     assert!(matches!(
///         Segment::<TicketLock>::attach(ptr, 512),
///         Err(SegmentError::FingerprintMismatch { .. })
///     ));
///     assert!(matches!(
///         Segment::<SpinLock>::attach(ptr, 8),
///         Err(SegmentError::TooSmall { .. })
///     ));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SegmentError {
    /// The memory is shorter than the header plus the value.
    TooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The memory does not start at a multiple of `required` (a mapping always does).
    Misaligned {
        /// The alignment needed.
        required: usize,
    },
    /// The capacity asked for is zero or its size overflows `usize`.
    InvalidCapacity(usize),
    /// `create` found the segment claimed already (by another creator, or not zeroed
    /// memory): its state word holds `state`.
    AlreadyCreated {
        /// The state word found.
        state: u32,
    },
    /// The creator has not finished (or not started): attach again later.
    NotReady,
    /// The first word is not [`MAGIC`], or the state word is not a known state: not a
    /// segment (or one overwritten by something else).
    BadMagic {
        /// The magic word found.
        magic: u32,
        /// The state word found.
        state: u32,
    },
    /// Created by a build with another [`LAYOUT_VERSION`].
    LayoutVersion {
        /// The version in the segment.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// Created for another type (or the same type with another layout: another build,
    /// another pointer width).
    FingerprintMismatch {
        /// The fingerprint in the segment.
        found: u64,
        /// The fingerprint of the type asked for.
        expected: u64,
    },
    /// The value's offset or size in the segment differs from what the type needs.
    SizeMismatch {
        /// The size recorded in the segment.
        found: usize,
        /// The size the type asked for needs.
        expected: usize,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooSmall { needed, available } => {
                write!(
                    f,
                    "segment too small: {needed} bytes needed, {available} given"
                )
            }
            Self::Misaligned { required } => {
                write!(f, "segment memory not aligned to {required} bytes")
            }
            Self::InvalidCapacity(c) => write!(f, "invalid segment capacity {c}"),
            Self::AlreadyCreated { state } => {
                write!(f, "segment already created (state word {state})")
            }
            Self::NotReady => f.write_str("segment not initialised yet"),
            Self::BadMagic { magic, state } => {
                write!(f, "not a conkit segment (magic {magic:#x}, state {state})")
            }
            Self::LayoutVersion { found, expected } => {
                write!(f, "segment layout version {found}, expected {expected}")
            }
            Self::FingerprintMismatch { found, expected } => write!(
                f,
                "segment holds another type (fingerprint {found:#018x}, expected {expected:#018x})"
            ),
            Self::SizeMismatch { found, expected } => {
                write!(f, "segment value of {found} bytes, expected {expected}")
            }
        }
    }
}

impl core::error::Error for SegmentError {}

/// What a segment's value looks like: checked on create and attach.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    /// Byte size of the value.
    pub(crate) size: usize,
    /// Alignment of the value.
    pub(crate) align: usize,
    /// Run-time capacity (0 for a sized type).
    pub(crate) capacity: usize,
    /// [`fingerprint`] of the type.
    pub(crate) fingerprint: u64,
}

/// FNV-1a (Fowler, Noll, Vo) over the type's name, its size and alignment, the pointer
/// width and [`LAYOUT_VERSION`]: two builds agree only if they name the same type with
/// the same layout. (`type_name` may differ between compiler versions: then attaching
/// fails, which is the safe side.)
pub(crate) fn fingerprint<T: ?Sized>(size: usize, align: usize) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    eat(type_name::<T>().as_bytes());
    eat(&(size as u64).to_le_bytes());
    eat(&(align as u64).to_le_bytes());
    eat(&usize::BITS.to_le_bytes());
    eat(&LAYOUT_VERSION.to_le_bytes());
    h
}

/// The byte offset of a value of alignment `align` after the header.
pub(crate) const fn value_offset(align: usize) -> usize {
    let a = if align > align_of::<SegmentHeader>() {
        align
    } else {
        align_of::<SegmentHeader>()
    };
    size_of::<SegmentHeader>().next_multiple_of(a)
}

/// Checks `mem`/`len` for a value of `shape`: alignment and length.
fn check_room(mem: NonNull<u8>, len: usize, shape: &Shape) -> Result<usize, SegmentError> {
    let required = shape.align.max(align_of::<SegmentHeader>());
    if mem.as_ptr() as usize % required != 0 {
        return Err(SegmentError::Misaligned { required });
    }
    let offset = value_offset(shape.align);
    let needed = offset
        .checked_add(shape.size)
        .ok_or(SegmentError::InvalidCapacity(shape.capacity))?;
    if len < needed {
        return Err(SegmentError::TooSmall {
            needed,
            available: len,
        });
    }
    Ok(offset)
}

/// Claims the fresh memory at `mem`, writes the header for `shape`, lets `init`
/// initialise the value at the returned offset, and publishes the segment.
///
/// # Safety
/// As [`Segment::create`]; `init` must leave a valid value of the described type.
pub(crate) unsafe fn create_raw<'m>(
    mem: NonNull<u8>,
    len: usize,
    shape: Shape,
    init: impl FnOnce(*mut u8),
) -> Result<(&'m SegmentHeader, NonNull<u8>), SegmentError> {
    let offset = check_room(mem, len, &shape)?;
    // SAFETY: `mem` is aligned for the header and `len` covers it (checked above); the
    // caller keeps the memory valid for `'m`; every field is atomic, so other processes
    // may read it concurrently.
    let header = unsafe { mem.cast::<SegmentHeader>().as_ref() };
    if let Err(state) =
        header
            .state
            .compare_exchange(EMPTY, INITIALIZING, Ordering::Acquire, Ordering::Acquire)
    {
        return Err(SegmentError::AlreadyCreated { state });
    }
    header.magic.store(MAGIC, Ordering::Relaxed);
    header.version.store(LAYOUT_VERSION, Ordering::Relaxed);
    header
        .fingerprint_lo
        .store(shape.fingerprint as u32, Ordering::Relaxed);
    header
        .fingerprint_hi
        .store((shape.fingerprint >> 32) as u32, Ordering::Relaxed);
    header.offset.store(offset, Ordering::Relaxed);
    header.size.store(shape.size, Ordering::Relaxed);
    header.capacity.store(shape.capacity, Ordering::Relaxed);
    // SAFETY: `offset + size <= len` (checked), so the value lies inside the memory.
    let value = unsafe { mem.add(offset) };
    init(value.as_ptr());
    // Publishes the header and the value to every attacher's `Acquire` load.
    header.state.store(READY, Ordering::Release);
    Ok((header, value))
}

/// Checks the header at `mem` against the type (`fingerprint`, `align`) and the size
/// `size_for(capacity)` for the recorded capacity; returns the header, the value and
/// the capacity.
///
/// # Safety
/// As [`Segment::attach`].
pub(crate) unsafe fn attach_raw<'m>(
    mem: NonNull<u8>,
    len: usize,
    align: usize,
    fingerprint: u64,
    size_for: impl FnOnce(usize) -> Option<usize>,
) -> Result<(&'m SegmentHeader, NonNull<u8>, usize), SegmentError> {
    let required = align.max(align_of::<SegmentHeader>());
    if mem.as_ptr() as usize % required != 0 {
        return Err(SegmentError::Misaligned { required });
    }
    if len < size_of::<SegmentHeader>() {
        return Err(SegmentError::TooSmall {
            needed: size_of::<SegmentHeader>(),
            available: len,
        });
    }
    // SAFETY: aligned and in bounds (checked above); all fields are atomic.
    let header = unsafe { mem.cast::<SegmentHeader>().as_ref() };
    let state = header.state.load(Ordering::Acquire);
    match state {
        READY => {}
        EMPTY | INITIALIZING => return Err(SegmentError::NotReady),
        _ => {
            return Err(SegmentError::BadMagic {
                magic: header.magic.load(Ordering::Relaxed),
                state,
            })
        }
    }
    let magic = header.magic.load(Ordering::Relaxed);
    if magic != MAGIC {
        return Err(SegmentError::BadMagic { magic, state });
    }
    let version = header.version.load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return Err(SegmentError::LayoutVersion {
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let found = header.fingerprint();
    if found != fingerprint {
        return Err(SegmentError::FingerprintMismatch {
            found,
            expected: fingerprint,
        });
    }
    let capacity = header.capacity();
    let expected = size_for(capacity).ok_or(SegmentError::InvalidCapacity(capacity))?;
    let size = header.size();
    if size != expected {
        return Err(SegmentError::SizeMismatch {
            found: size,
            expected,
        });
    }
    let offset = header.offset.load(Ordering::Relaxed);
    if offset != value_offset(align) {
        return Err(SegmentError::SizeMismatch {
            found: offset,
            expected: value_offset(align),
        });
    }
    let needed = offset
        .checked_add(size)
        .ok_or(SegmentError::InvalidCapacity(capacity))?;
    if len < needed {
        return Err(SegmentError::TooSmall {
            needed,
            available: len,
        });
    }
    // SAFETY: `offset + size <= len` (checked).
    Ok((header, unsafe { mem.add(offset) }, capacity))
}

/// A type whose last field is a slice with a length that follows from the run-time
/// capacity a segment records (`ShmSpscRing`, `ShmMpmcRing`, `ShmByteRing`): what
/// [`create_tailed`], [`attach_tailed`] and [`tailed_required_len`] need to place it.
///
/// # Safety
/// [`layout`](Self::layout)`(n)` must be the layout of the value at
/// [`from_raw`](Self::from_raw)`(p, n)`, and [`init_at`](Self::init_at) must leave a
/// valid value there.
pub(crate) unsafe trait Tailed {
    /// The slice length for `capacity` as the header records it, or `None` if that
    /// capacity is invalid for the type.
    fn tail_len(capacity: usize) -> Option<usize>;
    /// The layout of a value whose slice has `tail_len` elements (`None`: overflow).
    fn layout(tail_len: usize) -> Option<core::alloc::Layout>;
    /// The alignment of the type (its fields, padded indices dominate).
    fn align() -> usize;
    /// The [`fingerprint`] of the type (per slot: the capacity is checked separately).
    fn type_fingerprint() -> u64;
    /// The (fat) pointer to a value of `tail_len` slice elements at `p`.
    fn from_raw(p: *mut u8, tail_len: usize) -> *mut Self;
    /// Writes a fresh value of `tail_len` slice elements at `this`.
    ///
    /// # Safety
    /// `this` must be valid for writes of [`layout`](Self::layout)`(tail_len)`, and
    /// aligned.
    unsafe fn init_at(this: *mut Self, tail_len: usize);
    /// [`init_at`](Self::init_at) in memory known to be all zero: a type whose fresh
    /// value is partly zero bytes (a large buffer) may skip writing them.
    ///
    /// # Safety
    /// As [`init_at`](Self::init_at), and the bytes at `this` are all zero.
    unsafe fn init_at_zeroed(this: *mut Self, tail_len: usize) {
        // SAFETY: the caller's contract.
        unsafe { Self::init_at(this, tail_len) }
    }
}

/// Bytes of memory a segment holding an `S` of `capacity` needs (header, padding,
/// value), or `None` if the capacity is invalid or that overflows `usize`.
pub(crate) fn tailed_required_len<S: Tailed + ?Sized>(capacity: usize) -> Option<usize> {
    let layout = S::layout(S::tail_len(capacity)?)?;
    value_offset(layout.align()).checked_add(layout.size())
}

/// Creates a segment at `mem` holding a fresh `S` of `capacity`, initialised in place.
///
/// # Safety
/// As [`Segment::create`].
/// With `zeroed`, the memory is known to be all zero ([`Tailed::init_at_zeroed`]).
pub(crate) unsafe fn create_tailed<'m, S: Tailed + ?Sized>(
    mem: NonNull<u8>,
    len: usize,
    capacity: usize,
    zeroed: bool,
) -> Result<Segment<'m, S>, SegmentError> {
    let n = S::tail_len(capacity).ok_or(SegmentError::InvalidCapacity(capacity))?;
    let layout = S::layout(n).ok_or(SegmentError::InvalidCapacity(capacity))?;
    let shape = Shape {
        size: layout.size(),
        align: layout.align(),
        capacity,
        fingerprint: S::type_fingerprint(),
    };
    // SAFETY: the caller's contract (with `zeroed`, the memory is all zero); `init_at`
    // initialises the value at the aligned, bounds-checked value address (`Tailed`'s
    // contract).
    let (header, value) = unsafe {
        create_raw(mem, len, shape, |p| {
            if zeroed {
                S::init_at_zeroed(S::from_raw(p, n), n)
            } else {
                S::init_at(S::from_raw(p, n), n)
            }
        })?
    };
    // SAFETY: initialised above, valid for `'m`, shared access only.
    let v = unsafe { &*S::from_raw(value.as_ptr(), n) };
    debug_assert_eq!(core::mem::size_of_val(v), layout.size());
    Ok(Segment::from_parts(header, v))
}

/// Attaches to an `S` created with [`create_tailed`] at `mem`: checks the header (as
/// [`Segment::attach`]) and takes the capacity from it.
///
/// # Safety
/// As [`Segment::attach`].
pub(crate) unsafe fn attach_tailed<'m, S: Tailed + ?Sized>(
    mem: NonNull<u8>,
    len: usize,
) -> Result<Segment<'m, S>, SegmentError> {
    // SAFETY: the caller's contract.
    let (header, value, capacity) = unsafe {
        attach_raw(mem, len, S::align(), S::type_fingerprint(), |cap| {
            S::layout(S::tail_len(cap)?).map(|l| l.size())
        })?
    };
    // `attach_raw` checked that the recorded capacity has a slice length.
    let n = S::tail_len(capacity).ok_or(SegmentError::InvalidCapacity(capacity))?;
    // SAFETY: a `READY` segment of this type and capacity (checked): initialised,
    // aligned and in bounds for `'m`.
    Ok(Segment::from_parts(header, unsafe {
        &*S::from_raw(value.as_ptr(), n)
    }))
}

/// A [`SegmentHeader`] followed by one [`ShmSafe`] value, in memory the caller maps
/// (see the [module docs](super)). Dereferences to the value.
///
/// One process [`create`](Self::create)s it in fresh, zeroed memory (a new `memfd` or
/// `shm_open` object is zero-filled); every other one [`attach`](Self::attach)es,
/// which checks the header. A `Segment` does not own the memory and never drops the
/// value (other processes may still use it): unmap the memory after the last use.
///
/// ```
/// use core::ptr::NonNull;
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::shm::{Segment, SegmentError};
/// use conkit_core::wait::Spin;
///
/// let mut mem = vec![0u64; Segment::<Semaphore<Spin>>::required_len() / 8 + 1];
/// let len = mem.len() * 8;
/// let ptr = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
/// // Attaching before anyone created it: a typed error.
/// assert_eq!(
///     unsafe { Segment::<Semaphore<Spin>>::attach(ptr, len) }.unwrap_err(),
///     SegmentError::NotReady
/// );
/// // SAFETY: `mem` outlives the segments and is used only through them.
/// let sem = unsafe { Segment::create_with(ptr, len, || Semaphore::<Spin>::new(2)) }.unwrap();
/// assert!(sem.try_acquire());
/// let again = unsafe { Segment::<Semaphore<Spin>>::attach(ptr, len) }.unwrap();
/// assert!(again.try_acquire());
/// assert!(!sem.try_acquire());
/// ```
pub struct Segment<'m, T: ?Sized> {
    header: &'m SegmentHeader,
    value: &'m T,
}

impl<'m, T: ?Sized> Segment<'m, T> {
    /// Wraps a checked header and value (for the run-time-capacity constructors).
    pub(crate) fn from_parts(header: &'m SegmentHeader, value: &'m T) -> Self {
        Self { header, value }
    }

    /// The header. (An associated function, like the value's: method calls on a
    /// segment reach the value's methods through `Deref`.)
    pub fn header(this: &Self) -> &'m SegmentHeader {
        this.header
    }

    /// The value, for the whole life of the memory (the `Deref` borrow is only as long
    /// as the segment's).
    pub fn value(this: &Self) -> &'m T {
        this.value
    }
}

impl<'m, T: ShmSafe> Segment<'m, T> {
    /// The [`Shape`] of a `T`.
    fn shape() -> Shape {
        Shape {
            size: size_of::<T>(),
            align: align_of::<T>(),
            capacity: 0,
            fingerprint: fingerprint::<T>(size_of::<T>(), align_of::<T>()),
        }
    }

    /// Bytes of memory a segment holding a `T` needs (the header, padding, the value).
    pub fn required_len() -> usize {
        value_offset(align_of::<T>()) + size_of::<T>()
    }

    /// Creates the segment in the fresh memory at `mem`: claims it, writes the header and
    /// initialises the value in place ([`InPlace`]), without building it on the stack.
    ///
    /// Fails with [`SegmentError::Misaligned`] / [`TooSmall`](SegmentError::TooSmall)
    /// (nothing written) or [`AlreadyCreated`](SegmentError::AlreadyCreated) (the state
    /// word was not zero).
    ///
    /// # Safety
    /// `mem` must be valid for reads and writes of `len` bytes for `'m`, in every
    /// process that uses it, and be accessed only through [`Segment`]s of this type.
    pub unsafe fn create(mem: NonNull<u8>, len: usize) -> Result<Self, SegmentError>
    where
        T: InPlace,
    {
        // SAFETY: the caller's contract; `init_in_place` writes a valid `T` at the
        // value's offset, which `create_raw` aligned and bounds-checked.
        let (header, value) = unsafe {
            create_raw(mem, len, Self::shape(), |p| {
                T::init_in_place(p.cast::<T>());
            })?
        };
        // SAFETY: initialised above, valid for `'m`; shared access only (`T: Sync`).
        Ok(Self::from_parts(header, unsafe {
            value.cast::<T>().as_ref()
        }))
    }

    /// Creates the segment like [`create`](Self::create), moving the value `init()`
    /// returns into place: for small values that need arguments (a semaphore's count, a
    /// barrier's parties). Large values should use `create` ([`InPlace`]).
    ///
    /// # Safety
    /// As [`create`](Self::create).
    pub unsafe fn create_with(
        mem: NonNull<u8>,
        len: usize,
        init: impl FnOnce() -> T,
    ) -> Result<Self, SegmentError> {
        // SAFETY: as in `create`; `write` initialises the aligned, in-bounds value.
        let (header, value) = unsafe {
            create_raw(mem, len, Self::shape(), |p| {
                p.cast::<T>().write(init());
            })?
        };
        // SAFETY: as in `create`.
        Ok(Self::from_parts(header, unsafe {
            value.cast::<T>().as_ref()
        }))
    }

    /// Attaches to the segment another process (or this one) created at `mem`, checking
    /// the header first: [`NotReady`](SegmentError::NotReady) while the creator is not
    /// done, [`BadMagic`](SegmentError::BadMagic),
    /// [`LayoutVersion`](SegmentError::LayoutVersion),
    /// [`FingerprintMismatch`](SegmentError::FingerprintMismatch) (another type),
    /// [`SizeMismatch`](SegmentError::SizeMismatch) or
    /// [`TooSmall`](SegmentError::TooSmall).
    ///
    /// # Safety
    /// As [`create`](Self::create).
    pub unsafe fn attach(mem: NonNull<u8>, len: usize) -> Result<Self, SegmentError> {
        let shape = Self::shape();
        // SAFETY: the caller's contract.
        let (header, value, _) = unsafe {
            attach_raw(mem, len, shape.align, shape.fingerprint, |capacity| {
                (capacity == 0).then_some(shape.size)
            })?
        };
        // SAFETY: a `READY` segment of this type (checked): the value is initialised,
        // aligned and in bounds for `'m`.
        Ok(Self::from_parts(header, unsafe {
            value.cast::<T>().as_ref()
        }))
    }
}

impl<T: ?Sized> Deref for Segment<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized> Clone for Segment<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Segment<'_, T> {}

impl<T: ?Sized> fmt::Debug for Segment<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("header", self.header)
            .finish_non_exhaustive()
    }
}
