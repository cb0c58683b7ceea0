//! The system calls under a [`Connection`](super::Connection): reads and writes that
//! retry on `EINTR`, `MSG_NOSIGNAL` writes (a peer that is gone is `EPIPE`, never a
//! `SIGPIPE`), non-blocking probes for the reader's spin phase, and `ppoll` with a
//! deadline.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Whether `fd` is a socket (reads and writes then go through `recv`/`sendmsg`, which
/// take per-call flags).
pub(crate) fn is_socket(fd: RawFd) -> bool {
    // SAFETY: `st` is plain data the kernel fills; an invalid `fd` is an error return.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}

/// One read of at most `len` bytes into `ptr`; `dontwait`: `Ok(None)` instead of
/// blocking when nothing is there (sockets only). `Ok(Some(0))` is the end of file.
///
/// # Safety
/// `ptr..ptr + len` must be writable memory (it may be uninitialised).
pub(crate) unsafe fn read_some(
    fd: RawFd,
    socket: bool,
    ptr: *mut u8,
    len: usize,
    dontwait: bool,
) -> io::Result<Option<usize>> {
    loop {
        count_syscall();
        // SAFETY: the caller's contract on `ptr`/`len`.
        let n = unsafe {
            if socket {
                let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
                libc::recv(fd, ptr.cast(), len, flags)
            } else {
                libc::read(fd, ptr.cast(), len)
            }
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if dontwait => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// The most descriptors one `SCM_RIGHTS` message carries (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// [`read_some`] on a socket with `recvmsg`, keeping the descriptors that came with the
/// bytes (`SCM_RIGHTS`, received close-on-exec). A Unix stream socket ends a read after
/// the bytes a descriptor-carrying `sendmsg` wrote, so any descriptors belong to the
/// last byte read. (A plain `recv` would have the kernel close them.) Returns `None`
/// as `read_some` does, else the count and the descriptors (an empty `Vec`, which does
/// not allocate, when none came).
///
/// # Safety
/// `ptr..ptr + len` must be writable memory (it may be uninitialised).
pub(crate) unsafe fn recv_fds(
    fd: RawFd,
    ptr: *mut u8,
    len: usize,
    dontwait: bool,
) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    // CMSG_SPACE(MAX_FDS * 4) = 1032 on Linux; 8-aligned, never zeroed (the kernel
    // writes what it reports in `msg_controllen`).
    const SPACE: usize = 1040;
    let mut cbuf = std::mem::MaybeUninit::<[u64; SPACE / 8]>::uninit();
    let mut iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    loop {
        count_syscall();
        // SAFETY: an all-zero msghdr is valid; it points at `iov` (the caller's
        // writable memory) and at `cbuf` (SPACE writable bytes), both live for the call.
        let (n, msg) = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = SPACE as _;
            let flags = libc::MSG_CMSG_CLOEXEC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
            (libc::recvmsg(fd, &mut msg, flags), msg)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if dontwait => return Ok(None),
                _ => return Err(e),
            }
        }
        let mut fds = Vec::new();
        if msg.msg_controllen > 0 {
            // SAFETY: walking the control messages the kernel wrote into `cbuf` (it
            // set `msg_controllen`); each SCM_RIGHTS payload is an array of
            // descriptors now open in this process, ours to own, read unaligned.
            unsafe {
                let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
                while !cmsg.is_null() {
                    if (*cmsg).cmsg_level == libc::SOL_SOCKET
                        && (*cmsg).cmsg_type == libc::SCM_RIGHTS
                    {
                        let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                        for i in 0..bytes / std::mem::size_of::<RawFd>() {
                            fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                        }
                    }
                    cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
                }
            }
        }
        return Ok(Some((n as usize, fds)));
    }
}

/// Sends `data` (short: one `sendmsg`) with `fds` attached (`SCM_RIGHTS`), without
/// `SIGPIPE`.
pub(crate) fn send_fds(fd: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    const SPACE: usize = 1040;
    let payload = std::mem::size_of_val(fds);
    if fds.is_empty() || fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("between 1 and {MAX_FDS} descriptors per message"),
        ));
    }
    let mut cbuf = [0u64; SPACE / 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `cbuf` is 8-aligned and at least `space` bytes (MAX_FDS descriptors fit),
    // so CMSG_FIRSTHDR is non-null and one header with `payload` bytes fits.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), payload);
    }
    loop {
        count_syscall();
        // SAFETY: `msg` points at live buffers for the duration of the call.
        let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if r as usize != data.len() {
            // A stream socket takes a short message whole or not at all when it has
            // room; a partial write of these few bytes would need the rest re-sent
            // without the descriptors.
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short sendmsg"));
        }
        return Ok(());
    }
}

/// Whether `fd` is a Unix-domain socket (descriptors travel only over those).
pub(crate) fn is_unix_socket(fd: RawFd) -> bool {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid for the sizes passed.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0 && domain == libc::AF_UNIX
}

/// [`read_some`] into an initialised buffer.
pub(crate) fn recv_into(
    fd: RawFd,
    socket: bool,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is writable for its length.
    unsafe { read_some(fd, socket, buf.as_mut_ptr(), buf.len(), dontwait) }
}

/// Frames up to this long are gathered into one stack buffer and written with `send`:
/// a `sendmsg` of two parts costs about 15% more CPU than a `send` of the same 12
/// bytes (measured: ~1.4 µs against ~1.2 µs per 8-byte message), the copy a few
/// nanoseconds.
const SMALL_WRITE: usize = 1024;

/// Writes every byte of `parts`, in order, with as few system calls as the kernel
/// allows: one `send`/`write` of a small frame copied together, else one
/// `sendmsg`/`writev` of all parts at once (a frame's prefix and body go out together,
/// neither copied), repeated only for what a full socket buffer left.
pub(crate) fn write_all<const N: usize>(
    fd: RawFd,
    socket: bool,
    parts: [&[u8]; N],
) -> io::Result<()> {
    if N == 1 {
        return write_one(fd, socket, parts[0]);
    }
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= SMALL_WRITE {
        // Not zeroed first (a memset of the whole array would cost what it saves).
        let mut small = std::mem::MaybeUninit::<[u8; SMALL_WRITE]>::uninit();
        let base = small.as_mut_ptr().cast::<u8>();
        let mut at = 0;
        for p in parts {
            // SAFETY: `at + p.len() <= total <= SMALL_WRITE`: inside the array; a
            // borrowed part cannot overlap this fresh stack array.
            unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), base.add(at), p.len()) };
            at += p.len();
        }
        // SAFETY: the loop initialised the first `total` bytes.
        let frame = unsafe { std::slice::from_raw_parts(base, total) };
        return write_one(fd, socket, frame);
    }
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty; N];
    let mut first = 0usize; // index of the first part not fully written
    let mut skip = 0usize; // bytes of `parts[first]` already written
    while first < parts.len() {
        let mut count = 0;
        for (i, p) in parts.iter().enumerate().skip(first) {
            let p = if i == first { &p[skip..] } else { p };
            if !p.is_empty() {
                iov[count] = libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                };
                count += 1;
            }
        }
        if count == 0 {
            return Ok(());
        }
        count_syscall();
        let n = if socket {
            // SAFETY: `msg` points at `iov`, which points into the borrowed parts; the
            // kernel only reads them.
            unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = iov.as_mut_ptr();
                msg.msg_iovlen = count as _;
                libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
            }
        } else {
            // SAFETY: as above; `count` entries of `iov` are valid.
            unsafe { libc::writev(fd, iov.as_ptr(), count as libc::c_int) }
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        // Advance past the `n` bytes written.
        let mut n = n as usize;
        while n > 0 && first < parts.len() {
            let left = parts[first].len() - skip;
            if n >= left {
                n -= left;
                first += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
        while first < parts.len() && parts[first].len() == skip {
            first += 1;
            skip = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Reads and writes this thread made (the unit tests count system calls per
    /// message).
    pub(crate) static SYSCALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one read or write system call (in unit tests only).
#[inline(always)]
fn count_syscall() {
    #[cfg(test)]
    SYSCALLS.with(|c| c.set(c.get() + 1));
}

/// Writes all of `buf` with `send` (`MSG_NOSIGNAL`) or `write`.
fn write_one(fd: RawFd, socket: bool, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        count_syscall();
        // SAFETY: `buf` is readable for its length; the kernel only reads it.
        let n = unsafe {
            if socket {
                libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL)
            } else {
                libc::write(fd, buf.as_ptr().cast(), buf.len())
            }
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// The readiness bits of `fds` that count as "readable" for `wait`: data, end of file,
/// hang-up or an error (a read then returns at once), as Python's `PollSelector`.
pub(crate) const READY: libc::c_short = libc::POLLIN | libc::POLLHUP | libc::POLLERR;

/// `ppoll` on `fds` for reading until `deadline` (`None`: no limit); retries on `EINTR`
/// with the time left. Returns how many are ready (0: the deadline passed).
pub(crate) fn poll_until(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = left.map(|l| libc::timespec {
            tv_sec: l.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: l.subsec_nanos() as _,
        });
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid array of `pollfd`; `tsp` is null or points at `ts`.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                tsp,
                std::ptr::null(),
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
        if left == Some(Duration::ZERO) {
            return Ok(0);
        }
    }
}

/// Whether `fd` is readable right now (data, end of file, or an error to report).
pub(crate) fn ready_now(fd: RawFd) -> io::Result<bool> {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    Ok(poll_until(&mut p, Some(Instant::now()))? > 0 && p[0].revents & READY != 0)
}

/// Sets (or with `None` clears) the receive time-out of socket `fd` (`SO_RCVTIMEO`).
pub(crate) fn set_recv_timeout(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    let t = timeout.unwrap_or(Duration::ZERO);
    // A time-out that rounds to zero would mean "none": at least a microsecond.
    let t = if timeout.is_some() && t < Duration::from_micros(1) {
        Duration::from_micros(1)
    } else {
        t
    };
    let tv = libc::timeval {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid `timeval` of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`).
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the tail of `buf` is writable for the length passed.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// Copies what socket `fd` holds into `buf` without consuming it (`MSG_PEEK`, never
/// waiting): `None` when it holds nothing, `Some(0)` at the end of file.
pub(crate) fn peek(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Whether the other end of socket `fd` is closed by every process holding it
/// (`POLLHUP`/`POLLERR`, asked without waiting): a writer's "broken pipe".
pub(crate) fn peer_gone(fd: RawFd) -> io::Result<bool> {
    let mut p = [libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    }];
    Ok(poll_until(&mut p, Some(Instant::now()))? > 0
        && p[0].revents & (libc::POLLHUP | libc::POLLERR) != 0)
}
