//! `conkit::multiprocessing::pool::Pool` with real worker processes under every start
//! method (`fork`, `spawn`: the workers are fresh runs of this binary, dispatched by
//! `mp::init()` at the top of `main`), and `ThreadPool`: results and their order,
//! chunk sizes, callbacks in the parent, panics as task errors, workers `SIGKILL`ed
//! mid-task (only that task fails, within a second, and a replacement serves the rest),
//! results and arguments that fail to (de)serialise, `terminate` with thousands of
//! queued tasks, `maxtasksperchild`, initializers, `close`/`join` rules.
//! (`harness = false`: each scenario runs in a child of its own under a watchdog, see
//! `conkit_tests::process`; every wait in a scenario has its own deadline too.)

#[cfg(target_os = "linux")]
fn main() {
    conkit::multiprocessing::init();
    linux::run();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashSet;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::pool::{Callbacks, Pool, PoolError, TaskError, ThreadPool};
    use conkit::multiprocessing::StartMethod;
    use conkit_tests::process::run_scenarios;
    use serde::de::{Deserializer, Error as _};
    use serde::ser::{Error as _, Serializer};
    use serde::{Deserialize, Serialize};

    /// The longest any single wait of a scenario may take.
    const LIMIT: Duration = Duration::from_secs(20);

    macro_rules! every_method {
        ($($name:ident),* $(,)?) => {
            &[
                $(
                    (concat!(stringify!($name), "_fork"), {
                        fn f() { super::linux::$name(StartMethod::Fork) }
                        f
                    }),
                    (concat!(stringify!($name), "_spawn"), {
                        fn f() { super::linux::$name(StartMethod::Spawn) }
                        f
                    }),
                    (concat!(stringify!($name), "_forkserver"), {
                        fn f() { super::linux::$name(StartMethod::Forkserver) }
                        f
                    }),
                )*
            ]
        };
    }

    pub fn run() {
        let mut all: Vec<(&str, fn())> = Vec::new();
        all.extend_from_slice(every_method![
            results_and_order,
            chunksize_respected,
            callbacks_run_in_parent,
            panic_is_the_task_error,
            killed_worker_fails_only_its_task,
            unserialisable_result_and_arguments,
            terminate_with_thousands_queued,
            maxtasksperchild_replaces_workers,
            initializer_runs_in_every_worker,
            close_join_rules_and_drop,
            idle_worker_takes_queued_task,
        ]);
        all.extend_from_slice(&[
            ("every_start_method", every_start_method as fn()),
            ("threadpool_basics", threadpool_basics as fn()),
            (
                "threadpool_terminate_fails_queued",
                threadpool_terminate_fails_queued,
            ),
        ]);
        run_scenarios(&all, Duration::from_secs(60));
    }

    fn pool(method: StartMethod, n: usize) -> Pool {
        Pool::builder()
            .processes(n)
            .start_method(method)
            .build()
            .expect("pool starts")
    }

    fn finish(pool: Pool) {
        pool.close();
        pool.join().expect("join after close");
    }

    // ----- task functions (fn items, as Python's module-level functions) -----

    fn square(x: u64) -> u64 {
        x * x
    }

    fn pid_of(_: u64) -> u32 {
        std::process::id()
    }

    fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    fn nap_then_id(p: (u64, u64)) -> u64 {
        std::thread::sleep(Duration::from_millis(p.1));
        p.0
    }

    fn fails_on_3(x: u64) -> u64 {
        if x == 3 {
            panic!("three is not allowed ({x})");
        }
        x
    }

    /// Writes its pid to `path`, then sleeps long (until killed).
    fn report_pid_and_sleep(path: String) -> u32 {
        std::fs::write(&path, std::process::id().to_string()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
        0
    }

    /// Serialises to an error (Python: a result that cannot be pickled).
    #[derive(Debug)]
    struct Unserialisable;
    impl Serialize for Unserialisable {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("Unserialisable refuses"))
        }
    }
    impl<'de> Deserialize<'de> for Unserialisable {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            u8::deserialize(d).map(|_| Unserialisable)
        }
    }

    fn make_unserialisable(_: u8) -> Unserialisable {
        Unserialisable
    }

    /// Serialises fine, refuses to deserialise (arguments that fail in the worker).
    #[derive(Debug)]
    struct OneWay;
    impl Serialize for OneWay {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u8(1)
        }
    }
    impl<'de> Deserialize<'de> for OneWay {
        fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(D::Error::custom("OneWay refuses"))
        }
    }

    fn take_one_way(_: OneWay) -> u8 {
        0
    }

    static INIT_VALUE: AtomicU32 = AtomicU32::new(0);

    fn init_worker(v: u32) {
        INIT_VALUE.store(v, Ordering::SeqCst);
    }

    fn exiting_init(code: u8) {
        std::process::exit(code.into());
    }

    fn failing_init(_: u8) {
        panic!("this initializer always fails");
    }

    fn read_init(_: u8) -> u32 {
        INIT_VALUE.load(Ordering::SeqCst)
    }

    // ----- scenarios -----

    fn results_and_order(m: StartMethod) {
        let p = pool(m, 2);
        assert_eq!(p.apply(square, 7).unwrap(), 49);
        let r = p.apply_async(square, 8).unwrap();
        assert_eq!(r.get_timeout(LIMIT).unwrap(), 64);
        assert!(r.ready());
        assert!(r.successful().unwrap());
        assert!(matches!(r.get(), Err(PoolError::AlreadyTaken)));

        let want: Vec<u64> = (0..1000).map(|x| x * x).collect();
        assert_eq!(p.map(square, 0..1000, None).unwrap(), want);
        assert_eq!(p.map(square, 0..100, Some(1)).unwrap(), want[..100]);
        assert!(p.map(square, Vec::new(), None).unwrap().is_empty());
        let sums = p
            .starmap(
                add as fn(u64, u64) -> u64,
                vec![(1, 2), (3, 4), (5, 6)],
                None,
            )
            .unwrap();
        assert_eq!(sums, vec![3, 7, 11]);
        let r = p
            .starmap_async(add as fn(u64, u64) -> u64, vec![(10, 1)], None)
            .unwrap();
        assert_eq!(r.get_timeout(LIMIT).unwrap(), vec![11]);

        // imap keeps order even when later items finish first.
        let items: Vec<(u64, u64)> = (0..12).map(|i| (i, (12 - i) * 15)).collect();
        let got: Vec<u64> = p
            .imap(nap_then_id, items.clone(), 1)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, (0..12).collect::<Vec<_>>());
        // imap_unordered yields every item exactly once.
        let got: Vec<u64> = p
            .imap_unordered(nap_then_id, items, 1)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got.len(), 12);
        assert_eq!(got.iter().copied().collect::<HashSet<_>>().len(), 12);

        // get_timeout on a result that is not ready: the timeout error.
        let slow = p.apply_async(nap_then_id, (1, 400)).unwrap();
        assert!(matches!(
            slow.get_timeout(Duration::from_millis(5)),
            Err(PoolError::Timeout)
        ));
        assert!(matches!(slow.successful(), Err(PoolError::NotReady)));
        // The result is also a Future.
        assert_eq!(block_on(slow).unwrap(), 1);
        finish(p);
    }

    fn chunksize_respected(m: StartMethod) {
        let p = pool(m, 2);
        // Items of one chunk run in one worker, one after another.
        for k in [1usize, 3, 7] {
            let pids = p.map(pid_of, 0..40, Some(k)).unwrap();
            for chunk in pids.chunks(k) {
                assert!(chunk.iter().all(|x| *x == chunk[0]), "chunk {k}: {pids:?}");
            }
        }
        // Python's default: 100 items, 2 workers -> chunks of ceil(100 / 8) = 13.
        let pids = p.map(pid_of, 0..100, None).unwrap();
        for chunk in pids.chunks(13) {
            assert!(chunk.iter().all(|x| *x == chunk[0]));
        }
        finish(p);
    }

    fn callbacks_run_in_parent(m: StartMethod) {
        let p = pool(m, 3);
        let (tx, rx) = mpsc::channel::<(u32, u64)>();
        let mut results = Vec::new();
        for i in 0..6u64 {
            let tx = tx.clone();
            let cb = Callbacks::new().callback(move |v: &u64| {
                tx.send((std::process::id(), *v)).unwrap();
            });
            results.push(p.apply_async_with(square, i, cb).unwrap());
        }
        // A callback that blocks does not hold back results without one (CPython runs
        // callbacks on its result thread and would): `plain` is ready while `held`'s
        // callback waits for the release below.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let held_cb = Callbacks::new().callback(move |_: &u64| release_rx.recv().unwrap());
        let held = p.apply_async_with(square, 10, held_cb).unwrap();
        let plain = p.apply_async(square, 11).unwrap();
        assert_eq!(plain.get_timeout(LIMIT).unwrap(), 121);
        assert!(!held.ready()); // ready only after its callback returned
        release_tx.send(()).unwrap();
        assert_eq!(held.get_timeout(LIMIT).unwrap(), 100);
        let (etx, erx) = mpsc::channel::<TaskError>();
        let cb = Callbacks::new()
            .callback(|_: &u64| panic!("not called on failure"))
            .error_callback(move |e: &TaskError| etx.send(e.clone()).unwrap());
        let failing = p.apply_async_with(fails_on_3, 3, cb).unwrap();
        finish(p);
        // join waited for every callback; each ran in this process.
        let mut got: Vec<u64> = Vec::new();
        while let Ok((pid, v)) = rx.try_recv() {
            assert_eq!(pid, std::process::id());
            got.push(v);
        }
        got.sort();
        assert_eq!(got, vec![0, 1, 4, 9, 16, 25]);
        assert!(matches!(erx.try_recv(), Ok(TaskError::Panicked { .. })));
        assert!(failing.ready());
        for r in results {
            assert!(r.ready());
        }
    }

    fn panic_is_the_task_error(m: StartMethod) {
        let p = pool(m, 2);
        let before: HashSet<u32> = p.pids().into_iter().collect();
        match p.apply(fails_on_3, 3) {
            Err(PoolError::Task(TaskError::Panicked { message, location })) => {
                assert_eq!(message, "three is not allowed (3)");
                let location = location.expect("location");
                assert!(location.contains("mp_pool.rs"), "{location}");
            }
            other => panic!("expected the panic, got {other:?}"),
        }
        // In map, one failed item fails the call with that error...
        match p.map(fails_on_3, 0..10, Some(2)) {
            Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                assert!(message.contains("three"))
            }
            other => panic!("expected the panic, got {other:?}"),
        }
        // ...and imap reports it in place while the others arrive.
        let got: Vec<_> = p.imap(fails_on_3, 0..6, 1).unwrap().collect();
        assert_eq!(got.len(), 6);
        assert!(got[3].is_err());
        assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 5);
        // The workers survived.
        assert_eq!(p.map(square, 0..4, None).unwrap(), vec![0, 1, 4, 9]);
        let after: HashSet<u32> = p.pids().into_iter().collect();
        assert_eq!(before, after);
        finish(p);
    }

    fn wait_for_pid(path: &str) -> u32 {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Ok(pid) = s.trim().parse() {
                    return pid;
                }
            }
            assert!(Instant::now() < deadline, "the task never started");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn killed_worker_fails_only_its_task(m: StartMethod) {
        // One worker: the long task runs, the next one waits in the same worker's queue.
        let p = pool(m, 1);
        let path = format!("/tmp/conkit_mp_pool_{}_{:?}", std::process::id(), m);
        let _ = std::fs::remove_file(&path);
        let long = p.apply_async(report_pid_and_sleep, path.clone()).unwrap();
        let next = p.apply_async(square, 5).unwrap();
        let pid = wait_for_pid(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(p.pids(), vec![pid]);
        // SAFETY: kill on the worker's pid (our grandchild, alive: it is sleeping).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let killed = Instant::now();
        match long.get_timeout(LIMIT) {
            Err(PoolError::Task(TaskError::WorkerLost {
                pid: lost,
                signal,
                exitcode,
            })) => {
                assert_eq!(lost, pid);
                assert_eq!(signal, Some(libc::SIGKILL));
                assert_eq!(exitcode, Some(-libc::SIGKILL));
            }
            other => panic!("expected WorkerLost, got {other:?}"),
        }
        let took = killed.elapsed();
        println!("    WorkerLost reported {took:?} after the SIGKILL");
        assert!(took < Duration::from_secs(1), "{took:?}");
        // The task queued behind it was not lost: the replacement ran it.
        assert_eq!(next.get_timeout(LIMIT).unwrap(), 25);
        let pids = p.pids();
        assert_eq!(pids.len(), 1);
        assert_ne!(pids[0], pid);
        assert_eq!(p.map(square, 0..50, None).unwrap().len(), 50);
        finish(p);
    }

    fn unserialisable_result_and_arguments(m: StartMethod) {
        let p = pool(m, 2);
        match p.apply(make_unserialisable, 1) {
            // (postcard reports serde's custom errors without their message)
            Err(PoolError::Task(TaskError::Result(e))) => assert!(e.contains("serialis"), "{e}"),
            other => panic!("expected a result error, got {other:?}"),
        }
        match p.apply(take_one_way, OneWay) {
            Err(PoolError::Task(TaskError::Arguments(e))) => {
                assert!(e.contains("serialis"), "{e}")
            }
            other => panic!("expected an argument error, got {other:?}"),
        }
        // Nothing else failed; the workers are the same.
        assert_eq!(p.apply(square, 3).unwrap(), 9);
        assert_eq!(p.pids().len(), 2);
        finish(p);

        // Messages larger than the queues' cap (half of a 4 KiB ring here): arguments
        // refused in the parent, a result refused in the worker; both typed.
        let p = Pool::builder()
            .processes(1)
            .queue_capacity(4096)
            .start_method(m)
            .build()
            .unwrap();
        match p.apply(byte_len, vec![7u8; 10_000]) {
            Err(PoolError::Task(TaskError::TooLarge { len, max })) => assert!(len > max),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        match p.apply(many_bytes, 10_000) {
            Err(PoolError::Task(TaskError::TooLarge { len, max })) => assert!(len > max),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(p.apply(byte_len, vec![1, 2, 3]).unwrap(), 3);
        finish(p);
    }

    fn byte_len(v: Vec<u8>) -> usize {
        v.len()
    }

    fn many_bytes(n: usize) -> Vec<u8> {
        vec![1; n]
    }

    fn terminate_with_thousands_queued(m: StartMethod) {
        let p = pool(m, 2);
        let many: Vec<_> = (0..5000)
            .map(|i| p.apply_async(nap_then_id, (i, 20)).unwrap())
            .collect();
        let big = p
            .map_async(nap_then_id, (0..2000).map(|i| (i, 5)), Some(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let pids = p.pids();
        let t = Instant::now();
        p.terminate();
        let took = t.elapsed();
        println!("    terminate took {took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let mut terminated = 0;
        for r in &many {
            assert!(r.ready());
            match r.get() {
                Ok(_) => {}
                Err(PoolError::Task(TaskError::Terminated)) => terminated += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(terminated > 4900, "{terminated}");
        assert!(matches!(
            big.get(),
            Err(PoolError::Task(TaskError::Terminated))
        ));
        // The workers are gone.
        for pid in pids {
            // SAFETY: signal 0 only checks for the process.
            assert_eq!(unsafe { libc::kill(pid as i32, 0) }, -1);
        }
        assert!(matches!(p.apply(square, 1), Err(PoolError::NotRunning)));
        p.join().unwrap();
    }

    fn maxtasksperchild_replaces_workers(m: StartMethod) {
        let p = Pool::builder()
            .processes(2)
            .maxtasksperchild(2)
            .start_method(m)
            .build()
            .unwrap();
        let pids = p.map(pid_of, 0..12, Some(1)).unwrap();
        let distinct: HashSet<u32> = pids.iter().copied().collect();
        // 12 tasks, 2 per worker: at least 6 different workers ran them.
        assert!(distinct.len() >= 6, "{pids:?}");
        // Each pid ran at most 2 tasks.
        for pid in &distinct {
            assert!(pids.iter().filter(|p| *p == pid).count() <= 2, "{pids:?}");
        }
        finish(p);
    }

    fn initializer_runs_in_every_worker(m: StartMethod) {
        let p = Pool::builder()
            .processes(2)
            .initializer(init_worker, 77u32)
            .start_method(m)
            .build()
            .unwrap();
        let bad = Pool::builder()
            .processes(1)
            .initializer(failing_init, 0u8)
            .start_method(m)
            .build()
            .unwrap();
        let r = bad.apply_async(square, 2).unwrap();
        assert!(matches!(
            r.get_timeout(LIMIT),
            Err(PoolError::Task(TaskError::Initializer))
        ));
        finish(bad);
        // An initializer that ends the process: the workers never start; after a few
        // in a row the task fails instead of waiting forever (CPython waits forever).
        let gone = Pool::builder()
            .processes(1)
            .initializer(exiting_init, 3u8)
            .start_method(m)
            .build()
            .unwrap();
        let r = gone.apply_async(square, 2).unwrap();
        match r.get_timeout(LIMIT) {
            Err(PoolError::Task(TaskError::NoWorker(e))) => {
                assert!(e.contains("exit code Some(3)"), "{e}")
            }
            other => panic!("expected NoWorker, got {other:?}"),
        }
        finish(gone);
        assert!(p
            .map(read_init, vec![0u8; 20], Some(1))
            .unwrap()
            .iter()
            .all(|v| *v == 77));
        finish(p);
    }

    fn close_join_rules_and_drop(m: StartMethod) {
        let p = pool(m, 2);
        assert!(matches!(p.join(), Err(PoolError::StillRunning)));
        let r = p.apply_async(nap_then_id, (5, 100)).unwrap();
        p.close();
        assert!(matches!(p.apply(square, 1), Err(PoolError::NotRunning)));
        // close lets the submitted work finish.
        p.join().unwrap();
        assert_eq!(r.get().unwrap(), 5);
        // Dropping a running pool terminates it: its workers are gone.
        let p = pool(m, 2);
        let pids = p.pids();
        let r = p.apply_async(nap_then_id, (1, 10_000)).unwrap();
        drop(p);
        assert!(matches!(
            r.get(),
            Err(PoolError::Task(TaskError::Terminated))
        ));
        for pid in pids {
            // SAFETY: signal 0 only checks for the process.
            assert_eq!(unsafe { libc::kill(pid as i32, 0) }, -1);
        }
        assert!(matches!(
            Pool::builder().processes(0).start_method(m).build(),
            Err(PoolError::NoWorkers)
        ));
    }

    fn idle_worker_takes_queued_task(m: StartMethod) {
        let p = pool(m, 2);
        // Each worker holds up to two tasks: `third` is handed to the worker running
        // `long`. The other worker finishes `short` and must take `third` over instead of
        // letting it wait a second behind `long` (CPython: one shared queue).
        let t = Instant::now();
        let long = p.apply_async(nap_then_id, (1, 1500)).unwrap();
        let short = p.apply_async(nap_then_id, (2, 100)).unwrap();
        let third = p.apply_async(nap_then_id, (3, 100)).unwrap();
        assert_eq!(third.get_timeout(LIMIT).unwrap(), 3);
        let took = t.elapsed();
        println!("    the third task finished after {took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
        assert_eq!(short.get().unwrap(), 2);
        assert_eq!(long.get_timeout(LIMIT).unwrap(), 1);
        finish(p);
    }

    /// The core cases under every method `get_all_start_methods()` lists (a method
    /// added later, e.g. `forkserver`, is covered without a new row), with the workers'
    /// names checked against CPython's.
    fn every_start_method() {
        for m in conkit::multiprocessing::get_all_start_methods() {
            println!("    {}", m.as_str());
            let p = pool(m, 2);
            let names = p.map(worker_name, 0..8, Some(1)).unwrap();
            let prefix = match m.as_str() {
                "fork" => "ForkPoolWorker-",
                "forkserver" => "ForkServerPoolWorker-",
                _ => "SpawnPoolWorker-",
            };
            assert!(names.iter().all(|n| n.starts_with(prefix)), "{names:?}");
            drop(p);
            results_and_order(m);
            killed_worker_fails_only_its_task(m);
        }
    }

    fn worker_name(_: u64) -> String {
        conkit::multiprocessing::current_process()
            .name()
            .to_string()
    }

    fn threadpool_basics() {
        // Both pools and their results can be shared with and moved to other threads.
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Pool>();
        send_sync::<ThreadPool>();
        send_sync::<conkit::multiprocessing::pool::AsyncResult<String>>();
        let tp = ThreadPool::new(3).unwrap();
        let want: Vec<u64> = (0..1000).map(|x| x * x).collect();
        assert_eq!(tp.map(|x: u64| x * x, 0..1000, None).unwrap(), want);
        match tp.apply(|| -> u8 { panic!("thread task {}", 1) }) {
            Err(PoolError::Task(TaskError::Panicked { message, location })) => {
                assert_eq!(message, "thread task 1");
                assert!(location.unwrap().contains("mp_pool.rs"));
            }
            other => panic!("{other:?}"),
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..5 {
            let o = order.clone();
            let cb = Callbacks::new().callback(move |v: &i32| o.lock().unwrap().push(*v));
            tp.apply_async_with(move || i, cb).unwrap();
        }
        let got: Vec<i32> = tp
            .imap(|x: i32| x, 0..50, 4)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        tp.close();
        tp.join().unwrap();
        let mut o = order.lock().unwrap().clone();
        o.sort();
        assert_eq!(o, vec![0, 1, 2, 3, 4]);
    }

    fn threadpool_terminate_fails_queued() {
        let tp = ThreadPool::new(2).unwrap();
        let rs: Vec<_> = (0..5000)
            .map(|_| {
                tp.apply_async(|| std::thread::sleep(Duration::from_millis(10)))
                    .unwrap()
            })
            .collect();
        let t = Instant::now();
        tp.terminate();
        assert!(t.elapsed() < Duration::from_secs(2));
        let failed = rs
            .iter()
            .filter(|r| matches!(r.get(), Err(PoolError::Task(TaskError::Terminated))))
            .count();
        assert!(failed > 4900, "{failed}");
    }

    /// A minimal executor: polls `f` on this thread, parking between wakes.
    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = pin!(f);
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            assert!(Instant::now() < deadline, "future never completed");
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }
}
