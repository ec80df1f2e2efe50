#!/usr/bin/env bash
# Where a publish's time goes at fixed rates: starts one DurableMQ broker (fsync mode, bin/durablemq's
# JVM options) from JAR, warms it up (10 s of pairs at full speed for each QoS in $SPECS; WARMUP_QOS overrides,
# e.g. WARMUP_QOS=1 for the QoS 1-only warm-up used before 2026-12-01), then for each "QOS RATE" in $SPECS runs the
# load generator (16 pairs, 10 s + 2 s warm-up) and prints its summary and the stage histograms of that
# run alone (a /metrics scrape before and after, diffed by stages.sh), with `uptime` before and after.
#   benchmarks/scripts/fixed-rate-stages.sh mqtt-adapter/target/durablemq-broker.jar mine target/stages
#   SPECS="2 2000,1 4000" LOADGEN=benchmarks/target/durablemq-loadgen.jar ...
# Several jars alternated (A/B): call it once per jar and round, in alternating order.
# LOADGEN_WARMUP (default 2s): the load tool's own unrecorded warm-up per run (its --warmup). Each run is a new
# load-tool JVM: at 2,000 msg/s its 2 s warm-up is 4,000 messages, too few for its own JIT (s29).
# BROKER_JAVA_OPTS (default none): more broker JVM options, e.g. -Dio.netty.eventLoopThreads=2 (Netty's default is 2 x cores).
# BROKER_CPUS / LOADGEN_CPUS (default: all): taskset CPU lists for the broker and for the load tool (its warm-up
# runs included), e.g. BROKER_CPUS=0 LOADGEN_CPUS=1, so that the clients do not share the broker's cores.
set -u
# taskset replaces itself with the command, so $! stays the broker's own pid.
on_broker_cpus=(); [ -n "${BROKER_CPUS:-}" ] && on_broker_cpus=(taskset -c "$BROKER_CPUS")
on_loadgen_cpus=(); [ -n "${LOADGEN_CPUS:-}" ] && on_loadgen_cpus=(taskset -c "$LOADGEN_CPUS")
jar="${1:?usage: fixed-rate-stages.sh BROKER_JAR LABEL OUT_DIR}"; label="${2:?label}"; out="${3:?out dir}"
here="$(cd "$(dirname "$0")" && pwd)"
loadgen="${LOADGEN:-$here/../target/durablemq-loadgen.jar}"
IFS=, read -r -a specs <<< "${SPECS:-2 2000,1 4000}"
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port); mport=$(free_port)
data="$(mktemp -d)"
cat > "$out/$label.conf" <<C
host 127.0.0.1
port $port
data_path $data
durability fsync
metrics_endpoint_port $mport
C
# The broker's GC pauses go to $label.gc.log (wall clock and uptime): a pause stalls every stage at once.
# shellcheck disable=SC2086 # the options are words
"${on_broker_cpus[@]}" java -XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5 ${BROKER_JAVA_OPTS:-} -Xlog:gc:file="$out/$label.gc.log":time,uptime -jar "$jar" --config "$out/$label.conf" > "$out/$label.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.3; done
# Each QoS measured is warmed up: QoS 2's handshake (PUBREC/PUBREL/PUBCOMP, its records) is code a QoS 1 load never
# runs, and a first QoS 2 run after a QoS 1-only warm-up measured the JIT compiling it (RESULTS.md, s26).
warm_qos="${WARMUP_QOS:-$(for spec in "${specs[@]}"; do echo "${spec%% *}"; done | sort -u | tr '\n' ' ')}"
for q in $warm_qos; do
  "${on_loadgen_cpus[@]}" java -jar "$loadgen" -b "tcp://127.0.0.1:$port" --label "$label-warmup" -s pairs -P 16 -q "$q" -d 10s --warmup 0s > /dev/null 2>&1
done
for spec in "${specs[@]}"; do
  read -r q rate <<< "$spec"; name="$label-q$q-at$rate"
  # A spec named twice (say "2 2000,2 2000": the second run is the JIT-warm one) keeps both runs' files.
  n=1; while [ -e "$out/$name.json" ]; do n=$((n + 1)); name="$label-q$q-at$rate-r$n"; done
  {
    echo "before $name: $(uptime)"
    # The JIT's totals (methods compiled, compile time in s) before and after: compiling inside the measured run shows here.
    echo "jit before $name: $(jstat -compiler "$broker" 2>/dev/null | tail -1)"
    curl -s "http://127.0.0.1:$mport/metrics" > "$out/$name.before.metrics"
    "${on_loadgen_cpus[@]}" java -jar "$loadgen" -b "tcp://127.0.0.1:$port" --label "$label" -s pairs -P 16 -q "$q" --rate "$rate" \
        -d 10s --warmup "${LOADGEN_WARMUP:-2s}" --json "$out/$name.json" 2> "$out/$name.progress"
    curl -s "http://127.0.0.1:$mport/metrics" > "$out/$name.after.metrics"
    echo "after $name: $(uptime)"
    echo "jit after $name: $(jstat -compiler "$broker" 2>/dev/null | tail -1)"
    "$here/stages.sh" "$out/$name.before.metrics" "$out/$name.after.metrics"
  } | tee "$out/$name.txt"
done
