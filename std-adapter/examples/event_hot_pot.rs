//! Event类示例:直接调用threading.Thread (seed 001; python/event_hot_pot.py).
use conkit::threading::{self, current_thread, Event};
use std::{thread::sleep, time::Duration};

static EVENT: Event = Event::new();
fn chihuoguo(name: &str) {
    println!("{} 已经启动", current_thread().name());
    println!("小伙伴 {name} 已经进入就餐状态");
    sleep(Duration::from_millis(50));
    EVENT.wait();
    println!("{} 收到通知了", current_thread().name());
    println!("小伙伴 {name} 开始动筷子了");
}

fn main() {
    let t1 = threading::spawn(|| chihuoguo("xiaoming"));
    let t2 = threading::spawn(|| chihuoguo("xiaobai"));
    sleep(Duration::from_millis(50));
    println!("主线程告诉大家可以开始吃喽");
    EVENT.set();
    t1.join().unwrap();
    t2.join().unwrap();
}
