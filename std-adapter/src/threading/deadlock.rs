//! Lock-order deadlock detection (feature `deadlock-detection`; off by default).
//!
//! The hooks below are called by `Lock` and `RLock` around every acquisition and
//! release. Without the feature they are empty `#[inline]` functions over a zero-sized
//! `LockId`, so they cost nothing.
//!
//! With the feature, every blocking acquisition of lock `B` by a thread that holds lock
//! `A` records the edge `A → B` ("`A` is taken before `B`") in one process-wide
//! lock-order graph. The first time a new edge closes a cycle (thread 1 took `A` then
//! `B`, thread 2 holds `B` and now asks for `A`) the order is inconsistent: two threads
//! doing this at the same moment deadlock. That is reported at once, whether or not the
//! program is hanging this time: a `DeadlockReport` naming the locks and the threads
//! that established each edge goes to the hook (`set_deadlock_hook`; the default
//! prints it to stderr) and is kept for `deadlock_reports`.
//!
//! ```
//! # #[cfg(feature = "deadlock-detection")] {
//! use conkit::threading::{take_deadlock_reports, Lock, Thread};
//! use std::sync::Arc;
//!
//! let (l1, l2) = (Arc::new(Lock::new()), Arc::new(Lock::new()));
//! let (a1, a2) = (l1.clone(), l2.clone());
//! let a = Thread::builder().name("A").target(move || {
//!     let _g1 = a1.lock();
//!     let _g2 = a2.lock(); // A: l1 then l2
//! });
//! a.start().unwrap();
//! a.join().unwrap();
//! let b = Thread::builder().name("B").target(move || {
//!     let _g2 = l2.lock();
//!     let _g1 = l1.lock(); // B: l2 then l1: reported (no hang: A is done)
//! });
//! b.start().unwrap();
//! b.join().unwrap();
//! let reports = take_deadlock_reports();
//! assert!(reports.iter().any(|r| r.thread_names() == ["B", "A"]));
//! # }
//! ```
//!
//! # Algorithm and provenance
//! The lock-order ("lock dependency") graph of the Linux kernel's lockdep
//! (`Documentation/locking/lockdep-design.rst`) and of Go's / Abseil's `Mutex` deadlock
//! detector (`absl/synchronization/mutex.cc`, "potential Mutex deadlock"), per lock
//! object rather than per lock class: each thread's held locks in acquisition order; on
//! a blocking acquire, a depth-first search from the wanted lock looks for a path back
//! to a held one before the new edge is added. Non-blocking attempts (`try_acquire`)
//! add no edges (they cannot wait, hence cannot deadlock) but do count as held.
//! Re-acquiring a `Lock` one already holds adds no self-edge: a Python `Lock` may be
//! released by another thread, so that is a legitimate pattern.
//!
//! Releases may happen on another thread than the acquirer (Python's `Lock`): a global
//! lock → holder map finds the holder's list to clean. A dropped lock leaves the graph.
//!
//! # Cost
//! With the feature, every acquisition and release takes one process-wide mutex
//! (a `conkit-core` futex lock, not a hooked one) and a lock's first acquisition
//! numbers it; the search runs only when a new edge appears. It is a debugging aid:
//! leave it off in production.
//
// HOOK CONTRACT (fixed; the implementation behind the feature is free):
//   LockId::new()                    const; one per lock object, stored in the lock
//   before_acquire(&id, blocking)    before any acquisition attempt (blocking = may wait)
//   after_acquire(&id)               after an acquisition succeeded (RLock: first level only)
//   before_release(&id)              just before the lock becomes free (RLock: last level
//                                    only), while it is still held, so that a new holder's
//                                    after_acquire cannot come first; may run on a thread
//                                    other than the acquirer (Lock)
//   LockId is neither Copy nor Clone (with the feature it may hold an atomic, lazily
//   assigned id); it is Send + Sync and Debug.

/// Runs `attempt` (one try or wait for `id`; `true` if it took the lock) between the
/// detector's hooks: `before_acquire` first (`blocking`: the attempt may wait),
/// `after_acquire` if it succeeded. What every lock's acquire goes through.
#[inline]
pub(crate) fn tracked_acquire(id: &LockId, blocking: bool, attempt: impl FnOnce() -> bool) -> bool {
    before_acquire(id, blocking);
    let ok = attempt();
    if ok {
        after_acquire(id);
    }
    ok
}

/// [`tracked_acquire`] for an attempt that says how it took the lock (`None`: it did
/// not take it): what the `_or_recover` forms of `Lock` and `RLock` go through.
#[inline]
pub(crate) fn tracked_recover<A>(
    id: &LockId,
    blocking: bool,
    attempt: impl FnOnce() -> Option<A>,
) -> Option<A> {
    let mut how = None;
    tracked_acquire(id, blocking, || {
        how = attempt();
        how.is_some()
    });
    how
}

// ---------------------------------------------------------------------------------
// Feature off: nothing.
// ---------------------------------------------------------------------------------

/// Identity of one lock for the detector (zero-sized without the feature).
#[cfg(not(feature = "deadlock-detection"))]
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct LockId;

#[cfg(not(feature = "deadlock-detection"))]
impl LockId {
    /// A fresh identity.
    #[inline]
    pub(crate) const fn new() -> Self {
        LockId
    }
}

/// Called before trying to take `id`; `blocking` if the attempt may wait.
#[cfg(not(feature = "deadlock-detection"))]
#[inline]
pub(crate) fn before_acquire(_id: &LockId, _blocking: bool) {}

/// Called once `id` has been taken by the calling thread.
#[cfg(not(feature = "deadlock-detection"))]
#[inline]
pub(crate) fn after_acquire(_id: &LockId) {}

/// Called just before `id` is released (by any thread), while it is still held.
#[cfg(not(feature = "deadlock-detection"))]
#[inline]
pub(crate) fn before_release(_id: &LockId) {}

/// Forgets which locks the threads of a forked parent held (nothing without the feature).
#[cfg(not(feature = "deadlock-detection"))]
#[inline]
pub(crate) fn after_fork_in_child() {}

/// Gives `id` a name for reports (nothing without the feature).
#[cfg(not(feature = "deadlock-detection"))]
#[inline]
pub(crate) fn set_lock_name(_id: &LockId, _name: &str) {}

// ---------------------------------------------------------------------------------
// Feature on: the detector.
// ---------------------------------------------------------------------------------

#[cfg(feature = "deadlock-detection")]
pub use detector::*;

#[cfg(feature = "deadlock-detection")]
mod detector {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use crate::threading::{current_thread, get_ident};

    use super::super::RawMutex as Mx;

    /// Numbers locks on first use (0 = not numbered yet).
    static NEXT_LOCK: AtomicU64 = AtomicU64::new(1);

    /// Identity of one lock for the detector: a number assigned at its first use.
    ///
    /// Numbers are unique across processes (the process id in the high half, a counter
    /// in the low half), so that a lock in memory shared by processes
    /// (`conkit::multiprocessing`) names one lock in every process's graph; each
    /// process keeps its own graph and sees only its own threads' lock orders.
    #[derive(Debug, Default)]
    #[repr(C)]
    pub(crate) struct LockId {
        id: AtomicU64,
    }

    impl LockId {
        /// A fresh identity (numbered lazily, so this stays `const`).
        #[inline]
        pub(crate) const fn new() -> Self {
            Self {
                id: AtomicU64::new(0),
            }
        }

        /// The lock's number, assigned now if it has none.
        pub(crate) fn get(&self) -> u64 {
            let id = self.id.load(Ordering::Acquire);
            if id != 0 {
                return id;
            }
            // SAFETY: `getpid` has no preconditions and cannot fail.
            let pid = u64::from(unsafe { libc::getpid() }.unsigned_abs());
            let fresh = pid << 32 | (NEXT_LOCK.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff);
            match self
                .id
                .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => fresh,
                Err(other) => other,
            }
        }

        /// The lock's number if it has one.
        fn peek(&self) -> Option<u64> {
            match self.id.load(Ordering::Acquire) {
                0 => None,
                id => Some(id),
            }
        }
    }

    impl Drop for LockId {
        fn drop(&mut self) {
            if let Some(id) = self.peek() {
                GRAPH.lock().forget(id);
            }
        }
    }

    /// Who established an edge of the graph.
    #[derive(Debug, Clone)]
    struct EdgeInfo {
        thread_name: String,
        thread_ident: u64,
    }

    /// The lock-order graph and who holds what.
    struct Graph {
        /// `from → to → who`: some thread held `from` while it asked for `to`.
        edges: BTreeMap<u64, BTreeMap<u64, EdgeInfo>>,
        /// Thread ident → locks it holds, in acquisition order.
        held: BTreeMap<u64, Vec<u64>>,
        /// Lock → the thread ident holding it.
        holder: BTreeMap<u64, u64>,
        /// Optional lock names.
        names: BTreeMap<u64, String>,
    }

    static GRAPH: Mx<Graph> = Mx::new(Graph {
        edges: BTreeMap::new(),
        held: BTreeMap::new(),
        holder: BTreeMap::new(),
        names: BTreeMap::new(),
    });

    static REPORTS: Mx<Vec<DeadlockReport>> = Mx::new(Vec::new());

    type Hook = Arc<dyn Fn(&DeadlockReport) + Send + Sync>;

    static HOOK: Mx<Option<Hook>> = Mx::new(None);

    impl Graph {
        fn info(&self, id: u64) -> LockInfo {
            LockInfo {
                id,
                name: self.names.get(&id).cloned(),
            }
        }

        /// A path `from → … → to` along existing edges (depth-first), as the list of
        /// locks on it.
        fn path(&self, from: u64, to: u64) -> Option<Vec<u64>> {
            let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
            let mut seen = BTreeSet::from([from]);
            let mut stack = vec![from];
            while let Some(node) = stack.pop() {
                if node == to {
                    let mut path = vec![to];
                    let mut at = to;
                    while let Some(&p) = parent.get(&at) {
                        path.push(p);
                        at = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                for &next in self.edges.get(&node).into_iter().flat_map(BTreeMap::keys) {
                    if seen.insert(next) {
                        parent.insert(next, node);
                        stack.push(next);
                    }
                }
            }
            None
        }

        /// Removes a dropped lock from the graph.
        fn forget(&mut self, id: u64) {
            self.edges.remove(&id);
            for tos in self.edges.values_mut() {
                tos.remove(&id);
            }
            self.edges.retain(|_, tos| !tos.is_empty());
            self.names.remove(&id);
            if let Some(t) = self.holder.remove(&id) {
                self.unhold(t, id);
            }
        }

        /// Removes `lock` from thread `t`'s held list.
        fn unhold(&mut self, t: u64, lock: u64) {
            if let Some(list) = self.held.get_mut(&t) {
                if let Some(pos) = list.iter().rposition(|&l| l == lock) {
                    list.remove(pos);
                }
                if list.is_empty() {
                    self.held.remove(&t);
                }
            }
        }
    }

    /// Called before trying to take `id`; `blocking` if the attempt may wait.
    pub(crate) fn before_acquire(id: &LockId, blocking: bool) {
        if !blocking {
            return;
        }
        let lock = id.get();
        let me = get_ident();
        let mut found = Vec::new();
        {
            let mut g = GRAPH.lock();
            let Some(held) = g.held.get(&me).cloned() else {
                return;
            };
            let mut who: Option<EdgeInfo> = None;
            for h in held {
                if h == lock || g.edges.get(&h).is_some_and(|tos| tos.contains_key(&lock)) {
                    continue;
                }
                let info = who
                    .get_or_insert_with(|| EdgeInfo {
                        thread_name: current_thread().name(),
                        thread_ident: me,
                    })
                    .clone();
                // The new edge h → lock closes a cycle iff lock →* h already.
                if let Some(path) = g.path(lock, h) {
                    let mut edges = vec![DeadlockEdge {
                        held: g.info(h),
                        wanted: g.info(lock),
                        thread_name: info.thread_name.clone(),
                        thread_ident: info.thread_ident,
                    }];
                    for pair in path.windows(2) {
                        let e = &g.edges[&pair[0]][&pair[1]];
                        edges.push(DeadlockEdge {
                            held: g.info(pair[0]),
                            wanted: g.info(pair[1]),
                            thread_name: e.thread_name.clone(),
                            thread_ident: e.thread_ident,
                        });
                    }
                    found.push(DeadlockReport { edges });
                }
                g.edges.entry(h).or_default().insert(lock, info);
            }
        }
        // Report without holding the graph: the hook may take locks itself.
        for report in found {
            REPORTS.lock().push(report.clone());
            let hook = HOOK.lock().clone();
            match hook {
                None => default_deadlock_hook(&report),
                Some(hook) => {
                    if panic::catch_unwind(AssertUnwindSafe(|| hook(&report))).is_err() {
                        default_deadlock_hook(&report);
                    }
                }
            }
        }
    }

    /// Called once `id` has been taken by the calling thread.
    pub(crate) fn after_acquire(id: &LockId) {
        let lock = id.get();
        let me = get_ident();
        let mut g = GRAPH.lock();
        if let Some(prev) = g.holder.insert(lock, me) {
            // Released without a hook call (cannot happen with Lock/RLock): forget it.
            g.unhold(prev, lock);
        }
        g.held.entry(me).or_default().push(lock);
    }

    /// Called just before `id` is released (by any thread), while it is still held.
    pub(crate) fn before_release(id: &LockId) {
        let Some(lock) = id.peek() else { return };
        let mut g = GRAPH.lock();
        if let Some(t) = g.holder.remove(&lock) {
            g.unhold(t, lock);
        }
    }

    /// In a forked child, where only the forking thread exists: forgets which locks
    /// the parent's threads held (the copies of those locks stay locked in the child,
    /// as in Python); keeps the lock-order graph unless it was being updated at the
    /// fork.
    pub(crate) fn after_fork_in_child() {
        let was_locked = GRAPH.is_locked();
        if was_locked {
            // Its holder was another thread of the parent: nobody will release it.
            // SAFETY: that holder's guard lives in a thread that does not exist in this
            // child, so it is never used or dropped here: no other guard is alive.
            let _ = unsafe { GRAPH.raw() }.release();
        }
        let mut g = GRAPH.lock();
        if was_locked {
            let old = std::mem::replace(
                &mut *g,
                Graph {
                    edges: BTreeMap::new(),
                    held: BTreeMap::new(),
                    holder: BTreeMap::new(),
                    names: BTreeMap::new(),
                },
            );
            // Possibly half-updated: leaked, not dropped.
            std::mem::forget(old);
        } else {
            g.held.clear();
            g.holder.clear();
        }
    }

    /// Gives `id` a name, shown in reports.
    pub(crate) fn set_lock_name(id: &LockId, name: &str) {
        let lock = id.get();
        GRAPH.lock().names.insert(lock, name.to_owned());
    }

    /// One lock in a [`DeadlockReport`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LockInfo {
        /// The lock's number (assigned at its first acquisition, never reused).
        pub id: u64,
        /// Its name, if one was given.
        pub name: Option<String>,
    }

    impl fmt::Display for LockInfo {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match &self.name {
                Some(name) => write!(f, "lock #{} ({name})", self.id),
                None => write!(f, "lock #{}", self.id),
            }
        }
    }

    /// One edge of a lock-order cycle: `thread_name` held `held` while it asked for
    /// `wanted`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DeadlockEdge {
        /// The lock that was held.
        pub held: LockInfo,
        /// The lock asked for while holding it.
        pub wanted: LockInfo,
        /// The name of the thread that did so (first time this order was seen).
        pub thread_name: String,
        /// That thread's [`get_ident`](crate::threading::get_ident).
        pub thread_ident: u64,
    }

    /// A lock-order cycle: a potential deadlock (feature `deadlock-detection`).
    ///
    /// With the feature, every blocking acquisition of a `Lock`/`RLock` by a thread
    /// that holds others records "held → wanted" edges in one process-wide lock-order
    /// graph; the first time a new edge closes a cycle, a report goes to the hook
    /// ([`set_deadlock_hook`]; default: stderr) and is kept for [`deadlock_reports`],
    /// before the threads involved wait (so it is reported even when the timing
    /// happens not to hang this time).
    ///
    /// `edges[0]` is the acquisition that closed the cycle (the calling thread, about
    /// to wait); each next edge starts at the lock the previous one wanted, and the
    /// last one wants `edges[0].held`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DeadlockReport {
        /// The cycle's edges, in order.
        pub edges: Vec<DeadlockEdge>,
    }

    impl DeadlockReport {
        /// The locks of the cycle, in order.
        pub fn locks(&self) -> Vec<LockInfo> {
            self.edges.iter().map(|e| e.held.clone()).collect()
        }

        /// The names of the threads that established each edge, in order.
        pub fn thread_names(&self) -> Vec<&str> {
            self.edges.iter().map(|e| e.thread_name.as_str()).collect()
        }
    }

    impl fmt::Display for DeadlockReport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            writeln!(
                f,
                "potential deadlock: {} locks taken in inconsistent order",
                self.edges.len()
            )?;
            for (i, e) in self.edges.iter().enumerate() {
                // What each edge records: a thread asked for `wanted` while it held
                // `held`. Only the first is known to be waiting now; an earlier one may
                // have got its lock long ago, or (as in a real deadlock) be waiting for
                // it still, so it is told as the request it was.
                if i == 0 {
                    writeln!(
                        f,
                        "  thread {} (ident {}) holds {} and now waits for {}",
                        e.thread_name, e.thread_ident, e.held, e.wanted
                    )?;
                } else {
                    writeln!(
                        f,
                        "  thread {} (ident {}) asked for {} while holding {}",
                        e.thread_name, e.thread_ident, e.wanted, e.held
                    )?;
                }
            }
            Ok(())
        }
    }

    /// Replaces what happens to each new [`DeadlockReport`] (default:
    /// [`default_deadlock_hook`]). Reports are also kept for [`deadlock_reports`]
    /// either way. The hook runs on the thread that is about to wait, holding no
    /// detector lock; if it panics, the default hook prints the report.
    pub fn set_deadlock_hook<F>(hook: F)
    where
        F: Fn(&DeadlockReport) + Send + Sync + 'static,
    {
        *HOOK.lock() = Some(Arc::new(hook));
    }

    /// Restores [`default_deadlock_hook`].
    pub fn reset_deadlock_hook() {
        *HOOK.lock() = None;
    }

    /// The default hook: prints the report to stderr.
    pub fn default_deadlock_hook(report: &DeadlockReport) {
        eprint!("{report}");
    }

    /// Every report so far (oldest first).
    pub fn deadlock_reports() -> Vec<DeadlockReport> {
        REPORTS.lock().clone()
    }

    /// Every report so far, emptying the list.
    pub fn take_deadlock_reports() -> Vec<DeadlockReport> {
        std::mem::take(&mut *REPORTS.lock())
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::threading::Thread;

        /// Reports whose cycle contains all of `locks`.
        fn reports_with(locks: &[&LockId]) -> Vec<DeadlockReport> {
            let ids: Vec<u64> = locks.iter().map(|l| l.get()).collect();
            deadlock_reports()
                .into_iter()
                .filter(|r| ids.iter().all(|id| r.locks().iter().any(|l| l.id == *id)))
                .collect()
        }

        fn take(id: &LockId) {
            before_acquire(id, true);
            after_acquire(id);
        }

        fn on_thread(name: &str, f: impl FnOnce() + Send + 'static) {
            let t = Thread::builder().name(name).target(f);
            t.start().unwrap();
            t.join().unwrap();
        }

        #[test]
        fn consistent_order_is_not_reported() {
            let a = Arc::new(LockId::new());
            let b = Arc::new(LockId::new());
            for name in ["t1", "t2"] {
                let (a, b) = (a.clone(), b.clone());
                on_thread(name, move || {
                    take(&a);
                    take(&b);
                    before_release(&b);
                    before_release(&a);
                });
            }
            assert!(reports_with(&[&a, &b]).is_empty());
        }

        #[test]
        fn inverted_order_is_reported_once_with_locks_and_threads() {
            let a = Arc::new(LockId::new());
            let b = Arc::new(LockId::new());
            let (a1, b1) = (a.clone(), b.clone());
            on_thread("first", move || {
                take(&a1);
                take(&b1);
                before_release(&b1);
                before_release(&a1);
            });
            for _ in 0..2 {
                let (a2, b2) = (a.clone(), b.clone());
                on_thread("second", move || {
                    take(&b2);
                    take(&a2);
                    before_release(&a2);
                    before_release(&b2);
                });
            }
            let found = reports_with(&[&a, &b]);
            assert_eq!(found.len(), 1, "{found:?}");
            let r = &found[0];
            assert_eq!(r.thread_names(), ["second", "first"]);
            assert_eq!(r.edges[0].held.id, b.get());
            assert_eq!(r.edges[0].wanted.id, a.get());
            assert_eq!(r.edges[1].held.id, a.get());
            assert_eq!(r.edges[1].wanted.id, b.get());
            assert!(r.to_string().contains("potential deadlock"));
        }

        #[test]
        fn three_lock_cycle_is_reported_with_names() {
            let locks: Vec<Arc<LockId>> = (0..3).map(|_| Arc::new(LockId::new())).collect();
            for (i, l) in locks.iter().enumerate() {
                set_lock_name(l, &format!("L{i}"));
            }
            // t0: L0→L1, t1: L1→L2, t2: L2→L0 closes the cycle.
            for i in 0..3 {
                let x = locks[i].clone();
                let y = locks[(i + 1) % 3].clone();
                on_thread(&format!("t{i}"), move || {
                    take(&x);
                    take(&y);
                    before_release(&y);
                    before_release(&x);
                });
            }
            let refs: Vec<&LockId> = locks.iter().map(|l| &**l).collect();
            let found = reports_with(&refs);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].thread_names(), ["t2", "t0", "t1"]);
            let names: Vec<_> = found[0].locks().into_iter().map(|l| l.name).collect();
            assert_eq!(
                names,
                [Some("L2".into()), Some("L0".into()), Some("L1".into())]
            );
        }

        #[test]
        fn try_acquire_adds_no_edge() {
            let a = Arc::new(LockId::new());
            let b = Arc::new(LockId::new());
            let (a1, b1) = (a.clone(), b.clone());
            on_thread("try1", move || {
                take(&a1);
                before_acquire(&b1, false);
                after_acquire(&b1);
                before_release(&b1);
                before_release(&a1);
            });
            let (a2, b2) = (a.clone(), b.clone());
            on_thread("try2", move || {
                take(&b2);
                take(&a2);
                before_release(&a2);
                before_release(&b2);
            });
            assert!(reports_with(&[&a, &b]).is_empty());
        }

        #[test]
        fn release_on_another_thread_clears_the_holder() {
            let a = Arc::new(LockId::new());
            let b = Arc::new(LockId::new());
            // Thread x takes `a` and ends without releasing it; main releases it.
            let a1 = a.clone();
            on_thread("taker", move || take(&a1));
            before_release(&a);
            {
                let g = GRAPH.lock();
                assert!(!g.holder.contains_key(&a.get()));
                assert!(g.held.values().all(|l| !l.contains(&a.get())));
            }
            // This thread holds nothing now: taking b records no edge a → b.
            take(&b);
            before_release(&b);
            assert!(GRAPH
                .lock()
                .edges
                .get(&a.get())
                .is_none_or(|t| !t.contains_key(&b.get())));
        }

        #[test]
        fn dropped_lock_leaves_the_graph() {
            let a = LockId::new();
            let b = LockId::new();
            let c = LockId::new();
            // Edges c → a and a → b.
            take(&c);
            take(&a);
            before_release(&a);
            before_release(&c);
            take(&a);
            take(&b);
            before_release(&b);
            before_release(&a);
            let (ia, ib, ic) = (a.get(), b.get(), c.get());
            assert!(GRAPH.lock().edges[&ia].contains_key(&ib));
            assert!(GRAPH.lock().edges[&ic].contains_key(&ia));
            drop(a);
            let g = GRAPH.lock();
            assert!(!g.edges.contains_key(&ia));
            assert!(g.edges.values().all(|t| !t.contains_key(&ia)));
        }

        #[test]
        fn hook_receives_reports() {
            let seen = Arc::new(Mx::new(Vec::new()));
            let a = Arc::new(LockId::new());
            let b = Arc::new(LockId::new());
            let ids = (a.get(), b.get());
            let log = seen.clone();
            set_deadlock_hook(move |r| {
                if r.locks().iter().any(|l| l.id == ids.0) {
                    log.lock().push(r.thread_names().join(","));
                }
            });
            take(&a);
            take(&b);
            before_release(&b);
            before_release(&a);
            let (a2, b2) = (a.clone(), b.clone());
            on_thread("hooked", move || {
                take(&b2);
                take(&a2);
                before_release(&a2);
                before_release(&b2);
            });
            reset_deadlock_hook();
            let me = current_thread().name();
            assert_eq!(*seen.lock(), [format!("hooked,{me}")]);
        }
    }
}
