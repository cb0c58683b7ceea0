# Seed 001 multiprocessing.Manager: a manager dict shared by 10 processes; each one
# replaces a list value (a proxy hands out copies: read, change, assign back).
import multiprocessing


def complex_test(id, test_dict):
    test_dict['name'] = ['jiaojiao', 'xiaoxiao']
    value = test_dict['name']
    value[0] = id
    test_dict['name'] = value
    print(test_dict)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    with multiprocessing.Manager() as manager:
        test_dict = manager.dict()
        test_dict['name'] = ['xiaoxiao']
        ps = [multiprocessing.Process(target=complex_test, args=(i, test_dict)) for i in range(10)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        print(len(test_dict), test_dict['name'][1])
