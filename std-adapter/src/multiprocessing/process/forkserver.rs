//! The `forkserver` start method: a server process, started on first use, forks the
//! children on request.
//!
//! Reference: CPython `Lib/multiprocessing/forkserver.py` (`ForkServer.ensure_running`,
//! `connect_to_new_process`, `main`, `_serve_one`) and `popen_forkserver.py` (the pid
//! and the exit status read from the connection, which is the sentinel).
//!
//! # How it works
//! - The server is *spawned* (this binary re-executed, see [`get_executable`](super::get_executable))
//!   the first time a process starts with `forkserver`; [`init`](super::init) recognises
//!   it and runs [`serve`], which first calls the functions given to
//!   [`set_forkserver_preload`] (the counterpart of importing modules in the server) and
//!   then waits for requests.
//! - Requests come over a `SOCK_SEQPACKET` Unix socket pair (one datagram per request,
//!   so threads of the requesting process may ask at once): a flag byte (daemon) and,
//!   passed with `SCM_RIGHTS`, one end of a fresh `SOCK_STREAM` socket pair — the
//!   child's connection — and a pidfd of the requester (the child's
//!   [`parent_process`](super::parent_process) sentinel), followed by the argument
//!   table's descriptors
//!   ([`inherit`](super::super::inherit)).
//! - The server forks; the child reads its payload (the same as a spawned child's:
//!   target, name, identity, arguments), length-prefixed, from the connection, installs
//!   the descriptors and runs the target. The server writes the child's pid to the
//!   connection together with a pidfd of the child (`SCM_RIGHTS`), and its exit status
//!   (an `i64` in native byte order: the exit code or `-signal`, as Python's
//!   `write_signed`) when it ends. The requester's end of the connection is the
//!   [`sentinel`](super::Process::sentinel); `kill`/`terminate` go through the pidfd
//!   (no pid-reuse race, unlike CPython's `os.kill(pid)`).
//! - The server exits when the requester's "alive" pipe reaches end-of-file (the
//!   requester and every process that inherited its end are gone) or the request
//!   socket's last client end closes.
//!
//! # Differences from CPython
//! - A daemon child's parent is the server, so `PR_SET_PDEATHSIG` alone would tie it to
//!   the server: the server also watches the requester's end of each daemon's
//!   connection and SIGKILLs the daemon when it hangs up (the requester died — even of
//!   SIGKILL). A `Process` dropped while its daemon runs keeps the connection open until
//!   this process exits, so dropping it does not kill the daemon. A process forked from
//!   the requester (start method `fork`) inherits those connections; the daemon then
//!   lives until that process exits too.
//! - CPython's server listens on a named Unix socket (a path or an abstract address);
//!   conkit's request socket is an unnamed socket pair, reachable only by a process
//!   that holds its descriptor: nobody else can ask the server for a child.
//! - A child of any start method that starts forkserver children starts its own server
//!   (CPython's children reuse their parent's through the inherited address).
//! - The server is an ordinary child of the requester: not in
//!   [`active_children`](super::active_children), as in CPython.

use std::io::{self, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::super::per_process::PerProcess;
use super::{codec, exe_fingerprint, offset_of, ProcessError, SpawnPayload};

/// At most this many descriptors travel with one request (the kernel's `SCM_MAX_FD` is
/// 253; two are the connection and the requester's pidfd).
pub(super) const MAX_FDS: usize = 251;

/// The environment variable that tells [`init`](super::init) it is the server.
pub(super) const SERVER_ENV: &str = "CONKIT_MP_FORKSERVER_FD";

static PRELOAD: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

struct Server {
    pid: libc::pid_t,
    /// Our end of the request socket pair.
    ctl: OwnedFd,
    /// Held while we live; the server exits at its end-of-file.
    _alive: OwnedFd,
}

/// Per process: a forked child starts its own server (see `per_process`).
static SERVER: PerProcess<Mutex<Option<Server>>> = PerProcess::new(|| Mutex::new(None));

/// Sets the functions the fork server runs once, before it forks any child (Python's
/// `set_forkserver_preload(module_names)`: modules imported in the server so that each
/// child starts with them loaded; in Rust, e.g., functions that fill a `static` —
/// every child then starts with it filled). Takes effect when the server starts: call
/// it before the first process starts with [`StartMethod::Forkserver`](super::StartMethod).
/// The default is none (CPython's default, `['__main__']`, imports the main module; a
/// Rust binary has nothing to import). A panic in one of them ends the server (its
/// message on stderr): the start that needed it fails with [`ProcessError::Os`](super::ProcessError).
///
/// ```
/// use conkit::multiprocessing::{self as mp, StartMethod};
/// use std::sync::OnceLock;
/// static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
/// fn build_table() {
///     TABLE.get_or_init(|| (0..1000).map(|i| i * i).collect());
/// }
/// fn worker(i: usize) {
///     assert!(TABLE.get().is_some(), "filled in the server, inherited by the fork");
///     assert_eq!(TABLE.get().unwrap()[i], (i * i) as u64);
/// }
/// mp::init();
/// mp::set_forkserver_preload(&[build_table]);
/// let mut p = mp::get_context(StartMethod::Forkserver).process(worker, 12usize);
/// p.start().unwrap();
/// p.join().unwrap();
/// assert_eq!(p.exitcode(), Some(0));
/// ```
pub fn set_forkserver_preload(functions: &[fn()]) {
    *PRELOAD.lock().unwrap_or_else(|e| e.into_inner()) = functions.to_vec();
}

#[derive(Serialize, Deserialize)]
struct ServerPayload {
    fingerprint: [u64; 4],
    preload: Vec<i64>,
    ctl: RawFd,
    alive: RawFd,
    log: Option<u8>,
}

fn cloexec_pair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `data` with `fds` attached (`SCM_RIGHTS`), without SIGPIPE.
fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let payload = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is valid (no name, no control yet).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer is `space` bytes, 8-aligned, large enough for one
        // header with `payload` bytes of data; CMSG_FIRSTHDR is non-null for it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                payload,
            );
        }
    }
    loop {
        // SAFETY: msg points at live buffers for the duration of the call.
        let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r as usize != data.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short sendmsg"));
        }
        return Ok(());
    }
}

/// Receives into `buf` and the descriptors attached (close-on-exec); `Ok((0, []))` at
/// end-of-file. Descriptors beyond `max_fds` (truncated control data) are an error.
fn recv_with_fds(sock: RawFd, buf: &mut [u8], max_fds: usize) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE((max_fds * size_of::<RawFd>()) as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: msg points at live buffers for the duration of the call.
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        break r as usize;
    };
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into our buffer; each
    // SCM_RIGHTS payload is an array of descriptors now open in this process (we own
    // them), read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..len / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors in one message",
        ));
    }
    Ok((n, fds))
}

fn send_all(sock: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: sending from a live slice.
        let r = unsafe { libc::send(sock, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[r as usize..];
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at end-of-file before the first byte.
fn read_exact_or_eof(fd: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled part of a live buffer.
        let r = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += r as usize;
    }
    Ok(true)
}

/// A child started by the server: its pid, a pidfd (received from the server) and the
/// connection the exit status arrives on.
pub(super) struct Launched {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    pub conn: OwnedFd,
}

fn start_server() -> Result<Server, ProcessError> {
    let (ctl, ctl_server) = cloexec_pair(libc::SOCK_SEQPACKET)?;
    let (alive_r, alive_w) = cloexec_pipe()?;
    let (read, write) = cloexec_pipe()?;
    let preload = PRELOAD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|&f| offset_of(f as usize))
        .collect();
    let payload = ServerPayload {
        fingerprint: exe_fingerprint()?,
        preload,
        ctl: ctl_server.as_raw_fd(),
        alive: alive_r.as_raw_fd(),
        log: crate::multiprocessing::util::stderr_level(),
    };
    let bytes = codec::to_bytes(&payload).map_err(ProcessError::Encode)?;
    let mut cmd = std::process::Command::new(super::get_executable()?);
    super::add_test_args(&mut cmd);
    cmd.env(SERVER_ENV, read.as_raw_fd().to_string())
        .env_remove(super::SPAWN_ENV)
        .stdin(std::process::Stdio::null());
    super::keep_across_exec(
        &mut cmd,
        vec![
            ctl_server.as_raw_fd(),
            alive_r.as_raw_fd(),
            read.as_raw_fd(),
        ],
    );
    let child = cmd.spawn()?;
    drop((read, ctl_server, alive_r));
    std::fs::File::from(write).write_all(&bytes)?;
    Ok(Server {
        pid: child.id() as libc::pid_t,
        ctl,
        _alive: alive_w,
    })
}

/// Asks the server (started on first use, restarted if it died) for a child running
/// `payload` with the argument table `fds`.
pub(super) fn launch(
    payload: &SpawnPayload,
    fds: &[RawFd],
    daemon: bool,
) -> Result<Launched, ProcessError> {
    if fds.len() > MAX_FDS {
        return Err(ProcessError::Os(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("too many descriptors for one forkserver request (at most {MAX_FDS})"),
        )));
    }
    let bytes = codec::to_bytes(payload).map_err(ProcessError::Encode)?;
    let (conn, conn_child) = cloexec_pair(libc::SOCK_STREAM)?;
    // The child's `parent_process()` sentinel: a pidfd of this process (its OS parent
    // is the server, so it cannot open one of us itself without a pid reuse race).
    let me = super::pidfd_open(std::process::id() as libc::pid_t)?;
    let mut all = vec![conn_child.as_raw_fd(), me.as_raw_fd()];
    all.extend_from_slice(fds);
    {
        let mut guard = SERVER.get().lock().unwrap_or_else(|e| e.into_inner());
        let mut attempts = 0;
        loop {
            if let Some(server) = guard.as_ref() {
                let mut status = 0;
                // SAFETY: waitpid on our own child with a valid status pointer.
                let gone = unsafe { libc::waitpid(server.pid, &mut status, libc::WNOHANG) } != 0;
                if !gone {
                    match send_with_fds(server.ctl.as_raw_fd(), &[daemon as u8], &all) {
                        Ok(()) => break,
                        Err(e) if attempts > 0 => return Err(e.into()),
                        Err(_) => {}
                    }
                }
                *guard = None; // dead: start another (CPython's ensure_running)
            }
            attempts += 1;
            if attempts > 2 {
                return Err(ProcessError::Os(io::Error::other("the fork server died")));
            }
            *guard = Some(start_server()?);
        }
    }
    drop((conn_child, me));
    let mut framed = (bytes.len() as u64).to_le_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    // A child that died before reading makes this fail; its status still arrives.
    let _ = send_all(conn.as_raw_fd(), &framed);
    let mut pid = [0u8; 8];
    let (n, mut got) = recv_with_fds(conn.as_raw_fd(), &mut pid, 1)?;
    if n == 0 || got.len() != 1 {
        return Err(ProcessError::Os(io::Error::other(
            "the fork server did not report the child's pid",
        )));
    }
    if n < 8 && !read_exact_or_eof(conn.as_raw_fd(), &mut pid[n..])? {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    Ok(Launched {
        pid: i64::from_ne_bytes(pid) as libc::pid_t,
        pidfd: got.remove(0),
        conn,
    })
}

/// Reads the exit status the server writes when the child ends; end-of-file (the server
/// died) is 255, as CPython's `popen_forkserver`.
pub(super) fn read_status(conn: RawFd) -> io::Result<i32> {
    let mut buf = [0u8; 8];
    match read_exact_or_eof(conn, &mut buf) {
        Ok(true) => Ok(i64::from_ne_bytes(buf) as i32),
        Ok(false) => Ok(255),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(255),
        Err(e) => Err(e),
    }
}

fn fail(msg: String) -> ! {
    let _ = writeln!(io::stderr(), "conkit fork server: {msg}");
    // SAFETY: _exit ends the process.
    unsafe { libc::_exit(1) }
}

struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    conn: OwnedFd,
    daemon: bool,
    killed: bool,
}

/// The server: called by [`init`](super::init) when `SERVER_ENV` is set; never returns.
pub(super) fn serve(value: String) -> ! {
    let Ok(fd) = value.parse::<RawFd>() else {
        fail(format!("bad {SERVER_ENV}={value}"))
    };
    // SAFETY: the requester put the read end of the payload pipe at this number for us.
    let mut pipe = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut bytes = Vec::new();
    if let Err(e) = pipe.read_to_end(&mut bytes) {
        fail(format!("cannot read the payload: {e}"));
    }
    drop(pipe);
    let payload: ServerPayload = match codec::from_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => fail(format!("bad payload: {e}")),
    };
    match exe_fingerprint() {
        Ok(fp) if fp == payload.fingerprint => {}
        Ok(_) => fail("the executable differs from the requester's: refusing to serve".into()),
        Err(e) => fail(format!("cannot fingerprint the executable: {e}")),
    }
    // SAFETY: the requester cleared close-on-exec on these for us; we own them now.
    let (ctl, alive) = unsafe {
        (
            OwnedFd::from_raw_fd(payload.ctl),
            OwnedFd::from_raw_fd(payload.alive),
        )
    };
    // Protect the server from ^C (CPython ignores SIGINT here too); children restore it.
    // SAFETY: setting a signal disposition.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    if let Some(level) = payload.log {
        crate::multiprocessing::util::install_from_parent(level);
    }
    let base = super::anchor as fn() as usize as i64;
    for off in payload.preload {
        // SAFETY: same binary (fingerprint checked): anchor + offset is the `fn()` the
        // requester gave to set_forkserver_preload.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>((base + off) as usize) };
        if std::panic::catch_unwind(f).is_err() {
            fail("a set_forkserver_preload function panicked".into());
        }
    }
    let mut children: Vec<Child> = Vec::new();
    loop {
        let mut pfds = vec![
            libc::pollfd {
                fd: ctl.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: alive.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for c in &children {
            pfds.push(libc::pollfd {
                fd: c.pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for c in children.iter().filter(|c| c.daemon && !c.killed) {
            // events 0: only POLLHUP/POLLERR (the requester's end closed).
            pfds.push(libc::pollfd {
                fd: c.conn.as_raw_fd(),
                events: 0,
                revents: 0,
            });
        }
        // SAFETY: a valid array of pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            fail(format!("poll: {}", io::Error::last_os_error()));
        }
        if pfds[1].revents != 0 {
            // Every holder of the alive pipe is gone.
            // SAFETY: _exit ends the process (the children keep running, as CPython's).
            unsafe { libc::_exit(0) };
        }
        // Daemons whose requester hung up.
        for p in &pfds[2 + children.len()..] {
            if p.revents != 0 {
                if let Some(c) = children.iter_mut().find(|c| c.conn.as_raw_fd() == p.fd) {
                    // SAFETY: pidfd_send_signal on our own unreaped child's pidfd.
                    unsafe {
                        libc::syscall(
                            libc::SYS_pidfd_send_signal,
                            c.pidfd.as_raw_fd(),
                            libc::SIGKILL,
                            std::ptr::null::<libc::siginfo_t>(),
                            0,
                        )
                    };
                    c.killed = true;
                }
            }
        }
        // Children that ended: report their status.
        let ended: Vec<RawFd> = pfds[2..2 + children.len()]
            .iter()
            .filter(|p| p.revents != 0)
            .map(|p| p.fd)
            .collect();
        for fd in ended {
            let Some(i) = children.iter().position(|c| c.pidfd.as_raw_fd() == fd) else {
                continue;
            };
            let c = children.swap_remove(i);
            let code = match super::wait_child(c.pid, true) {
                Ok(Some(code)) => code,
                _ => 255,
            };
            let _ = send_all(c.conn.as_raw_fd(), &(code as i64).to_ne_bytes());
        }
        if pfds[0].revents & libc::POLLIN != 0 {
            let mut flag = [0u8; 1];
            match recv_with_fds(ctl.as_raw_fd(), &mut flag, MAX_FDS + 2) {
                Ok((0, _)) => unsafe_exit0(),
                Ok((_, fds)) if fds.len() < 2 => {}
                Ok((_, mut fds)) => {
                    let conn = fds.remove(0);
                    let parent = fds.remove(0);
                    let daemon = flag[0] != 0;
                    if let Some(child) =
                        fork_one(conn, parent, fds, daemon, &ctl, &alive, &children)
                    {
                        children.push(child);
                    }
                }
                Err(_) => {} // a malformed request: its descriptors are closed
            }
        } else if pfds[0].revents != 0 {
            unsafe_exit0(); // every requester end closed
        }
    }
}

fn unsafe_exit0() -> ! {
    // SAFETY: _exit ends the process.
    unsafe { libc::_exit(0) }
}

fn fork_one(
    conn: OwnedFd,
    parent: OwnedFd,
    fds: Vec<OwnedFd>,
    daemon: bool,
    ctl: &OwnedFd,
    alive: &OwnedFd,
    children: &[Child],
) -> Option<Child> {
    let server = std::process::id();
    // SAFETY: fork in the single-threaded server (libtest's idle main thread aside).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None; // the requester sees end-of-file and reports the failure
    }
    if pid == 0 {
        // SAFETY: closing the server's descriptors in the child copy (each closed once).
        unsafe {
            libc::close(ctl.as_raw_fd());
            libc::close(alive.as_raw_fd());
            for c in children {
                libc::close(c.pidfd.as_raw_fd());
                libc::close(c.conn.as_raw_fd());
            }
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
        child_main(conn, parent, fds, server);
    }
    let pidfd = match super::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(_) => {
            // SAFETY: kill and reap our own child: we could not watch it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return None;
        }
    };
    // The requester vanished: the child reads end-of-file and exits; keep it to reap.
    let _ = send_with_fds(
        conn.as_raw_fd(),
        &(pid as i64).to_ne_bytes(),
        &[pidfd.as_raw_fd()],
    );
    drop((parent, fds));
    Some(Child {
        pid,
        pidfd,
        conn,
        daemon,
        killed: false,
    })
}

fn child_main(conn: OwnedFd, parent: OwnedFd, fds: Vec<OwnedFd>, server: u32) -> ! {
    let mut len = [0u8; 8];
    let fail = |msg: String| -> ! {
        let _ = writeln!(io::stderr(), "conkit forkserver child: {msg}");
        // SAFETY: _exit ends the process.
        unsafe { libc::_exit(1) }
    };
    match read_exact_or_eof(conn.as_raw_fd(), &mut len) {
        Ok(true) => {}
        Ok(false) => fail("the requester went away".into()),
        Err(e) => fail(format!("cannot read the payload: {e}")),
    }
    let len = u64::from_le_bytes(len);
    let mut bytes = Vec::new();
    if usize::try_from(len)
        .ok()
        .and_then(|n| bytes.try_reserve_exact(n).ok())
        .is_none()
    {
        fail(format!("cannot allocate the {len}-byte payload"));
    }
    bytes.resize(len as usize, 0);
    match read_exact_or_eof(conn.as_raw_fd(), &mut bytes) {
        Ok(true) => {}
        Ok(false) if len == 0 => {}
        Ok(false) => fail("the requester went away".into()),
        Err(e) => fail(format!("cannot read the payload: {e}")),
    }
    drop(conn);
    let payload: SpawnPayload = match codec::from_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => fail(format!("bad payload: {e}")),
    };
    super::super::inherit::install(fds);
    super::adopt_parent_sentinel(parent);
    super::run_payload(payload, server)
}
