//! Event flags: a group of 32 independent one-bit events that tasks, threads and
//! interrupt handlers set, clear and wait on — any of a mask, or all of it, optionally
//! consuming the bits that satisfied the wait.
//!
//! This is the primitive behind FreeRTOS event groups, CMSIS-RTOS2 `osEventFlags` and
//! Zephyr's `k_event`, as a plain `no_std` struct of atomics: a `static`, no kernel, no
//! allocation, usable from firmware, OS threads, OS processes (in shared memory with a
//! process-shared strategy) and async tasks alike.
//!
//! ```
//! use conkit_core::event_flags::{EventFlags, WaitFlags};
//!
//! const RX_DONE: u32 = 1 << 0;
//! const TX_DONE: u32 = 1 << 1;
//! const ERROR: u32 = 1 << 7;
//!
//! static UART: EventFlags = EventFlags::new();
//!
//! // The interrupt handler only sets bits: O(1), lock-free, never waits.
//! fn uart_isr(status: u32) {
//!     if status & 0b01 != 0 {
//!         UART.set(RX_DONE);
//!     }
//!     if status & 0b10 != 0 {
//!         UART.set(TX_DONE);
//!     }
//! }
//!
//! # fn main() {
//! // The application task waits for "either transfer done, or an error", consuming
//! // the bits it saw (clear-on-exit), and learns which ones from the return value.
//! let isr = std::thread::spawn(|| uart_isr(0b11)); // stands in for the hardware
//! let seen = UART.wait(RX_DONE | TX_DONE | ERROR, WaitFlags::ANY_CLEAR).unwrap();
//! assert!(seen & (RX_DONE | TX_DONE) != 0);
//! isr.join().unwrap();
//!
//! // Wait for both transfers (wait-all), then leave the bits set (no clear).
//! UART.set(RX_DONE | TX_DONE);
//! assert_eq!(UART.wait_all(RX_DONE | TX_DONE), Ok(RX_DONE | TX_DONE));
//! assert_eq!(UART.get(), RX_DONE | TX_DONE);
//! # }
//! ```
//!
//! # Semantics, compared
//!
//! | | `EventFlags` | FreeRTOS event group | CMSIS-RTOS2 `osEventFlags` | Zephyr `k_event` |
//! |---|---|---|---|---|
//! | usable bits | 32 | 24 (8 with 16-bit ticks) | 31 (bit 31 flags errors) | 32 |
//! | set | [`set`](EventFlags::set) → flags after | `xEventGroupSetBits` | `osEventFlagsSet` → flags after | `k_event_post` |
//! | set from an ISR | `set`, O(1), direct | `…FromISR`, deferred to the timer task | `osEventFlagsSet` | `k_event_post` |
//! | clear | [`clear`](EventFlags::clear) → flags before | `xEventGroupClearBits` → before | `osEventFlagsClear` → before | `k_event_clear` |
//! | wait any / all | [`WaitFlags::all`] | `xWaitForAllBits` | `osFlagsWaitAll` | `k_event_wait` / `_all` |
//! | clear on exit | [`WaitFlags::clear_on_exit`], atomic with the check | `xClearOnExit` | default unless `osFlagsNoClear` | `reset` clears *before* waiting |
//! | returns | flags that satisfied the wait, before clearing | same | same | the matching events only |
//! | errors | typed [`FlagsError`] | a value without the bits | negative `osFlagsError…` codes | `0` |
//! | rendezvous | [`sync`](EventFlags::sync) | `xEventGroupSync` | — | — |
//!
//! Differences worth knowing when porting:
//!
//! * **Clear-on-exit consumes.** The check and the clearing are one compare-and-swap,
//!   so when two callers wait for the same bit with clear-on-exit, *exactly one* gets
//!   each `set` of it (like CMSIS RTX5, which clears per woken thread). FreeRTOS instead
//!   unblocks every waiter satisfied by a `set` and clears afterwards, so there both
//!   would return. Without clear-on-exit every satisfied waiter returns, as everywhere.
//! * **No bits are reserved**: all 32 are yours, because errors are a typed
//!   `Result`, not in-band values.
//! * **`mask == 0` is an error** ([`FlagsError::EmptyMask`]), not a wait that can never
//!   (or always) be satisfied.
//! * **Setting from an interrupt is direct.** There is no list of waiters to walk: `set`
//!   is one `fetch_or` plus (with a sleeping strategy) a wake of the sleepers, who
//!   re-check their own masks. FreeRTOS defers this walk to its daemon task because it
//!   is unbounded.
//!
//! # Algorithm and provenance
//! One `AtomicU32` holds the flags. [`set`](EventFlags::set) is `fetch_or`,
//! [`clear`](EventFlags::clear) is `fetch_and`; a wait is a predicate on the word
//! (`flags & mask != 0`, or `flags & mask == mask`), and a clear-on-exit wait turns the
//! successful check into a compare-and-swap `flags -> flags & !mask` that is retried
//! if the word changed. Blocking waits go through the [`Waiters`] event count (Vyukov's
//! eventcount): waiters check, announce themselves, re-check, sleep; `set` and `clear`
//! notify *all* sleepers, because waiters on different masks are not interchangeable.
//! The rendezvous [`sync`](EventFlags::sync) follows `xEventGroupSync`: each party sets
//! its bits; the party whose bits complete the wait mask clears the whole mask in the
//! same compare-and-swap; the others wait until their own bits have been cleared.
//!
//! # Progress
//! * `set`, `clear`, `get`, `try_wait` are **lock-free** (`set`/`clear` are one atomic
//!   read-modify-write each, `get` one load; a clear-on-exit `try_wait` retries its
//!   compare-and-swap only when another caller changed the word). They never wait:
//!   legal in interrupt handlers. On cores without atomic read-modify-write (thumbv6m,
//!   with the `portable-atomic` feature) each of them is a short critical section.
//! * Blocking waits (`wait`, `wait_until`, `sync`) sleep with the strategy `W`; the
//!   async front end parks the task's waker.
//! * Waits are **not fair**: there is no FIFO of waiters, so among clear-on-exit waiters
//!   for the same bit any one may win each `set`.
//!
//! # When to use / when not
//! Use it to signal *conditions* (a peripheral became ready, a stage finished, a stop
//! was requested) to one or many waiters, up to 32 per object, from any context. A
//! flag is a bit, not a counter: two `set`s before a consuming wait are seen once. To
//! count occurrences use a [`Semaphore`](crate::semaphore::Semaphore); to pass data use
//! a queue; for a single flag use [`Event`](crate::event::Event) (built on this type).
//!
//! # Async
//! With the `async` feature, `asynch::Async<EventFlags<W>, K>` adds
//! `wait(mask, opts).await`, `wait_any`, `wait_all`, and `set`/`clear` that also wake
//! parked tasks. Bits set directly on the inner `EventFlags` do not wake async tasks.

use core::fmt;

use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::{Spin, WaitStrategy, Waiters};

/// How a wait on [`EventFlags`] is satisfied and what it does to the flags.
///
/// `all: false` waits for *any* bit of the mask, `all: true` for *all* of them;
/// `clear_on_exit: true` clears the mask's bits, atomically with the successful check.
///
/// ```
/// use conkit_core::event_flags::WaitFlags;
///
/// assert_eq!(WaitFlags::new().all(true).clear_on_exit(true), WaitFlags::ALL_CLEAR);
/// assert_eq!(WaitFlags::default(), WaitFlags::ANY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WaitFlags {
    /// Wait for all bits of the mask (`true`) or any of them (`false`).
    pub all: bool,
    /// Clear the mask's bits when the wait is satisfied (atomically with the check).
    pub clear_on_exit: bool,
}

impl WaitFlags {
    /// Any bit of the mask; leave the flags alone (`osFlagsWaitAny | osFlagsNoClear`).
    pub const ANY: Self = Self {
        all: false,
        clear_on_exit: false,
    };
    /// All bits of the mask; leave the flags alone (`osFlagsWaitAll | osFlagsNoClear`).
    pub const ALL: Self = Self {
        all: true,
        clear_on_exit: false,
    };
    /// Any bit of the mask, then clear the mask's bits (`osFlagsWaitAny`).
    pub const ANY_CLEAR: Self = Self {
        all: false,
        clear_on_exit: true,
    };
    /// All bits of the mask, then clear them (`osFlagsWaitAll`).
    pub const ALL_CLEAR: Self = Self {
        all: true,
        clear_on_exit: true,
    };

    /// [`ANY`](Self::ANY): wait for any bit, no clearing.
    pub const fn new() -> Self {
        Self::ANY
    }

    /// Sets whether all bits of the mask are needed (`true`) or any (`false`).
    #[must_use]
    pub const fn all(self, all: bool) -> Self {
        Self { all, ..self }
    }

    /// Sets whether the mask's bits are cleared when the wait is satisfied.
    #[must_use]
    pub const fn clear_on_exit(self, clear_on_exit: bool) -> Self {
        Self {
            clear_on_exit,
            ..self
        }
    }

    /// Whether `flags` satisfies a wait for `mask` (`mask != 0`).
    #[inline]
    const fn satisfied_by(self, flags: u32, mask: u32) -> bool {
        if self.all {
            flags & mask == mask
        } else {
            flags & mask != 0
        }
    }
}

/// Why a wait on [`EventFlags`] returned without being satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlagsError {
    /// The mask was `0`: no flag could ever satisfy (or trivially satisfies) the wait.
    /// For [`sync`](EventFlags::sync): no bit is both set and waited for.
    EmptyMask,
    /// [`try_wait`](EventFlags::try_wait): the flags do not satisfy the wait now
    /// (CMSIS `osFlagsErrorResource`).
    WouldBlock,
    /// The deadline passed before the flags satisfied the wait (CMSIS
    /// `osFlagsErrorTimeout`).
    Timeout,
}

impl fmt::Display for FlagsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlagsError::EmptyMask => "empty event flag mask",
            FlagsError::WouldBlock => "event flags not set",
            FlagsError::Timeout => "timed out waiting for event flags",
        })
    }
}

impl core::error::Error for FlagsError {}

/// A group of 32 event flags (see the [module docs](self)), generic over how a blocked
/// caller waits (`W`, [`Spin`] by default).
///
/// Layout: one `u32` of flags plus the two `u32` words of [`Waiters`]; no pointers.
///
/// ```
/// use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
///
/// static FLAGS: EventFlags = EventFlags::with_flags(0b100);
///
/// assert_eq!(FLAGS.set(0b001), 0b101); // flags after setting
/// assert_eq!(FLAGS.try_wait(0b011, WaitFlags::ALL), Err(FlagsError::WouldBlock));
/// assert_eq!(FLAGS.try_wait(0b011, WaitFlags::ANY_CLEAR), Ok(0b101)); // before clearing
/// assert_eq!(FLAGS.get(), 0b100);
/// assert_eq!(FLAGS.clear(0b110), 0b100); // flags before clearing
/// assert_eq!(FLAGS.wait_any(0), Err(FlagsError::EmptyMask));
/// ```
pub struct EventFlags<W: WaitStrategy = Spin> {
    flags: AtomicU32,
    waiters: Waiters<W>,
}

// SAFETY: `EventFlags` holds only atomics (the flags and the `Waiters` words); `W` is a
// zero-sized strategy used only through associated functions and never stored, so
// sharing or sending an `EventFlags` never shares or sends a `W` value.
unsafe impl<W: WaitStrategy> Sync for EventFlags<W> {}
// SAFETY: as above: no `W` value is ever stored.
unsafe impl<W: WaitStrategy> Send for EventFlags<W> {}

impl<W: WaitStrategy> fmt::Debug for EventFlags<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventFlags")
            .field("flags", &format_args!("{:#034b}", self.get()))
            .field("sleepers", &self.waiters.sleepers())
            .finish()
    }
}

impl<W: WaitStrategy> Default for EventFlags<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> EventFlags<W> {
    maybe_const_fn! {
        /// All flags clear.
        pub fn new() -> Self {
            Self::with_flags(0)
        }
    }

    maybe_const_fn! {
        /// The flags start as `flags`.
        pub fn with_flags(flags: u32) -> Self {
            Self {
                flags: AtomicU32::new(flags),
                waiters: Waiters::new(),
            }
        }
    }

    /// Sets the bits of `mask` and wakes the waiters; returns the flags just after
    /// setting (as `osEventFlagsSet`; a clear-on-exit waiter may consume them at once).
    ///
    /// Never waits: legal in an interrupt handler. `mask == 0` changes nothing.
    #[inline]
    pub fn set(&self, mask: u32) -> u32 {
        let before = self.flags.fetch_or(mask, Ordering::AcqRel);
        if before | mask != before {
            self.waiters.notify_all();
        }
        before | mask
    }

    /// Clears the bits of `mask`; returns the flags just *before* clearing (as
    /// `osEventFlagsClear` and `xEventGroupClearBits`).
    ///
    /// Never waits: legal in an interrupt handler. (It wakes sleepers too, because
    /// the parties of a [`sync`](Self::sync) wait for their bits to be cleared.)
    #[inline]
    pub fn clear(&self, mask: u32) -> u32 {
        let before = self.flags.fetch_and(!mask, Ordering::AcqRel);
        if before & mask != 0 {
            self.waiters.notify_all();
        }
        before
    }

    /// The current flags (a snapshot).
    #[inline]
    pub fn get(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// Checks the wait condition once; never waits (legal in an interrupt handler).
    ///
    /// On success returns the flags that satisfied it, before any clearing; with
    /// `opts.clear_on_exit` the bits of `mask` are cleared in the same atomic step, so
    /// of several callers racing for a bit exactly one gets it.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`; [`FlagsError::WouldBlock`] if the
    /// flags do not satisfy the wait now.
    #[inline]
    pub fn try_wait(&self, mask: u32, opts: WaitFlags) -> Result<u32, FlagsError> {
        if mask == 0 {
            return Err(FlagsError::EmptyMask);
        }
        let mut current = self.flags.load(Ordering::Acquire);
        loop {
            if !opts.satisfied_by(current, mask) {
                return Err(FlagsError::WouldBlock);
            }
            if !opts.clear_on_exit {
                return Ok(current);
            }
            match self.flags.compare_exchange_weak(
                current,
                current & !mask,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(current),
                Err(now) => current = now,
            }
        }
    }

    /// Waits (with strategy `W`) until the flags satisfy the wait; returns the flags
    /// that satisfied it, before any clearing (see [`try_wait`](Self::try_wait)).
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0` (at once, instead of waiting forever).
    pub fn wait(&self, mask: u32, opts: WaitFlags) -> Result<u32, FlagsError> {
        self.wait_inner(mask, opts, None)
    }

    /// As [`wait`](Self::wait), giving up at `deadline`.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`; [`FlagsError::Timeout`] if the
    /// deadline passed first (nothing is cleared then).
    pub fn wait_until(
        &self,
        mask: u32,
        opts: WaitFlags,
        deadline: W::Deadline,
    ) -> Result<u32, FlagsError> {
        self.wait_inner(mask, opts, Some(deadline))
    }

    /// Waits until any bit of `mask` is set, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub fn wait_any(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait(mask, WaitFlags::ANY)
    }

    /// Waits until all bits of `mask` are set, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub fn wait_all(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait(mask, WaitFlags::ALL)
    }

    fn wait_inner(
        &self,
        mask: u32,
        opts: WaitFlags,
        deadline: Option<W::Deadline>,
    ) -> Result<u32, FlagsError> {
        if mask == 0 {
            return Err(FlagsError::EmptyMask);
        }
        self.waiters
            .wait_until(deadline, || self.try_wait(mask, opts).ok())
            .ok_or(FlagsError::Timeout)
    }

    /// A rendezvous (FreeRTOS `xEventGroupSync`): sets `set_mask`, then waits until all
    /// bits of `wait_mask` have been set by the parties, and clears them.
    ///
    /// Each party sets its own bit(s) and all wait for the same `wait_mask`: the party
    /// whose bits complete `wait_mask` clears it in the same atomic step and returns at
    /// once; the others return when they see their own bits cleared. Returns the flags
    /// with all of `wait_mask` set (the completing party sees the exact word; the others
    /// get the current flags with `wait_mask` or-ed in). The group can be reused for the
    /// next round at once.
    ///
    /// The bits a party owns are `set_mask & wait_mask`; nobody else may set or clear
    /// them during the rendezvous (a `clear` of them looks like completion).
    ///
    /// ```
    /// use conkit_core::event_flags::EventFlags;
    ///
    /// static STAGES: EventFlags = EventFlags::new();
    /// let other = std::thread::spawn(|| STAGES.sync(0b01, 0b11));
    /// assert_eq!(STAGES.sync(0b10, 0b11).unwrap() & 0b11, 0b11);
    /// assert_eq!(other.join().unwrap().unwrap() & 0b11, 0b11);
    /// assert_eq!(STAGES.get(), 0);
    /// ```
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `set_mask & wait_mask == 0` (this party would own no
    /// bit of the rendezvous).
    pub fn sync(&self, set_mask: u32, wait_mask: u32) -> Result<u32, FlagsError> {
        self.sync_inner(set_mask, wait_mask, None)
    }

    /// As [`sync`](Self::sync), giving up at `deadline`. A party that gives up takes
    /// its own bits back (unless the rendezvous completed meanwhile, which then counts
    /// as success), so a later round is not completed by a party that left.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] as for `sync`; [`FlagsError::Timeout`] if the other
    /// parties did not all arrive before `deadline`.
    pub fn sync_until(
        &self,
        set_mask: u32,
        wait_mask: u32,
        deadline: W::Deadline,
    ) -> Result<u32, FlagsError> {
        self.sync_inner(set_mask, wait_mask, Some(deadline))
    }

    fn sync_inner(
        &self,
        set_mask: u32,
        wait_mask: u32,
        deadline: Option<W::Deadline>,
    ) -> Result<u32, FlagsError> {
        let own = set_mask & wait_mask;
        if own == 0 {
            return Err(FlagsError::EmptyMask);
        }
        // Arrive: set our bits; the arrival that completes `wait_mask` clears it in the
        // same step.
        let mut current = self.flags.load(Ordering::Acquire);
        loop {
            let arrived = current | set_mask;
            let complete = arrived & wait_mask == wait_mask;
            let next = if complete {
                arrived & !wait_mask
            } else {
                arrived
            };
            match self.flags.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if next != current {
                        self.waiters.notify_all();
                    }
                    if complete {
                        return Ok(arrived);
                    }
                    break;
                }
                Err(now) => current = now,
            }
        }
        // Wait for the completing party to clear our bits.
        let completed = || {
            let flags = self.flags.load(Ordering::Acquire);
            (flags & own == 0).then_some(flags | wait_mask)
        };
        if let Some(flags) = self.waiters.wait_until(deadline, completed) {
            return Ok(flags);
        }
        // Timed out: take our bits back, unless the rendezvous completed just now.
        let mut current = self.flags.load(Ordering::Acquire);
        loop {
            if current & own == 0 {
                return Ok(current | wait_mask);
            }
            match self.flags.compare_exchange_weak(
                current,
                current & !own,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Err(FlagsError::Timeout),
                Err(now) => current = now,
            }
        }
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> crate::asynch::Async<EventFlags<W>, K> {
    /// Awaits until the flags satisfy the wait; returns the flags that satisfied it,
    /// before any clearing.
    ///
    /// Cancellation-safe: the check and the clear-on-exit are one atomic step taken
    /// during a poll, so a dropped future has consumed nothing.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait(&self, mask: u32, opts: WaitFlags) -> Result<u32, FlagsError> {
        if mask == 0 {
            return Err(FlagsError::EmptyMask);
        }
        let flags = core::future::poll_fn(|cx| {
            self.wakers()
                .poll_until(cx, || self.inner().try_wait(mask, opts).ok())
        })
        .await;
        Ok(flags)
    }

    /// Awaits any bit of `mask`, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait_any(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait(mask, WaitFlags::ANY).await
    }

    /// Awaits all bits of `mask`, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait_all(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait(mask, WaitFlags::ALL).await
    }

    /// Sets the bits of `mask`, waking parked tasks and blocked callers; returns the
    /// flags just after setting. Never waits (legal in an interrupt handler).
    pub fn set(&self, mask: u32) -> u32 {
        let after = self.inner().set(mask);
        self.wakers().wake_all();
        after
    }

    /// Clears the bits of `mask`; returns the flags just before clearing.
    pub fn clear(&self, mask: u32) -> u32 {
        self.inner().clear(mask)
    }

    /// The current flags (a snapshot).
    pub fn get(&self) -> u32 {
        self.inner().get()
    }
}
