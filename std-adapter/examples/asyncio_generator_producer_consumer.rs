//! Seed 002 (协程), `python/asyncio_generator_producer_consumer.py`: the generator
//! producer/consumer, as two async tasks on one thread (tokio's current-thread runtime,
//! as asyncio's loop). Python's `c.send(n)` hands an item to the generator and resumes
//! it until its next `yield r`; here the producer puts the item on a `conkit::queue::Queue`
//! and awaits the reply on a second one, and the consumer awaits the items: the same
//! turn-taking, no lock, no second thread. The queues are the ones threads use.
use conkit::queue::Queue;

static ITEMS: Queue<Option<u32>> = Queue::new(1);
static REPLIES: Queue<&str> = Queue::new(1);

async fn consumer() {
    while let Some(n) = ITEMS.get_async().await.unwrap() {
        println!("[CONSUMER] Consuming {n}...");
        REPLIES.put_async("200 OK").await.unwrap();
    }
}

async fn produce() {
    for n in 1..=5 {
        println!("[PRODUCER] Producing {n}...");
        ITEMS.put_async(Some(n)).await.unwrap(); // r = c.send(n)
        let r = REPLIES.get_async().await.unwrap();
        println!("[PRODUCER] Consumer return: {r}");
    }
    ITEMS.put_async(None).await.unwrap(); // c.close()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let c = tokio::spawn(consumer());
    produce().await;
    c.await.unwrap();
}
