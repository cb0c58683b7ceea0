//! Unit tests of the wasm waiting strategy and the worker glue that must run in a real
//! browser (wasm only). `www/tests.html` calls them (the headless browser test opens
//! that page) and reports each check by name; a failed check is a `JsError`.
//!
//! * [`selftest_main_thread`]: on the page's main thread, where blocking is forbidden.
//! * [`selftest_worker`]: in a worker, where `memory.atomic.wait32` really sleeps.
//! * [`selftest_sleep`] (worker) + [`selftest_sleepers`] / [`selftest_wake`] (main):
//!   a worker sleeps in `conkit_core::wait::Waiters<WasmAtomics>`; the page sees it
//!   asleep, wakes it, and the worker reports it was woken (not timed out).
//! * [`selftest_await_permits`] (main) + [`selftest_release_permits`] (worker): a task
//!   on the main thread awaits a plain core `Semaphore` (`acquire_async`) that a worker
//!   releases through the ordinary blocking API.

use core::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use conkit_core::event_flags::{EventFlags, FlagsError, WaitFlags};
use conkit_core::semaphore::Semaphore;
use conkit_core::wait::{Deadline, WaitOutcome, WaitStrategy, Waiters};
use wasm_bindgen::prelude::*;

use crate::registry::{self, TaskError};
use crate::wait::{can_block, mark_worker_thread, now_ms, WasmAtomics, WasmDeadline};

/// Collects passed check names; the first failure ends the run with its message.
struct Checks(Vec<String>);

impl Checks {
    fn check(
        &mut self,
        name: &str,
        ok: bool,
        detail: impl FnOnce() -> String,
    ) -> Result<(), JsError> {
        if ok {
            self.0.push(name.to_owned());
            Ok(())
        } else {
            Err(JsError::new(&format!("{name}: {}", detail())))
        }
    }
}

/// Checks on the main thread; returns the names of the passed checks.
#[wasm_bindgen]
pub fn selftest_main_thread() -> Result<Vec<String>, JsError> {
    let mut c = Checks(Vec::new());
    c.check("main_thread_cannot_block", !can_block(), || {
        "the main thread was marked as a worker".into()
    })?;

    let word = AtomicU32::new(0);
    let t0 = now_ms();
    let outcome = WasmAtomics::wait(&word, 0, None);
    let spent = now_ms() - t0;
    c.check(
        "main_thread_wait_spins_and_returns",
        outcome == WaitOutcome::Woken && spent < 1000.0,
        || format!("{outcome:?} after {spent} ms"),
    )?;

    let passed = WasmAtomics::wait(&word, 0, Some(WasmDeadline::at_ms(0.0)));
    c.check(
        "passed_deadline_times_out_on_main_thread",
        passed == WaitOutcome::TimedOut,
        || format!("{passed:?}"),
    )?;

    // No sleeper: notify is a no-op, and legal on the main thread.
    WasmAtomics::wake_one(&word);
    WasmAtomics::wake_all(&word);
    c.check("wake_is_legal_on_main_thread", true, String::new)?;

    let a = now_ms();
    let d = WasmDeadline::after_ms(10_000.0);
    let b = now_ms();
    c.check(
        "clock_is_monotonic_and_deadlines_are_in_the_future",
        b >= a && !d.has_passed() && d.remaining_ms() <= 10_000.0,
        || format!("{a} {b} {}", d.remaining_ms()),
    )?;

    let refused = crate::bindings::run_task(0, 0).is_err();
    c.check("run_task_refuses_the_main_thread", refused, || {
        "run_task accepted the main thread".into()
    })?;

    let unknown = registry::take_task(u32::MAX, 0).err();
    c.check(
        "unknown_run_is_an_error",
        unknown == Some(TaskError::UnknownRun(u32::MAX)),
        || format!("{unknown:?}"),
    )?;
    Ok(c.0)
}

/// Checks in a worker (call it from a worker); returns the names of the passed checks.
#[wasm_bindgen]
pub fn selftest_worker() -> Result<Vec<String>, JsError> {
    let mut c = Checks(Vec::new());
    mark_worker_thread();
    c.check("worker_can_block", can_block(), || "not marked".into())?;

    let word = AtomicU32::new(1);
    let t0 = now_ms();
    let o = WasmAtomics::wait(&word, 0, None);
    let spent = now_ms() - t0;
    c.check(
        "changed_value_returns_at_once",
        o == WaitOutcome::Woken && spent < 1000.0,
        || format!("{o:?} after {spent} ms"),
    )?;

    let t0 = now_ms();
    let deadline = WasmDeadline::after_ms(30.0);
    let o = WasmAtomics::wait(&word, 1, Some(deadline));
    let spent = now_ms() - t0;
    // Tolerant bounds: never before the deadline, within a few seconds.
    c.check(
        "timed_wait_sleeps_until_the_deadline",
        o == WaitOutcome::TimedOut && deadline.has_passed() && (29.0..5000.0).contains(&spent),
        || format!("{o:?} after {spent} ms"),
    )?;

    let o = WasmAtomics::wait(&word, 1, Some(WasmDeadline::at_ms(0.0)));
    c.check(
        "passed_deadline_times_out_at_once",
        o == WaitOutcome::TimedOut,
        || format!("{o:?}"),
    )?;

    let sem: Semaphore<WasmAtomics> = Semaphore::new(0);
    let t0 = now_ms();
    let got = sem.acquire_until(WasmDeadline::after_ms(20.0));
    let spent = now_ms() - t0;
    c.check(
        "semaphore_acquire_until_times_out",
        !got && (19.0..5000.0).contains(&spent),
        || format!("{got} after {spent} ms"),
    )?;
    let _ = sem.release();
    c.check(
        "semaphore_acquire_until_succeeds_with_a_permit",
        sem.acquire_until(WasmDeadline::after_ms(20.0)),
        || "no permit".into(),
    )?;

    let flags: EventFlags<WasmAtomics> = EventFlags::new();
    let r = flags.wait_until(0b1, WaitFlags::ANY, WasmDeadline::after_ms(20.0));
    c.check(
        "event_flags_wait_until_times_out",
        r == Err(FlagsError::Timeout),
        || format!("{r:?}"),
    )?;
    flags.set(0b1);
    let r = flags.wait_until(0b1, WaitFlags::ANY_CLEAR, WasmDeadline::after_ms(20.0));
    c.check(
        "event_flags_wait_sees_a_set_flag_and_clears_it",
        r == Ok(0b1) && flags.get() == 0,
        || format!("{r:?}"),
    )?;
    Ok(c.0)
}

static WAKE: Waiters<WasmAtomics> = Waiters::new();
static WOKEN: AtomicBool = AtomicBool::new(false);

/// Worker: sleeps in `Waiters<WasmAtomics>` until [`selftest_wake`] or `timeout_ms`;
/// returns the milliseconds slept, or an error if it timed out.
#[wasm_bindgen]
pub fn selftest_sleep(timeout_ms: f64) -> Result<f64, JsError> {
    mark_worker_thread();
    let t0 = now_ms();
    let woken = WAKE.wait_until(Some(WasmDeadline::after_ms(timeout_ms)), || {
        WOKEN.swap(false, Ordering::AcqRel).then_some(())
    });
    let spent = now_ms() - t0;
    match woken {
        Some(()) => Ok(spent),
        None => Err(JsError::new(&format!("not woken within {spent} ms"))),
    }
}

/// Main thread: how many threads sleep in the self-test's waiters now.
#[wasm_bindgen]
pub fn selftest_sleepers() -> u32 {
    WAKE.sleepers()
}

/// Main thread: wakes the worker sleeping in [`selftest_sleep`].
#[wasm_bindgen]
pub fn selftest_wake() {
    WOKEN.store(true, Ordering::Release);
    WAKE.notify_all();
}

/// The semaphore of the "main thread awaits a plain primitive" check.
static PERMITS: Semaphore<WasmAtomics> = Semaphore::new(0);

/// Main thread: a task (`wasm-bindgen-futures`) takes `n` permits of a plain core
/// `Semaphore<WasmAtomics>` with `acquire_async` — the primitive's own async form: the
/// task parks its waker in conkit-core's table and sets the semaphore's "tasks parked"
/// bit, so a worker's ordinary blocking-API `release()` wakes it (through
/// `Atomics.waitAsync` on the task's word). The promise resolves to how often the task
/// suspended (polled `Pending`, then woken).
#[wasm_bindgen]
pub fn selftest_await_permits(n: u32) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let mut suspended = 0u32;
        for _ in 0..n {
            let mut acquire = core::pin::pin!(PERMITS.acquire_async());
            core::future::poll_fn(|cx| {
                let p = acquire.as_mut().poll(cx);
                if p.is_pending() {
                    suspended += 1;
                }
                p
            })
            .await;
        }
        Ok(JsValue::from(suspended))
    })
}

/// Worker: releases `n` permits of [`selftest_await_permits`]' semaphore with the plain
/// (non-async) `release`, sleeping `gap_ms` before each, so the main thread's task is
/// parked each time.
#[wasm_bindgen]
pub fn selftest_release_permits(n: u32, gap_ms: f64) -> Result<(), JsError> {
    mark_worker_thread();
    let word = AtomicU32::new(0);
    for _ in 0..n {
        // Nobody changes `word`: a plain sleep of `gap_ms`.
        let _ = WasmAtomics::wait(&word, 0, Some(WasmDeadline::after_ms(gap_ms)));
        PERMITS
            .release()
            .map_err(|e| JsError::new(&format!("release: {e:?}")))?;
    }
    Ok(())
}

/// Main thread: permits left in [`selftest_await_permits`]' semaphore.
#[wasm_bindgen]
pub fn selftest_permits_left() -> u32 {
    PERMITS.value()
}
