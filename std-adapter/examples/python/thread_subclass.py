# 创建线程的第二种方法：继承threading.Thread()（seed 001；2 秒缩短为 0.1 秒，不打印 time.ctime()）
import threading
import time

class MyThread(threading.Thread):
    def __init__(self, arg):
        super(MyThread, self).__init__()
        self.arg = arg
    # 必须重写run函数
    def run(self):
        time.sleep(0.1)
        print("the args for this class is {0}".format(self.arg))

for i in range(4):
    t = MyThread(i)
    t.start()
    t.join()
print("main thread is done!!!!!!!!!")
