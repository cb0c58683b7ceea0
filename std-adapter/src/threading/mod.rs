//! Python's `threading` module on OS threads and the `conkit-core` primitives.
//!
//! Every synchronisation type here is a `conkit-core` primitive whose waiters sleep in
//! the kernel through [`Futex`](crate::wait::Futex): the same algorithm that runs in
//! firmware with a spinning strategy and between processes with a process-shared futex.
//! Each is generic over that waiting strategy with `Futex` as the default (`Lock` is
//! `Lock<Futex>`; `Lock<SharedFutex>`, `Semaphore<SharedFutex>`, `Mutex<T, SharedFutex>`,
//! … are the same front ends for memory shared by processes, made by `with_strategy`):
//! see [`Lock`'s waiting strategy](Lock#the-waiting-strategy) and
//! [`InstantWait`](crate::wait::InstantWait).
//!
//! Rust's threads run truly in parallel: there is no GIL, so where the Python notes say
//! "only one thread runs Python code at a time", here every thread runs at once and the
//! locks below are what keeps shared data consistent.
//!
//! | Python | conkit |
//! |---|---|
//! | `Thread(target=f).start()`, `t.join()` | [`Thread::new(f)`](Thread::new), `start()`, `join()`; with a return value: [`spawn(f)`](spawn) → [`JoinHandle`] |
//! | threads that use the caller's locals | [`scope(\|s\| { s.spawn(…); })`](scope): conkit threads that borrow |
//! | `lock = Lock()` + the globals it protects | [`Mutex<T>`]: the lock with the data inside; [`Lock`] guards none, as Python's |
//! | `cond = Condition()` + the globals it protects | [`Monitor<T>`]: the condition with the data inside; [`Condition`] is the Python-shaped form |
//! | `with lock:` | a guard: `let _g = lock.lock();` (`let mut data = mutex.lock();`) |
//! | `acquire(blocking=False)` | `try_acquire()` |
//! | `acquire(timeout=t)` | `acquire_timeout(Duration)`, or `acquire_until(Instant)` |
//! | exceptions (`RuntimeError`, `ValueError`, `BrokenBarrierError`) | typed `Result` errors |
//! | `asyncio.Lock`, `Semaphore`, `Event`, `Condition`, `Barrier`: `await x.acquire()`, `async with x:`, `await ev.wait()` | the *same* objects in a task: [`Lock::acquire_async`], [`Lock::lock_async`], [`RLock::lock_async`], [`Semaphore::acquire_async`], [`Event::wait_async`], [`Condition::wait_async`], [`Barrier::wait_async`] |
//!
//! **Guards.** `with x:` becomes a guard that releases when it is dropped. Bind it to a
//! name (`let _g = lock.lock();` or `let mut data = mutex.lock();`): `let _ = lock.lock();`
//! drops the guard on the same line, so the lock is released at once.
//!
//! **Timeouts.** Every call that can wait comes as `x()` (no limit), `x_timeout(Duration)`
//! and `x_until(Instant)`; a timeout is a deadline (wake-ups that find nothing do not
//! restart it), and a deadline that has passed still tries once. Python's `ValueError`s
//! for `acquire(False, timeout)` ("can't specify a timeout for a non-blocking call") and
//! for a negative timeout other than `-1` cannot happen: `try_acquire()` takes no
//! timeout, a [`Duration`](std::time::Duration) is never negative, and Python's `-1` (no
//! limit) is the form without a timeout. Above [`TIMEOUT_MAX`] Python raises
//! `OverflowError`; here the deadline saturates and the call waits "forever".
//!
//! **Async.** Every waiting operation has an `_async` form on the same object, for any
//! executor (tokio, smol, a hand-written `block_on`): threads and tasks may use one
//! object at once — a thread's `release`/`set`/`notify` wakes a parked task, a task's
//! wakes a sleeping thread (the core primitives park tasks on themselves; see
//! `conkit_core::asynch`). Dropping a pending future is always safe: it takes nothing
//! and swallows no wake-up, permit or notify. Timeouts are the runtime's
//! (`tokio::time::timeout`): dropping the future is the time-out.
//!
//! **Statics.** [`Lock`], [`RLock`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`],
//! [`Event`], [`Barrier`], [`Local`], [`Mutex`] and [`Monitor`] have `const`
//! constructors, so each can be a `static` (Python's module globals) with no `LazyLock`
//! and no `Arc`. What needs the heap to be built (a `Barrier` with an action, a `Local`
//! whose initialiser captures state) goes in a `LazyLock`.

mod barrier;
mod condition;
pub mod deadlock;
mod event;
mod ident;
mod local;
mod lock;
mod monitor;
mod mutex;
mod rlock;
mod scope;
mod semaphore;
mod shm;
mod thread;
mod timer;
mod trace;

pub use barrier::*;
pub use condition::*;
pub use event::*;
pub use ident::{get_ident, get_native_id, ThreadOwner};
pub use local::*;
pub use lock::*;
pub use monitor::*;
pub use mutex::*;
pub use rlock::*;
pub use scope::*;
pub use semaphore::*;
pub use thread::*;
pub use timer::*;
pub use trace::*;

/// The mutex of this module's own bookkeeping (the thread registry, hooks, `Local`
/// slots, the deadlock detector's graph): the core futex mutex, deliberately not
/// [`Mutex`], whose lock is seen by the deadlock detector: the detector itself and the
/// calls it makes (`current_thread()`) take these, so they must not be hooked.
pub(crate) type RawMutex<T> = conkit_core::lock::BlockingMutex<T, crate::wait::Futex>;
