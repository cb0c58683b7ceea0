# threading.Lock():给变量上锁，保护它被使用的唯一性（seed 001；不打印 time.ctime()）
import threading
sum = 0
loopsum = 1000000
lock = threading.Lock()
def myAdd():
    global sum, loopsum
    for i in range(1, loopsum):
        lock.acquire()
        sum += 1
        lock.release()
def myMinu():
    global sum, loopsum
    for i in range(1, loopsum):
        lock.acquire()
        sum -= 1
        lock.release()


if __name__ == "__main__":
    print("starting from {}".format(sum))
    t1 = threading.Thread(target=myAdd, args=())
    t2 = threading.Thread(target=myMinu, args=())
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    print("Done to {}".format(sum))
