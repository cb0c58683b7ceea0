//! Python's `multiprocessing.shared_memory` (3.8+): [`SharedMemory`], a named block of
//! POSIX shared memory (`shm_open`, under `/dev/shm` on Linux) that any process can
//! attach to by name.
//!
//! Reference: CPython's `Lib/multiprocessing/shared_memory.py` (3.12): names are
//! `psm_` and 8 random hex digits when none is given, the object is created with
//! `O_CREAT | O_EXCL | O_RDWR` and mode `0o600`, sized with `ftruncate`, and an attach
//! takes its size from `fstat`; `close()` unmaps, `unlink()` removes the name.
//!
//! | Python | conkit |
//! |---|---|
//! | `SharedMemory(create=True, size=n)` | [`SharedMemory::create(n)`](SharedMemory::create) |
//! | `SharedMemory(name, create=True, size=n)` | [`SharedMemory::create_named(name, n)`](SharedMemory::create_named) |
//! | `SharedMemory(name)` | [`SharedMemory::attach(name)`](SharedMemory::attach) |
//! | `SharedMemory(name, create, size)` | [`SharedMemory::new(name, create, size)`](SharedMemory::new) |
//! | `shm.name`, `shm.size` | [`name()`](SharedMemory::name), [`size()`](SharedMemory::size) |
//! | `shm.buf[i]`, `shm.buf[a:b] = data`, `bytes(shm.buf[a:b])` | [`buf()[i]`](SharedMemory::buf) (atomic bytes), [`write_at(a, data)`](SharedMemory::write_at), [`read_at(a, &mut out)`](SharedMemory::read_at) |
//! | `shm.close()`, `shm.unlink()` | [`close()`](SharedMemory::close) (or drop), [`unlink()`](SharedMemory::unlink) |
//! | `FileExistsError`, `FileNotFoundError`, `ValueError` | [`SharedMemoryError::Exists`], [`NotFound`](SharedMemoryError::NotFound), [`InvalidSize`](SharedMemoryError::InvalidSize) / [`InvalidName`](SharedMemoryError::InvalidName) |
//!
//! **The buffer.** Python's `buf` is a `memoryview` that any process may write at any
//! time. In Rust two accesses to the same bytes, one a write, from different threads or
//! processes without synchronisation are a data race (undefined behaviour), so the safe
//! views are atomic: [`buf`](SharedMemory::buf) is a `&[AtomicU8]`, and
//! [`read_at`](SharedMemory::read_at) / [`write_at`](SharedMemory::write_at) copy
//! through it (relaxed; order them with an `mp::Lock`, `Event`, … as in Python). For
//! bulk access at memory speed, [`as_slice`](SharedMemory::as_slice) and
//! [`as_mut_slice`](SharedMemory::as_mut_slice) are `unsafe`: their caller promises that
//! no other process writes (or, for the mutable slice, touches) the bytes meanwhile.
//!
//! **Differences.** There is no resource tracker: a block that nobody unlinks stays in
//! `/dev/shm` until reboot (CPython's tracker unlinks it, with a warning, when the
//! creating program ends). Dropping a `SharedMemory` is `close()`. `size()` is the size
//! asked for (Linux keeps it exactly). `ShareableList` is not provided.
//!
//! Linux (and Android) only.

use std::ffi::CString;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use serde::de::Error as _;
use serde::{Deserialize, Serialize};

use super::heap::Mapping;

/// Why a [`SharedMemory`] operation failed.
#[derive(Debug)]
pub enum SharedMemoryError {
    /// A block of that name exists already (Python: `FileExistsError`).
    Exists(String),
    /// No block of that name (Python: `FileNotFoundError`).
    NotFound(String),
    /// A size of zero for a new block, or an existing block of size zero (Python:
    /// `ValueError`).
    InvalidSize,
    /// A name that is empty, too long, or holds `/` or NUL (Python: `ValueError` or
    /// `OSError`).
    InvalidName(String),
    /// A read or write past the end of the block.
    OutOfRange {
        /// The first byte asked for.
        offset: usize,
        /// How many bytes.
        len: usize,
        /// The block's size.
        size: usize,
    },
    /// Another error of `shm_open`, `ftruncate`, `fstat`, `mmap` or `shm_unlink`
    /// (Python: `OSError`).
    Io(io::Error),
}

impl fmt::Display for SharedMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists(n) => write!(f, "shared memory block {n:?} exists already"),
            Self::NotFound(n) => write!(f, "no shared memory block named {n:?}"),
            Self::InvalidSize => {
                f.write_str("'size' must be a positive number different from zero")
            }
            Self::InvalidName(n) => write!(f, "invalid shared memory name {n:?}"),
            Self::OutOfRange { offset, len, size } => write!(
                f,
                "bytes {offset}..{offset}+{len} are outside the block of {size} bytes"
            ),
            Self::Io(e) => write!(f, "shared memory: {e}"),
        }
    }
}

impl std::error::Error for SharedMemoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A named block of shared memory (Python's `multiprocessing.shared_memory.SharedMemory`).
///
/// ```
/// use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
///
/// let a = SharedMemory::create(64)?;
/// a.write_at(0, b"hello")?;
/// let b = SharedMemory::attach(a.name())?; // another process would do this
/// let mut out = [0u8; 5];
/// b.read_at(0, &mut out)?;
/// assert_eq!(&out, b"hello");
/// b.close();
/// a.unlink()?;
/// assert!(matches!(SharedMemory::attach(a.name()), Err(SharedMemoryError::NotFound(_))));
/// # Ok::<(), SharedMemoryError>(())
/// ```
///
/// Passed among a child process's arguments it serialises as its name (as CPython
/// pickles it): the child attaches by name, so the block must not be unlinked before the
/// child has it.
pub struct SharedMemory {
    /// Without the leading `/`.
    name: String,
    size: usize,
    map: Mapping,
}

/// Checks a user's name and returns the `shm_open` form (leading `/`).
fn shm_path(name: &str) -> Result<CString, SharedMemoryError> {
    let invalid = || SharedMemoryError::InvalidName(name.to_owned());
    // NAME_MAX (255) counts the leading '/'.
    if name.is_empty() || name.len() > 254 || name.contains('/') {
        return Err(invalid());
    }
    CString::new(format!("/{name}")).map_err(|_| invalid())
}

/// A fresh name as CPython makes them: `psm_` and 8 random hex digits.
fn random_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState` is seeded from the OS's randomness once per process and per
    // `new()`; hashing a counter and the time gives a fresh value on every call.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("psm_{:08x}", h.finish() as u32)
}

impl SharedMemory {
    /// Python's constructor: `SharedMemory(name=None, create=False, size=0)`.
    /// `create` makes a new block of `size` bytes (named `name`, or a fresh name if
    /// `None`); otherwise attaches to the block `name` (then `size` is ignored, as in
    /// Python).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    ///
    /// assert!(matches!(SharedMemory::new(None, false, 0), Err(SharedMemoryError::InvalidName(_))));
    /// assert!(matches!(SharedMemory::new(None, true, 0), Err(SharedMemoryError::InvalidSize)));
    /// let shm = SharedMemory::new(None, true, 10)?;
    /// assert_eq!(shm.size(), 10);
    /// shm.unlink()?;
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    ///
    /// # Errors
    /// As [`create`](Self::create), [`create_named`](Self::create_named) and
    /// [`attach`](Self::attach); `name: None` without `create` is
    /// [`SharedMemoryError::InvalidName`] (Python: `ValueError`).
    pub fn new(name: Option<&str>, create: bool, size: usize) -> Result<Self, SharedMemoryError> {
        match (name, create) {
            (None, true) => Self::create(size),
            (Some(n), true) => Self::create_named(n, size),
            (Some(n), false) => Self::attach(n),
            (None, false) => Err(SharedMemoryError::InvalidName(String::new())),
        }
    }

    /// A new zero-filled block of `size` bytes under a fresh name (Python:
    /// `SharedMemory(create=True, size=size)`).
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(4)?;
    /// assert!(shm.name().starts_with("psm_"));
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedMemoryError::InvalidSize`] for 0; [`SharedMemoryError::Io`] if the
    /// system refuses.
    pub fn create(size: usize) -> Result<Self, SharedMemoryError> {
        loop {
            match Self::create_named(&random_name(), size) {
                Err(SharedMemoryError::Exists(_)) => continue,
                other => return other,
            }
        }
    }

    /// A new zero-filled block of `size` bytes named `name` (Python:
    /// `SharedMemory(name, create=True, size=size)`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    ///
    /// let name = format!("conkit_doc_{}", std::process::id());
    /// let shm = SharedMemory::create_named(&name, 8)?;
    /// assert_eq!(shm.name(), name);
    /// assert!(matches!(SharedMemory::create_named(&name, 8), Err(SharedMemoryError::Exists(_))));
    /// shm.unlink()?;
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedMemoryError::Exists`] if the name is taken,
    /// [`InvalidName`](SharedMemoryError::InvalidName),
    /// [`InvalidSize`](SharedMemoryError::InvalidSize) for 0, or
    /// [`Io`](SharedMemoryError::Io).
    pub fn create_named(name: &str, size: usize) -> Result<Self, SharedMemoryError> {
        if size == 0 {
            return Err(SharedMemoryError::InvalidSize);
        }
        let path = shm_path(name)?;
        let fd = open(&path, name, libc::O_CREAT | libc::O_EXCL | libc::O_RDWR)?;
        let made = (|| {
            let len = libc::off_t::try_from(size).map_err(|_| SharedMemoryError::InvalidSize)?;
            // SAFETY: an open descriptor.
            if unsafe { libc::ftruncate(fd_raw(&fd), len) } != 0 {
                return Err(SharedMemoryError::Io(io::Error::last_os_error()));
            }
            Mapping::map(fd, size).map_err(SharedMemoryError::Io)
        })();
        match made {
            Ok(map) => Ok(Self {
                name: name.to_owned(),
                size,
                map,
            }),
            Err(e) => {
                // As CPython: a block that could not be set up is unlinked.
                // SAFETY: a valid C string.
                unsafe { libc::shm_unlink(path.as_ptr()) };
                Err(e)
            }
        }
    }

    /// Attaches to the existing block `name` (Python: `SharedMemory(name)`); its size is
    /// the block's.
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    ///
    /// let err = SharedMemory::attach("conkit_no_such_block").unwrap_err();
    /// assert!(matches!(err, SharedMemoryError::NotFound(_)));
    /// ```
    ///
    /// # Errors
    /// [`SharedMemoryError::NotFound`], [`InvalidName`](SharedMemoryError::InvalidName),
    /// [`InvalidSize`](SharedMemoryError::InvalidSize) for an empty block, or
    /// [`Io`](SharedMemoryError::Io).
    pub fn attach(name: &str) -> Result<Self, SharedMemoryError> {
        let path = shm_path(name)?;
        let fd = open(&path, name, libc::O_RDWR)?;
        // SAFETY: `stat` is plain data; zeroed is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: an open descriptor and a valid out-pointer.
        if unsafe { libc::fstat(fd_raw(&fd), &mut st) } != 0 {
            return Err(SharedMemoryError::Io(io::Error::last_os_error()));
        }
        let size = usize::try_from(st.st_size).map_err(|_| SharedMemoryError::InvalidSize)?;
        if size == 0 {
            return Err(SharedMemoryError::InvalidSize);
        }
        let map = Mapping::map(fd, size).map_err(SharedMemoryError::Io)?;
        Ok(Self {
            name: name.to_owned(),
            size,
            map,
        })
    }

    /// The block's name, without a leading `/` (Python: `shm.name`).
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(1)?;
    /// assert!(!shm.name().starts_with('/'));
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The block's size in bytes (Python: `shm.size`).
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(100)?;
    /// assert_eq!(shm.size(), 100);
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// The bytes as atomics: safe to read and write from every process at once
    /// (Python: `shm.buf`).
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    ///
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(2)?;
    /// shm.buf()[1].store(42, Ordering::Relaxed);
    /// assert_eq!(shm.buf()[1].load(Ordering::Relaxed), 42);
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    pub fn buf(&self) -> &[AtomicU8] {
        // SAFETY: `size` bytes mapped for as long as `self`; `AtomicU8` has the size,
        // alignment and validity of `u8`; every safe access goes through atomics, the
        // unsafe slices exclude concurrent access by contract.
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().as_ptr().cast::<AtomicU8>(), self.size)
        }
    }

    /// Copies `out.len()` bytes from `offset` into `out` (Python:
    /// `out[:] = shm.buf[offset:offset + len(out)]`), byte by byte through the atomic
    /// view.
    ///
    /// # Errors
    /// [`SharedMemoryError::OutOfRange`] (nothing read) past the end.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), SharedMemoryError> {
        let src = self.range(offset, out.len())?;
        for (o, b) in out.iter_mut().zip(src) {
            *o = b.load(Ordering::Relaxed);
        }
        Ok(())
    }

    /// Copies `data` to the bytes from `offset` (Python:
    /// `shm.buf[offset:offset + len(data)] = data`), byte by byte through the atomic
    /// view.
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    ///
    /// let shm = SharedMemory::create(4)?;
    /// assert!(matches!(shm.write_at(2, b"abc"), Err(SharedMemoryError::OutOfRange { .. })));
    /// shm.unlink()?;
    /// # Ok::<(), SharedMemoryError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedMemoryError::OutOfRange`] (nothing written) past the end.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), SharedMemoryError> {
        let dst = self.range(offset, data.len())?;
        for (d, &b) in dst.iter().zip(data) {
            d.store(b, Ordering::Relaxed);
        }
        Ok(())
    }

    fn range(&self, offset: usize, len: usize) -> Result<&[AtomicU8], SharedMemoryError> {
        offset
            .checked_add(len)
            .filter(|&end| end <= self.size)
            .map(|end| &self.buf()[offset..end])
            .ok_or(SharedMemoryError::OutOfRange {
                offset,
                len,
                size: self.size,
            })
    }

    /// The first byte's address in this process.
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(1)?;
    /// assert!(!shm.as_ptr().is_null());
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr().as_ptr()
    }

    /// The bytes as a slice, at memory speed.
    ///
    /// # Safety
    /// No thread of any process may write the block while the slice lives.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `size` mapped bytes alive as long as `self`; the caller excludes
        // concurrent writes.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.size) }
    }

    /// The bytes as a mutable slice, at memory speed.
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(3)?;
    /// // SAFETY: no other process has the block yet.
    /// unsafe { shm.as_mut_slice() }.copy_from_slice(b"abc");
    /// assert_eq!(unsafe { shm.as_slice() }, b"abc");
    /// shm.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    ///
    /// # Safety
    /// No other access to the block (by any thread of any process, through any
    /// handle) may happen while the slice lives.
    #[allow(
        clippy::mut_from_ref,
        reason = "shared memory: the contract is the caller's"
    )]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: as `as_slice`; the caller excludes every other access.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.size) }
    }

    /// Unmaps the block in this process; the block lives on (Python: `shm.close()`).
    /// Dropping does the same.
    ///
    /// ```
    /// let shm = conkit::multiprocessing::shared_memory::SharedMemory::create(1)?;
    /// let name = shm.name().to_owned();
    /// shm.close();
    /// conkit::multiprocessing::shared_memory::SharedMemory::attach(&name)?.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::SharedMemoryError>(())
    /// ```
    pub fn close(self) {
        drop(self);
    }

    /// Removes the block's name: no process can attach any more, and the memory is
    /// freed once every process has closed it (Python: `shm.unlink()`; call it once,
    /// from one process).
    ///
    /// # Errors
    /// [`SharedMemoryError::NotFound`] if the name is gone already.
    pub fn unlink(&self) -> Result<(), SharedMemoryError> {
        let path = shm_path(&self.name)?;
        // SAFETY: a valid C string.
        if unsafe { libc::shm_unlink(path.as_ptr()) } != 0 {
            return Err(os_error(&self.name, io::Error::last_os_error()));
        }
        Ok(())
    }
}

fn fd_raw(fd: &OwnedFd) -> libc::c_int {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// `shm_open` with Python's mode, close-on-exec.
fn open(path: &CString, name: &str, flags: libc::c_int) -> Result<OwnedFd, SharedMemoryError> {
    // SAFETY: a valid C string; plain flags and mode.
    let raw = unsafe { libc::shm_open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if raw < 0 {
        return Err(os_error(name, io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn os_error(name: &str, e: io::Error) -> SharedMemoryError {
    match e.raw_os_error() {
        Some(libc::EEXIST) => SharedMemoryError::Exists(name.to_owned()),
        Some(libc::ENOENT) => SharedMemoryError::NotFound(name.to_owned()),
        Some(libc::EINVAL | libc::ENAMETOOLONG) => SharedMemoryError::InvalidName(name.to_owned()),
        _ => SharedMemoryError::Io(e),
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

/// Serialises as the block's name (as CPython pickles it).
impl Serialize for SharedMemory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.name.serialize(s)
    }
}

/// Attaches to the named block.
impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::attach(&name).map_err(D::Error::custom)
    }
}
