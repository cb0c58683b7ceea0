//! Seed 001 (生产者消费者模型举例), `python/queue_producer_consumer.py`: a producer thread
//! and the consumer "Tom" joined by a bounded queue: the producer waits while 5
//! products are queued, Tom while none is. The producer makes 8 products, then shuts
//! the queue down (Python 3.13's `shutdown`; the Python uses a `None` sentinel): Tom
//! takes what is left, and his `get` then fails, ending his loop. Sleeps scaled down
//! 20x, as in the Python. Which line comes first depends on the threads' timing; the
//! lines themselves are CPython's.
use std::thread::sleep;
use std::time::Duration;

use conkit::queue::Queue;
use conkit::threading::Thread;

static Q: Queue<String> = Queue::new(5);

fn producer() {
    let mut count = 1;
    for _ in 0..8 {
        Q.put(format!("No.{count}")).unwrap();
        println!("Producer put No.{count}");
        sleep(Duration::from_millis(25));
        count += (0..10).sum::<i32>();
    }
    Q.shutdown(false);
}

fn consumer(name: &str) {
    while let Ok(product) = Q.get() {
        println!("{name} get {product}");
        sleep(Duration::from_millis(75));
    }
}

fn main() {
    let p = Thread::new(producer);
    let c = Thread::new(|| consumer("Tom"));
    p.start().unwrap();
    c.start().unwrap();
    p.join().unwrap();
    c.join().unwrap();
}
