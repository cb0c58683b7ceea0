// Process-style run: two workers with their own memory joined by a MessageChannel, the
// browser's `multiprocessing.Pipe`. Same shape as the wasm `Demo` runs: stop(),
// snapshot(), and a promise that resolves when both ends have reported.
import { Checksum } from './checksum.js';

export class PipeRun {
  constructor({ batch, capacity }) {
    this.batch = batch;
    this.capacity = capacity;
    this.sent = 0;
    this.received = 0;
    this.results = {};
    this.workers = ['producer', 'consumer'].map(
      () => new Worker(new URL('./pipe-worker.js', import.meta.url), { type: 'module' }));
    const channel = new MessageChannel();
    this.done = new Promise((resolve, reject) => {
      ['producer', 'consumer'].forEach((role, i) => {
        const w = this.workers[i];
        w.onerror = (e) => reject(new Error(e.message || `${role} failed`));
        w.onmessage = ({ data }) => {
          if (data.type === 'progress') {
            if (role === 'producer') this.sent = data.count;
            else this.received = data.count;
          } else if (data.type === 'finished') {
            this.results[role] = data.checksum;
            if (this.results.producer && this.results.consumer) {
              this.workers.forEach((x) => x.terminate());
              resolve();
            }
          }
        };
      });
    });
    const port = [channel.port1, channel.port2];
    this.workers.forEach((w, i) => w.postMessage(
      { type: i === 0 ? 'producer' : 'consumer', port: port[i], batch, capacity }, [port[i]]));
  }

  stop() {
    this.workers[0].postMessage({ type: 'stop' });
  }

  pause() {
    return false;
  }

  snapshot() {
    const p = this.results.producer;
    const c = this.results.consumer;
    const finished = Boolean(p && c);
    return {
      sent: this.sent,
      received: this.received,
      fill: Math.min(Math.max(this.sent - this.received, 0), Math.max(this.capacity, this.batch)),
      capacity: Math.max(this.capacity, this.batch),
      active_consumers: finished ? 0 : 1,
      finished,
      sent_count: p ? p.count : 0,
      sent_sum: p ? p.sum : 0,
      sent_xor: p ? p.xor : 0,
      received_count: c ? c.count : 0,
      received_sum: c ? c.sum : 0,
      received_xor: c ? c.xor : 0,
      checksum_ok: finished && Checksum.equal(p, c),
    };
  }
}
