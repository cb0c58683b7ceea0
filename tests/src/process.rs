//! A harness for cross-process tests: real `memfd` + `MAP_SHARED` mappings, real child
//! processes made with `fork`, real `SIGKILL`s (Linux).
//!
//! A child made by `fork` in a multi-threaded parent may only rely on what was safe to
//! copy (the test harness's other threads may have held stdout's lock or allocator
//! locks). So cross-process test binaries run with `harness = false` and call
//! [`run_scenarios`], which runs every scenario on the main thread, one after another,
//! before any other thread exists; a scenario's children run Rust code freely.
//!
//! ```no_run
//! use conkit_tests::process::{fork, Exit, SharedMem};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let counter = SharedMem::new(|| AtomicU32::new(0));
//! let child = fork(|| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     0
//! });
//! assert_eq!(child.wait(), Exit::Code(0));
//! assert_eq!(counter.load(Ordering::SeqCst), 1);
//! ```

use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// A value of type `T` in its own `memfd` mapped `MAP_SHARED`: after a [`fork`], parent
/// and child see the same memory (the same physical pages), and so would another process
/// that mapped the same file descriptor.
///
/// `T` must be meaningful in shared memory (plain atomics, no pointers, no process-local
/// ids); the harness does not check it (the shared-memory contract of `conkit-core` does).
pub struct SharedMem<T> {
    ptr: NonNull<T>,
    len: usize,
    fd: libc::c_int,
    _owns: PhantomData<T>,
}

// SAFETY: the mapping is plain memory holding a `T`; sharing `&SharedMem<T>` shares
// `&T` (so `T: Sync`), sending it sends the `T` (so `T: Send`).
unsafe impl<T: Sync> Sync for SharedMem<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SharedMem<T> {}

impl<T> SharedMem<T> {
    /// Maps a fresh `memfd` of `size_of::<T>()` bytes (page-rounded) and writes `init()`
    /// into it.
    ///
    /// # Panics
    /// If the kernel refuses the `memfd`, its size or the mapping (a test harness: the
    /// test cannot run without them).
    pub fn new(init: impl FnOnce() -> T) -> Self {
        Self::with_len(std::mem::size_of::<T>().max(1), |p| {
            // SAFETY: `p` points to at least `size_of::<T>()` writable bytes aligned for
            // any type (a fresh mapping is page-aligned).
            unsafe { p.cast::<T>().write(init()) }
        })
    }

    /// Maps `len` bytes (at least `size_of::<T>()`) and lets `init` initialise them in
    /// place (for types whose size is only known at run time, e.g. a header followed by
    /// slots). `init` gets the start of the zeroed mapping.
    ///
    /// # Panics
    /// As [`new`](Self::new), and if `len < size_of::<T>()`.
    pub fn with_len(len: usize, init: impl FnOnce(*mut u8)) -> Self {
        assert!(len >= std::mem::size_of::<T>(), "mapping smaller than T");
        let name = c"conkit-test";
        // SAFETY: a valid NUL-terminated name; no flags.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
        let size = i64::try_from(len).expect("mapping size");
        // SAFETY: `fd` is the memfd just created.
        let r = unsafe { libc::ftruncate(fd, size) };
        assert_eq!(r, 0, "ftruncate: {}", io::Error::last_os_error());
        // SAFETY: a new shared mapping of the whole file; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        assert!(
            p != libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        init(p.cast());
        Self {
            ptr: NonNull::new(p.cast()).expect("mmap returned null"),
            len,
            fd,
            _owns: PhantomData,
        }
    }

    /// The start of the mapping (for types that extend past `T`, e.g. trailing slots).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: at least one byte is mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `memfd` (to map it again, e.g. at another address: `SharedMem::map_again`).
    pub fn fd(&self) -> libc::c_int {
        self.fd
    }

    /// Maps the same file a second time, at another address: a second view of the same
    /// `T`, as another process that attached to it would have (position independence).
    ///
    /// # Panics
    /// If the mapping fails.
    pub fn map_again(&self) -> SharedMem<T> {
        // SAFETY: `fd` is ours and open; a new shared mapping of the same length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd,
                0,
            )
        };
        assert!(
            p != libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        // SAFETY: `dup` of an open fd.
        let fd = unsafe { libc::dup(self.fd) };
        assert!(fd >= 0, "dup: {}", io::Error::last_os_error());
        SharedMem {
            ptr: NonNull::new(p.cast()).expect("mmap returned null"),
            len: self.len,
            fd,
            _owns: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for SharedMem<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMem")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("fd", &self.fd)
            .finish()
    }
}

impl<T> Deref for SharedMem<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping holds an initialised `T` (written by `new`, or by `init`
        // of `with_len`, whose caller promises it) for as long as `self` lives.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for SharedMem<T> {
    fn drop(&mut self) {
        // The `T` is not dropped: other processes may still use the memory, and its
        // types hold no resources (plain atomics).
        // SAFETY: our mapping and our fd, unmapped and closed once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
            libc::close(self.fd);
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)` (or returned `code` from the closure given to [`fork`]).
    Code(i32),
    /// Killed by a signal (`libc::SIGKILL`, …); a panic in the child is `Code(101)`.
    Signal(i32),
}

/// A child process made by [`fork`]. Dropping it kills it (`SIGKILL`) and reaps it, and
/// its own children die with it (see [`fork`]), so a failing test leaves no process
/// behind.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    reaped: Option<Exit>,
}

/// Runs `f` in a forked child process, which then exits with `f`'s return value (a
/// panic in `f` exits with 101 after printing it). Returns at once in the parent.
///
/// The child dies with its parent (`PR_SET_PDEATHSIG`, `SIGKILL`, also when stopped),
/// and so on down: a scenario killed by [`run_scenarios`]' watchdog, or a parent that
/// panicked, leaves no grandchild spinning on a ring.
///
/// # Panics
/// If `fork` fails.
pub fn fork(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: `getpid` has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: `fork` itself is always safe to call; what the child may do after it is the
    // caller's concern (see the module docs: run scenarios single-threaded).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` takes a signal number; `getppid` and
        // `_exit` have no preconditions. A parent that died before the `prctl` sent no
        // signal: then the child is already an orphan, and leaves at once.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(102);
            }
        }
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) }
    }
    Child { pid, reaped: None }
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Sends `signal` (e.g. `libc::SIGKILL`) to the child.
    pub fn signal(&self, signal: libc::c_int) {
        if self.reaped.is_none() {
            // SAFETY: our own child, not yet reaped (so the pid is not reused).
            unsafe { libc::kill(self.pid, signal) };
        }
    }

    /// `SIGKILL`s the child.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn decode(status: libc::c_int) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// Waits until the child ends.
    pub fn wait(mut self) -> Exit {
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> Exit {
        if let Some(exit) = self.reaped {
            return exit;
        }
        let mut status = 0;
        loop {
            // SAFETY: our own child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            let err = io::Error::last_os_error();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "waitpid: {err}");
        }
        let exit = Self::decode(status);
        self.reaped = Some(exit);
        exit
    }

    /// Waits at most `timeout` for the child to end: `None` if it is still running
    /// (then it keeps running; drop it to kill it).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Exit> {
        if let Some(exit) = self.reaped {
            return Some(exit);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: our own child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                let exit = Self::decode(status);
                self.reaped = Some(exit);
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.kill();
            self.wait_inner();
        }
    }
}

/// Runs the scenarios of a `harness = false` test binary on the main thread, one after
/// another, each under a watchdog: a scenario that does not finish within `limit` makes
/// the binary fail (exit 1) instead of hanging. Command-line arguments that do not start
/// with `-` select scenarios whose name contains one of them. Prints one line per
/// scenario and a summary; exits with 1 if any failed.
pub fn run_scenarios(scenarios: &[(&str, fn())], limit: Duration) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for &(name, scenario) in scenarios {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        // Each scenario runs in a child of its own, so a hang is a timeout of that
        // child, and whatever a scenario leaves behind (threads, mappings) dies with it.
        let mut child = fork(|| {
            scenario();
            0
        });
        let outcome = child.wait_timeout(limit);
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Some(Exit::Code(0)) => println!("scenario {name} ... ok ({secs:.2} s)"),
            Some(other) => {
                println!("scenario {name} ... FAILED: {other:?} ({secs:.2} s)");
                failed.push(name);
            }
            None => {
                println!("scenario {name} ... FAILED: still running after {limit:?} (hang)");
                failed.push(name);
            }
        }
    }
    println!(
        "\nscenarios: {} passed, {} failed",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
}
