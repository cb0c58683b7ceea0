//! One `map`/`starmap`/`imap` call of a [`ThreadPool`](super::ThreadPool): the input
//! in one buffer, split into chunk ranges that the workers claim, the results written
//! in place.
//!
//! Reference: CPython `Lib/multiprocessing/pool.py` (`_map_async`: the chunk size rule
//! and one task per chunk; `mapstar`; `MapResult._set`). CPython queues one task per
//! chunk, each a tuple of the chunk's items, and joins the chunks' result lists. Here a
//! chunk is a range of one input buffer, the call queues one *helper* job per worker
//! (at most one per chunk), and each helper claims chunks with one atomic
//! compare-and-swap until none is left: no boxed closure per chunk, no queue round trip
//! (nor a worker's sleep and futex wake-up) between chunks. Python's chunk size still
//! decides how many chunks there are and what each holds, and the workers claim chunks
//! in input order (the caller of a blocking `map`, below, from the back), so which items
//! run together is what CPython's queue gives; a task queued after a `map_async` or
//! `imap` still starts only once every chunk of the call has started.
//!
//! `map` writes each result into its place in the output buffer, which becomes the
//! returned `Vec` as is (no per-chunk vectors, no join); when a result has the size and
//! alignment of its input (`u64 -> u64`), the output buffer *is* the input buffer, each
//! result replacing its input, so a call makes one allocation (as rayon's `collect`).
//! `imap` hands each chunk's results to its iterator as they are done.
//!
//! A blocking `map`/`starmap` (not `map_async`, not `imap`) of a pool without an
//! initializer runs chunks on the calling thread too, instead of sleeping until the
//! result is ready (as rayon's caller does), when one of the pool's `workers` slots is
//! free (see [`ThreadPool`](super::ThreadPool): a worker holds one per task, so at most
//! `workers` tasks and chunks run at once): it holds that slot (one helper fewer is
//! queued) and claims chunks from the *back* while the workers claim from the front. The caller has just
//! read the input, so the chunks it read last are the ones still in its core's cache;
//! the workers take the ones read first (already evicted towards the shared cache).
//! On the 2-core AMD guest whose cross-core traffic is slow this took a
//! `ThreadPool(2).map` of 100 k `u64`s from ~66 to ~55 µs (rayon: ~51 µs), with one
//! worker woken per call instead of two. When the results replace their inputs, the
//! per-item loop reads and writes through one pointer, so it is vectorised (with two
//! pointers it was not: see `run_chunk`): ~55 -> ~42 µs, callgrind 8.1 -> 6.8
//! instructions per item for the whole call (rayon: 5.5). A pool with an initializer never runs tasks
//! on the caller (it did not run the initializer).
//!
//! A blocking `map` whose iterator reports an exact length (`size_hint` lower bound
//! equal to the upper) is not collected first: the caller queues the helpers, then
//! reads the items chunk by chunk, in order ([`Work::read`]). A chunk read while fewer
//! than `helpers + 1` handed-on chunks wait for a helper is handed on (its items
//! written to the buffer, the helpers take them in the order read); any other chunk the
//! caller runs as it reads it, `f(next())` straight into its result slots, so reading
//! and computing are one pass over the items (collecting 100 k `u64`s first cost ~18–23 µs
//! of a ~75 µs call on the 2-core Intel guest, and no chunk ran meanwhile). Then it runs
//! the handed-on chunks no helper took. The chunks, their size (Python's default from
//! the reported length) and the result order are as when the input is collected first;
//! the chunks the caller runs are interleaved with the helpers' rather than taken from
//! the back. A helper waiting for the next chunk spins, then yields, until the caller
//! stops reading. An iterator that yields fewer items than it reported shrinks the call
//! to those; one that yields more has the extra items mapped by a call of their own,
//! appended. An iterator that panics propagates its panic out of `map`, as when the
//! input is collected on the caller (the chunks already handed on still run on the
//! helpers; the panic hook may not print it); an `f` that panics fails its chunk, as
//! on a worker. Measured on the 2-core Intel guest (loaded by other builds),
//! `ThreadPool(2).map(x * x)` over `0..100_000`: ~52–76 µs a call before, ~39–58 µs
//! after (rayon ~48–64 µs, the serial `collect` ~37–51 µs). Other iterators are collected into the buffer before the helpers are queued.
//! The first failed chunk (a panic) fails a `map` at
//! once (CPython's `MapResult._set`), the other chunks still run (their results are
//! dropped); `terminate` stops the claiming: the chunks not started fail with
//! [`TaskError::Terminated`].

use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use conkit_core::wait::Waiters;

use super::result::{Completion, Sink};
use crate::wait::{deadline_after, Futex};

/// How long a helper waiting for the next published chunk sleeps at most before it
/// looks whether the pool was terminated (a caller in a long chunk does not look).
const FED_LOOK: std::time::Duration = std::time::Duration::from_millis(10);
use super::{catch_task, run_caught, task_panicked, CallbackThread, TaskError};

/// A chunk's inputs are in the buffer, no output is written.
const PENDING: u8 = 0;
/// A chunk's inputs were consumed and its outputs written (or handed on).
const DONE: u8 = 1;
/// A chunk's inputs were consumed (or dropped) and no output is left.
const FAILED: u8 = 2;
/// A chunk of a call reading its input as it runs (see [`Work::read`]) whose inputs
/// were not read (yet): nothing to drop.
const NOT_READ: u8 = 3;

/// The chunks a blocking `map` caller has read for the helpers while it reads on (see
/// [`Work::read`]), in the order read.
struct Feed {
    /// The published chunks' indices, `order[..published]`.
    order: Box<[AtomicU32]>,
    /// `claimed | published << 32`: one compare-and-swap claims the next published
    /// chunk, one `fetch_add` publishes one.
    q: AtomicU64,
    /// The caller publishes no more chunks.
    closed: AtomicBool,
    /// The pool was terminated: the caller stops reading.
    stopped: AtomicBool,
    /// Where helpers wait for the next publication (or the close) once their spin and
    /// yields are over: a helper waiting while the caller runs a long chunk sleeps.
    moved: Waiters<Futex>,
}

impl Feed {
    /// The next published chunk, `Err(())` when none is published yet, `Ok(None)` when
    /// none is left (the caller closed the feed).
    fn claim(&self) -> Result<Option<usize>, ()> {
        let mut cur = self.q.load(Ordering::Acquire);
        loop {
            let (claimed, published) = (cur & u64::from(u32::MAX), cur >> 32);
            if claimed >= published {
                if !self.closed.load(Ordering::Acquire) {
                    return Err(());
                }
                // Closed after its last publication: one more look settles it.
                let now = self.q.load(Ordering::Acquire);
                if now == cur {
                    return Ok(None);
                }
                cur = now;
                continue;
            }
            match self
                .q
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                // `claimed < published <= chunks < 2^32`.
                Ok(_) => {
                    return Ok(Some(
                        self.order[claimed as usize].load(Ordering::Relaxed) as usize
                    ))
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Publishes chunk `i` (its inputs written, its state `PENDING`).
    fn publish(&self, i: usize) {
        let published = (self.q.load(Ordering::Relaxed) >> 32) as usize;
        // Fewer than 2^32 chunks (checked by `Work::unread`).
        self.order[published].store(i as u32, Ordering::Relaxed);
        self.q.fetch_add(1 << 32, Ordering::Release);
        self.moved.notify_one();
    }

    /// The caller publishes no more chunks.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.moved.notify_all();
    }

    /// Published chunks not claimed yet.
    fn unclaimed(&self) -> u64 {
        let cur = self.q.load(Ordering::Acquire);
        (cur >> 32) - (cur & u64::from(u32::MAX))
    }

    /// Claims every published chunk left: their indices.
    fn cancel(&self) -> Vec<usize> {
        let mut cur = self.q.load(Ordering::Acquire);
        loop {
            let (claimed, published) = (cur & u64::from(u32::MAX), cur >> 32);
            if claimed >= published {
                return Vec::new();
            }
            match self.q.compare_exchange_weak(
                cur,
                published << 32 | published,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return (claimed..published)
                        .map(|k| self.order[k as usize].load(Ordering::Relaxed) as usize)
                        .collect()
                }
                Err(now) => cur = now,
            }
        }
    }
}

/// Where the results go.
pub(crate) enum Output<R> {
    /// `map`: into `ptr[0..len]` (a `Vec<R>` allocation of capacity `cap`), then the
    /// whole `Vec` completes the call's result.
    InPlace {
        ptr: *mut R,
        cap: usize,
        /// Taken by the first failure or by the last chunk.
        completion: Mutex<Option<Completion<Vec<R>>>>,
        /// The buffer was handed out as the result's `Vec`.
        taken: AtomicBool,
        /// The buffer is the input's (`A` and `R` have one size and alignment): each
        /// result replaces its input, one allocation serves both.
        reuses_input: bool,
    },
    /// `imap`: each chunk's results, as a `Vec`, to the iterator.
    Chunks(Sink<R>),
}

/// What the pool needs from a call while its helpers run.
pub(crate) trait Host: Send + Sync + 'static {
    /// `true` once the pool was terminated (the helpers stop claiming chunks).
    fn terminated(&self) -> bool;
    /// The pool's callback thread.
    fn callbacks(&self) -> &CallbackThread;
}

/// Which end of the unclaimed chunks a helper takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The first unclaimed chunk (the pool's workers: chunks start in input order).
    Front,
    /// The last unclaimed chunk (the caller of `map`, which read the input: the chunks
    /// it read last are the ones still in its core's cache; the workers' chunks, read
    /// first, have left it).
    Back,
}

/// The unclaimed chunks `[front, back)`: each claim takes one chunk from one end.
enum Claims {
    /// `front | back << 32` (fewer than 2^32 chunks): one compare-and-swap claims from
    /// either end, so no chunk is claimed twice.
    Packed(AtomicU64),
    /// 2^32 chunks or more: one counter, every claim from the front (may run past the
    /// number of chunks).
    Front(AtomicUsize),
}

impl Claims {
    fn new(chunks: usize) -> Self {
        match u32::try_from(chunks) {
            Ok(c) => Claims::Packed(AtomicU64::new(u64::from(c) << 32)),
            Err(_) => Claims::Front(AtomicUsize::new(0)),
        }
    }

    /// One chunk from `end`, or `None` when none is left.
    fn claim(&self, end: End, chunks: usize) -> Option<usize> {
        match self {
            Claims::Packed(range) => {
                let mut cur = range.load(Ordering::Acquire);
                loop {
                    let (front, back) = (cur & u64::from(u32::MAX), cur >> 32);
                    if front >= back {
                        return None;
                    }
                    let (next, i) = match end {
                        End::Front => (cur + 1, front),
                        End::Back => (cur - (1 << 32), back - 1),
                    };
                    match range.compare_exchange_weak(
                        cur,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        // Fewer than 2^32 chunks: `i` fits a usize.
                        Ok(_) => return Some(i as usize),
                        Err(now) => cur = now,
                    }
                }
            }
            Claims::Front(next) => {
                let i = next.fetch_add(1, Ordering::AcqRel);
                (i < chunks).then_some(i)
            }
        }
    }

    /// Claims every chunk left: the range `[from, to)` of them.
    fn cancel(&self, chunks: usize) -> (usize, usize) {
        match self {
            Claims::Packed(range) => {
                let mut cur = range.load(Ordering::Acquire);
                loop {
                    let (front, back) = (cur & u64::from(u32::MAX), cur >> 32);
                    if front >= back {
                        return (0, 0);
                    }
                    match range.compare_exchange_weak(
                        cur,
                        back << 32 | back,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return (front as usize, back as usize),
                        Err(now) => cur = now,
                    }
                }
            }
            Claims::Front(next) => {
                let from = next.swap(chunks, Ordering::AcqRel).min(chunks);
                (from, chunks)
            }
        }
    }
}

/// One call: the input buffer, its chunks, and where the results go.
pub(crate) struct Work<A, R, F, P> {
    f: F,
    pool: Arc<P>,
    /// The inputs: a `Vec<A>` allocation of `len` items and capacity `input_cap`; each
    /// item is moved out by the one helper that claimed its chunk.
    input: *mut A,
    input_cap: usize,
    /// The number of items (of a call reading its input as it runs: the iterator's
    /// `size_hint` until it ends early; stored before the chunks that see it are
    /// published, and before the last `finish`).
    len: AtomicUsize,
    chunksize: usize,
    chunks: usize,
    /// The chunks not claimed yet.
    claims: Claims,
    /// Chunks run or cancelled.
    finished: AtomicUsize,
    state: Box<[AtomicU8]>,
    output: Output<R>,
    /// A blocking `map` reading its input while its chunks run (see [`Work::read`]).
    feed: Option<Feed>,
    /// Keeps the `*mut` fields from making `Work` `Send`/`Sync` on their own.
    _owns: std::marker::PhantomData<(Vec<A>, Vec<R>, UnsafeCell<()>)>,
}

// SAFETY: the raw buffers are owned by `Work` (as the `Vec`s they came from); an input
// item is moved out, and an output slot written, only by the helper that claimed the
// chunk (one atomic `fetch_add` hands each chunk out once), and read back only after
// every chunk finished (the `finished` counter's AcqRel increments order those writes
// before the read) or in `drop` (exclusive). Items cross threads, hence `Send` bounds;
// `f` is called from several helpers at once, hence `Sync`.
unsafe impl<A: Send, R: Send, F: Send + Sync, P: Host> Send for Work<A, R, F, P> {}
// SAFETY: as for `Send`: every shared access goes through the atomics above.
unsafe impl<A: Send, R: Send, F: Send + Sync, P: Host> Sync for Work<A, R, F, P> {}

/// Drops the inputs `[next, end)` not yet moved out when a chunk unwinds.
struct Inputs<A> {
    ptr: *mut A,
    next: usize,
    end: usize,
}

impl<A> Inputs<A> {
    fn take(&mut self) -> Option<A> {
        if self.next >= self.end {
            return None;
        }
        // SAFETY: `next < end` is an input of the claimed chunk not yet moved out; it is
        // read once (`next` moves past it before anything can unwind).
        let a = unsafe { self.ptr.add(self.next).read() };
        self.next += 1;
        Some(a)
    }
}

impl<A> Drop for Inputs<A> {
    fn drop(&mut self) {
        if self.next < self.end {
            // SAFETY: `[next, end)` are inputs of the claimed chunk not moved out.
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                    self.ptr.add(self.next),
                    self.end - self.next,
                ))
            };
        }
    }
}

/// Drops the outputs `[start, start + count)` written so far when a chunk unwinds.
struct Written<R> {
    ptr: *mut R,
    start: usize,
    count: usize,
}

impl<R> Drop for Written<R> {
    fn drop(&mut self) {
        // SAFETY: these slots were written by this chunk and nothing else owns them.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.add(self.start),
                self.count,
            ))
        };
    }
}

/// Runs `f` over the rest of `inputs`, writing the results from `out[start]` on (the
/// slots of the chunk); on a panic the guards drop the inputs not taken and the
/// results written.
#[inline(always)]
fn fill<A, R>(inputs: &mut Inputs<A>, out: *mut R, start: usize, f: &impl Fn(A) -> R) {
    let mut written = Written {
        ptr: out,
        start,
        count: 0,
    };
    while let Some(a) = inputs.take() {
        let v = f(a);
        // SAFETY: slot `start + count` < `end` belongs to this chunk, and is written
        // once; when it is the input buffer, its `A` was moved out by `take` above (the
        // slots from `inputs.next` on still hold `A`s, those before it `R`s: the two
        // guards drop disjoint ranges).
        unsafe { written.ptr.add(start + written.count).write(v) };
        written.count += 1;
    }
    std::mem::forget(written);
}

impl<A, R, F, P> Work<A, R, F, P>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
    P: Host,
{
    /// A call over `items` in chunks of `chunksize` (at least 1).
    pub(crate) fn new(
        f: F,
        pool: Arc<P>,
        items: Vec<A>,
        chunksize: usize,
        output: impl FnOnce(usize, Option<(*mut R, usize)>) -> Output<R>,
    ) -> Self {
        let chunksize = chunksize.max(1);
        let mut items = ManuallyDrop::new(items);
        let (input, len, input_cap) = (items.as_mut_ptr(), items.len(), items.capacity());
        // The input buffer can hold the results when an `R` fits exactly where an `A`
        // was: same size, same alignment (the allocation's layout is then the same).
        let same_layout = std::mem::size_of::<A>() == std::mem::size_of::<R>()
            && std::mem::align_of::<A>() == std::mem::align_of::<R>();
        let reuse = same_layout.then_some((input.cast::<R>(), input_cap));
        let chunks = len.div_ceil(chunksize);
        Self {
            f,
            pool,
            input,
            input_cap,
            len: AtomicUsize::new(len),
            chunksize,
            chunks,
            claims: Claims::new(chunks),
            finished: AtomicUsize::new(0),
            state: (0..chunks).map(|_| AtomicU8::new(PENDING)).collect(),
            output: output(len, reuse),
            feed: None,
            _owns: std::marker::PhantomData,
        }
    }

    /// A call over `len` items not read yet (an iterator's exact `size_hint`) in chunks
    /// of `chunksize`, for the caller to [`read`](Self::read) while the helpers run the
    /// chunks it hands them; `None` for 2^32 chunks or more.
    pub(crate) fn unread(
        f: F,
        pool: Arc<P>,
        len: usize,
        chunksize: usize,
        output: impl FnOnce(usize, Option<(*mut R, usize)>) -> Output<R>,
    ) -> Option<Self> {
        let chunks = len.div_ceil(chunksize.max(1));
        u32::try_from(chunks).ok()?;
        let mut w = Self::new(f, pool, Vec::with_capacity(len), chunksize, output);
        // `new` saw an empty buffer: `len` items in `chunks` chunks, none read, the
        // output sized for `len`.
        w.len = AtomicUsize::new(len);
        w.chunks = chunks;
        w.claims = Claims::new(0);
        w.state = (0..chunks).map(|_| AtomicU8::new(NOT_READ)).collect();
        if let Output::InPlace {
            ptr,
            cap,
            reuses_input: false,
            ..
        } = &mut w.output
        {
            // SAFETY: the empty `Vec<R>` allocation `in_place` made for 0 items.
            drop(unsafe { Vec::from_raw_parts(*ptr, 0, *cap) });
            let mut v = ManuallyDrop::new(Vec::<R>::with_capacity(len));
            (*ptr, *cap) = (v.as_mut_ptr(), v.capacity());
        }
        w.feed = Some(Feed {
            order: (0..chunks).map(|_| AtomicU32::new(0)).collect(),
            q: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            moved: Waiters::new(),
        });
        Some(w)
    }

    /// The number of chunks.
    pub(crate) fn chunks(&self) -> usize {
        self.chunks
    }

    /// A helper's body: claims and runs chunks until none is left, from the front (a
    /// worker) or from the back (the caller of `map`: see [`Claims`]); with `run` false
    /// (a helper dropped by `terminate`) or once the pool is terminated, fails the
    /// chunks not claimed yet.
    pub(crate) fn help(&self, run: bool, end: End) {
        if let Some(feed) = &self.feed {
            return self.help_fed(feed, run);
        }
        loop {
            if !run || self.pool.terminated() {
                let (from, to) = self.claims.cancel(self.chunks);
                if let Output::Chunks(sink) = &self.output {
                    for i in from..to {
                        sink.chunk_done(i, Err(TaskError::Terminated), self.pool.callbacks());
                    }
                }
                self.finish(to - from, Some(TaskError::Terminated));
                return;
            }
            let Some(i) = self.claims.claim(end, self.chunks) else {
                return;
            };
            let start = i * self.chunksize;
            let end = (start + self.chunksize).min(self.len.load(Ordering::Relaxed));
            let err = self.run_chunk(i, start, end).err();
            self.finish(1, err);
        }
    }

    /// A helper of a call whose caller reads the input as it runs: the published chunks
    /// in the order read, until the caller closed the feed and none is left. Waits
    /// while the caller reads the next chunk: spinning, then yielding, then asleep in
    /// `feed.moved` (a caller running a long chunk of a slow `f` would otherwise keep it
    /// yielding for the whole chunk, a core's worth of CPU), waking every
    /// [`FED_LOOK`] to look at the pool's state.
    fn help_fed(&self, feed: &Feed, run: bool) {
        loop {
            if !run || self.pool.terminated() {
                feed.stopped.store(true, Ordering::Release);
                let cancelled = feed.cancel();
                self.finish(cancelled.len(), Some(TaskError::Terminated));
                return;
            }
            match feed
                .moved
                .wait_until(Some(deadline_after(FED_LOOK)), || feed.claim().ok())
            {
                Some(Some(i)) => self.run_published(i),
                Some(None) => return,
                None => {} // a look at the pool's state
            }
        }
    }

    /// The caller of a blocking `map` over an exact-size iterator (see
    /// [`unread`](Self::unread)): reads the items chunk by chunk, in order; a chunk read
    /// while fewer than `helpers + 1` published chunks wait for a helper is published
    /// (its inputs written to the buffer, claimed by a helper), any other is run as it
    /// is read, `f(next())` written straight to its result slots. Then the caller runs
    /// the published chunks no helper claimed. Returns the first item past the
    /// `size_hint` (the iterator lied): the caller maps the rest itself.
    ///
    /// An iterator that ends early shrinks the call to the items it gave. A panic of the
    /// iterator propagates (as when `map` collected the input on the caller) once the
    /// chunks it did not read are finished; a panic of `f` fails the chunk as on a
    /// worker.
    pub(crate) fn read(&self, iter: &mut impl Iterator<Item = A>, helpers: usize) -> Option<A> {
        let Some(feed) = &self.feed else {
            return None;
        };
        let n = self.len.load(Ordering::Relaxed);
        let mut i = 0;
        // The chunks from `i` on are unread (and finished here) if the loop unwinds.
        struct Unread<'a, A, R, F, P>(&'a Work<A, R, F, P>, &'a Feed, usize)
        where
            A: Send + 'static,
            R: Send + 'static,
            F: Fn(A) -> R + Send + Sync + 'static,
            P: Host;
        impl<A, R, F, P> Drop for Unread<'_, A, R, F, P>
        where
            A: Send + 'static,
            R: Send + 'static,
            F: Fn(A) -> R + Send + Sync + 'static,
            P: Host,
        {
            fn drop(&mut self) {
                let (w, feed, i) = (self.0, self.1, self.2);
                feed.close();
                let err = std::thread::panicking().then_some(TaskError::Terminated);
                w.finish(w.chunks - i, err);
            }
        }
        let mut extra = None;
        let mut ended = false;
        while i < self.chunks {
            if feed.stopped.load(Ordering::Acquire) || self.pool.terminated() {
                feed.close();
                self.finish(self.chunks - i, Some(TaskError::Terminated));
                let cancelled = feed.cancel();
                self.finish(cancelled.len(), Some(TaskError::Terminated));
                return None;
            }
            let guard = Unread(self, feed, i);
            let start = i * self.chunksize;
            let end = (start + self.chunksize).min(n);
            let publish =
                helpers > 0 && i + 1 < self.chunks && feed.unclaimed() < helpers as u64 + 1;
            let got = if publish {
                let mut read = Inputs {
                    ptr: self.input,
                    next: start,
                    end: start,
                };
                while read.end < end {
                    match iter.next() {
                        // SAFETY: slot `read.end` of an unread chunk: nothing is there.
                        Some(a) => unsafe { read.ptr.add(read.end).write(a) },
                        None => break,
                    }
                    read.end += 1;
                }
                let got = read.end;
                std::mem::forget(read);
                got
            } else {
                let out = match &self.output {
                    Output::InPlace { ptr, .. } => *ptr,
                    Output::Chunks(_) => unreachable!("a map writes in place"),
                };
                let reading = std::cell::Cell::new(false);
                let mut written = Written {
                    ptr: out,
                    start,
                    count: 0,
                };
                let f = &self.f;
                let r = catch_task(|| {
                    while start + written.count < end {
                        reading.set(true);
                        let Some(a) = iter.next() else {
                            break;
                        };
                        reading.set(false);
                        let v = f(a);
                        // SAFETY: a slot of this chunk, written once.
                        unsafe { out.add(start + written.count).write(v) };
                        written.count += 1;
                    }
                    reading.set(false);
                });
                match r {
                    Ok(()) => {
                        let got = start + written.count;
                        std::mem::forget(written);
                        got
                    }
                    Err(payload) if reading.get() => std::panic::resume_unwind(payload),
                    Err(payload) => {
                        // `written` drops the chunk's results so far as the arm ends.
                        std::mem::forget(guard);
                        self.state[i].store(FAILED, Ordering::Release);
                        self.finish(1, Some(task_panicked(payload)));
                        i += 1;
                        continue;
                    }
                }
            };
            std::mem::forget(guard);
            let short = got < end;
            if short {
                // The iterator ended early: the call is `got` items (stored before the
                // chunk that sees it is published).
                self.len.store(got, Ordering::Relaxed);
            }
            if got > start {
                if publish {
                    self.state[i].store(PENDING, Ordering::Relaxed);
                    feed.publish(i);
                } else {
                    self.state[i].store(DONE, Ordering::Release);
                    self.finish(1, None);
                }
            }
            if short {
                // The chunks past it never existed: counted finished (nothing to drop,
                // not in the result).
                let real = i + usize::from(got > start);
                feed.close();
                self.finish(self.chunks - real, None);
                ended = true;
                break;
            }
            i += 1;
        }
        if !ended {
            extra = iter.next();
            feed.close();
        }
        while let Ok(Some(i)) = feed.claim() {
            self.run_published(i);
        }
        extra
    }

    fn run_published(&self, i: usize) {
        let start = i * self.chunksize;
        let end = (start + self.chunksize).min(self.len.load(Ordering::Relaxed));
        let err = self.run_chunk(i, start, end).err();
        self.finish(1, err);
    }

    fn run_chunk(&self, i: usize, start: usize, end: usize) -> Result<(), TaskError> {
        let f = &self.f;
        let mut inputs = Inputs {
            ptr: self.input,
            next: start,
            end,
        };
        let r = match &self.output {
            Output::InPlace {
                ptr, reuses_input, ..
            } => run_caught(|| {
                // When the output buffer is the input's, the writes go through the
                // input's pointer, in a loop of their own: the compiler then sees
                // `p[k] = f(p[k])` and vectorises it. Through two pointers it must
                // assume may partly overlap, it checks them at run time and, finding
                // them equal, runs the scalar loop (`x * x` over `u64`s: 6
                // instructions per item rather than ~4).
                if *reuses_input {
                    let out = inputs.ptr.cast::<R>();
                    fill(&mut inputs, out, start, f);
                } else {
                    fill(&mut inputs, *ptr, start, f);
                }
            }),
            Output::Chunks(sink) => {
                let r = run_caught(|| {
                    let mut out = Vec::with_capacity(end - start);
                    while let Some(a) = inputs.take() {
                        out.push(f(a));
                    }
                    out
                });
                let ok = r.as_ref().map(|_| ()).map_err(Clone::clone);
                sink.chunk_done(i, r, self.pool.callbacks());
                ok
            }
        };
        // A panic dropped the chunk's remaining inputs (and its outputs) while unwinding.
        drop(inputs);
        self.state[i].store(if r.is_ok() { DONE } else { FAILED }, Ordering::Release);
        r
    }

    /// `n` more chunks finished, `err` the failure of one (if any).
    fn finish(&self, n: usize, err: Option<TaskError>) {
        if n == 0 {
            return;
        }
        if let (Some(e), Output::InPlace { completion, .. }) = (err, &self.output) {
            let c = completion.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(c) = c {
                c.complete(Err(e), self.pool.callbacks());
            }
        }
        let before = self.finished.fetch_add(n, Ordering::AcqRel);
        if before + n != self.chunks {
            return;
        }
        if let Output::InPlace {
            ptr,
            cap,
            completion,
            taken,
            ..
        } = &self.output
        {
            let c = completion.lock().unwrap_or_else(|e| e.into_inner()).take();
            // Without a failure every chunk is DONE: all `len` slots are written.
            if let Some(c) = c {
                taken.store(true, Ordering::Release);
                // SAFETY: the buffer came from a `Vec<R>` of capacity `cap`; every chunk
                // finished (the AcqRel count above orders their writes before this) and
                // none failed (a failure takes the completion first), so `[0, len)` is
                // initialised; `taken` keeps `drop` from freeing it again.
                let v =
                    unsafe { Vec::from_raw_parts(*ptr, self.len.load(Ordering::Relaxed), *cap) };
                c.complete(Ok(v), self.pool.callbacks());
            }
        }
    }
}

/// A `map`'s output buffer of `len` slots (the input's when it can hold the results),
/// completing `completion`.
pub(crate) fn in_place<R>(
    completion: Completion<Vec<R>>,
) -> impl FnOnce(usize, Option<(*mut R, usize)>) -> Output<R> {
    move |len, reuse| {
        let (ptr, cap, reuses_input) = match reuse {
            Some((ptr, cap)) => (ptr, cap, true),
            None => {
                let mut v = ManuallyDrop::new(Vec::<R>::with_capacity(len));
                (v.as_mut_ptr(), v.capacity(), false)
            }
        };
        Output::InPlace {
            ptr,
            cap,
            completion: Mutex::new(Some(completion)),
            taken: AtomicBool::new(false),
            reuses_input,
        }
    }
}

impl<A, R, F, P> Drop for Work<A, R, F, P> {
    fn drop(&mut self) {
        let len = *self.len.get_mut();
        for (i, s) in self.state.iter().enumerate() {
            let start = i * self.chunksize;
            let end = (start + self.chunksize).min(len);
            let state = s.load(Ordering::Acquire);
            if state == PENDING {
                // Never claimed (or cancelled): its inputs are still there.
                drop(Inputs {
                    ptr: self.input,
                    next: start,
                    end,
                });
            }
            if let Output::InPlace { ptr, taken, .. } = &self.output {
                if state == DONE && !taken.load(Ordering::Acquire) {
                    drop(Written {
                        ptr: *ptr,
                        start,
                        count: end - start,
                    });
                }
            }
        }
        let (output_taken, reuses_input) = match &self.output {
            Output::InPlace {
                taken,
                reuses_input,
                ..
            } => (taken.load(Ordering::Acquire), *reuses_input),
            Output::Chunks(_) => (false, false),
        };
        // SAFETY: the allocations of the `Vec`s the buffers came from, their items
        // dropped or moved out above; a buffer that serves as input and output is freed
        // once, and not at all when the result's `Vec` owns it.
        unsafe {
            if !(reuses_input && output_taken) {
                drop(Vec::from_raw_parts(self.input, 0, self.input_cap));
            }
            if let Output::InPlace { ptr, cap, .. } = &self.output {
                if !reuses_input && !output_taken {
                    drop(Vec::from_raw_parts(*ptr, 0, *cap));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicIsize, Ordering};
    use std::sync::{mpsc, Mutex};
    use std::time::Duration;

    use super::super::{PoolError, TaskError, ThreadPool};

    /// Values alive per test (each test has its own counter).
    struct Tracked<'a>(u64, &'a AtomicIsize);

    impl<'a> Tracked<'a> {
        fn new(v: u64, live: &'a AtomicIsize) -> Self {
            live.fetch_add(1, Ordering::SeqCst);
            Tracked(v, live)
        }
    }

    impl Drop for Tracked<'_> {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn results_in_place_every_value_dropped_once() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(3).unwrap();
        let input: Vec<Tracked<'static>> = (0..1000).map(|i| Tracked::new(i, &LIVE)).collect();
        let out = pool
            .map(
                |t: Tracked<'static>| Tracked::new(t.0 * 2, t.1),
                input,
                Some(7),
            )
            .unwrap();
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            1000,
            "inputs dropped, outputs alive"
        );
        assert!(out.iter().enumerate().all(|(i, t)| t.0 == 2 * i as u64));
        drop(out);
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
        // Python's default chunk size, starmap, an empty map, zero-sized items.
        let v = pool.starmap(|a: u64, b: u64| a + b, (0..999).map(|i| (i, 1)), None);
        assert_eq!(v.unwrap(), (1..1000).collect::<Vec<u64>>());
        assert!(pool.map(|x: u8| x, Vec::new(), None).unwrap().is_empty());
        assert_eq!(
            pool.map(|(): ()| (), vec![(); 100], Some(3)).unwrap().len(),
            100
        );
        // Results of another layout get their own buffer; of the same, the input's.
        let words: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        let lens = pool
            .map(|s: String| s.len() as u8, words, Some(16))
            .unwrap();
        assert_eq!(
            lens.iter().map(|&l| l as usize).sum::<usize>(),
            10 + 2 * 90 + 3 * 200
        );
        let halves = pool.map(|x: u32| x as f32 / 2.0, 0..1001, None).unwrap();
        assert_eq!((halves.len(), halves[1000]), (1001, 500.0));
    }

    #[test]
    fn a_panicking_chunk_fails_the_map_and_leaks_nothing() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(2).unwrap();
        let input: Vec<Tracked<'static>> = (0..1000).map(|i| Tracked::new(i, &LIVE)).collect();
        let r = pool.map(
            |t: Tracked<'static>| {
                assert!(t.0 != 503, "item {}", t.0);
                Tracked::new(t.0, t.1)
            },
            input,
            Some(10),
        );
        match r {
            Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                assert_eq!(message, "item 503")
            }
            other => panic!("{:?}", other.map(|v| v.len())),
        }
        // The other chunks still run (as in CPython); their results are dropped when
        // the last helper is done.
        pool.close();
        pool.join().unwrap();
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn terminate_fails_the_chunks_not_started() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(1).unwrap();
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let (started_tx, go_rx) = (Mutex::new(started_tx), Mutex::new(go_rx));
        let input: Vec<Tracked<'static>> = (0..100).map(|i| Tracked::new(i, &LIVE)).collect();
        let r = pool
            .map_async(
                move |t: Tracked<'static>| {
                    if t.0 == 0 {
                        started_tx.lock().unwrap().send(()).unwrap();
                        let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
                    }
                    t.0
                },
                input,
                Some(1),
            )
            .unwrap();
        started.recv().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| pool.terminate());
            // terminate waits for the running chunk: let it end.
            std::thread::sleep(Duration::from_millis(50));
            go.send(()).unwrap();
        });
        assert!(matches!(
            r.get(),
            Err(PoolError::Task(TaskError::Terminated))
        ));
        drop(pool);
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            0,
            "the 99 unstarted inputs dropped"
        );
    }

    /// The `mp-threadpool-map` row: a caller that read the whole input runs the chunks
    /// still in its core's cache (from the back); one reading an exact-size iterator
    /// runs its chunks as it reads them (in input order), handing the others to the
    /// worker as they are read. Either way the caller helps instead of sleeping, and a
    /// call runs on at most `workers` threads: one helper is queued for a 2-worker pool.
    #[test]
    fn map_caller_runs_chunks_on_at_most_workers_threads() {
        use std::collections::HashSet;
        use std::sync::Condvar;
        let pool = ThreadPool::new(2).unwrap();
        let caller = std::thread::current().id();
        for exact in [false, true] {
            let seen = Mutex::new((HashSet::new(), Vec::new(), false));
            let cond = Condvar::new();
            let seen = std::sync::Arc::new((seen, cond));
            let s = seen.clone();
            let f = move |i: u32| {
                let (m, c) = &*s;
                let mut g = m.lock().unwrap();
                let me = std::thread::current().id();
                g.0.insert(me);
                if me == caller {
                    g.1.push(i);
                    c.notify_all();
                } else if g.1.is_empty() && !g.2 {
                    // A worker's chunk waits (10 s at most, once) until the caller
                    // ran one: the caller helps even when a worker starts first.
                    let (mut g, t) = c
                        .wait_timeout_while(g, Duration::from_secs(10), |g| g.1.is_empty())
                        .unwrap();
                    g.2 = t.timed_out();
                }
                i * 2
            };
            let out = if exact {
                pool.map(f, 0..64, Some(1))
            } else {
                pool.map(f, (0..64).filter(|_| true), Some(1))
            };
            assert_eq!(out.unwrap(), (0..64).map(|i| i * 2).collect::<Vec<u32>>());
            let g = seen.0.lock().unwrap();
            assert!(g.0.contains(&caller), "the caller ran no chunk");
            assert!(g.0.len() <= 2, "{} threads ran one call", g.0.len());
            if exact {
                // Chunk 0 is handed to the worker as soon as it is read; the caller runs
                // its chunks in input order, then the handed-on ones no worker took.
                assert!(g.1[0] > 0, "{:?}", g.1);
                let descents = g.1.windows(2).filter(|w| w[0] > w[1]).count();
                assert!(descents <= 1, "{:?}", g.1);
            } else {
                assert_eq!(g.1.first(), Some(&63), "the caller starts at the back");
                assert!(g.1.windows(2).all(|w| w[0] > w[1]), "{:?}", g.1);
            }
        }
        // starmap goes the same way; map_async and imap leave the caller free.
        let s = pool.starmap(|a: u32, b: u32| a + b, vec![(1, 2); 10], Some(1));
        assert_eq!(s.unwrap(), vec![3; 10]);
        let ids = pool
            .map_async(|_: u8| std::thread::current().id(), vec![0; 50], Some(1))
            .unwrap()
            .get()
            .unwrap();
        assert!(!ids.contains(&caller));
    }

    /// An iterator whose `size_hint` is exact but wrong (a user's `ExactSizeIterator`).
    struct Lying<I>(I, usize);

    impl<I: Iterator> Iterator for Lying<I> {
        type Item = I::Item;
        fn next(&mut self) -> Option<I::Item> {
            self.0.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.1, Some(self.1))
        }
    }

    /// CPU time of the whole process (every thread), for the idle-cost test below.
    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and a valid out pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// A helper waiting for the next chunk of a `map` reading its input as it runs
    /// kept spinning and yielding while the caller ran a long chunk of a slow `f`: a
    /// core's worth of CPU for the whole chunk. It now sleeps once its spin is over.
    #[test]
    fn map_reading_a_slow_f_keeps_no_helper_busy_waiting() {
        let pool = ThreadPool::new(2).unwrap();
        // Only the caller's chunks are slow: the helpers wait for it.
        let caller = std::thread::current().id();
        let nap = move |x: u64| {
            if std::thread::current().id() == caller {
                std::thread::sleep(Duration::from_millis(40));
            }
            x
        };
        let cpu = process_cpu();
        let t = std::time::Instant::now();
        let v = pool.map(nap, 0..12u64, Some(1)).unwrap();
        let (wall, used) = (t.elapsed(), process_cpu() - cpu);
        assert_eq!(v, (0..12).collect::<Vec<_>>());
        // Napping costs no CPU; before, the helpers yielded through the caller's naps.
        assert!(
            used < wall / 4,
            "{used:?} of CPU in {wall:?} for a map of naps"
        );
    }

    /// A `map` reading an exact-size iterator as its chunks run: results in order for
    /// lengths that are not a multiple of the chunk size, given or Python's default,
    /// with results of the input's layout (in place) or not, and every value dropped
    /// once.
    #[test]
    fn map_reading_as_it_runs_keeps_order_and_drops_each_value_once() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        for workers in [1, 2, 3] {
            let pool = ThreadPool::new(workers).unwrap();
            for n in [1u64, 2, 7, 63, 1001, 20_011] {
                for chunksize in [None, Some(1), Some(3), Some(64)] {
                    let v = pool.map(|x: u64| x * x, 1..=n, chunksize).unwrap();
                    assert_eq!(v, (1..=n).map(|x| x * x).collect::<Vec<_>>());
                    let w = pool.map(|x: u64| x as u8, 1..=n, chunksize).unwrap();
                    assert_eq!(w, (1..=n).map(|x| x as u8).collect::<Vec<_>>());
                }
                let t = pool
                    .map(
                        |t: Tracked<'static>| Tracked::new(t.0 + 1, t.1),
                        (0..n).map(|i| Tracked::new(i, &LIVE)),
                        Some(5),
                    )
                    .unwrap();
                assert!(t.iter().enumerate().all(|(i, t)| t.0 == i as u64 + 1));
                drop(t);
                assert_eq!(LIVE.load(Ordering::SeqCst), 0);
            }
            let e: Vec<u8> = pool.map(|x: u8| x, 0..0, None).unwrap();
            assert!(e.is_empty());
        }
    }

    #[test]
    fn map_over_a_size_hint_that_lies_maps_the_items_given() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(2).unwrap();
        for (given, hint) in [(0, 10), (5, 100), (99, 100), (100, 10), (101, 100), (3, 1)] {
            for chunksize in [None, Some(1), Some(7)] {
                let it = Lying((0..given).map(|i| Tracked::new(i, &LIVE)), hint as usize);
                let v = pool
                    .map(|t: Tracked<'static>| t.0 * 3, it, chunksize)
                    .unwrap();
                assert_eq!(v, (0..given).map(|i| i * 3).collect::<Vec<u64>>());
                assert_eq!(LIVE.load(Ordering::SeqCst), 0);
            }
        }
    }

    #[test]
    fn map_reading_an_iterator_that_panics_midway_propagates_its_panic_and_leaks_nothing() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(2).unwrap();
        for at in [0u64, 1, 13, 500, 999] {
            let it = (0..1000u64).map(|i| {
                assert!(i != at, "iterator broke at {i}");
                Tracked::new(i, &LIVE)
            });
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.map(|t: Tracked<'static>| Tracked::new(t.0, t.1), it, Some(10))
            }));
            let msg = r.err().map(|p| p.downcast_ref::<String>().cloned());
            assert_eq!(msg, Some(Some(format!("iterator broke at {at}"))));
            // The chunks handed to the worker finish; the pool still maps.
            assert_eq!(pool.map(|x: u8| x, 0..3, None).unwrap(), vec![0, 1, 2]);
        }
        pool.close();
        pool.join().unwrap();
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn map_reading_with_a_panicking_f_fails_the_map_and_leaks_nothing() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(2).unwrap();
        for bad in [0u64, 5, 503, 999] {
            let r = pool.map(
                move |t: Tracked<'static>| {
                    assert!(t.0 != bad, "item {}", t.0);
                    Tracked::new(t.0, t.1)
                },
                (0..1000).map(|i| Tracked::new(i, &LIVE)),
                Some(10),
            );
            match r {
                Err(PoolError::Task(TaskError::Panicked { message, location })) => {
                    assert_eq!(message, format!("item {bad}"));
                    assert!(location.is_some_and(|l| l.contains("work.rs")));
                }
                other => panic!("{:?}", other.map(|v| v.len())),
            }
        }
        pool.close();
        pool.join().unwrap();
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn map_with_an_initializer_runs_only_on_workers() {
        thread_local!(static INIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        let pool = ThreadPool::with_initializer(2, || INIT.with(|i| i.set(true))).unwrap();
        let ran = pool
            .map(|_: u8| INIT.with(|i| i.get()), vec![0; 200], Some(1))
            .unwrap();
        assert!(
            ran.iter().all(|&r| r),
            "a chunk ran where the initializer did not"
        );
    }

    /// Python's `ThreadPool(n)` runs at most `n` tasks at once (pools are used as
    /// concurrency limiters). A `map` caller that runs chunks takes a worker's place:
    /// the worker it spares must not run another task meanwhile (an `apply_async` from
    /// another thread, another caller's `map`), nor may a 1-worker pool's only worker
    /// run one while the caller runs the chunks.
    #[test]
    fn map_caller_helping_keeps_at_most_workers_tasks_running() {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use std::sync::Arc;
        struct Count {
            now: AtomicUsize,
            max: AtomicUsize,
            started: AtomicBool,
        }
        fn task(c: &Count) {
            let n = c.now.fetch_add(1, Ordering::SeqCst) + 1;
            c.max.fetch_max(n, Ordering::SeqCst);
            c.started.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            c.now.fetch_sub(1, Ordering::SeqCst);
        }
        for (workers, callers) in [(2, 1), (1, 1), (2, 2)] {
            let pool = ThreadPool::new(workers).unwrap();
            let c = Arc::new(Count {
                now: AtomicUsize::new(0),
                max: AtomicUsize::new(0),
                started: AtomicBool::new(false),
            });
            std::thread::scope(|s| {
                for _ in 0..callers {
                    let (pool, c) = (&pool, c.clone());
                    s.spawn(move || {
                        let out = pool.map(
                            move |i: u32| {
                                task(&c);
                                i
                            },
                            0..24,
                            Some(1),
                        );
                        assert_eq!(out.unwrap(), (0..24).collect::<Vec<u32>>());
                    });
                }
                // Tasks from another thread, once a map runs.
                while !c.started.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                let rs: Vec<_> = (0..12)
                    .map(|_| {
                        let c = c.clone();
                        pool.apply_async(move || task(&c)).unwrap()
                    })
                    .collect();
                for r in rs {
                    r.get().unwrap();
                }
            });
            let max = c.max.load(Ordering::SeqCst);
            assert!(
                max <= workers,
                "ThreadPool({workers}) with {callers} map caller(s) ran {max} tasks at once"
            );
        }
    }

    #[test]
    fn terminate_while_the_caller_helps_fails_the_map_without_hanging() {
        static LIVE: AtomicIsize = AtomicIsize::new(0);
        let pool = ThreadPool::new(2).unwrap();
        let gate = std::sync::Arc::new((Mutex::new((0usize, false)), std::sync::Condvar::new()));
        let g = gate.clone();
        let input: Vec<Tracked<'static>> = (0..100).map(|i| Tracked::new(i, &LIVE)).collect();
        std::thread::scope(|s| {
            let mapper = s.spawn(|| {
                pool.map(
                    move |t: Tracked<'static>| {
                        let (m, c) = &*g;
                        let mut st = m.lock().unwrap();
                        st.0 += 1;
                        c.notify_all();
                        let _ = c.wait_timeout_while(st, Duration::from_secs(10), |st| !st.1);
                        t.0
                    },
                    input,
                    Some(1),
                )
            });
            // The caller and the one helper each run a chunk.
            let (m, c) = &*gate;
            let st = m.lock().unwrap();
            drop(c.wait_timeout_while(st, Duration::from_secs(10), |st| st.0 < 2));
            let killer = s.spawn(|| pool.terminate());
            while pool.apply_async(|| ()).is_ok() {
                std::thread::yield_now();
            }
            m.lock().unwrap().1 = true;
            c.notify_all();
            killer.join().unwrap();
            assert!(matches!(
                mapper.join().unwrap(),
                Err(PoolError::Task(TaskError::Terminated))
            ));
        });
        drop(pool);
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            0,
            "the unstarted inputs dropped"
        );
    }

    /// Every chunk is claimed once, from either end, by concurrent claimants; past 2^32
    /// chunks every claim is from the front.
    #[test]
    fn claims_from_both_ends_hand_out_each_chunk_once() {
        use super::{Claims, End};
        for round in 0..200 {
            let chunks = 1 + round % 37;
            let claims = Claims::new(chunks);
            let got: Vec<Vec<usize>> = std::thread::scope(|s| {
                let hs: Vec<_> = [End::Front, End::Back, End::Front]
                    .into_iter()
                    .map(|end| {
                        let claims = &claims;
                        s.spawn(move || {
                            let mut v = Vec::new();
                            while let Some(i) = claims.claim(end, chunks) {
                                v.push(i);
                            }
                            v
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(got[0].windows(2).all(|w| w[0] < w[1]));
            assert!(got[1].windows(2).all(|w| w[0] > w[1]));
            let mut all: Vec<usize> = got.concat();
            all.sort();
            assert_eq!(all, (0..chunks).collect::<Vec<_>>());
            assert_eq!(claims.cancel(chunks), (0, 0));
        }
        let claims = Claims::new(10);
        assert_eq!(claims.claim(End::Back, 10), Some(9));
        assert_eq!(claims.claim(End::Front, 10), Some(0));
        assert_eq!(claims.cancel(10), (1, 9));
        assert_eq!(claims.claim(End::Front, 10), None);
        let huge = usize::try_from(u64::from(u32::MAX) + 2).unwrap_or(usize::MAX);
        let claims = Claims::new(huge);
        assert!(matches!(claims, Claims::Front(_)));
        assert_eq!(claims.claim(End::Back, huge), Some(0));
        assert_eq!(claims.cancel(huge), (1, huge));
        assert_eq!(claims.claim(End::Front, huge), None);
    }

    #[test]
    fn imap_chunks_in_order_a_failed_chunk_in_place() {
        let pool = ThreadPool::new(2).unwrap();
        let got: Vec<Result<u32, String>> = pool
            .imap(
                |x: u32| {
                    assert!(x != 5, "five");
                    x
                },
                0..12,
                3,
            )
            .unwrap()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        let want: Vec<Result<u32, String>> = vec![
            Ok(0),
            Ok(1),
            Ok(2),
            Err("task panicked".into()),
            Ok(6),
            Ok(7),
            Ok(8),
            Ok(9),
            Ok(10),
            Ok(11),
        ];
        let got: Vec<Result<u32, String>> = got
            .into_iter()
            .map(|r| r.map_err(|e| e.split(" at ").next().unwrap_or("").to_string()))
            .collect();
        assert_eq!(got, want);
        let mut u: Vec<u32> = pool
            .imap_unordered(|x: u32| x, 0..100, 7)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        u.sort();
        assert_eq!(u, (0..100).collect::<Vec<_>>());
    }
}
