# Event类示例:直接调用threading.Thread（seed 001；1 秒缩短为 0.05 秒，getName() 换成 name）
import threading, time

event = threading.Event()
def chihuoguo(name):
    print("{} 已经启动".format(threading.current_thread().name))
    print("小伙伴 %s 已经进入就餐状态" % name)
    time.sleep(0.05)
    event.wait()
    print("%s 收到通知了"% threading.current_thread().name)
    print("小伙伴 {} 开始动筷子了".format(name))

t1 = threading.Thread(target=chihuoguo, args=('xiaoming', ))
t2 = threading.Thread(target=chihuoguo, args=('xiaobai', ))
t1.start()
t2.start()
time.sleep(0.05)
print("主线程告诉大家可以开始吃喽")
event.set()
