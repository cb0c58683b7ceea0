#!/usr/bin/env python3
"""Store-to-load forwarding check for the async rows (issue #14).

A load that overlaps a store still in the store buffer but is not contained in the
youngest such store (a wider load, or one straddling two stores) cannot take its data
from the buffer, on Intel and AMD alike: it waits until the stores reach the cache (a
stall of ~10-20 cycles). Issue #14 found two of these in the RingQueue futures (a
16-byte copy of a 4-byte hole + the task slot straddling the store that zeroed the slot;
an out-of-line result copied back at offsets 1 and 8). Instruction counts do not show
them and this guest has no hardware counters, so this script replays a memory trace
through a model of the store buffer instead:

* the last WINDOW stores (default 64) within MAXDIST instructions (default 100) are
  pending; a locked instruction, `xchg` with memory or `mfence` of the traced
  executable drains them (x86: later loads read committed data);
* a load (or the load of a read-modify-write) overlapping a pending store but not
  contained in the youngest overlapping one is reported, per load instruction.

Usage (valgrind's lackey; a few thousand items are enough, a stall of the hot path
shows up once per item):

    B=target/release/deps/core-<hash>          # cargo bench -p conkit-tests --bench core --no-run
    objdump -d -M intel --no-show-raw-insn $B > /tmp/b.asm
    valgrind --tool=lackey --trace-mem=yes --log-file=/tmp/b.trace \\
        $B --bench --reps 1 --items 2000 --out /tmp/b.md async-semaphore
    python3 tests/tools/stlf_check.py /tmp/b.trace /tmp/b.asm
    addr2line -f -i -C -e $B 0x<exe offset>    # who it is (peers show up too)

Loads counted about once per item (or more) are the hot path's; addresses are printed
as loaded and, for the executable, as offsets in the file (valgrind maps a PIE at
0x108000: `--base` if that differs). Empty asm file: no draining (a stricter model).
"""
import argparse
import collections
import re


def drains(asm_path, base):
    """Addresses of the executable's instructions that drain the store buffer."""
    out = set()
    with open(asm_path) as f:
        for line in f:
            m = re.match(r'^\s*([0-9a-f]+):\s+(.*)$', line)
            if not m:
                continue
            t = m.group(2)
            if (t.startswith('lock ') or t.startswith('mfence')
                    or (t.startswith('xchg') and 'PTR' in t)):
                out.add(int(m.group(1), 16) + base)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('trace', help='valgrind --tool=lackey --trace-mem=yes log')
    ap.add_argument('asm', help='objdump -d -M intel of the traced executable')
    ap.add_argument('--window', type=int, default=64, help='store buffer entries')
    ap.add_argument('--maxdist', type=int, default=100, help='instructions a store stays pending')
    ap.add_argument('--base', type=lambda s: int(s, 16), default=0x108000)
    ap.add_argument('--top', type=int, default=20)
    a = ap.parse_args()
    drain = drains(a.asm, a.base)
    stores = collections.deque(maxlen=a.window)  # (addr, size, insn, insn index)
    cur, idx = 0, 0
    bad = collections.Counter()
    example = {}
    with open(a.trace) as f:
        for line in f:
            if line.startswith('I'):
                cur = int(line[3:].split(',')[0], 16)
                idx += 1
                if cur in drain:
                    stores.clear()
                continue
            if len(line) < 4 or line[0] != ' ' or line[1] not in 'LSM':
                continue
            kind = line[1]
            addr, size = line[3:].split(',')
            addr, size = int(addr, 16), int(size)
            if kind in 'LM' and cur not in drain:
                for (sa, ss, si, sidx) in reversed(stores):
                    if idx - sidx > a.maxdist:
                        break
                    if sa < addr + size and addr < sa + ss:
                        if not (sa <= addr and addr + size <= sa + ss):
                            bad[cur] += 1
                            example.setdefault(cur, (si, sa - addr, ss, size, idx - sidx))
                        break
            if kind in 'SM':
                stores.append((addr, size, cur, idx))

    def loc(x):
        exe = a.base <= x < 0x4000000  # above: ld.so and the shared libraries
        return f'{x:#x}' + (f' (exe {x - a.base:#x})' if exe else '')

    print(f'{idx} instructions traced; loads that cannot be forwarded, most frequent first:')
    for ins, n in bad.most_common(a.top):
        si, rel, ss, size, d = example[ins]
        print(f'  load@{loc(ins)} x{n}: {size} B, youngest overlapping store@{loc(si)} '
              f'{ss} B at load{rel:+d}, {d} instructions before')


if __name__ == '__main__':
    main()
