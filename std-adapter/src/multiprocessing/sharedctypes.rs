//! Python's `multiprocessing.sharedctypes`: [`Value`], [`Array`] (plain data with a
//! process-shared lock), [`RawValue`], [`RawArray`] (without).
//!
//! Reference: CPython's `Lib/multiprocessing/sharedctypes.py` (3.12): `Value(typecode,
//! *args, lock=True)` is a ctypes object in the shared arena wrapped in a
//! `Synchronized` whose `value` property takes the wrapper's `RLock` around every get
//! and set; `get_lock()` returns that `RLock`, so `with v.get_lock(): v.value += 1` is
//! atomic. Here `T` is any plain-data type (`bytemuck::Pod`: integers, floats, arrays
//! and `#[repr(C)]` structs of them — what a ctypes type code or structure holds), each
//! object gets its own shared mapping ([`heap`](super::heap)), zero-filled like
//! CPython's, and the lock is a [`threading::RLock<SharedFutex>`](threading::RLock) in
//! the same mapping (the one `mp::RLock` is, no second lock).
//!
//! | Python | conkit |
//! |---|---|
//! | `Value('i')` (zero) / `Value('i', 7)` | [`Value::<i32>::zeroed()`](Value::zeroed) / [`Value::new(7)`](Value::new) |
//! | `v.value` / `v.value = x` | [`v.get()`](Value::get) / [`v.set(x)`](Value::set) (each under the lock) |
//! | `with v.get_lock(): v.value += 1` | `let _g = v.get_lock().lock(); v.set(v.get() + 1);`, or [`v.update(\|x\| x + 1)`](Value::update) |
//! | `Array('d', 10)` / `Array('i', [1, 2])` | [`Array::<f64>::zeroed(10)`](Array::zeroed) / [`Array::from_slice(&[1, 2])`](Array::from_slice) |
//! | `a[i]`, `a[i] = x`, `a[:]`, `a[i:j]`, `a[i:j] = xs`, `len(a)` | [`get(i)`](Array::get), [`set(i, x)`](Array::set), [`to_vec()`](Array::to_vec), [`get_range(i..j)`](Array::get_range), [`set_range(i, xs)`](Array::set_range), [`len()`](Array::len); `IndexError` → [`IndexError`] |
//! | `Value('i', lock=False)`, `RawValue('i')`, `RawArray('i', n)` | [`RawValue`], [`RawArray`] |
//! | `Value('i', 7, lock=some_lock)`, `Array('i', n, lock=some_lock)` (a `Lock` or `RLock`) | [`Value::with_lock(7, lock)`](Value::with_lock), [`Array::zeroed_with_lock(n, lock)`](Array::zeroed_with_lock), [`Array::from_slice_with_lock`](Array::from_slice_with_lock) with an [`mp::Lock`](Lock) or [`mp::RLock`](RLock) ([`SyncLock`]) |
//! | `v.get_lock()` | [`v.get_lock()`](Value::get_lock): a [`LockRef`] (the value's own `RLock`, or the lock it was given) with `lock()`, `acquire()`, `release()`, … |
//!
//! **Why no `&mut T`.** The lock is reentrant (as Python's), so a thread that holds it
//! may reach the data again through a nested call: handing out a `&mut T` under it
//! would let two exist at once. The locked types therefore copy values in and out
//! (`get`/`set`/`update`, `to_vec`/`set_range`), which is what Python does too.
//!
//! **An existing lock** (`lock=some_lock`). The value's mapping then still holds its own
//! `RLock`, unused; every access takes the given lock instead, which travels with the
//! value to a child (a child attaches to both mappings). Several values, arrays and
//! [`Condition`](super::Condition)s may share one lock. With a plain [`Lock`] (not
//! reentrant) the Python rule applies as it is: a thread that holds `get_lock()` and
//! then calls [`get`](Value::get) or [`set`](Value::set) waits for itself forever
//! (Python's `with v.get_lock(): v.value += 1` deadlocks the same way); use
//! [`update`](Value::update), which takes the lock once, or an `RLock`.
//!
//! **The raw forms.** Without a lock, any two accesses from different threads or
//! processes where one writes race. Rust forbids data races, so [`RawValue`] and
//! [`RawArray`] offer: a safe view as atomics for the integer types
//! ([`RawValue::as_atomic`], [`RawArray::as_atomics`]), and `unsafe` plain reads and
//! writes whose caller promises no concurrent writer (e.g. under an `mp::Lock` they all
//! use, or before the children start).
//!
//! Linux (and Android) only, as [`heap`](super::heap).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

use bytemuck::Pod;
use conkit_core::shm::{Segment, ShmSafe};
use serde::de::Error as _;
use serde::{Deserialize, Serialize};

use super::heap::{Shared, SharedError};
use super::synchronize::{Lock, RLock};
use crate::threading;
use crate::threading::ReleaseError;
use crate::wait::SharedFutex;

/// An index outside an [`Array`] / [`RawArray`] (Python's `IndexError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexError {
    /// The first index asked for that is out of range.
    pub index: usize,
    /// The array's length.
    pub len: usize,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid index {} for an array of length {}",
            self.index, self.len
        )
    }
}

impl std::error::Error for IndexError {}

// ---------------------------------------------------------------------------------
// The lock: the object's own RLock, or an existing Lock / RLock
// ---------------------------------------------------------------------------------

/// An existing process-shared lock a [`Value`] or [`Array`] is created with (Python's
/// `lock=` argument given a `Lock` or `RLock` object): every access takes it, and
/// [`get_lock`](Value::get_lock) returns it. Serialises as the lock's handle (among a
/// child's arguments only, as the lock itself).
///
/// ```
/// use conkit::multiprocessing::{Lock, SyncLock, Value};
///
/// let lock = Lock::new();
/// let v = Value::with_lock(1u32, lock.clone()); // Value('I', 1, lock=lock)
/// assert!(matches!(SyncLock::from(lock.clone()), SyncLock::Lock(_)));
/// {
///     let _g = lock.lock(); // the same lock
///     assert!(v.get_lock().locked());
/// }
/// assert_eq!(v.update(|x| x + 1), 2);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SyncLock {
    /// A process-shared primitive [`Lock`] (not reentrant).
    Lock(Lock),
    /// A process-shared [`RLock`].
    RLock(RLock),
}

impl From<Lock> for SyncLock {
    fn from(lock: Lock) -> Self {
        SyncLock::Lock(lock)
    }
}

impl From<RLock> for SyncLock {
    fn from(lock: RLock) -> Self {
        SyncLock::RLock(lock)
    }
}

/// The lock of a [`Value`] or [`Array`] (Python's `get_lock()`): the object's own
/// `RLock`, or the [`SyncLock`] it was created with.
///
/// ```
/// let v = conkit::multiprocessing::Value::new(0u8);
/// let lock = v.get_lock();
/// assert!(lock.as_rlock().is_some()); // its own RLock
/// let _g = lock.lock(); // with v.get_lock():
/// v.set(1); // re-enters
/// ```
#[derive(Clone, Copy, Debug)]
pub enum LockRef<'a> {
    /// An `RLock` (the object's own, or a given [`RLock`]).
    RLock(&'a threading::RLock<SharedFutex>),
    /// A given primitive [`Lock`].
    Lock(&'a threading::Lock<SharedFutex>),
}

impl<'a> LockRef<'a> {
    /// Takes the lock and returns a guard that releases it (Python: `with lock:`).
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::<u8>::zeroed(1);
    /// let g = a.get_lock().lock();
    /// assert!(a.get_lock().locked());
    /// drop(g);
    /// assert!(!a.get_lock().locked());
    /// ```
    pub fn lock(self) -> SyncGuard<'a> {
        SyncGuard(match self {
            LockRef::RLock(l) => Guard::RLock(l.lock()),
            LockRef::Lock(l) => Guard::Lock(l.lock()),
        })
    }

    /// Takes the lock, waiting as long as needed (Python: `lock.acquire()`).
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(0u8);
    /// v.get_lock().acquire();
    /// v.get_lock().release().unwrap();
    /// ```
    pub fn acquire(self) {
        match self {
            LockRef::RLock(l) => l.acquire(),
            LockRef::Lock(l) => l.acquire(),
        }
    }

    /// Takes the lock if that is possible without waiting (Python:
    /// `lock.acquire(False)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Lock, Value};
    /// let lock = Lock::new();
    /// let v = Value::with_lock(0u8, lock.clone());
    /// let _g = lock.lock();
    /// assert!(!v.get_lock().try_acquire());
    /// ```
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(self) -> bool {
        match self {
            LockRef::RLock(l) => l.try_acquire(),
            LockRef::Lock(l) => l.try_acquire(),
        }
    }

    /// Takes the lock, waiting at most `timeout` (Python: `lock.acquire(timeout=t)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{Lock, Value};
    /// let lock = Lock::new();
    /// let v = Value::with_lock(0u8, lock.clone());
    /// let _g = lock.lock();
    /// assert!(!v.get_lock().acquire_timeout(Duration::from_millis(1)));
    /// ```
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_timeout(self, timeout: std::time::Duration) -> bool {
        match self {
            LockRef::RLock(l) => l.acquire_timeout(timeout),
            LockRef::Lock(l) => l.acquire_timeout(timeout),
        }
    }

    /// Undoes one acquisition (Python: `lock.release()`).
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(0u8);
    /// assert!(v.get_lock().release().is_err()); // not held
    /// ```
    ///
    /// # Errors
    /// The lock's [`ReleaseError`] (an `RLock` not held by this thread, a `Lock` not
    /// held at all).
    pub fn release(self) -> Result<(), ReleaseError> {
        match self {
            LockRef::RLock(l) => l.release(),
            LockRef::Lock(l) => l.release(),
        }
    }

    /// Whether the lock is held (by anyone).
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(0u8);
    /// assert!(!v.get_lock().locked());
    /// ```
    pub fn locked(self) -> bool {
        match self {
            LockRef::RLock(l) => l.locked(),
            LockRef::Lock(l) => l.locked(),
        }
    }

    /// The lock as an `RLock` (the object's own, or a given [`RLock`]).
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(0u8);
    /// let _g = v.get_lock().lock();
    /// assert_eq!(v.get_lock().as_rlock().unwrap().depth(), 1);
    /// ```
    pub fn as_rlock(self) -> Option<&'a threading::RLock<SharedFutex>> {
        match self {
            LockRef::RLock(l) => Some(l),
            LockRef::Lock(_) => None,
        }
    }

    /// The lock as a primitive `Lock` (a given [`Lock`]).
    ///
    /// ```
    /// use conkit::multiprocessing::{Lock, Value};
    /// let v = Value::with_lock(0u8, Lock::new());
    /// assert!(v.get_lock().as_lock().is_some());
    /// ```
    pub fn as_lock(self) -> Option<&'a threading::Lock<SharedFutex>> {
        match self {
            LockRef::Lock(l) => Some(l),
            LockRef::RLock(_) => None,
        }
    }
}

/// Holds the lock of a [`Value`] / [`Array`] ([`LockRef::lock`]); releases it when
/// dropped.
///
/// ```
/// let v = conkit::multiprocessing::Value::new(5i64);
/// let g = v.get_lock().lock();
/// v.set(v.get() * 2);
/// drop(g);
/// assert_eq!(v.get(), 10);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SyncGuard<'a>(Guard<'a>);

/// The guard of either kind.
// The guards are held for their `Drop` (which releases the lock), never read.
#[allow(dead_code)]
enum Guard<'a> {
    RLock(threading::RLockGuard<'a, SharedFutex>),
    Lock(threading::LockGuard<'a, SharedFutex>),
}

impl fmt::Debug for SyncGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Guard::RLock(_) => "SyncGuard(RLock)",
            Guard::Lock(_) => "SyncGuard(Lock)",
        })
    }
}

/// The lock an object uses: `own` unless it was given one.
fn lock_of<'a>(own: &'a threading::RLock<SharedFutex>, given: &'a Option<SyncLock>) -> LockRef<'a> {
    match given {
        None => LockRef::RLock(own),
        Some(SyncLock::RLock(r)) => LockRef::RLock(r),
        Some(SyncLock::Lock(l)) => LockRef::Lock(l),
    }
}

/// Unwraps a constructor's result, with the message `new` documents.
fn or_panic<T>(r: Result<T, SharedError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("multiprocessing::{what}: cannot create the shared object: {e}"),
    }
}

// ---------------------------------------------------------------------------------
// Value
// ---------------------------------------------------------------------------------

/// A value and its lock, in one shared mapping.
#[repr(C)]
struct ValueCell<T> {
    lock: threading::RLock<SharedFutex>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is read and written only by a thread holding `lock` (every access in
// `Value` takes it first); `T: Send` plain data.
unsafe impl<T: Pod + Send> Sync for ValueCell<T> {}
// SAFETY: `repr(C)`: a `ShmSafe` lock and a `Pod` value (no pointers, any bit pattern
// valid), mutated only under the lock.
unsafe impl<T: Pod + Send> ShmSafe for ValueCell<T> {}

/// A plain-data value in memory shared by processes, with a process-shared `RLock`
/// (Python's `multiprocessing.Value`). Each [`get`](Self::get) and [`set`](Self::set)
/// takes the lock; hold [`get_lock`](Self::get_lock) around several of them to make
/// them one atomic step (the lock is reentrant).
///
/// Handles as in [`synchronize`](super::synchronize): `Clone` shares within a process,
/// `Serialize`/`Deserialize` hand it to a child.
///
/// ```
/// use conkit::multiprocessing::Value;
///
/// let counter = Value::<u64>::zeroed();
/// for _ in 0..3 {
///     let _g = counter.get_lock().lock(); // with counter.get_lock():
///     counter.set(counter.get() + 1); //     counter.value += 1
/// }
/// assert_eq!(counter.update(|v| v * 10), 30);
/// assert_eq!(counter.get(), 30);
/// ```
pub struct Value<T: Pod + Send> {
    cell: Shared<ValueCell<T>>,
    /// The lock given at creation (`None`: the cell's own `RLock`).
    given: Option<SyncLock>,
}

impl<T: Pod + Send> Value<T> {
    /// A value holding `v` (Python: `Value(typecode, v)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new(v: T) -> Self {
        or_panic(Self::try_new(v), "Value")
    }

    /// A value holding `v`.
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::try_new(2.5f64)?;
    /// assert_eq!(v.get(), 2.5);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new(v: T) -> Result<Self, SharedError> {
        Shared::new_with(|| ValueCell {
            lock: threading::RLock::with_strategy(),
            value: UnsafeCell::new(v),
        })
        .map(|cell| Self { cell, given: None })
    }

    /// A value holding `v` whose accesses take an existing [`Lock`] or [`RLock`]
    /// (Python: `Value(typecode, v, lock=lock)`), shared with whatever else uses it.
    /// With a [`Lock`], do not call [`get`](Self::get) / [`set`](Self::set) while
    /// holding it (see the module docs); [`update`](Self::update) takes it once.
    ///
    /// ```
    /// use conkit::multiprocessing::{RLock, Value};
    ///
    /// let lock = RLock::new();
    /// let a = Value::with_lock(1i32, lock.clone());
    /// let b = Value::with_lock(2i32, lock.clone());
    /// {
    ///     let _g = lock.lock(); // one step over both values
    ///     let (x, y) = (a.get(), b.get());
    ///     a.set(y);
    ///     b.set(x);
    /// }
    /// assert_eq!((a.get(), b.get()), (2, 1));
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_with_lock`](Self::try_with_lock)).
    #[must_use]
    pub fn with_lock(v: T, lock: impl Into<SyncLock>) -> Self {
        or_panic(Self::try_with_lock(v, lock), "Value")
    }

    /// A value holding `v` whose accesses take an existing lock.
    ///
    /// ```
    /// use conkit::multiprocessing::{Lock, Value};
    /// let v = Value::try_with_lock(0u16, Lock::new())?;
    /// assert_eq!(v.update(|x| x + 3), 3);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_with_lock(v: T, lock: impl Into<SyncLock>) -> Result<Self, SharedError> {
        let mut value = Self::try_new(v)?;
        value.given = Some(lock.into());
        Ok(value)
    }

    /// A zero value (Python: `Value(typecode)`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Value::<[u16; 3]>::zeroed().get(), [0; 3]);
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn zeroed() -> Self {
        Self::new(T::zeroed())
    }

    /// The lock every access takes (Python: `v.get_lock()`): its own `RLock`, or the
    /// lock it was created with. Hold it to make several accesses one step.
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(1u32);
    /// let _g = v.get_lock().lock();
    /// v.set(v.get() + 1); // the nested acquisitions re-enter
    /// assert_eq!(v.get_lock().as_rlock().unwrap().depth(), 1);
    /// ```
    pub fn get_lock(&self) -> LockRef<'_> {
        lock_of(&self.cell.lock, &self.given)
    }

    /// The value (Python: `v.value`), read under the lock.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Value::new(-3i8).get(), -3);
    /// ```
    ///
    /// # Panics
    /// If the calling thread already holds the lock `u32::MAX` times.
    pub fn get(&self) -> T {
        let _g = self.get_lock().lock();
        // SAFETY: the lock is held (by this thread): no other thread or process writes
        // the value; `T: Pod` is valid for any bits another process wrote.
        unsafe { self.cell.value.get().read() }
    }

    /// Replaces the value (Python: `v.value = x`), under the lock.
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(0u8);
    /// v.set(9);
    /// assert_eq!(v.get(), 9);
    /// ```
    ///
    /// # Panics
    /// As [`get`](Self::get).
    pub fn set(&self, v: T) {
        let _g = self.get_lock().lock();
        // SAFETY: the lock is held: no other access to the value runs meanwhile (a
        // nested call by this thread happens before or after, never during, this write).
        unsafe { self.cell.value.get().write(v) }
    }

    /// Replaces the value by `f(value)` in one locked step (one acquisition of the
    /// lock) and returns the new value (Python: `with v.get_lock(): v.value =
    /// f(v.value)`). With an `RLock` (the default), `f` may use this value again; with
    /// a given [`Lock`] it must not (it would wait for itself).
    ///
    /// ```
    /// let v = conkit::multiprocessing::Value::new(20u32);
    /// assert_eq!(v.update(|x| x + 1), 21);
    /// ```
    ///
    /// # Panics
    /// As [`get`](Self::get), and if `f` panics (the lock is released).
    pub fn update(&self, f: impl FnOnce(T) -> T) -> T {
        let _g = self.get_lock().lock();
        // SAFETY: the lock is held; `f` may re-enter an `RLock` and read or write the
        // value, but only before or after this read and the write below.
        let new = f(unsafe { self.cell.value.get().read() });
        // SAFETY: as above.
        unsafe { self.cell.value.get().write(new) };
        new
    }
}

impl<T: Pod + Send> Clone for Value<T> {
    /// Another handle to the same value (this process).
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            given: self.given.clone(),
        }
    }
}

impl<T: Pod + Send + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lock = self.get_lock();
        if lock.try_acquire() {
            // SAFETY: the lock is held (taken just above, released just below).
            let v = unsafe { self.cell.value.get().read() };
            let _ = lock.release();
            f.debug_tuple("Value").field(&v).finish()
        } else {
            f.write_str("Value(<locked>)")
        }
    }
}

/// Serialises as the shared mapping's descriptor and the given lock's (if any): only
/// among a child's arguments.
impl<T: Pod + Send> Serialize for Value<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.cell, &self.given).serialize(s)
    }
}

/// Attaches to the mapping (and the given lock's) handed over by the parent (header and
/// type checked).
impl<'de, T: Pod + Send> Deserialize<'de> for Value<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (cell, given) = <(Shared<ValueCell<T>>, Option<SyncLock>)>::deserialize(d)?;
        Ok(Self { cell, given })
    }
}

// ---------------------------------------------------------------------------------
// Array storage (shared by Array and RawArray)
// ---------------------------------------------------------------------------------

/// Where the elements start in the mapping: after the head's segment, aligned for `T`
/// and at least to 8 (so that the integer types can be seen as atomics).
fn elements_offset<H: ShmSafe, T>() -> usize {
    Segment::<H>::required_len().next_multiple_of(std::mem::align_of::<T>().max(8))
}

/// The bytes a mapping needs for a head `H` and `len` elements of `T`.
fn room_for<H: ShmSafe, T>(len: usize) -> Result<usize, SharedError> {
    std::mem::size_of::<T>()
        .checked_mul(len)
        .and_then(|b| b.checked_add(elements_offset::<H, T>()))
        .ok_or_else(|| {
            SharedError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "array too large",
            ))
        })
}

/// The elements of a shared array: the mapping after the head, checked against `len`.
fn elements<H: ShmSafe, T>(shared: &Shared<H>, len: u64) -> Result<NonNull<T>, String> {
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    let needed = room_for::<H, T>(len).map_err(|e| e.to_string())?;
    let map = shared.mapping();
    if map.len() < needed {
        return Err(format!(
            "shared array of {len} elements needs {needed} bytes, the mapping has {}",
            map.len()
        ));
    }
    // SAFETY: `elements_offset + len * size_of::<T>() <= map.len()` (checked), so the
    // offset stays inside the mapping; the mapping is page-aligned, so the pointer is
    // aligned for `T`.
    Ok(unsafe { map.as_ptr().add(elements_offset::<H, T>()) }.cast::<T>())
}

// ---------------------------------------------------------------------------------
// Array
// ---------------------------------------------------------------------------------

/// An array's lock and length; the elements follow in the same mapping.
#[repr(C)]
struct ArrayHead<T> {
    lock: threading::RLock<SharedFutex>,
    /// Written once by the creator, before the segment is published.
    len: u64,
    _elements: PhantomData<T>,
}

// SAFETY: `repr(C)`: a `ShmSafe` lock and an immutable `u64`; `PhantomData<T>` only
// names the element type (part of the fingerprint, so attaching as another `T` fails).
unsafe impl<T: Pod + Send + Sync> ShmSafe for ArrayHead<T> {}

/// A fixed-length array of plain data in memory shared by processes, with a
/// process-shared `RLock` (Python's `multiprocessing.Array`). Every access takes the
/// lock; hold [`get_lock`](Self::get_lock) around several to make them one step.
///
/// ```
/// use conkit::multiprocessing::{Array, IndexError};
///
/// let a = Array::from_slice(&[1i32, 2, 3]);
/// a.set(0, 10).unwrap();
/// assert_eq!(a.get(0), Some(10));
/// assert_eq!(a.to_vec(), [10, 2, 3]); // a[:]
/// assert_eq!(a.get_range(1..3), Some(vec![2, 3])); // a[1:3]
/// assert_eq!(a.set(3, 0), Err(IndexError { index: 3, len: 3 }));
/// {
///     let _g = a.get_lock().lock();
///     for i in 0..a.len() {
///         a.update(i, |x| x * 2).unwrap();
///     }
/// }
/// assert_eq!(a.to_vec(), [20, 4, 6]);
/// ```
pub struct Array<T: Pod + Send + Sync> {
    head: Shared<ArrayHead<T>>,
    elements: NonNull<T>,
    /// The lock given at creation (`None`: the head's own `RLock`).
    given: Option<SyncLock>,
}

// SAFETY: the elements are reached only under the shared lock; the head is `ShmSafe`.
unsafe impl<T: Pod + Send + Sync> Send for Array<T> {}
// SAFETY: as above.
unsafe impl<T: Pod + Send + Sync> Sync for Array<T> {}

impl<T: Pod + Send + Sync> Array<T> {
    /// `len` zeros (Python: `Array(typecode, len)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_zeroed`](Self::try_zeroed)).
    #[must_use]
    pub fn zeroed(len: usize) -> Self {
        or_panic(Self::try_zeroed(len), "Array")
    }

    /// `len` zeros.
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::<f64>::try_zeroed(4)?;
    /// assert_eq!(a.to_vec(), [0.0; 4]);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if the mapping cannot be created (or `len` overflows).
    pub fn try_zeroed(len: usize) -> Result<Self, SharedError> {
        let head = Shared::new_with_room(room_for::<ArrayHead<T>, T>(len)?, || ArrayHead {
            lock: threading::RLock::with_strategy(),
            len: len as u64,
            _elements: PhantomData,
        })?;
        // The fresh memfd mapping is zero-filled: `len` zeros, valid `T`s (`Pod`).
        let elements =
            elements(&head, len as u64).map_err(|e| SharedError::Io(std::io::Error::other(e)))?;
        Ok(Self {
            head,
            elements,
            given: None,
        })
    }

    /// `len` zeros whose accesses take an existing [`Lock`] or [`RLock`] (Python:
    /// `Array(typecode, len, lock=lock)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Array, Lock};
    /// let lock = Lock::new();
    /// let a = Array::<u32>::zeroed_with_lock(3, lock.clone());
    /// a.update(1, |x| x + 1).unwrap();
    /// let _g = lock.lock();
    /// assert!(a.get_lock().locked());
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see
    /// [`try_zeroed_with_lock`](Self::try_zeroed_with_lock)).
    #[must_use]
    pub fn zeroed_with_lock(len: usize, lock: impl Into<SyncLock>) -> Self {
        or_panic(Self::try_zeroed_with_lock(len, lock), "Array")
    }

    /// `len` zeros whose accesses take an existing lock.
    ///
    /// ```
    /// use conkit::multiprocessing::{Array, RLock};
    /// let a = Array::<u8>::try_zeroed_with_lock(2, RLock::new())?;
    /// assert!(a.get_lock().as_rlock().is_some());
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_zeroed`](Self::try_zeroed).
    pub fn try_zeroed_with_lock(
        len: usize,
        lock: impl Into<SyncLock>,
    ) -> Result<Self, SharedError> {
        let mut a = Self::try_zeroed(len)?;
        a.given = Some(lock.into());
        Ok(a)
    }

    /// A copy of `values` whose accesses take an existing lock (Python:
    /// `Array(typecode, [..], lock=lock)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Array, Lock};
    /// let a = Array::from_slice_with_lock(&[1i8, 2], Lock::new());
    /// assert_eq!(a.to_vec(), [1, 2]);
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see
    /// [`try_from_slice_with_lock`](Self::try_from_slice_with_lock)).
    #[must_use]
    pub fn from_slice_with_lock(values: &[T], lock: impl Into<SyncLock>) -> Self {
        or_panic(Self::try_from_slice_with_lock(values, lock), "Array")
    }

    /// A copy of `values` whose accesses take an existing lock.
    ///
    /// ```
    /// use conkit::multiprocessing::{Array, RLock};
    /// let a = Array::try_from_slice_with_lock(&[3u64], RLock::new())?;
    /// assert_eq!(a.get(0), Some(3));
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_zeroed`](Self::try_zeroed).
    pub fn try_from_slice_with_lock(
        values: &[T],
        lock: impl Into<SyncLock>,
    ) -> Result<Self, SharedError> {
        let mut a = Self::try_from_slice(values)?;
        a.given = Some(lock.into());
        Ok(a)
    }

    /// A copy of `values` (Python: `Array(typecode, [..])`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Array::from_slice(b"hi").to_vec(), b"hi");
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_from_slice`](Self::try_from_slice)).
    #[must_use]
    pub fn from_slice(values: &[T]) -> Self {
        or_panic(Self::try_from_slice(values), "Array")
    }

    /// A copy of `values`.
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::try_from_slice(&[1u8, 2])?;
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_zeroed`](Self::try_zeroed).
    pub fn try_from_slice(values: &[T]) -> Result<Self, SharedError> {
        let a = Self::try_zeroed(values.len())?;
        let _ = a.set_range(0, values);
        Ok(a)
    }

    /// The number of elements (Python: `len(a)`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::Array::<u8>::zeroed(5).len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.head.len as usize
    }

    /// `true` for an array of no elements.
    ///
    /// ```
    /// assert!(conkit::multiprocessing::Array::<u8>::zeroed(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lock every access takes (Python: `a.get_lock()`): its own `RLock`, or the
    /// lock it was created with.
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::<u8>::zeroed(2);
    /// let _g = a.get_lock().lock();
    /// a.set(0, 1).unwrap();
    /// ```
    pub fn get_lock(&self) -> LockRef<'_> {
        lock_of(&self.head.lock, &self.given)
    }

    /// Element `i` (Python: `a[i]`), `None` past the end.
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::from_slice(&[5u16]);
    /// assert_eq!((a.get(0), a.get(1)), (Some(5), None));
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len() {
            return None;
        }
        let _g = self.get_lock().lock();
        // SAFETY: `i < len` (checked), the elements are valid `T`s; the lock is held.
        Some(unsafe { self.elements.add(i).read() })
    }

    /// Sets element `i` (Python: `a[i] = x`).
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::<u8>::zeroed(1);
    /// a.set(0, 7).unwrap();
    /// assert!(a.set(1, 7).is_err());
    /// ```
    ///
    /// # Errors
    /// [`IndexError`] if `i` is past the end.
    pub fn set(&self, i: usize, v: T) -> Result<(), IndexError> {
        let len = self.len();
        if i >= len {
            return Err(IndexError { index: i, len });
        }
        let _g = self.get_lock().lock();
        // SAFETY: in bounds, under the lock.
        unsafe { self.elements.add(i).write(v) };
        Ok(())
    }

    /// Replaces element `i` by `f(element)` in one locked step (one acquisition of the
    /// lock); returns the new value. With a given [`Lock`], `f` must not access the
    /// array (it would wait for itself).
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::from_slice(&[1u32]);
    /// assert_eq!(a.update(0, |x| x + 1), Ok(2));
    /// ```
    ///
    /// # Errors
    /// [`IndexError`] if `i` is past the end.
    pub fn update(&self, i: usize, f: impl FnOnce(T) -> T) -> Result<T, IndexError> {
        let len = self.len();
        if i >= len {
            return Err(IndexError { index: i, len });
        }
        let _g = self.get_lock().lock();
        // SAFETY: `i < len` (checked), under the lock; `f` may re-enter an `RLock` and
        // access the array, but only before or after this read and the write below.
        let new = f(unsafe { self.elements.add(i).read() });
        // SAFETY: as above.
        unsafe { self.elements.add(i).write(new) };
        Ok(new)
    }

    /// Every element, copied under the lock (Python: `a[:]`).
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::from_slice(&[1u8, 2]);
    /// assert_eq!(a.to_vec(), [1, 2]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.get_range(0..self.len()).unwrap_or_default()
    }

    /// The elements in `range`, copied under the lock (Python: `a[i:j]`); `None` if
    /// the range is not inside the array.
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::from_slice(&[1u8, 2, 3]);
    /// assert_eq!(a.get_range(1..3), Some(vec![2, 3]));
    /// assert_eq!(a.get_range(2..4), None);
    /// ```
    pub fn get_range(&self, range: Range<usize>) -> Option<Vec<T>> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        let _g = self.get_lock().lock();
        // SAFETY: `range` is inside the array (checked); the lock is held, so nobody
        // writes while the slice lives (it is dropped before the guard).
        let slice = unsafe {
            std::slice::from_raw_parts(self.elements.add(range.start).as_ptr(), range.len())
        };
        Some(slice.to_vec())
    }

    /// Overwrites the elements from `start` with `values`, under the lock (Python:
    /// `a[start:start + len(values)] = values`).
    ///
    /// ```
    /// let a = conkit::multiprocessing::Array::<u8>::zeroed(3);
    /// a.set_range(1, &[8, 9]).unwrap();
    /// assert_eq!(a.to_vec(), [0, 8, 9]);
    /// ```
    ///
    /// # Errors
    /// [`IndexError`] (nothing written) if the values do not fit.
    pub fn set_range(&self, start: usize, values: &[T]) -> Result<(), IndexError> {
        let len = self.len();
        let end = start.checked_add(values.len()).filter(|&e| e <= len);
        if end.is_none() {
            return Err(IndexError {
                index: start.saturating_add(values.len()).saturating_sub(1),
                len,
            });
        }
        let _g = self.get_lock().lock();
        // SAFETY: `start + values.len() <= len` (checked); under the lock; `values` is
        // process memory, not the mapping, so the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                values.as_ptr(),
                self.elements.add(start).as_ptr(),
                values.len(),
            );
        }
        Ok(())
    }
}

impl<T: Pod + Send + Sync> Clone for Array<T> {
    /// Another handle to the same array (this process).
    fn clone(&self) -> Self {
        Self {
            head: self.head.clone(),
            elements: self.elements,
            given: self.given.clone(),
        }
    }
}

impl<T: Pod + Send + Sync> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .finish()
    }
}

/// Serialises as the shared mapping's descriptor and the given lock's (if any): only
/// among a child's arguments.
impl<T: Pod + Send + Sync> Serialize for Array<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.head, &self.given).serialize(s)
    }
}

/// Attaches to the mapping (and the given lock's) handed over by the parent (header,
/// type and length checked).
impl<'de, T: Pod + Send + Sync> Deserialize<'de> for Array<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (head, given) = <(Shared<ArrayHead<T>>, Option<SyncLock>)>::deserialize(d)?;
        let elements = elements(&head, head.len).map_err(D::Error::custom)?;
        Ok(Self {
            head,
            elements,
            given,
        })
    }
}

// ---------------------------------------------------------------------------------
// RawValue
// ---------------------------------------------------------------------------------

/// A raw value's storage: aligned to at least 8 so an integer can be seen as an atomic.
#[repr(C, align(8))]
struct RawCell<T>(UnsafeCell<T>);

// SAFETY: concurrent access is either atomic (`as_atomic`) or excluded by the `unsafe`
// contracts of `RawValue::get`/`set`.
unsafe impl<T: Pod + Send> Sync for RawCell<T> {}
// SAFETY: `repr(C)` around one `Pod` value: no pointers, any bits valid; mutated only as
// described above.
unsafe impl<T: Pod + Send> ShmSafe for RawCell<T> {}

/// A plain-data value in memory shared by processes, without a lock (Python's
/// `RawValue`, `Value(.., lock=False)`).
///
/// Plain reads and writes are `unsafe`: a write racing with any other access is a data
/// race. For the integer types, [`as_atomic`](RawValue::as_atomic) gives a safe view.
///
/// ```
/// use std::sync::atomic::Ordering;
/// use conkit::multiprocessing::RawValue;
///
/// let hits = RawValue::<u64>::zeroed();
/// hits.as_atomic().fetch_add(1, Ordering::Relaxed);
/// // SAFETY: nobody else uses `hits` now.
/// assert_eq!(unsafe { hits.get() }, 1);
/// ```
pub struct RawValue<T: Pod + Send>(Shared<RawCell<T>>);

impl<T: Pod + Send> RawValue<T> {
    /// A value holding `v` (Python: `RawValue(typecode, v)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn new(v: T) -> Self {
        or_panic(Self::try_new(v), "RawValue")
    }

    /// A value holding `v`.
    ///
    /// ```
    /// let v = conkit::multiprocessing::RawValue::try_new(1u8)?;
    /// assert_eq!(unsafe { v.get() }, 1);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if `memfd_create` or `mmap` fails.
    pub fn try_new(v: T) -> Result<Self, SharedError> {
        Shared::new_with(|| RawCell(UnsafeCell::new(v))).map(Self)
    }

    /// A zero value (Python: `RawValue(typecode)`).
    ///
    /// ```
    /// assert_eq!(unsafe { conkit::multiprocessing::RawValue::<i64>::zeroed().get() }, 0);
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_new`](Self::try_new)).
    #[must_use]
    pub fn zeroed() -> Self {
        Self::new(T::zeroed())
    }

    /// The value's address in this process (for FFI or your own synchronisation).
    ///
    /// ```
    /// let v = conkit::multiprocessing::RawValue::new(3u32);
    /// assert!(!v.as_ptr().is_null());
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.0 .0.get()
    }

    /// Reads the value.
    ///
    /// # Safety
    /// No thread of any process may write the value meanwhile (hold a lock every writer
    /// holds, or read when no writer runs).
    pub unsafe fn get(&self) -> T {
        // SAFETY: the caller's contract excludes a concurrent write; `Pod` is valid
        // for any bits.
        unsafe { self.as_ptr().read() }
    }

    /// Writes the value.
    ///
    /// ```
    /// let v = conkit::multiprocessing::RawValue::new(0u16);
    /// // SAFETY: nobody else uses `v`.
    /// unsafe { v.set(4) };
    /// assert_eq!(unsafe { v.get() }, 4);
    /// ```
    ///
    /// # Safety
    /// No thread of any process may read or write the value meanwhile.
    pub unsafe fn set(&self, v: T) {
        // SAFETY: the caller's contract excludes any concurrent access.
        unsafe { self.as_ptr().write(v) }
    }
}

impl<T: Pod + Send> Clone for RawValue<T> {
    /// Another handle to the same value (this process).
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Pod + Send> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

/// Serialises as the shared mapping's descriptor: only among a child's arguments.
impl<T: Pod + Send> Serialize for RawValue<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Attaches to the mapping handed over by the parent (header and type checked).
impl<'de, T: Pod + Send> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Shared::deserialize(d).map(Self)
    }
}

// ---------------------------------------------------------------------------------
// RawArray
// ---------------------------------------------------------------------------------

/// A raw array's length; the elements follow in the same mapping.
#[repr(C)]
struct RawHead<T> {
    len: u64,
    _elements: PhantomData<T>,
}

// SAFETY: `repr(C)`: an immutable `u64`; `PhantomData<T>` names the element type.
unsafe impl<T: Pod + Send + Sync> ShmSafe for RawHead<T> {}

/// A fixed-length array of plain data in memory shared by processes, without a lock
/// (Python's `RawArray`, `Array(.., lock=False)`).
///
/// Plain access is `unsafe` (see [`RawValue`]); for the integer types,
/// [`as_atomics`](RawArray::as_atomics) gives a safe view.
///
/// ```
/// use std::sync::atomic::Ordering;
/// use conkit::multiprocessing::RawArray;
///
/// let slots = RawArray::<u32>::zeroed(4);
/// slots.as_atomics()[2].store(7, Ordering::Relaxed);
/// // SAFETY: nobody writes meanwhile.
/// assert_eq!(unsafe { slots.as_slice() }, [0, 0, 7, 0]);
/// ```
pub struct RawArray<T: Pod + Send + Sync> {
    head: Shared<RawHead<T>>,
    elements: NonNull<T>,
}

// SAFETY: access to the elements is atomic or excluded by the `unsafe` contracts.
unsafe impl<T: Pod + Send + Sync> Send for RawArray<T> {}
// SAFETY: as above.
unsafe impl<T: Pod + Send + Sync> Sync for RawArray<T> {}

impl<T: Pod + Send + Sync> RawArray<T> {
    /// `len` zeros (Python: `RawArray(typecode, len)`).
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_zeroed`](Self::try_zeroed)).
    #[must_use]
    pub fn zeroed(len: usize) -> Self {
        or_panic(Self::try_zeroed(len), "RawArray")
    }

    /// `len` zeros.
    ///
    /// ```
    /// let a = conkit::multiprocessing::RawArray::<u8>::try_zeroed(3)?;
    /// assert_eq!(a.len(), 3);
    /// # Ok::<(), conkit::multiprocessing::heap::SharedError>(())
    /// ```
    ///
    /// # Errors
    /// [`SharedError::Io`] if the mapping cannot be created (or `len` overflows).
    pub fn try_zeroed(len: usize) -> Result<Self, SharedError> {
        let head = Shared::new_with_room(room_for::<RawHead<T>, T>(len)?, || RawHead {
            len: len as u64,
            _elements: PhantomData,
        })?;
        let elements =
            elements(&head, len as u64).map_err(|e| SharedError::Io(std::io::Error::other(e)))?;
        Ok(Self { head, elements })
    }

    /// A copy of `values` (Python: `RawArray(typecode, [..])`).
    ///
    /// ```
    /// let a = conkit::multiprocessing::RawArray::from_slice(&[1i16, 2]);
    /// assert_eq!(unsafe { a.as_slice() }, [1, 2]);
    /// ```
    ///
    /// # Panics
    /// If the mapping cannot be created (see [`try_zeroed`](Self::try_zeroed)).
    #[must_use]
    pub fn from_slice(values: &[T]) -> Self {
        let a = Self::zeroed(values.len());
        // SAFETY: nobody else has this fresh array yet.
        unsafe { a.as_mut_slice() }.copy_from_slice(values);
        a
    }

    /// The number of elements.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::RawArray::<u8>::zeroed(2).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.head.len as usize
    }

    /// `true` for an array of no elements.
    ///
    /// ```
    /// assert!(conkit::multiprocessing::RawArray::<u8>::zeroed(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first element's address in this process.
    ///
    /// ```
    /// let a = conkit::multiprocessing::RawArray::<u8>::zeroed(1);
    /// assert!(!a.as_ptr().is_null());
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.elements.as_ptr()
    }

    /// The elements as a slice.
    ///
    /// # Safety
    /// No thread of any process may write them while the slice lives.
    pub unsafe fn as_slice(&self) -> &[T] {
        // SAFETY: `len` valid, aligned elements in the mapping (checked when made or
        // attached); the caller excludes concurrent writes.
        unsafe { std::slice::from_raw_parts(self.elements.as_ptr(), self.len()) }
    }

    /// The elements as a mutable slice.
    ///
    /// ```
    /// let a = conkit::multiprocessing::RawArray::<u8>::zeroed(2);
    /// // SAFETY: nobody else uses `a` while `s` lives.
    /// let s = unsafe { a.as_mut_slice() };
    /// s[1] = 5;
    /// assert_eq!(unsafe { a.as_slice() }, [0, 5]);
    /// ```
    ///
    /// # Safety
    /// No other access (by any thread of any process, through any handle) may happen
    /// while the slice lives.
    #[allow(
        clippy::mut_from_ref,
        reason = "shared memory: the contract is the caller's"
    )]
    pub unsafe fn as_mut_slice(&self) -> &mut [T] {
        // SAFETY: as `as_slice`; the caller excludes every other access.
        unsafe { std::slice::from_raw_parts_mut(self.elements.as_ptr(), self.len()) }
    }
}

impl<T: Pod + Send + Sync> Clone for RawArray<T> {
    /// Another handle to the same array (this process).
    fn clone(&self) -> Self {
        Self {
            head: self.head.clone(),
            elements: self.elements,
        }
    }
}

impl<T: Pod + Send + Sync> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .finish()
    }
}

/// Serialises as the shared mapping's descriptor: only among a child's arguments.
impl<T: Pod + Send + Sync> Serialize for RawArray<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.head.serialize(s)
    }
}

/// Attaches to the mapping handed over by the parent (header, type and length checked).
impl<'de, T: Pod + Send + Sync> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let head = Shared::<RawHead<T>>::deserialize(d)?;
        let elements = elements(&head, head.len).map_err(D::Error::custom)?;
        Ok(Self { head, elements })
    }
}

/// The atomic views of the integer raw forms.
macro_rules! atomic_views {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl RawValue<$t> {
            #[doc = concat!("The value as an [`", stringify!($a), "`]: safe concurrent access from every process.")]
            ///
            /// ```
            /// use std::sync::atomic::Ordering;
            #[doc = concat!("let v = conkit::multiprocessing::RawValue::<", stringify!($t), ">::zeroed();")]
            /// v.as_atomic().store(1, Ordering::Release);
            /// assert_eq!(v.as_atomic().load(Ordering::Acquire), 1);
            /// ```
            pub fn as_atomic(&self) -> &$a {
                // SAFETY: the cell is `align(8)`, so aligned for the atomic of the same
                // size; the memory lives as long as `self`; mixing with the `unsafe`
                // plain accesses is excluded by their contracts.
                unsafe { <$a>::from_ptr(self.as_ptr()) }
            }
        }

        impl RawArray<$t> {
            #[doc = concat!("The elements as [`", stringify!($a), "`]s: safe concurrent access from every process.")]
            ///
            /// ```
            /// use std::sync::atomic::Ordering;
            #[doc = concat!("let a = conkit::multiprocessing::RawArray::<", stringify!($t), ">::zeroed(2);")]
            /// a.as_atomics()[1].fetch_add(3, Ordering::Relaxed);
            /// assert_eq!(a.as_atomics()[1].load(Ordering::Relaxed), 3);
            /// ```
            pub fn as_atomics(&self) -> &[$a] {
                // SAFETY: the elements start at a multiple of 8 in a page-aligned
                // mapping and are `size_of` apart, so each is aligned for the atomic of
                // its size (same size and bit validity as the integer); they live as
                // long as `self`; plain accesses are excluded by their contracts.
                unsafe { std::slice::from_raw_parts(self.as_ptr().cast::<$a>(), self.len()) }
            }
        }
    )*};
}

atomic_views! {
    u8 => std::sync::atomic::AtomicU8,
    i8 => std::sync::atomic::AtomicI8,
    u16 => std::sync::atomic::AtomicU16,
    i16 => std::sync::atomic::AtomicI16,
    u32 => std::sync::atomic::AtomicU32,
    i32 => std::sync::atomic::AtomicI32,
    u64 => std::sync::atomic::AtomicU64,
    i64 => std::sync::atomic::AtomicI64,
    usize => std::sync::atomic::AtomicUsize,
    isize => std::sync::atomic::AtomicIsize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_too_large_for_the_address_space_is_an_error() {
        assert!(Array::<u64>::try_zeroed(usize::MAX).is_err());
        assert!(RawArray::<u64>::try_zeroed(usize::MAX / 4).is_err());
    }

    #[test]
    fn empty_arrays_work() {
        let a = Array::<u8>::zeroed(0);
        assert!(a.is_empty());
        assert_eq!(a.to_vec(), Vec::<u8>::new());
        assert_eq!(a.get_range(0..0), Some(vec![]));
        assert!(a.set_range(0, &[]).is_ok());
        assert_eq!(a.set(0, 1), Err(IndexError { index: 0, len: 0 }));
    }

    #[test]
    fn elements_of_every_alignment_are_aligned() {
        #[derive(Clone, Copy)]
        #[repr(C, align(64))]
        struct Wide([u8; 64]);
        // SAFETY: `repr(C)` bytes, no padding, any bits valid.
        unsafe impl bytemuck::Zeroable for Wide {}
        // SAFETY: as above.
        unsafe impl Pod for Wide {}
        let a = Array::<Wide>::zeroed(3);
        assert_eq!(a.elements.as_ptr() as usize % 64, 0);
        a.set(2, Wide([7; 64])).unwrap();
        assert_eq!(a.get(2).map(|w| w.0[63]), Some(7));
        let r = RawArray::<u16>::zeroed(5);
        assert_eq!(r.as_ptr() as usize % 8, 0);
    }

    #[test]
    fn a_second_handle_sees_the_same_value_and_debug_shows_it() {
        let v = Value::new(5i32);
        let w = v.clone();
        w.set(6);
        assert_eq!(v.get(), 6);
        assert_eq!(format!("{v:?}"), "Value(6)");
        let _g = v.get_lock().lock();
        // Held by this thread: still readable (re-entered).
        assert_eq!(format!("{w:?}"), "Value(6)");
    }

    #[test]
    fn handles_serialise_only_for_a_child() {
        let v = Value::<u8>::zeroed();
        assert!(postcard::to_stdvec(&v).is_err());
        let a = Array::<u8>::zeroed(2);
        let (bytes, fds) = crate::multiprocessing::inherit::collect(|| postcard::to_stdvec(&a));
        assert!(bytes.is_ok());
        assert_eq!(fds.len(), 1);
    }
}
