//! Prefetch hints of the ring (see "Prefetch ahead" in the module docs of `spsc`).

/// Write-ownership prefetch where the CPU has it (x86_64 with `PREFETCHW`).
#[cfg(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri)))]
mod imp {
    use crate::atomic::{AtomicU32, Ordering};

    /// The code path exists on this target.
    pub(in crate::spsc) const ENABLED: bool = true;
    /// The cache line size assumed by the decision to prefetch.
    pub(in crate::spsc) const LINE: usize = 64;

    /// `PREFETCHW` support, detected once: 0 = not yet known, 1 = yes, 2 = no.
    ///
    /// On a cache line of its own: the producer reads it once per new line of slots,
    /// and a neighbour written by another core (the linker places statics at will, e.g.
    /// next to `critical_section`'s std mutex) would make each of those reads a miss.
    static SUPPORT: crate::CachePadded<AtomicU32> = crate::CachePadded::new(AtomicU32::new(0));

    /// `true` if this CPU implements `PREFETCHW` (CPUID leaf `0x8000_0001`, ECX bit 8;
    /// AMD64 CPUs have it, Intel ones since Broadwell).
    #[inline]
    pub(in crate::spsc) fn supported() -> bool {
        match SUPPORT.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => detect(),
        }
    }

    #[cold]
    #[inline(never)]
    fn detect() -> bool {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86_64 CPU (it faults only inside SGX enclaves,
        // excluded by the `cfg`); it reads identification registers, nothing else.
        #[allow(unused_unsafe)]
        let yes = unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
        };
        // Racing detections store the same value.
        SUPPORT.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
        yes
    }

    /// Asks for the cache line of `p` for reading (SSE, so every x86_64 CPU has it).
    #[inline(always)]
    pub(in crate::spsc) fn fetch(p: *const u8) {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 is part of SSE, which every x86_64 CPU implements; it is a
        // pure hint (no memory access in the abstract machine, no fault on any address).
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast())
        };
    }

    /// Asks for the cache line of `p` in a writable state.
    ///
    /// # Safety
    /// [`supported`] returned `true`.
    #[inline(always)]
    pub(in crate::spsc) unsafe fn claim(p: *const u8) {
        // SAFETY: the CPU implements PREFETCHW (caller). It is a pure hint: it accesses
        // no memory in the abstract machine, cannot fault on any address, and is not
        // ordered with any load, store or fence, so it changes no behavior.
        // `nomem` is exact: `p` is only an address for the hint, never dereferenced.
        #[allow(clippy::pointers_in_nomem_asm_block)]
        unsafe {
            core::arch::asm!(
                "prefetchw [{p}]",
                p = in(reg) p,
                options(nomem, nostack, preserves_flags)
            );
        }
    }
}

/// No write-ownership prefetch on this target (or under loom / Miri).
#[cfg(not(all(target_arch = "x86_64", not(target_env = "sgx"), not(loom), not(miri))))]
mod imp {
    pub(in crate::spsc) const ENABLED: bool = false;
    pub(in crate::spsc) const LINE: usize = 64;

    pub(in crate::spsc) fn supported() -> bool {
        false
    }

    pub(in crate::spsc) fn fetch(_p: *const u8) {}

    /// # Safety
    /// None needed: does nothing.
    pub(in crate::spsc) unsafe fn claim(_p: *const u8) {}
}

pub(super) use imp::{claim, fetch, supported, ENABLED, LINE};
