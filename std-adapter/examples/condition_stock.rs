//! condition案例2 (seed 001; python/condition_stock.py): the stock lives in the condition.
use conkit::threading::{self, current_thread, Monitor, Thread};
use std::hash::{BuildHasher, RandomState};
use std::{thread::sleep, time::Duration};

struct Stock {
    product: u64,
    times: u32,
}
const TOTAL_TIMES: u32 = 10;
static STOCK: Monitor<Stock> = Monitor::new(Stock {
    product: 1000,
    times: 0,
});

fn randint(low: u64, high: u64) -> u64 {
    low + RandomState::new().hash_one(()) % (high - low + 1)
}

fn producer() {
    loop {
        let new_product = randint(100, 1000);
        let mut stock = STOCK.lock();
        if stock.times >= TOTAL_TIMES {
            break;
        }
        stock.product += new_product;
        let (times, name, product) = (stock.times + 1, current_thread().name(), stock.product);
        println!("第{times}次生产：{name}生产了{new_product}件产品，现有{product}件产品");
        stock.times += 1;
        stock.notify_all();
        drop(stock);
        sleep(Duration::from_millis(25));
    }
}

fn consumer() {
    loop {
        let con_prod = randint(100, 1000);
        let mut stock = STOCK.lock();
        while stock.product < con_prod {
            if stock.times >= TOTAL_TIMES {
                // 使用return直接退出循环，而break的话只退出一层循环
                return;
            }
            println!("商品不足，正在备货中，请耐心等待");
            stock.wait();
        }
        stock.product -= con_prod;
        let (me, left) = (current_thread(), stock.product);
        println!("{me:?}消费了{con_prod}件产品，还剩余{left}件产品");
        drop(stock);
        sleep(Duration::from_millis(20));
    }
}

fn main() {
    threading::main(|| {
        for i in 0..5 {
            let p = Thread::new(producer);
            p.set_name(format!("生产者{i}"));
            p.start().unwrap();
        }

        for i in 0..5 {
            let c = Thread::new(consumer);
            c.set_name(format!("消费者{i}"));
            c.start().unwrap();
        }
    });
}
