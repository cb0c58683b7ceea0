//! `WasmAtomics`: the waiting strategy of web workers, built on the WebAssembly threads
//! proposal's `memory.atomic.wait32` / `memory.atomic.notify` (the same futex contract
//! as Linux's `futex(2)`; the design follows parking_lot's
//! `thread_parker/wasm_atomic.rs`).
//!
//! * `wait` sleeps in `memory.atomic.wait32(word, expected, timeout)`, which atomically
//!   checks that `word` still holds `expected` before sleeping, so a wake issued after
//!   the caller's check is never lost.
//! * `wake_one` / `wake_all` are `memory.atomic.notify(word, 1 | u32::MAX)`.
//!
//! **The page's main thread must never block**: browsers forbid `Atomics.wait` there
//! (the instruction traps). A thread may sleep only after [`mark_worker_thread`] (the
//! worker glue calls it when a worker starts); on any other thread `wait` degrades to
//! the bounded spin of `conkit_core::wait::Spin` and returns for the caller to re-check,
//! which keeps a stray blocking call on the main thread correct (callers loop) instead
//! of crashing the page. Waking is allowed everywhere, so the main thread can start,
//! pause and stop workers through event flags.
//!
//! Time: [`WasmDeadline`] is a point on the page's shared clock,
//! `performance.timeOrigin + performance.now()` in milliseconds (each worker's
//! `performance.now()` has its own origin; adding it makes deadlines comparable across
//! threads).

use core::arch::wasm32::{memory_atomic_notify, memory_atomic_wait32};
use core::cell::Cell;

use conkit_core::wait::{Deadline, Spin, WaitOutcome, WaitStrategy};
use conkit_core::WaitWord;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::run::Clocked;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(thread_local_v2, js_namespace = performance, js_name = timeOrigin)]
    static TIME_ORIGIN: f64;
}

std::thread_local! {
    /// Whether this thread is a worker that may sleep in `memory.atomic.wait32`.
    static CAN_BLOCK: Cell<bool> = const { Cell::new(false) };
}

/// Allows the calling thread to sleep in [`WasmAtomics::wait`]. Call it once at the
/// start of every web worker; never on the page's main thread.
pub fn mark_worker_thread() {
    CAN_BLOCK.with(|c| c.set(true));
}

/// Whether [`mark_worker_thread`] was called on this thread.
pub fn can_block() -> bool {
    CAN_BLOCK.with(Cell::get)
}

/// Milliseconds on the page's shared clock (`performance.timeOrigin + performance.now()`).
pub fn now_ms() -> f64 {
    TIME_ORIGIN.with(|origin| *origin) + performance_now()
}

/// A point in time on the page's shared clock, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct WasmDeadline {
    at_ms: f64,
}

impl WasmDeadline {
    /// The deadline `ms` milliseconds from now.
    pub fn after_ms(ms: f64) -> Self {
        Self {
            at_ms: now_ms() + ms,
        }
    }

    /// The deadline at `at_ms` on the shared clock (see [`now_ms`]).
    pub const fn at_ms(at_ms: f64) -> Self {
        Self { at_ms }
    }

    /// Milliseconds left (`<= 0` once passed).
    pub fn remaining_ms(&self) -> f64 {
        self.at_ms - now_ms()
    }
}

impl Deadline for WasmDeadline {
    fn has_passed(&self) -> bool {
        self.remaining_ms() <= 0.0
    }
}

/// Sleeps in `memory.atomic.wait32` (web workers), spins elsewhere (see the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct WasmAtomics;

impl WaitStrategy for WasmAtomics {
    type Deadline = WasmDeadline;
    type SlotOwner = conkit_core::wait::Unrecorded;

    fn wait(word: &WaitWord, expected: u32, deadline: Option<WasmDeadline>) -> WaitOutcome {
        if !can_block() {
            return Spin::<WasmDeadline>::wait(word, expected, deadline);
        }
        let timeout_ns: i64 = match deadline {
            None => -1,
            Some(d) => {
                let left = d.remaining_ms();
                if left <= 0.0 {
                    return WaitOutcome::TimedOut;
                }
                // `as` saturates; at least 1 ns so we never pass "forever" (-1).
                ((left * 1e6) as i64).max(1)
            }
        };
        // SAFETY: `word` is a live, 4-byte aligned atomic (a reference guarantees it) in
        // the module's linear memory, which is shared (this module is built with
        // `+atomics` and `--shared-memory`), and this thread is a worker that may block
        // (`can_block`): the two conditions under which the instruction does not trap.
        let r = unsafe {
            memory_atomic_wait32(word.as_ptr().cast::<i32>(), expected as i32, timeout_ns)
        };
        match r {
            // 0: woken; 1: `word != expected` already.
            0 | 1 => WaitOutcome::Woken,
            // 2: timed out; the float clock may disagree by a hair, and the contract
            // allows `TimedOut` only once the deadline has passed.
            _ => match deadline {
                Some(d) if d.has_passed() => WaitOutcome::TimedOut,
                _ => WaitOutcome::Woken,
            },
        }
    }

    fn wake_one(word: &WaitWord) {
        // SAFETY: `word` is a live, aligned atomic in the module's shared memory;
        // `notify` never blocks and is allowed on every thread, main thread included.
        unsafe { memory_atomic_notify(word.as_ptr().cast::<i32>(), 1) };
    }

    fn wake_all(word: &WaitWord) {
        // SAFETY: as in `wake_one`.
        unsafe { memory_atomic_notify(word.as_ptr().cast::<i32>(), u32::MAX) };
    }
}

impl Clocked for WasmAtomics {
    fn deadline_after_ms(ms: f64) -> WasmDeadline {
        WasmDeadline::after_ms(ms)
    }
}
