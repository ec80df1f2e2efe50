#!/usr/bin/env bash
# Does the load tool's own JVM (GC) make the tail? Mosquitto (and DurableMQ fsync) at QoS 2, 2,000 msg/s,
# 16 pairs, loadgen JVM options varied, alternating, ROUNDS rounds.
# Env: ROUNDS [2], VARIANTS ["g1 eps"] (g1 = the JVM's default G1, eps = no GC at all (Epsilon, 4 GiB heap),
# zgc), BROKERS ["m d"] (Mosquitto, DurableMQ fsync), QOS [2], RATE [2000]. Needs the two jars built
# (mvn -B -q -pl mqtt-adapter,benchmarks -am -DskipTests package) and mosquitto. Loopback only;
# both brokers are stopped on exit. Prints p50/p99/p99.9/max per run and the load tool's GC pauses.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lg=$root/benchmarks/target/durablemq-loadgen.jar
broker=$root/mqtt-adapter/target/durablemq-broker.jar
out="${OUT:-$root/benchmarks/target/loadgen-gc-check-$(date -u +%H%M%S)}"; mkdir -p $out
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
mport=$(free_port); dport=$(free_port); dmet=$(free_port)
mkdir -p $out/mdata $out/ddata
cat > $out/m.conf <<C
listener $mport 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $out/mdata/
max_queued_messages 1000000
max_inflight_messages 1000
set_tcp_nodelay true
C
cat > $out/d.conf <<C
host 127.0.0.1
port $dport
data_path $out/ddata
durability fsync
metrics_endpoint_port $dmet
C
mosquitto -c $out/m.conf > $out/m.log 2>&1 & mpid=$!
java -Xmx512m -XX:MaxGCPauseMillis=5 -jar $broker --config $out/d.conf > $out/d.log 2>&1 & dpid=$!
trap 'kill $mpid $dpid 2>/dev/null || true' EXIT
sleep 6
for p in $mport $dport; do java -jar $lg -b tcp://127.0.0.1:$p -s pairs -P 16 -q 1 -d 10s --warmup 0s >/dev/null 2>&1 || true; done
declare -A opts=( [g1]="" [eps]="-XX:+UnlockExperimentalVMOptions -XX:+UseEpsilonGC -Xms4g -Xmx4g -XX:+AlwaysPreTouch" [zgc]="-XX:+UseZGC -Xmx2g" )
for r in $(seq ${ROUNDS:-2}); do
  for v in ${VARIANTS:-g1 eps}; do
    for b in ${BROKERS:-m d}; do
      port=$mport; [[ $b == d ]] && port=$dport
      java ${opts[$v]} -Xlog:gc:file=$out/gc-r$r-$v-$b.log -jar $lg -b tcp://127.0.0.1:$port -s pairs -P 16 -q ${QOS:-2} --rate ${RATE:-2000} -d 10s --warmup 2s --json $out/r$r-$v-$b.json >/dev/null 2>&1 || true
      python3 -c "import json;d=json.load(open('$out/r$r-$v-$b.json'));l=d['latencyMillis'];print('r$r $v $b', 'p50',l['p50'],'p99',l['p99'],'p999',l['p999'],'max',l['max'],'lost',d['results']['lost'])"
      echo "   gc pauses: $(grep -c 'Pause' $out/gc-r$r-$v-$b.log || true), load $(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
