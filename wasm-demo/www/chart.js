// A tiny live chart on a <canvas>: the queue's fill level (area, % of capacity, left
// axis) and the throughput (line, items/s, right axis) over the last `span` seconds.

const FILL = '#3b82f6';
const RATE = '#f59e0b';

export function formatRate(x) {
  if (!Number.isFinite(x) || x <= 0) return '0';
  // Three significant digits: 183 M, 6.76 M, 89.5 k.
  const [div, unit] = x >= 1e9 ? [1e9, ' G'] : x >= 1e6 ? [1e6, ' M'] : x >= 1e3 ? [1e3, ' k'] : [1, ''];
  if (div === 1) return x.toFixed(0);
  const v = x / div;
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)}${unit}`;
}

export class LiveChart {
  constructor(canvas, span = 15) {
    this.canvas = canvas;
    this.span = span;
    this.points = []; // {t, fill (0..1), rate}
    this.draw();
  }

  reset() {
    this.points = [];
    this.draw();
  }

  push(t, fill, rate) {
    this.points.push({ t, fill, rate });
    while (this.points.length > 2 && this.points[0].t < t - this.span) this.points.shift();
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 400;
    const h = c.clientHeight || 160;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 38, r: 58, t: 10, b: 20 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;

    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#e5e7eb';
    g.fillStyle = '#6b7280';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + (ph * i) / 4;
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(pad.l + pw, y);
      g.stroke();
      g.textAlign = 'right';
      g.fillText(`${100 - i * 25}%`, pad.l - 6, y + 4);
    }
    const pts = this.points;
    // The x axis grows with the run up to `span` seconds.
    const span = pts.length > 1 ? Math.min(this.span, Math.max(2, pts[pts.length - 1].t - pts[0].t)) : this.span;
    g.textAlign = 'left';
    g.fillText(`last ${span.toFixed(0)} s`, pad.l, h - 5);

    if (pts.length < 2) {
      g.textAlign = 'center';
      g.fillText('press Start', pad.l + pw / 2, pad.t + ph / 2);
      return;
    }
    const t1 = pts[pts.length - 1].t;
    const t0 = t1 - span;
    const x = (t) => pad.l + ((t - t0) / span) * pw;
    const maxRate = Math.max(1, ...pts.map((p) => p.rate)) * 1.1;

    // Fill level: area.
    g.beginPath();
    g.moveTo(x(pts[0].t), pad.t + ph);
    for (const p of pts) g.lineTo(x(p.t), pad.t + ph * (1 - Math.min(1, p.fill)));
    g.lineTo(x(t1), pad.t + ph);
    g.closePath();
    g.fillStyle = 'rgba(59,130,246,0.25)';
    g.fill();
    g.strokeStyle = FILL;
    g.lineWidth = 1.5;
    g.beginPath();
    pts.forEach((p, i) => {
      const y = pad.t + ph * (1 - Math.min(1, p.fill));
      if (i === 0) g.moveTo(x(p.t), y);
      else g.lineTo(x(p.t), y);
    });
    g.stroke();

    // Rate: line on the right axis.
    g.strokeStyle = RATE;
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach((p, i) => {
      const y = pad.t + ph * (1 - p.rate / maxRate);
      if (i === 0) g.moveTo(x(p.t), y);
      else g.lineTo(x(p.t), y);
    });
    g.stroke();
    g.fillStyle = RATE;
    g.textAlign = 'left';
    g.fillText(`${formatRate(maxRate)}/s`, pad.l + pw + 6, pad.t + 8);
    g.fillText('0/s', pad.l + pw + 6, pad.t + ph + 4);

    // Legend.
    g.textAlign = 'right';
    g.fillStyle = FILL;
    g.fillText('■ queue fill', w - pad.r - 90, h - 5);
    g.fillStyle = RATE;
    g.fillText('— items/s', w - pad.r, h - 5);
  }
}
