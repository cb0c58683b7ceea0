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
//! * **A waiter satisfied by a `set` returns even if the bits are cleared before it
//!   runs** (FreeRTOS releases waiters inside `xEventGroupSetBits`; here a waiter that
//!   wakes to find its bits gone looks them up in a short history of what the cleared
//!   bits were, see below). The history holds the last [`HISTORY`] removals: a waiter
//!   that is kept from running while more than [`HISTORY`] removals happen may miss a
//!   `set` that came and went among the oldest of them, and then waits for the next
//!   one. Clear-on-exit waits only ever succeed by consuming bits that are set when
//!   they look (a `set` consumed by another waiter, or cleared, is gone for them).
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
//! **The removal history** (what releases a waiter whose bits were cleared before it
//! ran). The flags share one 64-bit word with an *epoch*: the number of removals of
//! bits so far. Every operation that may remove bits (`clear`, a clear-on-exit wait, a
//! `sync` that completes or withdraws) is one compare-and-swap that changes the flags
//! and bumps the epoch together; then it writes the flags it replaced into
//! `history[epoch % HISTORY]` (tagged with the epoch, published like a seqlock) and
//! wakes the sleepers. `set` only or-s bits in and leaves the epoch alone, so between
//! two removals the flags only grow, and the flags a removal replaced are the most that
//! was set since the previous one. A non-consuming waiter whose condition does not hold
//! notes the epoch of the word it looked at; from then on, besides the live flags, it
//! accepts any history entry of that epoch or a later one that satisfies its condition.
//! Why that is exact: a satisfying state that appeared after its look is either still
//! there, or the first removal after it replaced a superset of it (the flags only grew
//! in between), and that removal's epoch is at least the one it noted. Why it never
//! reports a state that did not exist while it waited: such an entry was written by a
//! removal that came after its look, from the flags that removal replaced. This is the
//! generation idea of [`Event`](crate::event::Event) (and of Linux's futex condition
//! variables) extended to 32 bits, with a bounded history instead of a list of
//! waiters, so the type stays a plain struct of atomics.
//!
//! # Progress
//! * `set`, `clear`, `get`, `try_wait` are **lock-free** on cores with 64-bit atomics
//!   (x86-64, AArch64, wasm32: `set` is one `fetch_or`, `get` one load; a `clear` that
//!   removes bits, or a clear-on-exit `try_wait` that succeeds, is a compare-and-swap
//!   retried only when another caller changed the word, plus a history write). They
//!   never wait: legal in interrupt handlers. On cores without 64-bit atomics
//!   (Cortex-M, RV32) the word's operations are each a short critical section (as
//!   everything is on thumbv6m with the `portable-atomic` feature): still legal in
//!   interrupt handlers, never waiting.
//! * Blocking waits (`wait`, `wait_until`, `sync`) sleep with the strategy `W`; the
//!   async front end parks the task's waker.
//! * Waits are **not fair**: there is no FIFO of waiters, so among clear-on-exit waiters
//!   for the same bit any one may win each `set`.
//!
//! # Participants that die
//! Between processes (a process-shared strategy such as `SharedFutex`):
//! * a waiter killed asleep or just woken costs nothing: every change wakes every
//!   waiter; a changer killed between its change and its wake-up delays the waiters by
//!   at most one sleep slice (at most 16 ms with `SharedFutex`);
//! * a changer killed between a removal and writing its [`HISTORY`] entry leaves that
//!   entry unwritten: a waiter that only that removed state satisfied (set, then
//!   cleared before it looked) is not released by it and keeps waiting for the live
//!   flags (or its deadline), as a waiter does once the history has moved on;
//! * a [`sync`](EventFlags::sync) party killed before arriving: the others' `sync_until`
//!   returns [`FlagsError::Timeout`] by its deadline (taking their bits back); killed
//!   after arriving, its bits stay set and count for the round (or the next one:
//!   clear them when you learn it died).
//!
//! The flags are one word changed in one atomic step: nothing is left half-done.
//! Nothing hangs but a wait without deadline for flags nobody will set.
//!
//! # When to use / when not
//! Use it to signal *conditions* (a peripheral became ready, a stage finished, a stop
//! was requested) to one or many waiters, up to 32 per object, from any context. A
//! flag is a bit, not a counter: two `set`s before a consuming wait are seen once. To
//! count occurrences use a [`Semaphore`](crate::semaphore::Semaphore); to pass data use
//! a queue; for a single flag use [`Event`](crate::event::Event) (the same idea in one
//! 32-bit word, without a history bound).
//!
//! # Async
//! With the `async` feature, [`EventFlags::wait_async`] (and `wait_any_async`,
//! `wait_all_async`) awaits on the flags themselves: the task parks on the same
//! [`Waiters`] the blocking callers sleep on ("Async tasks" there), so every `set` or
//! `clear` — by a task, a thread, or an interrupt handler — wakes it. The older wrapper
//! `asynch::Async<EventFlags<W>, K>` (`wait(mask, opts).await`, `wait_any`, `wait_all`,
//! `set`, `clear`) forwards to these forms.

use core::fmt;

use crate::atomic::{fence, maybe_const_fn, AtomicU32, AtomicU64, Ordering};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// How many past removals of bits an [`EventFlags`] remembers (see the
/// [module docs](self)): a waiter whose condition a `set` met returns even if the bits
/// are cleared before it runs, as long as at most this many removals (`clear`s,
/// clear-on-exit waits, `sync` completions) happen before it gets to look.
pub const HISTORY: usize = 4;

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
/// caller waits (`W`, [`DefaultWait`] by default: spinning without the `std` feature, a
/// futex with it).
///
/// Layout: no pointers; a `u64` (the flags and the removal epoch), the removal history
/// (`2 × HISTORY` `u32` words) and the two `u32` words of [`Waiters`] (48 bytes).
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
#[repr(C)]
pub struct EventFlags<W: WaitStrategy = DefaultWait> {
    /// Low 32 bits: the flags; high 32 bits: the epoch, how many removals of bits
    /// happened (wrapping).
    word: AtomicU64,
    /// `history[e % HISTORY]`: the flags that removal `e` replaced.
    history: [Entry; HISTORY],
    waiters: Waiters<W>,
}

/// The flags of a packed word.
#[inline]
const fn flags_of(word: u64) -> u32 {
    word as u32
}

/// The epoch of a packed word.
#[inline]
const fn epoch_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// A packed word.
#[inline]
const fn pack(epoch: u32, flags: u32) -> u64 {
    (epoch as u64) << 32 | flags as u64
}

/// One history entry: the flags a removal found, tagged with its epoch (a seqlock:
/// `epoch << 1` while it is written, `epoch << 1 | 1` once it is complete).
#[repr(C)]
struct Entry {
    tag: AtomicU32,
    flags: AtomicU32,
}

impl Entry {
    maybe_const_fn! {
        /// An entry no epoch has written (tag `0`: "epoch 0 being written").
        fn new() -> Self {
            Self { tag: AtomicU32::new(0), flags: AtomicU32::new(0) }
        }
    }

    /// The tag of epoch `epoch`'s complete entry.
    #[inline]
    const fn done(epoch: u32) -> u32 {
        epoch << 1 | 1
    }

    /// Writes `flags` as epoch `epoch`'s entry.
    #[inline]
    fn write(&self, epoch: u32, flags: u32) {
        self.tag.store(epoch << 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.flags.store(flags, Ordering::Relaxed);
        self.tag.store(Self::done(epoch), Ordering::Release);
    }

    /// Epoch `epoch`'s entry, if it is complete and not overwritten.
    #[inline]
    fn read(&self, epoch: u32) -> Option<u32> {
        if self.tag.load(Ordering::Acquire) != Self::done(epoch) {
            return None;
        }
        let flags = self.flags.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.tag.load(Ordering::Relaxed) == Self::done(epoch)).then_some(flags)
    }
}

/// An empty history (a `const fn` natively; loom's atomics have no `const fn new`).
#[cfg(not(loom))]
const fn empty_history() -> [Entry; HISTORY] {
    [const { Entry::new() }; HISTORY]
}

/// An empty history (a `const fn` natively; loom's atomics have no `const fn new`).
#[cfg(loom)]
fn empty_history() -> [Entry; HISTORY] {
    core::array::from_fn(|_| Entry::new())
}

/// One wait in progress: its condition and, for a non-consuming wait that did not
/// succeed at once, the epoch it first looked at (see the [module docs](self)).
struct Watch {
    mask: u32,
    opts: WaitFlags,
    since: Option<u32>,
}

impl Watch {
    fn new(mask: u32, opts: WaitFlags) -> Self {
        Self {
            mask,
            opts,
            since: None,
        }
    }

    /// Checks the condition once: `Some(flags)` when it is met now, or (non-consuming
    /// waits) was met by flags that a removal replaced since this wait first looked.
    fn check<W: WaitStrategy>(&mut self, group: &EventFlags<W>) -> Option<u32> {
        if self.opts.clear_on_exit {
            return group.try_wait(self.mask, self.opts).ok();
        }
        let (mask, opts) = (self.mask, self.opts);
        let word = group.word.load(Ordering::Acquire);
        let flags = flags_of(word);
        if opts.satisfied_by(flags, mask) {
            return Some(flags);
        }
        let epoch = epoch_of(word);
        match self.since {
            Some(since) => group.recall(since, epoch, |f| opts.satisfied_by(f, mask)),
            None => {
                self.since = Some(epoch);
                None
            }
        }
    }
}

// SAFETY: `EventFlags` holds only atomics (its word, the history entries and the
// `Waiters` words); `W` is a zero-sized strategy used only through associated functions
// and never stored, so sharing or sending an `EventFlags` never shares or sends a `W`.
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
                word: AtomicU64::new(pack(0, flags)),
                history: empty_history(),
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
        let before = flags_of(self.word.fetch_or(u64::from(mask), Ordering::AcqRel));
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
        match self.change(|flags| (flags & mask != 0).then_some(flags & !mask)) {
            Ok(before) | Err(before) => before,
        }
    }

    /// One change of the flags that may remove bits: a compare-and-swap loop in which
    /// `update` maps the current flags to the new ones (`None`: leave them). A change
    /// that removes bits bumps the epoch in the same step, then records the replaced
    /// flags in the history; any change wakes the sleepers. Returns `Ok(flags
    /// replaced)`, or `Err(flags seen)` when `update` declined.
    fn change(&self, mut update: impl FnMut(u32) -> Option<u32>) -> Result<u32, u32> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (epoch, flags) = (epoch_of(word), flags_of(word));
            let Some(next) = update(flags) else {
                return Err(flags);
            };
            let removes = flags & !next != 0;
            let next_epoch = if removes {
                epoch.wrapping_add(1)
            } else {
                epoch
            };
            match self.word.compare_exchange_weak(
                word,
                pack(next_epoch, next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if removes {
                        self.history[epoch as usize % HISTORY].write(epoch, flags);
                    }
                    if next != flags {
                        self.waiters.notify_all();
                    }
                    return Ok(flags);
                }
                Err(now) => word = now,
            }
        }
    }

    /// The history entries of epochs `since..now` (the newest [`HISTORY`] of them, those
    /// written already): the first whose flags satisfy `condition`.
    #[cfg(not(conkit_mutant = "event_flags_no_history"))]
    fn recall(&self, since: u32, now: u32, condition: impl Fn(u32) -> bool) -> Option<u32> {
        let kept = now.wrapping_sub(since).min(HISTORY as u32);
        (0..kept)
            .map(|back| now.wrapping_sub(back + 1))
            .filter_map(|epoch| self.history[epoch as usize % HISTORY].read(epoch))
            .find(|&flags| condition(flags))
    }

    /// Mutant for the loom models: no history, a woken waiter only sees the live flags
    /// (the behaviour before waiters were released by the `set` that satisfied them).
    #[cfg(conkit_mutant = "event_flags_no_history")]
    fn recall(&self, _since: u32, _now: u32, _condition: impl Fn(u32) -> bool) -> Option<u32> {
        None
    }

    /// The current flags (a snapshot).
    #[inline]
    pub fn get(&self) -> u32 {
        flags_of(self.word.load(Ordering::Acquire))
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
        let current = self.get();
        if !opts.satisfied_by(current, mask) {
            return Err(FlagsError::WouldBlock);
        }
        if !opts.clear_on_exit {
            return Ok(current);
        }
        self.change(|flags| opts.satisfied_by(flags, mask).then_some(flags & !mask))
            .map_err(|_| FlagsError::WouldBlock)
    }

    /// Waits (with strategy `W`) until the flags satisfy the wait; returns the flags
    /// that satisfied it, before any clearing (see [`try_wait`](Self::try_wait)).
    ///
    /// A wait without clear-on-exit that a `set` satisfies returns those flags even if
    /// the bits are cleared before it runs (within the [`HISTORY`] bound, see the
    /// [module docs](self)).
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
        let mut watch = Watch::new(mask, opts);
        self.waiters
            .wait_until(deadline, || watch.check(self))
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
        // same step (a removal, recorded in the history as every removal is).
        let mut completed = false;
        let before = self.change(|flags| {
            let arrived = flags | set_mask;
            completed = arrived & wait_mask == wait_mask;
            Some(if completed {
                arrived & !wait_mask
            } else {
                arrived
            })
        });
        if completed {
            // `update` never declines.
            let (Ok(before) | Err(before)) = before;
            return Ok(before | set_mask);
        }
        // Wait for the completing party to clear our bits.
        let completed = || {
            let flags = self.get();
            (flags & own == 0).then_some(flags | wait_mask)
        };
        if let Some(flags) = self.waiters.wait_until(deadline, completed) {
            return Ok(flags);
        }
        // Timed out: take our bits back, unless the rendezvous completed just now.
        match self.change(|current| (current & own != 0).then_some(current & !own)) {
            Ok(_) => Err(FlagsError::Timeout),
            Err(current) => Ok(current | wait_mask),
        }
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy> EventFlags<W> {
    /// Awaits until the flags satisfy the wait (feature `async`); returns the flags that
    /// satisfied it, before any clearing. As for the blocking [`wait`](Self::wait), a
    /// task that a `set` satisfied completes even if the bits are cleared before it is
    /// polled (within the [`HISTORY`] bound). Woken by every `set`/`clear`, whoever
    /// makes it (see "Async" in the [module docs](self)).
    ///
    /// Cancellation-safe: the check and the clear-on-exit are one atomic step taken
    /// during a poll, so a dropped future has consumed nothing and leaves nothing
    /// parked.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    ///
    /// ```
    /// use conkit_core::event_flags::{EventFlags, WaitFlags};
    ///
    /// static READY: EventFlags = EventFlags::new();
    /// READY.set(0b10); // e.g. from an interrupt handler
    /// let task = async {
    ///     let seen = READY.wait_async(0b10, WaitFlags::ANY.clear_on_exit(true)).await;
    ///     assert_eq!(seen, Ok(0b10));
    /// };
    /// # let _ = task;
    /// ```
    pub async fn wait_async(&self, mask: u32, opts: WaitFlags) -> Result<u32, FlagsError> {
        if mask == 0 {
            return Err(FlagsError::EmptyMask);
        }
        let mut watch = Watch::new(mask, opts);
        Ok(self.waiters.wait_async(|| watch.check(self)).await)
    }

    /// Awaits any bit of `mask`, leaving the flags alone (feature `async`).
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    ///
    /// ```
    /// use conkit_core::event_flags::EventFlags;
    ///
    /// let flags: EventFlags = EventFlags::with_flags(0b1);
    /// let task = async { assert_eq!(flags.wait_any_async(0b11).await, Ok(0b1)) };
    /// # let _ = task;
    /// ```
    pub async fn wait_any_async(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait_async(mask, WaitFlags::ANY).await
    }

    /// Awaits all bits of `mask`, leaving the flags alone (feature `async`).
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    ///
    /// ```
    /// use conkit_core::event_flags::EventFlags;
    ///
    /// let flags: EventFlags = EventFlags::with_flags(0b11);
    /// let task = async { assert_eq!(flags.wait_all_async(0b11).await, Ok(0b11)) };
    /// # let _ = task;
    /// ```
    pub async fn wait_all_async(&self, mask: u32) -> Result<u32, FlagsError> {
        self.wait_async(mask, WaitFlags::ALL).await
    }
}

/// The older wrapper (kept for compatibility): forwards to the flags' own async forms,
/// which every `set`/`clear` wakes, also one made on the inner `EventFlags`.
#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> crate::asynch::Async<EventFlags<W>, K> {
    /// Awaits until the flags satisfy the wait: [`EventFlags::wait_async`].
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait(&self, mask: u32, opts: WaitFlags) -> Result<u32, FlagsError> {
        self.inner().wait_async(mask, opts).await
    }

    /// Awaits any bit of `mask`, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait_any(&self, mask: u32) -> Result<u32, FlagsError> {
        self.inner().wait_async(mask, WaitFlags::ANY).await
    }

    /// Awaits all bits of `mask`, leaving the flags alone.
    ///
    /// # Errors
    /// [`FlagsError::EmptyMask`] if `mask == 0`.
    pub async fn wait_all(&self, mask: u32) -> Result<u32, FlagsError> {
        self.inner().wait_async(mask, WaitFlags::ALL).await
    }

    /// Sets the bits of `mask`, waking parked tasks and blocked callers; returns the
    /// flags just after setting. Never waits (legal in an interrupt handler).
    pub fn set(&self, mask: u32) -> u32 {
        self.inner().set(mask)
    }

    /// Clears the bits of `mask`; returns the flags just before clearing. Wakes the
    /// parked tasks too (a `sync`-style waiter may wait for bits to clear).
    pub fn clear(&self, mask: u32) -> u32 {
        self.inner().clear(mask)
    }

    /// The current flags (a snapshot).
    pub fn get(&self) -> u32 {
        self.inner().get()
    }
}
