//! Host producer/consumer demo: OS threads moving items through the `conkit-core` rings,
//! with live rates and a checksum proving nothing was lost or duplicated.
//!
//! `cargo xtask demo` runs it. Optional argument: seconds per demo (default 2).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use conkit::core::mpmc::MpmcRing;
use conkit::core::spsc::SpscRing;

/// Prints the running rate of `counter` every 250 ms until `stop` is set.
fn report(name: &str, counter: &AtomicU64, stop: &AtomicBool, started: Instant) {
    let mut last = 0;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(250));
        let now = counter.load(Ordering::Relaxed);
        let rate = (now - last) as f64 * 4.0 / 1e6;
        last = now;
        println!(
            "  {name:<28} t={:>4.2}s  {rate:>8.1} M items/s  total {now}",
            started.elapsed().as_secs_f64()
        );
    }
}

fn spsc_demo(secs: f64) -> bool {
    println!("SPSC ring (1 producer thread -> 1 consumer thread, capacity 1024)");
    let mut ring: SpscRing<u64, 1024> = SpscRing::new();
    let (mut tx, mut rx) = ring.split();
    let received = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (sent, sum, expect) = thread::scope(|s| {
        let producer = s.spawn(|| {
            let mut n = 0u64;
            while started.elapsed().as_secs_f64() < secs {
                for _ in 0..1024 {
                    n += 1;
                    let mut v = n;
                    while let Err(e) = tx.try_push(v) {
                        v = e.into_inner();
                        std::hint::spin_loop();
                    }
                }
            }
            drop(tx);
            n
        });
        let consumer = s.spawn(|| {
            let (mut sum, mut count, mut expect_next, mut in_order) = (0u64, 0u64, 1u64, true);
            loop {
                match rx.try_pop() {
                    Ok(v) => {
                        in_order &= v == expect_next;
                        expect_next = v + 1;
                        sum = sum.wrapping_add(v);
                        count += 1;
                        if count % 4096 == 0 {
                            received.store(count, Ordering::Relaxed);
                        }
                    }
                    Err(conkit::core::spsc::PopError::Empty) => std::hint::spin_loop(),
                    Err(conkit::core::spsc::PopError::Disconnected) => break,
                }
            }
            received.store(count, Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
            (sum, in_order)
        });
        s.spawn(|| report("spsc", &received, &stop, started));
        let n = producer.join().unwrap_or(0);
        let (sum, in_order) = consumer.join().unwrap_or((0, false));
        (n, sum, in_order)
    });
    let want = sent.wrapping_mul(sent + 1) / 2;
    let ok = sum == want && expect;
    println!(
        "  => {sent} items, checksum {} ({sum} == {want}), order {}\n",
        if sum == want { "ok" } else { "MISMATCH" },
        if expect { "kept" } else { "BROKEN" }
    );
    ok
}

fn mpmc_demo(secs: f64) -> bool {
    const PRODUCERS: u64 = 2;
    const CONSUMERS: usize = 2;
    println!("MPMC ring ({PRODUCERS} producers -> {CONSUMERS} consumers, capacity 1024)");
    let ring: Arc<MpmcRing<u64, 1024>> = Arc::new(MpmcRing::new());
    let received = AtomicU64::new(0);
    let producers_done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (sent_sum, got_sum, got) = thread::scope(|s| {
        let mut producers = Vec::new();
        for p in 0..PRODUCERS {
            let ring = &ring;
            let producers_done = &producers_done;
            producers.push(s.spawn(move || {
                let mut sum = 0u64;
                let mut i = 0u64;
                while started.elapsed().as_secs_f64() < secs {
                    for _ in 0..1024 {
                        i += 1;
                        let v = i * PRODUCERS + p;
                        sum = sum.wrapping_add(v);
                        let mut item = v;
                        while let Err(full) = ring.try_push(item) {
                            item = full.into_inner();
                            std::hint::spin_loop();
                        }
                    }
                }
                producers_done.fetch_add(1, Ordering::SeqCst);
                sum
            }));
        }
        let mut consumers = Vec::new();
        for _ in 0..CONSUMERS {
            let ring = &ring;
            let received = &received;
            let producers_done = &producers_done;
            consumers.push(s.spawn(move || {
                let (mut sum, mut count) = (0u64, 0u64);
                loop {
                    match ring.try_pop() {
                        Some(v) => {
                            sum = sum.wrapping_add(v);
                            count += 1;
                            if count % 4096 == 0 {
                                received.fetch_add(4096, Ordering::Relaxed);
                            }
                        }
                        None if producers_done.load(Ordering::SeqCst) == PRODUCERS
                            && ring.is_empty() =>
                        {
                            break
                        }
                        None => std::hint::spin_loop(),
                    }
                }
                received.fetch_add(count % 4096, Ordering::Relaxed);
                (sum, count)
            }));
        }
        let reporter = s.spawn(|| report("mpmc", &received, &stop, started));
        let sent: u64 = producers
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .fold(0, u64::wrapping_add);
        let (mut got_sum, mut got) = (0u64, 0u64);
        for h in consumers {
            let (s, c) = h.join().unwrap_or((0, 0));
            got_sum = got_sum.wrapping_add(s);
            got += c;
        }
        stop.store(true, Ordering::Relaxed);
        let _ = reporter.join();
        (sent, got_sum, got)
    });
    let ok = sent_sum == got_sum;
    println!(
        "  => {got} items, checksum {} ({got_sum} == {sent_sum})\n",
        if ok { "ok" } else { "MISMATCH" }
    );
    ok
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    println!("conkit demo: OS threads sharing conkit-core rings (the browser demo comes with its own issue)\n");
    let ok = spsc_demo(secs) & mpmc_demo(secs);
    if ok {
        println!("all checksums ok: nothing lost, nothing duplicated");
    } else {
        println!("CHECKSUM MISMATCH");
        std::process::exit(1);
    }
}
