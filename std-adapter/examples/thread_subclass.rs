//! 创建线程的第二种方法：继承threading.Thread() (seed 001; python/thread_subclass.py).
use conkit::threading::{Run, Thread};
use std::{thread::sleep, time::Duration};

struct MyThread(u32); // the subclass's `arg`

impl Run for MyThread {
    // 必须重写run函数
    fn run(&mut self) {
        sleep(Duration::from_millis(100));
        println!("the args for this class is {}", self.0);
    }
}

fn main() {
    for i in 0..4 {
        let t = Thread::from_run(MyThread(i));
        t.start().unwrap();
        t.join().unwrap();
    }
    println!("main thread is done!!!!!!!!!");
}
