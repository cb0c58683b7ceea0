//! Parity with CPython 3.11's own `multiprocessing` test suite
//! (`Lib/test/_test_multiprocessing.py`): each scenario names the CPython test it
//! mirrors and checks the same behaviour on `conkit::multiprocessing` — the error a
//! misuse gets, the value a call returns, what another process sees. Behaviour the
//! other `mp_*` / `processes_*` binaries already cover is not repeated here.
//! (`harness = false`: each scenario runs in a child of its own under a watchdog, see
//! `conkit_tests::process`; children are `fork`ed daemons, joined within a bound.)

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
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::connection::{wait, ConnectionError, Listener};
    use conkit::multiprocessing::pool::{Pool, PoolError, TaskError};
    use conkit::multiprocessing::shared_memory::{SharedMemory, SharedMemoryError};
    use conkit::multiprocessing::{
        self as mp, Barrier, BoundedSemaphore, Condition, Connection, Event, GetError,
        JoinableQueue, Lock, Pipe, ProcessError, PutError, Queue, SimpleQueue, TaskDoneError,
        Value,
    };
    use conkit_tests::mp::{join, reap, start};

    pub fn run() {
        conkit_tests::process::run_scenarios(
            &[
                ("process_close_then_use", process_close_then_use),
                ("process_before_and_after", process_before_and_after),
                ("parent_process_attributes", parent_process_attributes),
                (
                    "parent_process_grandchild_sees_parent_die",
                    parent_process_grandchild_sees_parent_die,
                ),
                (
                    "child_waits_for_its_non_daemon_threads",
                    child_waits_for_its_non_daemon_threads,
                ),
                (
                    "child_joins_its_non_daemon_children",
                    child_joins_its_non_daemon_children,
                ),
                (
                    "fork_child_has_only_the_forking_thread",
                    fork_child_has_only_the_forking_thread,
                ),
                ("queue_errors_and_sizes", queue_errors_and_sizes),
                (
                    "queue_items_outlive_the_child",
                    queue_items_outlive_the_child,
                ),
                ("joinable_queue_task_done", joinable_queue_task_done),
                ("simple_queue_empty_and_close", simple_queue_empty_and_close),
                ("lock_and_semaphore_timeouts", lock_and_semaphore_timeouts),
                ("condition_between_processes", condition_between_processes),
                ("event_between_processes", event_between_processes),
                ("barrier_between_processes", barrier_between_processes),
                (
                    "value_get_lock_between_processes",
                    value_get_lock_between_processes,
                ),
                ("connection_misuse_errors", connection_misuse_errors),
                (
                    "connection_poll_and_boundaries",
                    connection_poll_and_boundaries,
                ),
                ("listener_bind_and_poll", listener_bind_and_poll),
                ("pool_results_and_errors", pool_results_and_errors),
                (
                    "pool_worker_lifetime_early_close",
                    pool_worker_lifetime_early_close,
                ),
                (
                    "shared_memory_create_attach_unlink",
                    shared_memory_create_attach_unlink,
                ),
            ],
            Duration::from_secs(30),
        );
    }

    fn waits_for(e: Event) {
        assert!(e.wait_timeout(Duration::from_secs(20)));
    }

    /// `_TestProcess.test_close`: `close()` of a running process is an error; after
    /// `close()`, `join`/`terminate`/`kill`/`start`/`sentinel` are errors (CPython:
    /// `ValueError`) and a second `close()` is fine.
    fn process_close_then_use() {
        let e = Event::new();
        let mut p = start(waits_for, e.clone());
        assert!(p.is_alive());
        assert!(matches!(p.close(), Err(ProcessError::StillRunning)));
        e.set();
        assert_eq!(join(&mut p), 0);
        assert!(!p.is_alive());
        p.close().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Closed)));
        assert!(matches!(
            p.join_timeout(Duration::ZERO),
            Err(ProcessError::Closed)
        ));
        assert!(matches!(p.terminate(), Err(ProcessError::Closed)));
        assert!(matches!(p.kill(), Err(ProcessError::Closed)));
        assert!(matches!(p.start(), Err(ProcessError::Closed)));
        assert!(matches!(p.sentinel(), Err(ProcessError::Closed)));
        assert!(!p.is_alive());
        p.close().unwrap();
    }

    fn starts_threads(e: Event) {
        // A daemon thread that would clear the event much later: not waited for.
        let late = e.clone();
        conkit::threading::Thread::builder()
            .daemon(true)
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(20));
                late.clear();
            })
            .unwrap();
        conkit::threading::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            e.set();
        });
    }

    /// `_TestProcess.test_wait_for_threads`: a child waits for its non-daemon threads
    /// before it exits (CPython's `threading._shutdown()` in `_bootstrap`), not for its
    /// daemon threads.
    fn child_waits_for_its_non_daemon_threads() {
        let e = Event::new();
        let mut p = start(starts_threads, e.clone());
        let t = Instant::now();
        assert_eq!(join(&mut p), 0);
        assert!(
            e.is_set(),
            "the child exited before its non-daemon thread ended"
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "it waited for a daemon thread"
        );
    }

    fn sets_later(e: Event) {
        std::thread::sleep(Duration::from_millis(200));
        e.set();
    }

    fn starts_a_child_and_returns(e: Event) {
        let mut p = mp::Process::new(sets_later, e)
            .daemon(false)
            .start_method(conkit_tests::mp::method());
        p.start().unwrap();
        // The `Process` is dropped unjoined: the child still waits for it.
    }

    /// `util._exit_function` (what `_TestProcess.test_recursion` relies on): a child
    /// joins the non-daemon children it started before it exits.
    fn child_joins_its_non_daemon_children() {
        let e = Event::new();
        let mut p = mp::Process::new(starts_a_child_and_returns, e.clone())
            .daemon(false)
            .start_method(conkit_tests::mp::method());
        p.start().unwrap();
        assert_eq!(join(&mut p), 0);
        assert!(e.is_set(), "the child exited before its own child ended");
    }

    fn only_one_thread(_: ()) {
        assert_eq!(conkit::threading::active_count(), 1);
        // Returns: nothing of the parent's is waited for.
        conkit::threading::join_non_daemon();
    }

    /// `threading._after_fork` (which CPython runs in every forked child): a `fork`
    /// child of a parent with other conkit threads sees only the forking thread, and
    /// does not wait for the parent's threads when it exits.
    fn fork_child_has_only_the_forking_thread() {
        let stop = Event::new();
        let s = stop.clone();
        let t = conkit::threading::spawn(move || {
            let _ = s.wait_timeout(Duration::from_secs(30));
        });
        let mut p = mp::Process::new(only_one_thread, ())
            .daemon(true)
            .start_method(mp::StartMethod::Fork);
        p.start().unwrap();
        let code = conkit_tests::mp::join_within(&mut p, Duration::from_secs(10));
        stop.set();
        t.join().unwrap();
        assert_eq!(code, 0);
    }

    fn sends_parent_process(mut w: Connection) {
        let parent = mp::parent_process().expect("a child has a parent");
        w.send(&(parent.pid, parent.name)).unwrap();
    }

    /// `_TestProcess.test_parent_process_attributes`: `parent_process()` is `None` in
    /// the main process; in a child its `pid` and `name` are the parent's
    /// (`current_process().pid`, `os.getpid()`, `current_process().name`).
    fn parent_process_attributes() {
        assert!(mp::parent_process().is_none());
        let (mut r, w) = Pipe(false).unwrap();
        let mut p = start(sends_parent_process, w);
        assert_eq!(join(&mut p), 0);
        let (parent_pid, parent_name): (u32, String) = r.recv().unwrap();
        assert_eq!(parent_pid, mp::current_process().pid());
        assert_eq!(parent_pid, std::process::id());
        assert_eq!(parent_name, mp::current_process().name());
    }

    fn status(alive: bool) -> String {
        if alive { "alive" } else { "not alive" }.to_owned()
    }

    /// CPython's `_test_report_parent_status`.
    fn report_parent_status(mut w: Connection) {
        let parent = mp::parent_process().expect("a child has a parent");
        w.send(&status(parent.is_alive())).unwrap();
        // CPython: `parent_process().join(timeout=support.SHORT_TIMEOUT)`.
        parent.join_timeout(Duration::from_secs(30)).unwrap();
        w.send(&status(parent.is_alive())).unwrap();
    }

    /// CPython's `_test_create_grandchild_process`.
    fn create_grandchild_process(w: Connection) {
        let mut p = mp::Process::new(report_parent_status, w)
            .daemon(false)
            .start_method(conkit_tests::mp::method());
        p.start().unwrap();
        std::thread::sleep(Duration::from_secs(30));
    }

    /// `_TestProcess.test_parent_process`: a child starts a grandchild and is
    /// terminated; the grandchild saw its parent alive, then notices its death
    /// (`parent_process().join(timeout)` returns, `is_alive()` is false).
    fn parent_process_grandchild_sees_parent_die() {
        let (mut r, w) = Pipe(false).unwrap();
        let mut p = mp::Process::new(create_grandchild_process, w)
            .daemon(false)
            .start_method(conkit_tests::mp::method());
        p.start().unwrap();
        assert!(
            r.poll(Some(Duration::from_secs(30))).unwrap(),
            "Could not communicate with child process"
        );
        assert_eq!(r.recv::<String>().unwrap(), "alive");
        p.terminate().unwrap();
        assert_eq!(join(&mut p), -15);
        let t = Instant::now();
        assert!(
            r.poll(Some(Duration::from_secs(30))).unwrap(),
            "Could not communicate with child process"
        );
        assert_eq!(r.recv::<String>().unwrap(), "not alive");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "noticed after {:?}",
            t.elapsed()
        );
    }

    fn reports_identity((mut w, go): (Connection, Event)) {
        let parent = mp::parent_process().expect("a child has a parent");
        w.send(&(
            mp::current_process().name().to_owned(),
            parent.pid,
            parent.name,
        ))
        .unwrap();
        assert!(go.wait_timeout(Duration::from_secs(20)));
    }

    /// `_TestProcess.test_current`, `test_process`, `test_active_children`,
    /// `test_sentinel`, `test_parent_process_attributes`: what a process object and the
    /// module functions report before start, while running and after join.
    fn process_before_and_after() {
        assert_eq!(mp::current_process().name(), "MainProcess");
        assert!(mp::parent_process().is_none());
        let (mut r, w) = Pipe(false).unwrap();
        let go = Event::new();
        let mut p = mp::Process::new(reports_identity, (w, go.clone()))
            .daemon(true)
            .start_method(conkit_tests::mp::method());
        assert_eq!(p.pid(), None);
        assert_eq!(p.exitcode(), None);
        assert!(!p.is_alive());
        assert!(matches!(p.sentinel(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(mp::active_children().is_empty());
        p.start().unwrap();
        let name = p.get_name().to_owned();
        assert!(mp::active_children().iter().any(|c| c.name == name));
        let (child_name, parent_pid, parent_name): (String, u32, String) = r.recv().unwrap();
        assert_eq!(child_name, name);
        assert_eq!(parent_pid, std::process::id());
        assert_eq!(parent_name, "MainProcess");
        let sentinel = p.sentinel().unwrap();
        assert!(wait(&[&sentinel], Some(Duration::ZERO)).unwrap().is_empty());
        go.set();
        assert_eq!(join(&mut p), 0);
        assert_eq!(wait(&[&sentinel], Some(Duration::ZERO)).unwrap().len(), 1);
        assert!(mp::active_children().is_empty());
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
        assert!(mp::cpu_count() >= 1);
    }

    /// `_TestQueue.test_put`, `test_get`, `test_qsize`, `test_timeout`,
    /// `test_closed_queue_put_get_exceptions`: `Full`/`Empty` from the non-blocking and
    /// timed forms (after the time-out), exact sizes, `close` then put/get errors.
    fn queue_errors_and_sizes() {
        let q: Queue<u32> = Queue::new(3).unwrap();
        assert!(q.empty() && !q.full() && q.qsize() == 0);
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
        let t = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(100)),
            Err(GetError::Empty)
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert!(q.full() && !q.empty() && q.qsize() == 3);
        assert_eq!(q.put_nowait(9), Err(PutError::Full(9)));
        let t = Instant::now();
        assert_eq!(
            q.put_timeout(9, Duration::from_millis(100)),
            Err(PutError::Full(9))
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.get().unwrap(), 0);
        assert_eq!(q.get_timeout(Duration::from_millis(10)).unwrap(), 1);
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(q.empty());
        q.close();
        q.close();
        q.join_thread();
        assert_eq!(q.put(1), Err(PutError::Closed(1)));
        assert_eq!(q.get(), Err(GetError::Closed));
        let jq: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
        jq.close();
        assert_eq!(jq.put(1), Err(PutError::Closed(1)));
        assert_eq!(jq.get(), Err(GetError::Closed));
    }

    fn puts_then_exits(q: Queue<u32>) {
        for i in 0..100 {
            q.put(i).unwrap();
        }
    }

    /// `_TestQueue.test_fork`: items a child put are all there after it exited (CPython
    /// flushes its feeder thread at exit; here `put` has copied the item already).
    fn queue_items_outlive_the_child() {
        let q: Queue<u32> = Queue::new(0).unwrap();
        let mut p = start(puts_then_exits, q.clone());
        assert_eq!(join(&mut p), 0);
        assert_eq!(q.qsize(), 100);
        for i in 0..100 {
            assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), i);
        }
        assert!(q.empty());
    }

    fn works(q: JoinableQueue<Option<u32>>) {
        while q.get().unwrap().is_some() {
            q.task_done().unwrap();
        }
        q.task_done().unwrap();
    }

    /// `_TestQueue.test_task_done`: workers in other processes mark every item done,
    /// `join` returns; one `task_done` too many is an error (CPython: `ValueError`).
    fn joinable_queue_task_done() {
        let q: JoinableQueue<Option<u32>> = JoinableQueue::new(0).unwrap();
        let workers: Vec<_> = (0..3).map(|_| start(works, q.clone())).collect();
        for i in 0..30 {
            q.put(Some(i)).unwrap();
        }
        assert!(q.join_timeout(Duration::from_secs(20)));
        for _ in &workers {
            q.put(None).unwrap();
        }
        reap(workers);
        assert!(q.join_timeout(Duration::ZERO));
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    }

    fn puts_one(q: SimpleQueue<u8>) {
        q.put(7).unwrap();
    }

    /// `TestSimpleQueue.test_empty`, `test_close`: a child's item makes `empty()` false;
    /// closing twice is fine.
    fn simple_queue_empty_and_close() {
        let q: SimpleQueue<u8> = SimpleQueue::new().unwrap();
        assert!(q.empty());
        let mut p = start(puts_one, q.clone());
        assert_eq!(join(&mut p), 0);
        assert!(!q.empty());
        assert_eq!(q.get().unwrap(), 7);
        assert!(q.empty());
        q.close();
        q.close();
        assert_eq!(q.get(), Err(GetError::Closed));
    }

    fn holds_until((l, held, go): (Lock, Event, Event)) {
        l.acquire();
        held.set();
        assert!(go.wait_timeout(Duration::from_secs(20)));
        l.release().unwrap();
    }

    /// `_TestLock.test_lock`, `_TestSemaphore.test_semaphore`, `test_bounded_semaphore`,
    /// `test_timeout`: a lock held by another process refuses a non-blocking acquire
    /// and times out a timed one; a released lock cannot be released again; a bounded
    /// semaphore refuses one release too many; timed acquires wait their time.
    fn lock_and_semaphore_timeouts() {
        let (l, held, go) = (Lock::new(), Event::new(), Event::new());
        let mut p = start(holds_until, (l.clone(), held.clone(), go.clone()));
        assert!(held.wait_timeout(Duration::from_secs(20)));
        assert!(!l.try_acquire());
        let t = Instant::now();
        assert!(!l.acquire_timeout(Duration::from_millis(100)));
        assert!(t.elapsed() >= Duration::from_millis(100));
        go.set();
        assert_eq!(join(&mut p), 0);
        assert!(l.try_acquire());
        l.release().unwrap();
        assert!(l.release().is_err());

        let s = BoundedSemaphore::new(2);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        let t = Instant::now();
        assert!(!s.acquire_timeout(Duration::from_millis(100)));
        assert!(t.elapsed() >= Duration::from_millis(100));
        s.release().unwrap();
        s.release().unwrap();
        assert!(s.release().is_err());
    }

    fn notifies((c, state, n): (Condition, Value<u32>, u32)) {
        // Waits until `n` waiters are asleep, then wakes them one `notify` at a time.
        let t = Instant::now();
        while c.waiters() < n as usize {
            assert!(t.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(1));
        }
        c.acquire();
        state.set(1);
        assert_eq!(c.notify(1).unwrap(), 1);
        c.notify_all().unwrap();
        c.release().unwrap();
    }

    /// `_TestCondition.test_notify`, `test_notify_all`, `test_timeout`, `test_waitfor`,
    /// `test_waitfor_timeout`, `test_wait_result`: `wait` returns `true` when notified
    /// by another process and `false` after its time-out; `wait_for` sees a predicate
    /// another process made true; `notify` without the lock is an error.
    fn condition_between_processes() {
        let c = Condition::new();
        let state = Value::new(0u32);
        assert!(c.notify(1).is_err());
        c.acquire();
        let t = Instant::now();
        assert!(!c.wait_timeout(Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(!c
            .wait_for_timeout(|| state.get() == 1, Duration::from_millis(50))
            .unwrap());
        let mut p = start(notifies, (c.clone(), state.clone(), 1));
        assert!(c.wait_timeout(Duration::from_secs(20)).unwrap());
        assert_eq!(state.get(), 1);
        assert!(c
            .wait_for_timeout(|| state.get() == 1, Duration::ZERO)
            .unwrap());
        c.release().unwrap();
        assert_eq!(join(&mut p), 0);
    }

    fn sets_after((e, ms): (Event, u64)) {
        std::thread::sleep(Duration::from_millis(ms));
        e.set();
    }

    /// `_TestEvent.test_event`: `wait` with a time-out returns `false` after it, `true`
    /// once another process sets it; `clear` resets it.
    fn event_between_processes() {
        let e = Event::new();
        assert!(!e.is_set());
        let t = Instant::now();
        assert!(!e.wait_timeout(Duration::from_millis(100)));
        assert!(t.elapsed() >= Duration::from_millis(100));
        let mut p = start(sets_after, (e.clone(), 50));
        assert!(e.wait_timeout(Duration::from_secs(20)));
        assert!(e.is_set());
        assert_eq!(join(&mut p), 0);
        e.clear();
        assert!(!e.is_set());
        assert!(!e.wait_timeout(Duration::ZERO));
    }

    fn waits_at((b, indices): (Barrier, Queue<usize>)) {
        indices.put(b.wait().unwrap()).unwrap();
    }

    fn waits_broken(b: Barrier) {
        assert!(b.wait().is_err());
    }

    /// `_TestBarrier.test_barrier`, `test_wait_return`, `test_abort`,
    /// `test_timeout`, `test_reset`, `test_single_thread`: between processes, the
    /// parties get each index once; `abort` breaks a waiter in another process; a timed
    /// `wait` breaks the barrier; `reset` repairs it.
    fn barrier_between_processes() {
        let b = Barrier::new(4);
        let indices: Queue<usize> = Queue::new(0).unwrap();
        let kids: Vec<_> = (0..3)
            .map(|_| start(waits_at, (b.clone(), indices.clone())))
            .collect();
        let mut got = vec![b.wait().unwrap()];
        reap(kids);
        for _ in 0..3 {
            got.push(indices.get_timeout(Duration::from_secs(5)).unwrap());
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);

        let b = Barrier::new(2);
        let mut p = start(waits_broken, b.clone());
        let t = Instant::now();
        while b.n_waiting() < 1 {
            assert!(t.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(1));
        }
        b.abort();
        assert_eq!(join(&mut p), 0);
        assert!(b.broken());
        assert!(b.wait().is_err());
        b.reset();
        assert!(!b.broken());
        assert!(b.wait_timeout(Duration::from_millis(20)).is_err());
        assert!(b.broken());
        b.reset();
        assert_eq!(Barrier::new(1).wait().unwrap(), 0);
    }

    fn adds((v, n): (Value<i64>, i64)) {
        for _ in 0..n {
            let _g = v.get_lock().lock();
            v.set(v.get() + 1);
        }
    }

    /// `_TestValue.test_value`, `test_getobj_getlock`, `_TestArray.test_array`,
    /// `test_array_from_size`: increments under `get_lock()` from several processes
    /// all count; a value made with a given lock reports that lock; an array from a
    /// size is zeros; out-of-range indices are errors.
    fn value_get_lock_between_processes() {
        let v = Value::new(0i64);
        let kids: Vec<_> = (0..3).map(|_| start(adds, (v.clone(), 2000))).collect();
        adds((v.clone(), 2000));
        reap(kids);
        assert_eq!(v.get(), 8000);
        let lock = mp::RLock::new();
        let w = Value::with_lock(1.5f64, lock.clone());
        let g = w.get_lock().lock();
        assert!(lock.is_owned());
        drop(g);
        let a = mp::Array::<i32>::zeroed(10);
        assert_eq!(a.to_vec(), vec![0; 10]);
        assert_eq!(a.get(10), None);
        assert!(a.set(10, 1).is_err());
        assert_eq!(mp::Array::<i32>::zeroed(0).len(), 0);
    }

    fn closes_its_end(c: Connection) {
        drop(c);
    }

    /// `_TestConnection.test_connection`, `test_duplex_false`, `test_spawn_close`,
    /// `test_sendbytes`, `test_context`: sends and receives on a closed end are
    /// `OSError`s, the wrong direction of a one-way pipe too, `recv_bytes(maxlength)`
    /// refuses a longer message, `recv_bytes_into` honours the offset and returns a
    /// message too long for the buffer inside `BufferTooShort`, `send_bytes` checks
    /// offset and size, and a peer closed in a child is `EOFError`.
    fn connection_misuse_errors() {
        let (mut a, mut b) = Pipe(true).unwrap();
        a.send_bytes(b"hello").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.recv_bytes_into(&mut buf, 3).unwrap(), 5);
        assert_eq!(&buf, b"\0\0\0hello");
        a.send_bytes(b"too long for it").unwrap();
        match b.recv_bytes_into(&mut buf, 0) {
            Err(ConnectionError::BufferTooShort(e)) => assert_eq!(e.message(), b"too long for it"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.recv_bytes_into(&mut buf, 9),
            Err(ConnectionError::InvalidArgument(_))
        ));
        let msg = b"0123456789";
        a.send_bytes_at(msg, 2, Some(3)).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"234");
        a.send_bytes_at(msg, 10, None).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"");
        for (offset, size) in [(11, None), (0, Some(11)), (5, Some(6))] {
            assert!(matches!(
                a.send_bytes_at(msg, offset, size),
                Err(ConnectionError::InvalidArgument(_))
            ));
        }
        a.send_bytes(b"0123456789").unwrap();
        assert!(matches!(
            b.recv_bytes_max(9),
            Err(ConnectionError::BadMessageLength {
                length: 10,
                limit: 9
            })
        ));
        a.close();
        assert!(matches!(a.send(&1u8), Err(ConnectionError::Closed)));
        assert!(matches!(a.recv::<u8>(), Err(ConnectionError::Closed)));
        assert!(matches!(a.poll(None), Err(ConnectionError::Closed)));
        assert!(matches!(a.fileno(), Err(ConnectionError::Closed)));

        let (mut r, mut w) = Pipe(false).unwrap();
        assert!(matches!(r.send(&1u8), Err(ConnectionError::NotWritable)));
        assert!(matches!(w.recv::<u8>(), Err(ConnectionError::NotReadable)));
        assert!(matches!(
            w.poll(Some(Duration::ZERO)),
            Err(ConnectionError::NotReadable)
        ));

        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut p = start(closes_its_end, theirs);
        assert_eq!(join(&mut p), 0);
        assert!(ours.poll(Some(Duration::from_secs(5))).unwrap());
        assert!(matches!(ours.recv::<u8>(), Err(ConnectionError::Eof)));
        assert!(matches!(ours.recv_bytes(), Err(ConnectionError::Eof)));
    }

    /// `_TestPoll.test_empty_string`, `test_strings`, `test_dont_merge`: an empty
    /// message is a message, `poll` sees each message and nothing after the last, and
    /// messages are never merged; `poll(timeout)` waits its time.
    fn connection_poll_and_boundaries() {
        let (mut a, mut b) = Pipe(true).unwrap();
        assert!(!b.poll(Some(Duration::ZERO)).unwrap());
        let t = Instant::now();
        assert!(!b.poll(Some(Duration::from_millis(100))).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        a.send_bytes(b"").unwrap();
        assert!(b.poll(Some(Duration::ZERO)).unwrap());
        assert_eq!(b.recv_bytes().unwrap(), b"");
        assert!(!b.poll(Some(Duration::ZERO)).unwrap());
        let strings: [&[u8]; 6] = [b"hello", b"", b"a", b"b", b"", b"bye"];
        for s in strings {
            a.send_bytes(s).unwrap();
        }
        for s in strings {
            assert!(b.poll(Some(Duration::from_secs(5))).unwrap());
            assert_eq!(b.recv_bytes().unwrap(), s);
        }
        assert!(!b.poll(Some(Duration::ZERO)).unwrap());
        let big = vec![b'x'; 100_000];
        a.send_bytes(&big).unwrap();
        a.send_bytes(b"after").unwrap();
        assert_eq!(b.recv_bytes().unwrap(), big);
        assert_eq!(b.recv_bytes().unwrap(), b"after");
    }

    fn connects_with((address, key, mut report): (String, Vec<u8>, Connection)) {
        let r = mp::connection::Client(address.as_str(), Some(&key));
        report.send(&r.is_ok()).unwrap();
        if let Ok(mut c) = r {
            c.send_bytes(b"hello").unwrap();
        }
    }

    /// `_TestListener.test_multiple_bind`, `_TestListenerClient.test_listener_client`,
    /// `test_issue16955`, `OtherTest.test_deliver_challenge_auth_failure`: a second
    /// listener on a bound address is an `OSError`; a client in another process with
    /// the right key is accepted and its message polled, a wrong key is an
    /// `AuthenticationError` on both sides.
    fn listener_bind_and_poll() {
        let mut l = Listener::new(None, None, 1, Some(b"key")).unwrap();
        assert!(matches!(
            Listener::new(Some(l.address().clone()), None, 1, None),
            Err(ConnectionError::Io(_))
        ));
        let address = l.address().to_string();
        for (key, right) in [(b"key".to_vec(), true), (b"bad".to_vec(), false)] {
            let (mut r, w) = Pipe(false).unwrap();
            let mut p = start(connects_with, (address.clone(), key, w));
            match l.accept() {
                Ok(mut c) => {
                    assert!(right);
                    assert!(c.poll(Some(Duration::from_secs(5))).unwrap());
                    assert_eq!(c.recv_bytes().unwrap(), b"hello");
                }
                Err(ConnectionError::Authentication(_)) => assert!(!right),
                Err(e) => panic!("{e}"),
            }
            assert_eq!(r.recv::<bool>().unwrap(), right);
            assert_eq!(join(&mut p), 0);
        }
        l.close();
    }

    fn sqr(x: i64) -> i64 {
        x * x
    }

    fn mul(a: i64, b: i64) -> i64 {
        a * b
    }

    fn raises_at_5(x: i64) -> i64 {
        assert_ne!(x, 5, "SayWhenError");
        x
    }

    fn sleeps_ms(ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    /// `_TestPool.test_apply`, `test_map`, `test_starmap`, `test_async`,
    /// `test_async_timeout`, `test_imap`, `test_imap_unordered`, `test_empty_iterable`,
    /// `test_map_no_failfast`, `test_traceback`, `test_make_pool`, `test_terminate`,
    /// `test_context`: results, the error of a failing task, `TimeoutError` from a
    /// timed `get`, `successful()` before ready (`ValueError`), empty iterables,
    /// `join` before `close` and a task after `close` (`ValueError`), zero workers.
    fn pool_results_and_errors() {
        assert!(matches!(Pool::new(0), Err(PoolError::NoWorkers)));
        let pool = Pool::builder()
            .processes(2)
            .start_method(conkit_tests::mp::method())
            .build()
            .unwrap();
        assert_eq!(pool.apply(sqr, 5).unwrap(), 25);
        assert_eq!(
            pool.map(sqr, 0..10, None).unwrap(),
            (0..10).map(|x| x * x).collect::<Vec<_>>()
        );
        assert_eq!(
            pool.starmap(
                mul as fn(i64, i64) -> i64,
                (0..10).map(|i| (i, i + 1)),
                None
            )
            .unwrap(),
            (0..10).map(|i| i * (i + 1)).collect::<Vec<_>>()
        );
        let imap: Vec<i64> = pool
            .imap(sqr, 0..10, 1)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(imap, (0..10).map(|x| x * x).collect::<Vec<_>>());
        let mut unordered: Vec<i64> = pool
            .imap_unordered(sqr, 0..10, 3)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        unordered.sort_unstable();
        assert_eq!(unordered, (0..10).map(|x| x * x).collect::<Vec<_>>());
        assert!(pool.map(sqr, Vec::new(), None).unwrap().is_empty());
        assert!(pool
            .map_async(sqr, Vec::new(), Some(1))
            .unwrap()
            .get()
            .unwrap()
            .is_empty());
        assert_eq!(pool.imap(sqr, Vec::new(), 1).unwrap().count(), 0);
        assert_eq!(pool.imap_unordered(sqr, Vec::new(), 1).unwrap().count(), 0);

        let slow = pool.apply_async(sleeps_ms, 300).unwrap();
        assert!(!slow.ready());
        assert!(matches!(slow.successful(), Err(PoolError::NotReady)));
        let t = Instant::now();
        assert!(matches!(
            slow.get_timeout(Duration::from_millis(50)),
            Err(PoolError::Timeout)
        ));
        assert!(t.elapsed() >= Duration::from_millis(50));
        slow.wait_timeout(Duration::from_secs(20));
        assert!(slow.ready());
        assert!(slow.successful().unwrap());

        let failing = pool.apply_async(raises_at_5, 5).unwrap();
        match failing.get() {
            Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                assert!(message.contains("SayWhenError"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!failing.successful().unwrap());
        assert!(matches!(
            pool.map(raises_at_5, 0..10, Some(1)),
            Err(PoolError::Task(TaskError::Panicked { .. }))
        ));
        let it: Vec<_> = pool.imap(raises_at_5, 0..10, 1).unwrap().collect();
        assert_eq!(it.len(), 10);
        assert!(it[5].is_err() && it.iter().filter(|r| r.is_err()).count() == 1);

        assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
        let pending = pool.map_async(raises_at_5, 0..10, Some(1)).unwrap();
        pool.close();
        assert!(matches!(pool.apply(sqr, 1), Err(PoolError::NotRunning)));
        assert!(matches!(
            pool.map(sqr, 0..2, None),
            Err(PoolError::NotRunning)
        ));
        pool.join().unwrap();
        assert!(pending.ready());

        let pool = Pool::builder()
            .processes(2)
            .start_method(conkit_tests::mp::method())
            .build()
            .unwrap();
        let r = pool.map_async(sleeps_ms, vec![1000; 10], Some(1)).unwrap();
        let t = Instant::now();
        pool.terminate();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            r.get(),
            Err(PoolError::Task(TaskError::Terminated))
        ));
        pool.join().unwrap();
        assert!(matches!(pool.apply(sqr, 1), Err(PoolError::NotRunning)));
    }

    /// `_TestPoolWorkerLifetime.test_pool_worker_lifetime_early_close`: with
    /// `maxtasksperchild=1`, tasks submitted before `close` all complete and `join`
    /// returns.
    fn pool_worker_lifetime_early_close() {
        let pool = Pool::builder()
            .processes(3)
            .maxtasksperchild(1)
            .start_method(conkit_tests::mp::method())
            .build()
            .unwrap();
        let results: Vec<_> = (0..6)
            .map(|_| pool.apply_async(sleeps_ms, 50).unwrap())
            .collect();
        pool.close();
        pool.join().unwrap();
        for r in results {
            r.get().unwrap();
        }
    }

    fn writes_into((name, data): (String, Vec<u8>)) {
        let shm = SharedMemory::attach(&name).unwrap();
        shm.write_at(0, &data).unwrap();
    }

    /// `_TestSharedMemory.test_shared_memory_basics`,
    /// `test_invalid_shared_memory_cration`, `test_shared_memory_across_processes`:
    /// a size of 0 and a nameless attach are `ValueError`s, a second create of a name
    /// is `FileExistsError`, a child attaches by name and its writes are seen, an
    /// unlinked name is `FileNotFoundError` to attach (the open block stays usable).
    fn shared_memory_create_attach_unlink() {
        assert!(matches!(
            SharedMemory::create(0),
            Err(SharedMemoryError::InvalidSize)
        ));
        assert!(matches!(
            SharedMemory::new(None, true, 0),
            Err(SharedMemoryError::InvalidSize)
        ));
        assert!(matches!(
            SharedMemory::new(None, false, 0),
            Err(SharedMemoryError::InvalidName(_))
        ));
        let name = format!("conkit_parity_{}", std::process::id());
        let shm = SharedMemory::create_named(&name, 512).unwrap();
        assert_eq!(shm.name(), name);
        assert!(shm.size() >= 512);
        assert!(matches!(
            SharedMemory::create_named(&name, 512),
            Err(SharedMemoryError::Exists(_))
        ));
        let also = SharedMemory::new(Some(&name), false, 0).unwrap();
        assert_eq!(also.size(), shm.size());
        let mut p = start(writes_into, (name.clone(), b"howdy".to_vec()));
        assert_eq!(join(&mut p), 0);
        let mut out = [0u8; 5];
        also.read_at(0, &mut out).unwrap();
        assert_eq!(&out, b"howdy");
        shm.unlink().unwrap();
        assert!(matches!(
            SharedMemory::attach(&name),
            Err(SharedMemoryError::NotFound(_))
        ));
        assert!(matches!(shm.unlink(), Err(SharedMemoryError::NotFound(_))));
        shm.write_at(0, b"still").unwrap();
        also.read_at(0, &mut out).unwrap();
        assert_eq!(&out, b"still");
    }
}
