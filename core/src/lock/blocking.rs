//! `Lock<W>`: the lock that sleeps (Python's `threading.Lock`), whose owner can die.
//!
//! # Algorithm
//! Ulrich Drepper, "Futexes Are Tricky" (Red Hat, 2004–2011), mutex #3 — the design of
//! glibc's low-level lock and of Rust std's futex mutex — on the owner word of the Linux
//! robust/PI futexes (`futex(2)`, "Robust futexes"; `FUTEX_TID_MASK`, `FUTEX_WAITERS`,
//! `FUTEX_OWNER_DIED`), plus a count of sleepers that makes the waiters bit exact:
//!
//! | word | meaning |
//! |---|---|
//! | `0` | free |
//! | `owner` (bits 0–29, [`OWNER_MASK`]) | held by `owner` ([`WaitStrategy::owner_token`]: the kernel thread id with `std`, `1` on firmware) |
//! | `owner \| WAITERS` (bit 31) | held, and somebody sleeps (or is about to) |
//! | `OWNER_DIED` (bit 30) | free, left by an owner that died (the kernel's robust-list cleanup writes it; taking it reports the death) |
//!
//! The futex word is the owner word; a second word, `sleepers`, counts the waiters
//! between announcing themselves and waking up.
//!
//! * acquire: `compare_exchange(0, me)`; if that fails, look again through the
//!   strategy's adaptive phase while the lock is held without sleepers
//!   ([`W::RELAX_ROUNDS`](WaitStrategy::RELAX_ROUNDS) looks paused by
//!   [`W::relax`](WaitStrategy::relax): for the OS strategies only the yielding
//!   rounds — the same `sched_yield`s as [`Waiters`](crate::wait::Waiters), without its
//!   growing spins, so that a holder re-taking the lock keeps its streak; waking a
//!   sleeper costs tens of µs, more than most critical sections, and a yield lets a
//!   descheduled holder run; for the others, e.g. [`Spin`](crate::wait::Spin), every
//!   round's spin), then: if the lock is free, take it — with `me | WAITERS` if we have
//!   slept and `sleepers > 0`, else `me`; losing that race to another thread sends us
//!   back to the looks that remain, not to sleep; if it is held, count ourselves in
//!   `sleepers`, set `WAITERS` in the word and sleep with `W::wait(word, owner |
//!   WAITERS)`, then uncount ourselves and loop (with a new adaptive phase).
//! * release: `swap(0)`; if the old word had `WAITERS`, `W::wake_one(word)`. The
//!   uncontended pair is one compare-and-swap plus one swap and never enters the
//!   strategy; and because a waiter that took the lock sets `WAITERS` only when other
//!   sleepers remain (Drepper's mutex #3 always takes it in the contended state), a
//!   release after a contended episode makes no wake call once nobody sleeps — the
//!   issue #11 scaling run counted ~176 000 futex calls for 1 200 context switches
//!   before this.
//! * futex calls (issue #11, lock-futex): with more threads than cores and a short
//!   critical section, nearly every `FUTEX_WAIT` of the first owner-word version failed
//!   at once with `EAGAIN` (the holder released before the kernel looked at the word,
//!   which names the owner, so any hand-over changes it) and nearly every `FUTEX_WAKE`
//!   woke nobody: 200–5 000 futex calls per million acquisitions at 2–16 threads on 2
//!   cores against parking_lot's ~10. Three causes, each fixed: a spin of 7 pauses
//!   (under a µs on some CPUs) could not outlast a holder that releases and re-takes
//!   the lock (now the strategy's adaptive phase, with yields); a waiter that lost the
//!   race for a free lock went straight to sleep (now it looks again); and any thread
//!   that took the lock while a woken waiter was still counted in `sleepers` set
//!   `WAITERS` again, so its release woke nobody and the bit stayed set from release to
//!   release (now only a thread that has slept re-creates the bit: a woken waiter is
//!   responsible for the sleepers that remain, see below). Now ~2–12 per million,
//!   parking_lot's count; the test `lock_contended_by_four_threads_makes_few_futile_futex_calls`
//!   (`core/tests/lock.rs`) bounds it.
//! * the woken waiter is responsible for the sleepers still asleep: it either takes the
//!   lock (then its word carries `WAITERS`, as `sleepers > 0`), or goes back to sleep
//!   (setting `WAITERS` again), or — a timed acquire giving up — passes a wake-up on
//!   with `wake_one` when `sleepers > 0` (the mutant `lock_give_up_keeps_wake` is caught
//!   by `lock_timed_waiter_gives_up_behind_a_barger`). The loom models `lock_futex_no_lost_wakeup`,
//!   `lock_timed_waiter_loses_no_wakeup` and `lock_two_sleepers_both_wake` check it (the
//!   mutant `lock_waiters_bit_dropped`, a woken waiter that forgets the others, is
//!   caught), and `lock_release_after_contention_makes_no_wake_call` checks that the bit
//!   is exact (the mutant `lock_waiters_bit_sticky`, Drepper's "a waiter takes it
//!   contended", is caught). A thread that never slept needs no bit when it takes the
//!   lock: it takes a free word, so the release that freed it either had `WAITERS` and
//!   woke a waiter, now responsible for the sleepers that remain, or had none because
//!   every counted sleeper was already woken or not yet asleep (and will look again);
//!   the model
//!   `lock_barger_that_never_slept_makes_no_wake_call` checks it (the mutant
//!   `lock_barger_keeps_waiters`, the rule before, is caught).
//! * owner death: a waiter sleeps at most [`WaitStrategy::sleep_slice`] at a time; after
//!   a slice that passed without a wake-up it asks [`WaitStrategy::owner_alive`] about
//!   the owner in the word, and if the owner is gone replaces it by
//!   `compare_exchange(word, me | (word & WAITERS))` — exactly one waiter wins — and
//!   returns [`Acquired::OwnerDied`]. With the default strategy methods (everything but
//!   `SharedFutex`) owners never die and waiters sleep until woken. The loom model
//!   `lock_dead_owner_is_replaced_once` checks that two waiters of a dead owner take
//!   the lock one after the other (the mutant `lock_takeover_blind`, a plain store, is
//!   caught).
//!
//! The state word is the futex word, so this is the one primitive that calls the
//! [`WaitStrategy`] directly instead of going through [`Waiters`](crate::wait::Waiters).
//!
//! # Async (feature `async`)
//! [`acquire_async`](Lock::acquire_async), [`lock_async`](Lock::lock_async) and
//! [`poll_acquire`](Lock::poll_acquire) await the lock directly, with no wrapper: a
//! task that finds it held parks its waker in the process-wide table of
//! [`crate::asynch`] ([`TaskSlot`](crate::asynch::TaskSlot)), sets the `TASKS` bit of
//! `sleepers` (bit 31; the count keeps the bits below), and sets `WAITERS` in the word
//! with a compare-and-swap — also when it is already set, so that the release that
//! frees the word reads the task's write. A release that finds `WAITERS` (the
//! contended path, never the uncontended one) wakes one sleeping thread as before and,
//! after an `Acquire` fence, looks at `TASKS`: if set it clears it and wakes every
//! parked task. So a thread's plain `release` wakes tasks and a task's release (its
//! guard) wakes threads. A task that takes the lock sets no bit: a thread it overtook
//! sets `WAITERS` again as it goes back to sleep, and every other woken task re-parks
//! itself; with `TASKS` set, a thread that slept keeps `WAITERS` when it takes the lock
//! (`sleepers != 0`), so its release wakes them too. The async forms do not sleep in
//! slices, so a task behind an owner that died is only told at the next poll.
//!
//! # Progress
//! **Blocking.** Not fair: a running thread can take the lock before a woken sleeper
//! ("barging"), which keeps throughput high but lets a waiter starve under constant
//! contention. With [`Spin`](crate::wait::Spin) (the default without the `std`
//! feature) waiters spin; with a futex strategy (the default with `std`, and the std
//! adapter's `threading::Lock`) they sleep in the kernel. `try_acquire` never waits and
//! `release` never waits (it may issue a wake-up), so both may be used in an interrupt
//! handler if the strategy's `wake_one` may (for `Spin` it does nothing).
//!
//! Any thread may release a held lock, as with Python's `threading.Lock` (the owner in
//! the word is a record, not a permission); releasing a free lock is
//! [`ReleaseError::NotLocked`], detected exactly (the release is one `swap`).
//!
//! # Owners that die
//! Between processes (`Lock<SharedFutex>` in `MAP_SHARED` memory), a holder may be
//! killed. Its lock is then not lost: the next acquirer gets it within ~20 ms (see
//! [`SharedFutex`](crate::wait::SharedFutex#owners-that-die) for the probe and its
//! limits), and the `_or_recover` forms ([`acquire_or_recover`](Lock::acquire_or_recover),
//! [`acquire_until_or_recover`](Lock::acquire_until_or_recover),
//! [`try_acquire_or_recover`](Lock::try_acquire_or_recover)) say so with
//! [`Acquired::OwnerDied`]: you hold the lock, and the data it guards may be half
//! updated (pthreads' `EOWNERDEAD`). The plain forms recover the same way and drop that
//! information, so they never hang either.
//!
//! What a dead participant costs, and what it cannot cost:
//! * a dead **holder**: the critical section it left half done (reported as above);
//! * a dead **waiter** (killed asleep, or just woken before it took the lock): nothing
//!   is lost — the waiters of a `SharedFutex` lock sleep in slices and look again, so a
//!   wake-up given to a dead process delays the next one by at most a slice (16 ms);
//!   the sleeper count it leaves one too high only makes later contended releases call
//!   `wake_one` for nobody (the scenario `lock_waiter_killed_around_the_release` of
//!   `tests/tests/processes_locks.rs` kills waiters around the release 300 times);
//! * nothing hangs: every wait ends by a release, the holder's death, or its deadline.
//!
//! # When to use
//! Mutual exclusion between OS threads, processes (with a process-shared strategy) or
//! wasm workers, where a waiter should sleep instead of burning a core. On single-core
//! firmware with the [`Spin`](crate::wait::Spin) strategy it behaves like a spin lock: never `acquire` it
//! both in an interrupt handler and in the main loop of the same core (use
//! [`CriticalSectionMutex`](super::CriticalSectionMutex) for that).
//!
//! # Example
//! ```
//! use conkit_core::lock::{Acquired, BlockingMutex, Lock};
//!
//! static LOCK: Lock = Lock::new();
//! static SHARED: BlockingMutex<Vec<u32>> = BlockingMutex::new(Vec::new());
//!
//! LOCK.acquire();
//! // Released by another thread: allowed, as with Python's `threading.Lock`.
//! std::thread::spawn(|| LOCK.release().unwrap()).join().unwrap();
//! assert!(!LOCK.locked());
//! assert!(LOCK.release().is_err()); // NotLocked
//!
//! // Within one process owners never die: the outcome is always `Clean`.
//! assert_eq!(LOCK.acquire_or_recover(), Acquired::Clean);
//! LOCK.release().unwrap();
//!
//! SHARED.lock().push(7);
//! assert_eq!(*SHARED.lock(), [7]);
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroU32;

use super::{Acquired, ExclusiveLock, RawLock, ReleaseError};
use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::{Deadline, DefaultWait, WaitOutcome, WaitStrategy, OWNER_MASK};

/// Free.
const FREE: u32 = 0;
/// Somebody sleeps, or is about to (the Linux `FUTEX_WAITERS`).
const WAITERS: u32 = 1 << 31;
/// Free, left by an owner that died (the Linux `FUTEX_OWNER_DIED`).
const OWNER_DIED: u32 = 1 << 30;
/// In `sleepers`: async tasks of this process are parked on this lock (see "Async" in
/// the module docs).
#[cfg(feature = "async")]
const TASKS: u32 = 1 << 31;

/// A token as stored in the word: the strategy's (or owner id's) value, masked, never 0.
#[inline]
pub(crate) fn word_token(raw: u32) -> u32 {
    let t = raw & OWNER_MASK;
    if t == 0 {
        1
    } else {
        t
    }
}

/// A lock whose waiters sleep with the strategy `W` (see the [module docs](self)).
///
/// `W` is only a type parameter (`PhantomData`): the layout is two `u32` words whatever
/// the strategy (`#[repr(C)]`: the owner word, then the sleeper count), so a `Lock` can
/// live in a `static` or in memory shared between processes.
#[repr(C)]
pub struct Lock<W: WaitStrategy = DefaultWait> {
    /// The owner word: 0 free, else the owner's token | `WAITERS`; the futex word.
    state: AtomicU32,
    /// How many waiters are between announcing themselves and waking up.
    sleepers: AtomicU32,
    _strategy: PhantomData<W>,
}

// SAFETY: the only data is atomic words; `W` is never stored (it is a marker for the
// associated functions used to wait), so sharing or sending the lock shares no `W` value.
unsafe impl<W: WaitStrategy> Send for Lock<W> {}
// SAFETY: as above; every access to the words is atomic.
unsafe impl<W: WaitStrategy> Sync for Lock<W> {}

impl<W: WaitStrategy> fmt::Debug for Lock<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.state.load(Ordering::Relaxed);
        let state = if word & OWNER_MASK == 0 {
            "unlocked"
        } else if word & WAITERS != 0 {
            "locked (contended)"
        } else {
            "locked"
        };
        f.debug_struct("Lock")
            .field("state", &state)
            .field("owner", &NonZeroU32::new(word & OWNER_MASK))
            .finish()
    }
}

impl<W: WaitStrategy> Default for Lock<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WaitStrategy> Lock<W> {
    maybe_const_fn! {
        /// A free lock.
        #[must_use]
        pub fn new() -> Self {
            Self {
                state: AtomicU32::new(FREE),
                sleepers: AtomicU32::new(0),
                _strategy: PhantomData,
            }
        }
    }

    /// The calling thread's token (see [`WaitStrategy::owner_token`]).
    #[inline]
    fn me() -> u32 {
        word_token(W::owner_token())
    }

    /// Takes the lock if it is free; never waits (legal in an interrupt handler).
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_as(Self::me())
    }

    #[inline]
    pub(crate) fn try_acquire_as(&self, me: u32) -> bool {
        self.state
            .compare_exchange(FREE, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock if it is free, or if its owner is gone (per
    /// [`WaitStrategy::owner_alive`]); never waits. `None` if a live owner holds it.
    ///
    /// ```
    /// use conkit_core::lock::{Acquired, Lock};
    ///
    /// let lock: Lock = Lock::new();
    /// assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::Clean));
    /// assert_eq!(lock.try_acquire_or_recover(), None); // we are alive
    /// lock.release().unwrap();
    /// ```
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn try_acquire_or_recover(&self) -> Option<Acquired> {
        self.try_acquire_or_recover_as(Self::me(), true)
    }

    pub(crate) fn try_acquire_or_recover_as(&self, me: u32, probe: bool) -> Option<Acquired> {
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            let owner = word & OWNER_MASK;
            let (new, how) = if owner == 0 {
                let how = if word & OWNER_DIED != 0 {
                    Acquired::OwnerDied
                } else {
                    Acquired::Clean
                };
                (me | (word & WAITERS), how)
            } else if probe && !W::owner_alive(owner) {
                (me | (word & WAITERS), Acquired::OwnerDied)
            } else {
                return None;
            };
            match self
                .state
                .compare_exchange(word, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(how),
                Err(now) => word = now,
            }
        }
    }

    /// Takes the lock, sleeping (per `W`) as long as needed. A lock whose owner died is
    /// taken over (see [`acquire_or_recover`](Self::acquire_or_recover) to learn it).
    #[inline]
    pub fn acquire(&self) {
        let me = Self::me();
        if !self.try_acquire_weak(me) {
            let _ = self.acquire_contended(me, None, true);
        }
    }

    /// Takes the lock, sleeping as long as needed, and says whether its previous owner
    /// died holding it ([`Acquired::OwnerDied`]: the data it guards may be half updated).
    ///
    /// ```
    /// use conkit_core::lock::{Acquired, Lock};
    ///
    /// let lock: Lock = Lock::new();
    /// assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
    /// lock.release().unwrap();
    /// ```
    #[inline]
    pub fn acquire_or_recover(&self) -> Acquired {
        let me = Self::me();
        if self.try_acquire_weak(me) {
            Acquired::Clean
        } else {
            self.acquire_contended(me, None, true)
                .unwrap_or(Acquired::Clean)
        }
    }

    /// Takes the lock, waiting at most until `deadline`. Returns `true` if it was taken.
    /// A lock whose owner died is taken over.
    ///
    /// Tries at least once, even if the deadline has already passed.
    #[inline]
    #[must_use = "if it returns `true` the lock is held and must be released"]
    pub fn acquire_until(&self, deadline: W::Deadline) -> bool {
        let me = Self::me();
        self.try_acquire_weak(me) || self.acquire_contended(me, Some(deadline), true).is_some()
    }

    /// Takes the lock, waiting at most until `deadline`, and says how: `None` if the
    /// deadline passed, else whether the previous owner died holding it.
    ///
    /// Tries at least once, even if the deadline has already passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use conkit_core::lock::{Acquired, Lock};
    ///
    /// let lock: Lock = Lock::new();
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(lock.acquire_until_or_recover(soon), Some(Acquired::Clean));
    /// assert_eq!(lock.acquire_until_or_recover(soon), None); // held by a live owner
    /// lock.release().unwrap();
    /// ```
    #[inline]
    #[must_use = "if it returns `Some` the lock is held and must be released"]
    pub fn acquire_until_or_recover(&self, deadline: W::Deadline) -> Option<Acquired> {
        let me = Self::me();
        if self.try_acquire_weak(me) {
            Some(Acquired::Clean)
        } else {
            self.acquire_contended(me, Some(deadline), true)
        }
    }

    #[inline]
    fn try_acquire_weak(&self, me: u32) -> bool {
        self.state
            .compare_exchange_weak(FREE, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Looks again, pausing with the strategy's adaptive phase, while the lock is held
    /// without sleepers; returns the last word seen. `looks` counts the looks of this
    /// phase, so that a lost race resumes it instead of starting it again or going to
    /// sleep.
    ///
    /// With a strategy whose adaptive phase ends in yields (the OS ones), only those
    /// yielding rounds: a waiter that looks at the word every few spin hints catches the
    /// lock in the instant between the holder's release and its next acquire, so the
    /// lock changes hands (and its line and the data's move between cores) far more
    /// often than the work needs, and every hand-over costs both threads a cache miss.
    /// Measured (issue #11, 2026-12-07, Intel Xeon guest, 10 M increments of one counter,
    /// threads pinned to 2 cores, 7–15 interleaved runs): with 1 + 2 + 4 + 8 spin hints
    /// before the yields, 2 threads took 430–550 ms and 4–16 threads 270–330 ms
    /// (parking_lot, which spins 2 + 4 + 8 hints: 360–460 and 235–270 ms); yields only:
    /// 290–340 and 212–240 ms. The full spin (1 … 64 hints) was worse again (AMD guest:
    /// 2–4× parking_lot's hand-overs at 4 threads).
    #[inline]
    fn spin(&self, looks: &mut u32) -> u32 {
        // The spinning rounds skipped (none if the strategy never yields).
        let skipped = if W::RELAX_YIELD_ROUNDS == 0 {
            0
        } else {
            W::RELAX_ROUNDS - W::RELAX_YIELD_ROUNDS
        };
        // No pauses under loom, whose spin hint is a yield that would always let the
        // holder release first, hiding the sleeping path from the models.
        let rounds = if cfg!(loom) {
            0
        } else {
            W::RELAX_ROUNDS - skipped
        };
        loop {
            let word = self.state.load(Ordering::Relaxed);
            if word & OWNER_MASK == 0 || word & WAITERS != 0 || *looks >= rounds {
                return word;
            }
            W::relax(*looks + skipped);
            *looks += 1;
        }
    }

    /// The slow path of every acquisition by `me` (`probe`: whether a dead owner may be
    /// replaced); `None` only once `deadline` has passed.
    #[cold]
    pub(crate) fn acquire_contended(
        &self,
        me: u32,
        deadline: Option<W::Deadline>,
        probe: bool,
    ) -> Option<Acquired> {
        let mut looks = 0;
        let mut word = self.spin(&mut looks);
        let mut round = 0;
        // Whether we have waited in the strategy (and so may have consumed a wake-up).
        let mut slept = false;
        loop {
            if word & OWNER_MASK == 0 {
                // Free: take it, keeping the waiters bit for those still asleep (a
                // waiter that went back to sleep set it again itself, so this is the
                // only place it must be re-created).
                let waiters = if cfg!(conkit_mutant = "lock_waiters_bit_sticky") && slept {
                    // Drepper's mutex #3: whoever has slept takes it "contended".
                    WAITERS
                } else if cfg!(conkit_mutant = "lock_waiters_bit_dropped")
                    || (!slept && !cfg!(conkit_mutant = "lock_barger_keeps_waiters"))
                    || self.sleepers.load(Ordering::SeqCst) == 0
                {
                    0
                } else {
                    WAITERS
                };
                match self.state.compare_exchange(
                    word,
                    me | waiters,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if word & OWNER_DIED != 0 => return Some(Acquired::OwnerDied),
                    Ok(_) => return Some(Acquired::Clean),
                    Err(_) => {
                        word = self.spin(&mut looks);
                        continue;
                    }
                }
            }
            if deadline.is_some_and(|d| d.has_passed()) {
                if slept && !cfg!(conkit_mutant = "lock_give_up_keeps_wake") {
                    self.give_up();
                }
                return None;
            }
            // Held: announce ourselves, then make sure the word says somebody sleeps.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let expected = loop {
                if word & OWNER_MASK == 0 {
                    break None;
                }
                if word & WAITERS != 0 {
                    break Some(word);
                }
                match self.state.compare_exchange_weak(
                    word,
                    word | WAITERS,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break Some(word | WAITERS),
                    Err(now) => word = now,
                }
            };
            let mut slice_passed = false;
            if let Some(expected) = expected {
                slept = true;
                // Sleeps only while the word is unchanged; spurious returns just loop.
                slice_passed = W::wait(&self.state, expected, W::sleep_slice(deadline, round))
                    == WaitOutcome::TimedOut;
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if slice_passed && probe && !deadline.is_some_and(|d| d.has_passed()) {
                // A whole slice without a wake-up: is the owner still there?
                round += 1;
                let now = self.state.load(Ordering::Relaxed);
                let owner = now & OWNER_MASK;
                if owner != 0 && !W::owner_alive(owner) && self.take_over(now, me) {
                    return Some(Acquired::OwnerDied);
                }
            }
            looks = 0;
            word = self.spin(&mut looks);
        }
    }

    /// Replaces the dead owner of `word` by `me`; `false` if the word changed meanwhile
    /// (a release, or another waiter that replaced it first).
    #[inline]
    fn take_over(&self, word: u32, me: u32) -> bool {
        let new = me | (word & WAITERS);
        if cfg!(conkit_mutant = "lock_takeover_blind") {
            self.state.store(new, Ordering::SeqCst);
            return true;
        }
        self.state
            .compare_exchange(word, new, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// A timed acquisition gives up: a wake-up it may have consumed is passed on to the
    /// sleepers that remain (they would otherwise sleep while the lock is free, or held
    /// by a thread that took it without the waiters bit).
    #[cold]
    fn give_up(&self) {
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            W::wake_one(&self.state);
        }
    }

    /// Releases the lock (any thread may release it, as with Python's `threading.Lock`).
    ///
    /// # Errors
    /// [`ReleaseError::NotLocked`] if the lock was free (detected exactly).
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        let word = self.state.swap(FREE, Ordering::Release);
        if word & OWNER_MASK == 0 {
            return Err(ReleaseError::NotLocked);
        }
        if word & WAITERS != 0 {
            W::wake_one(&self.state);
            #[cfg(feature = "async")]
            self.wake_tasks();
        }
        Ok(())
    }

    /// The contended release's look for parked tasks (see "Async" in the module docs):
    /// the `Acquire` fence pairs with the task's compare-and-swap on the word that this
    /// release's swap read, so the task's `TASKS` bit (set before it) is seen here.
    #[cfg(feature = "async")]
    #[inline]
    fn wake_tasks(&self) {
        crate::atomic::fence(Ordering::Acquire);
        // Mutant (see `cargo xtask test`'s mutant table): a release wakes threads only.
        if self.sleepers.load(Ordering::Relaxed) & TASKS != 0
            && !cfg!(conkit_mutant = "lock_tasks_not_woken")
        {
            self.wake_tasks_slow();
        }
    }

    #[cfg(feature = "async")]
    #[cold]
    #[inline(never)]
    fn wake_tasks_slow(&self) {
        self.sleepers.fetch_and(!TASKS, Ordering::SeqCst);
        crate::asynch::wake_parked(core::ptr::from_ref(self) as usize);
    }

    /// The poll step of every async acquisition (feature `async`): takes the lock if it
    /// is free (`Ready`, with how: a dead owner's lock is reported as in
    /// [`acquire_or_recover`](Self::acquire_or_recover)), else parks the task in `slot`
    /// so that the next release — by a task or by a thread through the blocking API —
    /// wakes it (see "Async" in the module docs).
    ///
    /// ```
    /// use core::task::{Context, Poll, Waker};
    /// use conkit_core::asynch::TaskSlot;
    /// use conkit_core::lock::{Acquired, Lock};
    ///
    /// let lock: Lock = Lock::new();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut slot = TaskSlot::new();
    /// lock.acquire(); // a thread holds it
    /// assert!(lock.poll_acquire(&mut slot, &mut cx).is_pending());
    /// lock.release().unwrap(); // the thread's release wakes the task
    /// assert!(!slot.is_parked());
    /// assert_eq!(lock.poll_acquire(&mut slot, &mut cx), Poll::Ready(Acquired::Clean));
    /// lock.release().unwrap();
    /// ```
    #[cfg(feature = "async")]
    pub fn poll_acquire(
        &self,
        slot: &mut crate::asynch::TaskSlot,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Acquired> {
        self.poll_acquire_as(Self::me(), W::PROCESS_SHARED, slot, cx)
    }

    /// [`poll_acquire`](Self::poll_acquire) under the token `me` (a reentrant lock's
    /// owner id); `probe`: whether a dead owner may be replaced.
    #[cfg(feature = "async")]
    pub(crate) fn poll_acquire_as(
        &self,
        me: u32,
        probe: bool,
        slot: &mut crate::asynch::TaskSlot,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Acquired> {
        use core::task::Poll;
        loop {
            if let Some(how) = self.try_acquire_or_recover_as(me, probe) {
                slot.leave();
                return Poll::Ready(how);
            }
            if !slot.park(core::ptr::from_ref(self) as usize, cx.waker()) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.sleepers.fetch_or(TASKS, Ordering::SeqCst);
            // A compare-and-swap on the word, also when `WAITERS` is already set: the
            // release that frees the word reads it (or a later value) and then sees the
            // bit above; if the word is free meanwhile, try again.
            let mut word = self.state.load(Ordering::Relaxed);
            while word & OWNER_MASK != 0 {
                match self.state.compare_exchange_weak(
                    word,
                    word | WAITERS,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Poll::Pending,
                    Err(now) => word = now,
                }
            }
        }
    }

    /// Takes the lock, awaiting it (feature `async`); a dead owner's lock is taken
    /// over. Cancellation-safe: a future dropped before it completes holds nothing
    /// and leaves nothing parked.
    ///
    /// ```
    /// use conkit_core::lock::Lock;
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
    /// # }
    ///
    /// static LOCK: Lock = Lock::new();
    /// block_on(LOCK.acquire_async());
    /// assert!(LOCK.locked());
    /// LOCK.release().unwrap();
    /// ```
    #[cfg(feature = "async")]
    pub fn acquire_async(&self) -> impl core::future::Future<Output = ()> + '_ {
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| self.poll_acquire(&mut slot, cx).map(|_| ()))
    }

    /// [`acquire_async`](Self::acquire_async) that says how the lock was taken (as
    /// [`acquire_or_recover`](Self::acquire_or_recover)).
    #[cfg(feature = "async")]
    pub fn acquire_or_recover_async(&self) -> impl core::future::Future<Output = Acquired> + '_ {
        let mut slot = crate::asynch::TaskSlot::new();
        core::future::poll_fn(move |cx| self.poll_acquire(&mut slot, cx))
    }

    /// Takes the lock, awaiting it, and returns a guard that releases it when dropped
    /// (and wakes the next task or thread). The guard is `Send`: it may be dropped on
    /// another thread than the one that took it (a Python-style lock has no owner).
    #[cfg(feature = "async")]
    pub async fn lock_async(&self) -> LockGuard<'_, W> {
        self.acquire_async().await;
        LockGuard { lock: self }
    }

    /// `true` while somebody holds the lock (a snapshot).
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & OWNER_MASK != 0
    }

    /// The token of the holder (see [`WaitStrategy::owner_token`]: its kernel thread id
    /// with `std` on Linux), or `None` if the lock is free (a snapshot).
    ///
    /// ```
    /// use conkit_core::lock::Lock;
    /// use conkit_core::wait::{Spin, WaitStrategy};
    ///
    /// let lock: Lock<Spin> = Lock::new();
    /// assert_eq!(lock.owner(), None);
    /// lock.acquire();
    /// assert_eq!(lock.owner().map(|o| o.get()), Some(<Spin>::owner_token()));
    /// # lock.release().unwrap();
    /// ```
    #[inline]
    #[must_use]
    pub fn owner(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.state.load(Ordering::Relaxed) & OWNER_MASK)
    }

    /// The owner's token exactly as stored (0 if free), for [`ReentrantLock`]'s "is it
    /// me" test.
    ///
    /// [`ReentrantLock`]: super::ReentrantLock
    #[inline]
    pub(crate) fn owner_word(&self) -> u32 {
        self.state.load(Ordering::Relaxed) & OWNER_MASK
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, W> {
        self.acquire();
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free (never waits) and returns its guard.
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, W>> {
        if self.try_acquire() {
            Some(LockGuard { lock: self })
        } else {
            None
        }
    }

    /// Takes the lock, waiting at most until `deadline`, and returns its guard.
    #[inline]
    pub fn lock_until(&self, deadline: W::Deadline) -> Option<LockGuard<'_, W>> {
        if self.acquire_until(deadline) {
            Some(LockGuard { lock: self })
        } else {
            None
        }
    }
}

impl<W: WaitStrategy> RawLock for Lock<W> {
    #[inline]
    fn try_acquire(&self) -> bool {
        Lock::try_acquire(self)
    }
    #[inline]
    fn acquire(&self) {
        Lock::acquire(self);
    }
    #[inline]
    fn release(&self) -> Result<(), ReleaseError> {
        Lock::release(self)
    }
    #[inline]
    fn locked(&self) -> bool {
        Lock::locked(self)
    }
}

// SAFETY: every acquisition moves the owner bits of the word from 0 to a non-zero token
// (by a compare-and-swap from a word whose owner bits are 0, or from a word whose owner
// the strategy reports dead and which can therefore no longer run its critical section),
// and only `release` clears them, so while the lock is held by a live owner no
// acquisition succeeds, whoever asks; `release` may be called from any thread.
unsafe impl<W: WaitStrategy> ExclusiveLock for Lock<W> {}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, W: WaitStrategy = DefaultWait> {
    lock: &'a Lock<W>,
}

impl<W: WaitStrategy> fmt::Debug for LockGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl<W: WaitStrategy> Drop for LockGuard<'_, W> {
    #[inline]
    fn drop(&mut self) {
        // The guard proves the lock is held, so this cannot fail.
        let _ = self.lock.release();
    }
}
