//! Every ring and queue of `conkit-core`, and the byte ring, between real processes:
//! each lives in a `conkit_core::shm` segment in a `memfd` mapped `MAP_SHARED`, created
//! by the parent and attached by `fork`ed children through a *second* mapping of the
//! same file (another address: the layouts are position-independent), waiting with the
//! process-shared `SharedFutex`. N producer processes × M items go through each; the
//! consumers mark every item in a shared table, so an item lost or delivered twice is
//! caught exactly, and check that each producer's items arrive in order. Also: a child
//! attaching with another type gets `FingerprintMismatch`, not a corrupt ring.
//! (`harness = false`: see `conkit_tests::process`.)

#[cfg(target_os = "linux")]
fn main() {
    scenarios::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod scenarios {
    use std::num::NonZeroUsize;
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::time::Duration;

    use conkit_core::byte_ring::{RecvError, ShmByteRing};
    use conkit_core::mpmc::{MpmcRing, ShmMpmcRing};
    use conkit_core::queue::{GetError, RingQueue};
    use conkit_core::shm::{Segment, SegmentError};
    use conkit_core::spsc::{PopError, PushError, ShmSpscRing, SpscRing};
    use conkit_core::wait::SharedFutex;
    use conkit_tests::process::{fork, run_scenarios, Child, Exit, SharedMem};

    /// Items per producer process.
    const M: u64 = 100_000;
    /// Producer processes of the multi-producer rings.
    const PRODUCERS: u64 = 3;
    /// Consumer processes of the multi-consumer rings.
    const CONSUMERS: usize = 2;

    /// A fresh zeroed shared mapping of `len` bytes.
    fn region(len: usize) -> SharedMem<u8> {
        SharedMem::with_len(len, |_| {})
    }

    fn start(mem: &SharedMem<u8>) -> NonNull<u8> {
        NonNull::new(mem.as_ptr()).expect("mapping")
    }

    /// One byte per item: how many times a consumer received it.
    struct Seen(SharedMem<u8>);

    impl Seen {
        fn new(items: u64) -> Self {
            Self(region(items as usize))
        }

        fn mark(&self, item: u64) {
            // SAFETY: the mapping holds `items` bytes, read and written only as atomics;
            // `item < items` is checked by the slice index.
            let table = unsafe {
                std::slice::from_raw_parts(self.0.as_ptr().cast::<AtomicU8>(), self.0.len())
            };
            table[item as usize].fetch_add(1, Ordering::Relaxed);
        }

        /// Every item exactly once.
        fn check(&self, items: u64) {
            // SAFETY: as in `mark`; every child has exited.
            let table = unsafe {
                std::slice::from_raw_parts(self.0.as_ptr().cast::<AtomicU8>(), items as usize)
            };
            let lost = table
                .iter()
                .filter(|c| c.load(Ordering::Relaxed) == 0)
                .count();
            let twice = table
                .iter()
                .filter(|c| c.load(Ordering::Relaxed) > 1)
                .count();
            assert_eq!((lost, twice), (0, 0), "items lost, items duplicated");
        }
    }

    /// Per producer, the next item a consumer may see must be later than the last one.
    struct InOrder(Vec<Option<u64>>);

    impl InOrder {
        fn new() -> Self {
            Self(vec![None; PRODUCERS as usize])
        }

        fn check(&mut self, item: u64) {
            let p = (item / M) as usize;
            assert!(p < PRODUCERS as usize, "item {item} out of range");
            if let Some(last) = self.0[p] {
                assert!(item > last, "producer {p}: {item} after {last}");
            }
            self.0[p] = Some(item);
        }
    }

    fn wait_all(children: Vec<Child>) {
        for c in children {
            assert_eq!(c.wait(), Exit::Code(0));
        }
    }

    /// One producer process and one consumer process, blocking `push`/`pop` (both sides
    /// sleep in the shared futex when the 1024-slot ring is full or empty).
    fn spsc_u64_between_two_processes() {
        type Ring = SpscRing<u64, 1024, SharedFutex>;
        let mem = region(Segment::<Ring>::required_len());
        // SAFETY: `mem` outlives every use, in every process; only segments touch it.
        let ring = unsafe { Segment::<Ring>::create(start(&mem), mem.len()) }.unwrap();
        let seen = Seen::new(M);
        let producer = fork(|| {
            let view = mem.map_again();
            // SAFETY: as above.
            let ring = unsafe { Segment::<Ring>::attach(start(&view), view.len()) }.unwrap();
            let mut tx = Segment::value(&ring)
                .claim_producer()
                .expect("first producer");
            for i in 0..M {
                tx.push(i).unwrap();
            }
            0
        });
        let consumer = fork(|| {
            let view = mem.map_again();
            // SAFETY: as above.
            let ring = unsafe { Segment::<Ring>::attach(start(&view), view.len()) }.unwrap();
            let mut rx = Segment::value(&ring)
                .claim_consumer()
                .expect("first consumer");
            let mut next = 0;
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, next, "FIFO");
                        seen.mark(v);
                        next += 1;
                    }
                    Err(PopError::Disconnected) => break,
                    Err(PopError::Empty) => unreachable!("pop without deadline"),
                }
            }
            assert_eq!(next, M);
            0
        });
        wait_all(vec![producer, consumer]);
        seen.check(M);
        assert!(
            ring.claim_producer().is_none(),
            "claimed once, by the child"
        );
    }

    /// The SPSC ring with a run-time capacity (100 slots, not a power of two: positions
    /// run over `[0, 200)`), its slots following it in the mapping: one producer process
    /// (blocking `push` for the first half, `push_slice` + `notify` for the second) and
    /// one consumer process (blocking `pop`), each attaching through its own mapping and
    /// claiming its side; every item marked once, in order.
    fn spsc_run_time_capacity_between_two_processes() {
        type Ring = ShmSpscRing<u64, SharedFutex>;
        let cap = NonZeroUsize::new(100).unwrap();
        let mem = region(Ring::required_len(cap).unwrap());
        // SAFETY: `mem` outlives every use, in every process; only segments touch it.
        let ring = unsafe { Ring::create_in(start(&mem), mem.len(), cap) }.unwrap();
        let seen = Seen::new(M);
        let attach = || {
            let view = Box::leak(Box::new(mem.map_again()));
            // SAFETY: as above.
            unsafe { Ring::attach_in(start(view), view.len()) }.unwrap()
        };
        let producer = fork(|| {
            let ring = attach();
            assert_eq!(ring.capacity(), 100);
            let mut tx = Segment::value(&ring)
                .claim_producer()
                .expect("first producer");
            for i in 0..M / 2 {
                tx.push(i).unwrap();
            }
            let rest: Vec<u64> = (M / 2..M).collect();
            let mut sent = 0;
            while sent < rest.len() {
                let n = tx.push_slice(&rest[sent..(sent + 37).min(rest.len())]);
                sent += n;
                tx.notify();
                if n == 0 {
                    std::thread::yield_now();
                }
            }
            0
        });
        let consumer = fork(|| {
            let ring = attach();
            let mut rx = Segment::value(&ring)
                .claim_consumer()
                .expect("first consumer");
            let mut next = 0;
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, next, "FIFO");
                        seen.mark(v);
                        next += 1;
                    }
                    Err(PopError::Disconnected) => break,
                    Err(PopError::Empty) => unreachable!("pop without deadline"),
                }
            }
            assert_eq!(next, M);
            0
        });
        wait_all(vec![producer, consumer]);
        seen.check(M);
        assert!(
            ring.claim_producer().is_none(),
            "claimed once, by the child"
        );
        assert!(
            ring.claim_consumer().is_none(),
            "claimed once, by the child"
        );
    }

    /// A consumer process SIGKILLed (asleep in `pop`, or just after an item) never makes
    /// the producer wait forever: its `Drop` never runs, but the ring recorded which
    /// process claimed the consumer, so a producer blocked on the full ring probes it
    /// after a sleep slice and gets `Disconnected` (an unbounded `push`, well within a
    /// second). Before that, free slots still take items. Repeated to vary where the
    /// kill lands (odd rounds kill at once, maybe before the child claimed: then nobody
    /// ever held the consumer and a `push_until` ends at its deadline with `Full`).
    fn spsc_consumer_killed_producer_disconnected() {
        type Ring = ShmSpscRing<u64, SharedFutex>;
        const ROUNDS: u64 = 200;
        let cap = NonZeroUsize::new(3).unwrap();
        for round in 0..ROUNDS {
            let mem = region(Ring::required_len(cap).unwrap());
            // SAFETY: `mem` outlives every use, in every process; only segments touch it.
            let ring = unsafe { Ring::create_in(start(&mem), mem.len(), cap) }.unwrap();
            let mut tx = ring.claim_producer().expect("producer");
            let consumer = fork(|| {
                let view = mem.map_again();
                // SAFETY: as above.
                let ring = unsafe { Ring::attach_in(start(&view), view.len()) }.unwrap();
                let mut rx = Segment::value(&ring).claim_consumer().expect("consumer");
                loop {
                    // Sleeps in the shared futex between items; killed at some point.
                    let _ = rx.pop();
                }
            });
            tx.push(round).unwrap();
            // Wait until the child took it (it then sleeps in `pop` again), or not, for
            // odd rounds: the kill lands before, during or after its first `pop`.
            let claimed = round % 2 == 0;
            if claimed {
                let until = std::time::Instant::now() + Duration::from_secs(5);
                while !tx.is_empty() {
                    assert!(std::time::Instant::now() < until, "child never popped");
                    std::thread::yield_now();
                }
            }
            consumer.kill();
            drop(consumer);
            // Free slots still take items (the child may or may not have popped one).
            let mut pushed = 0;
            while tx.try_push(round).is_ok() {
                pushed += 1;
            }
            assert!((2..=3).contains(&pushed), "round {round}: {pushed} pushed");
            let t0 = std::time::Instant::now();
            if claimed {
                // No deadline: the dead consumer is noticed.
                assert_eq!(tx.push(7), Err(PushError::Disconnected(7)));
                assert!(tx.is_abandoned(), "round {round}: abandoned once noticed");
                assert_eq!(tx.try_push(8), Err(PushError::Disconnected(8)));
                // The child claimed (it popped): its claim outlives it.
                assert!(
                    ring.claim_consumer().is_none(),
                    "the dead side's claim stays"
                );
            } else {
                let deadline = t0 + Duration::from_millis(40);
                match tx.push_until(7, deadline) {
                    Err(PushError::Disconnected(7)) => {}
                    Err(PushError::Full(7)) => {
                        assert!(
                            std::time::Instant::now() >= deadline,
                            "Full before the deadline"
                        )
                    }
                    other => panic!("round {round}: {other:?}"),
                }
            }
            let late = t0.elapsed();
            assert!(
                late < Duration::from_secs(1),
                "round {round}: the producer returned {late:?} after the kill"
            );
        }
    }

    /// A producer process SIGKILLed mid-stream — blocked in `push` on the full ring, or
    /// between pushes — never makes the consumer wait forever: an unbounded `pop`
    /// delivers every item the producer published, in order and none twice, then
    /// returns `Disconnected` (the ring probed the process that claimed the producer).
    /// Repeated with the kill after a varying number of items.
    fn spsc_producer_killed_consumer_disconnected() {
        type Ring = ShmSpscRing<u64, SharedFutex>;
        const ROUNDS: u64 = 150;
        let cap = NonZeroUsize::new(4).unwrap();
        for round in 0..ROUNDS {
            let mem = region(Ring::required_len(cap).unwrap());
            // SAFETY: `mem` outlives every use, in every process; only segments touch it.
            let ring = unsafe { Ring::create_in(start(&mem), mem.len(), cap) }.unwrap();
            let mut rx = ring.claim_consumer().expect("consumer");
            let producer = fork(|| {
                let view = mem.map_again();
                // SAFETY: as above.
                let ring = unsafe { Ring::attach_in(start(&view), view.len()) }.unwrap();
                let mut tx = Segment::value(&ring).claim_producer().expect("producer");
                for i in 0.. {
                    // Blocks on the full ring (cap 4) until the parent pops.
                    tx.push(i).unwrap();
                }
                0
            });
            // Pop a varying number of items (1 .. 32: the first proves the child claimed
            // its side), then kill: the producer is then blocked on the full ring or
            // between two pushes.
            let before = 1 + round.wrapping_mul(2_654_435_761) % 32;
            let mut next = 0u64;
            while next < before {
                assert_eq!(rx.pop(), Ok(next), "round {round}");
                next += 1;
            }
            if round % 3 == 0 {
                // Let it fill the ring and fall asleep in `push`.
                std::thread::sleep(Duration::from_millis(2));
            }
            producer.kill();
            let t0 = std::time::Instant::now();
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, next, "round {round}: items in order, none lost");
                        next += 1;
                    }
                    Err(PopError::Disconnected) => break,
                    Err(e) => panic!("round {round}: {e:?}"),
                }
            }
            let late = t0.elapsed();
            assert!(
                late < Duration::from_secs(1),
                "round {round}: pop saw the dead producer {late:?} after the kill"
            );
            assert!(
                next <= before + 4 + 1,
                "round {round}: more items than pushed"
            );
            assert!(rx.is_abandoned());
            assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
            assert_eq!(producer.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    /// `PRODUCERS` producer processes and `CONSUMERS` consumer processes through an MPMC
    /// ring: `consume` runs in each consumer until `stop` says every item was taken.
    fn many_to_many(
        produce: impl Fn(u64) + Copy,
        consume: impl Fn(&Seen) + Copy,
        after_producers: impl FnOnce(),
    ) -> Seen {
        let seen = Seen::new(PRODUCERS * M);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let seen = &seen;
                fork(move || {
                    consume(seen);
                    0
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                fork(move || {
                    produce(p);
                    0
                })
            })
            .collect();
        wait_all(producers);
        after_producers();
        wait_all(consumers);
        seen.check(PRODUCERS * M);
        seen
    }

    /// The fixed-capacity `MpmcRing`, blocking `push`/`pop_until` (sleeping in the shared
    /// futex), consumers stopping at a sentinel per consumer.
    fn mpmc_inline_many_processes() {
        type Ring = MpmcRing<u64, 256, SharedFutex>;
        const STOP: u64 = u64::MAX;
        let mem = region(Segment::<Ring>::required_len());
        // SAFETY: as above.
        let ring = unsafe { Segment::<Ring>::create(start(&mem), mem.len()) }.unwrap();
        let attach = || {
            let view = Box::leak(Box::new(mem.map_again()));
            // SAFETY: as above (the second mapping lives until the child exits).
            unsafe { Segment::<Ring>::attach(start(view), view.len()) }.unwrap()
        };
        many_to_many(
            |p| {
                let ring = attach();
                for i in 0..M {
                    ring.push(p * M + i);
                }
            },
            |seen| {
                let ring = attach();
                let mut order = InOrder::new();
                loop {
                    let v = ring.pop();
                    if v == STOP {
                        break;
                    }
                    order.check(v);
                    seen.mark(v);
                }
            },
            || {
                for _ in 0..CONSUMERS {
                    ring.push(STOP);
                }
            },
        );
        assert!(ring.is_empty());
    }

    /// `ShmMpmcRing`: capacity chosen at run time (not a power of two), slots after the
    /// header in the same mapping; `try_push`/`try_pop` spinning, then a sentinel.
    fn mpmc_run_time_capacity_many_processes() {
        type Ring = ShmMpmcRing<u64, SharedFutex>;
        const STOP: u64 = u64::MAX;
        let cap = NonZeroUsize::new(1000).unwrap();
        let mem = region(Ring::required_len(cap).unwrap());
        // SAFETY: as above.
        let ring = unsafe { Ring::create_in(start(&mem), mem.len(), cap) }.unwrap();
        let attach = || {
            let view = Box::leak(Box::new(mem.map_again()));
            // SAFETY: as above.
            unsafe { Ring::attach_in(start(view), view.len()) }.unwrap()
        };
        many_to_many(
            |p| {
                let ring = attach();
                assert_eq!(ring.capacity(), 1000);
                for i in 0..M {
                    let mut v = p * M + i;
                    while let Err(full) = ring.try_push(v) {
                        v = full.into_inner();
                        std::thread::yield_now();
                    }
                }
                ring.notify();
            },
            |seen| {
                let ring = attach();
                let mut order = InOrder::new();
                loop {
                    let v = ring.pop();
                    if v == STOP {
                        break;
                    }
                    order.check(v);
                    seen.mark(v);
                }
            },
            || {
                for _ in 0..CONSUMERS {
                    ring.push(STOP);
                }
            },
        );
    }

    /// The Python-style `RingQueue`: blocking `put`/`get`, `task_done` per item, the
    /// parent `join`s, then `shutdown` ends the consumers.
    fn ring_queue_many_processes() {
        type Queue = RingQueue<u64, 128, SharedFutex>;
        let mem = region(Segment::<Queue>::required_len());
        // SAFETY: as above.
        let queue =
            unsafe { Segment::<Queue>::create_with(start(&mem), mem.len(), Queue::new) }.unwrap();
        let attach = || {
            let view = Box::leak(Box::new(mem.map_again()));
            // SAFETY: as above.
            unsafe { Segment::<Queue>::attach(start(view), view.len()) }.unwrap()
        };
        many_to_many(
            |p| {
                let q = attach();
                for i in 0..M {
                    q.put(p * M + i).unwrap();
                }
            },
            |seen| {
                let q = attach();
                let mut order = InOrder::new();
                loop {
                    match q.get() {
                        Ok(v) => {
                            order.check(v);
                            seen.mark(v);
                            q.task_done().unwrap();
                        }
                        Err(GetError::ShutDown) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            },
            || {
                queue.join();
                assert_eq!(queue.unfinished_tasks(), 0);
                queue.shutdown(false);
            },
        );
    }

    /// The byte ring: messages of 0 to 2000 bytes (wrapping the 64 KiB buffer with
    /// padding), blocking `send_until`/`read_until`; every message's length and bytes
    /// checked in order, and a checksum of all bytes compared.
    fn byte_ring_between_two_processes() {
        type Bytes = ShmByteRing<SharedFutex>;
        let messages = M;
        let mem = region(Bytes::required_len(1 << 16).unwrap());
        // SAFETY: as above.
        let ring = unsafe { Bytes::create_in(start(&mem), mem.len(), 1 << 16) }.unwrap();
        assert_eq!(ring.max_message(), (1 << 15) - 8);
        let body = |i: u64, k: usize| (i as u8) ^ (k as u8).wrapping_mul(31);
        let len_of = |i: u64| ((i * 7919) % 2001) as usize;
        let checksum = SharedMem::new(|| std::sync::atomic::AtomicU64::new(0));
        let producer = fork(|| {
            let view = mem.map_again();
            // SAFETY: as above.
            let ring = unsafe { Bytes::attach_in(start(&view), view.len()) }.unwrap();
            let mut tx = Segment::value(&ring).claim_producer().unwrap();
            for i in 0..messages {
                let mut g = tx.grant_until(len_of(i), None).unwrap();
                for (k, b) in g.iter_mut().enumerate() {
                    *b = body(i, k);
                }
                let n = g.len();
                g.commit(n);
            }
            0
        });
        let consumer = fork(|| {
            let view = mem.map_again();
            // SAFETY: as above.
            let ring = unsafe { Bytes::attach_in(start(&view), view.len()) }.unwrap();
            let mut rx = Segment::value(&ring).claim_consumer().unwrap();
            let mut i = 0;
            let mut sum = 0u64;
            loop {
                match rx.read_until(None) {
                    Ok(m) => {
                        assert_eq!(m.len(), len_of(i), "message {i}");
                        for (k, &b) in m.iter().enumerate() {
                            assert_eq!(b, body(i, k), "message {i} byte {k}");
                            sum = sum.wrapping_mul(31).wrapping_add(u64::from(b));
                        }
                        i += 1;
                    }
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(i, messages);
            checksum.store(sum, Ordering::SeqCst);
            0
        });
        wait_all(vec![producer, consumer]);
        let mut expect = 0u64;
        for i in 0..messages {
            for k in 0..len_of(i) {
                expect = expect.wrapping_mul(31).wrapping_add(u64::from(body(i, k)));
            }
        }
        assert_eq!(checksum.load(Ordering::SeqCst), expect);
    }

    /// A child attaching the segment as another type, or before it is created, gets a
    /// typed error; the ring is untouched.
    fn attach_with_another_layout_is_an_error() {
        type Ring = MpmcRing<u64, 64, SharedFutex>;
        let mem = region(Segment::<Ring>::required_len());
        let early = fork(|| {
            // SAFETY: as above.
            let r = unsafe { Segment::<Ring>::attach(start(&mem), mem.len()) };
            assert_eq!(r.unwrap_err(), SegmentError::NotReady);
            0
        });
        assert_eq!(early.wait(), Exit::Code(0));
        // SAFETY: as above.
        let ring = unsafe { Segment::<Ring>::create(start(&mem), mem.len()) }.unwrap();
        ring.push(42);
        let wrong = fork(|| {
            let view = mem.map_again();
            // SAFETY: as above.
            let r = unsafe {
                Segment::<MpmcRing<u32, 64, SharedFutex>>::attach(start(&view), view.len())
            };
            assert!(matches!(r, Err(SegmentError::FingerprintMismatch { .. })));
            // SAFETY: as above.
            let r = unsafe {
                Segment::<SpscRing<u64, 64, SharedFutex>>::attach(start(&view), view.len())
            };
            assert!(matches!(r, Err(SegmentError::FingerprintMismatch { .. })));
            0
        });
        assert_eq!(wrong.wait(), Exit::Code(0));
        assert_eq!(ring.try_pop(), Some(42));
    }

    /// SIGKILL the byte ring's producer at a random point, many times: the consumer
    /// reads only whole messages, each intact and in order (a frame is published only
    /// after it is written, so one cut mid-write is never seen), and then, reading with
    /// no deadline, gets `Disconnected` (the ring probes the process that claimed the
    /// producer) well within a second instead of hanging.
    fn byte_ring_producer_killed_mid_write() {
        type Bytes = ShmByteRing<SharedFutex>;
        const ROUNDS: u32 = 200;
        let len_of = |i: u64| ((i * 37) % 300) as usize;
        let byte = |i: u64, k: usize| (i as u8).wrapping_add(k as u8);
        for round in 0..ROUNDS {
            let mem = region(Bytes::required_len(4096).unwrap());
            // SAFETY: as above.
            let ring = unsafe { Bytes::create_in(start(&mem), mem.len(), 4096) }.unwrap();
            let producer = fork(|| {
                let view = mem.map_again();
                // SAFETY: as above.
                let ring = unsafe { Bytes::attach_in(start(&view), view.len()) }.unwrap();
                let mut tx = Segment::value(&ring).claim_producer().unwrap();
                for i in 0.. {
                    let mut g = tx.grant_until(len_of(i), None).unwrap();
                    for (k, b) in g.iter_mut().enumerate() {
                        *b = byte(i, k);
                    }
                    let n = g.len();
                    if i % 3 == 0 {
                        g.commit_deferred(n);
                    } else {
                        g.commit(n);
                    }
                }
                0
            });
            let mut rx = Segment::value(&ring).claim_consumer().unwrap();
            // Kill after a varying number of messages (1 .. 64: the first proves the child
            // claimed its side): mid-stream.
            let kill_after = 1 + u64::from(round.wrapping_mul(2_654_435_761) >> 26);
            let mut i = 0u64;
            let mut killed = None;
            loop {
                if killed.is_none() && i >= kill_after {
                    producer.kill();
                    killed = Some(std::time::Instant::now());
                }
                // Before the kill a deadline (the producer may still be starting);
                // after it none: the dead producer must be noticed.
                let wait = std::time::Instant::now() + Duration::from_millis(20);
                let wait = if killed.is_some() { None } else { Some(wait) };
                match rx.read_until(wait) {
                    Ok(m) => {
                        assert_eq!(m.len(), len_of(i), "round {round} message {i}");
                        for (k, &b) in m.iter().enumerate() {
                            assert_eq!(b, byte(i, k), "round {round} message {i} byte {k}");
                        }
                        i += 1;
                    }
                    // The producer is dead and never dropped its handle: the ring knows
                    // its process and says so once the published messages are read.
                    Err(RecvError::Disconnected) if killed.is_some() => break,
                    Err(RecvError::Empty) if killed.is_none() => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            let late = killed.map(|t| t.elapsed()).unwrap_or_default();
            assert!(
                late < Duration::from_secs(1),
                "round {round}: read saw the dead producer {late:?} after the kill"
            );
            assert!(rx.is_abandoned());
            assert_eq!(producer.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    /// A byte-ring consumer process SIGKILLed (asleep in `recv_until(None)`, or just
    /// after a message) never makes the producer wait forever: a producer blocked in
    /// `send_until(None)` / `grant_until(None)` on the full ring gets `Disconnected`
    /// well within a second. Repeated to vary where the kill lands.
    fn byte_ring_consumer_killed_producer_disconnected() {
        use conkit_core::byte_ring::GrantError;
        type Bytes = ShmByteRing<SharedFutex>;
        const ROUNDS: u32 = 150;
        for round in 0..ROUNDS {
            let mem = region(Bytes::required_len(256).unwrap());
            // SAFETY: as above.
            let ring = unsafe { Bytes::create_in(start(&mem), mem.len(), 256) }.unwrap();
            let mut tx = Segment::value(&ring).claim_producer().unwrap();
            // Messages the child has read.
            let read = SharedMem::new(|| std::sync::atomic::AtomicU32::new(0));
            let consumer = fork(|| {
                let view = mem.map_again();
                // SAFETY: as above.
                let ring = unsafe { Bytes::attach_in(start(&view), view.len()) }.unwrap();
                let mut rx = Segment::value(&ring).claim_consumer().unwrap();
                let mut buf = [0u8; 64];
                loop {
                    if rx.recv_until(&mut buf, None).is_ok() {
                        read.fetch_add(1, Ordering::Release);
                    }
                }
            });
            // Messages until the child has taken some (so it has claimed), a varying
            // number of them, then the kill.
            let n = 1 + round % 16;
            for i in 0..n {
                tx.send_until(&[i as u8; 40], None).unwrap();
            }
            let until = std::time::Instant::now() + Duration::from_secs(5);
            // Some rounds kill as soon as the child read one (it may be mid-read of the
            // next), the others once it read all and sleeps in `recv_until`.
            let want = if round % 3 == 0 { 1 } else { n };
            while read.load(Ordering::Acquire) < want {
                assert!(std::time::Instant::now() < until, "child never read");
                std::thread::yield_now();
            }
            consumer.kill();
            let t0 = std::time::Instant::now();
            let outcome = loop {
                match if round % 2 == 0 {
                    tx.send_until(&[1; 40], None)
                } else {
                    tx.grant_until(40, None).map(|g| g.commit(40))
                } {
                    Ok(()) => {}
                    Err(e) => break e,
                }
            };
            assert_eq!(outcome, GrantError::Disconnected, "round {round}");
            let late = t0.elapsed();
            assert!(
                late < Duration::from_secs(1),
                "round {round}: the producer returned {late:?} after the kill"
            );
            assert_eq!(consumer.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    pub fn run() {
        run_scenarios(
            &[
                (
                    "spsc_u64_between_two_processes",
                    spsc_u64_between_two_processes,
                ),
                (
                    "spsc_run_time_capacity_between_two_processes",
                    spsc_run_time_capacity_between_two_processes,
                ),
                (
                    "spsc_consumer_killed_producer_disconnected",
                    spsc_consumer_killed_producer_disconnected,
                ),
                (
                    "spsc_producer_killed_consumer_disconnected",
                    spsc_producer_killed_consumer_disconnected,
                ),
                ("mpmc_inline_many_processes", mpmc_inline_many_processes),
                (
                    "mpmc_run_time_capacity_many_processes",
                    mpmc_run_time_capacity_many_processes,
                ),
                ("ring_queue_many_processes", ring_queue_many_processes),
                (
                    "byte_ring_between_two_processes",
                    byte_ring_between_two_processes,
                ),
                (
                    "byte_ring_producer_killed_mid_write",
                    byte_ring_producer_killed_mid_write,
                ),
                (
                    "byte_ring_consumer_killed_producer_disconnected",
                    byte_ring_consumer_killed_producer_disconnected,
                ),
                (
                    "attach_with_another_layout_is_an_error",
                    attach_with_another_layout_is_an_error,
                ),
            ],
            Duration::from_secs(60),
        );
    }
}
