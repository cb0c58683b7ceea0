# 信号量举例 (seed 001): 13 users, a KTV of 4 rooms (Semaphore(4)); 0–3 s shortened
# to 0.1–0.3 s, and the most users inside at once counted (it must be 4)
from multiprocessing import Process, Semaphore, Value
import time, random


def go_ktv(sem, user, inside, most):
    sem.acquire()
    print('%s 占到一间ktv小屋' % user)
    with inside.get_lock():
        inside.value += 1
        most.value = max(most.value, inside.value)
    time.sleep(random.randint(1, 3) / 10)  # 模拟每个人在ktv中待的时间不同
    with inside.get_lock():
        inside.value -= 1
    sem.release()


if __name__ == '__main__':
    sem = Semaphore(4)
    inside, most = Value('i', 0), Value('i', 0)
    p_l = []
    for i in range(13):
        p = Process(target=go_ktv, args=(sem, 'user%s' % i, inside, most))
        p.start()
        p_l.append(p)

    for i in p_l:
        i.join()
    print('============》')
    print('most inside at once:', most.value)
