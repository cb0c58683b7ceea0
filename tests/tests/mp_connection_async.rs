//! The async forms of `conkit::multiprocessing::Connection` (issue #14,
//! `connection::asynch`): a tokio task in the parent awaits messages that a CHILD
//! process (or a thread of a child) sends — the writer's wake-up cannot call this
//! process's wakers; the connection's proxy waiter must bridge it. Each scenario runs
//! over a `Pipe` (messages in the shared-memory ring) and over a `Listener`/`Client`
//! socket connection: messages from a child and from a child's thread, 1 000 messages
//! counted in order, `send_async` into a full ring, cancellation (a dropped pending
//! `recv_async` — also one dropped with half a frame read ahead — loses nothing: the
//! next receive gets the message), the end of file after the child exits, and a
//! `SIGKILL`ed writer (in the middle of a stream into the ring; in the middle of a
//! frame on the socket): the awaiting task gets `Eof` / `Truncated`, never hangs;
//! `wait_async` over several ends; a `python3` client's messages awaited.
//! Every await has a deadline; every scenario runs once per start method, each in a
//! child under a watchdog (`harness = false`, see `conkit_tests::mp`).

#[cfg(target_os = "linux")]
fn main() {
    // A `spawn` child is this binary re-executed: it runs its target here and exits.
    conkit::multiprocessing::init();
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod linux {
    use std::future::Future;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::connection::{
        wait_async, Address, Client, Connection, ConnectionError, Listener,
    };
    use conkit::multiprocessing::{Event, Pipe, Process};
    use conkit_tests::mp::{kill, reap, run_under_every_method, start};

    /// The longest any await may take.
    const LIMIT: Duration = Duration::from_secs(20);

    /// How long a woken await may take at most (the proxy's slice is 100 ms; the rest
    /// is slack for a loaded machine).
    const PROMPT: Duration = Duration::from_secs(5);

    /// How long a child waits before it sends (so the task is parked).
    const LATER: Duration = Duration::from_millis(100);

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    /// Awaits `f`, which must complete within [`PROMPT`], abandoned after [`LIMIT`].
    async fn within<F: Future>(what: &str, f: F) -> F::Output {
        let start = Instant::now();
        let Ok(v) = tokio::time::timeout(LIMIT, f).await else {
            panic!("{what}: not woken within {LIMIT:?}");
        };
        let took = start.elapsed();
        assert!(took < PROMPT, "{what}: woken only after {took:?}");
        v
    }

    /// The child's end: a `Pipe` end, or the address of the parent's `Listener`.
    type End = (Option<Connection>, Option<Address>);

    fn open(end: End) -> Connection {
        match end {
            (Some(c), _) => c,
            (None, Some(a)) => Client(a, None).expect("connect"),
            (None, None) => panic!("no end"),
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Pipe,
        Socket,
    }

    const KINDS: [Kind; 2] = [Kind::Pipe, Kind::Socket];

    /// Starts `target((end, args))` with the child's end of a fresh channel of `kind`
    /// and returns the parent's end (the parent keeps no copy of the child's end, so
    /// the child's exit is the end of file).
    fn with_child<A>(kind: Kind, target: fn((End, A)), args: A) -> (Connection, Process)
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        match kind {
            Kind::Pipe => {
                let (ours, theirs) = Pipe(true).unwrap();
                let child = start(target, ((Some(theirs), None), args));
                (ours, child)
            }
            Kind::Socket => {
                static N: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "\0conkit-conn-async-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                );
                let mut listener = Listener::bind(name.as_str(), None).unwrap();
                let child = start(target, ((None, Some(listener.address().clone())), args));
                (listener.accept().unwrap(), child)
            }
        }
    }

    fn send_two_later((end, done): (End, Event)) {
        let mut c = open(end);
        std::thread::sleep(LATER);
        c.send(&"a".to_string()).unwrap();
        std::thread::sleep(LATER);
        c.send_bytes(b"b").unwrap();
        // The end stays open until the parent has both (the end of file would wake it).
        assert!(done.wait_timeout(LIMIT));
    }

    /// A task awaits two messages a child sends later, then the end of file when it
    /// exits (the same typed error as `recv`).
    fn messages_from_child() {
        for kind in KINDS {
            let done = Event::new();
            let (mut c, child) = with_child(kind, send_two_later, done.clone());
            block_on(async {
                let a: String = within("first", c.recv_async()).await.unwrap();
                assert_eq!(a, "a");
                assert_eq!(within("second", c.recv_bytes_async()).await.unwrap(), b"b");
                done.set();
                let eof = within("eof", c.recv_bytes_async()).await.unwrap_err();
                assert!(eof.is_eof(), "{kind:?}: {eof:?}");
            });
            reap(vec![child]);
        }
    }

    fn send_from_thread((end, done): (End, Event)) {
        let mut c = open(end);
        let _c = std::thread::spawn(move || {
            for i in 0..3u32 {
                std::thread::sleep(LATER);
                c.send(&i).unwrap();
            }
            c // kept open (its end of file would wake the parent)
        })
        .join()
        .unwrap();
        assert!(done.wait_timeout(LIMIT));
    }

    /// The same with the messages sent by a thread of the child; `poll_async` too.
    fn messages_from_child_thread() {
        for kind in KINDS {
            let done = Event::new();
            let (mut c, child) = with_child(kind, send_from_thread, done.clone());
            block_on(async {
                assert!(!c.poll_async(Some(Duration::from_millis(20))).await.unwrap());
                assert!(within("poll", c.poll_async(None)).await.unwrap());
                for i in 0..3u32 {
                    assert_eq!(
                        within("from thread", c.recv_async::<u32>()).await.unwrap(),
                        i
                    );
                }
            });
            done.set();
            reap(vec![child]);
        }
    }

    fn send_thousand((end, (n, done)): (End, (u32, Event))) {
        let mut c = open(end);
        for i in 0..n {
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            c.send(&i).unwrap();
        }
        assert!(done.wait_timeout(LIMIT));
    }

    /// 1 000 messages counted in order (with pauses, so the task parks between them).
    fn thousand_in_order() {
        for kind in KINDS {
            let done = Event::new();
            let (mut c, child) = with_child(kind, send_thousand, (1000, done.clone()));
            block_on(async {
                for i in 0..1000u32 {
                    assert_eq!(within("in order", c.recv_async::<u32>()).await.unwrap(), i);
                }
                done.set();
                assert!(within("eof", c.recv_async::<u32>())
                    .await
                    .unwrap_err()
                    .is_eof());
            });
            reap(vec![child]);
        }
    }

    fn send_async_many((end, (n, done)): (End, (u32, Event))) {
        let mut c = open(end);
        block_on(async {
            for i in 0..n {
                within("send_async", c.send_async(&(i, [7u8; 24])))
                    .await
                    .unwrap();
            }
        });
        assert!(done.wait_timeout(LIMIT));
    }

    /// The child's task sends 20 000 messages with `send_async` (about 650 KB: the
    /// 64 KiB ring fills and its task parks for room) to the parent's task, which
    /// starts late; both sides async, all in order.
    fn send_async_full_ring() {
        for kind in KINDS {
            let done = Event::new();
            let (mut c, child) = with_child(kind, send_async_many, (20_000, done.clone()));
            std::thread::sleep(Duration::from_millis(200));
            block_on(async {
                for i in 0..20_000u32 {
                    let (j, pad): (u32, [u8; 24]) =
                        within("full ring", c.recv_async()).await.unwrap();
                    assert_eq!((j, pad), (i, [7u8; 24]));
                }
            });
            done.set();
            reap(vec![child]);
        }
    }

    /// Waits for `go`, sends "only" (on a socket first half of the frame, then after
    /// `rest` the other half); holds the end until `done`.
    fn send_on_signal((end, (go, rest, done, partial)): (End, (Event, Event, Event, bool))) {
        let mut c = open(end);
        assert!(go.wait_timeout(LIMIT));
        if partial {
            // "only" as a raw frame: a 4-byte length then the body, in two writes.
            let fd = c.fileno().unwrap();
            let mut frame = 5u32.to_be_bytes().to_vec();
            frame.extend_from_slice(&[4, b'o', b'n', b'l', b'y'][..]);
            raw_write(fd, &frame[..7]);
            assert!(rest.wait_timeout(LIMIT));
            raw_write(fd, &frame[7..]);
        } else {
            c.send(&"only".to_string()).unwrap();
        }
        assert!(done.wait_timeout(LIMIT));
    }

    fn raw_write(fd: i32, b: &[u8]) {
        // SAFETY: a write of an initialised slice to an open descriptor.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        assert_eq!(n, b.len() as isize);
    }

    /// A pending `recv_async` is dropped (timed out); then the child sends one message:
    /// the next receive gets it. On the socket, a second future is dropped with half of
    /// the frame already read ahead into the connection: the next receive still gets
    /// the whole message.
    fn cancellation() {
        for kind in KINDS {
            let partial = matches!(kind, Kind::Socket);
            let (go, rest, done) = (Event::new(), Event::new(), Event::new());
            let (mut c, child) = with_child(
                kind,
                send_on_signal,
                (go.clone(), rest.clone(), done.clone(), partial),
            );
            block_on(async {
                let dropped =
                    tokio::time::timeout(Duration::from_millis(50), c.recv_async::<String>()).await;
                assert!(dropped.is_err(), "nothing was sent yet");
                go.set();
                if partial {
                    tokio::time::sleep(LATER).await;
                    let dropped =
                        tokio::time::timeout(Duration::from_millis(50), c.recv_async::<String>())
                            .await;
                    assert!(dropped.is_err(), "half a frame is not a message");
                    rest.set();
                }
                let got: String = within("after cancel", c.recv_async()).await.unwrap();
                assert_eq!(got, "only");
            });
            done.set();
            reap(vec![child]);
        }
    }

    fn stream_forever((end, ready): (End, Event)) {
        let mut c = open(end);
        let mut i = 0u64;
        loop {
            c.send(&(i, [i as u8; 24])).unwrap();
            if i == 100 {
                ready.set();
            }
            i += 1;
        }
    }

    fn half_frame_then_sleep((end, ready): (End, Event)) {
        let c = open(end);
        raw_write(c.fileno().unwrap(), &[0, 0, 0, 100, 1, 2, 3]);
        ready.set();
        std::thread::sleep(LIMIT * 2);
    }

    /// The writer is `SIGKILL`ed: in the middle of a stream (Pipe: every message taken
    /// afterwards is whole and in order, then `Eof`) or in the middle of a frame
    /// (socket: the awaiting task gets `Truncated`). Neither hangs the task.
    fn writer_killed() {
        for kind in KINDS {
            let ready = Event::new();
            let (mut c, child) = with_child(kind, stream_forever, ready.clone());
            assert!(ready.wait_timeout(LIMIT));
            block_on(async {
                let mut next = 0u64;
                for _ in 0..50 {
                    let (i, pad): (u64, [u8; 24]) = within("stream", c.recv_async()).await.unwrap();
                    assert_eq!((i, pad), (next, [next as u8; 24]));
                    next += 1;
                }
                let killer = std::thread::spawn(move || kill(child));
                loop {
                    match within("after kill", c.recv_async::<(u64, [u8; 24])>()).await {
                        Ok((i, pad)) => {
                            assert_eq!((i, pad), (next, [next as u8; 24]), "{kind:?}");
                            next += 1;
                        }
                        Err(e) if e.is_eof() => break,
                        // A socket writer killed inside a frame.
                        Err(ConnectionError::Truncated { .. }) if matches!(kind, Kind::Socket) => {
                            break
                        }
                        Err(e) => panic!("{kind:?}: {e:?}"),
                    }
                }
                assert_eq!(killer.join().unwrap(), -9);
            });
        }
        let ready = Event::new();
        let (mut c, child) = with_child(Kind::Socket, half_frame_then_sleep, ready.clone());
        assert!(ready.wait_timeout(LIMIT));
        block_on(async {
            let killer = std::thread::spawn(move || {
                std::thread::sleep(LATER);
                kill(child)
            });
            let e = within("killed mid-frame", c.recv_bytes_async())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    ConnectionError::Truncated {
                        expected: 100,
                        received: 3
                    }
                ),
                "{e:?}"
            );
            assert_eq!(killer.join().unwrap(), -9);
        });
    }

    fn send_one_later((end, (send, done)): (End, (bool, Event))) {
        let mut c = open(end);
        if send {
            std::thread::sleep(LATER);
            c.send(&"me".to_string()).unwrap();
        }
        assert!(done.wait_timeout(LIMIT));
    }

    /// `wait_async` over three ends (a pipe, a socket, a pipe) of three children, of
    /// which one sends (each in turn): the task is woken with exactly that end;
    /// once the message is taken, a timed `wait_async` returns none.
    fn wait_async_on_several() {
        for sender in 0..3 {
            let done = Event::new();
            let mut ends = Vec::new();
            let mut children = Vec::new();
            for (i, kind) in [Kind::Pipe, Kind::Socket, Kind::Pipe]
                .into_iter()
                .enumerate()
            {
                let (c, child) = with_child(kind, send_one_later, (i == sender, done.clone()));
                ends.push(c);
                children.push(child);
            }
            block_on(async {
                let all: Vec<&Connection> = ends.iter().collect();
                let ready = within("wait_async", wait_async(&all, None)).await.unwrap();
                assert_eq!(ready.len(), 1);
                assert!(std::ptr::eq(ready[0], all[sender]));
            });
            let got: String = ends[sender].recv().unwrap();
            assert_eq!(got, "me");
            block_on(async {
                let all: Vec<&Connection> = ends.iter().collect();
                let none = wait_async(&all, Some(Duration::from_millis(30))).await;
                assert!(none.unwrap().is_empty());
            });
            done.set();
            reap(children);
        }
    }

    /// A `python3` client (CPython's `multiprocessing.connection.Client`, with an
    /// authkey) sends three messages 100 ms apart to our listener's connection, where a
    /// task awaits them; the task's `send_bytes_async` answers; then the end of file.
    /// Skipped (with a note) when no `python3` with `multiprocessing` is installed.
    fn python_client() {
        const SCRIPT: &str = r#"
import sys, time
from multiprocessing.connection import Client
c = Client(("127.0.0.1", int(sys.argv[1])), authkey=b"conn-async")
for i in range(3):
    time.sleep(0.1)
    c.send_bytes(b"py%d" % i)
assert c.recv_bytes() == b"ack"
c.close()
"#;
        let have_python = std::process::Command::new("python3")
            .args(["-c", "import multiprocessing.connection"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_python {
            eprintln!("python3 with multiprocessing not found: skipped");
            return;
        }
        let mut listener = Listener::bind("127.0.0.1:0", Some(b"conn-async")).unwrap();
        listener.set_handshake_timeout(Some(LIMIT));
        let Address::Inet { port, .. } = listener.address().clone() else {
            panic!("not an inet address");
        };
        let mut py = std::process::Command::new("python3")
            .args(["-c", SCRIPT, &port.to_string()])
            .spawn()
            .expect("python3");
        let mut c = listener.accept().unwrap();
        block_on(async {
            for i in 0..3 {
                let m = within("from python", c.recv_bytes_async()).await.unwrap();
                assert_eq!(m, format!("py{i}").as_bytes());
            }
            within("ack", c.send_bytes_async(b"ack")).await.unwrap();
            assert!(within("eof", c.recv_bytes_async())
                .await
                .unwrap_err()
                .is_eof());
        });
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = py.try_wait().unwrap() {
                assert!(status.success(), "python3: {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = py.kill();
                let _ = py.wait();
                panic!("python3 still running after {LIMIT:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn main() {
        let scenarios: &[(&str, fn())] = &[
            ("messages_from_child", messages_from_child),
            ("messages_from_child_thread", messages_from_child_thread),
            ("thousand_in_order", thousand_in_order),
            ("send_async_full_ring", send_async_full_ring),
            ("cancellation", cancellation),
            ("writer_killed", writer_killed),
            ("wait_async_on_several", wait_async_on_several),
            ("python_client", python_client),
        ];
        run_under_every_method(scenarios, Duration::from_secs(60));
    }
}
