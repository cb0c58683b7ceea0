//! `multiprocessing::managers`: a manager's server in a child process, proxies used by
//! real child processes (spawn, the default), the seed programs, errors, a killed
//! server, a killed client holding a lock, the networked `BaseManager`. Every test
//! calls `mp::init()` first (spawned children re-run the test binary with `--exact`).

use std::time::{Duration, Instant};

use conkit::multiprocessing::managers::{
    BaseManager, DictProxy, Kind, LockProxy, Manager, ManagerError, QueueProxy, SemaphoreProxy,
    ValueProxy,
};
use conkit::multiprocessing::{self as mp, Pool, Process};

mod common;
use common::mp::{bounded, serial};

fn start_all(ps: &mut [Process]) {
    for p in ps.iter_mut() {
        p.start().unwrap();
    }
}

fn join_all(ps: &mut [Process]) {
    for p in ps.iter_mut() {
        assert_eq!(bounded(p), 0);
    }
}

/// Seed 001's `complex_test`: a list value read, changed and written back.
fn complex_test((id, d): (u32, DictProxy<String, Vec<String>>)) {
    d.set("name", vec!["jiaojiao".to_string(), "xiaoxiao".into()])
        .unwrap();
    let mut value = d.get("name").unwrap();
    value[0] = id.to_string();
    d.set("name", &value).unwrap();
    d.set(&format!("seen {id}"), vec![id.to_string()]).unwrap();
}

#[test]
fn seed_dict_ten_processes() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let d = manager.dict::<String, Vec<String>>().unwrap();
    d.set("name", vec!["xiaoxiao".to_string()]).unwrap();
    let mut ps: Vec<Process> = (0..10)
        .map(|i| Process::new(complex_test, (i, d.clone())))
        .collect();
    start_all(&mut ps);
    join_all(&mut ps);
    let name = d.get("name").unwrap();
    assert_eq!(name.len(), 2);
    assert_eq!(name[1], "xiaoxiao");
    assert!(name[0].parse::<u32>().unwrap() < 10);
    assert_eq!(d.len().unwrap(), 11);
    for i in 0..10 {
        assert_eq!(d.get(&format!("seen {i}")).unwrap(), [i.to_string()]);
    }
}

fn pool_task((id, d): (u32, DictProxy<u32, u32>)) {
    d.set(&id, id * id).unwrap();
}

#[test]
fn seed_pool_apply_async_dict() {
    mp::init();
    let _s = serial();
    let pool = Pool::new(4).unwrap();
    let manager = Manager().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    for i in 0..20 {
        pool.apply_async(pool_task, (i, d.clone())).unwrap();
    }
    pool.close();
    pool.join().unwrap();
    let mut items = d.items().unwrap();
    items.sort();
    assert_eq!(items, (0..20).map(|i| (i, i * i)).collect::<Vec<_>>());
}

fn increment((lock, counter, n): (LockProxy, ValueProxy<u64>, u32)) {
    for _ in 0..n {
        let _g = lock.lock().unwrap();
        let v = counter.value().unwrap();
        counter.set(v + 1).unwrap();
    }
}

#[test]
fn lock_8_processes_1000_increments_each() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let lock = manager.lock().unwrap();
    let counter = manager.value(0u64).unwrap();
    let mut ps: Vec<Process> = (0..8)
        .map(|_| Process::new(increment, (lock.clone(), counter.clone(), 1000)))
        .collect();
    start_all(&mut ps);
    join_all(&mut ps);
    assert_eq!(counter.value().unwrap(), 8000);
    assert!(!lock.locked().unwrap());
}

#[test]
fn errors_are_typed() {
    mp::init();
    let manager = Manager().unwrap();
    let d = manager.dict::<String, u32>().unwrap();
    assert!(matches!(d.get("nope"), Err(ManagerError::KeyError)));
    assert!(matches!(d.pop("nope"), Err(ManagerError::KeyError)));
    assert!(matches!(d.del("nope"), Err(ManagerError::KeyError)));
    d.set("k", 1).unwrap();
    assert_eq!(d.setdefault("k", 5).unwrap(), 1);
    assert_eq!(d.get_or("x", 9).unwrap(), 9);
    let l = manager.list_from([1u8, 2]).unwrap();
    assert!(matches!(l.get(2), Err(ManagerError::IndexError)));
    assert!(matches!(l.set(5, 1), Err(ManagerError::IndexError)));
    assert!(matches!(l.remove(7), Err(ManagerError::ValueError(_))));
    assert_eq!(l.pop().unwrap(), 2);
    assert_eq!(l.pop().unwrap(), 1);
    assert!(matches!(l.pop(), Err(ManagerError::IndexError)));
    // The same object read as another type: a codec error, not a panic.
    let s = manager.value(String::from("not a number")).unwrap();
    let bytes = retype::<String, bool>(&s);
    assert!(matches!(bytes.value(), Err(ManagerError::Codec(_))));
    let ns = manager.namespace().unwrap();
    assert!(matches!(ns.get::<u8>("x"), Err(ManagerError::AttributeError(n)) if n == "x"));
    // A proxy of the wrong kind for a registered typeid.
    let mut m = BaseManager::default();
    m.register("q", Kind::Queue { maxsize: 0 });
    m.start().unwrap();
    assert!(matches!(
        m.get::<LockProxy>("q"),
        Err(ManagerError::Remote(_))
    ));
    assert!(matches!(
        m.get::<LockProxy>("other"),
        Err(ManagerError::State(_))
    ));
    let b = manager.bounded_semaphore(1).unwrap();
    assert!(b.release().is_err());
    assert!(matches!(
        manager.barrier(0),
        Err(ManagerError::ValueError(_))
    ));
}

/// The same server object seen through a proxy of another value type (what a
/// mismatched `DictProxy<K, V>` in another program would do): via serialisation.
fn retype<A, B>(p: &ValueProxy<A>) -> ValueProxy<B> {
    let bytes = conkit::multiprocessing::codec::to_bytes(p).unwrap();
    conkit::multiprocessing::codec::from_bytes(&bytes).unwrap()
}

#[test]
fn killed_server_makes_calls_fail_fast() {
    mp::init();
    let manager = Manager().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    d.set(&1, 1).unwrap();
    let pid = manager.process_id().unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let t = Instant::now();
    let mut last = Ok(0);
    while t.elapsed() < Duration::from_secs(5) {
        last = d.get(&1);
        if last.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = last.unwrap_err();
    assert!(e.is_disconnected(), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // And again (a fresh connection is refused), still no hang.
    assert!(d.len().unwrap_err().is_disconnected());
    drop(manager); // shutdown of a dead server: no hang either
}

#[test]
fn wrong_authkey_is_authentication_error() {
    mp::init();
    let mut server = BaseManager::new("127.0.0.1:0", b"right");
    server.start().unwrap();
    let mut client = BaseManager::new(server.address().unwrap(), b"wrong");
    assert!(matches!(
        client.connect(),
        Err(ManagerError::Authentication(_))
    ));
    let mut client = BaseManager::new(server.address().unwrap(), b"right");
    client.connect().unwrap();
}

fn hold_and_die((lock, sem): (LockProxy, SemaphoreProxy)) {
    lock.acquire().unwrap();
    sem.acquire().unwrap();
    sem.acquire().unwrap();
    // SAFETY: kill(2) on this process.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

#[test]
fn sigkilled_client_gives_its_lock_and_permits_back() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let lock = manager.lock().unwrap();
    let sem = manager.semaphore(3).unwrap();
    let mut p = Process::new(hold_and_die, (lock.clone(), sem.clone()));
    p.start().unwrap();
    assert_eq!(bounded(&mut p), -libc::SIGKILL);
    // The server sees the connection's end of file and releases (CPython: held for ever).
    assert!(lock.acquire_timeout(Duration::from_secs(5)).unwrap());
    lock.release().unwrap();
    let t = Instant::now();
    while sem.value().unwrap() != 3 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sem.value().unwrap(), 3);
}

fn take_and_die((sem, mut taken): (SemaphoreProxy, mp::Connection)) {
    sem.acquire().unwrap();
    taken.send(&()).unwrap();
    // Wait until the parent released the permit for us, then die holding none.
    let _: () = taken.recv().unwrap();
    // SAFETY: kill(2) on this process.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

/// The server gave back, when a client died, every permit that client had acquired
/// more often than it released itself: a permit released for it by another client (a
/// semaphore has no owner) was released twice, and the semaphore's value grew by one
/// per such client. A release now pays for a permit of the releasing client, else for
/// the oldest other holder's.
#[test]
fn a_permit_released_by_another_client_is_not_given_back_again() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let sem = manager.semaphore(2).unwrap();
    let (mut ours, theirs) = mp::Pipe(true).unwrap();
    let mut p = Process::new(take_and_die, (sem.clone(), theirs));
    p.start().unwrap();
    let () = ours.recv().unwrap();
    assert_eq!(sem.value().unwrap(), 1);
    sem.release().unwrap(); // the child's permit, released by this client
    assert_eq!(sem.value().unwrap(), 2);
    ours.send(&()).unwrap();
    assert_eq!(bounded(&mut p), -libc::SIGKILL);
    // Give the server time to see the end of file (and, before the fix, to release).
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        assert_eq!(sem.value().unwrap(), 2, "a permit was given back twice");
        std::thread::sleep(Duration::from_millis(10));
    }
    // And this client's own permits are still its own to take and give.
    assert!(sem.acquire_timeout(Duration::from_secs(1)).unwrap());
    assert!(sem.acquire_timeout(Duration::from_secs(1)).unwrap());
    assert!(!sem.try_acquire().unwrap());
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(sem.value().unwrap(), 2);
}

/// Seed 003's task_worker: connects over TCP, takes tasks, puts results.
fn task_worker((address, key): (String, Vec<u8>)) {
    let mut m = BaseManager::new(address, key);
    m.register_typeid("get_task_queue");
    m.register_typeid("get_result_queue");
    m.connect().unwrap();
    let task: QueueProxy<u64> = m.get("get_task_queue").unwrap();
    let result: QueueProxy<u64> = m.get("get_result_queue").unwrap();
    while let Ok(n) = task.get_timeout(Duration::from_millis(300)) {
        result.put(&(n * n)).unwrap();
    }
}

#[test]
fn distributed_queues_over_tcp() {
    mp::init();
    let _s = serial();
    let mut master = BaseManager::new("127.0.0.1:0", b"abc");
    master.register("get_task_queue", Kind::Queue { maxsize: 0 });
    master.register("get_result_queue", Kind::Queue { maxsize: 0 });
    master.start().unwrap();
    let task: QueueProxy<u64> = master.get("get_task_queue").unwrap();
    let result: QueueProxy<u64> = master.get("get_result_queue").unwrap();
    for n in 0..50 {
        task.put(&n).unwrap();
    }
    let address = master.address().unwrap().to_string();
    let mut ps: Vec<Process> = (0..3)
        .map(|_| Process::new(task_worker, (address.clone(), b"abc".to_vec())))
        .collect();
    start_all(&mut ps);
    let mut got: Vec<u64> = (0..50)
        .map(|_| result.get_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    join_all(&mut ps);
    got.sort();
    assert_eq!(got, (0..50).map(|n| n * n).collect::<Vec<_>>());
    master.shutdown().unwrap();
    assert!(task.qsize().unwrap_err().is_disconnected());
}

#[test]
fn serve_forever_in_this_process_until_shutdown() {
    mp::init();
    let mut m = BaseManager::new("127.0.0.1:0", b"k");
    m.register_factory("List", Kind::List);
    let server = m.get_server().unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let mut c = BaseManager::new(address, b"k");
    c.register_typeid("List");
    c.connect().unwrap();
    let l: conkit::multiprocessing::managers::ListProxy<u8> = c.get("List").unwrap();
    l.extend([3, 1, 2]).unwrap();
    l.sort().unwrap();
    assert_eq!(l.to_vec().unwrap(), [1, 2, 3]);
    c.shutdown().unwrap();
    t.join().unwrap().unwrap();
}

fn barrier_party(
    (b, e, q): (
        conkit::multiprocessing::managers::BarrierProxy,
        conkit::multiprocessing::managers::EventProxy,
        QueueProxy<DictProxy<String, u32>>,
    ),
) {
    b.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(e.wait_timeout(Duration::from_secs(10)).unwrap());
    // A proxy received through a manager queue reaches its object.
    let d = q.get_timeout(Duration::from_secs(10)).unwrap();
    let _ = d.setdefault("n", 0).unwrap();
    let _ = d.pop("never");
    d.set(&format!("{}", std::process::id()), 1).unwrap();
}

#[test]
fn barrier_event_and_a_proxy_through_a_queue() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let b = manager.barrier(3).unwrap();
    let e = manager.event().unwrap();
    let q = manager.queue::<DictProxy<String, u32>>(0).unwrap();
    let d = manager.dict::<String, u32>().unwrap();
    let mut ps: Vec<Process> = (0..2)
        .map(|_| Process::new(barrier_party, (b.clone(), e.clone(), q.clone())))
        .collect();
    start_all(&mut ps);
    b.wait_timeout(Duration::from_secs(10)).unwrap();
    q.put(&d).unwrap();
    q.put(&d).unwrap();
    e.set().unwrap();
    join_all(&mut ps);
    assert_eq!(d.len().unwrap(), 3);
    assert_eq!(d.get("n").unwrap(), 0);
}

fn add_key((d, key): (DictProxy<String, u32>, String)) {
    d.set(&key, 1).unwrap();
}

#[test]
fn proxies_work_in_children_of_every_start_method() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let d = manager.dict::<String, u32>().unwrap();
    // This thread has a connection now: a forked child must not use its copy.
    d.set("parent", 0).unwrap();
    for m in [
        mp::StartMethod::Fork,
        mp::StartMethod::Spawn,
        mp::StartMethod::Forkserver,
    ] {
        let mut p = mp::get_context(m).process(add_key, (d.clone(), format!("{m:?}")));
        p.start().unwrap();
        assert_eq!(bounded(&mut p), 0, "{m:?}");
        // The parent's connection still works after the child used the server.
        assert_eq!(d.get(&format!("{m:?}")).unwrap(), 1, "{m:?}");
    }
    assert_eq!(d.len().unwrap(), 4);
}

fn start_manager_and_wait(mut report: mp::Connection) {
    let manager = Manager().unwrap();
    report.send(&manager.process_id().unwrap()).unwrap();
    std::thread::sleep(Duration::from_secs(30));
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 is the state; a zombie has exited.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn server_process_dies_with_its_sigkilled_parent() {
    mp::init();
    let _s = serial();
    let (mut r, w) = mp::Pipe(false).unwrap();
    let mut p = Process::new(start_manager_and_wait, w);
    p.start().unwrap();
    assert!(r.poll(Some(Duration::from_secs(10))).unwrap());
    let server: u32 = r.recv().unwrap();
    assert!(alive(server));
    p.kill().unwrap();
    p.join().unwrap();
    let t = Instant::now();
    while alive(server) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!alive(server), "the manager's server outlived its parent");
}

fn rlock_and_condition_holder(
    (r, c, done): (
        conkit::multiprocessing::managers::RLockProxy,
        conkit::multiprocessing::managers::ConditionProxy,
        conkit::multiprocessing::managers::EventProxy,
    ),
) {
    r.acquire().unwrap();
    r.acquire().unwrap();
    c.acquire().unwrap();
    c.notify_all().unwrap();
    done.set().unwrap();
    // SAFETY: kill(2) on this process.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

#[test]
fn rlock_and_condition_of_a_sigkilled_client_are_released() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let r = manager.rlock().unwrap();
    let c = manager.condition().unwrap();
    let done = manager.event().unwrap();
    let mut p = Process::new(
        rlock_and_condition_holder,
        (r.clone(), c.clone(), done.clone()),
    );
    p.start().unwrap();
    assert!(done.wait_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(bounded(&mut p), -libc::SIGKILL);
    // Another owner (this thread's connection) gets both; the dead client's depth of 2
    // was given back whole.
    assert!(r.acquire_timeout(Duration::from_secs(5)).unwrap());
    r.release().unwrap();
    assert!(r.release().is_err());
    assert!(c.acquire_timeout(Duration::from_secs(5)).unwrap());
    assert!(!c.wait_timeout(Duration::from_millis(10)).unwrap());
    c.release().unwrap();
}

#[test]
fn an_object_goes_with_its_last_reference() {
    mp::init();
    let manager = Manager().unwrap();
    let l = manager.list_from([1u32, 2, 3]).unwrap();
    let clone = l.clone(); // shares the reference: no request
                           // A serialised copy holds a reference of its own (as a child's argument does).
    let bytes = mp::codec::to_bytes(&l).unwrap();
    drop(l);
    drop(clone);
    let copy: conkit::multiprocessing::managers::ListProxy<u32> =
        mp::codec::from_bytes(&bytes).unwrap();
    assert_eq!(copy.to_vec().unwrap(), [1, 2, 3]);
    drop(copy); // the last reference: the server drops the list
    let stale: conkit::multiprocessing::managers::ListProxy<u32> =
        mp::codec::from_bytes(&bytes).unwrap();
    assert!(matches!(stale.len(), Err(ManagerError::Remote(_))));
    std::mem::forget(stale); // its reference was never counted
}

fn shut_down_from_another_thread(address: conkit::multiprocessing::connection::Address) {
    std::thread::spawn(move || {
        let mut other = BaseManager::new(address, b"k");
        other.connect().unwrap();
        other.shutdown().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn a_kept_connection_to_a_restarted_server_is_replaced() {
    mp::init();
    // Serial: a `fork` of another test could hold a copy of the first listening socket
    // when the second binds the same port.
    let _s = serial();
    let first = BaseManager::new("127.0.0.1:0", b"k").get_server().unwrap();
    let address = first.address().clone();
    let t = std::thread::spawn(move || first.serve_forever());
    let mut c = BaseManager::new(address.clone(), b"k");
    c.connect().unwrap();
    let l = c.list::<u8>().unwrap();
    l.append(1).unwrap();
    shut_down_from_another_thread(address.clone());
    t.join().unwrap().unwrap();
    // A new server at the same address: this thread's kept connection is dead; the
    // call reaches the new server over a new connection (which does not know the list).
    let second = BaseManager::new(address.clone(), b"k")
        .get_server()
        .unwrap();
    let t = std::thread::spawn(move || second.serve_forever());
    let r = l.len();
    assert!(matches!(r, Err(ManagerError::Remote(_))), "{r:?}");
    drop(l);
    shut_down_from_another_thread(address);
    t.join().unwrap().unwrap();
}

fn blocked_getter(
    (q, ready): (
        QueueProxy<u32>,
        conkit::multiprocessing::managers::EventProxy,
    ),
) {
    ready.set().unwrap();
    let _ = q.get();
}

#[test]
fn an_item_for_a_sigkilled_blocked_getter_stays_in_the_queue() {
    mp::init();
    let _s = serial();
    let manager = Manager().unwrap();
    let q = manager.queue::<u32>(0).unwrap();
    let ready = manager.event().unwrap();
    let mut p = Process::new(blocked_getter, (q.clone(), ready.clone()));
    p.start().unwrap();
    assert!(ready.wait_timeout(Duration::from_secs(10)).unwrap());
    std::thread::sleep(Duration::from_millis(100)); // the child's get is waiting
    p.kill().unwrap();
    p.join().unwrap();
    q.put(&7).unwrap(); // handed to the dead client's waiting server thread
    assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), 7);
}

/// A user type on the server: a bank account with method-name dispatch.
#[derive(Default)]
struct Account {
    balance: i64,
}

impl conkit::multiprocessing::managers::Managed for Account {
    fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, String> {
        use conkit::multiprocessing::managers::{decode_args, encode_reply};
        match method {
            "deposit" => {
                self.balance += decode_args::<i64>(args)?;
                encode_reply(&self.balance)
            }
            "withdraw" => {
                let amount: i64 = decode_args(args)?;
                if amount > self.balance {
                    return Err(format!("insufficient funds: {}", self.balance));
                }
                self.balance -= amount;
                encode_reply(&self.balance)
            }
            "balance" => encode_reply(&self.balance),
            other => Err(format!("'Account' object has no attribute '{other}'")),
        }
    }
}

fn new_account() -> Box<dyn conkit::multiprocessing::managers::Managed> {
    Box::new(Account::default())
}

fn deposits(a: conkit::multiprocessing::managers::ManagedProxy) {
    for _ in 0..100 {
        a.call::<_, i64>("deposit", &1i64).unwrap();
    }
}

#[test]
fn managed_user_type_called_by_children() {
    mp::init();
    let _s = serial();
    let mut m = BaseManager::default();
    m.register_managed("Account", new_account, true);
    m.start().unwrap();
    let a: conkit::multiprocessing::managers::ManagedProxy = m.get("Account").unwrap();
    let mut ps: Vec<Process> = (0..4).map(|_| Process::new(deposits, a.clone())).collect();
    start_all(&mut ps);
    join_all(&mut ps);
    assert_eq!(a.call::<_, i64>("balance", &()).unwrap(), 400);
    assert_eq!(a.call::<_, i64>("withdraw", &150i64).unwrap(), 250);
    let e = a.call::<_, i64>("withdraw", &1000i64).unwrap_err();
    assert!(
        matches!(&e, ManagerError::Remote(m) if m.contains("insufficient")),
        "{e:?}"
    );
    assert!(matches!(
        a.call::<_, i64>("deposit", "ten"),
        Err(ManagerError::Remote(_))
    ));
    assert!(matches!(
        a.call::<_, String>("balance", &()),
        Err(ManagerError::Codec(_))
    ));
    // Shared: every get is the same account; a client cannot create one by kind.
    let b: conkit::multiprocessing::managers::ManagedProxy = m.get("Account").unwrap();
    assert_eq!(b.call::<_, i64>("balance", &()).unwrap(), 250);
    // In-process server too.
    let mut local = BaseManager::new("127.0.0.1:0", b"k");
    local.register_managed("Account", new_account, false);
    let server = local.get_server().unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let mut c = BaseManager::new(address, b"k");
    c.register_typeid("Account");
    c.connect().unwrap();
    let x: conkit::multiprocessing::managers::ManagedProxy = c.get("Account").unwrap();
    assert_eq!(x.call::<_, i64>("deposit", &3i64).unwrap(), 3);
    c.shutdown().unwrap();
    t.join().unwrap().unwrap();
}
