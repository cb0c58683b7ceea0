# threading.BoundedSemaphore(num)（seed 001；3 秒缩短为 0.15 秒）
import threading
import time


def fun(semaphore, num):
    # 获得信号量，信号量减一
    semaphore.acquire()
    print("Thread %d is running." % num)
    time.sleep(0.15)
    # 释放信号量，信号量加一
    semaphore.release()
    # 再次释放信号量，信号量加一，这是超过限定的信号量数目，这时会报错ValueError: Semaphore released too many times
    #semaphore.release()


if __name__ == '__main__':
    # 初始化信号量，数量为3，最多有3个线程获得信号量，信号量不能通过释放而大于3
    semaphore = threading.BoundedSemaphore(3)

    # 运行4个线程
    for num in range(4):
        t = threading.Thread(target=fun, args=(semaphore, num))
        t.start()
