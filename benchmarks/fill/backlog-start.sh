#!/usr/bin/env bash
# Issue 14's backlog figures through the real broker on loopback: SESSIONS persistent sessions
# (MQTT 3.1.1, clean session off) subscribe at QoS 1 to one topic and go offline, then MESSAGES
# QoS 1 messages of 64 bytes are published to that topic (`mosquitto_pub -q 1 -l`), each fanned
# out to every session: SESSIONS x MESSAGES queue entries over MESSAGES bodies. The broker runs
# with bin/durablemq's options (-XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5).
# Then it measures:
#   - the store's size on disk (du of data_path) and per million entries;
#   - the heap after a full GC (jcmd <pid> GC.class_histogram's total) with the backlog queued;
#   - stop (SIGTERM) and restart: start time = launch of the JVM to the first CONNACK (a client
#     that retries its connect every 20 ms), the recovery line of the broker's log, the heap
#     after a full GC right after the start and again 30 s later;
#   - the drain of one session (it reconnects, receives its MESSAGES, msg/s) while the others
#     keep their backlog, counting distinct messages against MESSAGES.
#
#   benchmarks/fill/backlog-start.sh 10 10000
#   benchmarks/fill/backlog-start.sh 10000 10000        # 10^8 entries
#   KEEP=1 WORK=target/backlog-x benchmarks/fill/backlog-start.sh 1000 10000   # keep the store
#   FILL_SECONDS=3000 benchmarks/fill/backlog-start.sh 10000 10000   # stop publishing after 3,000 s
#     (the publisher is stopped, the measurements run on what was acknowledged and the drain
#     expects that many messages)
#
#   STORE=DIR benchmarks/fill/backlog-start.sh 10000 10000
#     measures a prebuilt store instead of filling one (java -cp benchmarks/target/benchmarks.jar
#     io.durablemq.bench.fill.BulkBacklogStore DIR 10000 10000 writes what this fill leaves): no
#     creation or fill; the store's size, then STARTS (default 3) starts, each launch to first CONNACK
#     and stopped with SIGTERM except the last, the heap after a full GC, the background check's
#     verdict and duration (waited for up to CHECK_TIMEOUT s, default 1200), the drain of bl-1.
#     The store is kept (the drain empties bl-1's queue in it).
#
# Needs mosquitto-clients, curl, jcmd (JDK 17) and the shaded jar (mvn -B -DskipTests -pl
# mqtt-adapter -am package; JAR=... to use a copy). Scratch files and the store in $WORK
# (default target/backlog-<sessions>x<messages>-<time>); the store is deleted at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
sessions="${1:?usage: backlog-start.sh SESSIONS MESSAGES}"
messages="${2:?usage: backlog-start.sh SESSIONS MESSAGES}"
jar="${JAR:-mqtt-adapter/target/durablemq-broker.jar}"
java_opts="${DURABLEMQ_JAVA_OPTS:--Xmx512m -XX:MaxGCPauseMillis=5}"
creators="${CREATORS:-8}"   # parallel mosquitto_sub processes creating the sessions
topic="backlog/t"
work="${WORK:-target/backlog-${sessions}x${messages}-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
data="$work/data"
if [ -n "${STORE:-}" ]; then
  [ -f "$STORE/CURRENT" ] || { echo "STORE=$STORE is not a RocksDB store" >&2; exit 2; }
  data="$(cd "$STORE" && pwd)"
fi
[ -f "$jar" ] || { echo "no jar at $jar: mvn -B -DskipTests -pl mqtt-adapter -am package" >&2; exit 2; }
for t in mosquitto_pub mosquitto_sub curl jcmd; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"; mport="$(free_port)"
cat > "$work/broker.conf" <<CONF
host 127.0.0.1
port $port
metrics_endpoint_port $mport
data_path $data
allow_anonymous true
CONF
broker=""
cleanup() { [ -n "$broker" ] && kill "$broker" 2>/dev/null || true; }
trap cleanup EXIT
now_ms() { date +%s%3N; }
log() { echo "$(date -u +%T) $*" | tee -a "$work/report.txt"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

start_broker() { # $1: log file
  java -XX:+ExitOnOutOfMemoryError $java_opts -jar "$jar" --config "$work/broker.conf" >>"$1" 2>&1 &
  broker=$!
}
# Retries a clean-session connect (CONNECT, CONNACK, SUBSCRIBE, SUBACK, DISCONNECT) every 20 ms.
wait_connack() {
  for _ in $(seq 1 30000); do
    mosquitto_sub -h 127.0.0.1 -p "$port" -i "probe-$$" -t probe/x -E -W 5 >/dev/null 2>&1 && return 0
    kill -0 "$broker" 2>/dev/null || { echo "broker exited" >&2; return 1; }
    sleep 0.02
  done
  return 1
}
# The live heap after a full GC, in one command: GC.class_histogram runs a full GC and sums the
# live objects. (GC.run then GC.heap_info is two attaches apart: the background check, which
# allocates over 100 MB/s while it scans a large store, made "used" read 180-200 MiB there
# against 73 MiB live.)
heap_after_gc() {
  jcmd "$broker" GC.class_histogram | awk '$1 == "Total" { printf "%.1f MiB live", $3 / 1048576 }'
}
# Through a file: an awk that exits at the first match would end curl with SIGPIPE (pipefail, set -e).
metric() { curl -fsS --max-time 10 "http://127.0.0.1:$mport/metrics" >"$work/metrics.txt" 2>/dev/null || true; awk -v n="$1" '$1==n {print $2; exit}' "$work/metrics.txt"; }

log "backlog-start: $sessions sessions x $messages messages of 64 bytes = $((sessions * messages)) entries; commit $(git rev-parse --short HEAD 2>/dev/null || echo ?); load $(loadavg)"
log "broker: java -XX:+ExitOnOutOfMemoryError $java_opts -jar $jar; work $work"
if [ -n "${STORE:-}" ]; then
  acked="$messages"; entries=$((sessions * messages))
  log "prebuilt store $data (no fill): $entries entries expected"
  bytes=$(du -sb "$data" | cut -f1)
  log "store on disk (du -sb, before the start): $bytes bytes, $(awk -v b="$bytes" -v e="$entries" 'BEGIN{printf "%.1f MiB per million entries", b / 1048576 / (e / 1e6)}')"
  starts="${STARTS:-3}"
  for n in $(seq 1 "$starts"); do
    t0=$(now_ms)
    start_broker "$work/broker-s$n.log"
    wait_connack || { tail -30 "$work/broker-s$n.log"; exit 1; }
    log "START TIME $n of $starts (launch to first CONNACK): $(( $(now_ms) - t0 )) ms; load $(loadavg)"
    grep -i -m3 'recover' "$work/broker-s$n.log" | sed 's/^/    /' | tee -a "$work/report.txt" || true
    if [ "$n" -lt "$starts" ]; then
      t0=$(now_ms); kill -TERM "$broker"; rc=0; wait "$broker" || rc=$?
      log "stopped (SIGTERM) in $(( $(now_ms) - t0 )) ms, exit $rc"
    fi
  done
  last="$work/broker-s$starts.log"
  log "heap after full GC right after the start: $(heap_after_gc)"
  sleep 30
  log "heap after full GC 30 s later: $(heap_after_gc); queued entries (metric) $(metric durablemq_queue_messages)"
  for _ in $(seq 1 "${CHECK_TIMEOUT:-1200}"); do
    grep -q 'background check of the store' "$last" && break
    sleep 1
  done
  log "background check: $(grep -m1 'background check of the store' "$last" || echo "not finished after ${CHECK_TIMEOUT:-1200} s")"
  log "heap after full GC after the background check: $(heap_after_gc); load $(loadavg)"
else
start_broker "$work/broker-1.log"
wait_connack || { tail -30 "$work/broker-1.log"; exit 1; }

# 1. The sessions: subscribe at QoS 1 with clean session off, then disconnect (-E).
t0=$(now_ms)
seq 1 "$sessions" | xargs -P "$creators" -I{} mosquitto_sub -h 127.0.0.1 -p "$port" -c -i "bl-{}" -q 1 -t "$topic" -E -W 60
log "created $sessions offline sessions in $(( $(now_ms) - t0 )) ms ($creators creators in parallel); load $(loadavg)"

# 2. The messages: "m<9 digits>-" padded to 64 bytes; PUBACKs counted from mosquitto_pub -d.
pad="$(printf 'x%.0s' $(seq 1 53))"
t0=$(now_ms)
awk -v pad="$pad" -v n="$messages" 'BEGIN { for (i = 1; i <= n; i++) printf "m%09d-%s\n", i, pad }' \
  | mosquitto_pub -h 127.0.0.1 -p "$port" -i "bl-pub-$$" -q 1 -t "$topic" -l -d 2>&1 \
  | awk '/received PUBACK/ {n++} END {print n+0}' >"$work/acked.txt" &
pub=$!
pub_client() { pgrep -f -- "-i bl-pub-$$ " || true; }  # the mosquitto_pub of this run only (its id carries our PID)
while kill -0 "$pub" 2>/dev/null; do
  sleep 10
  if [ -n "${FILL_SECONDS:-}" ] && [ $(( ($(now_ms) - t0) / 1000 )) -ge "$FILL_SECONDS" ]; then
    log "FILL_SECONDS=$FILL_SECONDS reached: stopping the publisher"
    for c in $(pub_client); do kill -TERM "$c" 2>/dev/null || true; done
  fi
  kill -0 "$broker" 2>/dev/null || { log "BROKER DIED during the fill: $(tail -5 "$work/broker-1.log")"; exit 1; }
  echo "$(date -u +%T) t=$(( ($(now_ms) - t0) / 1000 ))s queued_entries=$(metric durablemq_queue_messages) heap_after_gc_ratio=$(metric durablemq_heap_after_gc_ratio) load $(loadavg)" >>"$work/fill-samples.txt"
done
wait "$pub" || true
fill_ms=$(( $(now_ms) - t0 ))
acked="$(cat "$work/acked.txt")"
entries=$((sessions * acked))
queued="$(metric durablemq_queue_messages)"
log "published $messages, PUBACKs $acked in $fill_ms ms ($(awk -v e="$entries" -v ms="$fill_ms" 'BEGIN{printf "%.0f", e / (ms / 1000)}') entries/s); queued entries (metric) $queued; load $(loadavg)"
log "broker alive: $(kill -0 "$broker" 2>/dev/null && echo yes || echo NO); OutOfMemoryError in log: $(grep -c OutOfMemoryError "$work/broker-1.log" || true); refused: $(metric 'durablemq_publishes_refused_total{reason="budget"}')/$(metric 'durablemq_publishes_refused_total{reason="heap"}') (budget/heap)"

# 3. Disk and heap with the backlog queued.
bytes=$(du -sb "$work/data" | cut -f1)
log "store on disk (du -sb, live broker): $bytes bytes, $(awk -v b="$bytes" -v e="$entries" 'BEGIN{printf "%.1f MiB per million entries", b / 1048576 / (e / 1e6)}')"
log "heap after full GC, backlog queued: $(heap_after_gc)"

# 4. Stop (SIGTERM) and restart; start time = launch to first CONNACK.
t0=$(now_ms); kill -TERM "$broker"; rc=0; wait "$broker" || rc=$?
log "stopped (SIGTERM) in $(( $(now_ms) - t0 )) ms, exit $rc"
bytes=$(du -sb "$work/data" | cut -f1)
log "store on disk after the stop: $bytes bytes, $(awk -v b="$bytes" -v e="$entries" 'BEGIN{printf "%.1f MiB per million entries", b / 1048576 / (e / 1e6)}')"
t0=$(now_ms)
start_broker "$work/broker-2.log"
wait_connack || { tail -30 "$work/broker-2.log"; exit 1; }
log "START TIME (launch to first CONNACK): $(( $(now_ms) - t0 )) ms; load $(loadavg)"
grep -i -m3 'recover' "$work/broker-2.log" | sed 's/^/    /' | tee -a "$work/report.txt" || true
log "heap after full GC right after the start: $(heap_after_gc)"
sleep 30
log "heap after full GC 30 s later: $(heap_after_gc); queued entries (metric) $(metric durablemq_queue_messages)"

fi

# 5. Drain one session while the others keep their backlog.
t0=$(now_ms)
got="$(timeout "${DRAIN_TIMEOUT:-600}" mosquitto_sub -h 127.0.0.1 -p "$port" -c -i bl-1 -q 1 -t "$topic" -C "$acked" 2>/dev/null \
       | awk '{ k = substr($0, 1, 10); if (!(k in seen)) { seen[k] = 1; n++ } } END { print n + 0 }' || true)"
ms=$(( $(now_ms) - t0 ))
log "DRAIN of bl-1: $got distinct of $acked acknowledged in $ms ms ($(awk -v n="$got" -v ms="$ms" 'BEGIN{printf "%.0f", n / (ms / 1000)}') msg/s, connect included); queued entries left (metric) $(metric durablemq_queue_messages); load $(loadavg)"
log "heap after full GC after the drain: $(heap_after_gc)"

kill -TERM "$broker"; wait "$broker" || true; broker=""
[ "${KEEP:-0}" = 1 ] || [ -n "${STORE:-}" ] || rm -rf "$work/data"
log "done; report: $work/report.txt"
