//! The buffered reader of `Connection` across real processes, under each start method
//! (`get_all_start_methods()`):
//! messages an end has read ahead go with it to the child it is handed to (the child
//! reads on where the parent stopped, as a CPython child would), a flood of small
//! messages from a child arrives whole and in order, and the end of file follows the
//! last message once the child is gone. Every child is bounded by a
//! `join_timeout` and killed past it.

#![cfg(target_os = "linux")]

use std::time::Duration;

use conkit::multiprocessing::connection::{wait, Waitable};
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

/// Receives what the parent left, answers with it.
fn reads_on(mut b: Connection) {
    // The parent's read-ahead is here before anything comes from the socket.
    assert!(b.ready_buffered());
    let two = b.recv_bytes().unwrap();
    let three = b.recv_bytes().unwrap();
    let four = b.recv_bytes().unwrap(); // sent after the handover: from the socket
    let mut answer = two;
    for m in [three, four] {
        answer.push(b' ');
        answer.extend_from_slice(&m);
    }
    b.send_bytes(&answer).unwrap();
}

#[test]
fn read_ahead_messages_go_with_the_end_to_a_child() {
    mp::init();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let (mut a, mut b) = Pipe(true).unwrap();
        a.send_bytes(b"one").unwrap();
        a.send_bytes(b"two").unwrap();
        a.send_bytes(b"three").unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"one");
        // "two" and "three" came with "one": only this end's buffer has them.
        assert!(b.ready_buffered());
        assert_eq!(wait(&[&b], Some(Duration::ZERO)).unwrap().len(), 1);
        let mut p = Process::new(reads_on, b).start_method(method);
        p.start().unwrap();
        a.send_bytes(b"four").unwrap();
        assert!(a.poll(Some(LIMIT)).unwrap(), "{method:?}: no answer");
        assert_eq!(a.recv_bytes().unwrap(), b"two three four", "{method:?}");
        assert_eq!(bounded(&mut p), 0, "{method:?}");
        let e = a.recv_bytes().unwrap_err();
        assert!(e.is_eof(), "{method:?} {e:?}");
    }
}

/// Sends `n` small messages (the counter) as fast as it can, then a last empty one.
fn floods(args: (Connection, u64)) {
    let (mut tx, n) = args;
    for i in 0..n {
        tx.send_bytes(&i.to_le_bytes()).unwrap();
        if i % 1000 == 0 {
            tx.send(&(i, format!("value {i}"))).unwrap();
        }
    }
    tx.send_bytes(b"").unwrap();
}

#[test]
fn a_flood_of_small_messages_arrives_whole_and_in_order() {
    mp::init();
    let _g = serial();
    const N: u64 = 200_000;
    for method in mp::get_all_start_methods() {
        let (mut rx, tx) = Pipe(false).unwrap();
        let mut p = Process::new(floods, (tx, N)).start_method(method);
        p.start().unwrap();
        let mut buf = [0u8; 8];
        for i in 0..N {
            assert!(rx.poll(Some(LIMIT)).unwrap(), "{method:?}: stalled at {i}");
            assert_eq!(rx.recv_bytes_into(&mut buf, 0).unwrap(), 8);
            assert_eq!(u64::from_le_bytes(buf), i, "{method:?}");
            if i % 1000 == 0 {
                assert_eq!(
                    rx.recv::<(u64, String)>().unwrap(),
                    (i, format!("value {i}"))
                );
            }
        }
        assert_eq!(rx.recv_bytes().unwrap(), b"");
        assert_eq!(bounded(&mut p), 0, "{method:?}");
        // The child's end was the only writer (the parent's copy went at `start`).
        assert!(rx.recv_bytes().unwrap_err().is_eof(), "{method:?}");
    }
}
