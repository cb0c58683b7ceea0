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
//! # Every waiter present at a `set` returns
//! A waiter that is blocked when [`set`](Event::set) is called returns success even if
//! the flag is cleared again before it gets to run (`set(); clear()` releases every
//! waiter, as CPython's `Event` guarantees since gh-57711: its waiters are notified
//! under the condition's lock and return `True`). A waiter that starts after the
//! `clear` is not released by that `set`: it waits for the next one.
//!
//! # Algorithm and provenance
//! One `u32` word: bit 0 is the flag, bits 1..32 count the `set`s that raised it (a
//! generation, the "sequence number" trick of Linux's futex-based condition variables
//! and of Vyukov's eventcount). [`set`](Event::set) raises the flag and bumps the
//! generation in one compare-and-swap (only when the flag was clear), then notifies the
//! [`Waiters`] event count; [`clear`](Event::clear) is a
//! `fetch_and`. A waiter reads the word once; if the flag is clear it waits until the
//! flag is set *or the generation differs from the one it read*: a `set` happened after
//! it looked, whatever the flag says now. The generation has 31 bits: a waiter could
//! only miss a `set` if exactly 2³¹ `set`/`clear` pairs happened between two of its
//! looks.
//!
//! (Python's `Event` is a `Condition` plus a flag; `wait` returns what the condition's
//! `wait` returned, i.e. "I was notified". The generation is that fact without a lock
//! or a list of waiters, so the type stays a plain word valid in shared memory.)
//!
//! # Progress
//! `set`, `clear` and `is_set` are lock-free (`set`: a compare-and-swap loop that
//! retries only when another caller changed the word, then a wake-up check; `clear`:
//! one `fetch_and`; `is_set`: one load): legal in an interrupt handler. Waiting never
//! consumes the flag, and no wake-up is lost. If each occurrence must be consumed
//! exactly once, use [`EventFlags`](crate::event_flags::EventFlags) with clear-on-exit,
//! or a semaphore.
//!
//! # Participants that die
//! Between processes (a process-shared strategy such as `SharedFutex`): a waiter killed
//! asleep or just woken costs nothing (`set` wakes every waiter); a setter killed
//! between its change of the flag and its wake-up delays the waiters by at most one
//! sleep slice (at most 16 ms with `SharedFutex`). The flag itself is one word changed in one
//! atomic step: a dead process never leaves it half-set. Nothing hangs but a `wait`
//! without deadline for a `set` that nobody will make.
//!
//! # When to use / when not
//! Use it for one-shot or level-triggered signals: "initialisation done", "stop
//! requested", "link is up". For several related signals use
//! [`EventFlags`](crate::event_flags::EventFlags); to count events use a
//! [`Semaphore`](crate::semaphore::Semaphore).
//!
//! # Async
//! With the `async` feature, [`Event::wait_async`] awaits the flag directly, with the
//! same guarantee (a task parked at a `set` completes even if the flag is cleared
//! before it is polled); every `set` wakes it, whoever calls it (see "Async tasks" in
//! [`Waiters`]). The older wrapper `asynch::Async<Event<W>, K>` still offers
//! `wait().await`, forwarding to `wait_async` (its waker set is no longer used).

use core::fmt;

use crate::atomic::{maybe_const_fn, word_update, AtomicU32, Ordering};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// The flag's bit in the word; the other 31 bits count the `set`s that raised it.
const FLAG: u32 = 1;
/// One step of the generation (bits 1..32).
const GENERATION: u32 = 2;

/// A one-bit event (Python's `threading.Event`), generic over how a blocked caller
/// waits (`W`, [`DefaultWait`] by default: spinning without the `std` feature, a futex
/// with it). See the [module docs](self).
///
/// Layout: one `u32` (flag and generation) plus the two `u32` words of [`Waiters`];
/// no pointers.
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
#[repr(C)]
pub struct Event<W: WaitStrategy = DefaultWait> {
    /// Bit 0: the flag; bits 1..32: how many `set`s raised it (wrapping).
    word: AtomicU32,
    waiters: Waiters<W>,
}

// SAFETY: `Event` holds only atomics (its word and the `Waiters` words); `W` is a
// zero-sized strategy used only through associated functions and never stored.
unsafe impl<W: WaitStrategy> Sync for Event<W> {}
// SAFETY: as above: no `W` value is ever stored.
unsafe impl<W: WaitStrategy> Send for Event<W> {}

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

/// What one waiter saw when it started: the word, whose generation tells later looks
/// whether a `set` happened since.
#[derive(Clone, Copy)]
struct Seen(u32);

impl Seen {
    /// `Some` once the flag is set now, or was raised by a `set` after this look.
    #[cfg(not(conkit_mutant = "event_no_generation"))]
    #[inline]
    fn released_by(self, now: u32) -> Option<()> {
        (now & FLAG != 0 || (now ^ self.0) & !FLAG != 0).then_some(())
    }

    /// Mutant for the loom models: the generation ignored, a woken waiter only sees the
    /// live flag (the behaviour before the gh-57711 fix).
    #[cfg(conkit_mutant = "event_no_generation")]
    #[inline]
    fn released_by(self, now: u32) -> Option<()> {
        let _ = self.0;
        (now & FLAG != 0).then_some(())
    }
}

impl<W: WaitStrategy> Event<W> {
    maybe_const_fn! {
        /// An event whose flag is clear.
        pub fn new() -> Self {
            Self {
                word: AtomicU32::new(0),
                waiters: Waiters::new(),
            }
        }
    }

    /// Sets the flag and wakes every waiter. Never waits: legal in an interrupt handler.
    ///
    /// Every caller blocked in [`wait`](Self::wait) at this point returns success,
    /// even if the flag is cleared before it runs.
    #[inline]
    pub fn set(&self) {
        let raised = word_update(&self.word, Ordering::AcqRel, |w| {
            (w & FLAG == 0).then(|| (w | FLAG).wrapping_add(GENERATION))
        });
        if raised.is_ok() {
            self.waiters.notify_all();
        }
    }

    /// Clears the flag; later [`wait`](Self::wait)s block until the next `set`.
    #[inline]
    pub fn clear(&self) {
        self.clear_flag();
    }

    /// `fetch_and` on the flag bit (a critical section on cores without atomic
    /// read-modify-write, as [`word_update`]).
    #[inline]
    fn clear_flag(&self) {
        #[cfg(any(loom, feature = "portable-atomic", target_has_atomic = "32"))]
        self.word.fetch_and(!FLAG, Ordering::AcqRel);
        #[cfg(not(any(loom, feature = "portable-atomic", target_has_atomic = "32")))]
        let _ = word_update(&self.word, Ordering::AcqRel, |w| Some(w & !FLAG));
    }

    /// Whether the flag is set (a snapshot).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.word.load(Ordering::Acquire) & FLAG != 0
    }

    /// The look a waiter starts from (see [`Seen`]).
    #[inline]
    fn look(&self) -> Seen {
        Seen(self.word.load(Ordering::Acquire))
    }

    /// Waits (with strategy `W`) until the flag is set; returns at once if it is.
    /// Returns also when a `set` happened while it waited and the flag was cleared
    /// again before it ran (see the [module docs](self)).
    #[inline]
    pub fn wait(&self) {
        let seen = self.look();
        if seen.0 & FLAG != 0 {
            return;
        }
        self.waiters
            .wait(|| seen.released_by(self.word.load(Ordering::Acquire)));
    }

    /// Waits until the flag is set or `deadline` passes (Python's `wait(timeout)`):
    /// `true` if the flag was set when it looked or a `set` happened while it waited
    /// (even if cleared since), `false` if it timed out.
    #[inline]
    pub fn wait_until(&self, deadline: W::Deadline) -> bool {
        let seen = self.look();
        if seen.0 & FLAG != 0 {
            return true;
        }
        self.waiters
            .wait_until(Some(deadline), || {
                seen.released_by(self.word.load(Ordering::Acquire))
            })
            .is_some()
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy> Event<W> {
    /// Awaits until the flag is set; completes at once if it is (feature `async`). A
    /// task parked when `set` is called completes even if the flag is cleared before
    /// it is polled again, as a blocked thread does. Woken by every `set` — a task's,
    /// a thread's, an interrupt handler's. Cancellation-safe (waiting consumes
    /// nothing).
    ///
    /// ```
    /// use conkit_core::event::Event;
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
    /// # }
    ///
    /// static READY: Event = Event::new();
    /// READY.set();
    /// block_on(READY.wait_async());
    /// ```
    pub fn wait_async(&self) -> impl core::future::Future<Output = ()> + '_ {
        let mut seen: Option<Seen> = None;
        self.waiters.wait_async(move || {
            let now = self.word.load(Ordering::Acquire);
            match seen {
                Some(s) => s.released_by(now),
                None if now & FLAG != 0 => Some(()),
                None => {
                    seen = Some(Seen(now));
                    None
                }
            }
        })
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> crate::asynch::Async<Event<W>, K> {
    /// Awaits until the flag is set; completes at once if it is. A task parked when
    /// `set` is called completes even if the flag is cleared before it is polled
    /// again (the generation it saw at its first poll has changed). Cancellation-safe
    /// (waiting consumes nothing).
    ///
    /// Forwards to [`Event::wait_async`]: a `set` by a thread, an interrupt or the inner
    /// event wakes it too.
    pub async fn wait(&self) {
        self.inner().wait_async().await;
    }

    /// Sets the flag, waking parked tasks and blocked callers. Never waits (legal in an
    /// interrupt handler).
    pub fn set(&self) {
        // The event's own `set` wakes the tasks parked on it (nothing parks in the
        // wrapper's set any more).
        self.inner().set();
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
