//! Async forms of the process-shared objects (issue #14): how a task in this process
//! is woken by a change made in ANOTHER process.
//!
//! Reference: the in-process mechanism of [`conkit_core::asynch`] (a task parks its
//! waker in a per-process table under the primitive's address and sets a "tasks are
//! parked" bit in the primitive's state word; whoever changes the primitive sees the
//! bit and calls [`wake_parked`](conkit_core::asynch::wake_parked)); Python's asyncio
//! has no answer here (`asyncio.Lock` is per event loop; a `multiprocessing.Lock` is
//! awaited through `loop.run_in_executor`, a thread per wait).
//!
//! | Python (what a coroutine does today) | conkit (woken by any process) |
//! |---|---|
//! | `await loop.run_in_executor(None, lock.acquire)` | [`Lock::acquire_async`](super::Lock::acquire_async), `acquire_or_recover_async`, `lock_async`; the same on [`RLock`](super::RLock) |
//! | `… run_in_executor(None, sem.acquire)` | [`Semaphore::acquire_async`](super::Semaphore::acquire_async), `acquire_guard_async`, `acquire_many_async`; the same on [`BoundedSemaphore`](super::BoundedSemaphore) |
//! | `… run_in_executor(None, event.wait)` | [`Event::wait_async`](super::Event::wait_async) |
//! | `… run_in_executor(None, cond.wait)` | [`Condition::lock_async`](super::Condition::lock_async), [`wait_guard_async`](super::Condition::wait_guard_async) / `wait_for_guard_async` (take and give back the guard: a runtime timeout around them is safe), `wait_async`, `wait_for_async`; the same on [`ConditionOn`](super::ConditionOn) (`Condition(lock)`, whose `lock_async` is the lock's own) |
//! | `… run_in_executor(None, barrier.wait)` | [`Barrier::wait_async`](super::Barrier::wait_async) |
//! | `… run_in_executor(None, q.get)` / `q.put` / `q.join` | [`Queue::get_async`](super::Queue::get_async) / `put_async`, [`JoinableQueue::join_async`](super::JoinableQueue::join_async), [`SimpleQueue::get_async`](super::SimpleQueue::get_async) / `put_async` |
//!
//! # The problem
//! The waker table is per process and keyed by this process's address of the object.
//! A notifier in process X that sees the bit calls `wake_parked` with X's address, in
//! X's table: the tasks of process Y are not there, and a waker (a pointer into Y) can
//! never be called from X. What X *does* reach is a thread of Y that sleeps on the
//! object's futex word in `MAP_SHARED` memory: the kernel wakes it.
//!
//! # The design: one proxy waiter per object per process
//! A task that must wait parks its waker with the object's **proxy** (this module,
//! per process, keyed by the object's address here and what is awaited). The proxy is
//! a helper thread that blocks on the shared object through its *ordinary blocking
//! wait* — a real futex sleeper, counted like any thread, so a change made by any
//! process (or by a thread or a task of this one) wakes it — and then wakes every task
//! parked with it; each task retries its non-blocking `try_*` operation and parks
//! again if it lost the race. So:
//!
//! * **One thread per awaited object**, not per task: a thousand tasks awaiting one
//!   queue cost one helper thread. The thread starts with the first parked task and
//!   ends after a second without any.
//! * **No lost wake-ups.** A task parks *before* its last look at the object, and the
//!   proxy only sleeps after a task parked: the proxy's wait looks at the object's
//!   state itself (a lock or semaphore that is free, `n` permits free, an event that
//!   is set, a queue that holds an item: the blocking wait returns at once), or, where
//!   "it changed" is all there is to look at (a queue that had no room, a condition's
//!   line of tickets), at a count recorded before the tasks were last woken (the
//!   condition's mark is taken before the tasks' next look: a notify after that look
//!   moves the line past it). Each wait is also bounded (a slice of 100 ms), so nothing
//!   can strand a task for longer than that even through a bug of a peer.
//! * **No permit is held for a task.** The proxy waits for the condition to *possibly*
//!   hold: [`Event`](super::Event) and the queues have a non-consuming wait; for
//!   [`Lock`](super::Lock), [`RLock`](super::RLock) and the semaphores it acquires with
//!   a timeout and releases at once (a pass-through: the release goes to whoever comes
//!   first — a thread anywhere or one of the woken tasks — as a plain release would).
//! * **Cancel-safe.** The proxy wakes *every* parked task each time, so a dropped
//!   future cannot swallow a wake-up meant for another task; a dropped future removes
//!   its waker. A task's operation completes only in the poll that returns it.
//! * **Owners that die.** A lock held by a process that is `SIGKILL`ed is recovered
//!   exactly as by a blocking acquirer: the proxy's `acquire_timeout_or_recover` finds
//!   the holder gone (within the core's probe time), records [`Acquired::OwnerDied`]
//!   for this process, releases, and wakes the tasks; the first task of this process
//!   that takes the lock afterwards is told `OwnerDied` (by
//!   `acquire_or_recover_async`). Differences from the blocking form: between the
//!   proxy's release and that task's acquisition another process may take the lock
//!   and be told `Clean`; and if every waiting task is cancelled first, the news is
//!   dropped when the proxy ends (a second without parked tasks). A task's own poll also asks whether the holder lives
//!   (`try_acquire_or_recover`), so the news is not lost when the proxy loses the race.
//! * **Cost.** A wait that does not have to wait costs nothing extra (the `try_*`
//!   succeeds in the first poll). A wait that sleeps costs a thread wake-up on top of
//!   the futex wake (tens of µs), and the thread's start the first time.
//! * **After `fork`.** A proxy thread does not exist in a forked child: the child
//!   starts its own (the proxy remembers which process started its thread).
//!
//! A [`Barrier`](super::Barrier) cannot be watched by a blocking wait either: a proxy
//! that waited on it would be a party. Its [`wait_async`](super::Barrier::wait_async)
//! runs the threading type's own async wait (the task arrives, withdraws if dropped,
//! and is released in its poll), bridged to other processes by the core barrier's
//! *watcher* ([`Barrier::watch_until`](conkit_core::barrier::Barrier::watch_until)): it
//! sleeps among the barrier's sleepers, never counted in a round, until the barrier's
//! epoch moves past a mark taken before the tasks' last look (every release, break,
//! reset or opening of the next round moves it, then wakes every sleeper), and it
//! probes the recorded parties when a slice passes with nothing (a dead party is
//! buried, as a blocking party would). Measured 2026-12-07 (2-core guest, noisy; release
//! build, 5 interleaved pairs × 3 start methods): median 25–75 µs from a child's
//! releasing arrival to the task's wake (35–70 µs with the former helper thread that
//! was a party) and 5 context switches in 300 ms of idle waiting (20 before). (A
//! handle with a default timeout still waits on a helper thread of its own.)
//!
//! A [`Condition`](super::Condition) cannot be watched by a counted wait: a proxy that
//! waited on it would hold a ticket, and a `notify(1)` meant for a task could be spent
//! on the proxy. Its async forms ([`Condition::wait_async`](super::Condition::wait_async),
//! `wait_for_async`, `wait_guard_async`, `wait_for_guard_async`) run the threading
//! type's own async wait — the notify queue of tickets in shared memory, its order and
//! its cancellation rules are theirs; a notify or release in this process wakes the
//! task at once — in its two phases, each bridged to other processes by a proxy of
//! its own:
//! * **the notify**: the proxy is the core condvar's ticket-less *watcher*
//!   ([`Condvar::watch_until`](conkit_core::condvar::Condvar::watch_until)): it sleeps
//!   among the condvar's futex sleepers, uncounted, until the line of tickets moves
//!   past a mark taken before the tasks' last look (every notify that releases anyone
//!   moves it and wakes the sleepers). No notify is ever spent on it;
//! * **the re-take of the lock**: the notifier holds the lock while it notifies, so a
//!   notified task must then be woken by the release: through the lock's pass-through
//!   proxy, as [`Lock::acquire_async`](super::Lock::acquire_async). (Two proxies, not
//!   one that switches from the condvar to the lock: a release between the switch and
//!   the lock proxy's first look would be missed.)
//!
//! [`Condition::lock_async`](super::Condition::lock_async) goes through the same lock
//! proxy; a [`ConditionOn`](super::ConditionOn) (`Condition::with_lock(lock)`) through
//! the lock's own (its watcher keyed by its waiters' mapping).
//! [`Semaphore::acquire_many_async`](super::Semaphore::acquire_many_async) cannot pass a
//! permit through (a proxy that took one and gave it back while fewer than `n` are free
//! would spin): its proxy (one per `n`) sleeps among the semaphore's sleepers until `n`
//! permits are available, taking none
//! ([`watch_available_until`](conkit_core::semaphore::Semaphore::watch_available_until)).
//! Both watchers sleep in one piece up to the proxy's 100 ms slice (not the 16 ms
//! slices of a process-shared waiter: a notifier that died between its change and its
//! wake-up costs the tasks at most that slice), so an idle waiting task costs about
//! ten wake-ups a second, and a notify or release in another process wakes the task
//! in tens of µs (measured 2026-12-07, 2-core guest: median 50–100 µs notify → task
//! wake with the lock re-taken, 25–85 µs for `acquire_many_async`; 5 context switches
//! in 300 ms of idle waiting; with the 5 ms tick before: 4–5 ms and ~200).
//!
//! # Example
//! ```
//! use conkit::multiprocessing::Semaphore;
//!
//! let sem = Semaphore::new(0);
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let s2 = sem.clone();
//! // Here a thread; a child process releasing it wakes the task the same way.
//! let t = std::thread::spawn(move || s2.release().unwrap());
//! rt.block_on(sem.acquire_async());
//! t.join().unwrap();
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

#[cfg(doc)]
use super::Acquired;

/// How long one blocking wait of a proxy lasts at most.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// How long a proxy thread stays without parked tasks before it ends.
const IDLE: Duration = Duration::from_secs(1);

/// What one blocking wait of a proxy saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The object may now allow what the tasks wait for: wake them.
    Changed,
    /// Nothing happened within the slice: wait again.
    TimedOut,
    /// A lock's holder died; the proxy recovered and released it: wake the tasks and
    /// tell the next one that takes the lock.
    OwnerDied,
}

/// A proxy's blocking wait on one shared object.
pub(crate) trait Watch: Send + Sync + 'static {
    /// A mark of the object's state taken before the tasks are woken (e.g. a count of
    /// gets), for waits that can only see "it changed since"; 0 for waits that look at
    /// the state itself.
    fn mark(&self) -> u64 {
        0
    }

    /// Blocks at most `slice` until the object may have changed since `mark` in the
    /// way the tasks wait for.
    fn wait(&self, mark: u64, slice: Duration) -> Outcome;
}

/// What the proxies are keyed by: the object's address in this process, what is
/// awaited on it, and an argument of the wait (the permits an `acquire_many_async`
/// waits for; 0 for the others).
type Key = (usize, u8, u32);

/// The live proxies of this process.
static PROXIES: Mutex<BTreeMap<Key, Weak<Proxy>>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The parked tasks of one proxy and its thread's state.
struct State {
    wakers: HashMap<u64, Waker>,
    next_id: u64,
    /// The process whose proxy thread runs (0: none).
    running_in: u32,
    /// See [`Watch::mark`].
    mark: u64,
    /// The proxy recovered a lock from a dead holder and no task was told yet.
    owner_died: bool,
}

/// One object's proxy waiter (see the [module docs](self)).
pub(crate) struct Proxy {
    watch: Box<dyn Watch>,
    state: Mutex<State>,
    /// Tells the proxy thread that a task parked.
    parked: Condvar,
}

impl Proxy {
    /// This process's proxy for the object at `addr` awaited as `what`, made with
    /// `make` if there is none.
    pub(crate) fn for_object(
        addr: usize,
        what: u8,
        make: impl FnOnce() -> Box<dyn Watch>,
    ) -> Arc<Self> {
        Self::for_wait(addr, what, 0, make)
    }

    /// This process's proxy for the object at `addr` awaited as `what` with argument
    /// `arg` (see [`Key`]), made with `make` if there is none.
    pub(crate) fn for_wait(
        addr: usize,
        what: u8,
        arg: u32,
        make: impl FnOnce() -> Box<dyn Watch>,
    ) -> Arc<Self> {
        let mut all = lock(&PROXIES);
        if let Some(p) = all.get(&(addr, what, arg)).and_then(Weak::upgrade) {
            return p;
        }
        all.retain(|_, w| w.strong_count() > 0);
        let p = Arc::new(Self {
            watch: make(),
            state: Mutex::new(State {
                wakers: HashMap::new(),
                next_id: 1,
                running_in: 0,
                mark: 0,
                owner_died: false,
            }),
            parked: Condvar::new(),
        });
        all.insert((addr, what, arg), Arc::downgrade(&p));
        p
    }

    /// Parks `waker` under `*id` (0: a new id is given), starting the proxy thread if
    /// none runs in this process.
    fn park(self: &Arc<Self>, id: &mut u64, waker: &Waker) {
        let mut st = lock(&self.state);
        if *id == 0 {
            *id = st.next_id;
            st.next_id += 1;
        }
        match st.wakers.get_mut(id) {
            Some(w) => w.clone_from(waker),
            None => {
                st.wakers.insert(*id, waker.clone());
            }
        }
        let me = std::process::id();
        if st.running_in == me {
            drop(st);
            self.parked.notify_one();
            return;
        }
        // Taken before the tasks' next look (the caller's retry), see `Watch::mark`.
        st.mark = self.watch.mark();
        st.running_in = me;
        drop(st);
        let proxy = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("conkit-mp-async-proxy".into())
            .spawn(move || proxy.run());
        if spawned.is_err() {
            // No thread (out of resources): poll again at once rather than never.
            lock(&self.state).running_in = 0;
            waker.wake_by_ref();
        }
    }

    /// Removes the waker parked under `id`.
    fn leave(&self, id: u64) {
        if id != 0 {
            let w = lock(&self.state).wakers.remove(&id);
            drop(w); // outside the lock: a waker's drop is executor code
        }
    }

    /// Whether the proxy recovered a lock from a dead holder since a task was last told
    /// (and forgets it: one task is told).
    pub(crate) fn take_owner_died(&self) -> bool {
        std::mem::take(&mut lock(&self.state).owner_died)
    }

    /// The proxy thread.
    fn run(self: Arc<Self>) {
        let mut st = lock(&self.state);
        loop {
            while st.wakers.is_empty() {
                let (g, r) = self
                    .parked
                    .wait_timeout(st, IDLE)
                    .unwrap_or_else(|e| e.into_inner());
                st = g;
                if r.timed_out() && st.wakers.is_empty() {
                    st.running_in = 0;
                    // No task took the recovered lock (all cancelled): the news ends
                    // here rather than reaching a much later acquirer.
                    st.owner_died = false;
                    return;
                }
            }
            let mark = st.mark;
            drop(st);
            let outcome = self.watch.wait(mark, SLICE);
            st = lock(&self.state);
            if outcome == Outcome::TimedOut {
                continue;
            }
            // The mark is taken before the tasks are woken: a change after it is seen
            // by the next wait, a change before it by the tasks' retry.
            st.mark = self.watch.mark();
            st.owner_died |= outcome == Outcome::OwnerDied;
            let wakers: Vec<Waker> = st.wakers.drain().map(|(_, w)| w).collect();
            drop(st);
            for w in wakers {
                w.wake();
            }
            st = lock(&self.state);
        }
    }
}

/// A future's place with a proxy; leaves it when dropped.
struct Parking {
    proxy: Arc<Proxy>,
    id: u64,
}

impl Drop for Parking {
    fn drop(&mut self) {
        self.proxy.leave(self.id);
    }
}

/// Retries `attempt` until it returns `Some`, parking the task with `proxy` between
/// tries (parked before the last look of each poll, see the [module docs](self)).
/// Cancel-safe if `attempt` is: the result is produced only by the poll that returns
/// it.
pub(crate) fn until<R>(
    proxy: Arc<Proxy>,
    mut attempt: impl FnMut() -> Option<R>,
) -> impl Future<Output = R> {
    let mut parking = Parking { proxy, id: 0 };
    std::future::poll_fn(move |cx| {
        if let Some(r) = attempt() {
            parking.proxy.leave(std::mem::take(&mut parking.id));
            return Poll::Ready(r);
        }
        parking.proxy.park(&mut parking.id, cx.waker());
        match attempt() {
            Some(r) => {
                parking.proxy.leave(std::mem::take(&mut parking.id));
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    })
}

/// Awaits `inner` (an async form of the threading type, with its own wake-ups from
/// this process) and parks the task with `proxy` as well, so that a change made in
/// another process makes the task poll `inner` again (it re-reads the shared state on
/// every poll).
pub(crate) async fn bridge<F: Future>(proxy: Arc<Proxy>, inner: F) -> F::Output {
    let mut inner = std::pin::pin!(inner);
    let mut parking = Parking { proxy, id: 0 };
    std::future::poll_fn(move |cx| {
        // Parked before the poll: a change after the poll's look wakes the task.
        parking.proxy.park(&mut parking.id, cx.waker());
        match inner.as_mut().poll(cx) {
            Poll::Ready(r) => {
                parking.proxy.leave(std::mem::take(&mut parking.id));
                Poll::Ready(r)
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Runs `f` on a helper thread of its own and awaits its result (for waits a proxy
/// cannot make without taking part, e.g. a barrier's). Dropping the future does not
/// stop `f`.
pub(crate) async fn on_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    struct Slot<R> {
        result: Option<R>,
        waker: Option<Waker>,
        done: bool,
    }
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        done: false,
    }));
    let theirs = Arc::clone(&slot);
    std::thread::Builder::new()
        .name("conkit-mp-async-wait".into())
        .spawn(move || {
            let r = f();
            let waker = {
                let mut s = lock(&theirs);
                s.result = Some(r);
                s.done = true;
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })?;
    std::future::poll_fn(|cx| {
        let mut s = lock(&slot);
        if s.done {
            match s.result.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Ready(Err(std::io::Error::other("the wait was already taken"))),
            }
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}
