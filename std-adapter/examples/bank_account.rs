//! 多线程锁：100个线程同时存钱 (seed 004; python/bank_account.py): the balance lives in its lock.
use conkit::threading::{self, Mutex};
use std::{thread::sleep, time::Duration};

struct Account {
    balance: Mutex<i64>,
}

impl Account {
    fn deposit(&self, money: i64) {
        // 先获取锁才能执行后续的代码 (the guard releases it on every path, as `finally` does)
        let mut balance = self.balance.lock();
        let new_balance = *balance + money;
        sleep(Duration::from_micros(500));
        *balance = new_balance;
    }
}

fn main() {
    let account = Account {
        balance: Mutex::new(0),
    };
    // 100 threads that borrow the account; the scope waits for all of them.
    threading::scope(|s| {
        for _ in 0..100 {
            s.spawn(|| account.deposit(1));
        }
    });
    println!("账户余额为: ￥{}元", account.balance.into_inner());
}
