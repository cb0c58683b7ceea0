# multiprocessing.Value: two processes add 100 000 each under get_lock()
from multiprocessing import Process, Value


def add(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


if __name__ == '__main__':
    v = Value('i', 0)
    ps = [Process(target=add, args=(v, 100000)) for _ in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print(v.value)
