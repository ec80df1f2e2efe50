import glob,os,re,sys,json
d0=sys.argv[1]
def val(f,name):
    for l in open(f):
        if l.startswith(name+' ') or l.startswith(name+'{'):
            return float(l.split()[-1])
    return 0.0
rows={}
for b in sorted(glob.glob(d0+'/*.before.metrics')):
    n=os.path.basename(b)[:-len('.before.metrics')]; a=d0+'/'+n+'.after.metrics'
    if not os.path.exists(a): continue
    synced=val(a,'durablemq_commit_latency_seconds_count')-val(b,'durablemq_commit_latency_seconds_count')
    uns=val(a,'durablemq_commit_unsynced_batches_total')-val(b,'durablemq_commit_unsynced_batches_total')
    js=json.load(open(d0+'/'+n+'.json'))
    msgs=js['results'].get('received', 0) or 1
    spec='q%d@%d'%(js['qos'],js['rateLimit'])
    rows.setdefault((spec,n[:2]),[]).append((synced/12, uns/12, js['latencyMillis']['p99']))
for k in sorted(rows):
    r=rows[k]
    print(k, ' '.join('fsync/s %.0f unsynced/s %.0f p99 %.2f |'%x for x in r))
