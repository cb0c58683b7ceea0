//! `conkit::multiprocessing::Process` start + join against raw `fork` + `waitpid` and
//! CPython's `multiprocessing.Process` (fork, spawn and forkserver contexts). Issue #12's targets:
//! fork start+join at most 1.5× raw fork+waitpid; spawn at least 20× faster than
//! CPython's spawn; fork at least CPython's fork.
//!
//! Process starts cost milliseconds, so each contender runs at most `CAP` starts per
//! measurement and scales the time to the group's item count (as `harness::python`
//! does for its scripts).

use std::time::{Duration, Instant};

use conkit::multiprocessing::{self as mp, StartMethod};

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, Target};

const CAP: u64 = 200;

/// The benchmarks of this module.
pub fn all(items: u64) -> Vec<(&'static str, Make)> {
    vec![("mp-process-start-join", Box::new(move || start_join(items)))]
}

fn nothing(_: ()) {}

fn scaled(items: u64, cap: u64, mut one: impl FnMut() -> Res) -> Res<Duration> {
    let n = items.min(cap).max(1);
    let t = Instant::now();
    for _ in 0..n {
        one()?;
    }
    Ok(t.elapsed().mul_f64(items as f64 / n as f64))
}

fn conkit_start_join(m: StartMethod) -> Res {
    let mut p = mp::get_context(m).process(nothing, ());
    p.start().map_err(|e| e.to_string())?;
    p.join().map_err(|e| e.to_string())?;
    match p.exitcode() {
        Some(0) => Ok(()),
        other => Err(format!("child exit code {other:?}")),
    }
}

const PY: &str = r#"
import sys, time, multiprocessing as mp
def nothing():
    pass
if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[2])
    n = int(sys.argv[1])
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
        assert p.exitcode == 0
    print(time.perf_counter() - t0)
"#;

/// CPython's spawn needs a script file (it re-imports `__main__`), so the script is
/// written to a temporary file and run with the method as its second argument.
fn python(method: &str, items: u64, cap: u64) -> Res<Duration> {
    let path = std::env::temp_dir().join(format!("conkit_mp_process_{}.py", std::process::id()));
    std::fs::write(&path, PY).map_err(|e| e.to_string())?;
    let n = items.min(cap).max(1);
    let secs = harness::python_seconds(
        std::process::Command::new("python3")
            .arg(&path)
            .arg(n.to_string())
            .arg(method),
    );
    let _ = std::fs::remove_file(&path);
    let secs = secs?;
    Ok(Duration::from_secs_f64(secs * items as f64 / n as f64))
}

fn start_join(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit Process fork", move |n| {
            scaled(n, CAP, || conkit_start_join(StartMethod::Fork))
        }),
        Contender::conkit("conkit Process spawn", move |n| {
            scaled(n, CAP / 4, || conkit_start_join(StartMethod::Spawn))
        }),
        // The server starts on the first request (in the first measurement), as CPython's.
        Contender::conkit("conkit Process forkserver", move |n| {
            scaled(n, CAP, || conkit_start_join(StartMethod::Forkserver))
        }),
        Contender::peer("raw fork + waitpid", move |n| {
            scaled(n, CAP, || {
                // SAFETY: the child only calls _exit.
                let pid = unsafe { libc::fork() };
                if pid < 0 {
                    return Err("fork failed".into());
                }
                if pid == 0 {
                    // SAFETY: ends the child at once.
                    unsafe { libc::_exit(0) };
                }
                let mut status = 0;
                // SAFETY: our child, a valid status pointer.
                if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
                    return Err("waitpid failed".into());
                }
                Ok(())
            })
        }),
        Contender::peer("CPython Process fork", move |n| python("fork", n, CAP / 2)),
        Contender::peer("CPython Process spawn", move |n| {
            python("spawn", n, CAP / 20)
        }),
        Contender::peer("CPython Process forkserver", move |n| {
            python("forkserver", n, CAP / 4)
        }),
    ];
    Group {
        id: "mp-process-start-join",
        title: "multiprocessing Process start + join (child does nothing)".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::with_factor("conkit Process fork", "raw fork + waitpid", 1.0 / 1.5),
            Target::with_factor("conkit Process spawn", "CPython Process spawn", 20.0),
        ],
        missing: vec![],
    }
}
