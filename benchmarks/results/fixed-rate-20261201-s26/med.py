import json,glob,os,sys,statistics as st
d0=sys.argv[1]; rows={}
for f in glob.glob(d0+'/*.json')+glob.glob(d0+'/M*/*.json'):
    d=json.load(open(f)); rel=os.path.relpath(f,d0)
    v='M' if rel.startswith('M') else os.path.basename(f)[:2]
    rows.setdefault((d['qos'],d['rateLimit'],v),[]).append((d['latencyMillis']['p50'],d['latencyMillis']['p99'],d['results']['lost'],d['results']['duplicates']))
for k in sorted(rows):
    r=rows[k]; p99=sorted(x[1] for x in r)
    print('QoS %d @%5d %-3s n=%d p99 %-28s median p99 %.2f p50 %.2f lost %d dup %d'%(k[0],k[1],k[2],len(r),' '.join('%.2f'%x for x in p99),st.median(p99),st.median(x[0] for x in r),sum(x[2] for x in r),sum(x[3] for x in r)))
