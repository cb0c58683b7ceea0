// Headless Chromium test of the conkit wasm demo, run by `cargo xtask test` and
// `cargo xtask demo --smoke` against the xtask's server (COOP/COEP headers).
//
//   node browser.mjs --url http://127.0.0.1:PORT/ --out DIR [--seconds S] [--chromium PATH]
//
// 1. opens tests.html: the wasm waiting strategy and worker glue unit tests;
// 2. opens the demo page and runs every demo: SPSC with a tiny ring, the speed
//    comparison (shared ring vs postMessage), MPMC with a pause in the middle, and the
//    page's main thread awaiting a worker's ring (async front end, woken through
//    `Atomics.waitAsync`): every one of ASYNC_ITEMS items counted on the main thread;
// 3. asserts every checksum matched and every run reported a rate (never a rate
//    threshold: the machine is shared), prints the figures, writes DIR/results.json
//    and DIR/screenshot.png. Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const url = arg('url');
const out = arg('out');
const seconds = Number(arg('seconds', '2'));
const executablePath = arg('chromium', process.env.CHROMIUM || '/usr/bin/chromium');
if (!url || !out) {
  console.error('usage: node browser.mjs --url URL --out DIR [--seconds S] [--chromium PATH]');
  process.exit(2);
}

// Items the async demo moves to the main thread (card 4); each one is counted.
// Enough for the run to last well over the 10 ms timer the test counts ticks of.
const ASYNC_ITEMS = 4_000_000;

const failures = [];
const check = (cond, what) => {
  console.log(`${cond ? '  ok  ' : '  FAIL'} ${what}`);
  if (!cond) failures.push(what);
};
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));

const profile = mkdtempSync(join(tmpdir(), 'conkit-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1600, height: 1000 },
  deviceScaleFactor: 1,
});
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(180_000);
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`  [browser] ${m.text()}`);
  });

  console.log('browser unit tests (tests.html):');
  await page.goto(new URL('tests.html', url).href);
  await page.waitForFunction(() => window.testResults && window.testResults.done);
  const unit = await page.evaluate(() => window.testResults);
  for (const name of unit.passed) check(true, name);
  for (const f of unit.failed) check(false, `${f.name}: ${f.error}`);
  check(unit.passed.length >= 25, `${unit.passed.length} unit checks passed`);

  console.log('demo page:');
  await page.goto(url);
  const isolated = await page.evaluate(async () => {
    await window.conkitReady;
    return self.crossOriginIsolated;
  });
  check(isolated, 'page is cross-origin isolated (COOP/COEP)');

  const runs = {};
  runs.spscTiny = await page.evaluate(
    (s) => window.conkit.cards.spsc.runFor({ capacity: 16, batch: 1 }, s), Math.max(1, seconds / 2));
  const compare = await page.evaluate((s) => window.conkit.compare(s), seconds);
  Object.assign(runs, compare);
  runs.mpmc = await page.evaluate(
    (s) => window.conkit.mpmcWithPause({ capacity: 256, producers: 2, consumers: 3, permits: 2 }, s), seconds);
  runs.asyncMain = await page.evaluate((n) => window.conkit.asyncExact(n), ASYNC_ITEMS);

  for (const [name, r] of Object.entries(runs)) {
    check(r.finished && r.checksum_ok && r.received_count > 0 && r.sent_count === r.received_count,
      `${name}: checksum matches (${r.received_count} items, sum ${r.received_sum}, xor ${r.received_xor})`);
    check(Number.isFinite(r.rate) && r.rate > 0, `${name}: rate reported (${fmt(r.rate)} items/s)`);
  }
  check(runs.mpmc.pausedHeld,
    `mpmc: pausing via event flags froze every worker (items flowing before: ${runs.mpmc.flowingBefore}; ` +
    `${runs.mpmc.parkedWorkers} of ${runs.mpmc.workers} workers asleep on the flags; counts held at ${runs.mpmc.pausedAt} items)`);
  const a = runs.asyncMain;
  check(a.consumed === ASYNC_ITEMS && a.received_count === ASYNC_ITEMS && a.sent_count === ASYNC_ITEMS
    && a.received === ASYNC_ITEMS,
    `async: the main thread received every item through pop().await (${a.consumed} of ${ASYNC_ITEMS}, ` +
    `checksum count ${a.received_count})`);
  check(a.suspended > 0 && a.awaited_items > 0 && a.awaited_items <= ASYNC_ITEMS,
    `async: the main thread's task suspended ${a.suspended} times and was woken by the worker ` +
    `(${a.awaited_items} items taken by the await itself)`);
  check(a.ticks > 0,
    `async: the main thread kept its event loop running meanwhile (${a.ticks} ticks of a 10 ms timer in ${a.ms.toFixed(0)} ms)`);
  const shown = await page.$$eval('.stat[data-k=rate] .v', (els) => els.map((e) => e.textContent));
  check(shown.length === 4 && shown.every((t) => t && t !== '–'), `rates shown on the page: ${shown.join(', ')}`);
  const summary = await page.$eval('#compare-summary', (e) => e.textContent);
  check(/more items per second/.test(summary), 'comparison summary shown');

  const best = Math.max(runs.msg1000.rate, runs.msg10000.rate);
  const figures = {
    shared_ring_items_per_s: runs.shared.rate,
    shared_ring_per_item_items_per_s: runs.shared1.rate,
    postmessage_1_per_msg_items_per_s: runs.msg1.rate,
    postmessage_1000_per_msg_items_per_s: runs.msg1000.rate,
    postmessage_10000_per_msg_items_per_s: runs.msg10000.rate,
    ratio_vs_1_per_msg: runs.shared.rate / runs.msg1.rate,
    ratio_vs_best_batch: runs.shared.rate / best,
    mpmc_items_per_s: runs.mpmc.rate,
    async_main_thread_items_per_s: runs.asyncMain.rate,
    async_main_thread_wakeups: runs.asyncMain.suspended,
    seconds_per_run: seconds,
  };
  console.log('\nfigures (items/s, one run each; the machine is shared and noisy):');
  console.log(`  shared SPSC ring, 1024/slice    ${fmt(figures.shared_ring_items_per_s)}`);
  console.log(`  shared SPSC ring, 1 per op      ${fmt(figures.shared_ring_per_item_items_per_s)}`);
  console.log(`  postMessage, 1 per message      ${fmt(figures.postmessage_1_per_msg_items_per_s)}`);
  console.log(`  postMessage, 1000 per message   ${fmt(figures.postmessage_1000_per_msg_items_per_s)}`);
  console.log(`  postMessage, 10000 per message  ${fmt(figures.postmessage_10000_per_msg_items_per_s)}`);
  console.log(`  MPMC (2 prod, 3 cons, 2 permits) ${fmt(figures.mpmc_items_per_s)}`);
  console.log(`  worker -> main thread, awaited  ${fmt(figures.async_main_thread_items_per_s)} (${figures.async_main_thread_wakeups} wake-ups)`);
  console.log(`  shared / 1-per-message: ${figures.ratio_vs_1_per_msg.toFixed(1)}x; shared / best batch: ${figures.ratio_vs_best_batch.toFixed(2)}x`);

  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'results.json'), JSON.stringify({ figures, runs, unit }, null, 2));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(out, 'screenshot.png'), fullPage: true });
  console.log(`\nscreenshot: ${join(out, 'screenshot.png')}`);
} catch (e) {
  failures.push(String((e && e.stack) || e));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (failures.length) {
  console.error(`\n${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('\nbrowser test: all checks passed');
