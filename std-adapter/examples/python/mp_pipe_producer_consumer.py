# Seed 001 (pipe实现生产者消费者模型): the main process sends ten red envelopes down a
# Pipe; a consumer process receives until EOFError, which comes once every copy of the
# sending end is closed (the forked consumer closes its copy, main closes its own).
from multiprocessing import Process, Pipe
import os


def producer(seq, pipe):
    print("生产者开始生产")
    prd, con = pipe
    con.close()
    for i in seq:
        s = str(os.getpid()) + "发送红包" + str(i)
        prd.send(s)
        print(s)


def consumer(pipe):
    while True:
        try:
            prd, con = pipe
            prd.close()
            rv = con.recv()
            print("消费者接受了{}".format(rv))
        except EOFError:  # 当出现recv阻塞情况时退出，有点类似Queue中发送结束信号
            break


def main():
    seq = [i for i in range(10)]
    pro, con = Pipe()

    c = Process(target=consumer, args=((pro, con), ))
    c.start()
    producer(seq, (pro, con))
    pro.close()
    con.close()
    c.join()


if __name__ == '__main__':
    print("程序开始")
    main()
    print("程序结束")
