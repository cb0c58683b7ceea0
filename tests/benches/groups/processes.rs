//! The core rings between two *processes* (a `memfd` mapped `MAP_SHARED`, a `fork`ed
//! child), against the same ring between two threads, and the byte ring against a
//! `socketpair` (Linux only).
//!
//! * `spsc-proc`, `mpmc-proc`: one producer and one consumer move `1..=items` (`u64`)
//!   with `try_push`/`try_pop` spin loops through a 1024-slot ring created in a
//!   `conkit_core::shm::Segment`; the consumer sums. Contenders: the producer in a
//!   forked child (the ring attached through a second mapping of the file) vs the
//!   producer in a thread (the ring in the same kind of mapping). Target (issue #11):
//!   processes ≥ 0.8× threads.
//! * `spsc-shm-proc`: the same SPSC run, both in processes, through the run-time-capacity
//!   `ShmSpscRing` (`create_in`/`attach_in`, slots after the ring) vs the inline
//!   `SpscRing<u64, 1024>`.
//! * `bytes64-proc`: 64-byte messages from a child to the parent: the byte ring
//!   (`ShmByteRing`, 1 MiB; `grant_until` + `commit_deferred` per message, `flush` +
//!   `notify` per 1 024; `read_until` + `release_deferred` per message, `flush` +
//!   `notify` per 1 024) vs a `SOCK_STREAM` `socketpair` written and read in 64 KiB
//!   batches (1 024 messages per system call: the peer at its best, batched the same
//!   way). Both sides of both contenders block when they must wait. Target ≥ 1×.
//!   Fairness (checked for issue #11): both contenders batch the same 1 024 messages
//!   per publication (ring) or system call (socket) on both sides, both move every
//!   byte once between the cores (the ring's producer copies each message into its
//!   grant, the socket's kernel copies each batch), both consumers check the same
//!   bytes; the socket's kernel buffer is the default (`net.core.wmem_default`,
//!   208 KiB here), smaller than the ring's 1 MiB. What decides the row on a 2-vCPU
//!   guest (measured with each side's CPU time and waits, 10 M messages, a busy
//!   machine): the ring's CPU time per message was at most the socket's (both sides
//!   together 13–28 ns for the ring, ~27 ns for the socket); the ring loses when its
//!   two sides fall into lockstep — exactly one "full" and one "empty" per lap of the
//!   ring (686 and 687 per 10 M messages), each side waiting 0.1–0.6 ms per episode
//!   (one `sched_yield` of the OS strategies' adaptive phase, which on a busy machine
//!   gives the CPU to another process while the other side runs through the whole
//!   ring), so the two sides' times add up instead of overlapping. Going to sleep
//!   without the yields was worse (0.65× against 0.86× in the same minutes: the
//!   producer then pays a `FUTEX_WAKE` per batch); a larger ring (4 and 16 MiB) or
//!   prefetching ahead (`PREFETCHW` for the producer's next lines, as `spsc` does, and
//!   read prefetches for the consumer's, 8 to 128 lines ahead) changed neither figure.
//!   Per message (callgrind, this loop in one thread, issue #11): the ring's producer
//!   126 → 52 instructions and its consumer 177 → 52 (the checks included) once the
//!   grant/read fast paths were inlined and the waits moved out of line (the old
//!   consumer passed its grant through the stack in byte-sized pieces around the
//!   out-of-line wait); the socketpair's user side is ~10 per message on each side,
//!   plus its share of the kernel's copies and one system call per 1 024.
//! * `blob1m-proc`: 1 MiB blobs, counted in KiB (M KiB/s ≈ GB/s): the byte ring (4 MiB)
//!   with the producer copying each blob into its grant and the consumer reading it in
//!   place, vs the socketpair (a `write` of the blob, `read`s into a 1 MiB buffer).
//!   Both consumers check the first and last byte of every blob. Target ≥ 2×.
//!
//! The child is made with `conkit_tests::process::fork`; the start line lives in shared
//! memory; the time runs on the consumer (the parent) from the start line to the last
//! item. A stalled run fails at the harness's deadline and kills the child.

use std::time::{Duration, Instant};

use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, StartLine, Target};

#[cfg(target_os = "linux")]
use linux::*;

/// The benchmarks of this module (none off Linux).
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![
            ("spsc-proc", Box::new(move || spsc_proc(items)) as Make),
            ("spsc-shm-proc", Box::new(move || spsc_shm_proc(items))),
            ("mpmc-proc", Box::new(move || mpmc_proc(items))),
            ("bytes64-proc", Box::new(move || bytes64_proc(items))),
            ("blob1m-proc", Box::new(move || blob1m_proc(items))),
        ]
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = items;
        vec![]
    }
}

/// Spins (a hint, then yields) until `ready` returns `Some`, or fails at `deadline`.
fn spin_until<T>(deadline: Instant, mut ready: impl FnMut() -> Option<T>) -> Res<T> {
    let mut misses = 0u32;
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        misses += 1;
        if misses % 64 == 0 {
            std::thread::yield_now();
            if Instant::now() > deadline {
                return Err("stalled: no progress before the deadline".into());
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::ptr::NonNull;

    pub use conkit_core::byte_ring::ShmByteRing;
    pub use conkit_core::mpmc::MpmcRing;
    pub use conkit_core::shm::Segment;
    pub use conkit_core::spsc::{ShmSpscRing, SlotStorage, SpscRing, SpscRingIn};
    pub use conkit_core::wait::SharedFutex;
    pub use conkit_tests::process::{fork, Exit, SharedMem};

    use crate::harness::Res;

    /// Slots of the rings.
    pub const CAP: usize = 1024;
    /// `CAP`, for the run-time capacity.
    pub const CAP_NZ: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(CAP) {
        Some(c) => c,
        None => panic!("CAP > 0"),
    };
    pub type Spsc = SpscRing<u64, CAP, SharedFutex>;
    pub type ShmSpsc = ShmSpscRing<u64, SharedFutex>;
    pub type Mpmc = MpmcRing<u64, CAP, SharedFutex>;

    /// A fresh zeroed shared mapping of `len` bytes.
    pub fn region(len: usize) -> SharedMem<u8> {
        SharedMem::with_len(len, |_| {})
    }

    pub fn start(mem: &SharedMem<u8>) -> NonNull<u8> {
        NonNull::new(mem.as_ptr()).expect("mapping")
    }

    /// Waits for the child and turns anything but exit 0 into an error.
    pub fn reap(child: conkit_tests::process::Child) -> Res {
        match child.wait() {
            Exit::Code(0) => Ok(()),
            other => Err(format!("child: {other:?}")),
        }
    }

    /// A `SOCK_STREAM` socketpair.
    pub fn socketpair() -> Res<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        if r != 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: two fresh descriptors we now own.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }
}

/// Runs `produce` in a forked child (`in_child`) or a thread, and `consume` here; both
/// wait at a start line in shared memory; returns the consumer's time.
#[cfg(target_os = "linux")]
fn pair(
    in_child: bool,
    produce: impl FnOnce() -> Res + Send,
    consume: impl FnOnce() -> Res,
) -> Res<Duration> {
    let line = SharedMem::new(|| StartLine::new(2));
    if in_child {
        let child = fork(|| {
            line.wait();
            match produce() {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("bench producer: {e}");
                    1
                }
            }
        });
        let t0 = line.wait();
        // On an error the child is killed when dropped.
        consume()?;
        let d = t0.elapsed();
        reap(child)?;
        Ok(d)
    } else {
        std::thread::scope(|s| {
            let p = s.spawn(|| {
                line.wait();
                produce()
            });
            let t0 = line.wait();
            let consumed = consume();
            let d = t0.elapsed();
            let produced = p.join().map_err(|_| "producer panicked".to_string())?;
            produced?;
            consumed?;
            Ok(d)
        })
    }
}

/// The expected sum of `1..=n`.
fn tri(n: u64) -> u64 {
    n.wrapping_mul(n.wrapping_add(1)) / 2
}

/// Creates (`create`) or attaches an SPSC ring of `CAP` slots in `mem`.
#[cfg(target_os = "linux")]
type Place<R> = for<'m> fn(&'m SharedMem<u8>, bool) -> Res<Segment<'m, R>>;

/// The inline `SpscRing<u64, CAP>` in a `Segment`.
#[cfg(target_os = "linux")]
fn place_inline(mem: &SharedMem<u8>, create: bool) -> Res<Segment<'_, Spsc>> {
    // SAFETY: `mem` outlives the segments (the child exits before the parent unmaps),
    // and only segments touch it.
    unsafe {
        if create {
            Segment::<Spsc>::create(start(mem), mem.len())
        } else {
            Segment::<Spsc>::attach(start(mem), mem.len())
        }
    }
    .map_err(|e| e.to_string())
}

/// The run-time-capacity `ShmSpscRing<u64>` of `CAP` slots.
#[cfg(target_os = "linux")]
fn place_view(mem: &SharedMem<u8>, create: bool) -> Res<Segment<'_, ShmSpsc>> {
    // SAFETY: as in `place_inline`.
    unsafe {
        if create {
            ShmSpsc::create_in(start(mem), mem.len(), CAP_NZ)
        } else {
            ShmSpsc::attach_in(start(mem), mem.len())
        }
    }
    .map_err(|e| e.to_string())
}

#[cfg(target_os = "linux")]
fn spsc_run(n: u64, in_child: bool) -> Res<Duration> {
    spsc_run_in(n, in_child, Segment::<Spsc>::required_len(), place_inline)
}

#[cfg(target_os = "linux")]
fn spsc_view_run(n: u64, in_child: bool) -> Res<Duration> {
    let len = ShmSpsc::required_len(CAP_NZ).ok_or("size overflow")?;
    spsc_run_in(n, in_child, len, place_view)
}

/// One SPSC run over the ring that `place` makes in a mapping of `len` bytes.
#[cfg(target_os = "linux")]
fn spsc_run_in<S: SlotStorage<u64> + ?Sized>(
    n: u64,
    in_child: bool,
    len: usize,
    place: Place<SpscRingIn<u64, S, SharedFutex>>,
) -> Res<Duration> {
    let mem = region(len);
    let ring = place(&mem, true)?;
    let deadline = harness::deadline(n);
    let mut sum = 0u64;
    let d = pair(
        in_child,
        || {
            let view = if in_child {
                Some(mem.map_again())
            } else {
                None
            };
            let at = view.as_ref().unwrap_or(&mem);
            let ring = place(at, false)?;
            let mut tx = Segment::value(&ring).claim_producer().ok_or("claimed")?;
            for v in 1..=n {
                let mut v = v;
                spin_until(deadline, || match tx.try_push(v) {
                    Ok(()) => Some(()),
                    Err(e) => {
                        v = e.into_inner();
                        None
                    }
                })?;
            }
            Ok(())
        },
        || {
            let mut rx = Segment::value(&ring).claim_consumer().ok_or("claimed")?;
            for _ in 0..n {
                sum = sum.wrapping_add(spin_until(deadline, || rx.try_pop().ok())?);
            }
            Ok(())
        },
    )?;
    check(sum, n)?;
    Ok(d)
}

fn check(sum: u64, n: u64) -> Res {
    if sum == tri(n) {
        Ok(())
    } else {
        Err(format!(
            "ITEMS LOST OR CORRUPTED: sum {sum}, expected {}",
            tri(n)
        ))
    }
}

#[cfg(target_os = "linux")]
fn mpmc_run(n: u64, in_child: bool) -> Res<Duration> {
    let mem = region(Segment::<Mpmc>::required_len());
    // SAFETY: as in `place_inline`.
    let ring =
        unsafe { Segment::<Mpmc>::create(start(&mem), mem.len()) }.map_err(|e| e.to_string())?;
    let deadline = harness::deadline(n);
    let mut sum = 0u64;
    let d = pair(
        in_child,
        || {
            let view = if in_child {
                Some(mem.map_again())
            } else {
                None
            };
            let at = view.as_ref().unwrap_or(&mem);
            // SAFETY: as above.
            let ring = unsafe { Segment::<Mpmc>::attach(start(at), at.len()) }
                .map_err(|e| e.to_string())?;
            for v in 1..=n {
                let mut v = v;
                spin_until(deadline, || match ring.try_push(v) {
                    Ok(()) => Some(()),
                    Err(e) => {
                        v = e.into_inner();
                        None
                    }
                })?;
            }
            Ok(())
        },
        || {
            for _ in 0..n {
                sum = sum.wrapping_add(spin_until(deadline, || ring.try_pop())?);
            }
            Ok(())
        },
    )?;
    check(sum, n)?;
    Ok(d)
}

#[cfg(target_os = "linux")]
fn ring_group(
    id: &'static str,
    what: &str,
    (processes, threads): (&'static str, &'static str),
    items: u64,
    run: fn(u64, bool) -> Res<Duration>,
) -> Group<'static> {
    Group {
        id,
        title: format!(
            "{what} u64, 1 producer + 1 consumer, {CAP} slots: between two processes \
             (MAP_SHARED memfd, fork) vs two threads"
        ),
        kind: Kind::Throughput,
        items,
        contenders: vec![
            Contender::conkit(processes, move |n| run(n, true)),
            Contender::peer(threads, move |n| run(n, false)),
        ],
        targets: vec![Target::with_factor(processes, threads, 0.8)],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn spsc_proc(items: u64) -> Group<'static> {
    ring_group(
        "spsc-proc",
        "SpscRing",
        ("conkit SpscRing 2 processes", "conkit SpscRing 2 threads"),
        items,
        spsc_run,
    )
}

/// The run-time-capacity SPSC ring (`ShmSpscRing`, slots after the ring in the mapping)
/// vs the inline `SpscRing<u64, CAP>`, both between two processes: the price of reading
/// the capacity from the ring reference instead of the type.
#[cfg(target_os = "linux")]
fn spsc_shm_proc(items: u64) -> Group<'static> {
    Group {
        id: "spsc-shm-proc",
        title: format!(
            "SPSC u64, 1 producer + 1 consumer, {CAP} slots, between two processes: \
             ShmSpscRing (capacity chosen at run time) vs SpscRing<u64, {CAP}> (inline)"
        ),
        kind: Kind::Throughput,
        items,
        contenders: vec![
            Contender::conkit("conkit ShmSpscRing 2 processes", move |n| {
                spsc_view_run(n, true)
            }),
            Contender::peer("conkit SpscRing 2 processes", move |n| spsc_run(n, true)),
        ],
        targets: vec![],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn mpmc_proc(items: u64) -> Group<'static> {
    ring_group(
        "mpmc-proc",
        "MpmcRing",
        ("conkit MpmcRing 2 processes", "conkit MpmcRing 2 threads"),
        items,
        mpmc_run,
    )
}

/// Bytes of the small messages.
const SMALL: usize = 64;
/// Messages per socket system call (64 KiB).
const BATCH: usize = 1024;
/// One blob.
const BLOB: usize = 1 << 20;

/// Byte ring between a child producer and the parent: `count` messages of `len`
/// bytes, message `i` filled with `i as u8`; the consumer checks the first and last
/// byte and the length of each. Both sides use the blocking forms (`grant_until`,
/// `read_until`: a short spin, then the shared futex), as the socket's sides block in
/// the kernel; with `batch > 1` the indices are published (and the other side woken)
/// once per `batch` messages, as the socket is written once per batch.
#[cfg(target_os = "linux")]
fn byte_ring_run(count: u64, len: usize, ring_bytes: usize, batch: u64) -> Res<Duration> {
    type Bytes = ShmByteRing<SharedFutex>;
    let mem = region(Bytes::required_len(ring_bytes).ok_or("ring size")?);
    // SAFETY: as in `place_inline`.
    let ring = unsafe { Bytes::create_in(start(&mem), mem.len(), ring_bytes) }
        .map_err(|e| e.to_string())?;
    let deadline = harness::deadline(count * (len as u64 / 64).max(1));
    let source = vec![0u8; len];
    pair(
        true,
        || {
            let view = mem.map_again();
            // SAFETY: as above.
            let ring =
                unsafe { Bytes::attach_in(start(&view), view.len()) }.map_err(|e| e.to_string())?;
            let mut tx = Segment::value(&ring).claim_producer().ok_or("claimed")?;
            let mut src = source.clone();
            for i in 0..count {
                src[0] = i as u8;
                src[len - 1] = i as u8;
                let mut g = tx
                    .grant_until(len, Some(deadline))
                    .map_err(|e| e.to_string())?;
                g.copy_from_slice(&src);
                if batch > 1 {
                    g.commit_deferred(len);
                    if (i + 1) % batch == 0 {
                        tx.flush();
                        tx.notify();
                    }
                } else {
                    g.commit(len);
                }
            }
            Ok(())
        },
        || {
            let mut rx = Segment::value(&ring).claim_consumer().ok_or("claimed")?;
            for i in 0..count {
                let m = rx
                    .read_until(Some(deadline))
                    .map_err(|e| format!("message {i}: {e}"))?;
                if m.len() != len || m[0] != i as u8 || m[len - 1] != i as u8 {
                    return Err(format!("message {i} corrupted"));
                }
                if batch > 1 {
                    m.release_deferred();
                    if (i + 1) % batch == 0 {
                        rx.flush();
                        rx.notify();
                    }
                } else {
                    m.release();
                }
            }
            Ok(())
        },
    )
}

/// The same through a socketpair: the child writes `count` messages of `len` bytes in
/// writes of `batch` messages; the parent reads into a buffer of the same size and
/// checks each message's first and last byte.
#[cfg(target_os = "linux")]
fn socket_run(count: u64, len: usize, batch: usize) -> Res<Duration> {
    use std::io::{Read, Write};
    let (a, b) = socketpair()?;
    let mut tx = std::os::unix::net::UnixStream::from(a);
    let mut rx = std::os::unix::net::UnixStream::from(b);
    let chunk = len * batch;
    pair(
        true,
        move || {
            let mut buf = vec![0u8; chunk];
            let mut i = 0u64;
            while i < count {
                let k = (batch as u64).min(count - i) as usize;
                for j in 0..k {
                    let m = &mut buf[j * len..(j + 1) * len];
                    m[0] = (i + j as u64) as u8;
                    m[len - 1] = (i + j as u64) as u8;
                }
                tx.write_all(&buf[..k * len]).map_err(|e| e.to_string())?;
                i += k as u64;
            }
            Ok(())
        },
        move || {
            let mut buf = vec![0u8; chunk];
            let mut have = 0usize;
            let mut i = 0u64;
            while i < count {
                let r = rx.read(&mut buf[have..]).map_err(|e| e.to_string())?;
                if r == 0 {
                    return Err("socket closed early".into());
                }
                have += r;
                let whole = have / len;
                for j in 0..whole {
                    let m = &buf[j * len..(j + 1) * len];
                    if m[0] != (i as u8) || m[len - 1] != (i as u8) {
                        return Err(format!("message {i} corrupted"));
                    }
                    i += 1;
                }
                buf.copy_within(whole * len..have, 0);
                have -= whole * len;
            }
            Ok(())
        },
    )
}

#[cfg(target_os = "linux")]
fn bytes64_proc(items: u64) -> Group<'static> {
    Group {
        id: "bytes64-proc",
        title: format!(
            "{SMALL}-byte messages between two processes: byte ring (1 MiB, grant and read per \
             message, indices published per 1024) vs socketpair (SOCK_STREAM, {BATCH} messages \
             per system call)"
        ),
        kind: Kind::Throughput,
        items,
        contenders: vec![
            Contender::conkit("conkit ShmByteRing", move |n| {
                byte_ring_run(n, SMALL, 1 << 20, BATCH as u64)
            }),
            Contender::peer("socketpair batched", move |n| socket_run(n, SMALL, BATCH)),
        ],
        targets: vec![Target::new("conkit ShmByteRing", "socketpair batched")],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn blob1m_proc(items: u64) -> Group<'static> {
    // Items are KiB: 1 024 per blob; at least 16 blobs.
    let kib = (items / 8).max(16 * 1024) / 1024 * 1024;
    Group {
        id: "blob1m-proc",
        title: "1 MiB blobs between two processes, in M KiB/s (≈ GB/s): byte ring (4 MiB, \
                copied into the grant, read in place) vs socketpair (write, read into a \
                buffer)"
            .into(),
        kind: Kind::Throughput,
        items: kib,
        contenders: vec![
            Contender::conkit("conkit ShmByteRing", move |n| {
                byte_ring_run(n / 1024, BLOB, 4 << 20, 1)
            }),
            Contender::peer("socketpair", move |n| socket_run(n / 1024, BLOB, 1)),
        ],
        targets: vec![Target::with_factor("conkit ShmByteRing", "socketpair", 2.0)],
        missing: vec![],
    }
}
