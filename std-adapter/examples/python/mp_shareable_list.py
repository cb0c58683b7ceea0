# multiprocessing.shared_memory.ShareableList (the Python docs' example): a list in a
# named shared memory block; a child process attaches to it by name and changes it.
from multiprocessing import Process
from multiprocessing.shared_memory import ShareableList


def child(name):
    sl = ShareableList(name=name)
    sl[2] = 'dry ice'
    sl[6] = sl[6] + 1
    sl.shm.close()


if __name__ == '__main__':
    a = ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42])
    print(a.format)
    print(a[2])
    a[2] = -78.5
    print(a[2])
    p = Process(target=child, args=(a.shm.name,))
    p.start()
    p.join()
    print(a[2], a[6])
    try:
        a[2] = 'larger than previously allocated storage space'
    except ValueError as e:
        print('ValueError:', e)
    print(a.count('howdy'), a.index(43))
    a.shm.close()
    a.shm.unlink()
