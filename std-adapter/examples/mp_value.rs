//! `multiprocessing.Value` (python/mp_value.py): two processes add 100 000 each under
//! `get_lock()`; the total is exactly 200 000.
use conkit::multiprocessing::{self as mp, Process, Value};

fn add((v, n): (Value<i32>, u32)) {
    for _ in 0..n {
        let _g = v.get_lock().lock(); // with v.get_lock():
        v.set(v.get() + 1); //            v.value += 1
    }
}

fn main() {
    mp::init();
    let v = Value::new(0);
    let mut ps: Vec<Process> = (0..2)
        .map(|_| Process::new(add, (v.clone(), 100_000)))
        .collect();
    ps.iter_mut().for_each(|p| p.start().unwrap());
    ps.iter_mut().for_each(|p| p.join().unwrap());
    println!("{}", v.get());
}
