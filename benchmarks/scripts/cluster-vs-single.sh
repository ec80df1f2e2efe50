#!/usr/bin/env bash
# Issue 13's throughput figure: a 3-node cluster on this machine against a single node, same
# load generator, same scenarios, alternating round by round (so a drift of the machine hits
# both), then a table of medians and the cluster/single ratio (goal: at least 0.5).
#
#   benchmarks/scripts/cluster-vs-single.sh [--rounds N] [--duration 10s] [--publishers 16]
#                                           [--qos "1 2"] [--durability fsync|os] [--out DIR]
#                                           [--profile-leader]
#
# Single node: bin/durablemq with a generated config. Cluster: ops/cluster/local-cluster.sh
# (three JVMs, Raft on loopback); the load goes to whichever node serves. Every process runs
# on free loopback ports and is stopped when the script exits. Both use bin/durablemq's JVM
# options unless DURABLEMQ_JAVA_OPTS is set. Needs the broker jar (bin/durablemq builds it) and
# benchmarks/target/durablemq-loadgen.jar (mvn -B -q -pl benchmarks -am -DskipTests package).
# Output: DIR/<round>-<target>-q<qos>.json (the load generator's reports), DIR/table.md,
# DIR/machine.txt. Logs and stores under DIR/work (deleted at the end, logs kept).
#
# CPU per message (so the figure can say what the cluster would do with a machine per node): every
# run goes through cpu-window.py, which reads each broker JVM's utime+stime (/proc/PID/stat) at the
# first and last second of the load generator's measured phase and counts the messages
# acknowledged in those same seconds: DIR/<round>-<target>-q<qos>.cpu.json (per process and per
# JVM thread group), and the load generator's own CPU from its rusage. table.md adds CPU us per
# acknowledged message for the single node, the cluster's leader and each follower, and a
# PROJECTION (not a measurement): with each node on its own machine of the single node's cores,
# both CPU-bound, cluster/single = single CPU per msg / the busiest node's CPU per msg.
# --profile-leader: also a JFR recording (settings=profile) of the leader during round 1's first
# cluster run, DIR/leader.jfr, summarised in DIR/leader-profile.txt.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
loadgen="$root/benchmarks/target/durablemq-loadgen.jar"
rounds=3
duration=10s
publishers=16
qos_list="1 2"
durability=fsync
out="$root/benchmarks/target/cluster-vs-single-$(date -u +%Y%m%dT%H%M%SZ)"
profile_leader=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --publishers) publishers="$2"; shift 2 ;;
    --qos) qos_list="$2"; shift 2 ;;
    --durability) durability="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --profile-leader) profile_leader=1; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -f "$loadgen" ]] || { echo "missing $loadgen: mvn -B -q -pl benchmarks -am -DskipTests package" >&2; exit 2; }

mkdir -p "$out/work"
out="$(cd "$out" && pwd)"
work="$out/work"
log() { echo "[cluster-vs-single $(date +%H:%M:%S)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

single_pid=""
cluster_dir="$work/cluster"
cleanup() {
  [[ -n "$single_pid" ]] && kill "$single_pid" 2>/dev/null || true
  MQTT_PORTS="${cmqtt[*]:-}" METRICS_PORTS="${cmetrics[*]:-}" RAFT_PORTS="${craft[*]:-}" \
    "$root/ops/cluster/local-cluster.sh" stop "$cluster_dir" >/dev/null 2>&1 || true
  [[ -n "$single_pid" ]] && wait "$single_pid" 2>/dev/null || true
  rm -rf "$work/single/data" "$cluster_dir"/n*/data "$cluster_dir"/n*/raft
}
trap cleanup EXIT

# Single node.
sport="$(free_port)"; smetrics="$(free_port)"
mkdir -p "$work/single"
cat >"$work/single/durablemq.conf" <<CONF
host 127.0.0.1
port $sport
metrics_endpoint_port $smetrics
data_path $work/single/data
durability $durability
CONF
"$root/bin/durablemq" --config "$work/single/durablemq.conf" >"$work/single/broker.log" 2>&1 &
single_pid=$!

# Cluster.
cmqtt=("$(free_port)" "$(free_port)" "$(free_port)")
cmetrics=("$(free_port)" "$(free_port)" "$(free_port)")
craft=("$(free_port)" "$(free_port)" "$(free_port)")
MQTT_PORTS="${cmqtt[*]}" METRICS_PORTS="${cmetrics[*]}" RAFT_PORTS="${craft[*]}" DURABILITY="$durability" \
  "$root/ops/cluster/local-cluster.sh" start "$cluster_dir" >"$work/cluster-start.txt"
for _ in $(seq 1 120); do curl -fsS --max-time 2 "http://127.0.0.1:$smetrics/ready" >/dev/null 2>&1 && break; sleep 0.5; done

leader_port() { # the MQTT port of the node whose /ready is 200 now
  for i in 0 1 2; do
    if curl -fsS --max-time 2 "http://127.0.0.1:${cmetrics[$i]}/ready" >/dev/null 2>&1; then echo "${cmqtt[$i]}"; return 0; fi
  done
  return 1
}

leader_index() { # 0, 1 or 2: the node whose /ready is 200 now
  for i in 0 1 2; do
    if curl -fsS --max-time 2 "http://127.0.0.1:${cmetrics[$i]}/ready" >/dev/null 2>&1; then echo "$i"; return 0; fi
  done
  return 1
}

profiled=0
run() { # round target qos port
  local f="$out/r$1-$2-q$3.json" roles=("single=$single_pid") i li=""
  for i in 0 1 2; do roles+=("n$((i + 1))=$(cat "$cluster_dir/n$((i + 1))/pid")"); done
  if [[ "$2" == cluster ]]; then
    li="$(leader_index || true)"
    echo "n$((li + 1))" >"$out/r$1-$2-q$3.leader"
    if (( profile_leader && ! profiled )); then
      profiled=1
      jcmd "$(cat "$cluster_dir/n$((li + 1))/pid")" JFR.start name=leader settings=profile \
        filename="$out/leader.jfr" >"$work/jfr-start.txt" 2>&1 || log "JFR.start failed (see $work/jfr-start.txt)"
    fi
  fi
  log "round $1: $2 QoS $3 (port $4${li:+, leader n$((li + 1))})"
  python3 "$here/cpu-window.py" "$out/r$1-$2-q$3.cpu.json" "$work/r$1-$2-q$3.txt" "${roles[@]}" -- \
    java -jar "$loadgen" -b "tcp://127.0.0.1:$4" -s pairs -P "$publishers" -q "$3" -d "$duration" \
    --label "$2" --json "$f" || log "load generator exit $? (see $work/r$1-$2-q$3.txt)"
  if [[ -f "$work/jfr-start.txt" && ! -f "$out/leader.jfr" ]]; then
    jcmd "$(cat "$cluster_dir/n$((li + 1))/pid")" JFR.stop name=leader >>"$work/jfr-start.txt" 2>&1 || true
  fi
}

{
  echo "host: $(uname -srm), $(nproc) cpus; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "command: $0 --rounds $rounds --duration $duration --publishers $publishers --qos \"$qos_list\" --durability $durability"
} >"$out/machine.txt"

# Unrecorded warm-up for both (JIT), then alternating measured rounds.
java -jar "$loadgen" -b "tcp://127.0.0.1:$sport" -s pairs -P "$publishers" -q 1 -d 10s >/dev/null 2>&1 || true
java -jar "$loadgen" -b "tcp://127.0.0.1:$(leader_port)" -s pairs -P "$publishers" -q 1 -d 10s >/dev/null 2>&1 || true
for ((r = 1; r <= rounds; r++)); do
  for q in $qos_list; do
    if (( r % 2 )); then
      run "$r" single "$q" "$sport"; run "$r" cluster "$q" "$(leader_port)"
    else
      run "$r" cluster "$q" "$(leader_port)"; run "$r" single "$q" "$sport"
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# Table: medians of acknowledged msg/s and p99 per target and QoS; ratio cluster / single.
python3 - "$out" "$rounds" "$qos_list" >"$out/table.md" <<'PY'
import json, sys, statistics, glob, os
out, rounds, qos_list = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
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
    return statistics.median(acks), statistics.median(p99s), lost, dup, acks
print("| QoS | single node acknowledged msg/s (rounds) | 3-node cluster acknowledged msg/s (rounds) | cluster / single | p99 ms single / cluster | lost | duplicated |")
print("|---|---:|---:|---:|---:|---:|---:|")
for q in qos_list:
    s, c = fig("single", q), fig("cluster", q)
    if not s or not c:
        continue
    rs = " / ".join(f"{a:,.0f}" for a in s[4]); rc = " / ".join(f"{a:,.0f}" for a in c[4])
    print(f"| {q} | {s[0]:,.0f} ({rs}) | {c[0]:,.0f} ({rc}) | {c[0] / s[0]:.2f}x | {s[1]:.1f} / {c[1]:.1f} | {s[2] + c[2]} | {s[3] + c[3]} |")

# CPU per acknowledged message (cpu-window.py): medians over the rounds.
def cpu(target, q):
    rows = []
    for r in range(1, rounds + 1):
        f = os.path.join(out, f"r{r}-{target}-q{q}.cpu.json")
        if not os.path.exists(f):
            continue
        j = json.load(open(f))
        acked = j.get("ackedInWindow") or 0
        if acked <= 0:
            continue
        per = {role: v["cpuSeconds"] * 1e6 / acked for role, v in j["roles"].items() if v["cpuSeconds"] is not None}
        cores = {role: v["cpuSeconds"] / j["windowSeconds"] for role, v in j["roles"].items() if v["cpuSeconds"] is not None}
        rep = json.load(open(os.path.join(out, f"r{r}-{target}-q{q}.json")))["results"]["acknowledged"]
        row = {"per": per, "cores": cores, "loadgen": j["loadgenCpuSeconds"] * 1e6 / max(rep, 1)}
        if target == "cluster":
            leader = open(os.path.join(out, f"r{r}-cluster-q{q}.leader")).read().strip()
            followers = sorted(n for n in ("n1", "n2", "n3") if n != leader)
            row["leader"], row["followers"] = per[leader], [per[n] for n in followers]
            row["lcores"], row["fcores"] = cores[leader], [cores[n] for n in followers]
            row["names"] = (leader, followers)
        rows.append(row)
    return rows
med = statistics.median
print()
print("CPU per acknowledged message (utime+stime of each broker JVM over the load generator's measured seconds, divided by")
print("the messages acknowledged in those seconds; median of rounds, rounds in brackets; cores = CPU seconds per wall second).")
print("Load generator: its whole life's CPU (JVM start, connects, warm-up, drain) / all it had acknowledged.")
print()
print("| QoS | single node us/msg (cores) | cluster leader us/msg (cores) | follower A / B us/msg (cores) | cluster total us/msg | load generator us/msg single / cluster | measured cluster / single | **projection**: cluster / single with a machine per node |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for q in qos_list:
    s, c = cpu("single", q), cpu("cluster", q)
    sf, cf = fig("single", q), fig("cluster", q)
    if not s or not c or not sf or not cf:
        continue
    su = med([r["per"]["single"] for r in s]); lu = med([r["leader"] for r in c])
    fa = med([r["followers"][0] for r in c]); fb = med([r["followers"][1] for r in c])
    tot = med([r["leader"] + sum(r["followers"]) for r in c])
    busiest = med([max([r["leader"]] + r["followers"]) for r in c])
    rs = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
    print(f"| {q} | {su:.1f} ({rs([r['per']['single'] for r in s])}) ({med([r['cores']['single'] for r in s]):.2f}) "
          f"| {lu:.1f} ({rs([r['leader'] for r in c])}) ({med([r['lcores'] for r in c]):.2f}) "
          f"| {fa:.1f} / {fb:.1f} ({med([r['fcores'][0] for r in c]):.2f} / {med([r['fcores'][1] for r in c]):.2f}) "
          f"| {tot:.1f} | {med([r['loadgen'] for r in s]):.1f} / {med([r['loadgen'] for r in c]):.1f} "
          f"| {cf[0] / sf[0]:.2f}x | **{su / busiest:.2f}x** (leader alone: {su / lu:.2f}x) |")
print()
print("The projection is arithmetic, not a measurement: if the single node and each cluster node are CPU-bound on")
print("machines with the same cores, throughput is cores / CPU per message, so cluster / single = the single node's")
print("CPU per message / the busiest cluster node's (the leader's, unless a follower costs more). It ignores: the")
print("network round trip between machines (loopback here), fsync latency on each node's own disk, whether the")
print("pipeline (batches in flight) is deep enough to hide those latencies, the load generator's own machine, and")
print("that CPU per message here was measured on shared, contended cores (smaller batches, more context switches).")
PY
if [[ -f "$out/leader.jfr" ]]; then
  python3 "$here/jfr-summary.py" "$out/leader.jfr" >"$out/leader-profile.txt" 2>&1 || log "jfr summary failed"
fi
cat "$out/table.md"
log "reports, table.md and machine.txt in $out"
