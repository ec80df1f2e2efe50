import json, sys, os, glob
JIT=("C1 CompilerThre","C2 CompilerThre")
for d in sys.argv[1:]:
    for f in sorted(glob.glob(f"{d}/r*-*-q1.cpu.json")):
        j=json.load(open(f)); name=os.path.basename(f)[:-9]
        if "roles" not in j: print(d,name,"no window"); continue
        a=j["ackedInWindow"]; w=j["windowSeconds"]
        def us(r):
            v=j["roles"][r]; jit=sum(s for g,s in v["threads"].items() if g.startswith(JIT)); return (v["cpuSeconds"]-jit)*1e6/a
        if "single" in name:
            print(f"{os.path.basename(d):8} {name:14} {a/w:8,.0f}/s single {us('single'):5.1f}")
        else:
            L=open(f[:-9]+".leader").read().strip(); F=[n for n in ("n1","n2","n3") if n!=L]
            gc=j["roles"][L]["threads"].get("GC Thread",0)*1e6/a
            rf=j.get("raft",{})
            print(f"{os.path.basename(d):8} {name:14} {a/w:8,.0f}/s leader {us(L):5.1f} (GC {gc:4.1f}) followers {us(F[0]):5.1f} {us(F[1]):5.1f} total {us(L)+us(F[0])+us(F[1]):5.1f}  msg/entry {rf.get('messagesPerEntry')} bytes/entry {rf.get('bytesPerEntry')}")
