# seed 001 (Producer / Consumer as Thread subclasses): 500 initial products, two
# producers adding 100 while fewer than 1000 are queued, five consumers taking 3 while
# more than 100 are. The seed's loops never end (and its start calls sit in a broken
# string); here each thread runs 2 rounds. Sleeps scaled down 20x (0.5 s -> 25 ms,
# 1 s -> 50 ms).
import queue
import threading
import time


class Producer(threading.Thread):
    def run(self):
        global q
        count = 0
        for _ in range(2):
            if q.qsize() < 1000:
                for i in range(100):
                    count += 1
                    msg = "Producing" + str(count) + "product"
                    q.put(msg)
                    print(msg)
            time.sleep(0.025)


class Consumer(threading.Thread):
    def run(self):
        global q
        for _ in range(2):
            if q.qsize() > 100:
                for i in range(3):
                    msg = self.name + "consums" + q.get()
                    print(msg)
            time.sleep(0.05)


if __name__ == "__main__":
    q = queue.Queue()
    for i in range(500):
        q.put("初始产品：" + str(i))
    for i in range(2):
        p = Producer()
        p.start()
    for i in range(5):
        c = Consumer()
        c.start()
    print(threading.active_count())
