//! `multiprocessing.connection` awaited from a task (issue #14, `Connection::recv_async`).
//!
//! * `conn-async-pingpong`: the cost of waking a task with a message from another
//!   process (the connection's proxy waiter: it announces itself to the writer as a
//!   sleeping reader of the `Pipe`'s ring and sleeps in `poll` on its socket): a forked
//!   child echoes 8-byte messages over a duplex `Pipe`, `min(items, 20 000)` round
//!   trips; the parent awaits each reply with `recv_bytes_async` on a current-thread
//!   runtime, or blocks in `recv_bytes` (the same without a task: it spins 50 µs before
//!   it sleeps), against CPython's `Pipe()` with a forked `Process` (blocking `recv_bytes`;
//!   asyncio has no async `Connection`). A task cannot spin on its executor's thread, so
//!   its wake is a socket byte, the proxy's `poll` and the runtime's thread wake-up.
//!   Target: the task form at least as fast as CPython's blocking one.

use std::time::{Duration, Instant};

use super::Make;
use crate::harness::{self, Contender, Group, Kind, Res, StartLine, Target};

/// Round trips at most.
const PINGPONG_ITEMS: u64 = 20_000;

/// The benchmarks of this module.
pub fn all(items: u64) -> Vec<(&'static str, Make)> {
    #[cfg(target_os = "linux")]
    {
        vec![(
            "conn-async-pingpong",
            Box::new(move || pingpong(items.min(PINGPONG_ITEMS))),
        )]
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = items;
        vec![]
    }
}

const PY_PIPE_PINGPONG: &str = r#"
import sys, time
import multiprocessing as mp

def child(c, n):
    for _ in range(n):
        c.send_bytes(c.recv_bytes())

if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=child, args=(b, n))
    p.start()
    b.close()
    m = b"01234567"
    t0 = time.perf_counter()
    for _ in range(n):
        a.send_bytes(m)
        assert a.recv_bytes() == m
    t = time.perf_counter() - t0
    p.join()
    print(t)
"#;

#[cfg(target_os = "linux")]
fn pingpong(items: u64) -> Group<'static> {
    const TASK: &str = "conkit Pipe, parent task (recv_bytes_async)";
    const BLOCKING: &str = "conkit Pipe, parent blocking (recv_bytes)";
    const PY: &str = "CPython multiprocessing.Pipe (blocking recv_bytes)";
    Group {
        id: "conn-async-pingpong",
        title: format!(
            "{items} round trips of 8 bytes over a Pipe to a forked echo child: \
             a parent task woken from the other process vs a blocking parent vs CPython"
        ),
        kind: Kind::Latency,
        items,
        contenders: vec![
            Contender::conkit(TASK, |n| pingpong_run(n, true)),
            Contender::peer(BLOCKING, |n| pingpong_run(n, false)),
            Contender::peer(PY, |n| harness::python(PY_PIPE_PINGPONG, n, PINGPONG_ITEMS)),
        ],
        targets: vec![Target::with_factor(TASK, PY, 1.0)],
        missing: vec![],
    }
}

#[cfg(target_os = "linux")]
fn pingpong_run(n: u64, task: bool) -> Res<Duration> {
    use conkit::multiprocessing::Pipe;
    use conkit_tests::process::{fork, Exit, SharedMem};

    let (mut ours, mut theirs) = Pipe(true).map_err(|e| e.to_string())?;
    let line = SharedMem::new(|| StartLine::new(2));
    let child = fork(|| {
        line.wait();
        for _ in 0..n {
            let Ok(m) = theirs.recv_bytes() else { return 1 };
            if theirs.send_bytes(&m).is_err() {
                return 1;
            }
        }
        0
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let deadline = harness::deadline(n);
    let m = *b"01234567";
    let t0 = line.wait();
    if task {
        rt.block_on(async {
            for _ in 0..n {
                ours.send_bytes(&m).map_err(|e| e.to_string())?;
                let back = ours.recv_bytes_async().await.map_err(|e| e.to_string())?;
                if back != m || Instant::now() > deadline {
                    return Err("wrong echo or stalled".to_string());
                }
            }
            Res::Ok(())
        })?;
    } else {
        for _ in 0..n {
            ours.send_bytes(&m).map_err(|e| e.to_string())?;
            let back = ours.recv_bytes().map_err(|e| e.to_string())?;
            if back != m || Instant::now() > deadline {
                return Err("wrong echo or stalled".to_string());
            }
        }
    }
    let d = t0.elapsed();
    match child.wait() {
        Exit::Code(0) => {}
        other => return Err(format!("child: {other:?}")),
    }
    Ok(d)
}
