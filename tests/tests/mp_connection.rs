//! `conkit::multiprocessing::connection` between real processes started with
//! `conkit::multiprocessing::Process` under every start method (`fork`, `spawn`, and
//! any other `get_all_start_methods()` lists): connections handed to children as their
//! arguments, EOF when every writer is gone (the seed's Pipe producer/consumer), a
//! duplex ping-pong, a writer `SIGKILL`ed in the middle of a message (the reader gets
//! `Truncated`, never a hang or a merged message), `wait` on a connection and a
//! process's `sentinel`, and `Listener`/`Client` between processes with the right and a
//! wrong key. (`harness = false`: see `conkit_tests::process` and `conkit_tests::mp`.)

#[cfg(target_os = "linux")]
fn main() {
    // A `spawn` child is this binary re-executed: it runs its target here and exits.
    conkit::multiprocessing::init();
    scenarios::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod scenarios {
    use std::os::fd::RawFd;
    use std::time::Duration;

    use conkit::multiprocessing::connection::{
        wait, Address, Client, ConnectionError, Listener, Waitable,
    };
    use conkit::multiprocessing::{Connection, Pipe};
    use conkit_tests::mp::{join, kill, reap, run_under_every_method, start};

    const ITEMS: u64 = 10_000;

    pub fn run() {
        run_under_every_method(
            &[
                (
                    "pipe_producer_consumer_ends_on_eof",
                    pipe_producer_consumer_ends_on_eof,
                ),
                ("duplex_ping_pong", duplex_ping_pong),
                ("writer_killed_mid_message", writer_killed_mid_message),
                (
                    "wait_on_connection_and_sentinel",
                    wait_on_connection_and_sentinel,
                ),
                (
                    "listener_and_clients_in_children",
                    listener_and_clients_in_children,
                ),
                (
                    "big_messages_across_processes",
                    big_messages_across_processes,
                ),
            ],
            Duration::from_secs(30),
        );
    }

    /// The consumer of the seed's Pipe program: receives until EOF, then reports the
    /// count.
    fn consume((mut rx, mut back): (Connection, Connection)) {
        let mut next = 0u64;
        loop {
            match rx.recv::<(u64, String)>() {
                Ok((i, s)) => {
                    assert_eq!(i, next, "order");
                    assert_eq!(s, format!("红包{i}"));
                    next += 1;
                }
                Err(ConnectionError::Eof) => break,
                Err(e) => panic!("{e}"),
            }
        }
        back.send(&next).unwrap();
    }

    /// The seed's Pipe producer/consumer: the consumer child receives until EOF, which
    /// comes when the parent's writer is closed (a forked child does not keep a copy:
    /// it holds only its arguments' descriptors).
    fn pipe_producer_consumer_ends_on_eof() {
        let (rx, mut tx) = Pipe(false).unwrap();
        let (mut back_rx, back_tx) = Pipe(false).unwrap();
        let mut child = start(consume, (rx, back_tx));
        for i in 0..ITEMS {
            tx.send(&(i, format!("红包{i}"))).unwrap();
        }
        drop(tx);
        assert_eq!(back_rx.recv::<u64>().unwrap(), ITEMS);
        assert_eq!(join(&mut child), 0);
    }

    /// Answers every number with its successor until EOF.
    fn successor(mut c: Connection) {
        while let Ok(n) = c.recv::<u64>() {
            c.send(&(n + 1)).unwrap();
        }
    }

    /// A duplex pipe: the child answers every number with its successor.
    fn duplex_ping_pong() {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut child = start(successor, theirs);
        for i in 0..ITEMS {
            ours.send(&i).unwrap();
            assert_eq!(ours.recv::<u64>().unwrap(), i + 1);
        }
        drop(ours);
        assert_eq!(join(&mut child), 0);
    }

    /// Sends a small message, then blocks in a 4 MiB one (the reader is not reading).
    fn send_then_block(mut tx: Connection) {
        tx.send_bytes(b"complete").unwrap();
        let _ = tx.send_bytes(&vec![7u8; 4 << 20]);
    }

    /// The writer dies (SIGKILL) blocked in the middle of a 4 MiB message: the reader
    /// gets the whole first message, then `Truncated` for the second — never a merged
    /// or short message, never a hang; then EOF (the parent's copy of the child's end
    /// went with `start`).
    fn writer_killed_mid_message() {
        let (mut rx, tx) = Pipe(false).unwrap();
        let mut child = start(send_then_block, tx);
        // Wait until the first message is there and the child is stuck in its write.
        assert!(rx.poll(Some(Duration::from_secs(10))).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !child.join_timeout(Duration::ZERO).unwrap(),
            "the writer must be blocked"
        );
        assert_eq!(kill(child), -libc::SIGKILL);
        assert_eq!(rx.recv_bytes().unwrap(), b"complete");
        match rx.recv_bytes() {
            Err(ConnectionError::Truncated { expected, received }) => {
                assert_eq!(expected, 4 << 20);
                assert!(received > 0 && received < expected, "{received}");
            }
            other => panic!("{other:?}"),
        }
        assert!(rx.recv_bytes().unwrap_err().is_eof());
    }

    fn sleep_briefly(_: ()) {
        // Long enough that the parent's first `wait` comes before the end even on a
        // loaded machine.
        std::thread::sleep(Duration::from_millis(200));
    }

    /// `wait` over a connection and a process's `sentinel`: the child exits without
    /// sending, so only its sentinel becomes ready; then a message makes the
    /// connection ready.
    fn wait_on_connection_and_sentinel() {
        let (mut a, b) = Pipe(true).unwrap();
        let mut child = start(sleep_briefly, ());
        let sentinel: RawFd = child.sentinel().unwrap();
        let objects: [&dyn Waitable; 2] = [&b, &sentinel];
        assert!(wait(&objects, Some(Duration::ZERO)).unwrap().is_empty());
        let ready = wait(&objects, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.len(), 1);
        assert!(std::ptr::addr_eq(ready[0], &sentinel));
        assert_eq!(join(&mut child), 0);
        a.send_bytes(b"now").unwrap();
        // Both ready, the sentinel for good. (Under `forkserver` the sentinel is the
        // status connection: after `join` read the status it becomes ready again at
        // end-of-file, when the server closes its end, an instant later.)
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while wait(&objects, Some(Duration::from_secs(10))).unwrap().len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "sentinel never ready again"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A client child: with the right key it greets and expects "welcome"; with a
    /// wrong one the handshake fails with an authentication error.
    fn client((address, key, welcome): (Address, Vec<u8>, bool)) {
        match Client(address, Some(&key)) {
            Ok(mut c) => {
                assert!(welcome, "a wrong key was accepted");
                c.send(&format!("hello from {}", std::process::id()))
                    .unwrap();
                assert_eq!(c.recv::<String>().unwrap(), "welcome");
            }
            Err(ConnectionError::Authentication(_)) => assert!(!welcome, "refused"),
            Err(e) => panic!("{e}"),
        }
    }

    /// A listener in the parent, clients in children: the right key is welcome, a wrong
    /// key fails on both sides, and the listener keeps accepting.
    fn listener_and_clients_in_children() {
        for address in [
            "127.0.0.1:0".to_string(),
            format!("\0conkit-mp-conn-{}", std::process::id()),
        ] {
            let mut listener = Listener::bind(address.as_str(), Some(b"right")).unwrap();
            listener.set_handshake_timeout(Some(Duration::from_secs(10)));
            let bound = listener.address().clone();
            for key in [&b"right"[..], b"wrong", b"right"] {
                let right = key == b"right";
                let mut child = start(client, (bound.clone(), key.to_vec(), right));
                let pid = child.pid().unwrap();
                match listener.accept() {
                    Ok(mut c) => {
                        assert!(right);
                        assert_eq!(c.recv::<String>().unwrap(), format!("hello from {pid}"));
                        c.send(&"welcome").unwrap();
                    }
                    Err(ConnectionError::Authentication(e)) => {
                        assert!(!right);
                        assert_eq!(e.message(), "digest received was wrong");
                    }
                    Err(e) => panic!("{e}"),
                }
                assert_eq!(join(&mut child), 0);
            }
        }
    }

    /// Sends every message back reversed until EOF.
    fn reverse_back(mut c: Connection) {
        while let Ok(mut m) = c.recv_bytes() {
            m.reverse();
            c.send_bytes(&m).unwrap();
        }
    }

    /// 1 MiB messages both ways, checked byte for byte.
    fn big_messages_across_processes() {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let child = start(reverse_back, theirs);
        for round in 0..8u32 {
            let m: Vec<u8> = (0..1u32 << 20)
                .map(|i| (i.wrapping_mul(round + 7) >> 3) as u8)
                .collect();
            ours.send_bytes(&m).unwrap();
            let mut back = ours.recv_bytes().unwrap();
            back.reverse();
            assert!(back == m, "round {round}");
        }
        drop(ours);
        reap(vec![child]);
    }
}
