// Browser unit tests of the wasm waiting strategy and the worker glue. The headless test
// (tests/browser.mjs) opens this page and reads `window.testResults`.
import init, * as wasm from './pkg/conkit_wasm_demo.js';
import { WorkerPool } from './pool.js';
import { PipeRun } from './pipe.js';
import { Checksum, mix32 } from './checksum.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = { passed: [], failed: [], done: false };
window.testResults = results;

function report(name, error) {
  const li = document.createElement('li');
  if (error) {
    results.failed.push({ name, error: String((error && error.message) || error) });
    li.innerHTML = `<b style="color:var(--bad)">✗ ${name}</b>: ${results.failed.at(-1).error}`;
  } else {
    results.passed.push(name);
    li.innerHTML = `<span style="color:var(--ok)">✓</span> ${name}`;
  }
  document.getElementById('results').appendChild(li);
}

async function test(name, f) {
  try {
    const names = await f();
    if (Array.isArray(names)) names.forEach((n) => report(`${name}: ${n}`));
    else report(name);
  } catch (e) {
    report(name, e);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function runFor(demo, done, ms) {
  await sleep(ms);
  demo.stop();
  await done;
  const s = demo.snapshot();
  const o = { finished: s.finished, ok: s.checksum_ok, count: s.received_count, active: s.active_consumers };
  s.free();
  return o;
}

async function main() {
  assert(self.crossOriginIsolated, 'page is not cross-origin isolated');
  await init();
  const pool = new WorkerPool();

  await test('wasm main thread', () => Array.from(wasm.selftest_main_thread()));
  await test('wasm worker', async () => Array.from(await pool.request({ type: 'selftest' })));

  await test('worker sleeping in Waiters<WasmAtomics> is woken by the main thread', async () => {
    const slept = pool.request({ type: 'sleep', timeoutMs: 20000 });
    const until = performance.now() + 10000;
    while (wasm.selftest_sleepers() === 0) {
      assert(performance.now() < until, 'the worker never went to sleep');
      await sleep(5);
    }
    await sleep(50); // still asleep: nothing else wakes it
    assert(wasm.selftest_sleepers() === 1, 'the worker woke up by itself');
    wasm.selftest_wake();
    const ms = await slept;
    assert(ms >= 50 && ms < 20000, `slept ${ms} ms`);
  });

  await test('main-thread task awaits Semaphore::acquire_async, woken by a worker\'s plain release()', async () => {
    assert(typeof Atomics.waitAsync === 'function',
      'this browser lacks Atomics.waitAsync (wasm-bindgen-futures would fall back to a helper worker)');
    const n = 20;
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 5);
    const awaited = wasm.selftest_await_permits(n);
    const released = pool.request({ type: 'release', n, gapMs: 5 });
    const [suspended] = await Promise.all([awaited, released]);
    clearInterval(timer);
    assert(suspended >= 1 && suspended <= 2 * n, `the task suspended ${suspended} times`);
    assert(wasm.selftest_permits_left() === 0, `${wasm.selftest_permits_left()} permits left over`);
    assert(ticks > 0, 'the main thread did not run its timers meanwhile');
  });

  await test('JavaScript checksum equals the Rust checksum', () => {
    assert(mix32(1) === 0x514e28b7, `mix32(1) = ${mix32(1).toString(16)}`);
    const ids = new Uint32Array(5000);
    for (let i = 0; i < ids.length; i++) ids[i] = (i * 2654435761) >>> 0;
    ids[0] = 0xffffffff;
    const js = new Checksum();
    js.addAll(ids.subarray(0, 2500));
    for (const id of ids.subarray(2500)) js.add(id);
    const rs = Array.from(wasm.checksum_of(ids));
    assert(js.count === rs[0] && js.sum === rs[1] && js.xor === rs[2],
      `js ${JSON.stringify(js)} rust ${rs}`);
  });

  await test('a capacity outside the offered ones is an error, not a crash', () => {
    let threw = false;
    try { wasm.Demo.spsc(17, 1); } catch (e) { threw = /capacity 17/.test(String(e.message || e)); }
    assert(threw, 'Demo.spsc(17) did not throw the capacity error');
  });

  await test('SPSC per item through a 16-slot ring in two workers loses nothing; a task runs once', async () => {
    const demo = wasm.Demo.spsc(16, 1);
    const done = pool.runTasks(demo);
    await sleep(100);
    let again = null;
    try { await pool.request({ type: 'run', id: demo.id, index: 0 }); } catch (e) { again = String(e.message || e); }
    assert(again && /already taken/.test(again), `second run of task 0: ${again}`);
    const r = await runFor(demo, done, 300);
    demo.free();
    assert(r.finished && r.ok && r.count > 0, JSON.stringify(r));
  });

  await test('MPMC with one permit, tiny ring: nothing lost, never two consumers at once', async () => {
    const demo = wasm.Demo.mpmc(16, 2, 3, 1);
    const done = pool.runTasks(demo);
    let maxActive = 0;
    for (let i = 0; i < 30; i++) {
      const s = demo.snapshot();
      maxActive = Math.max(maxActive, s.active_consumers);
      s.free();
      await sleep(10);
    }
    const r = await runFor(demo, done, 0);
    demo.free();
    assert(maxActive <= 1, `active consumers ${maxActive}`);
    assert(r.finished && r.ok && r.count > 0, JSON.stringify(r));
  });

  await test('every offered capacity builds and runs (SPSC and MPMC)', async () => {
    const caps = Array.from(wasm.capacities());
    assert(caps.length >= 4 && caps.includes(65536), `capacities ${caps}`);
    for (const cap of caps) {
      for (const demo of [wasm.Demo.spsc(cap, 64), wasm.Demo.mpmc(cap, 1, 1, 1)]) {
        const r = await runFor(demo, pool.runTasks(demo), 100);
        demo.free();
        assert(r.finished && r.ok, `capacity ${cap}: ${JSON.stringify(r)}`);
      }
    }
  });

  for (const [capacity, batch] of [[16, 4], [16, 64], [4096, 1]]) {
    await test(`postMessage pipe, window ${capacity}, ${batch} per message: nothing lost, flow control never stalls`, async () => {
      const run = new PipeRun({ capacity, batch });
      await sleep(300);
      const mid = run.snapshot();
      assert(mid.fill <= Math.max(capacity, batch), `fill ${mid.fill}`);
      run.stop();
      await run.done;
      const s = run.snapshot();
      assert(s.finished && s.checksum_ok && s.received_count > 0, JSON.stringify(s));
    });
  }
}

main()
  .catch((e) => report('setup', e))
  .finally(() => {
    results.done = true;
    const env = document.getElementById('env');
    env.innerHTML = results.failed.length
      ? `<span class="bad">${results.failed.length} failed</span>, ${results.passed.length} passed`
      : `<span class="ok">all ${results.passed.length} passed</span>`;
  });
