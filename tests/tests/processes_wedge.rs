//! Kill scenarios of issue #11's "no participant can wedge the others": core primitives
//! in a real `memfd` + `MAP_SHARED` mapping, waited on with `SharedFutex` by real child
//! processes, one of which is `SIGKILL`ed asleep, just woken or mid-operation. Each
//! scenario repeats its race a few hundred times; every step that must return runs
//! under a deadline of its own, so a wedge is a failure naming the step, never a hang
//! (and the whole scenario runs under `run_scenarios`' watchdog).
//!
//! What each one proves is in its doc comment; `CONKIT_KILL_REPS` overrides the
//! repetitions (default below). `harness = false`: see `conkit_tests::process`.

#[cfg(target_os = "linux")]
fn main() {
    use std::time::Duration;

    run_scenarios(
        &[
            (
                "waiters_woken_consumer_killed_other_consumer_gets_every_item",
                scenarios::waiters_woken_consumer_killed,
            ),
            (
                "mpmc_woken_consumer_killed_other_consumer_gets_every_item",
                scenarios::mpmc_woken_consumer_killed,
            ),
            (
                "ring_queue_woken_consumer_killed_other_consumer_gets_every_item",
                scenarios::ring_queue_woken_consumer_killed,
            ),
            (
                "notifier_killed_between_change_and_wake_sleeper_sees_it_within_a_slice",
                scenarios::notifier_killed_before_waking,
            ),
            (
                "condvar_waiter_killed_asleep_notify_returns",
                scenarios::condvar_waiter_killed_asleep,
            ),
            (
                "condvar_waiter_killed_just_notified_next_notify_reaches_the_live_one",
                scenarios::condvar_waiter_killed_just_notified,
            ),
            (
                "barrier_party_killed_while_filling_others_broken",
                scenarios::barrier_party_killed_filling,
            ),
            (
                "barrier_party_killed_while_draining_later_arrivals_broken_without_deadline",
                scenarios::barrier_party_killed_draining,
            ),
            (
                "barrier_party_killed_running_the_action_others_broken_without_deadline",
                scenarios::barrier_party_killed_in_action,
            ),
            (
                "barrier_async_party_dropped_in_child_withdraws_replacement_completes_the_round",
                scenarios::barrier_async_party_dropped_withdraws,
            ),
            (
                "barrier_async_party_killed_while_withdrawing_identified_or_gone",
                scenarios::barrier_async_party_killed_withdrawing,
            ),
            (
                "mpmc_producer_killed_mid_push_pop_skips_its_slot",
                scenarios::mpmc_producer_killed_mid_push,
            ),
            (
                "mpmc_consumer_killed_mid_pop_push_frees_its_slot",
                scenarios::mpmc_consumer_killed_mid_pop,
            ),
            (
                "ring_queue_producer_killed_mid_put_gets_return_and_shutdown_returns",
                scenarios::ring_queue_producer_killed_mid_put,
            ),
            (
                "ring_queue_get_until_past_its_deadline_still_probes_the_dead_put",
                scenarios::ring_queue_get_until_past_its_deadline_still_probes_the_dead_put,
            ),
            (
                "ring_queue_consumer_killed_mid_get_puts_free_its_slot",
                scenarios::ring_queue_consumer_killed_mid_get,
            ),
            (
                "semaphore_dead_holder_and_dead_waiter",
                scenarios::semaphore_dead_participants,
            ),
            (
                "event_and_event_flags_dead_waiter_and_dead_sync_party",
                scenarios::events_dead_participants,
            ),
        ],
        Duration::from_secs(120),
    );
}

#[cfg(target_os = "linux")]
use conkit_tests::process::run_scenarios;

#[cfg(target_os = "linux")]
mod scenarios {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use conkit_core::barrier::{Barrier, BrokenBarrier};
    use conkit_core::condvar::Condvar;
    use conkit_core::event::Event;
    use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
    use conkit_core::lock::Lock;
    use conkit_core::mpmc::MpmcRing;
    use conkit_core::queue::{GetError, RingQueue};
    use conkit_core::semaphore::Semaphore;
    use conkit_core::wait::{SharedFutex, Waiters};
    use conkit_tests::process::{fork, Child, Exit, SharedMem};

    /// Repetitions of each race (`CONKIT_KILL_REPS` overrides).
    fn reps(default: u32) -> u32 {
        std::env::var("CONKIT_KILL_REPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn after(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    fn sleep_us(us: u64) {
        std::thread::sleep(Duration::from_micros(us));
    }

    /// Polls `cond` until it holds or `limit` passes; panics naming `what` then.
    fn eventually(what: &str, limit: Duration, cond: impl Fn() -> bool) {
        let end = Instant::now() + limit;
        while !cond() {
            assert!(Instant::now() < end, "{what}: not within {limit:?}");
            sleep_us(200);
        }
    }

    /// Runs `f` in a child and requires it to exit with 0 within `limit` (a step that
    /// must not hang: a wedge fails the scenario here, naming `what`).
    fn must_return(what: &str, limit: Duration, f: impl FnOnce() -> i32) {
        let mut child = fork(f);
        match child.wait_timeout(limit) {
            Some(Exit::Code(0)) => {}
            Some(other) => panic!("{what}: {other:?}"),
            None => panic!("{what}: still blocked after {limit:?} (wedged)"),
        }
    }

    /// Kills `child` and reaps it.
    fn kill(child: Child) {
        child.kill();
        assert_eq!(child.wait(), Exit::Signal(libc::SIGKILL));
    }

    // ---- a consumer just woken by `notify_one` dies (issue item 3) ----

    /// A blocking channel whose push wakes one sleeper with `notify_one`.
    trait Chan: Sync {
        fn make() -> Self;
        fn push(&self, v: u64);
        fn pop(&self) -> u64;
        /// Values are kept (else every pop returns 1).
        const VALUES: bool = true;
    }

    /// The bare event count: a stock of items, `notify_one` per item.
    struct Stock {
        items: AtomicU32,
        waiters: Waiters<SharedFutex>,
    }

    impl Chan for Stock {
        const VALUES: bool = false;
        fn make() -> Self {
            Self {
                items: AtomicU32::new(0),
                waiters: Waiters::new(),
            }
        }
        fn push(&self, _: u64) {
            self.items.fetch_add(1, Ordering::SeqCst);
            self.waiters.notify_one();
        }
        fn pop(&self) -> u64 {
            self.waiters.wait(|| {
                self.items
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .ok()
                    .map(|_| 1)
            })
        }
    }

    impl Chan for MpmcRing<u64, 64, SharedFutex> {
        fn make() -> Self {
            MpmcRing::new()
        }
        fn push(&self, v: u64) {
            MpmcRing::push(self, v);
        }
        fn pop(&self) -> u64 {
            MpmcRing::pop(self)
        }
    }

    impl Chan for RingQueue<u64, 64, SharedFutex> {
        fn make() -> Self {
            RingQueue::new()
        }
        fn push(&self, v: u64) {
            self.put(v).expect("open queue");
        }
        fn pop(&self) -> u64 {
            self.get().expect("open queue")
        }
    }

    struct Consumers<C> {
        chan: C,
        /// What the surviving consumer received: count and sum.
        got: AtomicU64,
        sum: AtomicU64,
    }

    /// Consumer A falls asleep first, then B (the futex queue is FIFO, so a
    /// `notify_one` wakes A); one item is pushed and A is killed at once, most often
    /// before it ran: its wake-up dies with it. Then `M` more items are pushed one by
    /// one, each with its `notify_one`: B must receive every one of them (and maybe the
    /// first, if A never took it). Before the fix, the dead A's `PENDING` flag made every
    /// later `notify_one` a no-op and B slept forever with items queued.
    fn woken_consumer_killed<C: Chan>() {
        const M: u64 = 20;
        let reps = reps(200);
        for rep in 0..reps {
            let s = SharedMem::new(|| Consumers {
                chan: C::make(),
                got: AtomicU64::new(0),
                sum: AtomicU64::new(0),
            });
            let a = fork(|| loop {
                let _ = s.chan.pop();
            });
            sleep_us(3000);
            let b = fork(|| loop {
                let v = s.chan.pop();
                s.sum.fetch_add(v, Ordering::SeqCst);
                s.got.fetch_add(1, Ordering::SeqCst);
            });
            sleep_us(3000);
            s.chan.push(0);
            a.kill();
            for v in 1..=M {
                s.chan.push(v);
                sleep_us(50);
            }
            let want_sum = if C::VALUES { M * (M + 1) / 2 } else { 0 };
            let done = || {
                let got = s.got.load(Ordering::SeqCst);
                let sum = s.sum.load(Ordering::SeqCst);
                got >= M && (!C::VALUES || sum == want_sum)
            };
            let end = Instant::now() + Duration::from_secs(2);
            while !done() && Instant::now() < end {
                sleep_us(200);
            }
            let got = s.got.load(Ordering::SeqCst);
            assert!(
                done(),
                "rep {rep}: the live consumer got {got} of {M} items (lost wake-up)"
            );
            assert!(got <= M + 1, "rep {rep}: {got} items, more than pushed");
            assert_eq!(a.wait(), Exit::Signal(libc::SIGKILL));
            kill(b);
        }
        println!("  {reps} reps");
    }

    pub fn waiters_woken_consumer_killed() {
        woken_consumer_killed::<Stock>();
    }

    pub fn mpmc_woken_consumer_killed() {
        woken_consumer_killed::<MpmcRing<u64, 64, SharedFutex>>();
    }

    pub fn ring_queue_woken_consumer_killed() {
        woken_consumer_killed::<RingQueue<u64, 64, SharedFutex>>();
    }

    struct Slice {
        ring: MpmcRing<u64, 4, SharedFutex>,
        stock: Stock,
        made: AtomicU32,
    }

    /// A process that changes the state a sleeper waits for and dies before it wakes
    /// it (emulated exactly: a wait-free `try_push` / a bare increment, which notify
    /// nobody, then `SIGKILL`): the sleeper (in `pop_until` / `Waiters::wait_until`
    /// with a far deadline) sees the change within one sleep slice (10 ms), well before
    /// its deadline. Before the fix it slept until the deadline (forever without one).
    pub fn notifier_killed_before_waking() {
        let reps = reps(100);
        for rep in 0..reps {
            let s = SharedMem::new(|| Slice {
                ring: MpmcRing::new(),
                stock: Stock::make(),
                made: AtomicU32::new(0),
            });
            let sleeper = fork(|| {
                let far = after(60_000);
                let start = Instant::now();
                let got = if rep % 2 == 0 {
                    s.ring.pop_until(far).is_some()
                } else {
                    s.stock
                        .waiters
                        .wait_until(Some(far), || {
                            s.stock
                                .items
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .ok()
                        })
                        .is_some()
                };
                i32::from(!(got && start.elapsed() < Duration::from_secs(1)))
            });
            sleep_us(2000);
            let notifier = fork(|| {
                if rep % 2 == 0 {
                    s.ring.try_push(7).expect("room");
                } else {
                    s.stock.items.fetch_add(1, Ordering::SeqCst);
                }
                s.made.store(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(60));
                0
            });
            eventually("the change is made", Duration::from_secs(2), || {
                s.made.load(Ordering::SeqCst) == 1
            });
            kill(notifier);
            let mut sleeper = sleeper;
            assert_eq!(
                sleeper.wait_timeout(Duration::from_secs(2)),
                Some(Exit::Code(0)),
                "rep {rep}: the sleeper missed a change whose notifier died"
            );
        }
        println!("  {reps} reps");
    }

    // ---- condition variable ----

    struct CondScene {
        lock: Lock<SharedFutex>,
        cv: Condvar<SharedFutex>,
        woke: AtomicU32,
    }

    fn cond_scene() -> SharedMem<CondScene> {
        SharedMem::new(|| CondScene {
            lock: Lock::new(),
            cv: Condvar::new(),
            woke: AtomicU32::new(0),
        })
    }

    /// A waiter: waits once (no deadline), counts its wake-up.
    fn cond_waiter(s: &CondScene) -> Child {
        fork(|| {
            s.lock.acquire();
            s.cv.wait_lock(&s.lock).expect("held");
            s.woke.fetch_add(1, Ordering::SeqCst);
            s.lock.release().expect("held");
            0
        })
    }

    /// A waiter killed while asleep in `wait`: a notify by another process returns
    /// (it never waits for the dead waiter), and a live waiter that came later is
    /// still released (the dead one's ticket costs at most one `notify(1)`).
    pub fn condvar_waiter_killed_asleep() {
        let reps = reps(200);
        for rep in 0..reps {
            let s = cond_scene();
            let dead = cond_waiter(&s);
            eventually("the first waiter waits", Duration::from_secs(2), || {
                s.cv.waiters() == 1 && !s.lock.locked()
            });
            sleep_us(u64::from(rep % 4) * 300);
            kill(dead);
            let live = cond_waiter(&s);
            eventually("the second waiter waits", Duration::from_secs(2), || {
                s.cv.waiters() == 2 && !s.lock.locked()
            });
            must_return(
                "notify(1) with a dead waiter",
                Duration::from_secs(2),
                || {
                    s.lock.acquire();
                    let n = s.cv.notify(1);
                    s.lock.release().expect("held");
                    i32::from(n != 1)
                },
            );
            must_return("notify_all", Duration::from_secs(2), || {
                s.lock.acquire();
                let _ = s.cv.notify_all();
                s.lock.release().expect("held");
                0
            });
            eventually("the live waiter wakes", Duration::from_secs(2), || {
                s.woke.load(Ordering::SeqCst) == 1
            });
            assert_eq!(live.wait(), Exit::Code(0));
        }
        println!("  {reps} reps");
    }

    /// A waiter killed just after a notify released it (while the notifier still
    /// holds the lock, so it dies asleep in the lock, not holding it): the next notify
    /// reaches a live waiter.
    pub fn condvar_waiter_killed_just_notified() {
        let reps = reps(200);
        for rep in 0..reps {
            let s = cond_scene();
            let first = cond_waiter(&s);
            eventually("the first waiter waits", Duration::from_secs(2), || {
                s.cv.waiters() == 1 && !s.lock.locked()
            });
            let live = cond_waiter(&s);
            eventually("the second waiter waits", Duration::from_secs(2), || {
                s.cv.waiters() == 2 && !s.lock.locked()
            });
            s.lock.acquire();
            assert_eq!(s.cv.notify(1), 1);
            sleep_us(u64::from(rep % 3) * 100);
            first.kill();
            s.lock.release().expect("held");
            let _ = first.wait();
            must_return("the next notify(1)", Duration::from_secs(2), || {
                s.lock.acquire();
                let n = s.cv.notify(1);
                s.lock.release().expect("held");
                i32::from(n != 1)
            });
            eventually("the live waiter wakes", Duration::from_secs(2), || {
                s.woke.load(Ordering::SeqCst) == 1
            });
            assert_eq!(live.wait(), Exit::Code(0));
        }
        println!("  {reps} reps");
    }

    // ---- barrier ----

    /// Exit code of a party that got `BrokenBarrier`.
    const BROKEN: i32 = 7;

    fn party(b: &Barrier<SharedFutex>, ms: Option<u64>) -> Child {
        fork(move || match b.wait_until(ms.map(after), || true) {
            Ok(_) => 0,
            Err(BrokenBarrier) => BROKEN,
        })
    }

    /// Requires `child` to end with `BrokenBarrier` within its deadline plus a second.
    fn broken_by_deadline(what: &str, mut child: Child, ms: u64) {
        let limit = Duration::from_millis(ms + 1000);
        match child.wait_timeout(limit) {
            Some(Exit::Code(BROKEN)) => {}
            other => panic!("{what}: {other:?} (want BrokenBarrier within {limit:?})"),
        }
    }

    /// Requires `child` (a party waiting without deadline) to return — `BrokenBarrier`,
    /// or a completed round if `ok_too` — within a second.
    fn returns_unbounded(what: &str, mut child: Child, ok_too: bool) {
        let limit = Duration::from_secs(1);
        match child.wait_timeout(limit) {
            Some(Exit::Code(BROKEN)) => {}
            Some(Exit::Code(0)) if ok_too => {}
            other => panic!("{what}: {other:?} (want a return within {limit:?})"),
        }
    }

    /// A party of three killed before or after it arrives, at a varying moment. Killed
    /// before: the two others (with a deadline) get `BrokenBarrier` by their deadline,
    /// as for a late party. Killed after arriving: the barrier recorded it, so the
    /// others, waiting *without* a deadline, return within a second — `BrokenBarrier`
    /// once one of them probed the dead party, or a completed round if they filled it
    /// first — and so does a later arrival without a deadline (it probes the dead party
    /// that keeps the round from draining). Then `reset` makes the barrier usable again.
    pub fn barrier_party_killed_filling() {
        let reps = reps(100);
        let mut after_arriving = 0;
        let mut unrecorded = 0;
        for rep in 0..reps {
            let b = SharedMem::new(|| Barrier::<SharedFutex>::new(3));
            let dead = fork(|| {
                sleep_us(u64::from(rep % 5) * 100);
                match b.wait(|| true) {
                    Ok(_) => 0,
                    Err(BrokenBarrier) => BROKEN,
                }
            });
            sleep_us(u64::from(rep % 7) * 100);
            kill(dead);
            let arrived = b.n_waiting() == 1;
            // A party counts only after reserving its record (`core/src/barrier.rs`,
            // "Arrival records"): killed at any instruction of its arrival, it is
            // identifiable (a pending or a complete record), so the live parties bury
            // it (or clear a reservation that never counted) without deadlines.
            let recorded = format!("{:?}", *b).contains("recorded: 1");
            if arrived && !recorded {
                unrecorded += 1;
            }
            if arrived {
                after_arriving += 1;
                let x = party(&b, None);
                let y = party(&b, None);
                returns_unbounded("a live party", x, true);
                returns_unbounded("the other live party", y, true);
                returns_unbounded("a later arrival", party(&b, None), false);
            } else {
                let x = party(&b, Some(30));
                let y = party(&b, Some(30));
                broken_by_deadline("a live party", x, 30);
                broken_by_deadline("the other live party", y, 30);
                broken_or_ok_by_deadline(party(&b, Some(30)), 30);
            }
            b.reset();
            let x = party(&b, None);
            let y = party(&b, None);
            let z = party(&b, None);
            for p in [x, y, z] {
                assert_eq!(p.wait(), Exit::Code(0), "a full round after the reset");
            }
        }
        println!(
            "  {reps} reps, {after_arriving} killed after arriving, \
             {unrecorded} killed before recording"
        );
        assert_eq!(
            unrecorded, 0,
            "{unrecorded} of {reps} dead parties that had arrived were never identified"
        );
    }

    /// A party of two killed after the round was released but before it left (it is
    /// still counted, so the barrier stays draining): later arrivals *without* a
    /// deadline return within a second — they probe the recorded party that keeps the
    /// round from draining, find it dead and break the barrier — instead of waiting
    /// forever for the round to drain; after a `reset` a full round works again.
    pub fn barrier_party_killed_draining() {
        let reps = reps(200);
        let mut stuck = 0;
        for _ in 0..reps {
            let b = SharedMem::new(|| Barrier::<SharedFutex>::new(2));
            let dead = party(&b, None);
            eventually("the party waits", Duration::from_secs(2), || {
                b.n_waiting() == 1
            });
            // The last party releases the round; the first is killed at once, most
            // often before it ran to leave.
            let _ = b.wait(|| true).expect("a full round");
            dead.kill();
            let _ = dead.wait();
            let left_draining = !format!("{:?}", *b).contains("filling");
            if left_draining {
                stuck += 1;
            }
            let x = party(&b, None);
            let y = party(&b, None);
            // Both complete a round if the dead party had left; else both are broken.
            returns_unbounded("a later arrival", x, !left_draining);
            returns_unbounded("another later arrival", y, !left_draining);
            b.reset();
            let x = party(&b, None);
            let y = party(&b, None);
            for p in [x, y] {
                assert_eq!(p.wait(), Exit::Code(0), "a full round after the reset");
            }
        }
        println!("  {reps} reps, {stuck} left draining by the dead party");
    }

    /// The last party of two is killed while it runs the action: the other party,
    /// waiting *without* a deadline, gets `BrokenBarrier` within a second (it probed
    /// the recorded party running the action), and so does a later arrival. Before the
    /// fix the waiting party waited for the action's outcome for good.
    pub fn barrier_party_killed_in_action() {
        let reps = reps(50);
        for rep in 0..reps {
            let b = SharedMem::new(|| Barrier::<SharedFutex>::new(2));
            let waiting = party(&b, None);
            eventually("the party waits", Duration::from_secs(2), || {
                b.n_waiting() == 1
            });
            let in_action = SharedMem::new(|| AtomicU32::new(0));
            let acting = fork(|| {
                let _ = b.wait(|| {
                    in_action.store(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(60));
                    true
                });
                0
            });
            // Killed inside the action (not before it arrived, which a loaded machine
            // could otherwise make of a fixed delay after the fork).
            eventually(
                "the last party runs the action",
                Duration::from_secs(5),
                || in_action.load(Ordering::SeqCst) == 1,
            );
            sleep_us(u64::from(rep % 5) * 200);
            kill(acting);
            returns_unbounded("the waiting party", waiting, false);
            returns_unbounded("a later arrival", party(&b, None), false);
        }
        println!("  {reps} reps");
    }

    /// In a child: arrives with `wait_async` (one poll: the round is not complete, so the
    /// future is pending), waits `us`, and drops the future (a cancelled task).
    fn async_party_dropped_after(b: &Barrier<SharedFutex>, us: u64) -> i32 {
        use std::future::Future;
        let mut f = Box::pin(b.wait_async(|| true));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if f.as_mut().poll(&mut cx).is_ready() {
            return 1; // the round completed or broke: not the scenario's
        }
        sleep_us(us);
        drop(f);
        0
    }

    /// A party of three in a child arrives with `wait_async` and drops it (a cancelled
    /// task) while another party, in another child, arrives and waits without a
    /// deadline, at a varying moment around the drop. The dropped party withdraws (as
    /// between threads, asyncio's rule): the barrier is not broken, and two more parties
    /// (the replacement, and this process) complete the round with the waiting one —
    /// nobody gets `BrokenBarrier`, and no record is left. (Before member bits, the drop
    /// broke the round between processes.)
    pub fn barrier_async_party_dropped_withdraws() {
        let reps = reps(100);
        for rep in 0..reps {
            let b = SharedMem::new(|| Barrier::<SharedFutex>::new(3));
            let dropping = fork(|| async_party_dropped_after(&b, u64::from(rep % 7) * 100));
            sleep_us(u64::from(rep % 5) * 100);
            let waiting = party(&b, None);
            assert_eq!(dropping.wait(), Exit::Code(0), "the dropping party");
            assert!(!b.broken(), "a dropped wait_async broke the barrier");
            let replacement = party(&b, None);
            assert!(
                b.wait_until(Some(after(5000)), || true).is_ok(),
                "this party"
            );
            for (what, mut p) in [
                ("the waiting party", waiting),
                ("the replacement", replacement),
            ] {
                match p.wait_timeout(Duration::from_secs(5)) {
                    Some(Exit::Code(0)) => {}
                    other => panic!("{what}: {other:?} (want a completed round)"),
                }
            }
            assert!(!b.broken());
            let seen = format!("{:?}", *b);
            assert!(
                seen.contains("inside: 0") && seen.contains("recorded: 0"),
                "{seen}"
            );
        }
        println!("  {reps} reps");
    }

    /// A party of three in a child arrives with `wait_async` and drops it, and is
    /// `SIGKILL`ed at a varying moment: before it arrived, while it waits, in the middle
    /// of its withdrawal, or after it. Another party waits without a deadline. Within
    /// the documented bound (well under a second; two are allowed here) either the dead
    /// party was still counted and the waiting party buried it (the barrier broke:
    /// `BrokenBarrier`, and a reset makes it whole), or it was not counted (it withdrew,
    /// or never arrived) and two more parties complete the round — nobody waits for
    /// the dead party, nobody is broken by a party that had left.
    pub fn barrier_async_party_killed_withdrawing() {
        let reps = reps(100);
        let (mut buried, mut gone) = (0, 0);
        for rep in 0..reps {
            let b = SharedMem::new(|| Barrier::<SharedFutex>::new(3));
            let waiting = party(&b, None);
            eventually("the party waits", Duration::from_secs(2), || {
                b.n_waiting() == 1
            });
            let dying = fork(|| {
                let _ = async_party_dropped_after(&b, u64::from(rep % 3) * 100);
                std::thread::sleep(Duration::from_secs(60));
                0
            });
            sleep_us(u64::from(rep % 7) * 70);
            kill(dying);
            eventually(
                "the dead party buried, or not counted",
                Duration::from_secs(2),
                || b.broken() || b.n_waiting() == 1,
            );
            if b.broken() {
                buried += 1;
                returns_unbounded("the waiting party", waiting, false);
                b.reset();
                let x = party(&b, None);
                let y = party(&b, None);
                assert!(b.wait_until(Some(after(5000)), || true).is_ok());
                for p in [x, y] {
                    assert_eq!(p.wait(), Exit::Code(0), "a full round after the reset");
                }
            } else {
                gone += 1;
                let replacement = party(&b, None);
                assert!(
                    b.wait_until(Some(after(5000)), || true).is_ok(),
                    "this party"
                );
                for (what, mut p) in [
                    ("the waiting party", waiting),
                    ("the replacement", replacement),
                ] {
                    match p.wait_timeout(Duration::from_secs(1)) {
                        Some(Exit::Code(0)) => {}
                        other => panic!("{what}: {other:?} (want a completed round)"),
                    }
                }
                assert!(!b.broken(), "broken by a party that had left");
            }
        }
        println!("  {reps} reps: {buried} killed while counted (buried), {gone} gone first");
    }

    /// A later arrival returns by its deadline (plus a second): `BrokenBarrier` when the
    /// dead party keeps the round from draining, or a completed round when it had left.
    fn broken_or_ok_by_deadline(mut child: Child, ms: u64) {
        let limit = Duration::from_millis(ms + 1000);
        match child.wait_timeout(limit) {
            Some(Exit::Code(BROKEN | 0)) => {}
            other => panic!("a later arrival: {other:?} (want a return within {limit:?})"),
        }
    }

    // ---- producers and consumers killed mid-operation ----

    /// An item big enough (4 KiB) that a stop often lands while it is being written:
    /// its sequence number at both ends.
    #[derive(Clone, Copy)]
    struct Item([u64; 512]);

    impl Item {
        fn new(v: u64) -> Self {
            let mut item = Self([0; 512]);
            item.0[0] = v;
            item.0[511] = v;
            item
        }

        /// The sequence number, checked against the copy at the other end (a torn
        /// item fails).
        fn seq(&self) -> u64 {
            assert_eq!(self.0[0], self.0[511], "a torn item");
            self.0[0]
        }
    }

    struct RingScene {
        ring: MpmcRing<Item, 8, SharedFutex>,
        stop: AtomicU32,
    }

    /// Stops `child` (`SIGSTOP`) and waits until it is stopped.
    fn stop(child: &Child) {
        child.signal(libc::SIGSTOP);
        let mut status = 0;
        // SAFETY: our own child, not reaped; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(child.pid(), &mut status, libc::WUNTRACED) };
        assert_eq!(r, child.pid(), "waitpid(WUNTRACED)");
        assert!(libc::WIFSTOPPED(status), "the child stopped");
    }

    /// Lets a stopped `child` go on.
    fn resume(child: &Child) {
        child.signal(libc::SIGCONT);
    }

    /// How many stop-and-look attempts a rep may take to catch a peer mid-operation.
    const ATTEMPTS: u32 = 20_000;

    /// The first sequence number of the items a check pushes after a kill (above every
    /// item pushed before it).
    const MARK: u64 = u64::MAX / 2;

    /// A producer spinning on `try_push(1, 2, 3, …)` of 4 KiB items into an 8-slot
    /// ring, a consumer child spinning on `try_pop`. The producer is stopped
    /// (`SIGSTOP`) at random moments while the consumer drains the ring, until the
    /// producer is caught between its claim and its hand-over (the ring stays
    /// non-empty); then it is killed there. Afterwards a new producer pushes an item
    /// behind the dead slot, and an unbounded `pop` returns it (after the items the
    /// consumer left, if it was slow): it probed the dead push's claimant (reserved in
    /// the slot before the claim) and skipped its slot. Items arrive whole, in order,
    /// none twice; then the ring works on (the skipped slot serves the next lap).
    ///
    /// Every kill is identified (the claim is reserved first), so only unbounded
    /// calls are used: a dead producer that is never named fails the rep as a wedge.
    pub fn mpmc_producer_killed_mid_push() {
        let reps = reps(50);
        let mut tries = 0;
        let mut confirmed = 0;
        for rep in 0..reps {
            let s = SharedMem::new(|| RingScene {
                ring: MpmcRing::new(),
                stop: AtomicU32::new(0),
            });
            let producer = fork(|| {
                for v in 1.. {
                    while s.ring.try_push(Item::new(v)).is_err() {}
                }
                0
            });
            let consumer = fork(|| {
                let mut last = 0;
                while s.stop.load(Ordering::SeqCst) == 0 {
                    if let Some(v) = s.ring.try_pop().map(|i| i.seq()) {
                        assert!(v > last, "out of order: {v} after {last}");
                        last = v;
                    }
                }
                0
            });
            let caught = (0..ATTEMPTS).any(|attempt| {
                tries += 1;
                sleep_us(u64::from((attempt + rep) % 5) * 20);
                stop(&producer);
                // The consumer runs on and drains every item up to a push in flight.
                // (Stopping it too and draining here would also stop on a consumer
                // held between its reservation of an item and its claim, not only on a
                // push in flight.)
                if (0..50).all(|_| {
                    sleep_us(100);
                    !s.ring.is_empty()
                }) {
                    stop(&consumer);
                    true
                } else {
                    resume(&producer);
                    false
                }
            });
            assert!(caught, "rep {rep}: never caught the producer mid-push");
            kill(producer);
            s.stop.store(1, Ordering::SeqCst);
            resume(&consumer);
            assert_eq!(consumer.wait(), Exit::Code(0));
            // Items the consumer had not taken yet (it was slow), in order; what is
            // left after them is the dead push in flight.
            let mut last = 0;
            while let Some(v) = s.ring.try_pop().map(|i| i.seq()) {
                assert!(v > last, "out of order: {v} after {last}");
                last = v;
            }
            if !s.ring.is_empty() {
                confirmed += 1;
            }
            must_return(
                "an item behind the dead slot",
                Duration::from_secs(3),
                || {
                    let pusher = fork(|| {
                        s.ring.push(Item::new(u64::MAX / 2));
                        0
                    });
                    assert_eq!(pusher.wait(), Exit::Code(0));
                    // The first probe comes after a slice (1 ms).
                    assert_eq!(s.ring.pop().seq(), u64::MAX / 2, "the item behind the slot");
                    i32::from(!s.ring.is_empty())
                },
            );
            // The ring works on with blocking calls, also through the skipped slot (16
            // items: two laps).
            must_return("the ring after the skip", Duration::from_secs(3), || {
                let pusher = fork(|| {
                    for v in 0..16 {
                        s.ring.push(Item::new(v));
                    }
                    0
                });
                for v in 0..16 {
                    assert_eq!(s.ring.pop().seq(), v, "in order after the skip");
                }
                i32::from(pusher.wait() != Exit::Code(0))
            });
        }
        println!(
            "  {reps} reps, each killed between claim and hand-over ({tries} stops); \
             {confirmed} left a push in flight after the drain"
        );
    }

    /// A consumer spinning on `try_pop` of 4 KiB items from an 8-slot ring, a producer
    /// child spinning on `try_push`; both are stopped at random until the consumer is
    /// caught between its claim and its read-out (no push in flight, yet fewer than 8
    /// pushes fit: a slot is held by a pop), and killed there. Then unbounded `push`es
    /// fill the ring: the one that reaches the dead pop's slot probes its claimant and
    /// frees the slot (its item is lost), so nobody waits for good; every item pushed
    /// then comes out, in order. A consumer caught between its reservation and its
    /// claim instead (a producer stopped between its reservation and its claim also
    /// lets fewer than 8 fit) leaves its item in the ring: the next pop frees the dead
    /// reservation and takes it. The reps that left a slot held by a dead pop are
    /// counted and printed.
    pub fn mpmc_consumer_killed_mid_pop() {
        let reps = reps(25);
        let mut tries = 0;
        let mut confirmed = 0;
        for rep in 0..reps {
            let s = SharedMem::new(|| RingScene {
                ring: MpmcRing::new(),
                stop: AtomicU32::new(0),
            });
            let consumer = fork(|| loop {
                let _ = s.ring.try_pop();
            });
            let producer = fork(|| {
                let mut v = 1;
                while s.stop.load(Ordering::SeqCst) == 0 {
                    if s.ring.try_push(Item::new(v)).is_ok() {
                        v += 1;
                    }
                }
                0
            });
            let caught = (0..ATTEMPTS).any(|attempt| {
                tries += 1;
                sleep_us(u64::from((attempt + rep) % 5) * 20);
                stop(&producer);
                stop(&consumer);
                while s.ring.try_pop().is_some() {}
                // No push in flight (the drain got through), but fewer than 8 fit.
                let mut fit = 0;
                if s.ring.is_empty() {
                    while fit < 8 && s.ring.try_push(Item::new(0)).is_ok() {
                        fit += 1;
                    }
                }
                while s.ring.try_pop().is_some() {}
                if fit == 8 || !s.ring.is_empty() {
                    resume(&producer);
                    resume(&consumer);
                    false
                } else {
                    true
                }
            });
            assert!(caught, "rep {rep}: never caught the consumer mid-pop");
            kill(consumer);
            s.stop.store(1, Ordering::SeqCst);
            resume(&producer);
            assert_eq!(producer.wait(), Exit::Code(0));
            while s.ring.try_pop().is_some() {}
            // A dead pop holds a slot: fewer than 8 fit.
            let mut fit = 0;
            while fit < 8 && s.ring.try_push(Item::new(0)).is_ok() {
                fit += 1;
            }
            while s.ring.try_pop().is_some() {}
            if fit < 8 {
                confirmed += 1;
            }
            // A pusher and a popper at once: a consumer killed before its claim left
            // its item, and the items behind it, in the ring (the drains above stop at
            // its reservation): the pop frees the reservation and takes them first.
            must_return("pushes past the dead pop", Duration::from_secs(3), || {
                let pusher = fork(|| {
                    for v in 0..8 {
                        s.ring.push(Item::new(MARK + v));
                    }
                    0
                });
                let mut want = MARK;
                while want < MARK + 8 {
                    let v = s.ring.pop().seq();
                    if v >= MARK {
                        assert_eq!(v, want, "in order past the freed slot");
                        want += 1;
                    }
                }
                i32::from(pusher.wait() != Exit::Code(0))
            });
        }
        println!(
            "  {reps} reps, each killed between claim and read-out ({tries} stops); \
             {confirmed} left a slot held by the dead pop"
        );
    }

    struct QueueScene {
        q: RingQueue<Item, 8, SharedFutex>,
        stop: AtomicU32,
    }

    fn queue_scene() -> SharedMem<QueueScene> {
        SharedMem::new(|| QueueScene {
            q: RingQueue::new(),
            stop: AtomicU32::new(0),
        })
    }

    /// A putter spinning on `put_nowait(1, 2, 3, …)` of 4 KiB items into an 8-slot
    /// queue, a getter child spinning on `get_nowait` (and `task_done`); both are
    /// stopped at random moments until the putter is caught between its claim and its
    /// hand-over (as in `mpmc_producer_killed_mid_push`), and killed there. Returns the
    /// queue after the kill, drained up to the dead put, and whether a put was left in
    /// flight (`qsize() != 0` after the drain); `tries` counts the stops.
    fn queue_with_a_put_killed_mid_put(rep: u32, tries: &mut u32) -> (SharedMem<QueueScene>, bool) {
        let s = queue_scene();
        let producer = fork(|| {
            for v in 1.. {
                while s.q.put_nowait(Item::new(v)).is_err() {}
            }
            0
        });
        let consumer = fork(|| {
            let mut last = 0;
            while s.stop.load(Ordering::SeqCst) == 0 {
                if let Ok(v) = s.q.get_nowait().map(|i| i.seq()) {
                    assert!(v > last, "out of order: {v} after {last}");
                    last = v;
                    s.q.task_done().expect("one taken");
                }
            }
            0
        });
        let caught = (0..ATTEMPTS).any(|attempt| {
            *tries += 1;
            sleep_us(u64::from((attempt + rep) % 5) * 20);
            stop(&producer);
            // The consumer runs on and gets every item up to a put in flight (a
            // consumer stopped between its reservation of an item and its claim
            // would also hold up a drain here).
            if (0..50).all(|_| {
                sleep_us(100);
                s.q.qsize() != 0
            }) {
                stop(&consumer);
                true
            } else {
                resume(&producer);
                false
            }
        });
        assert!(caught, "rep {rep}: never caught the putter mid-put");
        kill(producer);
        s.stop.store(1, Ordering::SeqCst);
        resume(&consumer);
        assert_eq!(consumer.wait(), Exit::Code(0));
        // Items the consumer had not taken yet (it was slow), in order; what is left
        // after them is the dead put in flight.
        let mut last = 0;
        while let Ok(v) = s.q.get_nowait().map(|i| i.seq()) {
            assert!(v > last, "out of order: {v} after {last}");
            last = v;
            s.q.task_done().expect("one taken");
        }
        let in_flight = s.q.qsize() != 0;
        (s, in_flight)
    }

    /// A putter killed between its claim and its hand-over (see
    /// [`queue_with_a_put_killed_mid_put`]). Then an item put behind the dead put is
    /// got by an unbounded `get` (it probes the putter, reserved in its slot before the
    /// claim, skips the slot and counts its task done): every rep, without a deadline,
    /// under the step's watchdog. Before the fix the get looked ~20 times before its
    /// first sleep, each look pausing up to 64 times (mostly `sched_yield`) for the put
    /// in flight, and probed only after that sleep: 1-7 s behind one CPU hog, longer
    /// under more load (an unbounded get "wedged", `get_until(1 s)` gave up). Then gets
    /// with a deadline return by it, `shutdown(true)` returns (before the shutdown fix:
    /// spun forever), and `join_until` returns `true` (every task taken was marked
    /// done, the dead put's by the skip).
    pub fn ring_queue_producer_killed_mid_put() {
        let reps = reps(50);
        let mut tries = 0;
        let mut confirmed = 0;
        for rep in 0..reps {
            let (s, in_flight) = queue_with_a_put_killed_mid_put(rep, &mut tries);
            confirmed += u32::from(in_flight);
            must_return("a get past the dead put", Duration::from_secs(3), || {
                let putter = fork(|| i32::from(s.q.put(Item::new(MARK)).is_err()));
                assert_eq!(putter.wait(), Exit::Code(0));
                let item = s.q.get().expect("open queue");
                assert_eq!(item.seq(), MARK, "the item behind the dead put");
                s.q.task_done().expect("one taken");
                i32::from(s.q.qsize() != 0)
            });
            must_return("get_until after the kill", Duration::from_secs(3), || {
                i32::from(!matches!(s.q.get_until(after(5)), Err(GetError::Empty)))
            });
            must_return("shutdown(true)", Duration::from_secs(3), || {
                s.q.shutdown(true);
                0
            });
            must_return("join_until", Duration::from_secs(3), || {
                i32::from(!s.q.join_until(after(100)))
            });
            assert!(matches!(s.q.get_nowait(), Err(GetError::ShutDown)));
        }
        println!(
            "  {reps} reps, each killed between claim and hand-over ({tries} stops); \
             {confirmed} left a put in flight after the drain"
        );
    }

    /// A putter killed between its claim and its hand-over (see
    /// [`queue_with_a_put_killed_mid_put`]), an item put behind it, then a `get_until`
    /// whose deadline has passed before it starts: its last look probes the dead putter,
    /// skips its slot and returns the item behind it. Before the fix a deadline that
    /// passed before the get's first sleep slice (here at once; on a loaded machine in
    /// its slow looks) ended the get with `Empty` without any probe.
    pub fn ring_queue_get_until_past_its_deadline_still_probes_the_dead_put() {
        let reps = reps(20);
        let mut tries = 0;
        let mut confirmed = 0;
        for rep in 0..reps {
            let (s, in_flight) = queue_with_a_put_killed_mid_put(rep, &mut tries);
            if !in_flight {
                // The put finished before the kill: nothing to probe.
                continue;
            }
            confirmed += 1;
            must_return(
                "a late get past the dead put",
                Duration::from_secs(3),
                || {
                    let putter = fork(|| i32::from(s.q.put(Item::new(MARK)).is_err()));
                    assert_eq!(putter.wait(), Exit::Code(0));
                    match s.q.get_until(Instant::now()) {
                        Ok(item) => {
                            assert_eq!(item.seq(), MARK, "the item behind the dead put");
                            0
                        }
                        Err(e) => panic!("rep {rep}: {e:?} (the last look did not probe)"),
                    }
                },
            );
        }
        println!("  {reps} reps ({tries} stops); {confirmed} left a put in flight, each probed");
        assert!(confirmed > 0, "no rep left a put in flight");
    }

    /// A getter spinning on `get_nowait`, a putter child spinning on `put_nowait`;
    /// both are stopped at random moments and the parent fills the queue, until the
    /// getter is caught between its claim and freeing the slot (the queue reports no
    /// room with fewer than 8 items); it is killed there. Then a full queue's worth of
    /// puts goes through: the one that reaches the dead get's slot probes its claimant
    /// (reserved in the slot before the claim) and frees it (before the record a put
    /// waited for it until its deadline; before that, forever), so unbounded puts
    /// return; the items come out in order, and `shutdown(true)` returns.
    pub fn ring_queue_consumer_killed_mid_get() {
        let reps = reps(25);
        let mut tries = 0;
        let mut confirmed = 0;
        for rep in 0..reps {
            let s = queue_scene();
            let consumer = fork(|| loop {
                if let Ok(item) = s.q.get_nowait() {
                    let _ = item.seq();
                }
            });
            let producer = fork(|| {
                let mut v = 0;
                while s.stop.load(Ordering::SeqCst) == 0 {
                    if s.q.put_nowait(Item::new(v)).is_ok() {
                        v += 1;
                    }
                }
                0
            });
            let caught = (0..ATTEMPTS).any(|attempt| {
                tries += 1;
                sleep_us(u64::from((attempt + rep) % 5) * 20);
                stop(&consumer);
                stop(&producer);
                while s.q.put_nowait(Item::new(0)).is_ok() {}
                if s.q.qsize() == s.q.maxsize() {
                    while s.q.get_nowait().is_ok() {}
                    resume(&consumer);
                    resume(&producer);
                    false
                } else {
                    true
                }
            });
            assert!(caught, "rep {rep}: never caught the getter mid-get");
            kill(consumer);
            s.stop.store(1, Ordering::SeqCst);
            resume(&producer);
            assert_eq!(producer.wait(), Exit::Code(0));
            // The queue is full up to the dead get's slot: drain it, then fill it
            // again: the put that comes round to the dead get's slot probes its
            // claimant (recorded) and frees the slot.
            while s.q.get_nowait().is_ok() {}
            // A dead get holds a slot: the queue takes fewer than `maxsize` items.
            while s.q.put_nowait(Item::new(0)).is_ok() {}
            if s.q.qsize() < s.q.maxsize() {
                confirmed += 1;
            }
            while s.q.get_nowait().is_ok() {}
            // A putter and a getter at once (a getter killed before its claim left
            // items: as in `mpmc_consumer_killed_mid_pop`), both unbounded.
            must_return("puts past the dead get", Duration::from_secs(3), || {
                let putter = fork(|| {
                    for v in 0..s.q.maxsize() as u64 {
                        assert!(s.q.put(Item::new(MARK + v)).is_ok(), "open queue");
                    }
                    0
                });
                let mut want = MARK;
                while want < MARK + s.q.maxsize() as u64 {
                    let v = s.q.get().expect("open queue").seq();
                    if v >= MARK {
                        assert_eq!(v, want, "in order");
                        want += 1;
                    }
                }
                i32::from(putter.wait() != Exit::Code(0))
            });
            must_return("shutdown(true)", Duration::from_secs(3), || {
                s.q.shutdown(true);
                0
            });
        }
        println!(
            "  {reps} reps, each killed between claim and freeing the slot ({tries} stops); \
             {confirmed} left a slot held by the dead get"
        );
    }

    // ---- semaphore, events ----

    struct SemScene {
        sem: Semaphore<SharedFutex>,
        got: AtomicU32,
    }

    /// A permit holder killed: its permit is gone (as in CPython), and a waiter's
    /// `acquire_until` returns `false` by its deadline. A waiter killed asleep or just
    /// woken by a release: a live waiter still gets the next permit.
    pub fn semaphore_dead_participants() {
        let reps = reps(200);
        for rep in 0..reps {
            let s = SharedMem::new(|| SemScene {
                sem: Semaphore::new(1),
                got: AtomicU32::new(0),
            });
            let holder = fork(|| {
                s.sem.acquire();
                std::thread::sleep(Duration::from_secs(60));
                0
            });
            eventually("the holder has the permit", Duration::from_secs(2), || {
                s.sem.value() == 0
            });
            kill(holder);
            must_return("acquire_until", Duration::from_secs(2), || {
                i32::from(s.sem.acquire_until(after(20)))
            });
            let waiter = || {
                fork(|| {
                    s.sem.acquire();
                    s.got.fetch_add(1, Ordering::SeqCst);
                    0
                })
            };
            let dead = waiter();
            sleep_us(2000);
            let live = waiter();
            sleep_us(2000);
            s.sem.release().expect("room");
            sleep_us(u64::from(rep % 3) * 50);
            dead.kill();
            let _ = dead.wait();
            s.sem.release().expect("room");
            eventually("the live waiter acquires", Duration::from_secs(2), || {
                live_done(&s.got)
            });
            assert_eq!(live.wait(), Exit::Code(0));
        }
        println!("  {reps} reps");
    }

    /// The live waiter counted itself (the dead one may have too, before dying).
    fn live_done(got: &AtomicU32) -> bool {
        got.load(Ordering::SeqCst) >= 1
    }

    struct EventScene {
        event: Event<SharedFutex>,
        flags: EventFlags<SharedFutex>,
    }

    /// A waiter of an `Event` and of `EventFlags` killed asleep: `set` wakes the live
    /// waiters. A `sync` party killed before arriving: the others' `sync_until` returns
    /// `Timeout` by its deadline.
    pub fn events_dead_participants() {
        let reps = reps(100);
        for _ in 0..reps {
            let s = SharedMem::new(|| EventScene {
                event: Event::new(),
                flags: EventFlags::new(),
            });
            let waiter = || {
                fork(|| {
                    s.event.wait();
                    match s.flags.wait(0b1, WaitFlags::ANY) {
                        Ok(_) => 0,
                        Err(_) => 1,
                    }
                })
            };
            let dead = waiter();
            let live = waiter();
            sleep_us(2000);
            kill(dead);
            s.event.set();
            let dead = fork(|| {
                let _ = s.flags.wait(0b10, WaitFlags::ANY);
                0
            });
            sleep_us(2000);
            kill(dead);
            s.flags.set(0b1);
            let mut live = live;
            assert_eq!(
                live.wait_timeout(Duration::from_secs(2)),
                Some(Exit::Code(0))
            );
            must_return(
                "sync_until with a dead party",
                Duration::from_secs(2),
                || match s.flags.sync_until(0b100, 0b1100, after(20)) {
                    Err(FlagsError::Timeout) => 0,
                    _ => 1,
                },
            );
        }
        println!("  {reps} reps");
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {}
