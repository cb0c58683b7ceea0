//! Thread identities: Python's `threading.get_ident()` and `threading.get_native_id()`,
//! and the owner id that `RLock` records ([`ThreadOwner`]: the kernel thread id, so
//! that owners are unique across processes and correct after `fork`).

use std::cell::Cell;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use conkit_core::lock::OwnerId;

/// Next identity to hand out; 0 means "none" in the core's owner words.
static NEXT: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static IDENT: Cell<u32> = const { Cell::new(0) };
}

/// This thread's identity as a `NonZeroU32` (assigned on first use).
fn ident32() -> NonZeroU32 {
    IDENT.with(|id| {
        if let Some(v) = NonZeroU32::new(id.get()) {
            return v;
        }
        // Skip 0 if the counter ever wraps (after 4 billion threads).
        let v = loop {
            if let Some(v) = NonZeroU32::new(NEXT.fetch_add(1, Ordering::Relaxed)) {
                break v;
            }
        };
        id.set(v.get());
        v
    })
}

/// The calling thread's identity (Python's `threading.get_ident()`): a non-zero number
/// unique among the threads alive in this process, assigned on first use. (The owner
/// recorded by [`RLock`](super::RLock) is [`ThreadOwner`], the kernel thread id, which
/// is also unique across processes.)
///
/// Unlike CPython, identities are never reused while the process runs (until 2³² threads
/// have asked for one).
#[must_use]
pub fn get_ident() -> u64 {
    u64::from(ident32().get())
}

/// The operating system's id of the calling thread (Python's
/// `threading.get_native_id()`): the kernel thread id (`gettid`) on Linux; on other
/// platforms [`get_ident`].
#[must_use]
pub fn get_native_id() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() };
        u64::try_from(tid).unwrap_or_default()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        get_ident()
    }
}

/// The [`OwnerId`] of OS threads, for `conkit-core`'s `ReentrantLock`: on Linux the
/// kernel thread id ([`get_native_id`]), which is unique across every process (a
/// reentrant lock in memory shared between processes is refused to another process's
/// threads) and renewed in the child of a `fork` (a child is not the owner of what its
/// parent holds); it is cached per thread (read by `conkit_core`'s
/// `WaitStrategy::owner_token`). Elsewhere: [`get_ident`], unique within the process.
///
/// ```
/// use conkit::threading::{get_native_id, ThreadOwner};
/// use conkit_core::lock::OwnerId;
///
/// # #[cfg(target_os = "linux")]
/// assert_eq!(u64::from(ThreadOwner::current().get()), get_native_id());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadOwner;

impl OwnerId for ThreadOwner {
    const KERNEL_TID: bool = cfg!(any(target_os = "linux", target_os = "android"));

    #[inline]
    fn current() -> NonZeroU32 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use conkit_core::wait::{SharedFutex, WaitStrategy};
            NonZeroU32::new(SharedFutex::owner_token()).unwrap_or(NonZeroU32::MIN)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            ident32()
        }
    }
}

// SAFETY: on Linux and Android the id is the kernel thread id (`gettid`), unique among
// the threads of every process on the machine while they live.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe impl conkit_core::shm::ProcessOwnerId for ThreadOwner {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_are_stable_per_thread_and_distinct_between_threads() {
        let me = get_ident();
        assert_ne!(me, 0);
        assert_eq!(get_ident(), me);
        let other = std::thread::spawn(get_ident).join().unwrap();
        assert_ne!(other, me);
    }

    #[test]
    fn thread_owners_are_stable_per_thread_and_distinct_between_threads() {
        let me = ThreadOwner::current();
        assert_eq!(ThreadOwner::current(), me);
        let other = std::thread::spawn(ThreadOwner::current).join().unwrap();
        assert_ne!(other, me);
        #[cfg(target_os = "linux")]
        assert_eq!(u64::from(me.get()), get_native_id());
    }

    #[test]
    fn native_ids_differ_between_threads() {
        let me = get_native_id();
        assert_ne!(me, 0);
        let other = std::thread::spawn(get_native_id).join().unwrap();
        assert_ne!(other, me);
    }
}
