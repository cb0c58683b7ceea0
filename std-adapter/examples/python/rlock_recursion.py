# 可重入锁（递归锁）示例---RLock（seed 001；1 秒缩短为 0.05 秒）
import threading, time

class MyThread(threading.Thread):
    def run(self):
        global num
        time.sleep(0.05)
        if mutex.acquire(timeout=0.05):
            num += 1
            msg = self.name + 'set num to ' + str(num)
            print(msg)
            mutex.acquire()
            mutex.release()
            mutex.release()

num = 0
mutex = threading.RLock() # 若该处为 mutex = threading.Lock(),则就会报错

def testing():
    for i in range(5):
        t = MyThread()
        t.start()

if __name__ == "__main__":
    testing()
