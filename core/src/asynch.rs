//! Async front ends (feature `async`): how tasks park on conkit primitives.
//!
//! Wakers are process-local pointers, so they never live inside the primitives
//! themselves (which must stay valid in memory shared between processes or wasm
//! workers). Two ways to await a primitive exist:
//!
//! * **On the primitive itself** (issue #14): `Lock::acquire_async`, `lock_async`,
//!   `Semaphore::acquire_async`, `Event::wait_async`, `Condvar::wait_lock_async`,
//!   `Barrier::wait_async`, `Mutex::lock_async`, `ReentrantLock::acquire_async`. A task
//!   that must wait parks its waker in one process-wide table under the primitive's
//!   address ([`TaskSlot`]) and sets a "tasks are parked" bit in the primitive's state
//!   word (the `TASKS` bit of [`Waiters`](crate::wait::Waiters)' state, or of a
//!   [`Lock`](crate::lock::Lock)'s sleeper count); every notify already looks at that
//!   word, so whoever changes the primitive — a task, a thread through the plain
//!   blocking API, an interrupt handler — sees the bit and wakes the parked tasks
//!   ([`wake_parked`]). Mixed blocking-thread and async-task users of one object just
//!   work, with no wrapper; a program that never awaits pays one bit test on a path that
//!   already loads the word. The protocol and its proof are in
//!   [`Waiters`](crate::wait::Waiters) ("Async tasks") and
//!   [`lock::blocking`](crate::lock::blocking) ("Async"); the loom models are in
//!   `core/tests/loom_async.rs`. With `std` the table grows (no limit on parked tasks) and is spread over 16
//!   mutex-guarded shards by the primitive's address, each with one fast cell in front
//!   that the first task parked on a primitive of the shard takes and its notifier
//!   empties without the shard's mutex (`asynch/fast.rs`);
//!   without it, it holds [`TABLE_SLOTS`] wakers and more tasks poll again instead of
//!   sleeping. Between processes the table is per process: a notify in one process
//!   wakes only the tasks of that process.
//! * **Through the older wrapper** [`Async<P, K>`]: a primitive `P` together with a
//!   [`WakerSet<K>`]; the primitive's modules add `async fn`s on `Async<TheirType, K>`
//!   that poll the primitive's `try_*` operation and park the task's waker in the
//!   wrapper's set, and the state-changing operations of the wrapper wake the parked
//!   tasks. Tasks parked in the wrapper's set are woken only by changes made through
//!   the wrapper. The rings (`spsc`, `mpmc`), the queues (`queue`) and `EventFlags` no
//!   longer use it: their `Async<...>` methods forward to the primitives' own async
//!   forms (`push_async`, `pop_async`, `get_async`, `put_async`, `join_async`,
//!   `wait_async`), which any change wakes; the wrapper stays as a compatible front.
//!
//! Works with any executor (embassy, tokio, wasm-bindgen-futures): it only uses
//! `core::task`. The application provides the `critical-section` implementation.
//!
//! # Cancellation safety
//! Notifications wake *every* parked waker (and drop them from the set). A future that
//! is dropped after being woken therefore cannot swallow a wake-up meant for another
//! task: every other waiting task was woken too and re-checks. A future parked on the
//! primitive itself removes its waker when dropped ([`TaskSlot`]'s `Drop`); one parked
//! in a [`WakerSet`] that was never woken leaves its (stale) waker in its slot until
//! the next notification.
//!
//! # When the set is full
//! With `std` a [`WakerSet`] never is: past its `K` inline slots it keeps further wakers
//! in a growable overflow list, so every task sleeps until woken, however many wait
//! (no busy-polling). Without `std` (no allocator) it holds `K` wakers; `register`
//! reports a full set and the poller wakes its own task at once, so that task is polled
//! again instead of sleeping. Progress guarantee there: nothing is lost and no task
//! sleeps through a change (an unregistered task is always runnable), but the tasks
//! beyond `K` cost executor time until a slot frees; size `K` for the number of tasks
//! that wait at the same time. The primitives' own async forms (the [`TaskSlot`]
//! table above) have the same rule with [`TABLE_SLOTS`].

use core::cell::RefCell;
use core::fmt;
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;

#[cfg(any(feature = "std", loom))]
mod fast;

/// Up to `K` parked wakers inline (and, with `std`, any number more in an overflow
/// list), guarded by a critical section. See "When the set is full" in the module docs.
pub struct WakerSet<const K: usize> {
    slots: Mutex<RefCell<Slots<K>>>,
}

/// The parked wakers of a [`WakerSet`].
struct Slots<const K: usize> {
    inline: [Option<Waker>; K],
    /// With `std`: the wakers that found every inline slot taken.
    #[cfg(feature = "std")]
    overflow: std::vec::Vec<Waker>,
}

impl<const K: usize> Slots<K> {
    const fn new() -> Self {
        Self {
            inline: [const { None }; K],
            #[cfg(feature = "std")]
            overflow: std::vec::Vec::new(),
        }
    }

    fn parked(&self) -> usize {
        let inline = self.inline.iter().filter(|s| s.is_some()).count();
        #[cfg(feature = "std")]
        let inline = inline + self.overflow.len();
        inline
    }
}

impl<const K: usize> fmt::Debug for WakerSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parked = critical_section::with(|cs| self.slots.borrow_ref(cs).parked());
        f.debug_struct("WakerSet")
            .field("capacity", &K)
            .field("parked", &parked)
            .finish()
    }
}

impl<const K: usize> Default for WakerSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> WakerSet<K> {
    /// An empty set.
    pub const fn new() -> Self {
        Self {
            slots: Mutex::new(RefCell::new(Slots::new())),
        }
    }

    /// Parks `waker` (once: a waker that `will_wake` the same task replaces the old one).
    /// Returns `false` only without `std`, when all `K` slots hold other tasks' wakers
    /// (with `std` the overflow list takes it).
    ///
    /// ```
    /// use core::task::Waker;
    /// use conkit_core::asynch::WakerSet;
    ///
    /// let set: WakerSet<1> = WakerSet::new();
    /// assert!(set.register(Waker::noop()));
    /// set.wake_all();
    /// ```
    pub fn register(&self, waker: &Waker) -> bool {
        critical_section::with(|cs| {
            let mut slots = self.slots.borrow_ref_mut(cs);
            let slots = &mut *slots;
            if let Some(slot) = slots
                .inline
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|w| w.will_wake(waker)))
            {
                slot.clone_from(&Some(waker.clone()));
                return true;
            }
            #[cfg(feature = "std")]
            if let Some(w) = slots.overflow.iter_mut().find(|w| w.will_wake(waker)) {
                w.clone_from(waker);
                return true;
            }
            match slots.inline.iter_mut().find(|s| s.is_none()) {
                Some(slot) => {
                    *slot = Some(waker.clone());
                    true
                }
                #[cfg(feature = "std")]
                None => {
                    slots.overflow.push(waker.clone());
                    true
                }
                #[cfg(not(feature = "std"))]
                None => false,
            }
        })
    }

    /// Wakes and removes every parked waker. Wakers run outside the critical section.
    ///
    /// # Panics
    /// If a waker's `wake` (executor code) panics, the other wakers are still woken,
    /// then the panic propagates: with the `std` feature each `wake` is caught and the
    /// first panic re-raised after the last one; without it the remaining wakers are
    /// woken while the panic unwinds (a second panicking `wake` then aborts).
    pub fn wake_all(&self) {
        let taken: Slots<K> = critical_section::with(|cs| {
            let mut slots = self.slots.borrow_ref_mut(cs);
            core::mem::replace(&mut *slots, Slots::new())
        });
        let wakers = taken.inline.into_iter().flatten();
        #[cfg(feature = "std")]
        let wakers = wakers.chain(taken.overflow);
        let mut wakers = wakers;
        crate::unwind::each_to_end(|| wakers.next(), Waker::wake);
    }

    /// The poll loop of every async operation: `Ready` when `condition` holds, otherwise
    /// parks the task and checks once more (so a notification racing with the park is
    /// never lost).
    pub fn poll_until<R>(
        &self,
        cx: &mut Context<'_>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> Poll<R> {
        if let Some(r) = condition() {
            return Poll::Ready(r);
        }
        if !self.register(cx.waker()) {
            // No slot (only without `std`): ask to be polled again rather than risk
            // sleeping forever.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match condition() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// A primitive `P` plus the [`WakerSet`] of the tasks awaiting it (see the module docs).
///
/// The async operations are defined by each primitive's module on `Async<ThatType, K>`.
/// Operations that only read (`len`, `value`, …) are reached through
/// [`inner`](Self::inner); state changes must go through the wrapper's own methods so
/// that parked tasks are woken.
pub struct Async<P, const K: usize = 4> {
    inner: P,
    wakers: WakerSet<K>,
}

impl<P: fmt::Debug, const K: usize> fmt::Debug for Async<P, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("inner", &self.inner)
            .field("wakers", &self.wakers)
            .finish()
    }
}

impl<P, const K: usize> Async<P, K> {
    /// Wraps `inner` (usable in a `static`: `Async::new(Semaphore::new(0))`).
    pub const fn new(inner: P) -> Self {
        Self {
            inner,
            wakers: WakerSet::new(),
        }
    }

    /// The wrapped primitive, for read-only queries. Operations that change its state
    /// must go through the wrapper, or parked tasks are not woken.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The set of parked tasks (for primitives' modules building their async API).
    pub fn wakers(&self) -> &WakerSet<K> {
        &self.wakers
    }
}

// ---- Tasks parked on a primitive itself ----------------------------------------------

/// How many tasks can park directly on primitives at the same time without the `std`
/// feature (the table is a fixed array then); more poll again instead of sleeping (as a
/// full [`WakerSet`] does). With `std` the table grows: no limit.
pub const TABLE_SLOTS: usize = 32;

/// The parked tasks of this process, by primitive (`key`: its address here) and
/// registration (`token`: one per [`TaskSlot`]). With `std`: a few entries inline,
/// searched linearly (the common case: one or two tasks parked on the primitives of a
/// shard, e.g. two tasks handing items over — no tree walk, nothing allocated), then one
/// ordered map on `(key, token)` for the rest, so parking, leaving and waking cost
/// O(log n) however many tasks are parked elsewhere. An entry is in exactly one of the
/// two.
#[cfg(feature = "std")]
struct Table {
    small: [Option<(usize, usize, Waker)>; SMALL],
    big: std::collections::BTreeMap<(usize, usize), Waker>,
    /// The next registration token this table hands out (never 0).
    next: usize,
}

/// With `std`: how many parked tasks each shard keeps inline before its ordered map.
#[cfg(feature = "std")]
const SMALL: usize = 4;

/// The wakers taken from the table for one key: the first inline (the common case of
/// one parked task wakes with no allocation), the rest in a vector.
#[cfg(feature = "std")]
struct Taken {
    first: Option<Waker>,
    rest: std::vec::IntoIter<Waker>,
}

#[cfg(feature = "std")]
impl Taken {
    /// Whether no waker was taken.
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

#[cfg(feature = "std")]
impl Iterator for Taken {
    type Item = Waker;
    fn next(&mut self) -> Option<Waker> {
        self.first.take().or_else(|| self.rest.next())
    }
}

#[cfg(feature = "std")]
impl Table {
    const fn new() -> Self {
        Self {
            small: [const { None }; SMALL],
            big: std::collections::BTreeMap::new(),
            next: 1,
        }
    }
    /// A new registration token (never 0), unique among this table's entries: a slot
    /// takes its token from the table of the primitive it parks on, under the lock it
    /// takes anyway (a process-wide counter cost one more atomic operation per park).
    fn next_token(&mut self) -> usize {
        let t = self.next;
        self.next = t.wrapping_add(1).max(1);
        t
    }
    fn small_pos(&self, key: usize, token: usize) -> Option<usize> {
        self.small
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.0 == key && e.1 == token))
    }
    fn park(&mut self, key: usize, token: usize, waker: &Waker) -> bool {
        if let Some(i) = self.small_pos(key, token) {
            if let Some(e) = &mut self.small[i] {
                // `clone_from` keeps the stored waker if it `will_wake` the same task.
                e.2.clone_from(waker);
            }
            return true;
        }
        if !self.big.is_empty() {
            if let Some(w) = self.big.get_mut(&(key, token)) {
                w.clone_from(waker);
                return true;
            }
        }
        match self.small.iter_mut().find(|e| e.is_none()) {
            Some(e) => *e = Some((key, token, waker.clone())),
            None => {
                self.big.insert((key, token), waker.clone());
            }
        }
        true
    }
    fn contains(&self, key: usize, token: usize) -> bool {
        self.small_pos(key, token).is_some() || self.big.contains_key(&(key, token))
    }
    /// How many tasks are parked here.
    fn len(&self) -> usize {
        self.small.iter().filter(|e| e.is_some()).count() + self.big.len()
    }
    fn remove(&mut self, key: usize, token: usize) -> Option<Waker> {
        match self.small_pos(key, token) {
            Some(i) => self.small[i].take().map(|e| e.2),
            None if self.big.is_empty() => None,
            None => self.big.remove(&(key, token)),
        }
    }
    /// Every waker parked under `key` (all of them: the table can allocate).
    fn take(&mut self, key: usize) -> Taken {
        let mut first = None;
        let mut rest = std::vec::Vec::new();
        let mut put = |w: Waker| {
            if first.is_none() {
                first = Some(w);
            } else {
                rest.push(w);
            }
        };
        for e in &mut self.small {
            if e.as_ref().is_some_and(|e| e.0 == key) {
                if let Some(e) = e.take() {
                    put(e.2);
                }
            }
        }
        if !self.big.is_empty() {
            while let Some(&k) = self
                .big
                .range((key, 0)..=(key, usize::MAX))
                .next()
                .map(|e| e.0)
            {
                if let Some(w) = self.big.remove(&k) {
                    put(w);
                }
            }
        }
        Taken {
            first,
            rest: rest.into_iter(),
        }
    }
}

/// Without `std`: the wakers taken from the table for one key.
#[cfg(not(feature = "std"))]
type Taken = heapless::Vec<Waker, TABLE_SLOTS>;

/// Without `std`: a fixed array of `(key, token, waker)`, searched linearly.
#[cfg(not(feature = "std"))]
struct Table(heapless::Vec<(usize, usize, Waker), TABLE_SLOTS>, usize);

#[cfg(not(feature = "std"))]
impl Table {
    const fn new() -> Self {
        // The last token handed out starts at 0 (not the first one at 1), so the
        // table is all zeros and lives in `.bss`, not as a 0.5 KB image in flash.
        Self(heapless::Vec::new(), 0)
    }
    /// A new registration token (never 0).
    fn next_token(&mut self) -> usize {
        self.1 = self.1.wrapping_add(1).max(1);
        self.1
    }
    fn park(&mut self, key: usize, token: usize, waker: &Waker) -> bool {
        if let Some(p) = self.0.iter_mut().find(|p| p.0 == key && p.1 == token) {
            p.2.clone_from(waker);
            return true;
        }
        self.0.push((key, token, waker.clone())).is_ok()
    }
    fn contains(&self, key: usize, token: usize) -> bool {
        self.0.iter().any(|p| p.0 == key && p.1 == token)
    }
    /// How many tasks are parked here.
    #[cfg(loom)]
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove(&mut self, key: usize, token: usize) -> Option<Waker> {
        let i = self.0.iter().position(|p| p.0 == key && p.1 == token)?;
        self.swap_remove(i)
    }
    /// Removes entry `i` (in bounds), moving the last one into its place. Not
    /// `heapless::Vec::swap_remove`: that moves the entry with `ptr::copy`, which
    /// links the 1.3 KB `memmove` into Cortex-M firmware.
    fn swap_remove(&mut self, i: usize) -> Option<Waker> {
        let last = self.0.pop()?;
        Some(match self.0.get_mut(i) {
            Some(e) => core::mem::replace(e, last).2,
            None => last.2,
        })
    }
    /// The wakers parked under `key` (at most the table's size, so no allocation).
    fn take(&mut self, key: usize) -> Taken {
        let mut taken: heapless::Vec<Waker, TABLE_SLOTS> = heapless::Vec::new();
        let mut i = 0;
        while i < self.0.len() {
            if self.0[i].0 == key {
                // Cannot fail: `taken` is as large as the table.
                if let Some(w) = self.swap_remove(i) {
                    let _ = taken.push(w);
                }
            } else {
                i += 1;
            }
        }
        taken
    }
}

/// Without `std`: the parked tasks of this process (and the next registration token),
/// under one critical section (firmware has a handful of tasks).
#[cfg(all(not(feature = "std"), not(loom)))]
static REGISTRY: Mutex<RefCell<Table>> = Mutex::new(RefCell::new(Table::new()));

/// Runs `f` on the table that holds the tasks parked under `key` (no `std`: the one
/// table, in a critical section).
#[cfg(all(not(feature = "std"), not(loom)))]
fn with_table<R>(key: usize, f: impl FnOnce(&mut Table) -> R) -> R {
    let _ = key;
    critical_section::with(|cs| f(&mut REGISTRY.borrow_ref_mut(cs)))
}

// Under loom the table's lock is loom's (the holder does loom operations inside: a
// parker's look at its primitive's bit, a notifier's clear), and the table is per
// execution. The models run without `std` (`cargo xtask test`).
#[cfg(all(loom, feature = "std"))]
compile_error!("the loom models of conkit-core run with the `async` feature, without `std`");

#[cfg(all(loom, not(feature = "std")))]
loom::lazy_static! {
    /// The parked tasks, per loom execution.
    static ref REGISTRY: loom::sync::Mutex<Table> = loom::sync::Mutex::new(Table::new());
}

/// Runs `f` on the table (under loom: its loom mutex; see above).
#[cfg(all(loom, not(feature = "std")))]
fn with_table<R>(key: usize, f: impl FnOnce(&mut Table) -> R) -> R {
    let mut t = match REGISTRY.lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    let r = f(&mut t);
    table_len(key).store(t.len(), crate::atomic::Ordering::Relaxed);
    r
}

/// With `std`: how many tables the parked tasks are spread over, by the primitive's
/// address, each under its own mutex, so tasks parking on different primitives (on
/// different threads of a multi-thread runtime) do not serialise on one lock — the
/// `std` critical section is one process-wide mutex.
#[cfg(feature = "std")]
const SHARDS: usize = fast::CELLS;

#[cfg(feature = "std")]
static TABLES: [std::sync::Mutex<Table>; SHARDS] =
    [const { std::sync::Mutex::new(Table::new()) }; SHARDS];

/// Runs `f` on the table that holds the tasks parked under `key` (its shard; a panic
/// elsewhere while it was held left it consistent: every operation is one table call).
#[cfg(feature = "std")]
fn with_table<R>(key: usize, f: impl FnOnce(&mut Table) -> R) -> R {
    let mut t = TABLES[shard_of(key)]
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let r = f(&mut t);
    table_len(key).store(t.len(), crate::atomic::Ordering::Relaxed);
    r
}

/// The shard of the primitive at `key` (of the tables with `std`, of the fast cells).
#[cfg(any(feature = "std", loom))]
#[inline]
fn shard_of(key: usize) -> usize {
    // Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the top bits of the product by
    // 2^64 / golden ratio depend on every bit of the address, so primitives a word, a
    // cache line or a page apart spread over the shards; a multiply and a shift
    // (the three shifted xors before cost twice the instructions, on every park, wake
    // and leave).
    const _: () = assert!(fast::CELLS.is_power_of_two() && fast::CELLS > 1);
    let hash = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (hash >> (u64::BITS - fast::CELLS.trailing_zeros())) as usize
}

/// The fast cells (see [`fast`]), one per shard.
#[cfg(all(feature = "std", not(loom)))]
static CELLS: [fast::Cell; fast::CELLS] = [const { fast::Cell::new() }; fast::CELLS];

/// How many tasks each table holds (one per shard with `std`; the one table without
/// it), written under the table's lock after every change: a notifier that reads 0
/// skips the lock (see "Why a notifier may skip" in [`fast`]).
#[cfg(all(feature = "std", not(loom)))]
static TABLE_LENS: [crate::atomic::AtomicUsize; SHARDS] =
    [const { crate::atomic::AtomicUsize::new(0) }; SHARDS];

#[cfg(loom)]
loom::lazy_static! {
    /// The fast cells, per loom execution.
    static ref CELLS: [fast::Cell; fast::CELLS] = core::array::from_fn(|_| fast::Cell::new());
    /// The tables' length mirrors, per loom execution.
    static ref TABLE_LENS: [crate::atomic::AtomicUsize; fast::CELLS] =
        core::array::from_fn(|_| crate::atomic::AtomicUsize::new(0));
}

/// The fast cell of the primitive at `key`.
#[cfg(any(feature = "std", loom))]
#[inline]
fn cell(key: usize) -> &'static fast::Cell {
    &CELLS[shard_of(key)]
}

/// The length mirror of the table that holds the tasks parked under `key`.
#[cfg(any(feature = "std", loom))]
#[inline]
fn table_len(key: usize) -> &'static crate::atomic::AtomicUsize {
    #[cfg(feature = "std")]
    let i = shard_of(key);
    #[cfg(not(feature = "std"))]
    let i = {
        let _ = key;
        0
    };
    &TABLE_LENS[i]
}

/// Wakes (and removes) every task parked on the primitive at address `key`. Wakers run
/// outside the table's lock.
///
/// The primitives call it when their state word says tasks are parked (see
/// [`TaskSlot`]); a caller outside this crate only needs it for a primitive of its own
/// built on [`TaskSlot`].
///
/// ```
/// // Nobody is parked on this address: nothing happens.
/// conkit_core::asynch::wake_parked(0x1000);
/// ```
pub fn wake_parked(key: usize) {
    match take_parked(key) {
        (Some(waker), None) => waker.wake(),
        (None, None) => {}
        (first, rest) => {
            let mut wakers = first.into_iter().chain(rest.into_iter().flatten());
            crate::unwind::each_to_end(|| wakers.next(), Waker::wake);
        }
    }
}

/// [`wake_parked`] for a primitive whose "tasks are parked" bit stays set while tasks
/// park and wake (`Waiters`, see "Async tasks" there): wakes (and removes) every task
/// parked under `key`; if there is none, calls `clear` (which clears the bit and then
/// issues a `SeqCst` fence) and looks once more, waking whoever it finds then: a task
/// that parked before the clear and read the bit still set (so did not set it) is
/// found by that second look; one that read it clear sets it again itself.
pub(crate) fn wake_parked_or_clear(key: usize, clear: impl FnOnce()) {
    match take_parked(key) {
        // The common case, straight: one task, in the fast cell.
        (Some(waker), None) => waker.wake(),
        (first, rest) => wake_taken_or_clear(key, first, rest, clear),
    }
}

/// The rest of [`wake_parked_or_clear`]: wakes what was taken, or, if nothing was,
/// clears and looks once more.
#[cold]
#[inline(never)]
fn wake_taken_or_clear(
    key: usize,
    first: Option<Waker>,
    rest: Option<Taken>,
    clear: impl FnOnce(),
) {
    let found = first.is_some() || rest.as_ref().is_some_and(|r| !r.is_empty());
    let (late, late_rest) = if found {
        (None, None)
    } else {
        clear();
        // Mutant (see `cargo xtask test`'s mutant table): no second look after the
        // clear, so a task that parked meanwhile and read the bit still set stays
        // parked behind a clear bit, and the next notify passes it by.
        if cfg!(conkit_mutant = "waiters_clear_without_second_look") {
            (None, None)
        } else {
            take_parked(key)
        }
    };
    let mut wakers = first
        .into_iter()
        .chain(late)
        .chain(rest.into_iter().flatten())
        .chain(late_rest.into_iter().flatten());
    crate::unwind::each_to_end(|| wakers.next(), Waker::wake);
}

/// Takes every waker parked under `key`: the fast cell's, and the table's when its
/// length mirror says it holds anyone (see [`fast`] for why these looks without a lock
/// see every task parked before the caller's look at its "tasks are parked" bit).
/// Inlined into the notifier, so the common result (one waker, from the cell, no
/// table) is not passed through memory; the key's shard is computed once.
#[cfg(any(feature = "std", loom))]
#[inline(always)]
fn take_parked(key: usize) -> (Option<Waker>, Option<Taken>) {
    let shard = shard_of(key);
    let first = if fast::usable(key) {
        CELLS[shard].take(key)
    } else {
        None
    };
    #[cfg(feature = "std")]
    let len = &TABLE_LENS[shard];
    #[cfg(not(feature = "std"))]
    let len = table_len(key);
    let table = len.load(crate::atomic::Ordering::Relaxed) != 0;
    // Mutant (see `cargo xtask test`'s mutant table): a task found in the cell is
    // taken for the only one, the others parked under the key in the table sleep on.
    #[cfg(conkit_mutant = "fast_cell_hides_table")]
    let table = table && first.is_none();
    (first, table.then(|| with_table(key, |t| t.take(key))))
}

/// Takes every waker parked under `key` (without `std`: from the one table).
#[cfg(not(any(feature = "std", loom)))]
fn take_parked(key: usize) -> (Option<Waker>, Option<Taken>) {
    (None, Some(with_table(key, |t| t.take(key))))
}

/// One future's place among the tasks parked on a primitive (the `async` forms of the
/// core primitives hold one each): registered by [`park`](Self::park), removed when the
/// future completes or is dropped, so a dropped future leaves nothing behind.
///
/// The protocol that makes a task wake whoever changes the primitive — a task, a
/// thread, an interrupt handler — is each primitive's: park here, then set the
/// primitive's "tasks are parked" bit in its state word, then look at the condition
/// once more; the notifier changes the state, looks at that bit, and if it is set clears
/// it and calls [`wake_parked`] (see [`Waiters`](crate::wait::Waiters), "Async tasks").
///
/// ```
/// use core::task::{Context, Waker};
/// use conkit_core::asynch::{wake_parked, TaskSlot};
///
/// let mut slot = TaskSlot::new();
/// let cx = Context::from_waker(Waker::noop());
/// assert!(slot.park(0x2000, cx.waker()));
/// assert!(slot.is_parked());
/// wake_parked(0x2000); // wakes (here: a no-op waker) and removes it
/// assert!(!slot.is_parked());
/// ```
#[derive(Debug, Default)]
pub struct TaskSlot {
    /// 0: never registered.
    token: usize,
    /// The primitive of the last registration.
    key: usize,
    /// Whether that registration is in the key's fast cell (else in its table).
    fast: bool,
}

impl TaskSlot {
    /// A slot that is not parked.
    pub const fn new() -> Self {
        Self {
            token: 0,
            key: 0,
            fast: false,
        }
    }

    /// Parks `waker` on the primitive at address `key` (or replaces this slot's earlier
    /// waker). Returns `false` only without `std`, when [`TABLE_SLOTS`] tasks are
    /// parked already: the caller then asks to be polled again at once.
    #[inline]
    pub fn park(&mut self, key: usize, waker: &Waker) -> bool {
        // The common case, straight: a slot not registered (a future's first park, or
        // one woken and forgotten since) takes the key's fast cell if it is free.
        #[cfg(any(feature = "std", loom))]
        if self.token == 0 && fast::usable(key) {
            if let Some(token) = cell(key).park(key, waker) {
                self.key = key;
                self.token = token;
                self.fast = true;
                return true;
            }
        }
        self.park_again(key, waker)
    }

    /// The rest of [`park`](Self::park): a slot still registered (moved to another
    /// key, or parked anew on the same one), or a fast cell taken by another entry.
    #[inline(never)]
    fn park_again(&mut self, key: usize, waker: &Waker) -> bool {
        // Moved to another primitive: leave the old one first (the caller looks at its
        // condition again after parking, so the moment in neither table loses nothing).
        // A slot never registered (or forgotten) has no entry to leave: no lock for it.
        // A waker is always dropped outside any lock (its drop is executor code).
        #[cfg_attr(not(any(feature = "std", loom)), allow(unused_mut))]
        let mut old = if self.token != 0 && self.key != key {
            self.remove()
        } else {
            None
        };
        // Still parked here from an earlier poll, in the fast cell: keep it (same task),
        // or take it out to park the new waker.
        #[cfg(any(feature = "std", loom))]
        if self.token != 0 && self.fast {
            match cell(key).keep(key, self.token, waker) {
                fast::Kept::Here => return true,
                fast::Kept::Gone => self.token = 0,
                fast::Kept::Replaced(w) => {
                    self.token = 0;
                    old = Some(w);
                }
            }
        }
        self.key = key;
        // A new registration: the fast cell if it is free.
        #[cfg(any(feature = "std", loom))]
        if self.token == 0 && fast::usable(key) {
            if let Some(token) = cell(key).park(key, waker) {
                self.token = token;
                self.fast = true;
                drop(old);
                return true;
            }
        }
        self.fast = false;
        let token = self.token;
        let (token, parked) = with_table(key, |t| {
            let token = if token == 0 { t.next_token() } else { token };
            (token, t.park(key, token, waker))
        });
        self.token = token;
        drop(old);
        parked
    }

    /// Removes this slot's registration (the caller drops the waker outside any lock)
    /// and marks the slot unregistered.
    fn remove(&mut self) -> Option<Waker> {
        let (key, token) = (self.key, self.token);
        self.token = 0;
        #[cfg(any(feature = "std", loom))]
        if self.fast {
            return cell(key).leave(key, token);
        }
        with_table(key, |t| t.remove(key, token))
    }

    /// Whether this slot's waker is still parked (not yet woken nor removed).
    pub fn is_parked(&self) -> bool {
        if self.token == 0 {
            return false;
        }
        #[cfg(any(feature = "std", loom))]
        if self.fast {
            return cell(self.key).contains(self.key, self.token);
        }
        with_table(self.key, |t| t.contains(self.key, self.token))
    }

    /// Forgets this slot's registration without looking at the table, for a primitive
    /// that knows a notifier has taken (or is about to take) every waker parked under
    /// its key (it saw its "tasks are parked" bit cleared after this slot set it; see
    /// `Waiters::poll_async`): that notifier's [`wake_parked`] removes the entry, at
    /// worst calling this (stale) waker once more, a spurious wake-up. Saves the
    /// table's (or the fast cell's) locked instructions of [`leave`](Self::leave) on
    /// the common path of a woken task.
    pub(crate) fn forget(&mut self) {
        self.token = 0;
        self.key = 0;
        self.fast = false;
    }

    /// Whether this slot was ever registered and not forgotten since (a parked waker
    /// may be in the table). No critical section.
    pub(crate) fn registered(&self) -> bool {
        self.token != 0
    }

    /// Removes this slot's waker if it is still parked (done on drop, and by the
    /// primitives once their future completes).
    #[inline]
    pub fn leave(&mut self) {
        if self.token == 0 {
            return;
        }
        // Taken from the fast cell already (a notifier took it: the common case of a
        // woken task): one load.
        #[cfg(any(feature = "std", loom))]
        if self.fast && !cell(self.key).may_hold(self.key) {
            self.token = 0;
            return;
        }
        // Dropped outside the lock (a waker's drop is executor code).
        drop(self.remove());
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        self.leave();
    }
}
