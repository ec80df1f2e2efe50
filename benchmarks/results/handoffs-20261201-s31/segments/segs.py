#!/usr/bin/env python3
"""Segments per message from the broker: per connection, segments and bytes broker->client and client->broker.
A publisher connection sends big segments (PUBLISHes) and receives small ones (PUBACKs); a subscriber the reverse."""
import sys, importlib.util, collections
spec = importlib.util.spec_from_file_location("wl", "/work/main/benchmarks/scripts/wire-latency.py")
wl = importlib.util.module_from_spec(spec); spec.loader.exec_module(wl)
path, port = sys.argv[1], int(sys.argv[2])
ack_size = int(sys.argv[3]) if len(sys.argv) > 3 else 4
out = collections.defaultdict(lambda: [0, 0]); inn = collections.defaultdict(lambda: [0, 0])
t0 = t1 = None
for ts, sp, dp, seq, pl in wl.packets(path):
    t0 = ts if t0 is None else t0; t1 = ts
    if sp == port:
        out[dp][0] += 1; out[dp][1] += len(pl)
    elif dp == port:
        inn[sp][0] += 1; inn[sp][1] += len(pl)
pubs = [c for c in out if inn[c][1] > out[c][1]]
subs = [c for c in out if c not in pubs]
dur = t1 - t0
def tot(d, cs): return sum(d[c][0] for c in cs), sum(d[c][1] for c in cs)
ps, pb = tot(out, pubs); ips, ipb = tot(inn, pubs)
ss, sb = tot(out, subs); iss, isb = tot(inn, subs)
acks = pb / ack_size
print(f"capture {dur:.2f} s; publishers {len(pubs)}, subscribers {len(subs)}")
print(f"to publishers:   {ps/dur:9.0f} segs/s, {pb/dur/1e6:6.2f} MB/s, ~{acks/dur:8.0f} acks/s ({ack_size} B each), {acks/max(ps,1):5.1f} acks/seg")
print(f"from publishers: {ips/dur:9.0f} segs/s, {ipb/dur/1e6:6.2f} MB/s")
print(f"to subscribers:  {ss/dur:9.0f} segs/s, {sb/dur/1e6:6.2f} MB/s, {sb/max(ss,1):7.0f} B/seg")
print(f"from subscribers:{iss/dur:9.0f} segs/s, {isb/dur/1e6:6.2f} MB/s, {isb/max(iss,1):7.0f} B/seg")
