//! Seed 004 (协程), `python/asyncio_say_after.py`: two tasks made with `create_task`
//! (here `tokio::spawn`) run concurrently on one thread (tokio's current-thread
//! runtime, as asyncio's loop), so the 0.1 s and 0.2 s sleeps — the seed's 1 s and 2 s,
//! scaled down by 10 to keep the example short — take about 0.2 s in all, not 0.3 s.
use std::time::{Duration, Instant};

async fn say_after(delay: f64, what: &str) {
    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
    println!("{what}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let task1 = tokio::spawn(say_after(0.1, "hello")); // starts, does not wait
    let task2 = tokio::spawn(say_after(0.2, "world"));
    let start = Instant::now();
    println!("started");
    task1.await.unwrap(); // waits for it to finish
    task2.await.unwrap();
    let overlapped = start.elapsed() < Duration::from_secs_f64(0.3);
    let how = ["one after the other", "the sleeps overlapped"][usize::from(overlapped)];
    println!("finished: {how}");
}
