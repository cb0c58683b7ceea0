# seed 001 (队列 Queue): a FIFO queue of maxsize 10, two gets, then drained.
from collections import deque  # 先进先出
import queue

q = queue.Queue(maxsize=10)
for i in range(10):
    q.put(i)
q.get()
q.get()
print(q.full())
print("the size is :", q.qsize())
q.put("haha")
while not q.empty():
    print(q.get())
