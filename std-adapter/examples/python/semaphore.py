# threading.Semaphore(num),num默认值为1（seed 001；3 秒缩短为 0.15 秒）
import threading
import time

def fun(semaphore, num):
    # 获得信号量，信号量减一
    semaphore.acquire()
    print("Thread %d is running." % num)
    time.sleep(0.15)
    # 释放信号量，信号量加一
    semaphore.release()


if __name__ == '__main__':
    # 初始化信号量，数量为2
    semaphore = threading.Semaphore(2)

    # 运行6个线程
    for num in range(6):
        t = threading.Thread(target=fun, args=(semaphore, num))
        t.start()
