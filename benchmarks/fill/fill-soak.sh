#!/usr/bin/env bash
# Issue 14's fill, as a new user would run it: SESSIONS persistent sessions subscribe to fill/#
# at QoS 1 and go offline, then PUBLISHERS `mosquitto_pub -q 1 -l` processes send 256-byte
# messages for SECONDS seconds into a broker started like bin/durablemq (-Xmx512m,
# -XX:+ExitOnOutOfMemoryError). Every 5 s it samples /metrics and /ready. At the end it reports
# whether the broker is still up (no OutOfMemoryError), the largest backlog, the refusals by
# reason, and (DRAIN=1) drains every session and counts the distinct messages each got against
# the PUBACKs the publishers received (a count, not a set: publishes in flight when the
# publishers were stopped may be stored unacknowledged; QueueBudgetFillTest checks exact sets).
#
#   benchmarks/fill/fill-soak.sh                       # 10 sessions x 10 publishers, 300 s, default budget
#   SECONDS_TO_FILL=60 MAX_TOTAL=64m DRAIN=1 benchmarks/fill/fill-soak.sh
#   SECONDS_TO_FILL=240 MAX_TOTAL=1g DRAIN=1 DRAIN_TIMEOUT=600 benchmarks/fill/fill-soak.sh   # RESULTS.md, "Fill" (paged queues)
# Before stopping the publishers it sends one MQTT 5 and one MQTT 3.1.1 QoS 1 publish and prints
# the broker's answer (0x97 = reason code 151 while the budget or the heap guard refuses).
#
# Needs mosquitto-clients, curl, java 17 and the shaded jar (mvn -B -DskipTests -pl mqtt-adapter
# -am package). Scratch files in $WORK (default target/fill-soak-<time>); nothing outside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
jar="${JAR:-mqtt-adapter/target/durablemq-broker.jar}"
sessions="${SESSIONS:-10}"
publishers="${PUBLISHERS:-10}"
fill_seconds="${SECONDS_TO_FILL:-300}"
# Lines per publisher. mosquitto_pub -l reads stdin with no back-pressure and queues every line
# in its own memory (about 350 bytes each): an endless generator grew each publisher to 2.4 GB
# and the kernel's OOM killer ended them. 60,000 x 10 publishers x 10 sessions = 6 million
# queue entries, more than a 512 MiB heap holds (about 105 bytes per entry).
lines="${LINES:-60000}"
heap="${HEAP:--Xmx512m}"
max_total="${MAX_TOTAL:-auto}"
work="${WORK:-target/fill-soak-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
[ -f "$jar" ] || { echo "no jar at $jar: mvn -B -DskipTests -pl mqtt-adapter -am package" >&2; exit 2; }
for t in mosquitto_pub mosquitto_sub curl; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"; mport="$(free_port)"
cat > "$work/broker.conf" <<CONF
host 127.0.0.1
port $port
metrics_endpoint_port $mport
data_path $work/data
allow_anonymous true
max_total_queued_bytes $max_total
CONF
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null || true; }
trap cleanup EXIT

# The options bin/durablemq uses.
java -XX:+ExitOnOutOfMemoryError $heap -XX:MaxGCPauseMillis=5 -jar "$jar" --config "$work/broker.conf" >"$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$mport/ready" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "http://127.0.0.1:$mport/ready" >/dev/null || { tail -30 "$work/broker.log"; echo "broker not ready" >&2; exit 1; }

for s in $(seq 1 "$sessions"); do
  mosquitto_sub -h 127.0.0.1 -p "$port" -c -i "fill-sub-$s" -q 1 -t 'fill/#' -E
done

metric() { awk -v n="$1" '$1==n {print $2; exit}' "$work/metrics.txt"; }
sample() {
  if ! curl -fsS --max-time 5 "http://127.0.0.1:$mport/metrics" >"$work/metrics.txt" 2>/dev/null; then echo "t=$1 metrics unavailable"; return; fi
  local ready; ready="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$mport/ready")"
  printf 't=%ss queued_messages=%s queued_bytes=%s refused_budget=%s refused_heap=%s refusing_budget=%s refusing_heap=%s heap_after_gc=%s ready=%s\n' "$1" \
    "$(metric durablemq_queue_messages)" "$(metric durablemq_queue_bytes)" \
    "$(metric 'durablemq_publishes_refused_total{reason="budget"}')" "$(metric 'durablemq_publishes_refused_total{reason="heap"}')" \
    "$(metric 'durablemq_publishes_refusing{reason="budget"}')" "$(metric 'durablemq_publishes_refusing{reason="heap"}')" \
    "$(metric durablemq_heap_after_gc_ratio)" "$ready"
}

# Publisher p sends lines "p<p>-<n>" padded to 256 bytes; its -d output is reduced to a count of PUBACKs.
pad="$(printf 'x%.0s' $(seq 1 240))"
start=$SECONDS
pub_pids=()
for p in $(seq 1 "$publishers"); do
  mosquitto_pub -h 127.0.0.1 -p "$port" -i "fill-pub-$p" -q 1 -t "fill/$p" -l -d \
      < <(awk -v p="$p" -v pad="$pad" -v lines="$lines" 'BEGIN { for (n = 1; n <= lines; n++) printf "p%d-%09d-%s\n", p, n, pad }') \
      > >(awk '/received PUBACK/ {n++} END {print n+0}' >"$work/acked-$p.txt") 2>&1 &
  pub_pids+=($!)
done
pids+=("${pub_pids[@]}")
while [ $((SECONDS - start)) -lt "$fill_seconds" ] && kill -0 "$broker" 2>/dev/null; do
  sleep 5; sample $((SECONDS - start)) | tee -a "$work/samples.txt"
done
# While the publishers still push: one MQTT 5 and one MQTT 3.1.1 QoS 1 publish, to a topic no
# session subscribes to (so an accepted one would not change the drain's counts), and what the
# broker answered: MQTT 5 PUBACK reason code 151 (0x97, quota exceeded) while it refuses;
# MQTT 3.1.1 no PUBACK, the connection closed.
probe() { # $1: MQTT version (5 or 311)
  timeout 20 mosquitto_pub -h 127.0.0.1 -p "$port" -V "$1" -i "fill-probe-$1" -q 1 -t probe/quota -m quota-probe -d 2>&1 \
    | grep -E 'PUBACK|PUBLISH|Connection|Error|error|CONNACK' | tr '\n' ' ' || true
}
if kill -0 "$broker" 2>/dev/null; then
  sample probe | tee -a "$work/samples.txt"
  echo "probe MQTT 5 (refusing: budget=$(metric 'durablemq_publishes_refusing{reason="budget"}') heap=$(metric 'durablemq_publishes_refusing{reason="heap"}')): $(probe 5)" | tee -a "$work/samples.txt"
  echo "probe MQTT 3.1.1: $(probe 311)" | tee -a "$work/samples.txt"
fi
# Stop the publishers (by PID); their counting pipelines end and write the PUBACK counts.
kill -TERM "${pub_pids[@]}" 2>/dev/null || true
wait "${pub_pids[@]}" 2>/dev/null || true
sleep 2
pids=()
acked=0; for p in $(seq 1 "$publishers"); do acked=$((acked + $(cat "$work/acked-$p.txt" 2>/dev/null || echo 0))); done
if kill -0 "$broker" 2>/dev/null; then alive=yes; else alive="NO (exit $(wait "$broker"; echo $?))"; fi
sample end | tee -a "$work/samples.txt"
echo "broker alive after the fill: $alive; OutOfMemoryError in log: $(grep -c OutOfMemoryError "$work/broker.log" || true)"
echo "publishes acknowledged (PUBACK received): $acked"
echo "max queued messages sampled: $(grep -o 'queued_messages=[0-9.E]*' "$work/samples.txt" | cut -d= -f2 | sort -g | tail -1)"

if [ "${DRAIN:-0}" = 1 ] && [ "$alive" = yes ]; then
  # Every session must hold every acknowledged message: count distinct payload heads per session.
  for s in $(seq 1 "$sessions"); do
    t0=$SECONDS
    # -C: mosquitto_sub exits after as many messages as were acknowledged (an awk that exits
    # early would leave mosquitto_sub waiting forever for a line to fail on); then count the
    # distinct "p<p>-<n>" heads (a QoS 1 duplicate would show as fewer distinct than received).
    got="$(timeout "${DRAIN_TIMEOUT:-900}" mosquitto_sub -h 127.0.0.1 -p "$port" -c -i "fill-sub-$s" -q 1 -t 'fill/#' -C "$acked" 2>/dev/null \
           | awk '{ split($0, a, "-"); k = a[1] "-" a[2]; if (!(k in seen)) { seen[k] = 1; n++ } } END { print n + 0 }' || true)"
    echo "session fill-sub-$s: $got distinct messages (acknowledged: $acked), drained in $((SECONDS - t0)) s"
  done
  sample drained | tee -a "$work/samples.txt"
fi
echo "work folder: $work"
