# condition案例2（seed 001；0.5/0.4 秒缩短为 0.025/0.02 秒，getName() 换成 name）
import threading
import random
import time

gProduct = 1000
gTotalTimes = 10
gTimes = 0
gCondition = threading.Condition()


class Producer(threading.Thread):
    def run(self):
        global gProduct
        global gTimes
        while True:
            new_product = random.randint(100, 1000)
            gCondition.acquire()
            if gTimes >= gTotalTimes:
                gCondition.release()
                break
            gProduct += new_product
            print(f"第{gTimes + 1}次生产：{threading.current_thread().name}生产了{new_product}件产品，现有{gProduct}件产品")
            gTimes += 1
            gCondition.notify_all()
            gCondition.release()
            time.sleep(0.025)


class Consumer(threading.Thread):
    def run(self):
        global gProduct
        global gTimes
        while True:
            con_prod = random.randint(100, 1000)
            gCondition.acquire()
            while gProduct < con_prod:
                if gTimes >= gTotalTimes:
                    gCondition.release()
                    # 使用return直接退出循环，而break的话只退出一层循环
                    return
                print("商品不足，正在备货中，请耐心等待")
                gCondition.wait()
            gProduct -= con_prod
            print(f"{threading.current_thread()}消费了{con_prod}件产品，还剩余{gProduct}件产品")
            gCondition.release()
            time.sleep(0.02)


def main():
    for i in range(5):
        p = Producer(name=f"生产者{i}")
        p.start()

    for i in range(5):
        c = Consumer(name=f"消费者{i}")
        c.start()


if __name__ == "__main__":
    main()
