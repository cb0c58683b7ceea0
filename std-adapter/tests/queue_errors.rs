//! `conkit::queue` errors read like Python's `except` clauses: one error type per
//! direction (every get form fails with [`GetError`], every put form with
//! [`PutError`]), and the variants re-exported under Python's names, so that
//! `Err(Empty)`, `Err(ShutDown)` and `Err(Full(item))` are patterns (issue #10, point 7).

use std::error::Error;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use conkit::queue::{
    Empty, Full, GetError, LifoQueue, PriorityQueue, PutError, Queue, ShutDown, SimpleQueue,
};

/// What a Python consumer's `try: q.get() except queue.Empty: … except queue.ShutDown: …`
/// becomes: the arms name Python's exceptions, nothing else.
fn except_get<T>(r: Result<T, GetError>) -> Result<T, &'static str> {
    match r {
        Ok(item) => Ok(item),
        Err(Empty) => Err("queue.Empty"),
        Err(ShutDown) => Err("queue.ShutDown"),
    }
}

/// The producer's side: `except queue.Full` hands the item back; so does a shutdown.
fn except_put<T>(r: Result<(), PutError<T>>) -> Result<(), (&'static str, T)> {
    match r {
        Ok(()) => Ok(()),
        Err(Full(item)) => Err(("queue.Full", item)),
        Err(PutError::ShutDown(item)) => Err(("queue.ShutDown", item)),
    }
}

/// Polls a future that is expected to be ready at once.
fn ready<F: Future>(fut: F) -> F::Output {
    struct Nop;
    impl Wake for Nop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Nop));
    match pin!(fut).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future was expected to be ready"),
    }
}

const SHORT: Duration = Duration::from_millis(1);

#[test]
fn every_get_form_fails_with_get_error_matched_by_python_names() {
    let q: Queue<u8> = Queue::new(1);
    assert_eq!(except_get(q.get_nowait()), Err("queue.Empty"));
    assert_eq!(except_get(q.get_timeout(SHORT)), Err("queue.Empty"));
    assert_eq!(except_get(q.get_until(Instant::now())), Err("queue.Empty"));
    q.put(1).unwrap();
    assert_eq!(except_get(q.get()), Ok(1));
    q.shutdown(false);
    assert_eq!(except_get(q.get()), Err("queue.ShutDown"));
    assert_eq!(except_get(q.get_nowait()), Err("queue.ShutDown"));
    assert_eq!(except_get(q.get_timeout(SHORT)), Err("queue.ShutDown"));
    assert_eq!(
        except_get(q.get_until(Instant::now())),
        Err("queue.ShutDown")
    );
    assert_eq!(except_get(ready(q.get_async())), Err("queue.ShutDown"));
}

#[test]
fn every_put_form_fails_with_put_error_and_hands_the_item_back() {
    let q: Queue<&str> = Queue::new(1);
    q.put("a").unwrap();
    assert_eq!(except_put(q.put_nowait("b")), Err(("queue.Full", "b")));
    assert_eq!(
        except_put(q.put_timeout("c", SHORT)),
        Err(("queue.Full", "c"))
    );
    assert_eq!(
        except_put(q.put_until("d", Instant::now())),
        Err(("queue.Full", "d"))
    );
    q.shutdown(false);
    assert_eq!(except_put(q.put("e")), Err(("queue.ShutDown", "e")));
    assert_eq!(except_put(q.put_nowait("f")), Err(("queue.ShutDown", "f")));
    assert_eq!(
        except_put(q.put_timeout("g", SHORT)),
        Err(("queue.ShutDown", "g"))
    );
    assert_eq!(
        except_put(q.put_until("h", Instant::now())),
        Err(("queue.ShutDown", "h"))
    );
    assert_eq!(
        except_put(ready(q.put_async("i"))),
        Err(("queue.ShutDown", "i"))
    );
}

#[test]
fn lifo_priority_and_simple_queues_share_the_error_shapes() {
    let lifo: LifoQueue<u8> = LifoQueue::new(1);
    lifo.put(1).unwrap();
    assert_eq!(except_put(lifo.put_nowait(2)), Err(("queue.Full", 2)));
    lifo.shutdown(true);
    assert_eq!(except_get(lifo.get()), Err("queue.ShutDown"));

    let prio: PriorityQueue<u8> = PriorityQueue::new(0);
    prio.shutdown(false);
    assert_eq!(except_put(prio.put(3)), Err(("queue.ShutDown", 3)));
    assert_eq!(except_get(prio.get_nowait()), Err("queue.ShutDown"));

    let simple: SimpleQueue<u8> = SimpleQueue::new();
    assert_eq!(except_get(simple.get_nowait()), Err("queue.Empty"));
    assert_eq!(except_get(simple.get_timeout(SHORT)), Err("queue.Empty"));
    assert_eq!(
        except_get(simple.get_until(Instant::now())),
        Err("queue.Empty")
    );
}

#[test]
fn helpers_answer_which_exception_and_give_the_item_back() {
    assert!(Empty.is_empty() && !Empty.is_shutdown());
    assert!(ShutDown.is_shutdown() && !ShutDown.is_empty());
    let full: PutError<String> = Full("x".to_owned());
    assert!(full.is_full() && !full.is_shutdown());
    assert_eq!(full.into_inner(), "x");
    let shut = PutError::ShutDown(7);
    assert!(shut.is_shutdown() && !shut.is_full());
    assert_eq!(shut.into_inner(), 7);
}

#[test]
fn errors_display_and_box_as_std_errors() {
    assert_eq!(Empty.to_string(), "the queue is empty");
    assert_eq!(ShutDown.to_string(), "the queue is shut down");
    assert_eq!(Full(1).to_string(), "the queue is full");
    assert_eq!(PutError::ShutDown(1).to_string(), "the queue is shut down");
    // `?` into a boxed error, from both directions.
    fn pipeline() -> Result<u8, Box<dyn Error>> {
        let q = Queue::new(1);
        q.put(1u8)?;
        let v = q.get()?;
        q.put_nowait(2)?;
        q.put_nowait(3)?; // Full: the `?` returns it
        Ok(v)
    }
    let err = pipeline().unwrap_err();
    assert_eq!(err.to_string(), "the queue is full");
    assert_eq!(err.downcast_ref::<PutError<u8>>(), Some(&Full(3)));
}

#[test]
fn a_consumer_loop_reads_like_python() {
    // Python:
    //     while True:
    //         try: item = q.get(timeout=0.001)
    //         except queue.Empty: continue
    //         except queue.ShutDown: break
    let q = Queue::new(0);
    for i in 0..3 {
        q.put(i).unwrap();
    }
    q.shutdown(false);
    let mut got = Vec::new();
    loop {
        match q.get_timeout(SHORT) {
            Ok(item) => got.push(item),
            Err(Empty) => continue,
            Err(ShutDown) => break,
        }
    }
    assert_eq!(got, [0, 1, 2]);
}
