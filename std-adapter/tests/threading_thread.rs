//! `conkit::threading`: `Thread`, `Timer`, `Local` and the module functions, against
//! Python's `threading` semantics (seeds 000 and 001).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conkit::threading::{
    self, active_count, current_thread, enumerate, excepthook, get_ident, get_native_id,
    main_thread, reset_excepthook, set_excepthook, stack_size, Event, ExceptHookArgs, Local, Run,
    Thread, ThreadError, Timer, MIN_STACK_SIZE, TIMEOUT_MAX,
};

/// Generous bound for "returns promptly" on a loaded 2-core machine.
const SOON: Duration = Duration::from_secs(10);

/// Tests that replace the process-wide excepthook or make threads panic run one at a
/// time.
fn hook_serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// The number in a `Prefix-N` name.
fn number(name: &str, prefix: &str) -> u64 {
    name.strip_prefix(prefix)
        .and_then(|n| n.strip_prefix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name:?} is not {prefix}-N"))
}

#[test]
fn closure_thread_runs_and_reports_ident_and_native_id() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let t = Thread::new(move || {
        let me = current_thread();
        *s.lock().unwrap() = Some((get_ident(), get_native_id(), me.ident(), me.native_id()));
    });
    assert_eq!(t.ident(), None);
    assert_eq!(t.native_id(), None);
    assert!(!t.is_alive());
    t.start().unwrap();
    // `start` returns once the thread runs: ident and native id are known.
    let (ident, native) = (t.ident().unwrap(), t.native_id().unwrap());
    t.join().unwrap();
    assert!(!t.is_alive());
    let (i, n, ci, cn) = seen.lock().unwrap().unwrap();
    assert_eq!((i, n), (ident, native));
    assert_eq!((ci, cn), (Some(ident), Some(native)));
    assert_ne!(ident, get_ident());
    assert_ne!(native, get_native_id());
}

#[test]
fn starting_twice_is_an_error() {
    let t = Thread::new(|| {});
    t.start().unwrap();
    assert!(matches!(t.start(), Err(ThreadError::AlreadyStarted)));
    t.join().unwrap();
    assert!(matches!(t.start(), Err(ThreadError::AlreadyStarted)));
    assert_eq!(
        ThreadError::AlreadyStarted.to_string(),
        "threads can only be started once"
    );
}

#[test]
fn joining_before_start_is_an_error() {
    let t = Thread::new(|| {});
    assert!(matches!(t.join(), Err(ThreadError::NotStarted)));
    assert!(matches!(
        t.join_timeout(Duration::from_millis(1)),
        Err(ThreadError::NotStarted)
    ));
    t.start().unwrap();
    t.join().unwrap();
}

#[test]
fn a_thread_cannot_join_itself() {
    let h = Thread::builder()
        .spawn(|| {
            let me = current_thread();
            (
                matches!(me.join(), Err(ThreadError::JoinSelf)),
                matches!(me.join_timeout(SOON), Err(ThreadError::JoinSelf)),
            )
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), (true, true));
}

#[test]
fn joining_a_dummy_thread_is_an_error() {
    let (own, from_outside) = std::thread::spawn(|| {
        let me = current_thread();
        let own = matches!(me.join(), Err(ThreadError::JoinDummy));
        let other = std::thread::spawn(move || matches!(me.join(), Err(ThreadError::JoinDummy)));
        (own, other.join().unwrap())
    })
    .join()
    .unwrap();
    assert!(own && from_outside);
}

#[test]
fn join_may_be_called_many_times_and_from_several_threads() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let t = Thread::new(move || g.wait());
    t.start().unwrap();
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.join().is_ok())
        })
        .collect();
    gate.set();
    for j in joiners {
        assert!(j.join().unwrap());
    }
    t.join().unwrap();
    t.join().unwrap();
}

#[test]
fn join_timeout_returns_while_the_thread_runs() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let t = Thread::new(move || g.wait());
    t.start().unwrap();
    let timeout = Duration::from_millis(50);
    let begun = Instant::now();
    assert!(!t.join_timeout(timeout).unwrap());
    assert!(begun.elapsed() >= timeout, "returned before the timeout");
    assert!(t.is_alive());
    gate.set();
    assert!(t.join_timeout(SOON).unwrap());
    assert!(!t.is_alive());
    // A finished thread: any timeout, even TIMEOUT_MAX, returns at once.
    assert!(t.join_timeout(TIMEOUT_MAX).unwrap());
    assert!(t.join_timeout(Duration::ZERO).unwrap());
}

#[test]
fn timeout_max_is_pythons() {
    // CPython on Linux: threading.TIMEOUT_MAX == 9223372036.0
    assert_eq!(TIMEOUT_MAX, Duration::from_secs(9_223_372_036));
}

#[test]
fn daemon_flag_before_and_after_start() {
    let t = Thread::new(|| {});
    t.set_daemon(true).unwrap();
    assert!(t.daemon());
    t.set_daemon(false).unwrap();
    assert!(!t.daemon());
    t.start().unwrap();
    assert!(matches!(
        t.set_daemon(true),
        Err(ThreadError::DaemonAfterStart)
    ));
    assert!(!t.daemon());
    t.join().unwrap();
    let b = Thread::builder().daemon(true).target(|| {});
    assert!(b.daemon());
    // Running threads cannot change it either.
    assert!(main_thread().set_daemon(true).is_err());
    assert!(current_thread().set_daemon(false).is_err());
}

#[test]
fn daemon_default_is_inherited_from_the_creating_thread() {
    // libtest runs tests on threads conkit did not start: daemon dummies (as in
    // Python's `_DummyThread`), so threads created there are daemons.
    let dummy_daemon =
        std::thread::spawn(|| (current_thread().daemon(), Thread::new(|| {}).daemon()));
    assert_eq!(dummy_daemon.join().unwrap(), (true, true));
    assert_eq!(Thread::new(|| {}).daemon(), current_thread().daemon());
    // A thread created inside a non-daemon thread is not a daemon.
    let h = Thread::builder()
        .daemon(false)
        .spawn(|| Thread::new(|| {}).daemon())
        .unwrap();
    assert!(!h.join().unwrap());
}

#[test]
fn names_default_to_thread_n_and_can_be_set() {
    let a = Thread::new(|| {});
    let b = Thread::new(|| {});
    let (na, nb) = (number(&a.name(), "Thread"), number(&b.name(), "Thread"));
    assert!(nb > na, "the counter increases: {na} then {nb}");
    let named = Thread::builder().name("worker").target(|| {});
    assert_eq!(named.name(), "worker");
    a.set_name("renamed");
    assert_eq!(a.name(), "renamed");
    // Inside the thread, current_thread() is the same object with the same name.
    let h = Thread::builder()
        .name("inside")
        .spawn(|| {
            let me = current_thread();
            me.set_name("changed-inside");
            me.name()
        })
        .unwrap();
    let t = h.thread().clone();
    assert_eq!(h.join().unwrap(), "changed-inside");
    assert_eq!(t.name(), "changed-inside");
}

#[test]
fn main_thread_is_named_main_thread() {
    let m = main_thread();
    assert_eq!(m.name(), "MainThread");
    assert!(!m.daemon());
    assert!(m.is_alive());
    assert_eq!(m, main_thread());
    assert!(enumerate().contains(&m));
    // libtest runs tests on spawned threads, not the main one (Linux tells for sure).
    #[cfg(target_os = "linux")]
    {
        let pid = u64::from(std::process::id());
        assert_eq!(m.native_id(), Some(pid));
        assert_eq!(current_thread() == m, get_native_id() == pid);
        let other = std::thread::spawn(|| current_thread() == main_thread());
        assert!(!other.join().unwrap());
    }
    // Joining the main thread from another thread waits (until the process ends).
    assert!(!m.join_timeout(Duration::from_millis(10)).unwrap());
    assert!(format!("{m:?}").contains("MainThread"));
}

#[test]
fn a_thread_not_started_by_conkit_gets_a_dummy_handle() {
    let (t, name, same, listed, alive, ident_ok) = std::thread::spawn(|| {
        let t = current_thread();
        (
            t.clone(),
            t.name(),
            current_thread() == t,
            enumerate().contains(&t),
            t.is_alive(),
            t.ident() == Some(get_ident()) && t.native_id() == Some(get_native_id()),
        )
    })
    .join()
    .unwrap();
    number(&name, "Dummy");
    assert!(same && listed && alive && ident_ok);
    assert!(t.daemon());
    // Its registry entry went away with the thread.
    assert!(!t.is_alive());
    assert!(!enumerate().contains(&t));
}

#[test]
fn enumerate_and_active_count_list_running_threads() {
    let gate = Arc::new(Event::new());
    let threads: Vec<Thread> = (0..4)
        .map(|i| {
            let g = gate.clone();
            Thread::builder()
                .name(format!("enum-{i}"))
                .target(move || g.wait())
        })
        .collect();
    for t in &threads {
        assert!(!enumerate().contains(t), "not listed before start");
        t.start().unwrap();
    }
    let listed = enumerate();
    for t in &threads {
        assert!(listed.contains(t));
        assert!(t.is_alive());
    }
    // Other tests run at the same time: at least these 4, main and this test's thread.
    assert!(active_count() >= 6, "{}", active_count());
    assert_eq!(enumerate()[0], main_thread());
    gate.set();
    for t in &threads {
        t.join().unwrap();
    }
    let listed = enumerate();
    for t in &threads {
        assert!(!listed.contains(t), "{t:?} still listed after join");
        assert!(!t.is_alive());
    }
}

#[test]
fn handles_are_shared_objects() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let h = Thread::builder()
        .spawn(move || {
            g.wait();
            current_thread()
        })
        .unwrap();
    let created = h.thread().clone();
    let listed = enumerate()
        .into_iter()
        .find(|t| *t == created)
        .expect("listed");
    listed.set_name("via-enumerate");
    gate.set();
    let inside = h.join().unwrap();
    assert_eq!(inside, created);
    assert_eq!(created.name(), "via-enumerate");
    let text = format!("{created:?}");
    assert!(
        text.contains("via-enumerate") && text.contains("stopped"),
        "{text}"
    );
}

struct Counter {
    arg: usize,
    out: Arc<AtomicUsize>,
}

impl Run for Counter {
    fn run(&mut self) {
        self.out.fetch_add(self.arg, Ordering::SeqCst);
        self.arg = 0;
    }
}

#[test]
fn run_objects_are_threads_like_python_subclasses() {
    // Seed 001: `class MyThread(threading.Thread)` started and joined four times.
    let out = Arc::new(AtomicUsize::new(0));
    for i in 1..=4 {
        let t = Thread::from_run(Counter {
            arg: i,
            out: out.clone(),
        });
        number(&t.name(), "Thread");
        t.start().unwrap();
        t.join().unwrap();
    }
    assert_eq!(out.load(Ordering::SeqCst), 10);
    let named = Thread::builder().name("runner").run(Counter {
        arg: 5,
        out: out.clone(),
    });
    assert_eq!(named.name(), "runner");
    named.start().unwrap();
    named.join().unwrap();
    assert_eq!(out.load(Ordering::SeqCst), 15);
    // The object itself, after it ran (Python: attributes of the finished thread).
    let mut obj = Counter {
        arg: 7,
        out: out.clone(),
    };
    let obj = Thread::builder()
        .spawn(move || {
            obj.run();
            obj
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(obj.arg, 0);
    assert_eq!(out.load(Ordering::SeqCst), 22);
}

#[test]
fn spawn_returns_the_closures_value() {
    let h = Thread::builder()
        .name("sum")
        .spawn(|| (1..=10).sum::<u32>())
        .unwrap();
    assert_eq!(h.thread().name(), "sum");
    assert_eq!(h.join().unwrap(), 55);
}

#[test]
fn a_panic_goes_to_excepthook_with_the_thread_name_and_join_reports_it() {
    let _serial = hook_serial();
    // (thread name, message, location) per call.
    type Seen = Vec<(String, String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    set_excepthook(move |args: &ExceptHookArgs<'_>| {
        log.lock().unwrap().push((
            args.thread.map(Thread::name).unwrap_or_default(),
            args.message.to_owned(),
            args.location.map(str::to_owned),
        ));
    });
    let t = Thread::builder()
        .name("doomed")
        .target(|| panic!("boom {}", 42));
    t.start().unwrap();
    let err = t.join().unwrap_err();
    reset_excepthook();
    match &err {
        ThreadError::Panicked { name, message } => {
            assert_eq!(name, "doomed");
            assert_eq!(message, "boom 42");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("boom 42"));
    assert!(t.panicked());
    assert!(!t.is_alive());
    assert!(!enumerate().contains(&t));
    // Joining again says the same.
    assert!(matches!(t.join(), Err(ThreadError::Panicked { .. })));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "doomed");
    assert_eq!(seen[0].1, "boom 42");
    let loc = seen[0].2.as_deref().unwrap();
    assert!(loc.contains("threading_thread.rs"), "{loc}");
    // The process (and this thread) keeps going, and new threads still work.
    let ok = Thread::new(|| {});
    ok.start().unwrap();
    ok.join().unwrap();
    assert!(!ok.panicked());
}

#[test]
fn spawn_reports_a_panic_and_non_string_payloads() {
    let _serial = hook_serial();
    let payloads: Arc<Mutex<Vec<Option<i32>>>> = Arc::default();
    let log = payloads.clone();
    set_excepthook(move |args| {
        log.lock()
            .unwrap()
            .push(args.payload.downcast_ref::<i32>().copied());
    });
    let h = Thread::builder()
        .name("payload")
        .spawn(|| -> u8 { std::panic::panic_any(7_i32) })
        .unwrap();
    let err = h.join().unwrap_err();
    reset_excepthook();
    assert!(
        matches!(&err, ThreadError::Panicked { name, message } if name == "payload" && message == "Box<dyn Any>"),
        "{err:?}"
    );
    assert_eq!(*payloads.lock().unwrap(), [Some(7)]);
}

#[test]
fn a_panicking_hook_falls_back_to_the_default_and_a_caught_panic_is_not_reported() {
    let _serial = hook_serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    set_excepthook(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("the hook itself fails");
    });
    let t = Thread::new(|| panic!("first"));
    t.start().unwrap();
    assert!(t.join().is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A panic the thread catches itself is not an uncaught exception.
    let t = Thread::new(|| {
        let caught = std::panic::catch_unwind(|| panic!("caught"));
        assert!(caught.is_err());
    });
    t.start().unwrap();
    t.join().unwrap();
    reset_excepthook();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn excepthook_can_be_called_directly() {
    let _serial = hook_serial();
    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    set_excepthook(move |args| *s.lock().unwrap() = args.message.to_owned());
    let me = current_thread();
    let payload: Box<dyn std::any::Any + Send> = Box::new("direct");
    excepthook(&ExceptHookArgs {
        thread: Some(&me),
        message: "direct",
        location: None,
        backtrace: None,
        payload: &*payload,
    });
    reset_excepthook();
    assert_eq!(*seen.lock().unwrap(), "direct");
}

#[test]
fn stack_size_rules() {
    let _serial = hook_serial();
    assert!(matches!(
        stack_size(Some(1000)),
        Err(ThreadError::InvalidStackSize(1000))
    ));
    assert!(matches!(
        stack_size(Some(MIN_STACK_SIZE - 1)),
        Err(ThreadError::InvalidStackSize(_))
    ));
    assert_eq!(
        ThreadError::InvalidStackSize(1000).to_string(),
        "size not valid: 1000 bytes"
    );
    assert_eq!(
        stack_size(None).unwrap(),
        0,
        "errors leave the setting alone"
    );
    let big = 16 << 20;
    assert_eq!(stack_size(Some(big)).unwrap(), 0);
    assert_eq!(stack_size(None).unwrap(), big);
    // The setting applies: an 8 MiB frame fits in the 16 MiB stack (the 2 MiB default
    // would overflow).
    let t = Thread::new(|| {
        let buf = [1u8; 8 << 20];
        assert_eq!(std::hint::black_box(&buf)[(8 << 20) - 1], 1);
    });
    t.start().unwrap();
    assert_eq!(stack_size(Some(0)).unwrap(), big);
    t.join().unwrap();
    assert_eq!(stack_size(Some(MIN_STACK_SIZE)).unwrap(), 0);
    assert_eq!(stack_size(Some(0)).unwrap(), MIN_STACK_SIZE);
}

#[test]
fn main_wrapper_joins_non_daemon_threads_only() {
    let done = Arc::new(AtomicBool::new(false));
    let daemon_gate = Arc::new(Event::new());
    let d = done.clone();
    let g = daemon_gate.clone();
    let daemon = Thread::builder().daemon(true).target(move || g.wait());
    let r = threading::main(|| {
        daemon.start().unwrap();
        Thread::builder()
            .daemon(false)
            .target(move || {
                std::thread::sleep(Duration::from_millis(50));
                // Threads started meanwhile are waited for too.
                Thread::builder()
                    .daemon(false)
                    .target(move || {
                        std::thread::sleep(Duration::from_millis(50));
                        d.store(true, Ordering::SeqCst);
                    })
                    .start()
                    .unwrap();
            })
            .start()
            .unwrap();
        "body done"
    });
    assert_eq!(r, "body done");
    assert!(done.load(Ordering::SeqCst));
    // The daemon thread was not waited for.
    assert!(daemon.is_alive());
    daemon_gate.set();
    daemon.join().unwrap();
}

#[test]
fn join_non_daemon_returns_at_once_when_none_run() {
    let begun = Instant::now();
    threading::join_non_daemon();
    assert!(begun.elapsed() < SOON);
}

// ----------------------------------------------------------------------------- Timer

#[test]
fn timer_calls_the_function_after_the_interval() {
    // Seed 001: `t = Timer(1, hello); t.start()` — "hello, world" after the interval.
    let fired_at = Arc::new(Mutex::new(None));
    let f = fired_at.clone();
    let interval = Duration::from_millis(100);
    let t = Timer::new(interval, move || {
        *f.lock().unwrap() = Some(Instant::now());
    });
    assert_eq!(t.interval(), interval);
    number(&t.thread().name(), "Thread");
    assert!(!t.is_finished());
    let started = Instant::now();
    t.start().unwrap();
    assert!(t.is_alive());
    assert!(matches!(t.start(), Err(ThreadError::AlreadyStarted)));
    assert!(t.join_timeout(SOON).unwrap());
    let at = fired_at.lock().unwrap().expect("fired");
    assert!(at.duration_since(started) >= interval, "fired early");
    assert!(t.is_finished());
    assert!(t.finished().is_set());
    assert!(!t.is_alive());
}

#[test]
fn timer_cancel_wakes_the_timer_at_once_and_skips_the_function() {
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let t = Timer::new(Duration::from_secs(3600), move || {
        f.store(true, Ordering::SeqCst)
    });
    t.start().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    t.cancel();
    let begun = Instant::now();
    t.join().unwrap();
    assert!(begun.elapsed() < SOON, "cancel did not wake the timer");
    assert!(!fired.load(Ordering::SeqCst));
    assert!(t.is_finished());
    // Cancelling again, or after the end, is harmless.
    t.cancel();
}

#[test]
fn timer_cancelled_before_start_never_fires() {
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let t = Timer::new(Duration::from_millis(10), move || {
        f.store(true, Ordering::SeqCst)
    });
    t.cancel();
    t.start().unwrap();
    t.join().unwrap();
    assert!(!fired.load(Ordering::SeqCst));
    assert!(format!("{t:?}").contains("Timer"));
}

#[test]
fn timer_properties_come_from_its_thread() {
    let t = Timer::new(Duration::ZERO, || {});
    t.thread().set_name("tick");
    t.thread().set_daemon(true).unwrap();
    assert!(matches!(t.join(), Err(ThreadError::NotStarted)));
    t.start().unwrap();
    assert!(t.thread().ident().is_some());
    t.join().unwrap();
    assert_eq!(t.thread().name(), "tick");
}

// ----------------------------------------------------------------------------- local

/// Counts drops of values it was made from.
struct Tracked {
    value: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn local_values_are_isolated_across_eight_threads_and_dropped_at_exit() {
    let drops = Arc::new(AtomicUsize::new(0));
    let inits = Arc::new(AtomicUsize::new(0));
    let (d, i) = (drops.clone(), inits.clone());
    let local = Arc::new(Local::with_init(move || {
        i.fetch_add(1, Ordering::SeqCst);
        Tracked {
            value: 0,
            drops: d.clone(),
        }
    }));
    let all_set = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<Thread> = (1..=8)
        .map(|n| {
            let local = local.clone();
            let all_set = all_set.clone();
            Thread::new(move || {
                assert_eq!(local.with(|v| v.value), 0, "a fresh value per thread");
                local.with_mut(|v| v.value = n);
                // Every thread has written before any reads back.
                all_set.wait();
                assert_eq!(local.with(|v| v.value), n);
            })
        })
        .collect();
    for t in &threads {
        t.start().unwrap();
    }
    for t in &threads {
        t.join().unwrap();
    }
    assert_eq!(inits.load(Ordering::SeqCst), 8);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        8,
        "each thread's value dropped at its end"
    );
    // This thread's value is separate, and still here.
    assert_eq!(local.with(|v| v.value), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 8);
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 9, "dropped with the Local");
}

#[test]
fn local_values_of_other_threads_are_dropped_at_their_exit_too() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let local = Arc::new(Local::with_init(move || Tracked {
        value: 1,
        drops: d.clone(),
    }));
    let l = local.clone();
    std::thread::spawn(move || {
        l.with(|v| assert_eq!(v.value, 1));
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_local_drops_values_of_running_threads() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let local = Arc::new(Local::with_init(move || Tracked {
        value: 1,
        drops: d.clone(),
    }));
    let touched = Arc::new(Event::new());
    let gate = Arc::new(Event::new());
    let threads: Vec<Thread> = (0..3)
        .map(|_| {
            let (l, t, g) = (local.clone(), touched.clone(), gate.clone());
            Thread::new(move || {
                l.with(|v| assert_eq!(v.value, 1));
                drop(l); // this thread no longer refers to the Local...
                t.set();
                g.wait(); // ...but is still running
            })
        })
        .collect();
    for t in &threads {
        touched.clear();
        t.start().unwrap();
        assert!(touched.wait_timeout(SOON));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    gate.set();
    for t in &threads {
        t.join().unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 3, "no double drop");
}

#[test]
fn local_get_set_replace_and_default() {
    let local: Local<Vec<u32>> = Local::default();
    assert!(local.get().is_empty());
    local.set(vec![1, 2]);
    assert_eq!(local.replace(vec![3]), [1, 2]);
    assert_eq!(local.get(), [3]);
    let many: Vec<Local<u32>> = (0..10).map(|i| Local::with_init(move || i)).collect();
    let sum: u32 = many.iter().map(Local::get).sum();
    assert_eq!(sum, 45);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Local<std::cell::Cell<u32>>>(); // T: Send is enough
}

#[test]
fn a_local_is_usable_from_its_own_initialiser_and_drop() {
    // The initialiser of one Local may use another Local.
    let base = Arc::new(Local::new(|| 10u32));
    let b = base.clone();
    let derived = Local::with_init(move || b.get() + 1);
    assert_eq!(derived.get(), 11);
}

#[test]
fn setprofile_then_settrace_run_in_the_new_thread_before_its_body() {
    use conkit::threading::{
        clear_profile, clear_trace, getprofile, gettrace, setprofile, settrace,
    };
    // Other tests start threads concurrently: only record our own thread.
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    setprofile(move |t: &Thread| {
        if t.name() == "hooked" {
            l1.lock()
                .unwrap()
                .push(format!("profile in {}", current_thread().name()));
        }
    });
    settrace(move |t: &Thread| {
        if t.name() == "hooked" {
            l2.lock().unwrap().push("trace".into());
        }
    });
    assert!(getprofile().is_some() && gettrace().is_some());
    let t = Thread::builder()
        .name("hooked")
        .target(move || l3.lock().unwrap().push("body".into()));
    t.start().unwrap();
    t.join().unwrap();
    clear_profile();
    clear_trace();
    assert!(getprofile().is_none() && gettrace().is_none());
    assert_eq!(*log.lock().unwrap(), ["profile in hooked", "trace", "body"]);
}
