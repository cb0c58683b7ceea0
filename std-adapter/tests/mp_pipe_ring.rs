//! `Pipe`'s shared-memory rings across real processes, under each start method
//! (`get_all_start_methods()`): an end handed to a child carries its ring (the
//! mapping travels with the socket), a writer killed (`SIGKILL`) in the middle of a
//! flood leaves whole messages in order and then the end of file (never a torn or
//! merged message, never a hang), and a reader killed while the writer waits for room
//! in a full ring makes the writer's send a broken pipe; a writer killed holding the
//! writers' lock (waiting for room) leaves it to the next writer of the same end. Every child is bounded by a
//! `join_timeout` and killed past it; every wait in the parent has a limit.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use conkit::multiprocessing::connection::ConnectionError;
use conkit::multiprocessing::{self as mp, Connection, Pipe, Process};

const LIMIT: Duration = Duration::from_secs(20);

/// One test at a time: a `fork` while another test's thread holds a descriptor would
/// give that child a copy of it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bounded(p: &mut Process) -> i32 {
    if !p.join_timeout(LIMIT).unwrap() {
        p.kill().unwrap();
        p.join().unwrap();
        panic!("child {} did not end within {LIMIT:?}", p.get_name());
    }
    p.exitcode().unwrap()
}

/// Echoes every message back, decoded and re-encoded, until the end of file.
fn echoes(mut conn: Connection) {
    while let Ok(v) = conn.recv::<(u64, String)>() {
        conn.send(&v).unwrap();
    }
}

#[test]
fn a_child_talks_through_the_rings_it_was_handed() {
    mp::init();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut p = Process::new(echoes, theirs).start_method(method);
        p.start().unwrap();
        for i in 0..2000u64 {
            ours.send(&(i, "x".repeat((i % 50) as usize))).unwrap();
            assert!(ours.poll(Some(LIMIT)).unwrap(), "{method:?}: no echo");
            assert_eq!(
                ours.recv::<(u64, String)>().unwrap(),
                (i, "x".repeat((i % 50) as usize))
            );
        }
        // A message larger than the ring goes by the socket, in order.
        ours.send(&(7u64, "y".repeat(200_000))).unwrap();
        ours.send(&(8u64, String::new())).unwrap();
        assert_eq!(ours.recv::<(u64, String)>().unwrap().1.len(), 200_000);
        assert_eq!(ours.recv::<(u64, String)>().unwrap().0, 8);
        drop(ours);
        assert_eq!(bounded(&mut p), 0, "{method:?}");
    }
}

/// Sends numbered messages of varying sizes until killed.
fn floods_forever(mut tx: Connection) {
    for i in 0u64.. {
        let n = (i % 300) as usize;
        let mut m = vec![(i % 251) as u8; 8 + n];
        m[..8].copy_from_slice(&i.to_le_bytes());
        if tx.send_bytes(&m).is_err() {
            return;
        }
    }
}

#[test]
fn a_writer_killed_in_a_flood_leaves_whole_messages_then_eof() {
    mp::init();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let (mut rx, tx) = Pipe(false).unwrap();
        let mut p = Process::new(floods_forever, tx).start_method(method);
        p.start().unwrap();
        let started = Instant::now();
        let next = std::cell::Cell::new(0u64);
        let check = |m: Vec<u8>| {
            let i = u64::from_le_bytes(m[..8].try_into().unwrap());
            assert_eq!(i, next.get(), "{method:?}: out of order");
            assert_eq!(m.len(), 8 + (i % 300) as usize, "{method:?}: torn message");
            assert!(m[8..].iter().all(|&x| x == (i % 251) as u8), "{method:?}");
            next.set(i + 1);
        };
        while next.get() < 20_000 {
            assert!(rx.poll(Some(LIMIT)).unwrap(), "{method:?}: stalled");
            check(rx.recv_bytes().unwrap());
        }
        p.kill().unwrap(); // SIGKILL, most likely in the middle of a send
        assert!(p.join_timeout(LIMIT).unwrap());
        loop {
            assert!(rx.poll(Some(LIMIT)).unwrap(), "{method:?}: no end of file");
            match rx.recv_bytes() {
                Ok(m) => check(m),
                Err(e) => {
                    assert!(e.is_eof(), "{method:?}: {e:?}");
                    break;
                }
            }
        }
        assert!(started.elapsed() < LIMIT);
    }
}

/// Reads one message, then sleeps without reading (until killed).
fn reads_once_then_stalls(mut rx: Connection) {
    let _ = rx.recv_bytes();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_reader_killed_while_the_writer_waits_for_room_is_a_broken_pipe() {
    mp::init();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let (rx, mut tx) = Pipe(false).unwrap();
        let mut p = Process::new(reads_once_then_stalls, rx).start_method(method);
        p.start().unwrap();
        let pid = p.pid().unwrap() as libc::pid_t;
        // Kills the reader once the writer has had time to fill the ring and wait.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: a plain signal to our own child (reaped below, not before).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let started = Instant::now();
        let err = loop {
            assert!(
                started.elapsed() < LIMIT,
                "{method:?}: the writer never failed"
            );
            if let Err(e) = tx.send_bytes(&[1u8; 1000]) {
                break e;
            }
        };
        killer.join().unwrap();
        assert!(
            matches!(err, ConnectionError::Io(ref e) if e.kind() == std::io::ErrorKind::BrokenPipe),
            "{method:?}: {err:?}"
        );
        assert_eq!(bounded(&mut p), -libc::SIGKILL, "{method:?}");
    }
}

/// A writer killed while it holds the writers' lock (it waits for room in a full ring,
/// lock held) leaves the lock to the next writer of the same end: the parent's copy
/// (a raw `fork`, so both hold the end) takes it over, the reader gets every message
/// the dead writer published, whole and in order, then the parent's.
#[test]
fn a_writer_killed_holding_the_writers_lock_leaves_it_to_the_next() {
    let _g = serial();
    let (mut rx, mut tx) = Pipe(false).unwrap();
    // SAFETY: the child only sends (no allocation, no lock another thread may hold:
    // the ring's lock lives in shared memory) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut m = [0u8; 64];
        for i in 0u64.. {
            m[..8].copy_from_slice(&i.to_le_bytes());
            if tx.send_bytes(&m).is_err() {
                break;
            }
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    // The ring fills (64 KiB) and the child waits for room holding the lock.
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: our own child, reaped right after.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    let mut next = 0u64;
    while rx.poll(Some(Duration::ZERO)).unwrap() {
        let m = rx.recv_bytes().unwrap();
        assert_eq!(m.len(), 64);
        assert_eq!(u64::from_le_bytes(m[..8].try_into().unwrap()), next);
        next += 1;
    }
    assert!(next > 500, "the ring was full: {next} messages");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send_bytes(b"after").unwrap();
        done_tx.send(tx).unwrap();
    });
    let tx = done_rx
        .recv_timeout(LIMIT)
        .expect("the writers' lock of the dead writer was not taken over");
    assert_eq!(rx.recv_bytes().unwrap(), b"after");
    drop(tx);
    assert!(rx.recv_bytes().unwrap_err().is_eof());
}
