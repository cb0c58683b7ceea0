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
//!
//! A forked child should not *make* its values either: every page the child writes
//! after `fork` is a copy-on-write page fault, and an allocation writes the allocator's
//! arena and a heap page or two (measured: 19 faults in a child that only returns,
//! against 8 for a bare `fork` + `_exit`). So a start method prepares the child's
//! values in the parent, before the fork, and the child [`PerProcess::adopt`]s them
//! from its own stack (a [`Slot`] built there by [`Slot::here`]; the child's start
//! frame never returns, so the slot lives as long as the process): one store to the
//! static, no allocation. [`PerProcess::get_if_made`] reads without making a value.

use std::sync::atomic::{AtomicPtr, Ordering};

/// A value tagged with the process that made it.
pub(crate) struct Slot<T> {
    pid: u32,
    value: T,
}

impl<T> Slot<T> {
    /// `value`, tagged with this process's id.
    pub(crate) fn here(value: T) -> Self {
        Slot {
            pid: std::process::id(),
            value,
        }
    }
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

    /// This process's value if it was made or adopted already (never makes one).
    pub(crate) fn get_if_made(&self) -> Option<&T> {
        let seen = self.slot.load(Ordering::Acquire);
        // SAFETY: a non-null slot is never freed (see `get`) or lives as long as the
        // process (`adopt`'s contract).
        let slot = unsafe { seen.as_ref() }?;
        (slot.pid == std::process::id()).then_some(&slot.value)
    }

    /// Makes `slot` this process's value (replacing any other; a replaced value is
    /// leaked, as a reader may still hold it). For a forked child, with a slot the
    /// parent prepared (see the module docs): one store, no allocation.
    ///
    /// # Safety
    /// `slot` must stay valid, unmoved and unchanged for the rest of the process's life
    /// (e.g. on the stack of a frame that never returns: the process ends with `_exit`
    /// below it).
    pub(crate) unsafe fn adopt(&self, slot: *const Slot<T>) {
        self.slot.store(slot.cast_mut(), Ordering::Release);
    }

    /// This process's value.
    pub(crate) fn get(&self) -> &T {
        let pid = std::process::id();
        let mut seen = self.slot.load(Ordering::Acquire);
        loop {
            // SAFETY: a non-null slot was made by `Box::into_raw` below and is never
            // freed (a replaced one is leaked), so it is valid for `'static`; or it was
            // adopted, valid for the rest of the process (`adopt`'s contract).
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
    use super::{PerProcess, Slot};
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
        assert!(std::ptr::eq(COUNT.get_if_made().unwrap(), COUNT.get()));
    }

    #[test]
    fn adopted_value_replaces_and_get_if_made_does_not_make() {
        static OTHER: PerProcess<u32> = PerProcess::new(|| 1);
        assert_eq!(OTHER.get_if_made(), None);
        let slot: &'static Slot<u32> = Box::leak(Box::new(Slot::here(42)));
        // SAFETY: leaked, so valid and unchanged for the rest of the process.
        unsafe { OTHER.adopt(slot) };
        assert_eq!(*OTHER.get(), 42);
        assert_eq!(OTHER.get_if_made(), Some(&42));
    }
}
