# 事件方法的使用 (seed 001): the seed's e.wait() blocks for good (its e.set() is
# commented out); here a child process sets the event after 0.2 s
from multiprocessing import Event, Process
import time


def setter(e):
    time.sleep(0.2)
    e.set()  # 将is_set()的状态改为True


if __name__ == '__main__':
    e = Event()  # 创建一个事件对象
    print(e.is_set())  # is_set()查看一个事件的状态，默认为False
    print('look here！')
    Process(target=setter, args=(e,)).start()
    e.wait()  # is_set()=False那么就阻塞，is_set()=True就不阻塞
    print('give me！！')
    e.clear()  # 将is_set()的状态改为False
    print(e.is_set())
