//! Tests of `conkit_core::byte_ring`: the size cap, wrap-around with padding frames,
//! partial commits, zero-length messages, disconnection, a corrupt header reported and
//! not followed, blocking forms with deadlines, and a two-thread stress run where every
//! message (of varying length and content) is checked byte by byte, in order.
#![cfg(not(loom))]

mod common;

use std::num::Wrapping;
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::byte_ring::{ByteRing, GrantError, RecvError};
use conkit_core::wait::Spin;

use common::native_or_miri;

const MESSAGES: u32 = if cfg!(miri) { 300 } else { 200_000 };

/// The bytes of message `i` (length `i % (max + 1)`), reproducible on both sides.
fn message(i: u32, max: usize, out: &mut Vec<u8>) {
    out.clear();
    let len = (i as usize * 7) % (max + 1);
    let mut x = Wrapping(i.wrapping_mul(2_654_435_761));
    for _ in 0..len {
        x = x * Wrapping(1_103_515_245) + Wrapping(12_345);
        out.push((x.0 >> 16) as u8);
    }
}

#[test]
fn messages_wrap_around_with_padding_in_order() {
    let mut ring: ByteRing<8, Spin> = ByteRing::new(); // 64 bytes, messages <= 24
    let (mut tx, mut rx) = ring.split();
    let mut expect = Vec::new();
    let mut got = [0u8; 64];
    for i in 0..native_or_miri(1000, 200) as u32 {
        message(i, 24, &mut expect);
        tx.send(&expect).unwrap();
        let n = rx.recv(&mut got).unwrap();
        assert_eq!(&got[..n], &expect[..], "message {i}");
    }
    // Fill up with messages that force padding at the end.
    let mut sent = 0;
    while tx.send(&[sent as u8; 20]).is_ok() {
        sent += 1;
    }
    assert!(sent >= 1);
    for k in 0..sent {
        let m = rx.read().unwrap();
        assert_eq!(&*m, &[k as u8; 20]);
    }
    assert!(matches!(rx.read(), Err(RecvError::Empty)));
}

#[test]
fn size_cap_partial_commit_and_empty_messages() {
    let mut ring: ByteRing<16, Spin> = ByteRing::new();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(
        tx.grant(57).unwrap_err(),
        GrantError::TooLarge { len: 57, max: 56 }
    );
    let mut g = tx.grant(56).unwrap();
    g[..3].copy_from_slice(b"abc");
    g.commit(3);
    let abandoned = tx.grant(10).unwrap();
    let _ = abandoned; // dropped without commit: nothing sent
    tx.send(b"").unwrap();
    assert_eq!(&*rx.read().unwrap(), b"abc");
    assert_eq!(rx.read().unwrap().len(), 0);
    assert!(matches!(rx.read(), Err(RecvError::Empty)));
    tx.send(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        rx.recv(&mut small),
        Err(RecvError::BufferTooSmall { len: 10 })
    );
    assert_eq!(&*rx.read().unwrap(), b"0123456789");
}

#[test]
fn dropping_a_side_disconnects_the_other() {
    let mut ring: ByteRing<4, Spin> = ByteRing::new();
    let (mut tx, mut rx) = ring.split();
    tx.send(b"last").unwrap();
    drop(tx);
    assert_eq!(&*rx.read().unwrap(), b"last");
    assert!(matches!(rx.read(), Err(RecvError::Disconnected)));
    drop(rx);
    let (mut tx, rx) = ring.split();
    drop(rx);
    // Accepted while there is room, then `Disconnected` instead of `Full`.
    let mut accepted = 0;
    let err = loop {
        match tx.send(b"12345678") {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!((accepted, err), (2, GrantError::Disconnected));
}

#[test]
fn corrupt_header_is_reported_not_followed() {
    let ring: ByteRing<4, Spin> = ByteRing::new();
    let mut tx = ring.claim_producer().unwrap();
    let mut rx = ring.claim_consumer().unwrap();
    let mut g = tx.grant(8).unwrap();
    g.copy_from_slice(b"12345678");
    // The frame's header word sits right before its data. The pointer takes its
    // provenance from the ring (whose buffer is interior-mutable), not from the grant.
    let header_addr = g.as_ptr() as usize - 8;
    g.commit(8);
    let header = std::ptr::from_ref(&ring)
        .cast::<u8>()
        .cast_mut()
        .with_addr(header_addr)
        .cast::<u64>();
    // A peer scribbles over the published header: a length past the cap, then past the
    // published bytes, then the padding bit with other bits.
    for bad in [0x7fff_ffff_u64, 16, 1 << 63 | 1] {
        // SAFETY: single-threaded test standing in for a misbehaving peer process.
        unsafe { header.write(bad) };
        assert!(matches!(rx.read(), Err(RecvError::Corrupt)), "{bad:#x}");
    }
    // SAFETY: as above; restored.
    unsafe { header.write(8) };
    assert_eq!(&*rx.read().unwrap(), b"12345678");
}

/// The consumer's frame check (one compare since issue #11's fast path) at each of its
/// three limits: the cap (half the buffer less the header), the published bytes and the
/// end of the buffer. A length at the limit is read; every length past it, up to the
/// next multiple of 8 and beyond, is `Corrupt`.
#[test]
fn frame_lengths_at_each_limit_are_read_one_past_is_corrupt() {
    let ring: ByteRing<8, Spin> = ByteRing::new(); // 64 bytes, messages <= 24
    let mut tx = ring.claim_producer().unwrap();
    let mut rx = ring.claim_consumer().unwrap();
    let base = std::ptr::from_ref(&ring).cast::<u8>().cast_mut();
    // Sends `len` bytes; returns a pointer to the frame's header (provenance from the
    // ring, as in `corrupt_header_is_reported_not_followed`).
    let mut send = |len: usize| {
        let mut g = tx.grant(len).unwrap();
        g.fill(0xa5);
        let header = base.with_addr(g.as_ptr() as usize - 8).cast::<u64>();
        g.commit(len);
        header
    };
    // The frame at our position holds `limit` bytes, the most its limit allows: longer
    // lengths are rejected, `limit` is read; then the frame is read and released.
    let check = |rx: &mut conkit_core::byte_ring::ByteConsumer<'_, [_; 8], Spin>,
                 header: *mut u64,
                 limit: u64| {
        for bad in (limit + 1..=limit + 9).chain([u64::MAX >> 1, u64::MAX]) {
            // SAFETY: single-threaded test standing in for a misbehaving peer.
            unsafe { header.write(bad) };
            assert!(matches!(rx.read(), Err(RecvError::Corrupt)), "{bad}");
        }
        // SAFETY: as above; restored.
        unsafe { header.write(limit) };
        let m = rx.read().unwrap();
        assert_eq!(m.len() as u64, limit);
        m.release();
    };
    // The cap: a 24-byte message at offset 0, 16 more bytes published after it.
    let first = send(24);
    let second = send(8);
    check(&mut rx, first, 24);
    // The published bytes: the 8-byte message at offset 32, nothing after it.
    check(&mut rx, second, 8);
    // The end of the buffer: an 8-byte message at offset 48 (16 bytes before the end),
    // another one published after the wrap (32 bytes published in all).
    let third = send(8);
    send(8);
    check(&mut rx, third, 8);
    assert_eq!(rx.read().unwrap().len(), 8);
    assert!(matches!(rx.read(), Err(RecvError::Empty)));
}

#[test]
fn blocking_forms_honour_deadlines_and_wake() {
    let ring: ByteRing<8> = ByteRing::new();
    let mut tx = ring.claim_producer().unwrap();
    let mut rx = ring.claim_consumer().unwrap();
    let t = Instant::now();
    assert!(matches!(
        rx.read_until(Some(t + Duration::from_millis(30))),
        Err(RecvError::Empty)
    ));
    assert!(t.elapsed() >= Duration::from_millis(30));
    while tx.send(&[1; 24]).is_ok() {}
    assert_eq!(
        tx.send_until(&[1; 24], Some(Instant::now() + Duration::from_millis(30))),
        Err(GrantError::Full)
    );
    thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut n = 0;
            let mut buf = [0u8; 32];
            while rx.recv_until(&mut buf, None).is_ok() {
                n += 1;
            }
            n
        });
        let n = native_or_miri(1000, 200);
        for _ in 0..n {
            tx.send_until(&[2; 24], None).unwrap();
        }
        drop(tx);
        assert!(reader.join().unwrap() >= n);
    });
}

#[test]
fn two_threads_every_message_checked() {
    let ring: ByteRing<64, Spin> = ByteRing::new();
    let mut tx = ring.claim_producer().unwrap();
    let mut rx = ring.claim_consumer().unwrap();
    let max = tx.max_message();
    thread::scope(|s| {
        s.spawn(move || {
            let mut m = Vec::new();
            for i in 0..MESSAGES {
                message(i, max, &mut m);
                loop {
                    match tx.send(&m) {
                        Ok(()) => break,
                        Err(GrantError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut expect = Vec::new();
        for i in 0..MESSAGES {
            message(i, max, &mut expect);
            let got = loop {
                match rx.read() {
                    Ok(g) => break g.to_vec(),
                    Err(RecvError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(got, expect, "message {i}");
        }
    });
    assert!(matches!(rx.read(), Err(RecvError::Disconnected)));
}

#[test]
fn deferred_commits_and_releases_are_published_when_the_other_side_would_wait() {
    let mut ring: ByteRing<8, Spin> = ByteRing::new(); // 64 bytes: four 8-byte messages
    let (mut tx, mut rx) = ring.split();
    let mut sent = 0u8;
    loop {
        match tx.grant(8) {
            Ok(mut g) => {
                g.fill(sent);
                g.commit_deferred(8);
                sent += 1;
            }
            // Full: the deferred commits were published before `Full` was returned.
            Err(GrantError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(sent, 4);
    for k in 0..4 {
        let m = rx.read().unwrap();
        assert_eq!(&*m, &[k; 8]);
        m.release_deferred();
    }
    // Not published yet: the producer still sees a full ring ...
    assert_eq!(tx.send(&[9; 8]), Err(GrantError::Full));
    // ... until the consumer finds the ring empty, which publishes its releases.
    assert!(matches!(rx.read(), Err(RecvError::Empty)));
    tx.send(&[9; 8]).unwrap();
    assert_eq!(&*rx.read().unwrap(), &[9; 8]);
    // Dropping the producer publishes its deferred commits.
    let mut g = tx.grant(1).unwrap();
    g[0] = 7;
    g.commit_deferred(1);
    drop(tx);
    assert_eq!(&*rx.read().unwrap(), &[7]);
    assert!(matches!(rx.read(), Err(RecvError::Disconnected)));
}

/// Both sides block (sleeping in the futex) and defer every publication: the only
/// publications are those made when a side would wait. Each must wake the other, or the
/// producer sleeps on "full" while the consumer sleeps on "empty" (the deadline then
/// fails the test instead of hanging it).
#[test]
fn deferred_publications_wake_a_sleeping_peer() {
    use conkit_core::wait::DefaultWait;
    let ring: ByteRing<16, DefaultWait> = ByteRing::new(); // 128 bytes: few messages
    let mut tx = ring.claim_producer().unwrap();
    let mut rx = ring.claim_consumer().unwrap();
    let n = if cfg!(miri) { 50 } else { 20_000u32 };
    let deadline = || Some(Instant::now() + Duration::from_secs(10));
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..n {
                let mut g = tx.grant_until(4, deadline()).expect("room in time");
                g.copy_from_slice(&i.to_le_bytes());
                g.commit_deferred(4);
            }
        });
        for i in 0..n {
            let m = rx.read_until(deadline()).expect("a message in time");
            assert_eq!(*m, i.to_le_bytes());
            m.release_deferred();
        }
    });
}

/// Leases: three producer threads and two consumer threads take turns on one ring,
/// each side under a lock (as the process queues do); every message arrives exactly
/// once, each producer's in order, and a dropped lease abandons nothing.
#[test]
fn leases_taken_in_turns_under_locks() {
    use conkit_core::lock::Lock;
    use std::sync::Mutex;

    const PER: u32 = if cfg!(miri) { 60 } else { 20_000 };
    let ring: ByteRing<16, Spin> = ByteRing::new(); // 128 bytes: frequent wrap and full
    let (put_lock, get_lock): (Lock<Spin>, Lock<Spin>) = (Lock::new(), Lock::new());
    let got = Mutex::new(Vec::new());
    thread::scope(|s| {
        for p in 0..3u32 {
            let (ring, put_lock) = (&ring, &put_lock);
            s.spawn(move || {
                let mut i = 0;
                while i < PER {
                    put_lock.acquire();
                    // SAFETY: one producer lease at a time (the lock).
                    let mut tx = unsafe { ring.lease_producer() };
                    let before = tx.position();
                    let sent = tx.send(&[p as u8, (i >> 8) as u8, i as u8]).is_ok();
                    assert_eq!(sent, tx.position() != before);
                    drop(tx);
                    put_lock.release().unwrap();
                    if sent {
                        i += 1;
                    } else {
                        thread::yield_now();
                    }
                }
            });
        }
        for _ in 0..2 {
            let (ring, get_lock, got) = (&ring, &get_lock, &got);
            s.spawn(move || {
                let mut mine = Vec::new();
                while (got.lock().unwrap().len() + mine.len()) < (3 * PER) as usize {
                    get_lock.acquire();
                    // SAFETY: one consumer lease at a time (the lock).
                    let mut rx = unsafe { ring.lease_consumer() };
                    let m = rx.read().map(|g| g.to_vec());
                    assert!(!rx.is_abandoned());
                    drop(rx);
                    get_lock.release().unwrap();
                    match m {
                        Ok(m) => mine.push(m),
                        Err(RecvError::Empty) => {
                            got.lock().unwrap().append(&mut mine);
                            thread::yield_now();
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
                got.lock().unwrap().append(&mut mine);
            });
        }
    });
    let got = got.into_inner().unwrap();
    assert_eq!(got.len(), (3 * PER) as usize);
    let mut seen = vec![vec![false; PER as usize]; 3];
    for m in got {
        let i = (usize::from(m[1]) << 8) | usize::from(m[2]);
        assert!(!seen[usize::from(m[0])][i], "duplicate");
        seen[usize::from(m[0])][i] = true;
    }
    assert!(ring.is_empty());
}
