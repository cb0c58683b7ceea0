//! The JavaScript API of the demo (wasm only), used by `www/app.js` and `www/worker.js`.
//!
//! Main thread: `new Demo.spsc(…)` / `Demo.mpmc(…)` create a run; `demo.id` and
//! `demo.task_count()` tell the page which tasks to hand to workers; `pause`, `stop`
//! and `snapshot` never block. Workers: `worker_start()` once, then `run_task(id, i)`,
//! which blocks the worker until the run stops. The async demo: `new AsyncDemo(items)`,
//! its producer task to a worker, and `consume()` on the main thread (a promise: the
//! main thread awaits, never blocks).

use wasm_bindgen::prelude::*;

use crate::async_job::{self, AsyncRun, MainConsumer, ASYNC_CAPACITY};
use crate::registry;
use crate::run::{DemoRun, Snapshot, Task, CAPACITIES};
use crate::wait::{can_block, mark_worker_thread, WasmAtomics};
use crate::{mpmc_job, spsc_job};

/// The compiled module, to post to a worker so it instantiates the same code.
#[wasm_bindgen]
pub fn wasm_module() -> JsValue {
    wasm_bindgen::module()
}

/// The shared `WebAssembly.Memory`, to post to a worker so it shares this memory.
#[wasm_bindgen]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Marks the calling thread as a worker that may block (call once per worker).
#[wasm_bindgen]
pub fn worker_start() {
    mark_worker_thread();
}

/// Runs task `index` of run `id` to its end; blocks, so only a worker may call it.
#[wasm_bindgen]
pub fn run_task(id: u32, index: u32) -> Result<(), JsError> {
    if !can_block() {
        return Err(JsError::new(
            "run_task blocks: call it in a web worker after worker_start(), never on the main thread",
        ));
    }
    registry::take_task(id, index)
        .map_err(|e| JsError::new(&e.to_string()))?
        .run();
    Ok(())
}

/// The `[count, sum, xor]` checksum of `ids` (see `checksum.rs`), to check the
/// JavaScript implementation used by the `postMessage` workers.
#[wasm_bindgen]
pub fn checksum_of(ids: &[u32]) -> Vec<f64> {
    let mut c = crate::checksum::Checksum::new();
    c.add_all(ids);
    vec![c.count as f64, f64::from(c.sum), f64::from(c.xor)]
}

/// The ring capacities the demo offers.
#[wasm_bindgen]
pub fn capacities() -> Vec<u32> {
    CAPACITIES.to_vec()
}

/// A run of one of the shared-memory demos, as seen from the page.
#[wasm_bindgen]
pub struct Demo {
    id: u32,
    run: &'static dyn DemoRun,
}

impl core::fmt::Debug for Demo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Demo")
            .field("id", &self.id)
            .field("snapshot", &self.run.snapshot())
            .finish()
    }
}

/// Calls `$make::<N>` with the `N` of `CAPACITIES` equal to `$cap`.
macro_rules! with_capacity {
    ($cap:expr, $make:ident($($arg:expr),*)) => {
        match $cap {
            16 => Ok($make::<16>($($arg),*)),
            256 => Ok($make::<256>($($arg),*)),
            4096 => Ok($make::<4096>($($arg),*)),
            65536 => Ok($make::<65536>($($arg),*)),
            other => Err(JsError::new(&format!(
                "capacity {other} is not one of {CAPACITIES:?}"
            ))),
        }
    };
}

fn make_spsc<const N: usize>(batch: usize) -> (&'static dyn DemoRun, Vec<Box<dyn Task>>) {
    let (run, tasks) = spsc_job::spsc::<N, WasmAtomics>(batch);
    (run, tasks)
}

fn make_mpmc<const N: usize>(
    producers: usize,
    consumers: usize,
    permits: u32,
) -> (&'static dyn DemoRun, Vec<Box<dyn Task>>) {
    let (run, tasks) = mpmc_job::mpmc::<N, WasmAtomics>(producers, consumers, permits);
    (run, tasks)
}

#[wasm_bindgen]
impl Demo {
    /// A thread-style SPSC run: ring of `capacity` items (one of [`capacities`]),
    /// `batch` items per slice operation (1 = the blocking per-item `push`/`pop`).
    /// Tasks: 0 = producer, 1 = consumer.
    pub fn spsc(capacity: u32, batch: u32) -> Result<Demo, JsError> {
        let (run, tasks) = with_capacity!(capacity, make_spsc(batch as usize))?;
        Ok(Demo::register(run, tasks))
    }

    /// An MPMC run with `producers` and `consumers` workers (1..=8 each) and a
    /// semaphore of `permits` (1..=consumers). Tasks: producers, then consumers.
    pub fn mpmc(
        capacity: u32,
        producers: u32,
        consumers: u32,
        permits: u32,
    ) -> Result<Demo, JsError> {
        let producers = producers.clamp(1, 8) as usize;
        let consumers = consumers.clamp(1, 8) as usize;
        let (run, tasks) = with_capacity!(capacity, make_mpmc(producers, consumers, permits))?;
        Ok(Demo::register(run, tasks))
    }

    fn register(run: &'static dyn DemoRun, tasks: Vec<Box<dyn Task>>) -> Demo {
        Demo {
            id: registry::register(run, tasks),
            run,
        }
    }

    /// The run's id, for `run_task` in the workers.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// How many tasks (workers) the run has.
    pub fn task_count(&self) -> u32 {
        registry::task_count(self.id).unwrap_or(0)
    }

    /// Pauses or resumes all workers (event flags); `false` if the demo cannot pause.
    pub fn pause(&self, paused: bool) -> bool {
        self.run.pause(paused)
    }

    /// Asks all workers to finish; they drain the queue and publish their checksums.
    pub fn stop(&self) {
        self.run.stop();
    }

    /// Current statistics (atomic loads only: never blocks).
    pub fn snapshot(&self) -> Snapshot {
        self.run.snapshot()
    }

    /// Items moved by each worker so far, producers first.
    pub fn worker_counts(&self) -> Vec<f64> {
        self.run.worker_counts()
    }
}

/// The async demo as seen from the page: a producer worker and the page's main thread
/// **awaiting** the ring (see [`async_job`](crate::async_job)). `new AsyncDemo(items)`
/// (`0`: until `stop()`), hand task 0 to a worker (`id`, `task_count`), and
/// `consume()` starts the main thread's consumer task and returns a promise of the
/// number of items it received.
#[wasm_bindgen]
pub struct AsyncDemo {
    id: u32,
    run: &'static AsyncRun,
    consumer: Option<MainConsumer<ASYNC_CAPACITY, WasmAtomics>>,
}

impl core::fmt::Debug for AsyncDemo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncDemo")
            .field("id", &self.id)
            .field("run", &self.run)
            .finish()
    }
}

/// The async path's own figures (beside the common [`Snapshot`]).
#[wasm_bindgen]
#[derive(Debug, Clone, Copy)]
pub struct AsyncStats {
    /// Items the producer sends (`0`: until stopped).
    pub items: f64,
    /// Items the main thread received so far.
    pub received: f64,
    /// How often the main thread's task suspended in `pop().await` and a worker's push
    /// woke it (through `Atomics.waitAsync`).
    pub suspended: u32,
    /// Items taken by `pop().await` itself (the rest came with the `pop_slice` after it).
    pub awaited_items: u32,
}

#[wasm_bindgen]
impl AsyncDemo {
    /// A run of `items` items (`0`: until [`stop`](Self::stop)) over a ring of
    /// [`ASYNC_CAPACITY`] items. Task 0 (the producer) is for a worker.
    #[wasm_bindgen(constructor)]
    pub fn new(items: u32) -> AsyncDemo {
        let items = if items == 0 { u32::MAX } else { items };
        let (run, producer, consumer) = async_job::async_spsc::<ASYNC_CAPACITY, WasmAtomics>(items);
        AsyncDemo {
            id: registry::register(run, vec![producer]),
            run,
            consumer: Some(consumer),
        }
    }

    /// The run's id, for `run_task` in the worker.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// How many tasks (workers) the run has: 1, the producer.
    pub fn task_count(&self) -> u32 {
        registry::task_count(self.id).unwrap_or(0)
    }

    /// Starts the main thread's consumer task (`wasm_bindgen_futures`); the promise
    /// resolves to the number of items received once the producer has ended and the
    /// ring is drained. Never blocks. Fails if called twice.
    pub fn consume(&mut self) -> Result<js_sys::Promise, JsError> {
        let consumer = self
            .consumer
            .take()
            .ok_or_else(|| JsError::new("consume() was already called for this run"))?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let sum = consumer.consume().await;
            Ok(JsValue::from_f64(sum.count as f64))
        }))
    }

    /// Asks the producer to finish (a run of `0` items runs until this).
    pub fn stop(&self) {
        self.run.stop();
    }

    /// No pause control: always `false`.
    pub fn pause(&self, _paused: bool) -> bool {
        false
    }

    /// Current statistics (atomic loads only: never blocks).
    pub fn snapshot(&self) -> Snapshot {
        self.run.snapshot()
    }

    /// The async path's figures.
    pub fn async_stats(&self) -> AsyncStats {
        let items = self.run.items();
        AsyncStats {
            items: if items == u32::MAX {
                0.0
            } else {
                f64::from(items)
            },
            received: self.run.received() as f64,
            suspended: self.run.suspended(),
            awaited_items: self.run.awaited_items(),
        }
    }
}
