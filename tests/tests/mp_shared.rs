//! `conkit::multiprocessing`'s process-shared primitives and data between real
//! processes: `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`,
//! `Barrier`, `Value`, `Array`, `RawValue`, `RawArray`, `SharedMemory`, each handed to
//! real children as a serialised argument (the mapping's descriptor through
//! `inherit`, attached with the header checked in the child), with real `SIGKILL`s for
//! the holders and parties that die. Every scenario runs in its own process under a
//! watchdog (`run_scenarios`), and every wait in it is bounded. (`harness = false`: see
//! `conkit_tests::process`.)

#[cfg(target_os = "linux")]
fn main() {
    scenarios::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod scenarios {
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    use conkit::multiprocessing::{
        codec, inherit, Acquired, Array, Barrier, BoundedSemaphore, BrokenBarrier, Condition,
        Event, Lock, RLock, RawArray, RawValue, ReleaseError, Semaphore, SemaphoreError, Value,
    };
    use conkit_tests::process::{fork, run_scenarios, Child, Exit};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// The bound the issue sets: the next acquirer gets a dead holder's lock within 1 s.
    const RECOVERY: Duration = Duration::from_secs(1);
    /// The longest a child may take; the scenario's watchdog is the last resort.
    const CHILD_LIMIT: Duration = Duration::from_secs(20);

    /// Starts a child that receives `arg` as a process argument: serialised here inside
    /// `inherit::collect`, the descriptors inherited by `fork`, installed, deserialised
    /// (attaching each shared object, header checked) and cleared in the child, which
    /// then runs `f` and exits with its result — the path `Process` takes.
    fn child<A: Serialize + DeserializeOwned>(arg: &A, f: fn(A) -> i32) -> Child {
        let (bytes, fds) = inherit::collect(|| codec::to_bytes(arg));
        let bytes = bytes.expect("serialise the child's argument");
        fork(move || {
            let dups: Vec<OwnedFd> = fds
                .iter()
                .map(|&fd| {
                    // SAFETY: inherited from the parent, open in this child.
                    unsafe { BorrowedFd::borrow_raw(fd) }
                        .try_clone_to_owned()
                        .expect("dup")
                })
                .collect();
            inherit::install(dups);
            let arg: A = codec::from_bytes(&bytes).expect("deserialise the child's argument");
            inherit::clear();
            f(arg)
        })
    }

    fn reap(children: Vec<Child>) {
        for mut c in children {
            let exit = c.wait_timeout(CHILD_LIMIT);
            assert_eq!(exit, Some(Exit::Code(0)), "a child failed or hung");
        }
    }

    /// Spins (yielding) until `cond` holds, at most 10 s.
    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    // -----------------------------------------------------------------------------
    // Lock, RLock
    // -----------------------------------------------------------------------------

    const CHILDREN: u32 = 4;
    const PER_CHILD: u64 = 20_000;

    /// Non-atomic read-modify-write of a raw counter under the shared `Lock`: a lost
    /// update would show as a total below the expected one.
    fn lock_excludes_across_processes() {
        fn work((lock, counter): (Lock, RawValue<u64>)) -> i32 {
            for _ in 0..PER_CHILD {
                let _g = lock.lock();
                // SAFETY: every writer holds `lock`.
                unsafe { counter.set(counter.get() + 1) };
            }
            0
        }
        let lock = Lock::new();
        let counter = RawValue::<u64>::zeroed();
        let kids = (0..CHILDREN)
            .map(|_| child(&(lock.clone(), counter.clone()), work))
            .collect();
        reap(kids);
        // SAFETY: the children are gone.
        assert_eq!(unsafe { counter.get() }, u64::from(CHILDREN) * PER_CHILD);
        assert!(!lock.locked());
    }

    /// A lock held by a child: timeouts expire in the parent, a release by another
    /// process is allowed (as Python's `Lock`), and the parent then takes it.
    fn lock_timeouts_and_release_by_another_process() {
        fn hold((lock, held, go): (Lock, Event, Event)) -> i32 {
            lock.acquire();
            held.set();
            i32::from(!go.wait_timeout(Duration::from_secs(10)))
        }
        let (lock, held, go) = (Lock::new(), Event::new(), Event::new());
        let c = child(&(lock.clone(), held.clone(), go.clone()), hold);
        assert!(held.wait_timeout(Duration::from_secs(10)));
        let t = Instant::now();
        assert!(!lock.acquire_timeout(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(!lock.try_acquire());
        assert!(lock.locked());
        lock.release().unwrap(); // released by a process that did not take it
        assert!(lock.acquire_timeout(Duration::from_secs(5)));
        go.set();
        reap(vec![c]);
        lock.release().unwrap();
        assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
    }

    /// An `RLock` held twice by a child: another process cannot release it
    /// (`NotOwner`) nor take it, until the child has released it twice.
    fn rlock_is_owned_by_one_process() {
        fn hold((r, held, go): (RLock, Event, Event)) -> i32 {
            r.acquire();
            r.acquire();
            held.set();
            if !go.wait_timeout(Duration::from_secs(10)) {
                return 2;
            }
            r.release().unwrap();
            if r.depth() != 1 {
                return 3;
            }
            r.release().unwrap();
            0
        }
        let (r, held, go) = (RLock::new(), Event::new(), Event::new());
        let c = child(&(r.clone(), held.clone(), go.clone()), hold);
        assert!(held.wait_timeout(Duration::from_secs(10)));
        assert_eq!(r.release(), Err(ReleaseError::NotOwner));
        assert!(!r.try_acquire());
        assert!(!r.acquire_timeout(Duration::from_millis(20)));
        assert_eq!(r.depth(), 0);
        go.set();
        assert!(r.acquire_timeout(Duration::from_secs(10)));
        r.acquire();
        assert_eq!(r.depth(), 2);
        reap(vec![c]);
        r.release().unwrap();
        r.release().unwrap();
        assert!(!r.locked());
    }

    /// How many times each kill scenario kills a holder.
    const KILLS: u32 = 20;

    /// A child SIGKILLed while holding the shared `Lock`: the next acquirer (the
    /// parent, or another child) gets it within a second, told `OwnerDied`.
    fn lock_holder_killed_next_acquirer_gets_owner_died() {
        fn hold((lock, held): (Lock, Event)) -> i32 {
            lock.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            1
        }
        fn take_over(lock: Lock) -> i32 {
            match lock.acquire_timeout_or_recover(RECOVERY * 2) {
                Some(Acquired::OwnerDied) => 0,
                Some(Acquired::Clean) => 4,
                None => 5,
            }
        }
        for round in 0..KILLS {
            let (lock, held) = (Lock::new(), Event::new());
            let holder = child(&(lock.clone(), held.clone()), hold);
            assert!(held.wait_timeout(Duration::from_secs(10)));
            if round % 2 == 0 {
                // The parent is the next acquirer, already waiting when the kill comes.
                let killer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    holder.kill();
                    holder.wait()
                });
                let start = Instant::now();
                let how = lock.acquire_timeout_or_recover(RECOVERY);
                let took = start.elapsed();
                assert_eq!(how, Some(Acquired::OwnerDied), "round {round}");
                assert!(took < RECOVERY, "took {took:?}");
                assert_eq!(killer.join().unwrap(), Exit::Signal(libc::SIGKILL));
                // The plain form after a recovery: clean again.
                lock.release().unwrap();
                assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
                lock.release().unwrap();
            } else {
                // Another child is the next acquirer.
                let waiter = child(&lock, take_over);
                holder.kill();
                assert_eq!(holder.wait(), Exit::Signal(libc::SIGKILL));
                reap(vec![waiter]);
                // The waiter exited holding it: recovered once more, by the parent.
                assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::OwnerDied));
                lock.release().unwrap();
            }
        }
    }

    /// The plain `acquire()` of Python's shape recovers too (no hang) and returns.
    fn lock_holder_killed_plain_acquire_returns() {
        fn hold((lock, held): (Lock, Event)) -> i32 {
            lock.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            1
        }
        let (lock, held) = (Lock::new(), Event::new());
        let holder = child(&(lock.clone(), held.clone()), hold);
        assert!(held.wait_timeout(Duration::from_secs(10)));
        holder.kill();
        let start = Instant::now();
        assert!(lock.acquire_timeout(RECOVERY));
        assert!(start.elapsed() < RECOVERY);
        lock.release().unwrap();
        assert_eq!(holder.wait(), Exit::Signal(libc::SIGKILL));
    }

    /// A child SIGKILLed while holding an `RLock` (at depth 2): the next acquirer gets
    /// it within a second, `OwnerDied`, at depth 1.
    fn rlock_holder_killed_next_acquirer_gets_owner_died() {
        fn hold((r, held): (RLock, Event)) -> i32 {
            r.acquire();
            r.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            1
        }
        for _ in 0..KILLS {
            let (r, held) = (RLock::new(), Event::new());
            let holder = child(&(r.clone(), held.clone()), hold);
            assert!(held.wait_timeout(Duration::from_secs(10)));
            holder.kill();
            let start = Instant::now();
            let how = r.acquire_timeout_or_recover(RECOVERY);
            assert_eq!(how, Some(Acquired::OwnerDied));
            assert!(start.elapsed() < RECOVERY);
            assert_eq!(r.depth(), 1);
            r.release().unwrap();
            assert!(!r.locked());
            assert_eq!(holder.wait(), Exit::Signal(libc::SIGKILL));
        }
    }

    // -----------------------------------------------------------------------------
    // Semaphore, BoundedSemaphore, Event
    // -----------------------------------------------------------------------------

    /// `Semaphore(3)` and 8 children: at most 3 inside at once, and 3 reached.
    fn semaphore_bounds_the_processes_inside() {
        fn visit((sem, inside): (Semaphore, RawArray<u32>)) -> i32 {
            for _ in 0..3 {
                let _permit = sem.acquire_guard();
                let now = inside.as_atomics()[0].fetch_add(1, Ordering::SeqCst) + 1;
                inside.as_atomics()[1].fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                inside.as_atomics()[0].fetch_sub(1, Ordering::SeqCst);
            }
            0
        }
        let sem = Semaphore::new(3);
        let inside = RawArray::<u32>::zeroed(2);
        let kids = (0..8)
            .map(|_| child(&(sem.clone(), inside.clone()), visit))
            .collect();
        reap(kids);
        assert_eq!(inside.as_atomics()[1].load(Ordering::SeqCst), 3);
        assert_eq!(sem.value(), 3);
    }

    /// A child's timed acquire of an empty semaphore expires; a release by the parent
    /// wakes a child asleep in it; a `BoundedSemaphore` refuses the extra release in
    /// any process.
    fn semaphore_timeouts_wakeups_and_bounds() {
        fn take((sem, bounded): (Semaphore, BoundedSemaphore)) -> i32 {
            let t = Instant::now();
            if sem.acquire_timeout(Duration::from_millis(30))
                || t.elapsed() < Duration::from_millis(30)
            {
                return 2;
            }
            if !sem.acquire_timeout(Duration::from_secs(10)) {
                return 3;
            }
            if bounded.release() != Err(SemaphoreError::Overflow) {
                return 4;
            }
            bounded.acquire();
            0
        }
        let sem = Semaphore::new(0);
        let bounded = BoundedSemaphore::new(2);
        let c = child(&(sem.clone(), bounded.clone()), take);
        std::thread::sleep(Duration::from_millis(100));
        sem.release().unwrap();
        reap(vec![c]);
        assert_eq!(bounded.value(), 1);
        bounded.release().unwrap();
        assert_eq!(bounded.release(), Err(SemaphoreError::Overflow));
    }

    /// Three children wait for an `Event` the parent sets; a cleared event times out.
    fn event_wakes_every_waiting_process() {
        fn await_it((ev, ready): (Event, Semaphore)) -> i32 {
            ready.release().unwrap();
            i32::from(!ev.wait_timeout(Duration::from_secs(10)))
        }
        let ev = Event::new();
        let ready = Semaphore::new(0);
        let kids: Vec<Child> = (0..3)
            .map(|_| child(&(ev.clone(), ready.clone()), await_it))
            .collect();
        for _ in 0..3 {
            assert!(ready.acquire_timeout(Duration::from_secs(10)));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(!ev.is_set());
        ev.set();
        reap(kids);
        ev.clear();
        assert!(!ev.wait_timeout(Duration::from_millis(10)));
    }

    // -----------------------------------------------------------------------------
    // Condition, Barrier
    // -----------------------------------------------------------------------------

    /// Children wait on a `Condition` (over its `RLock`, and over a plain `Lock`) for
    /// a state the parent changes under the lock and announces with `notify_all`.
    fn condition_notifies_across_processes() {
        fn consume((cond, state): (Condition, RawValue<u32>)) -> i32 {
            let _g = cond.lock();
            // SAFETY: `state` is read and written only under `cond`'s lock.
            let ok = cond
                .wait_for_timeout(|| unsafe { state.get() } >= 1, Duration::from_secs(10))
                .unwrap();
            if !ok {
                return 2;
            }
            // SAFETY: under the lock.
            unsafe { state.set(state.get() + 1) };
            0
        }
        let cond = Condition::new();
        let state = RawValue::<u32>::zeroed();
        let kids: Vec<Child> = (0..3)
            .map(|_| child(&(cond.clone(), state.clone()), consume))
            .collect();
        wait_until("3 waiters", || cond.waiters() == 3);
        {
            let _g = cond.lock();
            // SAFETY: under the lock.
            unsafe { state.set(1) };
            cond.notify_all().unwrap();
        }
        reap(kids);
        // SAFETY: the children are gone.
        assert_eq!(unsafe { state.get() }, 4);

        fn signal((cond, state): (conkit::multiprocessing::LockCondition, RawValue<u32>)) -> i32 {
            std::thread::sleep(Duration::from_millis(30));
            let _g = cond.lock();
            // SAFETY: under the lock.
            unsafe { state.set(7) };
            match cond.notify(1) {
                Ok(_) => 0,
                Err(_) => 2,
            }
        }
        let cond = Condition::new_over_lock();
        let state = RawValue::<u32>::zeroed();
        let c = child(&(cond.clone(), state.clone()), signal);
        {
            let _g = cond.lock();
            // SAFETY: under the lock.
            let ok = cond
                .wait_for_timeout(|| unsafe { state.get() } == 7, Duration::from_secs(10))
                .unwrap();
            assert!(ok);
        }
        reap(vec![c]);
        assert!(Condition::new().notify(1).is_err()); // not holding the lock
    }

    /// `notify(n)` counts across processes: of three waiting children, `notify(1)` wakes
    /// one (the others still wait), `notify_all` the other two.
    fn condition_notify_counts_across_processes() {
        fn wait_once(cond: Condition) -> i32 {
            let _g = cond.lock();
            match cond.wait_timeout(Duration::from_secs(10)) {
                Ok(true) => 0,
                Ok(false) => 2,
                Err(_) => 3,
            }
        }
        let cond = Condition::new();
        let kids: Vec<Child> = (0..3).map(|_| child(&cond, wait_once)).collect();
        wait_until("3 waiters", || cond.waiters() == 3);
        {
            let _g = cond.lock();
            assert_eq!(cond.notify(1), Ok(1));
            assert_eq!(cond.waiters(), 2);
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(cond.waiters(), 2);
        {
            let _g = cond.lock();
            assert_eq!(cond.notify_all(), Ok(2));
        }
        reap(kids);
        assert_eq!(cond.waiters(), 0);
    }

    /// `Barrier(3)`: the parent and two children, 20 rounds; each round's indices are
    /// 0, 1, 2 once each, and the action runs once per round in some process.
    fn barrier_across_three_processes() {
        const ROUNDS: usize = 20;
        fn party((b, seen, actions): (Barrier, RawArray<u32>, RawValue<u32>)) -> i32 {
            let b = b.with_action(move || {
                actions.as_atomic().fetch_add(1, Ordering::SeqCst);
            });
            for round in 0..ROUNDS {
                match b.wait_timeout(Duration::from_secs(10)) {
                    Ok(i) => {
                        seen.as_atomics()[round * 3 + i].fetch_add(1, Ordering::SeqCst);
                    }
                    Err(BrokenBarrier) => return 2,
                }
            }
            0
        }
        let b = Barrier::new(3);
        let seen = RawArray::<u32>::zeroed(ROUNDS * 3);
        let actions = RawValue::<u32>::zeroed();
        let args = (b.clone(), seen.clone(), actions.clone());
        let kids: Vec<Child> = (0..2).map(|_| child(&args, party)).collect();
        assert_eq!(party(args), 0);
        reap(kids);
        assert!(seen
            .as_atomics()
            .iter()
            .all(|n| n.load(Ordering::SeqCst) == 1));
        assert_eq!(actions.as_atomic().load(Ordering::SeqCst), ROUNDS as u32);
        assert_eq!(b.n_waiting(), 0);
    }

    /// A party SIGKILLed after arriving, while the others wait without a deadline of
    /// their own making: the round either completes (the dead party had arrived) or is
    /// broken by a waiter that noticed the dead party first (the core barrier's
    /// dead-party probe) — either way within a second, never a hang; the barrier is then
    /// broken for the next round until `reset()`.
    fn barrier_party_killed_mid_wait() {
        fn survivor((b, arrived): (Barrier, Semaphore)) -> i32 {
            arrived.release().unwrap();
            let t = Instant::now();
            let _ = b.wait();
            i32::from(t.elapsed() > Duration::from_secs(5))
        }
        fn doomed((b, arrived): (Barrier, Semaphore)) -> i32 {
            arrived.release().unwrap();
            let _ = b.wait();
            4
        }
        let b = Barrier::new(3);
        let arrived = Semaphore::new(0);
        let first = child(&(b.clone(), arrived.clone()), survivor);
        let victim = child(&(b.clone(), arrived.clone()), doomed);
        for _ in 0..2 {
            assert!(arrived.acquire_timeout(Duration::from_secs(10)));
        }
        wait_until("two parties waiting", || b.n_waiting() == 2);
        victim.kill();
        assert_eq!(victim.wait(), Exit::Signal(libc::SIGKILL));
        let t = Instant::now();
        let round = b.wait_timeout(Duration::from_secs(10));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the round with a dead party took {:?} ({round:?})",
            t.elapsed()
        );
        reap(vec![first]);
        // The next round: broken at once (a dead party was seen) or at its deadline.
        let t = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(200)),
            Err(BrokenBarrier)
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        b.reset();
        assert!(!b.broken());
    }

    /// A party SIGKILLed before arriving: the others' deadlines break the barrier for
    /// all (as a late party in Python), `reset()` makes it usable, and live parties
    /// pass a new round.
    fn barrier_party_killed_before_arriving() {
        fn survivor(b: Barrier) -> i32 {
            match b.wait_timeout(Duration::from_secs(10)) {
                Err(BrokenBarrier) => 0,
                Ok(_) => 2,
            }
        }
        fn doomed(_: Barrier) -> i32 {
            std::thread::sleep(Duration::from_secs(30));
            4
        }
        fn live(b: Barrier) -> i32 {
            i32::from(b.wait_timeout(Duration::from_secs(10)).is_err())
        }
        let b = Barrier::new(3);
        let first = child(&b, survivor);
        let victim = child(&b, doomed);
        wait_until("one party waiting", || b.n_waiting() == 1);
        victim.kill();
        assert_eq!(victim.wait(), Exit::Signal(libc::SIGKILL));
        let t = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(200)),
            Err(BrokenBarrier)
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        reap(vec![first]); // it saw the break too
        assert!(b.broken());
        b.reset();
        assert!(!b.broken());
        let kids: Vec<Child> = (0..2).map(|_| child(&b, live)).collect();
        assert!(b.wait_timeout(Duration::from_secs(10)).is_ok());
        reap(kids);
    }

    // -----------------------------------------------------------------------------
    // Value, Array, SharedMemory
    // -----------------------------------------------------------------------------

    /// The seed's program: 2 processes × 100 000 increments under `get_lock()` end at
    /// exactly 200 000; `update` and the Array forms count as exactly.
    fn value_and_array_count_exactly() {
        const N: u64 = 100_000;
        fn add((v, a): (Value<u64>, Array<u32>)) -> i32 {
            for _ in 0..N {
                let _g = v.get_lock().lock();
                v.set(v.get() + 1);
            }
            for _ in 0..1_000 {
                v.update(|x| x + 1);
                let _g = a.get_lock().lock();
                for i in 0..a.len() {
                    a.update(i, |x| x + 1).unwrap();
                }
            }
            0
        }
        let v = Value::<u64>::zeroed();
        let a = Array::<u32>::zeroed(5);
        let kids: Vec<Child> = (0..2)
            .map(|_| child(&(v.clone(), a.clone()), add))
            .collect();
        reap(kids);
        assert_eq!(v.get(), 2 * N + 2_000);
        assert_eq!(a.to_vec(), [2_000; 5]);
    }

    /// An `Array` made from a slice is seen by a child, which writes a range back;
    /// out-of-range indices are errors in every process.
    fn array_ranges_across_processes() {
        fn rewrite(a: Array<i64>) -> i32 {
            if a.to_vec() != [1, 2, 3, 4] || a.get(4).is_some() || a.set(4, 0).is_ok() {
                return 2;
            }
            i32::from(a.set_range(2, &[30, 40]).is_err())
        }
        let a = Array::from_slice(&[1i64, 2, 3, 4]);
        reap(vec![child(&a, rewrite)]);
        assert_eq!(a.get_range(1..4), Some(vec![2, 30, 40]));
        assert!(a.set_range(3, &[0, 0]).is_err());
    }

    /// A child attaches to a named block by name (the argument serialises as the name),
    /// reads what the parent wrote and writes back; after `unlink` the name is gone.
    fn shared_memory_between_processes() {
        fn echo(shm: SharedMemory) -> i32 {
            let mut got = [0u8; 5];
            if shm.read_at(0, &mut got).is_err() || &got != b"hello" {
                return 2;
            }
            i32::from(shm.write_at(100, b"world").is_err())
        }
        let shm = SharedMemory::create(4096).unwrap();
        shm.write_at(0, b"hello").unwrap();
        reap(vec![child(&shm, echo)]);
        let mut back = [0u8; 5];
        shm.read_at(100, &mut back).unwrap();
        assert_eq!(&back, b"world");
        let name = shm.name().to_owned();
        assert!(matches!(
            SharedMemory::create_named(&name, 10),
            Err(SharedMemoryError::Exists(_))
        ));
        let other = SharedMemory::attach(&name).unwrap();
        assert_eq!(other.size(), 4096);
        shm.unlink().unwrap();
        // Still mapped where it was attached; gone by name.
        other.read_at(0, &mut back).unwrap();
        assert_eq!(&back, b"hello");
        assert!(matches!(
            SharedMemory::attach(&name),
            Err(SharedMemoryError::NotFound(_))
        ));
        assert!(matches!(shm.unlink(), Err(SharedMemoryError::NotFound(_))));
        assert!(matches!(
            SharedMemory::attach("bad/name"),
            Err(SharedMemoryError::InvalidName(_))
        ));
    }

    /// A child that deserialises a handle as another type gets a typed error, not a
    /// misread mapping.
    fn attaching_as_another_type_is_refused() {
        fn wrong(_: Semaphore) -> i32 {
            9
        }
        let lock = Lock::new();
        let (bytes, fds) = inherit::collect(|| codec::to_bytes(&lock));
        let bytes = bytes.unwrap();
        let c = fork(move || {
            let dups: Vec<OwnedFd> = fds
                .iter()
                .map(|&fd| {
                    // SAFETY: inherited from the parent, open in this child.
                    unsafe { BorrowedFd::borrow_raw(fd) }
                        .try_clone_to_owned()
                        .unwrap()
                })
                .collect();
            inherit::install(dups);
            let r = codec::from_bytes::<Semaphore>(&bytes);
            inherit::clear();
            match r {
                // (postcard keeps no message for a custom error: the header check's
                // `FingerprintMismatch` arrives as a generic `CodecError`.)
                Err(_) => 0,
                Ok(s) => wrong(s),
            }
        });
        reap(vec![c]);
        // And outside a child's start, a handle does not serialise at all.
        assert!(codec::to_bytes(&lock).is_err());
    }

    pub fn run() {
        run_scenarios(
            &[
                (
                    "lock_excludes_across_processes",
                    lock_excludes_across_processes,
                ),
                (
                    "lock_timeouts_and_release_by_another_process",
                    lock_timeouts_and_release_by_another_process,
                ),
                (
                    "rlock_is_owned_by_one_process",
                    rlock_is_owned_by_one_process,
                ),
                (
                    "lock_holder_killed_next_acquirer_gets_owner_died",
                    lock_holder_killed_next_acquirer_gets_owner_died,
                ),
                (
                    "lock_holder_killed_plain_acquire_returns",
                    lock_holder_killed_plain_acquire_returns,
                ),
                (
                    "rlock_holder_killed_next_acquirer_gets_owner_died",
                    rlock_holder_killed_next_acquirer_gets_owner_died,
                ),
                (
                    "semaphore_bounds_the_processes_inside",
                    semaphore_bounds_the_processes_inside,
                ),
                (
                    "semaphore_timeouts_wakeups_and_bounds",
                    semaphore_timeouts_wakeups_and_bounds,
                ),
                (
                    "event_wakes_every_waiting_process",
                    event_wakes_every_waiting_process,
                ),
                (
                    "condition_notifies_across_processes",
                    condition_notifies_across_processes,
                ),
                (
                    "condition_notify_counts_across_processes",
                    condition_notify_counts_across_processes,
                ),
                (
                    "barrier_across_three_processes",
                    barrier_across_three_processes,
                ),
                (
                    "barrier_party_killed_mid_wait",
                    barrier_party_killed_mid_wait,
                ),
                (
                    "barrier_party_killed_before_arriving",
                    barrier_party_killed_before_arriving,
                ),
                (
                    "value_and_array_count_exactly",
                    value_and_array_count_exactly,
                ),
                (
                    "array_ranges_across_processes",
                    array_ranges_across_processes,
                ),
                (
                    "shared_memory_between_processes",
                    shared_memory_between_processes,
                ),
                (
                    "attaching_as_another_type_is_refused",
                    attaching_as_another_type_is_refused,
                ),
            ],
            Duration::from_secs(60),
        );
    }
}
