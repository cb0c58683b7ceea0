# Seed 003 分布式进程: the master exposes a task queue and a result queue on a
# BaseManager over TCP with an authkey; workers (here child processes; on other
# machines in the seed) connect() and use the network queues.
import queue, random
from multiprocessing import Process
from multiprocessing.managers import BaseManager

task_queue = queue.Queue()
result_queue = queue.Queue()


def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class QueueManager(BaseManager):
    pass


def worker(address):
    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    m = QueueManager(address=address, authkey=b'abc')
    m.connect()
    task, result = m.get_task_queue(), m.get_result_queue()
    while True:
        try:
            n = task.get(timeout=1)
        except queue.Empty:
            break
        print('run task %d * %d...' % (n, n))
        result.put('%d * %d = %d' % (n, n, n * n))


if __name__ == '__main__':
    QueueManager.register('get_task_queue', callable=get_task_queue)
    QueueManager.register('get_result_queue', callable=get_result_queue)
    manager = QueueManager(address=('127.0.0.1', 0), authkey=b'abc')
    manager.start()
    task, result = manager.get_task_queue(), manager.get_result_queue()
    for i in range(10):
        n = random.randint(0, 10000)
        print('Put task %d...' % n)
        task.put(n)
    workers = [Process(target=worker, args=(manager.address,)) for _ in range(2)]
    for w in workers:
        w.start()
    print('Try get results...')
    for i in range(10):
        print('Result: %s' % result.get(timeout=10))
    for w in workers:
        w.join()
    manager.shutdown()
    print('master exit.')
