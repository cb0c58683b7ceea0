//! Seed 001 (进程池 Pool; python/mp_pool_download.py): download tasks in a `Pool` of 3;
//! `apply_async` with a callback that runs in the main process (it prints the name of
//! the process it runs in), plus `apply` and `map` on the same pool. Python's result
//! dict `{"result": 1, "info": "下载完成！"}` is a tuple here.
use conkit::multiprocessing::{current_process, pool::Callbacks, pool::Pool};

fn download(f: String) -> (u32, String) {
    let ppid = std::os::unix::process::parent_id();
    println!("进程中的进程：pid = {}, ppid = {ppid}", std::process::id());
    for i in 0..3 {
        println!("{f} --文件--{i}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    (1, "下载完成！".into())
}

fn alter_user(msg: &(u32, String)) {
    println!("callback runs in: {}", current_process().name());
    println!("get result: {}", msg.1);
}

fn main() {
    conkit::multiprocessing::init();
    let p = Pool::new(3).unwrap();
    println!("apply: {}", p.apply(download, "0000".into()).unwrap().1);
    for arg in ["1111", "2222", "3333", "4444"] {
        let cb = Callbacks::new().callback(alter_user);
        p.apply_async_with(download, arg.into(), cb).unwrap();
    }
    let results = p.map(download, ["5555", "6666"].map(String::from), None);
    println!("map: {:?}", results.unwrap());
    p.close();
    p.join().unwrap();
    println!("程序结束");
}
