#!/usr/bin/env bash
# One broker start, N backlog drains (20,000 unless COUNT says) measured by DrainProbe (rate and broker CPU per
# drained message per thread; benchmarks/RESULTS.md "Backlog drain: CPU per message (s22)").
# The broker is started as compare.sh starts it (fsync, -Xmx512m -XX:MaxGCPauseMillis=5), under nice 19.
#
#   benchmarks/scripts/drain-probe-run.sh BROKER_JAR LABEL [DRAINS [jfr]]
#
# COUNT: messages per measured drain (default 20000); WARM_DRAINS: unrecorded drains of 20,000 first (default 0;
# 8 let C2 finish the drain path). A 10^6 drain: COUNT=1000000 WARM_DRAINS=8 ... JAR LABEL 1.
# LOADGEN_JAR: the load generator jar (default benchmarks/target/durablemq-loadgen.jar);
# JFC: JFR settings (default profile) when "jfr" is given; the recording goes to /tmp/drain-LABEL.jfr.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="$1"; label="$2"; rounds="${3:-10}"; jfr="${4:-}"
loadgen="${LOADGEN_JAR:-$root/benchmarks/target/durablemq-loadgen.jar}"
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(fp); mport=$(fp)
dir=/tmp/drain-$label; rm -rf "$dir"; mkdir -p "$dir"
printf 'host 127.0.0.1\nport %s\ndata_path %s\ndurability fsync\nmetrics_endpoint_port %s\n' "$port" "$dir/data" "$mport" > "$dir/broker.conf"
opts="-XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5"
[ -n "$jfr" ] && opts="$opts -XX:StartFlightRecording=settings=${JFC:-profile},filename=/tmp/drain-$label.jfr,dumponexit=true"
# shellcheck disable=SC2086
nice -n 19 java $opts -jar "$jar" --config "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
bpid=$!
for _ in $(seq 120); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
echo "broker $bpid port $port; $(uptime)"
if [ "${WARM_DRAINS:-0}" -gt 0 ]; then
  nice -n 19 java -cp "$loadgen" "$root/benchmarks/scripts/DrainProbe.java" "$port" 20000 "$WARM_DRAINS" > /dev/null
fi
DRAIN_METRICS=http://127.0.0.1:$mport/metrics nice -n 19 java -cp "$loadgen" "$root/benchmarks/scripts/DrainProbe.java" "$port" "${COUNT:-20000}" "$rounds" "$bpid"
echo "after: $(uptime)"
kill "$bpid"; wait "$bpid"
