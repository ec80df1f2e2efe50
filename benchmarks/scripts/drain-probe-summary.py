#!/usr/bin/env python3
"""Summarises drain-probe-run.sh outputs: per run, drains 3.. (medians of rate, broker CPU per
message with and without the JIT compiler threads, event loop, committer), then the last 3 drains.

    drain-probe-summary.py RUN.out [RUN.out ...]
"""
import re, sys, statistics
# summarise DrainProbe output files: drains from index SKIP on
skip = 2


def drains(txt):
    """Per drain: its msg/s, and (broker us/msg, JIT threads', event loops', committer's) from its CPU line."""
    rates = [float(x) for x in re.findall(r'\((\d+) msg/s\)', txt)]
    rows = []
    for (tot, rest) in re.findall(r'broker cpu ([\d.]+) us/msg:(.*)', txt):
        d = dict((k.strip(), float(v)) for k, v in re.findall(r'(\S[^/]*?)/# ([\d.]+)', rest))
        jit = sum(v for k, v in d.items() if 'CompilerThre' in k and not k.startswith('sys:'))
        io = sum(v for k, v in d.items() if k.startswith('durablemq-io'))
        com = sum(v for k, v in d.items() if k.startswith('durablemq-commi'))
        rows.append((float(tot), jit, io, com))
    return rates, rows


for f in sys.argv[1:]:
    txt = open(f).read()
    rates, rows = drains(txt)
    up = re.findall(r'load average: ([\d.]+)', txt)
    r = rates[skip:]; rw = rows[skip:]
    med = lambda xs: statistics.median(xs)
    print(f"{f}: drains {len(r)} (of {len(rates)}), load {up[0]}->{up[-1]}; msg/s median {med(r):,.0f} [{min(r):,.0f}-{max(r):,.0f}]; broker us/msg median {med([x[0] for x in rw]):.1f}, without JIT {med([x[0]-x[1] for x in rw]):.1f}, io {med([x[2] for x in rw]):.1f}, committer {med([x[3] for x in rw]):.1f}, JIT {med([x[1] for x in rw]):.1f}")
print('--- last 3 drains of each run (JIT settled)')
for f in sys.argv[1:]:
    txt = open(f).read()
    rates, rows = drains(txt)
    rates, rows = rates[-3:], rows[-3:]
    print(f"{f}: msg/s {', '.join(f'{r:,.0f}' for r in rates)}; broker us/msg {', '.join(str(x[0]) for x in rows)} (io {', '.join(str(x[2]) for x in rows)}; committer {', '.join(str(x[3]) for x in rows)}; JIT {', '.join(str(x[1]) for x in rows)})")
