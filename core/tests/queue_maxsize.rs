//! `BaseQueue::set_maxsize` (Python's `q.maxsize = n`): fixed stores refuse with a typed
//! error, a store that can change its capacity takes the new bound, and a larger bound
//! wakes a blocked putter.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use conkit_core::lock::SpinLock;
use conkit_core::queue::{
    BaseQueue, FixedCapacity, LifoQueue, PriorityQueue, PutError, Queue, QueueStore,
};

#[test]
fn fixed_capacity_stores_accept_only_their_capacity() {
    let q: Queue<u8, 4> = Queue::new();
    assert_eq!(q.set_maxsize(4), Ok(()));
    assert_eq!(q.set_maxsize(5), Err(FixedCapacity));
    let l: LifoQueue<u8, 2> = LifoQueue::new();
    assert_eq!(l.set_maxsize(usize::MAX), Err(FixedCapacity));
    let p: PriorityQueue<u8, 3> = PriorityQueue::new();
    assert_eq!(p.set_maxsize(1), Err(FixedCapacity));
    assert_eq!(p.maxsize(), 3);
}

/// A growable store whose bound can change (what the std adapter's stores do).
#[derive(Default)]
struct Bounded {
    items: Vec<u32>,
    cap: usize,
}

impl QueueStore for Bounded {
    type Item = u32;
    fn push(&mut self, item: u32) -> Result<(), u32> {
        if self.items.len() >= self.cap {
            return Err(item);
        }
        self.items.push(item);
        Ok(())
    }
    fn pop(&mut self) -> Option<u32> {
        (!self.items.is_empty()).then(|| self.items.remove(0))
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn capacity(&self) -> usize {
        self.cap
    }
    fn set_capacity(&mut self, capacity: usize) -> Result<(), FixedCapacity> {
        self.cap = capacity;
        Ok(())
    }
}

type Q = BaseQueue<Bounded, SpinLock, common::Timed>;

#[test]
fn a_larger_bound_wakes_a_blocked_putter_and_a_smaller_one_applies_to_the_next_put() {
    let q = Arc::new(Q::with_store(
        Bounded {
            items: Vec::new(),
            cap: 1,
        },
        SpinLock::new(),
    ));
    q.put(1).unwrap();
    let putter = {
        let q = q.clone();
        thread::spawn(move || q.put(2))
    };
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.qsize(), 1);
    q.set_maxsize(2).unwrap();
    putter.join().unwrap().unwrap();
    assert_eq!(q.qsize(), 2);
    assert!(q.full());
    q.set_maxsize(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
    assert_eq!(q.get_nowait(), Ok(2));
    q.put_nowait(3).unwrap();
    assert_eq!(q.maxsize(), 1);
}
