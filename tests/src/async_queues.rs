//! The async queue workloads of issue #14, in one place: the bench rows
//! `async-queue-pingpong` and `async-queue-1p1c` (`benches/groups/asyncio.rs`) time
//! them, and `examples/async_pp.rs` runs one of them alone (for callgrind and A/B
//! timing).
//!
//! Each function builds its queues at once (before any clock the caller starts) and
//! returns the workload as a future, `true` if every item arrived in order (ping-pong)
//! or the sum is right (1P/1C). Run it inside a `tokio::task::LocalSet` (the tasks
//! are spawned with `spawn_local`), e.g. with [`local`].

use std::future::Future;
use std::num::NonZeroUsize;
use std::rc::Rc;

/// Runs `f()`'s future to the end inside a `LocalSet` on a fresh current-thread tokio
/// runtime (built before `f` is called).
///
/// # Errors
/// If the runtime cannot be built.
pub fn local<F: Future>(f: impl FnOnce() -> F) -> Result<F::Output, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let set = tokio::task::LocalSet::new();
    Ok(set.block_on(&rt, f()))
}

/// The capacity of the 1P/1C queues.
pub const CAP: usize = 1024;

/// The sum of `0..n`.
fn expect(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn cap() -> NonZeroUsize {
    NonZeroUsize::new(CAP).unwrap_or(NonZeroUsize::MIN)
}

/// Ping-pong of `n` round trips between two tasks over two one-slot
/// `conkit::queue::Queue`s (`put_async` / `get_async`).
pub fn pingpong_conkit(n: u64) -> impl Future<Output = bool> {
    let a = Rc::new(conkit::queue::Queue::<u64>::new(1));
    let b = Rc::new(conkit::queue::Queue::<u64>::new(1));
    let (a2, b2) = (a.clone(), b.clone());
    async move {
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
    }
}

/// [`pingpong_conkit`] over two `tokio::sync::mpsc::channel(1)`s.
pub fn pingpong_tokio(n: u64) -> impl Future<Output = bool> {
    let (a_tx, mut a_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (b_tx, mut b_rx) = tokio::sync::mpsc::channel::<u64>(1);
    async move {
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
    }
}

/// [`pingpong_conkit`] over two `async_channel::bounded(1)`s.
pub fn pingpong_async_channel(n: u64) -> impl Future<Output = bool> {
    let (a_tx, a_rx) = async_channel::bounded::<u64>(1);
    let (b_tx, b_rx) = async_channel::bounded::<u64>(1);
    async move {
        let pong = tokio::task::spawn_local(async move {
            for _ in 0..n {
                let v = a_rx.recv().await.unwrap_or(u64::MAX);
                let _ = b_tx.send(v).await;
            }
        });
        let mut ok = true;
        for i in 0..n {
            ok &= a_tx.send(i).await.is_ok();
            ok &= b_rx.recv().await == Ok(i);
        }
        ok && pong.await.is_ok()
    }
}

/// One producer task puts `0..n` into a [`CAP`]-slot `conkit::queue::Queue`, the
/// consumer (the caller's task) gets and sums them.
pub fn p1c1_conkit(n: u64) -> impl Future<Output = bool> {
    let q = Rc::new(conkit::queue::Queue::<u64>::new(CAP));
    let q2 = q.clone();
    async move {
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n {
                let _ = q2.put_async(i).await;
            }
        });
        let mut total = 0u64;
        for _ in 0..n {
            total += q.get_async().await.unwrap_or(0);
        }
        producer.await.is_ok() && total == expect(n)
    }
}

/// [`p1c1_conkit`] through conkit-core's `HeapRingQueue` (futex strategy).
pub fn p1c1_heap_ring_queue(n: u64) -> impl Future<Output = bool> {
    let q = Rc::new(conkit_core::queue::HeapRingQueue::<
        u64,
        conkit_core::wait::Futex,
    >::with_capacity(cap()));
    let q2 = q.clone();
    async move {
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n {
                let _ = q2.put_async(i).await;
            }
        });
        let mut total = 0u64;
        for _ in 0..n {
            total += q.get_async().await.unwrap_or(0);
        }
        producer.await.is_ok() && total == expect(n)
    }
}

/// [`p1c1_conkit`] through conkit-core's `HeapMpmcRing` (futex strategy).
pub fn p1c1_mpmc_ring(n: u64) -> impl Future<Output = bool> {
    let ring = Rc::new(conkit_core::mpmc::HeapMpmcRing::<
        u64,
        conkit_core::wait::Futex,
    >::with_capacity(cap()));
    let r2 = ring.clone();
    async move {
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n {
                r2.push_async(i).await;
            }
        });
        let mut total = 0u64;
        for _ in 0..n {
            total += ring.pop_async().await;
        }
        producer.await.is_ok() && total == expect(n)
    }
}

/// [`p1c1_conkit`] through a [`CAP`]-slot `tokio::sync::mpsc::channel`.
pub fn p1c1_tokio(n: u64) -> impl Future<Output = bool> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAP);
    async move {
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n {
                let _ = tx.send(i).await;
            }
        });
        let mut total = 0u64;
        for _ in 0..n {
            total += rx.recv().await.unwrap_or(0);
        }
        producer.await.is_ok() && total == expect(n)
    }
}

/// [`p1c1_conkit`] through a [`CAP`]-slot `async_channel::bounded`.
pub fn p1c1_async_channel(n: u64) -> impl Future<Output = bool> {
    let (tx, rx) = async_channel::bounded::<u64>(CAP);
    async move {
        let producer = tokio::task::spawn_local(async move {
            for i in 0..n {
                let _ = tx.send(i).await;
            }
        });
        let mut total = 0u64;
        for _ in 0..n {
            total += rx.recv().await.unwrap_or(0);
        }
        producer.await.is_ok() && total == expect(n)
    }
}
