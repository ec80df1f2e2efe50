import json,glob,os,sys
# usage: python3 sum.py DIR  (p50/p99 in ms and lost/duplicated of every run under DIR/r*/ and DIR/r*/M/)
for d0 in sorted(glob.glob(os.path.join(sys.argv[1], 'r*'))):
    for sub,lab in [('','DurableMQ'),('M','Mosquitto')]:
        fs=sorted(glob.glob(os.path.join(d0,sub,'*.json')))
        if not fs: continue
        vals=[]
        for f in fs:
            d=json.load(open(f)); L=d['latencyMillis']
            vals.append('%.2f/%.2f(l%d,d%d)'%(L['p50'],L['p99'],d['results']['lost'],d['results']['duplicates']))
        print(os.path.basename(d0),lab,' '.join(vals))
