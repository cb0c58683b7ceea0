//! [`Event`]: Python's `threading.Event` for OS threads.
//!
//! A thin wrapper over [`conkit_core::event::Event`], generic over the waiting strategy
//! `W` ([`Futex`] by default: `Event` is `Event<Futex>`): a one-bit flag with a generation count, whose waiters sleep in the kernel
//! through the core's event count (Vyukov's eventcount); see the core module for the
//! algorithm and the no-lost-wake-up argument. This module adds Python's names and
//! `Duration` timeouts.
//!
//! As in CPython (gh-57711), every thread waiting when [`set`](Event::set) is called
//! returns `true`, even if another thread calls [`clear`](Event::clear) before it gets
//! to run.
//!
//! | Python | conkit |
//! |---|---|
//! | `Event()` | [`Event::new()`] (flag clear) |
//! | `ev.set()` / `ev.clear()` / `ev.is_set()` | [`set()`](Event::set) / [`clear()`](Event::clear) / [`is_set()`](Event::is_set) |
//! | `ev.wait()` (returns `True`) | [`wait()`](Event::wait) (returns `()`: it only returns once the flag is set) |
//! | `ev.wait(timeout=t)` (returns the flag) | [`wait_timeout(t)`](Event::wait_timeout) / [`wait_until(deadline)`](Event::wait_until) → `bool` |
//!
//! Tasks await the same event with [`wait_async`](Event::wait_async) (Python:
//! `await ev.wait()` of an `asyncio.Event`): every `set`, a thread's or a task's, wakes
//! them. A `set` with no task parked costs nothing more than before (one bit test).

use std::fmt;
use std::time::{Duration, Instant};

use conkit_core::event::Event as CoreEvent;

use crate::wait::{deadline_after, Futex, InstantWait};

/// A flag that threads set, clear and wait for (Python's `threading.Event`).
///
/// [`set`](Self::set) raises the flag and wakes every waiter; while it is set,
/// [`wait`](Self::wait) returns at once; [`clear`](Self::clear) lowers it again. It is a
/// level, not a count: waiting does not consume it. Every thread waiting when `set()`
/// is called returns (`true`), even if `clear()` follows at once, as in Python; a
/// thread that starts waiting after the `clear()` waits for the next `set()`.
///
/// ```
/// use std::time::Duration;
/// use conkit::threading::{self, Event};
///
/// // The seeds' "hot pot" example: guests wait until the pot boils.
/// static POT_BOILING: Event = Event::new();
///
/// let guests: Vec<_> = (0..3)
///     .map(|i| {
///         threading::spawn(move || {
///             POT_BOILING.wait();
///             i
///         })
///     })
///     .collect();
/// assert!(!POT_BOILING.wait_timeout(Duration::from_millis(1))); // not yet: `false`
/// POT_BOILING.set(); // wakes every guest
/// let served: u32 = guests.into_iter().map(|g| g.join().unwrap()).sum();
/// assert_eq!(served, 3);
/// assert!(POT_BOILING.wait_timeout(Duration::ZERO)); // set: returns `true` at once
/// POT_BOILING.clear();
/// assert!(!POT_BOILING.is_set());
/// ```
///
/// `W` is how a blocked caller sleeps, [`Futex`] unless written (see
/// [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)); an event with
/// another strategy is made by [`with_strategy`](Event::with_strategy).
#[repr(C)]
pub struct Event<W: InstantWait = Futex> {
    inner: CoreEvent<W>,
}

impl Event {
    /// An event whose flag is clear (Python: `threading.Event()`). `const`, so it can be
    /// a `static`.
    ///
    /// Makes the default `Event<Futex>`; [`with_strategy`](Event::with_strategy) makes
    /// one with another waiting strategy.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> Event<W> {
    /// An event whose flag is clear and whose waiters sleep with the strategy `W`.
    /// `const`, so it can be a `static`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use conkit::threading::Event;
    /// use conkit::wait::Parking;
    ///
    /// static READY: Event<Parking> = Event::with_strategy();
    /// assert!(!READY.wait_timeout(Duration::from_millis(1)));
    /// READY.set();
    /// assert!(READY.wait_timeout(Duration::ZERO));
    /// ```
    #[must_use]
    pub const fn with_strategy() -> Self {
        Self {
            inner: CoreEvent::new(),
        }
    }

    /// Sets the flag and wakes every waiter (Python: `set()`). Never waits.
    #[inline]
    pub fn set(&self) {
        self.inner.set();
    }

    /// Clears the flag; later [`wait`](Self::wait)s block until the next
    /// [`set`](Self::set) (Python: `clear()`).
    #[inline]
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Whether the flag is set (a snapshot; Python: `is_set()`).
    #[inline]
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.inner.is_set()
    }

    /// Waits until the flag is set; returns at once if it is (Python: `wait()`, which
    /// always returns `True`; here the return itself says a `set` was seen: the flag was
    /// set when it looked, or a `set` happened while it waited).
    #[inline]
    pub fn wait(&self) {
        self.inner.wait();
    }

    /// Awaits until the flag is set, in an async task (Python: `await ev.wait()` of an
    /// `asyncio.Event`); completes at once if it is set. A task parked when `set` is
    /// called completes even if the flag is cleared before it runs, as a thread does.
    /// Cancellation-safe (waiting consumes nothing). For a timeout, wrap it in the
    /// runtime's (`tokio::time::timeout`).
    ///
    /// ```
    /// use conkit::threading::Event;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     static READY: Event = Event::new();
    ///     let setter = std::thread::spawn(|| READY.set()); // a thread wakes the task
    ///     READY.wait_async().await;
    ///     setter.join().unwrap();
    ///     assert!(READY.is_set());
    /// }
    /// ```
    pub async fn wait_async(&self) {
        self.inner.wait_async().await;
    }

    /// Waits until the flag is set or `timeout` passes (Python 3.1+: `wait(timeout)`):
    /// `true` if the flag was set when it looked or a `set` happened while it waited
    /// (even if cleared since), `false` if it timed out.
    ///
    /// The timeout is a deadline: spurious wake-ups do not extend it. A zero timeout
    /// only looks; `Duration::MAX` saturates to decades (Python raises `OverflowError`
    /// above `threading.TIMEOUT_MAX`).
    #[inline]
    #[must_use = "`false` means the wait timed out with the flag clear"]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    /// Waits until the flag is set or `deadline` passes: `true` if the flag was set
    /// when it looked or a `set` happened while it waited, `false` if it timed out. A
    /// deadline that has passed only looks.
    #[inline]
    #[must_use = "`false` means the wait timed out with the flag clear"]
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.inner.wait_until(deadline)
    }
}

impl Default for Event {
    /// An event whose flag is clear.
    fn default() -> Self {
        Self::with_strategy()
    }
}

impl<W: InstantWait> fmt::Debug for Event<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
