#!/usr/bin/env python3
"""Summary of the s31 hand-off experiments: run from this folder (python3 summary.py).

SERIES/rR/ARM-q2-at2000.json: the load tool's report of one QoS 2 run at 2,000 msg/s (16 pairs) against arm ARM;
SERIES/rR/M/mosq-q2-at2000.json: Mosquitto 2.0.11 in the same round; ARM-q2-at2000.txt: that run's broker stage
histograms (stages.sh; the scrape spans the load tool's 20 s warm-up too). sequential/rR-ARM.txt: one QoS 2
publisher with a window of 1."""
import glob, json, os, re, statistics

here = os.path.dirname(os.path.abspath(__file__))


def stage(txt, name):
    """(count, mean, p50, p99) of one stage, or None."""
    m = re.search(r'^%s\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$' % re.escape(name), open(txt).read(), re.M)
    return tuple(int(x) for x in m.groups()) if m else None


for series in ['brief-ride-4-loops', 'brief-ride-2-loops', 'inline']:
    folder = os.path.join(here, series)
    if not os.path.isdir(folder):
        continue
    print('==', series, '(load tool p50/p99 ms; broker batches written, batch_wait mean/p99 us, deliver_total p50 us)')
    cells = {}
    for f in sorted(glob.glob(os.path.join(folder, 'r*', '*-q2-at2000.json')) +
                    glob.glob(os.path.join(folder, 'r*', 'M', '*.json'))):
        arm = os.path.basename(f).split('-')[0]
        rnd = re.search(r'/(r\d)/', f).group(1)
        d = json.load(open(f))
        lat = d['latencyMillis']
        txt = f[:-5] + '.txt'
        extra = ''
        if os.path.exists(txt):
            w, b, t = stage(txt, 'write+fsync'), stage(txt, 'batch_wait'), stage(txt, 'deliver_total')
            extra = ' [%d batches, wait %d/%d, deliver_total p50 %d]' % (w[0], b[1], b[3], t[2])
        cells.setdefault(arm, []).append((lat['p50'], lat['p99'], d['results']['lost'], d['results']['duplicates'],
                                          '%s %.2f/%.2f%s' % (rnd, lat['p50'], lat['p99'], extra)))
    for arm, runs in sorted(cells.items()):
        print('  %-5s median p50 %.2f p99 %.2f (%d runs; lost %d, duplicated %d)' % (
            arm, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), len(runs),
            sum(r[2] for r in runs), sum(r[3] for r in runs)))
        for r in runs:
            print('      ' + r[4])

seq = os.path.join(here, 'sequential')
if os.path.isdir(seq):
    print('== sequential (one QoS 2 publisher, window 1: acknowledged msg/s, p50/p99 ms)')
    for f in sorted(glob.glob(os.path.join(seq, 'r*-*.txt'))):
        t = open(f).read()
        rate = re.search(r'acknowledged ([0-9,]+) msg/s', t).group(1)
        m = re.search(r'latency ms\s+p50 ([0-9.]+)\s+p90 [0-9.]+\s+p99 ([0-9.]+)', t)
        print('  %-6s %6s msg/s  %s / %s' % (os.path.basename(f)[:-4], rate, m.group(1), m.group(2)))
