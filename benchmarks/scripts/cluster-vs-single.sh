#!/usr/bin/env bash
# Issue 13's throughput figure: a 3-node cluster on this machine against a single node, same
# load generator, same scenarios, alternating round by round (so a drift of the machine hits
# both), then a table of medians and the cluster/single ratio (goal: at least 0.5).
#
#   benchmarks/scripts/cluster-vs-single.sh [--rounds N] [--duration 10s] [--publishers 16]
#                                           [--qos "1 2"] [--durability fsync|os] [--out DIR]
#                                           [--profile-leader] [--table-only DIR]
#                                           [--cluster-java-opts "OPTS"] [--cluster-conf "KEY VALUE;..."]
#                                           [--warmups N] [--window N]
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
# --profile-leader: also a JFR recording (settings=profile, started on every node before the warm-up)
# of the leader up to the end of round 1's first cluster run, DIR/leader.jfr, summarised from that
# run's start in DIR/leader-profile.txt; that run's .cpu.json also
# names the leader's threads in full ("threadsFull", from jcmd Thread.print).
# Raft entry size: during each cluster run the leader's /metrics is read every second too, and the
# .cpu.json gets "raft": entries, store operations and bytes submitted in the window, messages per entry.
# --cluster-java-opts: JVM options for the three nodes only (default: the same as the single node's);
# --cluster-conf "k v;k v": lines added to every node's config (e.g. "commit_batches_in_flight 2"); both for
# trying cluster-only settings against an unchanged single node.
# --warmups N: unrecorded warm-up runs of 10 s per target before the measured rounds (default 6; figures
# before s29 had one QoS 1 run: add --warmups 1 to reproduce them). With N > 1 they alternate QoS 1 and
# QoS 2 and the targets, so both brokers' QoS 2 paths are compiled too. Three node JVMs share the cores
# for their JIT, so the cluster needs more load than the single node before its compiler threads go
# quiet (s29, QoS 1: after one warm-up the cluster ran at 0.64x of its rate after twelve, the single node at 0.82x).
# --window N: unacknowledged publishes per publisher, for the measured rounds and the warm-ups of both
# targets (the load generator's -w; default 100 as before). A cluster's acknowledgement waits for a
# Raft round, so at 100 it can be bound by the window (Little's law: in flight = rate x latency)
# before it is bound by the CPU; a larger window shows each target's throughput when it is saturated.
# --table-only DIR: rebuild DIR/table.md from DIR's files (with the same --rounds and --qos), run nothing.
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
table_only=""
cluster_java_opts="${DURABLEMQ_JAVA_OPTS:-}"
cluster_conf=""
warmups=6
window=100

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --publishers) publishers="$2"; shift 2 ;;
    --qos) qos_list="$2"; shift 2 ;;
    --durability) durability="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --profile-leader) profile_leader=1; shift ;;
    --table-only) table_only="$2"; shift 2 ;;
    --cluster-java-opts) cluster_java_opts="$2"; shift 2 ;;
    --cluster-conf) cluster_conf="$2"; shift 2 ;;
    --warmups) warmups="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;; # the header comment
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -n "$table_only" ]]; then
  python3 "$here/cluster-vs-single-table.py" "$table_only" "$rounds" "$qos_list" >"$table_only/table.md"
  cat "$table_only/table.md"
  exit 0
fi
[[ -f "$loadgen" ]] || { echo "missing $loadgen: mvn -B -q -pl benchmarks -am -DskipTests package" >&2; exit 2; }

mkdir -p "$out/work"
out="$(cd "$out" && pwd)"
work="$out/work"
log() { echo "[cluster-vs-single $(date +%H:%M:%S)] $*" >&2; }
# Free loopback ports below the kernel's ephemeral range, all different. Not port 0's pick: a node
# that retries connecting to a peer's Raft port before the peer binds it can be given that very port
# as its own ephemeral port (a loopback self-connect), and the peer then fails with "Address already
# in use" (seen 2026-12-01: n1 never started, the "3-node" runs had two nodes). The tests pick theirs
# the same way (engine test support `ListenPorts`).
free_ports() { # N
  python3 - "$1" <<'PY'
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
picked = []
while len(picked) < int(sys.argv[1]):
    p = random.randrange(10000, low)
    if p in picked:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        picked.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(" ".join(map(str, picked)))
PY
}
read -r -a ports <<<"$(free_ports 11)"

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
sport="${ports[0]}"; smetrics="${ports[1]}"
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
cmqtt=("${ports[@]:2:3}")
cmetrics=("${ports[@]:5:3}")
craft=("${ports[@]:8:3}")
MQTT_PORTS="${cmqtt[*]}" METRICS_PORTS="${cmetrics[*]}" RAFT_PORTS="${craft[*]}" DURABILITY="$durability" \
  EXTRA_CONF="${cluster_conf//;/$'\n'}" DURABLEMQ_JAVA_OPTS="$cluster_java_opts" \
  "$root/ops/cluster/local-cluster.sh" start "$cluster_dir" >"$work/cluster-start.txt" ||
  { log "the cluster did not start with all three nodes:"; cat "$work/cluster-start.txt" >&2; exit 1; }
for _ in $(seq 1 120); do curl -fsS --max-time 2 "http://127.0.0.1:$smetrics/ready" >/dev/null 2>&1 && break; sleep 0.5; done

leader_port() { # the MQTT port of the node whose /ready is 200, waiting up to 60 s (an election under load)
  local i
  for _ in $(seq 1 120); do
    for i in 0 1 2; do
      if curl -fsS --max-time 2 "http://127.0.0.1:${cmetrics[$i]}/ready" >/dev/null 2>&1; then echo "${cmqtt[$i]}"; return 0; fi
    done
    sleep 0.5
  done
  log "no node is ready after 60 s"
  echo 0 # the load generator then fails to connect and the run is left out of the table
}

profiled=0
run() { # round target qos port
  local f="$out/r$1-$2-q$3.json" roles=("single=$single_pid") i li="" full_names="" jfr_now=0 metrics_url=""
  for i in 0 1 2; do roles+=("n$((i + 1))=$(cat "$cluster_dir/n$((i + 1))/pid")"); done
  if [[ "$2" == cluster ]]; then
    for i in 0 1 2; do if [[ "${cmqtt[$i]}" == "$4" ]]; then li="$i"; fi; done # the node leader_port chose
    echo "n$((li + 1))" >"$out/r$1-$2-q$3.leader"
    [[ -n "$li" ]] && metrics_url="http://127.0.0.1:${cmetrics[$li]}/metrics"
    if (( profile_leader && ! profiled )); then
      profiled=1 jfr_now=1 full_names="n$((li + 1))"
    fi
  fi
  log "round $1: $2 QoS $3 (port $4${li:+, leader n$((li + 1))})"
  jfr_since="$(date +%s)"
  CPU_WINDOW_FULL_NAMES="$full_names" CPU_WINDOW_METRICS="$metrics_url" \
  python3 "$here/cpu-window.py" "$out/r$1-$2-q$3.cpu.json" "$work/r$1-$2-q$3.txt" "${roles[@]}" -- \
    java -jar "$loadgen" -b "tcp://127.0.0.1:$4" -s pairs -P "$publishers" -w "$window" -q "$3" -d "$duration" \
    --label "$2" --json "$f" || log "load generator exit $? (see $work/r$1-$2-q$3.txt)"
  if (( jfr_now )); then # the leader's recording of this run (from $jfr_since), then every node's stopped
    jcmd "$(cat "$cluster_dir/n$((li + 1))/pid")" JFR.dump name=leader filename="$out/leader.jfr" >>"$work/jfr.txt" 2>&1 || true
    echo "$jfr_since" >"$out/leader.jfr.since"
    for i in 1 2 3; do jcmd "$(cat "$cluster_dir/n$i/pid")" JFR.stop name=leader >>"$work/jfr.txt" 2>&1 || true; done
  fi
}

{
  echo "host: $(uname -srm), $(nproc) cpus; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "command: $0 --rounds $rounds --duration $duration --publishers $publishers --qos \"$qos_list\" --durability $durability --warmups $warmups --window $window"
  echo "DURABLEMQ_JAVA_OPTS: ${DURABLEMQ_JAVA_OPTS:-(bin/durablemq default)}; cluster: ${cluster_java_opts:-(bin/durablemq default)}; cluster conf: ${cluster_conf:-(none)}"
} >"$out/machine.txt"

# --profile-leader: JFR on every node from before the warm-up (starting it costs a pause, which under
# load can cost the leadership: better before the measured rounds); the leader's is dumped after the
# first cluster run and summarised from that run's start.
if (( profile_leader )); then
  for i in 1 2 3; do
    jcmd "$(cat "$cluster_dir/n$i/pid")" JFR.start name=leader settings=profile >>"$work/jfr.txt" 2>&1 || log "JFR.start failed on n$i (see $work/jfr.txt)"
  done
fi
# Unrecorded warm-up for both (JIT), then alternating measured rounds.
for ((w = 1; w <= warmups; w++)); do
  wq=$(( warmups > 1 && w % 2 == 0 ? 2 : 1 ))
  log "warm-up $w of $warmups (QoS $wq)"
  java -jar "$loadgen" -b "tcp://127.0.0.1:$sport" -s pairs -P "$publishers" -w "$window" -q "$wq" -d 10s >/dev/null 2>&1 || true
  java -jar "$loadgen" -b "tcp://127.0.0.1:$(leader_port)" -s pairs -P "$publishers" -w "$window" -q "$wq" -d 10s >/dev/null 2>&1 || true
done
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
python3 "$here/cluster-vs-single-table.py" "$out" "$rounds" "$qos_list" >"$out/table.md"
if [[ -f "$out/leader.jfr" ]]; then
  python3 "$here/jfr-summary.py" "$out/leader.jfr" 25 "$(cat "$out/leader.jfr.since")" >"$out/leader-profile.txt" 2>&1 || log "jfr summary failed"
fi
cat "$out/table.md"
log "reports, table.md and machine.txt in $out"
