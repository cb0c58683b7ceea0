//! Handing file descriptors to a child process together with its arguments.
//!
//! A [`Process`](super)'s arguments are serialised in the parent and deserialised in the
//! child. Objects that stand for a kernel resource — a [`Connection`](super)'s socket, the
//! `memfd` behind a shared [`Lock`](super) or queue — cannot be serialised as bytes; they
//! serialise as an *index* into a table of descriptors that travels beside the bytes:
//!
//! - parent: [`collect`] runs the serialisation; every [`export_fd`] inside it appends the
//!   descriptor to the table (once per descriptor) and returns its index. The start method
//!   then makes the table's descriptors reach the child: `fork` inherits them at the same
//!   numbers, `spawn` clears their close-on-exec flag in the child before `exec`,
//!   `forkserver` sends them over a Unix socket (`SCM_RIGHTS`).
//! - child: the start method [`install`]s the received table, deserialises the arguments
//!   (each [`import_fd`] returns a duplicate of the table's descriptor, so the same object
//!   may appear twice), then [`clear`]s the table. A `fork` child does not allocate
//!   its table: the parent duplicates the descriptors before the fork and the child
//!   adopts that table from its stack (see `per_process`); [`clear`] allocates nothing
//!   either (a process that never installed a table has nothing to clear).
//!
//! Outside [`collect`], [`export_fd`] returns `None`, and a type should then fail its
//! serialisation with a clear message (a `Connection` sent over another `Connection` is
//! not supported: CPython needs `multiprocessing.reduction` and a resource sharer for it).
//!
//! The same mechanism lets a user's own type that owns a descriptor travel to a child:
//! implement `Serialize` with [`export_fd`] and `Deserialize` with [`import_fd`].

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use super::per_process::{PerProcess, Slot};

thread_local! {
    /// The table being collected on this thread (`Some` only inside [`collect`]).
    static EXPORTING: RefCell<Option<Vec<RawFd>>> = const { RefCell::new(None) };
}

/// The table the child received (filled by [`install`], emptied by [`clear`]).
/// Per process: a forked child installs its own table (see `per_process`).
static IMPORTED: PerProcess<Mutex<Vec<OwnedFd>>> = PerProcess::new(|| Mutex::new(Vec::new()));

/// Runs `f` (a serialisation) while collecting the descriptors it exports; returns `f`'s
/// result and the table, in index order. The descriptors stay owned by their objects:
/// the caller must keep those objects alive until the child has them.
pub fn collect<R>(f: impl FnOnce() -> R) -> (R, Vec<RawFd>) {
    let outer = EXPORTING.with(|t| t.borrow_mut().replace(Vec::new()));
    // Restore the outer table even if `f` panics.
    struct Restore(Option<Option<Vec<RawFd>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                EXPORTING.with(|t| *t.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let result = f();
    let table = EXPORTING
        .with(|t| t.borrow_mut().take())
        .unwrap_or_default();
    EXPORTING.with(|t| *t.borrow_mut() = restore.0.take().unwrap_or_default());
    (result, table)
}

/// Adds `fd` to the table being collected and returns its index (the same index for the
/// same descriptor number), or `None` when called outside [`collect`].
pub fn export_fd(fd: BorrowedFd<'_>) -> Option<u32> {
    let raw = fd.as_raw_fd();
    EXPORTING.with(|t| {
        let mut t = t.borrow_mut();
        let table = t.as_mut()?;
        let index = match table.iter().position(|&f| f == raw) {
            Some(i) => i,
            None => {
                table.push(raw);
                table.len() - 1
            }
        };
        u32::try_from(index).ok()
    })
}

/// Installs the table a child received (the descriptors are owned by the table from now
/// on). Called by the start methods before the arguments are deserialised.
pub fn install(fds: Vec<OwnedFd>) {
    *IMPORTED.get().lock().unwrap_or_else(|e| e.into_inner()) = fds;
}

/// Installs raw descriptor numbers (inherited through `fork` or `exec`).
///
/// # Safety
/// Each number must be an open descriptor that nothing else in this process owns.
pub unsafe fn install_raw(fds: &[RawFd]) {
    // SAFETY: the caller's contract: open, and owned by nobody else.
    install(
        fds.iter()
            .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect(),
    );
}

/// A forked child's table, prepared by the parent (see `per_process`).
pub(crate) type ForkTable = Slot<Mutex<Vec<OwnedFd>>>;

/// In a forked child: makes `table` (built with [`Slot::here`] on the child's stack
/// from descriptors the parent duplicated before the fork) the installed table, without
/// allocating.
///
/// # Safety
/// `table` must stay valid, unmoved and unchanged for the rest of the process's life
/// (a frame that never returns); its descriptors must be owned by nothing else here.
pub(crate) unsafe fn adopt_forked(table: *const ForkTable) {
    // SAFETY: the caller's contract is `adopt`'s.
    unsafe { IMPORTED.adopt(table) }
}

/// A duplicate of the installed descriptor at `index` (close-on-exec), for the
/// deserialisation of an object that owns it. `NotFound` outside a child's argument
/// deserialisation or for an index the table does not have.
pub fn import_fd(index: u32) -> io::Result<OwnedFd> {
    let table = IMPORTED.get().lock().unwrap_or_else(|e| e.into_inner());
    let fd = table.get(index as usize).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "descriptor #{index} was not handed to this process (objects holding a \
                 descriptor can be passed only as a child process's arguments)"
            ),
        )
    })?;
    fd.try_clone()
}

/// Closes the installed table (every object that needed a descriptor holds its own
/// duplicate by now). Allocates nothing: a process that installed no table has
/// nothing to clear.
pub fn clear() {
    if let Some(table) = IMPORTED.get_if_made() {
        table.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn export_outside_collect_is_none() {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(export_fd(f.as_fd()), None);
    }

    #[test]
    fn same_descriptor_same_index_and_import_duplicates() {
        let a = std::fs::File::open("/dev/null").unwrap();
        let b = std::fs::File::open("/dev/null").unwrap();
        let (idx, table) = collect(|| {
            (
                export_fd(a.as_fd()),
                export_fd(b.as_fd()),
                export_fd(a.as_fd()),
            )
        });
        assert_eq!(idx, (Some(0), Some(1), Some(0)));
        assert_eq!(table, vec![a.as_raw_fd(), b.as_raw_fd()]);
        let owned: Vec<OwnedFd> = table
            .iter()
            .map(|&fd| {
                // SAFETY: a valid descriptor; the duplicate is owned here.
                unsafe { BorrowedFd::borrow_raw(fd) }
                    .try_clone_to_owned()
                    .unwrap()
            })
            .collect();
        install(owned);
        let x = import_fd(1).unwrap();
        assert_ne!(x.as_raw_fd(), b.as_raw_fd());
        assert!(import_fd(7).is_err());
        clear();
        assert!(import_fd(0).is_err());
    }
}
