//! What both firmware variants share: output over semihosting without `core::fmt`
//! ([`put`]), failing the run ([`fail`], the panic handler), and the names of the
//! errors they print. Included by `src/main.rs` (blocking) and `src/bin/async.rs`
//! (embassy) with `mod common;` / `#[path]`.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

use conkit_core::event_flags::FlagsError;
use conkit_core::spsc::PopError;
use cortex_m_semihosting::{debug, hio};

/// `counter += 1` for a counter only the interrupt handler writes.
pub fn bump(counter: &AtomicU32) -> u32 {
    let old = counter.load(Ordering::Relaxed);
    counter.store(old + 1, Ordering::Relaxed);
    old
}

/// A piece of a line of output.
pub enum Out<'a> {
    /// Text.
    S(&'a str),
    /// A number, in decimal.
    N(u32),
}
pub use Out::{N, S};

/// Writes `parts` to the host's stdout (semihosting), without `core::fmt`.
pub fn put(parts: &[Out]) {
    let Ok(mut out) = hio::hstdout() else {
        return;
    };
    for part in parts {
        let _ = match part {
            S(s) => out.write_all(s.as_bytes()),
            N(n) => {
                // Decimal digits by subtracting powers of ten: no division, which
                // Cortex-M0 lacks (its software division routine alone is ~400 B).
                let (mut v, mut digits, mut len) = (*n, [0u8; 10], 0);
                for (k, p) in [
                    1_000_000_000,
                    100_000_000,
                    10_000_000,
                    1_000_000,
                    100_000,
                    10_000,
                    1_000,
                    100,
                    10,
                    1,
                ]
                .into_iter()
                .enumerate()
                {
                    let mut d = b'0';
                    while v >= p {
                        v -= p;
                        d += 1;
                    }
                    // Leading zeros are overwritten; the last digit always stays.
                    if d != b'0' || len > 0 || k == 9 {
                        if let Some(slot) = digits.get_mut(len) {
                            *slot = d;
                        }
                        len += 1;
                    }
                }
                out.write_all(digits.get(..len).unwrap_or(&digits))
            }
        };
    }
}

/// Prints why the run failed and exits QEMU with a failure status.
pub fn fail(what: &[Out]) -> ! {
    put(&[S("conkit firmware: FAILED: ")]);
    put(what);
    put(&[S("\n")]);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A panic fails the run like any failed check: it prints where it happened (the
/// message would need `core::fmt`) and exits QEMU with a failure status.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    match info.location() {
        Some(at) => fail(&[S("panic at "), S(at.file()), S(":"), N(at.line())]),
        None => fail(&[S("panic")]),
    }
}

pub fn pop_error(e: PopError) -> &'static str {
    match e {
        PopError::Empty => "Empty",
        PopError::Disconnected => "Disconnected",
    }
}

pub fn flags_error(e: FlagsError) -> &'static str {
    match e {
        FlagsError::EmptyMask => "EmptyMask",
        FlagsError::WouldBlock => "WouldBlock",
        FlagsError::Timeout => "Timeout",
    }
}
