import sys
prev=None; out=[]
for line in open(sys.argv[1]):
    f=line.split(); t=f[0]; v=list(map(int,f[2:]))
    if prev:
        d=[a-b for a,b in zip(v,prev[1])]; tot=sum(d)
        out.append((t, 100.0*d[7]/tot if tot else 0))
    prev=(t,v)
s=sorted(x[1] for x in out)
print('steal per 5 s sample, percent of both vCPUs: min %.1f, median %.1f, max %.1f (%d samples, %s-%s)' % (s[0], s[len(s)//2], s[-1], len(s), out[0][0], out[-1][0]))
for t,p in out:
    if p>5: print('  %s %.1f' % (t,p))
