//! `Queue`, `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Condition`, `Event` and
//! `Barrier` proxies. A blocking call blocks the calling thread and its connection's
//! server thread; with a timeout, both wait at most that long. The `*_async` forms
//! await instead (see the [module docs](super::super#async-forms)).

use std::borrow::Borrow;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::proxy;
use crate::multiprocessing::managers::client::{enc, unexpected, Token};
use crate::multiprocessing::managers::protocol::{Op, Reply};
use crate::multiprocessing::managers::ManagerError;

type Result<T> = std::result::Result<T, ManagerError>;

proxy! {
    /// A `queue.Queue` on a manager's server (what `manager.Queue()`,
    /// `manager.JoinableQueue()` and the seed's registered `get_task_queue` return):
    /// every client, in any process or on any machine that can reach the server, puts
    /// and gets the same items. Has `task_done`/`join` as Python's `queue.Queue`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let q = manager.queue::<String>(1).unwrap();
    /// q.put("a").unwrap();
    /// assert!(matches!(q.put_nowait("b"), Err(ManagerError::Full)));
    /// assert_eq!(q.get().unwrap(), "a");
    /// assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(ManagerError::Empty)));
    /// q.task_done().unwrap();
    /// q.join().unwrap();
    /// ```
    QueueProxy [T] "Queue"
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    fn put_with<Q: Serialize + ?Sized>(
        &self,
        item: &Q,
        block: bool,
        t: Option<Duration>,
    ) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.token.call(Op::QueuePut(enc(item)?, block, t))?.unit()
    }

    fn get_with(&self, block: bool, t: Option<Duration>) -> Result<T> {
        self.token.call(Op::QueueGet(block, t))?.value()
    }

    /// `q.put(item)`: waits for room.
    pub fn put<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.put_with(item, true, None)
    }

    /// `q.put(item, timeout=t)`; [`ManagerError::Full`] when no room came.
    pub fn put_timeout<Q: Serialize + ?Sized>(&self, item: &Q, timeout: Duration) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.put_with(item, true, Some(timeout))
    }

    /// `q.put_nowait(item)`; [`ManagerError::Full`] when full.
    pub fn put_nowait<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.put_with(item, false, None)
    }

    /// `q.get()`: waits for an item.
    pub fn get(&self) -> Result<T> {
        self.get_with(true, None)
    }

    /// `q.get(timeout=t)`; [`ManagerError::Empty`] when no item came.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_with(true, Some(timeout))
    }

    /// `q.get_nowait()`; [`ManagerError::Empty`] when empty.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_with(false, None)
    }

    async fn get_async_with(&self, t: Option<Duration>) -> Result<T> {
        self.token.call_async(Op::QueueGet(true, t)).await?.value()
    }

    async fn put_async_with<Q: Serialize + ?Sized>(
        &self,
        item: &Q,
        t: Option<Duration>,
    ) -> Result<()>
    where
        T: Borrow<Q>,
    {
        let item = enc(item)?;
        self.token
            .call_async(Op::QueuePut(item, true, t))
            .await?
            .unit()
    }

    /// `await q.get()`: [`get`](Self::get) awaiting the item instead of blocking the
    /// thread (any executor; see the [module docs](crate::multiprocessing::managers#async-forms)).
    ///
    /// A dropped future loses no item: one taken for it goes back to the queue (at its
    /// end) unless the future returned it.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let q = m.queue::<u32>(0).unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || q2.put(&7).unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(q.get_async()).unwrap(), 7);
    /// t.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn get_async(&self) -> Result<T> {
        self.get_async_with(None).await
    }

    /// `await q.get()` for at most `timeout`; [`ManagerError::Empty`] when no item came.
    /// Dropped: as [`get_async`](Self::get_async).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let q = m.queue::<u32>(0).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let r = rt.block_on(q.get_timeout_async(Duration::from_millis(10)));
    /// assert!(matches!(r, Err(ManagerError::Empty)));
    /// ```
    ///
    /// # Errors
    /// As [`get_timeout`](Self::get_timeout).
    pub async fn get_timeout_async(&self, timeout: Duration) -> Result<T> {
        self.get_async_with(Some(timeout)).await
    }

    /// `await q.put(item)`: [`put`](Self::put) awaiting room instead of blocking.
    ///
    /// A dropped future either put the item (the server had accepted it) or put
    /// nothing (it was still waiting for room: that wait is cancelled at once); the
    /// caller keeps `item` either way.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let q = m.queue::<u32>(1).unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(q.put_async(&1)).unwrap();
    /// assert_eq!(q.get().unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub async fn put_async<Q: Serialize + ?Sized>(&self, item: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.put_async_with(item, None).await
    }

    /// `await q.put(item)` for at most `timeout`; [`ManagerError::Full`] when no room
    /// came. Dropped: as [`put_async`](Self::put_async).
    ///
    /// # Errors
    /// As [`put_timeout`](Self::put_timeout).
    pub async fn put_timeout_async<Q: Serialize + ?Sized>(
        &self,
        item: &Q,
        timeout: Duration,
    ) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.put_async_with(item, Some(timeout)).await
    }

    /// `await q.join()`: [`join`](Self::join) awaiting instead of blocking. A dropped
    /// future costs nothing (the wait takes nothing).
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let q = m.joinable_queue::<u32>(0).unwrap();
    /// q.put(&1).unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || {
    ///     q2.get().unwrap();
    ///     q2.task_done().unwrap();
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(q.join_async()).unwrap();
    /// t.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn join_async(&self) -> Result<()> {
        self.token
            .call_async(Op::QueueJoin(None))
            .await?
            .boolean()
            .map(drop)
    }

    /// `await q.join()` for at most `timeout`: `false` if tasks are still unfinished.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn join_timeout_async(&self, timeout: Duration) -> Result<bool> {
        self.token
            .call_async(Op::QueueJoin(Some(timeout)))
            .await?
            .boolean()
    }

    fn sizes(&self) -> Result<(usize, usize)> {
        match self.token.call(Op::QueueSize)? {
            Reply::Sizes(n, max) => Ok((n as usize, max as usize)),
            r => Err(unexpected(r)),
        }
    }

    /// `q.qsize()`.
    pub fn qsize(&self) -> Result<usize> {
        Ok(self.sizes()?.0)
    }

    /// `q.empty()`.
    pub fn empty(&self) -> Result<bool> {
        Ok(self.sizes()?.0 == 0)
    }

    /// `q.full()`.
    pub fn full(&self) -> Result<bool> {
        let (n, max) = self.sizes()?;
        Ok(max > 0 && n >= max)
    }

    /// `q.task_done()`; [`ManagerError::ValueError`] when called more often than
    /// items were put.
    pub fn task_done(&self) -> Result<()> {
        self.token.call(Op::QueueTaskDone)?.unit()
    }

    /// `q.join()`: waits until every item put was marked done.
    pub fn join(&self) -> Result<()> {
        self.token.call(Op::QueueJoin(None))?.boolean().map(drop)
    }

    /// `q.join()` for at most `timeout`: `false` if tasks are still unfinished.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.token.call(Op::QueueJoin(Some(timeout)))?.boolean()
    }
}

/// Releases a manager lock, semaphore or condition when dropped (from
/// [`LockProxy::lock`] and the like; a failed release is ignored: the server is gone,
/// or it gives a dead client's locks back itself).
#[must_use = "the lock is released when the guard is dropped"]
pub struct ProxyGuard<'a> {
    token: &'a Token,
}

impl Drop for ProxyGuard<'_> {
    fn drop(&mut self) {
        let _ = self.token.call(Op::Release);
    }
}

impl std::fmt::Debug for ProxyGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ProxyGuard").field(self.token).finish()
    }
}

macro_rules! acquire_release {
    ($name:ident) => {
        impl $name {
            fn acquire_with(&self, block: bool, t: Option<Duration>) -> Result<bool> {
                self.token.call(Op::Acquire(block, t))?.boolean()
            }

            /// `acquire()`: waits until acquired.
            pub fn acquire(&self) -> Result<()> {
                self.acquire_with(true, None).map(drop)
            }

            /// `acquire(blocking=False)`: `true` if acquired.
            pub fn try_acquire(&self) -> Result<bool> {
                self.acquire_with(false, None)
            }

            /// `acquire(timeout=t)`: `true` if acquired in time.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                self.acquire_with(true, Some(timeout))
            }

            /// `release()`; [`ManagerError::Runtime`] (or `ValueError` for a
            /// `BoundedSemaphore`) as Python's.
            pub fn release(&self) -> Result<()> {
                self.token.call(Op::Release)?.unit()
            }

            /// `with obj:` — acquires, and releases when the guard drops.
            pub fn lock(&self) -> Result<ProxyGuard<'_>> {
                self.acquire()?;
                Ok(ProxyGuard { token: &self.token })
            }

            /// Awaits until acquired (`await obj.acquire()`): a non-blocking
            /// [`try_acquire`](Self::try_acquire) on this thread's connection, and
            /// between tries an async wait on a connection of its own until the
            /// server could acquire it (it takes and gives back at once: it holds
            /// nothing for the task). So the acquisition is this thread's, as
            /// [`acquire`](Self::acquire)'s (release it with
            /// [`release`](Self::release); an `RLock`/`Condition` from the same
            /// thread), and a dropped future holds nothing and swallowed no release.
            /// Not fair: a release goes to whoever tries first. See the
            /// [module docs](crate::multiprocessing::managers#async-forms).
            ///
            /// # Errors
            /// The server cannot be reached.
            pub async fn acquire_async(&self) -> Result<()> {
                loop {
                    if self.try_acquire()? {
                        return Ok(());
                    }
                    self.token.call_async(Op::WaitFree(None)).await?.boolean()?;
                }
            }

            /// [`acquire_async`](Self::acquire_async) for at most `timeout`: `true`
            /// if acquired in time. Dropped: as `acquire_async`.
            ///
            /// # Errors
            /// The server cannot be reached.
            pub async fn acquire_timeout_async(&self, timeout: Duration) -> Result<bool> {
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    if self.try_acquire()? {
                        return Ok(true);
                    }
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.token
                        .call_async(Op::WaitFree(Some(left)))
                        .await?
                        .boolean()?;
                }
            }

            /// `async with obj:` — [`acquire_async`](Self::acquire_async), and a guard
            /// that releases when dropped (as [`lock`](Self::lock)'s).
            ///
            /// # Errors
            /// The server cannot be reached.
            pub async fn lock_async(&self) -> Result<ProxyGuard<'_>> {
                self.acquire_async().await?;
                Ok(ProxyGuard { token: &self.token })
            }
        }
    };
}

proxy! {
    /// A `threading.Lock` on a manager's server (Python's `AcquirerProxy`). Any client
    /// may release it (as Python's `Lock`); if the client that acquired it goes away
    /// without releasing it, the server releases it (CPython keeps it locked for ever).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let l = manager.lock().unwrap();
    /// {
    ///     let _g = l.lock().unwrap();
    ///     assert!(l.locked().unwrap());
    ///     assert!(!l.try_acquire().unwrap());
    /// }
    /// assert!(!l.locked().unwrap());
    /// assert!(l.release().is_err()); // RuntimeError: release unlocked lock
    /// ```
    LockProxy [] "Lock"
}
acquire_release!(LockProxy);

impl LockProxy {
    /// `locked()`.
    pub fn locked(&self) -> Result<bool> {
        self.token.call(Op::Locked)?.boolean()
    }
}

proxy! {
    /// A `threading.RLock` on a manager's server. Its owner is the connection — one
    /// per thread of a client process — so the same thread may acquire it again; a
    /// client that goes away gives its ownership back.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let r = m.rlock().unwrap();
    /// r.acquire().unwrap();
    /// r.acquire().unwrap();
    /// r.release().unwrap();
    /// r.release().unwrap();
    /// assert!(r.release().is_err());
    /// ```
    RLockProxy [] "RLock"
}
acquire_release!(RLockProxy);

proxy! {
    /// A `threading.Semaphore` on a manager's server. A client that goes away gives
    /// back the permits it acquired and did not release.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let s = m.semaphore(2).unwrap();
    /// s.acquire().unwrap();
    /// assert_eq!(s.value().unwrap(), 1);
    /// s.release().unwrap();
    /// ```
    SemaphoreProxy [] "Semaphore"
}
acquire_release!(SemaphoreProxy);

impl SemaphoreProxy {
    /// The permits available now.
    pub fn value(&self) -> Result<usize> {
        self.token.call(Op::Locked)?.count()
    }
}

proxy! {
    /// A `threading.BoundedSemaphore` on a manager's server: a release beyond the
    /// initial value is [`ManagerError::ValueError`].
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let s = m.bounded_semaphore(1).unwrap();
    /// assert!(s.release().is_err());
    /// ```
    BoundedSemaphoreProxy [] "BoundedSemaphore"
}
acquire_release!(BoundedSemaphoreProxy);

impl BoundedSemaphoreProxy {
    /// The permits available now.
    pub fn value(&self) -> Result<usize> {
        self.token.call(Op::Locked)?.count()
    }
}

proxy! {
    /// A `threading.Condition` (over an `RLock`) on a manager's server. `wait` and
    /// `notify` need the condition's lock, taken by the same thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let c = m.condition().unwrap();
    /// let _g = c.lock().unwrap();
    /// assert!(!c.wait_timeout(Duration::from_millis(10)).unwrap()); // nobody notified
    /// c.notify_all().unwrap();
    /// ```
    ConditionProxy [] "Condition"
}
acquire_release!(ConditionProxy);

impl ConditionProxy {
    /// `wait()`.
    pub fn wait(&self) -> Result<()> {
        self.token.call(Op::Wait(None))?.boolean().map(drop)
    }

    /// `wait(timeout)`: `false` when the time ran out.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.token.call(Op::Wait(Some(timeout)))?.boolean()
    }

    /// `await cond.wait()`: [`wait`](Self::wait) awaiting instead of blocking. It
    /// runs on this thread's connection (whose server thread owns the condition's lock,
    /// taken by [`lock`](Self::lock), [`acquire`](Self::acquire) or
    /// [`acquire_async`](Self::acquire_async) on this thread); while it waits, other
    /// calls of this thread to the same server use a second connection.
    ///
    /// A dropped future is cancelled as asyncio's: the lock is held again afterwards
    /// (the server re-takes it, waiting for it if another client holds it), and a
    /// notify the wait had received is passed on to another waiter (the next call of
    /// this thread to the server first reads the cancelled wait's answer).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let c = m.condition().unwrap();
    /// let flag = m.value(false).unwrap();
    /// let (c2, f2) = (c.clone(), flag.clone());
    /// let t = std::thread::spawn(move || {
    ///     let _g = c2.lock().unwrap();
    ///     f2.set(true).unwrap();
    ///     c2.notify_all().unwrap();
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let _g = c.lock_async().await.unwrap();
    ///     while !flag.value().unwrap() {
    ///         c.wait_async().await.unwrap();
    ///     }
    /// });
    /// t.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ManagerError::Runtime`] if this thread does not hold the lock.
    pub async fn wait_async(&self) -> Result<()> {
        self.token
            .call_async_on_thread(Op::Wait(None))
            .await?
            .boolean()
            .map(drop)
    }

    /// `await cond.wait()` for at most `timeout`: `false` when the time ran out (the
    /// lock is held again either way). Dropped: as [`wait_async`](Self::wait_async).
    ///
    /// # Errors
    /// As [`wait_async`](Self::wait_async).
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<bool> {
        self.token
            .call_async_on_thread(Op::Wait(Some(timeout)))
            .await?
            .boolean()
    }

    /// `notify(n)`.
    pub fn notify(&self, n: usize) -> Result<()> {
        self.token.call(Op::Notify(n as u64))?.unit()
    }

    /// `notify_all()`.
    pub fn notify_all(&self) -> Result<()> {
        self.token.call(Op::NotifyAll)?.unit()
    }
}

proxy! {
    /// A `threading.Event` on a manager's server.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let e = m.event().unwrap();
    /// assert!(!e.wait_timeout(Duration::from_millis(5)).unwrap());
    /// e.set().unwrap();
    /// assert!(e.is_set().unwrap());
    /// e.wait().unwrap();
    /// ```
    EventProxy [] "Event"
}

impl EventProxy {
    /// `set()`.
    pub fn set(&self) -> Result<()> {
        self.token.call(Op::EventSet)?.unit()
    }

    /// `clear()`.
    pub fn clear(&self) -> Result<()> {
        self.token.call(Op::EventClear)?.unit()
    }

    /// `is_set()`.
    pub fn is_set(&self) -> Result<bool> {
        self.token.call(Op::EventIsSet)?.boolean()
    }

    /// `wait()`.
    pub fn wait(&self) -> Result<()> {
        self.token.call(Op::EventWait(None))?.boolean().map(drop)
    }

    /// `wait(timeout)`: `false` if not set in time.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.token.call(Op::EventWait(Some(timeout)))?.boolean()
    }

    /// `await event.wait()`: [`wait`](Self::wait) awaiting instead of blocking. A
    /// dropped future costs nothing (the wait takes nothing).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let e = m.event().unwrap();
    /// let e2 = e.clone();
    /// let t = std::thread::spawn(move || e2.set().unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(e.wait_async()).unwrap();
    /// t.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn wait_async(&self) -> Result<()> {
        self.token
            .call_async(Op::EventWait(None))
            .await?
            .boolean()
            .map(drop)
    }

    /// `await event.wait()` for at most `timeout`: `false` if not set in time.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<bool> {
        self.token
            .call_async(Op::EventWait(Some(timeout)))
            .await?
            .boolean()
    }
}

proxy! {
    /// A `threading.Barrier(parties)` on a manager's server.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let b = m.barrier(1).unwrap();
    /// assert_eq!(b.wait().unwrap(), 0);
    /// assert_eq!(b.parties().unwrap(), 1);
    /// b.abort().unwrap();
    /// assert!(matches!(b.wait(), Err(ManagerError::BrokenBarrier)));
    /// ```
    BarrierProxy [] "Barrier"
}

impl BarrierProxy {
    /// `wait()`: this party's index; [`ManagerError::BrokenBarrier`] if broken.
    pub fn wait(&self) -> Result<usize> {
        self.token.call(Op::BarrierWait(None))?.count()
    }

    /// `wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.token.call(Op::BarrierWait(Some(timeout)))?.count()
    }

    /// `await barrier.wait()` (asyncio's `Barrier`): [`wait`](Self::wait) awaiting
    /// instead of blocking; this party's index. No timeout form: wrap the future in the
    /// runtime's timeout. A dropped future **withdraws** its party, as asyncio's (the
    /// server cancels the threading barrier's
    /// [`wait_async`](crate::threading::Barrier::wait_async)): the others keep waiting
    /// and a later party can complete the round; one dropped after the round completed
    /// with it counts as passed.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let m = Manager().unwrap();
    /// let b = m.barrier(2).unwrap();
    /// let b2 = b.clone();
    /// let t = std::thread::spawn(move || b2.wait().unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mine = rt.block_on(b.wait_async()).unwrap();
    /// assert_eq!(mine + t.join().unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// [`ManagerError::BrokenBarrier`] as [`wait`](Self::wait).
    pub async fn wait_async(&self) -> Result<usize> {
        self.token.call_async(Op::BarrierWait(None)).await?.count()
    }

    /// `reset()`.
    pub fn reset(&self) -> Result<()> {
        self.token.call(Op::BarrierReset)?.unit()
    }

    /// `abort()`.
    pub fn abort(&self) -> Result<()> {
        self.token.call(Op::BarrierAbort)?.unit()
    }

    fn info(&self) -> Result<(usize, usize, bool)> {
        match self.token.call(Op::BarrierInfo)? {
            Reply::BarrierInfo(p, n, b) => Ok((p as usize, n as usize, b)),
            r => Err(unexpected(r)),
        }
    }

    /// `parties`.
    pub fn parties(&self) -> Result<usize> {
        Ok(self.info()?.0)
    }

    /// `n_waiting`.
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.info()?.1)
    }

    /// `broken`.
    pub fn broken(&self) -> Result<bool> {
        Ok(self.info()?.2)
    }
}
