//! 事件方法的使用 (seed 001; python/mp_event.py): a child process sets the event the
//! main process waits for (the seed's `e.set()` is commented out: it would wait for good).
use conkit::multiprocessing::{self as mp, Event, Process};
use std::{thread::sleep, time::Duration};

fn setter(e: Event) {
    sleep(Duration::from_millis(200));
    e.set(); // 将is_set()的状态改为True
}

fn main() {
    mp::init();
    let e = Event::new(); // 创建一个事件对象
    println!("{}", ["False", "True"][usize::from(e.is_set())]); // is_set()查看一个事件的状态，默认为False
    println!("look here！");
    let mut p = Process::new(setter, e.clone());
    p.start().unwrap();
    e.wait(); // is_set()=False那么就阻塞，is_set()=True就不阻塞
    println!("give me！！");
    e.clear(); // 将is_set()的状态改为False
    println!("{}", ["False", "True"][usize::from(e.is_set())]);
    p.join().unwrap();
}
