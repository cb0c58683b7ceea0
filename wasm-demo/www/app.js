// The demo page: four cards (thread-style SPSC, MPMC + semaphore + event flags,
// process-style postMessage, the page itself awaiting a worker's ring) and a speed
// comparison. The main thread never blocks: it starts runs, reads their counters every
// 100 ms and draws; in card 4 it also consumes, by awaiting (a task of
// wasm-bindgen-futures woken from the worker through `Atomics.waitAsync`). `window.conkit` is the
// handle the headless browser test drives.
import init, * as wasm from './pkg/conkit_wasm_demo.js';
import { WorkerPool } from './pool.js';
import { PipeRun } from './pipe.js';
import { LiveChart, formatRate } from './chart.js';

const SAMPLE_MS = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmtInt = (x) => Math.round(x).toLocaleString('en-US');
const hex = (x) => (x >>> 0).toString(16).padStart(8, '0');

// Copies a wasm `Snapshot` into a plain object and frees it.
function plain(s) {
  if (!(s instanceof wasm.Snapshot)) return s;
  const o = {};
  for (const k of ['sent', 'received', 'fill', 'capacity', 'active_consumers', 'paused_workers', 'finished',
    'sent_count', 'sent_sum', 'sent_xor', 'received_count', 'received_sum', 'received_xor',
    'checksum_ok']) o[k] = s[k];
  s.free();
  return o;
}

function stat(key, label) {
  return `<div class="stat" data-k="${key}"><div class="k">${label}</div><div class="v wait">–</div><div class="sub">&nbsp;</div></div>`;
}

class Card {
  constructor(id, kind, pool) {
    this.el = document.getElementById(id);
    this.kind = kind;
    this.pool = pool;
    this.run = null;
    this.el.querySelector('.stats').innerHTML =
      stat('rate', 'items / s') + stat('moved', 'items moved') + stat('fill', 'queue fill') + stat('check', 'checksum');
    this.chart = new LiveChart(this.el.querySelector('canvas'));
    this.btn = (name) => this.el.querySelector(`button.${name}`);
    this.btn('start').onclick = () => this.start(this.options()).catch(showError);
    this.btn('stop').onclick = () => this.stop().catch(showError);
    if (this.btn('pause')) this.btn('pause').onclick = () => this.togglePause();
  }

  select(name) {
    return this.el.querySelector(`select[name=${name}]`);
  }

  options() {
    const o = {};
    for (const s of this.el.querySelectorAll('select')) o[s.name] = Number(s.value);
    return o;
  }

  setOptions(o) {
    for (const [k, v] of Object.entries(o)) {
      const s = this.select(k);
      if (s) s.value = String(v);
    }
  }

  show(key, value, cls, sub) {
    const box = this.el.querySelector(`.stat[data-k=${key}]`);
    const v = box.querySelector('.v');
    v.textContent = value;
    v.className = `v ${cls || ''}`;
    box.querySelector('.sub').innerHTML = sub || '&nbsp;';
  }

  async start(opts) {
    if (this.run) throw new Error('already running');
    this.setOptions(opts);
    let run;
    let done;
    if (this.kind === 'spsc') {
      run = wasm.Demo.spsc(opts.capacity, opts.batch);
      done = this.pool.runTasks(run);
    } else if (this.kind === 'mpmc') {
      run = wasm.Demo.mpmc(opts.capacity, opts.producers, opts.consumers, opts.permits);
      done = this.pool.runTasks(run);
    } else if (this.kind === 'async') {
      run = new wasm.AsyncDemo(opts.items || 0);
      // The consumer task starts first and parks until the worker's first push.
      const consumed = run.consume();
      done = Promise.all([consumed, this.pool.runTasks(run)]).then(([n]) => { this.consumed = n; });
    } else {
      run = new PipeRun({ batch: opts.batch, capacity: opts.capacity });
      done = run.done;
    }
    this.run = run;
    this.done = done;
    this.stopping = false;
    // A run of a fixed number of items (card 4) ends by itself: show its result then.
    this.autoStop = this.kind === 'async' && opts.items
      ? done.then(() => (this.run === run && !this.stopping ? this.stop() : null))
      : null;
    this.paused = false;
    this.opts = opts;
    this.t0 = performance.now();
    this.first = null; // first sample with items moved: {t, received}
    this.last = { t: this.t0, received: 0 };
    this.rate = 0;
    this.chart.reset();
    this.btn('start').disabled = true;
    this.btn('stop').disabled = false;
    if (this.btn('pause')) { this.btn('pause').disabled = false; this.btn('pause').textContent = 'Pause'; }
    this.show('check', 'running…', 'wait', 'checked after stop');
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    done.catch((e) => { showError(e); });
  }

  snapshot() {
    return plain(this.run.snapshot());
  }

  sample() {
    if (!this.run) return;
    const s = this.snapshot();
    const t = performance.now();
    const dt = (t - this.last.t) / 1000;
    if (dt > 0) {
      const inst = (s.received - this.last.received) / dt;
      this.rate = this.paused ? 0 : (this.rate ? 0.6 * this.rate + 0.4 * inst : inst);
    }
    this.last = { t, received: s.received };
    if (!this.first && s.received > 0) this.first = { t, received: s.received };
    this.chart.push(t / 1000, s.capacity ? s.fill / s.capacity : 0, this.rate);
    this.render(s, this.rate, false);
    return s;
  }

  render(s, rate, final) {
    this.show('rate', formatRate(rate), final ? 'ok' : '', final ? 'run average' : 'now');
    this.show('moved', formatRate(s.received), '', `sent ${formatRate(s.sent)}`);
    const pct = s.capacity ? (100 * s.fill) / s.capacity : 0;
    this.show('fill', `${pct.toFixed(0)} %`, '', `${fmtInt(s.fill)} of ${fmtInt(s.capacity)}`);
    if (this.kind === 'mpmc' && this.run && this.run.worker_counts) this.renderWorkers(s);
    if (this.kind === 'async' && this.run) this.renderAsync();
  }

  asyncStats() {
    const a = this.run.async_stats();
    const o = { items: a.items, received: a.received, suspended: a.suspended, awaited_items: a.awaited_items };
    a.free();
    return o;
  }

  renderAsync() {
    const a = this.asyncStats();
    this.el.querySelector('.asyncinfo').innerHTML =
      `<div class="w">page task slept and was woken: <b>${fmtInt(a.suspended)}</b> times</div>` +
      `<div class="w">items taken by <code>pop().await</code>: <b>${fmtInt(a.awaited_items)}</b>, the rest by the <code>pop_slice</code> after it</div>` +
      `<div class="w">received on the main thread: <b>${fmtInt(a.received)}</b>${a.items ? ` of ${fmtInt(a.items)}` : ''}</div>`;
    return a;
  }

  renderWorkers(s) {
    const counts = Array.from(this.run.worker_counts());
    const p = this.opts.producers;
    const max = Math.max(1, ...counts);
    const box = this.el.querySelector('.workers');
    box.innerHTML = counts.map((c, i) => {
      const role = i < p ? 'producer' : 'consumer';
      const n = i < p ? i + 1 : i - p + 1;
      return `<div class="w ${role}">${role} ${n}: ${formatRate(c)}<div class="bar"><i style="width:${(100 * c) / max}%"></i></div></div>`;
    }).join('') + `<div class="w">working now: <b>${s.active_consumers}</b> of ${Math.min(this.opts.permits, this.opts.consumers)} permits</div>`;
  }

  togglePause() {
    if (!this.run) return;
    this.paused = !this.paused;
    this.run.pause(this.paused);
    this.btn('pause').textContent = this.paused ? 'Resume' : 'Pause';
  }

  pause(paused) {
    if (this.paused !== paused) this.togglePause();
  }

  async stop() {
    if (!this.run) throw new Error('not running');
    this.stopping = true;
    // The first sample with items moved, taken before the closing sample (a run shorter
    // than one sampling period has none: count from the start).
    const from = this.first || { t: this.t0, received: 0 };
    const before = this.sample();
    const tStop = performance.now();
    const seconds = Math.max(1e-3, (tStop - from.t) / 1000);
    const avg = (before.received - from.received) / seconds;
    if (this.paused) this.togglePause();
    this.btn('stop').disabled = true;
    if (this.btn('pause')) this.btn('pause').disabled = true;
    this.run.stop();
    await this.done;
    clearInterval(this.timer);
    const s = this.snapshot();
    this.render(s, avg, true);
    if (this.kind === 'mpmc') this.renderWorkers(s);
    const extra = this.kind === 'async' ? { ...this.renderAsync(), consumed: this.consumed } : {};
    this.show('check', s.checksum_ok ? '✓ equal' : '✗ differ', s.checksum_ok ? 'ok' : 'bad',
      `sent = received: ${hex(s.received_sum)}${hex(s.received_xor)}`);
    if (this.run.free) this.run.free();
    this.run = null;
    this.btn('start').disabled = false;
    return { kind: this.kind, options: this.opts, rate: avg, seconds, ...s, ...extra };
  }

  async runFor(opts, seconds) {
    await this.start(opts);
    await sleep(seconds * 1000);
    return this.stop();
  }
}

function showError(e) {
  console.error(e);
  const env = document.getElementById('env');
  env.innerHTML += ` <span class="bad">error: ${String(e.message || e)}</span>`;
}

function fillCapacities(card, caps, selected) {
  for (const s of card.el.querySelectorAll('select[name=capacity]')) {
    s.innerHTML = caps.map((c) => `<option value="${c}" ${c === selected ? 'selected' : ''}>${fmtInt(c)}</option>`).join('');
  }
}

async function main() {
  const env = document.getElementById('env');
  if (!self.crossOriginIsolated) {
    env.innerHTML = '<span class="bad">This page is not cross-origin isolated (serve it with COOP/COEP headers, e.g. <code>cargo xtask demo</code>): shared memory is unavailable.</span>';
    throw new Error('not crossOriginIsolated');
  }
  await init();
  const pool = new WorkerPool();
  const cards = {
    spsc: new Card('spsc', 'spsc', pool),
    mpmc: new Card('mpmc', 'mpmc', pool),
    pipe: new Card('pipe', 'pipe', pool),
    async: new Card('async', 'async', pool),
  };
  const caps = Array.from(wasm.capacities());
  fillCapacities(cards.spsc, caps, 4096);
  fillCapacities(cards.mpmc, caps, 256);
  fillCapacities(cards.pipe, caps, 65536);
  env.innerHTML = `<span class="ok">✓ cross-origin isolated</span> · shared WebAssembly memory ·
    ${navigator.hardwareConcurrency || '?'} logical cores · workers block in <code>memory.atomic.wait32</code>, the page never does`;

  const rows = [
    { key: 'shared', label: 'Shared ring, 1024 items per slice op', card: 'spsc', opts: { capacity: 4096, batch: 1024 } },
    { key: 'shared1', label: 'Shared ring, 1 item per push / pop', card: 'spsc', opts: { capacity: 4096, batch: 1 } },
    { key: 'msg1', label: 'postMessage, 1 item per message', card: 'pipe', opts: { capacity: 65536, batch: 1 } },
    { key: 'msg1000', label: 'postMessage, 1 000 items per message', card: 'pipe', opts: { capacity: 65536, batch: 1000 } },
    { key: 'msg10000', label: 'postMessage, 10 000 items per message', card: 'pipe', opts: { capacity: 65536, batch: 10000 } },
  ];
  const bars = document.getElementById('compare-bars');
  bars.innerHTML = rows.map((r) => `<div class="barrow ${r.card === 'pipe' ? 'msg' : ''}" data-k="${r.key}">
    <div>${r.label}</div><div class="track"><i style="width:0"></i></div><div class="val">–</div></div>`).join('');

  async function compare(seconds = 3) {
    const button = document.getElementById('compare-run');
    button.disabled = true;
    const results = {};
    try {
      // The 1024-per-op ring and the 10 000-per-message pipe run last, so the cards
      // below keep showing the best configuration of each.
      const order = ['shared1', 'msg1', 'msg1000', 'msg10000', 'shared'];
      for (const r of order.map((k) => rows.find((x) => x.key === k))) {
        const row = bars.querySelector(`[data-k=${r.key}] .val`);
        row.textContent = 'running…';
        results[r.key] = await cards[r.card].runFor(r.opts, seconds);
        const max = Math.max(...Object.values(results).map((x) => x.rate));
        for (const [k, x] of Object.entries(results)) {
          const el = bars.querySelector(`[data-k=${k}]`);
          el.querySelector('i').style.width = `${(100 * x.rate) / max}%`;
          el.querySelector('.val').textContent = `${formatRate(x.rate)} items/s${x.checksum_ok ? ' ✓' : ' ✗'}`;
        }
      }
      const best = Math.max(results.msg1000.rate, results.msg10000.rate);
      document.getElementById('compare-summary').innerHTML =
        `Shared memory moved <b>${(results.shared.rate / results.msg1.rate).toFixed(0)}×</b> more items per second than one item per message, and <b>${(results.shared.rate / best).toFixed(1)}×</b> the best batched postMessage. Every run's checksum: ${Object.values(results).every((x) => x.checksum_ok) ? '<b style="color:var(--ok)">all match ✓</b>' : '<b style="color:var(--bad)">MISMATCH ✗</b>'}.`;
      return results;
    } finally {
      button.disabled = false;
    }
  }
  document.getElementById('compare-run').onclick = () => compare().catch(showError);

  // MPMC with a pause in the middle: proves the event flags stop every worker.
  // Not vacuous: items must flow right before the pause (else a "pause" would hold
  // with workers that merely were not running), and every worker must be asleep on
  // the flags while the counts hold still.
  async function mpmcWithPause(opts, seconds) {
    const card = cards.mpmc;
    const workers = opts.producers + opts.consumers;
    await card.start(opts);
    await sleep((seconds * 1000) / 2);
    const s0 = card.snapshot();
    await sleep(200);
    const s1 = card.snapshot();
    const flowingBefore = s1.sent > s0.sent && s1.received > s0.received;
    card.pause(true);
    // Workers finish the block they are in (a wait on a full or empty ring is bounded
    // by 50 ms), then sleep on the flags; generous margins for a loaded machine.
    let parked = 0;
    for (let i = 0; i < 200 && parked !== workers; i++) {
      await sleep(50);
      parked = card.snapshot().paused_workers;
    }
    const a = card.snapshot();
    await sleep(500);
    const b = card.snapshot();
    const heldStill = a.sent === b.sent && a.received === b.received;
    const stayedParked = b.paused_workers === workers;
    card.pause(false);
    await sleep((seconds * 1000) / 2);
    const result = await card.stop();
    return {
      ...result,
      pausedHeld: flowingBefore && parked === workers && stayedParked && heldStill,
      flowingBefore,
      parkedWorkers: parked,
      workers,
      pausedAt: a.received,
    };
  }

  // The page consumes `items` items by awaiting the worker's ring (card 4), counting the
  // ticks of a 10 ms timer meanwhile: the main thread kept running its event loop.
  async function asyncExact(items) {
    const card = cards.async;
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 10);
    const t0 = performance.now();
    let result;
    try {
      await card.start({ items });
      result = await card.autoStop;
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    return { ...result, ticks, ms };
  }

  window.conkit = { wasm, cards, compare, mpmcWithPause, asyncExact, pool };
  return window.conkit;
}

window.conkitReady = main().catch((e) => {
  showError(e);
  throw e;
});
