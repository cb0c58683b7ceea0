//! Counting and bounded semaphores (Python's `threading.Semaphore` and
//! `threading.BoundedSemaphore`).
//!
//! A semaphore holds a count of permits. [`acquire`](Semaphore::acquire) takes one,
//! waiting while there is none; [`release`](Semaphore::release) gives one back and
//! wakes waiters. The `_many` forms take or give `n` permits at once, atomically (all
//! or nothing). [`BoundedSemaphore`] additionally refuses to be released above its
//! initial value, which catches "released more often than acquired" bugs, exactly like
//! Python's `ValueError: Semaphore released too many times`.
//!
//! ```
//! use conkit_core::semaphore::{BoundedSemaphore, Semaphore, SemaphoreError};
//!
//! // At most two users of the radio at a time; a `static`, no allocation.
//! static RADIO: Semaphore = Semaphore::new(2);
//!
//! {
//!     let _a = RADIO.acquire_guard();
//!     let _b = RADIO.acquire_guard();
//!     assert!(!RADIO.try_acquire()); // both permits are taken
//! } // the guards give them back
//! assert_eq!(RADIO.value(), 2);
//!
//! let pool: BoundedSemaphore = BoundedSemaphore::new(1);
//! pool.acquire();
//! pool.release().unwrap();
//! assert_eq!(pool.release(), Err(SemaphoreError::Overflow)); // one release too many
//! assert_eq!(pool.value(), 1); // ...and the count is unchanged
//! ```
//!
//! # Algorithm and provenance
//! Dijkstra's counting semaphore (P/V, "Cooperating Sequential Processes", 1965) with
//! Python's API. The count is one `AtomicU32`:
//!
//! * acquiring `n` is a compare-and-swap loop `c -> c - n` that gives up (the `try_*`
//!   forms) when `c < n` — the same fast path as the permit counters of
//!   `tokio::sync::Semaphore` and `embassy_sync::semaphore`;
//! * releasing `n` is a compare-and-swap loop `c -> c + n` that refuses with
//!   [`SemaphoreError::Overflow`] when the result would pass the bound (`u32::MAX`, or
//!   the initial value of a [`BoundedSemaphore`]), leaving the count unchanged; then it
//!   notifies the blocked callers through the [`Waiters`] event count.
//!
//! Release uses [`Waiters::notify_all`], not `notify_one`: a waiter for 3 permits and a
//! waiter for 1 permit are not interchangeable, so waking "one" could wake the one that
//! still cannot proceed while the other sleeps on. Every woken waiter re-runs its
//! compare-and-swap; those that lose go back to sleep. With no sleepers, a release costs
//! one fence and one load on top of the compare-and-swap.
//!
//! Both types share one private core (the count, the waiters, and the algorithm above
//! parameterised by the bound); [`BoundedSemaphore`] only adds the bound.
//!
//! # Progress
//! * `try_acquire*`, `release*` and `value` are **lock-free**: a compare-and-swap fails
//!   only because another caller's succeeded. They never wait, so they are legal in an
//!   interrupt handler (e.g. an ISR releasing a permit when a DMA buffer frees up).
//!   On cores without compare-and-swap (thumbv6m, with the `portable-atomic` feature)
//!   each compare-and-swap is a short critical section.
//! * The blocking and async forms are **not fair**: there is no FIFO of waiters, a
//!   newcomer may take a permit a sleeper was woken for (barging), and a waiter for many
//!   permits can be starved by a stream of single-permit acquirers. If you need FIFO
//!   hand-off, put a ticket lock in front.
//!
//! # Participants that die
//! Between processes (a semaphore in `MAP_SHARED` memory with a process-shared
//! strategy such as `SharedFutex`) any caller can be killed at any point. The permits
//! are one anonymous count, so:
//! * a process killed while **holding** permits takes them with it: they are gone, as
//!   in CPython's `multiprocessing.Semaphore` (nothing records who holds what). Other
//!   acquirers then wait for permits that never come back: use the `_until` forms and
//!   release the lost permits by hand (or rebuild the semaphore) once you know the
//!   holder died;
//! * a process killed while **waiting** (asleep, or woken and not yet running) costs
//!   nothing: a release wakes every waiter ([`Waiters`] never
//!   hands a wake-up to one process alone between processes), and a permit the dead
//!   waiter had not taken stays for the others;
//! * a process killed between its release and the wake-up delays a sleeper by at most
//!   one sleep slice (at most 16 ms with `SharedFutex`).
//!
//! Nothing waits without bound but an acquire without a deadline for permits that
//! nobody will release.
//!
//! # When to use / when not
//! Use it to bound how many callers use a resource at once (connections, buffers, a
//! bus), or as a counter of available items signalled from an interrupt. To guard data,
//! prefer a mutex from [`crate::lock`]; to signal a condition that stays true, use an
//! [`Event`](crate::event::Event) or [`EventFlags`](crate::event_flags::EventFlags).
//!
//! # Async
//! With the `async` feature, both types are awaitable directly:
//! `acquire_async().await`, `acquire_many_async(n).await`, `acquire_guard_async().await`
//! (the guard is `Send`). A parked task is woken by every release, whoever makes it — a
//! task, a thread through the plain `release`, an interrupt handler — through the
//! `TASKS` bit of the [`Waiters`] word (see "Async tasks" there); a program that never
//! awaits pays one more bit test per contended release and nothing else.
//! The older wrapper `asynch::Async<Semaphore<W>, K>` still offers `acquire().await`,
//! `acquire_many(n).await` and `acquire_guard().await`; they forward to the forms above
//! (its waker set is no longer used), so any release wakes them.

use core::fmt;

use crate::atomic::{maybe_const_fn, AtomicU32, Ordering};
use crate::wait::{DefaultWait, WaitStrategy, Waiters};

/// Why a release was refused. The count is unchanged when this is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SemaphoreError {
    /// The count would exceed its bound: `u32::MAX` for a [`Semaphore`], the initial
    /// value for a [`BoundedSemaphore`] (Python: `ValueError: Semaphore released too
    /// many times`).
    Overflow,
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreError::Overflow => "semaphore released too many times",
        })
    }
}

impl core::error::Error for SemaphoreError {}

/// The one algorithm behind [`Semaphore`] and [`BoundedSemaphore`]; the bound is an
/// argument of `release_many`.
#[repr(C)]
struct Core<W: WaitStrategy> {
    count: AtomicU32,
    waiters: Waiters<W>,
}

// SAFETY: `Core` holds only atomics (the count and the `Waiters` words); `W` is a
// zero-sized strategy used only through associated functions and never stored, so
// sharing or sending a `Core` never shares or sends a `W` value.
unsafe impl<W: WaitStrategy> Sync for Core<W> {}
// SAFETY: as above: no `W` value is ever stored.
unsafe impl<W: WaitStrategy> Send for Core<W> {}

impl<W: WaitStrategy> Core<W> {
    maybe_const_fn! {
        fn new(value: u32) -> Self {
            Self {
                count: AtomicU32::new(value),
                waiters: Waiters::new(),
            }
        }
    }

    #[inline]
    fn try_acquire_many(&self, n: u32) -> bool {
        if n == 0 {
            return true;
        }
        let mut current = self.count.load(Ordering::Relaxed);
        loop {
            if current < n {
                return false;
            }
            match self.count.compare_exchange_weak(
                current,
                current - n,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    #[inline]
    fn acquire_many(&self, n: u32) {
        self.waiters.wait(|| self.try_acquire_many(n).then_some(()));
    }

    #[inline]
    fn acquire_many_until(&self, n: u32, deadline: W::Deadline) -> bool {
        self.waiters
            .wait_until(Some(deadline), || self.try_acquire_many(n).then_some(()))
            .is_some()
    }

    /// Adds `n` permits unless the count would pass `bound`; wakes the waiters.
    #[inline]
    fn release_many(&self, n: u32, bound: u32) -> Result<(), SemaphoreError> {
        if n == 0 {
            return Ok(());
        }
        let mut current = self.count.load(Ordering::Relaxed);
        loop {
            let next = match current.checked_add(n) {
                Some(next) if next <= bound => next,
                _ => return Err(SemaphoreError::Overflow),
            };
            match self.count.compare_exchange_weak(
                current,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        // Waiters for different permit counts are not interchangeable: wake them all.
        self.waiters.notify_all();
        Ok(())
    }

    #[inline]
    fn value(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }
}

/// A counting semaphore (Python's `threading.Semaphore`), generic over how a blocked
/// caller waits (`W`, [`DefaultWait`] by default: spinning without the `std` feature, a
/// futex with it).
///
/// Layout: one `u32` count plus the two `u32` words of [`Waiters`]; no pointers, so it
/// can be a `static` or live in memory shared between processes (with a process-shared
/// strategy). See the [module docs](self) for the algorithm and its guarantees.
///
/// ```
/// use conkit_core::semaphore::Semaphore;
///
/// static ITEMS: Semaphore = Semaphore::new(0);
///
/// // An interrupt handler (or another thread) signals: never waits.
/// ITEMS.release().unwrap();
/// ITEMS.release_many(2).unwrap();
///
/// // The consumer takes them.
/// ITEMS.acquire();
/// assert!(ITEMS.try_acquire_many(2));
/// assert!(!ITEMS.try_acquire());
/// ```
#[repr(C)]
pub struct Semaphore<W: WaitStrategy = DefaultWait> {
    core: Core<W>,
}

/// A semaphore that refuses to be released above its initial value (Python's
/// `threading.BoundedSemaphore`): such a release returns [`SemaphoreError::Overflow`]
/// and leaves the count unchanged.
///
/// Same algorithm and layout as [`Semaphore`], plus the bound (one `u32`).
///
/// ```
/// use conkit_core::semaphore::{BoundedSemaphore, SemaphoreError};
///
/// static CONNECTIONS: BoundedSemaphore = BoundedSemaphore::new(3);
///
/// CONNECTIONS.acquire_many(2);
/// assert_eq!(CONNECTIONS.value(), 1);
/// CONNECTIONS.release_many(2).unwrap();
/// assert_eq!(CONNECTIONS.release(), Err(SemaphoreError::Overflow));
/// assert_eq!((CONNECTIONS.value(), CONNECTIONS.initial()), (3, 3));
/// ```
#[repr(C)]
pub struct BoundedSemaphore<W: WaitStrategy = DefaultWait> {
    core: Core<W>,
    initial: u32,
}

impl<W: WaitStrategy> Semaphore<W> {
    maybe_const_fn! {
        /// A semaphore holding `value` permits.
        pub fn new(value: u32) -> Self {
            Self { core: Core::new(value) }
        }
    }

    /// The bound releases are checked against.
    #[inline]
    fn bound(&self) -> u32 {
        u32::MAX
    }
}

impl<W: WaitStrategy> BoundedSemaphore<W> {
    maybe_const_fn! {
        /// A bounded semaphore holding `value` permits; `value` is also the most it
        /// will ever hold.
        pub fn new(value: u32) -> Self {
            Self { core: Core::new(value), initial: value }
        }
    }

    /// The initial value, which is also the bound on the count.
    #[inline]
    pub fn initial(&self) -> u32 {
        self.initial
    }

    /// The bound releases are checked against.
    #[inline]
    fn bound(&self) -> u32 {
        self.initial
    }
}

/// The public front ends shared by both semaphore types (one set of docs, delegating to
/// the one `Core`).
macro_rules! front_ends {
    ($ty:ident, $bound_doc:literal) => {
        impl<W: WaitStrategy> $ty<W> {
            /// Takes one permit if there is one; never waits (legal in an interrupt
            /// handler). Returns whether it took it.
            #[inline]
            pub fn try_acquire(&self) -> bool {
                self.core.try_acquire_many(1)
            }

            /// Takes `n` permits at once if there are at least `n`; never waits.
            /// `n == 0` always succeeds.
            #[inline]
            pub fn try_acquire_many(&self, n: u32) -> bool {
                self.core.try_acquire_many(n)
            }

            /// Takes one permit, waiting (with strategy `W`) as long as needed.
            #[inline]
            pub fn acquire(&self) {
                self.core.acquire_many(1);
            }

            /// Takes `n` permits at once (all or nothing), waiting as long as needed.
            /// `n == 0` returns at once.
            ///
            /// A request for more permits than can ever be available (more than the
            #[doc = $bound_doc]
            /// or more than the releasers will give) waits forever; use
            /// [`acquire_many_until`](Self::acquire_many_until) to bound it.
            #[inline]
            pub fn acquire_many(&self, n: u32) {
                self.core.acquire_many(n);
            }

            /// Takes one permit, waiting at most until `deadline`. Returns whether it
            /// took it.
            #[inline]
            pub fn acquire_until(&self, deadline: W::Deadline) -> bool {
                self.core.acquire_many_until(1, deadline)
            }

            /// Takes `n` permits at once, waiting at most until `deadline`. Returns
            /// whether it took them (`false`: it took none).
            #[inline]
            pub fn acquire_many_until(&self, n: u32, deadline: W::Deadline) -> bool {
                self.core.acquire_many_until(n, deadline)
            }

            /// Gives one permit back and wakes waiters. Never waits (legal in an
            /// interrupt handler).
            ///
            /// # Errors
            /// [`SemaphoreError::Overflow`] if the count would pass
            #[doc = $bound_doc]
            /// the count is then unchanged.
            #[inline]
            pub fn release(&self) -> Result<(), SemaphoreError> {
                self.core.release_many(1, self.bound())
            }

            /// Gives `n` permits back at once (Python 3.9's `release(n)`) and wakes
            /// waiters. Never waits (legal in an interrupt handler).
            ///
            /// # Errors
            /// [`SemaphoreError::Overflow`] if the count would pass
            #[doc = $bound_doc]
            /// the count is then unchanged (no permit is added).
            #[inline]
            pub fn release_many(&self, n: u32) -> Result<(), SemaphoreError> {
                self.core.release_many(n, self.bound())
            }

            /// Sleeps until at least `n` permits are available or `deadline` passes,
            /// *taking none*; returns whether they were available (a snapshot: another
            /// caller may take them first). A watcher, not a waiter: it sleeps among
            /// the waiters and every release wakes it, but with a process-shared
            /// strategy in one piece until `deadline` (see [`Waiters::watch_until`]):
            /// for a helper that wakes others when permits come back (the async proxy
            /// of the `std` adapter's process-shared semaphores).
            ///
            /// ```
            #[doc = concat!("use conkit_core::semaphore::", stringify!($ty), ";")]
            /// use conkit_core::wait::Spin;
            ///
            #[doc = concat!("let sem: ", stringify!($ty), "<Spin> = ", stringify!($ty), "::new(2);")]
            /// assert!(sem.watch_available_until(2, None)); // there: returns at once
            /// assert_eq!(sem.value(), 2); // and took none
            /// ```
            pub fn watch_available_until(&self, n: u32, deadline: Option<W::Deadline>) -> bool {
                self.core
                    .waiters
                    .watch_until(deadline, || (self.core.value() >= n).then_some(()))
                    .is_some()
            }

            /// The number of available permits (a snapshot; Python's `_value`).
            #[inline]
            pub fn value(&self) -> u32 {
                self.core.value()
            }

            /// Takes one permit if there is one, as a guard that gives it back when
            /// dropped; never waits.
            #[inline]
            pub fn try_acquire_guard(&self) -> Option<SemaphoreGuard<'_, W>> {
                self.core
                    .try_acquire_many(1)
                    .then(|| SemaphoreGuard::new(&self.core, self.bound(), 1))
            }

            /// Takes one permit, waiting as needed, as a guard that gives it back when
            /// dropped (Python's `with semaphore:`).
            #[inline]
            pub fn acquire_guard(&self) -> SemaphoreGuard<'_, W> {
                self.core.acquire_many(1);
                SemaphoreGuard::new(&self.core, self.bound(), 1)
            }

            /// Takes `n` permits, waiting as needed, as a guard that gives them all back
            /// when dropped.
            #[inline]
            pub fn acquire_many_guard(&self, n: u32) -> SemaphoreGuard<'_, W> {
                self.core.acquire_many(n);
                SemaphoreGuard::new(&self.core, self.bound(), n)
            }

            /// Takes one permit, waiting at most until `deadline`, as a guard that gives
            /// it back when dropped (`None`: timed out).
            #[inline]
            pub fn acquire_guard_until(
                &self,
                deadline: W::Deadline,
            ) -> Option<SemaphoreGuard<'_, W>> {
                self.core
                    .acquire_many_until(1, deadline)
                    .then(|| SemaphoreGuard::new(&self.core, self.bound(), 1))
            }
        }

        #[cfg(feature = "async")]
        impl<W: WaitStrategy> $ty<W> {
            /// Takes one permit, awaiting until there is one (feature `async`). Woken by
            /// every release: a task's, a thread's, an interrupt handler's.
            ///
            /// Cancellation-safe: a future dropped before it completes takes nothing, and
            /// since a release wakes every parked task, a dropped one swallows no permit
            /// meant for another.
            ///
            /// ```
            #[doc = concat!("use conkit_core::semaphore::", stringify!($ty), ";")]
            /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
            /// #     let mut f = core::pin::pin!(f);
            /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
            /// #     loop { if let core::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } }
            /// # }
            ///
            #[doc = concat!("static SEM: ", stringify!($ty), " = ", stringify!($ty), "::new(1);")]
            /// block_on(SEM.acquire_async());
            /// assert_eq!(SEM.value(), 0);
            /// SEM.release().unwrap();
            /// ```
            pub fn acquire_async(&self) -> impl core::future::Future<Output = ()> + '_ {
                self.acquire_many_async(1)
            }

            /// Takes `n` permits at once (all or nothing), awaiting until there are
            /// enough (feature `async`). `n == 0` completes at once. Cancellation-safe.
            pub fn acquire_many_async(&self, n: u32) -> impl core::future::Future<Output = ()> + '_ {
                self.core
                    .waiters
                    .wait_async(move || self.core.try_acquire_many(n).then_some(()))
            }

            /// Takes one permit, awaiting until there is one, as a guard that gives it
            /// back when dropped (feature `async`); the guard is `Send`.
            pub async fn acquire_guard_async(&self) -> SemaphoreGuard<'_, W> {
                self.acquire_many_async(1).await;
                SemaphoreGuard::new(&self.core, self.bound(), 1)
            }

            /// Takes `n` permits, awaiting until there are enough, as a guard that gives
            /// them all back when dropped (feature `async`).
            pub async fn acquire_many_guard_async(&self, n: u32) -> SemaphoreGuard<'_, W> {
                self.acquire_many_async(n).await;
                SemaphoreGuard::new(&self.core, self.bound(), n)
            }
        }

        impl<W: WaitStrategy> fmt::Debug for $ty<W> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("value", &self.value())
                    .field("bound", &self.bound())
                    .field("sleepers", &self.core.waiters.sleepers())
                    .finish()
            }
        }

        impl<W: WaitStrategy> Default for $ty<W> {
            /// One permit, like Python's `Semaphore()` / `BoundedSemaphore()`.
            fn default() -> Self {
                Self::new(1)
            }
        }

        #[cfg(feature = "async")]
        impl<W: WaitStrategy, const K: usize> crate::asynch::Async<$ty<W>, K> {
            /// Takes one permit, awaiting until there is one.
            ///
            /// Cancellation-safe: dropping the future before it completes takes nothing.
            pub async fn acquire(&self) {
                self.acquire_many(1).await;
            }

            /// Takes `n` permits at once (all or nothing), awaiting until there are
            /// enough. `n == 0` completes at once. Cancellation-safe.
            ///
            /// Forwards to the semaphore's own
            #[doc = concat!("[`", stringify!($ty), "::acquire_many_async`]:")]
            /// a release by a thread, an interrupt or the inner semaphore wakes it too.
            pub async fn acquire_many(&self, n: u32) {
                self.inner().acquire_many_async(n).await;
            }

            /// Takes one permit, awaiting until there is one, as a guard that gives it
            /// back (and wakes parked tasks) when dropped.
            pub async fn acquire_guard(&self) -> AsyncSemaphoreGuard<'_, W, K> {
                self.acquire_many(1).await;
                AsyncSemaphoreGuard {
                    inner: SemaphoreGuard::new(&self.inner().core, self.inner().bound(), 1),
                    wakers: self.wakers(),
                }
            }

            /// Gives one permit back, waking parked tasks and blocked callers. Never
            /// waits.
            ///
            /// # Errors
            #[doc = concat!("As [`", stringify!($ty), "::release`]: the count is unchanged on error.")]
            pub fn release(&self) -> Result<(), SemaphoreError> {
                self.release_many(1)
            }

            /// Gives `n` permits back, waking parked tasks and blocked callers. Never
            /// waits.
            ///
            /// # Errors
            #[doc = concat!("As [`", stringify!($ty), "::release_many`]: the count is unchanged on error.")]
            pub fn release_many(&self, n: u32) -> Result<(), SemaphoreError> {
                // The semaphore's own release wakes the tasks parked on it (its `TASKS`
                // bit); nothing parks in the wrapper's set any more.
                self.inner().release_many(n)
            }
        }
    };
}

front_ends!(Semaphore, "`u32::MAX`;");
front_ends!(BoundedSemaphore, "initial value;");

/// Permits taken from a [`Semaphore`] or [`BoundedSemaphore`], given back on drop.
///
/// If giving them back fails (only possible when somebody else released permits that
/// were never acquired, so the count is at its bound), the permits are dropped: the
/// count stays at its bound.
#[must_use = "dropping the guard gives the permits back at once"]
pub struct SemaphoreGuard<'a, W: WaitStrategy = DefaultWait> {
    core: &'a Core<W>,
    bound: u32,
    permits: u32,
}

impl<'a, W: WaitStrategy> SemaphoreGuard<'a, W> {
    #[inline]
    fn new(core: &'a Core<W>, bound: u32, permits: u32) -> Self {
        Self {
            core,
            bound,
            permits,
        }
    }

    /// How many permits this guard holds.
    #[inline]
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// Keeps the permits taken: the guard is consumed without giving them back.
    #[inline]
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl<W: WaitStrategy> Drop for SemaphoreGuard<'_, W> {
    fn drop(&mut self) {
        if self.permits != 0 {
            // See the type docs: a refused give-back means the count is at its bound.
            let _ = self.core.release_many(self.permits, self.bound);
        }
    }
}

impl<W: WaitStrategy> fmt::Debug for SemaphoreGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("permits", &self.permits)
            .finish()
    }
}

/// A permit taken by `acquire_guard().await` on
/// `asynch::Async<Semaphore<W>, K>` (or on a [`BoundedSemaphore`]):
/// given back on drop, waking parked tasks and blocked callers.
#[cfg(feature = "async")]
#[must_use = "dropping the guard gives the permit back at once"]
pub struct AsyncSemaphoreGuard<'a, W: WaitStrategy, const K: usize> {
    inner: SemaphoreGuard<'a, W>,
    wakers: &'a crate::asynch::WakerSet<K>,
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> AsyncSemaphoreGuard<'_, W, K> {
    /// How many permits this guard holds.
    #[inline]
    pub fn permits(&self) -> u32 {
        self.inner.permits
    }

    /// Keeps the permits taken: the guard is consumed without giving them back.
    #[inline]
    pub fn forget(mut self) {
        self.inner.permits = 0;
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> Drop for AsyncSemaphoreGuard<'_, W, K> {
    fn drop(&mut self) {
        if self.inner.permits != 0 {
            let permits = core::mem::take(&mut self.inner.permits);
            // The semaphore's release wakes the tasks parked on it; the wrapper's set
            // is kept for old callers and is empty.
            if self
                .inner
                .core
                .release_many(permits, self.inner.bound)
                .is_ok()
            {
                self.wakers.wake_all();
            }
        }
    }
}

#[cfg(feature = "async")]
impl<W: WaitStrategy, const K: usize> fmt::Debug for AsyncSemaphoreGuard<'_, W, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSemaphoreGuard")
            .field("permits", &self.inner.permits)
            .finish()
    }
}
