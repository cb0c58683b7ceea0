//! [`ThreadError`] (Python's `RuntimeError`s of `threading`) and [`Run`] (the Rust form
//! of subclassing `Thread`).

use super::*;

/// Python's `RuntimeError`s (and `ValueError` of `stack_size`) of `threading`, plus
/// the panic that [`Thread::join`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum ThreadError {
    /// `start` was called a second time ("threads can only be started once").
    AlreadyStarted,
    /// `join` before `start` ("cannot join thread before it is started").
    NotStarted,
    /// A thread tried to join itself ("cannot join current thread").
    JoinSelf,
    /// `join` on a handle of a thread not started by conkit ("cannot join a dummy
    /// thread"): there is nothing that would tell it finished.
    JoinDummy,
    /// `set_daemon` after `start` ("cannot set daemon status of active thread").
    DaemonAfterStart,
    /// The thread's body panicked; it was reported to [`excepthook`].
    Panicked {
        /// The thread's name when it panicked.
        name: String,
        /// The panic message (the payload if it is a string, else `Box<dyn Any>`).
        message: String,
    },
    /// The operating system refused to create the thread ("can't start new thread").
    /// The body was dropped; the thread cannot be started again.
    Spawn(io::Error),
    /// [`stack_size`] with a size below [`MIN_STACK_SIZE`] that is not 0
    /// (Python's `ValueError: size not valid`).
    InvalidStackSize(usize),
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyStarted => f.write_str("threads can only be started once"),
            Self::NotStarted => f.write_str("cannot join thread before it is started"),
            Self::JoinSelf => f.write_str("cannot join current thread"),
            Self::JoinDummy => f.write_str("cannot join a dummy thread"),
            Self::DaemonAfterStart => f.write_str("cannot set daemon status of active thread"),
            Self::Panicked { name, message } => {
                write!(f, "thread {name} panicked: {message}")
            }
            Self::Spawn(e) => write!(f, "can't start new thread: {e}"),
            Self::InvalidStackSize(n) => write!(f, "size not valid: {n} bytes"),
        }
    }
}

impl std::error::Error for ThreadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// The Rust form of "subclass `Thread` and override `run()`": a type whose `run` is a
/// thread's body. Start it with [`Thread::from_run`] or [`ThreadBuilder::run`].
///
/// ```
/// use conkit::threading::{Mutex, Run, Thread};
///
/// static OUT: Mutex<Vec<u32>> = Mutex::new(Vec::new());
///
/// struct MyThread {
///     arg: u32,
/// }
///
/// impl Run for MyThread {
///     fn run(&mut self) {
///         OUT.lock().push(self.arg * 10);
///     }
/// }
///
/// for i in 0..4 {
///     let t = Thread::from_run(MyThread { arg: i });
///     t.start().unwrap();
///     t.join().unwrap();
/// }
/// assert_eq!(*OUT.lock(), [0, 10, 20, 30]);
/// ```
///
/// To read the object's fields after it ran (Python's attributes of a finished
/// thread object), spawn it with [`ThreadBuilder::spawn`] and return it:
/// `Thread::builder().spawn(move || { obj.run(); obj })`.
pub trait Run: Send + 'static {
    /// The thread's body (Python's `Thread.run`).
    fn run(&mut self);
}
