// The checksum of `src/checksum.rs`, in JavaScript, for the postMessage workers:
// count, wrapping u32 sum and xor of mix32(id) (mix32 = MurmurHash3's finalizer,
// a bijection), so equal checksums at both ends mean nothing lost or duplicated.
// The browser test checks it against the Rust implementation (`checksum_of`).

export function mix32(x) {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export class Checksum {
  constructor() {
    this.count = 0;
    this.sum = 0;
    this.xor = 0;
  }

  add(id) {
    const m = mix32(id);
    this.count += 1;
    this.sum = (this.sum + m) >>> 0;
    this.xor = (this.xor ^ m) >>> 0;
  }

  addAll(ids, n = ids.length) {
    let sum = this.sum;
    let xor = this.xor;
    for (let i = 0; i < n; i++) {
      const m = mix32(ids[i]);
      sum = (sum + m) >>> 0;
      xor ^= m;
    }
    this.count += n;
    this.sum = sum;
    this.xor = xor >>> 0;
  }

  toJSON() {
    return { count: this.count, sum: this.sum, xor: this.xor };
  }

  static equal(a, b) {
    return a.count === b.count && a.sum === b.sum && a.xor === b.xor;
  }
}
