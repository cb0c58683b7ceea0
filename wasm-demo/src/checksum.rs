//! Checksums that prove a run lost and duplicated nothing.
//!
//! Every item is a `u32` id. Both ends of a queue fold the ids they moved into a
//! [`Checksum`]: the count, the wrapping sum of `mix32(id)` and the xor of `mix32(id)`.
//! `mix32` is a bijection (the MurmurHash3 finalizer, Appleby 2011), so the received
//! checksum equals the sent one only if the same multiset of ids arrived: a lost item
//! changes the count, and a lost item plus a duplicated one changes the sum and the xor
//! unless the two mixes collide in both, which has odds of about 2^-64.
//!
//! The process-style (`postMessage`) workers compute the same checksum in JavaScript
//! (`www/checksum.js`); the browser test checks both implementations agree.
//!
//! A [`Tally`] is the shared-memory slot where a worker publishes its progress while it
//! runs and its final checksum when it ends, for the page to read without blocking.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use conkit_core::CachePadded;

/// The MurmurHash3 32-bit finalizer: a bijection on `u32` that spreads every bit.
#[inline]
pub const fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^= x >> 16;
    x
}

/// What one end of a queue moved: count, wrapping sum and xor of the mixed ids.
///
/// ```
/// use conkit_wasm_demo::checksum::Checksum;
///
/// let mut sent = Checksum::new();
/// sent.add_all(&[1, 2, 3]);
/// let mut got = Checksum::new();
/// got.add(3);
/// got.add(1);
/// assert_ne!(sent, got); // 2 is missing
/// got.add(2);
/// assert_eq!(sent, got); // order does not matter
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Checksum {
    /// Items folded in.
    pub count: u64,
    /// Wrapping sum of `mix32(id)`.
    pub sum: u32,
    /// Xor of `mix32(id)`.
    pub xor: u32,
}

impl Checksum {
    /// The checksum of nothing.
    pub const fn new() -> Self {
        Self {
            count: 0,
            sum: 0,
            xor: 0,
        }
    }

    /// Folds in one id.
    #[inline]
    pub fn add(&mut self, id: u32) {
        let m = mix32(id);
        self.count += 1;
        self.sum = self.sum.wrapping_add(m);
        self.xor ^= m;
    }

    /// Folds in every id of `ids`.
    #[inline]
    pub fn add_all(&mut self, ids: &[u32]) {
        for &id in ids {
            self.add(id);
        }
    }

    /// Folds in another checksum (the checksum of the union of both multisets).
    pub fn merge(&mut self, other: Checksum) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.xor ^= other.xor;
    }
}

/// A worker's published progress and final checksum, on its own cache line.
#[derive(Debug, Default)]
pub struct Tally {
    inner: CachePadded<TallyInner>,
}

#[derive(Debug, Default)]
struct TallyInner {
    count: AtomicU64,
    sum: AtomicU32,
    xor: AtomicU32,
    done: AtomicBool,
}

impl Tally {
    /// A tally at zero, not done.
    pub const fn new() -> Self {
        Self {
            inner: CachePadded::new(TallyInner {
                count: AtomicU64::new(0),
                sum: AtomicU32::new(0),
                xor: AtomicU32::new(0),
                done: AtomicBool::new(false),
            }),
        }
    }

    /// Publishes how many items the worker has moved so far (for the rate and the fill
    /// level; a relaxed store, cheap enough once per batch).
    #[inline]
    pub fn progress(&self, count: u64) {
        self.inner.count.store(count, Ordering::Relaxed);
    }

    /// Publishes the final checksum and marks the worker done.
    pub fn finish(&self, c: Checksum) {
        self.inner.count.store(c.count, Ordering::Relaxed);
        self.inner.sum.store(c.sum, Ordering::Relaxed);
        self.inner.xor.store(c.xor, Ordering::Relaxed);
        self.inner.done.store(true, Ordering::Release);
    }

    /// Items moved so far (the last published progress).
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The final checksum, once the worker is done.
    pub fn result(&self) -> Option<Checksum> {
        if !self.inner.done.load(Ordering::Acquire) {
            return None;
        }
        Some(Checksum {
            count: self.inner.count.load(Ordering::Relaxed),
            sum: self.inner.sum.load(Ordering::Relaxed),
            xor: self.inner.xor.load(Ordering::Relaxed),
        })
    }
}

/// Merges the final checksums of `tallies`, or `None` while any of them runs.
pub fn merge_all<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Option<Checksum> {
    let mut total = Checksum::new();
    for t in tallies {
        total.merge(t.result()?);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix32_is_a_bijection_on_a_sample() {
        let mut seen = std::collections::HashSet::new();
        for x in 0..100_000u32 {
            assert!(seen.insert(mix32(x)));
        }
        assert_eq!(mix32(0), 0);
        // Known value, shared with the JavaScript implementation's test.
        assert_eq!(mix32(1), 0x514e_28b7);
    }

    #[test]
    fn loss_and_duplication_are_detected() {
        let ids: Vec<u32> = (0..1000).collect();
        let mut sent = Checksum::new();
        sent.add_all(&ids);

        let mut lost = Checksum::new();
        lost.add_all(&ids[1..]);
        assert_ne!(sent, lost);

        let mut swapped = Checksum::new();
        swapped.add_all(&ids[1..]);
        swapped.add(5); // 0 lost, 5 delivered twice: same count
        assert_eq!(swapped.count, sent.count);
        assert_ne!(sent, swapped);
    }

    #[test]
    fn merge_equals_adding_everything() {
        let mut a = Checksum::new();
        a.add_all(&[1, 2]);
        let mut b = Checksum::new();
        b.add_all(&[3]);
        a.merge(b);
        let mut all = Checksum::new();
        all.add_all(&[3, 2, 1]);
        assert_eq!(a, all);
    }

    #[test]
    fn tally_reports_only_after_finish() {
        let t = Tally::new();
        t.progress(7);
        assert_eq!(t.count(), 7);
        assert_eq!(t.result(), None);
        assert_eq!(merge_all([&t]), None);
        let mut c = Checksum::new();
        c.add(9);
        t.finish(c);
        assert_eq!(t.result(), Some(c));
        assert_eq!(merge_all([&t, &Tally::new()]), None);
    }
}
