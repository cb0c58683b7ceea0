# Seed 004 (协程): two tasks made with create_task run concurrently on one thread, so
# the 0.1 s and 0.2 s sleeps (the seed's 1 s and 2 s, scaled down by 10 to keep the
# example short) take about 0.2 s in all, not 0.3 s.
import asyncio
import time


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)


async def main():
    task1 = asyncio.create_task(say_after(0.1, 'hello'))  # starts, does not wait
    task2 = asyncio.create_task(say_after(0.2, 'world'))
    start = time.monotonic()
    print('started')
    await task1  # waits for it to finish
    await task2
    elapsed = time.monotonic() - start
    print('finished: the sleeps overlapped' if elapsed < 0.3 else 'finished: one after the other')


asyncio.run(main())
