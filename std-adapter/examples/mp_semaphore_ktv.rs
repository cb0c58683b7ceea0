//! 信号量举例 (seed 001; python/mp_semaphore_ktv.py): 13 users, a KTV of 4 rooms
//! (`Semaphore(4)`); the most users inside at once is counted in shared `Value`s.
use conkit::multiprocessing::{self as mp, Process, Semaphore, Value};
use std::{thread::sleep, time::Duration};

type Args = (Semaphore, String, Value<i32>, Value<i32>);

fn go_ktv((sem, user, inside, most): Args) {
    sem.acquire();
    println!("{user} 占到一间ktv小屋");
    most.update(|m| m.max(inside.update(|v| v + 1)));
    // 模拟每个人在ktv中待的时间不同 (0.1–0.3 s)
    sleep(Duration::from_millis(
        100 * u64::from(std::process::id() % 3 + 1),
    ));
    inside.update(|v| v - 1);
    sem.release().unwrap();
}

fn main() {
    mp::init();
    let sem = Semaphore::new(4);
    let (inside, most) = (Value::new(0), Value::new(0));
    let args = |i| {
        (
            sem.clone(),
            format!("user{i}"),
            inside.clone(),
            most.clone(),
        )
    };
    let mut p_l: Vec<Process> = (0..13).map(|i| Process::new(go_ktv, args(i))).collect();
    p_l.iter_mut().for_each(|p| p.start().unwrap());
    p_l.iter_mut().for_each(|p| p.join().unwrap());
    println!("============》");
    println!("most inside at once: {}", most.get());
    assert_eq!(most.get(), 4);
}
