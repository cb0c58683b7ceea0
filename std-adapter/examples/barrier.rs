//! 多线程屏障（Barrier）：人到齐了才一起出发 (python/barrier.py).
use conkit::threading::{self, Barrier};
use std::{sync::LazyLock, thread::sleep, time::Duration};

fn hiker(name: &str, delay: Duration) {
    sleep(delay);
    println!("{name} 到了集合点，等待其他人");
    BARRIER.wait().unwrap();
}

// A barrier with an action is built at run time: a `static` holds it through `LazyLock`.
static BARRIER: LazyLock<Barrier> =
    LazyLock::new(|| Barrier::new(3).with_action(|| println!("人到齐了，出发！")));

fn main() {
    threading::scope(|s| {
        for (i, name) in ["xiaoming", "xiaobai", "xiaohong"].into_iter().enumerate() {
            s.spawn(move || hiker(name, Duration::from_millis(50) * i as u32));
        }
    });
    println!("大家一起出发了");
}
