//! Python's `multiprocessing.Process` and its start methods (`fork`, `spawn`,
//! `forkserver`), the context functions (`set_start_method`, `get_context`,
//! `set_executable`, …) and `current_process`.
//!
//! Reference: CPython `Lib/multiprocessing/process.py` (`BaseProcess`, names
//! `Process-N`, `_identity`), `popen_fork.py`, `popen_spawn_posix.py`, `spawn.py`
//! (`freeze_support`, `set_executable`, `_check_not_importing_main`), `context.py`;
//! `forkserver.py` and `popen_forkserver.py` for the `forkserver` submodule.
//!
//! # Start methods
//! The default is `spawn` ([`get_start_method`]; CPython 3.14 chose `forkserver` on
//! Linux, earlier versions `fork`).
//! - [`StartMethod::Fork`]: `fork()`; the child inherits the parent's memory; of the
//!   parent's descriptors it keeps only duplicates of its arguments' ones (and
//!   stdin/stdout/stderr), as a spawned child does, so that the parent's end of a pipe
//!   does not stay open in it (CPython's forked child keeps every descriptor and closes
//!   the unused end by hand; a conkit target has no handle to it). A
//!   [`Process::fork_closure`] child keeps them all. In a multithreaded parent only the
//!   calling thread survives in the child and locks held by other threads stay locked:
//!   conkit's per-process state (this process's identity, its children, its fork server,
//!   its inherited descriptors) is made afresh in a forked child, or adopted from what
//!   the parent prepared for it, instead of locked (the parent's copy may be held by a
//!   thread that is gone), so the child decodes its arguments and runs the target
//!   without waiting for a lock of conkit's. Cost: every page a child writes after
//!   `fork` is a copy-on-write fault, so the parent prepares what the child needs
//!   before the fork (its identity record, duplicates of its descriptors, the list to
//!   keep; the panic report is a hook the parent installs once) and the child adopts it
//!   from its stack: no allocation and a couple of writes to memory of its own before
//!   the target runs (11–13 page faults per start against 8 for a bare `fork` +
//!   `_exit`, 19 before); the child's pidfd is opened only when something needs it. The
//!   allocator, `stdout`/`stderr` (std's locks: a parent thread printing at the fork
//!   instant leaves them held in the child) and the panic hook are process-global — as
//!   in CPython, fork from a multithreaded parent is at the user's risk.
//! - [`StartMethod::Spawn`]: re-executes [`std::env::current_exe`]; the payload (arguments,
//!   name, identity) arrives on a pipe whose descriptor number is in the environment
//!   variable `CONKIT_MP_SPAWN_FD`; the argument table's descriptors get their
//!   close-on-exec flag cleared in the child just before `exec`. The child must call
//!   [`init`] first thing in `main` (Python's `freeze_support()`): it runs the target
//!   there and exits. The target is found ASLR-safely as an offset from an anchor
//!   function of the same binary; the payload carries a fingerprint of the executable
//!   (device, inode, size, modification time of `/proc/self/exe`) and a child whose
//!   binary differs refuses it with an error message and exit code 1 instead of
//!   jumping to a wrong address. Code before [`init`] in `main` runs in every spawned
//!   child (as a module's top level does under CPython's `spawn`); a spawned child that
//!   never calls [`init`] runs `main` again, and a [`Process::start`] there is refused
//!   with [`ProcessError::InitNotCalled`] instead of starting children without end.
//! - [`StartMethod::Forkserver`]: a server process — this binary spawned once, on first
//!   use, dispatched by [`init`] — forks each child on request; the children start
//!   from the server's state (after [`set_forkserver_preload`]'s functions ran there),
//!   never from the requester's threads. Descriptors travel over a Unix socket
//!   (`SCM_RIGHTS`); the pid and the exit status come back over the connection that is
//!   the [`Process::sentinel`]. Details and differences from CPython: the
//!   `forkserver` source file's header.
//! - [`set_executable`] names the binary `spawn` and `forkserver` re-execute; only this
//!   very executable is accepted.
//!
//! # Spawned children under `cargo test`
//! libtest runs each test on a thread named after the test. When [`Process::start`] with
//! `spawn` runs on such a thread (any thread whose name is not `main`), the child is
//! started as `current_exe --exact <thread name> --nocapture --test-threads=1`: the test
//! binary runs just that test, whose first line calls [`init`], which runs the target and
//! exits. So: call `mp::init()` at the start of every test that starts `spawn` children
//! (and at the start of `main` in programs). A thread started by a test has no name:
//! its children re-run the first test that called [`init`] instead (any test whose first
//! line is `init()` dispatches a child). In a program, the extra arguments are never
//! seen: [`init`] exits before `main` reads them. The `forkserver` method's server is
//! started the same way (by the first test that starts a forkserver child) and then
//! serves every test of the binary; it exits with the test binary.
//!
//! # Daemons
//! A daemon child sets `PR_SET_PDEATHSIG(SIGKILL)` first thing (then checks that its
//! parent is still the one that started it), so it dies with its parent even when the
//! parent is SIGKILLed (under `forkserver` the server kills it when the requester's end
//! of its connection closes) — stronger than CPython, which terminates daemons from an
//! `atexit` hook only at a normal exit. The kernel sends that signal when the parent
//! *thread* that started the child ends: start daemons from a thread that outlives them
//! (the main thread). A daemon cannot start children ([`ProcessError::DaemonicChildren`]).
//!
//! # Exit codes
//! Target returns: 0. Target panics: `Process NAME:` and a traceback-like report with
//! the panic message and location on stderr, exit code 1. Killed by a signal: `-signal`.
//!
//! ```
//! use conkit::multiprocessing::{self as mp, Process};
//! fn worker(n: u32) {
//!     assert_eq!(n, 3);
//! }
//! mp::init();
//! let mut p = Process::new(worker, 3u32).name("w-1");
//! p.start().unwrap();
//! p.join().unwrap();
//! assert_eq!(p.exitcode(), Some(0));
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::inherit;
use super::per_process::{PerProcess, Slot};

mod forkserver;
pub use forkserver::set_forkserver_preload;

/// How a [`Process`] is started (Python's start method names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StartMethod {
    /// `fork()`: the child is a copy of the parent.
    Fork,
    /// Re-execute this binary; the child runs [`init`] which runs the target.
    Spawn,
    /// A server process (this binary re-executed once, on first use) forks the children
    /// on request; see [`set_forkserver_preload`] and the module docs.
    Forkserver,
}

impl StartMethod {
    /// Python's name of the method (`"fork"`, `"spawn"`).
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::StartMethod::Spawn.as_str(), "spawn");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

/// Why a [`Process`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// `start` on a process that was already started (Python: "cannot start a process twice").
    AlreadyStarted,
    /// `join`/`terminate`/… on a process never started.
    NotStarted,
    /// The process object was [`Process::close`]d.
    Closed,
    /// `close` while the child still runs.
    StillRunning,
    /// A daemonic process tried to start a child (Python: AssertionError "daemonic
    /// processes are not allowed to have children").
    DaemonicChildren,
    /// [`set_start_method`] after the method was already set.
    ContextAlreadySet,
    /// The arguments could not be serialised.
    Encode(CodecError),
    /// A system call failed.
    Os(io::Error),
    /// A [`Process::fork_closure`] started with a method other than `fork`.
    ClosureNeedsFork,
    /// [`set_executable`] with a file that is not this process's executable: `spawn` and
    /// `forkserver` locate the target by its offset in this binary, valid only there.
    NotSameExecutable(std::path::PathBuf),
    /// `start` in a spawned child that never called [`init`] (it is running `main`
    /// again instead of its target: every child would start children). Python raises a
    /// `RuntimeError` about the bootstrapping phase and `freeze_support()` here.
    InitNotCalled,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::AlreadyStarted => f.write_str("cannot start a process twice"),
            ProcessError::NotStarted => f.write_str("can only use a started process"),
            ProcessError::Closed => f.write_str("process object is closed"),
            ProcessError::StillRunning => {
                f.write_str("cannot close a process while it is still running")
            }
            ProcessError::DaemonicChildren => {
                f.write_str("daemonic processes are not allowed to have children")
            }
            ProcessError::ContextAlreadySet => f.write_str("context has already been set"),
            ProcessError::Encode(e) => write!(f, "cannot serialise the arguments: {e}"),
            ProcessError::Os(e) => write!(f, "system call failed: {e}"),
            ProcessError::ClosureNeedsFork => {
                f.write_str("a closure target can only be started with the fork method")
            }
            ProcessError::NotSameExecutable(path) => write!(
                f,
                "{} is not this process's executable: spawn and forkserver children must \
                 run the same binary (targets are located by their offset in it)",
                path.display()
            ),
            ProcessError::InitNotCalled => f.write_str(
                "a process was started before this spawned child called \
                 conkit::multiprocessing::init() (call it first thing in main)",
            ),
        }
    }
}

impl std::error::Error for ProcessError {}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> Self {
        ProcessError::Os(e)
    }
}

// ---------------------------------------------------------------------------------------
// This process's identity (Python's `current_process()`).

/// A process's identity; set once when the process starts, never changed (so read
/// without a lock).
struct Me {
    name: String,
    identity: Vec<usize>,
    daemon: bool,
    parent: Option<(u32, String)>,
    /// The number of the next `Process` this process creates (`Process-…:N`).
    counter: AtomicUsize,
}

impl Me {
    fn main() -> Me {
        Me {
            name: "MainProcess".into(),
            identity: Vec::new(),
            daemon: false,
            parent: None,
            counter: AtomicUsize::new(1),
        }
    }
}

/// Per process (see `per_process`): a child adopts the record its start method
/// prepared (a fork child from its stack, without allocating); any other process is
/// `MainProcess`.
static ME: PerProcess<Me> = PerProcess::new(Me::main);

fn with_me<R>(f: impl FnOnce(&Me) -> R) -> R {
    f(ME.get())
}

/// What [`current_process`] reports about the running process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    daemon: bool,
    pid: u32,
}

impl CurrentProcess {
    /// The name: `MainProcess` in the main process, the child's name in a child.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::current_process().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether this process was started as a daemon.
    ///
    /// ```
    /// assert!(!conkit::multiprocessing::current_process().daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }
    /// The operating system's process id.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::current_process().pid(), std::process::id());
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// The process running this code (Python's `multiprocessing.current_process()`).
///
/// ```
/// let me = conkit::multiprocessing::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// ```
pub fn current_process() -> CurrentProcess {
    with_me(|me| CurrentProcess {
        name: me.name.clone(),
        daemon: me.daemon,
        pid: std::process::id(),
    })
}

// ---------------------------------------------------------------------------------------
// Context and start methods.

static METHOD: OnceLock<StartMethod> = OnceLock::new();

/// Sets the default start method once (Python: a second call is a `RuntimeError`
/// "context has already been set", here [`ProcessError::ContextAlreadySet`]).
///
/// ```
/// use conkit::multiprocessing::{self as mp, StartMethod};
/// mp::set_start_method(StartMethod::Fork).unwrap();
/// assert_eq!(mp::get_start_method(), StartMethod::Fork);
/// assert!(mp::set_start_method(StartMethod::Spawn).is_err());
/// ```
pub fn set_start_method(method: StartMethod) -> Result<(), ProcessError> {
    METHOD
        .set(method)
        .map_err(|_| ProcessError::ContextAlreadySet)
}

/// The default start method: the one set with [`set_start_method`], else `Spawn`.
///
/// CPython's default on Linux was `fork` up to 3.13; 3.14 chose `forkserver`, because
/// `fork` in a multithreaded parent can deadlock the child. conkit's default is
/// `spawn` (a fresh process, nothing inherited but the arguments) for the same reason,
/// and because a spawned child needs no server process; `forkserver` is one call away
/// ([`set_start_method`] or [`get_context`]).
///
/// ```
/// use conkit::multiprocessing::{self as mp, StartMethod};
/// assert_eq!(mp::get_start_method(), StartMethod::Spawn);
/// ```
pub fn get_start_method() -> StartMethod {
    *METHOD.get().unwrap_or(&StartMethod::Spawn)
}

/// The start methods available here, the default first (as Python's).
///
/// ```
/// use conkit::multiprocessing::{self as mp, StartMethod};
/// assert_eq!(
///     mp::get_all_start_methods(),
///     [StartMethod::Spawn, StartMethod::Fork, StartMethod::Forkserver]
/// );
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    let mut all = vec![
        StartMethod::Spawn,
        StartMethod::Fork,
        StartMethod::Forkserver,
    ];
    let default = get_start_method();
    all.retain(|&m| m != default);
    all.insert(0, default);
    all
}

static EXECUTABLE: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

/// Sets the binary that `spawn` and `forkserver` re-execute (Python's
/// `set_executable(path)`, which names the interpreter). The children locate their
/// target by its offset in *this* binary, so only a path to this very executable is
/// accepted — e.g. `/proc/self/exe`, which keeps naming it even after the file on disk
/// was replaced by a rebuild, or a link to it; any other file is
/// [`ProcessError::NotSameExecutable`] (same device, inode, size and modification time
/// as the running binary: a copy is refused too).
///
/// ```
/// use conkit::multiprocessing::{self as mp, ProcessError};
/// mp::set_executable("/proc/self/exe").unwrap();
/// assert_eq!(mp::get_executable().unwrap(), std::path::Path::new("/proc/self/exe"));
/// assert!(matches!(mp::set_executable("/bin/sh"), Err(ProcessError::NotSameExecutable(_))));
/// ```
pub fn set_executable(path: impl AsRef<std::path::Path>) -> Result<(), ProcessError> {
    let path = path.as_ref();
    let same = match (fingerprint_of(path), exe_fingerprint()) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), _) => false,
        (_, Err(e)) => return Err(e.into()),
    };
    if !same {
        return Err(ProcessError::NotSameExecutable(path.to_path_buf()));
    }
    *EXECUTABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.to_path_buf());
    Ok(())
}

/// The binary `spawn` and `forkserver` re-execute: the one given to [`set_executable`],
/// else [`std::env::current_exe`] (Python's `multiprocessing.spawn.get_executable()`).
///
/// ```
/// let exe = conkit::multiprocessing::get_executable().unwrap();
/// assert!(exe.is_absolute());
/// ```
pub fn get_executable() -> io::Result<std::path::PathBuf> {
    match EXECUTABLE.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        Some(p) => Ok(p),
        None => std::env::current_exe(),
    }
}

/// A start method to create processes with (Python's `get_context(method)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context's start method.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, StartMethod};
    /// assert_eq!(mp::get_context(StartMethod::Spawn).start_method(), StartMethod::Spawn);
    /// ```
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A [`Process`] that starts with this context's method (`ctx.Process(...)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, StartMethod};
    /// fn hello(_: ()) {}
    /// mp::init();
    /// let mut p = mp::get_context(StartMethod::Spawn).process(hello, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn process<A>(&self, target: fn(A), args: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        Process::new(target, args).start_method(self.method)
    }
}

/// The context of `method` (Python's `multiprocessing.get_context(method)`).
///
/// ```
/// use conkit::multiprocessing::{self as mp, StartMethod};
/// assert_eq!(mp::get_context(StartMethod::Fork).start_method(), StartMethod::Fork);
/// ```
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

// ---------------------------------------------------------------------------------------
// Locating functions across `exec` (ASLR-safe).

#[inline(never)]
fn anchor() {}

fn offset_of(addr: usize) -> i64 {
    addr as i64 - anchor as fn() as usize as i64
}

/// The offset of a function of this binary (for a function pointer that travels in a
/// child's arguments, as the manager's registered constructors do).
pub(crate) fn fn_offset(addr: usize) -> i64 {
    offset_of(addr)
}

/// The address of the function at `offset` (from [`fn_offset`]).
///
/// # Safety
/// `offset` must come from [`fn_offset`] in a process running this very binary (a
/// child's arguments: `fork` shares the image, `spawn` and `forkserver` check the
/// executable's fingerprint before the arguments are decoded), for a function of the
/// type the caller transmutes the address to.
pub(crate) unsafe fn fn_at(offset: i64) -> usize {
    (anchor as fn() as usize as i64 + offset) as usize
}

fn exe_fingerprint() -> io::Result<[u64; 4]> {
    fingerprint_of(std::path::Path::new("/proc/self/exe"))
}

fn fingerprint_of(path: &std::path::Path) -> io::Result<[u64; 4]> {
    let m = std::fs::metadata(path)?;
    Ok([
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime_nsec() as u64 ^ (m.mtime() as u64),
    ])
}

/// Decodes `A` and calls the target (one instance per argument type).
fn trampoline<A: DeserializeOwned>(target: usize, bytes: &[u8]) -> Result<(), CodecError> {
    let args: A = codec::from_bytes(bytes)?;
    inherit::clear();
    // SAFETY: `target` is the address of an `fn(A)` taken in `Process::new` (same binary:
    // fork shares the image; spawn checked the executable's fingerprint and rebased the
    // offset on this process's anchor).
    let f: fn(A) = unsafe { std::mem::transmute::<usize, fn(A)>(target) };
    f(args);
    Ok(())
}

type Trampoline = fn(usize, &[u8]) -> Result<(), CodecError>;

#[derive(Serialize, Deserialize)]
struct SpawnPayload {
    fingerprint: [u64; 4],
    trampoline: i64,
    target: i64,
    name: String,
    identity: Vec<usize>,
    daemon: bool,
    parent: u32,
    parent_name: String,
    fds: Vec<RawFd>,
    args: Vec<u8>,
    log: Option<u8>,
}

// ---------------------------------------------------------------------------------------
// The child's side.

/// A child's panic report: `Process NAME:` and a traceback-like report on stderr.
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let name = &ME.get().name;
    let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    let loc = info
        .location()
        .map(|l| {
            format!(
                "  File \"{}\", line {}, column {}\n",
                l.file(),
                l.line(),
                l.column()
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        io::stderr(),
        "Process {name}:\nTraceback (most recent call last):\n{loc}panic: {msg}"
    );
}

/// In a spawned or forkserver child (a fresh process): installs the panic report.
fn set_panic_report() {
    std::panic::set_hook(Box::new(report_panic));
}

/// Before the first `fork` start, in the parent: installs, once, a hook that prints the
/// report in a forked child (a process that adopted a child record) and hands every
/// other panic to the hook in place before it. A fork child thus inherits its report
/// with the memory and installs nothing: `set_hook` in the child wrote std's hook
/// static and ran code on pages of its own — two more copy-on-write faults per start.
/// Difference: a panic hook the program sets *after* its first `fork` start replaces
/// the report in the fork children started after that (spawned and forkserver
/// children always print it).
fn install_fork_panic_report() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ME.get_if_made().is_some_and(|me| me.parent.is_some()) {
                report_panic(info)
            } else {
                prev(info)
            }
        }));
    });
}

/// Runs the target in a child and leaves the process with its exit code. `me` is the
/// child's identity (for a fork child prepared by the parent before the fork);
/// `os_parent` is the process that forked this one (the requester, or the fork server).
fn run_child(
    me: Me,
    os_parent: u32,
    log: Option<u8>,
    report_hook: bool,
    body: impl FnOnce() -> Result<(), CodecError>,
) -> ! {
    if me.daemon {
        // SAFETY: prctl with PR_SET_PDEATHSIG and a signal number has no memory effects.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
        // The parent may have died before the prctl: then we were re-parented.
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } as u32 != os_parent {
            // SAFETY: _exit ends the process without running anything else.
            unsafe { libc::_exit(1) };
        }
    }
    let me = Slot::here(me);
    // SAFETY: this frame never returns (it ends in `_exit`), so `me` stays valid and
    // unmoved for the rest of the process; it is never changed.
    unsafe { ME.adopt(&me) };
    if let Some(level) = log {
        super::util::install_from_parent(level);
    }
    if report_hook {
        set_panic_report();
    }
    super::util::info("child process calling self.run()");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let code = match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let _ = writeln!(
                io::stderr(),
                "Process {}:\ncannot decode the arguments: {e}",
                ME.get().name
            );
            1
        }
        Err(_) => 1,
    };
    wait_for_children_and_threads();
    super::util::info(format_args!("process exiting with exitcode {code}"));
    // std's stderr is unbuffered: only stdout has anything to flush (flushing stderr
    // would only take its lock: a write to a page of std's, one more fault). The result
    // is forgotten, not dropped: `_exit` follows, and the drop glue is code elsewhere in
    // the binary (a page the child would fault in for nothing).
    std::mem::forget(io::stdout().flush());
    // SAFETY: _exit ends the process (a forked child must not run the parent's atexit).
    unsafe { libc::_exit(code) }
}

/// What a CPython child does once its target returned or raised, before it exits
/// (`util._exit_function()` and `threading._shutdown()` in `BaseProcess._bootstrap`):
/// waits for the non-daemon children it started and not yet joined, then for its
/// non-daemon conkit threads. Its daemonic children are not waited for: they die with
/// it (`PR_SET_PDEATHSIG`; CPython terminates them). Threads started with
/// `std::thread` are not conkit's to know about: they are killed by the exit.
#[inline(always)]
fn wait_for_children_and_threads() {
    if CHILDREN.get_if_made().is_some() || !single_threaded() {
        wait_for_children_and_threads_slow();
    }
}

/// Whether this process has one thread: `unshare(CLONE_THREAD)` is a no-op then and
/// `EINVAL` with other threads (unshare(2)); a refused system call (a seccomp filter)
/// counts as "maybe not". One system call that writes no memory: a `fork` child that
/// started nothing costs no page fault for the look.
#[inline(always)]
fn single_threaded() -> bool {
    // SAFETY: unshare with CLONE_THREAD alone changes nothing (single-threaded) or fails.
    // (Through `syscall`, a libc page the child has used already: `close_range`.)
    unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_THREAD) == 0 }
}

#[cold]
#[inline(never)]
fn wait_for_children_and_threads_slow() {
    if let Some(children) = CHILDREN.get_if_made() {
        loop {
            let next = children
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|e| e.code.is_none() && !e.daemon)
                .map(|e| (e.pid, e.server.clone()));
            let Some((pid, server)) = next else { break };
            super::util::info(format_args!("calling join() for process {pid}"));
            let code = poll_child(pid, server.as_deref(), true)
                .ok()
                .flatten()
                .unwrap_or(-1);
            let mut c = children.lock().unwrap_or_else(|e| e.into_inner());
            for e in c.iter_mut().filter(|e| e.pid == pid) {
                e.code = Some(code);
            }
        }
    }
    if crate::threading::active_count() > 1 {
        crate::threading::join_non_daemon();
    }
}

/// A `fork` child's start (see [`Process::start_fork`]): adopts the table of
/// descriptors and the identity record the parent prepared, closes the parent's other
/// descriptors, runs the target. No allocation before the target runs. Inlined into
/// `start_fork`: the child then runs code from one place of the binary up to
/// `run_child` (each other place is a page fault of the child's, mapping the code).
#[inline(always)]
fn fork_child(
    me: Me,
    dups: Vec<OwnedFd>,
    keep: &[RawFd],
    closure: Option<Box<dyn FnOnce() + Send>>,
    (tramp, target): (Trampoline, usize),
    bytes: &[u8],
    (parent, repair_threads): (u32, bool),
) -> ! {
    if repair_threads {
        crate::threading::after_fork_in_child();
    }
    let table: inherit::ForkTable = Slot::here(Mutex::new(dups));
    if !keep.is_empty() {
        // SAFETY: this frame never returns (`run_child` ends in `_exit`), so `table`
        // stays valid and unmoved; the duplicates were made for this child alone.
        unsafe { inherit::adopt_forked(&table) };
    }
    if closure.is_none() {
        // A target and its arguments: like a spawned child, it keeps only the
        // descriptors among its arguments (and stdin/stdout/stderr), not the parent's
        // others — the other end of a pipe above all, which would keep a reader in this
        // child from ever seeing end-of-file (a CPython child closes it by hand; ours
        // has no handle to it). A closure keeps them all: it may have captured any.
        close_all_but(keep);
    }
    run_child(
        me,
        parent,
        None,  // the logger's state is inherited with the memory
        false, // so is the panic report (`install_fork_panic_report`)
        move || match closure {
            Some(f) => {
                f();
                Ok(())
            }
            None => tramp(target, bytes),
        },
    )
}

const SPAWN_ENV: &str = "CONKIT_MP_SPAWN_FD";

/// Whether this is a spawned child that has not called [`init`] (its environment
/// still names the payload: [`init`] removes the variable, runs the target and exits).
/// Looked up once per process and remembered: reading the environment takes std's
/// environment lock, a write to a page that each `fork` start would then fault on.
fn spawned_without_init() -> bool {
    // 0: not looked up yet; 1: no; 2: yes. A forked child inherits the answer, which
    // holds for it too (a spawned child that never called `init` starts no children).
    static SEEN: AtomicU8 = AtomicU8::new(0);
    match SEEN.load(Ordering::Relaxed) {
        0 => {
            let yes = std::env::var_os(SPAWN_ENV).is_some();
            SEEN.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        seen => seen == 2,
    }
}

/// The name of the first thread other than `main` that called [`init`]: under
/// `cargo test`, a test whose first line is `init()`.
static INIT_THREAD: Mutex<Option<String>> = Mutex::new(None);

/// Makes `cmd`'s child keep the descriptors `keep` across its `exec` (clears their
/// close-on-exec flag between the fork and the exec; every other descriptor conkit opens
/// is close-on-exec).
fn keep_across_exec(cmd: &mut std::process::Command, keep: Vec<RawFd>) {
    // SAFETY: the closure only calls fcntl (async-signal-safe) on descriptor numbers.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &keep {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Under `cargo test`, makes the re-executed binary run just one test that calls
/// [`init`] first: the calling thread's test if it is a test thread (any thread named
/// other than `main`), else — a thread the test started, which has no name — the test
/// that first called [`init`]. In a program (thread `main`, unnamed threads) nothing is
/// added.
fn add_test_args(cmd: &mut std::process::Command) {
    let current = std::thread::current();
    let test = match current.name().filter(|n| *n != "main") {
        Some(name) => Some(name.to_string()),
        None => INIT_THREAD
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    };
    if let Some(test) = test {
        cmd.args(["--exact", &test, "--nocapture", "--test-threads=1", "-q"]);
    }
}

/// Python's `freeze_support()`: in a child started with `spawn`, runs its target and
/// exits; anywhere else returns at once. Call it first thing in `main` (and at the start
/// of every test that starts `spawn` children, see the module docs).
///
/// ```
/// conkit::multiprocessing::init(); // not a spawned child: returns
/// ```
pub fn init() {
    if let Some(name) = std::thread::current().name().filter(|n| *n != "main") {
        INIT_THREAD
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| name.to_string());
    }
    if let Ok(value) = std::env::var(forkserver::SERVER_ENV) {
        std::env::remove_var(forkserver::SERVER_ENV);
        forkserver::serve(value);
    }
    let Ok(value) = std::env::var(SPAWN_ENV) else {
        return;
    };
    std::env::remove_var(SPAWN_ENV);
    let Ok(fd) = value.parse::<RawFd>() else {
        let _ = writeln!(io::stderr(), "conkit: bad {SPAWN_ENV}={value}");
        // SAFETY: _exit ends the process.
        unsafe { libc::_exit(1) };
    };
    // SAFETY: the parent put the read end of the payload pipe at this number for us.
    let mut pipe = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut bytes = Vec::new();
    let fail = |msg: String| -> ! {
        let _ = writeln!(io::stderr(), "conkit spawn child: {msg}");
        // SAFETY: _exit ends the process.
        unsafe { libc::_exit(1) }
    };
    if let Err(e) = pipe.read_to_end(&mut bytes) {
        fail(format!("cannot read the payload: {e}"));
    }
    drop(pipe);
    let payload: SpawnPayload = match codec::from_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => fail(format!("bad payload: {e}")),
    };
    match exe_fingerprint() {
        Ok(fp) if fp == payload.fingerprint => {}
        Ok(_) => fail(
            "the executable differs from the parent's (fingerprint mismatch): refusing to run \
             a function located by offset"
                .into(),
        ),
        Err(e) => fail(format!("cannot fingerprint the executable: {e}")),
    }
    // SAFETY: the parent cleared close-on-exec on these inherited descriptors for us; we
    // own them now.
    unsafe { inherit::install_raw(&payload.fds) };
    let parent = payload.parent;
    run_payload(payload, parent)
}

/// Runs a spawned or forkserver child's payload (the executable's fingerprint already
/// checked, the descriptors installed).
fn run_payload(payload: SpawnPayload, os_parent: u32) -> ! {
    let base = anchor as fn() as usize as i64;
    let tramp_addr = (base + payload.trampoline) as usize;
    let target = (base + payload.target) as usize;
    // SAFETY: same binary (fingerprint checked by the spawned child or the fork server),
    // so anchor + offset is the address of the `trampoline::<A>` instance the parent chose.
    let tramp: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(tramp_addr) };
    let me = Me {
        name: payload.name,
        identity: payload.identity,
        daemon: payload.daemon,
        parent: Some((payload.parent, payload.parent_name)),
        counter: AtomicUsize::new(1),
    };
    run_child(me, os_parent, payload.log, true, || {
        tramp(target, &payload.args)
    })
}

// ---------------------------------------------------------------------------------------
// Process.

type Encoder = Box<dyn Fn() -> (Result<Vec<u8>, CodecError>, Vec<RawFd>) + Send>;

struct Running {
    pid: libc::pid_t,
    /// `fork` and `spawn`: opened on first need ([`Running::handle`]); `forkserver`:
    /// received from the server with the pid.
    pidfd: OnceLock<Handle>,
    /// `forkserver`: the connection the exit status arrives on (the sentinel).
    status: Option<Arc<ServerChild>>,
}

/// What stands for a started child: its pidfd, or — asked for only after the child
/// was reaped — a descriptor that is readable at once (the read end of a pipe whose
/// write end is closed): the child has ended.
enum Handle {
    Pidfd(OwnedFd),
    Ended(OwnedFd),
}

impl Handle {
    fn fd(&self) -> RawFd {
        match self {
            Handle::Pidfd(fd) | Handle::Ended(fd) => fd.as_raw_fd(),
        }
    }
}

impl Running {
    /// The child's handle, its pidfd opened on the first call. A start does not open
    /// it: `join` waits with `waitpid`, and the pidfd's two system calls and kernel
    /// object are only for [`Process::sentinel`], `join_timeout`, `terminate` and
    /// `kill`. Opening it late is safe from pid reuse: it is opened under the children
    /// table's lock while the table says the child is not reaped (the only reapers are
    /// its `Process`, which is borrowed here, and [`active_children`], which reaps under
    /// that lock); a child reaped already gets [`Handle::Ended`].
    fn handle(&self) -> io::Result<&Handle> {
        if let Some(h) = self.pidfd.get() {
            return Ok(h);
        }
        let children = CHILDREN.get().lock().unwrap_or_else(|e| e.into_inner());
        let reaped = children
            .iter()
            .find(|e| e.pid == self.pid)
            .is_none_or(|e| e.code.is_some());
        let h = if reaped {
            Handle::Ended(ended_fd()?)
        } else {
            Handle::Pidfd(pidfd_open(self.pid)?)
        };
        drop(children);
        // Another thread may have opened one meanwhile: keep the first (ours closes).
        Ok(self.pidfd.get_or_init(|| h))
    }

    fn sentinel(&self) -> io::Result<RawFd> {
        match &self.status {
            Some(s) => Ok(s.conn.as_raw_fd()),
            None => self.handle().map(Handle::fd),
        }
    }
}

/// A descriptor that is readable at once: the read end of a pipe without writers.
fn ended_fd() -> io::Result<OwnedFd> {
    let mut pfds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(pfds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created both; we own them (the write end closes here).
    let (read, _write) = unsafe { (OwnedFd::from_raw_fd(pfds[0]), OwnedFd::from_raw_fd(pfds[1])) };
    Ok(read)
}

/// A forkserver child's status connection and the status once read (shared with
/// [`active_children`]'s table, which also keeps the connection open after the `Process`
/// is dropped: a daemon child lives while its requester does).
struct ServerChild {
    conn: OwnedFd,
    code: Mutex<Option<i32>>,
}

impl ServerChild {
    fn poll(&self, block: bool) -> io::Result<Option<i32>> {
        let mut code = self.code.lock().unwrap_or_else(|e| e.into_inner());
        if code.is_some() {
            return Ok(*code);
        }
        if !block {
            let mut pfd = libc::pollfd {
                fd: self.conn.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
                return Ok(None);
            }
        }
        *code = Some(forkserver::read_status(self.conn.as_raw_fd())?);
        Ok(*code)
    }
}

/// A child process running `target(args)` (Python's `multiprocessing.Process`).
///
/// `Process` is `Send` (its arguments must be): it may be started on one thread and
/// joined on another. Mind a daemon's `PR_SET_PDEATHSIG`, tied to the starting thread.
///
/// As in CPython, once the target returned (or panicked) the child waits for the
/// non-daemon children it started and did not join, then for its non-daemon
/// [`conkit::threading`](crate::threading) threads, and exits; its daemonic children
/// die with it, and threads started with `std::thread` are not waited for
/// (`std::process::exit` in the target leaves at once, as CPython's `os._exit`). A `fork`
/// child of a parent with other conkit threads sees only the forking thread (CPython's
/// `threading._after_fork`). The main process does nothing of the kind when `main`
/// returns (Rust has no `atexit` for it): join the children there, and use
/// [`threading::join_non_daemon`](crate::threading::join_non_daemon) for the threads.
///
/// ```
/// use conkit::multiprocessing::{self as mp, Process};
/// fn worker(n: u32) {
///     println!("worker {n} in {}", mp::current_process().name());
/// }
/// mp::init();
/// let mut p = Process::new(worker, 7u32).daemon(true);
/// p.start().unwrap();
/// assert!(p.join_timeout(std::time::Duration::from_secs(10)).unwrap());
/// assert_eq!(p.exitcode(), Some(0));
/// ```
pub struct Process {
    name: String,
    identity: Vec<usize>,
    daemon: bool,
    method: Option<StartMethod>,
    trampoline: Trampoline,
    target: usize,
    encode: Encoder,
    running: Option<Running>,
    exitcode: Option<i32>,
    closed: bool,
    closure: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("pid", &self.pid())
            .field("exitcode", &self.exitcode)
            .finish()
    }
}

impl Process {
    /// A process that will run `target(args)`; named `Process-N` (N counts the processes
    /// created by this process, from 1; in a child `Process-1:N` as in Python).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: (u8, String)) {}
    /// let p = Process::new(work, (1, "x".to_string()));
    /// assert!(p.get_name().starts_with("Process-"));
    /// ```
    pub fn new<A>(target: fn(A), args: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        let me = ME.get();
        let n = me.counter.fetch_add(1, Ordering::Relaxed);
        let mut identity = me.identity.clone();
        identity.push(n);
        let name = format!(
            "Process-{}",
            identity
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(":")
        );
        Process {
            name,
            identity,
            daemon: me.daemon,
            method: None,
            trampoline: trampoline::<A>,
            target: target as usize,
            encode: Box::new(move || inherit::collect(|| codec::to_bytes(&args))),
            running: None,
            exitcode: None,
            closed: false,
            closure: Mutex::new(None),
        }
    }

    /// A process running a closure, started with `fork` only (a closure cannot cross
    /// `exec`; starting it with another method is [`ProcessError::ClosureNeedsFork`]). The
    /// child is a copy of the parent: in a multithreaded parent only the calling thread
    /// exists in it, and a lock another thread held at the fork stays locked there.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// let n = 5;
    /// let mut p = Process::fork_closure(move || std::process::exit(n));
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(5));
    /// ```
    pub fn fork_closure(f: impl FnOnce() + Send + 'static) -> Process {
        fn unused(_: ()) {}
        let p = Process::new(unused, ()).start_method(StartMethod::Fork);
        *p.closure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
        p
    }

    /// Sets the name (builder; Rust has no overloading, so the getter is
    /// [`Process::get_name`]).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert_eq!(Process::new(work, ()).name("w-1").get_name(), "w-1");
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (default: the creating process's). A daemon child is killed
    /// when its parent dies (`PR_SET_PDEATHSIG`, even when the parent is SIGKILLed) and
    /// cannot start children.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert!(Process::new(work, ()).daemon(true).is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// Sets the start method (default: [`get_start_method`] at `start`).
    ///
    /// ```
    /// use conkit::multiprocessing::{Process, StartMethod};
    /// fn work(_: ()) {}
    /// let _p = Process::new(work, ()).start_method(StartMethod::Spawn);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Process {
        self.method = Some(method);
        self
    }

    /// Whether the process is a daemon.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert!(!Process::new(work, ()).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The process's name (see [`Process::new`]).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// let p = Process::new(work, ()).name("a");
    /// assert_eq!(p.get_name(), "a");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Starts the child. The arguments go to the child: the parent's copy is dropped
    /// once it started (descriptors among them close in the parent, as a CPython user
    /// closes the end the child uses; pass a clone of a shared object — a `Lock`, a
    /// `Queue`, a `Value` — to keep using it here too).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn work(_: ()) {}
    /// let mut p = Process::new(work, ());
    /// p.start().unwrap();
    /// assert!(p.start().is_err()); // cannot start a process twice
    /// p.join().unwrap();
    /// ```
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        if self.running.is_some() || self.exitcode.is_some() {
            return Err(ProcessError::AlreadyStarted);
        }
        if with_me(|me| me.daemon) {
            return Err(ProcessError::DaemonicChildren);
        }
        if spawned_without_init() {
            return Err(ProcessError::InitNotCalled);
        }
        let (bytes, fds) = (self.encode)();
        let bytes = bytes.map_err(ProcessError::Encode)?;
        let method = self.method.unwrap_or_else(get_start_method);
        if method != StartMethod::Fork
            && self
                .closure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
        {
            return Err(ProcessError::ClosureNeedsFork);
        }
        super::util::info(format_args!("starting {} ({})", self.name, method.as_str()));
        let running = match method {
            StartMethod::Fork => {
                let pid = self.start_fork(&bytes, &fds)?;
                Running {
                    pid,
                    pidfd: OnceLock::new(),
                    status: None,
                }
            }
            StartMethod::Spawn => {
                let pid = self.start_spawn(bytes, &fds)?;
                Running {
                    pid,
                    pidfd: OnceLock::new(),
                    status: None,
                }
            }
            StartMethod::Forkserver => {
                let l = forkserver::launch(&self.payload(bytes, &[])?, &fds, self.daemon)?;
                Running {
                    pid: l.pid,
                    pidfd: OnceLock::from(Handle::Pidfd(l.pidfd)),
                    status: Some(Arc::new(ServerChild {
                        conn: l.conn,
                        code: Mutex::new(None),
                    })),
                }
            }
        };
        CHILDREN
            .get()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ChildEntry {
                pid: running.pid,
                name: self.name.clone(),
                code: None,
                daemon: self.daemon,
                server: running.status.clone(),
            });
        self.running = Some(running);
        // The child has its arguments now (copied by `fork`, inherited across `exec`,
        // or passed to the fork server): drop the parent's, so that what was handed to
        // the child — a pipe's end, say — closes here now rather than when this
        // `Process` is dropped, and a reader in the parent sees end-of-file once the
        // child is done with it (CPython's users close their copy after `start`).
        self.encode = Box::new(|| (Ok(Vec::new()), Vec::new()));
        drop(
            self.closure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        Ok(())
    }

    /// Starts a `fork` child. Everything the child needs is prepared here, before the
    /// fork — its identity record, duplicates of its descriptors, the sorted list of
    /// descriptors it keeps, the closure — so that the child allocates nothing and
    /// writes almost nothing before the target runs: each page a child writes after
    /// `fork` is a copy-on-write page fault, and the start's cost is mostly those faults
    /// (see `per_process`).
    fn start_fork(&self, bytes: &[u8], fds: &[RawFd]) -> Result<libc::pid_t, ProcessError> {
        let parent = std::process::id();
        let me = Me {
            name: self.name.clone(),
            identity: self.identity.clone(),
            daemon: self.daemon,
            // Read before the fork: the child's `current_process()` is its own.
            parent: Some((parent, current_process().name)),
            counter: AtomicUsize::new(1),
        };
        // The parent's objects keep owning the numbers in `fds` in the child's copy of
        // the memory; the child's table owns duplicates, made here (close-on-exec; the
        // parent's copies close when this function returns).
        let dups = fds
            .iter()
            .map(|&fd| {
                // SAFETY: `fds` are open descriptors of the arguments, kept alive by
                // the caller during the start.
                unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
            })
            .collect::<io::Result<Vec<OwnedFd>>>()?;
        let mut keep: Vec<RawFd> = dups.iter().map(|d| d.as_raw_fd()).collect();
        keep.sort_unstable();
        let closure = self
            .closure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        install_fork_panic_report();
        // Conkit threads (or handles of other threads) in the thread registry: the
        // child must repair it (`threading::after_fork_in_child`, CPython's
        // `threading._after_fork`), or it would list, and wait for, threads it does not
        // have. Asked here, not in the child: an empty registry costs the child nothing.
        let repair_threads = crate::threading::active_count() > 1;
        let _ = io::stdout().flush();
        // SAFETY: fork; the child only runs `fork_child`, which ends in `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = io::Error::last_os_error();
            *self.closure.lock().unwrap_or_else(|e| e.into_inner()) = closure;
            return Err(e.into());
        }
        if pid == 0 {
            fork_child(
                me,
                dups,
                &keep,
                closure,
                (self.trampoline, self.target),
                bytes,
                (parent, repair_threads),
            );
        }
        Ok(pid)
    }

    fn payload(&self, args: Vec<u8>, fds: &[RawFd]) -> Result<SpawnPayload, ProcessError> {
        Ok(SpawnPayload {
            fingerprint: exe_fingerprint()?,
            trampoline: offset_of(self.trampoline as usize),
            target: offset_of(self.target),
            name: self.name.clone(),
            identity: self.identity.clone(),
            daemon: self.daemon,
            parent: std::process::id(),
            parent_name: current_process().name,
            fds: fds.to_vec(),
            args,
            log: super::util::stderr_level(),
        })
    }

    fn start_spawn(&self, args: Vec<u8>, fds: &[RawFd]) -> Result<libc::pid_t, ProcessError> {
        let payload = self.payload(args, fds)?;
        let bytes = codec::to_bytes(&payload).map_err(ProcessError::Encode)?;
        let mut pfds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(pfds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: pipe2 just created both; we own them.
        let (read, write) =
            unsafe { (OwnedFd::from_raw_fd(pfds[0]), OwnedFd::from_raw_fd(pfds[1])) };
        let mut cmd = std::process::Command::new(get_executable()?);
        add_test_args(&mut cmd);
        cmd.env(SPAWN_ENV, read.as_raw_fd().to_string());
        let mut keep: Vec<RawFd> = fds.to_vec();
        keep.push(read.as_raw_fd());
        keep_across_exec(&mut cmd, keep);
        let child = cmd.spawn()?;
        drop(read);
        let pid = child.id() as libc::pid_t;
        // The child reads to the end; if it died early the write fails with EPIPE, and
        // join reports its exit code.
        let _ = std::fs::File::from(write).write_all(&bytes);
        Ok(pid)
    }

    fn reap(&mut self, block: bool) -> Result<Option<i32>, ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        if let Some(code) = self.exitcode {
            return Ok(Some(code));
        }
        let Some(run) = &self.running else {
            return Err(if self.closed {
                ProcessError::Closed
            } else {
                ProcessError::NotStarted
            });
        };
        // `active_children` may have reaped it already.
        if let Some(code) = take_reaped(run.pid) {
            self.exitcode = Some(code);
            return Ok(Some(code));
        }
        let code = match &run.status {
            Some(s) => s.poll(block)?,
            None => match wait_child(run.pid, block) {
                // `active_children` on another thread reaped it between our two looks
                // (it holds the table's lock until the code is stored).
                Err(ProcessError::Os(e)) if e.raw_os_error() == Some(libc::ECHILD) => {
                    Some(take_reaped(run.pid).ok_or(ProcessError::Os(e))?)
                }
                polled => polled?,
            },
        };
        if code.is_some() {
            forget_child(run.pid);
            self.exitcode = code;
        }
        Ok(code)
    }

    /// Waits for the child to end.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn work(_: ()) {}
    /// let mut p = Process::new(work, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    pub fn join(&mut self) -> Result<(), ProcessError> {
        self.reap(true).map(|_| ())
    }

    /// Waits at most `timeout` for the child to end; `Ok(true)` when it ended.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// use std::time::Duration;
    /// conkit::multiprocessing::init();
    /// fn sleepy(_: ()) { std::thread::sleep(Duration::from_secs(5)) }
    /// let mut p = Process::new(sleepy, ());
    /// p.start().unwrap();
    /// assert!(!p.join_timeout(Duration::from_millis(10)).unwrap());
    /// p.kill().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool, ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        if self.exitcode.is_some() {
            return Ok(true);
        }
        let fd = match &self.running {
            Some(r) => r.sentinel()?,
            None => return self.reap(false).map(|c| c.is_some()),
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(io::Error::last_os_error().into());
            }
            if r > 0 {
                return self.reap(true).map(|c| c.is_some());
            }
            if left.is_zero() {
                return self.reap(false).map(|c| c.is_some());
            }
        }
    }

    /// The exit code: `None` while running or before start, 0 after the target returned,
    /// 1 after a panic, `-signal` when killed by a signal.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert_eq!(Process::new(work, ()).exitcode(), None);
    /// ```
    pub fn exitcode(&mut self) -> Option<i32> {
        if self.running.is_some() {
            let _ = self.reap(false);
        }
        self.exitcode
    }

    /// The child's process id once started.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert_eq!(Process::new(work, ()).pid(), None);
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.pid as u32)
    }

    /// Whether the child was started and has not ended.
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// fn work(_: ()) {}
    /// assert!(!Process::new(work, ()).is_alive());
    /// ```
    pub fn is_alive(&mut self) -> bool {
        self.running.is_some() && matches!(self.reap(false), Ok(None))
    }

    fn signal(&mut self, sig: libc::c_int) -> Result<(), ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        if self.exitcode.is_some() || self.reap(false)?.is_some() {
            return Ok(()); // Python: nothing to do for an ended process
        }
        let Some(run) = &self.running else {
            return Err(ProcessError::NotStarted);
        };
        let pidfd = match run.handle()? {
            Handle::Pidfd(fd) => fd.as_raw_fd(),
            // Reaped meanwhile (by `active_children` on another thread): it has ended.
            Handle::Ended(_) => return Ok(()),
        };
        // SAFETY: pidfd_send_signal on our child's pidfd (no pid reuse race).
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Sends SIGTERM (exit code -15 unless the child handles it).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn sleepy(_: ()) { std::thread::sleep(std::time::Duration::from_secs(60)) }
    /// let mut p = Process::new(sleepy, ());
    /// p.start().unwrap();
    /// p.terminate().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(-15));
    /// ```
    pub fn terminate(&mut self) -> Result<(), ProcessError> {
        self.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL (exit code -9).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn sleepy(_: ()) { std::thread::sleep(std::time::Duration::from_secs(60)) }
    /// let mut p = Process::new(sleepy, ());
    /// p.start().unwrap();
    /// p.kill().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(-9));
    /// ```
    pub fn kill(&mut self) -> Result<(), ProcessError> {
        self.signal(libc::SIGKILL)
    }

    /// A descriptor that becomes readable when the child ends, for
    /// `poll`/`epoll`/`connection::wait`: a Linux pidfd under `fork` and `spawn`
    /// (opened by the first call, not by `start`; asked for after the child was
    /// reaped, a descriptor that is readable at once); under `forkserver` the
    /// connection the server writes the exit status to (CPython's sentinel there too).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn work(_: ()) {}
    /// let mut p = Process::new(work, ());
    /// p.start().unwrap();
    /// let _fd = p.sentinel().unwrap();
    /// p.join().unwrap();
    /// ```
    pub fn sentinel(&self) -> Result<RawFd, ProcessError> {
        match &self.running {
            Some(r) => Ok(r.sentinel()?),
            None if self.closed => Err(ProcessError::Closed),
            None => Err(ProcessError::NotStarted),
        }
    }

    /// Releases the process's resources (its sentinel); an error while it still runs.
    /// Afterwards `start`, `join`, `join_timeout`, `terminate`, `kill` and `sentinel`
    /// are [`ProcessError::Closed`] (CPython's `ValueError: process object is closed`);
    /// a second `close` does nothing. The getters that return no `Result` cannot fail:
    /// `is_alive` is `false`, `pid` is `None` and `exitcode` keeps the exit code
    /// (CPython raises `ValueError` from all three).
    ///
    /// ```
    /// use conkit::multiprocessing::Process;
    /// conkit::multiprocessing::init();
    /// fn work(_: ()) {}
    /// let mut p = Process::new(work, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// p.close().unwrap();
    /// ```
    pub fn close(&mut self) -> Result<(), ProcessError> {
        if self.running.is_some() && self.reap(false)?.is_none() {
            return Err(ProcessError::StillRunning);
        }
        self.running = None;
        self.closed = true;
        Ok(())
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open on a child not yet reaped (so its pid is not reused; see
    // `Running::handle`).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from the kernel (pidfds are close-on-exec).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Python's "subclass `Process` and override `run`": a serialisable object whose
/// [`run`](Run::run) is the child's body; start it with [`Process::from_run`].
///
/// ```
/// use conkit::multiprocessing::{self as mp, Process, Run};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct MyProcess { n: u32 }
/// impl Run for MyProcess {
///     fn run(self) { println!("MyProcess {} in {}", self.n, mp::current_process().name()); }
/// }
/// mp::init();
/// let mut p = Process::from_run(MyProcess { n: 1 });
/// p.start().unwrap();
/// p.join().unwrap();
/// ```
pub trait Run: Serialize + DeserializeOwned + 'static {
    /// The child's body.
    fn run(self);
}

fn run_object<R: Run>(obj: R) {
    obj.run()
}

impl Process {
    /// A process whose body is `obj.run()` (the "subclass Process" form).
    ///
    /// ```
    /// use conkit::multiprocessing::{Process, Run};
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job;
    /// impl Run for Job { fn run(self) {} }
    /// assert!(Process::from_run(Job).get_name().starts_with("Process-"));
    /// ```
    pub fn from_run<R: Run + Send>(obj: R) -> Process {
        Process::new(run_object::<R>, obj)
    }
}

/// Python's `freeze_support()`: the same function as [`init`] (call it first in `main`).
///
/// ```
/// conkit::multiprocessing::freeze_support();
/// ```
pub fn freeze_support() {
    init()
}

/// Python's `allow_connection_pickling()`: nothing to do. In CPython 3 it only imports
/// `multiprocessing.connection` (on Windows it once made sockets inheritable); in
/// conkit a [`Connection`](super::Connection) (and every other object holding a
/// descriptor) is always passable to a child as a [`Process`] argument, under every
/// start method. After the start, an open descriptor goes over a connection with
/// [`reduction::send_handle`](super::reduction::send_handle) /
/// [`recv_handle`](super::reduction::recv_handle); a `Connection` object itself
/// cannot be sent over a connection or a queue.
///
/// ```
/// conkit::multiprocessing::allow_connection_pickling();
/// ```
pub fn allow_connection_pickling() {}

/// The number of CPUs this process may run on (Python's `os.process_cpu_count()`; conkit
/// counts the affinity mask, like [`std::thread::available_parallelism`]).
///
/// ```
/// assert!(conkit::multiprocessing::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A child started by this process: exit code once reaped by [`active_children`] (kept
/// until its `Process` reads it); a forkserver child's status connection.
struct ChildEntry {
    pid: libc::pid_t,
    name: String,
    code: Option<i32>,
    daemon: bool,
    server: Option<Arc<ServerChild>>,
}

/// Per process (see `per_process`): a forked child starts with no children, as
/// CPython's child clears `_children`, and never locks the parent's list.
static CHILDREN: PerProcess<Mutex<Vec<ChildEntry>>> = PerProcess::new(|| Mutex::new(Vec::new()));

/// In a forked child: closes every descriptor from 3 up except `keep` (sorted;
/// CPython's `os.closerange` around the kept ones in `spawnv_passfds`).
/// `close_range(2)` where the kernel has it (Linux 5.9), else each number listed in
/// `/proc/self/fd`. Allocates nothing unless it has to list `/proc/self/fd`.
fn close_all_but(keep: &[RawFd]) {
    debug_assert!(keep.windows(2).all(|w| w[0] <= w[1]));
    let mut from: libc::c_uint = 3;
    let mut ok = true;
    for k in keep
        .iter()
        .filter(|&&k| k > 2)
        .map(|&k| k as libc::c_uint)
        .chain([libc::c_uint::MAX])
    {
        if from < k {
            // SAFETY: close_range closes descriptor numbers; the objects of the parent
            // that own them in this copy of memory are never used or dropped here.
            ok &= unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) } == 0;
        }
        from = from.max(k.saturating_add(1));
    }
    if ok {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && keep.binary_search(&fd).is_err() {
            // SAFETY: as above (the listing's own descriptor is among them, closed when
            // the listing ended: closing that number again fails harmlessly, nothing
            // opened since).
            unsafe { libc::close(fd) };
        }
    }
}

fn take_reaped(pid: libc::pid_t) -> Option<i32> {
    let mut c = CHILDREN.get().lock().unwrap_or_else(|e| e.into_inner());
    let i = c.iter().position(|e| e.pid == pid && e.code.is_some())?;
    c.swap_remove(i).code
}

fn forget_child(pid: libc::pid_t) {
    CHILDREN
        .get()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|e| e.pid != pid);
}

/// A child's exit code, if it has ended (`block`: wait for it): through its forkserver
/// status connection if it has one, else `waitpid`.
fn poll_child(
    pid: libc::pid_t,
    server: Option<&ServerChild>,
    block: bool,
) -> Result<Option<i32>, ProcessError> {
    match server {
        Some(s) => s.poll(block).map_err(ProcessError::Os),
        None => wait_child(pid, block),
    }
}

fn wait_child(pid: libc::pid_t, block: bool) -> Result<Option<i32>, ProcessError> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if r == 0 {
            return Ok(None);
        }
        break;
    }
    Ok(Some(if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }))
}

/// A child [`active_children`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveChild {
    /// Its process id.
    pub pid: u32,
    /// Its name.
    pub name: String,
}

/// The children of this process still running (Python's `active_children()`); reaps the
/// ones that ended (their `Process` still sees the exit code).
///
/// ```
/// assert!(conkit::multiprocessing::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    let mut c = CHILDREN.get().lock().unwrap_or_else(|e| e.into_inner());
    let mut alive = Vec::new();
    for e in c.iter_mut().filter(|e| e.code.is_none()) {
        match poll_child(e.pid, e.server.as_deref(), false) {
            Ok(None) => alive.push(ActiveChild {
                pid: e.pid as u32,
                name: e.name.clone(),
            }),
            Ok(Some(code)) => e.code = Some(code),
            Err(_) => e.code = Some(-1),
        }
    }
    alive
}

/// The sentinel of this process's parent (see [`ParentProcess::sentinel`]): a pidfd of
/// the parent, opened on first need (`fork`, `spawn`) or received at the start
/// (`forkserver`). Per process: a child forked from this one has a parent of its own.
static PARENT_SENTINEL: PerProcess<OnceLock<OwnedFd>> = PerProcess::new(OnceLock::new);

/// In a forkserver child, before the target runs: the requester's pidfd, which the
/// requester sent with its request (the child's OS parent is the server).
pub(super) fn adopt_parent_sentinel(fd: OwnedFd) {
    let _ = PARENT_SENTINEL.get().set(fd);
}

/// The process that started this one (Python's `multiprocessing.parent_process()`,
/// CPython's `_ParentProcess`), as [`parent_process`] returns it: its pid and name as
/// they were when it started this child, and whether it still runs.
///
/// # How "the parent ended" is seen
/// [`sentinel`](Self::sentinel) is a Linux pidfd of the parent: it becomes readable
/// when the parent ends, however it ends (`SIGKILL` included), so it works with
/// [`connection::wait`](crate::multiprocessing::connection::wait), `poll` and `epoll`
/// like a child's [`Process::sentinel`]. Under `fork` and `spawn` the parent is this
/// process's OS parent: the pidfd is opened on the first call (nothing is done at the
/// start) with `pidfd_open(getppid())`, and `getppid()` is compared with the recorded
/// parent pid before and after: a parent that ended before has made this process an
/// orphan (re-parented to a reaper, `getppid()` changes at once, before the parent's pid
/// can be reused), and the sentinel is then a descriptor that is readable at once.
/// Under `forkserver` the OS parent is the fork server: the parent sends a pidfd of
/// itself with each request, and the child receives it at the start.
///
/// CPython's sentinel is the read end of a pipe whose write end the parent keeps:
/// every process that inherits that write end (a child `fork`ed later that keeps all
/// descriptors) keeps the parent "alive", and a parent that drops its `Process` object
/// looks dead. A pidfd depends on nothing but the parent process itself, has no pid
/// reuse race, and is not inherited by anything that matters (close-on-exec; a `fork`
/// child that keeps it opens its own for its own parent).
///
/// ```
/// use conkit::multiprocessing::{self as mp, Process};
/// use std::time::Duration;
/// fn child(_: ()) {
///     let parent = mp::parent_process().expect("a child has a parent");
///     assert!(parent.is_alive());
///     assert_eq!(parent.name, "MainProcess");
///     assert!(!parent.join_timeout(Duration::from_millis(10)).unwrap());
/// }
/// mp::init();
/// assert!(mp::parent_process().is_none());
/// let mut p = Process::new(child, ());
/// p.start().unwrap();
/// p.join().unwrap();
/// assert_eq!(p.exitcode(), Some(0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive] // made only by `parent_process` (the sentinel is this process's parent's)
pub struct ParentProcess {
    /// Its process id.
    pub pid: u32,
    /// Its name.
    pub name: String,
}

impl ParentProcess {
    /// A descriptor that becomes readable when the parent ends (a pidfd of the parent,
    /// or, asked for after the parent ended, a descriptor readable at once). It stays
    /// open while this process lives; every call returns the same one (CPython's
    /// `parent_process().sentinel`). Usable with
    /// [`connection::wait`](crate::multiprocessing::connection::wait) (or pass the
    /// `ParentProcess` itself: it is [`Waitable`](crate::multiprocessing::connection::Waitable)).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, connection::wait, Process};
    /// use std::time::Duration;
    /// fn child(_: ()) {
    ///     let fd = mp::parent_process().unwrap().sentinel().unwrap();
    ///     assert!(wait(&[&fd], Some(Duration::ZERO)).unwrap().is_empty());
    /// }
    /// mp::init();
    /// let mut p = Process::new(child, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    pub fn sentinel(&self) -> Result<RawFd, ProcessError> {
        let slot = PARENT_SENTINEL.get();
        if let Some(fd) = slot.get() {
            return Ok(fd.as_raw_fd());
        }
        let fd = self.open_sentinel()?;
        // Another thread may have opened one meanwhile: keep the first (ours closes).
        Ok(slot.get_or_init(|| fd).as_raw_fd())
    }

    /// `fork` and `spawn`: a pidfd of the OS parent if it is still the recorded parent
    /// (see the type's docs), else a descriptor that is readable at once.
    fn open_sentinel(&self) -> io::Result<OwnedFd> {
        let ppid = || {
            // SAFETY: getppid has no preconditions.
            (unsafe { libc::getppid() }) as u32
        };
        if ppid() != self.pid {
            return ended_fd();
        }
        let fd = pidfd_open(self.pid as libc::pid_t)?;
        if ppid() != self.pid {
            // The parent ended between the two looks (the pidfd may name another
            // process that took the pid since: dropped).
            return ended_fd();
        }
        Ok(fd)
    }

    /// Whether the parent still runs (CPython: `not wait([sentinel], timeout=0)`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, Process};
    /// fn child(_: ()) {
    ///     assert!(mp::parent_process().unwrap().is_alive());
    /// }
    /// mp::init();
    /// let mut p = Process::new(child, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    pub fn is_alive(&self) -> bool {
        match self.sentinel() {
            Ok(fd) => !matches!(wait_readable(fd, Some(Duration::ZERO)), Ok(true)),
            // No descriptor to be had (out of descriptors): ask the OS parent.
            // SAFETY: getppid has no preconditions.
            Err(_) => (unsafe { libc::getppid() }) as u32 == self.pid,
        }
    }

    /// Waits until the parent ends (CPython's `parent_process().join()`).
    pub fn join(&self) -> Result<(), ProcessError> {
        wait_readable(self.sentinel()?, None).map(|_| ())
    }

    /// Waits at most `timeout` for the parent to end; `Ok(true)` when it has ended
    /// (CPython's `parent_process().join(timeout)`, which returns `None` either way:
    /// ask [`is_alive`](Self::is_alive)).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, Process};
    /// use std::time::Duration;
    /// fn child(_: ()) {
    ///     let parent = mp::parent_process().unwrap();
    ///     assert!(!parent.join_timeout(Duration::from_millis(5)).unwrap());
    /// }
    /// mp::init();
    /// let mut p = Process::new(child, ());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        wait_readable(self.sentinel()?, Some(timeout))
    }
}

/// Waits (`None`: without limit) until `fd` is readable; `Ok(true)` if it is.
fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> Result<bool, ProcessError> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                // Rounded up: a wait of 0.4 ms must not become a poll of 0 ms that
                // returns before the deadline (the loop would spin).
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if r > 0 {
            return Ok(true);
        }
        if ms == 0 {
            return Ok(false);
        }
    }
}

impl super::connection::Waitable for ParentProcess {
    fn wait_fd(&self) -> Result<BorrowedFd<'_>, super::connection::ConnectionError> {
        let fd = self.sentinel().map_err(|e| match e {
            ProcessError::Os(e) => super::connection::ConnectionError::Io(e),
            other => super::connection::ConnectionError::Io(io::Error::other(other.to_string())),
        })?;
        // SAFETY: the sentinel stays open for the rest of the process (it is never
        // closed once stored in `PARENT_SENTINEL`).
        Ok(unsafe { BorrowedFd::borrow_raw(fd) })
    }
}

/// The process that started this one (Python's `parent_process()`): `None` in the main
/// process, else a [`ParentProcess`] with the parent's pid and name as they were when it
/// started this child, [`is_alive`](ParentProcess::is_alive),
/// [`sentinel`](ParentProcess::sentinel) and [`join`](ParentProcess::join). Under
/// `forkserver` it is the process that asked for the child, not the server.
///
/// ```
/// assert!(conkit::multiprocessing::parent_process().is_none());
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    with_me(|me| {
        me.parent.as_ref().map(|(pid, name)| ParentProcess {
            pid: *pid,
            name: name.clone(),
        })
    })
}
