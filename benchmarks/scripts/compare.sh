#!/usr/bin/env bash
# Runs the same MQTT load scenarios against DurableMQ (fsync and os durability) and Mosquitto
# (Debian's package, persistence on), alternating between the brokers run by run, then prints a
# table of medians and ratios against Mosquitto and draws a chart.
#
#   benchmarks/scripts/compare.sh             2 rounds, 10 s measured per run (about 20 minutes)
#   benchmarks/scripts/compare.sh --quick     1 round, 5 s per run (about 6 minutes)
#   options: --rounds N  --duration 10s  --warmup 2s  --mqtt 5|3  --out DIR
#            --brokers "durablemq-fsync durablemq-os mosquitto"  --only REGEX (scenario names)
#            --latency-rates "1000 2000 4000"  (fixed total rates of the latency sweep; "" for none)
#            --latency-qos "1 2"  (QoS of the 16-pair latency sweep; default 1)
#            --backlog-count N  (messages queued in the backlog scenario; default 20000)
#            --broker-cpus LIST  (taskset CPU list for every broker, e.g. "0" = one core; default: all)
#
# Every broker first gets an unrecorded warm-up load (15 s, 5 s with --quick), so that the JVM's
# JIT compiler is done before the first measured run instead of competing with it for the CPU.
# Needs: Java 17, Maven (builds the jars if missing), mosquitto (apt-get install -y mosquitto).
# DURABLEMQ_BROKER_JAR overrides the broker jar's path; DURABLEMQ_JAVA_OPTS is passed to its JVM
# (default: the same options as bin/durablemq).
# Everything listens on free loopback ports; every broker this script starts is stopped when it
# exits. Output: DIR/*.json (one report per run), DIR/table.md, DIR/chart.svg, DIR/machine.txt and
# DIR/<broker>.metrics.txt (DurableMQ's metrics after the runs). The raw logs (load generator
# progress, broker configs and logs) go to benchmarks/target/logs/<DIR's name>/, which git
# ignores: they explain a run while it is investigated; the repository keeps the summaries
# (COMPARE_LOGS overrides the logs folder).
# COMPARE_BACKLOG_WARMUP=N: unrecorded backlog drains in the warm-up (default 1; 0 = none, the JIT-cold
# drain measured before 2026-11-30; about 8 let C2 finish the drain path, RESULTS.md "Backlog drain: CPU
# per message (s22)").
# DURABLEMQ_EXTRA_CONFIG: lines appended to DurableMQ's generated config (e.g.
# "backpressure_high_watermark 0" to measure without back-pressure).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
. "$here/mosquitto-conf.sh"
root="$(cd "$here/../.." && pwd)"
loadgen_jar="$root/benchmarks/target/durablemq-loadgen.jar"
broker_jar="${DURABLEMQ_BROKER_JAR:-$root/mqtt-adapter/target/durablemq-broker.jar}"

rounds=2
duration=10s
warmup=2s
mqtt=5
backlog_count=20000
brokers="durablemq-fsync durablemq-os mosquitto"
only=""
latency_rates="1000 2000 4000"
latency_qos="1"
broker_cpus=""
broker_warmup=15s
durablemq_java_opts="${DURABLEMQ_JAVA_OPTS:-$(sed -n 's/^default_java_opts="\(.*\)"$/\1/p' "$root/bin/durablemq")}"
out="$root/benchmarks/results/compare-$(date -u +%Y%m%dT%H%M%SZ)"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) rounds=1; duration=5s; warmup=1s; backlog_count=10000; broker_warmup=5s; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --mqtt) mqtt="$2"; shift 2 ;;
    --brokers) brokers="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --latency-rates) latency_rates="$2"; shift 2 ;;
    --latency-qos) latency_qos="$2"; shift 2 ;;
    --backlog-count) backlog_count="$2"; shift 2 ;;
    --broker-cpus) broker_cpus="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# name|load generator arguments. The names become file names; the comparison groups runs by
# their actual shape (scenario, QoS, clients, payload, rate), not by these names.
scenarios=(
  "pairs-q1-p16|-s pairs -P 16 -q 1"
  "pairs-q2-p16|-s pairs -P 16 -q 2"
  "fanin-q1-p16|-s fan-in -P 16 -q 1"
  "fanout-q1-s10|-s fan-out -S 10 -q 1"
  "pairs-q0-p4|-s pairs -P 4 -q 0"
  "pairs-q1-p1|-s pairs -P 1 -q 1"
  "backlog-q1|-s backlog -P 1 -q 1 -n $backlog_count"
)
# The latency target is measured at half of DurableMQ fsync's maximum rate in this scenario,
# the same rate for every broker.
half_rate_scenario="pairs-q1-p16"

mkdir -p "$out"
out="$(cd "$out" && pwd)" # absolute: the brokers resolve relative paths against their config's folder
logs="${COMPARE_LOGS:-$root/benchmarks/target/logs/$(basename "$out")}"
mkdir -p "$logs"
logs="$(cd "$logs" && pwd)"
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do
      p=$((20000 + RANDOM % 40000))
      ss -ltn | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
    done
  fi
}

wait_for_port() { # port seconds
  local deadline=$((SECONDS + $2))
  while (( SECONDS < deadline )); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Small synchronous writes per second on the disk holding the brokers' data (dd with O_DSYNC):
# the ceiling of any one-record-per-fsync design, printed beside the results.
fsync_probe() {
  local f="$out/data/fsync-probe" secs
  mkdir -p "$out/data"
  secs="$(dd if=/dev/zero of="$f" bs=128 count=500 oflag=dsync 2>&1 | awk '/copied/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) print $(i-1)}')"
  rm -f "$f"
  awk -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", 500 / s; else print "?" }'
}

# Runs a broker on --broker-cpus (issue 12 target 4: scaling measured with the broker on 1 and 2 cores).
# Only ever run in the background (`pinned ... &`): it execs, so `$!` is the broker's own pid and the
# EXIT trap's kill reaches the broker (without exec, $! was the subshell's and the brokers outlived the script).
pinned() {
  if [[ -n "$broker_cpus" ]]; then exec taskset -c "$broker_cpus" "$@"; else exec "$@"; fi
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$out/data" # the brokers' stores: large, and nothing to keep once the brokers are gone
}
trap cleanup EXIT

declare -A port_of metrics_of

start_durablemq() { # label durability
  local label="$1" durability="$2" port metrics dir conf
  port="$(free_port)"; metrics="$(free_port)"
  dir="$out/data/$label"; rm -rf "$dir"; mkdir -p "$dir"
  conf="$logs/$label.conf"
  cat > "$conf" <<EOF
# generated by benchmarks/scripts/compare.sh
host 127.0.0.1
port $port
data_path $dir
durability $durability
metrics_endpoint_port $metrics
${DURABLEMQ_EXTRA_CONFIG:-}
EOF
  # shellcheck disable=SC2086
  pinned java $durablemq_java_opts -jar "$broker_jar" --config "$conf" > "$logs/$label.log" 2>&1 &
  pids+=($!)
  wait_for_port "$port" 60 || { log "DurableMQ ($label) did not listen on $port:"; tail -20 "$logs/$label.log" >&2; exit 1; }
  port_of[$label]=$port; metrics_of[$label]=$metrics
  log "started DurableMQ $durability as $label on port $port (metrics on $metrics)"
}

start_mosquitto() { # label
  local label="$1" port dir conf
  command -v mosquitto >/dev/null || { log "mosquitto not installed: apt-get install -y mosquitto"; exit 1; }
  port="$(free_port)"
  dir="$out/data/$label"; rm -rf "$dir"; mkdir -p "$dir"
  conf="$logs/$label.conf"
  { echo "# generated by benchmarks/scripts/compare.sh"; mosquitto_conf "$port" "$dir"; } > "$conf" # mosquitto-conf.sh says why each line
  pinned mosquitto -c "$conf" > "$logs/$label.log" 2>&1 &
  pids+=($!)
  wait_for_port "$port" 20 || { log "mosquitto did not listen on $port:"; tail -20 "$logs/$label.log" >&2; exit 1; }
  port_of[$label]=$port
  log "started $( (mosquitto -h 2>/dev/null || true) | head -1) as $label on port $port"
}

# ---------------------------------------------------------------- build what is missing
if [[ ! -f "$loadgen_jar" ]]; then
  (cd "$root" && mvn -B -q -pl benchmarks -am -DskipTests package)
fi
if [[ " $brokers " == *" durablemq-"* && ! -f "$broker_jar" ]]; then
  (cd "$root" && mvn -B -q -pl mqtt-adapter -am -DskipTests package)
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) cpus, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "disk: $(fsync_probe) synchronous 128-byte writes/s before (dd oflag=dsync, data folder)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "mosquitto: $( (mosquitto -h 2>/dev/null || true) | head -1)"
  echo "git: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "command: $0 --rounds $rounds --duration $duration --warmup $warmup --mqtt $mqtt --brokers \"$brokers\" --latency-rates \"$latency_rates\" --latency-qos \"$latency_qos\" --backlog-count $backlog_count${broker_cpus:+ --broker-cpus $broker_cpus}"
  echo "DurableMQ JVM options: $durablemq_java_opts"
  echo "unrecorded backlog drains in the warm-up: ${COMPARE_BACKLOG_WARMUP:-1}"
} > "$out/machine.txt"
cat "$out/machine.txt" >&2

for b in $brokers; do
  case "$b" in
    durablemq-fsync) start_durablemq "$b" fsync ;;
    durablemq-os) start_durablemq "$b" os ;;
    mosquitto) start_mosquitto "$b" ;;
    *) log "unknown broker $b (use durablemq-fsync, durablemq-os, mosquitto)"; exit 2 ;;
  esac
done

read -r -a broker_list <<< "$brokers"

# A backlog drain runs code the pairs warm-up never reaches (queue pages and their bodies read
# from the store, full windows refilled from the queue): without its own unrecorded drain, the
# measured one paid for the JIT compiling it (about 30 us of compiler CPU per message over the
# first 20,000, 2026-11-30, RESULTS.md "Backlog drain: what limited it").
warm_backlog=""
if [[ -z "$only" || "backlog-q1" =~ $only ]]; then
  warm_backlog=$(( backlog_count < 20000 ? backlog_count : 20000 ))
fi
for b in $brokers; do
  log "warm-up of $b ($broker_warmup, not recorded)"
  java -jar "$loadgen_jar" -b "tcp://127.0.0.1:${port_of[$b]}" --mqtt "$mqtt" --label "$b-warmup" \
      -s pairs -P 16 -q 1 -d "$broker_warmup" --warmup 0s > /dev/null 2> "$logs/warmup-$b.progress" ||
    log "warm-up of $b failed; see $logs/warmup-$b.progress"
  if [[ -n "$warm_backlog" ]]; then
    for ((drain = 1; drain <= ${COMPARE_BACKLOG_WARMUP:-1}; drain++)); do
      log "warm-up of $b: backlog drain $drain of ${COMPARE_BACKLOG_WARMUP:-1}, $warm_backlog messages (not recorded)"
      java -jar "$loadgen_jar" -b "tcp://127.0.0.1:${port_of[$b]}" --mqtt "$mqtt" --label "$b-warmup" \
          -s backlog -P 1 -q 1 -n "$warm_backlog" -d 120s > /dev/null 2>> "$logs/warmup-$b.progress" ||
        log "backlog warm-up of $b failed; see $logs/warmup-$b.progress"
    done
  fi
done

run_one() { # round name label extra-args...
  local round="$1" name="$2" label="$3"; shift 3
  local file="$out/r$round-$name-$label.json"
  log "round $round: $name on $label"
  # Exit code 3 (losses or duplicates) is a finding, recorded in the JSON, not a script failure.
  local timing=(-d "$duration" --warmup "$warmup")
  # A backlog run publishes a fixed count with the subscribers offline: no warmup, no duration. Its
  # deliveries may pause for seconds (Mosquitto 2.0.11 draining 10^6 did): the 5 s default idle timeout
  # counted the undelivered rest as lost (RESULTS.md "Backlog drain of 10^6 against Mosquitto (s27)").
  if [[ " $* " == *" backlog "* ]]; then timing=(-d 120s --idle-timeout 60s); fi
  java -jar "$loadgen_jar" -b "tcp://127.0.0.1:${port_of[$label]}" --mqtt "$mqtt" --label "$label" \
      "${timing[@]}" --json "$file" "$@" \
      2> "$logs/r$round-$name-$label.progress" | sed 's/^/    /' >&2 || {
    code=$?
    if [[ $code -ne 3 ]]; then log "load generator failed ($code); see $logs/r$round-$name-$label.progress"; fi
  }
}

# One run per broker, the order rotated every round so slow drifts hit all brokers alike.
run_round() { # round name load-generator-args...
  local round="$1" name="$2" n=${#broker_list[@]} i; shift 2
  for ((i = 0; i < n; i++)); do
    run_one "$round" "$name" "${broker_list[$(((i + round - 1) % n))]}" "$@"
  done
}

for ((round = 1; round <= rounds; round++)); do
  for entry in "${scenarios[@]}"; do
    name="${entry%%|*}"; args="${entry#*|}"
    if [[ -n "$only" && ! "$name" =~ $only ]]; then continue; fi
    # shellcheck disable=SC2086
    run_round "$round" "$name" $args
  done
done

# Half-rate latency runs: the rate is half the median received rate of durablemq-fsync (or of
# the first broker) at full speed in the same scenario.
if [[ -z "$only" || "$half_rate_scenario" =~ $only ]]; then
  ref="durablemq-fsync"; [[ " $brokers " == *" $ref "* ]] || ref="${broker_list[0]}"
  rates=()
  for f in "$out"/r*-"$half_rate_scenario"-"$ref".json; do
    [[ -f "$f" ]] && rates+=("$(grep -o '"receivedPerSecond" : [0-9.]*' "$f" | head -1 | awk '{print $3}')")
  done
  if [[ ${#rates[@]} -gt 0 ]]; then
    half="$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%d", m / 2}')"
    args="${scenarios[0]#*|}"
    log "half-rate runs at $half msg/s (half of $ref's median maximum in $half_rate_scenario)"
    for ((round = 1; round <= rounds; round++)); do
      # shellcheck disable=SC2086
      run_round "$round" "$half_rate_scenario-half" $args --rate "$half"
    done
  fi
fi
# Latency against load: 16 pairs at fixed total rates, the same for every broker, per QoS asked.
for q in $latency_qos; do
  sweep="pairs-q$q-p16"
  [[ -z "$only" || "$sweep" =~ $only ]] || continue
  for rate in $latency_rates; do
    for ((round = 1; round <= rounds; round++)); do
      # shellcheck disable=SC2086
      run_round "$round" "$sweep-at$rate" -s pairs -P 16 -q "$q" --rate "$rate"
    done
  done
done

for b in $brokers; do
  if [[ -n "${metrics_of[$b]:-}" ]]; then
    curl -s --max-time 5 "http://127.0.0.1:${metrics_of[$b]}/metrics" > "$out/$b.metrics.txt" || true
    # where a publish's time went over all of this broker's runs (issue 12)
    "$here/stages.sh" "$out/$b.metrics.txt" > "$out/$b.stages.txt" 2>/dev/null && cat "$out/$b.stages.txt" || true
  fi
done
{
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "disk: $(fsync_probe) synchronous 128-byte writes/s after"
} >> "$out/machine.txt"

java -jar "$loadgen_jar" compare "$out" --baseline mosquitto --markdown "$out/table.md" --svg "$out/chart.svg" \
    --title "DurableMQ vs Mosquitto, $(date -u +%Y-%m-%d), $(nproc) cpus (rounds: $rounds, $duration per run)"
log "reports, table.md and chart.svg in $out"
