//! `conkit::multiprocessing::{Queue, JoinableQueue, SimpleQueue}` between real
//! processes: the queue travels to each child as a serialised argument (its `memfd`
//! through `inherit`), items are counted and checked (none lost, none duplicated),
//! producers are `SIGKILL`ed in the middle of their puts, and every wait has a deadline.
//! Every scenario runs twice: children made with `fork`, then children that are fresh
//! `exec`s of this binary (as the `spawn` start method makes them: the queue is mapped
//! again from the descriptor left open across `exec`, at another address).
//! (`harness = false`: each scenario runs in a child of its own under a watchdog, see
//! `conkit_tests::process`.)

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::BorrowedFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::heap::Mapping;
    use conkit::multiprocessing::{
        codec, inherit, Empty, GetError, JoinableQueue, PutError, Queue, SimpleQueue, TaskDoneError,
    };
    use conkit_tests::process::{fork, run_scenarios, Exit};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// The longest a child may take; the scenario's watchdog is the last resort.
    const CHILD_LIMIT: Duration = Duration::from_secs(30);

    /// How [`start`] makes a child: `fork` (the child inherits the parent's memory and
    /// descriptors), or `exec` (a fresh run of this binary, as the `spawn` start method
    /// does: it maps the queue again from the descriptor, at another address).
    static EXEC: AtomicBool = AtomicBool::new(false);

    /// The environment variable that makes this binary run one child target (the
    /// `exec` start): `TRAMPOLINE,TARGET;HEX_ARGS;FD,FD,…`, the two functions as
    /// offsets from [`anchor`] (the same binary, loaded elsewhere).
    const CHILD_ENV: &str = "CONKIT_MP_QUEUE_TEST_CHILD";

    /// The reference point of the function offsets.
    fn anchor() {}

    /// Decodes the arguments as `B` and runs the target at offset `target`.
    fn trampoline<B: DeserializeOwned>(target: usize, bytes: &[u8]) -> i32 {
        let f = (anchor as fn() as usize).wrapping_add(target);
        // SAFETY: `target` is the offset from `anchor` of a `fn(B) -> i32` of this same
        // binary, computed by the parent with this very `B` (see `start_as`).
        let f: fn(B) -> i32 = unsafe { std::mem::transmute::<usize, fn(B) -> i32>(f) };
        let args: B = codec::from_bytes(bytes).expect("arguments deserialise");
        inherit::clear();
        f(args)
    }

    /// In an `exec`ed child: runs its target and exits. Returns in any other process.
    pub fn child_main() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let mut parts = spec.split(';');
        let (funcs, hex, fds) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let mut funcs = funcs
            .split(',')
            .map(|x| x.parse::<usize>().expect("offset"));
        let (tramp, target) = (funcs.next().unwrap(), funcs.next().unwrap());
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let fds: Vec<i32> = fds
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().expect("fd"))
            .collect();
        // SAFETY: descriptors the parent left open across `exec` for us; nothing else in
        // this fresh process owns them.
        unsafe { inherit::install_raw(&fds) };
        let t = (anchor as fn() as usize).wrapping_add(tramp);
        // SAFETY: the offset of a `trampoline::<B>` of this binary (see `start_as`).
        let t: fn(usize, &[u8]) -> i32 =
            unsafe { std::mem::transmute::<usize, fn(usize, &[u8]) -> i32>(t) };
        std::process::exit(t(target, &bytes));
    }

    /// A child made by [`start`].
    enum Child {
        Forked(conkit_tests::process::Child),
        Execed(std::process::Child),
    }

    impl Child {
        fn pid(&self) -> i32 {
            match self {
                Self::Forked(c) => c.pid(),
                Self::Execed(c) => c.id() as i32,
            }
        }

        fn kill(&self) {
            // SAFETY: our own child, not yet reaped (so the pid is not reused).
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
        }

        fn wait(mut self) -> Exit {
            self.wait_timeout(Duration::from_secs(3600))
                .expect("child ended")
        }

        fn wait_timeout(&mut self, timeout: Duration) -> Option<Exit> {
            match self {
                Self::Forked(c) => c.wait_timeout(timeout),
                Self::Execed(c) => {
                    use std::os::unix::process::ExitStatusExt;
                    let deadline = Instant::now() + timeout;
                    loop {
                        if let Some(st) = c.try_wait().expect("wait") {
                            return Some(match st.signal() {
                                Some(sig) => Exit::Signal(sig),
                                None => Exit::Code(st.code().unwrap_or(-1)),
                            });
                        }
                        if Instant::now() >= deadline {
                            return None;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            if let Self::Execed(c) = self {
                if c.try_wait().ok().flatten().is_none() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
    }

    /// Starts `f(args)` in a child process the way a `Process` does: `args` is
    /// serialised in the parent inside `inherit::collect`, the descriptors reach the
    /// child (`fork`: inherited, the child installs duplicates; `exec`: left open
    /// across `exec`), and the child deserialises its own copy of the arguments
    /// (attaching to the mappings).
    fn start<A: Serialize + DeserializeOwned>(f: fn(A) -> i32, args: A) -> Child {
        start_as(f, args)
    }

    /// [`start`], the child deserialising the arguments as another type `B`.
    fn start_as<A: Serialize, B: DeserializeOwned>(f: fn(B) -> i32, args: A) -> Child {
        let (bytes, fds) = inherit::collect(|| codec::to_bytes(&args));
        let bytes = bytes.expect("arguments serialise");
        if EXEC.load(Ordering::Relaxed) {
            use std::os::unix::process::CommandExt;
            let base = anchor as fn() as usize;
            let tramp = (trampoline::<B> as fn(usize, &[u8]) -> i32 as usize).wrapping_sub(base);
            let target = (f as usize).wrapping_sub(base);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let list: Vec<String> = fds.iter().map(|fd| fd.to_string()).collect();
            let mut cmd = std::process::Command::new("/proc/self/exe");
            cmd.env(
                CHILD_ENV,
                format!("{tramp},{target};{hex};{}", list.join(",")),
            );
            let keep = fds.clone();
            // SAFETY: only `fcntl` (async-signal-safe) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    for &fd in &keep {
                        if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                })
            };
            let child = cmd.spawn().expect("exec the test binary");
            drop(args);
            return Child::Execed(child);
        }
        let child = fork(move || {
            let owned = fds
                .iter()
                .map(|&fd| {
                    // SAFETY: inherited open descriptors; the duplicate is owned here.
                    unsafe { BorrowedFd::borrow_raw(fd) }
                        .try_clone_to_owned()
                        .expect("dup")
                })
                .collect();
            inherit::install(owned);
            let args: B = codec::from_bytes(&bytes).expect("arguments deserialise");
            inherit::clear();
            f(args)
        });
        drop(args);
        Child::Forked(child)
    }

    fn reap(children: Vec<Child>) {
        let deadline = Instant::now() + CHILD_LIMIT;
        for mut c in children {
            assert_eq!(
                c.wait_timeout(deadline.saturating_duration_since(Instant::now())),
                Some(Exit::Code(0)),
                "child {}",
                c.pid()
            );
        }
    }

    /// Counters shared with the children, one byte per item: how often it arrived.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Seen(Mapping);

    impl Seen {
        fn new(n: usize) -> Self {
            Self(Mapping::anonymous("seen", n).unwrap())
        }
        fn slots(&self) -> &[AtomicU8] {
            // SAFETY: the mapping holds `len` zero-initialised bytes, alive with `self`
            // (a child maps it again from the descriptor it received); `AtomicU8` has
            // the layout of `u8`.
            unsafe {
                std::slice::from_raw_parts(
                    self.0.as_ptr().as_ptr().cast::<AtomicU8>(),
                    self.0.len(),
                )
            }
        }
    }

    /// `Some((producer, i))`, or `None`: stop.
    type Items = Queue<Option<(u64, u64)>>;

    impl Seen {
        /// The first 8 bytes as one counter.
        fn counter(&self) -> &AtomicU64 {
            assert!(self.0.len() >= 8);
            // SAFETY: 8 zero-initialised bytes at the page-aligned start of the
            // mapping, alive with `self`; `AtomicU64` has the layout of `u64`.
            unsafe { &*self.0.as_ptr().as_ptr().cast::<AtomicU64>() }
        }
    }

    const PRODUCERS: u64 = 3;
    const CONSUMERS: u64 = 3;
    const ITEMS: u64 = 20_000;

    /// Producer `p` puts `(p, i)` for every `i < ITEMS`.
    fn produce((q, p): (Items, u64)) -> i32 {
        for i in 0..ITEMS {
            q.put(Some((p, i))).unwrap();
        }
        0
    }

    /// N producer processes × M items to N consumer processes through a small ring
    /// (64 KiB: producers wait for bytes again and again): every item arrives exactly
    /// once, each producer's items in order at each consumer, and the sums match.
    fn many_to_many() {
        let q: Items = Queue::with_capacity(0, 1 << 16).unwrap();
        let sums: Queue<(u64, u64)> = Queue::new(0).unwrap();
        let consumers: Vec<Child> = (0..CONSUMERS)
            .map(|_| {
                start(
                    |(q, sums): (Items, Queue<(u64, u64)>)| {
                        let (mut n, mut sum) = (0u64, 0u64);
                        let mut last = [None::<u64>; PRODUCERS as usize];
                        while let Some((p, i)) = q.get().unwrap() {
                            // FIFO per producer as seen by one consumer.
                            if let Some(prev) = last[p as usize] {
                                assert!(i > prev, "producer {p}: {i} after {prev}");
                            }
                            last[p as usize] = Some(i);
                            n += 1;
                            sum += p * ITEMS + i;
                        }
                        sums.put((n, sum)).unwrap();
                        0
                    },
                    (q.clone(), sums.clone()),
                )
            })
            .collect();
        let producers: Vec<Child> = (0..PRODUCERS)
            .map(|p| start(produce, (q.clone(), p)))
            .collect();
        reap(producers);
        for _ in 0..CONSUMERS {
            q.put(None).unwrap();
        }
        reap(consumers);
        let (mut n, mut sum) = (0, 0);
        for _ in 0..CONSUMERS {
            let (cn, cs) = sums.get_timeout(CHILD_LIMIT).unwrap();
            n += cn;
            sum += cs;
        }
        let total = PRODUCERS * ITEMS;
        assert_eq!(n, total);
        assert_eq!(sum, total * (total - 1) / 2);
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
    }

    /// Same, counting each item in shared memory: none lost, none duplicated.
    fn many_to_many_exactly_once() {
        let q: Items = Queue::with_capacity(0, 1 << 16).unwrap();
        let seen = Seen::new((PRODUCERS * ITEMS) as usize);
        let consumers: Vec<Child> = (0..CONSUMERS)
            .map(|_| {
                start_as(
                    |(q, seen): (Items, Seen)| {
                        let slots = seen.slots();
                        while let Some((p, i)) = q.get().unwrap() {
                            slots[(p * ITEMS + i) as usize].fetch_add(1, Ordering::Relaxed);
                        }
                        0
                    },
                    (q.clone(), &seen),
                )
            })
            .collect();
        let producers: Vec<Child> = (0..PRODUCERS)
            .map(|p| start(produce, (q.clone(), p)))
            .collect();
        reap(producers);
        for _ in 0..CONSUMERS {
            q.put(None).unwrap();
        }
        reap(consumers);
        let wrong: Vec<usize> = seen
            .slots()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.load(Ordering::Relaxed) != 1)
            .map(|(i, _)| i)
            .collect();
        assert!(
            wrong.is_empty(),
            "{} items not seen exactly once: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }

    const EXIT_ITEMS: u64 = 100_000;

    /// A child that exits (`std::process::exit`) right after putting 100 000 items:
    /// all of them arrive. The ring (4 MiB) holds them all, so the parent reads only
    /// after the child is gone.
    fn exit_right_after_put() {
        let q: Queue<u64> = Queue::with_capacity(0, 4 << 20).unwrap();
        let child = start(
            |q: Queue<u64>| {
                for i in 0..EXIT_ITEMS {
                    q.put(i).unwrap();
                }
                std::process::exit(0)
            },
            q.clone(),
        );
        reap(vec![child]);
        assert_eq!(q.qsize(), EXIT_ITEMS as usize);
        for i in 0..EXIT_ITEMS {
            assert_eq!(q.get_nowait(), Ok(i));
        }
        assert!(q.empty());
        assert_eq!(q.get_nowait(), Err(Empty));
    }

    /// The same through a ring far smaller than the items (64 KiB): the child's puts
    /// wait for the parent's gets; it exits (`_exit`, no unwinding, no destructors)
    /// right after the last put, and all items arrive.
    fn exit_right_after_put_small_ring() {
        let q: Queue<u64> = Queue::with_capacity(0, 1 << 16).unwrap();
        let child = start(
            |q: Queue<u64>| {
                for i in 0..EXIT_ITEMS {
                    q.put(i).unwrap();
                }
                // SAFETY: ends the process at once.
                unsafe { libc::_exit(0) }
            },
            q.clone(),
        );
        for i in 0..EXIT_ITEMS {
            assert_eq!(q.get_timeout(CHILD_LIMIT), Ok(i));
        }
        reap(vec![child]);
        assert!(q.empty());
    }

    /// A producer `SIGKILL`ed in the middle of its puts, 30 times: nobody hangs, the
    /// items that arrived are exactly `0, 1, …, k` (none torn, none duplicated, at most
    /// the one being put when killed is lost), the producers' lock is taken over, the
    /// count is repaired by the next put, and the queue keeps working.
    fn producer_killed_mid_put() {
        // 4 MiB: the child does not fill it before it is killed, so the kill lands in
        // the middle of its put loop (half of which runs under the producers' lock).
        let q: Queue<(u64, Vec<u8>)> = Queue::with_capacity(0, 4 << 20).unwrap();
        let mut next = 0u64;
        for round in 0..30u64 {
            let child = start(
                |(q, from): (Queue<(u64, Vec<u8>)>, u64)| {
                    // Items of varying size, so kills land in copies and paddings.
                    for i in from.. {
                        q.put((i, vec![i as u8; (i % 200) as usize])).unwrap();
                    }
                    0
                },
                (q.clone(), next),
            );
            // Let it run for a while (reading some), then kill it.
            let reads = 50 + round * 37 % 400;
            for _ in 0..reads {
                let (i, v) = q.get_timeout(CHILD_LIMIT).unwrap();
                assert_eq!(i, next);
                assert_eq!(v, vec![i as u8; (i % 200) as usize]);
                next += 1;
            }
            std::thread::sleep(Duration::from_micros(round % 10 * 150));
            child.kill();
            assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
            // Everything published arrives, in order, whole.
            while let Ok((i, v)) = q.get_nowait() {
                assert_eq!(i, next, "round {round}");
                assert_eq!(v, vec![i as u8; (i % 200) as usize]);
                next += 1;
            }
            assert!(q.empty());
            // A put now must take the producers' lock over (its holder may be dead)
            // and repair the count: one item queued, exactly.
            let marker = u64::MAX - round;
            q.put_timeout((marker, Vec::new()), Duration::from_secs(10))
                .unwrap();
            assert_eq!(q.qsize(), 1, "round {round}");
            assert_eq!(q.get_nowait(), Ok((marker, Vec::new())));
            assert!(q.empty());
            assert_eq!(q.qsize(), 0);
        }
        assert!(next > 30 * 50);
    }

    /// A consumer `SIGKILL`ed in the middle of its gets: nobody hangs, the consumers'
    /// lock is taken over, and every item is either counted by the dead consumer or
    /// still in the queue (at most the one it was taking is lost).
    fn consumer_killed_mid_get() {
        const N: u64 = 50_000;
        let q: Queue<u64> = Queue::with_capacity(0, 4 << 20).unwrap();
        for i in 0..N {
            q.put(i).unwrap();
        }
        let taken = Seen::new(8);
        let child = start_as(
            |(q, taken): (Queue<u64>, Seen)| {
                while q.get().is_ok() {
                    taken.counter().fetch_add(1, Ordering::Relaxed);
                }
                0
            },
            (q.clone(), &taken),
        );
        std::thread::sleep(Duration::from_millis(3));
        child.kill();
        assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
        let counted = taken.counter().load(Ordering::Relaxed);
        let mut left = 0u64;
        let mut first = None;
        while let Ok(i) = q.get_timeout(Duration::from_millis(100)) {
            first.get_or_insert(i);
            left += 1;
        }
        assert!(
            counted + left == N || counted + left + 1 == N,
            "counted {counted} + left {left} vs {N}"
        );
        // In order: what is left starts where the dead consumer stopped.
        if let Some(f) = first {
            assert!(
                f == counted || f == counted + 1,
                "first left {f}, counted {counted}"
            );
        }
        q.put(7).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(5)), Ok(7));
    }

    /// Timeouts are honoured, within a process and across processes, and a waiting
    /// `get` in one process is woken by a `put` in another.
    fn timeouts() {
        let q: Queue<u32> = Queue::new(1).unwrap();
        let t = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(50)),
            Err(GetError::Empty)
        );
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(50) && e < Duration::from_secs(5),
            "{e:?}"
        );
        q.put(1).unwrap();
        let t = Instant::now();
        assert_eq!(
            q.put_timeout(2, Duration::from_millis(50)),
            Err(PutError::Full(2))
        );
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(50) && e < Duration::from_secs(5),
            "{e:?}"
        );
        assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
        assert_eq!(q.get_nowait(), Ok(1));
        // Across processes: the child waits up to 10 s, the parent puts after 100 ms.
        let child = start(
            |q: Queue<u32>| {
                let t = Instant::now();
                let v = q.get_timeout(Duration::from_secs(10));
                assert_eq!(v, Ok(42));
                assert!(t.elapsed() >= Duration::from_millis(50));
                // And a full queue makes a put in the child time out.
                q.put(1).unwrap();
                let t = Instant::now();
                assert!(q
                    .put_timeout(2, Duration::from_millis(100))
                    .unwrap_err()
                    .is_full());
                assert!(t.elapsed() >= Duration::from_millis(100));
                0
            },
            q.clone(),
        );
        std::thread::sleep(Duration::from_millis(100));
        q.put(42).unwrap();
        reap(vec![child]);
        assert_eq!(q.get_nowait(), Ok(1));
    }

    /// `qsize` and `empty` are exact as seen from another process.
    fn counts_exact() {
        let q: Queue<String> = Queue::new(0).unwrap();
        for i in 0..1000 {
            q.put(format!("item {i}")).unwrap();
        }
        let child = start(
            |q: Queue<String>| {
                assert_eq!(q.qsize(), 1000);
                assert!(!q.empty());
                for i in 0..1000 {
                    assert_eq!(q.qsize(), 1000 - i);
                    assert_eq!(q.get_nowait().unwrap(), format!("item {i}"));
                }
                assert_eq!(q.qsize(), 0);
                assert!(q.empty());
                0
            },
            q.clone(),
        );
        reap(vec![child]);
        assert_eq!(q.qsize(), 0);
        assert!(q.empty());
        assert_eq!(q.get_nowait(), Err(Empty));
    }

    /// `JoinableQueue::join` in the parent waits for `task_done` calls made in two
    /// consumer processes (which then loop forever, as daemon consumers, and are
    /// killed).
    fn joinable_join_across_processes() {
        let q: JoinableQueue<u64> = JoinableQueue::new(0).unwrap();
        let consumers: Vec<Child> = (0..2)
            .map(|_| {
                start(
                    |q: JoinableQueue<u64>| loop {
                        let _ = q.get().unwrap();
                        std::thread::sleep(Duration::from_micros(20));
                        q.task_done().unwrap();
                    },
                    q.clone(),
                )
            })
            .collect();
        for i in 0..2000 {
            q.put(i).unwrap();
        }
        assert!(q.join_timeout(CHILD_LIMIT), "join timed out");
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.empty());
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
        // Again, a second batch.
        for i in 0..500 {
            q.put(i).unwrap();
        }
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        for c in consumers {
            c.kill();
            assert_eq!(c.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    /// Items that cannot be encoded or are too large are typed errors at the caller,
    /// an item of another type is a typed error at the getter, and the queue carries
    /// on each time.
    fn bad_items() {
        let q: Queue<Vec<u8>> = Queue::with_capacity(0, 4096).unwrap();
        let big = vec![1u8; 5000];
        match q.put(big) {
            Err(PutError::TooLarge { item, len, max }) => {
                assert_eq!(item.len(), 5000);
                assert!(len > max);
                assert_eq!(max, q.max_item_len());
            }
            other => panic!("{other:?}"),
        }
        // A mapping serialises only as a child's argument.
        let mq: Queue<Mapping> = Queue::new(0).unwrap();
        let m = Mapping::anonymous("x", 1).unwrap();
        assert!(matches!(mq.put(m), Err(PutError::Encode { .. })));
        assert!(mq.empty());
        // Another process reads the queue as another type: a decode error, and the
        // next item is fine.
        q.put(vec![0xff, 0xfe]).unwrap();
        q.put(b"ok".to_vec()).unwrap();
        // The same mapping, attached as a queue of strings.
        let child = start_as(
            |q: Queue<String>| {
                assert!(matches!(q.get_nowait(), Err(GetError::Decode(_))));
                assert_eq!(q.get_nowait(), Ok("ok".to_string()));
                0
            },
            q.clone(),
        );
        reap(vec![child]);
        q.put(vec![1]).unwrap();
        assert_eq!(q.get_nowait(), Ok(vec![1]));
    }

    /// `SimpleQueue` across processes, and `close` affects only the closing process.
    fn simple_queue_and_close() {
        let q: SimpleQueue<(u32, String)> = SimpleQueue::new().unwrap();
        let child = start(
            |q: SimpleQueue<(u32, String)>| {
                for i in 0..100 {
                    q.put((i, i.to_string())).unwrap();
                }
                q.close();
                assert!(matches!(
                    q.put((0, String::new())),
                    Err(PutError::Closed(_))
                ));
                0
            },
            q.clone(),
        );
        reap(vec![child]);
        for i in 0..100 {
            assert_eq!(q.get(), Ok((i, i.to_string())));
        }
        assert!(q.empty());
        let other: Queue<u8> = Queue::new(0).unwrap();
        other.close();
        other.join_thread();
        other.cancel_join_thread();
        assert_eq!(other.get_nowait(), Err(GetError::Closed));
    }

    /// An async `get` in one process is woken by a `put` in another (the helper thread
    /// sleeps on the shared futex word), and an async `put` on a full queue by a `get`.
    fn async_across_processes() {
        let q: Queue<u64> = Queue::new(1).unwrap();
        let child = start(
            |q: Queue<u64>| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for i in 0..200 {
                        let v = tokio::time::timeout(Duration::from_secs(10), q.get_async())
                            .await
                            .expect("woken");
                        assert_eq!(v, Ok(i));
                    }
                    // Fill it, then wait asynchronously for room.
                    q.put_async(1000).await.unwrap();
                    tokio::time::timeout(Duration::from_secs(10), q.put_async(1001))
                        .await
                        .expect("woken")
                        .unwrap();
                });
                0
            },
            q.clone(),
        );
        for i in 0..200 {
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            q.put_timeout(i, CHILD_LIMIT).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(q.get_timeout(CHILD_LIMIT), Ok(1000));
        assert_eq!(q.get_timeout(CHILD_LIMIT), Ok(1001));
        reap(vec![child]);
    }

    pub fn main() {
        child_main();
        let scenarios: &[(&str, fn())] = &[
            ("many_to_many", many_to_many),
            ("many_to_many_exactly_once", many_to_many_exactly_once),
            ("exit_right_after_put", exit_right_after_put),
            (
                "exit_right_after_put_small_ring",
                exit_right_after_put_small_ring,
            ),
            ("producer_killed_mid_put", producer_killed_mid_put),
            ("consumer_killed_mid_get", consumer_killed_mid_get),
            ("timeouts", timeouts),
            ("counts_exact", counts_exact),
            (
                "joinable_join_across_processes",
                joinable_join_across_processes,
            ),
            ("bad_items", bad_items),
            ("simple_queue_and_close", simple_queue_and_close),
            ("async_across_processes", async_across_processes),
        ];
        // Under each way of starting a child: `fork`, then `exec` (as `spawn`).
        for (method, exec) in [("fork", false), ("exec", true)] {
            println!("start method: {method}");
            EXEC.store(exec, Ordering::Relaxed);
            run_scenarios(scenarios, Duration::from_secs(60));
        }
    }
}
