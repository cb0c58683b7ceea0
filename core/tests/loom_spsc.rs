//! loom models of `conkit_core::spsc`.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conkit-core --release --test loom_spsc`.
//!
//! Each model leaks its ring (`Box::leak`) so that the split handles are `'static` and
//! can move into `loom::thread::spawn`.
#![cfg(loom)]

use conkit_core::spsc::{
    Consumer, ConsumerIn, PopError, Producer, ProducerIn, PushError, Slot, SlotStorage, SpscRing,
    SpscRingIn,
};
use loom::thread;

fn leaked<const N: usize>() -> (Producer<'static, u32, N>, Consumer<'static, u32, N>) {
    let ring: &'static mut SpscRing<u32, N> = Box::leak(Box::new(SpscRing::new()));
    ring.split()
}

/// Pushes `items` with `try_push`, yielding while full.
fn try_push_all<S: SlotStorage<u32> + ?Sized>(tx: &mut ProducerIn<'static, u32, S>, items: &[u32]) {
    for &i in items {
        let mut v = i;
        loop {
            match tx.try_push(v) {
                Ok(()) => break,
                Err(PushError::Full(back)) => {
                    v = back;
                    thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// Pops `n` items with `try_pop`, yielding while empty.
fn try_pop_n<S: SlotStorage<u32> + ?Sized>(
    rx: &mut ConsumerIn<'static, u32, S>,
    n: usize,
) -> Vec<u32> {
    let mut got = Vec::new();
    while got.len() < n {
        match rx.try_pop() {
            Ok(v) => got.push(v),
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn try_ops_capacity_1_two_items_in_order() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<1>();
        let p = thread::spawn(move || try_push_all(&mut tx, &[1, 2]));
        assert_eq!(try_pop_n(&mut rx, 2), [1, 2]);
        p.join().unwrap();
        assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    });
}

#[test]
fn try_ops_capacity_2_three_items_wrap() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<2>();
        let p = thread::spawn(move || try_push_all(&mut tx, &[1, 2, 3]));
        assert_eq!(try_pop_n(&mut rx, 3), [1, 2, 3]);
        p.join().unwrap();
    });
}

/// The same protocol over the run-time-capacity storage (`[Slot<T>]`, the storage of
/// `ShmSpscRing`; here a view of an inline ring): capacity 3, not a power of two, so
/// positions wrap at 6 with the capacity read from the ring reference.
#[test]
fn run_time_capacity_3_four_items_wrap() {
    loom::model(|| {
        let ring: &'static mut SpscRing<u32, 3> = Box::leak(Box::new(SpscRing::new()));
        let view: &'static mut SpscRingIn<u32, [Slot<u32>]> = ring;
        assert_eq!(view.capacity(), 3);
        let (mut tx, mut rx) = view.split();
        let p = thread::spawn(move || try_push_all(&mut tx, &[1, 2, 3, 4]));
        assert_eq!(try_pop_n(&mut rx, 4), [1, 2, 3, 4]);
        p.join().unwrap();
        assert_eq!(rx.try_pop(), Err(PopError::Disconnected));
    });
}

#[test]
fn peek_sees_published_item() {
    loom::model(|| {
        let (mut tx, rx) = leaked::<2>();
        let p = thread::spawn(move || tx.try_push(7).unwrap());
        if let Some(v) = rx.peek() {
            assert_eq!(*v, 7);
        }
        p.join().unwrap();
        assert_eq!(rx.peek(), Some(&7));
    });
}

#[test]
fn slices_capacity_2() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<2>();
        let p = thread::spawn(move || {
            let mut sent = 0;
            while sent < 3 {
                let n = tx.push_slice(&[1, 2, 3][sent..]);
                if n == 0 {
                    thread::yield_now();
                }
                sent += n;
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let mut buf = [0; 2];
            let n = rx.pop_slice(&mut buf);
            if n == 0 {
                thread::yield_now();
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [1, 2, 3]);
        p.join().unwrap();
    });
}

#[test]
fn blocking_pop_woken_by_blocking_push() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<1>();
        let p = thread::spawn(move || {
            tx.push(1).unwrap();
            tx
        });
        assert_eq!(rx.pop(), Ok(1));
        let _tx = p.join().unwrap();
    });
}

#[test]
fn blocking_push_on_full_woken_by_blocking_pop() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<1>();
        tx.try_push(1).unwrap();
        let p = thread::spawn(move || {
            tx.push(2).unwrap();
            tx
        });
        assert_eq!(rx.pop(), Ok(1));
        let _tx = p.join().unwrap();
        assert_eq!(rx.try_pop(), Ok(2));
    });
}

#[test]
fn blocking_pop_sees_item_then_disconnect() {
    loom::model(|| {
        let (mut tx, mut rx) = leaked::<2>();
        let p = thread::spawn(move || {
            tx.try_push(1).unwrap();
            drop(tx);
        });
        assert_eq!(rx.pop(), Ok(1));
        assert_eq!(rx.pop(), Err(PopError::Disconnected));
        p.join().unwrap();
    });
}

#[test]
fn blocked_push_sees_consumer_drop() {
    loom::model(|| {
        let (mut tx, rx) = leaked::<1>();
        tx.try_push(1).unwrap();
        let c = thread::spawn(move || drop(rx));
        assert_eq!(tx.push(2), Err(PushError::Disconnected(2)));
        c.join().unwrap();
    });
}
