//! Seed 001's "派生multiprocessing.Process()的子类" (subclass `Process`, override `run`)
//! and a daemon process: `MyProcess` implements [`Run`]; two downloads run in spawned
//! children; a daemon child that would sleep for a minute dies with this process
//! (`PR_SET_PDEATHSIG`).
//!
//! Run: `cargo run -p conkit --example mp_process_subclass`.

use conkit::multiprocessing::{self as mp, Process, Run, StartMethod};
use std::time::{Duration, Instant};

#[derive(serde::Serialize, serde::Deserialize)]
struct MyProcess {
    filename: String,
}

impl Run for MyProcess {
    fn run(self) {
        println!("进程号是{}", std::process::id());
        println!(
            "现在开始下载{} in {}",
            self.filename,
            mp::current_process().name()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sleeper(_: ()) {
    std::thread::sleep(Duration::from_secs(60));
}

fn main() {
    mp::init();
    mp::set_start_method(StartMethod::Spawn).expect("set once");
    let start = Instant::now();
    let mut p1 = Process::from_run(MyProcess {
        filename: "新白娘子传奇".into(),
    });
    let mut p2 = Process::from_run(MyProcess {
        filename: "西游记".into(),
    });
    let mut d = Process::new(sleeper, ()).name("daemon").daemon(true);
    p1.start().expect("start p1");
    p2.start().expect("start p2");
    d.start().expect("start daemon");
    p1.join().expect("join p1");
    p2.join().expect("join p2");
    println!("exit codes {:?} {:?}", p1.exitcode(), p2.exitcode());
    println!(
        "active children: {:?}",
        mp::active_children()
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
    );
    println!("总共耗时：{:.1}s", start.elapsed().as_secs_f64().max(0.2));
}
