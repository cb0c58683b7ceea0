//! Panic safety of every `conkit-core` type that runs user code (an item's `Ord` or
//! `Drop`, a closure, a deadline) while it holds a lock, a flag or a counter: the lock is
//! released on unwind, and the data is left as it was before the operation.
//!
//! Every test runs its body in a helper thread with a time limit ([`within`]), so that a
//! lock left held turns into a failure instead of a hung test run.
#![cfg(not(loom))]

mod common;

use std::cell::Cell;
use std::num::NonZeroU32;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::thread;

use common::Timed;
use conkit_core::barrier::{Barrier, BrokenBarrier};
use conkit_core::condvar::Condvar;
use conkit_core::lock::{
    BlockingMutex, Lock, OwnerId, RawLock, RawMutex, ReentrantLock, SpinLock, SpinMutex,
    TicketLock, TicketMutex,
};
use conkit_core::queue::{
    BaseQueue, Fifo, GetError, Lifo, Priority, PriorityQueue, QueueStore, RingQueue,
};
use conkit_core::wait::{Spin, WaitStrategy, Waiters};

// ---------------------------------------------------------------------------------------
// Helpers

#[path = "common/panic_kit.rs"]
mod panic_kit;

use panic_kit::{arm_cmp, disarm_cmp, panics, within, Bomb, Key, KEYS, MAX_CMPS};

/// A priority queue over a spin lock: a lock left held by a panic hangs the next call.
type SpinPq = BaseQueue<Priority<Key, 16>, SpinLock>;

fn filled_spin_pq(alive: &Arc<AtomicUsize>) -> SpinPq {
    let q = SpinPq::with_mutex(SpinLock::new());
    for k in KEYS {
        q.put_nowait(Key::new(k, alive)).unwrap();
    }
    q
}

/// Takes every item out, checks they come smallest first and are exactly `expected`,
/// marks each done and checks that `join` returns.
fn drain_in_order<S, M, W>(q: &BaseQueue<S, M, W>, expected: &[u32])
where
    S: QueueStore<Item = Key>,
    M: RawMutex,
    W: WaitStrategy,
{
    let mut got = Vec::new();
    while let Ok(item) = q.get_nowait() {
        got.push(item.key);
        q.task_done().unwrap();
    }
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(q.unfinished_tasks(), 0);
    q.join();
}

// ---------------------------------------------------------------------------------------
// Locks

struct Me;

thread_local! {
    static MY_ID: NonZeroU32 = {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        NonZeroU32::new(NEXT.fetch_add(1, AtomicOrdering::Relaxed)).unwrap()
    };
}

impl OwnerId for Me {
    fn current() -> NonZeroU32 {
        MY_ID.with(|id| *id)
    }
}

/// `with_lock` releases `lock` when its closure panics, and the lock works afterwards.
fn released_after_panic_in_with_lock<L: RawLock + Send + Sync + 'static>(lock: L) {
    within(move || {
        assert!(panics(
            || lock.with_lock(|| panic!("planned panic in with_lock"))
        ));
        assert!(!lock.locked(), "the lock is still held after the panic");
        assert_eq!(lock.with_lock(|| 7), 7);
        assert!(!lock.locked());
    });
}

#[test]
fn spin_lock_released_when_with_lock_closure_panics() {
    released_after_panic_in_with_lock(SpinLock::new());
}

#[test]
fn ticket_lock_released_when_with_lock_closure_panics() {
    released_after_panic_in_with_lock(TicketLock::new());
}

#[test]
fn blocking_lock_released_when_with_lock_closure_panics() {
    released_after_panic_in_with_lock(Lock::<Timed>::new());
}

#[test]
fn reentrant_lock_released_when_with_lock_closure_panics() {
    released_after_panic_in_with_lock(ReentrantLock::<Me, Timed>::new());
}

#[test]
fn reentrant_lock_nested_with_lock_panic_unwinds_every_level() {
    within(|| {
        let lock = ReentrantLock::<Me, Timed>::new();
        assert!(panics(
            || lock.with_lock(|| lock.with_lock(|| panic!("planned panic")))
        ));
        assert!(!lock.locked());
        assert_eq!(lock.depth(), 0);
    });
}

#[test]
fn mutex_guards_release_when_the_critical_section_panics() {
    within(|| {
        let spin = SpinMutex::new(vec![1]);
        assert!(panics(|| {
            let mut g = spin.lock();
            g.push(2);
            panic!("planned panic under SpinMutex");
        }));
        assert!(!spin.is_locked());
        assert_eq!(*spin.lock(), [1, 2]); // no poisoning: the change is kept

        let ticket = TicketMutex::new(0u32);
        assert!(panics(|| {
            let mut g = ticket.lock();
            *g += 1;
            panic!("planned panic under TicketMutex");
        }));
        assert!(!ticket.is_locked());
        assert_eq!(*ticket.lock(), 1);

        let blocking: BlockingMutex<u32, Timed> = BlockingMutex::new(5);
        assert!(panics(|| {
            let _g = blocking.lock();
            panic!("planned panic under BlockingMutex");
        }));
        assert!(!blocking.is_locked());
        assert_eq!(*blocking.lock(), 5);
    });
}

// ---------------------------------------------------------------------------------------
// Priority queue: a panicking `Ord`

#[test]
fn priority_queue_usable_after_ord_panics_in_put() {
    within(|| {
        let mut panicked_somewhere = false;
        for k in 1..=MAX_CMPS {
            let alive = Arc::new(AtomicUsize::new(0));
            let q = filled_spin_pq(&alive);
            let new = Key::new(5, &alive);
            arm_cmp(k);
            let panicked = panics(|| q.put_nowait(new));
            disarm_cmp();
            let mut expected = KEYS.to_vec();
            if panicked {
                panicked_somewhere = true;
                // Python: a failed put leaves the queue as it was; the item went with
                // the unwind.
                assert_eq!(q.qsize(), KEYS.len(), "k = {k}");
                assert_eq!(q.unfinished_tasks(), KEYS.len(), "k = {k}");
                assert_eq!(alive.load(AtomicOrdering::SeqCst), KEYS.len(), "k = {k}");
            } else {
                expected.push(5);
                assert_eq!(q.qsize(), KEYS.len() + 1, "k = {k}");
                assert_eq!(q.unfinished_tasks(), KEYS.len() + 1, "k = {k}");
            }
            drain_in_order(&q, &expected);
            drop(q);
            assert_eq!(alive.load(AtomicOrdering::SeqCst), 0, "k = {k}");
        }
        assert!(panicked_somewhere);
    });
}

#[test]
fn priority_queue_usable_after_ord_panics_in_get() {
    within(|| {
        let mut panicked_somewhere = false;
        for k in 1..=MAX_CMPS {
            let alive = Arc::new(AtomicUsize::new(0));
            let q = filled_spin_pq(&alive);
            arm_cmp(k);
            let got = panic::catch_unwind(AssertUnwindSafe(|| q.get_nowait()));
            disarm_cmp();
            let mut expected = KEYS.to_vec();
            match got {
                Err(_) => {
                    panicked_somewhere = true;
                    // A failed get takes nothing: the smallest item is still there.
                    assert_eq!(q.qsize(), KEYS.len(), "k = {k}");
                    assert_eq!(q.unfinished_tasks(), KEYS.len(), "k = {k}");
                    assert_eq!(alive.load(AtomicOrdering::SeqCst), KEYS.len(), "k = {k}");
                }
                Ok(item) => {
                    assert_eq!(item.unwrap().key, 10, "k = {k}");
                    expected.retain(|&x| x != 10);
                    q.task_done().unwrap();
                }
            }
            drain_in_order(&q, &expected);
            drop(q);
            assert_eq!(alive.load(AtomicOrdering::SeqCst), 0, "k = {k}");
        }
        assert!(panicked_somewhere);
    });
}

#[test]
fn priority_queue_with_critical_section_keeps_its_items_when_ord_panics() {
    // The default mutex was always released on unwind; the store must be intact too.
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let q: PriorityQueue<Key, 16> = PriorityQueue::new();
        for k in KEYS {
            q.put_nowait(Key::new(k, &alive)).unwrap();
        }
        for _ in 0..3 {
            arm_cmp(1);
            assert!(panics(|| q.put_nowait(Key::new(1, &alive))));
            arm_cmp(1);
            assert!(panics(|| q.get_nowait()));
        }
        disarm_cmp();
        assert_eq!(q.qsize(), KEYS.len());
        assert_eq!(q.unfinished_tasks(), KEYS.len());
        let mut got = Vec::new();
        while let Ok(item) = q.get_nowait() {
            got.push(item.key);
            q.task_done().unwrap();
        }
        let mut want = KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(got, want);
        q.join();
        assert_eq!(alive.load(AtomicOrdering::SeqCst), 0);
    });
}

#[test]
fn priority_queue_blocking_get_usable_after_ord_panics() {
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let q = filled_spin_pq(&alive);
        arm_cmp(1);
        assert!(panics(|| q.get()));
        disarm_cmp();
        assert_eq!(q.qsize(), KEYS.len());
        assert_eq!(q.get().unwrap().key, 10);
        q.task_done().unwrap();
        assert_eq!(q.unfinished_tasks(), KEYS.len() - 1);
    });
}

/// A small deterministic generator (xorshift), so the store test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn priority_store_keeps_every_item_and_the_order_whatever_comparison_panics() {
    const CAP: usize = 24;
    let rounds = if cfg!(miri) { 150 } else { 20_000 };
    within(move || {
        let alive = Arc::new(AtomicUsize::new(0));
        let mut store: Priority<Key, CAP> = Priority::new();
        let mut model: Vec<u32> = Vec::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..rounds {
            let fuse = rng.below(6) as usize; // 0: no panic, else the k-th comparison
            let push = model.is_empty() || (model.len() < CAP && rng.below(2) == 0);
            arm_cmp(fuse);
            if push {
                let key = rng.below(40) as u32; // duplicates on purpose
                let item = Key::new(key, &alive);
                match panic::catch_unwind(AssertUnwindSafe(|| store.push(item))) {
                    Ok(Ok(())) => model.push(key),
                    Ok(Err(_)) => panic!("a store with room refused an item"),
                    Err(_) => {}
                }
            } else {
                match panic::catch_unwind(AssertUnwindSafe(|| store.pop())) {
                    Ok(Some(item)) => {
                        let min = *model.iter().min().unwrap();
                        assert_eq!(item.key, min);
                        let at = model.iter().position(|&k| k == min).unwrap();
                        model.swap_remove(at);
                    }
                    Ok(None) => panic!("a store with items returned none"),
                    Err(_) => {}
                }
            }
            disarm_cmp();
            assert_eq!(store.len(), model.len());
            assert_eq!(alive.load(AtomicOrdering::SeqCst), model.len());
        }
        // Whatever panicked on the way, the rest come out in order.
        model.sort_unstable();
        let mut got = Vec::new();
        while let Some(item) = store.pop() {
            got.push(item.key);
        }
        assert_eq!(got, model);
        assert_eq!(alive.load(AtomicOrdering::SeqCst), 0);
    });
}

/// The same algorithm over the std adapter's storage, a `Vec` (core's `std` feature).
#[cfg(feature = "std")]
#[test]
fn heap_over_a_vec_keeps_every_item_and_the_order_whatever_comparison_panics() {
    use conkit_core::queue::heap;
    let rounds = if cfg!(miri) { 150 } else { 20_000 };
    within(move || {
        let alive = Arc::new(AtomicUsize::new(0));
        let mut items: Vec<Key> = Vec::new();
        let mut model: Vec<u32> = Vec::new();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..rounds {
            let fuse = rng.below(6) as usize;
            let push = model.is_empty() || (model.len() < 40 && rng.below(2) == 0);
            arm_cmp(fuse);
            if push {
                let key = rng.below(30) as u32;
                let item = Key::new(key, &alive);
                if let Ok(r) =
                    panic::catch_unwind(AssertUnwindSafe(|| heap::push(&mut items, item)))
                {
                    assert!(r.is_ok(), "a Vec is never full");
                    model.push(key);
                }
            } else if let Ok(item) = panic::catch_unwind(AssertUnwindSafe(|| heap::pop(&mut items)))
            {
                let min = *model.iter().min().unwrap();
                assert_eq!(item.unwrap().key, min);
                let at = model.iter().position(|&k| k == min).unwrap();
                model.swap_remove(at);
            }
            disarm_cmp();
            assert_eq!(items.len(), model.len());
            assert_eq!(alive.load(AtomicOrdering::SeqCst), model.len());
            // Heap order holds after every call, panicked or not.
            assert!((1..items.len()).all(|i| items[(i - 1) / 2].key <= items[i].key));
            assert_eq!(
                heap::peek(&items).map(|k| k.key),
                model.iter().min().copied()
            );
        }
        model.sort_unstable();
        let mut got = Vec::new();
        while let Some(item) = heap::pop(&mut items) {
            got.push(item.key);
        }
        assert_eq!(got, model);
    });
}

#[test]
fn priority_store_full_push_hands_the_item_back_without_comparing() {
    within(|| {
        let alive = Arc::new(AtomicUsize::new(0));
        let mut store: Priority<Key, 2> = Priority::new();
        store.push(Key::new(2, &alive)).unwrap();
        store.push(Key::new(1, &alive)).unwrap();
        arm_cmp(1);
        let back = store.push(Key::new(0, &alive));
        disarm_cmp();
        assert_eq!(back.unwrap_err().key, 0);
        assert_eq!(store.pop().unwrap().key, 1);
    });
}

// ---------------------------------------------------------------------------------------
// Immediate shutdown with items whose `Drop` panics

type BombFifo = BaseQueue<Fifo<Bomb, 8>, SpinLock, Spin>;
type BombLifo = BaseQueue<Lifo<Bomb, 8>, SpinLock, Spin>;

/// A queue of `Bomb`s with `n` items, those in `bombs` panicking when dropped.
fn bombs_queue<S: QueueStore<Item = Bomb>>(
    q: &BaseQueue<S, SpinLock, Spin>,
    n: u32,
    bombs: &[u32],
    drops: &Arc<AtomicUsize>,
) {
    for id in 0..n {
        q.put_nowait(Bomb::new(id, bombs.contains(&id), drops))
            .unwrap();
    }
}

#[test]
fn shutdown_immediate_drains_every_item_when_a_drop_panics() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = BombFifo::with_mutex(SpinLock::new());
        bombs_queue(&q, 5, &[1], &drops);
        // Item 0 is taken (and not yet done) before the shutdown.
        let taken = q.get_nowait().unwrap();
        assert!(
            panics(|| q.shutdown(true)),
            "the drop's panic reaches the caller"
        );
        // Every remaining item was dropped and counted done, although item 1's drop
        // panicked first.
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 4);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 1);
        assert_eq!(q.get_nowait().map(|b| b.id), Err(GetError::ShutDown));
        drop(taken);
        q.task_done().unwrap();
        q.join();
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 5);
    });
}

#[test]
fn shutdown_immediate_drains_the_rest_when_the_last_drop_panics() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = BombLifo::with_mutex(SpinLock::new());
        // LIFO: item 4 is dropped first, so the panic comes before any other drop.
        bombs_queue(&q, 5, &[4], &drops);
        assert!(panics(|| q.shutdown(true)));
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 5);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
        q.join();
        // A second shutdown finds nothing left and does not panic.
        q.shutdown(true);
    });
}

/// With the `std` feature the drain catches every drop's panic and re-raises the first
/// one afterwards; without it a second panicking drop during the unwind would abort the
/// process (as for any Rust container), so that case is only tested here.
#[cfg(feature = "std")]
#[test]
fn shutdown_immediate_survives_several_panicking_drops_and_reraises_the_first() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = BombFifo::with_mutex(SpinLock::new());
        bombs_queue(&q, 6, &[1, 3, 4], &drops);
        let payload = panic::catch_unwind(AssertUnwindSafe(|| q.shutdown(true))).unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("item 1"), "{message}");
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 6);
        assert_eq!(q.unfinished_tasks(), 0);
        q.join();
    });
}

#[test]
fn item_whose_drop_panics_after_get_leaves_the_queue_usable() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = BombFifo::with_mutex(SpinLock::new());
        bombs_queue(&q, 3, &[0], &drops);
        assert!(panics(|| drop(q.get_nowait())));
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.unfinished_tasks(), 3);
        for _ in 0..3 {
            let _ = q.task_done();
        }
        assert_eq!(q.get_nowait().unwrap().id, 1);
        assert_eq!(q.get_nowait().unwrap().id, 2);
        q.join();
    });
}

#[test]
fn ring_queue_shutdown_immediate_drains_every_item_when_a_drop_panics() {
    within(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q: RingQueue<Bomb, 8> = RingQueue::new();
        for id in 0..5 {
            q.put_nowait(Bomb::new(id, id == 1, &drops)).unwrap();
        }
        assert!(panics(|| q.shutdown(true)));
        assert_eq!(drops.load(AtomicOrdering::SeqCst), 5);
        assert_eq!(q.qsize(), 0);
        assert_eq!(
            q.unfinished_tasks(),
            0,
            "the item whose drop panicked counts done"
        );
        q.join();
    });
}

// ---------------------------------------------------------------------------------------
// Condvar, Waiters, Barrier

#[test]
fn condvar_waiter_whose_release_panics_is_not_counted_and_notify_does_not_hang() {
    within(|| {
        let cv: Condvar<Timed> = Condvar::new();
        assert!(panics(|| {
            cv.wait_until(
                None,
                || panic!("planned panic in the release closure"),
                |()| (),
            )
        }));
        assert_eq!(
            cv.waiters(),
            0,
            "the waiter that never slept is still counted"
        );
        // A notify must not claim (and wait for) the waiter that left.
        assert_eq!(cv.notify_all(), 0);
    });
}

#[test]
fn condvar_still_notifies_other_waiters_after_a_release_panicked() {
    within(|| {
        let cv = Arc::new(Condvar::<Timed>::new());
        let lock = Arc::new(Lock::<Timed>::new());
        assert!(panics(|| cv.wait_until(
            None,
            || panic!("planned panic"),
            |()| ()
        )));
        let woke = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (cv, lock, woke) = (cv.clone(), lock.clone(), woke.clone());
            thread::spawn(move || {
                lock.acquire();
                cv.wait_lock(&*lock).unwrap();
                woke.store(true, AtomicOrdering::SeqCst);
                lock.release().unwrap();
            })
        };
        common::eventually("the waiter sleeps", || cv.waiters() == 1);
        lock.acquire();
        assert_eq!(cv.notify(1), 1);
        lock.release().unwrap();
        waiter.join().unwrap();
        assert!(woke.load(AtomicOrdering::SeqCst));
    });
}

#[test]
fn waiters_sleeper_count_restored_when_the_condition_panics() {
    within(|| {
        let w: Waiters<Timed> = Waiters::new();
        // Fail every look of the adaptive phase and the first look of the sleeping
        // loop, then panic in the look made after announcing itself.
        let looks = Cell::new(0u32);
        assert!(panics(|| {
            w.wait_until(None, || -> Option<()> {
                looks.set(looks.get() + 1);
                if looks.get() > 7 {
                    panic!("planned panic in the condition");
                }
                None
            })
        }));
        assert_eq!(
            w.sleepers(),
            0,
            "a caller that left is still counted as a sleeper"
        );
    });
}

#[test]
fn barrier_action_panic_breaks_the_round_and_the_barrier_resets() {
    within(|| {
        let barrier = Arc::new(Barrier::<Timed>::new(3));
        let others: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                thread::spawn(move || b.wait(|| true))
            })
            .collect();
        common::eventually("both others wait", || barrier.n_waiting() == 2);
        assert!(panics(
            || barrier.wait(|| panic!("planned panic in the action"))
        ));
        for o in others {
            assert_eq!(o.join().unwrap(), Err(BrokenBarrier));
        }
        assert!(barrier.broken());
        barrier.reset();
        assert!(!barrier.broken());
        // A full round works again.
        let others: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                thread::spawn(move || b.wait(|| true))
            })
            .collect();
        let mine = barrier.wait(|| true).unwrap();
        let mut indices: Vec<u32> = others
            .into_iter()
            .map(|o| o.join().unwrap().unwrap())
            .collect();
        indices.push(mine);
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2]);
    });
}

#[test]
fn barrier_single_party_action_panic_leaves_it_broken_then_resettable() {
    within(|| {
        let barrier: Barrier<Timed> = Barrier::new(1);
        assert!(panics(|| barrier.wait(|| panic!("planned panic"))));
        assert!(barrier.broken());
        assert_eq!(barrier.wait(|| true), Err(BrokenBarrier));
        barrier.reset();
        assert_eq!(barrier.wait(|| true), Ok(0));
    });
}

// ---------------------------------------------------------------------------------------
// Async wakers

#[cfg(feature = "async")]
#[test]
fn waker_set_wakes_every_task_when_one_waker_panics() {
    use conkit_core::asynch::WakerSet;
    use std::task::{Wake, Waker};

    struct Counting {
        woken: Arc<AtomicUsize>,
        bomb: bool,
    }
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.woken.fetch_add(1, AtomicOrdering::SeqCst);
            if self.bomb {
                panic!("planned panic in Waker::wake");
            }
        }
    }

    within(|| {
        let set: WakerSet<4> = WakerSet::new();
        let woken = Arc::new(AtomicUsize::new(0));
        for bomb in [false, true, false] {
            let w = Waker::from(Arc::new(Counting {
                woken: woken.clone(),
                bomb,
            }));
            assert!(set.register(&w));
        }
        assert!(panics(|| set.wake_all()));
        assert_eq!(
            woken.load(AtomicOrdering::SeqCst),
            3,
            "a waker after the panicking one was not woken"
        );
        // The set is empty and usable.
        set.wake_all();
        assert_eq!(woken.load(AtomicOrdering::SeqCst), 3);
    });
}
