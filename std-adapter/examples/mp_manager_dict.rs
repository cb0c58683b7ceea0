//! Seed 001 multiprocessing.Manager (python/mp_manager_dict.py): a manager dict shared
//! by 10 processes; each replaces a list value (read a copy, change it, assign it back).
use conkit::multiprocessing::managers::{DictProxy, Manager};
use conkit::multiprocessing::{self as mp, Process};

fn complex_test((id, test_dict): (u32, DictProxy<String, Vec<String>>)) {
    test_dict
        .set("name", vec!["jiaojiao".into(), "xiaoxiao".into()])
        .unwrap();
    let mut value = test_dict.get("name").unwrap();
    value[0] = id.to_string();
    test_dict.set("name", value).unwrap();
    println!("{:?}", test_dict.copy().unwrap());
}

fn main() {
    mp::freeze_support();
    let manager = Manager().unwrap(); // `with`: shut down when dropped
    let test_dict = manager.dict::<String, Vec<String>>().unwrap();
    test_dict.set("name", vec!["xiaoxiao".to_string()]).unwrap();
    let mut ps: Vec<Process> = (0..10)
        .map(|i| Process::new(complex_test, (i, test_dict.clone())))
        .collect();
    ps.iter_mut().for_each(|p| p.start().unwrap());
    ps.iter_mut().for_each(|p| p.join().unwrap());
    let name = test_dict.get("name").unwrap();
    println!("{} {}", test_dict.len().unwrap(), name[1]);
}
