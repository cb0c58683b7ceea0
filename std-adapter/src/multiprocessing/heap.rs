//! Shared memory that travels to child processes: a `memfd` mapped `MAP_SHARED`
//! ([`Mapping`]) and a typed handle to one core object placed in it ([`Shared`]).
//!
//! CPython keeps its shared objects in an arena of `mmap`s (`multiprocessing.heap`)
//! and pickles a handle to a child as (arena, offset). Here each object gets its own
//! mapping, sized to the object (a page at least), created with `memfd_create`: it has
//! no name to clean up, disappears when the last process unmaps it, and goes to a child
//! as a descriptor ([`inherit`]). The child maps it again (at another
//! address: the core types hold no pointers, which is what
//! [`ShmSafe`] promises) and checks the segment header —
//! magic, layout version, size, type fingerprint — before using it.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use conkit_core::shm::{InPlace, Segment, SegmentError, ShmSafe};
use serde::de::Error as _;
use serde::ser::Error as _;

use super::inherit;

/// A `MAP_SHARED` mapping of a `memfd` (or of another descriptor): memory a child
/// process can map too. Unmapped on drop; the memory lives while any process maps it.
pub struct Mapping {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a mapping is plain memory reachable from any thread; the objects placed in it
// do their own synchronisation (they are `Sync`, `ShmSafe`).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A fresh zero-filled mapping of `len` bytes backed by
    /// an anonymous `memfd` (close-on-exec; `name` shows in `/proc/PID/maps`).
    pub fn anonymous(name: &str, len: usize) -> io::Result<Self> {
        let len = len.max(1);
        let cname = std::ffi::CString::new(name.replace('\0', "?"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a valid C string; the flags are plain bits.
        let raw = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        // SAFETY: an open descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Self::map(fd, len)
    }

    /// Maps `len` bytes of the file behind `fd` (a `memfd` another process created, a
    /// `shm_open` object, …), shared, readable and writable.
    pub fn map(fd: OwnedFd, len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        // SAFETY: a fresh shared mapping chosen by the kernel; the arguments are valid.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { fd, ptr, len })
    }

    /// The first byte.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false` (a mapping has at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsFd for Mapping {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; every reference into it is tied to
        // an `Arc<Mapping>` that is gone by now.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("fd", &self.fd.as_raw_fd())
            .field("len", &self.len)
            .finish()
    }
}

/// Serialises as (descriptor index, length) through [`inherit`]: only as a child
/// process's argument.
impl serde::Serialize for Mapping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let index = inherit::export_fd(self.fd.as_fd()).ok_or_else(|| {
            S::Error::custom("shared memory can be passed only as a child process's argument")
        })?;
        (index, self.len as u64).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Mapping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (index, len) = <(u32, u64)>::deserialize(d)?;
        let fd = inherit::import_fd(index).map_err(D::Error::custom)?;
        let len = usize::try_from(len).map_err(D::Error::custom)?;
        Mapping::map(fd, len).map_err(D::Error::custom)
    }
}

/// One core object in its own shared mapping: what the process-shared `Lock`,
/// `Semaphore`, `Value`, … hold. Cloning shares the object (an `Arc`); serialising it
/// for a child ([`inherit`]) hands over the mapping, and the child's copy is attached
/// with the segment header checked.
pub struct Shared<T: ShmSafe> {
    map: Arc<Mapping>,
    value: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: `T: ShmSafe` implies `Sync` (it is shared between processes); the handle only
// gives `&T`.
unsafe impl<T: ShmSafe> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: ShmSafe> Sync for Shared<T> {}

/// Why [`Shared`] could not be created or attached.
#[derive(Debug)]
pub enum SharedError {
    /// `memfd_create`, `ftruncate` or `mmap` failed.
    Io(io::Error),
    /// The segment header did not check out (another type, another layout, too small).
    Segment(SegmentError),
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "shared memory: {e}"),
            Self::Segment(e) => write!(f, "shared memory segment: {e}"),
        }
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Segment(e) => Some(e),
        }
    }
}

impl From<io::Error> for SharedError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<SegmentError> for SharedError {
    fn from(e: SegmentError) -> Self {
        Self::Segment(e)
    }
}

impl<T: ShmSafe> Shared<T> {
    fn type_name() -> &'static str {
        std::any::type_name::<T>()
    }

    /// Places the value `init()` returns in a fresh mapping (small values that need
    /// arguments: a semaphore's count, a barrier's parties).
    pub fn new_with(init: impl FnOnce() -> T) -> Result<Self, SharedError> {
        let map = Mapping::anonymous(Self::type_name(), Segment::<T>::required_len())?;
        // SAFETY: fresh memory of `len` bytes, used only through segments of `T`, alive
        // as long as `map` (kept beside the pointer).
        let seg = unsafe { Segment::<T>::create_with(map.as_ptr(), map.len(), init) }?;
        let value = NonNull::from(Segment::value(&seg));
        Ok(Self {
            map: Arc::new(map),
            value,
            _owns: PhantomData,
        })
    }

    /// As [`new_with`](Self::new_with) in a mapping of at least `room` bytes: the bytes
    /// after the segment ([`Segment::required_len`]) are the caller's, zero-filled, for
    /// data whose length is known at run time (`multiprocessing::Array`'s elements).
    pub fn new_with_room(room: usize, init: impl FnOnce() -> T) -> Result<Self, SharedError> {
        let len = room.max(Segment::<T>::required_len());
        let map = Mapping::anonymous(Self::type_name(), len)?;
        // SAFETY: as in `new_with`; the segment covers only its first `required_len`
        // bytes, the rest stays the caller's.
        let seg = unsafe { Segment::<T>::create_with(map.as_ptr(), map.len(), init) }?;
        let value = NonNull::from(Segment::value(&seg));
        Ok(Self {
            map: Arc::new(map),
            value,
            _owns: PhantomData,
        })
    }

    /// Initialises a `T` in place in a fresh mapping ([`InPlace`]: no large value
    /// through the stack).
    pub fn new_in_place() -> Result<Self, SharedError>
    where
        T: InPlace,
    {
        let map = Mapping::anonymous(Self::type_name(), Segment::<T>::required_len())?;
        // SAFETY: as in `new_with`.
        let seg = unsafe { Segment::<T>::create(map.as_ptr(), map.len()) }?;
        let value = NonNull::from(Segment::value(&seg));
        Ok(Self {
            map: Arc::new(map),
            value,
            _owns: PhantomData,
        })
    }

    /// Attaches to a mapping another process created (header checked).
    pub fn attach(map: Mapping) -> Result<Self, SharedError> {
        // SAFETY: the mapping is `len` bytes valid for as long as `map` lives; the header
        // check rejects memory of another type.
        let seg = unsafe { Segment::<T>::attach(map.as_ptr(), map.len()) }?;
        let value = NonNull::from(Segment::value(&seg));
        Ok(Self {
            map: Arc::new(map),
            value,
            _owns: PhantomData,
        })
    }

    /// The mapping the value lives in.
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }
}

impl<T: ShmSafe> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: initialised (created or attached with the header checked), alive while
        // `self.map` is, shared access only.
        unsafe { self.value.as_ref() }
    }
}

impl<T: ShmSafe> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self {
            map: Arc::clone(&self.map),
            value: self.value,
            _owns: PhantomData,
        }
    }
}

impl<T: ShmSafe> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("type", &Self::type_name())
            .field("mapping", &*self.map)
            .finish()
    }
}

impl<T: ShmSafe> serde::Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, T: ShmSafe> serde::Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Mapping::deserialize(d)?;
        Self::attach(map).map_err(D::Error::custom)
    }
}

/// A state block of core primitives and a core byte ring in one shared mapping: the
/// layout of a process [`Queue`](super::Queue) and of each direction of a
/// [`Pipe`](super::Pipe) (one helper for both, so the layout and its checks exist once).
///
/// The mapping holds the state's [`Segment`] (header checked on attach) from offset 0,
/// then, page-aligned, the [`ShmByteRing<SharedFutex>`](conkit_core::byte_ring::ShmByteRing)
/// with its own header. A fresh `memfd` is all zero, so the ring is created over zeroed
/// memory without writing its buffer (its pages are not touched until used: zeroing
/// them again would cost 0.7 ms per MiB).
pub(crate) struct RingBlock<S: ShmSafe> {
    map: Mapping,
    state: NonNull<S>,
    ring: NonNull<ByteRing>,
}

/// The ring of a [`RingBlock`].
pub(crate) type ByteRing = conkit_core::byte_ring::ShmByteRing<conkit_core::wait::SharedFutex>;

// SAFETY: the pointers point into `map`, owned here, at `Sync` objects (`S: ShmSafe`
// implies `Sync`; the ring is `Sync`).
unsafe impl<S: ShmSafe> Send for RingBlock<S> {}
// SAFETY: as above.
unsafe impl<S: ShmSafe> Sync for RingBlock<S> {}

impl<S: ShmSafe> RingBlock<S> {
    /// Where the ring starts in the mapping: after the state segment, page-aligned.
    fn ring_offset() -> usize {
        Segment::<S>::required_len().next_multiple_of(4096)
    }

    /// A fresh mapping named `name` (as `/proc/<pid>/maps` shows it) holding `init()`
    /// and an empty ring of `capacity` bytes (as
    /// [`ShmByteRing::required_len`](conkit_core::byte_ring::ShmByteRing::required_len)
    /// accepts it).
    pub(crate) fn create(
        name: &str,
        capacity: usize,
        init: impl FnOnce() -> S,
    ) -> Result<Self, SharedError> {
        let ring_len = ByteRing::required_len(capacity).ok_or(SharedError::Segment(
            SegmentError::InvalidCapacity(capacity),
        ))?;
        let off = Self::ring_offset();
        let map = Mapping::anonymous(name, off + ring_len)?;
        // SAFETY: fresh memory of `off` bytes at the start of the mapping, used only as
        // this segment, alive as long as `map` (kept beside the pointer).
        let seg = unsafe { Segment::<S>::create_with(map.as_ptr(), off, init) }?;
        let state = NonNull::from(Segment::value(&seg));
        // SAFETY: fresh memory from `off` to the end of the mapping (page-aligned, and
        // `off < map.len()`), used only as this ring, alive as long as `map`; all zero
        // (a new `memfd`, nothing written past `off`).
        let ring_seg = unsafe {
            ByteRing::create_in_zeroed(map.as_ptr().add(off), map.len() - off, capacity)
        }?;
        let ring = NonNull::from(Segment::value(&ring_seg));
        Ok(Self { map, state, ring })
    }

    /// The block created by [`create`](Self::create) in another process, from its
    /// mapping; the header checks reject memory that is not such a block of an `S`.
    pub(crate) fn attach(map: Mapping) -> Result<Self, SharedError> {
        let off = Self::ring_offset();
        if map.len() <= off {
            return Err(SharedError::Segment(SegmentError::TooSmall {
                needed: off + 1,
                available: map.len(),
            }));
        }
        // SAFETY: the mapping is valid for its length while `map` lives.
        let seg = unsafe { Segment::<S>::attach(map.as_ptr(), off) }?;
        let state = NonNull::from(Segment::value(&seg));
        // SAFETY: as above; `off < map.len()` (checked).
        let ring_seg = unsafe { ByteRing::attach_in(map.as_ptr().add(off), map.len() - off) }?;
        let ring = NonNull::from(Segment::value(&ring_seg));
        Ok(Self { map, state, ring })
    }

    /// The state block.
    pub(crate) fn state(&self) -> &S {
        // SAFETY: created or attached (header checked), alive while `self.map` is.
        unsafe { self.state.as_ref() }
    }

    /// The ring.
    pub(crate) fn ring(&self) -> &ByteRing {
        // SAFETY: as in `state`.
        unsafe { self.ring.as_ref() }
    }

    /// The mapping (what travels to a child).
    pub(crate) fn mapping(&self) -> &Mapping {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conkit_core::semaphore::Semaphore;
    use conkit_core::wait::SharedFutex;

    #[test]
    fn a_second_mapping_of_the_descriptor_sees_the_object() {
        let a = Shared::new_with(|| Semaphore::<SharedFutex>::new(1)).unwrap();
        let fd = a.mapping().as_fd().try_clone_to_owned().unwrap();
        let b =
            Shared::<Semaphore<SharedFutex>>::attach(Mapping::map(fd, a.mapping().len()).unwrap())
                .unwrap();
        assert!(b.try_acquire());
        assert!(!a.try_acquire());
    }

    #[test]
    fn attaching_as_another_type_is_an_error() {
        let a = Shared::new_with(|| Semaphore::<SharedFutex>::new(1)).unwrap();
        let fd = a.mapping().as_fd().try_clone_to_owned().unwrap();
        let map = Mapping::map(fd, a.mapping().len()).unwrap();
        let err = Shared::<conkit_core::event::Event<SharedFutex>>::attach(map).unwrap_err();
        assert!(matches!(err, SharedError::Segment(_)), "{err}");
    }

    #[test]
    fn serialising_outside_a_child_start_is_an_error() {
        let a = Shared::new_with(|| Semaphore::<SharedFutex>::new(1)).unwrap();
        assert!(postcard::to_stdvec(&a).is_err());
        let (bytes, table) = inherit::collect(|| postcard::to_stdvec(&a));
        assert!(bytes.is_ok());
        assert_eq!(table.len(), 1);
    }
}
