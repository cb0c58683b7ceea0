//! Seed 001 (pipe实现生产者消费者模型), `python/mp_pipe_producer_consumer.py`: the main
//! process sends ten red envelopes (红包) down a `Pipe`; a consumer process receives
//! until `EOFError`, which comes once every copy of the sending end is closed. Which
//! process id prints, and how the two processes' lines interleave, depend on the run.
//!
//! One difference from the seed: its forked consumer holds a copy of every descriptor
//! of its parent, so it gets both ends and closes the sending one. A conkit child holds
//! only its arguments' descriptors (under every start method), so the consumer gets
//! its receiving end alone, and the end of file comes when the main process closes the
//! sending end after the last envelope.
use conkit::multiprocessing::{self as mp, Connection, Pipe, Process};

fn producer(seq: &[u32], prd: &mut Connection) {
    println!("生产者开始生产");
    for i in seq {
        let s = format!("{}发送红包{i}", std::process::id());
        prd.send(&s).unwrap();
        println!("{s}");
    }
}

fn consumer(mut con: Connection) {
    let mut received = 0;
    loop {
        match con.recv::<String>() {
            Ok(rv) => {
                println!("消费者接受了{rv}");
                received += 1;
            }
            Err(e) if e.is_eof() => break, // 当管道的发送端全部关闭时退出
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(received, 10); // every envelope, then the end of file
}

fn main() {
    mp::init();
    println!("程序开始");
    let seq: Vec<u32> = (0..10).collect();
    let (mut pro, con) = Pipe(true).unwrap();
    let mut c = Process::new(consumer, con);
    c.start().unwrap();
    producer(&seq, &mut pro);
    pro.close(); // the consumer's recv now ends with Eof
    c.join().unwrap();
    assert_eq!(c.exitcode(), Some(0));
    println!("程序结束");
}
