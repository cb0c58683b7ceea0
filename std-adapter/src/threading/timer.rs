//! Python's `threading.Timer(interval, function)`: a thread that calls a function once
//! `interval` has passed, unless it is cancelled first.
//!
//! ```
//! use conkit::threading::Timer;
//! use std::time::{Duration, Instant};
//!
//! let t = Timer::new(Duration::from_millis(10), || println!("hello, world"));
//! t.start().unwrap(); // after 10 ms, "hello, world" will be printed
//! t.join().unwrap();
//! assert!(t.is_finished());
//! ```
//!
//! # Rust and Python
//! Python's `Timer` is a `Thread` subclass; here a `Timer` owns its [`Thread`]
//! ([`thread`](Timer::thread) gives the name, daemon flag, ident, …) and forwards the
//! common calls. The interval is a [`Duration`]; arguments are captured by the closure.
//!
//! # Algorithm and provenance
//! CPython's `Lib/threading.py` `Timer.run`: wait on the `finished` event with the
//! interval as timeout; if nobody set it (nobody called `cancel`), call the function;
//! set `finished` (here also when the function panics, which CPython's `run` does not
//! guard). `finished` is a [`threading::Event`](Event) (the `conkit-core` event
//! over the futex strategy), so `cancel` wakes the waiting thread at once.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::thread::{Thread, ThreadError};
use super::Event;

/// A thread that calls a function after an interval unless [`cancel`](Self::cancel)led
/// (Python's `threading.Timer`). Named `Thread-N` like any thread.
///
/// Python's `Timer` is a `Thread` subclass; here a `Timer` owns its [`Thread`]
/// ([`thread`](Timer::thread) gives the name, daemon flag, ident, …) and forwards the
/// common calls. The interval is a [`Duration`]; arguments are captured by the closure.
///
/// ```
/// use conkit::threading::Timer;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let fired = Arc::new(AtomicBool::new(false));
/// let f = fired.clone();
/// let t = Timer::new(Duration::from_secs(60), move || f.store(true, Ordering::SeqCst));
/// t.start().unwrap();
/// t.cancel(); // wakes the timer thread at once: no 60 s wait
/// t.join().unwrap();
/// assert!(!fired.load(Ordering::SeqCst));
/// ```
pub struct Timer {
    thread: Thread,
    interval: Duration,
    finished: Arc<Event>,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("thread", &self.thread)
            .field("interval", &self.interval)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Sets the event when dropped (also while unwinding).
struct SetOnDrop<'a>(&'a Event);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set();
    }
}

impl Timer {
    /// A timer (not started) that will call `function` `interval` after
    /// [`start`](Self::start).
    ///
    /// # Panics
    /// Never here. If `function` panics (later, on the timer's thread), the timer is
    /// still marked finished ([`is_finished`](Self::is_finished)), the panic goes to
    /// [`excepthook`](super::excepthook) as for any [`Thread`], [`join`](Self::join)
    /// returns [`ThreadError::Panicked`], and [`cancel`](Self::cancel) has no effect.
    pub fn new<F>(interval: Duration, function: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        let finished = Arc::new(Event::new());
        let done = Arc::clone(&finished);
        let thread = Thread::new(move || {
            // Set however the function ends: a panic goes on to the thread's
            // `excepthook` with the timer already marked finished.
            let _finish = SetOnDrop(&done);
            if !done.wait_timeout(interval) {
                function();
            }
        });
        Self {
            thread,
            interval,
            finished,
        }
    }

    /// Starts the timer's thread; the interval counts from here.
    ///
    /// # Errors
    /// As [`Thread::start`] (a second `start` is [`ThreadError::AlreadyStarted`]).
    pub fn start(&self) -> Result<(), ThreadError> {
        self.thread.start()
    }

    /// Stops the timer if it is still waiting (Python's `cancel()`): the function will
    /// not be called, and the timer's thread ends at once. No effect once the function
    /// has started. May be called before `start` (then the timer ends as soon as it is
    /// started).
    pub fn cancel(&self) {
        self.finished.set();
    }

    /// Whether the timer is done: cancelled, or its function has returned (Python's
    /// `finished.is_set()`).
    pub fn is_finished(&self) -> bool {
        self.finished.is_set()
    }

    /// The event set when the timer is cancelled or its function has returned
    /// (Python's `finished` attribute): wait on it, or `set` it to cancel.
    pub fn finished(&self) -> &Event {
        &self.finished
    }

    /// The interval given to [`new`](Self::new).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The timer's thread (name, daemon flag, ident, …).
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Waits until the timer's thread ends. See [`Thread::join`].
    ///
    /// # Errors
    /// As [`Thread::join`] ([`ThreadError::Panicked`] if the function panicked).
    pub fn join(&self) -> Result<(), ThreadError> {
        self.thread.join()
    }

    /// Waits at most `timeout` for the timer's thread to end. See
    /// [`Thread::join_timeout`].
    ///
    /// # Errors
    /// As [`Thread::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ThreadError> {
        self.thread.join_timeout(timeout)
    }

    /// Waits until the timer's thread ends or `deadline` passes. See
    /// [`Thread::join_until`].
    ///
    /// # Errors
    /// As [`Thread::join`].
    pub fn join_until(&self, deadline: Instant) -> Result<bool, ThreadError> {
        self.thread.join_until(deadline)
    }

    /// Whether the timer's thread runs (waiting or calling the function).
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }
}
