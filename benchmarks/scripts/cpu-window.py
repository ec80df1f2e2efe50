#!/usr/bin/env python3
"""CPU cost per acknowledged message of each broker process while a load generator runs
(benchmarks/scripts/cluster-vs-single.sh).

    cpu-window.py OUT.json LOG.txt ROLE=PID [ROLE=PID ...] -- java -jar durablemq-loadgen.jar ...

Runs the load generator, copies its output to LOG.txt and reads its progress lines
("[  5s] publish  sent ...  acked 12,345/s ..."), one a second in the measured phase. At every
"publish" line it reads utime+stime of each ROLE's process (/proc/PID/stat, all threads) and of
each of its threads (/proc/PID/task/*/stat, named by the JVM's thread name, 15 characters).
The window runs from the first "publish" line to the last one; the acknowledged count in it is
the sum of the "acked N/s" figures of the lines after the first (each covers the second before
it), so CPU and messages cover the same seconds. The load generator's own CPU (whole life:
JVM start, connects, warm-up, window, drain) comes from its rusage when it exits.
Writes OUT.json: window seconds, acked in window, per role CPU seconds and per-thread-group
CPU seconds, loadgen CPU and wall seconds, exit code.
With CPU_WINDOW_FULL_NAMES="ROLE ..." those roles' threads are also grouped by their full Java
names (jcmd PID Thread.print after the run: nid = the kernel's thread id), as "threadsFull".
"""
import json, os, re, subprocess, sys, time, urllib.request

TICK = os.sysconf("SC_CLK_TCK")
PROGRESS = re.compile(r"^\[\s*(\d+)s\]\s+(\S+)\s.*?acked\s+([\d,]+)/s")


def stat_ticks(path):
    """(comm, utime+stime ticks) of one /proc stat file, or None if it is gone."""
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    fields = s[s.rindex(")") + 2:].split()
    return comm, int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def thread_group(name):
    """Folds numbered thread names together: 'GC Thread#1' -> 'GC Thread#', 'grpc-default-ex' stays."""
    return re.sub(r"[-#]?\d+$", "", name) or name


def java_thread_names(pid):
    """Kernel thread id -> full Java thread name, from jcmd Thread.print ("name" #12 ... nid=0x1a2b ...)."""
    try:
        text = subprocess.run(["jcmd", str(pid), "Thread.print"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    names = {}
    for m in re.finditer(r'^"(.+?)".*?\bnid=(0x[0-9a-f]+|\d+)', text, re.M):
        nid = m.group(2)
        names[str(int(nid, 16) if nid.startswith("0x") else int(nid))] = m.group(1)
    return names


RAFT_COUNTERS = {
    "durablemq_cluster_entries_submitted_total": "entries",
    "durablemq_cluster_entry_operations_total": "operations",
    "durablemq_cluster_entry_bytes_total": "bytes",
    "durablemq_cluster_commit_index": "commitIndex",
}


def raft_counters(url):
    """The Raft counters of one node's /metrics (names in RAFT_COUNTERS), {} when it does not answer."""
    if not url:
        return {}
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in RAFT_COUNTERS:
            found[RAFT_COUNTERS[parts[0]]] = float(parts[1])
    return found


def snapshot(pids):
    snap = {}
    for role, pid in pids.items():
        total = stat_ticks(f"/proc/{pid}/stat")
        threads = {}
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            tids = []
        for tid in tids:
            t = stat_ticks(f"/proc/{pid}/task/{tid}/stat")
            if t:
                threads[tid] = t
        snap[role] = (total[1] if total else None, threads)
    return time.monotonic(), snap


def main():
    out, log = sys.argv[1], sys.argv[2]
    sep = sys.argv.index("--")
    pids = dict(a.split("=", 1) for a in sys.argv[3:sep])
    cmd = sys.argv[sep + 1:]
    metrics_url = os.environ.get("CPU_WINDOW_METRICS", "")
    start_wall = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    first = last = None
    acked = 0
    publish_lines = 0
    with open(log, "w") as logf:
        for line in proc.stdout:
            logf.write(line)
            m = PROGRESS.match(line)
            if not m or m.group(2) != "publish":
                continue
            snap = snapshot(pids) + (raft_counters(metrics_url),)
            publish_lines += 1
            if first is None:
                first = snap
            else:
                acked += int(m.group(3).replace(",", ""))
                last = snap
    _, status, usage = os.wait4(proc.pid, 0)
    full_roles = os.environ.get("CPU_WINDOW_FULL_NAMES", "").split()
    full_names = {role: java_thread_names(pids[role]) for role in full_roles if role in pids}
    result = {
        "exit": os.waitstatus_to_exitcode(status),
        "loadgenCpuSeconds": usage.ru_utime + usage.ru_stime,
        "loadgenWallSeconds": time.monotonic() - start_wall,
        "publishLines": publish_lines,
    }
    if first and last:
        result["windowSeconds"] = last[0] - first[0]
        result["ackedInWindow"] = acked
        roles = {}
        for role in pids:
            t0, th0 = first[1][role]
            t1, th1 = last[1][role]
            groups = {}
            for tid, (comm, ticks) in th1.items():
                before = th0.get(tid, (comm, 0))[1]  # a thread born in the window counts from 0
                g = thread_group(comm)
                groups[g] = groups.get(g, 0) + (ticks - before) / TICK
            roles[role] = {
                "cpuSeconds": None if t0 is None or t1 is None else (t1 - t0) / TICK,
                "threads": dict(sorted(((g, round(s, 2)) for g, s in groups.items() if s > 0),
                                       key=lambda kv: -kv[1])),
            }
            if role in full_names:
                full = {}
                for tid, (comm, ticks) in th1.items():
                    g = thread_group(full_names[role].get(tid, comm + " (gone?)"))
                    full[g] = full.get(g, 0) + (ticks - th0.get(tid, (comm, 0))[1]) / TICK
                roles[role]["threadsFull"] = dict(sorted(((g, round(v, 2)) for g, v in full.items() if v > 0),
                                                         key=lambda kv: -kv[1]))
        result["roles"] = roles
        if first[2] and last[2]:
            raft = {k: last[2][k] - first[2][k] for k in last[2] if k in first[2]}
            entries = raft.get("entries") or raft.get("commitIndex")
            if entries:
                raft["messagesPerEntry"] = round(acked / entries, 1)
                if "bytes" in raft:
                    raft["bytesPerEntry"] = round(raft["bytes"] / entries)
                    raft["operationsPerEntry"] = round(raft["operations"] / entries, 1)
            result["raft"] = raft
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    sys.exit(result["exit"])


if __name__ == "__main__":
    main()
