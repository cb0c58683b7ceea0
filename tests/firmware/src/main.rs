//! conkit-core in firmware: an interrupt handler feeds the main loop through conkit's
//! primitives, with no allocator and no OS. Runs under QEMU on a Cortex-M3
//! (`lm3s6965evb`, thumbv7m) and on a Cortex-M0 without compare-and-swap (`microbit`,
//! thumbv6m, conkit-core's `portable-atomic` feature); `cargo xtask firmware` runs both.
//!
//! * `SysTick` (the producer) pushes sequence numbers `0..ITEMS` into a `static`
//!   [`SpscRing`] with `try_push` (never waits: legal in an interrupt). When the ring is
//!   full the push hands the item back (`PushError::Full(v)`); the handler keeps it and
//!   retries on the next tick, so nothing is ever dropped. Per item it releases a
//!   counting [`Semaphore`] and sets the `DATA` event flag; when it first finds the ring
//!   full it sets `FULL`; after the last item it sets `DONE`.
//! * `main` (the consumer) first waits until the ring has filled up
//!   (`wait(DATA | FULL, ALL_CLEAR)`), which proves the usable capacity is exactly `CAP`,
//!   then takes one semaphore unit per item (blocking `acquire`, default `Spin`
//!   strategy), pops the item, and checks every number arrived exactly once and in
//!   order. Finally it waits for `DONE` (`wait_any`, `wait_all`, then `ANY_CLEAR`) and
//!   checks that ring, semaphore and flags are all empty.
//!
//! The result goes out over semihosting; the exit status tells QEMU's caller
//! (`cargo xtask firmware`) whether every check passed.
//!
//! Size: the program prints through [`put`] (strings and decimal `u32`s written with
//! semihosting directly) and its panic handler prints the panic's location, not its
//! message, so `core::fmt` (~2.5 KB of `.text`: `fmt::write`, padding, integer
//! formatting, `Debug` impls) is not linked; nothing on the checked path can panic
//! (no `RefCell`, no unchecked indexing), and a panic still fails the run (exit status
//! 1, as with `panic-semihosting`).
#![no_std]
#![no_main]

mod common;

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

use common::{bump, fail, flags_error, pop_error, put, N, S};
use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
use conkit_core::semaphore::Semaphore;
use conkit_core::spsc::{PopError, Producer, PushError, SpscRing};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug;
use critical_section::Mutex;

/// Items the interrupt produces.
const ITEMS: u32 = 1000;
/// Ring capacity.
const CAP: usize = 16;
/// SysTick reload value: a tick every `RELOAD + 1` core cycles, so the whole run takes
/// well under a second in QEMU.
const RELOAD: u32 = 1_000;

/// Event flag: at least one item was pushed.
const DATA: u32 = 1 << 0;
/// Event flag: the producer found the ring full (and kept its item).
const FULL: u32 = 1 << 1;
/// Event flag: the last item was pushed.
const DONE: u32 = 1 << 2;

static RING: SpscRing<u32, CAP> = SpscRing::new();
/// One unit per item in the ring.
static ITEMS_READY: Semaphore = Semaphore::new(0);
static FLAGS: EventFlags = EventFlags::new();

/// Hands the producer from `main` to the interrupt handler, which moves it into its own
/// state on its first run; after that only the handler touches it.
static HANDOFF: Mutex<Cell<Option<Producer<'static, u32, CAP>>>> = Mutex::new(Cell::new(None));

// Statistics written only by the handler (plain load + store, so they also work on
// thumbv6m, which has no atomic read-modify-write) and read by `main`.
/// Items pushed before the first `Full`.
static PUSHED_BEFORE_FULL: AtomicU32 = AtomicU32::new(0);
/// How many times `try_push` found the ring full and handed the item back.
static FULL_HITS: AtomicU32 = AtomicU32::new(0);
/// Errors seen by the handler (wrong item handed back, semaphore release failed).
static ISR_ERRORS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    // State owned by this handler alone (cortex-m-rt hands out `&mut` to these).
    static mut PRODUCER: Option<Producer<'static, u32, CAP>> = None;
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
        // `main` never drops its consumer.
        Err(PushError::Disconnected(_)) => {
            bump(&ISR_ERRORS);
        }
    }
}

#[entry]
fn main() -> ! {
    let Some((producer, mut consumer)) = RING.take() else {
        fail(&[S("SpscRing::take returned None the first time")]);
    };
    if RING.take().is_some() {
        fail(&[S("SpscRing::take handed out a second pair of handles")]);
    }
    critical_section::with(|cs| HANDOFF.borrow(cs).set(Some(producer)));

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        fail(&[S("core peripherals already taken")]);
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    // Phase 1: let the interrupt fill the ring until it reports `Full`.
    match FLAGS.wait(DATA | FULL, WaitFlags::ALL_CLEAR) {
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

    // Phase 2: one semaphore unit per item; check each arrives once, in order.
    let mut seen = [0u32; (ITEMS as usize).div_ceil(32)];
    let (mut received, mut duplicated, mut out_of_order) = (0u32, 0u32, 0u32);
    let mut last: Option<u32> = None;
    while received < ITEMS {
        ITEMS_READY.acquire();
        let item = match consumer.try_pop() {
            Ok(item) => item,
            Err(e) => fail(&[S("semaphore unit without an item: "), S(pop_error(e))]),
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

    // Phase 3: the producer said it is done; everything must be drained and the
    // flags consumed.
    let flags_ok = FLAGS.wait_any(DONE).is_ok_and(|f| f & DONE != 0)
        && FLAGS.wait_all(DONE | DATA) == Ok(DONE | DATA)
        && FLAGS
            .wait(DONE | DATA, WaitFlags::ANY_CLEAR)
            .is_ok_and(|f| f & (DONE | DATA) == DONE | DATA)
        && FLAGS.try_wait(DONE, WaitFlags::ANY) == Err(FlagsError::WouldBlock)
        && FLAGS.get() == 0
        && FLAGS.wait(0, WaitFlags::ANY) == Err(FlagsError::EmptyMask);
    let drained = consumer.try_pop() == Err(PopError::Empty)
        && consumer.is_empty()
        && ITEMS_READY.value() == 0
        && !ITEMS_READY.try_acquire();
    let isr_errors = ISR_ERRORS.load(Ordering::Relaxed);
    cp.SYST.disable_interrupt();

    put(&[
        S("ring capacity "),
        N(capacity),
        S(" reached, producer handed back "),
        N(FULL_HITS.load(Ordering::Relaxed)),
        S(" items on Full and retried\n"),
    ]);
    if out_of_order != 0 || lost != 0 || duplicated != 0 || !flags_ok || !drained || isr_errors != 0
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
        ]);
    }
    put(&[
        S("conkit firmware: "),
        N(received),
        S(" items in order, "),
        N(lost),
        S(" lost, "),
        N(duplicated),
        S(" duplicated, flags ok\n"),
    ]);
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}
