//! `PerProcess<T>`: a process-global value that a forked child gets afresh.
//!
//! After `fork` only the calling thread exists in the child, and a lock that another
//! thread of the parent held at that instant stays held in the child for good (POSIX:
//! "the child process may only execute async-signal-safe operations until exec"; glibc
//! and CPython re-initialise their own locks in at-fork handlers, CPython with
//! `os.register_at_fork` and `util.register_after_fork`). conkit's per-process state —
//! the running process's identity, its list of children, its fork server, its imported
//! descriptors — is therefore not a plain `static Mutex`: each value is tagged with the
//! pid that made it, and the first access from another pid (a forked child) builds a
//! fresh value with a fresh lock instead of touching the copy, which may be locked. The
//! parent's copy is leaked in the child (a few bytes; the child may not know whether
//! another thread was using it).
//!
//! Cost: one `getpid` per access (these are cold paths: starting, joining and naming
//! processes).

use std::sync::atomic::{AtomicPtr, Ordering};

struct Slot<T> {
    pid: u32,
    value: T,
}

/// A value per process (see the module docs): `get` returns this process's value,
/// making it with `init` on the first access in each process.
pub(crate) struct PerProcess<T> {
    slot: AtomicPtr<Slot<T>>,
    init: fn() -> T,
}

impl<T> PerProcess<T> {
    /// A value that each process makes with `init` on its first access.
    pub(crate) const fn new(init: fn() -> T) -> Self {
        Self {
            slot: AtomicPtr::new(std::ptr::null_mut()),
            init,
        }
    }

    /// This process's value.
    pub(crate) fn get(&self) -> &T {
        let pid = std::process::id();
        let mut seen = self.slot.load(Ordering::Acquire);
        loop {
            // SAFETY: a non-null slot was made by `Box::into_raw` below and is never
            // freed (a replaced one is leaked), so it is valid for `'static`.
            if let Some(slot) = unsafe { seen.as_ref() } {
                if slot.pid == pid {
                    return &slot.value;
                }
            }
            let fresh = Box::into_raw(Box::new(Slot {
                pid,
                value: (self.init)(),
            }));
            match self
                .slot
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: just made, never freed (see above).
                Ok(_) => return unsafe { &(*fresh).value },
                Err(now) => {
                    // Another thread of this process installed its value first.
                    // SAFETY: `fresh` was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    seen = now;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PerProcess;
    use std::sync::Mutex;

    static COUNT: PerProcess<Mutex<u32>> = PerProcess::new(|| Mutex::new(7));

    #[test]
    fn one_value_per_process_shared_by_its_threads() {
        *COUNT.get().lock().unwrap() += 1;
        let seen = std::thread::spawn(|| *COUNT.get().lock().unwrap())
            .join()
            .unwrap();
        assert!(seen >= 8);
        assert!(std::ptr::eq(COUNT.get(), COUNT.get()));
    }
}
