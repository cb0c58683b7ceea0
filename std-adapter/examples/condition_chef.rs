//! 多线程条件类示例：threading.Condition() (seed 001; python/condition_chef.py). `num`
//! lives in the condition (`Monitor`), whose guard reads it, waits and notifies.
use conkit::threading::{current_thread, Monitor, Thread};
use std::{thread::sleep, time::Duration};

static NUM: Monitor<i32> = Monitor::new(0);

/// 生产者
fn producer() {
    let mut num = NUM.lock(); // 获取锁
    loop {
        *num += 1;
        println!("生产了1个，现在有{}个", *num);
        sleep(Duration::from_millis(50));
        if *num >= 5 {
            println!("已达到5个，不再生产");
            num.notify(1); // 唤醒消费者
            num.wait(); // 等待-释放锁；被唤醒-获取锁
        }
    }
}

fn customer() {
    let name = current_thread().name();
    for _money in 0..3 {
        // 在循环中添加一套"获取锁-释放锁",一个消费者购买完成后释放锁，其他消费者
        // 就可以获取锁来参与购买。
        let mut num = NUM.lock();
        while *num <= 0 {
            println!("没货了，{name}通知生产者");
            num.notify(1);
            num.wait();
        }
        *num -= 1;
        println!("{name}消费了1个, 剩余{}个", *num);
        drop(num); // con.release()
        sleep(Duration::from_millis(50));
    }
    println!("{name}没钱了-回老家");
}

fn main() {
    let p = Thread::builder().daemon(true).target(producer);
    let c1 = Thread::builder().name("Customer-1").target(customer);
    let c2 = Thread::builder().name("Customer-2").target(customer);
    p.start().unwrap();
    c1.start().unwrap();
    c2.start().unwrap();
    c1.join().unwrap();
    c2.join().unwrap();
}
