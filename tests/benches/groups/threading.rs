//! `conkit::threading` against its Rust peers and CPython: `Lock` uncontended and
//! contended by two threads, `Semaphore` uncontended, `Event` ping-pong.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use core_affinity::CoreId;

use super::Make;
use crate::harness::{self, latency, tri, Contender, Group, Kind, Res, StartLine, Target};

/// The benchmarks of this module.
pub fn all(items: u64, core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    vec![
        (
            "threading-lock",
            Box::new(move || lock_uncontended(items, core)),
        ),
        (
            "threading-lock-contended",
            Box::new(move || lock_contended(items)),
        ),
        (
            "threading-semaphore",
            Box::new(move || semaphore_uncontended(items, core)),
        ),
        (
            "threading-event-ping-pong",
            Box::new(move || event_ping_pong(items)),
        ),
    ]
}

// ---------------------------------------------------------------------------------
// 1. Lock, uncontended acquire + release
// ---------------------------------------------------------------------------------

const PY_LOCK: &str = r#"
import sys, threading, time
n = int(sys.argv[1])
lock = threading.Lock()
c = 0
t0 = time.perf_counter()
for _ in range(n):
    with lock:
        c += 1
t = time.perf_counter() - t0
assert c == n
print(t)
"#;

fn lock_uncontended(items: u64, core: Option<CoreId>) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Lock", move |n| {
            let l = conkit::threading::Lock::new();
            harness::guarded_count(core, n, || black_box(&l).lock())
        }),
        Contender::conkit("conkit Lock acquire/release", move |n| {
            let l = conkit::threading::Lock::new();
            harness::acquire_release_count(
                core,
                n,
                || black_box(&l).acquire(),
                || black_box(&l).release().is_ok(),
            )
        }),
        Contender::peer("parking_lot::Mutex", move |n| {
            let m = parking_lot::Mutex::new(0u64);
            latency(
                core,
                n,
                |_| {
                    let mut g = black_box(&m).lock();
                    *g += 1;
                    *g
                },
                tri,
            )
        }),
        Contender::peer("std Mutex", move |n| {
            let m = std::sync::Mutex::new(0u64);
            latency(
                core,
                n,
                |_| {
                    let mut g = black_box(&m).lock().unwrap_or_else(|p| p.into_inner());
                    *g += 1;
                    *g
                },
                tri,
            )
        }),
        Contender::peer("CPython threading.Lock", |n| {
            harness::python(PY_LOCK, n, 2_000_000)
        }),
    ];
    Group {
        id: "threading-lock",
        title: "threading::Lock uncontended acquire + release".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new("conkit threading::Lock", "parking_lot::Mutex"),
            Target::new("conkit threading::Lock", "CPython threading.Lock"),
        ],
        missing: vec![],
    }
}

// ---------------------------------------------------------------------------------
// 2. Lock, two threads incrementing one counter
// ---------------------------------------------------------------------------------

const PY_LOCK_CONTENDED: &str = r#"
import sys, threading, time
n = int(sys.argv[1])
lock = threading.Lock()
box = [0]
def work(k):
    for _ in range(k):
        with lock:
            box[0] += 1
ts = [threading.Thread(target=work, args=(n // 2,)), threading.Thread(target=work, args=(n - n // 2,))]
t0 = time.perf_counter()
for t in ts:
    t.start()
for t in ts:
    t.join()
t = time.perf_counter() - t0
assert box[0] == n
print(t)
"#;

/// Two threads do `items / 2` increments each (the second one the odd one out), each
/// increment through `inc`; returns the time from the start line to the last thread
/// done, after checking that `count()` is `items` (no lost update).
fn two_threads<L: Sync>(
    items: u64,
    lock: &L,
    inc: impl Fn(&L) + Sync,
    count: impl FnOnce(&L) -> u64,
) -> Res<Duration> {
    let start = StartLine::new(2);
    let halves = [items / 2, items - items / 2];
    let (t0, ends) = std::thread::scope(|s| {
        let hs: Vec<_> = halves
            .iter()
            .map(|&k| {
                let (start, inc) = (&start, &inc);
                s.spawn(move || {
                    let t0 = start.wait();
                    for _ in 0..k {
                        inc(black_box(lock));
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        let times: Vec<(Instant, Instant)> = hs.into_iter().filter_map(|h| h.join().ok()).collect();
        let t0 = times.iter().map(|t| t.0).min();
        let end = times.iter().map(|t| t.1).max();
        (t0, end.filter(|_| times.len() == 2))
    });
    let (Some(t0), Some(end)) = (t0, ends) else {
        return Err("a worker thread panicked".into());
    };
    let got = count(lock);
    if got == items {
        Ok(end - t0)
    } else {
        Err(format!("WRONG RESULT: counted {got}, expected {items}"))
    }
}

/// A counter incremented with a separate load and store: a lock that lets two threads
/// in at once loses updates, which the count check catches.
fn racy_increment(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

fn lock_contended(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Lock", |n| {
            let pair = (conkit::threading::Lock::new(), AtomicU64::new(0));
            two_threads(
                n,
                &pair,
                |(l, c)| {
                    let _g = l.lock();
                    racy_increment(c);
                },
                |(_, c)| c.load(Ordering::Relaxed),
            )
        }),
        Contender::peer("std Mutex", |n| {
            let m = std::sync::Mutex::new(0u64);
            two_threads(
                n,
                &m,
                |m| *m.lock().unwrap_or_else(|p| p.into_inner()) += 1,
                |m| *m.lock().unwrap_or_else(|p| p.into_inner()),
            )
        }),
        Contender::peer("parking_lot::Mutex", |n| {
            let m = parking_lot::Mutex::new(0u64);
            two_threads(n, &m, |m| *m.lock() += 1, |m| *m.lock())
        }),
        Contender::peer("CPython threading.Lock", |n| {
            harness::python(PY_LOCK_CONTENDED, n, 1_000_000)
        }),
        // Not a rival: the floor of every contended row. No lock protecting one counter
        // can do two threads' increments faster than one thread doing all of them with
        // nobody to hand the lock to (CPython's GIL makes its own row this case).
        Contender::peer("bound: threading::Lock, 1 thread × N", |n| {
            let (l, c) = (conkit::threading::Lock::new(), AtomicU64::new(0));
            let t0 = Instant::now();
            for _ in 0..n {
                let _g = black_box(&l).lock();
                racy_increment(&c);
            }
            let t = t0.elapsed();
            match c.load(Ordering::Relaxed) {
                got if got == n => Ok(t),
                got => Err(format!("WRONG RESULT: counted {got}, expected {n}")),
            }
        }),
    ];
    Group {
        id: "threading-lock-contended",
        title: "threading::Lock, 2 threads × N/2 increments of one counter".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new("conkit threading::Lock", "parking_lot::Mutex"),
            Target::new("conkit threading::Lock", "std Mutex"),
            Target::new("conkit threading::Lock", "CPython threading.Lock"),
        ],
        missing: vec![],
    }
}

// ---------------------------------------------------------------------------------
// 3. Semaphore, uncontended acquire + release
// ---------------------------------------------------------------------------------

const PY_SEMAPHORE: &str = r#"
import sys, threading, time
n = int(sys.argv[1])
sem = threading.Semaphore(1)
t0 = time.perf_counter()
for _ in range(n):
    sem.acquire()
    sem.release()
t = time.perf_counter() - t0
assert sem._value == 1
print(t)
"#;

fn semaphore_uncontended(items: u64, core: Option<CoreId>) -> Group<'static> {
    use conkit::threading::{BoundedSemaphore, Semaphore};
    let contenders = vec![
        Contender::conkit("conkit threading::Semaphore", move |n| {
            let s = Semaphore::new(1);
            latency(
                core,
                n,
                |_| {
                    let s = black_box(&s);
                    s.acquire();
                    s.release().is_ok() as u64
                },
                |n| n,
            )
        }),
        Contender::conkit("conkit Semaphore try_acquire", move |n| {
            let s = Semaphore::new(1);
            latency(
                core,
                n,
                |_| {
                    let s = black_box(&s);
                    let ok = s.try_acquire();
                    (ok & s.release().is_ok()) as u64
                },
                |n| n,
            )
        }),
        Contender::conkit("conkit BoundedSemaphore guard", move |n| {
            let s = BoundedSemaphore::new(1);
            latency(
                core,
                n,
                |_| u64::from(black_box(&s).acquire_guard().permits()),
                |n| n,
            )
        }),
        Contender::peer("tokio Semaphore", move |n| {
            let s = tokio::sync::Semaphore::new(1);
            latency(
                core,
                n,
                |_| {
                    let permit = black_box(&s).try_acquire();
                    let ok = permit.is_ok();
                    drop(permit);
                    ok as u64
                },
                |n| n,
            )
        }),
        Contender::peer("CPython threading.Semaphore", |n| {
            harness::python(PY_SEMAPHORE, n, 500_000)
        }),
    ];
    Group {
        id: "threading-semaphore",
        title: "threading::Semaphore uncontended acquire + release".into(),
        kind: Kind::Latency,
        items,
        contenders,
        targets: vec![
            Target::new("conkit threading::Semaphore", "tokio Semaphore"),
            Target::new("conkit threading::Semaphore", "CPython threading.Semaphore"),
        ],
        missing: vec![],
    }
}

// ---------------------------------------------------------------------------------
// 4. Event ping-pong between two threads
// ---------------------------------------------------------------------------------

const PY_EVENT: &str = r#"
import sys, threading, time
n = int(sys.argv[1])
ping, pong = threading.Event(), threading.Event()
done = [0]
def responder():
    for _ in range(n):
        ping.wait()
        ping.clear()
        done[0] += 1
        pong.set()
t = threading.Thread(target=responder)
t.start()
t0 = time.perf_counter()
for _ in range(n):
    ping.set()
    pong.wait()
    pong.clear()
el = time.perf_counter() - t0
t.join()
assert done[0] == n
print(el)
"#;

/// The three operations of a ping-pong flag.
trait Flag: Sync {
    fn set(&self);
    fn wait(&self);
    fn clear(&self);
}

impl Flag for conkit::threading::Event {
    fn set(&self) {
        conkit::threading::Event::set(self);
    }
    fn wait(&self) {
        conkit::threading::Event::wait(self);
    }
    fn clear(&self) {
        conkit::threading::Event::clear(self);
    }
}

/// The std way to build an event: a flag under a `Mutex` plus a `Condvar`.
#[derive(Default)]
struct CondvarEvent {
    flag: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Flag for CondvarEvent {
    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let g = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        drop(
            self.cv
                .wait_while(g, |set| !*set)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
    fn clear(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}

/// `rounds` round trips: this thread sets `ping` and waits for `pong`; a responder
/// waits for `ping`, clears it, counts, and sets `pong`. Times the initiator's loop and
/// checks the responder's count.
fn ping_pong<F: Flag>(rounds: u64, ping: &F, pong: &F) -> Res<Duration> {
    let answered = AtomicU64::new(0);
    let start = StartLine::new(2);
    std::thread::scope(|s| {
        let responder = s.spawn(|| {
            start.wait();
            for _ in 0..rounds {
                ping.wait();
                ping.clear();
                answered.fetch_add(1, Ordering::Relaxed);
                pong.set();
            }
        });
        let t0 = start.wait();
        for _ in 0..rounds {
            ping.set();
            pong.wait();
            pong.clear();
        }
        let d = t0.elapsed();
        responder
            .join()
            .map_err(|_| "the responder panicked".to_string())?;
        let got = answered.load(Ordering::Relaxed);
        if got == rounds {
            Ok(d)
        } else {
            Err(format!("WRONG RESULT: {got} answers, expected {rounds}"))
        }
    })
}

fn event_ping_pong(items: u64) -> Group<'static> {
    let contenders = vec![
        Contender::conkit("conkit threading::Event", |n| {
            let (ping, pong) = (
                conkit::threading::Event::new(),
                conkit::threading::Event::new(),
            );
            ping_pong(n, &ping, &pong)
        }),
        Contender::peer("std Mutex+Condvar", |n| {
            let (ping, pong) = (CondvarEvent::default(), CondvarEvent::default());
            ping_pong(n, &ping, &pong)
        }),
        Contender::peer("CPython threading.Event", |n| {
            harness::python(PY_EVENT, n, 20_000)
        }),
    ];
    Group {
        id: "threading-event-ping-pong",
        title: "threading::Event ping-pong round trip (set / wait / clear), 2 threads".into(),
        kind: Kind::Latency,
        // A round trip wakes a sleeping thread twice (tens of µs each): fewer items.
        items: (items / 100).max(1_000),
        contenders,
        targets: vec![Target::new(
            "conkit threading::Event",
            "CPython threading.Event",
        )],
        missing: vec![],
    }
}
