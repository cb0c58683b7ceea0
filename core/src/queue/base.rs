//! [`BaseQueue`]: the one algorithm behind every queue discipline (see the module docs).

use core::fmt;

use super::error::{FixedCapacity, GetError, PutError, TaskDoneError};
use super::store::{Fifo, Lifo, Priority, QueueStore};
use crate::atomic::{maybe_const_fn, AtomicBool, Ordering, UnsafeCell};
use crate::lock::{CriticalSectionMutex, RawMutex};
use crate::unwind::{drop_each, OnDrop};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// Where the queue is in its life (Python 3.13's `is_shutdown`, plus whether the
/// shutdown was immediate, so getters refuse while an immediate shutdown drains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Puts and gets work.
    Open,
    /// `shutdown(false)`: puts fail, gets drain the remaining items.
    ShutDown,
    /// `shutdown(true)`: puts and gets fail; the items are being (or were) discarded.
    Immediate,
}

/// Everything the lock protects.
struct State<S> {
    store: S,
    /// Items put and not yet marked done with `task_done` (saturates at `usize::MAX`).
    unfinished: usize,
    phase: Phase,
}

/// A bounded, blocking, Python-style queue: one lock, three event counts, and a
/// [`QueueStore`] deciding the order. Use it through the aliases
/// [`Queue`](super::Queue), [`LifoQueue`](super::LifoQueue) and
/// [`PriorityQueue`](super::PriorityQueue).
///
/// * `S`: the store ([`Fifo`], [`Lifo`], [`Priority`] or your own).
/// * `M`: the mutex guarding the store; [`CriticalSectionMutex`] by default, which is
///   interrupt-safe. Use a [`RawLock`](crate::lock::RawLock) for memory shared between
///   processes.
/// * `W`: how blocked callers wait ([`DefaultWait`] by
///   default: spinning without the `std` feature, a futex with it).
///
/// # Panics
/// * An operation panics if it is called from *inside* the same queue's critical
///   section, i.e. from an item's `Ord::cmp` (priority queues) or a custom
///   [`QueueStore`] method that calls back into the queue. With a reentrant mutex
///   (critical sections nest) that would otherwise alias the store; an internal `busy`
///   flag turns it into a loud error (like `RefCell`), and does the same for a custom
///   `M` that fails to exclude threads.
/// * User code that runs under the lock may panic: an item's `Ord` (in the
///   [`Priority`] store) or a custom [`QueueStore`] method. The panic propagates to the
///   caller, and the queue stays usable: the mutex and the `busy` flag are released on
///   unwind, and the task count changes only after the store operation succeeded. The
///   shipped stores are all-or-nothing, so a put whose comparison panicked stored
///   nothing (the item is dropped with the unwind) and a get whose comparison panicked
///   took nothing (Python's rule that a failed `put`/`get` leaves the queue as it was).
///   A custom store is left in whatever state its method leaves it.
/// * An item's `Drop` runs outside the lock (after a get, in the caller; during an
///   immediate [`shutdown`](Self::shutdown), see there).
///
/// # Participants that die
/// Between processes (the queue in `MAP_SHARED` memory, `M` a process-shared lock, `W`
/// a process-shared strategy such as `SharedFutex`):
/// * a caller killed **asleep, or just woken**, costs nothing: between processes every
///   notify wakes every sleeper (see [`Waiters`]), and a waker that died before waking
///   delays a sleeper by at most one sleep slice (at most 16 ms with `SharedFutex`);
/// * a caller killed between a get and its `task_done` leaves its task unfinished:
///   `join_until` reports `false` at its deadline;
/// * a caller killed **inside the critical section** leaves the lock to `M`'s rules
///   for a dead owner, and the store and the `busy` flag as it left them: a later
///   caller that gets in finds `busy` set and panics ("entered twice at once") instead
///   of reading a store that may be half-changed. Rebuild the queue then.
///
/// # Example
/// ```
/// use conkit_core::queue::{GetError, PutError, Queue};
///
/// static Q: Queue<&str, 2> = Queue::new();
///
/// Q.put_nowait("a").unwrap();
/// Q.put_nowait("b").unwrap();
/// assert_eq!(Q.put_nowait("c"), Err(PutError::Full("c"))); // the item comes back
/// assert_eq!(Q.get_nowait(), Ok("a"));
/// Q.task_done().unwrap();
/// assert_eq!(Q.get_nowait(), Ok("b"));
/// Q.task_done().unwrap();
/// assert_eq!(Q.get_nowait(), Err(GetError::Empty));
/// Q.join(); // every item was marked done
/// ```
pub struct BaseQueue<
    S: QueueStore,
    M: RawMutex = CriticalSectionMutex,
    W: WaitStrategy = DefaultWait,
> {
    mutex: M,
    /// Only accessed through [`BaseQueue::locked`].
    state: UnsafeCell<State<S>>,
    /// `true` while some caller is inside [`BaseQueue::locked`]: the guard that makes
    /// the `&mut` to `state` exclusive whatever `M` does (see `locked`).
    busy: AtomicBool,
    /// Notified (one) when an item was added; all on shutdown.
    not_empty: Waiters<W>,
    /// Notified (one) when an item was removed; all on shutdown.
    not_full: Waiters<W>,
    /// Notified (all) when `unfinished` drops to zero.
    all_tasks_done: Waiters<W>,
}

// SAFETY: the only non-`Sync` part is `state`, which is accessed exclusively inside
// `locked`, behind the `busy` flag: a caller only dereferences it after swapping `busy`
// from `false` to `true` (`Acquire`) and gives it up by storing `false` (`Release`), so
// at most one caller at a time holds the `&mut`, and each sees the previous holder's
// writes. That holds for any `M` (even a safe `RawMutex` impl that fails to exclude: the
// second caller panics instead of racing). So sharing the queue is sending items from
// thread to thread, like `Mutex<S>`: `S: Send`, not `S: Sync`. `M: Sync` because every
// thread calls `with_lock` through a shared reference. `W` is only a type marker.
unsafe impl<S: QueueStore + Send, M: RawMutex + Sync, W: WaitStrategy> Sync for BaseQueue<S, M, W> {}

/// Holds the `busy` flag for one critical section; clears it on drop (also when
/// unwinding).
struct BusyGuard<'a>(&'a AtomicBool);

impl<'a> BusyGuard<'a> {
    /// Sets `busy`; panics if it was already set, i.e. on re-entry from inside the
    /// section, or if the mutex let a second thread in.
    #[inline]
    fn enter(busy: &'a AtomicBool) -> Self {
        if busy.swap(true, Ordering::Acquire) {
            panic!("conkit queue: entered twice at once (an item's Ord or a QueueStore method called back into the queue, or the RawMutex does not exclude)");
        }
        Self(busy)
    }
}

impl Drop for BusyGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<S: QueueStore, M: RawMutex, W: WaitStrategy> BaseQueue<S, M, W> {
    maybe_const_fn! {
        /// A queue over `store`, guarded by `mutex`. Items already in `store` can be got
        /// but are not unfinished tasks: `unfinished_tasks()` starts at 0.
        pub fn with_store(store: S, mutex: M) -> Self {
            Self {
                mutex,
                state: UnsafeCell::new(State {
                    store,
                    unfinished: 0,
                    phase: Phase::Open,
                }),
                busy: AtomicBool::new(false),
                not_empty: Waiters::new(),
                not_full: Waiters::new(),
                all_tasks_done: Waiters::new(),
            }
        }
    }

    /// Runs `f` on the state with the mutex held: the only access path to `state`.
    ///
    /// The mutex makes contenders wait (and masks interrupts, for the default one); the
    /// `busy` flag, always free when the mutex works and nobody re-enters, is what the
    /// exclusive access rests on.
    #[inline]
    fn locked<R>(&self, f: impl FnOnce(&mut State<S>) -> R) -> R {
        self.mutex.with_lock(|| {
            let _busy = BusyGuard::enter(&self.busy);
            self.state.with_mut(|state| {
                // SAFETY: `BusyGuard::enter` swapped `busy` from `false` to `true`
                // (`Acquire`), and only the guard's drop, after `f` returns or unwinds,
                // clears it (`Release`): no other caller, on this thread (re-entry) or
                // another, can be between those two points, and the previous holder's
                // accesses happen before ours. So this `&mut` is the only reference to the
                // state, and it does not escape `f`.
                f(unsafe { &mut *state })
            })
        })
    }

    // ---- try_* front end (never waits; legal in an interrupt with the default mutex) ----

    /// Puts `item` if there is a free slot; never waits (Python's `put_nowait`).
    ///
    /// Wakes one blocked getter. Legal in an interrupt handler with
    /// [`CriticalSectionMutex`].
    ///
    /// # Errors
    /// [`PutError::Full`] when the queue is full, [`PutError::ShutDown`] after
    /// [`shutdown`](Self::shutdown); both hand `item` back.
    pub fn put_nowait(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        self.locked(|st| {
            if st.phase != Phase::Open {
                return Err(PutError::ShutDown(item));
            }
            match st.store.push(item) {
                Ok(()) => {
                    st.unfinished = st.unfinished.saturating_add(1);
                    Ok(())
                }
                Err(item) => Err(PutError::Full(item)),
            }
        })?;
        self.not_empty.notify_one();
        Ok(())
    }

    /// Takes the next item if there is one; never waits (Python's `get_nowait`).
    ///
    /// Wakes one blocked putter. Legal in an interrupt handler with
    /// [`CriticalSectionMutex`].
    ///
    /// # Errors
    /// [`GetError::Empty`] when there is no item; [`GetError::ShutDown`] after a
    /// shutdown once the queue is empty, or at once after an immediate shutdown.
    pub fn get_nowait(&self) -> Result<S::Item, GetError> {
        let item = self.locked(|st| match st.phase {
            Phase::Immediate => Err(GetError::ShutDown),
            Phase::ShutDown => st.store.pop().ok_or(GetError::ShutDown),
            Phase::Open => st.store.pop().ok_or(GetError::Empty),
        })?;
        self.not_full.notify_one();
        Ok(item)
    }

    /// Marks one item taken with a get as processed (Python's `task_done`); wakes the
    /// callers of [`join`](Self::join) when the count reaches zero.
    ///
    /// # Errors
    /// [`TaskDoneError::TooManyCalls`] when there is no unfinished task (Python's
    /// `ValueError`).
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let all_done = self.locked(|st| {
            st.unfinished = st
                .unfinished
                .checked_sub(1)
                .ok_or(TaskDoneError::TooManyCalls)?;
            Ok(st.unfinished == 0)
        })?;
        if all_done {
            self.all_tasks_done.notify_all();
        }
        Ok(())
    }

    /// Shuts the queue down (Python 3.13's `shutdown(immediate)`); wakes every blocked
    /// caller.
    ///
    /// From now on puts fail with `ShutDown` (handing the item back). With
    /// `immediate == false`, gets keep returning the remaining items and fail once the
    /// queue is empty; with `immediate == true`, gets fail at once and the remaining items
    /// are removed and dropped, each counting as one `task_done` (so [`join`](Self::join)
    /// returns once the tasks already taken are done). Items are dropped one critical
    /// section at a time, outside the lock. Calling it again is allowed; a later
    /// `shutdown(false)` does not undo an immediate one.
    ///
    /// # Panics
    /// If an item's `Drop` panics during an immediate shutdown, the drain goes on: every
    /// remaining item is still removed, counted done and dropped, the callers of `join`
    /// are woken, and then the panic reaches the caller. With core's `std` feature (as
    /// in the std adapter) every drop's panic is caught and the first one is re-raised
    /// after the last item; without it (`no_std`), the remaining items are dropped while
    /// the first panic unwinds, and a second panicking drop then aborts the process (as
    /// in any Rust container). If the store's `pop` panics (an item's `Ord` in a
    /// custom store), the drain stops there with the items left in the store and still
    /// counted; a later `shutdown(true)` resumes it.
    pub fn shutdown(&self, immediate: bool) {
        let phase = if immediate {
            Phase::Immediate
        } else {
            Phase::ShutDown
        };
        self.locked(|st| st.phase = st.phase.max(phase));
        self.not_empty.notify_all();
        self.not_full.notify_all();
        if immediate {
            // `join` is released however the drain ends.
            let _wake_joiners = OnDrop(|| self.all_tasks_done.notify_all());
            // Each item is counted done under the lock, then dropped outside it.
            drop_each(|| {
                self.locked(|st| {
                    let item = st.store.pop()?;
                    st.unfinished = st.unfinished.saturating_sub(1);
                    Some(item)
                })
            });
        }
    }

    // ---- queries (each takes the lock briefly; the answer may be stale at once) ----

    /// How many items are queued (Python's `qsize`).
    pub fn qsize(&self) -> usize {
        self.locked(|st| st.store.len())
    }

    /// `true` when no item is queued (Python's `empty`).
    pub fn empty(&self) -> bool {
        self.locked(|st| st.store.is_empty())
    }

    /// `true` when no slot is free (Python's `full`; never for an unbounded store).
    pub fn full(&self) -> bool {
        self.locked(|st| st.store.is_full())
    }

    /// The capacity (Python's `maxsize`): `N` for the fixed-capacity stores, `usize::MAX`
    /// for an unbounded store (where Python says `0`).
    pub fn maxsize(&self) -> usize {
        self.locked(|st| st.store.capacity())
    }

    /// Changes the capacity (Python: assigning `q.maxsize`), where the store allows it
    /// ([`QueueStore::set_capacity`]; the std adapter's growable stores do, the
    /// fixed-capacity stores here only accept their `N`). `usize::MAX` means unbounded.
    ///
    /// The next put honours the new bound. Items already queued stay, even beyond a
    /// smaller bound (puts then wait until gets bring the count below it). Every blocked
    /// putter is woken to look again, so a larger bound lets them in at once.
    ///
    /// # Errors
    /// [`FixedCapacity`] if the store's capacity cannot change; nothing changed.
    pub fn set_maxsize(&self, capacity: usize) -> Result<(), FixedCapacity> {
        self.locked(|st| st.store.set_capacity(capacity))?;
        self.not_full.notify_all();
        Ok(())
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done) (Python's
    /// `unfinished_tasks` attribute).
    pub fn unfinished_tasks(&self) -> usize {
        self.locked(|st| st.unfinished)
    }

    /// `true` after [`shutdown`](Self::shutdown) (Python's `is_shutdown`).
    pub fn is_shutdown(&self) -> bool {
        self.locked(|st| st.phase != Phase::Open)
    }

    // ---- blocking front end (through the event counts) ----

    /// Puts `item`, waiting while the queue is full (Python's `put()`).
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down before a
    /// slot frees up; never `Full`.
    pub fn put(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        let mut pending = Some(item);
        self.not_full
            .wait(|| match self.put_nowait(pending.take()?) {
                Err(PutError::Full(item)) => {
                    pending = Some(item);
                    None
                }
                other => Some(other),
            })
    }

    /// Puts `item`, waiting at most until `deadline` for a free slot (Python's
    /// `put(timeout=...)`).
    ///
    /// # Errors
    /// [`PutError::Full`] if no slot freed up in time, [`PutError::ShutDown`] if the
    /// queue is or gets shut down; both hand `item` back.
    pub fn put_until(&self, item: S::Item, deadline: W::Deadline) -> Result<(), PutError<S::Item>> {
        let mut pending = Some(item);
        let done =
            self.not_full
                .wait_until(Some(deadline), || match self.put_nowait(pending.take()?) {
                    Err(PutError::Full(item)) => {
                        pending = Some(item);
                        None
                    }
                    other => Some(other),
                });
        match (done, pending) {
            (Some(result), _) => result,
            (None, Some(item)) => Err(PutError::Full(item)),
            // `pending` is only emptied by an attempt that returned `Some`.
            (None, None) => Ok(()),
        }
    }

    /// Takes the next item, waiting while the queue is empty (Python's `get()`).
    ///
    /// # Errors
    /// [`GetError::ShutDown`] once the queue is shut down and empty, or at once after an
    /// immediate shutdown; never `Empty`.
    pub fn get(&self) -> Result<S::Item, GetError> {
        self.not_empty.wait(|| match self.get_nowait() {
            Err(GetError::Empty) => None,
            other => Some(other),
        })
    }

    /// Takes the next item, waiting at most until `deadline` (Python's
    /// `get(timeout=...)`). A get that times out never takes an item.
    ///
    /// # Errors
    /// [`GetError::Empty`] if no item arrived in time; [`GetError::ShutDown`] as for
    /// [`get`](Self::get).
    pub fn get_until(&self, deadline: W::Deadline) -> Result<S::Item, GetError> {
        self.not_empty
            .wait_until(Some(deadline), || match self.get_nowait() {
                Err(GetError::Empty) => None,
                other => Some(other),
            })
            .unwrap_or(Err(GetError::Empty))
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](Self::task_done) (Python's `join`).
    pub fn join(&self) {
        self.all_tasks_done
            .wait(|| (self.unfinished_tasks() == 0).then_some(()));
    }

    /// [`join`](Self::join) with a deadline: `true` if all tasks were done in time.
    pub fn join_until(&self, deadline: W::Deadline) -> bool {
        self.all_tasks_done
            .wait_until(Some(deadline), || {
                (self.unfinished_tasks() == 0).then_some(())
            })
            .is_some()
    }
}

/// Constructors of the three disciplines: `new()` with the default
/// [`CriticalSectionMutex`], `with_mutex(m)` with any other.
macro_rules! constructors {
    ($store:ident, $alias:literal $(, $bound:path)?) => {
        impl<T $(: $bound)?, const N: usize, W: WaitStrategy>
            BaseQueue<$store<T, N>, CriticalSectionMutex, W>
        {
            maybe_const_fn! {
                /// An empty
                #[doc = $alias]
                /// of capacity exactly `N`, guarded by a critical section (usable in a
                /// `static`; `N == 0` is a compile-time error).
                pub fn new() -> Self {
                    Self::with_store($store::new(), CriticalSectionMutex::new())
                }
            }
        }

        impl<T $(: $bound)?, const N: usize, M: RawMutex, W: WaitStrategy>
            BaseQueue<$store<T, N>, M, W>
        {
            maybe_const_fn! {
                /// An empty
                #[doc = $alias]
                /// of capacity exactly `N`, guarded by `mutex` (e.g. a
                /// [`RawLock`](crate::lock::RawLock) for memory shared between processes).
                pub fn with_mutex(mutex: M) -> Self {
                    Self::with_store($store::new(), mutex)
                }
            }
        }
    };
}

constructors!(Fifo, "FIFO queue");
constructors!(Lifo, "LIFO queue (a stack)");
constructors!(Priority, "priority queue (smallest first)", Ord);

impl<S: QueueStore + Default, M: RawMutex + Default, W: WaitStrategy> Default
    for BaseQueue<S, M, W>
{
    fn default() -> Self {
        Self::with_store(S::default(), M::default())
    }
}

impl<S: QueueStore, M: RawMutex, W: WaitStrategy> fmt::Debug for BaseQueue<S, M, W> {
    /// Prints the counters (never the items: formatting them would run user code under
    /// the lock).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (qsize, maxsize, unfinished, phase) =
            self.locked(|st| (st.store.len(), st.store.capacity(), st.unfinished, st.phase));
        f.debug_struct("BaseQueue")
            .field("qsize", &qsize)
            .field("maxsize", &maxsize)
            .field("unfinished_tasks", &unfinished)
            .field("shutdown", &phase)
            .finish()
    }
}

// ---- async front end ----

/// The async forms (feature `async`), on the queue itself: a task that must wait parks
/// on the same event count a blocked thread sleeps on ([`Waiters::poll_async`]), so
/// whoever changes the queue — a task, a thread through the plain blocking `put`/`get`,
/// an interrupt handler through `put_nowait` — wakes it (see "Async tasks" in
/// [`Waiters`]). No wrapper, no limit on parked tasks with `std`.
#[cfg(feature = "async")]
impl<S: QueueStore, M: RawMutex, W: WaitStrategy> BaseQueue<S, M, W> {
    /// Puts `item`, waiting (asynchronously) while the queue is full (Python's
    /// `await asyncio.Queue.put(item)`); a thread's or a task's get makes room.
    ///
    /// Cancel-safe: the item enters the queue in the poll that completes the future; a
    /// future dropped before that drops the item and leaves nothing parked, so the
    /// room a get makes goes to another putter.
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down first.
    ///
    /// ```
    /// use conkit_core::queue::Queue;
    ///
    /// static Q: Queue<u32, 1> = Queue::new();
    /// let task = async {
    ///     Q.put_async(1).await.unwrap();
    ///     assert_eq!(Q.get_async().await, Ok(1));
    /// };
    /// # let _ = task;
    /// ```
    pub fn put_async(
        &self,
        item: S::Item,
    ) -> impl core::future::Future<Output = Result<(), PutError<S::Item>>> + '_ {
        let mut pending = Some(item);
        self.not_full
            .wait_async(move || match self.put_nowait(pending.take()?) {
                Err(PutError::Full(item)) => {
                    pending = Some(item);
                    None
                }
                other => Some(other),
            })
    }

    /// Takes the next item, waiting (asynchronously) while the queue is empty (Python's
    /// `await asyncio.Queue.get()`); a thread's or a task's put wakes it.
    ///
    /// Cancel-safe: the item leaves the queue in the poll that completes the future; a
    /// future dropped before that takes nothing and leaves nothing parked, so the next
    /// item goes to another getter.
    ///
    /// # Errors
    /// [`GetError::ShutDown`] as for the blocking [`get`](Self::get).
    ///
    /// ```
    /// use conkit_core::queue::LifoQueue;
    ///
    /// let q: LifoQueue<char, 4> = LifoQueue::new();
    /// q.put_nowait('a').unwrap();
    /// let task = async { assert_eq!(q.get_async().await, Ok('a')) };
    /// # let _ = task;
    /// ```
    pub fn get_async(&self) -> impl core::future::Future<Output = Result<S::Item, GetError>> + '_ {
        self.not_empty.wait_async(move || match self.get_nowait() {
            Err(GetError::Empty) => None,
            other => Some(other),
        })
    }

    /// Waits (asynchronously) until every item put has been marked done (Python's
    /// `await asyncio.Queue.join()`); the last `task_done`, by a thread or a task,
    /// wakes it.
    ///
    /// ```
    /// use conkit_core::queue::Queue;
    ///
    /// let q: Queue<u8, 2> = Queue::new();
    /// let task = async { q.join_async().await }; // nothing unfinished: ready at once
    /// # let _ = task;
    /// ```
    pub fn join_async(&self) -> impl core::future::Future<Output = ()> + '_ {
        self.all_tasks_done
            .wait_async(move || (self.unfinished_tasks() == 0).then_some(()))
    }
}

/// The older wrapper (kept for compatibility): every method forwards to the queue's own
/// async forms above, which wake and are woken by every user of the queue; the
/// wrapper's [`WakerSet`](crate::asynch::WakerSet) is no longer used by queues.
#[cfg(feature = "async")]
impl<S: QueueStore, M: RawMutex, W: WaitStrategy, const K: usize>
    crate::asynch::Async<BaseQueue<S, M, W>, K>
{
    /// Puts `item`, waiting (asynchronously) while the queue is full: the queue's own
    /// [`BaseQueue::put_async`].
    ///
    /// # Errors
    /// [`PutError::ShutDown`] (with the item) if the queue is or gets shut down first.
    pub async fn put(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        self.inner().put_async(item).await
    }

    /// Takes the next item, waiting (asynchronously) while the queue is empty: the
    /// queue's own [`BaseQueue::get_async`].
    ///
    /// # Errors
    /// [`GetError::ShutDown`] as for the blocking [`BaseQueue::get`].
    pub async fn get(&self) -> Result<S::Item, GetError> {
        self.inner().get_async().await
    }

    /// Waits (asynchronously) until every item put has been marked done: the queue's
    /// own [`BaseQueue::join_async`].
    pub async fn join(&self) {
        self.inner().join_async().await;
    }

    /// [`BaseQueue::put_nowait`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`BaseQueue::put_nowait`].
    pub fn put_nowait(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        self.inner().put_nowait(item)
    }

    /// [`BaseQueue::get_nowait`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`BaseQueue::get_nowait`].
    pub fn get_nowait(&self) -> Result<S::Item, GetError> {
        self.inner().get_nowait()
    }

    /// [`BaseQueue::task_done`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`BaseQueue::task_done`].
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.inner().task_done()
    }

    /// [`BaseQueue::set_maxsize`] (which wakes the parked tasks itself).
    ///
    /// # Errors
    /// As [`BaseQueue::set_maxsize`].
    pub fn set_maxsize(&self, capacity: usize) -> Result<(), FixedCapacity> {
        self.inner().set_maxsize(capacity)
    }

    /// [`BaseQueue::shutdown`] (which wakes the parked tasks itself).
    pub fn shutdown(&self, immediate: bool) {
        self.inner().shutdown(immediate);
    }
}
