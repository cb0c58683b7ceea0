//! `conkit::threading::scope` and `conkit::threading::spawn`: conkit threads that
//! borrow, and the one-call way to start a thread and get its value. Scoped threads are
//! ordinary conkit threads: `Thread-N` names, `current_thread()`, listed by
//! `enumerate()`, panics through `excepthook` and `join` → `ThreadError::Panicked`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::Duration;

use conkit::threading::{
    self, current_thread, enumerate, reset_excepthook, set_excepthook, Event, Local, Lock, Mutex,
    Thread, ThreadError,
};

/// Tests that replace the process-wide excepthook run one at a time.
fn hook_serial() -> StdMutexGuard<'static, ()> {
    static M: StdMutex<()> = StdMutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// The number in a `Thread-N` name.
fn number(name: &str) -> u64 {
    name.strip_prefix("Thread-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name:?} is not Thread-N"))
}

#[test]
fn scoped_threads_borrow_and_return_values() {
    let balance = Mutex::new(0i64); // borrowed, no Arc
    let names = StdMutex::new(Vec::new());
    let total = threading::scope(|s| {
        let handles: Vec<_> = (1..=4i64)
            .map(|i| {
                let (balance, names) = (&balance, &names);
                s.spawn(move || {
                    *balance.lock() += i;
                    names.lock().unwrap().push(current_thread().name());
                    i * 10
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<i64>()
    });
    assert_eq!(total, 100);
    assert_eq!(*balance.lock(), 10);
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    for n in &names {
        number(n); // Thread-N, not Dummy-N
    }
}

#[test]
fn a_scoped_thread_is_a_conkit_thread() {
    let gate = Event::new();
    threading::scope(|s| {
        let h = s.spawn(|| {
            gate.wait();
            current_thread()
        });
        let t = h.thread().clone();
        assert!(t.is_alive());
        assert!(t.ident().is_some() && t.native_id().is_some());
        assert!(enumerate().contains(&t));
        assert_eq!(
            t.start().err().map(|e| e.to_string()),
            Some(ThreadError::AlreadyStarted.to_string())
        );
        gate.set();
        let me = h.join().unwrap();
        assert_eq!(me, t, "current_thread() inside is the handle's thread");
        assert!(!t.is_alive());
        assert!(!enumerate().contains(&t));
    });
}

/// Threads that were not joined are joined when the scope ends, and the scope returns
/// its closure's value.
#[test]
fn the_scope_waits_for_unjoined_threads() {
    let done = AtomicUsize::new(0);
    let r = threading::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        "scope value"
    });
    assert_eq!(r, "scope value");
    assert_eq!(done.load(Ordering::SeqCst), 3);
}

/// A panic in a scoped thread goes to `excepthook` (with the thread's name), `join`
/// reports it, and the scope itself returns normally: Python's "Exception in thread".
#[test]
fn a_panic_in_a_scoped_thread_goes_to_excepthook_and_join() {
    let _serial = hook_serial();
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let log = seen.clone();
    set_excepthook(move |args| {
        let name = args.thread.map(Thread::name).unwrap_or_default();
        log.lock()
            .unwrap()
            .push(format!("{name}: {}", args.message));
    });
    let result = threading::scope(|s| {
        let bad = Thread::builder()
            .name("scoped-bad")
            .spawn_scoped(s, || -> u32 { panic!("boom in scope") })
            .unwrap();
        let unjoined = Thread::builder()
            .name("scoped-unjoined")
            .spawn_scoped(s, || panic!("nobody joins me"))
            .unwrap();
        let good = s.spawn(|| 7);
        let _ = unjoined;
        (bad.join(), good.join())
    });
    reset_excepthook();
    match result.0 {
        Err(ThreadError::Panicked { name, message }) => {
            assert_eq!(name, "scoped-bad");
            assert_eq!(message, "boom in scope");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(result.1.unwrap(), 7);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "scoped-bad: boom in scope",
            "scoped-unjoined: nobody joins me"
        ]
    );
}

#[test]
fn the_builder_names_scoped_threads_and_sets_daemon() {
    threading::scope(|s| {
        let h = Thread::builder()
            .name("borrower")
            .daemon(true)
            .spawn_scoped(s, || (current_thread().name(), current_thread().daemon()))
            .unwrap();
        assert_eq!(h.join().unwrap(), ("borrower".to_owned(), true));
    });
}

/// A scoped thread can start more scoped threads through the scope it got.
#[test]
fn scoped_threads_can_spawn_in_the_same_scope() {
    let lock = Lock::new();
    let count = AtomicUsize::new(0);
    threading::scope(|s| {
        s.spawn(|| {
            for _ in 0..3 {
                s.spawn(|| {
                    let _g = lock.lock();
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
    });
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

/// A scoped thread's `Local` values are dropped when it ends, as for any conkit thread.
#[test]
fn a_scoped_threads_local_values_are_dropped_when_it_ends() {
    struct Tracked<'a>(&'a AtomicUsize);
    impl Drop for Tracked<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let local = Local::new(|| Tracked(&DROPS));
    threading::scope(|s| {
        s.spawn(|| local.with(|_| ())).join().unwrap();
        // Dropped before `join` returned.
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn spawn_starts_a_named_conkit_thread_and_returns_its_value() {
    let data = Arc::new(vec![1, 2, 3]);
    let d = data.clone();
    let h = threading::spawn(move || (d.iter().sum::<i32>(), current_thread().name()));
    assert!(h.thread().ident().is_some());
    let (sum, name) = h.join().unwrap();
    assert_eq!(sum, 6);
    number(&name);
}

#[test]
fn a_join_handle_can_be_joined_with_a_deadline() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let h = threading::spawn(move || {
        g.wait();
        5
    });
    assert!(!h.thread().join_timeout(Duration::from_millis(10)).unwrap());
    assert!(!h.is_finished());
    gate.set();
    assert!(h
        .thread()
        .join_until(std::time::Instant::now() + Duration::from_secs(30))
        .unwrap());
    assert!(h.is_finished());
    assert_eq!(h.join().unwrap(), 5);
}
