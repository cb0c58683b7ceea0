//! The one place where atomics are chosen.
//!
//! * `cfg(loom)`: loom's model-checked atomics and cells (run the models with
//!   `RUSTFLAGS="--cfg loom"`).
//! * feature `portable-atomic`: `portable_atomic` types, whose compare-and-swap falls back
//!   to a `critical-section` on cores without it (thumbv6m). The application provides
//!   the `critical-section` implementation; this crate never enables one.
//! * otherwise: `core::sync::atomic`.
//!
//! `AtomicU64` (the packed epoch-and-flags word of
//! [`EventFlags`](crate::event_flags::EventFlags)) is loom's, or `core`'s where the
//! target has 64-bit atomics; on cores without them (Cortex-M, RV32) it is
//! `CsAtomicU64`: a `u64` whose every operation is a short `critical-section`.
//!
//! Every module of the crate takes its atomics, its `UnsafeCell` and its spin hint from
//! here, never from `core` directly.

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

#[cfg(all(not(loom), feature = "portable-atomic"))]
#[allow(unused_imports)]
pub(crate) use portable_atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::AtomicU64;

#[cfg(all(not(loom), not(target_has_atomic = "64")))]
#[allow(unused_imports)]
pub(crate) use cs_u64::CsAtomicU64 as AtomicU64;

/// A 64-bit atomic for cores that have 32-bit atomics only (Cortex-M3/M4, RV32): every
/// operation is a load and a store inside a `critical-section`, atomic on the
/// single-core parts these targets are (and on any core with a correct
/// `critical-section` implementation). The same API subset as `core`'s `AtomicU64`.
#[cfg(all(not(loom), not(target_has_atomic = "64")))]
#[allow(dead_code)] // Only `EventFlags` uses it, which needs compare-and-swap.
mod cs_u64 {
    use core::cell::Cell;

    use super::Ordering;

    /// A `u64` whose operations run inside `critical_section::with` (see the module).
    #[derive(Debug)]
    pub(crate) struct CsAtomicU64 {
        value: critical_section::Mutex<Cell<u64>>,
    }

    impl CsAtomicU64 {
        /// Holds `value`.
        pub(crate) const fn new(value: u64) -> Self {
            Self {
                value: critical_section::Mutex::new(Cell::new(value)),
            }
        }

        /// The value (ordering: a critical section orders everything).
        pub(crate) fn load(&self, _order: Ordering) -> u64 {
            critical_section::with(|cs| self.value.borrow(cs).get())
        }

        /// Or-s `bits` in; returns the previous value.
        pub(crate) fn fetch_or(&self, bits: u64, _order: Ordering) -> u64 {
            critical_section::with(|cs| {
                let cell = self.value.borrow(cs);
                let old = cell.get();
                cell.set(old | bits);
                old
            })
        }

        /// Stores `f(value)` unless it is `None`; returns the previous value (`Ok` if
        /// stored). One critical section: never retries.
        pub(crate) fn fetch_update(
            &self,
            _set_order: Ordering,
            _fetch_order: Ordering,
            mut f: impl FnMut(u64) -> Option<u64>,
        ) -> Result<u64, u64> {
            critical_section::with(|cs| {
                let cell = self.value.borrow(cs);
                let old = cell.get();
                match f(old) {
                    Some(new) => {
                        cell.set(new);
                        Ok(old)
                    }
                    None => Err(old),
                }
            })
        }

        /// Stores `new` if the value is `current`; never fails spuriously.
        pub(crate) fn compare_exchange_weak(
            &self,
            current: u64,
            new: u64,
            _success: Ordering,
            _failure: Ordering,
        ) -> Result<u64, u64> {
            critical_section::with(|cs| {
                let cell = self.value.borrow(cs);
                let old = cell.get();
                if old == current {
                    cell.set(new);
                    Ok(old)
                } else {
                    Err(old)
                }
            })
        }
    }
}

/// The atomic word type that waiting strategies block on (see [`crate::wait::WaitStrategy`]).
///
/// It is `core::sync::atomic::AtomicU32`, or `portable_atomic::AtomicU32` with the
/// `portable-atomic` feature (or loom's under `cfg(loom)`).
pub type WaitWord = AtomicU32;

/// A hint to the CPU that we are spinning (a `yield` under loom so models terminate).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// `UnsafeCell` with loom's closure API, so the same code runs under loom and natively.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `UnsafeCell` with loom's closure API, so the same code runs under loom and natively.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
    /// Gives the closure a shared raw pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    /// Gives the closure a mutable raw pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
    /// Consumes the cell.
    #[inline]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// Declares a constructor that is `const fn` natively and a plain `fn` under loom
/// (loom's atomics have no `const fn new`).
///
/// ```ignore
/// maybe_const_fn! {
///     /// Docs.
///     pub fn new() -> Self { Self { n: AtomicU32::new(0) } }
/// }
/// ```
macro_rules! maybe_const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:tt),*>)? ($($args:tt)*) -> $ret:ty $body:block) => {
        $(#[$m])*
        #[cfg(not(loom))]
        $vis const fn $name $(<$($g),*>)? ($($args)*) -> $ret $body
        $(#[$m])*
        #[cfg(loom)]
        $vis fn $name $(<$($g),*>)? ($($args)*) -> $ret $body
    };
}
pub(crate) use maybe_const_fn;

/// `fetch_add` on a word that may live on a core without read-modify-write atomics.
///
/// With native 32-bit RMW (or `portable-atomic`, or loom) this is `fetch_add`. On cores
/// with only atomic loads and stores (thumbv6m without the `portable-atomic` feature) it
/// is a load and a store inside a `critical-section`, which is atomic on the single-core
/// parts such targets are. Only the slow paths of [`crate::wait::Waiters`] use it, so the
/// wait-free SPSC ring keeps its blocking forms on those cores.
#[inline]
pub(crate) fn counter_add(word: &AtomicU32, delta: u32, order: Ordering) -> u32 {
    #[cfg(any(loom, feature = "portable-atomic", target_has_atomic = "32"))]
    {
        word.fetch_add(delta, order)
    }
    #[cfg(not(any(loom, feature = "portable-atomic", target_has_atomic = "32")))]
    {
        let _ = order;
        critical_section::with(|_| {
            let old = word.load(Ordering::Acquire);
            word.store(old.wrapping_add(delta), Ordering::Release);
            old
        })
    }
}

/// `fetch_update` (a compare-and-swap loop, `order` on success, `Relaxed` loads) on a
/// word that may live on a core without read-modify-write atomics, where it is a load
/// and a store inside a `critical-section` (see [`counter_add`]). Returns the previous
/// value: `Ok` if `f` gave a new one (stored), `Err` if `f` returned `None`.
#[inline]
pub(crate) fn word_update(
    word: &AtomicU32,
    order: Ordering,
    f: impl FnMut(u32) -> Option<u32>,
) -> Result<u32, u32> {
    #[cfg(any(loom, feature = "portable-atomic", target_has_atomic = "32"))]
    {
        word.fetch_update(order, Ordering::Relaxed, f)
    }
    #[cfg(not(any(loom, feature = "portable-atomic", target_has_atomic = "32")))]
    {
        let (_, mut f) = (order, f);
        critical_section::with(|_| {
            let old = word.load(Ordering::Acquire);
            match f(old) {
                Some(new) => {
                    word.store(new, Ordering::Release);
                    Ok(old)
                }
                None => Err(old),
            }
        })
    }
}

/// `count.fetch_add(1, SeqCst)` followed by `fence(SeqCst)`: a task that counts itself
/// as a waiter after registering its waker, so that the one fence orders both (the
/// count and the registration) before its last look (`RingQueue`'s async forms). On x86
/// and x86-64 it is one `lock add` instruction, for the reasons given at
/// [`or_then_fence`]; elsewhere (and under loom and miri) the pair.
#[cfg(feature = "async")]
#[inline]
pub(crate) fn add_then_fence(count: &AtomicUsize) {
    rmw_fence::add_then_fence(count);
}

/// `word.fetch_or(bits, SeqCst)` followed by `fence(SeqCst)`: the announcing half of a
/// Dekker pair (set a flag, then look at the other side), e.g. the `TASKS` bit of
/// [`crate::wait::Waiters`].
///
/// On x86 and x86-64 it is one `lock or` instruction. That is the instruction LLVM emits
/// for each half (`fetch_or(SeqCst)` with the result unused, and `fence(SeqCst)`, which
/// it lowers to a `lock or` on the stack), and a locked instruction is a full barrier:
/// no load or store is reordered across it (Intel SDM vol. 3A §9.2.2, "Locked
/// instructions have a total order", "Reads or writes cannot be reordered with ...
/// locked instructions"; AMD APM vol. 2 §7.4.2). So the single instruction does all the
/// compiled pair does, and the second `lock` (about 5 ns here) is saved. The `asm!`
/// block is also a compiler barrier (no `nomem`/`readonly`): nothing is moved across
/// it. Elsewhere (and under loom and miri, which model the two halves) it is the pair.
#[cfg(feature = "async")]
#[inline]
pub(crate) fn or_then_fence(word: &AtomicU32, bits: u32) {
    rmw_fence::or_then_fence(word, bits);
}

/// The forms of [`add_then_fence`] and [`or_then_fence`]: one locked instruction each on
/// x86 / x86-64 (native atomics, not under loom or miri).
#[cfg(all(
    feature = "async",
    not(loom),
    not(miri),
    not(feature = "portable-atomic"),
    any(target_arch = "x86", target_arch = "x86_64")
))]
mod rmw_fence {
    use super::{AtomicU32, AtomicUsize};

    /// `lock add [count], 1`.
    #[inline(always)]
    pub(super) fn add_then_fence(count: &AtomicUsize) {
        // SAFETY: `count.as_ptr()` points to a live, aligned `usize` that is only ever
        // accessed atomically (it is an atomic); a `lock`-prefixed read-modify-write is
        // an atomic access on x86, so it races with nothing.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            core::arch::asm!(
                "lock add qword ptr [{count}], 1",
                count = in(reg) count.as_ptr(),
                options(nostack),
            );
            #[cfg(target_arch = "x86")]
            core::arch::asm!(
                "lock add dword ptr [{count}], 1",
                count = in(reg) count.as_ptr(),
                options(nostack),
            );
        }
    }

    /// `lock or [word], bits`.
    #[inline(always)]
    pub(super) fn or_then_fence(word: &AtomicU32, bits: u32) {
        // SAFETY: as in `add_then_fence`: `word` is a live, aligned, only atomically
        // accessed `u32`, and a `lock`-prefixed read-modify-write is an atomic access.
        unsafe {
            core::arch::asm!(
                "lock or dword ptr [{word}], {bits:e}",
                word = in(reg) word.as_ptr(),
                bits = in(reg) bits,
                options(nostack),
            );
        }
    }
}

/// The forms of [`add_then_fence`] and [`or_then_fence`] everywhere else: the
/// read-modify-write, then `fence(SeqCst)`.
#[cfg(all(
    feature = "async",
    not(all(
        not(loom),
        not(miri),
        not(feature = "portable-atomic"),
        any(target_arch = "x86", target_arch = "x86_64")
    ))
))]
mod rmw_fence {
    use super::{fence, word_update, AtomicU32, AtomicUsize, Ordering};

    /// `fetch_add(1, SeqCst)`, then the fence.
    #[inline(always)]
    pub(super) fn add_then_fence(count: &AtomicUsize) {
        count.fetch_add(1, Ordering::SeqCst);
        // Mutant (see `cargo xtask test`'s mutant table): the park's fence is left out.
        if !cfg!(conkit_mutant = "waiters_park_unfenced") {
            fence(Ordering::SeqCst);
        }
    }

    /// `fetch_or(bits, SeqCst)` (a [`word_update`]), then the fence.
    #[inline(always)]
    pub(super) fn or_then_fence(word: &AtomicU32, bits: u32) {
        let _ = word_update(word, Ordering::SeqCst, |s| Some(s | bits));
        // Mutant (see `cargo xtask test`'s mutant table): the fence is left out, so a
        // later look may be ordered before the flag (the loom models must catch it).
        if !cfg!(conkit_mutant = "or_then_fence_no_fence") {
            fence(Ordering::SeqCst);
        }
    }
}
