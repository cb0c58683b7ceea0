//! loom models of `conkit_core::byte_ring` (its own protocol: byte positions, frame
//! headers, padding frames at the wrap).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_byte_ring`.
//!
//! The buffer's words are loom cells under `cfg(loom)`, so a frame read before its
//! publication (or overwritten before its release) is reported as a data race; the
//! mutants `byte_ring_tail_relaxed` and `byte_ring_head_relaxed` must fail here.
#![cfg(loom)]

use conkit_core::byte_ring::{ByteRing, GrantError, RecvError};
use loom::thread;

/// Sends every message, yielding while full.
fn send_all<const N: usize>(
    tx: &mut conkit_core::byte_ring::ByteProducer<'static, [conkit_core::byte_ring::Word; N]>,
    msgs: &[&[u8]],
) {
    for m in msgs {
        loop {
            match tx.send(m) {
                Ok(()) => break,
                Err(GrantError::Full) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// Receives `n` messages, yielding while empty.
fn recv_n<const N: usize>(
    rx: &mut conkit_core::byte_ring::ByteConsumer<'static, [conkit_core::byte_ring::Word; N]>,
    n: usize,
) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < n {
        match rx.recv(&mut buf) {
            Ok(len) => got.push(buf[..len].to_vec()),
            Err(RecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    got
}

/// 64 bytes (messages up to 24): the third message does not fit before the end, so the
/// producer writes a padding frame and reuses offset 0, which the consumer must have
/// released first.
#[test]
fn messages_wrap_with_padding_in_order() {
    loom::model(|| {
        let ring: &'static ByteRing<8> = Box::leak(Box::new(ByteRing::new()));
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        let msgs: [&[u8]; 3] = [&[1; 5], &[2; 24], &[3; 24]];
        let p = thread::spawn(move || send_all(&mut tx, &msgs));
        let got = recv_n(&mut rx, 3);
        assert_eq!(got, msgs.map(<[u8]>::to_vec));
        p.join().unwrap();
        assert!(matches!(rx.recv(&mut [0; 8]), Err(RecvError::Disconnected)));
    });
}

/// 32 bytes (messages up to 8): every frame reuses the space of the one two before.
#[test]
fn full_ring_reuses_released_space() {
    loom::model(|| {
        let ring: &'static ByteRing<4> = Box::leak(Box::new(ByteRing::new()));
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        let msgs: [&[u8]; 3] = [b"abcdefgh", b"ij", b"klmnop"];
        let p = thread::spawn(move || send_all(&mut tx, &msgs));
        let got = recv_n(&mut rx, 3);
        assert_eq!(got, msgs.map(<[u8]>::to_vec));
        p.join().unwrap();
    });
}

/// Every message is sent and received with the deferred forms and nobody flushes:
/// the producer's sends are published only when it finds the ring full, the
/// consumer's releases only when it finds the ring empty. Without either publication
/// the other side never sees progress (loom reports the livelock).
#[test]
fn deferred_publications_happen_when_a_side_would_wait() {
    loom::model(|| {
        let ring: &'static ByteRing<4> = Box::leak(Box::new(ByteRing::new()));
        let mut tx = ring.claim_producer().unwrap();
        let mut rx = ring.claim_consumer().unwrap();
        let p = thread::spawn(move || {
            // Two frames fill the 32 bytes: the third send finds the ring full (and
            // publishes the first two), then waits for the consumer's releases, which
            // it publishes when it finds the ring empty.
            for m in [&b"ab"[..], b"cdefgh", b"i", b"jk"] {
                while let Err(e) = tx.send_deferred(m) {
                    assert_eq!(e, GrantError::Full);
                    thread::yield_now();
                }
            }
            // "i" and "jk" fill the ring: this send finds it full and publishes them.
            assert_eq!(tx.send_deferred(b"l"), Err(GrantError::Full));
            std::mem::forget(tx); // no flush on drop: only the protocol's own
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 8];
        while got.len() < 4 {
            match rx.recv_deferred(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, [&b"ab"[..], b"cdefgh", b"i", b"jk"]);
        p.join().unwrap();
    });
}
