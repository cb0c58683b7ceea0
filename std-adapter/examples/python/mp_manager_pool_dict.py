# Seed 001 Pool + Manager: 20 apply_async tasks of a Pool(4) write to one manager dict.
import multiprocessing
from multiprocessing import Pool


def complex_test(id, test_dict):
    test_dict['name'] = ['jiaojiao', 'xiaoxiao']
    value = test_dict['name']
    value[0] = id
    test_dict['name'] = value
    test_dict['task %d' % id] = value
    print(test_dict['name'])


if __name__ == "__main__":
    multiprocessing.freeze_support()
    pool = Pool(4)
    with multiprocessing.Manager() as manager:
        test_dict = manager.dict()
        test_dict['name'] = ['xiaoxiao']
        for i in range(20):
            pool.apply_async(complex_test, args=(i, test_dict))
        pool.close()
        pool.join()
        print(len(test_dict), test_dict['task 7'])
