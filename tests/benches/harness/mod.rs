//! A tiny benchmark harness that runs several contenders side by side, INTERLEAVED.
//!
//! Why not criterion: the 2-core machines this project measures on flip between a
//! fast and a slow core-to-core state every few tens of seconds (a cache-line
//! ping-pong costs ~50 ns or ~450 ns), so absolute figures swing 3×. Measuring one
//! contender for a minute and then the next compares two machine states, not two
//! queues. Here every repetition runs every contender once, in a rotating order, so
//! the contenders of one repetition see (mostly) the same state, and the report is
//! built from per-repetition ratios.
//!
//! Every measurement moves a fixed number of items and checks the count and the sum
//! of what arrived: a contender that loses or duplicates an item fails the whole run.
//! A contender that stops making progress (e.g. a lost item leaves its consumer
//! waiting forever) times out and fails the run too.

use std::fmt::Write as _;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use core_affinity::CoreId;

/// Result of a harness step; the error is a message for the user.
pub type Res<T = ()> = Result<T, String>;

/// What a measurement reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Items moved per second (M items/s); higher is better.
    Throughput,
    /// Nanoseconds per operation; lower is better.
    Latency,
}

impl Kind {
    /// The unit of [`Kind::value`].
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Throughput => "M items/s",
            Kind::Latency => "ns/op",
        }
    }

    /// `true` if a bigger value is better.
    pub fn higher_is_better(self) -> bool {
        self == Kind::Throughput
    }

    /// Converts `items` done in `d` to this kind's unit.
    pub fn value(self, items: u64, d: Duration) -> f64 {
        let secs = d.as_secs_f64().max(1e-9);
        match self {
            Kind::Throughput => items as f64 / secs / 1e6,
            Kind::Latency => secs * 1e9 / items as f64,
        }
    }
}

/// One contender of a group: runs `items` items and returns the elapsed time, or an
/// error if it lost items or stalled.
pub struct Contender<'a> {
    /// Shown in the table.
    pub name: String,
    /// `true` for conkit's own types (ratios are conkit ÷ peer).
    pub conkit: bool,
    /// The measurement.
    pub run: Box<dyn FnMut(u64) -> Res<Duration> + 'a>,
}

impl<'a> Contender<'a> {
    /// A conkit contender.
    pub fn conkit(name: &str, run: impl FnMut(u64) -> Res<Duration> + 'a) -> Self {
        Self {
            name: name.into(),
            conkit: true,
            run: Box::new(run),
        }
    }

    /// A peer (another crate, or std).
    pub fn peer(name: &str, run: impl FnMut(u64) -> Res<Duration> + 'a) -> Self {
        Self {
            name: name.into(),
            conkit: false,
            run: Box::new(run),
        }
    }
}

/// A benchmark: one workload, several contenders.
pub struct Group<'a> {
    /// Short id, matched by the command line filter.
    pub id: &'static str,
    /// Table caption.
    pub title: String,
    /// What is measured.
    pub kind: Kind,
    /// Items (or operations) per measurement.
    pub items: u64,
    /// The contenders, measured interleaved.
    pub contenders: Vec<Contender<'a>>,
    /// The targets of the group (see [`Target`]).
    pub targets: Vec<Target>,
    /// Set when a conkit contender could not be measured (say why).
    pub missing: Vec<String>,
}

/// A target of a group: the conkit `contender` at least `factor` × the `peer`'s
/// throughput, or at most `1 / factor` × its time per operation (so a factor above 1
/// asks conkit to be that much better, below 1 allows it to be that much worse). The
/// factor is printed in the target column of the report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// The conkit contender's name.
    pub contender: &'static str,
    /// The peer's name.
    pub peer: &'static str,
    /// How much better than the peer conkit must be (see above).
    pub factor: f64,
}

impl Target {
    /// The default target against `peer`: 1× (at least as good), or
    /// [`target_factor`]'s factor for CPython peers.
    pub fn new(contender: &'static str, peer: &'static str) -> Self {
        Self::with_factor(contender, peer, target_factor(peer))
    }

    /// A target with its own factor (e.g. 0.8: processes at least 0.8× threads).
    pub fn with_factor(contender: &'static str, peer: &'static str, factor: f64) -> Self {
        Self {
            contender,
            peer,
            factor,
        }
    }

    /// The target column: `≥ f×` for throughput, `≤ 1/f×` for latency (at most three
    /// decimals: `≤ 0.333×`, not the float's seventeen digits).
    fn shown(&self, kind: Kind) -> String {
        let (sign, value) = if kind.higher_is_better() {
            ("≥", self.factor)
        } else {
            ("≤", 1.0 / self.factor)
        };
        let digits = format!("{value:.3}");
        let digits = digits.trim_end_matches('0').trim_end_matches('.');
        format!("{sign} {digits}×")
    }

    /// Whether the median ratio (conkit ÷ peer) meets the target.
    fn met(&self, kind: Kind, ratio: f64) -> bool {
        if kind.higher_is_better() {
            ratio >= self.factor
        } else {
            ratio <= 1.0 / self.factor
        }
    }
}

/// Measured values of one group: `values[contender][repetition]`.
pub struct GroupResult {
    id: &'static str,
    title: String,
    kind: Kind,
    items: u64,
    names: Vec<String>,
    conkit: Vec<bool>,
    values: Vec<Vec<f64>>,
    targets: Vec<Target>,
    missing: Vec<String>,
}

/// Runs a group: one untimed warm-up pass, then `reps` repetitions in each of which
/// every contender runs once, starting with a different contender each repetition.
pub fn run_group(g: Group<'_>, reps: usize) -> Res<GroupResult> {
    let Group {
        id,
        title,
        kind,
        items,
        mut contenders,
        targets,
        missing,
    } = g;
    let k = contenders.len();
    eprintln!("[{id}] {title}: {k} contenders × {reps} repetitions × {items} items");
    let warm = (items / 10).max(1_000);
    for c in &mut contenders {
        (c.run)(warm).map_err(|e| format!("[{id}] {} (warm-up): {e}", c.name))?;
    }
    let mut values = vec![Vec::with_capacity(reps); k];
    for r in 0..reps {
        let mut line = format!("[{id}] rep {:>2}/{reps}:", r + 1);
        for j in 0..k {
            let i = (r + j) % k;
            let c = &mut contenders[i];
            let d =
                (c.run)(items).map_err(|e| format!("[{id}] {} (rep {}): {e}", c.name, r + 1))?;
            let v = kind.value(items, d);
            values[i].push(v);
            let _ = write!(line, "  {} {:.1}", c.name, v);
        }
        eprintln!("{line}");
    }
    Ok(GroupResult {
        id,
        title,
        kind,
        items,
        names: contenders.iter().map(|c| c.name.clone()).collect(),
        conkit: contenders.iter().map(|c| c.conkit).collect(),
        values,
        targets,
        missing,
    })
}

/// Median, minimum, maximum.
pub fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The markdown report: a table of medians, then a table of per-repetition ratios
/// (every conkit contender against every peer of its group) with the targets.
/// Returns the markdown, the number of targets met and the number of targets (a target
/// whose contender or peer was not measured counts, as not met).
pub fn report(results: &[GroupResult], header: &str) -> (String, usize, usize) {
    let mut out = String::new();
    let (mut met_count, mut target_count) = (0, 0);
    let _ = writeln!(out, "{header}\n");
    let _ = writeln!(out, "| benchmark | contender | median | min–max | unit |");
    let _ = writeln!(out, "|---|---|---:|---:|---|");
    for g in results {
        for (i, name) in g.names.iter().enumerate() {
            let (med, lo, hi) = stats(&g.values[i]);
            let shown = if g.conkit[i] {
                format!("**{name}**")
            } else {
                name.clone()
            };
            let _ = writeln!(
                out,
                "| {} | {shown} | {} | {}–{} | {} |",
                g.title,
                num(med),
                num(lo),
                num(hi),
                g.kind.unit()
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Ratios are conkit ÷ peer, computed per repetition (both measured back to back), \
         then summarised; for ns/op lower is better, so a ratio below 1 means conkit is faster.\n"
    );
    let _ = writeln!(
        out,
        "| benchmark | conkit | peer | ratio (median) | min–max | conkit ahead | target | met |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---|---|");
    for g in results {
        for (ci, cname) in g.names.iter().enumerate().filter(|(i, _)| g.conkit[*i]) {
            for (pi, pname) in g.names.iter().enumerate().filter(|(i, _)| !g.conkit[*i]) {
                let ratios: Vec<f64> = g.values[ci]
                    .iter()
                    .zip(&g.values[pi])
                    .map(|(c, p)| c / p)
                    .collect();
                let (med, lo, hi) = stats(&ratios);
                let ahead = ratios
                    .iter()
                    .filter(|r| {
                        if g.kind.higher_is_better() {
                            **r > 1.0
                        } else {
                            **r < 1.0
                        }
                    })
                    .count();
                let target = g
                    .targets
                    .iter()
                    .find(|t| t.contender == cname && t.peer == pname);
                let (target, met) = if let Some(t) = target {
                    let met = t.met(g.kind, med);
                    target_count += 1;
                    met_count += usize::from(met);
                    (t.shown(g.kind), if met { "✅" } else { "❌" })
                } else {
                    (String::new(), "")
                };
                let _ = writeln!(
                    out,
                    "| {} | {cname} | {pname} | {:.2}× | {:.2}–{:.2} | {ahead}/{} | {target} | {met} |",
                    g.title,
                    med,
                    lo,
                    hi,
                    ratios.len()
                );
            }
        }
    }
    // A target whose conkit contender or peer was not measured is a target not met:
    // leaving it out of the count would let `--strict` pass without the comparison.
    let mut unmeasured = Vec::new();
    for g in results {
        for t in &g.targets {
            let (c, p) = (t.contender, t.peer);
            let absent: Vec<&str> = [c, p]
                .into_iter()
                .filter(|name| !g.names.iter().any(|n| n == name))
                .collect();
            if !absent.is_empty() {
                target_count += 1;
                let target = t.shown(g.kind);
                let _ = writeln!(
                    out,
                    "| {} | {c} | {p} | not measured | | | {target} | ❌ |",
                    g.title
                );
                unmeasured.push(format!(
                    "target {c} vs {p} ({}): not met, {} not measured",
                    g.title,
                    absent.join(" and ")
                ));
            }
        }
    }
    let missing: Vec<String> = results
        .iter()
        .flat_map(|g| g.missing.iter().cloned())
        .chain(unmeasured)
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "\nNot measured:");
        for m in missing {
            let _ = writeln!(out, "- {m}");
        }
    }
    let _ = writeln!(out, "\nItems per measurement: {}.", items_line(results));
    (out, met_count, target_count)
}

/// How much better than `peer` conkit must be by default ([`Target::new`]): 20× for
/// CPython (the issues' target for every row against the Python reference), 1× for every
/// other peer. A row with another target says so with [`Target::with_factor`].
pub fn target_factor(peer: &str) -> f64 {
    if peer.starts_with("CPython") {
        20.0
    } else {
        1.0
    }
}

/// Runs `script` under `python3` (the reference implementation, as a peer) with
/// `min(items, cap)` as `sys.argv[1]`, and returns its time scaled to `items`.
///
/// The script does `n` operations and prints the seconds they took (timed inside
/// Python with `time.perf_counter()`, so interpreter start-up is excluded) as its
/// last line of output; it must exit with status 0 and should check its own result
/// (`assert`), as the Rust contenders do.
pub fn python(script: &str, items: u64, cap: u64) -> Res<Duration> {
    let n = items.min(cap).max(1);
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c").arg(script).arg(n.to_string());
    let secs = python_seconds(&mut cmd)?;
    Ok(Duration::from_secs_f64(secs * items as f64 / n as f64))
}

/// Runs a prepared `python3` command and returns the seconds it printed as its last
/// line of output (the protocol of [`python`], for peers that need other arguments).
pub fn python_seconds(cmd: &mut std::process::Command) -> Res<f64> {
    let out = cmd.output().map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("python3 printed no time: {text:?}"))
}

fn items_line(results: &[GroupResult]) -> String {
    results
        .iter()
        .map(|g| format!("{} {}", g.id, g.items))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------
// Running contenders
// ---------------------------------------------------------------------------------

/// Waits for a failed try-operation: spins `spin_limit` times, then yields to the OS
/// scheduler on every further failure, and gives up at the deadline.
pub struct Backoff {
    fails: u64,
    spin_limit: u64,
    deadline: Instant,
}

impl Backoff {
    /// A backoff that gives up at `deadline`.
    pub fn new(spin_limit: u64, deadline: Instant) -> Self {
        Self {
            fails: 0,
            spin_limit,
            deadline,
        }
    }

    /// Call after a successful operation.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.fails = 0;
    }

    /// Failed operations since the last success.
    #[inline(always)]
    pub fn fails(&self) -> u64 {
        self.fails
    }

    /// Call after a failed operation; `Err` once the deadline has passed.
    #[inline(always)]
    pub fn snooze(&mut self) -> Res {
        self.fails += 1;
        if self.fails <= self.spin_limit {
            spin_loop();
            Ok(())
        } else {
            self.slow()
        }
    }

    #[cold]
    #[inline(never)]
    fn slow(&mut self) -> Res {
        thread::yield_now();
        if self.fails % 256 == 0 && Instant::now() > self.deadline {
            Err("stalled: no progress before the deadline (lost items?)".into())
        } else {
            Ok(())
        }
    }
}

/// A generous deadline for moving `items` items (a healthy run takes a small fraction).
pub fn deadline(items: u64) -> Instant {
    Instant::now() + Duration::from_secs(20) + Duration::from_micros(2 * items)
}

/// A one-shot start line for `parties` threads.
pub struct StartLine {
    arrived: AtomicUsize,
    parties: usize,
}

impl StartLine {
    /// For `parties` threads.
    pub fn new(parties: usize) -> Self {
        Self {
            arrived: AtomicUsize::new(0),
            parties,
        }
    }

    /// Blocks until all parties arrived, then returns the start time of this thread.
    pub fn wait(&self) -> Instant {
        self.arrived.fetch_add(1, Ordering::AcqRel);
        let mut n = 0u32;
        while self.arrived.load(Ordering::Acquire) < self.parties {
            n += 1;
            if n < 1_000 {
                spin_loop();
            } else {
                thread::yield_now();
            }
        }
        Instant::now()
    }
}

/// Pins the current thread, if a core is given.
pub fn pin(core: Option<CoreId>) {
    if let Some(c) = core {
        let _ = core_affinity::set_for_current(c);
    }
}

/// The cores of this machine, as the OS reports them.
pub fn cores() -> Vec<CoreId> {
    core_affinity::get_core_ids().unwrap_or_default()
}

fn expected_sum(items: u64) -> u64 {
    // Values 1..=items.
    items.wrapping_mul(items.wrapping_add(1)) / 2
}

fn check(what: &str, items: u64, got: u64, sum: u64) -> Res {
    let want = expected_sum(items);
    if got == items && sum == want {
        Ok(())
    } else {
        Err(format!(
            "ITEMS LOST OR CORRUPTED in {what}: received {got} items with sum {sum}, \
             expected {items} items with sum {want}"
        ))
    }
}

/// Spin limit (failed tries before yielding) for the two pinned SPSC threads.
pub const SPSC_SPIN: u64 = 1 << 12;
/// Spin limit for MPMC: four threads share two cores, so yield early.
pub const MPMC_SPIN: u64 = 64;
/// Failed pops after which a consumer looks whether the producers have finished.
const LOOK_FOR_DONE: u64 = 32;

/// What a consumer does after an empty poll: once it has seen the producer(s) finished
/// *before* a poll that still found the ring empty, no item can come any more, so a
/// missing item is lost (reported at once instead of at the deadline).
struct Drain<'a> {
    done: &'a AtomicBool,
    seen_done: bool,
}

impl<'a> Drain<'a> {
    fn new(done: &'a AtomicBool) -> Self {
        Self {
            done,
            seen_done: false,
        }
    }

    /// Call on an empty poll; `true` when the ring is empty for good.
    #[inline(always)]
    fn empty_for_good(&mut self, b: &Backoff) -> bool {
        if self.seen_done {
            return true;
        }
        if b.fails() >= LOOK_FOR_DONE {
            self.seen_done = self.done.load(Ordering::Acquire);
        }
        false
    }
}

/// SPSC, one item per call: a producer thread (on `pins.0`) pushes `1..=items`
/// through `push`, a consumer thread (on `pins.1`) pops them through `pop` and sums
/// them. `push` returns `false` when full, `pop` returns `None` when empty; both are
/// retried through a [`Backoff`]. Timed from the start line to the last item popped.
pub fn spsc<P: Send, C: Send>(
    items: u64,
    pins: (Option<CoreId>, Option<CoreId>),
    mut p: P,
    mut c: C,
    mut push: impl FnMut(&mut P, u64) -> bool + Send,
    mut pop: impl FnMut(&mut C) -> Option<u64> + Send,
) -> Res<Duration> {
    let start = StartLine::new(2);
    let done = AtomicBool::new(false);
    let dl = deadline(items);
    let (t0, (t1, got, sum)) = thread::scope(|s| {
        let (start, done) = (&start, &done);
        let prod = s.spawn(move || -> Res<Instant> {
            pin(pins.0);
            let t0 = start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            for v in 1..=items {
                while !push(&mut p, v) {
                    b.snooze().map_err(|e| format!("producer: {e}"))?;
                }
                b.reset();
            }
            done.store(true, Ordering::Release);
            Ok(t0)
        });
        let cons = s.spawn(move || -> Res<(Instant, u64, u64)> {
            pin(pins.1);
            start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            let mut drain = Drain::new(done);
            let (mut got, mut sum) = (0u64, 0u64);
            while got < items {
                match pop(&mut c) {
                    Some(v) => {
                        sum = sum.wrapping_add(v);
                        got += 1;
                        b.reset();
                    }
                    None => {
                        if drain.empty_for_good(&b) {
                            check("spsc", items, got, sum)?;
                        }
                        if let Err(e) = b.snooze() {
                            check("spsc", items, got, sum)?;
                            return Err(format!("consumer: {e}"));
                        }
                    }
                }
            }
            Ok((Instant::now(), got, sum))
        });
        let c = cons.join().map_err(|_| "consumer panicked".to_string());
        let p = prod.join().map_err(|_| "producer panicked".to_string());
        Ok::<_, String>((p??, c??))
    })?;
    check("spsc", items, got, sum)?;
    Ok(t1.saturating_duration_since(t0))
}

/// Largest batch of the batched SPSC benchmark.
pub const BATCH: usize = 256;

/// SPSC in batches of up to [`BATCH`]: `push` copies a prefix of the slice into the
/// ring and returns how many it took (0 when full); `pop` fills a prefix of the slice
/// and returns how many it wrote (0 when empty).
pub fn spsc_batched<P: Send, C: Send>(
    items: u64,
    pins: (Option<CoreId>, Option<CoreId>),
    mut p: P,
    mut c: C,
    mut push: impl FnMut(&mut P, &[u64]) -> usize + Send,
    mut pop: impl FnMut(&mut C, &mut [u64]) -> usize + Send,
) -> Res<Duration> {
    let start = StartLine::new(2);
    let done = AtomicBool::new(false);
    let dl = deadline(items);
    let (t0, (t1, got, sum)) = thread::scope(|s| {
        let (start, done) = (&start, &done);
        let prod = s.spawn(move || -> Res<Instant> {
            pin(pins.0);
            let mut buf = [0u64; BATCH];
            let t0 = start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            let mut next = 1u64;
            while next <= items {
                let k = (items - next + 1).min(BATCH as u64) as usize;
                for (i, x) in buf[..k].iter_mut().enumerate() {
                    *x = next + i as u64;
                }
                let mut off = 0;
                while off < k {
                    let n = push(&mut p, &buf[off..k]);
                    if n == 0 {
                        b.snooze().map_err(|e| format!("producer: {e}"))?;
                    } else if n > k - off {
                        return Err(format!(
                            "push claimed {n} items from a slice of {}",
                            k - off
                        ));
                    } else {
                        off += n;
                        b.reset();
                    }
                }
                next += k as u64;
            }
            done.store(true, Ordering::Release);
            Ok(t0)
        });
        let cons = s.spawn(move || -> Res<(Instant, u64, u64)> {
            pin(pins.1);
            let mut buf = [0u64; BATCH];
            start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            let mut drain = Drain::new(done);
            let (mut got, mut sum) = (0u64, 0u64);
            while got < items {
                let want = (items - got).min(BATCH as u64) as usize;
                let n = pop(&mut c, &mut buf[..want]);
                if n == 0 {
                    if drain.empty_for_good(&b) {
                        check("spsc batched", items, got, sum)?;
                    }
                    if let Err(e) = b.snooze() {
                        check("spsc batched", items, got, sum)?;
                        return Err(format!("consumer: {e}"));
                    }
                } else if n > want {
                    return Err(format!("pop claimed {n} items into a slice of {want}"));
                } else {
                    for x in &buf[..n] {
                        sum = sum.wrapping_add(*x);
                    }
                    got += n as u64;
                    b.reset();
                }
            }
            Ok((Instant::now(), got, sum))
        });
        let c = cons.join().map_err(|_| "consumer panicked".to_string());
        let p = prod.join().map_err(|_| "producer panicked".to_string());
        Ok::<_, String>((p??, c??))
    })?;
    check("spsc batched", items, got, sum)?;
    Ok(t1.saturating_duration_since(t0))
}

/// MPMC: `producers` threads push disjoint ranges of `1..=items` into `q`,
/// `consumers` threads pop and sum until every producer has finished and the ring is
/// empty; then the count and the sum of all consumers must match. Threads are not
/// pinned (more threads than cores: the OS shares the cores). Timed from the first
/// start to the last consumer done.
pub fn mpmc<Q: Sync>(
    items: u64,
    producers: u64,
    consumers: u64,
    q: &Q,
    push: impl Fn(&Q, u64) -> bool + Sync,
    pop: impl Fn(&Q) -> Option<u64> + Sync,
) -> Res<Duration> {
    let start = StartLine::new((producers + consumers) as usize);
    let finished = AtomicU64::new(0);
    let all_done = AtomicBool::new(false);
    let dl = deadline(items);
    let (push, pop) = (&push, &pop);
    thread::scope(|s| {
        let (start, finished, all_done) = (&start, &finished, &all_done);
        let mut ps = Vec::new();
        for k in 0..producers {
            let lo = k * items / producers + 1;
            let hi = (k + 1) * items / producers;
            ps.push(s.spawn(move || -> Res<Instant> {
                let t0 = start.wait();
                let mut b = Backoff::new(MPMC_SPIN, dl);
                for v in lo..=hi {
                    while !push(q, v) {
                        b.snooze().map_err(|e| format!("producer {k}: {e}"))?;
                    }
                    b.reset();
                }
                if finished.fetch_add(1, Ordering::AcqRel) + 1 == producers {
                    all_done.store(true, Ordering::Release);
                }
                Ok(t0)
            }));
        }
        let mut cs = Vec::new();
        for k in 0..consumers {
            cs.push(s.spawn(move || -> Res<(Instant, Instant, u64, u64)> {
                let t0 = start.wait();
                let mut b = Backoff::new(MPMC_SPIN, dl);
                let mut drain = Drain::new(all_done);
                let (mut got, mut sum) = (0u64, 0u64);
                loop {
                    match pop(q) {
                        Some(v) => {
                            sum = sum.wrapping_add(v);
                            got += 1;
                            b.reset();
                        }
                        None => {
                            // After every producer finished, an empty poll is final: the
                            // items still missing were taken by the other consumers.
                            if drain.empty_for_good(&b) {
                                break;
                            }
                            b.snooze()
                                .map_err(|e| format!("consumer {k} (after {got} items): {e}"))?;
                        }
                    }
                }
                Ok((t0, Instant::now(), got, sum))
            }));
        }
        let mut first: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        let (mut got, mut sum) = (0u64, 0u64);
        let mut err = None;
        for h in ps {
            match h
                .join()
                .map_err(|_| "producer panicked".to_string())
                .and_then(|r| r)
            {
                Ok(t) => first = Some(first.map_or(t, |f| f.min(t))),
                Err(e) => err = Some(e),
            }
        }
        for h in cs {
            match h
                .join()
                .map_err(|_| "consumer panicked".to_string())
                .and_then(|r| r)
            {
                Ok((t0, t1, g, su)) => {
                    first = Some(first.map_or(t0, |f| f.min(t0)));
                    last = Some(last.map_or(t1, |l| l.max(t1)));
                    got += g;
                    sum = sum.wrapping_add(su);
                }
                Err(e) => err = Some(e),
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        check("mpmc", items, got, sum)?;
        match (first, last) {
            (Some(f), Some(l)) => Ok(l.saturating_duration_since(f)),
            _ => Err("no thread reported a time".to_string()),
        }
    })
}
/// Runs `f` on a fresh thread pinned to `core` (so the pin does not leak into the
/// threads spawned later by the main thread) and returns its result.
pub fn on_core<R: Send>(core: Option<CoreId>, f: impl FnOnce() -> R + Send) -> R {
    thread::scope(|s| {
        s.spawn(move || {
            pin(core);
            f()
        })
        .join()
        .expect("benchmark thread panicked")
    })
}

/// A single-thread latency loop: `op(i)` runs `ops` times on a thread pinned to
/// `core`; `op` returns a value that is summed and must equal `expected(ops)`
/// (so the loop's work cannot be skipped and a broken primitive is caught).
pub fn latency(
    core: Option<CoreId>,
    ops: u64,
    mut op: impl FnMut(u64) -> u64 + Send,
    expected: impl FnOnce(u64) -> u64 + Send,
) -> Res<Duration> {
    on_core(core, move || {
        let mut acc = 0u64;
        let t0 = Instant::now();
        for i in 0..ops {
            acc = acc.wrapping_add(op(std::hint::black_box(i)));
        }
        let d = t0.elapsed();
        let want = expected(ops);
        if acc == want {
            Ok(d)
        } else {
            Err(format!(
                "WRONG RESULT: the loop returned {acc}, expected {want}"
            ))
        }
    })
}

/// Sum of 1..=n: what a loop that counts one more under a lock on each of its `n`
/// operations returns in all.
pub fn tri(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// A [`latency`] loop of a data-less lock taken with a guard: `ops` times `enter()`
/// (the guard releases the lock when dropped) and count one more under it.
pub fn guarded_count<G>(
    core: Option<CoreId>,
    ops: u64,
    mut enter: impl FnMut() -> G + Send,
) -> Res<Duration> {
    let mut c = 0u64;
    latency(
        core,
        ops,
        |_| {
            let _g = enter();
            c += 1;
            c
        },
        tri,
    )
}

/// As [`guarded_count`] with explicit `acquire` and `release` calls; a failed release
/// (`false`) breaks the sum check.
pub fn acquire_release_count(
    core: Option<CoreId>,
    ops: u64,
    mut acquire: impl FnMut() + Send,
    mut release: impl FnMut() -> bool + Send,
) -> Res<Duration> {
    let mut c = 0u64;
    latency(
        core,
        ops,
        |_| {
            acquire();
            c += 1;
            let v = c;
            if release() {
                v
            } else {
                0
            }
        },
        tri,
    )
}

/// A single-thread SPSC loop: push `i + 1` through `p`, pop it back through `c`, `ops`
/// times, on a thread pinned to `core`; the popped values must sum to `1 + … + ops`.
pub fn push_pop<P: Send, C: Send>(
    core: Option<CoreId>,
    ops: u64,
    mut p: P,
    mut c: C,
    mut push: impl FnMut(&mut P, u64) -> bool + Send,
    mut pop: impl FnMut(&mut C) -> Option<u64> + Send,
) -> Res<Duration> {
    latency(
        core,
        ops,
        move |i| {
            let pushed = push(std::hint::black_box(&mut p), i + 1);
            pop(std::hint::black_box(&mut c))
                .filter(|_| pushed)
                .unwrap_or(0)
        },
        |n| n.wrapping_mul(n.wrapping_add(1)) / 2,
    )
}

// ---------------------------------------------------------------------------------
// The two single-item SPSC regimes, measured on purpose
// ---------------------------------------------------------------------------------
//
// Two pinned threads passing one item at a time through a ring fall into one of two
// couplings, and which one a run falls into decides its result (3-10x apart):
// * the consumer keeps up: every pop finds the ring empty per its cached `tail`,
//   reloads it and misses on the slot line being written (~20 ns per item for any
//   ring, whatever its code);
// * the consumer is slightly slower: each reload of `tail` returns a batch, and the
//   ring moves hundreds of M items/s.
// So a plain "push one, pop one" loop measures the coupling, not the ring. The two rows
// below pin the regime down instead: a ping-pong (the latency of one item there and
// back, always the coupled case), and a stream with a fixed amount of work per item on
// the consumer (always the decoupled case: the consumer is the bottleneck, the ring
// runs full, and the ring's cost is what the consumer pays on top of its work).

/// Rounds of [`Work::on`] per item the consumer of [`spsc_work`] does.
pub const WORK_ROUNDS: u32 = 32;

/// A fixed amount of work per item, serial from one item to the next: [`WORK_ROUNDS`]
/// dependent multiply-rotate steps on a state that carries over (about 4 cycles each,
/// so ~130 cycles per item on any x86_64 or Arm core; out-of-order execution cannot
/// overlap two items' work). That is more than the ~20 ns per item of the coupled
/// regime, so the consumer is the bottleneck and the ring runs full whatever the CPU
/// (unless a thread is preempted: see the regime check in [`spsc_work`]).
#[derive(Default)]
pub struct Work(u64);

impl Work {
    /// Works on `v` and returns it unchanged (the item sums still check).
    #[inline(always)]
    pub fn on(&mut self, v: u64) -> u64 {
        let mut x = self.0 ^ v;
        for _ in 0..WORK_ROUNDS {
            x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        }
        // Materialised each item: the chain cannot be skipped or folded.
        self.0 = std::hint::black_box(x);
        v
    }
}

/// SPSC with a fixed amount of [`Work`] per item on the consumer: as [`spsc`], but
/// the consumer works on every item it pops before it pops the next (the decoupled
/// regime, see above).
pub fn spsc_work<P: Send, C: Send>(
    items: u64,
    pins: (Option<CoreId>, Option<CoreId>),
    p: P,
    c: C,
    push: impl FnMut(&mut P, u64) -> bool + Send,
    mut pop: impl FnMut(&mut C) -> Option<u64> + Send,
) -> Res<Duration> {
    let mut work = Work::default();
    let mut empty_polls = 0u64;
    let d = spsc(items, pins, p, c, push, |c| match pop(c) {
        Some(v) => Some(work.on(v)),
        None => {
            empty_polls += 1;
            None
        }
    })?;
    // The regime check: in the decoupled regime the consumer almost never finds the
    // ring empty. If it does, either thread was off its core (a busy machine: the
    // ring holds ~70 us of work, a preemption lasts ms) and the figure measures the
    // scheduler, not the ring: say so next to the figures.
    if empty_polls > items / 100 {
        eprintln!(
            "    (spsc-work: the consumer found the ring empty {:.2} times per item: not \
             the decoupled regime; a busy machine?)",
            empty_polls as f64 / items as f64
        );
    }
    Ok(d)
}

/// The same work without a ring, on one pinned thread: the floor of [`spsc_work`]
/// (its consumer cannot go faster than this).
pub fn work_alone(core: Option<CoreId>, items: u64) -> Res<Duration> {
    let mut work = Work::default();
    latency(
        core,
        items,
        move |i| work.on(i + 1),
        |n| n.wrapping_mul(n.wrapping_add(1)) / 2,
    )
}

/// Round trips per timed block of [`ping_pong`].
pub const PING_PONG_BLOCK: u64 = 64;

/// SPSC ping-pong: `trips` round trips of one item through two rings of the same
/// type, `there` (leader → echo) and `back` (echo → leader). The leader (on
/// `pins.0`) pushes `v`, waits for it to come back and checks it is `v`; the echo
/// thread (on `pins.1`) pops each item and pushes it back: the latency of one round
/// trip (two one-way hand-offs, each a store, a poll that sees it and a read of the
/// slot: the coupled regime, by construction).
///
/// Timed on the leader in blocks of [`PING_PONG_BLOCK`] round trips; the result is the
/// median block scaled to `trips` (so the harness' ns/op is the median round trip of
/// a block). A round trip is a few hundred ns, so a preemption of either pinned thread
/// on a shared machine (milliseconds) would dominate a plain total; with the median it
/// costs one slow block. The clock is read once per block, not per trip.
pub fn ping_pong<P: Send, C: Send>(
    trips: u64,
    pins: (Option<CoreId>, Option<CoreId>),
    there: (P, C),
    back: (P, C),
    push: impl Fn(&mut P, u64) -> bool + Sync,
    pop: impl Fn(&mut C) -> Option<u64> + Sync,
) -> Res<Duration> {
    let start = StartLine::new(2);
    let dl = deadline(trips * 4);
    let (push, pop) = (&push, &pop);
    let ((mut p1, mut c1), (mut p2, mut c2)) = (there, back);
    let (t0, t1, sum, mut blocks) = thread::scope(|s| {
        let start = &start;
        let echo = s.spawn(move || -> Res {
            pin(pins.1);
            start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            for _ in 0..trips {
                let v = loop {
                    match pop(&mut c1) {
                        Some(v) => break v,
                        None => b.snooze().map_err(|e| format!("echo pop: {e}"))?,
                    }
                };
                b.reset();
                while !push(&mut p2, v) {
                    b.snooze().map_err(|e| format!("echo push: {e}"))?;
                }
                b.reset();
            }
            Ok(())
        });
        let leader = s.spawn(move || -> Res<(Instant, Instant, u64, Vec<Duration>)> {
            pin(pins.0);
            let t0 = start.wait();
            let mut b = Backoff::new(SPSC_SPIN, dl);
            let mut sum = 0u64;
            let mut blocks = Vec::with_capacity((trips / PING_PONG_BLOCK + 1) as usize);
            let mut block_start = t0;
            for v in 1..=trips {
                while !push(&mut p1, v) {
                    b.snooze().map_err(|e| format!("leader push: {e}"))?;
                }
                b.reset();
                let w = loop {
                    match pop(&mut c2) {
                        Some(w) => break w,
                        None => b.snooze().map_err(|e| format!("leader pop: {e}"))?,
                    }
                };
                b.reset();
                if w != v {
                    return Err(format!("ITEM CORRUPTED: sent {v}, got {w} back"));
                }
                sum = sum.wrapping_add(w);
                if v % PING_PONG_BLOCK == 0 {
                    let now = Instant::now();
                    blocks.push(now.saturating_duration_since(block_start));
                    block_start = now;
                }
            }
            Ok((t0, Instant::now(), sum, blocks))
        });
        let l = leader.join().map_err(|_| "leader panicked".to_string());
        let e = echo.join().map_err(|_| "echo panicked".to_string());
        e??;
        l?
    })?;
    check("spsc ping-pong", trips, trips, sum)?;
    // The median block, scaled to all trips (see above); the plain total if there are
    // too few blocks for a median to mean anything.
    if blocks.len() < 16 {
        return Ok(t1.saturating_duration_since(t0));
    }
    blocks.sort_unstable();
    let median = blocks[blocks.len() / 2];
    Ok(median.mul_f64(trips as f64 / PING_PONG_BLOCK as f64))
}
