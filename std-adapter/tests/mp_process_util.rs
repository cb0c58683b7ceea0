//! `set_executable` (only this very binary; another one or a copy refused), the
//! `multiprocessing` logger (`log_to_stderr`: Python's `[LEVEL/ProcessName] message`
//! lines, the level filter, children logging under every start method), the guard
//! against a spawned child that never called `init()`, and `Process: Send`. Every test
//! runs its children bounded by a join_timeout + kill.

use conkit::multiprocessing::{self as mp, util::Level, Process, ProcessError, StartMethod};
use std::io::Read;
use std::os::fd::AsRawFd;

mod common;
use common::mp::{bounded, pipe, serial, OwnedFdArg};

fn exits_with(code: i32) {
    std::process::exit(code);
}

#[test]
fn set_executable_accepts_only_this_binary() {
    mp::init();
    let _s = serial();
    let exe = std::env::current_exe().unwrap();
    // Another program.
    match mp::set_executable("/bin/sh") {
        Err(ProcessError::NotSameExecutable(p)) => assert_eq!(p, std::path::Path::new("/bin/sh")),
        other => panic!("{other:?}"),
    }
    // A missing file.
    assert!(matches!(
        mp::set_executable("/nonexistent/conkit"),
        Err(ProcessError::NotSameExecutable(_))
    ));
    // A byte-for-byte copy of this binary: another file, refused (the spawned child
    // would check the running binary's identity anyway).
    let dir = std::env::temp_dir().join(format!("conkit-set-exe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("copy");
    std::fs::copy(&exe, &copy).unwrap();
    let refused = mp::set_executable(&copy);
    // A symbolic link to it names the same file: accepted.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&exe, &link).unwrap();
    let linked = mp::set_executable(&link);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(refused, Err(ProcessError::NotSameExecutable(_))),
        "{refused:?}"
    );
    assert!(linked.is_ok(), "{linked:?}");
    // Refusals leave the setting alone; /proc/self/exe is accepted and used.
    mp::set_executable("/proc/self/exe").unwrap();
    assert_eq!(
        mp::get_executable().unwrap(),
        std::path::Path::new("/proc/self/exe")
    );
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = mp::get_context(m).process(exits_with, 6);
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 6, "{m:?}");
    }
}

fn logs_and_exits(_: ()) {
    mp::get_logger().info(format_args!("inner {}", mp::current_process().name()));
}

/// In a forked child whose stderr is the pipe: log_to_stderr, log at several levels,
/// start a grandchild with `method`.
fn logging_parent((w, method): (OwnedFdArg, StartMethod)) {
    // SAFETY: dup2 of a descriptor we own onto stderr.
    unsafe { libc::dup2(w.0.as_raw_fd(), 2) };
    drop(w);
    let logger = mp::log_to_stderr(Some(Level::Info)).unwrap();
    assert_eq!(logger.name(), "multiprocessing");
    logger.warning("outer says hi");
    logger.debug("hidden: below the level");
    logger.log(Level::SubWarning, "sub warning");
    let mut p = mp::get_context(method)
        .process(logs_and_exits, ())
        .name("gc");
    p.start().unwrap();
    std::process::exit(bounded(&mut p));
}

#[test]
fn log_to_stderr_prints_python_lines_in_parent_and_children() {
    mp::init();
    let _s = serial();
    for m in mp::get_all_start_methods() {
        let (mut r, w) = pipe();
        let mut p = mp::get_context(StartMethod::Fork)
            .process(logging_parent, (OwnedFdArg(w), m))
            .name("outer");
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        drop(p);
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "[WARNING/outer] outer says hi",
            "[SUBWARNING/outer] sub warning",
            &format!("[INFO/outer] starting gc ({})", m.as_str()),
            "[INFO/gc] child process calling self.run()",
            "[INFO/gc] inner gc",
            "[INFO/gc] process exiting with exitcode 0",
        ] {
            assert!(lines.contains(&want), "{m:?}: {want:?} missing in\n{text}");
        }
        assert!(!text.contains("hidden"), "{m:?}: {text}");
    }
}

#[test]
fn logger_levels_follow_python() {
    let logger = mp::get_logger();
    assert_eq!(logger.effective_level(), Level::Warning);
    assert!(!logger.is_enabled_for(Level::Info));
    assert_eq!(Level::SubDebug as u8, 5);
    assert_eq!(Level::SubWarning as u8, 25);
    assert_eq!(
        mp::util::DEFAULT_LOGGING_FORMAT,
        "[%(levelname)s/%(processName)s] %(message)s"
    );
}

fn ok(_: ()) {}

#[test]
fn a_spawned_child_without_init_cannot_start_children() {
    // No mp::init() here on purpose: the spawned child runs this test again, like a
    // program whose main forgot init(), and must not start children of its own.
    if std::env::var_os("CONKIT_MP_SPAWN_FD").is_some() {
        let r = Process::new(ok, ())
            .start_method(StartMethod::Spawn)
            .start();
        std::process::exit(if matches!(r, Err(ProcessError::InitNotCalled)) {
            42
        } else {
            43
        });
    }
    let _s = serial();
    let mut p = Process::new(ok, ()).start_method(StartMethod::Spawn);
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 42);
}

#[test]
fn process_is_send_started_here_joined_there() {
    mp::init();
    let _s = serial();
    fn assert_send<T: Send>() {}
    assert_send::<Process>();
    for m in mp::get_all_start_methods() {
        let mut p = mp::get_context(m).process(exits_with, 3);
        p.start().unwrap();
        let code = std::thread::spawn(move || bounded(&mut p)).join().unwrap();
        assert_eq!(code, 3, "{m:?}");
    }
}

struct Foreign;
impl log::Log for Foreign {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}
static FOREIGN: Foreign = Foreign;

fn foreign_logger_first(_: ()) {
    log::set_logger(&FOREIGN).unwrap();
    let refused = mp::log_to_stderr(Some(Level::Info));
    std::process::exit(if refused == Err(mp::util::LoggerAlreadySet) {
        0
    } else {
        1
    });
}

#[test]
fn log_to_stderr_is_refused_after_another_logger() {
    mp::init();
    let _s = serial();
    // In a forked child: the `log` logger is process-global and set once.
    let mut p = Process::fork_closure(|| foreign_logger_first(()));
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
}

fn log_macro_record(w: OwnedFdArg) {
    // SAFETY: dup2 of a descriptor we own onto stderr.
    unsafe { libc::dup2(w.0.as_raw_fd(), 2) };
    drop(w);
    mp::log_to_stderr(None).unwrap(); // level NOTSET: WARNING and above
    log::warn!(target: "multiprocessing", "from the log macro");
    log::info!(target: "multiprocessing", "filtered");
    log::warn!(target: "elsewhere", "not ours");
    std::process::exit(0);
}

#[test]
fn log_macro_records_with_the_target_are_printed() {
    mp::init();
    let _s = serial();
    let (mut r, w) = pipe();
    let mut p = mp::get_context(StartMethod::Fork)
        .process(log_macro_record, OwnedFdArg(w))
        .name("m");
    p.start().unwrap();
    assert_eq!(bounded(&mut p), 0);
    drop(p);
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert_eq!(text, "[WARNING/m] from the log macro\n");
}

fn args_name_one_test(_: ()) {
    let args: Vec<String> = std::env::args().collect();
    let ok = args.iter().any(|a| a == "--exact");
    std::process::exit(if ok { 4 } else { 5 });
}

/// In a forked child (so that `forkserver` starts a server of its own): an unnamed
/// thread starts a child with `method`.
fn unnamed_thread_starts(method: StartMethod) {
    let code = std::thread::spawn(move || {
        let mut p = mp::get_context(method).process(args_name_one_test, ());
        p.start().unwrap();
        bounded(&mut p)
    })
    .join()
    .unwrap();
    std::process::exit(if code == 4 { 0 } else { code });
}

#[test]
fn children_of_an_unnamed_thread_rerun_one_test() {
    mp::init();
    let _s = serial();
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = mp::get_context(StartMethod::Fork).process(unnamed_thread_starts, m);
        p.start().unwrap();
        // 5: the binary was re-executed without `--exact`, running every test.
        assert_eq!(bounded(&mut p), 0, "{m:?}");
    }
}
