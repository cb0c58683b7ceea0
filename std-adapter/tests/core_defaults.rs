//! The `conkit-core` primitives reached from a std program sleep by default (issue #10,
//! point 8): `conkit` enables core's `std` feature, whose default waiting strategy is the
//! futex, so `conkit::core::{queue::Queue, semaphore::Semaphore, spsc::SpscRing,
//! event_flags::EventFlags, lock::BlockingMutex}` written without a strategy block in
//! the kernel instead of spinning, and their deadlines are `Instant`s.

use std::any::TypeId;
use std::thread;
use std::time::{Duration, Instant};

use conkit::core::event_flags::EventFlags;
use conkit::core::lock::{BlockingMutex, CriticalSectionMutex};
use conkit::core::queue::Queue;
use conkit::core::semaphore::Semaphore;
use conkit::core::spsc::SpscRing;
use conkit::wait::{DefaultWait, Futex};

#[test]
fn the_default_strategy_of_the_core_types_is_the_futex() {
    assert_eq!(TypeId::of::<DefaultWait>(), TypeId::of::<Futex>());
    assert_eq!(
        TypeId::of::<Queue<u8, 4>>(),
        TypeId::of::<Queue<u8, 4, CriticalSectionMutex, Futex>>()
    );
    assert_eq!(TypeId::of::<Semaphore>(), TypeId::of::<Semaphore<Futex>>());
    assert_eq!(
        TypeId::of::<SpscRing<u8, 4>>(),
        TypeId::of::<SpscRing<u8, 4, Futex>>()
    );
    assert_eq!(
        TypeId::of::<EventFlags>(),
        TypeId::of::<EventFlags<Futex>>()
    );
    assert_eq!(
        TypeId::of::<BlockingMutex<u8>>(),
        TypeId::of::<BlockingMutex<u8, Futex>>()
    );
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

const BLOCKED: Duration = Duration::from_millis(300);

/// Runs `wait` on a thread that stays blocked for about [`BLOCKED`] until `release`
/// lets it go; returns the CPU time the waiting thread used meanwhile.
fn cpu_while_blocked(wait: impl FnOnce() + Send, release: impl FnOnce()) -> Duration {
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let before = thread_cpu_time();
            wait();
            thread_cpu_time() - before
        });
        thread::sleep(BLOCKED);
        release();
        waiter.join().unwrap()
    })
}

#[test]
fn a_blocked_core_semaphore_queue_and_ring_sleep_instead_of_spinning() {
    // A spinning waiter burns about BLOCKED of CPU (less on a loaded machine, but far
    // more than this); a sleeping one only its short spin-then-yield phase.
    let limit = BLOCKED / 10;

    static SEM: Semaphore = Semaphore::new(0);
    let cpu = cpu_while_blocked(|| SEM.acquire(), || SEM.release().unwrap());
    assert!(cpu < limit, "Semaphore::acquire used {cpu:?} of CPU");

    static JOBS: Queue<u32, 4> = Queue::new();
    let cpu = cpu_while_blocked(|| assert_eq!(JOBS.get(), Ok(7)), || JOBS.put(7).unwrap());
    assert!(cpu < limit, "queue::Queue::get used {cpu:?} of CPU");

    static RING: SpscRing<u32, 4> = SpscRing::new();
    let (mut tx, mut rx) = RING.take().unwrap();
    let cpu = cpu_while_blocked(
        move || assert_eq!(rx.pop(), Ok(1)),
        move || tx.push(1).unwrap(),
    );
    assert!(cpu < limit, "SpscRing pop used {cpu:?} of CPU");
}

#[test]
fn deadlines_of_the_default_core_types_are_instants() {
    let sem: Semaphore = Semaphore::new(0);
    let deadline = Instant::now() + Duration::from_millis(20);
    assert!(!sem.acquire_until(deadline));
    assert!(Instant::now() >= deadline);
    let q: Queue<u8, 2> = Queue::new();
    assert!(q.get_until(Instant::now()).is_err());
}
