//! [`Barrier`]: Python's `threading.Barrier` for OS threads.
//!
//! The Python mapping and examples are on [`Barrier`].

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use conkit_core::barrier::Barrier as CoreBarrier;
pub use conkit_core::barrier::{BrokenBarrier, InvalidParties};

use crate::wait::{deadline_after, Futex, InstantWait};

/// The action run by the last party of each round.
type Action = Box<dyn Fn() + Send + Sync + 'static>;

/// A reusable barrier for a fixed number of threads (Python's `threading.Barrier`).
///
/// ```
/// use std::time::Duration;
/// use conkit::threading::{Barrier, BrokenBarrier};
///
/// let b = Barrier::new(2);
/// // Nobody else arrives: the timeout breaks the barrier (for every party).
/// assert_eq!(b.wait_timeout(Duration::from_millis(10)), Err(BrokenBarrier));
/// assert!(b.broken());
/// b.reset();
/// assert!(!b.broken());
/// ```
///
/// # Algorithm
/// A [`conkit_core::barrier::Barrier`] (CPython's filling / draining / resetting /
/// broken state machine on one atomic word; see that module) with the [`Futex`]
/// strategy, plus the optional action and default timeout of Python's constructor.
///
/// # Python mapping
/// | Python | conkit |
/// |---|---|
/// | `Barrier(parties)` | [`Barrier::new(parties)`](Barrier::new) (`const`; 0 parties is a compile error in a `static`), [`Barrier::try_new(n)`](Barrier::try_new) → `Result` for a count known at run time (`ValueError` → [`InvalidParties`]) |
/// | `Barrier(parties, action)` | [`Barrier::new(parties).with_action(action)`](Barrier::with_action) |
/// | `Barrier(parties, timeout=t)` | [`Barrier::new(parties).with_timeout(t)`](Barrier::with_timeout) |
/// | `b.wait()` → index | [`wait()`](Barrier::wait) → `Ok(index)` |
/// | `b.wait(timeout)` | [`wait_timeout(d)`](Barrier::wait_timeout), [`wait_until(deadline)`](Barrier::wait_until) |
/// | `b.parties`, `b.n_waiting`, `b.broken` | [`parties()`](Barrier::parties), [`n_waiting()`](Barrier::n_waiting), [`broken()`](Barrier::broken) |
/// | `b.abort()`, `b.reset()` | [`abort()`](Barrier::abort), [`reset()`](Barrier::reset) |
/// | `BrokenBarrierError` | [`BrokenBarrier`] |
///
/// As in Python, a party whose timeout passes breaks the barrier for every party, and
/// an action that panics (Python: raises) breaks it: every other party gets
/// [`BrokenBarrier`], and the panic continues in the thread that ran the action (Python
/// re-raises the exception there).
///
/// # Example
/// ```
/// use conkit::threading::{self, Barrier};
///
/// static START: Barrier = Barrier::new(3);
///
/// let mut indices: Vec<usize> = threading::scope(|s| {
///     let workers: Vec<_> = (0..3).map(|_| s.spawn(|| START.wait().unwrap())).collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect()
/// });
/// indices.sort_unstable();
/// assert_eq!(indices, [0, 1, 2]); // every party got its own arrival index
/// ```
///
/// A barrier with an action (a boxed closure) cannot be built in a `const`; keep such
/// a barrier in a `LazyLock` (or an `Arc`, or borrow it in [`scope`](super::scope)):
/// ```
/// use std::sync::LazyLock;
/// use conkit::threading::Barrier;
///
/// static ROUND: LazyLock<Barrier> =
///     LazyLock::new(|| Barrier::new(1).with_action(|| println!("round done")));
/// assert_eq!(ROUND.wait(), Ok(0));
/// ```
///
/// `W` is how a blocked caller sleeps, [`Futex`] unless written (see
/// [`Lock`'s waiting strategy](super::Lock#the-waiting-strategy)); a barrier with
/// another strategy is made by [`with_strategy`](Barrier::with_strategy) or
/// [`try_with_strategy`](Barrier::try_with_strategy).
pub struct Barrier<W: InstantWait = Futex> {
    inner: CoreBarrier<W>,
    action: Option<Action>,
    timeout: Option<Duration>,
}

impl Barrier {
    /// A barrier for `parties` threads (Python: `Barrier(parties)`). `const`, so it can
    /// be a `static`.
    ///
    /// # Panics
    /// If `parties` is `0` or more than
    /// [`MAX_PARTIES`](conkit_core::barrier::MAX_PARTIES) (Python: `ValueError`). In a
    /// `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// use conkit::threading::Barrier;
    /// static NOBODY: Barrier = Barrier::new(0); // error: a barrier needs 1 or more parties
    /// ```
    ///
    /// For a count only known at run time, [`try_new`](Self::try_new) returns the error
    /// instead.
    ///
    /// Makes the default `Barrier<Futex>`; [`with_strategy`](Barrier::with_strategy)
    /// makes one with another waiting strategy.
    #[must_use]
    pub const fn new(parties: u32) -> Self {
        Self::with_strategy(parties)
    }

    /// A barrier for `parties` threads, or [`InvalidParties`] if `parties` is `0` or more
    /// than [`MAX_PARTIES`](conkit_core::barrier::MAX_PARTIES) (Python: `ValueError`).
    ///
    /// ```
    /// use conkit::threading::{Barrier, InvalidParties};
    ///
    /// let workers: Vec<u32> = Vec::new();
    /// let parties = u32::try_from(workers.len()).unwrap_or(u32::MAX);
    /// assert_eq!(Barrier::try_new(parties).err(), Some(InvalidParties(0)));
    /// ```
    ///
    /// # Errors
    /// [`InvalidParties`], as above.
    pub const fn try_new(parties: u32) -> Result<Self, InvalidParties> {
        Self::try_with_strategy(parties)
    }
}

impl<W: InstantWait> Barrier<W> {
    /// A barrier for `parties` threads whose waiters sleep with the strategy `W`.
    /// `const`, so it can be a `static`.
    ///
    /// ```
    /// use conkit::threading::Barrier;
    /// use conkit::wait::Parking;
    ///
    /// static ALONE: Barrier<Parking> = Barrier::with_strategy(1);
    /// assert_eq!(ALONE.wait(), Ok(0));
    /// ```
    ///
    /// # Panics
    /// As [`Barrier::new`]: if `parties` is `0` or more than
    /// [`MAX_PARTIES`](conkit_core::barrier::MAX_PARTIES) (or
    /// [`MAX_SHARED_PARTIES`](conkit_core::barrier::MAX_SHARED_PARTIES) with a
    /// process-shared strategy `W`) (a compile-time error in a
    /// `static` or `const`); [`try_with_strategy`](Self::try_with_strategy) returns the
    /// error instead.
    #[must_use]
    pub const fn with_strategy(parties: u32) -> Self {
        assert!(
            parties != 0 && parties <= CoreBarrier::<W>::MAX,
            "a barrier needs 1 to 2^30 - 1 parties (8191 with a process-shared strategy)"
        );
        Self::valid(parties)
    }

    /// A barrier for `parties` threads whose waiters sleep with the strategy `W`, or
    /// [`InvalidParties`] as [`Barrier::try_new`].
    ///
    /// ```
    /// use conkit::threading::{Barrier, InvalidParties};
    /// use conkit::wait::Parking;
    ///
    /// assert_eq!(Barrier::<Parking>::try_with_strategy(0).err(), Some(InvalidParties(0)));
    /// assert!(Barrier::<Parking>::try_with_strategy(2).is_ok());
    /// ```
    ///
    /// # Errors
    /// [`InvalidParties`], as above.
    pub const fn try_with_strategy(parties: u32) -> Result<Self, InvalidParties> {
        if parties == 0 || parties > CoreBarrier::<W>::MAX {
            Err(InvalidParties(parties))
        } else {
            Ok(Self::valid(parties))
        }
    }

    /// A barrier for a count already checked to be valid.
    const fn valid(parties: u32) -> Self {
        Self {
            inner: CoreBarrier::new(parties),
            action: None,
            timeout: None,
        }
    }

    /// Makes the last arriving thread of each round run `action` before all are
    /// released (Python: `Barrier(parties, action)`). If the action panics, the barrier
    /// breaks and the panic continues in that thread.
    #[must_use]
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Sets the default timeout of [`wait`](Self::wait) (Python: `Barrier(parties,
    /// timeout=t)`).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until all parties have arrived, at most the default timeout if one was set;
    /// returns this thread's arrival index, `0..parties` (Python: `b.wait()`).
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is or becomes broken while waiting: aborted,
    /// reset, another party's timeout, the action panicked, or this call's timeout passed
    /// (which breaks it for every party).
    ///
    /// # Panics
    /// If this thread runs the action and the action panics (after the barrier is
    /// broken for the others).
    pub fn wait(&self) -> Result<usize, BrokenBarrier> {
        self.wait_inner(self.timeout.map(deadline_after))
    }

    /// As [`wait`](Self::wait) with this `timeout` instead of the default (Python:
    /// `b.wait(timeout)`).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_inner(Some(deadline_after(timeout)))
    }

    /// As [`wait`](Self::wait) with a deadline instead of the default timeout. A
    /// party whose deadline passes breaks the barrier for every party, as a timeout
    /// does.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    pub fn wait_until(&self, deadline: Instant) -> Result<usize, BrokenBarrier> {
        self.wait_inner(Some(deadline))
    }

    /// Awaits until all parties have arrived, in an async task (Python: `await
    /// b.wait()` of an `asyncio.Barrier`); returns the arrival index. Threads and
    /// tasks may be parties of the same round. The last party runs the action (a
    /// panic in it breaks the barrier for the others and continues in that task). The
    /// default timeout of [`with_timeout`](Self::with_timeout) does not apply: wrap the
    /// future in the runtime's timeout instead.
    ///
    /// Cancellation is asyncio's: a future dropped after it arrived, while the round is
    /// not complete, **withdraws** its party (`n_waiting` drops by one, nobody is woken
    /// or broken, a later party can complete the round); one dropped before it arrived
    /// changes nothing. The index is the count at arrival, as in asyncio, so after a
    /// withdrawal two parties of a round may get the same index (the last arrival always
    /// gets `parties - 1`). A drop racing the last arrival resolves to exactly one of:
    /// withdrawn (the round is not complete, the others keep waiting) or passed (the
    /// round completed with this party: the action runs once, the others are
    /// released); never both, never a stuck round. A thread's timeout still breaks the
    /// barrier, as `threading.Barrier`'s does. The same holds with a process-shared
    /// strategy `W` (parties in several processes: the withdrawal also frees the
    /// party's arrival record, see [`conkit_core::barrier`]'s "Arrival records").
    ///
    /// ```
    /// use conkit::threading::Barrier;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     static START: Barrier = Barrier::new(2);
    ///     let thread = std::thread::spawn(|| START.wait().unwrap()); // a thread party
    ///     let mine = START.wait_async().await.unwrap(); // and a task party
    ///     let theirs = thread.join().unwrap();
    ///     assert_eq!(mine + theirs, 1); // indices 0 and 1
    /// }
    /// ```
    ///
    /// # Errors
    /// [`BrokenBarrier`], as for [`wait`](Self::wait).
    ///
    /// # Panics
    /// If this task runs the action and the action panics.
    pub async fn wait_async(&self) -> Result<usize, BrokenBarrier> {
        let mut panic_payload = None;
        let action = self.action.as_deref();
        let result = self
            .inner
            .wait_async(|| run_action(action, &mut panic_payload))
            .await;
        action_outcome(result, panic_payload)
    }

    fn wait_inner(&self, deadline: Option<Instant>) -> Result<usize, BrokenBarrier> {
        barrier_wait_with_action(&self.inner, self.action.as_deref(), deadline)
    }

    /// The number of parties (Python: `b.parties`).
    pub fn parties(&self) -> usize {
        self.inner.parties() as usize
    }

    /// How many threads are waiting in the current round (Python: `b.n_waiting`).
    pub fn n_waiting(&self) -> usize {
        self.inner.n_waiting() as usize
    }

    /// Whether the barrier is broken (Python: `b.broken`).
    pub fn broken(&self) -> bool {
        self.inner.broken()
    }

    /// Breaks the barrier: waiting and future callers get [`BrokenBarrier`] until
    /// [`reset`](Self::reset) (Python: `b.abort()`).
    pub fn abort(&self) {
        self.inner.abort();
    }

    /// Returns the barrier to its empty state; threads waiting now get
    /// [`BrokenBarrier`] (Python: `b.reset()`).
    pub fn reset(&self) {
        self.inner.reset();
    }
}

/// One party's wait on the core barrier `inner`, the last arrival running `action`
/// (a panic in it breaks the barrier for the others and continues here): the whole of
/// [`Barrier::wait`], shared with `multiprocessing::Barrier`, whose core barrier lives in
/// shared memory and whose action is kept per process.
pub(crate) fn barrier_wait_with_action<W: InstantWait>(
    inner: &CoreBarrier<W>,
    action: Option<&(dyn Fn() + Send + Sync)>,
    deadline: Option<Instant>,
) -> Result<usize, BrokenBarrier> {
    let mut panic_payload = None;
    let result = inner.wait_until(deadline, || run_action(action, &mut panic_payload));
    action_outcome(result, panic_payload)
}

/// Runs a round's `action` for the last arrival: `false` (the round breaks) if it
/// panicked, the panic kept in `payload` for [`action_outcome`].
pub(crate) fn run_action(
    action: Option<&(dyn Fn() + Send + Sync)>,
    payload: &mut Option<Box<dyn std::any::Any + Send>>,
) -> bool {
    match action {
        None => true,
        Some(action) => match panic::catch_unwind(AssertUnwindSafe(action)) {
            Ok(()) => true,
            Err(p) => {
                *payload = Some(p);
                false
            }
        },
    }
}

/// A party's result, or the panic of the action it ran (resumed here: the barrier is
/// broken for everyone else, the panic is this party's).
pub(crate) fn action_outcome(
    result: Result<u32, BrokenBarrier>,
    payload: Option<Box<dyn std::any::Any + Send>>,
) -> Result<usize, BrokenBarrier> {
    if let Some(payload) = payload {
        panic::resume_unwind(payload);
    }
    result.map(|i| i as usize)
}

impl<W: InstantWait> fmt::Debug for Barrier<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("inner", &self.inner)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}
