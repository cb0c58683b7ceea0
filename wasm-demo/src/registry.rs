//! The table of live runs: the page refers to a run and its tasks by small integers,
//! and each task is handed out exactly once, to the worker that executes it.
//!
//! JavaScript cannot hold Rust references, and a worker only receives numbers through
//! `postMessage`; looking the run up here keeps every id check in safe Rust (an unknown
//! id or a task taken twice is an error, never a dangling pointer). The table is a
//! `conkit_core::lock::SpinMutex`: its critical sections are a few instructions, and
//! spinning never blocks the browser's main thread the way `Atomics.wait` would.

use core::fmt;

use conkit_core::lock::SpinMutex;

use crate::run::{DemoRun, Task};

struct Entry {
    run: &'static dyn DemoRun,
    tasks: Vec<Option<Box<dyn Task>>>,
}

static RUNS: SpinMutex<Vec<Entry>> = SpinMutex::new(Vec::new());

/// Why a task could not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskError {
    /// No run has this id.
    UnknownRun(u32),
    /// The run has no task with this index.
    UnknownTask(u32, u32),
    /// The task was already handed out to a worker.
    AlreadyTaken(u32, u32),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::UnknownRun(id) => write!(f, "no run with id {id}"),
            TaskError::UnknownTask(id, i) => write!(f, "run {id} has no task {i}"),
            TaskError::AlreadyTaken(id, i) => write!(f, "task {i} of run {id} was already taken"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Registers a run and its tasks; returns the run's id.
pub fn register(run: &'static dyn DemoRun, tasks: Vec<Box<dyn Task>>) -> u32 {
    let mut runs = RUNS.lock();
    runs.push(Entry {
        run,
        tasks: tasks.into_iter().map(Some).collect(),
    });
    (runs.len() - 1) as u32
}

/// The run with this id.
pub fn run(id: u32) -> Option<&'static dyn DemoRun> {
    RUNS.lock().get(id as usize).map(|e| e.run)
}

/// Number of tasks of the run with this id.
pub fn task_count(id: u32) -> Option<u32> {
    RUNS.lock().get(id as usize).map(|e| e.tasks.len() as u32)
}

/// Hands out task `index` of run `id`, once.
pub fn take_task(id: u32, index: u32) -> Result<Box<dyn Task>, TaskError> {
    let mut runs = RUNS.lock();
    let entry = runs.get_mut(id as usize).ok_or(TaskError::UnknownRun(id))?;
    let slot = entry
        .tasks
        .get_mut(index as usize)
        .ok_or(TaskError::UnknownTask(id, index))?;
    slot.take().ok_or(TaskError::AlreadyTaken(id, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Snapshot;

    struct Idle;
    impl DemoRun for Idle {
        fn pause(&self, _: bool) -> bool {
            false
        }
        fn stop(&self) {}
        fn snapshot(&self) -> Snapshot {
            Snapshot::default()
        }
        fn worker_counts(&self) -> Vec<f64> {
            Vec::new()
        }
    }
    struct Nop;
    impl Task for Nop {
        fn run(self: Box<Self>) {}
    }

    #[test]
    fn tasks_are_handed_out_once_and_bad_ids_are_errors() {
        let id = register(&Idle, vec![Box::new(Nop), Box::new(Nop)]);
        assert_eq!(task_count(id), Some(2));
        assert!(run(id).is_some());
        take_task(id, 1).expect("first take").run();
        assert_eq!(take_task(id, 1).err(), Some(TaskError::AlreadyTaken(id, 1)));
        assert_eq!(take_task(id, 2).err(), Some(TaskError::UnknownTask(id, 2)));
        assert_eq!(
            take_task(u32::MAX, 0).err(),
            Some(TaskError::UnknownRun(u32::MAX))
        );
        assert!(run(u32::MAX).is_none());
    }
}
