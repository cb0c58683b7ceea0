//! `multiprocessing.Value` (Linux only): the seed's workload — two processes each
//! incrementing one shared counter under its lock, `with v.get_lock(): v.value += 1` —
//! against CPython's `multiprocessing.Value` doing the same (issue #12's target: ≥ 10×
//! faster).
//!
//! * `mp-value`: `N` increments in all, `N/2` per process, each one "take the value's
//!   `RLock`, read, add one, write, release" (`let _g = v.get_lock().lock();
//!   v.set(v.get() + 1)`: one real acquisition and two re-entries, as CPython's
//!   `v.value += 1` inside `with v.get_lock():` re-enters its `RLock` for the read and
//!   the write). Contenders: `conkit mp::Value`, the same through `Value::update` (one
//!   acquisition), and CPython. The children are forked (`conkit_tests::process::fork`
//!   here, `multiprocessing.get_context("fork")` in CPython) and wait at a start line;
//!   the time runs from the start line until both report done, so process start-up and
//!   exit are excluded on both sides. The result is checked (exactly `N`) on both
//!   sides.

use core_affinity::CoreId;

use super::Make;
use crate::harness::{Contender, Group, Kind, Target};

/// The benchmarks of this module (none off Linux).
pub fn all(items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![("mp-value", Box::new(move || linux::mp_value(items)) as Make)]
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = items;
        vec![]
    }
}

/// CPython's peer: 2 forked processes × `n/2` increments under `get_lock()`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const PY_VALUE: &str = r#"
import sys, time, multiprocessing as mp
n = int(sys.argv[1])
ctx = mp.get_context("fork")
def work(v, k, go, done):
    go.wait()
    for _ in range(k):
        with v.get_lock():
            v.value += 1
    done.release()
if __name__ == "__main__":
    v = ctx.Value("q", 0)
    go, done = ctx.Event(), ctx.Semaphore(0)
    ps = [ctx.Process(target=work, args=(v, k, go, done)) for k in (n // 2, n - n // 2)]
    for p in ps:
        p.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    go.set()
    done.acquire()
    done.acquire()
    t = time.perf_counter() - t0
    for p in ps:
        p.join()
    assert v.value == n, v.value
    print(t)
"#;

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use conkit::multiprocessing::{RawArray, Value};
    use conkit_tests::process::{fork, Exit};

    use super::*;
    use crate::harness::{self, Res};

    /// The control words the children share besides the value (atomics in a
    /// `RawArray`): how many are ready, the start line, how many are done.
    const READY: usize = 0;
    const GO: usize = 1;
    const DONE: usize = 2;

    /// The longest a run may take before it is called stalled.
    const LIMIT: Duration = Duration::from_secs(120);

    fn spin(deadline: Instant, mut f: impl FnMut() -> bool) -> Res {
        while !f() {
            if Instant::now() > deadline {
                return Err("stalled: no progress before the deadline".into());
            }
            std::thread::yield_now();
        }
        Ok(())
    }

    /// Two forked children do `n/2` increments each through `inc`; the time from the
    /// start line to both done, after checking the count is `n`.
    fn two_processes(n: u64, inc: fn(&Value<u64>)) -> Res<Duration> {
        let v = Value::<u64>::zeroed();
        let ctl = RawArray::<u64>::zeroed(3);
        let deadline = Instant::now() + LIMIT;
        let children: Vec<_> = [n / 2, n - n / 2]
            .into_iter()
            .map(|k| {
                let (v, ctl) = (v.clone(), ctl.clone());
                fork(move || {
                    let c = ctl.as_atomics();
                    c[READY].fetch_add(1, Ordering::SeqCst);
                    while c[GO].load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    for _ in 0..k {
                        inc(&v);
                    }
                    c[DONE].fetch_add(1, Ordering::SeqCst);
                    0
                })
            })
            .collect();
        let c = ctl.as_atomics();
        spin(deadline, || c[READY].load(Ordering::SeqCst) == 2)?;
        let t0 = Instant::now();
        c[GO].store(1, Ordering::Release);
        spin(deadline, || c[DONE].load(Ordering::SeqCst) == 2)?;
        let t = t0.elapsed();
        for child in children {
            match child.wait() {
                Exit::Code(0) => {}
                other => return Err(format!("child: {other:?}")),
            }
        }
        match v.get() {
            got if got == n => Ok(t),
            got => Err(format!("WRONG RESULT: counted {got}, expected {n}")),
        }
    }

    pub fn mp_value(items: u64) -> Group<'static> {
        Group {
            id: "mp-value",
            title: "multiprocessing.Value, 2 processes × N/2 increments under get_lock()".into(),
            kind: Kind::Latency,
            items,
            contenders: vec![
                Contender::conkit("conkit mp::Value", |n| {
                    two_processes(n, |v| {
                        let _g = v.get_lock().lock();
                        v.set(v.get() + 1);
                    })
                }),
                Contender::conkit("conkit mp::Value update", |n| {
                    two_processes(n, |v| {
                        v.update(|x| x + 1);
                    })
                }),
                Contender::peer("CPython multiprocessing.Value", |n| {
                    harness::python(PY_VALUE, n, 200_000)
                }),
            ],
            targets: vec![Target::with_factor(
                "conkit mp::Value",
                "CPython multiprocessing.Value",
                10.0,
            )],
            missing: vec![],
        }
    }
}
