//! conkit-core in async firmware: the blocking program of `src/main.rs` again, with its
//! consumer an async task on embassy's thread-mode executor (`embassy-executor`,
//! `platform-cortex-m` + `executor-thread`: `WFE` to sleep, `SEV` from a waker) instead
//! of a spinning `main`. Same boards under QEMU: Cortex-M3 `lm3s6965evb` and Cortex-M0
//! `microbit` (no compare-and-swap: conkit-core's `portable-atomic` feature; embassy's
//! critical-section task state); `cargo xtask firmware` builds and runs both variants
//! and prints their code sizes side by side.
//!
//! * `SysTick` (the producer) pushes `0..ITEMS` into a `static` ring with `try_push`
//!   (never waits: legal in an interrupt) — the SPSC ring behind the [`Async`] front
//!   end, whose state changes wake the tasks parked in its waker set — then releases a
//!   plain core [`Semaphore`] (its `release` sees the `TASKS` bit the awaiting task set
//!   and wakes it: one mechanism for threads, interrupts and tasks, no wrapper) and
//!   sets event flags through the `Async<EventFlags>` front end. When the ring is full
//!   the push hands the item back and the handler retries on the next tick.
//! * The task (the consumer) first awaits `DATA | FULL` (`wait(.., ALL_CLEAR)`: the
//!   ring filled up, its usable capacity is exactly `CAP`). Then it takes the items in
//!   two ways, half each: by awaiting one semaphore unit (`acquire_async`) and popping
//!   (`try_pop`: the unit proves the item is there), and by awaiting the ring itself
//!   (`AsyncConsumer::pop`) and then taking the unit (`try_acquire`: the handler pushes
//!   and releases in one run, so the unit is there). It checks every number arrived
//!   once and in order, and counts how often each await actually suspended the task
//!   (each path must have parked at least once: the interrupt, not a ready value,
//!   completed them). Finally it awaits `DONE` and checks ring, semaphore and flags are
//!   empty.
//!
//! Before any of this, `main` polls one `acquire_async` once (it parks) and drops it:
//! cancellation must leave no permit taken and no stale waker behind.
//!
//! The result goes out over semihosting; the exit status tells QEMU's caller whether
//! every check passed. No `core::fmt` (see `src/main.rs` on size): output goes through
//! [`common::put`].
//!
//! References: embassy-executor 0.10 (`platform-cortex-m`: `#[embassy_executor::main]`
//! wraps `cortex_m_rt::entry`; the waker's pender is a `SEV`, so an interrupt that wakes
//! the task ends the executor's `WFE`); conkit-core's `asynch` module docs for the two
//! ways a task parks (on the primitive itself, or in an `Async` front end's waker set).
#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;

use core::cell::Cell;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;

use common::{bump, fail, flags_error, pop_error, put, N, S};
use conkit_core::asynch::Async;
use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
use conkit_core::semaphore::Semaphore;
use conkit_core::spsc::{AsyncConsumer, AsyncProducer, PopError, PushError, SpscRing};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use cortex_m_semihosting::debug;
use critical_section::Mutex;
use embassy_executor::Spawner;

/// Items the interrupt produces.
const ITEMS: u32 = 1000;
/// Ring capacity.
const CAP: usize = 16;
/// SysTick reload value: a tick every `RELOAD + 1` core cycles.
const RELOAD: u32 = 1_000;

/// Event flag: at least one item was pushed.
const DATA: u32 = 1 << 0;
/// Event flag: the producer found the ring full (and kept its item).
const FULL: u32 = 1 << 1;
/// Event flag: the last item was pushed.
const DONE: u32 = 1 << 2;

/// The ring behind the `Async` front end (one waker slot: one task waits on it).
static RING: Async<SpscRing<u32, CAP>, 1> = Async::new(SpscRing::new());
/// One unit per item in the ring; a plain core semaphore, awaited directly.
static ITEMS_READY: Semaphore = Semaphore::new(0);
static FLAGS: Async<EventFlags, 1> = Async::new(EventFlags::new());

/// Hands the producer from `main` to the interrupt handler.
static HANDOFF: Mutex<Cell<Option<AsyncProducer<'static, u32, CAP, conkit_core::wait::Spin, 1>>>> =
    Mutex::new(Cell::new(None));

/// Items pushed before the first `Full` (written by the handler only).
static PUSHED_BEFORE_FULL: AtomicU32 = AtomicU32::new(0);
/// How many times `try_push` found the ring full and handed the item back.
static FULL_HITS: AtomicU32 = AtomicU32::new(0);
/// Errors seen by the handler (wrong item handed back, semaphore release failed).
static ISR_ERRORS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    static mut PRODUCER: Option<AsyncProducer<'static, u32, CAP, conkit_core::wait::Spin, 1>> =
        None;
    static mut NEXT: u32 = 0;

    if PRODUCER.is_none() {
        *PRODUCER = critical_section::with(|cs| HANDOFF.borrow(cs).take());
    }
    let Some(producer) = PRODUCER.as_mut() else {
        return;
    };
    if *NEXT == ITEMS {
        return;
    }
    match producer.try_push(*NEXT) {
        Ok(()) => {
            *NEXT += 1;
            if ITEMS_READY.release().is_err() {
                bump(&ISR_ERRORS);
            }
            FLAGS.set(DATA);
            if *NEXT == ITEMS {
                FLAGS.set(DONE);
            }
        }
        Err(PushError::Full(item)) => {
            if item != *NEXT {
                bump(&ISR_ERRORS);
            }
            if bump(&FULL_HITS) == 0 {
                PUSHED_BEFORE_FULL.store(*NEXT, Ordering::Relaxed);
                FLAGS.set(FULL);
            }
        }
        Err(PushError::Disconnected(_)) => {
            bump(&ISR_ERRORS);
        }
    }
}

/// Awaits `fut`, adding one to `*suspended` for each poll that returned `Pending`
/// (the task went to sleep and something — here the interrupt — woke it).
async fn counted<F: Future>(fut: F, suspended: &mut u32) -> F::Output {
    let mut fut = pin!(fut);
    core::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(v),
        Poll::Pending => {
            *suspended += 1;
            Poll::Pending
        }
    })
    .await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some((producer, consumer)) = RING.take() else {
        fail(&[S("Async<SpscRing>::take returned None the first time")]);
    };
    if RING.take().is_some() {
        fail(&[S(
            "Async<SpscRing>::take handed out a second pair of handles",
        )]);
    }
    critical_section::with(|cs| HANDOFF.borrow(cs).set(Some(producer)));

    // Cancellation: an `acquire_async` polled once (no permit: it parks its waker in
    // conkit-core's task table and marks the semaphore) and then dropped must leave
    // nothing behind — no permit taken, its table entry gone — so the consumer task's
    // own awaits below still get every permit and every wake-up.
    {
        let mut cancelled = pin!(ITEMS_READY.acquire_async());
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        if cancelled.as_mut().poll(&mut cx).is_ready() {
            fail(&[S("acquire_async was ready with no permit")]);
        }
    }
    if ITEMS_READY.value() != 0 {
        fail(&[S("a cancelled acquire_async changed the count")]);
    }

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        fail(&[S("core peripherals already taken")]);
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    // The counter starts in the task, once its first wait has parked (see there).

    spawner.spawn(consumer_task(consumer, cp.SYST).unwrap_or_else(|_| fail(&[S("spawn failed")])));
}

#[embassy_executor::task]
async fn consumer_task(
    mut consumer: AsyncConsumer<'static, u32, CAP, conkit_core::wait::Spin, 1>,
    syst: SYST,
) {
    // Phase 1: await the interrupt filling the ring until it reports `Full`. The
    // producer (`SysTick`) starts only after this wait's first poll has parked the
    // task: QEMU's virtual clock follows the host's, so on a loaded host the ticks
    // started in `main` could fill the ring before the executor first polls the task,
    // and the wait would never suspend (`0x on flags`, a false failure seen once).
    let mut flag_waits = 0;
    let phase1 = {
        let mut syst = Some(syst);
        let mut wait = pin!(counted(
            FLAGS.wait(DATA | FULL, WaitFlags::ALL_CLEAR),
            &mut flag_waits,
        ));
        core::future::poll_fn(|cx| {
            let polled = wait.as_mut().poll(cx);
            if let Some(mut syst) = syst.take() {
                syst.enable_counter();
            }
            polled
        })
        .await
    };
    match phase1 {
        Ok(seen) if seen & (DATA | FULL) == DATA | FULL => {}
        Ok(seen) => fail(&[S("wait(DATA|FULL, ALL) returned "), N(seen)]),
        Err(e) => fail(&[S("wait(DATA|FULL, ALL) failed: "), S(flags_error(e))]),
    }
    let capacity = PUSHED_BEFORE_FULL.load(Ordering::Relaxed);
    if capacity != CAP as u32 {
        fail(&[
            S("ring reported full after "),
            N(capacity),
            S(" items, capacity is "),
            N(CAP as u32),
        ]);
    }

    // Phase 2: first half through the semaphore, second half through the ring.
    let mut seen = [0u32; (ITEMS as usize).div_ceil(32)];
    let (mut received, mut duplicated, mut out_of_order, mut unit_errors) = (0u32, 0, 0, 0u32);
    let (mut sem_waits, mut ring_waits) = (0u32, 0u32);
    let mut last: Option<u32> = None;
    while received < ITEMS {
        let item = if received < ITEMS / 2 {
            counted(ITEMS_READY.acquire_async(), &mut sem_waits).await;
            match consumer.try_pop() {
                Ok(item) => item,
                Err(e) => fail(&[S("semaphore unit without an item: "), S(pop_error(e))]),
            }
        } else {
            let item = match counted(consumer.pop(), &mut ring_waits).await {
                Ok(item) => item,
                Err(e) => fail(&[S("AsyncConsumer::pop failed: "), S(pop_error(e))]),
            };
            if !ITEMS_READY.try_acquire() {
                unit_errors += 1;
            }
            item
        };
        received += 1;
        if item >= ITEMS {
            fail(&[S("item "), N(item), S(" was never produced")]);
        }
        let (word, bit) = ((item / 32) as usize, 1u32 << (item % 32));
        if seen[word] & bit != 0 {
            duplicated += 1;
        }
        seen[word] |= bit;
        if last.is_some_and(|l| item <= l) {
            out_of_order += 1;
        }
        last = Some(item);
    }
    let distinct: u32 = seen.iter().map(|w| w.count_ones()).sum();
    let lost = ITEMS - distinct;

    // Phase 3: await the producer's `DONE`; everything must be drained and consumed.
    let flags_ok = counted(FLAGS.wait_any(DONE), &mut flag_waits)
        .await
        .is_ok_and(|f| f & DONE != 0)
        && FLAGS.wait_all(DONE | DATA).await == Ok(DONE | DATA)
        && FLAGS
            .wait(DONE | DATA, WaitFlags::ANY_CLEAR)
            .await
            .is_ok_and(|f| f & (DONE | DATA) == DONE | DATA)
        && FLAGS.inner().try_wait(DONE, WaitFlags::ANY) == Err(FlagsError::WouldBlock)
        && FLAGS.get() == 0
        && FLAGS.wait(0, WaitFlags::ANY).await == Err(FlagsError::EmptyMask);
    let drained = consumer.try_pop() == Err(PopError::Empty)
        && consumer.is_empty()
        && ITEMS_READY.value() == 0
        && !ITEMS_READY.try_acquire();
    let isr_errors = ISR_ERRORS.load(Ordering::Relaxed);

    put(&[
        S("ring capacity "),
        N(capacity),
        S(" reached, producer handed back "),
        N(FULL_HITS.load(Ordering::Relaxed)),
        S(" items on Full and retried; task suspended "),
        N(sem_waits),
        S("x on acquire_async, "),
        N(ring_waits),
        S("x on pop, "),
        N(flag_waits),
        S("x on flags\n"),
    ]);
    if out_of_order != 0
        || lost != 0
        || duplicated != 0
        || !flags_ok
        || !drained
        || isr_errors != 0
        || unit_errors != 0
        || sem_waits == 0
        || ring_waits == 0
        || flag_waits == 0
    {
        fail(&[
            N(received),
            S(" received, "),
            N(out_of_order),
            S(" out of order, "),
            N(lost),
            S(" lost, "),
            N(duplicated),
            S(" duplicated, flags ok: "),
            N(flags_ok.into()),
            S(", drained: "),
            N(drained.into()),
            S(", handler errors: "),
            N(isr_errors),
            S(", items without a unit: "),
            N(unit_errors),
            S(" (a zero suspension count means that path never parked)"),
        ]);
    }
    put(&[
        S("conkit async firmware: "),
        N(received),
        S(" items in order, "),
        N(lost),
        S(" lost, "),
        N(duplicated),
        S(" duplicated, flags ok\n"),
    ]);
    debug::exit(debug::EXIT_SUCCESS);
}
