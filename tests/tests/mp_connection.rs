//! `conkit::multiprocessing::connection` between real processes: connections handed to
//! `fork`ed children as serialised arguments through `inherit` (the way the start
//! methods pass them), EOF when every writer is gone (the seed's Pipe producer/consumer),
//! a duplex ping-pong, a writer `SIGKILL`ed in the middle of a message (the reader gets
//! `Truncated`, never a hang or a merged message), `wait` on a connection and a process
//! descriptor (`pidfd`, what a sentinel is), and `Listener`/`Client` between processes
//! with the right and a wrong key. (`harness = false`: see `conkit_tests::process`.)

#[cfg(target_os = "linux")]
fn main() {
    scenarios::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod scenarios {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use conkit::multiprocessing::connection::{wait, Client, ConnectionError, Listener, Waitable};
    use conkit::multiprocessing::{codec, inherit, Connection, Pipe};
    use conkit_tests::process::{fork, run_scenarios, Exit};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    const ITEMS: u64 = 10_000;

    pub fn run() {
        run_scenarios(
            &[
                (
                    "pipe_producer_consumer_ends_on_eof",
                    pipe_producer_consumer_ends_on_eof,
                ),
                ("duplex_ping_pong", duplex_ping_pong),
                ("writer_killed_mid_message", writer_killed_mid_message),
                ("wait_on_connection_and_pidfd", wait_on_connection_and_pidfd),
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

    /// Serialises `value` as a child's argument: the bytes and the descriptor table.
    fn hand_over<T: Serialize>(value: &T) -> (Vec<u8>, Vec<RawFd>) {
        let (bytes, table) = inherit::collect(|| codec::to_bytes(value));
        (bytes.expect("serialise"), table)
    }

    /// In a forked child: installs duplicates of the inherited table (the child's copy
    /// of the parent's objects still owns the original numbers), deserialises, clears.
    fn take_over<T: DeserializeOwned>(bytes: &[u8], table: &[RawFd]) -> T {
        let fds = table
            .iter()
            .map(|&fd| {
                // SAFETY: inherited through fork, open for the child's whole life.
                unsafe { BorrowedFd::borrow_raw(fd) }
                    .try_clone_to_owned()
                    .expect("dup")
            })
            .collect();
        inherit::install(fds);
        let value = codec::from_bytes(bytes).expect("deserialise");
        inherit::clear();
        value
    }

    /// Closes the child's inherited copy of a descriptor the parent keeps using (the
    /// child never drops the parent's objects: it ends with `_exit`).
    fn close_in_child(fd: RawFd) {
        // SAFETY: the child's own copy of the number; its Rust owner is never dropped.
        unsafe { libc::close(fd) };
    }

    /// The seed's Pipe producer/consumer: the consumer child receives until EOF, which
    /// comes only when the parent's writer is closed (the child closed its own copy).
    fn pipe_producer_consumer_ends_on_eof() {
        let (rx, mut tx) = Pipe(false).unwrap();
        let (mut back_rx, back_tx) = Pipe(false).unwrap();
        let ends = (rx, back_tx);
        let (bytes, table) = hand_over(&ends);
        let tx_fd = tx.fileno().unwrap();
        let back_rx_fd = back_rx.fileno().unwrap();
        let child = fork(|| {
            close_in_child(tx_fd);
            close_in_child(back_rx_fd);
            let (mut rx, mut back): (Connection, Connection) = take_over(&bytes, &table);
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
            0
        });
        // The parent drops its copies of the child's ends (the seed's `con.close()`).
        drop(ends);
        for i in 0..ITEMS {
            tx.send(&(i, format!("红包{i}"))).unwrap();
        }
        drop(tx);
        assert_eq!(back_rx.recv::<u64>().unwrap(), ITEMS);
        assert_eq!(child.wait(), Exit::Code(0));
    }

    /// A duplex pipe: the child answers every number with its successor.
    fn duplex_ping_pong() {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let (bytes, table) = hand_over(&theirs);
        let ours_fd = ours.fileno().unwrap();
        let child = fork(|| {
            close_in_child(ours_fd);
            let mut c: Connection = take_over(&bytes, &table);
            while let Ok(n) = c.recv::<u64>() {
                c.send(&(n + 1)).unwrap();
            }
            0
        });
        drop(theirs);
        for i in 0..ITEMS {
            ours.send(&i).unwrap();
            assert_eq!(ours.recv::<u64>().unwrap(), i + 1);
        }
        drop(ours);
        assert_eq!(child.wait(), Exit::Code(0));
    }

    /// The writer dies (SIGKILL) blocked in the middle of a 4 MiB message: the reader
    /// gets the whole first message, then `Truncated` for the second — never a merged
    /// or short message, never a hang.
    fn writer_killed_mid_message() {
        let (mut rx, tx) = Pipe(false).unwrap();
        let (bytes, table) = hand_over(&tx);
        let rx_fd = rx.fileno().unwrap();
        let mut child = fork(|| {
            close_in_child(rx_fd);
            let mut tx: Connection = take_over(&bytes, &table);
            tx.send_bytes(b"complete").unwrap();
            // Blocks once the socket buffer is full: the parent is not reading yet.
            let _ = tx.send_bytes(&vec![7u8; 4 << 20]);
            0
        });
        drop(tx);
        // Wait until the first message is there and the child is stuck in its write.
        assert!(rx.poll(Some(Duration::from_secs(10))).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            child.wait_timeout(Duration::ZERO).is_none(),
            "the writer must be blocked"
        );
        child.kill();
        assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
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

    /// `wait` over a connection and a process descriptor: the child exits without
    /// sending, so only its `pidfd` (a sentinel) becomes ready; then a message makes the
    /// connection ready.
    fn wait_on_connection_and_pidfd() {
        let (mut a, b) = Pipe(true).unwrap();
        let child = fork(|| {
            std::thread::sleep(Duration::from_millis(20));
            0
        });
        // SAFETY: a plain system call; the result is checked.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid(), 0) } as RawFd;
        assert!(raw >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let objects: [&dyn Waitable; 2] = [&b, &pidfd];
        assert!(wait(&objects, Some(Duration::ZERO)).unwrap().is_empty());
        let ready = wait(&objects, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.len(), 1);
        assert!(std::ptr::addr_eq(ready[0], &pidfd));
        assert_eq!(child.wait(), Exit::Code(0));
        a.send_bytes(b"now").unwrap();
        assert_eq!(wait(&objects, None).unwrap().len(), 2);
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
                let target = bound.clone();
                let child = fork(move || match Client(target, Some(key)) {
                    Ok(mut c) => {
                        c.send(&format!("hello from {}", std::process::id()))
                            .unwrap();
                        i32::from(c.recv::<String>().unwrap() != "welcome")
                    }
                    Err(ConnectionError::Authentication(_)) => 3,
                    Err(e) => panic!("{e}"),
                });
                let pid = child.pid();
                match listener.accept() {
                    Ok(mut c) => {
                        assert_eq!(key, b"right");
                        assert_eq!(c.recv::<String>().unwrap(), format!("hello from {pid}"));
                        c.send(&"welcome").unwrap();
                        assert_eq!(child.wait(), Exit::Code(0));
                    }
                    Err(ConnectionError::Authentication(e)) => {
                        assert_eq!(key, b"wrong");
                        assert_eq!(e.message(), "digest received was wrong");
                        assert_eq!(child.wait(), Exit::Code(3));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }

    /// 1 MiB messages both ways, checked byte for byte.
    fn big_messages_across_processes() {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let (bytes, table) = hand_over(&theirs);
        let ours_fd = ours.fileno().unwrap();
        let child = fork(|| {
            close_in_child(ours_fd);
            let mut c: Connection = take_over(&bytes, &table);
            while let Ok(mut m) = c.recv_bytes() {
                m.reverse();
                c.send_bytes(&m).unwrap();
            }
            0
        });
        drop(theirs);
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
        assert_eq!(child.wait(), Exit::Code(0));
    }
}
