//! Tests of `conkit_core::event_flags` and `conkit_core::event`: every operation and
//! error path, clear-on-exit exactly-once, wait-all across threads, timeouts, the `sync`
//! rendezvous, ping-pong stress, the async front ends, and the release rule (a waiter a
//! `set` satisfied returns even if the bits are cleared before it runs; gh-57711).
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conkit_core::event::Event;
use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags, HISTORY};
use conkit_core::wait::{Spin, WaitStrategy};

const ITEMS: usize = if cfg!(miri) { 200 } else { 1_000_000 };
const REPEAT: usize = if cfg!(miri) { 3 } else { 50 };

// ---------------------------------------------------------------------------------
// Test clocks and strategies

use common::{after, eventually, Park, Timed};

fn check_timeout(start: Instant, ms: u64) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(ms),
        "returned early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "far too late: {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------------
// WaitFlags

#[test]
fn wait_flags_consts_and_builders() {
    assert_eq!(WaitFlags::new(), WaitFlags::ANY);
    assert_eq!(WaitFlags::default(), WaitFlags::ANY);
    assert_eq!(WaitFlags::ANY.all(true), WaitFlags::ALL);
    assert_eq!(WaitFlags::ANY.clear_on_exit(true), WaitFlags::ANY_CLEAR);
    assert_eq!(WaitFlags::ALL.clear_on_exit(true), WaitFlags::ALL_CLEAR);
    assert_eq!(
        WaitFlags::ALL_CLEAR.all(false).clear_on_exit(false),
        WaitFlags::ANY
    );
    let custom = WaitFlags {
        all: true,
        clear_on_exit: false,
    };
    assert_eq!(custom, WaitFlags::ALL);
    let all_clear = WaitFlags::ALL_CLEAR;
    assert_eq!((all_clear.all, all_clear.clear_on_exit), (true, true));
}

// ---------------------------------------------------------------------------------
// Single-thread operations and error paths

#[test]
fn set_clear_get() {
    let f: EventFlags = EventFlags::new();
    assert_eq!(f.get(), 0);
    assert_eq!(f.set(0b0101), 0b0101, "flags after setting");
    assert_eq!(f.set(0b0011), 0b0111);
    assert_eq!(f.set(0), 0b0111, "empty set changes nothing");
    assert_eq!(f.clear(0b0110), 0b0111, "flags before clearing");
    assert_eq!(f.get(), 0b0001);
    assert_eq!(f.clear(0), 0b0001);
    assert_eq!(f.clear(u32::MAX), 0b0001);
    assert_eq!(f.get(), 0);
    assert_eq!(f.set(u32::MAX), u32::MAX, "all 32 bits are usable");
    assert_eq!(f.set(1 << 31), u32::MAX);

    let g: EventFlags = EventFlags::with_flags(0x8000_0001);
    assert_eq!(g.get(), 0x8000_0001);
}

#[test]
fn try_wait_any_all_and_clear() {
    let f: EventFlags = EventFlags::with_flags(0b1010);
    // any
    assert_eq!(f.try_wait(0b0011, WaitFlags::ANY), Ok(0b1010));
    assert_eq!(
        f.try_wait(0b0101, WaitFlags::ANY),
        Err(FlagsError::WouldBlock)
    );
    // all
    assert_eq!(f.try_wait(0b1010, WaitFlags::ALL), Ok(0b1010));
    assert_eq!(
        f.try_wait(0b1011, WaitFlags::ALL),
        Err(FlagsError::WouldBlock)
    );
    assert_eq!(
        f.get(),
        0b1010,
        "no clearing without clear_on_exit or on failure"
    );
    // any + clear: returns the flags before clearing, clears only the mask's bits
    assert_eq!(f.try_wait(0b0011, WaitFlags::ANY_CLEAR), Ok(0b1010));
    assert_eq!(f.get(), 0b1000);
    assert_eq!(
        f.try_wait(0b0011, WaitFlags::ANY_CLEAR),
        Err(FlagsError::WouldBlock)
    );
    // all + clear
    f.set(0b0110);
    assert_eq!(
        f.try_wait(0b1111, WaitFlags::ALL_CLEAR),
        Err(FlagsError::WouldBlock)
    );
    assert_eq!(f.get(), 0b1110, "a failed all-wait clears nothing");
    assert_eq!(f.try_wait(0b1100, WaitFlags::ALL_CLEAR), Ok(0b1110));
    assert_eq!(f.get(), 0b0010);
}

#[test]
fn empty_mask_is_an_error_not_a_hang() {
    let f: EventFlags<Timed> = EventFlags::with_flags(u32::MAX);
    for opts in [
        WaitFlags::ANY,
        WaitFlags::ALL,
        WaitFlags::ANY_CLEAR,
        WaitFlags::ALL_CLEAR,
    ] {
        assert_eq!(f.try_wait(0, opts), Err(FlagsError::EmptyMask));
        assert_eq!(f.wait(0, opts), Err(FlagsError::EmptyMask));
        assert_eq!(
            f.wait_until(0, opts, after(10_000)),
            Err(FlagsError::EmptyMask)
        );
    }
    assert_eq!(f.wait_any(0), Err(FlagsError::EmptyMask));
    assert_eq!(f.wait_all(0), Err(FlagsError::EmptyMask));
    assert_eq!(f.sync(0, 0b1), Err(FlagsError::EmptyMask));
    assert_eq!(f.sync(0b1, 0), Err(FlagsError::EmptyMask));
    assert_eq!(f.sync(0b10, 0b01), Err(FlagsError::EmptyMask));
    assert_eq!(
        f.sync_until(0, 0, after(10_000)),
        Err(FlagsError::EmptyMask)
    );
    assert_eq!(f.get(), u32::MAX, "errors change nothing");
}

#[test]
fn blocking_waits_return_at_once_when_satisfied() {
    let f: EventFlags = EventFlags::with_flags(0b11);
    assert_eq!(f.wait_any(0b10), Ok(0b11));
    assert_eq!(f.wait_all(0b11), Ok(0b11));
    assert_eq!(f.wait(0b01, WaitFlags::ANY_CLEAR), Ok(0b11));
    assert_eq!(f.get(), 0b10);
    assert_eq!(f.wait(0b10, WaitFlags::ALL_CLEAR), Ok(0b10));
    assert_eq!(f.get(), 0);
}

#[test]
fn statics_defaults_debug_and_errors() {
    static F: EventFlags = EventFlags::new();
    static G: EventFlags<Park> = EventFlags::with_flags(4);
    static E: Event = Event::new();
    assert_eq!(F.set(1), 1);
    assert_eq!(G.get(), 4);
    E.set();
    assert!(E.is_set());

    let d: EventFlags = EventFlags::default();
    assert_eq!(d.get(), 0);
    let e: Event = Event::default();
    assert!(!e.is_set());

    let text = format!("{:?}", EventFlags::<Spin>::with_flags(0b101));
    assert!(
        text.contains("EventFlags") && text.contains("0b") && text.contains("101"),
        "{text}"
    );
    let text = format!("{e:?}");
    assert!(text.contains("Event") && text.contains("false"), "{text}");

    assert_eq!(FlagsError::EmptyMask.to_string(), "empty event flag mask");
    assert_eq!(FlagsError::WouldBlock.to_string(), "event flags not set");
    assert_eq!(
        FlagsError::Timeout.to_string(),
        "timed out waiting for event flags"
    );
    let _: &dyn std::error::Error = &FlagsError::Timeout;
    fn send_sync<T: Send + Sync>() {}
    send_sync::<EventFlags>();
    send_sync::<EventFlags<Park>>();
    send_sync::<Event<Park>>();
}

// ---------------------------------------------------------------------------------
// Timeouts

#[test]
fn wait_until_times_out_spin() {
    let f: EventFlags<Timed> = EventFlags::with_flags(0b01);
    let start = Instant::now();
    assert_eq!(
        f.wait_until(0b10, WaitFlags::ANY, after(50)),
        Err(FlagsError::Timeout)
    );
    check_timeout(start, 50);
    let start = Instant::now();
    assert_eq!(
        f.wait_until(0b11, WaitFlags::ALL_CLEAR, after(50)),
        Err(FlagsError::Timeout)
    );
    check_timeout(start, 50);
    assert_eq!(f.get(), 0b01, "a timed-out wait clears nothing");
    assert_eq!(f.wait_until(0b01, WaitFlags::ANY_CLEAR, after(0)), Ok(0b01));
    assert_eq!(f.get(), 0);
}

#[test]
fn wait_until_times_out_park() {
    let f: EventFlags<Park> = EventFlags::new();
    let start = Instant::now();
    assert_eq!(
        f.wait_until(1, WaitFlags::ANY, after(50)),
        Err(FlagsError::Timeout)
    );
    check_timeout(start, 50);
}

#[test]
fn wait_until_succeeds_when_set_in_time() {
    let f: EventFlags<Park> = EventFlags::new();
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            f.set(0b100);
        });
        assert_eq!(
            f.wait_until(0b110, WaitFlags::ANY_CLEAR, after(20_000)),
            Ok(0b100)
        );
    });
    assert_eq!(f.get(), 0);
}

// ---------------------------------------------------------------------------------
// Across threads

fn clear_on_exit_exactly_once<W: WaitStrategy>() {
    for _ in 0..REPEAT {
        let f: EventFlags<W> = EventFlags::new();
        let got = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    assert_eq!(f.wait(0b1, WaitFlags::ANY_CLEAR), Ok(0b1));
                    got.fetch_add(1, Ordering::SeqCst);
                });
            }
            thread::sleep(Duration::from_millis(1));
            f.set(0b1);
            eventually("one consumer", || got.load(Ordering::SeqCst) >= 1);
            thread::sleep(Duration::from_millis(2));
            assert_eq!(got.load(Ordering::SeqCst), 1, "one set, two consumers");
            assert_eq!(f.get(), 0, "the consumer cleared the bit");
            f.set(0b1); // releases the other waiter
        });
        assert_eq!(got.load(Ordering::SeqCst), 2);
        assert_eq!(f.get(), 0);
    }
}

#[test]
fn clear_on_exit_exactly_once_spin() {
    clear_on_exit_exactly_once::<Spin>();
}

#[test]
fn clear_on_exit_exactly_once_park() {
    clear_on_exit_exactly_once::<Park>();
}

#[test]
fn without_clear_every_waiter_returns() {
    let f: EventFlags<Park> = EventFlags::new();
    let got = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                assert_eq!(f.wait_any(0b11), Ok(0b10));
                got.fetch_add(1, Ordering::SeqCst);
            });
        }
        thread::sleep(Duration::from_millis(5));
        f.set(0b10);
    });
    assert_eq!(got.load(Ordering::SeqCst), 3);
    assert_eq!(f.get(), 0b10);
}

fn wait_all_needs_two_sets<W: WaitStrategy>() {
    let f: EventFlags<W> = EventFlags::new();
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let r = f.wait(0b11, WaitFlags::ALL_CLEAR);
            done.store(true, Ordering::SeqCst);
            r
        });
        scope.spawn(|| f.set(0b01)).join().unwrap();
        thread::sleep(Duration::from_millis(10));
        assert!(
            !done.load(Ordering::SeqCst),
            "wait_all returned after one bit"
        );
        assert_eq!(f.get(), 0b01);
        scope.spawn(|| f.set(0b10)).join().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(0b11));
    });
    assert_eq!(f.get(), 0);
}

#[test]
fn wait_all_needs_two_sets_from_different_threads_spin() {
    wait_all_needs_two_sets::<Spin>();
}

#[test]
fn wait_all_needs_two_sets_from_different_threads_park() {
    wait_all_needs_two_sets::<Park>();
}

#[test]
fn clear_does_not_satisfy_waiters() {
    let f: EventFlags<Timed> = EventFlags::with_flags(0b1);
    f.clear(0b1);
    assert_eq!(
        f.wait_until(0b1, WaitFlags::ANY, after(20)),
        Err(FlagsError::Timeout)
    );
}

fn ping_pong<W: WaitStrategy>() {
    const PING: u32 = 1 << 0;
    const PONG: u32 = 1 << 5;
    let rounds = (ITEMS / 100).max(20);
    let f: EventFlags<W> = EventFlags::new();
    let (pings, pongs) = (AtomicUsize::new(0), AtomicUsize::new(0));
    thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..rounds {
                assert_eq!(f.wait(PING, WaitFlags::ANY_CLEAR).unwrap() & PING, PING);
                assert_eq!(pings.fetch_add(1, Ordering::SeqCst), i);
                assert_eq!(pongs.load(Ordering::SeqCst), i, "ping overtook pong");
                f.set(PONG);
            }
        });
        for i in 0..rounds {
            f.set(PING);
            assert_eq!(f.wait(PONG, WaitFlags::ALL_CLEAR).unwrap() & PONG, PONG);
            assert_eq!(pings.load(Ordering::SeqCst), i + 1, "pong without ping");
            pongs.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert_eq!(pings.load(Ordering::SeqCst), rounds);
    assert_eq!(pongs.load(Ordering::SeqCst), rounds);
    assert_eq!(f.get(), 0);
}

#[test]
fn stress_ping_pong_spin() {
    ping_pong::<Spin>();
}

#[test]
fn stress_ping_pong_park() {
    ping_pong::<Park>();
}

#[test]
fn stress_consumers_take_each_set_once() {
    // Producers set bit 0 only when it is clear (so every set is a distinct event);
    // two clear-on-exit consumers take it. Every event is consumed exactly once.
    let events = (ITEMS / 100).max(20);
    let f: EventFlags<Park> = EventFlags::new();
    let consumed = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                match f.wait(0b11, WaitFlags::ANY_CLEAR) {
                    Ok(v) if v & 0b10 != 0 => break, // stop bit: re-set for the other
                    Ok(_) => {
                        consumed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("{e}"),
                }
            });
        }
        for _ in 0..events {
            // Wait until the previous event was consumed, then post the next one.
            while f.get() & 1 != 0 {
                thread::yield_now();
            }
            f.set(1);
        }
        while f.get() & 1 != 0 {
            thread::yield_now();
        }
        f.set(0b10);
        eventually("first consumer stopped", || f.get() & 0b10 == 0);
        f.set(0b10);
    });
    assert_eq!(consumed.load(Ordering::SeqCst), events);
    assert_eq!(f.get(), 0);
}

// ---------------------------------------------------------------------------------
// sync rendezvous

fn rendezvous<W: WaitStrategy>(parties: usize, rounds: usize) {
    let all = (1u32 << parties) - 1;
    let f: EventFlags<W> = EventFlags::new();
    let arrived = AtomicUsize::new(0);
    thread::scope(|scope| {
        for party in 0..parties {
            let (f, arrived) = (&f, &arrived);
            scope.spawn(move || {
                for round in 0..rounds {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let v = f.sync(1 << party, all).unwrap();
                    assert_eq!(v & all, all);
                    let seen = arrived.load(Ordering::SeqCst);
                    assert!(
                        seen >= parties * (round + 1),
                        "left round {round} with {seen} arrivals"
                    );
                }
            });
        }
    });
    assert_eq!(arrived.load(Ordering::SeqCst), parties * rounds);
    assert_eq!(f.get(), 0);
}

#[test]
fn sync_rendezvous_spin() {
    // Two parties: pure spinning with more threads than the test machine's 2 cores
    // mostly measures the OS scheduler.
    rendezvous::<Spin>(2, (ITEMS / 5000).max(5));
}

#[test]
fn sync_rendezvous_park() {
    rendezvous::<Park>(if cfg!(miri) { 3 } else { 4 }, (ITEMS / 1000).max(5));
}

#[test]
fn sync_keeps_unrelated_bits_and_returns_flags() {
    let f: EventFlags = EventFlags::with_flags(0b1_0000);
    thread::scope(|scope| {
        let other = scope.spawn(|| f.sync(0b01, 0b11));
        // The completing party sees the exact word, including the unrelated bit.
        eventually("first party arrived", || f.get() & 0b01 != 0);
        assert_eq!(f.sync(0b10, 0b11), Ok(0b1_0011));
        assert_eq!(other.join().unwrap().unwrap() & 0b1_0011, 0b1_0011);
    });
    assert_eq!(f.get(), 0b1_0000, "only the wait mask is cleared");
}

#[test]
fn sync_until_times_out_and_withdraws() {
    let f: EventFlags<Timed> = EventFlags::new();
    let start = Instant::now();
    assert_eq!(
        f.sync_until(0b01, 0b11, after(50)),
        Err(FlagsError::Timeout)
    );
    check_timeout(start, 50);
    assert_eq!(f.get(), 0, "a party that gave up takes its bit back");
    // So a later arrival alone does not complete the rendezvous:
    assert_eq!(
        f.sync_until(0b10, 0b11, after(20)),
        Err(FlagsError::Timeout)
    );
    assert_eq!(f.get(), 0);
    // A single party whose own bits complete the mask returns at once.
    assert_eq!(f.sync_until(0b11, 0b11, after(0)), Ok(0b11));
    assert_eq!(f.get(), 0);
}

#[test]
fn sync_until_completes_in_time() {
    let f: EventFlags<Park> = EventFlags::new();
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            assert_eq!(f.sync(0b10, 0b11), Ok(0b11));
        });
        assert_eq!(
            f.sync_until(0b01, 0b11, after(20_000)).unwrap() & 0b11,
            0b11
        );
    });
    assert_eq!(f.get(), 0);
}

// ---------------------------------------------------------------------------------
// Event

#[test]
fn event_set_clear_is_set() {
    let e: Event = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.set();
    assert!(e.is_set(), "set is idempotent");
    e.wait();
    e.wait();
    assert!(e.is_set(), "waiting does not consume");
    e.clear();
    assert!(!e.is_set());
    e.clear();
    assert!(!e.is_set());
}

#[test]
fn event_wait_until_returns_flag() {
    let e: Event<Timed> = Event::new();
    let start = Instant::now();
    assert!(!e.wait_until(after(50)));
    check_timeout(start, 50);
    e.set();
    assert!(e.wait_until(after(50)));
    assert!(e.wait_until(after(0)), "set: true even past the deadline");

    let p: Event<Park> = Event::new();
    let start = Instant::now();
    assert!(!p.wait_until(after(30)));
    check_timeout(start, 30);
}

fn event_across_threads<W: WaitStrategy>() {
    for _ in 0..REPEAT {
        let e: Event<W> = Event::new();
        let woke = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    e.wait();
                    assert!(e.is_set());
                    woke.fetch_add(1, Ordering::SeqCst);
                });
            }
            thread::sleep(Duration::from_millis(1));
            assert_eq!(woke.load(Ordering::SeqCst), 0, "woke before set");
            scope.spawn(|| e.set());
        });
        assert_eq!(woke.load(Ordering::SeqCst), 3, "set wakes every waiter");
        e.clear();
        assert!(!e.is_set());
    }
}

#[test]
fn event_set_wait_across_threads_spin() {
    event_across_threads::<Spin>();
}

#[test]
fn event_set_wait_across_threads_park() {
    event_across_threads::<Park>();
}

#[test]
fn event_wait_until_set_in_time() {
    let e: Event<Park> = Event::new();
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            e.set();
        });
        assert!(e.wait_until(after(20_000)));
    });
}

#[test]
fn stress_event_handshake() {
    // Two events as a request/acknowledge handshake; each side clears what it consumed.
    let rounds = (ITEMS / 100).max(20);
    let (req, ack): (Event<Park>, Event<Park>) = (Event::new(), Event::new());
    let served = AtomicUsize::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..rounds {
                req.wait();
                req.clear();
                served.fetch_add(1, Ordering::SeqCst);
                ack.set();
            }
        });
        for i in 0..rounds {
            req.set();
            ack.wait();
            ack.clear();
            assert_eq!(served.load(Ordering::SeqCst), i + 1);
        }
    });
    assert_eq!(served.load(Ordering::SeqCst), rounds);
}

// ---------------------------------------------------------------------------------
// The release rule: every waiter present at a `set` that satisfies it returns, even if
// the bits are cleared before it runs (CPython gh-57711 for `Event`; FreeRTOS event
// groups release waiters inside `xEventGroupSetBits`). Before the fix a woken waiter
// re-checked the live flags, found them clear and slept again.

/// Starts `n` threads running `wait`, waits until they are blocked (announced and a
/// grace period), runs `then`, and returns what each wait returned.
fn with_blocked_waiters<R: Send>(
    n: usize,
    wait: impl Fn(usize) -> R + Sync,
    then: impl FnOnce(),
) -> Vec<R> {
    let started = AtomicUsize::new(0);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (started, wait) = (&started, &wait);
                scope.spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    wait(i)
                })
            })
            .collect();
        eventually("waiters started", || started.load(Ordering::SeqCst) == n);
        thread::sleep(Duration::from_millis(if cfg!(miri) { 50 } else { 20 }));
        then();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn event_set_then_clear_releases_every_waiter<W: WaitStrategy<Deadline = common::At>>() {
    for round in 0..REPEAT.min(20) {
        let e: Event<W> = Event::new();
        let got = with_blocked_waiters(
            5,
            |_| e.wait_until(after(10_000)),
            || {
                e.set();
                e.clear();
            },
        );
        assert_eq!(got, [true; 5], "round {round}");
        assert!(!e.is_set());
    }
}

#[test]
fn event_set_then_clear_releases_every_waiter_park() {
    event_set_then_clear_releases_every_waiter::<Park>();
}

#[test]
fn event_set_then_clear_releases_every_waiter_spin() {
    event_set_then_clear_releases_every_waiter::<Timed>();
}

#[test]
fn event_untimed_waiters_released_by_set_then_clear() {
    let e: Event<Park> = Event::new();
    let released = with_blocked_waiters(
        3,
        |_| e.wait(),
        || {
            e.set();
            e.clear();
        },
    );
    assert_eq!(released.len(), 3);
}

#[test]
fn event_waiter_after_set_then_clear_is_not_released() {
    let e: Event<Timed> = Event::new();
    e.set();
    e.clear();
    let start = Instant::now();
    assert!(!e.wait_until(after(30)), "that set was before it looked");
    check_timeout(start, 30);
}

#[test]
fn event_many_set_clear_pairs_release_every_waiter() {
    let e: Event<Park> = Event::new();
    let got = with_blocked_waiters(
        4,
        |_| e.wait_until(after(10_000)),
        || {
            for _ in 0..1000 {
                e.set();
                e.clear();
            }
        },
    );
    assert_eq!(got, [true; 4]);
}

fn flags_set_then_clear_releases_any_and_all<W: WaitStrategy<Deadline = common::At>>() {
    for round in 0..REPEAT.min(20) {
        let f: EventFlags<W> = EventFlags::with_flags(0b1000);
        let got = with_blocked_waiters(
            4,
            |i| {
                let opts = if i % 2 == 0 {
                    WaitFlags::ANY
                } else {
                    WaitFlags::ALL
                };
                f.wait_until(0b011, opts, after(10_000))
            },
            || {
                f.set(0b011);
                f.clear(0b011);
            },
        );
        assert_eq!(got, [Ok(0b1011); 4], "round {round}");
        assert_eq!(f.get(), 0b1000);
    }
}

#[test]
fn flags_set_then_clear_releases_any_and_all_waiters_park() {
    flags_set_then_clear_releases_any_and_all::<Park>();
}

#[test]
fn flags_set_then_clear_releases_any_and_all_waiters_spin() {
    flags_set_then_clear_releases_any_and_all::<Timed>();
}

#[test]
fn flags_wait_all_not_released_by_bits_never_set_together() {
    // 0b01 then 0b10, each cleared before the other is set: the flags never held
    // 0b11, so a wait-all for 0b11 must not return.
    let f: EventFlags<Park> = EventFlags::new();
    let got = with_blocked_waiters(
        1,
        |_| f.wait_until(0b11, WaitFlags::ALL, after(300)),
        || {
            f.set(0b01);
            f.clear(0b01);
            f.set(0b10);
            f.clear(0b10);
        },
    );
    assert_eq!(got, [Err(FlagsError::Timeout)]);
}

#[test]
fn flags_consumer_taking_the_bit_still_releases_plain_waiters() {
    // A clear-on-exit waiter consumes the bit as soon as it is set; the plain waiters
    // present at that `set` still return.
    for _ in 0..REPEAT.min(20) {
        let f: EventFlags<Park> = EventFlags::new();
        let got = with_blocked_waiters(
            4,
            |i| {
                let opts = if i == 0 {
                    WaitFlags::ANY_CLEAR
                } else {
                    WaitFlags::ANY
                };
                f.wait_until(0b1, opts, after(10_000))
            },
            || {
                f.set(0b1);
            },
        );
        assert_eq!(got, [Ok(0b1); 4]);
        assert_eq!(f.get(), 0, "the consumer took the bit");
    }
}

#[test]
fn flags_many_set_clear_pairs_release_every_waiter() {
    let f: EventFlags<Park> = EventFlags::new();
    let got = with_blocked_waiters(
        3,
        |_| f.wait_until(0b100, WaitFlags::ANY, after(10_000)),
        || {
            for _ in 0..1000 {
                f.set(0b100);
                f.clear(0b100);
            }
        },
    );
    assert_eq!(got, [Ok(0b100); 3]);
}

// ---------------------------------------------------------------------------------
// Async

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use conkit_core::asynch::Async;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use crate::common::block_on;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag_waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        (flag, waker)
    }

    #[test]
    fn async_flags_wait_set_clear() {
        static F: Async<EventFlags, 4> = Async::new(EventFlags::new());
        assert_eq!(F.set(0b101), 0b101);
        assert_eq!(block_on(F.wait_any(0b100)), Ok(0b101));
        assert_eq!(block_on(F.wait_all(0b101)), Ok(0b101));
        assert_eq!(block_on(F.wait(0b001, WaitFlags::ANY_CLEAR)), Ok(0b101));
        assert_eq!(F.get(), 0b100);
        assert_eq!(F.clear(0b100), 0b100);
        assert_eq!(F.get(), 0);
        assert_eq!(
            block_on(F.wait(0, WaitFlags::ANY)),
            Err(FlagsError::EmptyMask)
        );
        assert_eq!(block_on(F.wait_all(0)), Err(FlagsError::EmptyMask));
    }

    #[test]
    fn async_flags_pending_until_all_set() {
        let f: Async<EventFlags, 4> = Async::new(EventFlags::new());
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(f.wait(0b11, WaitFlags::ALL_CLEAR));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        f.set(0b01);
        assert!(woken.0.swap(false, Ordering::SeqCst), "set wakes");
        assert!(fut.as_mut().poll(&mut cx).is_pending(), "one of two bits");
        f.set(0b10);
        assert!(woken.0.load(Ordering::SeqCst));
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(0b11)));
        assert_eq!(f.get(), 0);
    }

    #[test]
    fn async_flags_cancelled_waiter_consumes_nothing() {
        let f: Async<EventFlags, 4> = Async::new(EventFlags::new());
        let (a, wa) = flag_waker();
        let (b, wb) = flag_waker();
        let mut fa = Box::pin(f.wait(1, WaitFlags::ANY_CLEAR));
        let mut fb = pin!(f.wait(1, WaitFlags::ANY_CLEAR));
        assert!(fa.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
        assert!(fb.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(fa);
        f.set(1);
        // The live waiter is woken; the dropped one left nothing parked (the flags'
        // own task slots, not a wrapper's set of stale wakers).
        assert!(b.0.load(Ordering::SeqCst));
        assert!(
            !a.0.load(Ordering::SeqCst),
            "a dropped future stays unparked"
        );
        assert_eq!(f.get(), 1, "the dropped future consumed nothing");
        assert_eq!(
            fb.as_mut().poll(&mut Context::from_waker(&wb)),
            Poll::Ready(Ok(1))
        );
        assert_eq!(f.get(), 0);
    }

    #[test]
    fn async_flags_cross_thread_ping_pong() {
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        let f: Async<EventFlags, 4> = Async::new(EventFlags::new());
        thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..rounds {
                    block_on(f.wait(0b01, WaitFlags::ANY_CLEAR)).unwrap();
                    f.set(0b10);
                }
            });
            for _ in 0..rounds {
                f.set(0b01);
                block_on(f.wait(0b10, WaitFlags::ANY_CLEAR)).unwrap();
            }
        });
        assert_eq!(f.get(), 0);
    }

    #[test]
    fn async_event() {
        let e: Async<Event, 2> = Async::new(Event::new());
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        {
            let mut fut = pin!(e.wait());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert!(!e.is_set());
            e.set();
            assert!(woken.0.load(Ordering::SeqCst));
            assert!(fut.as_mut().poll(&mut cx).is_ready());
        }
        block_on(e.wait()); // still set: completes at once
        e.clear();
        assert!(!e.is_set());
        thread::scope(|scope| {
            scope.spawn(|| {
                thread::sleep(Duration::from_millis(5));
                e.set();
            });
            block_on(e.wait());
        });
        assert!(e.is_set());
    }
    #[test]
    fn async_event_parked_task_released_by_set_then_clear() {
        let e: Async<Event, 2> = Async::new(Event::new());
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(e.wait());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        e.set();
        e.clear();
        assert!(woken.0.load(Ordering::SeqCst));
        assert!(
            fut.as_mut().poll(&mut cx).is_ready(),
            "a set happened while it was parked"
        );
        // A future first polled after the pair waits for the next set.
        let mut late = pin!(e.wait());
        assert!(late.as_mut().poll(&mut cx).is_pending());
        assert!(late.as_mut().poll(&mut cx).is_pending());
    }

    #[test]
    fn async_flags_parked_task_released_by_set_then_clear() {
        let f: Async<EventFlags, 4> = Async::new(EventFlags::new());
        let (_, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut any = pin!(f.wait_any(0b11));
        let mut all = pin!(f.wait_all(0b11));
        assert!(any.as_mut().poll(&mut cx).is_pending());
        assert!(all.as_mut().poll(&mut cx).is_pending());
        f.set(0b11);
        f.clear(0b11);
        assert_eq!(any.as_mut().poll(&mut cx), Poll::Ready(Ok(0b11)));
        assert_eq!(all.as_mut().poll(&mut cx), Poll::Ready(Ok(0b11)));
    }

    /// The history bound, exactly: a parked task that is not polled while `HISTORY`
    /// further removals happen after the one that removed its bits misses that `set`;
    /// with one removal fewer it still sees it.
    #[test]
    fn async_flags_history_holds_exactly_history_removals() {
        for later in [HISTORY - 1, HISTORY] {
            let f: Async<EventFlags, 4> = Async::new(EventFlags::new());
            let (_, waker) = flag_waker();
            let mut cx = Context::from_waker(&waker);
            let mut fut = pin!(f.wait_any(0b1));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            f.set(0b1);
            f.clear(0b1);
            for _ in 0..later {
                f.set(0b10);
                f.clear(0b10);
            }
            let polled = fut.as_mut().poll(&mut cx);
            if later < HISTORY {
                assert_eq!(polled, Poll::Ready(Ok(0b1)), "{later} later removals");
            } else {
                assert!(
                    polled.is_pending(),
                    "{later} later removals: beyond the history"
                );
            }
        }
    }
}
