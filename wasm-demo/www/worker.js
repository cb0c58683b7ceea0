// A thread-style worker: it instantiates the demo's wasm module on the page's SHARED
// memory, then runs the tasks it is given (`run_task` blocks this worker until the run
// stops; the main thread never blocks). Protocol (postMessage, one request at a time):
//   {type:'init', module, memory}            -> {type:'ready'}
//   {type:'run', id, index}                  -> {type:'done'}
//   {type:'selftest'}                        -> {type:'done', result:[check names]}
//   {type:'sleep', timeoutMs}                -> {type:'done', result: ms slept}
//   {type:'release', n, gapMs}               -> {type:'done'} (n semaphore permits, gapMs apart)
// Any failure answers {type:'error', message}.
import init, * as wasm from './pkg/conkit_wasm_demo.js';

self.onmessage = async ({ data }) => {
  try {
    let result;
    switch (data.type) {
      case 'init':
        await init({ module_or_path: data.module, memory: data.memory });
        wasm.worker_start();
        self.postMessage({ type: 'ready' });
        return;
      case 'run':
        wasm.run_task(data.id, data.index);
        break;
      case 'selftest':
        result = wasm.selftest_worker();
        break;
      case 'sleep':
        result = wasm.selftest_sleep(data.timeoutMs);
        break;
      case 'release':
        wasm.selftest_release_permits(data.n, data.gapMs);
        break;
      default:
        throw new Error(`unknown request ${data.type}`);
    }
    self.postMessage({ type: 'done', result });
  } catch (e) {
    self.postMessage({ type: 'error', message: String((e && e.message) || e) });
  }
};
