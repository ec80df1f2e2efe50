#!/usr/bin/env bash
# A broker's own delivery latency on the wire beside the load tool's end-to-end figure, at fixed rates:
# starts one broker (DurableMQ in fsync or os mode with bin/durablemq's heap options, or Mosquitto with
# compare.sh's settings), warms it up (10 s of 16 pairs at full speed, QoS 1 then QoS 2), then for each
# "QOS RATE" in $SPECS captures its MQTT port on loopback with tcpdump around one load-tool run (16 pairs,
# 10 s after 2 s) and prints the run's end-to-end p50 / p99 / p99.9 and wire-latency.py's wire-to-wire
# figures (PUBLISH in from a publisher -> the same message out to a subscriber). Needs root (tcpdump).
#   benchmarks/scripts/wire-latency-run.sh durablemq-fsync|durablemq-os|mosquitto|port:PORT LABEL OUT_DIR
# port:PORT measures a broker already running on 127.0.0.1:PORT (a cluster's leader: ops/cluster/local-cluster.sh).
#   SPECS="2 2000,1 2000" (default) JAR=mqtt-adapter/target/durablemq-broker.jar LOADGEN=benchmarks/target/durablemq-loadgen.jar
# tcpdump costs CPU at the higher rates, the same for both brokers: compare brokers within one such run.
set -u
b="${1:?usage: wire-latency-run.sh BROKER LABEL OUT_DIR}"; label="${2:?label}"; out="${3:?out dir}"
here="$(cd "$(dirname "$0")" && pwd)"; root="$(cd "$here/../.." && pwd)"
jar="${JAR:-$root/mqtt-adapter/target/durablemq-broker.jar}"; loadgen="${LOADGEN:-$root/benchmarks/target/durablemq-loadgen.jar}"
command -v tcpdump > /dev/null || { echo "tcpdump not installed: apt-get install -y tcpdump" >&2; exit 1; }
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(fp); mport=$(fp); mkdir -p "$out"; data="$(mktemp -d)"
case "$b" in
  durablemq-fsync|durablemq-os)
    printf "host 127.0.0.1\nport %s\ndata_path %s\ndurability %s\nmetrics_endpoint_port %s\n" "$port" "$data" "${b#durablemq-}" "$mport" > "$out/$label.conf"
    java -XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5 -jar "$jar" --config "$out/$label.conf" > "$out/$label.log" 2>&1 & bp=$! ;;
  mosquitto)
    . "$here/mosquitto-conf.sh"; mosquitto_conf "$port" "$data" > "$out/$label.conf"
    mosquitto -c "$out/$label.conf" > "$out/$label.log" 2>&1 & bp=$! ;;
  port:*) port="${b#port:}"; bp="" ;;
  *) echo "unknown broker $b" >&2; exit 2 ;;
esac
trap '[ -n "$bp" ] && { kill $bp 2>/dev/null; wait $bp 2>/dev/null; }; rm -rf "$data"' EXIT
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.3; done
for q in 1 2; do java -jar "$loadgen" -b "tcp://127.0.0.1:$port" -s pairs -P 16 -q $q -d 10s --warmup 0s > /dev/null 2>&1; done
IFS=, read -r -a specs <<< "${SPECS:-2 2000,1 2000}"
for spec in "${specs[@]}"; do
  read -r q rate <<< "$spec"; name="$label-q$q-at$rate"
  tcpdump -i lo -s 0 -B 65536 -w "$out/$name.pcap" "tcp port $port" > "$out/$name.tcpdump.log" 2>&1 & tp=$!
  sleep 1 # tcpdump listening before the load tool connects: the parser needs each connection from its start
  java -jar "$loadgen" -b "tcp://127.0.0.1:$port" --label "$label" -s pairs -P 16 -q "$q" --rate "$rate" -d 10s --warmup 2s \
      --json "$out/$name.json" > /dev/null 2>&1
  sleep 0.5; kill -INT $tp; wait $tp 2>/dev/null
  e2e=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['latencyMillis']; print('e2e p50 %.3f p99 %.3f p99.9 %.3f' % (d['p50'], d['p99'], d['p999']))" "$out/$name.json")
  # --skip 3.5: the capture's first second, the load tool's JVM start and its 2 s warm-up
  echo "$label QoS $q @$rate | $e2e | $(python3 "$here/wire-latency.py" "$out/$name.pcap" "$port" --skip 3.5)" | tee -a "$out/summary.txt"
  rm -f "$out/$name.pcap" # tens of MB each
done
