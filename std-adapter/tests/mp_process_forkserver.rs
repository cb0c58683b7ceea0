//! The `forkserver` start method: children forked by one server process (not by the
//! requester), `set_forkserver_preload` run once in the server, the server restarted
//! when it dies, a running child's status when the server dies (255, as CPython), a
//! daemon killed when its requester dies although the server lives on, the descriptor
//! limit. Every test calls `mp::init()` and `setup()` first (the server is this test
//! binary re-executed with `--exact <test>`), and every child is bounded by a
//! join_timeout + kill.

use conkit::multiprocessing::{self as mp, Process, ProcessError, StartMethod};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::mp::{bounded, pipe, serial, OwnedFdArg, LIMIT};

const FS: StartMethod = StartMethod::Forkserver;

/// Runs in the server, once, before its first fork.
static PRELOADED: AtomicUsize = AtomicUsize::new(0);
static PRELOADED_IN: AtomicU32 = AtomicU32::new(0);
fn preload() {
    PRELOADED.fetch_add(1, Ordering::SeqCst);
    PRELOADED_IN.store(std::process::id(), Ordering::SeqCst);
}

fn setup() -> std::sync::MutexGuard<'static, ()> {
    mp::init();
    mp::set_forkserver_preload(&[preload]);
    serial()
}

/// Writes: its OS parent, the preload count and where the preload ran, its
/// `parent_process()` pid and name.
fn reports(w: OwnedFdArg) {
    let parent = mp::parent_process().expect("a child has a parent");
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() } as u32;
    let line = format!(
        "{ppid} {} {} {} {}\n",
        PRELOADED.load(Ordering::SeqCst),
        PRELOADED_IN.load(Ordering::SeqCst),
        parent.pid,
        parent.name
    );
    std::fs::File::from(w.0).write_all(line.as_bytes()).unwrap();
}

fn report_of_child() -> Vec<String> {
    let (mut r, w) = pipe();
    let mut p = mp::get_context(FS).process(reports, OwnedFdArg(w));
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
    drop(p);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn children_are_forked_by_one_server_which_ran_the_preload_once() {
    let _s = setup();
    let me = std::process::id().to_string();
    let a = report_of_child();
    let b = report_of_child();
    // Forked by the server, not by us; both by the same server.
    assert_ne!(a[0], me, "{a:?}");
    assert_eq!(a[0], b[0], "{a:?} {b:?}");
    // The preload ran exactly once, in the server (each child inherited its effect).
    assert_eq!(
        (a[1].as_str(), a[2].as_str()),
        ("1", a[0].as_str()),
        "{a:?}"
    );
    assert_eq!(
        (b[1].as_str(), b[2].as_str()),
        ("1", b[0].as_str()),
        "{b:?}"
    );
    // It never ran here.
    assert_eq!(PRELOADED.load(Ordering::SeqCst), 0);
    // parent_process() names the requester.
    assert_eq!((a[3].as_str(), a[4].as_str()), (me.as_str(), "MainProcess"));
}

fn sleeps(_: ()) {
    std::thread::sleep(Duration::from_secs(60));
}

fn server_pid() -> libc::pid_t {
    report_of_child()[0].parse().unwrap()
}

/// Whether `pid` ended (gone or a zombie) within [`LIMIT`].
fn ends(pid: libc::pid_t) -> bool {
    let t = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim().chars().next();
        if stat.is_empty() || state == Some('Z') || state == Some('X') {
            return true;
        }
        if t.elapsed() > LIMIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_gone(pid: libc::pid_t, what: &str) {
    assert!(ends(pid), "{what} {pid} still runs");
}

#[test]
fn a_killed_server_is_replaced_and_its_running_child_reports_255() {
    let _s = setup();
    let old = server_pid();
    let mut orphan = mp::get_context(FS).process(sleeps, ());
    orphan.start().unwrap();
    let orphan_pid = orphan.pid().unwrap() as libc::pid_t;
    // SAFETY: SIGKILL to the fork server, our own child.
    assert_eq!(unsafe { libc::kill(old, libc::SIGKILL) }, 0);
    // The status connection reaches end-of-file: CPython's popen_forkserver says 255.
    assert_eq!(bounded(&mut orphan), 255);
    // The orphan still runs (as under CPython); end it through its pidfd-less pid.
    // SAFETY: SIGKILL to the orphan (still alive: re-parented, not yet reaped).
    unsafe { libc::kill(orphan_pid, libc::SIGKILL) };
    wait_gone(orphan_pid, "orphan");
    // SAFETY: reap the dead server (our child).
    unsafe { libc::waitpid(old, std::ptr::null_mut(), 0) };
    // The next start brings up a new server, which ran the preload again.
    let r = report_of_child();
    assert_ne!(r[0], old.to_string(), "{r:?}");
    assert_eq!(r[1], "1", "{r:?}");
}

/// Starts a forkserver child (so the server runs), forks a long-lived sibling that
/// inherits the alive pipe (so the server outlives us), starts a daemon, reports the
/// daemon's pid and the sibling's, sleeps.
fn requester_of_daemon(w: OwnedFdArg) {
    let mut warm = mp::get_context(FS).process(sleeps, ());
    warm.start().unwrap();
    warm.kill().unwrap();
    warm.join().unwrap();
    let mut sibling = Process::fork_closure(|| std::thread::sleep(Duration::from_secs(60)));
    sibling.start().unwrap();
    let mut d = mp::get_context(FS).process(sleeps, ()).daemon(true);
    d.start().unwrap();
    let mut f = std::fs::File::from(w.0);
    f.write_all(&d.pid().unwrap().to_le_bytes()).unwrap();
    f.write_all(&sibling.pid().unwrap().to_le_bytes()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_daemon_dies_with_its_sigkilled_requester_while_the_server_lives() {
    let _s = setup();
    let (mut r, w) = pipe();
    let mut p = mp::get_context(StartMethod::Fork).process(requester_of_daemon, OwnedFdArg(w));
    p.start().unwrap();
    let mut pids = [0u8; 8];
    r.read_exact(&mut pids).unwrap();
    let daemon = u32::from_le_bytes(pids[..4].try_into().unwrap()) as libc::pid_t;
    let sibling = u32::from_le_bytes(pids[4..].try_into().unwrap()) as libc::pid_t;
    // SAFETY: getpgid-free liveness probe of the daemon: signal 0.
    assert_eq!(unsafe { libc::kill(daemon, 0) }, 0);
    p.kill().unwrap();
    assert_eq!(bounded(&mut p), -9);
    let daemon_ended = ends(daemon);
    // The sibling (holding the alive pipe) still runs: the server was not what ended it.
    let stat = std::fs::read_to_string(format!("/proc/{sibling}/stat")).unwrap_or_default();
    // SAFETY: SIGKILL to the orphaned sibling and (if it survived) the daemon.
    unsafe {
        libc::kill(sibling, libc::SIGKILL);
        libc::kill(daemon, libc::SIGKILL);
    }
    assert!(daemon_ended, "daemon {daemon} survived its requester");
    assert!(!stat.is_empty(), "the sibling should still run");
    wait_gone(sibling, "sibling");
}

fn takes_fds(fds: Vec<OwnedFdArg>) {
    assert_eq!(fds.len(), 200);
}

#[test]
fn descriptors_travel_and_too_many_are_refused() {
    let _s = setup();
    let files: Vec<OwnedFdArg> = (0..200)
        .map(|_| OwnedFdArg(std::fs::File::open("/dev/null").unwrap().into()))
        .collect();
    let mut p = mp::get_context(FS).process(takes_fds, files);
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
    let files: Vec<OwnedFdArg> = (0..253)
        .map(|_| OwnedFdArg(std::fs::File::open("/dev/null").unwrap().into()))
        .collect();
    let mut p = mp::get_context(FS).process(takes_fds, files);
    match p.start() {
        Err(ProcessError::Os(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput),
        other => panic!("{other:?}"),
    }
}

fn nested(_: ()) {
    // A forkserver child starting forkserver children: its own server.
    let mut p = mp::get_context(FS).process(sleeps, ()).name("grandchild");
    p.start().unwrap();
    assert_eq!(mp::active_children().len(), 1);
    p.terminate().unwrap();
    assert_eq!(bounded(&mut p), -15);
    assert!(mp::active_children().is_empty());
}

#[test]
fn a_forkserver_child_can_start_forkserver_children() {
    let _s = setup();
    let mut p = mp::get_context(FS).process(nested, ());
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
}

#[test]
fn dropping_the_process_of_a_running_daemon_does_not_kill_it() {
    let _s = setup();
    let mut d = mp::get_context(FS).process(sleeps, ()).daemon(true);
    d.start().unwrap();
    let pid = d.pid().unwrap() as libc::pid_t;
    drop(d);
    std::thread::sleep(Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim().chars().next();
    assert!(
        !stat.is_empty() && state != Some('Z'),
        "the daemon died with its Process object: {stat}"
    );
    // SAFETY: SIGKILL to the daemon (the server's child, not reaped while it runs).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_gone(pid, "daemon");
}

fn checks_big(v: Vec<u8>) {
    assert_eq!(v.len(), 2 << 20);
    assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
}

#[test]
fn large_arguments_arrive_whole() {
    let _s = setup();
    // Much larger than a socket buffer: the requester writes while the child reads.
    let v: Vec<u8> = (0..2 << 20).map(|i| (i % 251) as u8).collect();
    let mut p = mp::get_context(FS).process(checks_big, v);
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
}

fn exits_with(code: i32) {
    std::process::exit(code);
}

#[test]
fn threads_request_children_at_once() {
    let _s = setup();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut ps: Vec<Process> = (0..8)
                    .map(|i| mp::get_context(FS).process(exits_with, t * 10 + i))
                    .collect();
                for p in &mut ps {
                    p.start().unwrap();
                }
                ps.iter_mut().map(bounded).collect::<Vec<i32>>()
            })
        })
        .collect();
    for (t, h) in threads.into_iter().enumerate() {
        let codes = h.join().unwrap();
        let want: Vec<i32> = (0..8).map(|i| t as i32 * 10 + i).collect();
        assert_eq!(codes, want);
    }
}

fn preload_panics() {
    panic!("preload failed");
}

fn start_with_a_panicking_preload(_: ()) {
    mp::set_forkserver_preload(&[preload_panics]);
    let mut p = mp::get_context(FS).process(exits_with, 0);
    let code = match p.start() {
        Err(ProcessError::Os(_)) => 0,
        Err(_) => 2,
        Ok(()) => 3,
    };
    std::process::exit(code);
}

#[test]
fn a_panicking_preload_fails_the_start() {
    let _s = setup();
    // In a forked child, which starts its own server with its own preload list.
    let mut p = mp::get_context(StartMethod::Fork).process(start_with_a_panicking_preload, ());
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
}
