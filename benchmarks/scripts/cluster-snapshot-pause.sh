#!/bin/bash
# How long a cluster node's Raft snapshots hold its applies back (on the leader: its PUBACKs), under
# full load: starts ops/cluster/local-cluster.sh of the build in TREE with a small heap (a snapshot
# every quarter of the heap of applied log: every 10-20 s at this load with 256m), runs the load
# generator against the leader, stops the cluster and prints one line: throughput, latency, and every
# snapshot's duration from the nodes' logs ("raft snapshot ... taken ... in N ms").
# usage: cluster-snapshot-pause.sh TREE LABEL QOS SECONDS HEAP OUT_DIR [LOADGEN_JAR]
# A/B: run it alternately with two trees (git worktrees of the two builds, each built with
# `mvn -B -q -DskipTests -pl mqtt-adapter -am package`); lines are appended to OUT_DIR/summary.txt.
set -u
tree=$1; label=$2; qos=$3; secs=$4; heap=$5; out=$6
loadgen=${7:-$(cd "$(dirname "$0")/../.." && pwd)/benchmarks/target/durablemq-loadgen.jar}
d=$out/$label
rm -rf "$d"; mkdir -p "$d"
cd "$tree"
DURABLEMQ_JAVA_OPTS="-Xmx$heap -XX:+UseSerialGC" ops/cluster/local-cluster.sh start "$d/data" > "$d/start.txt" 2>&1
status=$(ops/cluster/local-cluster.sh status "$d/data")
port=$(sed -n 's/.*mqtt 127.0.0.1:\([0-9]*\).*/\1/p' <<<"$status")
leader=$(sed -n 's/^leader: \(n[0-9]\).*/\1/p' <<<"$status")
load_before=$(uptime | sed 's/.*load/load/')
java -jar "$loadgen" -b "tcp://127.0.0.1:$port" -s pairs -P 4 -q "$qos" -d "${secs}s" > "$d/load.txt" 2>&1
ops/cluster/local-cluster.sh stop "$d/data" > /dev/null 2>&1
taken() { grep -h "raft snapshot .* taken" "$@" | sed -n 's/.* in \([0-9]*\) ms/\1/p'; }
lead=$(taken "$d/data/$leader/broker.log" | tr '\n' ' ')
all=$(taken "$d"/data/n*/broker.log | sort -n | tr '\n' ' ')
res=$(grep -E "acknowledged .* msg/s" "$d/load.txt" | head -1 | sed 's/  */ /g')
lat=$(grep -E "latency ms" "$d/load.txt" | tail -1 | sed 's/  */ /g')
lost=$(grep -E " lost " "$d/load.txt" | tail -1 | sed 's/  */ /g')
echo "$label leader=$leader | $res | $lat | $lost | leader snapshots ms: $lead | all nodes sorted: $all | $load_before" | tee -a "$out/summary.txt"
rm -rf "$d/data"/n*/data "$d/data"/n*/raft # the stores and Raft logs: hundreds of MB, not results
