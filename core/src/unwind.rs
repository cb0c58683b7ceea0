//! Keeping shared state consistent when user code panics.
//!
//! [`OnDrop`] runs a clean-up when a scope ends, also when it unwinds;
//! [`drop_each`] drops a sequence of items to the end even when one of the drops
//! panics (an immediate queue shutdown).

/// Runs its closure when dropped: at the end of the scope, or while unwinding.
/// [`core::mem::forget`] it to skip the closure.
pub(crate) struct OnDrop<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> Drop for OnDrop<F> {
    #[inline]
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Takes items from `next` until it returns `None` and drops each of them, going on when
/// a drop panics; the panic then reaches the caller after the last item.
///
/// * With the `std` feature every drop runs under `catch_unwind`: all items are dropped
///   whatever their drops do, and the first panic is resumed at the end (the later
///   ones were reported by the panic hook and are discarded, as Python reports and
///   ignores exceptions raised in `__del__`).
/// * Without it (`no_std` has no `catch_unwind`), a panicking drop unwinds through a
///   guard that drops the remaining items during the unwind. A second panicking drop
///   during that unwind aborts the process, as it does in any Rust container (e.g. a
///   `Vec` whose items panic when dropped).
///
/// `next` runs the caller's accounting (it is called once per item, before the drop);
/// if `next` itself panics, that panic propagates at once.
pub(crate) fn drop_each<T>(mut next: impl FnMut() -> Option<T>) {
    #[cfg(feature = "std")]
    {
        use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
        let mut first = None;
        while let Some(item) = next() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(item))) {
                match first {
                    None => first = Some(payload),
                    // A payload's own drop may panic too (in theory): contain it.
                    Some(_) => drop(catch_unwind(AssertUnwindSafe(move || drop(payload)))),
                }
            }
        }
        if let Some(payload) = first {
            resume_unwind(payload);
        }
    }
    #[cfg(not(feature = "std"))]
    drop_rest(&mut next);
}

/// The `no_std` form of [`drop_each`]: a guard drops the rest if a drop unwinds.
#[cfg(not(feature = "std"))]
fn drop_rest<T, F: FnMut() -> Option<T>>(next: &mut F) {
    /// Drops the remaining items when a drop unwinds past it.
    struct Rest<'a, T, F: FnMut() -> Option<T>>(&'a mut F, core::marker::PhantomData<T>);

    impl<T, F: FnMut() -> Option<T>> Drop for Rest<'_, T, F> {
        fn drop(&mut self) {
            drop_rest(self.0);
        }
    }

    while let Some(item) = next() {
        let rest = Rest(&mut *next, core::marker::PhantomData);
        drop(item);
        core::mem::forget(rest);
    }
}
