#!/usr/bin/env python3
"""Summary of the s30 event-loop comparison (io_threads / -Dio.netty.eventLoopThreads): run from this folder.

fixed-rate-N/rR/LK-qQ-atRATE[-r2].json: the load tool's report of a fixed-rate run against a broker with K event
loops (-r2: the second run of the same broker start); fixed-rate-N/rR/M/: Mosquitto 2.0.11 in the same round;
LK-...txt: that run's broker stage histograms (stages.sh). throughput/rR-LK-qQ-kN.json: full-speed pairs runs."""
import glob, json, os, re, statistics

here = os.path.dirname(os.path.abspath(__file__))


def stage_p99(txt, stage):
    m = re.search(r'^%s\s+\d+\s+\d+\s+\d+\s+(\d+)$' % re.escape(stage), open(txt).read(), re.M)
    return int(m.group(1)) if m else None


for series in sorted(glob.glob(os.path.join(here, 'fixed-rate-*'))):
    print('==', os.path.basename(series), '(p50/p99 ms of the load tool; broker write+fsync p99 / deliver_total p99 us)')
    cells = {}
    for f in sorted(glob.glob(os.path.join(series, 'r*', '*.json')) + glob.glob(os.path.join(series, 'r*', 'M', '*.json'))):
        name = os.path.basename(f)[:-5]
        parts = name.split('-')
        arm, cell = parts[0], parts[1] + '@' + parts[2][2:]
        d = json.load(open(f))
        lat = d['latencyMillis']
        txt = f[:-5] + '.txt'
        extra = ''
        if os.path.exists(txt):
            extra = ' [%s/%s]' % (stage_p99(txt, 'write+fsync'), stage_p99(txt, 'deliver_total'))
        rnd = f.split(os.sep)[-3 if arm == 'mosq' else -2]
        cells.setdefault((cell, arm), []).append((lat['p50'], lat['p99'], d['results']['lost'], d['results']['duplicates'],
                                                  '%s%s %.2f/%.2f%s' % (rnd, '-2nd' if name.endswith('-r2') else '', lat['p50'], lat['p99'], extra)))
    for (cell, arm), runs in sorted(cells.items()):
        print('  %-8s %-5s median p50 %.2f p99 %.2f (%d runs; lost %d, duplicated %d)' % (
            cell, arm, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), len(runs),
            sum(r[2] for r in runs), sum(r[3] for r in runs)))
        print('      ' + ', '.join(r[4] for r in runs))

print('== throughput (acknowledged msg/s, 16 pairs, full speed, fsync)')
cells = {}
for f in sorted(glob.glob(os.path.join(here, 'throughput', '*.json'))):
    r, arm, q, k = os.path.basename(f)[:-5].split('-')
    d = json.load(open(f))
    cells.setdefault((q, arm), []).append((d['results']['acknowledgedPerSecond'], d['latencyMillis']['p99'],
                                           d['results']['lost'], d['results']['duplicates']))
for (q, arm), runs in sorted(cells.items()):
    print('  %s %-3s median %7.0f msg/s (%s), p99 median %.1f ms, lost %d, duplicated %d' % (
        q, arm, statistics.median(x[0] for x in runs), ' '.join('%.0f' % x[0] for x in runs),
        statistics.median(x[1] for x in runs), sum(x[2] for x in runs), sum(x[3] for x in runs)))
