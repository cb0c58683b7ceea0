//! Seed 001 Pool + Manager (python/mp_manager_pool_dict.py): 20 `apply_async` tasks of
//! a `Pool(4)` write to one manager dict (the proxy travels with each task).
use conkit::multiprocessing::managers::{DictProxy, Manager};
use conkit::multiprocessing::{self as mp, Pool};

fn complex_test((id, test_dict): (u32, DictProxy<String, Vec<String>>)) {
    test_dict
        .set("name", vec!["jiaojiao".into(), "xiaoxiao".into()])
        .unwrap();
    let mut value = test_dict.get("name").unwrap();
    value[0] = id.to_string();
    test_dict.set("name", &value).unwrap();
    test_dict.set(&format!("task {id}"), value).unwrap();
    println!("{:?}", test_dict.get("name").unwrap());
}

fn main() {
    mp::freeze_support();
    let pool = Pool::new(4).unwrap();
    let manager = Manager().unwrap();
    let test_dict = manager.dict::<String, Vec<String>>().unwrap();
    test_dict.set("name", vec!["xiaoxiao".to_string()]).unwrap();
    for i in 0..20 {
        pool.apply_async(complex_test, (i, test_dict.clone()))
            .unwrap();
    }
    pool.close();
    pool.join().unwrap();
    let task7 = test_dict.get("task 7").unwrap();
    println!("{} {:?}", test_dict.len().unwrap(), task7);
}
