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
//! | `ShareableList([1, "a", None])`, `ShareableList(name=n)` | [`ShareableList::create([Item::from(1), …])`](ShareableList::create), [`ShareableList::attach(n)`](ShareableList::attach) |
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
//! asked for (Linux keeps it exactly).
//!
//! [`ShareableList`] (Python's `ShareableList`) keeps CPython's layout in a named block,
//! so Python and Rust processes share one list by name; its items are the enum [`Item`]
//! (see its docs for the differences).
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

// ---------------------------------------------------------------------------------
// ShareableList
// ---------------------------------------------------------------------------------

/// One element of a [`ShareableList`]: the six kinds of value Python's `ShareableList`
/// stores (`int`, `float`, `bool`, `str`, `bytes`, `None`).
///
/// ```
/// use conkit::multiprocessing::shared_memory::Item;
///
/// assert_eq!(Item::from(3), Item::Int(3));
/// assert_eq!(Item::from("年"), Item::Str("年".into()));
/// assert_eq!(Item::from(None::<i64>), Item::None);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// Python `int` (struct format `q`: a 64-bit signed integer).
    Int(i64),
    /// Python `float` (format `d`).
    Float(f64),
    /// Python `bool` (format `xxxxxxx?`).
    Bool(bool),
    /// Python `str` (format `Ns`, UTF-8, trailing NUL bytes dropped on reading).
    Str(String),
    /// Python `bytes` (format `Ns`, trailing NUL bytes dropped on reading).
    Bytes(Vec<u8>),
    /// Python `None` (format `xxxxxx?x`).
    None,
}

macro_rules! item_from {
    ($($t:ty => $v:ident ($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Item {
            fn from(x: $t) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Item::$v(($conv)(x))
            }
        }
    )*};
}

item_from! {
    i64 => Int(|x| x),
    i32 => Int(i64::from),
    u32 => Int(i64::from),
    f64 => Float(|x| x),
    bool => Bool(|x| x),
    String => Str(|x| x),
    &str => Str(str::to_owned),
    Vec<u8> => Bytes(|x| x),
    &[u8] => Bytes(<[u8]>::to_vec),
}

/// Python's `str(item)` (what `print` shows): `42`, `-78.5` / `100.0` / `1e+16` (Python's
/// float `repr`), `True`, `None`, the text of a `str`, `b'\x01ab'` for `bytes`.
///
/// ```
/// use conkit::multiprocessing::shared_memory::Item;
/// let shown: Vec<String> = [
///     Item::from(100.0), Item::from(1e16), Item::from(0.0001), Item::from(1e-5),
///     Item::from(true), Item::None, Item::from("年"), Item::from(&b"a'\x01"[..]),
/// ].iter().map(|i| i.to_string()).collect();
/// assert_eq!(shown, ["100.0", "1e+16", "0.0001", "1e-05", "True", "None", "年", "b\"a'\\x01\""]);
/// ```
impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Int(n) => write!(f, "{n}"),
            Item::Float(x) => f.write_str(&python_float(*x)),
            Item::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Item::None => f.write_str("None"),
            Item::Str(s) => f.write_str(s),
            Item::Bytes(b) => {
                // Python's bytes repr: single quotes unless the bytes hold a ' and no ".
                let q = if b.contains(&b'\'') && !b.contains(&b'"') {
                    '"'
                } else {
                    '\''
                };
                write!(f, "b{q}")?;
                for &c in b {
                    match c {
                        b'\\' => f.write_str("\\\\")?,
                        b'\t' => f.write_str("\\t")?,
                        b'\n' => f.write_str("\\n")?,
                        b'\r' => f.write_str("\\r")?,
                        c if c == q as u8 => write!(f, "\\{q}")?,
                        0x20..=0x7e => write!(f, "{}", c as char)?,
                        c => write!(f, "\\x{c:02x}")?,
                    }
                }
                write!(f, "{q}")
            }
        }
    }
}

/// Python's `repr(float)`: the shortest digits that read back the same, positional for
/// exponents from -4 to 15 (with `.0` for whole numbers), else `d.ddde+XX`.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e2".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    }
}

impl<T: Into<Item>> From<Option<T>> for Item {
    fn from(x: Option<T>) -> Self {
        x.map_or(Item::None, Into::into)
    }
}

impl Item {
    /// The struct format CPython stores for this item in a slot of `slot` bytes.
    fn format(&self, slot: usize) -> String {
        match self {
            Item::Int(_) => "q".into(),
            Item::Float(_) => "d".into(),
            Item::Bool(_) => "xxxxxxx?".into(),
            Item::None => "xxxxxx?x".into(),
            Item::Str(_) | Item::Bytes(_) => format!("{slot}s"),
        }
    }

    /// CPython's back-transform code: 0 int/float/bool, 1 str, 2 bytes, 3 None.
    fn code(&self) -> u8 {
        match self {
            Item::Int(_) | Item::Float(_) | Item::Bool(_) => 0,
            Item::Str(_) => 1,
            Item::Bytes(_) => 2,
            Item::None => 3,
        }
    }

    /// The bytes of a `str` / `bytes` item.
    fn text(&self) -> Option<&[u8]> {
        match self {
            Item::Str(s) => Some(s.as_bytes()),
            Item::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The slot CPython allocates for it: 8 bytes, or the next multiple of 8 above the
    /// text's length (at least one NUL after it).
    fn slot(&self) -> usize {
        self.text().map_or(8, |t| 8 * (t.len() / 8 + 1))
    }

    /// The slot's bytes for this item (`slot` long).
    fn encode(&self, slot: usize) -> Vec<u8> {
        let mut out = vec![0u8; slot];
        match self {
            Item::Int(i) => out[..8].copy_from_slice(&i.to_ne_bytes()),
            Item::Float(f) => out[..8].copy_from_slice(&f.to_ne_bytes()),
            Item::Bool(b) => out[7] = u8::from(*b),
            Item::None => {}
            Item::Str(_) | Item::Bytes(_) => {
                let t = self.text().unwrap_or_default();
                out[..t.len()].copy_from_slice(t);
            }
        }
        out
    }
}

/// Why a [`ShareableList`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShareableListError {
    /// An index past the end (Python: `IndexError`).
    Index {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A `str` / `bytes` value longer than its slot (Python: `ValueError: bytes/str
    /// item exceeds available storage`).
    TooLong {
        /// The value's length in bytes (UTF-8 for a `str`).
        len: usize,
        /// The slot's size.
        slot: usize,
    },
    /// The block does not hold a valid list (a header, offset, format or type code out
    /// of place, a `str` that is not UTF-8 — also what a read racing with a write of
    /// another type may see).
    Corrupt(String),
    /// Creating or attaching to the block failed.
    SharedMemory(SharedMemoryError),
}

impl fmt::Display for ShareableListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index { index, len } => {
                write!(f, "index {index} out of range for a list of {len}")
            }
            // Python's message; the sizes are in the fields.
            Self::TooLong { .. } => f.write_str("bytes/str item exceeds available storage"),
            Self::Corrupt(why) => write!(f, "not a valid ShareableList: {why}"),
            Self::SharedMemory(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ShareableListError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::SharedMemory(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SharedMemoryError> for ShareableListError {
    fn from(e: SharedMemoryError) -> Self {
        ShareableListError::SharedMemory(e)
    }
}

/// A fixed-length list of `int`/`float`/`bool`/`str`/`bytes`/`None` values in a named
/// [`SharedMemory`] block (Python 3.8's `multiprocessing.shared_memory.ShareableList`),
/// in CPython's exact layout: a Python process can attach to a list made here by name,
/// and the other way round.
///
/// Reference: CPython's `Lib/multiprocessing/shared_memory.py` (`ShareableList`): the
/// block holds the length (`q`), `len + 1` slot offsets (`q`), the slots (8 bytes per
/// number, `bool` or `None`; a multiple of 8 above the length for `str`/`bytes`), each
/// item's struct format (8 bytes) and its type code (1 byte); native byte order.
///
/// | Python | conkit |
/// |---|---|
/// | `ShareableList([1, 2.0, "a", b"b", True, None])` | [`ShareableList::create([Item::from(1), …])`](ShareableList::create) (values: [`Item`]) |
/// | `ShareableList(seq, name="x")` / `ShareableList(name="x")` | [`create_named("x", seq)`](ShareableList::create_named) / [`attach("x")`](ShareableList::attach) |
/// | `sl[i]`, `sl[i] = v`, `len(sl)`, `list(sl)` | [`get(i)`](ShareableList::get), [`set(i, v)`](ShareableList::set), [`len()`](ShareableList::len), [`to_vec()`](ShareableList::to_vec) |
/// | `sl.format`, `sl.count(v)`, `sl.index(v)`, `sl.shm` | [`format()`](ShareableList::format), [`count(&v)`](ShareableList::count), [`index(&v)`](ShareableList::index) (`None` for Python's `ValueError`), [`shm()`](ShareableList::shm) |
/// | pickling it for a child (its name) | `Serialize`/`Deserialize`: serialises as the block's name, the child attaches |
///
/// Differences: the items are an enum instead of Python objects; indices are `usize`
/// (no negative indices); a `str` slot is sized by its UTF-8 length (CPython 3.11/3.12
/// size it by the number of characters, so a non-ASCII string may be cut short there);
/// `int`s are `i64` (Python's `struct` refuses larger ones too). As in Python there is
/// no lock: reads and writes copy through the block's atomic bytes (never undefined
/// behaviour), but a read racing with a write may see a mix of old and new bytes
/// (order them with an `mp::Lock`); a read that sees an inconsistent format or type
/// code returns [`ShareableListError::Corrupt`], never a wrong type.
///
/// ```
/// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
///
/// let sl = ShareableList::create([
///     Item::from(7),
///     Item::from(2.5),
///     Item::from("howdy"),
///     Item::from(&b"HoWdY"[..]),
///     Item::from(true),
///     Item::None,
/// ])?;
/// assert_eq!(sl.format()?, "qd8s8sxxxxxxx?xxxxxx?x");
/// sl.set(2, "hi")?; // fits the 8-byte slot
/// assert!(sl.set(2, "far too long for it").is_err());
/// let other = ShareableList::attach(sl.shm().name())?; // as another process would
/// assert_eq!(other.get(2)?, Item::Str("hi".into()));
/// assert_eq!(other.index(&Item::Bool(true))?, Some(4));
/// assert_eq!(other.count(&Item::None)?, 1);
/// sl.shm().unlink()?;
/// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    len: usize,
    /// `len + 1` offsets of the slots from the data start (read once at attach, as
    /// CPython does: the layout never changes).
    offsets: Vec<usize>,
}

/// The largest text slot: its format (`"9999992s"`) must fit 8 characters.
const MAX_SLOT: usize = 9_999_992;

/// The byte offset of the slots (after the length and the `len + 1` offsets).
fn data_start(len: usize) -> usize {
    (len + 2) * 8
}

impl ShareableList {
    /// A new list holding `items`, in a block with a fresh `psm_…` name (Python:
    /// `ShareableList(sequence)`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([1, 2, 3].map(Item::from))?;
    /// assert_eq!(sl.len(), 3);
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::SharedMemory`] if the block cannot be created.
    pub fn create(items: impl IntoIterator<Item = Item>) -> Result<Self, ShareableListError> {
        Self::make(None, items.into_iter().collect())
    }

    /// A new list holding `items` in a block named `name` (Python:
    /// `ShareableList(sequence, name=name)`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let name = format!("conkit_doc_sl_{}", std::process::id());
    /// let sl = ShareableList::create_named(&name, [Item::from("a")])?;
    /// assert_eq!(sl.shm().name(), name);
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::SharedMemory`] with [`SharedMemoryError::Exists`] if the
    /// name is taken, or another error creating the block.
    pub fn create_named(
        name: &str,
        items: impl IntoIterator<Item = Item>,
    ) -> Result<Self, ShareableListError> {
        Self::make(Some(name), items.into_iter().collect())
    }

    fn make(name: Option<&str>, items: Vec<Item>) -> Result<Self, ShareableListError> {
        // A format is at most 8 characters (CPython asserts it): "9999992s" is the
        // largest text slot.
        if let Some(t) = items
            .iter()
            .filter_map(Item::text)
            .find(|t| t.len() >= MAX_SLOT)
        {
            return Err(ShareableListError::TooLong {
                len: t.len(),
                slot: MAX_SLOT,
            });
        }
        let len = items.len();
        let mut offsets = Vec::with_capacity(len + 1);
        offsets.push(0usize);
        for it in &items {
            let last = offsets.last().copied().unwrap_or(0);
            offsets.push(last + it.slot());
        }
        let data = offsets.last().copied().unwrap_or(0);
        let size = data_start(len) + data + 8 * len + len;
        let shm = SharedMemory::new(name, true, size)?;
        let mut header = Vec::with_capacity(data_start(len));
        header.extend_from_slice(&(len as i64).to_ne_bytes());
        for &o in &offsets {
            header.extend_from_slice(&(o as i64).to_ne_bytes());
        }
        shm.write_at(0, &header)?;
        let list = Self { shm, len, offsets };
        for (i, it) in items.iter().enumerate() {
            list.write(i, it)?;
        }
        Ok(list)
    }

    /// Attaches to the list in the block `name` (Python: `ShareableList(name=name)`),
    /// checking its layout.
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList, SharedMemory};
    /// let sl = ShareableList::create([Item::from(1.5)])?;
    /// assert_eq!(ShareableList::attach(sl.shm().name())?.get(0)?, Item::Float(1.5));
    /// // A block that is not a list is refused, not misread.
    /// let junk = SharedMemory::create(8)?;
    /// junk.write_at(0, &(1_000_000i64).to_ne_bytes())?;
    /// assert!(ShareableList::attach(junk.name()).is_err());
    /// sl.shm().unlink()?;
    /// junk.unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::SharedMemory`] if the block cannot be attached,
    /// [`ShareableListError::Corrupt`] if its header does not describe a list that fits.
    pub fn attach(name: &str) -> Result<Self, ShareableListError> {
        let shm = SharedMemory::attach(name)?;
        let corrupt = |why: String| ShareableListError::Corrupt(why);
        let read_q = |at: usize| -> Result<i64, ShareableListError> {
            let mut b = [0u8; 8];
            shm.read_at(at, &mut b)
                .map_err(|_| corrupt(format!("the header ends past the block ({at})")))?;
            Ok(i64::from_ne_bytes(b))
        };
        let n = read_q(0)?;
        let size = shm.size();
        // Each item needs at least 8 (offset) + 8 (slot) + 8 (format) + 1 (code) bytes.
        let len = usize::try_from(n)
            .ok()
            .filter(|&l| l <= size / 25)
            .ok_or_else(|| corrupt(format!("length {n} for a block of {size} bytes")))?;
        let mut offsets = Vec::with_capacity(len + 1);
        for i in 0..=len {
            let o = read_q(8 + 8 * i)?;
            let o = usize::try_from(o)
                .ok()
                .filter(|&o| o >= offsets.last().copied().unwrap_or(0))
                .ok_or_else(|| corrupt(format!("offset {i} is {o}")))?;
            offsets.push(o);
        }
        if offsets[0] != 0 {
            return Err(corrupt("the first offset is not 0".into()));
        }
        data_start(len)
            .checked_add(offsets[len])
            .and_then(|e| e.checked_add(9 * len))
            .filter(|&e| e <= size)
            .ok_or_else(|| corrupt(format!("the slots do not fit {size} bytes")))?;
        Ok(Self { shm, len, offsets })
    }

    /// The number of items (Python: `len(sl)`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::ShareableList;
    /// let sl = ShareableList::create([])?;
    /// assert!(sl.is_empty());
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a list of no items.
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([Item::None])?;
    /// assert!(!sl.is_empty());
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block the list lives in (Python: `sl.shm`): its name to attach elsewhere,
    /// `unlink` when done.
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::ShareableList;
    /// let sl = ShareableList::create([])?;
    /// assert!(sl.shm().name().starts_with("psm_"));
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    fn check(&self, index: usize) -> Result<(), ShareableListError> {
        if index >= self.len {
            return Err(ShareableListError::Index {
                index,
                len: self.len,
            });
        }
        Ok(())
    }

    fn slot_len(&self, index: usize) -> usize {
        self.offsets[index + 1] - self.offsets[index]
    }

    fn formats_at(&self) -> usize {
        data_start(self.len) + self.offsets[self.len]
    }

    /// Item `index`'s struct format (Python: `_get_packing_format`).
    fn packing_format(&self, index: usize) -> Result<String, ShareableListError> {
        self.check(index)?;
        let mut b = [0u8; 8];
        self.shm.read_at(self.formats_at() + 8 * index, &mut b)?;
        let end = b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
        String::from_utf8(b[..end].to_vec())
            .map_err(|_| ShareableListError::Corrupt(format!("format of item {index}")))
    }

    /// Item `index` (Python: `sl[index]`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([Item::from(b"ab".to_vec())])?;
    /// assert_eq!(sl.get(0)?, Item::Bytes(b"ab".to_vec()));
    /// assert!(sl.get(1).is_err()); // IndexError
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::Index`] past the end; [`ShareableListError::Corrupt`] if
    /// the slot's format and type code do not make a value.
    pub fn get(&self, index: usize) -> Result<Item, ShareableListError> {
        let format = self.packing_format(index)?;
        let mut code = [0u8; 1];
        self.shm
            .read_at(self.formats_at() + 8 * self.len + index, &mut code)?;
        let slot = self.slot_len(index);
        let mut bytes = vec![0u8; slot];
        self.shm
            .read_at(data_start(self.len) + self.offsets[index], &mut bytes)?;
        let corrupt = || {
            ShareableListError::Corrupt(format!(
                "item {index}: format {format:?}, type code {}",
                code[0]
            ))
        };
        let word = || -> Result<[u8; 8], ShareableListError> {
            bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(corrupt)
        };
        let text = |n: usize| -> Result<Vec<u8>, ShareableListError> {
            let t = bytes.get(..n).ok_or_else(corrupt)?;
            let end = t.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
            Ok(t[..end].to_vec())
        };
        match (format.as_str(), code[0]) {
            ("q", 0) => Ok(Item::Int(i64::from_ne_bytes(word()?))),
            ("d", 0) => Ok(Item::Float(f64::from_ne_bytes(word()?))),
            ("xxxxxxx?", 0) => Ok(Item::Bool(word()?[7] != 0)),
            ("xxxxxx?x", 3) => Ok(Item::None),
            (f, c @ (1 | 2)) if f.ends_with('s') => {
                let n: usize = f[..f.len() - 1].parse().map_err(|_| corrupt())?;
                let t = text(n)?;
                if c == 1 {
                    String::from_utf8(t).map(Item::Str).map_err(|_| corrupt())
                } else {
                    Ok(Item::Bytes(t))
                }
            }
            _ => Err(corrupt()),
        }
    }

    /// Replaces item `index` by `value`, of any kind (Python: `sl[index] = value`); a
    /// `str` or `bytes` value must fit the slot (its size was fixed at creation).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList, ShareableListError};
    /// let sl = ShareableList::create([Item::from(1)])?;
    /// sl.set(0, "abcdefgh")?; // an 8-byte slot takes 8 bytes of text
    /// assert_eq!(sl.format()?, "8s");
    /// sl.set(0, None::<i64>)?;
    /// assert_eq!(sl.get(0)?, Item::None);
    /// assert!(matches!(sl.set(0, "abcdefghi"), Err(ShareableListError::TooLong { .. })));
    /// sl.shm().unlink()?;
    /// # Ok::<(), ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::Index`] past the end, [`ShareableListError::TooLong`] for
    /// a text that does not fit (nothing is written then).
    pub fn set(&self, index: usize, value: impl Into<Item>) -> Result<(), ShareableListError> {
        self.check(index)?;
        let value = value.into();
        let slot = self.slot_len(index);
        if let Some(t) = value.text() {
            if t.len() > slot {
                return Err(ShareableListError::TooLong { len: t.len(), slot });
            }
        }
        self.write(index, &value)
    }

    /// Writes `value`'s format, type code and bytes (CPython's order).
    fn write(&self, index: usize, value: &Item) -> Result<(), ShareableListError> {
        let slot = self.slot_len(index);
        let mut format = [0u8; 8];
        let f = value.format(slot);
        if f.len() > 8 {
            return Err(ShareableListError::Corrupt(format!(
                "slot of item {index} too large for a format ({slot} bytes)"
            )));
        }
        format[..f.len()].copy_from_slice(f.as_bytes());
        self.shm.write_at(self.formats_at() + 8 * index, &format)?;
        self.shm
            .write_at(self.formats_at() + 8 * self.len + index, &[value.code()])?;
        self.shm.write_at(
            data_start(self.len) + self.offsets[index],
            &value.encode(slot),
        )?;
        Ok(())
    }

    /// Every item, in order (Python: `list(sl)`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([Item::from(1), Item::from(false)])?;
    /// assert_eq!(sl.to_vec()?, [Item::Int(1), Item::Bool(false)]);
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn to_vec(&self) -> Result<Vec<Item>, ShareableListError> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// The struct formats of all items, concatenated (Python: `sl.format`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([Item::from(1), Item::from("x")])?;
    /// assert_eq!(sl.format()?, "q8s");
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShareableListError::Corrupt`] if a format is not text.
    pub fn format(&self) -> Result<String, ShareableListError> {
        (0..self.len).map(|i| self.packing_format(i)).collect()
    }

    /// How many items equal `value` (Python: `sl.count(value)`; `Int(1)` and
    /// `Bool(true)` are different items here, where Python counts `1 == True`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create([1, 2, 1].map(Item::from))?;
    /// assert_eq!(sl.count(&Item::Int(1))?, 2);
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn count(&self, value: &Item) -> Result<usize, ShareableListError> {
        let mut n = 0;
        for i in 0..self.len {
            n += usize::from(&self.get(i)? == value);
        }
        Ok(n)
    }

    /// The first index of `value`, `None` if absent (Python: `sl.index(value)`, which
    /// raises `ValueError`).
    ///
    /// ```
    /// use conkit::multiprocessing::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::create(["a", "b"].map(Item::from))?;
    /// assert_eq!(sl.index(&Item::from("b"))?, Some(1));
    /// assert_eq!(sl.index(&Item::from("c"))?, None);
    /// sl.shm().unlink()?;
    /// # Ok::<(), conkit::multiprocessing::shared_memory::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn index(&self, value: &Item) -> Result<Option<usize>, ShareableListError> {
        for i in 0..self.len {
            if &self.get(i)? == value {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

impl fmt::Debug for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareableList")
            .field("items", &self.to_vec().ok())
            .field("name", &self.shm.name())
            .finish()
    }
}

/// Serialises as the block's name (as CPython pickles it): the child attaches by name.
impl Serialize for ShareableList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.name().serialize(s)
    }
}

/// Attaches by name (layout checked).
impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::attach(&name).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's `repr` of each float (printed by python3 3.11), matched exactly.
    #[test]
    fn floats_print_as_python_repr() {
        let cases: &[(f64, &str)] = &[
            (0.0_f64, "0.0"),
            (-0.0_f64, "-0.0"),
            (1.0_f64, "1.0"),
            (100.0_f64, "100.0"),
            (-273.154_f64, "-273.154"),
            (-78.5_f64, "-78.5"),
            (0.1_f64, "0.1"),
            (0.3333333333333333_f64, "0.3333333333333333"),
            (0.6666666666666666_f64, "0.6666666666666666"),
            (1000000000000000.0_f64, "1000000000000000.0"),
            (1e+16_f64, "1e+16"),
            (123456789012345.6_f64, "123456789012345.6"),
            (1234567890123456.8_f64, "1234567890123456.8"),
            (0.0001_f64, "0.0001"),
            (0.00012345_f64, "0.00012345"),
            (1e-05_f64, "1e-05"),
            (1.5e-07_f64, "1.5e-07"),
            (5e-324_f64, "5e-324"),
            (1.7976931348623157e+308_f64, "1.7976931348623157e+308"),
            (2.5e-05_f64, "2.5e-05"),
            (9999999999999998.0_f64, "9999999999999998.0"),
            (0.5_f64, "0.5"),
            (123.456_f64, "123.456"),
            (1e+22_f64, "1e+22"),
            (-1e-100_f64, "-1e-100"),
            (245803.3897794038_f64, "245803.3897794038"),
            (483573.9785214588_f64, "483573.9785214588"),
            (590387.1311313934_f64, "590387.1311313934"),
            (884900.5675541006_f64, "884900.5675541006"),
            (479797.1494798614_f64, "479797.1494798614"),
            (844649.993330834_f64, "844649.993330834"),
            (-941989.5434327705_f64, "-941989.5434327705"),
            (-68754.69124378928_f64, "-68754.69124378928"),
            (886713.4339966273_f64, "886713.4339966273"),
            (297949.10627384833_f64, "297949.10627384833"),
            (9.009004917506227e-24_f64, "9.009004917506227e-24"),
            (3.717933555623072e+24_f64, "3.717933555623072e+24"),
            (2465.728326198303_f64, "2465.728326198303"),
            (1.0197440217391541e-16_f64, "1.0197440217391541e-16"),
            (1.3114189588902205e-19_f64, "1.3114189588902205e-19"),
            (4.08151054974514e-20_f64, "4.08151054974514e-20"),
            (9.163453718085519e+18_f64, "9.163453718085519e+18"),
            (3.8943731158676896e+17_f64, "3.8943731158676896e+17"),
            (7.971469914312045e-23_f64, "7.971469914312045e-23"),
            (0.006179261849630812_f64, "0.006179261849630812"),
            (1.2669923255026972e-31_f64, "1.2669923255026972e-31"),
            (9.723372896865363e-31_f64, "9.723372896865363e-31"),
            (2.094563824951179e-18_f64, "2.094563824951179e-18"),
            (9.601271002174996e-21_f64, "9.601271002174996e-21"),
            (8.724077654368018e-13_f64, "8.724077654368018e-13"),
            (3.1365136773495363e-19_f64, "3.1365136773495363e-19"),
            (5392234688708.106_f64, "5392234688708.106"),
            (6.257301956771277e-20_f64, "6.257301956771277e-20"),
            (94097600108799.9_f64, "94097600108799.9"),
            (1.9687904392603263e+26_f64, "1.9687904392603263e+26"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(x, py) in cases {
            assert_eq!(Item::Float(x).to_string(), py, "{x:e}");
        }
    }

    /// A damaged block (or a read racing with a write of another type) is a typed
    /// error, never a panic or a value of the wrong type.
    #[test]
    fn damaged_lists_are_errors() {
        // Items: "abc" (8s) and 1 (q). Formats after the 16 bytes of slots, then the
        // two type codes.
        let formats = data_start(2) + 16;
        let codes = formats + 16;
        let cases: [(usize, &[u8], usize); 6] = [
            (data_start(2), &[0xff, 0xfe], 0), // a str that is not UTF-8
            (formats, b"99s\0", 0),            // a text format longer than the slot
            (formats, b"s\0\0", 0),            // no length
            (formats, b"\xff\0", 0),           // not text
            (formats + 8, b"8s", 1),           // a text format with the int code
            (codes + 1, &[9], 1),              // an unknown type code
        ];
        for (at, damage, index) in cases {
            let sl = ShareableList::create([Item::from("abc"), Item::from(1)]).unwrap();
            sl.shm().write_at(at, damage).unwrap();
            let r = sl.get(index);
            sl.shm().unlink().unwrap();
            assert!(
                matches!(r, Err(ShareableListError::Corrupt(_))),
                "{damage:?} at {at}: {r:?}"
            );
        }
        // Offsets that go backwards, or past the block: refused at attach.
        for (at, offset) in [(16, 1_000i64), (8, 5), (8, -1)] {
            let sl = ShareableList::create([Item::from("abc"), Item::from(1)]).unwrap();
            sl.shm().write_at(at, &offset.to_ne_bytes()).unwrap();
            let r = ShareableList::attach(sl.shm().name());
            sl.shm().unlink().unwrap();
            assert!(
                matches!(r, Err(ShareableListError::Corrupt(_))),
                "offset {offset} at {at}"
            );
        }
    }

    #[test]
    fn bytes_print_as_python_repr() {
        // What python3's repr prints for the same bytes.
        let cases: &[(&[u8], &str)] = &[
            (
                &[0, 37, 74, 111, 148, 185, 222, 255][..],
                r"b'\x00%Jo\x94\xb9\xde\xff'",
            ),
            (b"it's", r#"b"it's""#),
            (b"'\"", r#"b'\'"'"#),
            (b"\\\t\n\r", r"b'\\\t\n\r'"),
        ];
        for &(b, py) in cases {
            assert_eq!(Item::Bytes(b.to_vec()).to_string(), py);
        }
    }
}
