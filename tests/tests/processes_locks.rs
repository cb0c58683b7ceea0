//! Locks between processes, with owners that die: `Lock<SharedFutex>` and
//! `ReentrantLock<ThreadOwner, SharedFutex>` in a real `memfd` + `MAP_SHARED` mapping,
//! real children made by `fork`, real `SIGKILL`s, each kill repeated a few hundred times
//! so that the races (killed just after the acquisition, in the middle of a critical
//! section, right before the release, while others sleep) show. (`harness = false`: see
//! `conkit_tests::process`.)
//!
//! What broke (issue #11): `Lock` recorded no owner (a 0/1/2 word), so when its holder
//! was killed every other process waited forever; and `ThreadOwner` was a per-process
//! counter, so a forked child's `try_acquire` on a `ReentrantLock` its parent held
//! returned `true`.

#[cfg(target_os = "linux")]
fn main() {
    scenarios::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod scenarios {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use conkit::threading::ThreadOwner;
    use conkit_core::lock::{Acquired, Lock, ReentrantLock, ReleaseError};
    use conkit_core::wait::{deadline_after, SharedFutex};
    use conkit_tests::process::{fork, run_scenarios, Exit, SharedMem};

    /// How many times each kill scenario kills a holder.
    const KILLS: u32 = 300;
    /// The bound the issue sets: the next acquirer gets the lock within a second.
    const RECOVERY: Duration = Duration::from_secs(1);

    /// A lock and the data it guards, in one shared mapping.
    struct Guarded {
        lock: Lock<SharedFutex>,
        /// Set by a child once it holds the lock.
        held: AtomicU32,
        /// Two counters the critical section keeps equal: a holder killed between the
        /// two increments leaves them different (the "inconsistent data" `OwnerDied`
        /// warns about).
        a: AtomicU64,
        b: AtomicU64,
        /// Children that got the lock after the holder died.
        recovered: AtomicU32,
    }

    fn guarded() -> SharedMem<Guarded> {
        SharedMem::new(|| Guarded {
            lock: Lock::new(),
            held: AtomicU32::new(0),
            a: AtomicU64::new(0),
            b: AtomicU64::new(0),
            recovered: AtomicU32::new(0),
        })
    }

    fn wait_for(flag: &AtomicU32, value: u32) {
        let start = Instant::now();
        while flag.load(Ordering::SeqCst) != value {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "child never got there"
            );
            std::thread::yield_now();
        }
    }

    /// Acquires within [`RECOVERY`] and returns how: `Acquired::OwnerDied` means we hold
    /// the lock and its previous holder is gone.
    fn acquire_within_a_second(lock: &Lock<SharedFutex>) -> Acquired {
        let start = Instant::now();
        let got = lock.acquire_until_or_recover(deadline_after(RECOVERY));
        let took = start.elapsed();
        match got {
            Some(how) => {
                assert!(
                    took < RECOVERY + Duration::from_millis(100),
                    "took {took:?}"
                );
                how
            }
            None => panic!("the lock of a killed holder was not recovered within {took:?}"),
        }
    }

    /// A child takes the lock and is killed while holding it; the parent then acquires
    /// it within a second and learns that the owner died. Half of the time the parent
    /// acquires before reaping the child (a zombie owner), half after.
    fn lock_holder_killed_next_acquirer_gets_owner_died() {
        let g = guarded();
        for i in 0..KILLS {
            g.held.store(0, Ordering::SeqCst);
            let child = fork(|| {
                g.lock.acquire();
                g.held.store(1, Ordering::SeqCst);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            wait_for(&g.held, 1);
            child.kill();
            let reaped = if i % 2 == 0 {
                assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
                None
            } else {
                Some(child)
            };
            assert_eq!(
                acquire_within_a_second(&g.lock),
                Acquired::OwnerDied,
                "kill {i}"
            );
            assert_eq!(g.lock.release(), Ok(()));
            drop(reaped);
            // Recovered for good: a clean acquisition follows.
            assert!(g.lock.try_acquire());
            assert_eq!(g.lock.release(), Ok(()));
        }
    }

    /// A child holds the lock while another child and the parent sleep in `acquire`;
    /// the holder is killed. Both sleepers get the lock within a second, exactly one of
    /// them with `OwnerDied`, and the other one cleanly after it.
    fn lock_holder_killed_while_others_sleep() {
        let g = guarded();
        for i in 0..KILLS {
            g.held.store(0, Ordering::SeqCst);
            g.recovered.store(0, Ordering::SeqCst);
            let holder = fork(|| {
                g.lock.acquire();
                g.held.store(1, Ordering::SeqCst);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            wait_for(&g.held, 1);
            let sleeper = fork(|| {
                g.held.fetch_add(1, Ordering::SeqCst);
                match g
                    .lock
                    .acquire_until_or_recover(deadline_after(2 * RECOVERY))
                {
                    Some(how) => {
                        if how == Acquired::OwnerDied {
                            g.recovered.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::sleep(Duration::from_micros(200));
                        i32::from(g.lock.release().is_err())
                    }
                    None => 2,
                }
            });
            wait_for(&g.held, 2);
            // Let the other child go to sleep (or not: both orders are fine).
            std::thread::sleep(Duration::from_micros(u64::from(i % 7) * 300));
            holder.kill();
            let how = acquire_within_a_second(&g.lock);
            if how == Acquired::OwnerDied {
                g.recovered.fetch_add(1, Ordering::SeqCst);
            }
            assert_eq!(g.lock.release(), Ok(()));
            assert_eq!(sleeper.wait(), Exit::Code(0), "kill {i}");
            assert_eq!(holder.wait(), Exit::Signal(libc::SIGKILL));
            assert_eq!(g.recovered.load(Ordering::SeqCst), 1, "kill {i}");
        }
    }

    /// A child takes and releases the lock in a loop, keeping two counters equal under
    /// it; it is killed at a random point. The parent then always gets the lock within a
    /// second, and the counters differ only if the outcome says the owner died.
    fn lock_holder_killed_at_random_points() {
        let g = guarded();
        let mut died = 0;
        for i in 0..KILLS {
            g.held.store(0, Ordering::SeqCst);
            let child = fork(|| {
                g.held.store(1, Ordering::SeqCst);
                loop {
                    g.lock.acquire();
                    g.a.fetch_add(1, Ordering::Relaxed);
                    std::hint::spin_loop();
                    g.b.fetch_add(1, Ordering::Relaxed);
                    let _ = g.lock.release();
                }
            });
            wait_for(&g.held, 1);
            std::thread::sleep(Duration::from_micros(u64::from(i % 11) * 50));
            child.kill();
            let how = acquire_within_a_second(&g.lock);
            let (a, b) = (g.a.load(Ordering::Relaxed), g.b.load(Ordering::Relaxed));
            if how == Acquired::OwnerDied {
                died += 1;
                // Repair what the dead holder left half done.
                g.b.store(a, Ordering::Relaxed);
            } else {
                assert_eq!(a, b, "a clean acquisition sees consistent data (kill {i})");
            }
            assert_eq!(g.lock.release(), Ok(()));
            assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
        }
        // The holder spends most of its time holding the lock: most kills hit it.
        assert!(died > 0, "no kill hit the holder in {KILLS} tries");
        println!("  {died} of {KILLS} kills hit the holder");
    }

    /// The parent holds a reentrant lock (and has used its owner id before forking);
    /// a forked child is not its owner: `try_acquire` and a timed acquire are refused,
    /// the child's release is `NotOwner`, and the parent still holds it afterwards.
    fn reentrant_lock_held_by_parent_is_refused_to_a_child() {
        let l = SharedMem::new(ReentrantLock::<ThreadOwner, SharedFutex>::new);
        l.acquire();
        l.acquire();
        assert_eq!(l.depth(), 2);
        for _ in 0..50 {
            let child = fork(|| {
                if l.is_owned() || l.depth() != 0 {
                    return 1;
                }
                if l.try_acquire() {
                    return 2;
                }
                if l.acquire_until(deadline_after(Duration::from_millis(2))) {
                    return 3;
                }
                if l.release() != Err(ReleaseError::NotOwner) {
                    return 4;
                }
                0
            });
            assert_eq!(child.wait(), Exit::Code(0));
            assert_eq!(l.depth(), 2, "the parent still holds it");
        }
        l.release().unwrap();
        l.release().unwrap();
        assert!(!l.locked());
        // And the other way round: a lock a child holds is refused to the parent, then
        // taken once the child releases it.
        let held = SharedMem::new(|| AtomicU32::new(0));
        let child = fork(|| {
            l.acquire();
            held.store(1, Ordering::SeqCst);
            while held.load(Ordering::SeqCst) != 2 {
                std::thread::yield_now();
            }
            i32::from(l.release().is_err())
        });
        wait_for(&held, 1);
        assert!(!l.try_acquire());
        held.store(2, Ordering::SeqCst);
        assert!(l.acquire_until(deadline_after(Duration::from_secs(5))));
        assert_eq!(child.wait(), Exit::Code(0));
        l.release().unwrap();
    }

    /// A reentrant lock whose holder (at depth 3) is killed: the next owner recovers it
    /// within a second, at depth 1.
    fn reentrant_lock_holder_killed_next_owner_recovers() {
        let l = SharedMem::new(ReentrantLock::<ThreadOwner, SharedFutex>::new);
        let held = SharedMem::new(|| AtomicU32::new(0));
        for i in 0..KILLS {
            held.store(0, Ordering::SeqCst);
            let child = fork(|| {
                l.acquire();
                l.acquire();
                l.acquire();
                held.store(1, Ordering::SeqCst);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            wait_for(&held, 1);
            child.kill();
            let start = Instant::now();
            let how = l.acquire_until_or_recover(deadline_after(RECOVERY));
            assert_eq!(
                how,
                Some(Acquired::OwnerDied),
                "kill {i} after {:?}",
                start.elapsed()
            );
            assert_eq!(l.depth(), 1);
            l.release().unwrap();
            assert!(!l.locked());
            assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    /// The parent holds the lock while two children sleep on it; one of them is killed,
    /// at a point that moves around the parent's release (asleep, just woken, about to
    /// take it). The other child always gets the lock within a second: a wake-up given
    /// to the dead one is not lost for good (waiters of a `SharedFutex` lock sleep in
    /// slices and look again).
    fn lock_waiter_killed_around_the_release() {
        let g = guarded();
        for i in 0..KILLS {
            g.held.store(0, Ordering::SeqCst);
            g.recovered.store(0, Ordering::SeqCst);
            g.lock.acquire();
            let waiter = || {
                g.held.fetch_add(1, Ordering::SeqCst);
                match g
                    .lock
                    .acquire_until_or_recover(deadline_after(2 * RECOVERY))
                {
                    Some(_) => {
                        g.recovered.fetch_add(1, Ordering::SeqCst);
                        i32::from(g.lock.release().is_err())
                    }
                    None => 2,
                }
            };
            let victim = fork(waiter);
            let survivor = fork(waiter);
            wait_for(&g.held, 2);
            std::thread::sleep(Duration::from_micros(100));
            let spin = i % 5;
            if spin == 0 {
                victim.kill();
            }
            assert_eq!(g.lock.release(), Ok(()));
            for _ in 0..spin * 200 {
                std::hint::spin_loop();
            }
            victim.kill();
            let start = Instant::now();
            assert_eq!(survivor.wait(), Exit::Code(0), "kill {i}");
            assert!(
                start.elapsed() < RECOVERY,
                "kill {i}: {:?}",
                start.elapsed()
            );
            let victim_exit = victim.wait();
            assert!(
                matches!(victim_exit, Exit::Signal(libc::SIGKILL) | Exit::Code(0)),
                "{victim_exit:?}"
            );
            // Whatever the victim did, the lock ends free or recoverable.
            assert!(g
                .lock
                .acquire_until_or_recover(deadline_after(RECOVERY))
                .is_some());
            assert_eq!(g.lock.release(), Ok(()));
        }
    }

    /// The owner token comes from the strategy: the kernel thread id, cached per thread
    /// and renewed in the child of a `fork` (whose thread has a new id). A child must not
    /// record its parent's id as the owner of a lock it takes.
    fn owner_token_is_renewed_after_fork() {
        use conkit_core::wait::WaitStrategy;
        let locks = SharedMem::new(|| [Lock::<SharedFutex>::new(), Lock::new()]);
        locks[0].acquire();
        let parent = locks[0].owner().map(|o| o.get());
        // SAFETY: getpid has no preconditions.
        assert_eq!(parent, u32::try_from(unsafe { libc::getpid() }).ok());
        let child = fork(|| {
            // SAFETY: as above.
            let me = u32::try_from(unsafe { libc::getpid() }).ok();
            if SharedFutex::owner_token() == parent.unwrap_or(0)
                || Some(SharedFutex::owner_token()) != me
            {
                return 1;
            }
            if locks[0].try_acquire() {
                return 2;
            }
            locks[1].acquire();
            i32::from(locks[1].owner().map(|o| o.get()) != me) * 3
        });
        assert_eq!(child.wait(), Exit::Code(0));
        assert_eq!(locks[0].owner().map(|o| o.get()), parent);
        assert_eq!(locks[0].release(), Ok(()));
        // The child died holding the second lock: recovered.
        assert_eq!(locks[1].try_acquire_or_recover(), Some(Acquired::OwnerDied));
    }

    pub fn run() {
        run_scenarios(
            &[
                (
                    "lock_holder_killed_next_acquirer_gets_owner_died",
                    lock_holder_killed_next_acquirer_gets_owner_died,
                ),
                (
                    "lock_holder_killed_while_others_sleep",
                    lock_holder_killed_while_others_sleep,
                ),
                (
                    "lock_holder_killed_at_random_points",
                    lock_holder_killed_at_random_points,
                ),
                (
                    "lock_waiter_killed_around_the_release",
                    lock_waiter_killed_around_the_release,
                ),
                (
                    "owner_token_is_renewed_after_fork",
                    owner_token_is_renewed_after_fork,
                ),
                (
                    "reentrant_lock_held_by_parent_is_refused_to_a_child",
                    reentrant_lock_held_by_parent_is_refused_to_a_child,
                ),
                (
                    "reentrant_lock_holder_killed_next_owner_recovers",
                    reentrant_lock_holder_killed_next_owner_recovers,
                ),
            ],
            Duration::from_secs(120),
        );
    }
}
