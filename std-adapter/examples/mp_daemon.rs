//! 守护进程 (seed 001; python/mp_daemon.py): a daemon process ends with the main process
//! ("End fun" is never printed) and cannot create children (a typed error). conkit's
//! daemon dies even when the main process is SIGKILLed (`PR_SET_PDEATHSIG`).
use conkit::multiprocessing::{self as mp, Process};
use std::{thread::sleep, time::Duration};

fn child(_: ()) {
    println!("never runs");
}

fn fun(_: ()) {
    println!("Start fun");
    if let Err(e) = Process::new(child, ()).start() {
        println!("daemon: {e}"); // 守护进程将无法再创建子进程
    }
    sleep(Duration::from_secs(2));
    println!("End fun"); // never printed: the main process ends first
}

fn main() {
    mp::init();
    println!("Main process");
    let mut p = Process::new(fun, ()).daemon(true); // 必须在start()之前设置
    p.start().unwrap();
    sleep(Duration::from_secs(1));
    println!("Main process end");
}
