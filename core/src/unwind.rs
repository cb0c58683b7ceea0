//! Keeping shared state consistent when user code panics.
//!
//! [`OnDrop`] runs a clean-up when a scope ends, also when it unwinds;
//! [`each_to_end`] handles a sequence of items to the end even when the handling of
//! one panics ([`drop_each`]: an immediate queue shutdown dropping the items; waking a
//! set of wakers).

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
/// a drop panics; the panic then reaches the caller after the last item. See
/// [`each_to_end`].
#[inline]
pub(crate) fn drop_each<T>(next: impl FnMut() -> Option<T>) {
    each_to_end(next, drop);
}

/// Takes items from `next` until it returns `None` and hands each to `f`, going on when
/// `f` panics; the panic then reaches the caller after the last item.
///
/// * With the `std` feature every call of `f` runs under `catch_unwind`: all items are
///   handled whatever `f` does, and the first panic is resumed at the end (the later
///   ones were reported by the panic hook and are discarded, as Python reports and
///   ignores exceptions raised in `__del__`).
/// * Without it (`no_std` has no `catch_unwind`), a panicking `f` unwinds through a
///   guard that handles the remaining items during the unwind. A second panic during
///   that unwind aborts the process, as it does in any Rust container (e.g. a `Vec`
///   whose items panic when dropped).
///
/// `next` runs the caller's accounting (it is called once per item, before `f`); if
/// `next` itself panics, that panic propagates at once.
pub(crate) fn each_to_end<T>(mut next: impl FnMut() -> Option<T>, mut f: impl FnMut(T)) {
    #[cfg(feature = "std")]
    {
        use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
        let mut first = None;
        while let Some(item) = next() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(item))) {
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
    each_rest(&mut next, &mut f);
}

/// The `no_std` form of [`each_to_end`]: a guard handles the rest if `f` unwinds.
#[cfg(not(feature = "std"))]
fn each_rest<T, N: FnMut() -> Option<T>, F: FnMut(T)>(next: &mut N, f: &mut F) {
    /// Handles the remaining items when `f` unwinds past it.
    struct Rest<'a, T, N: FnMut() -> Option<T>, F: FnMut(T)>(
        &'a mut N,
        &'a mut F,
        core::marker::PhantomData<T>,
    );

    impl<T, N: FnMut() -> Option<T>, F: FnMut(T)> Drop for Rest<'_, T, N, F> {
        fn drop(&mut self) {
            each_rest(self.0, self.1);
        }
    }

    while let Some(item) = next() {
        let rest = Rest(&mut *next, &mut *f, core::marker::PhantomData);
        (rest.1)(item);
        core::mem::forget(rest);
    }
}
