//! What the OS strategies ([`Futex`](super::Futex), [`SharedFutex`](super::SharedFutex),
//! [`Parking`](super::Parking)) share: the adaptive phase before sleeping, and
//! `Instant` arithmetic.

use std::time::{Duration, Instant};

/// Rounds of the adaptive phase of the OS strategies: 7 spinning (1, 2, 4 … 64 spin
/// hints), then 12 yielding the CPU (`sched_yield`), before a waiter goes to sleep.
/// Waking a sleeping thread costs 25–35 µs on the 2-core machines this is measured on:
/// with one producer and one consumer thread on a `queue::Queue`, a short spin alone
/// gave ~1.2 M items/s and a spin-then-yield phase ~10 M items/s (the yields let a
/// descheduled partner run instead of spinning against it); 12 yields rather than 4
/// cut an `Event` ping-pong round trip from ~11 µs to ~2 µs (CPython: ~26–116 µs).
/// The spinning rounds are the spin phase of a [`Backoff`](super::Backoff).
pub(crate) const SPIN_ROUNDS: u32 = super::SPIN_LIMIT + 1;
pub(crate) const RELAX_ROUNDS: u32 = SPIN_ROUNDS + YIELD_ROUNDS;
/// The yielding rounds of [`RELAX_ROUNDS`].
pub(crate) const YIELD_ROUNDS: u32 = 12;

/// The pause after the `round`-th failed look of the adaptive phase: the `round`-th
/// pause of a [`Backoff`](super::Backoff), a yield once spun out.
#[inline]
pub(crate) fn relax(round: u32) {
    super::Backoff::at(round).snooze();
}

/// Time left until `deadline`, or `None` once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// `now + timeout`, saturating far in the future instead of overflowing (a timeout of
/// `Duration::MAX` means "forever" in practice, as Python's `TIMEOUT_MAX`): the deadline
/// to pass to the `_until` forms of a primitive whose strategy sleeps until an
/// `Instant`.
///
/// ```
/// use std::time::Duration;
/// use conkit_core::semaphore::Semaphore;
/// use conkit_core::wait::{deadline_after, Futex};
///
/// let sem: Semaphore<Futex> = Semaphore::new(0);
/// assert!(!sem.acquire_until(deadline_after(Duration::from_millis(1))));
/// let forever = deadline_after(Duration::MAX); // does not overflow
/// sem.release().unwrap();
/// assert!(sem.acquire_until(forever));
/// ```
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        // ~31 years: far beyond any real wait, and always representable.
        .unwrap_or_else(|| now + Duration::from_secs(1 << 30))
}

// ---------------------------------------------------------------------------------------
// Owner tokens and the liveness probe (`WaitStrategy::owner_token` / `owner_alive`).

/// The calling thread's owner token: on Linux its kernel thread id (`gettid`), unique
/// across every process of the PID namespace while the thread lives, cached per thread
/// and forgotten in the child of a `fork` (a `pthread_atfork` child handler, registered
/// on first use), where the forking thread has a new id; elsewhere a per-process counter
/// (unique only within the process). Always non-zero and at most
/// [`OWNER_MASK`](super::OWNER_MASK).
#[inline]
pub(crate) fn thread_token() -> u32 {
    // `try_with`: a thread that is being torn down (its TLS destroyed) asks the kernel.
    TOKEN
        .try_with(|t| {
            let v = t.get();
            if v != 0 {
                v
            } else {
                let v = fresh_token();
                t.set(v);
                v
            }
        })
        .unwrap_or_else(|_| fresh_token())
}

std::thread_local! {
    /// This thread's token, 0 until first asked for (and again after a `fork`).
    static TOKEN: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[cold]
fn fresh_token() -> u32 {
    // Miri cannot fork (nor register fork handlers).
    #[cfg(not(miri))]
    static FORK_HANDLER: std::sync::Once = std::sync::Once::new();
    #[cfg(not(miri))]
    FORK_HANDLER.call_once(|| {
        /// In the child of a `fork`: the only thread is the one that forked, and its
        /// cached id is its parent's.
        extern "C" fn forget_token_in_child() {
            let _ = TOKEN.try_with(|t| t.set(0));
        }
        // SAFETY: registers a handler that only touches this thread's own TLS cell (a
        // `const`-initialised `Cell`, no allocation, no lock); the other handlers are
        // null, which `pthread_atfork` allows. Its result (ENOMEM) only means the cache
        // is not forgotten after fork; we cannot do better than to carry on.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(forget_token_in_child)) };
    });
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    // Thread ids are positive and below `PID_MAX_LIMIT` (2^22), inside the mask.
    u32::try_from(tid).map_or(1, |t| (t & super::OWNER_MASK).max(1))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[cold]
fn fresh_token() -> u32 {
    use core::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let v = NEXT.fetch_add(1, Ordering::Relaxed) & super::OWNER_MASK;
        if v != 0 {
            return v;
        }
    }
}

/// Whether the thread whose kernel id is `tid` still exists (Linux): `kill(tid, 0)`
/// answers `ESRCH` once it has exited (threads of a live process are reaped at once);
/// a killed process's main thread stays a zombie until its parent reaps it, so when the
/// id exists its state in `/proc/<tid>/stat` is read too (`Z` zombie or `X` dead).
///
/// Caveat (documented on [`SharedFutex`](super::SharedFutex)): kernel ids are reused
/// after `pid_max` others (4 194 304 on 64-bit Linux by default) have been handed out, so
/// an owner that died long ago and whose id went to a new live thread looks alive.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn thread_alive(tid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(tid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the target exists (and our permission to signal
    // it); nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    // Exists (EPERM too: alive, just not ours to signal). A zombie is dead for us.
    match std::fs::read(std::format!("/proc/{tid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')' (comm may contain one).
        Ok(stat) => match stat.iter().rposition(|&b| b == b')') {
            Some(i) => !matches!(stat.get(i + 2), Some(b'Z' | b'X')),
            None => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// The one sleep slice of a waiter that must not trust a wake-up to come
/// (`WaitStrategy::sleep_slice` of `SharedFutex`): the sleepers of `Waiters` between
/// processes (a notifier may die between its change and its wake-up) and the waiters of
/// a lock, ring end or barrier whose peer may die (they probe it after each slice).
/// 1 ms after the first look, doubling up to 16 ms: a lock or ring abandoned before the
/// waiter came is recovered in about a millisecond, one abandoned while it slept within
/// ~20 ms (the issue's bound is a second), while a waiter behind a live, slow peer wakes
/// ~60 times a second (a few µs of CPU each). Never past `deadline`.
pub(crate) fn sleep_slice(deadline: Option<Instant>, round: u32) -> Instant {
    let slice = Duration::from_millis(1 << round.min(4));
    let end = deadline_after(slice);
    match deadline {
        Some(d) if d < end => d,
        _ => end,
    }
}

/// The calling process's token: its process id (the kernel thread id of its main
/// thread), at most [`OWNER_MASK`](super::OWNER_MASK) and never 0.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn process_token() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    u32::try_from(pid).map_or(1, |p| (p & super::OWNER_MASK).max(1))
}
