//! `multiprocessing::Process` under each start method: exit codes, panics, signals,
//! join_timeout, sentinel, names, daemon flags, descriptors and shared objects as
//! arguments. Every test calls `mp::init()` first (spawned children re-run the test
//! binary with `--exact <test>`), and every child is bounded by a join_timeout + kill.

use conkit::multiprocessing::{self as mp, Process, ProcessError, StartMethod};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

mod common;
use common::mp::{bounded, serial, OwnedFdArg, LIMIT};

const METHODS: [StartMethod; 3] = [
    StartMethod::Fork,
    StartMethod::Spawn,
    StartMethod::Forkserver,
];

fn ok(n: u32) {
    assert_eq!(n, 42);
}
fn exits_with(code: i32) {
    std::process::exit(code);
}
fn panics(_: ()) {
    panic!("boom from the child");
}
fn sleeps(_: ()) {
    std::thread::sleep(Duration::from_secs(60));
}
fn checks_name(expected: String) {
    assert_eq!(mp::current_process().name(), expected);
}

#[test]
fn target_returns_exit_code_0_and_args_arrive() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let mut p = mp::get_context(m).process(ok, 42);
        p.start().unwrap();
        assert!(p.pid().is_some());
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        // Wrong argument: the child's assert panics, exit 1.
        let mut p = mp::get_context(m).process(ok, 7);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 1, "{m:?}");
        let mut p = mp::get_context(m).process(exits_with, 5);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 5, "{m:?}");
    }
}

#[test]
fn panic_prints_traceback_like_report_and_exits_1() {
    mp::init();
    let _serial = serial();
    // Run the check in a child whose stderr goes to a pipe we read.
    for m in METHODS {
        let (r, w) = std::io::pipe().unwrap();
        fn redirect_and_start((w, method): (OwnedFdArg, StartMethod)) {
            // SAFETY: dup2 of a descriptor we own onto stderr.
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&w.0), 2) };
            let mut p = mp::get_context(method).process(panics, ()).name("P-boom");
            p.start().unwrap();
            let code = bounded(&mut p);
            std::process::exit(if code == 1 { 0 } else { 10 });
        }
        let mut outer = mp::get_context(StartMethod::Fork)
            .process(redirect_and_start, (OwnedFdArg(w.into()), m));
        outer.start().unwrap();
        let code = bounded(&mut outer);
        drop(outer);
        let mut text = String::new();
        let mut r = r;
        r.read_to_string(&mut text).unwrap();
        assert_eq!(code, 0, "{m:?}: {text}");
        assert!(text.contains("Process P-boom:\nTraceback"), "{m:?}: {text}");
        assert!(text.contains("boom from the child"), "{m:?}: {text}");
        assert!(text.contains("mp_process.rs"), "{m:?}: {text}");
    }
}

fn writes_to_pipe(w: OwnedFdArg) {
    let mut f = std::fs::File::from(w.0);
    f.write_all(mp::current_process().name().as_bytes())
        .unwrap();
}

#[test]
fn pipe_descriptor_reaches_the_child() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (mut r, w) = std::io::pipe().unwrap();
        let mut p = mp::get_context(m)
            .process(writes_to_pipe, OwnedFdArg(w.into()))
            .name("piper");
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        drop(p); // closes the parent's write end
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "piper", "{m:?}");
    }
}

#[test]
fn kill_terminate_join_timeout_sentinel() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let mut p = mp::get_context(m).process(sleeps, ());
        p.start().unwrap();
        assert!(p.is_alive());
        let t = Instant::now();
        assert!(!p.join_timeout(Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert_eq!(p.exitcode(), None);
        p.kill().unwrap();
        // The sentinel becomes readable when the child ends.
        let mut pfd = libc::pollfd {
            fd: p.sentinel().unwrap(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 20_000) }, 1, "{m:?}");
        assert_eq!(bounded(&mut p), -9, "{m:?}");
        assert!(!p.is_alive());
        p.close().unwrap();
        assert!(matches!(p.sentinel(), Err(ProcessError::Closed)));

        let mut p = mp::get_context(m).process(sleeps, ());
        p.start().unwrap();
        assert!(matches!(p.close(), Err(ProcessError::StillRunning)));
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
        p.terminate().unwrap();
        assert_eq!(bounded(&mut p), -15, "{m:?}");
    }
}

/// The pidfd is opened on first need, not by `start`: a sentinel asked for after the
/// child was reaped — by `join`, or by `active_children` — is readable at once, and
/// `kill` on such a child does nothing (it has ended).
#[test]
fn sentinel_and_kill_after_the_child_was_reaped() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let readable = |fd| {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 5_000) == 1 }
        };
        let mut p = mp::get_context(m).process(ok, 42);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        assert!(readable(p.sentinel().unwrap()), "{m:?}");

        let mut p = mp::get_context(m).process(ok, 42);
        p.start().unwrap();
        let t = Instant::now();
        while !mp::active_children().is_empty() {
            assert!(t.elapsed() < LIMIT, "{m:?}: the child does not end");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(readable(p.sentinel().unwrap()), "{m:?}");
        p.kill().unwrap();
        assert_eq!(p.exitcode(), Some(0), "{m:?}");
    }
}

#[test]
fn names_follow_python() {
    mp::init();
    let _serial = serial();
    assert_eq!(mp::current_process().name(), "MainProcess");
    for m in METHODS {
        // The default name, as the child sees it, written back through a pipe.
        let (mut r, w) = std::io::pipe().unwrap();
        let mut p = mp::get_context(m).process(writes_to_pipe, OwnedFdArg(w.into()));
        let expected = p.get_name().to_string();
        assert!(expected.starts_with("Process-"), "{expected}");
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        drop(p);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, expected, "{m:?}");
        let mut p = mp::get_context(m)
            .process(checks_name, "custom".to_string())
            .name("custom");
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}

fn daemon_tries_child(_: ()) {
    assert!(mp::current_process().daemon());
    let mut p = Process::new(ok, 42);
    assert!(matches!(p.start(), Err(ProcessError::DaemonicChildren)));
}

#[test]
fn daemon_cannot_have_children() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let mut p = mp::get_context(m)
            .process(daemon_tries_child, ())
            .daemon(true);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}

/// Starts a daemon grandchild that sleeps, reports its pid through the pipe, sleeps.
fn parent_of_daemon((w, method): (OwnedFdArg, StartMethod)) {
    let mut d = mp::get_context(method).process(sleeps, ()).daemon(true);
    d.start().unwrap();
    let mut f = std::fs::File::from(w.0);
    f.write_all(&d.pid().unwrap().to_le_bytes()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn daemon_dies_with_a_sigkilled_parent() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (mut r, w) = std::io::pipe().unwrap();
        let mut p =
            mp::get_context(StartMethod::Fork).process(parent_of_daemon, (OwnedFdArg(w.into()), m));
        p.start().unwrap();
        let mut pid = [0u8; 4];
        r.read_exact(&mut pid).unwrap();
        let pid = u32::from_le_bytes(pid) as libc::pid_t;
        p.kill().unwrap();
        assert_eq!(bounded(&mut p), -9);
        // The daemon was re-parented (to init or a subreaper) and gets SIGKILL: poll until
        // it is gone (kill(pid, 0) fails with ESRCH once it is reaped by its new parent;
        // a zombie counts as dead, checked in /proc).
        let t = Instant::now();
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(')').next().unwrap_or("").trim().chars().next();
            if stat.is_empty() || state == Some('Z') || state == Some('X') {
                break;
            }
            assert!(
                t.elapsed() < LIMIT,
                "{m:?}: daemon {pid} survived its parent"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn start_method_defaults() {
    mp::init();
    let _serial = serial();
    assert_eq!(mp::get_start_method(), StartMethod::Spawn);
    assert_eq!(
        mp::get_all_start_methods(),
        [
            StartMethod::Spawn,
            StartMethod::Fork,
            StartMethod::Forkserver
        ]
    );
}

type SharedSem =
    mp::heap::Shared<conkit_core::semaphore::Semaphore<conkit_core::wait::SharedFutex>>;

fn releases_three(sem: SharedSem) {
    for _ in 0..3 {
        sem.release().unwrap();
    }
}

#[test]
fn shared_semaphore_reaches_the_child() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let sem: SharedSem =
            mp::heap::Shared::new_with(|| conkit_core::semaphore::Semaphore::new(0)).unwrap();
        let mut p = mp::get_context(m).process(releases_three, sem.clone());
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        for _ in 0..3 {
            assert!(sem.try_acquire(), "{m:?}");
        }
        assert!(!sem.try_acquire(), "{m:?}");
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MyProcess {
    expect: u32,
}

impl mp::Run for MyProcess {
    fn run(self) {
        std::process::exit(self.expect as i32);
    }
}

#[test]
fn run_trait_is_the_subclass_form() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let mut p = Process::from_run(MyProcess { expect: 7 }).start_method(m);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 7, "{m:?}");
    }
}

#[test]
fn active_children_lists_running_and_reaps_ended() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let mut a = mp::get_context(m).process(sleeps, ()).name("long");
        let mut b = mp::get_context(m).process(ok, 42).name("short");
        a.start().unwrap();
        b.start().unwrap();
        let t = Instant::now();
        loop {
            let names: Vec<String> = mp::active_children().into_iter().map(|c| c.name).collect();
            if names == ["long"] {
                break;
            }
            assert!(t.elapsed() < LIMIT, "{m:?}: {names:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(b.exitcode(), Some(0), "{m:?}"); // reaped by active_children, code kept
        a.kill().unwrap();
        assert_eq!(bounded(&mut a), -9);
        assert!(mp::active_children().is_empty());
    }
}

#[test]
fn fork_closure_runs_and_refuses_spawn() {
    mp::init();
    let _serial = serial();
    let n = 9;
    let mut p = Process::fork_closure(move || std::process::exit(n));
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 9);
    let mut p = Process::fork_closure(|| {}).start_method(StartMethod::Spawn);
    assert!(matches!(p.start(), Err(ProcessError::ClosureNeedsFork)));
}

fn checks_parent(parent_pid: u32) {
    let p = mp::parent_process().expect("a child has a parent");
    assert_eq!((p.pid, p.name.as_str()), (parent_pid, "MainProcess"));
}

#[test]
fn parent_process_in_the_child() {
    mp::init();
    let _serial = serial();
    assert!(mp::parent_process().is_none());
    for m in METHODS {
        let mut p = mp::get_context(m).process(checks_parent, std::process::id());
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}

fn asks_who_it_is(_: ()) {
    // Each call takes what conkit keeps per process (its identity, its children).
    assert!(mp::current_process().name().starts_with("Process-"));
    assert!(mp::active_children().is_empty());
}

/// A forked child never waits for a conkit lock that another thread of the parent held
/// at the fork: a thread of the parent keeps asking `current_process()` and
/// `active_children()` (each took a process-global lock) while children are forked;
/// each child asks the same and must end. Before the fix a child now and then inherited
/// a held lock and hung (caught by the join bound). The same run also caught `join`
/// failing with `ECHILD` when the asker's `active_children()` reaped the child between
/// `join`'s two looks.
#[test]
fn fork_child_never_inherits_a_held_conkit_lock() {
    mp::init();
    let _serial = serial();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = mp::current_process();
                let _ = mp::active_children();
            }
        })
    };
    let limit = Duration::from_secs(5);
    let mut hung = 0;
    for _ in 0..300 {
        let mut p = mp::get_context(StartMethod::Fork).process(asks_who_it_is, ());
        p.start().unwrap();
        if !p.join_timeout(limit).unwrap() {
            hung += 1;
            p.kill().unwrap();
            p.join().unwrap();
            break;
        }
        assert_eq!(p.exitcode(), Some(0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    asker.join().unwrap();
    assert_eq!(hung, 0, "a forked child hung on a lock held at the fork");
}

fn sends_three(mut w: mp::Connection) {
    for i in 0..3u32 {
        w.send_bytes(&i.to_le_bytes()).unwrap();
    }
}

/// The parent's copy of what it handed to the child goes once the child has it: a pipe's
/// write end passed as the argument is closed in the parent by `start`, so the parent
/// reads the child's messages and then end-of-file (the seed's "consumer ends on EOF"),
/// without dropping the `Process` first. Before the fix the `Process` kept the
/// arguments, and with them the write end, until it was dropped: the read waited.
#[test]
fn start_drops_the_parents_copy_of_the_arguments() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (mut r, w) = mp::Pipe(false).unwrap();
        let mut p = mp::get_context(m).process(sends_three, w);
        p.start().unwrap();
        let mut got = Vec::new();
        loop {
            assert!(
                r.poll(Some(Duration::from_secs(10))).unwrap(),
                "{m:?}: no message and no end-of-file within 10 s"
            );
            match r.recv_bytes() {
                Ok(m) => got.push(u32::from_le_bytes(m.try_into().unwrap())),
                Err(mp::connection::ConnectionError::Eof) => break,
                Err(e) => panic!("{m:?}: {e}"),
            }
        }
        assert_eq!(got, [0, 1, 2], "{m:?}");
        assert_eq!(bounded(&mut p), 0);
    }
}

fn reads_until_eof(mut r: mp::Connection) {
    let mut n = 0;
    while r.recv_bytes().is_ok() {
        n += 1;
    }
    assert_eq!(n, 3);
}

/// A child holds only its arguments' descriptors, under `fork` too: the parent's write
/// end of the pipe it reads is not open in the child, so it sees end-of-file when the
/// parent closes it. Before the fix a forked child kept a copy of the parent's write
/// end (it had no handle to close it, unlike a CPython child) and read forever.
#[test]
fn a_forked_child_does_not_keep_the_parents_descriptors() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (r, mut w) = mp::Pipe(false).unwrap();
        let mut p = mp::get_context(m).process(reads_until_eof, r);
        p.start().unwrap();
        for i in 0..3u8 {
            w.send_bytes(&[i]).unwrap();
        }
        drop(w);
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}

/// A grandchild's report on its parent (the middle child): alive at first, then —
/// after the test SIGKILLed the middle child — what `wait`, `is_alive` and
/// `join_timeout` say.
fn reports_on_parent(mut w: mp::Connection) {
    let parent = mp::parent_process().expect("a child has a parent");
    let sentinel = parent.sentinel().unwrap();
    assert_eq!(
        parent.sentinel().unwrap(),
        sentinel,
        "one sentinel per process"
    );
    w.send(&(parent.pid, parent.is_alive())).unwrap();
    let fired = mp::connection::wait(&[&parent], Some(LIMIT)).unwrap().len() == 1;
    let fired_raw = mp::connection::wait(&[&sentinel], Some(Duration::ZERO))
        .unwrap()
        .len()
        == 1;
    let joined = parent.join_timeout(LIMIT).unwrap();
    parent.join().unwrap();
    w.send(&(fired, fired_raw, parent.is_alive(), joined))
        .unwrap();
}

/// The middle child: starts two grandchildren (a parent with several children), sends
/// their pids, then sleeps until the test kills it.
fn starts_two_reporters(
    (m, w1, w2, mut pids): (StartMethod, mp::Connection, mp::Connection, mp::Connection),
) {
    let mut g1 = mp::get_context(m).process(reports_on_parent, w1);
    g1.start().unwrap();
    let mut g2 = mp::get_context(m).process(reports_on_parent, w2);
    g2.start().unwrap();
    pids.send(&(g1.pid().unwrap(), g2.pid().unwrap())).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// `parent_process()` in a grandchild under every start method: the parent (the middle
/// child) is alive, then SIGKILLed: each grandchild's `wait` on the parent sentinel
/// fires, `is_alive()` turns false and `join_timeout` returns true, promptly; the
/// grandchildren are the middle child's two children (their siblings hold nothing that
/// keeps the parent "alive").
#[test]
fn parent_process_sentinel_fires_when_the_parent_is_killed() {
    mp::init();
    let _serial = serial();
    for m in METHODS {
        let (mut r1, w1) = mp::Pipe(false).unwrap();
        let (mut r2, w2) = mp::Pipe(false).unwrap();
        let (mut rp, wp) = mp::Pipe(false).unwrap();
        let mut middle = mp::get_context(m).process(starts_two_reporters, (m, w1, w2, wp));
        middle.start().unwrap();
        let middle_pid = middle.pid().unwrap();
        assert!(rp.poll(Some(LIMIT)).unwrap(), "{m:?}: no grandchild pids");
        let (g1, g2): (u32, u32) = rp.recv().unwrap();
        for r in [&mut r1, &mut r2] {
            assert!(r.poll(Some(LIMIT)).unwrap(), "{m:?}: no first report");
            assert_eq!(
                r.recv::<(u32, bool)>().unwrap(),
                (middle_pid, true),
                "{m:?}"
            );
        }
        let killed = Instant::now();
        middle.kill().unwrap();
        assert_eq!(bounded(&mut middle), -9, "{m:?}");
        for r in [&mut r1, &mut r2] {
            assert!(r.poll(Some(LIMIT)).unwrap(), "{m:?}: no second report");
            let report: (bool, bool, bool, bool) = r.recv().unwrap();
            assert_eq!(
                report,
                (true, true, false, true),
                "{m:?}: (wait, wait raw, is_alive, joined)"
            );
        }
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "{m:?}: the grandchildren noticed after {:?}",
            killed.elapsed()
        );
        // The grandchildren end on their own (reaped by whoever adopted them, maybe
        // later): wait until each is gone or a zombie.
        for pid in [g1, g2] {
            let deadline = Instant::now() + LIMIT;
            let running = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|st| st.rsplit(')').next().is_some_and(|r| !r.starts_with(" Z")))
            };
            while running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(!running(), "{m:?}: grandchild {pid} still running");
        }
    }
}

fn no_parent_after_join(_: ()) {
    let parent = mp::parent_process().expect("a child has a parent");
    // The parent is still here and joining it would wait: a short join times out.
    let t = Instant::now();
    assert!(!parent.join_timeout(Duration::from_millis(20)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(parent.is_alive());
}

/// The join of a living parent times out (every start method); the main process has no
/// parent.
#[test]
fn parent_process_join_times_out_while_the_parent_lives() {
    mp::init();
    let _serial = serial();
    assert!(mp::parent_process().is_none());
    for m in METHODS {
        let mut p = mp::get_context(m).process(no_parent_after_join, ());
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}
