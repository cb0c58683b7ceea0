//! Seed 004 (多线程+队列), `python/queue_worker_threads.py`: 100 numbers in a queue, 10
//! threads take and print them until it is empty. The seed's
//! `while not queue.empty(): queue.get()` can leave a thread blocked in `get` forever
//! when another thread takes the last item between the two calls (the threads here
//! really run at the same time); `get_nowait` checks and takes in one step, and its
//! `Err(Empty)` ends the loop. The order of the numbers depends on the threads' timing;
//! each is printed once, as in CPython.
use conkit::queue::Queue;
use conkit::threading::Thread;

static Q: Queue<i32> = Queue::new(4000);

fn do_something(i: i32) {
    println!("{i}");
}

fn f(queue: &Queue<i32>) {
    while let Ok(i) = queue.get_nowait() {
        do_something(i);
    }
}

fn main() {
    (0..100).for_each(|i| Q.put(i).unwrap());
    let threads: Vec<_> = (0..10).map(|_| Thread::builder().spawn(|| f(&Q))).collect();
    for t in threads {
        t.unwrap().join().unwrap();
    }
}
