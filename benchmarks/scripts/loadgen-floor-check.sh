#!/usr/bin/env bash
# The load tool's own latency floor (RESULTS.md, "Tail: the load tool's own floor (s21)"): the same
# fixed-rate run with the tool's pacing/callback variants, alternating (A/B/A/B), against Mosquitto
# (persistence off) and DurableMQ (fsync), 16 pairs, 256 B. Prints, per run, p50/p99/p99.9 of the
# end-to-end latency (always clocked from the intended send time), the tool's own send lag p99 and
# the load average; then the medians per variant and broker.
# Env: SCHED [nice -n 19], ROUNDS [3], VARIANTS ["old new"], BROKERS ["m d"] (m = Mosquitto, d = DurableMQ fsync),
#      QOS ["2 1"], RATE [2000], DURATION [15s], WARMUP [3s], PAIRS [16], OUT [benchmarks/target/...].
# Variants (load tool options; see benchmarks/README.md):
#   old       --pacing threads --phase aligned --callbacks app   (the tool before s21)
#   new       the defaults: one parked thread per publisher, staggered publishers, callbacks on the I/O thread
#   aligned   new but --phase aligned (bursts of one message per publisher)
#   sched     new but --pacing scheduler (one pacer thread for all publishers)
#   app       new but --callbacks app (HiveMQ's application scheduler)
#   io2       new with --io-threads 2
#   spin      new with --spin-us 100
#   eps       new, tool JVM on Epsilon (no GC)
# Needs both jars (mvn -B -q -pl mqtt-adapter,benchmarks -am -DskipTests package), mosquitto,
# python3. Loopback only; the brokers it started are stopped on exit (by PID).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lg=${LOADGEN_JAR:-$root/benchmarks/target/durablemq-loadgen.jar}
broker=${BROKER_JAR:-$root/mqtt-adapter/target/durablemq-broker.jar}
out="${OUT:-$root/benchmarks/target/loadgen-floor-$(date -u +%Y%m%d-%H%M%S)}"; mkdir -p "$out"
BROKERS=${BROKERS:-m d}
# SCHED: how the brokers and the tool run [nice -n 19]; SCHED="chrt -f 10" (root) runs them all at
# real-time priority, so a shared machine's other work does not preempt them (a diagnostic: it also
# removes the kernel's ordinary wake-up delays; RESULTS.md, "Tail: the load tool's own floor (s21)").
prio=${SCHED:-nice -n 19}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
declare -A opts=(
  [old]="--pacing threads --phase aligned --callbacks app"
  [new]=""
  [aligned]="--phase aligned"
  [sched]="--pacing scheduler"
  [app]="--callbacks app"
  [io2]="--io-threads 2"
  [spin]="--spin-us 100"
  [eps]="" )
declare -A jvm=( [eps]="-XX:+UnlockExperimentalVMOptions -XX:+UseEpsilonGC -Xms4g -Xmx4g -XX:+AlwaysPreTouch" )
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
declare -A port
if [[ " $BROKERS " == *" m "* ]]; then
  port[m]=$(free_port)
  cat > "$out/m.conf" <<C
listener ${port[m]} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 1000
set_tcp_nodelay true
C
  [[ $(id -u) == 0 ]] && echo "user root" >> "$out/m.conf"
  $prio ${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)} -c "$out/m.conf" > "$out/m.log" 2>&1 & pids+=($!)
fi
if [[ " $BROKERS " == *" d "* ]]; then
  port[d]=$(free_port); dmet=$(free_port); mkdir -p "$out/ddata"
  cat > "$out/d.conf" <<C
host 127.0.0.1
port ${port[d]}
data_path $out/ddata
durability fsync
metrics_endpoint_port $dmet
C
  # bin/durablemq's default JVM options unless DURABLEMQ_JAVA_OPTS is set (as compare.sh).
  $prio java -XX:+ExitOnOutOfMemoryError ${DURABLEMQ_JAVA_OPTS:--Xmx512m -XX:MaxGCPauseMillis=5} -jar "$broker" --config "$out/d.conf" > "$out/d.log" 2>&1 & pids+=($!)
fi
sleep 6
for b in $BROKERS; do   # unrecorded warm-up (JIT) of every broker
  $prio java -jar "$lg" -b tcp://127.0.0.1:${port[$b]} -s pairs -P 16 -q 1 -d 10s --warmup 0s >/dev/null 2>&1 || true
done
echo "# $(date -u +%FT%TZ) $(uname -n), rate ${RATE:-2000} msg/s, ${PAIRS:-16} pairs, ${DURATION:-15s} (+${WARMUP:-3s} warm-up) per run; out $out"
printf '%-5s %-3s %-8s %-3s %8s %8s %8s %10s %6s\n' round qos variant brk p50 p99 p99.9 lag.p99 load
for r in $(seq "${ROUNDS:-3}"); do
  for q in ${QOS:-2 1}; do
    for v in ${VARIANTS:-old new}; do
      for b in $BROKERS; do
        f="$out/r$r-q$q-$v-$b.json"
        $prio java ${jvm[$v]:-} -jar "$lg" -b tcp://127.0.0.1:${port[$b]} -s pairs -P "${PAIRS:-16}" -q "$q" --rate "${RATE:-2000}" \
          -d "${DURATION:-15s}" --warmup "${WARMUP:-3s}" --label "$v-$b" --json "$f" ${opts[$v]} > "$out/r$r-q$q-$v-$b.txt" 2>&1 || true
        load=$(cut -d' ' -f1 /proc/loadavg)
        python3 - "$f" "$r" "$q" "$v" "$b" "$load" <<'P'
import json, sys
f, r, q, v, b, load = sys.argv[1:]
try:
    d = json.load(open(f))
except Exception as e:
    print(f"{r:<5} {q:<3} {v:<8} {b:<3} run failed ({e})"); sys.exit()
l = d['latencyMillis']; sp = d.get('sendPacing') or {}
lag = (sp.get('sendLagMillis') or {}).get('p99', float('nan'))
bad = '' if d['results']['lost'] == 0 and d['results']['duplicates'] == 0 else f"  LOST {d['results']['lost']} DUP {d['results']['duplicates']}"
print(f"{r:<5} {q:<3} {v:<8} {b:<3} {l['p50']:8.3f} {l['p99']:8.3f} {l['p999']:8.3f} {lag:10.3f} {load:>6}{bad}")
P
      done
    done
  done
done
echo "# medians per QoS, variant and broker (ms)"
python3 - "$out" <<'P'
import json, sys, glob, statistics, os
rows = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], 'r*-q*.json'))):
    d = json.load(open(f)); key = (d['qos'], d['label'])
    l = d['latencyMillis']; lag = ((d.get('sendPacing') or {}).get('sendLagMillis') or {}).get('p99', float('nan'))
    rows.setdefault(key, []).append((l['p50'], l['p99'], l['p999'], lag))
for (q, label), v in sorted(rows.items()):
    med = [statistics.median(x[i] for x in v) for i in range(4)]
    print(f"QoS {q} {label:<12} runs {len(v)}  p50 {med[0]:.3f}  p99 {med[1]:.3f}  p99.9 {med[2]:.3f}  send lag p99 {med[3]:.3f}")
P
