#!/usr/bin/env python3
"""Summarise fixed-rate-stages.sh (and fixed-rate-mosquitto.sh) runs in one folder, one table row per run and spec:
e2e from the load tool's JSON, stage p50/p99 from the .txt, the broker's GC pauses in the measured 10 s.
  benchmarks/scripts/fixed-rate-summary.py OUT_DIR
"""
import json, re, sys, glob, os, datetime
out = sys.argv[1] if len(sys.argv) > 1 else '/tmp/s23tail-ab'
stages = ['batch_wait', 'write+fsync', 'completion', 'send', 'deliver_wait', 'deliver_hop', 'deliver', 'deliver_total']
def parse_stages(txt):
    r = {}
    for line in open(txt):
        f = line.split()
        if len(f) == 5 and f[0] in stages + ['decode', 'route', 'loop_hop']:
            r[f[0]] = (f[3], f[4], f[1])
    return r
def gc_pauses(gclog, start, end):
    ps = []
    if not os.path.exists(gclog):
        return ps
    for line in open(gclog):
        m = re.match(r'\[(\S+?)\]\[\S+\] GC\(\d+\) Pause .* ([0-9.]+)ms', line)
        if m:
            t = datetime.datetime.strptime(m.group(1)[:23], '%Y-%m-%dT%H:%M:%S.%f').replace(tzinfo=datetime.timezone.utc)
            if start <= t <= end:
                ps.append(float(m.group(2)))
    return ps
rows = []
for js in sorted(glob.glob(out + '/*-q*-at*.json')):
    name = os.path.basename(js)[:-5]
    label = name.rsplit('-q', 1)[0]
    d = json.load(open(js))
    lat = d['latencyMillis']; res = d['results']; lag = d['sendPacing']['sendLagMillis']
    start = datetime.datetime.fromisoformat(d['startedAt'].replace('Z', '+00:00')[:26] + '+00:00')
    end = start + datetime.timedelta(seconds=d['warmupSeconds'] + d['durationSeconds'] + 1)
    mstart = start + datetime.timedelta(seconds=d['warmupSeconds'])
    gcs = gc_pauses(out + '/' + label + '.gc.log', mstart, end)
    st = parse_stages(out + '/' + name + '.txt') if os.path.exists(out + '/' + name + '.txt') else {}
    s = ' | '.join('%s/%s' % (st[k][0], st[k][1]) if k in st else '-' for k in stages)
    print('| %s | q%d @%d | %s | %.2f / %.2f / %.2f | %.2f | %d lost %d dup | %s | %d, max %.1f, sum %.1f ms |' % (
        label, d['qos'], d['rateLimit'], d['startedAt'][11:19], lat['p50'], lat['p99'], lat['p999'], lag['p99'],
        res['lost'], res['duplicates'], s, len(gcs), max(gcs) if gcs else 0, sum(gcs)))
print('columns: run | spec | start UTC | e2e p50/p99/p99.9 ms | send lag p99 ms | lost/dup | ' + ' | '.join(s + ' p50/p99 us' for s in stages) + ' | broker GC pauses in the measured 10 s')
