//! `Queue`, `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Condition`, `Event` and
//! `Barrier` proxies. A blocking call blocks the calling thread and its connection's
//! server thread; with a timeout, both wait at most that long.

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
