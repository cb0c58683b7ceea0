# Seed 001 (消费者生产者模型, "另外一种写法"): a producer process puts ten dishes and a
# None sentinel on a multiprocessing.Queue; a consumer process eats until the sentinel.
# (The seed's consumer polls with get_nowait after a sleep; a blocking get ends the
# same way without the race.)
from multiprocessing import Process, Queue
import time
import os


def prodecer(q):
    for i in range(10):
        s = "厨师制作的" + str(i) + "号菜品"
        q.put(s)
    q.put(None)


def consumer(q):
    while True:
        time.sleep(0.01)
        ifo = q.get()
        if ifo is None:
            break
        print("{} 吃掉了 {}".format(os.getpid(), ifo))


if __name__ == '__main__':
    print("主程序开始运行")
    q = Queue()
    p = Process(target=prodecer, args=(q, ))
    c = Process(target=consumer, args=(q, ))
    p.start()
    c.start()
    p.join()
    c.join()
    print("程序运行结束")
