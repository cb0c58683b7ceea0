# Seed 001 (进程池 Pool): download tasks in a Pool(3); apply_async with a callback that
# runs in the main process (it prints its process's name), plus apply and map.
# (The seed sleeps 1 s per file; 0.2 s here keeps the test run short.)
from multiprocessing import Pool, current_process
import os, time

def download(f):
    print("进程中的进程：pid = {}, ppid = {}".format(os.getpid(), os.getppid()))
    for i in range(3):
        print(f, "--文件--%d" % i)
        time.sleep(0.2)
    return {"result": 1, "info": "下载完成！"}

def alterUser(msg):
    print("callback runs in:", current_process().name)
    print("get result:", msg['info'])

if __name__ == "__main__":
    p = Pool(3)
    print("apply:", p.apply(download, ('0000',))['info'])
    for arg in ['1111', '2222', '3333', '4444']:
        p.apply_async(download, args=(arg, ), callback=alterUser)
    print("map:", p.map(download, ['5555', '6666']))
    p.close()
    p.join()
    print("程序结束")
