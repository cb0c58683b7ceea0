# seed 001 (生产者消费者模型举例): a producer thread and the consumer "Tom" joined by a
# Queue(maxsize=5). The seed's loops never end ("这段代码停不下来") and its threads are
# never started; here the producer makes 8 products, then puts None to tell Tom to stop,
# and both threads are started and joined. Sleeps scaled down 20x (0.5 s -> 25 ms,
# 1.5 s -> 75 ms).
import threading
import time
import queue


def producer():
    count = 1
    for _ in range(8):
        q.put("No.%d" % count)
        print("Producer put No.%d" % count)
        time.sleep(0.025)
        for i in range(10):
            count += i
    q.put(None)


def consumer(name):
    while (product := q.get()) is not None:
        print("%s get %s" % (name, product))
        time.sleep(0.075)


q = queue.Queue(maxsize=5)
p = threading.Thread(target=producer, args=())
c = threading.Thread(target=consumer, args=("Tom",))
p.start()
c.start()
p.join()
c.join()
