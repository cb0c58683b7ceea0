//! Children made with [`conkit::multiprocessing::Process`] for the cross-process test
//! binaries, under every start method ([`get_all_start_methods`]).
//!
//! [`run_under_every_method`] runs a binary's scenarios (each in its own process under
//! a watchdog, see [`crate::process::run_scenarios`]) once per start
//! method; [`start`] starts `target(args)` with the method of the current pass. The
//! target is a `fn` item (or a closure that captures nothing) and its arguments travel
//! serialised, so the same test runs under `fork`, `spawn` (this binary re-executed:
//! its `main` must call [`conkit::multiprocessing::init`] first) and any method added
//! later.
//!
//! Every child is a daemon: if a scenario fails or hangs, its process ends (or the
//! watchdog kills it) and the children die with it, as daemons do (`PR_SET_PDEATHSIG`),
//! so nothing is left behind. Joins are bounded ([`CHILD_LIMIT`]); a child that outlives it is killed and
//! the scenario fails.
//!
//! ```no_run
//! use conkit_tests::mp::{reap, run_under_every_method, start};
//! fn child(n: u32) {
//!     assert_eq!(n, 7);
//! }
//! fn scenario() {
//!     reap(vec![start(child, 7u32)]);
//! }
//! conkit::multiprocessing::init();
//! run_under_every_method(&[("scenario", scenario)], std::time::Duration::from_secs(30));
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

use conkit::multiprocessing::{get_all_start_methods, Process, StartMethod};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::process::run_scenarios;

/// The longest a child may take before [`reap`] / [`join`] kill it and fail.
pub const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// The start method of the current pass (set in the main process before the scenarios
/// of a pass are forked, so every scenario process sees it).
static METHOD: Mutex<StartMethod> = Mutex::new(StartMethod::Fork);

/// The start method children are started with in this pass.
pub fn method() -> StartMethod {
    *METHOD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `scenarios` once per start method of [`get_all_start_methods`], printing the
/// method before each pass; exits with 1 (after the failing pass) if any scenario
/// failed. Arguments that do not start with `-` select scenarios by name, as
/// [`run_scenarios`].
pub fn run_under_every_method(scenarios: &[(&str, fn())], limit: Duration) {
    for m in get_all_start_methods() {
        println!("start method: {}", m.as_str());
        *METHOD.lock().unwrap_or_else(|e| e.into_inner()) = m;
        run_scenarios(scenarios, limit);
    }
}

/// Starts `target(args)` as a daemon child with the current pass's start method.
///
/// # Panics
/// If the process cannot be started.
pub fn start<A>(target: fn(A), args: A) -> Process
where
    A: Serialize + DeserializeOwned + Send + 'static,
{
    let mut p = Process::new(target, args)
        .daemon(true)
        .start_method(method());
    if let Err(e) = p.start() {
        panic!("cannot start a child with {}: {e}", method().as_str());
    }
    p
}

/// Waits at most `limit` for `p` and returns its exit code (`-signal` if killed).
///
/// # Panics
/// If it is still running after `limit` (it is killed first), or joining fails.
pub fn join_within(p: &mut Process, limit: Duration) -> i32 {
    match p.join_timeout(limit) {
        Ok(true) => {}
        Ok(false) => {
            let _ = p.kill();
            let _ = p.join();
            panic!("child {:?} still running after {limit:?}: killed", p.pid());
        }
        Err(e) => panic!("join: {e}"),
    }
    p.exitcode().expect("joined")
}

/// [`join_within`] with [`CHILD_LIMIT`].
///
/// # Panics
/// As [`join_within`].
pub fn join(p: &mut Process) -> i32 {
    join_within(p, CHILD_LIMIT)
}

/// Waits for every child (all within [`CHILD_LIMIT`] from now) and checks each exited
/// with 0 (a child's failed assertion is exit code 1, its message on stderr).
///
/// # Panics
/// If a child failed, was killed or hung.
pub fn reap(children: Vec<Process>) {
    let deadline = Instant::now() + CHILD_LIMIT;
    for mut c in children {
        let left = deadline.saturating_duration_since(Instant::now());
        let code = join_within(&mut c, left);
        assert_eq!(code, 0, "child {} ({:?}) failed", c.get_name(), c.pid());
    }
}

/// `SIGKILL`s `p` and returns its exit code once it is gone (`-9`).
///
/// # Panics
/// If the signal cannot be sent or the child does not end within [`CHILD_LIMIT`].
pub fn kill(mut p: Process) -> i32 {
    p.kill().expect("kill");
    join(&mut p)
}

/// A child's argument that serialises as an `S` in the parent and deserialises as a
/// `D` in the child: a child that attaches to the parent's object as another type (to
/// test the refusal, or a decode error at the reader).
///
/// ```
/// use conkit_tests::mp::Retype;
/// let arg: Retype<u8, u8> = Retype::Sent(7);
/// assert!(matches!(arg, Retype::Sent(7)));
/// ```
#[derive(Debug)]
pub enum Retype<S, D> {
    /// The parent's value.
    Sent(S),
    /// What the child deserialised.
    Received(D),
}

impl<S, D> Retype<S, D> {
    /// The child's value.
    ///
    /// # Panics
    /// If called on the parent's side ([`Retype::Sent`]).
    pub fn received(self) -> D {
        match self {
            Retype::Received(d) => d,
            Retype::Sent(_) => panic!("Retype::received on the sending side"),
        }
    }
}

impl<S: Serialize, D> Serialize for Retype<S, D> {
    fn serialize<Z: serde::Serializer>(&self, z: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            Retype::Sent(s) => s.serialize(z),
            Retype::Received(_) => Err(serde::ser::Error::custom(
                "a received Retype is not sent again",
            )),
        }
    }
}

impl<'de, S, D: serde::Deserialize<'de>> serde::Deserialize<'de> for Retype<S, D> {
    fn deserialize<Z: serde::Deserializer<'de>>(z: Z) -> Result<Self, Z::Error> {
        D::deserialize(z).map(Retype::Received)
    }
}
