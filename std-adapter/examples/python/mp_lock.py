# 进程锁 (seed 001): ten processes print under one multiprocessing.Lock
from multiprocessing import Process, Lock
import os


def f(l, i):
    l.acquire()
    try:
        print(os.getpid())
        print('hello world', i)
    finally:
        l.release()


if __name__ == '__main__':
    lock = Lock()

    for num in range(10):
        Process(target=f, args=(lock, num)).start()
