# seed 001 (栈 LifoQueue, 队列 Queue, 优先级队列 PriorityQueue): the notes describe the
# three orders but show no code for them; this is their demo in the style of the
# seed's Queue cells: last in first out, first in first out, and the most urgent task
# (the smallest weight) first.
import queue

stack = queue.LifoQueue()
fifo = queue.Queue()
for i in range(1, 6):
    stack.put(i)
    fifo.put(i)
print("LifoQueue:", [stack.get() for _ in range(5)])
print("Queue:", [fifo.get() for _ in range(5)])
tasks = queue.PriorityQueue()
tasks.put((2, "write the report"))
tasks.put((1, "fix the build"))
tasks.put((3, "lunch"))
while not tasks.empty():
    print("%d %s" % tasks.get())
