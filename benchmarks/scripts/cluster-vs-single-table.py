#!/usr/bin/env python3
"""table.md of benchmarks/scripts/cluster-vs-single.sh: throughput medians and the cluster/single
ratio, then CPU per acknowledged message of each broker JVM (from cpu-window.py's .cpu.json files)
and a labelled projection for a machine per node.

    cluster-vs-single-table.py DIR ROUNDS "QOS..."
"""
import json, os, re, statistics, sys

out, rounds, qos_list = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
med = statistics.median
JIT = ("C1 CompilerThre", "C2 CompilerThre")


def fig(target, q):
    acks, p99s, lost, dup = [], [], 0, 0
    for r in range(1, rounds + 1):
        f = os.path.join(out, f"r{r}-{target}-q{q}.json")
        if not os.path.exists(f):
            continue
        j = json.load(open(f))
        res = j["results"]
        acks.append(res["acknowledgedPerSecond"])
        p99s.append((j.get("latencyMillis") or {}).get("p99", float("nan")))
        lost += res["lost"]; dup += res["duplicates"]
    if not acks:
        return None
    return med(acks), med(p99s), lost, dup, acks


print("| QoS | single node acknowledged msg/s (rounds) | 3-node cluster acknowledged msg/s (rounds) | cluster / single | p99 ms single / cluster | lost | duplicated |")
print("|---|---:|---:|---:|---:|---:|---:|")
for q in qos_list:
    s, c = fig("single", q), fig("cluster", q)
    if not s or not c:
        continue
    rs = " / ".join(f"{a:,.0f}" for a in s[4]); rc = " / ".join(f"{a:,.0f}" for a in c[4])
    print(f"| {q} | {s[0]:,.0f} ({rs}) | {c[0]:,.0f} ({rc}) | {c[0] / s[0]:.2f}x | {s[1]:.1f} / {c[1]:.1f} | {s[2] + c[2]} | {s[3] + c[3]} |")


def cpu_runs():
    """Every run's .cpu.json with, per role, CPU seconds in total and without the JIT compiler threads."""
    runs = []
    for q in qos_list:
        for target in ("single", "cluster"):
            for r in range(1, rounds + 1):
                f = os.path.join(out, f"r{r}-{target}-q{q}.cpu.json")
                if not os.path.exists(f):
                    continue
                j = json.load(open(f))
                report = os.path.join(out, f"r{r}-{target}-q{q}.json")
                if not j.get("ackedInWindow") or "roles" not in j or not os.path.exists(report):
                    continue  # the load generator failed (e.g. no leader): no figure
                roles = {}
                for role, v in j["roles"].items():
                    if v["cpuSeconds"] is None:
                        continue
                    jit = sum(s for g, s in v["threads"].items() if g.startswith(JIT))
                    roles[role] = {"all": v["cpuSeconds"], "nojit": v["cpuSeconds"] - jit, "threads": v["threads"]}
                run = {"q": q, "target": target, "round": r, "acked": j["ackedInWindow"], "window": j["windowSeconds"],
                       "roles": roles, "loadgen": j["loadgenCpuSeconds"]}
                run["reported"] = json.load(open(report))["results"]["acknowledged"]
                run["raft"] = j.get("raft") or {}
                if target == "cluster":
                    missing = [n for n in ("n1", "n2", "n3") if n not in roles]
                    if missing:  # a node that was not running: not a 3-node figure
                        print(f"\n(r{r} cluster QoS {q}: no CPU figure for {', '.join(missing)}: the node was not running; run left out of the CPU table)")
                        continue
                    run["leader"] = open(os.path.join(out, f"r{r}-cluster-q{q}.leader")).read().strip()
                    run["followers"] = sorted(n for n in ("n1", "n2", "n3") if n != run["leader"])
                else:
                    run["leader"], run["followers"] = "single", []
                runs.append(run)
    return runs


runs = cpu_runs()
if runs:
    # A node's background rate (cores, without JIT) while the load went to the other target: heartbeats,
    # timers, Ratis's pause monitor. Shown for reading the per-message figures at low rates.
    idle = {}
    for role in ("single", "n1", "n2", "n3"):
        rates = [x["roles"][role]["nojit"] / x["window"] for x in runs
                 if role in x["roles"] and (x["target"] == "cluster") == (role == "single")]
        if rates:
            idle[role] = med(rates)

    def us(x, role, kind):
        return x["roles"][role][kind] * 1e6 / x["acked"]

    print()
    print("CPU per acknowledged message: utime+stime of each broker JVM (all its threads, /proc/PID/stat) from the first")
    print("to the last second of the load generator's measured phase, divided by the messages acknowledged in those")
    print("seconds. Median of the rounds (rounds in brackets). 'excl. JIT' leaves out the C1/C2 compiler threads, a")
    print("warm-up cost the unrecorded warm-up run should have paid. cores = CPU seconds per wall second of the window.")
    print("Load generator: its whole life's CPU (JVM start, connects, warm-up, drain) / all it had acknowledged.")
    print()
    print("| QoS | single node us/msg: all / excl. JIT (cores) | cluster leader us/msg: all / excl. JIT (cores) | followers us/msg excl. JIT (cores) | 3 nodes together us/msg excl. JIT | load generator us/msg single / cluster | measured cluster / single | **projection** (not measured): cluster / single, a machine per node |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for q in qos_list:
        s = [x for x in runs if x["q"] == q and x["target"] == "single"]
        c = [x for x in runs if x["q"] == q and x["target"] == "cluster"]
        sf, cf = fig("single", q), fig("cluster", q)
        if not s or not c or not sf or not cf:
            continue
        b = lambda xs: " / ".join(f"{v:.0f}" for v in xs)
        s_all = [us(x, "single", "all") for x in s]; s_nj = [us(x, "single", "nojit") for x in s]
        l_all = [us(x, x["leader"], "all") for x in c]; l_nj = [us(x, x["leader"], "nojit") for x in c]
        fa = [us(x, x["followers"][0], "nojit") for x in c]; fb = [us(x, x["followers"][1], "nojit") for x in c]
        tot = [sum(us(x, n, "nojit") for n in [x["leader"]] + x["followers"]) for x in c]
        busiest_nj = [max(us(x, n, "nojit") for n in [x["leader"]] + x["followers"]) for x in c]
        busiest_all = [max(us(x, n, "all") for n in [x["leader"]] + x["followers"]) for x in c]
        cores = lambda xs, role_of: med([x["roles"][role_of(x)]["nojit"] / x["window"] for x in xs])
        print(f"| {q} | {med(s_all):.0f} / **{med(s_nj):.0f}** ({b(s_nj)}) ({cores(s, lambda x: 'single'):.2f}) "
              f"| {med(l_all):.0f} / **{med(l_nj):.0f}** ({b(l_nj)}) ({cores(c, lambda x: x['leader']):.2f}) "
              f"| {med(fa):.0f} / {med(fb):.0f} ({cores(c, lambda x: x['followers'][0]):.2f} / {cores(c, lambda x: x['followers'][1]):.2f}) "
              f"| {med(tot):.0f} "
              f"| {med([x['loadgen'] * 1e6 / max(x['reported'], 1) for x in s]):.0f} / {med([x['loadgen'] * 1e6 / max(x['reported'], 1) for x in c]):.0f} "
              f"| {cf[0] / sf[0]:.2f}x "
              f"| **{med(s_nj) / med(busiest_nj):.2f}x** (with JIT: {med(s_all) / med(busiest_all):.2f}x) |")
    entry_rows = [x for x in runs if x["target"] == "cluster" and x["raft"].get("messagesPerEntry")]
    if entry_rows:
        print()
        print("Raft entries on the leader in the same window (cpu-window.py CPU_WINDOW_METRICS: growth of the leader's")
        print("durablemq_cluster_entries_submitted / entry_operations / entry_bytes, else of its commit index):")
        print()
        print("| QoS | round | acknowledged msg/s | entries/s | messages per entry | store operations per entry | bytes per entry | 3 nodes us/msg excl. JIT |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for x in entry_rows:
            rf = x["raft"]
            n = rf.get("entries") or rf.get("commitIndex")
            tot = sum(us(x, r, "nojit") for r in [x["leader"]] + x["followers"])
            print(f"| {x['q']} | {x['round']} | {x['acked'] / x['window']:,.0f} | {n / x['window']:,.0f} | {rf['messagesPerEntry']:.1f} "
                  f"| {rf.get('operationsPerEntry', float('nan')):.1f} | {rf.get('bytesPerEntry', float('nan')):,.0f} | {tot:.0f} |")
    print()
    print("Background (idle) CPU of each JVM while the load went to the other target, cores: "
          + ", ".join(f"{k} {v:.3f}" for k, v in idle.items()) + ".")
    print()
    print("The projection is arithmetic, not a measurement: if the single node and each cluster node are CPU-bound on")
    print("machines with the same cores, throughput is cores / CPU per message, so cluster / single = the single node's")
    print("CPU per message / the busiest cluster node's (the leader's, unless a follower costs more). It ignores: the")
    print("network round trip between machines (loopback here), fsync latency on each node's own disk, whether the")
    print("pipeline (batches in flight) is deep enough to hide those latencies, the load generator's own machine, and")
    print("that CPU per message here was measured on shared, contended cores at whatever rate each run reached (fewer")
    print("messages per batch at low rates, so more CPU per message, on both sides).")

    # Where each role's CPU went, by JVM thread (names cut to 15 characters by the kernel; numbers folded).
    def groups(xs, role_of):
        acc = {}
        for x in xs:
            per_run = {}
            for g, sec in x["roles"][role_of(x)]["threads"].items():
                g = re.sub(r"^n\d(?=[@-])", "nX", g)  # Ratis names threads after the node: fold n1/n2/n3
                per_run[g] = per_run.get(g, 0) + sec * 1e6 / x["acked"]
            for g, v in per_run.items():
                acc.setdefault(g, []).append(v)
        n = len(xs)
        return sorted(((g, sum(v) / n) for g, v in acc.items()), key=lambda kv: -kv[1])
    for q in qos_list:
        s = [x for x in runs if x["q"] == q and x["target"] == "single"]
        c = [x for x in runs if x["q"] == q and x["target"] == "cluster"]
        if not s or not c:
            continue
        print()
        print(f"QoS {q}, us per acknowledged message by JVM thread group (kernel names, 15 characters; mean of rounds; top 10):")
        print()
        print("| single node | leader | follower |")
        print("|---|---|---|")
        cols = [groups(s, lambda x: "single")[:10], groups(c, lambda x: x["leader"])[:10],
                groups(c, lambda x: x["followers"][0])[:10]]
        for i in range(max(len(col) for col in cols)):
            print("| " + " | ".join(f"`{col[i][0]}` {col[i][1]:.1f}" if i < len(col) else "" for col in cols) + " |")
