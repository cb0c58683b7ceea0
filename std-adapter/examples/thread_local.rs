//! ThreadLocal：每个线程保存自己的属性，其他线程不可见 (python/thread_local.py).
use conkit::threading::{current_thread, Local, Thread};

// 创建全局ThreadLocal对象:
static LOCAL_SCHOOL: Local<String> = Local::new(String::new);

fn process_student() {
    // 获取当前线程关联的student:
    let std = LOCAL_SCHOOL.get();
    println!("Hello, {std} (in {})", current_thread().name());
}

fn process_thread(name: &str) {
    // 绑定ThreadLocal的student:
    LOCAL_SCHOOL.set(name.to_owned());
    process_student();
}

fn main() {
    let t1 = Thread::new(|| process_thread("Alice"));
    t1.set_name("Thread-A");
    let t2 = Thread::new(|| process_thread("Bob"));
    t2.set_name("Thread-B");
    t1.start().unwrap();
    t2.start().unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
}
