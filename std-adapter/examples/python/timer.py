# 多线程定时类（Timer）（seed 001；1 秒缩短为 0.05 秒）
from threading import Timer

def hello():
    print("hello, world")

t = Timer(0.05, hello)
t.start()  # after 0.05 seconds, "hello, world" will be printed
