# 守护进程 (seed 001): "父进程中将一个子进程设置为守护进程,那么这个子进程会随着主进程的结束而结束;
# 守护进程将无法再创建子进程; 主进程创建守护进程同线程创建方法一样" -- the seed's daemon
# thread case (守护线程案例) with a Process; the daemon also tries to create a child.
from multiprocessing import Process
import time


def child():
    print("never runs")


def fun():
    print("Start fun", flush=True)
    try:
        Process(target=child).start()
    except AssertionError as e:
        print("daemon:", e, flush=True)  # 守护进程将无法再创建子进程
    time.sleep(2)
    print("End fun", flush=True)  # never printed: the main process ends first


if __name__ == "__main__":
    print("Main process", flush=True)
    p = Process(target=fun, args=())
    p.daemon = True  # 必须在start()之前设置
    p.start()
    time.sleep(1)
    print("Main process end", flush=True)
