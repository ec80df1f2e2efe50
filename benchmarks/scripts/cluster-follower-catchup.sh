#!/usr/bin/env bash
# A follower SIGKILLed at full load and restarted 5 s later: how it catches up (an install of the leader's snapshot,
# or the log) and how long until its lag is under 50 entries, for each cluster_log_preserved_entries in VARIANTS
# (default "0 1000 0 1000"). Three nodes from ops/cluster/local-cluster.sh, -Xmx256m, 16 QoS 1 pairs at full speed.
#   benchmarks/scripts/cluster-follower-catchup.sh OUT_DIR        (LOADGEN=... to pick the load tool's jar)
set -u
OUT="${1:?usage: cluster-follower-catchup.sh OUT_DIR}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
cd "$(dirname "$0")/../.."
LOADGEN="${LOADGEN:-benchmarks/target/durablemq-loadgen.jar}"
export MQTT_PORTS="21883 21884 21885" METRICS_PORTS="29400 29401 29402" RAFT_PORTS="29871 29872 29873"
export DURABLEMQ_JAVA_OPTS="-Xmx256m -XX:MaxGCPauseMillis=5"
read -r -a mp <<<"$METRICS_PORTS"; read -r -a qp <<<"$MQTT_PORTS"
metric() { curl -s --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v k="$2" 'index($0, k) == 1 { print $NF; exit }'; }
for v in ${VARIANTS:-0 1000 0 1000}; do
  d=$OUT/pc-$v-$RANDOM; rm -rf $d
  EXTRA_CONF="cluster_log_preserved_entries $v" ops/cluster/local-cluster.sh start $d > $d.start 2>&1 || { cat $d.start; exit 1; }
  leader=$(sed -n 's/^leader: n\([0-9]\).*/\1/p' $d.start); li=$((leader - 1))
  f=$(( leader % 3 + 1 )); fi=$((f - 1))
  echo "== preserved $v: leader n$leader, victim n$f, $(date -u +%T), $(uptime)"
  java -jar $LOADGEN -b tcp://127.0.0.1:${qp[$li]} --label pc$v -s pairs -P 16 -q 1 -d 75s --warmup 0s --json $d.json > $d.loadgen 2>&1 &
  lg=$!
  sleep 30
  kill -KILL "$(cat $d/n$f/pid)"; killed=$(date +%s.%N)
  sleep 5
  before=$(metric ${mp[$li]} durablemq_cluster_snapshots_sent)
  EXTRA_CONF="cluster_log_preserved_entries $v" ops/cluster/local-cluster.sh start $d > $d.restart 2>&1
  restarted=$(date +%s.%N)
  caught=""
  for _ in $(seq 1 600); do
    lag=$(metric ${mp[$li]} "durablemq_cluster_follower_lag{follower=\"n$f\"")
    if [ -n "$lag" ] && awk -v l="$lag" 'BEGIN { exit !(l < 50) }'; then caught=$(date +%s.%N); break; fi
    sleep 0.1
  done
  sleep 2
  installed=$(metric ${mp[$fi]} durablemq_cluster_snapshots_installed)
  sent=$(metric ${mp[$li]} durablemq_cluster_snapshots_sent)
  echo "   restart -> lag < 50 entries: $(awk -v a=$restarted -v b=${caught:-0} 'BEGIN { if (b == 0) print "never (60 s)"; else printf "%.1f s", b - a }'); installs on n$f: $installed; snapshots sent by the leader: $before -> $sent"
  echo "   leader log files: $(ls $d/n$leader/raft/*/current | grep -c log_) segments, $(du -sh $d/n$leader/raft | cut -f1); follower data $(du -sh $d/n$f/data | cut -f1)"
  wait $lg
  python3 -c "import json; d=json.load(open('$d.json')); r=d['results']; print('   load: %.0f msg/s acknowledged, %d publish errors, lost %d dup %d' % (r['acknowledgedPerSecond'], r['publishErrors'], r['lost'], r['duplicates']))" 2>/dev/null || tail -3 $d.loadgen
  ops/cluster/local-cluster.sh stop $d > /dev/null 2>&1
done
