// A process-style worker: plain JavaScript with its OWN memory, like a process at the
// end of a `multiprocessing.Pipe`. Producer and consumer talk through a MessageChannel
// (the pipe); every item crosses it by postMessage: one number per message, or a
// transferred Uint32Array batch. Flow control mirrors a pipe's bounded buffer: at most
// `capacity` items are in flight; the consumer hands credit back as it consumes.
//
// Main -> worker:  {type:'producer'|'consumer', port, batch, capacity}  then {type:'stop'}
// Worker -> main:  {type:'progress', count}   {type:'finished', checksum}
import { Checksum } from './checksum.js';

const REPORT_MS = 50;

function producer({ port, batch, capacity }) {
  const window = Math.max(capacity, batch);
  let credit = window;
  let next = 0;
  let stopping = false;
  let lastReport = 0;
  const sum = new Checksum();

  const report = (force) => {
    const now = performance.now();
    if (force || now - lastReport >= REPORT_MS) {
      lastReport = now;
      self.postMessage({ type: 'progress', count: sum.count });
    }
  };

  const pump = () => {
    while (!stopping && credit >= batch) {
      if (batch === 1) {
        port.postMessage(next);
        sum.add(next);
      } else {
        const a = new Uint32Array(batch);
        for (let i = 0; i < batch; i++) a[i] = (next + i) >>> 0;
        sum.addAll(a);
        port.postMessage(a, [a.buffer]);
      }
      next = (next + batch) >>> 0;
      credit -= batch;
      if ((sum.count & 1023) < batch) report(false);
    }
    report(false);
  };

  port.onmessage = ({ data }) => {
    credit += data; // credit handed back by the consumer
    pump();
  };
  self.onmessage = ({ data }) => {
    if (data.type !== 'stop') return;
    stopping = true;
    port.postMessage({ end: true });
    report(true);
    self.postMessage({ type: 'finished', checksum: sum.toJSON() });
  };
  pump();
}

function consumer({ port, batch, capacity }) {
  const window = Math.max(capacity, batch);
  // Hand credit back once half the window (at least one message) was consumed, so the
  // producer never waits for credit that is never sent.
  const ackEvery = Math.max(batch, Math.floor(window / 2));
  let unacked = 0;
  let messages = 0;
  let lastReport = 0;
  const sum = new Checksum();

  port.onmessage = ({ data }) => {
    let n;
    if (typeof data === 'number') {
      sum.add(data);
      n = 1;
    } else if (data instanceof Uint32Array) {
      sum.addAll(data);
      n = data.length;
    } else if (data && data.end) {
      self.postMessage({ type: 'progress', count: sum.count });
      self.postMessage({ type: 'finished', checksum: sum.toJSON() });
      port.close();
      return;
    } else {
      return;
    }
    unacked += n;
    if (unacked >= ackEvery) {
      port.postMessage(unacked);
      unacked = 0;
    }
    if ((++messages & 255) === 0 || n > 1) {
      const now = performance.now();
      if (now - lastReport >= REPORT_MS) {
        lastReport = now;
        self.postMessage({ type: 'progress', count: sum.count });
      }
    }
  };
}

self.onmessage = ({ data }) => {
  if (data.type === 'producer') producer(data);
  else if (data.type === 'consumer') consumer(data);
};
