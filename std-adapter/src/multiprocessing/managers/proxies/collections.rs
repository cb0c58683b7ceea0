//! `dict`, `list`, `Namespace`, `Value` and `Array` proxies.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::proxy;
use crate::multiprocessing::managers::client::{dec, enc, unexpected};
use crate::multiprocessing::managers::protocol::{Op, Reply};
use crate::multiprocessing::managers::ManagerError;

type Result<T> = std::result::Result<T, ManagerError>;

/// The methods `ListProxy` and `ArrayProxy` share (one server op each); `$v` names
/// the object in their docs.
macro_rules! sequence_methods {
    ($v:literal) => {
        #[doc = concat!("`", $v, "[index]`; [`ManagerError::IndexError`] out of range.")]
        pub fn get(&self, index: usize) -> Result<T> {
            self.token.call(Op::ListGet(index as u64))?.value()
        }

        #[doc = concat!("`", $v, "[index] = value`; [`ManagerError::IndexError`] out of range.")]
        pub fn set(&self, index: usize, value: impl Borrow<T>) -> Result<()> {
            self.token
                .call(Op::ListSet(index as u64, enc(value.borrow())?))?
                .unit()
        }

        #[doc = concat!("`len(", $v, ")`.")]
        pub fn len(&self) -> Result<usize> {
            self.token.call(Op::Len)?.count()
        }

        #[doc = concat!("`len(", $v, ") == 0`.")]
        pub fn is_empty(&self) -> Result<bool> {
            Ok(self.len()? == 0)
        }

        #[doc = concat!("`list(", $v, ")`: a local copy.")]
        pub fn to_vec(&self) -> Result<Vec<T>> {
            self.token.call(Op::ListAll)?.values()
        }
    };
}

proxy! {
    /// A `dict` on a manager's server (Python's `DictProxy`), from
    /// [`BaseManager::dict`](crate::multiprocessing::managers::BaseManager::dict).
    ///
    /// Keys compare by their encoded bytes ([`codec`](crate::multiprocessing::codec)),
    /// not by `Eq`/`Hash`: equal values of one type encode equally, so this matters
    /// only for types whose equality is looser than their encoding (`-0.0` and `0.0`
    /// are two keys; `NaN` is found again). A `&str` finds a `String` key (the same
    /// bytes). Insertion order is kept, as in Python. A value read is a copy: change
    /// it and [`set`](Self::set) it back (the seed's `value = d['name']; value[0] = id;
    /// d['name'] = value`).
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let d = manager.dict::<String, Vec<String>>().unwrap();
    /// d.set("name", vec!["jiaojiao".to_string(), "xiaoxiao".into()]).unwrap();
    /// let mut value = d.get("name").unwrap();
    /// value[0] = "7".into();
    /// d.set("name", value).unwrap();
    /// assert_eq!(d.get("name").unwrap(), ["7", "xiaoxiao"]);
    /// assert!(matches!(d.get("other"), Err(ManagerError::KeyError)));
    /// assert_eq!(d.len().unwrap(), 1);
    /// ```
    DictProxy [K, V] "dict"
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// `d[key]`; [`ManagerError::KeyError`] when missing.
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V>
    where
        K: Borrow<Q>,
    {
        self.token.call(Op::DictGet(enc(key)?))?.value()
    }

    /// `d.get(key, default)`.
    ///
    /// ```
    /// # use conkit::multiprocessing::{self as mp, managers::Manager};
    /// # mp::init();
    /// let m = Manager().unwrap();
    /// let d = m.dict::<u32, u32>().unwrap();
    /// assert_eq!(d.get_or(&1, 5).unwrap(), 5);
    /// ```
    pub fn get_or<Q: Serialize + ?Sized>(&self, key: &Q, default: V) -> Result<V>
    where
        K: Borrow<Q>,
    {
        match self.get(key) {
            Err(ManagerError::KeyError) => Ok(default),
            r => r,
        }
    }

    /// `d[key] = value`.
    pub fn set<Q: Serialize + ?Sized>(&self, key: &Q, value: impl Borrow<V>) -> Result<()>
    where
        K: Borrow<Q>,
    {
        self.token
            .call(Op::DictSet(enc(key)?, enc(value.borrow())?))?
            .unit()
    }

    /// `del d[key]`; [`ManagerError::KeyError`] when missing.
    pub fn del<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<()>
    where
        K: Borrow<Q>,
    {
        self.token.call(Op::DictDel(enc(key)?))?.unit()
    }

    /// `key in d`.
    pub fn contains<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
    {
        self.token.call(Op::DictContains(enc(key)?))?.boolean()
    }

    /// `d.pop(key)`; [`ManagerError::KeyError`] when missing.
    pub fn pop<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V>
    where
        K: Borrow<Q>,
    {
        self.token.call(Op::DictPop(enc(key)?))?.value()
    }

    /// `d.setdefault(key, default)`: the value now at `key` (atomically).
    pub fn setdefault<Q: Serialize + ?Sized>(&self, key: &Q, default: impl Borrow<V>) -> Result<V>
    where
        K: Borrow<Q>,
    {
        self.token
            .call(Op::DictSetDefault(enc(key)?, enc(default.borrow())?))?
            .value()
    }

    /// `d.update(pairs)` (one request).
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((enc(&k)?, enc(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.token.call(Op::DictUpdate(pairs))?.unit()
    }

    /// `list(d.keys())`, in insertion order.
    pub fn keys(&self) -> Result<Vec<K>> {
        self.token.call(Op::DictKeys)?.values()
    }

    /// `list(d.values())`, in insertion order.
    pub fn values(&self) -> Result<Vec<V>> {
        self.token.call(Op::DictValues)?.values()
    }

    /// `list(d.items())`, in insertion order.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.token.call(Op::DictItems)? {
            Reply::Pairs(p) => p.iter().map(|(k, v)| Ok((dec(k)?, dec(v)?))).collect(),
            r => Err(unexpected(r)),
        }
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize> {
        self.token.call(Op::Len)?.count()
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.token.call(Op::Clear)?.unit()
    }

    /// `d.copy()`: a local map of the items.
    pub fn copy(&self) -> Result<HashMap<K, V>>
    where
        K: Eq + Hash,
    {
        Ok(self.items()?.into_iter().collect())
    }
}

proxy! {
    /// A `list` on a manager's server (Python's `ListProxy`), from
    /// [`BaseManager::list`](crate::multiprocessing::managers::BaseManager::list).
    /// Indices are `usize` (no negative indices); values compare by their encoded bytes
    /// (`remove`, `index`, `count`); [`sort`](Self::sort) sorts on the client.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::{Manager, ManagerError}};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let l = manager.list::<i32>().unwrap();
    /// l.extend([3, 1, 2]).unwrap();
    /// l.append(&1).unwrap();
    /// assert_eq!(l.count(&1).unwrap(), 2);
    /// l.sort().unwrap();
    /// assert_eq!(l.to_vec().unwrap(), [1, 1, 2, 3]);
    /// assert!(matches!(l.get(9), Err(ManagerError::IndexError)));
    /// assert_eq!(l.pop().unwrap(), 3);
    /// ```
    ListProxy [T] "list"
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    sequence_methods!("l");

    /// `del l[index]`.
    pub fn del(&self, index: usize) -> Result<()> {
        self.token.call(Op::ListDel(index as u64))?.unit()
    }

    /// `l.append(value)`.
    pub fn append(&self, value: impl Borrow<T>) -> Result<()> {
        self.token
            .call(Op::ListAppend(enc(value.borrow())?))?
            .unit()
    }

    /// `l.extend(values)` (one request).
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<()> {
        let v = values
            .into_iter()
            .map(|x| enc(&x))
            .collect::<Result<Vec<_>>>()?;
        self.token.call(Op::ListExtend(v))?.unit()
    }

    /// `l.pop()`; [`ManagerError::IndexError`] when empty.
    pub fn pop(&self) -> Result<T> {
        self.token.call(Op::ListPop(None))?.value()
    }

    /// `l.pop(index)`.
    pub fn pop_at(&self, index: usize) -> Result<T> {
        self.token.call(Op::ListPop(Some(index as u64)))?.value()
    }

    /// `l.insert(index, value)` (an index past the end appends, as Python).
    pub fn insert(&self, index: usize, value: impl Borrow<T>) -> Result<()> {
        self.token
            .call(Op::ListInsert(index as u64, enc(value.borrow())?))?
            .unit()
    }

    /// `l.remove(value)`: the first equal item; [`ManagerError::ValueError`] if none.
    pub fn remove(&self, value: impl Borrow<T>) -> Result<()> {
        self.token
            .call(Op::ListRemove(enc(value.borrow())?))?
            .unit()
    }

    /// `l.index(value)`; [`ManagerError::ValueError`] if absent.
    pub fn index(&self, value: impl Borrow<T>) -> Result<usize> {
        self.token
            .call(Op::ListIndex(enc(value.borrow())?))?
            .count()
    }

    /// `l.count(value)`.
    pub fn count(&self, value: impl Borrow<T>) -> Result<usize> {
        self.token
            .call(Op::ListCount(enc(value.borrow())?))?
            .count()
    }

    /// `l.reverse()`.
    pub fn reverse(&self) -> Result<()> {
        self.token.call(Op::ListReverse)?.unit()
    }

    /// `l.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.token.call(Op::Clear)?.unit()
    }

    /// `l.sort()`, by `T: Ord`. Unlike Python's, on the client: the items are read,
    /// sorted, and written back (two requests, not atomic against another client's
    /// change in between: hold a manager lock around it if others write).
    pub fn sort(&self) -> Result<()>
    where
        T: Ord,
    {
        let mut v = self.to_vec()?;
        v.sort();
        let v = v.iter().map(enc).collect::<Result<Vec<_>>>()?;
        self.token.call(Op::ListAssign(v))?.unit()
    }
}

proxy! {
    /// A `Namespace` on a manager's server (Python's `NamespaceProxy`): attributes by
    /// name, each typed per call; a missing name is [`ManagerError::AttributeError`].
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let ns = manager.namespace().unwrap();
    /// ns.set("x", &10).unwrap();
    /// ns.set("y", "hello").unwrap();
    /// assert_eq!(ns.get::<i32>("x").unwrap(), 10);
    /// assert_eq!(ns.get::<String>("y").unwrap(), "hello");
    /// assert_eq!(ns.names().unwrap(), ["x", "y"]);
    /// ```
    NamespaceProxy [] "Namespace"
}

impl NamespaceProxy {
    /// `ns.name`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.token.call(Op::NsGet(name.into()))?.value()
    }

    /// `ns.name = value`.
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        self.token.call(Op::NsSet(name.into(), enc(value)?))?.unit()
    }

    /// `del ns.name`.
    pub fn del(&self, name: &str) -> Result<()> {
        self.token.call(Op::NsDel(name.into()))?.unit()
    }

    /// The names set, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        match self.token.call(Op::NsNames)? {
            Reply::Names(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }
}

proxy! {
    /// A `Value` on a manager's server (Python's `manager.Value(typecode, value)`;
    /// `ValueProxy` there): [`value`](Self::value) and [`set`](Self::set) for Python's
    /// `.value` property. There is no lock: a read-modify-write needs a manager
    /// [`LockProxy`](super::LockProxy) around it.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let v = manager.value(1.5f64).unwrap();
    /// v.set(2.5).unwrap();
    /// assert_eq!(v.value().unwrap(), 2.5);
    /// ```
    ValueProxy [T] "Value"
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    pub fn value(&self) -> Result<T> {
        self.token.call(Op::ValueGet)?.value()
    }

    /// `v.value = new`.
    pub fn set(&self, new: impl Borrow<T>) -> Result<()> {
        self.token.call(Op::ValueSet(enc(new.borrow())?))?.unit()
    }
}

proxy! {
    /// An `Array` on a manager's server (Python's `manager.Array(typecode, sequence)`):
    /// a fixed-length sequence.
    ///
    /// ```
    /// use conkit::multiprocessing::{self as mp, managers::Manager};
    /// mp::init();
    /// let manager = Manager().unwrap();
    /// let a = manager.array(vec![0u32; 4]).unwrap();
    /// a.set(2, 7).unwrap();
    /// assert_eq!(a.to_vec().unwrap(), [0, 0, 7, 0]);
    /// assert!(a.set(4, 1).is_err());
    /// ```
    ArrayProxy [T] "Array"
}

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    sequence_methods!("a");
}
