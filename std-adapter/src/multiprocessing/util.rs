//! Python's `multiprocessing.util` logging: [`get_logger`] and [`log_to_stderr`], on
//! the [`log`] crate.
//!
//! Reference: CPython `Lib/multiprocessing/util.py` (`get_logger`, `log_to_stderr`,
//! `LOGGER_NAME`, `DEFAULT_LOGGING_FORMAT`, the levels `SUBDEBUG` = 5 and
//! `SUBWARNING` = 25, the `info`/`debug` calls of `process.py`), and `spawn.py`, whose
//! preparation data carries `log_to_stderr` and the level to a spawned child.
//!
//! The logger is named `multiprocessing`: its records are `log` records with that
//! target. Its level follows Python's numbers ([`Level`]); `NOTSET` (the initial level)
//! means Python's root default, `WARNING`. [`log_to_stderr`] installs a `log` logger
//! that prints the `multiprocessing` records as `[LEVEL/ProcessName] message` on stderr
//! (Python's `DEFAULT_LOGGING_FORMAT`); other targets are not printed by it. Children
//! started after [`log_to_stderr`] log to stderr at the same level under every start
//! method (as Python's `spawn` does). conkit logs, like CPython, `child process calling
//! self.run()` and `process exiting with exitcode N` (INFO, in the child) and
//! `starting NAME (METHOD)` (INFO, in the parent; CPython logs no start line).
//!
//! Differences: `log` allows one logger per program, so [`log_to_stderr`] is refused
//! with [`LoggerAlreadySet`] when the program installed another one (its records still
//! reach that logger, target `multiprocessing`); a second call does not add a second
//! handler (Python's would print every line twice). `log` has five levels: a record
//! sent through another `log` logger carries `SUBDEBUG` as `TRACE` and `SUBWARNING` as
//! `INFO`; the stderr handler prints Python's names.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The logger's name, the `log` target of its records (Python's `LOGGER_NAME`).
///
/// ```
/// use conkit::multiprocessing::util::LOGGER_NAME;
/// log::warn!(target: LOGGER_NAME, "a record of the multiprocessing logger");
/// ```
pub const LOGGER_NAME: &str = "multiprocessing";

/// The format [`log_to_stderr`] prints with (Python's `DEFAULT_LOGGING_FORMAT`).
///
/// ```
/// use conkit::multiprocessing::util::DEFAULT_LOGGING_FORMAT;
/// assert!(DEFAULT_LOGGING_FORMAT.starts_with("[%(levelname)s/%(processName)s]"));
/// ```
pub const DEFAULT_LOGGING_FORMAT: &str = "[%(levelname)s/%(processName)s] %(message)s";

/// A logging level, with Python's numbers (`logging` plus `multiprocessing.util`'s
/// `SUBDEBUG` and `SUBWARNING`).
///
/// ```
/// use conkit::multiprocessing::util::Level;
/// assert!(Level::SubWarning > Level::Info && Level::SubWarning < Level::Warning);
/// assert_eq!(Level::Info as u8, 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// 0: no level of its own (the effective level is then `WARNING`).
    NotSet = 0,
    /// 5: `util.SUBDEBUG`.
    SubDebug = 5,
    /// 10: `logging.DEBUG`.
    Debug = 10,
    /// 20: `logging.INFO`.
    Info = 20,
    /// 25: `util.SUBWARNING`.
    SubWarning = 25,
    /// 30: `logging.WARNING`.
    Warning = 30,
    /// 40: `logging.ERROR`.
    Error = 40,
    /// 50: `logging.CRITICAL`.
    Critical = 50,
}

impl Level {
    /// Python's level name (`levelname` in the format).
    ///
    /// ```
    /// use conkit::multiprocessing::util::Level;
    /// assert_eq!(Level::SubWarning.name(), "SUBWARNING");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Level::NotSet => "NOTSET",
            Level::SubDebug => "SUBDEBUG",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::SubWarning => "SUBWARNING",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// The level with Python's number `n`, if it is one of them.
    ///
    /// ```
    /// use conkit::multiprocessing::util::Level;
    /// assert_eq!(Level::from_number(25), Some(Level::SubWarning));
    /// assert_eq!(Level::from_number(26), None);
    /// ```
    pub fn from_number(n: u8) -> Option<Level> {
        Some(match n {
            0 => Level::NotSet,
            5 => Level::SubDebug,
            10 => Level::Debug,
            20 => Level::Info,
            25 => Level::SubWarning,
            30 => Level::Warning,
            40 => Level::Error,
            50 => Level::Critical,
            _ => return None,
        })
    }

    /// The `log` crate's level a record of this level carries.
    ///
    /// ```
    /// use conkit::multiprocessing::util::Level;
    /// assert_eq!(Level::Critical.to_log(), log::Level::Error);
    /// ```
    pub fn to_log(self) -> log::Level {
        match self {
            Level::NotSet | Level::SubDebug => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info | Level::SubWarning => log::Level::Info,
            Level::Warning => log::Level::Warn,
            Level::Error | Level::Critical => log::Level::Error,
        }
    }

    fn from_log(l: log::Level) -> Level {
        match l {
            log::Level::Trace => Level::SubDebug,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warning,
            log::Level::Error => Level::Error,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::NotSet as u8);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The Python level of the record being logged on this thread (so that the stderr
    /// handler prints `SUBWARNING`, which `log` cannot carry).
    static CURRENT: Cell<Option<Level>> = const { Cell::new(None) };
}

/// The `multiprocessing` logger (Python's `multiprocessing.get_logger()`); a handle, all
/// copies are the same logger.
///
/// ```
/// use conkit::multiprocessing::{self as mp, util::Level};
/// let logger = mp::get_logger();
/// logger.set_level(Level::Error);
/// assert_eq!(mp::get_logger().level(), Level::Error);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logger {
    _private: (),
}

impl Logger {
    /// `"multiprocessing"`.
    ///
    /// ```
    /// assert_eq!(conkit::multiprocessing::get_logger().name(), "multiprocessing");
    /// ```
    pub fn name(&self) -> &'static str {
        LOGGER_NAME
    }

    /// Sets the level (Python's `logger.setLevel`).
    ///
    /// ```
    /// use conkit::multiprocessing::{get_logger, util::Level};
    /// get_logger().set_level(Level::Debug);
    /// assert_eq!(get_logger().level(), Level::Debug);
    /// ```
    pub fn set_level(&self, level: Level) {
        LEVEL.store(level as u8, Ordering::Relaxed);
    }

    /// The level set (`NotSet` until one is).
    ///
    /// ```
    /// use conkit::multiprocessing::{get_logger, util::Level};
    /// assert_eq!(get_logger().level(), Level::NotSet);
    /// ```
    pub fn level(&self) -> Level {
        Level::from_number(LEVEL.load(Ordering::Relaxed)).unwrap_or(Level::NotSet)
    }

    /// The level that decides: the level set, or `WARNING` when it is `NotSet`.
    ///
    /// ```
    /// use conkit::multiprocessing::{get_logger, util::Level};
    /// assert_eq!(get_logger().effective_level(), Level::Warning);
    /// ```
    pub fn effective_level(&self) -> Level {
        match self.level() {
            Level::NotSet => Level::Warning,
            l => l,
        }
    }

    /// Whether a record of `level` passes (Python's `isEnabledFor`).
    ///
    /// ```
    /// use conkit::multiprocessing::{get_logger, util::Level};
    /// assert!(get_logger().is_enabled_for(Level::Error));
    /// assert!(!get_logger().is_enabled_for(Level::Info));
    /// ```
    pub fn is_enabled_for(&self, level: Level) -> bool {
        level != Level::NotSet && level >= self.effective_level()
    }

    /// Logs `msg` at `level` (a `log` record with target `multiprocessing`) if the
    /// level passes.
    ///
    /// ```
    /// use conkit::multiprocessing::{get_logger, util::Level};
    /// get_logger().log(Level::Warning, format_args!("{} left", 3));
    /// ```
    pub fn log(&self, level: Level, msg: impl fmt::Display) {
        if !self.is_enabled_for(level) {
            return;
        }
        CURRENT.with(|c| c.set(Some(level)));
        log::log!(target: LOGGER_NAME, level.to_log(), "{msg}");
        CURRENT.with(|c| c.set(None));
    }

    /// Logs at `DEBUG`.
    ///
    /// ```
    /// conkit::multiprocessing::get_logger().debug("details");
    /// ```
    pub fn debug(&self, msg: impl fmt::Display) {
        self.log(Level::Debug, msg)
    }

    /// Logs at `INFO`.
    ///
    /// ```
    /// conkit::multiprocessing::get_logger().info("hello");
    /// ```
    pub fn info(&self, msg: impl fmt::Display) {
        self.log(Level::Info, msg)
    }

    /// Logs at `WARNING`.
    ///
    /// ```
    /// conkit::multiprocessing::get_logger().warning("careful");
    /// ```
    pub fn warning(&self, msg: impl fmt::Display) {
        self.log(Level::Warning, msg)
    }

    /// Logs at `ERROR`.
    ///
    /// ```
    /// conkit::multiprocessing::get_logger().error("failed");
    /// ```
    pub fn error(&self, msg: impl fmt::Display) {
        self.log(Level::Error, msg)
    }
}

/// The `multiprocessing` logger (Python's `multiprocessing.get_logger()`).
///
/// ```
/// use conkit::multiprocessing as mp;
/// let logger = mp::get_logger();
/// logger.info("not shown: the effective level is WARNING until one is set");
/// ```
pub fn get_logger() -> Logger {
    Logger { _private: () }
}

/// [`log_to_stderr`] refused: the program installed another `log` logger.
///
/// ```
/// use conkit::multiprocessing::{self as mp, util::LoggerAlreadySet};
/// struct Mine;
/// impl log::Log for Mine {
///     fn enabled(&self, _: &log::Metadata) -> bool { true }
///     fn log(&self, _: &log::Record) {}
///     fn flush(&self) {}
/// }
/// log::set_logger(&Mine).unwrap();
/// assert_eq!(mp::log_to_stderr(None), Err(LoggerAlreadySet));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerAlreadySet;

impl fmt::Display for LoggerAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "another `log` logger is installed; the multiprocessing records go to it \
             (target \"multiprocessing\")",
        )
    }
}

impl std::error::Error for LoggerAlreadySet {}

struct StderrHandler;

impl log::Log for StderrHandler {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == LOGGER_NAME
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() != LOGGER_NAME {
            return;
        }
        let level = CURRENT
            .with(|c| c.get())
            .unwrap_or_else(|| Level::from_log(record.level()));
        if !get_logger().is_enabled_for(level) {
            return;
        }
        let name = super::current_process().name().to_string();
        // One write per record, so that lines of several processes do not interleave.
        let line = format!("[{}/{}] {}\n", level.name(), name, record.args());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

static HANDLER: StderrHandler = StderrHandler;

/// Prints the `multiprocessing` logger's records on stderr as
/// `[LEVEL/ProcessName] message` and sets its level when one is given (Python's
/// `log_to_stderr(level)`). Children started afterwards do the same.
///
/// ```
/// use conkit::multiprocessing::{self as mp, util::Level};
/// let logger = mp::log_to_stderr(Some(Level::Info)).unwrap();
/// logger.info("printed as [INFO/MainProcess] ...");
/// ```
pub fn log_to_stderr(level: Option<Level>) -> Result<Logger, LoggerAlreadySet> {
    let logger = get_logger();
    if let Some(level) = level {
        logger.set_level(level);
    }
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(logger);
    }
    log::set_logger(&HANDLER).map_err(|_| LoggerAlreadySet)?;
    log::set_max_level(log::LevelFilter::Trace);
    INSTALLED.store(true, Ordering::Release);
    Ok(logger)
}

/// `Some(level)` after [`log_to_stderr`]: what a child is told.
pub(crate) fn stderr_level() -> Option<u8> {
    INSTALLED
        .load(Ordering::Acquire)
        .then(|| LEVEL.load(Ordering::Relaxed))
}

/// In a spawned or forkserver child: the parent had called [`log_to_stderr`].
pub(crate) fn install_from_parent(level: u8) {
    let _ = log_to_stderr(Level::from_number(level));
}

/// Logs at `INFO` through the `multiprocessing` logger (Python's `util.info`).
pub(crate) fn info(msg: impl fmt::Display) {
    get_logger().log(Level::Info, msg)
}
