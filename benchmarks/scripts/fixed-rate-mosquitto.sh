#!/usr/bin/env bash
# Mosquitto 2.0 at the fixed rates of fixed-rate-stages.sh (SPECS, default "2 2000,1 1000"), the same load tool
# options, compare.sh's Mosquitto settings (persistence on): the same window's reference for its end-to-end figures.
#   benchmarks/scripts/fixed-rate-mosquitto.sh OUT_DIR      (writes OUT_DIR/mosq-qQ-atRATE.json)
# LOADGEN_WARMUP (default 2s), BROKER_CPUS and LOADGEN_CPUS (taskset CPU lists) as in fixed-rate-stages.sh.
set -u
on_broker_cpus=(); [ -n "${BROKER_CPUS:-}" ] && on_broker_cpus=(taskset -c "$BROKER_CPUS")
on_loadgen_cpus=(); [ -n "${LOADGEN_CPUS:-}" ] && on_loadgen_cpus=(taskset -c "$LOADGEN_CPUS")
OUT="${1:?usage: fixed-rate-mosquitto.sh OUT_DIR}"; mkdir -p "$OUT"
here="$(cd "$(dirname "$0")" && pwd)"; LOADGEN="${LOADGEN:-$here/../target/durablemq-loadgen.jar}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d)
. "$here/mosquitto-conf.sh"
mosquitto_conf "$port" "$dir" > "$OUT"/mosq.conf
"${on_broker_cpus[@]}" mosquitto -c "$OUT"/mosq.conf > "$OUT"/mosq.log 2>&1 &
m=$!
trap 'kill $m; wait $m 2>/dev/null; rm -rf $dir' EXIT
sleep 1
IFS=, read -r -a specs <<< "${SPECS:-2 2000,1 1000}"
for spec in "${specs[@]}"; do
  read -r q rate <<< "$spec"; name="mosq-q$q-at$rate"
  n=1; while [ -e "$OUT/$name.json" ]; do n=$((n + 1)); name="mosq-q$q-at$rate-r$n"; done
  echo "before $name: $(date -u +%T) $(uptime)"
  "${on_loadgen_cpus[@]}" java -jar "$LOADGEN" -b tcp://127.0.0.1:$port --label mosquitto -s pairs -P 16 -q $q --rate $rate -d 10s --warmup "${LOADGEN_WARMUP:-2s}" --json "$OUT/$name.json" 2> "$OUT/$name.progress"
  echo "after $name: $(date -u +%T) $(uptime)"
done
