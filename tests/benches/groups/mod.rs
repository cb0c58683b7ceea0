//! Benchmark groups of the std layer (`conkit::threading`, `conkit::queue`), one module
//! per Python module, each against its Rust peers and CPython.

use core_affinity::CoreId;

use crate::harness::Group;

pub mod asyncio;
pub mod conn_async;
pub mod coroutines;
pub mod lock_scaling;
pub mod mp_pipe;
pub mod mp_pool;
pub mod mp_process;
pub mod mp_queue;
pub mod mp_value;
pub mod processes;
pub mod queue;
pub mod threading;

/// A named benchmark and how to build it (built only if selected).
pub type Make = Box<dyn Fn() -> Group<'static>>;

/// Every std-layer benchmark, for `items` operations per measurement; `core` is the CPU
/// single-thread latency benchmarks are pinned to.
pub fn all(items: u64, core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    let mut v = threading::all(items, core);
    v.extend(queue::all(items, core));
    v.extend(lock_scaling::all(items));
    v.extend(processes::all(items, core));
    v.extend(mp_process::all(items));
    v.extend(mp_value::all(items, core));
    v.extend(mp_pipe::all(items, core));
    v.extend(mp_queue::all(items, core));
    v.extend(mp_pool::all(items, core));
    v.extend(asyncio::all(items));
    v.extend(coroutines::all(items, core));
    v.extend(conn_async::all(items));
    v
}
