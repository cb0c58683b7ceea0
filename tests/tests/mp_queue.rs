//! `conkit::multiprocessing::{Queue, JoinableQueue, SimpleQueue}` between real
//! processes: the queue travels to each child as a serialised argument (its `memfd`
//! through `inherit`), items are counted and checked (none lost, none duplicated),
//! producers are `SIGKILL`ed in the middle of their puts, and every wait has a deadline.
//! The children are `conkit::multiprocessing::Process`es and every scenario runs once
//! per start method of `get_all_start_methods()`: `fork`, then `spawn` (this binary
//! re-executed: the queue is mapped again from the descriptor it received, at another
//! address), and any method added later. (`harness = false`: each scenario runs in a
//! child of its own under a watchdog, see `conkit_tests::process` and
//! `conkit_tests::mp`.)

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
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::heap::Mapping;
    use conkit::multiprocessing::Process;
    use conkit::multiprocessing::{
        Empty, Event, GetError, JoinableQueue, PutError, Queue, RawArray, RawValue, SimpleQueue,
        TaskDoneError,
    };
    use conkit_tests::mp::{kill, reap, run_under_every_method, start, Retype};

    /// The longest a parent waits for a child's item.
    const CHILD_LIMIT: Duration = conkit_tests::mp::CHILD_LIMIT;

    /// Counters shared with the children, one byte per item: how often it arrived.
    type Seen = RawArray<u8>;

    /// `Some((producer, i))`, or `None`: stop.
    type Items = Queue<Option<(u64, u64)>>;

    const PRODUCERS: u64 = 3;
    const CONSUMERS: u64 = 3;
    const ITEMS: u64 = 20_000;

    /// Producer `p` puts `(p, i)` for every `i < ITEMS`.
    fn produce((q, p): (Items, u64)) {
        for i in 0..ITEMS {
            q.put(Some((p, i))).unwrap();
        }
    }

    /// N producer processes × M items to N consumer processes through a small ring
    /// (64 KiB: producers wait for bytes again and again): every item arrives exactly
    /// once, each producer's items in order at each consumer, and the sums match.
    fn many_to_many() {
        let q: Items = Queue::with_capacity(0, 1 << 16).unwrap();
        let sums: Queue<(u64, u64)> = Queue::new(0).unwrap();
        let consumers: Vec<Process> = (0..CONSUMERS)
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
                    },
                    (q.clone(), sums.clone()),
                )
            })
            .collect();
        let producers: Vec<Process> = (0..PRODUCERS)
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
        let seen = Seen::zeroed((PRODUCERS * ITEMS) as usize);
        let consumers: Vec<Process> = (0..CONSUMERS)
            .map(|_| {
                start(
                    |(q, seen): (Items, Seen)| {
                        let slots = seen.as_atomics();
                        while let Some((p, i)) = q.get().unwrap() {
                            slots[(p * ITEMS + i) as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    (q.clone(), seen.clone()),
                )
            })
            .collect();
        let producers: Vec<Process> = (0..PRODUCERS)
            .map(|p| start(produce, (q.clone(), p)))
            .collect();
        reap(producers);
        for _ in 0..CONSUMERS {
            q.put(None).unwrap();
        }
        reap(consumers);
        let wrong: Vec<usize> = seen
            .as_atomics()
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
            assert_eq!(kill(child), -libc::SIGKILL);
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
        let taken = RawValue::<u64>::zeroed();
        let child = start(
            |(q, taken): (Queue<u64>, RawValue<u64>)| {
                while q.get().is_ok() {
                    taken.as_atomic().fetch_add(1, Ordering::Relaxed);
                }
            },
            (q.clone(), taken.clone()),
        );
        // Until it has taken some (a spawned child needs a while to start).
        let t = Instant::now();
        while taken.as_atomic().load(Ordering::Relaxed) < 100 {
            assert!(t.elapsed() < CHILD_LIMIT, "the consumer never started");
            std::thread::sleep(Duration::from_micros(100));
        }
        assert_eq!(kill(child), -libc::SIGKILL);
        let counted = taken.as_atomic().load(Ordering::Relaxed);
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
        // Across processes: the child waits up to 10 s, the parent puts 100 ms after
        // the child is running (a spawned child takes a while to start).
        let started = Event::new();
        let child = start(
            |(q, started): (Queue<u32>, Event)| {
                started.set();
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
            },
            (q.clone(), started.clone()),
        );
        assert!(started.wait_timeout(CHILD_LIMIT));
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
        let consumers: Vec<Process> = (0..2)
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
            assert_eq!(kill(c), -libc::SIGKILL);
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
        let child = start(
            |q: Retype<Queue<Vec<u8>>, Queue<String>>| {
                let q = q.received();
                assert!(matches!(q.get_nowait(), Err(GetError::Decode(_))));
                assert_eq!(q.get_nowait(), Ok("ok".to_string()));
            },
            Retype::Sent(q.clone()),
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
        run_under_every_method(scenarios, Duration::from_secs(60));
    }
}
