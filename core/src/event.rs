//! A one-bit event (Python's `threading.Event`): a flag that is set, cleared, and
//! waited for.
//!
//! [`set`](Event::set) raises the flag and wakes every waiter; while it is set,
//! [`wait`](Event::wait) returns at once; [`clear`](Event::clear) lowers it again. Unlike
//! a semaphore it does not count: it is a *level*, not a number of occurrences.
//!
//! ```
//! use conkit_core::event::Event;
//!
//! static READY: Event = Event::new();
//!
//! let worker = std::thread::spawn(|| {
//!     READY.wait(); // blocks until the main thread sets the flag
//!     "started"
//! });
//! // ...prepare things... (in firmware, an interrupt handler may call `set`)
//! READY.set();
//! assert_eq!(worker.join().unwrap(), "started");
//! assert!(READY.is_set());
//! READY.clear();
//! assert!(!READY.is_set());
//! ```
//!
//! # Algorithm and provenance
//! Python's `threading.Event` semantics on bit 0 of an
//! [`EventFlags`]: `set` is `fetch_or` plus a notify of
//! the [`Waiters`](crate::wait::Waiters) event count (Vyukov's eventcount), `wait` is a
//! wait-any on bit 0 without clearing. It is that type, not a second implementation; see
//! its docs for the memory-ordering and wake-up argument.
//!
//! # Progress
//! `set`, `clear` and `is_set` are lock-free (one atomic read-modify-write plus a
//! wake-up check): legal in an interrupt handler. Waiting never consumes the flag, and
//! no wake-up is lost: a waiter blocked when `set` is called returns as long as the flag
//! stays set until it looks again. A `set()` immediately followed by `clear()` may go
//! unseen by a waiter that did not look in between (Python's `Event` has the same
//! window); if each occurrence must be consumed exactly once, use
//! [`EventFlags`] with clear-on-exit, or a semaphore.
//!
//! # When to use / when not
//! Use it for one-shot or level-triggered signals: "initialisation done", "stop
//! requested", "link is up". For several related signals use
//! [`EventFlags`]; to count events use a
//! [`Semaphore`](crate::semaphore::Semaphore).
//!
//! # Async
//! With the `async` feature, `asynch::Async<Event<W>, K>` adds
//! `wait().await`; its `set` wakes the parked tasks too.

use core::fmt;

use crate::atomic::maybe_const_fn;
use crate::event_flags::{EventFlags, WaitFlags};
use crate::wait::{Spin, WaitStrategy};

/// The flag's bit in the underlying [`EventFlags`].
const FLAG: u32 = 1;

/// A one-bit event (Python's `threading.Event`), generic over how a blocked caller
/// waits (`W`, [`Spin`] by default). See the [module docs](self).
///
/// Layout: an [`EventFlags`] (three `u32` words); no pointers.
///
/// ```
/// use conkit_core::event::Event;
///
/// let done: Event = Event::new();
/// assert!(!done.is_set());
/// done.set();
/// done.wait(); // returns at once while the flag is set
/// assert!(done.is_set());
/// ```
pub struct Event<W: WaitStrategy = Spin> {
    flags: EventFlags<W>,
}

impl<W: WaitStrategy> fmt::Debug for Event<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl<W: WaitStrategy> Default for Event<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> Event<W> {
    maybe_const_fn! {
        /// An event whose flag is clear.
        pub fn new() -> Self {
            Self { flags: EventFlags::new() }
        }
    }

    /// Sets the flag and wakes every waiter. Never waits: legal in an interrupt handler.
    #[inline]
    pub fn set(&self) {
        self.flags.set(FLAG);
    }

    /// Clears the flag; later [`wait`](Self::wait)s block until the next `set`.
    #[inline]
    pub fn clear(&self) {
        self.flags.clear(FLAG);
    }

    /// Whether the flag is set (a snapshot).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flags.get() & FLAG != 0
    }

    /// Waits (with strategy `W`) until the flag is set; returns at once if it is.
    #[inline]
    pub fn wait(&self) {
        // The mask is not empty, so the untimed wait cannot fail.
        let _ = self.flags.wait(FLAG, WaitFlags::ANY);
    }

    /// Waits until the flag is set or `deadline` passes; returns the flag at return
    /// (Python's `wait(timeout)`: `false` means it timed out).
    #[inline]
    pub fn wait_until(&self, deadline: W::Deadline) -> bool {
        self.flags
            .wait_until(FLAG, WaitFlags::ANY, deadline)
            .is_ok()
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> crate::asynch::Async<Event<W>, K> {
    /// Awaits until the flag is set; completes at once if it is. Cancellation-safe
    /// (waiting consumes nothing).
    pub async fn wait(&self) {
        core::future::poll_fn(|cx| {
            self.wakers()
                .poll_until(cx, || self.inner().is_set().then_some(()))
        })
        .await;
    }

    /// Sets the flag, waking parked tasks and blocked callers. Never waits (legal in an
    /// interrupt handler).
    pub fn set(&self) {
        self.inner().set();
        self.wakers().wake_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.inner().clear();
    }

    /// Whether the flag is set (a snapshot).
    pub fn is_set(&self) -> bool {
        self.inner().is_set()
    }
}
