//! Async forms of the manager proxies (issue #14): each completes on a current-thread
//! tokio runtime while a child process (or a thread) makes the change; a dropped
//! future loses no item, permit or notify; many tasks await one proxy. Every test
//! calls `mp::init()` first (spawned children re-run the test binary with `--exact`).

use std::time::Duration;

use conkit::multiprocessing::managers::{
    BarrierProxy, ConditionProxy, EventProxy, LockProxy, Manager, ManagerError, QueueProxy,
    SemaphoreProxy,
};
use conkit::multiprocessing::{self as mp, Process};

mod common;
use common::mp::{bounded, serial};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

const SOON: Duration = Duration::from_millis(100);

fn later_put((q, v): (QueueProxy<u32>, u32)) {
    std::thread::sleep(SOON);
    q.put(&v).unwrap();
}

fn later_get_and_done(q: QueueProxy<u32>) {
    std::thread::sleep(SOON);
    q.get().unwrap();
    q.task_done().unwrap();
}

fn later_release(l: LockProxy) {
    std::thread::sleep(SOON);
    l.release().unwrap();
}

fn later_set(e: EventProxy) {
    std::thread::sleep(SOON);
    e.set().unwrap();
}

fn later_notify(c: ConditionProxy) {
    std::thread::sleep(SOON);
    let _g = c.lock().unwrap();
    c.notify(1).unwrap();
}

fn party(b: BarrierProxy) {
    std::thread::sleep(SOON);
    b.wait().unwrap();
}

fn run_child<A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>(
    f: fn(A),
    a: A,
) -> Process {
    let mut p = Process::new(f, a);
    p.start().unwrap();
    p
}

#[test]
fn each_async_form_completes_when_a_child_process_acts() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();

    let q = m.joinable_queue::<u32>(1).unwrap();
    let mut p = run_child(later_put, (q.clone(), 5));
    assert_eq!(rt.block_on(q.get_async()).unwrap(), 5);
    assert_eq!(bounded(&mut p), 0);
    q.task_done().unwrap();

    q.put(&1).unwrap(); // full
    let mut p = run_child(later_get_and_done, q.clone());
    rt.block_on(q.put_async(&2)).unwrap(); // room made by the child
    assert_eq!(bounded(&mut p), 0);
    assert_eq!(q.get().unwrap(), 2);
    q.task_done().unwrap();
    rt.block_on(q.join_async()).unwrap();

    let l = m.lock().unwrap();
    l.acquire().unwrap();
    let mut p = run_child(later_release, l.clone());
    rt.block_on(l.acquire_async()).unwrap();
    assert!(l.locked().unwrap());
    assert_eq!(bounded(&mut p), 0);
    l.release().unwrap();

    let e = m.event().unwrap();
    let mut p = run_child(later_set, e.clone());
    rt.block_on(e.wait_async()).unwrap();
    assert!(e.is_set().unwrap());
    assert_eq!(bounded(&mut p), 0);

    let c = m.condition().unwrap();
    let mut p = run_child(later_notify, c.clone());
    rt.block_on(async {
        let _g = c.lock_async().await.unwrap();
        c.wait_async().await.unwrap();
    });
    assert_eq!(bounded(&mut p), 0);

    let b = m.barrier(2).unwrap();
    let mut p = run_child(party, b.clone());
    assert!(rt.block_on(b.wait_async()).unwrap() < 2);
    assert_eq!(bounded(&mut p), 0);
}

#[test]
fn timeout_forms_time_out() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let t = Duration::from_millis(20);
    let q = m.queue::<u32>(1).unwrap();
    assert!(matches!(
        rt.block_on(q.get_timeout_async(t)),
        Err(ManagerError::Empty)
    ));
    q.put(&1).unwrap();
    assert!(matches!(
        rt.block_on(q.put_timeout_async(&2, t)),
        Err(ManagerError::Full)
    ));
    assert!(!rt.block_on(q.join_timeout_async(t)).unwrap());
    let l = m.lock().unwrap();
    l.acquire().unwrap();
    assert!(!rt.block_on(l.acquire_timeout_async(t)).unwrap());
    let e = m.event().unwrap();
    assert!(!rt.block_on(e.wait_timeout_async(t)).unwrap());
    let c = m.condition().unwrap();
    let _g = c.lock().unwrap();
    assert!(!rt.block_on(c.wait_timeout_async(t)).unwrap());
    c.notify_all().unwrap(); // still held after the timed-out wait
}

/// Issue #14: a dropped `get_async` (pending on the server) must not swallow the next
/// item.
#[test]
fn dropped_get_async_loses_no_item() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let q = m.queue::<u32>(0).unwrap();
    for _ in 0..5 {
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), q.get_async()).await
        });
        assert!(r.is_err(), "nothing was put: the get must time out");
    }
    let mut p = run_child(later_put, (q.clone(), 9));
    assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 9);
    assert_eq!(bounded(&mut p), 0);
    assert_eq!(q.qsize().unwrap(), 0);
}

/// A get_async dropped in every poll state while items flow: every item put is got
/// exactly once.
#[test]
fn dropped_get_async_racing_puts_loses_and_duplicates_nothing() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let q = m.queue::<u32>(0).unwrap();
    let q2 = q.clone();
    let n = 200u32;
    let putter = std::thread::spawn(move || {
        for i in 0..n {
            q2.put(&i).unwrap();
            if i % 7 == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
    });
    let mut got = Vec::new();
    rt.block_on(async {
        let mut k = 0u64;
        while got.len() < n as usize {
            k += 1;
            let t = Duration::from_micros(50 + (k % 5) * 200);
            if let Ok(r) = tokio::time::timeout(t, q.get_async()).await {
                got.push(r.unwrap());
            }
        }
    });
    putter.join().unwrap();
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    assert_eq!(q.qsize().unwrap(), 0);
}

/// Issue #14: a dropped `acquire_async` on a semaphore must not swallow a permit.
#[test]
fn dropped_acquire_async_swallows_no_permit() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let s: SemaphoreProxy = m.semaphore(0).unwrap();
    let r = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(50), s.acquire_async()).await
    });
    assert!(r.is_err());
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || {
        let got = s2.acquire_timeout(Duration::from_secs(10)).unwrap();
        // Read before this thread ends (its connection then gives the permit back).
        (got, s2.value().unwrap())
    });
    std::thread::sleep(SOON);
    s.release().unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        (true, 0),
        "the other waiter got the permit"
    );
}

/// A dropped condition `wait_async` that had been notified passes the notify on.
#[test]
fn dropped_condition_wait_async_keeps_the_lock_and_the_notify() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let c = m.condition().unwrap();
    c.acquire().unwrap();
    let r = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(50), c.wait_async()).await });
    assert!(r.is_err());
    // The lock is this thread's again (asyncio: a cancelled wait re-takes it).
    c.notify_all().unwrap();
    c.release().unwrap();
    assert!(c.release().is_err());
}

/// Many tasks await one queue at once; each gets one item.
#[test]
fn hundred_tasks_await_one_queue() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let q = m.queue::<u32>(0).unwrap();
    let e = m.event().unwrap();
    let n = 100u32;
    let got = rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let (q, e) = (q.clone(), e.clone());
                        tokio::task::spawn_local(async move {
                            e.wait_async().await.unwrap();
                            q.get_async().await.unwrap()
                        })
                    })
                    .collect();
                let (q2, e2) = (q.clone(), e.clone());
                let feeder = std::thread::spawn(move || {
                    std::thread::sleep(SOON);
                    e2.set().unwrap();
                    for i in 0..n {
                        q2.put(&i).unwrap();
                    }
                });
                let mut got = Vec::new();
                for t in tasks {
                    got.push(t.await.unwrap());
                }
                feeder.join().unwrap();
                got
            })
            .await
    });
    let mut got = got;
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

/// A dropped barrier `wait_async` withdraws its party (asyncio's rule): the round
/// still needs two more parties, and two threads then complete it.
#[test]
fn dropped_barrier_wait_async_withdraws() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let b = m.barrier(2).unwrap();
    let r = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(50), b.wait_async()).await });
    assert!(r.is_err());
    std::thread::sleep(Duration::from_millis(50)); // the server withdraws at once
    assert_eq!(b.n_waiting().unwrap(), 0);
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.wait().unwrap());
    let mine = b.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(mine + t.join().unwrap(), 1);
    assert!(!b.broken().unwrap());
}

/// A dropped `put_async` that was waiting for room puts nothing. Regression: the
/// dropped call's socket was only closed, and this process's recv proxy thread, in
/// `poll(2)` on it, kept it open up to its 100 ms slice: a get in that window let the
/// server complete the put for the dropped future. Now it is shut down at the drop, so
/// the get that follows at once (no grace sleep) must not see item 2.
#[test]
fn dropped_put_async_puts_nothing_although_the_recv_proxy_polls_its_socket() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let q = m.queue::<u32>(1).unwrap();
    for _ in 0..10 {
        q.put(&1).unwrap();
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), q.put_async(&2)).await
        });
        assert!(r.is_err());
        assert_eq!(q.get().unwrap(), 1);
        assert!(matches!(
            q.get_timeout(Duration::from_millis(30)),
            Err(ManagerError::Empty)
        ));
    }
}

/// The server cancels the wait of a client that went away without a word: a future
/// dropped mid-`get_async` closes its connection; a later item is not taken by it.
#[test]
fn many_dropped_waits_leave_the_server_serving() {
    mp::init();
    let _s = serial();
    let m = Manager().unwrap();
    let rt = rt();
    let q = m.queue::<u32>(0).unwrap();
    let e = m.event().unwrap();
    rt.block_on(async {
        for _ in 0..20 {
            let a = tokio::time::timeout(Duration::from_millis(5), q.get_async());
            let b = tokio::time::timeout(Duration::from_millis(5), e.wait_async());
            let (a, b) = tokio::join!(a, b);
            assert!(a.is_err() && b.is_err());
        }
    });
    q.put(&3).unwrap();
    e.set().unwrap();
    assert_eq!(rt.block_on(q.get_async()).unwrap(), 3);
    rt.block_on(e.wait_async()).unwrap();
}
