//! The `critical-section` implementation of the browser build (wasm only): a spin lock
//! with a per-thread owner token, so a nested `critical_section::with` on the same
//! thread passes through.
//!
//! conkit-core's async front ends keep their waker sets under `critical-section`, and
//! both sides of the async demo take it: the producer worker (`push_slice` wakes the
//! parked task) and the page's main thread (`pop().await` parks its waker). The
//! `std` implementation of the `critical-section` crate is a `std::sync::Mutex`, which
//! sleeps in `memory.atomic.wait32` under contention — a trap on the main thread. A spin
//! lock never sleeps; the sections it guards are a few instructions (swap a waker in or
//! out; wakers run outside), so spinning is bounded in practice.
//!
//! Reference: the `critical-section` crate's `Impl` contract (acquire/release pairs,
//! nesting through the restore state; here `restore-state-bool`: `true` = this call took
//! the lock and its `release` frees it).

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

/// The token of the thread holding the lock; 0 = free.
static OWNER: AtomicU32 = AtomicU32::new(0);
/// Hands out thread tokens (from 1).
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

std::thread_local! {
    /// This thread's token (0 until it first takes the lock).
    static TOKEN: Cell<u32> = const { Cell::new(0) };
}

fn my_token() -> u32 {
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TOKEN.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

struct SpinSection;
critical_section::set_impl!(SpinSection);

// SAFETY: mutual exclusion between threads: only the thread that swung `OWNER` from 0
// to its token (Acquire) is inside, until its outermost `release` stores 0 (Release);
// a nested `acquire` on the owning thread returns `false` and its `release` leaves the
// lock alone, so the outermost pair delimits the section. Tokens are unique per thread
// (a counter), never 0.
unsafe impl critical_section::Impl for SpinSection {
    unsafe fn acquire() -> bool {
        let me = my_token();
        if OWNER.load(Ordering::Relaxed) == me {
            return false;
        }
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        true
    }

    unsafe fn release(took: bool) {
        if took {
            OWNER.store(0, Ordering::Release);
        }
    }
}
