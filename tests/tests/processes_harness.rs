//! The cross-process harness itself (`conkit_tests::process`): a `MAP_SHARED` mapping is
//! shared with a forked child and with a second mapping of the same `memfd`, a `SIGKILL`
//! is reported as such, a child's panic is exit code 101. (`harness = false`: see the
//! harness's docs for why.)

#[cfg(target_os = "linux")]
fn main() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use conkit_tests::process::{fork, run_scenarios, Exit, SharedMem};

    fn shared_with_child() {
        let counter = SharedMem::new(|| AtomicU32::new(0));
        let children: Vec<_> = (0..4)
            .map(|_| {
                fork(|| {
                    for _ in 0..1000 {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    0
                })
            })
            .collect();
        for c in children {
            assert_eq!(c.wait(), Exit::Code(0));
        }
        assert_eq!(counter.load(Ordering::SeqCst), 4000);
    }

    fn second_mapping_sees_the_same_memory() {
        let a = SharedMem::new(|| AtomicU32::new(7));
        let b = a.map_again();
        assert_ne!(a.as_ptr(), b.as_ptr(), "two addresses, one object");
        b.store(9, Ordering::SeqCst);
        assert_eq!(a.load(Ordering::SeqCst), 9);
    }

    fn kill_and_panic_are_reported() {
        let mut sleeper = fork(|| {
            std::thread::sleep(Duration::from_secs(60));
            0
        });
        assert_eq!(sleeper.wait_timeout(Duration::from_millis(20)), None);
        sleeper.kill();
        assert_eq!(sleeper.wait(), Exit::Signal(libc::SIGKILL));
        let panics = fork(|| panic!("on purpose"));
        assert_eq!(panics.wait(), Exit::Code(101));
    }

    run_scenarios(
        &[
            ("shared_with_child", shared_with_child),
            (
                "second_mapping_sees_the_same_memory",
                second_mapping_sees_the_same_memory,
            ),
            ("kill_and_panic_are_reported", kill_and_panic_are_reported),
        ],
        Duration::from_secs(30),
    );
}

#[cfg(not(target_os = "linux"))]
fn main() {}
