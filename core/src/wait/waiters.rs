//! `Waiters`: the event count every blocking front end goes through.
//!
//! Algorithm: an event count (Dmitry Vyukov, "Eventcount", 1024cores.net; the same
//! shape as `folly::EventCount` and Linux's futex-based condition variables). A waiter
//! announces itself in `sleepers`, reads the sequence word, re-checks its condition and
//! only then sleeps on the sequence word. A notifier changes the state, issues a
//! `SeqCst` fence, and only if `sleepers != 0` bumps the sequence and wakes. The two
//! `SeqCst` fences (waiter after announcing, notifier after changing state) form a
//! Dekker pair: either the notifier sees the sleeper, or the sleeper's re-check sees the
//! new state. So no wake-up is lost, and a notify with no sleepers costs one fence and
//! one load — no syscall.
//!
//! Before announcing itself, a waiter re-checks its condition
//! [`W::RELAX_ROUNDS`](WaitStrategy::RELAX_ROUNDS) times, pausing with
//! [`W::relax`](WaitStrategy::relax) between looks (growing spins; OS strategies yield
//! in the last rounds): putting a thread to sleep and waking it costs tens of µs with an
//! OS futex, far more than the time a producer usually needs to refill an empty queue or
//! a holder to release a permit. A waiter that succeeds in this phase never touches
//! `sleepers`, so its notifier skips the wake-up call too. (The same idea as the spin
//! phase of [`Lock`](crate::lock::Lock), crossbeam's `Backoff` and glibc's adaptive
//! mutex.)
//!
//! # One wake-up in flight at a time (`notify_one`)
//! Waking a sleeping thread takes tens of µs, and until the woken thread runs it is
//! still counted as a sleeper: a producer putting an item every few ns would issue a
//! wake-up syscall for every item in that window (measured between the two threads of
//! a `queue::Queue`: 2 000–19 000 futex calls per million items, where
//! crossbeam-channel makes 100–500; with the flags below, 25–40). So the
//! state word holds, beside the count of sleepers, a `PENDING` flag: `notify_one` sets
//! it when it wakes someone, and a `notify_one` that finds it set only sets `MORE`
//! (once) instead of calling the OS. Every caller that leaves the sleepers — woken,
//! timed out, or done without sleeping — clears both flags in the same atomic update,
//! and if `MORE` was set it wakes every sleeper (so notifies skipped while one was in
//! flight are never lost, however many there were; each woken sleeper re-checks its
//! condition). Why `PENDING` is always collected: it is set only while a sleeper is
//! counted, and each counted caller leaves eventually; a caller about to sleep that
//! sees `PENDING` (a wake-up that found nobody asleep yet, or not it) leaves, re-checks
//! and counts itself again instead of sleeping. The skipped notifier's change is seen by
//! whoever collects the flag: the notifier's `SeqCst` fence precedes its look at the
//! word, which is ordered before the collector's `SeqCst` update of it, followed by a
//! `SeqCst` fence and the collector's re-check (the fence rule of C++20
//! \[atomics.order\]). `notify_all` ignores the flags and always wakes everyone.
//! (crossbeam-channel reaches the same by removing a sleeper from its waker list when it
//! selects it; a list needs pointers, these two words work between processes.)
//!
//! # Participants that die
//! Between processes (a strategy with [`WaitStrategy::PROCESS_SHARED`], e.g.
//! `SharedFutex` on `MAP_SHARED` memory) any participant can be killed at any point.
//! With the rule above as it stands for threads, a process woken alone by `notify_one`
//! that dies before it runs takes the wake-up with it and never collects `PENDING`:
//! every later `notify_one` only sets `MORE`, and the other sleepers sleep forever with
//! items queued (issue #11, item 3). So with such a strategy:
//! * the wake-up a `notify_one` sends goes to **every** sleeper (`wake_all`), so it
//!   cannot die with one process: the live sleepers it reached leave, and leaving
//!   collects `PENDING` (and relays `MORE`) as before. If every sleeper it reached
//!   died, `PENDING` stays set only until the next caller leaves: a caller about to
//!   sleep that sees it leaves at once (collecting it) and counts itself again. The
//!   coalescing is kept: while a wake-up is in flight, further `notify_one`s still
//!   only set `MORE` (no system call), as between threads;
//! * every sleep lasts at most one [`WaitStrategy::sleep_slice`] (at most 16 ms for
//!   `SharedFutex`), after which the waiter re-checks its condition (and, leaving,
//!   collects the flags): a notifier that died between its state change and its
//!   wake-up, or between setting `PENDING` and waking, delays a waiter by at most one
//!   slice, never forever. Deadlines are honoured as before.
//!
//! * a waiter that can name the participants it waits for (a ring's other end, a
//!   slot's claimant, a barrier's arrived parties) waits with
//!   [`Waiters::wait_until_probing`]: once a slice has passed since the wait began or
//!   since its last probe (whatever woke it meanwhile, however many looks it took),
//!   after a slice that passed without a wake-up, and on its last look after a
//!   deadline, its condition is told to probe them ([`WaitStrategy::owner_alive`]) and
//!   answers with the primitive's "peer gone" outcome, so it does not wait for a dead
//!   peer even without a deadline. (Issue #11: probing only after a slice that passed
//!   unwoken let wake-ups, or a loaded machine's slow looks before the first sleep,
//!   put the probe off for seconds, and a deadline that passed before the first sleep
//!   ended the wait with no probe at all.)
//!
//! What a dead participant costs here: a process that dies while counted (asleep or
//! just woken) stays counted in `sleepers` for good, so every later notify pays its
//! wake-up call even when nobody else sleeps; nothing waits for it and nothing is lost.
//! The thread strategies keep `wake_one`.
//!
//! # Async tasks (feature `async`)
//! A task cannot sleep on the sequence word; it parks its waker in the process-wide
//! table of [`crate::asynch`] under this object's address ([`Waiters::poll_async`]),
//! makes sure the `TASKS` bit of `state` is set, issues a `SeqCst` fence, then looks at
//! its condition once more. Every notify already makes the look this needs — the
//! `SeqCst` fence and the load of `state` above — so it also sees the bit: if set, it
//! wakes (and removes) every task parked under this address. Either the notifier's look
//! sees the bit and the parked waker, or the task's last look (after its fence) sees
//! the notifier's change: the same Dekker pair as the sleepers', so whoever changes the
//! state — a task, a thread through the plain blocking API, an interrupt handler —
//! wakes the parked tasks, with no wrapper in between. A notify with the bit clear (no
//! task parked: every program that never awaits) costs the same fence and load as
//! before and one more bit test. Tasks are always all woken (a `notify_one` included):
//! a woken task that is then dropped can swallow nothing, the others re-check.
//!
//! The bit stays set while tasks come and go: a notify that wakes tasks leaves it set,
//! and only a notify that finds no task parked under the address clears it — then
//! fences and looks for parked tasks once more ([`crate::asynch`]'s
//! `wake_parked_or_clear`). A parking task registers, fences, and only then reads the
//! bit; if it is set it does not set it again: a task handing items back and forth
//! with another pays a fence instead of a read-modify-write to park, and its notifier
//! none to wake it. A task that reads it clear sets it (`SeqCst`, a fence folded in:
//! one locked instruction on x86). Proofs (C++20 \[atomics.order\], the fence rules):
//! * the pair when the task only read the bit: if the task's last look missed the
//!   notifier's change, the task's fence precedes the notifier's in the `SeqCst`
//!   order, so the notifier's load of `state` sees the set bit the task read (or a
//!   later value — set: a clear is always followed by the second look below) and its
//!   look at the cell and the table sees the task's registration (made before that
//!   fence);
//! * a clear does not strand a task that read the bit set: the task's read comes
//!   before the clear in the word's order, so (the clear being `SeqCst`) the task's
//!   fence before its read precedes the clear, which precedes the fence after it, and
//!   the clearing notifier's second look sees the registration made before the task's
//!   fence and wakes it. A task that read the bit after the clear set it itself.
//!
//! The first notify after the last task left pays for the clear once; until then
//! [`anyone_waiting`](Waiters::anyone_waiting) says yes, which costs a primitive that
//! skips its notify when nobody waits that one notify.
//!
//! Limits: the table is per process, so between processes a notify wakes only the
//! tasks of its own process (a task in another process that parked on the same shared
//! object is woken by its own process's next notify, not by this one); the bit stays in
//! the word meanwhile. Without `std` the table holds at most
//! [`TABLE_SLOTS`](crate::asynch::TABLE_SLOTS) parked tasks; more poll again at once.
//!
//! Layout: two `u32` words, no pointers, valid in shared memory between processes and
//! wasm workers when `W` is a process-shared strategy.

use core::fmt;
use core::marker::PhantomData;

use super::{Deadline, WaitOutcome, WaitStrategy};
#[cfg(feature = "async")]
use crate::atomic::or_then_fence;
use crate::atomic::{counter_add, fence, maybe_const_fn, word_update, AtomicU32, Ordering};

/// The bits of `state` that count the sleepers.
const COUNT: u32 = TASKS - 1;
/// Async tasks of this process are parked on this object (see "Async tasks" in the
/// module docs): a notifier that sees it clears it and wakes them.
const TASKS: u32 = 1 << 29;
/// A `notify_one` was skipped while `PENDING` was set: whoever collects `PENDING` wakes
/// every sleeper.
const MORE: u32 = 1 << 30;
/// A `notify_one` has woken (or tried to wake) a sleeper, and no sleeper has left since.
const PENDING: u32 = 1 << 31;

/// Sleepers of one primitive, and how to wake them (see the module docs).
#[repr(C)]
pub struct Waiters<W: WaitStrategy> {
    /// The futex word: bumped by every notify that wakes.
    seq: AtomicU32,
    /// How many callers are between announcing themselves and leaving `wait_until`
    /// (`COUNT` bits), and the `PENDING` / `MORE` flags of `notify_one`.
    state: AtomicU32,
    _strategy: PhantomData<W>,
}

impl<W: WaitStrategy> fmt::Debug for Waiters<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("sleepers", &self.sleepers())
            .finish()
    }
}

impl<W: WaitStrategy> Default for Waiters<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// A caller counted in `Waiters::state`: leaves the sleepers when dropped, also when
/// the caller's condition panics.
struct Announced<'a, W: WaitStrategy>(&'a Waiters<W>);

impl<W: WaitStrategy> Drop for Announced<'_, W> {
    #[inline]
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// When a waiter of [`Waiters::wait_until_probing`] with a process-shared strategy
/// probes its peers next: one [`sleep_slice`](WaitStrategy::sleep_slice) after the
/// wait began, then one (growing) slice after each probe, whatever happened meanwhile
/// (wake-ups, slow looks, the adaptive phase). So the time to the first probe does not
/// depend on how many looks fit in it, nor on a slice ending without a wake-up.
/// Nothing (never due) for the process-private strategies, and for a process-shared
/// one whose `sleep_slice(None, _)` is `None` (no clock): those probe only after a
/// slice that passed unwoken and on the last look.
struct ProbeClock<W: WaitStrategy> {
    next: Option<W::Deadline>,
    probes: u32,
}

impl<W: WaitStrategy> ProbeClock<W> {
    #[inline(always)]
    fn start() -> Self {
        Self {
            next: if W::PROCESS_SHARED {
                W::sleep_slice(None, 0)
            } else {
                None
            },
            probes: 0,
        }
    }

    /// Whether this look probes: `forced` (a slice passed unwoken), or the clock says
    /// a probe is due; then the next one is due a slice later. Always `false` for the
    /// process-private strategies.
    #[inline(always)]
    fn due(&mut self, forced: bool) -> bool {
        if !W::PROCESS_SHARED {
            return false;
        }
        // (`conkit_mutant`: `waiters_probe_only_unwoken` is the old rule: only after a
        // slice that passed without a wake-up.)
        let timed = !cfg!(conkit_mutant = "waiters_probe_only_unwoken")
            && self.next.is_some_and(|t| t.has_passed());
        if !(forced || timed) {
            return false;
        }
        self.probes = self.probes.saturating_add(1);
        self.next = W::sleep_slice(None, self.probes);
        true
    }
}

impl<W: WaitStrategy> Waiters<W> {
    maybe_const_fn! {
        /// No sleepers.
        pub fn new() -> Self {
            Self {
                seq: AtomicU32::new(0),
                state: AtomicU32::new(0),
                _strategy: PhantomData,
            }
        }
    }

    /// Blocks until `condition` returns `Some`, or until `deadline` passes (then `None`).
    ///
    /// `condition` is the primitive's `try_*` operation: it is called before every sleep
    /// and after every wake-up, and is called once more after the deadline has passed
    /// before giving up, so a timed-out wait never leaves behind a state change that was
    /// meant for it. Before the first sleep it is also called a few times in a brief
    /// spin (see the module docs), so it may run any number of times: it must only change
    /// state when it succeeds (returns `Some`).
    ///
    /// # Panics
    /// If `condition` (or the deadline's clock) panics, the panic propagates and the
    /// caller leaves the sleepers first, so the count stays exact.
    pub fn wait_until<R>(
        &self,
        deadline: Option<W::Deadline>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        self.wait_until_probing(deadline, |_| condition())
    }

    /// [`wait_until`](Self::wait_until) for a waiter that can check whether the
    /// participants it waits for still run: `condition(probe)` is called as there, with
    /// `probe == true` (only with a [`PROCESS_SHARED`](WaitStrategy::PROCESS_SHARED)
    /// strategy; never for the others) on
    /// * the first look once a [`sleep_slice`](WaitStrategy::sleep_slice) (as
    ///   `sleep_slice(None, n)` measures it: 1 ms, then growing to 16 ms with
    ///   `SharedFutex`) has passed since the wait began or since the last probe, whatever
    ///   happened meanwhile: wake-ups, the adaptive phase, slow looks;
    /// * the look after a sleep that was a whole slice without a wake-up;
    /// * the last look after `deadline`, wherever the deadline passed.
    ///
    /// That is the moment to ask [`WaitStrategy::owner_alive`] about a peer
    /// (a system call or two, so not on every look) and to return the primitive's
    /// "peer gone" outcome when it is dead. A waiter behind a dead peer is so answered
    /// within a slice or two (about 20 ms with `SharedFutex`, plus one look), with no
    /// deadline at all, and a waiter with a deadline never gives up without a probe.
    ///
    /// ```
    /// use conkit_core::wait::{Spin, Waiters};
    ///
    /// let w: Waiters<Spin> = Waiters::new();
    /// // With `Spin` no slice ever passes unwoken: `probe` stays false.
    /// let mut looks = 0;
    /// let r = w.wait_until_probing(None, |probe| {
    ///     assert!(!probe);
    ///     looks += 1;
    ///     (looks == 3).then_some(looks)
    /// });
    /// assert_eq!(r, Some(3));
    /// ```
    ///
    /// # Panics
    /// As [`wait_until`](Self::wait_until).
    pub fn wait_until_probing<R>(
        &self,
        deadline: Option<W::Deadline>,
        mut condition: impl FnMut(bool) -> Option<R>,
    ) -> Option<R> {
        // When to probe next (between processes only).
        let mut clock = ProbeClock::<W>::start();
        // No adaptive phase under loom, whose spin hint is a yield: the models must
        // reach the sleeping path.
        let rounds = if cfg!(loom) { 0 } else { W::RELAX_ROUNDS };
        for round in 0..rounds {
            if let Some(r) = condition(clock.due(false)) {
                return Some(r);
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    // Let the loop below take its last look and report the time-out.
                    break;
                }
            }
            W::relax(round);
        }
        // Slices slept so far, and whether the last one passed without a wake-up.
        let mut slices = 0u32;
        let mut unwoken = false;
        loop {
            let probe = clock.due(unwoken);
            unwoken = false;
            if let Some(r) = condition(probe) {
                return Some(r);
            }
            if let Some(d) = deadline {
                if d.has_passed() {
                    // The last look has been taken; between processes it must also have
                    // probed (a deadline may pass before any slice was slept: in the
                    // adaptive phase, or in slow looks on a loaded machine).
                    // (`conkit_mutant`: `waiters_deadline_without_probe` gives up
                    // without it.)
                    if W::PROCESS_SHARED
                        && !probe
                        && !cfg!(conkit_mutant = "waiters_deadline_without_probe")
                    {
                        return condition(true);
                    }
                    return None;
                }
            }
            counter_add(&self.state, 1, Ordering::SeqCst);
            // Leaves when dropped: below, or if `condition` panics.
            let announced = Announced(self);
            fence(Ordering::SeqCst);
            let key = self.seq.load(Ordering::Acquire);
            if let Some(r) = condition(false) {
                drop(announced);
                return Some(r);
            }
            // A wake-up on its way that may have found nobody asleep (or us not yet
            // asleep): collect it and look again instead of sleeping past it. (Read
            // after `key`: a notify that bumped `seq` before our look set `PENDING`
            // before it bumped.)
            if !cfg!(conkit_mutant = "waiters_sleep_past_pending")
                && self.state.load(Ordering::Acquire) & PENDING != 0
            {
                drop(announced);
                continue;
            }
            let outcome = if W::PROCESS_SHARED {
                // A bounded slice (see `WaitStrategy::PROCESS_SHARED`): its end before
                // the caller's deadline is a spurious wake-up, after which the caller
                // probes its peers.
                let slice = W::sleep_slice(deadline, slices);
                slices = slices.saturating_add(1);
                match W::wait(&self.seq, key, slice) {
                    WaitOutcome::TimedOut if !deadline.is_some_and(|d| d.has_passed()) => {
                        unwoken = true;
                        WaitOutcome::Woken
                    }
                    outcome => outcome,
                }
            } else {
                W::wait(&self.seq, key, deadline)
            };
            drop(announced);
            if outcome == WaitOutcome::TimedOut {
                // Last look: the state may have changed just as the deadline passed (and
                // between processes a peer may have died meanwhile: probe it too).
                return condition(W::PROCESS_SHARED);
            }
        }
    }

    /// Leaves the sleepers: one fewer, `PENDING` and `MORE` collected (and every
    /// sleeper woken if a `notify_one` was skipped for the wake-up in flight), then a
    /// fence that orders the caller's next look at its condition after the changes of
    /// those skipped notifiers (see the module docs).
    #[inline]
    fn leave(&self) {
        let (Ok(old) | Err(old)) = word_update(&self.state, Ordering::SeqCst, |s| {
            let left = ((s & COUNT).wrapping_sub(1) & COUNT) | (s & TASKS);
            // Mutant (see `cargo xtask test`'s mutant table): the flags stay set.
            #[cfg(conkit_mutant = "waiters_leave_keeps_flags")]
            let left = left | (s & (PENDING | MORE));
            Some(left)
        });
        fence(Ordering::SeqCst);
        if old & MORE != 0 && !cfg!(conkit_mutant = "waiters_no_more_relay") {
            self.notify_all();
        }
    }

    /// Sleeps until `condition` returns `Some` or `deadline` passes (then `None`), as
    /// [`wait_until`](Self::wait_until) but as a *watcher*: no spin phase, no probing,
    /// and with a process-shared strategy one sleep up to `deadline` rather than
    /// [`sleep_slice`](WaitStrategy::sleep_slice)s, so an idle watcher makes no
    /// wake-ups until `deadline` (the caller bounds it: a notifier that died between
    /// its change and its wake-up delays the watcher until then). For a helper that
    /// watches a primitive on behalf of others without taking part in it (the async
    /// proxies of the `std` adapter, [`Condvar::watch_until`](crate::condvar::Condvar::watch_until)).
    /// The same announce / fence / re-check / sleep protocol as every sleeper, so a
    /// notify after `condition`'s last look wakes it.
    ///
    /// # Panics
    /// As [`wait_until`](Self::wait_until).
    pub fn watch_until<R>(
        &self,
        deadline: Option<W::Deadline>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        loop {
            if let Some(r) = condition() {
                return Some(r);
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                return None;
            }
            counter_add(&self.state, 1, Ordering::SeqCst);
            let announced = Announced(self);
            fence(Ordering::SeqCst);
            let key = self.seq.load(Ordering::Acquire);
            // The re-check after announcing (the sleeper's half of the Dekker pair).
            // Mutant (see `cargo xtask test`'s mutant table): the watcher sleeps on
            // the look it took before announcing itself, past a notify in between.
            if !cfg!(conkit_mutant = "waiters_watch_no_recheck") {
                if let Some(r) = condition() {
                    drop(announced);
                    return Some(r);
                }
            }
            // A wake-up in flight (see `wait_until_probing`): collect it, look again.
            if self.state.load(Ordering::Acquire) & PENDING != 0 {
                drop(announced);
                continue;
            }
            let outcome = W::wait(&self.seq, key, deadline);
            drop(announced);
            if outcome == WaitOutcome::TimedOut {
                return condition();
            }
        }
    }

    /// Blocks until `condition` returns `Some` (no deadline).
    ///
    /// # Panics
    /// As [`wait_until`](Self::wait_until): a panic of `condition` propagates, and the
    /// caller is no longer counted as a sleeper.
    pub fn wait<R>(&self, mut condition: impl FnMut() -> Option<R>) -> R {
        loop {
            // Without a deadline `wait_until` only returns `Some`; loop for the type.
            if let Some(r) = self.wait_until(None, &mut condition) {
                return r;
            }
        }
    }

    /// Wakes one sleeper. Call it after the state change that may satisfy a waiter.
    ///
    /// Only use it when every sleeper waits for the same kind of change and any one of
    /// them can consume it (e.g. "an item is available" for single-item pops); otherwise
    /// use [`notify_all`](Self::notify_all).
    ///
    /// At most one such wake-up is in flight: while a sleeper woken by an earlier
    /// `notify_one` has not left yet, this only records that it was called (no system
    /// call), and that sleeper wakes everyone when it leaves (see the module docs).
    ///
    /// With a process-shared strategy ([`WaitStrategy::PROCESS_SHARED`]) the wake-up it
    /// sends (when none is in flight) goes to every sleeper: a process woken alone that
    /// died before it ran would take the wake-up, and the item it was for, with it (see
    /// "Participants that die" in the module docs).
    #[inline]
    pub fn notify_one(&self) {
        let seen = self.look();
        self.wake_tasks_if(seen);
        if seen & COUNT == 0 {
            return;
        }
        let claimed = word_update(&self.state, Ordering::SeqCst, |s| {
            if s & COUNT == 0 || s & (PENDING | MORE) == PENDING | MORE {
                None
            } else if s & PENDING == 0 {
                Some(s | PENDING)
            } else {
                Some(s | MORE)
            }
        });
        if matches!(claimed, Ok(old) if old & PENDING == 0) {
            counter_add(&self.seq, 1, Ordering::Release);
            // Mutant (see `cargo xtask test`'s mutant table): the shared strategies
            // wake one sleeper, which may die with the wake-up.
            if W::PROCESS_SHARED && !cfg!(conkit_mutant = "waiters_shared_wake_one") {
                W::wake_all(&self.seq);
            } else {
                W::wake_one(&self.seq);
            }
        }
    }

    /// Wakes every sleeper. Call it after the state change that may satisfy a waiter.
    #[inline]
    pub fn notify_all(&self) {
        let seen = self.look();
        self.wake_tasks_if(seen);
        if seen & COUNT != 0 {
            counter_add(&self.seq, 1, Ordering::Release);
            W::wake_all(&self.seq);
        }
    }

    /// The notifier's half of the Dekker pair: a fence, then a look at the state word
    /// (sleepers, and the `TASKS` bit).
    #[inline]
    fn look(&self) -> u32 {
        fence(Ordering::SeqCst);
        self.state.load(Ordering::Relaxed)
    }

    /// Wakes the tasks of this process parked on this object if `seen` (the notifier's
    /// look) says some are: clears the bit, then wakes them (see "Async tasks" in the
    /// module docs). Without the `async` feature the bit is never set and this is
    /// nothing.
    #[inline]
    fn wake_tasks_if(&self, seen: u32) {
        // Mutant (see `cargo xtask test`'s mutant table): the bit is ignored, parked
        // tasks are left to the wrappers as before.
        #[cfg(feature = "async")]
        if seen & TASKS != 0 && !cfg!(conkit_mutant = "waiters_tasks_not_woken") {
            self.wake_tasks();
        }
        #[cfg(not(feature = "async"))]
        let _ = seen;
    }

    #[cfg(feature = "async")]
    #[cold]
    #[inline(never)]
    fn wake_tasks(&self) {
        crate::asynch::wake_parked_or_clear(self.key(), || {
            let _ = word_update(&self.state, Ordering::SeqCst, |s| {
                (s & TASKS != 0).then_some(s & !TASKS)
            });
            fence(Ordering::SeqCst);
        });
    }

    /// This object's key among the parked tasks: its address in this process.
    #[cfg(feature = "async")]
    #[inline]
    fn key(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// The poll step of every async wait on this object (feature `async`): `Ready` when
    /// `condition` (the primitive's `try_*` operation, as for
    /// [`wait_until`](Self::wait_until)) holds; otherwise parks the task in `slot`, makes sure
    /// the `TASKS` bit is set and looks once more (see "Async tasks" in the module docs), so a
    /// change made by a task, a thread or an interrupt handler after this look wakes
    /// the task. The slot leaves the parked tasks when the condition holds (and when it
    /// is dropped: a dropped future leaves nothing behind).
    ///
    /// ```
    /// use core::task::{Context, Poll, Waker};
    /// use conkit_core::asynch::TaskSlot;
    /// use conkit_core::wait::{Spin, Waiters};
    /// use core::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let w: Waiters<Spin> = Waiters::new();
    /// let ready = AtomicBool::new(false);
    /// let mut slot = TaskSlot::new();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut poll = |slot: &mut TaskSlot, cx: &mut Context<'_>| {
    ///     w.poll_async(slot, cx, || ready.load(Ordering::Acquire).then_some(()))
    /// };
    /// assert!(poll(&mut slot, &mut cx).is_pending());
    /// assert!(slot.is_parked());
    /// ready.store(true, Ordering::Release);
    /// w.notify_all(); // any notifier, a thread's too, wakes the parked task
    /// assert!(!slot.is_parked());
    /// assert_eq!(poll(&mut slot, &mut cx), Poll::Ready(()));
    /// ```
    #[cfg(feature = "async")]
    pub fn poll_async<R>(
        &self,
        slot: &mut crate::asynch::TaskSlot,
        cx: &mut core::task::Context<'_>,
        mut condition: impl FnMut() -> Option<R>,
    ) -> core::task::Poll<R> {
        if let Some(r) = condition() {
            self.leave_slot(slot);
            return core::task::Poll::Ready(r);
        }
        self.park_then_look(slot, cx, condition)
    }

    /// The second half of [`poll_async`](Self::poll_async), for a caller that has just
    /// looked at its condition itself and found it false (so the first look of
    /// `poll_async` would only repeat it): parks the task in `slot`, sets the `TASKS`
    /// bit, then takes the one look the protocol needs (after the bit and its fence).
    #[cfg(feature = "async")]
    #[inline]
    pub(crate) fn park_then_look<R>(
        &self,
        slot: &mut crate::asynch::TaskSlot,
        cx: &mut core::task::Context<'_>,
        condition: impl FnMut() -> Option<R>,
    ) -> core::task::Poll<R> {
        self.park_announce_look(
            slot,
            cx,
            || {
                // Mutant (see `cargo xtask test`'s mutant table): no fence when the bit
                // is set already, so the last look may miss a change whose notifier
                // misses the registration.
                if !cfg!(conkit_mutant = "waiters_park_unfenced") {
                    fence(Ordering::SeqCst);
                }
            },
            condition,
        )
    }

    /// [`park_then_look`](Self::park_then_look) for a caller that also announces
    /// itself elsewhere before its last look (`RingQueue`'s async forms count the task
    /// in `sleeping_getters`): `fenced_announce` runs right after the registration and
    /// must end with a `SeqCst` fence (e.g. `add_then_fence`, one locked instruction
    /// on x86): that fence is the park's, so the one fence orders the registration and
    /// the announcement before the look at the bit and the last look. Not run if the
    /// task could not park (the caller is then polled again at once).
    #[cfg(feature = "async")]
    #[inline]
    pub(crate) fn park_announce_look<R>(
        &self,
        slot: &mut crate::asynch::TaskSlot,
        cx: &mut core::task::Context<'_>,
        fenced_announce: impl FnOnce(),
        mut condition: impl FnMut() -> Option<R>,
    ) -> core::task::Poll<R> {
        use core::task::Poll;
        if !slot.park(self.key(), cx.waker()) {
            // The table is full (no `std`): poll again rather than risk sleeping forever.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // The task's half of the Dekker pair: the registration, a fence (the caller's
        // `fenced_announce`), the bit (set unless it is set already), then the last
        // look. (Setting the bit folds a second fence in, as the look at the bit must
        // precede the last look: one locked instruction on x86, see `or_then_fence`.)
        // Between processes it is always set anew: a notifier in another process may
        // clear it without our table. The fence is also the only one between the
        // registration (and `RingQueue`'s count) and the last look: `RingQueue`'s async
        // looks skip the ring's own "looks empty / full" fence.
        fenced_announce();
        if W::PROCESS_SHARED || self.state.load(Ordering::Relaxed) & TASKS == 0 {
            or_then_fence(&self.state, TASKS);
        }
        match condition() {
            Some(r) => {
                self.leave_slot(slot);
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }

    /// A task done waiting leaves the parked tasks. If the `TASKS` bit is clear now, a
    /// notifier cleared it after this slot's park read it (or set it) — coherence: that
    /// access comes before our load in the word's order — and a notifier that clears
    /// it looks for parked tasks once more afterwards, which finds this slot's waker
    /// (see "Async tasks" in the module docs) and removes it, at worst after we return
    /// (one spurious wake-up of a finished future): the slot is only forgotten. Else the
    /// slot leaves, which costs one load when its fast cell no longer holds it (the
    /// common path of a task woken by a notify: the notifier took it). Not with a
    /// process-shared strategy: there the notifier may be another process, whose table
    /// is not ours.
    #[cfg(feature = "async")]
    #[inline]
    fn leave_slot(&self, slot: &mut crate::asynch::TaskSlot) {
        if !slot.registered() {
            return;
        }
        // Mutant (see `cargo xtask test`'s mutant table): the slot is forgotten even
        // while the bit is set, so nobody removes its waker (a stale entry, a leak).
        // Not between processes: a notifier in another process clears the bit but
        // wakes (and removes) only the tasks of its own process's table.
        if (!W::PROCESS_SHARED && self.state.load(Ordering::Relaxed) & TASKS == 0)
            || cfg!(conkit_mutant = "waiters_forget_while_tasks")
        {
            slot.forget();
        } else {
            slot.leave();
        }
    }

    /// Awaits until `condition` returns `Some` (feature `async`): the async form of
    /// [`wait`](Self::wait), built on [`poll_async`](Self::poll_async). Cancellation-safe
    /// in the sense of the primitives: `condition` only changes state when it succeeds,
    /// and a dropped future leaves nothing parked.
    ///
    /// ```
    /// use conkit_core::wait::{Spin, Waiters};
    ///
    /// let w: Waiters<Spin> = Waiters::new();
    /// let fut = w.wait_async(|| Some(7));
    /// # let _ = fut;
    /// ```
    #[cfg(feature = "async")]
    pub fn wait_async<'a, R: 'a>(
        &'a self,
        mut condition: impl FnMut() -> Option<R> + 'a,
    ) -> impl core::future::Future<Output = R> + 'a {
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| self.poll_async(&mut slot, cx, &mut condition))
    }

    /// Whether a notify now would have anyone to wake: a caller inside a blocking wait,
    /// or (feature `async`) a task of this process parked on this object (a snapshot,
    /// one relaxed load). For primitives that skip their notify when nobody waits: they
    /// must test this rather than [`sleepers`](Self::sleepers), or parked tasks are
    /// never woken by them (the caller's own fence precedes the load, as for a notify).
    ///
    /// ```
    /// use conkit_core::wait::{Spin, Waiters};
    ///
    /// let w: Waiters<Spin> = Waiters::new();
    /// assert!(!w.anyone_waiting()); // a notify now would skip the wake-up
    /// ```
    #[inline]
    pub fn anyone_waiting(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (COUNT | TASKS) != 0
    }

    /// How many callers are currently inside a blocking wait (a snapshot). Between
    /// processes it also counts those that died inside one (see "Participants that
    /// die" in the module docs).
    pub fn sleepers(&self) -> u32 {
        self.state.load(Ordering::Relaxed) & COUNT
    }
}
