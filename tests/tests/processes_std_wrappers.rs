//! The `conkit::threading` wrappers between processes: the same `Lock`, `Mutex`,
//! `Semaphore`, `Event`, `Barrier`, `Monitor` and `Condition` as for threads, with the strategy
//! `SharedFutex`, placed in a `memfd` mapped `MAP_SHARED` and used by forked children
//! (one of them through a second mapping at another address). Every increment, permit
//! and item is counted. This is the reuse the process layer relies on: one front end per
//! primitive, generic over the waiting strategy (issue #11), instead of a copy per layer.
//!
//! Before the wrappers were generic this did not compile (`Lock<SharedFutex>` was not a
//! type; the only `Lock` slept in `FUTEX_WAIT_PRIVATE`, which does not wake a waiter of
//! another process). (`harness = false`: see `conkit_tests::process`.)

#[cfg(target_os = "linux")]
fn main() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use conkit::threading::{Barrier, Condition, Event, Lock, Monitor, Mutex, Semaphore};
    use conkit::wait::SharedFutex;
    use conkit_tests::process::{fork, run_scenarios, Child, Exit, SharedMem};

    const CHILDREN: u64 = 4;
    const PER_CHILD: u64 = 5_000;
    /// Each counting scenario runs this many times, with fresh memory and children, so
    /// that different interleavings (and sleeps in the futex) show up.
    const REPEAT: usize = 25;

    /// Runs `scenario` [`REPEAT`] times.
    fn repeated(scenario: fn()) {
        for _ in 0..REPEAT {
            scenario();
        }
    }
    /// The longest a child may take; the scenario's watchdog is the last resort.
    const CHILD_LIMIT: Duration = Duration::from_secs(30);
    /// What "woken at once" allows on a loaded 2-core machine, far below `CHILD_LIMIT`.
    const PROMPT: Duration = Duration::from_secs(10);

    fn reap(children: Vec<Child>) {
        reap_within(children, CHILD_LIMIT);
    }

    fn reap_within(children: Vec<Child>, limit: Duration) {
        let deadline = Instant::now() + limit;
        for mut c in children {
            assert_eq!(
                c.wait_timeout(deadline.saturating_duration_since(Instant::now())),
                Some(Exit::Code(0)),
                "child {}",
                c.pid()
            );
        }
    }

    /// A read-modify-write that is only correct under mutual exclusion.
    fn bump(counter: &AtomicU64) {
        let v = counter.load(Ordering::Relaxed);
        std::hint::spin_loop();
        counter.store(v + 1, Ordering::Relaxed);
    }

    /// Children increment one counter under a `Lock<SharedFutex>`, one of them through a
    /// second mapping of the same memory (another address): no increment is lost, and
    /// holders that sleep in the futex are woken across processes.
    fn lock_excludes_across_processes() {
        let shared = SharedMem::new(|| (Lock::<SharedFutex>::with_strategy(), AtomicU64::new(0)));
        let first = &shared;
        let children: Vec<_> = (0..CHILDREN)
            .map(|c| {
                let again = (c == 0).then(|| shared.map_again());
                fork(move || {
                    let (lock, counter) = match &again {
                        Some(second) => &**second,
                        None => &**first,
                    };
                    for i in 0..PER_CHILD {
                        let _g = lock.lock();
                        bump(counter);
                        if i % 1000 == 0 {
                            // Hold it across a reschedule now and then so that others sleep.
                            std::thread::yield_now();
                        }
                    }
                    0
                })
            })
            .collect();
        reap(children);
        assert_eq!(shared.1.load(Ordering::Relaxed), CHILDREN * PER_CHILD);
        assert!(!shared.0.locked());
    }

    /// `Mutex<u64, SharedFutex>`: the value lives in the mapping with its lock.
    fn mutex_counts_across_processes() {
        let total = SharedMem::new(|| Mutex::<u64, SharedFutex>::with_strategy(0));
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                fork(|| {
                    for _ in 0..PER_CHILD {
                        *total.acquire_timeout(CHILD_LIMIT).expect("lock") += 1;
                    }
                    0
                })
            })
            .collect();
        reap(children);
        assert_eq!(*total.lock(), CHILDREN * PER_CHILD);
    }

    /// One child releases permits one at a time, two others take them (blocking, with a
    /// deadline): every permit is taken exactly once, and promptly (a sleeper that is
    /// not woken across processes would only see its permits at its deadline).
    fn semaphore_hands_permits_between_processes() {
        let shared = SharedMem::new(|| {
            (
                Semaphore::<SharedFutex>::with_strategy(0),
                AtomicU64::new(0),
            )
        });
        let n = 2 * PER_CHILD;
        let mut children = vec![fork(|| {
            for i in 0..n {
                shared.0.release().unwrap();
                if i % 64 == 0 {
                    std::thread::yield_now();
                }
            }
            0
        })];
        for _ in 0..2 {
            children.push(fork(|| {
                for _ in 0..n / 2 {
                    assert!(shared.0.acquire_timeout(CHILD_LIMIT), "a permit never came");
                    shared.1.fetch_add(1, Ordering::Relaxed);
                }
                0
            }));
        }
        reap_within(children, PROMPT);
        assert_eq!(shared.1.load(Ordering::Relaxed), n);
        assert_eq!(shared.0.value(), 0);
    }

    /// Children sleep on an `Event<SharedFutex>`; the parent's `set` wakes every one at
    /// once (not at their deadline).
    fn event_wakes_every_process() {
        for _ in 0..20 {
            let ev = SharedMem::new(Event::<SharedFutex>::with_strategy);
            let children: Vec<_> = (0..CHILDREN)
                .map(|_| fork(|| i32::from(!ev.wait_timeout(CHILD_LIMIT))))
                .collect();
            std::thread::sleep(Duration::from_millis(2));
            ev.set();
            reap_within(children, PROMPT);
        }
    }

    /// Processes meet at a `Barrier<SharedFutex>` round after round; each round hands out
    /// every arrival index once.
    fn barrier_rounds_across_processes() {
        const ROUNDS: u64 = 300;
        let shared = SharedMem::new(|| {
            (
                Barrier::<SharedFutex>::with_strategy(CHILDREN as u32),
                AtomicU64::new(0),
            )
        });
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                fork(|| {
                    for _ in 0..ROUNDS {
                        let i = shared.0.wait_timeout(CHILD_LIMIT).expect("barrier broken");
                        shared.1.fetch_add(1u64 << (i * 12), Ordering::Relaxed);
                    }
                    0
                })
            })
            .collect();
        reap(children);
        let expected: u64 = (0..CHILDREN).map(|i| ROUNDS << (i * 12)).sum();
        assert_eq!(shared.1.load(Ordering::Relaxed), expected);
    }

    /// A producer process and a consumer process pass numbered items through a small
    /// ring kept in a `Monitor<_, SharedFutex>` (its lock and condition in the mapping):
    /// every item arrives once, in order.
    fn monitor_hands_over_items_between_processes() {
        const CAP: usize = 8;
        struct Ring {
            slots: [u64; CAP],
            head: u64,
            tail: u64,
        }
        let ring = SharedMem::new(|| {
            Monitor::<Ring, SharedFutex>::with_strategy(Ring {
                slots: [0; CAP],
                head: 0,
                tail: 0,
            })
        });
        let n = PER_CHILD;
        let producer = fork(|| {
            for item in 0..n {
                let mut g = ring.lock();
                assert!(
                    g.wait_for_timeout(|r| r.tail - r.head < CAP as u64, CHILD_LIMIT),
                    "never room"
                );
                let at = (g.tail % CAP as u64) as usize;
                g.slots[at] = item;
                g.tail += 1;
                g.notify_all();
            }
            0
        });
        let consumer = fork(|| {
            for expected in 0..n {
                let mut g = ring.lock();
                assert!(
                    g.wait_for_timeout(|r| r.tail > r.head, CHILD_LIMIT),
                    "never an item"
                );
                let at = (g.head % CAP as u64) as usize;
                assert_eq!(g.slots[at], expected, "out of order or duplicated");
                g.head += 1;
                g.notify_all();
            }
            0
        });
        reap(vec![producer, consumer]);
        let g = ring.lock();
        assert_eq!((g.head, g.tail), (n, n));
    }

    /// Python's shape: a `Condition` over a `Lock<SharedFutex>` (the condition sleeps
    /// with its lock's strategy), guarding a count kept beside it. A producer process
    /// adds items one by one up to a cap of 4, a consumer process takes them: every
    /// item is taken once, and the count never passes the cap.
    fn condition_over_a_shared_lock_between_processes() {
        const CAP: u64 = 4;
        let shared = SharedMem::new(|| {
            (
                Condition::with_lock(Lock::<SharedFutex>::with_strategy()),
                AtomicU64::new(0), // items waiting, changed under the lock
                AtomicU64::new(0), // items taken
            )
        });
        let n = PER_CHILD;
        let producer = fork(|| {
            let (cond, items, _) = &*shared;
            for _ in 0..n {
                let _g = cond.lock();
                let room = cond
                    .wait_for_timeout(|| items.load(Ordering::Relaxed) < CAP, CHILD_LIMIT)
                    .unwrap();
                assert!(room, "never room");
                items.fetch_add(1, Ordering::Relaxed);
                cond.notify_all().unwrap();
            }
            0
        });
        let consumer = fork(|| {
            let (cond, items, taken) = &*shared;
            for _ in 0..n {
                let _g = cond.lock();
                let any = cond
                    .wait_for_timeout(|| items.load(Ordering::Relaxed) > 0, CHILD_LIMIT)
                    .unwrap();
                assert!(any, "never an item");
                assert!(items.fetch_sub(1, Ordering::Relaxed) <= CAP);
                taken.fetch_add(1, Ordering::Relaxed);
                cond.notify_all().unwrap();
            }
            0
        });
        reap(vec![producer, consumer]);
        assert_eq!(shared.2.load(Ordering::Relaxed), n);
        assert_eq!(shared.1.load(Ordering::Relaxed), 0);
    }

    run_scenarios(
        &[
            ("lock_excludes_across_processes", || {
                repeated(lock_excludes_across_processes)
            }),
            ("mutex_counts_across_processes", || {
                repeated(mutex_counts_across_processes)
            }),
            ("semaphore_hands_permits_between_processes", || {
                repeated(semaphore_hands_permits_between_processes)
            }),
            ("event_wakes_every_process", event_wakes_every_process),
            ("barrier_rounds_across_processes", || {
                repeated(barrier_rounds_across_processes)
            }),
            ("monitor_hands_over_items_between_processes", || {
                repeated(monitor_hands_over_items_between_processes)
            }),
            ("condition_over_a_shared_lock_between_processes", || {
                repeated(condition_over_a_shared_lock_between_processes)
            }),
        ],
        Duration::from_secs(120),
    );
}

#[cfg(not(target_os = "linux"))]
fn main() {}
