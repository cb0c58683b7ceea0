//! The results of pool calls: [`AsyncResult`] (Python's `ApplyResult`), [`MapResult`],
//! [`IMapIterator`] (Python's `IMapIterator` and `IMapUnorderedIterator`), and the
//! collectors the pools feed them through.
//!
//! Reference: CPython `Lib/multiprocessing/pool.py` (`ApplyResult._set`,
//! `MapResult._set`, `IMapIterator._set`/`next`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::{run_callback, CallbackThread, PoolError, TaskError};

/// One result: pending, then an outcome.
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    cond: Condvar,
}

struct SlotState<T> {
    outcome: Option<Result<T, TaskError>>,
    ready: bool,
    wakers: Vec<Waker>,
    /// Threads blocked in `wait_until`: `set` notifies the condition variable only
    /// when there are some (a `map` whose caller ran the last chunk itself makes no
    /// futex call to wake nobody).
    sleepers: usize,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            state: Mutex::new(SlotState {
                outcome: None,
                ready: false,
                wakers: Vec::new(),
                sleepers: 0,
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the outcome (the first one wins) and wakes every waiter.
    fn set(&self, r: Result<T, TaskError>) {
        let (wakers, sleepers) = {
            let mut s = self.lock();
            if s.ready {
                return;
            }
            s.outcome = Some(r);
            s.ready = true;
            (std::mem::take(&mut s.wakers), s.sleepers)
        };
        if sleepers > 0 {
            self.cond.notify_all();
        }
        for w in wakers {
            w.wake();
        }
    }

    /// Waits until ready or until `deadline`; the guard, and whether it is ready.
    fn wait_until(&self, deadline: Option<Instant>) -> (MutexGuard<'_, SlotState<T>>, bool) {
        let mut s = self.lock();
        while !s.ready {
            let left = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (s, false);
                    }
                    Some(left)
                }
            };
            // Counted under the lock before sleeping: a `set` after this sees it.
            s.sleepers += 1;
            s = match left {
                None => self.cond.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(left) => {
                    self.cond
                        .wait_timeout(s, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            s.sleepers -= 1;
        }
        (s, true)
    }
}

fn take<T>(s: &mut SlotState<T>) -> Result<T, PoolError> {
    match s.outcome.take() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => {
            s.outcome = Some(Err(e.clone()));
            Err(PoolError::Task(e))
        }
        None => Err(PoolError::AlreadyTaken),
    }
}

/// The result of [`apply_async`](super::Pool::apply_async) (Python's `AsyncResult`,
/// `ApplyResult`); also a [`Future`] of the same outcome as [`get`](Self::get).
///
/// `Clone` shares the result; the value can be moved out once (by `get` or `.await`).
///
/// ```
/// use conkit::multiprocessing::pool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new(1).unwrap();
/// let r = pool.apply_async(|| "done").unwrap();
/// assert!(r.wait_timeout(Duration::from_secs(10)));
/// assert!(r.ready());
/// assert!(r.successful().unwrap());
/// assert_eq!(r.get().unwrap(), "done");
/// ```
pub struct AsyncResult<T> {
    slot: Arc<Slot<T>>,
}

/// The result of [`map_async`](super::Pool::map_async) /
/// [`starmap_async`](super::Pool::starmap_async) (Python's `MapResult`): an
/// [`AsyncResult`] of the whole list, failed by the first chunk that fails.
///
/// ```
/// use conkit::multiprocessing::pool::{MapResult, ThreadPool};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let r: MapResult<u32> = pool.map_async(|x: u32| x + 1, vec![1, 2, 3], None).unwrap();
/// assert_eq!(r.get().unwrap(), vec![2, 3, 4]);
/// ```
pub type MapResult<T> = AsyncResult<Vec<T>>;

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn pending() -> Self {
        Self {
            slot: Arc::new(Slot::new()),
        }
    }

    /// Waits for the outcome and moves the value out (Python's `get()`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{PoolError, ThreadPool};
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| 5).unwrap();
    /// assert_eq!(r.get().unwrap(), 5);
    /// assert!(matches!(r.get(), Err(PoolError::AlreadyTaken)));
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Task`] when the task failed, [`PoolError::AlreadyTaken`] after an
    /// earlier successful `get`.
    pub fn get(&self) -> Result<T, PoolError> {
        let (mut s, _) = self.slot.wait_until(None);
        take(&mut s)
    }

    /// As [`get`](Self::get), waiting at most `timeout` (Python's `get(timeout)`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::{PoolError, ThreadPool};
    /// use std::time::Duration;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_millis(300))).unwrap();
    /// assert!(matches!(r.get_timeout(Duration::from_millis(1)), Err(PoolError::Timeout)));
    /// r.get_timeout(Duration::from_secs(10)).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Timeout`] when not ready in time; else as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        let (mut s, ready) = self.slot.wait_until(Some(Instant::now() + timeout));
        if !ready {
            return Err(PoolError::Timeout);
        }
        take(&mut s)
    }

    /// Waits until the result is ready (Python's `wait()`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn wait(&self) {
        drop(self.slot.wait_until(None));
    }

    /// Waits at most `timeout`; `true` when ready (Python's `wait(timeout)` then
    /// `ready()`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// use std::time::Duration;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// assert!(r.wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.slot.wait_until(Some(Instant::now() + timeout)).1
    }

    /// Whether the outcome is there (Python's `ready()`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.slot.lock().ready
    }

    /// Whether the task succeeded (Python's `successful()`).
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let r = pool.apply_async(|| -> u8 { panic!("no") }).unwrap();
    /// r.wait();
    /// assert!(!r.successful().unwrap());
    /// ```
    ///
    /// # Errors
    /// [`PoolError::NotReady`] before the result is ready (Python: `ValueError`).
    pub fn successful(&self) -> Result<bool, PoolError> {
        let s = self.slot.lock();
        if !s.ready {
            return Err(PoolError::NotReady);
        }
        Ok(!matches!(s.outcome, Some(Err(_))))
    }
}

impl<T> Future for AsyncResult<T> {
    type Output = Result<T, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        if s.ready {
            return Poll::Ready(take(&mut s));
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

type Callback<T> = Box<dyn FnOnce(&T) + Send>;
type ErrorCallback = Box<dyn FnOnce(&TaskError) + Send>;

/// Python's `callback=` and `error_callback=` of `apply_async`/`map_async`/
/// `starmap_async`: run in the parent, on the pool's callback thread, in completion
/// order, before the result becomes ready.
///
/// ```
/// use conkit::multiprocessing::pool::{Callbacks, ThreadPool};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let pool = ThreadPool::new(1).unwrap();
/// let cb = Callbacks::new().callback(move |v: &u32| tx.send(*v).unwrap());
/// pool.apply_async_with(|| 9, cb).unwrap().wait();
/// assert_eq!(rx.recv().unwrap(), 9);
/// ```
pub struct Callbacks<T> {
    pub(crate) ok: Option<Callback<T>>,
    pub(crate) err: Option<ErrorCallback>,
}

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("callback", &self.ok.is_some())
            .field("error_callback", &self.err.is_some())
            .finish()
    }
}

impl<T> Callbacks<T> {
    /// No callbacks.
    ///
    /// ```
    /// let _none = conkit::multiprocessing::pool::Callbacks::<u8>::new();
    /// ```
    pub fn new() -> Self {
        Self {
            ok: None,
            err: None,
        }
    }

    /// Called with the value when the task succeeds (Python's `callback`).
    ///
    /// ```
    /// let _cb = conkit::multiprocessing::pool::Callbacks::new().callback(|v: &u8| println!("{v}"));
    /// ```
    pub fn callback(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.ok = Some(Box::new(f));
        self
    }

    /// Called with the error when the task fails (Python's `error_callback`).
    ///
    /// ```
    /// let _cb = conkit::multiprocessing::pool::Callbacks::<u8>::new()
    ///     .error_callback(|e| eprintln!("{e}"));
    /// ```
    pub fn error_callback(mut self, f: impl FnOnce(&TaskError) + Send + 'static) -> Self {
        self.err = Some(Box::new(f));
        self
    }

    fn is_empty(&self) -> bool {
        self.ok.is_none() && self.err.is_none()
    }
}

/// Sets an [`AsyncResult`], through the callbacks (on the callback thread) if any.
pub(crate) struct Completion<T> {
    slot: Arc<Slot<T>>,
    callbacks: Callbacks<T>,
}

impl<T: Send + 'static> Completion<T> {
    pub(crate) fn new(result: &AsyncResult<T>, callbacks: Callbacks<T>) -> Self {
        Self {
            slot: result.slot.clone(),
            callbacks,
        }
    }

    pub(crate) fn complete(self, r: Result<T, TaskError>, thread: &CallbackThread) {
        if self.callbacks.is_empty() {
            self.slot.set(r);
            return;
        }
        let Completion { slot, callbacks } = self;
        thread.run(Box::new(move || {
            match (&r, callbacks.ok, callbacks.err) {
                (Ok(v), Some(f), _) => run_callback(|| f(v)),
                (Err(e), _, Some(f)) => run_callback(|| f(e)),
                _ => {}
            }
            slot.set(r);
        }));
    }
}

/// What a pool feeds with the outcome of each chunk of a call.
pub(crate) trait Collector<R>: Send + Sync {
    /// Chunk `index` finished with these results (one per item), or failed.
    fn chunk_done(&self, index: usize, r: Result<Vec<R>, TaskError>, thread: &CallbackThread);
}

/// `apply`: one chunk of one item.
pub(crate) struct ApplyCollector<R> {
    completion: Mutex<Option<Completion<R>>>,
}

impl<R: Send + 'static> ApplyCollector<R> {
    pub(crate) fn new(completion: Completion<R>) -> Self {
        Self {
            completion: Mutex::new(Some(completion)),
        }
    }
}

impl<R: Send + 'static> Collector<R> for ApplyCollector<R> {
    fn chunk_done(&self, _: usize, r: Result<Vec<R>, TaskError>, thread: &CallbackThread) {
        let c = self
            .completion
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = c {
            let r = r.and_then(|v| {
                v.into_iter()
                    .next()
                    .ok_or_else(|| TaskError::Result("no value".into()))
            });
            c.complete(r, thread);
        }
    }
}

/// `map`: every chunk, in order; the first failure fails the call.
pub(crate) struct MapCollector<R> {
    inner: Mutex<MapParts<R>>,
}

struct MapParts<R> {
    parts: Vec<Option<Vec<R>>>,
    remaining: usize,
    completion: Option<Completion<Vec<R>>>,
}

impl<R: Send + 'static> MapCollector<R> {
    pub(crate) fn new(
        chunks: usize,
        completion: Completion<Vec<R>>,
        thread: &CallbackThread,
    ) -> Self {
        let c = Self {
            inner: Mutex::new(MapParts {
                parts: (0..chunks).map(|_| None).collect(),
                remaining: chunks,
                completion: Some(completion),
            }),
        };
        if chunks == 0 {
            let done = c
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .completion
                .take();
            if let Some(done) = done {
                done.complete(Ok(Vec::new()), thread);
            }
        }
        c
    }
}

impl<R: Send + 'static> Collector<R> for MapCollector<R> {
    fn chunk_done(&self, index: usize, r: Result<Vec<R>, TaskError>, thread: &CallbackThread) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let finished = match r {
            Err(e) => m.completion.take().map(|c| (c, Err(e))),
            Ok(v) => {
                if index < m.parts.len() && m.parts[index].is_none() {
                    m.parts[index] = Some(v);
                    m.remaining -= 1;
                }
                if m.remaining == 0 {
                    let total = m.parts.iter().flatten().map(Vec::len).sum();
                    let mut all: Vec<R> = Vec::with_capacity(total);
                    for part in m.parts.iter_mut() {
                        all.extend(part.take().unwrap_or_default());
                    }
                    m.completion.take().map(|c| (c, Ok(all)))
                } else {
                    None
                }
            }
        };
        drop(m);
        if let Some((c, r)) = finished {
            c.complete(r, thread);
        }
    }
}

/// The iterator of [`imap`](super::Pool::imap) / [`imap_unordered`](super::Pool::imap_unordered)
/// (Python's `IMapIterator`): yields each item's result as it becomes available — in
/// input order for `imap`, in completion order for `imap_unordered`. A chunk that
/// failed yields one `Err` in place of its items, and the iteration goes on.
///
/// ```
/// use conkit::multiprocessing::pool::ThreadPool;
/// let pool = ThreadPool::new(2).unwrap();
/// let it = pool.imap(|x: u32| x * 10, 1..4, 1).unwrap();
/// let v: Vec<u32> = it.map(|r| r.unwrap()).collect();
/// assert_eq!(v, vec![10, 20, 30]);
/// ```
pub struct IMapIterator<T> {
    shared: Arc<IMapShared<T>>,
}

impl<T> fmt::Debug for IMapIterator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapIterator").finish_non_exhaustive()
    }
}

pub(crate) struct IMapShared<T> {
    state: Mutex<IMapState<T>>,
    cond: Condvar,
}

struct IMapState<T> {
    ordered: bool,
    /// Chunks done but not yet movable to `ready` (ordered only).
    early: BTreeMap<usize, Result<Vec<T>, TaskError>>,
    next_chunk: usize,
    ready: VecDeque<Result<T, TaskError>>,
    chunks_left: usize,
}

impl<T> IMapIterator<T> {
    pub(crate) fn new(chunks: usize, ordered: bool) -> Self {
        Self {
            shared: Arc::new(IMapShared {
                state: Mutex::new(IMapState {
                    ordered,
                    early: BTreeMap::new(),
                    next_chunk: 0,
                    ready: VecDeque::new(),
                    chunks_left: chunks,
                }),
                cond: Condvar::new(),
            }),
        }
    }

    pub(crate) fn collector(&self) -> Arc<IMapShared<T>> {
        self.shared.clone()
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, PoolError>> {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = s.ready.pop_front() {
                return Some(r.map_err(PoolError::Task));
            }
            if s.chunks_left == 0 {
                return None;
            }
            match deadline {
                None => s = self.shared.cond.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Some(Err(PoolError::Timeout));
                    }
                    s = self
                        .shared
                        .cond
                        .wait_timeout(s, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    /// The next result, waiting at most `timeout` (Python's `next(timeout)`): `None` at
    /// the end, `Some(Err(PoolError::Timeout))` when nothing came in time.
    ///
    /// ```
    /// use conkit::multiprocessing::pool::ThreadPool;
    /// use std::time::Duration;
    /// let pool = ThreadPool::new(1).unwrap();
    /// let mut it = pool.imap_unordered(|x: u8| x, vec![7], 1).unwrap();
    /// assert_eq!(it.next_timeout(Duration::from_secs(10)).unwrap().unwrap(), 7);
    /// assert!(it.next_timeout(Duration::from_secs(10)).is_none());
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T, PoolError>> {
        self.next_until(Some(Instant::now() + timeout))
    }
}

impl<T> Iterator for IMapIterator<T> {
    type Item = Result<T, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }
}

impl<R: Send + 'static> Collector<R> for IMapShared<R> {
    fn chunk_done(&self, index: usize, r: Result<Vec<R>, TaskError>, _: &CallbackThread) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.chunks_left == 0 {
            return;
        }
        fn push<R>(s: &mut IMapState<R>, r: Result<Vec<R>, TaskError>) {
            match r {
                Ok(v) => s.ready.extend(v.into_iter().map(Ok)),
                Err(e) => s.ready.push_back(Err(e)),
            }
            s.chunks_left -= 1;
        }
        if s.ordered {
            if index < s.next_chunk || s.early.contains_key(&index) {
                return;
            }
            s.early.insert(index, r);
            while let Some(r) = {
                let n = s.next_chunk;
                s.early.remove(&n)
            } {
                s.next_chunk += 1;
                push(&mut s, r);
            }
        } else {
            push(&mut s, r);
        }
        drop(s);
        self.cond.notify_all();
    }
}

/// The collector trait object for a call.
pub(crate) type Sink<R> = Arc<dyn Collector<R>>;
