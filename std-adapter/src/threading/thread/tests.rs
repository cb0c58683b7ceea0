//! The module's own tests (fork: what a child sees after `after_fork_in_child`).

use super::*;
use std::time::Instant;

/// What the child of a fork sees after `after_fork_in_child`; `true` if all is as
/// in Python.
fn child_checks(other: &Thread, pid: u64) -> bool {
    after_fork_in_child();
    let me = current_thread();
    let main = main_thread();
    let listed = enumerate();
    me == main
        && main.is_alive()
        && me.native_id() == Some(pid)
        && listed == [me.clone()]
        && active_count() == 1
        && !other.is_alive()
        && other.join_timeout(Duration::ZERO).is_ok_and(|done| done)
}

#[test]
fn after_fork_only_the_forking_thread_is_alive_and_it_is_main() {
    let gate = Arc::new(Event::<Futex>::new());
    let g = gate.clone();
    let other = Thread::new(move || g.wait());
    other.start().unwrap();
    // Make sure the registry has entries and this (test) thread has a handle.
    let me = current_thread();
    assert!(enumerate().contains(&other) && enumerate().contains(&me));

    // SAFETY: fork has no preconditions; the child only runs `child_checks` (which
    // allocates: glibc's malloc is fork-safe) and leaves with `_exit`, never
    // returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: getpid has no preconditions.
        let child = u64::try_from(unsafe { libc::getpid() }).unwrap_or_default();
        let ok = child_checks(&other, child);
        // SAFETY: _exit ends the child at once, without running the parent's atexit
        // handlers or destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // The parent is untouched.
    assert!(other.is_alive());
    assert_ne!(current_thread(), main_thread());
    gate.set();
    other.join().unwrap();
}
