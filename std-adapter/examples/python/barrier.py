# 多线程屏障（Barrier）：人到齐了才一起出发（seeds 只列出了 Barrier；按 seeds 的风格写成）
import threading
import time

def hiker(name, delay):
    time.sleep(delay)
    print("{} 到了集合点，等待其他人".format(name))
    barrier.wait()

barrier = threading.Barrier(3, action=lambda: print("人到齐了，出发！"))
threads = []
for i, name in enumerate(["xiaoming", "xiaobai", "xiaohong"]):
    t = threading.Thread(target=hiker, args=(name, i * 0.05))
    threads.append(t)
    t.start()
for t in threads:
    t.join()
print("大家一起出发了")
