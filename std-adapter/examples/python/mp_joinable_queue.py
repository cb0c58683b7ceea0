# Seed 001 (JoinableQueue举例实现多生产者多消费者模型): five producer processes put ten
# products each and wait (q.join()) until every product is marked done; five daemon
# consumer processes eat forever and die with the main process.
from multiprocessing import Process, JoinableQueue
import os


def producer(q, j):
    print("第{}个进程开始生产".format(j + 1))
    for i in range(10):
        s = "进程" + str(j+1) + "生产" + "第" + str(i + 1) + "个产品"
        q.put(s)
    print("进程{}的生产完毕".format(j + 1))
    q.join()


def consumer(q):
    while True:
        ifo = q.get()
        print("进程{}吃掉了{}".format(os.getpid(), ifo))
        q.task_done()


if __name__ == "__main__":
    print("主程序开始运行")
    p_l = []
    q = JoinableQueue()
    for i in range(5):
        p = Process(target=producer, args=(q, i))
        c = Process(target=consumer, args=(q,))
        c.daemon = True
        p.start()
        c.start()
        p_l.append(p)
    for p in p_l:
        p.join()
    print("程序运行完毕")
