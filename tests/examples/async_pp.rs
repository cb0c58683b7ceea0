//! Profiling harness for the async rows of `cargo xtask bench` (issue #14): runs exactly
//! the bench's `async-queue-pingpong` (or `async-queue-1p1c`) workload of one contender
//! for N round trips (items), so `valgrind --tool=callgrind` can count it.
//!
//! `cargo run --release -p conkit-tests --example async_pp -- MODE N`, MODE one of
//! `conkit`, `tokio`, `conkit-1p1c`, `heap-1p1c`, `tokio-1p1c`, `none` (runtime only).

use std::rc::Rc;
use std::time::Instant;

fn local<F: std::future::Future<Output = bool>>(f: impl FnOnce() -> F) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let set = tokio::task::LocalSet::new();
    set.block_on(&rt, f())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("conkit", String::as_str).to_string();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let t0 = Instant::now();
    let ok = match mode.as_str() {
        "conkit" => local(|| async move {
            let a = Rc::new(conkit::queue::Queue::<u64>::new(1));
            let b = Rc::new(conkit::queue::Queue::<u64>::new(1));
            let (a2, b2) = (a.clone(), b.clone());
            let pong = tokio::task::spawn_local(async move {
                for _ in 0..n {
                    let v = a2.get_async().await.unwrap_or(u64::MAX);
                    let _ = b2.put_async(v).await;
                }
            });
            let mut ok = true;
            for i in 0..n {
                ok &= a.put_async(i).await.is_ok();
                ok &= b.get_async().await == Ok(i);
            }
            ok && pong.await.is_ok()
        }),
        "tokio" => local(|| async move {
            let (a_tx, mut a_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let (b_tx, mut b_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let pong = tokio::task::spawn_local(async move {
                for _ in 0..n {
                    let v = a_rx.recv().await.unwrap_or(u64::MAX);
                    let _ = b_tx.send(v).await;
                }
            });
            let mut ok = true;
            for i in 0..n {
                ok &= a_tx.send(i).await.is_ok();
                ok &= b_rx.recv().await == Some(i);
            }
            ok && pong.await.is_ok()
        }),
        "conkit-1p1c" => local(|| async move {
            let q = Rc::new(conkit::queue::Queue::<u64>::new(1024));
            let q2 = q.clone();
            let producer = tokio::task::spawn_local(async move {
                for i in 0..n {
                    let _ = q2.put_async(i).await;
                }
            });
            let mut total = 0u64;
            for _ in 0..n {
                total += q.get_async().await.unwrap_or(0);
            }
            producer.await.is_ok() && total == n * (n - 1) / 2
        }),
        "heap-1p1c" => local(|| async move {
            let q = Rc::new(conkit_core::queue::HeapRingQueue::<
                u64,
                conkit_core::wait::Futex,
            >::with_capacity(
                std::num::NonZeroUsize::new(1024).unwrap_or(std::num::NonZeroUsize::MIN),
            ));
            let q2 = q.clone();
            let producer = tokio::task::spawn_local(async move {
                for i in 0..n {
                    let _ = q2.put_async(i).await;
                }
            });
            let mut total = 0u64;
            for _ in 0..n {
                total += q.get_async().await.unwrap_or(0);
            }
            producer.await.is_ok() && total == n * (n - 1) / 2
        }),
        "tokio-1p1c" => local(|| async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
            let producer = tokio::task::spawn_local(async move {
                for i in 0..n {
                    let _ = tx.send(i).await;
                }
            });
            let mut total = 0u64;
            for _ in 0..n {
                total += rx.recv().await.unwrap_or(0);
            }
            producer.await.is_ok() && total == n * (n - 1) / 2
        }),
        _ => local(|| async { true }),
    };
    let dt = t0.elapsed();
    assert!(ok, "wrong result");
    println!(
        "{mode} {n}: {:.1} ns/item",
        dt.as_nanos() as f64 / n.max(1) as f64
    );
}
