//! [`Backoff`]: the one pause-between-looks of the crate's wait loops.
//!
//! Algorithm and provenance: bounded exponential backoff between looks (T. E. Anderson,
//! "The performance of spin lock alternatives for shared-memory multiprocessors", IEEE
//! TPDS 1990), in the shape and with the cap of crossbeam-utils' `Backoff` and
//! parking_lot's `SpinWait`. Why the constants are not tuned to a host, and who uses it:
//! see [`Backoff`].

use crate::atomic::spin_hint;

/// The cap of the exponent: a pause is at most `2^SPIN_LIMIT` spin hints (64; 2 under
/// `loom`, whose spin hint is a scheduler yield).
pub const SPIN_LIMIT: u32 = if cfg!(loom) { 1 } else { 6 };

/// Bounded exponential backoff between the looks of a wait loop: pauses of 1, 2, 4 …
/// 64 spin hints.
///
/// Every loop of the crate that waits by looking again (a spin lock's waiters, the
/// [`Spin`](super::Spin) strategy, the adaptive phase of [`Waiters`](super::Waiters)
/// before it sleeps, the OS strategies' spin-then-yield phase, an MPMC operation waiting
/// for a peer in flight) pauses through this type, so the shape is written once.
///
/// # Algorithm and provenance
/// Bounded exponential backoff between looks: the `k`-th pause is `2^k` spin hints
/// ([`core::hint::spin_loop`]: `PAUSE` on x86, `YIELD` or `ISB` on Arm), `k`
/// capped at [`SPIN_LIMIT`] (64 hints); past the cap the caller either keeps pausing 64
/// hints ([`Backoff::spin`]), yields to the OS ([`Backoff::snooze`]), gives up
/// ([`Backoff::is_spun_out`]) or goes to sleep. T. E. Anderson, "The performance of spin
/// lock alternatives for shared-memory multiprocessors" (IEEE TPDS, 1990) measured why
/// the pause grows (fewer looks keep the watched line with the thread that will change
/// it); the shape and the cap are those of crossbeam-utils' `Backoff` and parking_lot's
/// `SpinWait`.
///
/// # Why these constants hold on any host
/// The constants count *looks*, not nanoseconds: a spin hint costs ~10 cycles on one CPU
/// and ~140 on another, so no fixed count can mean the same time everywhere, and none is
/// tuned to one. What bounds a wait is progress observed by the caller: it looks at its
/// condition between pauses, returns as soon as it changed, and calls
/// [`reset`](Backoff::reset) after progress; the cap only bounds how long one pause can
/// grow (one pause of 64 hints is about one cache-line transfer on the slow hosts and a
/// few on the fast ones), and what follows the spin phase (a yield, a sleep, an error to
/// the caller) does not depend on the CPU at all. Under `loom`, where a spin hint is a
/// scheduler yield, the cap is 1 so that models stay small.
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use conkit_core::wait::Backoff;
///
/// let ready = AtomicBool::new(true);
/// let mut backoff = Backoff::new();
/// // Look, pause 1, 2, 4 … 64 hints between looks, give up once spun out.
/// while !ready.load(Ordering::Acquire) {
///     if backoff.is_spun_out() {
///         break; // a real caller would sleep or report "busy" here
///     }
///     backoff.spin();
/// }
/// assert!(ready.load(Ordering::Acquire));
/// ```
///
/// ```
/// use conkit_core::wait::Backoff;
///
/// let mut backoff = Backoff::new();
/// let mut pauses = 0;
/// while !backoff.is_spun_out() {
///     backoff.spin(); // 1, 2, 4, 8, 16, 32, 64 hints
///     pauses += 1;
/// }
/// assert_eq!(pauses, 7);
/// backoff.reset(); // after progress: short pauses again
/// assert!(!backoff.is_spun_out());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// A backoff whose next pause is one spin hint.
    #[inline]
    #[must_use]
    pub const fn new() -> Self {
        Self { step: 0 }
    }

    /// A backoff that has already paused `step` times: its next pause is
    /// `2^min(step, SPIN_LIMIT)` hints. For loops that count their rounds themselves
    /// (the [`WaitStrategy::relax`](super::WaitStrategy::relax) functions).
    ///
    /// ```
    /// use conkit_core::wait::Backoff;
    ///
    /// assert!(!Backoff::at(6).is_spun_out());
    /// assert!(Backoff::at(7).is_spun_out());
    /// ```
    #[inline]
    #[must_use]
    pub const fn at(step: u32) -> Self {
        Self { step }
    }

    /// Back to the shortest pause (call after observed progress).
    ///
    /// ```
    /// use conkit_core::wait::Backoff;
    ///
    /// let mut b = Backoff::at(9);
    /// b.reset();
    /// assert_eq!(b, Backoff::new());
    /// ```
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// `true` once the spin phase is over (the pauses reached their cap): time to yield,
    /// sleep or give up.
    ///
    /// ```
    /// use conkit_core::wait::{Backoff, SPIN_LIMIT};
    ///
    /// let mut b = Backoff::new();
    /// for _ in 0..=SPIN_LIMIT {
    ///     assert!(!b.is_spun_out());
    ///     b.spin();
    /// }
    /// assert!(b.is_spun_out());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_spun_out(&self) -> bool {
        self.step > SPIN_LIMIT
    }

    /// Pauses `2^min(step, SPIN_LIMIT)` spin hints, then lengthens the next pause (until
    /// the cap; past it every pause is `2^SPIN_LIMIT` hints).
    ///
    /// ```
    /// use conkit_core::wait::Backoff;
    ///
    /// let mut b = Backoff::new();
    /// b.spin(); // one hint
    /// assert_eq!(b, Backoff::at(1));
    /// ```
    #[inline]
    pub fn spin(&mut self) {
        spin_hints(1 << self.step.min(SPIN_LIMIT));
        if self.step <= SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// As [`spin`](Self::spin) during the spin phase; once spun out, calls `yield_now`
    /// instead (a scheduler yield, a `WFE`, a firmware idle hook) on every call.
    ///
    /// ```
    /// use conkit_core::wait::Backoff;
    ///
    /// let mut b = Backoff::new();
    /// let mut yields = 0;
    /// for _ in 0..10 {
    ///     b.snooze_with(|| yields += 1);
    /// }
    /// assert_eq!(yields, 3); // 7 pauses of the spin phase, then yields
    /// ```
    #[inline]
    pub fn snooze_with(&mut self, yield_now: impl FnOnce()) {
        if self.is_spun_out() {
            yield_now();
        } else {
            self.spin();
        }
    }

    /// [`snooze_with`](Self::snooze_with) `std::thread::yield_now`: spin, then yield the
    /// CPU so that a descheduled partner can run.
    ///
    /// ```
    /// use conkit_core::wait::Backoff;
    ///
    /// let mut b = Backoff::new();
    /// for _ in 0..10 {
    ///     b.snooze(); // 7 growing spins, then 3 `sched_yield`s
    /// }
    /// assert!(b.is_spun_out());
    /// ```
    #[cfg(all(feature = "std", not(loom)))]
    #[inline]
    pub fn snooze(&mut self) {
        self.snooze_with(std::thread::yield_now);
    }
}

/// `n` spin hints.
#[inline]
pub(crate) fn spin_hints(n: u32) {
    for _ in 0..n {
        spin_hint();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The pause lengths are 1, 2, 4 … 64, then stay at 64: the shape every loop that
    /// used to hand-write it had (so switching them changes no timing).
    #[test]
    fn pauses_double_up_to_the_cap_then_stay() {
        let mut b = Backoff::new();
        let mut seen = [0u32; 10];
        for s in &mut seen {
            *s = 1 << b.step.min(SPIN_LIMIT);
            b.spin();
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 64, 64, 64]);
        assert!(b.is_spun_out());
        assert_eq!(
            b.step,
            SPIN_LIMIT + 1,
            "the step stops growing past the cap"
        );
    }

    #[test]
    fn snooze_yields_only_after_the_spin_phase() {
        let mut b = Backoff::new();
        let mut yields = 0;
        for i in 0..20u32 {
            b.snooze_with(|| yields += 1);
            assert_eq!(yields, i.saturating_sub(SPIN_LIMIT));
        }
    }
}
