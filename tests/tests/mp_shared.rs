//! `conkit::multiprocessing`'s process-shared primitives and data between real
//! processes: `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`,
//! `Barrier`, `Value`, `Array`, `RawValue`, `RawArray`, `SharedMemory`, each handed to
//! real children — `conkit::multiprocessing::Process`es, under every start method of
//! `get_all_start_methods()` — as their arguments (the mapping's descriptor through
//! `inherit`, attached with the header checked in the child), with real `SIGKILL`s for
//! the holders and parties that die. Every scenario runs in its own process under a
//! watchdog (`run_scenarios`), and every wait in it is bounded. (`harness = false`: see
//! `conkit_tests::process` and `conkit_tests::mp`.)

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
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::shared_memory::{
        Item, ShareableList, ShareableListError, SharedMemory, SharedMemoryError,
    };
    use conkit::multiprocessing::{
        codec, Acquired, Array, Barrier, BoundedSemaphore, BrokenBarrier, Condition, Event, Lock,
        Process, RLock, RawArray, RawValue, ReleaseError, Semaphore, SemaphoreError, Value,
    };
    use conkit::multiprocessing::{ConditionError, ConditionOn, SyncLock};
    use conkit_tests::mp::{join, kill, reap, run_under_every_method, start, Retype};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// The bound the issue sets: the next acquirer gets a dead holder's lock within 1 s.
    const RECOVERY: Duration = Duration::from_secs(1);

    /// Starts `f(arg)` in a child `Process` (with the current pass's start method): the
    /// handles in `arg` are serialised among its arguments, and the child attaches to
    /// the same shared objects.
    fn child<A>(arg: &A, f: fn(A)) -> Process
    where
        A: Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        start(f, arg.clone())
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
        fn work((lock, counter): (Lock, RawValue<u64>)) {
            for _ in 0..PER_CHILD {
                let _g = lock.lock();
                // SAFETY: every writer holds `lock`.
                unsafe { counter.set(counter.get() + 1) };
            }
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
        fn hold((lock, held, go): (Lock, Event, Event)) {
            lock.acquire();
            held.set();
            assert!(go.wait_timeout(Duration::from_secs(10)));
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
        fn hold((r, held, go): (RLock, Event, Event)) {
            r.acquire();
            r.acquire();
            held.set();
            assert!(go.wait_timeout(Duration::from_secs(10)));
            r.release().unwrap();
            assert_eq!(r.depth(), 1);
            r.release().unwrap();
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
        fn hold((lock, held): (Lock, Event)) {
            lock.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            panic!("not killed");
        }
        fn take_over(lock: Lock) {
            assert_eq!(
                lock.acquire_timeout_or_recover(RECOVERY * 2),
                Some(Acquired::OwnerDied)
            );
        }
        for round in 0..KILLS {
            let (lock, held) = (Lock::new(), Event::new());
            let mut holder = child(&(lock.clone(), held.clone()), hold);
            assert!(held.wait_timeout(Duration::from_secs(10)));
            if round % 2 == 0 {
                // The parent is the next acquirer, already waiting when the kill comes.
                let pid = holder.pid().expect("started") as libc::pid_t;
                let killer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    // SAFETY: a plain system call on our unreaped child (no pid reuse).
                    unsafe { libc::kill(pid, libc::SIGKILL) }
                });
                let start = Instant::now();
                let how = lock.acquire_timeout_or_recover(RECOVERY);
                let took = start.elapsed();
                assert_eq!(how, Some(Acquired::OwnerDied), "round {round}");
                assert!(took < RECOVERY, "took {took:?}");
                assert_eq!(killer.join().unwrap(), 0);
                assert_eq!(join(&mut holder), -libc::SIGKILL);
                // The plain form after a recovery: clean again.
                lock.release().unwrap();
                assert_eq!(lock.acquire_or_recover(), Acquired::Clean);
                lock.release().unwrap();
            } else {
                // Another child is the next acquirer.
                let waiter = child(&lock, take_over);
                assert_eq!(kill(holder), -libc::SIGKILL);
                reap(vec![waiter]);
                // The waiter exited holding it: recovered once more, by the parent.
                assert_eq!(lock.try_acquire_or_recover(), Some(Acquired::OwnerDied));
                lock.release().unwrap();
            }
        }
    }

    /// The plain `acquire()` of Python's shape recovers too (no hang) and returns.
    fn lock_holder_killed_plain_acquire_returns() {
        fn hold((lock, held): (Lock, Event)) {
            lock.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            panic!("not killed");
        }
        let (lock, held) = (Lock::new(), Event::new());
        let mut holder = child(&(lock.clone(), held.clone()), hold);
        assert!(held.wait_timeout(Duration::from_secs(10)));
        holder.kill().unwrap();
        let start = Instant::now();
        assert!(lock.acquire_timeout(RECOVERY));
        assert!(start.elapsed() < RECOVERY);
        lock.release().unwrap();
        assert_eq!(join(&mut holder), -libc::SIGKILL);
    }

    /// A child SIGKILLed while holding an `RLock` (at depth 2): the next acquirer gets
    /// it within a second, `OwnerDied`, at depth 1.
    fn rlock_holder_killed_next_acquirer_gets_owner_died() {
        fn hold((r, held): (RLock, Event)) {
            r.acquire();
            r.acquire();
            held.set();
            std::thread::sleep(Duration::from_secs(30));
            panic!("not killed");
        }
        for _ in 0..KILLS {
            let (r, held) = (RLock::new(), Event::new());
            let mut holder = child(&(r.clone(), held.clone()), hold);
            assert!(held.wait_timeout(Duration::from_secs(10)));
            holder.kill().unwrap();
            let start = Instant::now();
            let how = r.acquire_timeout_or_recover(RECOVERY);
            assert_eq!(how, Some(Acquired::OwnerDied));
            assert!(start.elapsed() < RECOVERY);
            assert_eq!(r.depth(), 1);
            r.release().unwrap();
            assert!(!r.locked());
            assert_eq!(join(&mut holder), -libc::SIGKILL);
        }
    }

    // -----------------------------------------------------------------------------
    // Semaphore, BoundedSemaphore, Event
    // -----------------------------------------------------------------------------

    /// `Semaphore(3)` and 8 children: at most 3 inside at once, and 3 reached.
    fn semaphore_bounds_the_processes_inside() {
        fn visit((sem, inside): (Semaphore, RawArray<u32>)) {
            for _ in 0..3 {
                let _permit = sem.acquire_guard();
                let now = inside.as_atomics()[0].fetch_add(1, Ordering::SeqCst) + 1;
                inside.as_atomics()[1].fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                inside.as_atomics()[0].fetch_sub(1, Ordering::SeqCst);
            }
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
        fn take((sem, bounded, started): (Semaphore, BoundedSemaphore, Event)) {
            started.set();
            let t = Instant::now();
            assert!(!sem.acquire_timeout(Duration::from_millis(30)));
            assert!(t.elapsed() >= Duration::from_millis(30));
            assert!(sem.acquire_timeout(Duration::from_secs(10)));
            assert_eq!(bounded.release(), Err(SemaphoreError::Overflow));
            bounded.acquire();
        }
        let sem = Semaphore::new(0);
        let bounded = BoundedSemaphore::new(2);
        let started = Event::new();
        let c = child(&(sem.clone(), bounded.clone(), started.clone()), take);
        // (A spawned child takes a while to start: release only after its timeout.)
        assert!(started.wait_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(100));
        sem.release().unwrap();
        reap(vec![c]);
        assert_eq!(bounded.value(), 1);
        bounded.release().unwrap();
        assert_eq!(bounded.release(), Err(SemaphoreError::Overflow));
    }

    /// Three children wait for an `Event` the parent sets; a cleared event times out.
    fn event_wakes_every_waiting_process() {
        fn await_it((ev, ready): (Event, Semaphore)) {
            ready.release().unwrap();
            assert!(ev.wait_timeout(Duration::from_secs(10)));
        }
        let ev = Event::new();
        let ready = Semaphore::new(0);
        let kids: Vec<Process> = (0..3)
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
        fn consume((cond, state): (Condition, RawValue<u32>)) {
            let _g = cond.lock();
            // SAFETY: `state` is read and written only under `cond`'s lock.
            let ok = cond
                .wait_for_timeout(|| unsafe { state.get() } >= 1, Duration::from_secs(10))
                .unwrap();
            assert!(ok);
            // SAFETY: under the lock.
            unsafe { state.set(state.get() + 1) };
        }
        let cond = Condition::new();
        let state = RawValue::<u32>::zeroed();
        let kids: Vec<Process> = (0..3)
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

        fn signal((cond, state): (conkit::multiprocessing::LockCondition, RawValue<u32>)) {
            std::thread::sleep(Duration::from_millis(30));
            let _g = cond.lock();
            // SAFETY: under the lock.
            unsafe { state.set(7) };
            cond.notify(1).unwrap();
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
        fn wait_once(cond: Condition) {
            let _g = cond.lock();
            assert_eq!(cond.wait_timeout(Duration::from_secs(10)), Ok(true));
        }
        let cond = Condition::new();
        let kids: Vec<Process> = (0..3).map(|_| child(&cond, wait_once)).collect();
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
        fn party((b, seen, actions): (Barrier, RawArray<u32>, RawValue<u32>)) {
            let b = b.with_action(move || {
                actions.as_atomic().fetch_add(1, Ordering::SeqCst);
            });
            for round in 0..ROUNDS {
                let i = b.wait_timeout(Duration::from_secs(10)).expect("not broken");
                seen.as_atomics()[round * 3 + i].fetch_add(1, Ordering::SeqCst);
            }
        }
        let b = Barrier::new(3);
        let seen = RawArray::<u32>::zeroed(ROUNDS * 3);
        let actions = RawValue::<u32>::zeroed();
        let args = (b.clone(), seen.clone(), actions.clone());
        let kids: Vec<Process> = (0..2).map(|_| child(&args, party)).collect();
        party(args);
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
        fn survivor((b, arrived): (Barrier, Semaphore)) {
            arrived.release().unwrap();
            let t = Instant::now();
            let _ = b.wait();
            assert!(t.elapsed() <= Duration::from_secs(5), "{:?}", t.elapsed());
        }
        fn doomed((b, arrived): (Barrier, Semaphore)) {
            arrived.release().unwrap();
            let _ = b.wait();
            panic!("not killed");
        }
        let b = Barrier::new(3);
        let arrived = Semaphore::new(0);
        let first = child(&(b.clone(), arrived.clone()), survivor);
        let victim = child(&(b.clone(), arrived.clone()), doomed);
        for _ in 0..2 {
            assert!(arrived.acquire_timeout(Duration::from_secs(10)));
        }
        wait_until("two parties waiting", || b.n_waiting() == 2);
        assert_eq!(kill(victim), -libc::SIGKILL);
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
        fn survivor(b: Barrier) {
            assert_eq!(b.wait_timeout(Duration::from_secs(10)), Err(BrokenBarrier));
        }
        fn doomed(_: Barrier) {
            std::thread::sleep(Duration::from_secs(30));
            panic!("not killed");
        }
        fn live(b: Barrier) {
            assert!(b.wait_timeout(Duration::from_secs(10)).is_ok());
        }
        let b = Barrier::new(3);
        let first = child(&b, survivor);
        let victim = child(&b, doomed);
        wait_until("one party waiting", || b.n_waiting() == 1);
        assert_eq!(kill(victim), -libc::SIGKILL);
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
        let kids: Vec<Process> = (0..2).map(|_| child(&b, live)).collect();
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
        fn add((v, a): (Value<u64>, Array<u32>)) {
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
        }
        let v = Value::<u64>::zeroed();
        let a = Array::<u32>::zeroed(5);
        let kids: Vec<Process> = (0..2)
            .map(|_| child(&(v.clone(), a.clone()), add))
            .collect();
        reap(kids);
        assert_eq!(v.get(), 2 * N + 2_000);
        assert_eq!(a.to_vec(), [2_000; 5]);
    }

    /// An `Array` made from a slice is seen by a child, which writes a range back;
    /// out-of-range indices are errors in every process.
    fn array_ranges_across_processes() {
        fn rewrite(a: Array<i64>) {
            assert_eq!(a.to_vec(), [1, 2, 3, 4]);
            assert!(a.get(4).is_none());
            assert!(a.set(4, 0).is_err());
            a.set_range(2, &[30, 40]).unwrap();
        }
        let a = Array::from_slice(&[1i64, 2, 3, 4]);
        reap(vec![child(&a, rewrite)]);
        assert_eq!(a.get_range(1..4), Some(vec![2, 30, 40]));
        assert!(a.set_range(3, &[0, 0]).is_err());
    }

    /// A child attaches to a named block by name (the argument serialises as the name),
    /// reads what the parent wrote and writes back; after `unlink` the name is gone.
    fn shared_memory_between_processes() {
        fn echo(shm: SharedMemory) {
            let mut got = [0u8; 5];
            shm.read_at(0, &mut got).unwrap();
            assert_eq!(&got, b"hello");
            shm.write_at(100, b"world").unwrap();
        }
        let shm = SharedMemory::create(4096).unwrap();
        shm.write_at(0, b"hello").unwrap();
        // (Python passes the object, which pickles as its name: so does this handle.)
        reap(vec![start(echo, SharedMemory::attach(shm.name()).unwrap())]);
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

    // -----------------------------------------------------------------------------
    // ShareableList
    // -----------------------------------------------------------------------------

    /// The items the ShareableList scenarios start from (Python's docs example, plus
    /// a non-ASCII string).
    fn sample() -> Vec<Item> {
        vec![
            Item::from("howdy"),
            Item::from(&b"HoWdY"[..]),
            Item::from(-273.154),
            Item::from(100),
            Item::None,
            Item::from(true),
            Item::from(42),
            Item::from("红包"),
        ]
    }

    /// Unlinks a named block when dropped, so a failing scenario leaves nothing in
    /// `/dev/shm` (there is no resource tracker).
    struct Unlink(String);

    impl Drop for Unlink {
        fn drop(&mut self) {
            if let Ok(shm) = SharedMemory::attach(&self.0) {
                let _ = shm.unlink();
            }
        }
    }

    /// A child gets the list as its argument (it serialises as the block's name, as
    /// CPython pickles it), checks every item, and rewrites some, of other types; a
    /// second child attaches by the name alone; the parent sees every write; `unlink`
    /// removes the name.
    fn shareable_list_between_processes() {
        fn rewrite(sl: ShareableList) {
            assert_eq!(sl.to_vec().unwrap(), sample());
            assert_eq!(sl.format().unwrap(), "8s8sdqxxxxxx?xxxxxxxx?q8s");
            sl.set(0, "hi!").unwrap();
            sl.set(2, 2.5).unwrap();
            sl.set(3, None::<i64>).unwrap();
            sl.set(4, "fits").unwrap(); // a None's slot: 8 bytes
            assert!(matches!(
                sl.set(1, "far too long for 8"),
                Err(ShareableListError::TooLong { len: 18, slot: 8 })
            ));
            assert!(matches!(
                sl.set(8, 0),
                Err(ShareableListError::Index { index: 8, len: 8 })
            ));
        }
        fn by_name(name: String) {
            let sl = ShareableList::attach(&name).unwrap();
            assert_eq!(sl.len(), 8);
            assert_eq!(sl.get(4).unwrap(), Item::from("fits"));
            assert_eq!(sl.index(&Item::Int(42)).unwrap(), Some(6));
            sl.set(6, false).unwrap();
        }
        let sl = ShareableList::create(sample()).unwrap();
        let name = sl.shm().name().to_owned();
        let _cleanup = Unlink(name.clone());
        let handle = ShareableList::attach(&name).unwrap();
        reap(vec![start(rewrite, handle)]);
        assert_eq!(sl.get(0).unwrap(), Item::from("hi!"));
        assert_eq!(sl.get(2).unwrap(), Item::Float(2.5));
        assert_eq!(sl.get(3).unwrap(), Item::None);
        assert_eq!(sl.format().unwrap(), "8s8sdxxxxxx?x8sxxxxxxx?q8s");
        reap(vec![start(by_name, name.clone())]);
        assert_eq!(sl.get(6).unwrap(), Item::Bool(false));
        assert_eq!(sl.count(&Item::Bool(false)).unwrap(), 1);
        assert_eq!(sl.count(&Item::None).unwrap(), 1);
        sl.shm().unlink().unwrap();
        assert!(matches!(
            ShareableList::attach(&name),
            Err(ShareableListError::SharedMemory(
                SharedMemoryError::NotFound(_)
            ))
        ));
        // A block that is not a list (a length that cannot fit) is refused, not read.
        let junk = SharedMemory::create(64).unwrap();
        let _cleanup_junk = Unlink(junk.name().to_owned());
        junk.write_at(0, &7i64.to_ne_bytes()).unwrap();
        assert!(matches!(
            ShareableList::attach(junk.name()),
            Err(ShareableListError::Corrupt(_))
        ));
        junk.write_at(0, &(-1i64).to_ne_bytes()).unwrap();
        assert!(matches!(
            ShareableList::attach(junk.name()),
            Err(ShareableListError::Corrupt(_))
        ));
        junk.unlink().unwrap();
    }

    /// Runs `python3 -c script args…` with a deadline; returns its stdout.
    fn python(script: &str, args: &[&str]) -> String {
        use std::io::Read;
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (the ShareableList interop scenario needs it)");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                assert!(status.success(), "python3 failed: {status}; stdout: {out}");
                return out;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("python3 hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// CPython's `ShareableList` and this one share a list by name, both ways: Python
    /// reads a list made here (items and `format` as Python sees them) and rewrites
    /// items; this side reads Python's writes, and reads a list Python made (with its
    /// own slot sizes).
    fn shareable_list_with_cpython() {
        // Attaching in Python 3.8–3.12 registers the block with the resource tracker,
        // which would unlink it when the script ends: unregister it.
        const ATTACH: &str = r#"
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList
sl = ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
print(repr(list(sl)))
print(sl.format)
sl[0] = "py"
sl[3] = 2**62
sl[7] = b"\x01\x02"
sl[4] = 0.5
sl.shm.close()
"#;
        let sl = ShareableList::create(sample()).unwrap();
        let _cleanup = Unlink(sl.shm().name().to_owned());
        let out = python(ATTACH, &[sl.shm().name()]);
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("['howdy', b'HoWdY', -273.154, 100, None, True, 42, '红包']")
        );
        assert_eq!(lines.next(), Some("8s8sdqxxxxxx?xxxxxxxx?q8s"));
        assert_eq!(
            sl.to_vec().unwrap()[..5],
            [
                Item::from("py"),
                Item::from(&b"HoWdY"[..]),
                Item::Float(-273.154),
                Item::Int(1 << 62),
                Item::Float(0.5),
            ]
        );
        assert_eq!(sl.get(7).unwrap(), Item::Bytes(vec![1, 2]));
        sl.shm().unlink().unwrap();

        // A list made by Python (which sizes a str slot by its characters).
        let name = format!("conkit_sl_py_{}", std::process::id());
        const CREATE: &str = r#"
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList
sl = ShareableList([7, "seven", b"7", 7.0, False, None, "x" * 20], name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
sl.shm.close()
"#;
        let _cleanup_py = Unlink(name.clone());
        python(CREATE, &[&name]);
        let sl = ShareableList::attach(&name).unwrap();
        assert_eq!(
            sl.to_vec().unwrap(),
            [
                Item::Int(7),
                Item::from("seven"),
                Item::from(&b"7"[..]),
                Item::Float(7.0),
                Item::Bool(false),
                Item::None,
                Item::from("x".repeat(20)),
            ]
        );
        assert_eq!(sl.format().unwrap(), "q8s8sdxxxxxxx?xxxxxx?x24s");
        sl.set(6, "y".repeat(24)).unwrap();
        assert!(sl.set(6, "y".repeat(25)).is_err());
        const READ: &str = r#"
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList
sl = ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
print(sl[6])
sl.shm.close()
"#;
        assert_eq!(python(READ, &[&name]).trim(), "y".repeat(24));
        sl.shm().unlink().unwrap();
    }

    // -----------------------------------------------------------------------------
    // An existing lock: Value(lock=), Array(lock=), Condition(lock)
    // -----------------------------------------------------------------------------

    /// `Value(lock=lock)` and `Array(lock=lock)` with one existing `Lock`: in a child
    /// (which attached to the value, the array and the lock), every access waits while
    /// the parent holds that lock, and `update` counts exactly from two processes.
    fn value_and_array_take_an_existing_lock() {
        const N: u64 = 20_000;
        type Args = (Value<u64>, Array<u64>, Lock, Event, Semaphore);
        fn blocked((v, a, lock, held, checked): Args) {
            assert!(v.get_lock().as_lock().is_some());
            assert!(held.wait_timeout(Duration::from_secs(10)));
            // The parent holds `lock`: the value's and the array's lock is that lock.
            assert!(!v.get_lock().acquire_timeout(Duration::from_millis(30)));
            assert!(!a.get_lock().try_acquire());
            assert!(!lock.try_acquire());
            checked.release().unwrap();
            for _ in 0..N {
                v.update(|x| x + 1);
                a.update(1, |x| x + 1).unwrap();
            }
        }
        let lock = Lock::new();
        let v = Value::with_lock(0u64, lock.clone());
        let a = Array::<u64>::zeroed_with_lock(2, lock.clone());
        let (held, checked) = (Event::new(), Semaphore::new(0));
        let args = (
            v.clone(),
            a.clone(),
            lock.clone(),
            held.clone(),
            checked.clone(),
        );
        let kids: Vec<Process> = (0..2).map(|_| child(&args, blocked)).collect();
        {
            let _g = lock.lock();
            held.set();
            // Both children saw the lock held before it is released.
            for _ in 0..2 {
                assert!(checked.acquire_timeout(Duration::from_secs(10)));
            }
        }
        reap(kids);
        assert_eq!(v.get(), 2 * N);
        assert_eq!(a.to_vec(), [0, 2 * N]);
        assert!(matches!(SyncLock::from(lock), SyncLock::Lock(_)));
    }

    /// `Value(lock=rlock)` with an existing `RLock` and `Condition(rlock)` over the same
    /// lock: a child waits on the condition for the value (read under the lock it
    /// already holds: the `RLock` re-enters; the wait releases both levels), the
    /// parent updates the value and notifies through the lock it took directly.
    fn condition_and_value_over_one_existing_rlock() {
        type Args = (Value<u32>, ConditionOn<RLock>);
        fn await_three((v, cond): Args) {
            let _g = cond.lock();
            let _again = cond.get_lock().lock(); // depth 2: a wait releases both
            let ok = cond
                .wait_for_timeout(|| v.get() >= 3, Duration::from_secs(10))
                .unwrap();
            assert!(ok, "never saw 3");
            assert_eq!(cond.get_lock().depth(), 2);
            v.set(v.get() + 100);
        }
        let r = RLock::new();
        let v = Value::with_lock(0u32, r.clone());
        let cond = Condition::with_lock(r.clone());
        let kids: Vec<Process> = (0..2)
            .map(|_| child(&(v.clone(), cond.clone()), await_three))
            .collect();
        wait_until("2 waiters", || cond.waiters() == 2);
        for _ in 0..3 {
            let _g = r.lock(); // the condition's lock, taken directly
            v.set(v.get() + 1);
            cond.notify_all().unwrap();
        }
        reap(kids);
        assert_eq!(v.get(), 203);
        assert!(!r.locked());
    }

    /// Two conditions over one existing `Lock` (Python's `not_empty`/`not_full` over a
    /// queue's lock): children wait on one, the parent notifies it holding the lock
    /// through the other; `notify(1)` wakes exactly one waiting process; notifying
    /// without the lock is refused.
    fn two_conditions_over_one_existing_lock() {
        type Args = (ConditionOn<Lock>, RawValue<u32>);
        fn await_item((not_empty, items): Args) {
            let _g = not_empty.lock();
            // SAFETY: `items` is read and written only under the shared lock.
            let ok = not_empty
                .wait_for_timeout(|| unsafe { items.get() } > 0, Duration::from_secs(10))
                .unwrap();
            assert!(ok);
            // SAFETY: under the lock.
            unsafe { items.set(items.get() - 1) };
        }
        let lock = Lock::new();
        let not_empty = Condition::with_lock(lock.clone());
        let not_full = Condition::with_lock(lock.clone());
        let items = RawValue::<u32>::zeroed();
        let kids: Vec<Process> = (0..3)
            .map(|_| child(&(not_empty.clone(), items.clone()), await_item))
            .collect();
        wait_until("3 waiters", || not_empty.waiters() == 3);
        assert_eq!(not_empty.notify(1), Err(ConditionError::NotOwned));
        {
            let _g = not_full.lock(); // the same lock
                                      // SAFETY: under the lock.
            unsafe { items.set(1) };
            assert_eq!(not_empty.notify(1), Ok(1));
            assert_eq!(not_full.waiters(), 0);
        }
        wait_until("one item taken", || {
            let _g = lock.lock();
            // SAFETY: under the lock.
            unsafe { items.get() == 0 }
        });
        assert_eq!(not_empty.waiters(), 2);
        {
            let _g = lock.lock();
            // SAFETY: under the lock.
            unsafe { items.set(2) };
            assert_eq!(not_empty.notify_all(), Ok(2));
        }
        reap(kids);
        // SAFETY: the children are gone.
        assert_eq!(unsafe { items.get() }, 0);
        assert!(!lock.locked());
    }

    /// A child whose argument is a handle deserialised as another type never runs its
    /// target: the header check refuses the mapping, and the child reports that it
    /// cannot decode its arguments (exit code 1), not a misread mapping.
    fn attaching_as_another_type_is_refused() {
        fn wrong(_: Retype<Lock, Semaphore>) {
            // SAFETY: ends the process at once (the exit code says the target ran).
            unsafe { libc::_exit(9) }
        }
        let lock = Lock::new();
        let mut c = start(wrong, Retype::Sent(lock.clone()));
        assert_eq!(join(&mut c), 1);
        // The same argument as the right type runs.
        fn right(_: Retype<Lock, Lock>) {
            // SAFETY: ends the process at once.
            unsafe { libc::_exit(9) }
        }
        let mut c = start(right, Retype::Sent(lock.clone()));
        assert_eq!(join(&mut c), 9);
        // And outside a child's start, a handle does not serialise at all.
        assert!(codec::to_bytes(&lock).is_err());
    }

    pub fn run() {
        run_under_every_method(
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
                    "shareable_list_between_processes",
                    shareable_list_between_processes,
                ),
                ("shareable_list_with_cpython", shareable_list_with_cpython),
                (
                    "value_and_array_take_an_existing_lock",
                    value_and_array_take_an_existing_lock,
                ),
                (
                    "condition_and_value_over_one_existing_rlock",
                    condition_and_value_over_one_existing_rlock,
                ),
                (
                    "two_conditions_over_one_existing_lock",
                    two_conditions_over_one_existing_lock,
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
