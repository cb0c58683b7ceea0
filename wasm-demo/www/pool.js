// A pool of thread-style workers sharing the page's wasm memory. Workers are created on
// demand, initialised once (module + shared memory), and reused by later runs.
import * as wasm from './pkg/conkit_wasm_demo.js';

class SharedWorker {
  constructor() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.pending = null;
    this.worker.onmessage = ({ data }) => {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (data.type === 'error') p.reject(new Error(data.message));
      else p.resolve(data.result);
    };
    this.worker.onerror = (e) => {
      const p = this.pending;
      this.pending = null;
      if (p) p.reject(new Error(e.message || 'worker error'));
    };
    this.ready = this.request({ type: 'init', module: wasm.wasm_module(), memory: wasm.wasm_memory() });
  }

  request(msg) {
    if (this.pending) throw new Error('worker is busy');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(msg);
    });
  }
}

export class WorkerPool {
  constructor() {
    this.idle = [];
    this.busy = 0;
  }

  async acquire() {
    const w = this.idle.pop() || new SharedWorker();
    this.busy++;
    await w.ready;
    return w;
  }

  release(w) {
    this.busy--;
    this.idle.push(w);
  }

  // Sends one request to a worker of the pool; resolves with its result.
  async request(msg) {
    const w = await this.acquire();
    try {
      return await w.request(msg);
    } finally {
      this.release(w);
    }
  }

  // Runs every task of a wasm `Demo` in its own worker. Resolves when all have ended.
  async runTasks(demo) {
    const n = demo.task_count();
    const workers = [];
    for (let i = 0; i < n; i++) workers.push(await this.acquire());
    const done = workers.map((w, i) =>
      w.request({ type: 'run', id: demo.id, index: i }).finally(() => this.release(w)));
    return Promise.all(done);
  }
}
