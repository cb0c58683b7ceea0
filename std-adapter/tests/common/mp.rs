//! Helpers the `mp_process*` test binaries share (each binary uses a part of them).
#![allow(dead_code)]

use conkit::multiprocessing::{self as mp, Process};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The longest a child may run before a test kills it and fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The tests of a binary run one at a time: a `fork` while another test's thread holds a
/// lock (stderr, the allocator's arenas) or a descriptor (another test's pipe) would give
/// the child that lock held forever or that pipe kept open — the multithreaded-fork
/// hazard the module docs describe.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the binary's test lock (see [`SERIAL`]).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Joins `p` within [`LIMIT`] and returns its exit code; kills it and fails otherwise.
pub fn bounded(p: &mut Process) -> i32 {
    if !p.join_timeout(LIMIT).unwrap() {
        p.kill().unwrap();
        p.join().unwrap();
        panic!("child {} did not end within {LIMIT:?}", p.get_name());
    }
    p.exitcode().unwrap()
}

/// A pipe (read end as a `File`, write end), close-on-exec.
pub fn pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors we own.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// An owned descriptor that travels to a child through `inherit`.
pub struct OwnedFdArg(pub OwnedFd);

impl serde::Serialize for OwnedFdArg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match mp::inherit::export_fd(self.0.as_fd()) {
            Some(i) => s.serialize_u32(i),
            None => Err(serde::ser::Error::custom("only as a child's argument")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for OwnedFdArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = u32::deserialize(d)?;
        mp::inherit::import_fd(i)
            .map(OwnedFdArg)
            .map_err(serde::de::Error::custom)
    }
}
