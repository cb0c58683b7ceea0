//! `multiprocessing.shared_memory.ShareableList` (python/mp_shareable_list.py, the
//! Python docs' example): a list in a named shared memory block; a child process
//! attaches to it by name and changes it.
use conkit::multiprocessing::shared_memory::{Item, ShareableList};
use conkit::multiprocessing::{self as mp, Process};

fn child(name: String) {
    let sl = ShareableList::attach(&name).unwrap();
    sl.set(2, "dry ice").unwrap();
    let Item::Int(n) = sl.get(6).unwrap() else {
        panic!("not an int")
    };
    sl.set(6, n + 1).unwrap();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    mp::init();
    let mut items: Vec<Item> = vec!["howdy".into(), b"HoWdY"[..].into()];
    items.extend([(-273.154).into(), 100.into(), Item::None]);
    items.extend([true.into(), 42.into()]);
    let a = ShareableList::create(items)?;
    println!("{}\n{}", a.format()?, a.get(2)?);
    a.set(2, -78.5)?;
    println!("{}", a.get(2)?);
    let mut p = Process::new(child, a.shm().name().to_string());
    p.start()?;
    p.join()?;
    println!("{} {}", a.get(2)?, a.get(6)?);
    let too_long = a.set(2, "larger than previously allocated storage space");
    println!("ValueError: {}", too_long.unwrap_err());
    let index = a.index(&Item::Int(43))?.expect("43 is in the list");
    println!("{} {index}", a.count(&Item::from("howdy"))?);
    a.shm().unlink()?;
    Ok(())
}
