#!/usr/bin/env bash
# Validates ops/prometheus with Debian's Prometheus and, optionally, proves that a real
# Prometheus scrapes a running DurableMQ broker and answers queries for its series.
#
#   ops/ci/check-prometheus.sh                         promtool checks only
#   ops/ci/check-prometheus.sh METRICS_PORT            ... then scrape 127.0.0.1:METRICS_PORT
#   ops/ci/check-prometheus.sh --start-broker JAR      ... then start JAR on free ports with
#                                                      a temporary store, scrape it, stop it
#
# Installs the `prometheus` package when run as root and promtool is missing. Bounded in
# time (about 3 minutes at worst), cleans up what it starts, exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "check-prometheus: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

metrics_port=""
broker_jar=""
case "${1:-}" in
  "") ;;
  --start-broker) broker_jar="${2:?--start-broker needs the broker jar}"; [ -f "$broker_jar" ] || fail "no jar at $broker_jar" ;;
  *[!0-9]*) fail "usage: $0 [METRICS_PORT | --start-broker JAR]" ;;
  *) metrics_port="$1" ;;
esac

# --- tools ------------------------------------------------------------------------------
need_pkgs=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || need_pkgs+=(prometheus)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v jq >/dev/null || need_pkgs+=(jq)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing ${need_pkgs[*]} and not root to install them"
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; }
fi
# Debian's package enables a prometheus service on :9090; this script never uses it, and
# stops it so that it does not scrape or hold ports during the tests.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
  systemctl disable prometheus >/dev/null 2>&1 || true
fi
promtool="$(command -v promtool)"
prometheus_bin="$(command -v prometheus)"
log "$("$prometheus_bin" --version 2>&1 | head -n 1)"

# --- static checks ----------------------------------------------------------------------
"$promtool" check config ops/prometheus/prometheus.yml
"$promtool" check rules ops/prometheus/alerts.yml
"$promtool" test rules ops/prometheus/alerts.test.yml
"$promtool" check rules ops/prometheus/cluster-alerts.yml
"$promtool" test rules ops/prometheus/cluster-alerts.test.yml

[ -n "$metrics_port" ] || [ -n "$broker_jar" ] || { log "static checks passed (no broker given)"; exit 0; }

# --- live scrape ------------------------------------------------------------------------
work="$(mktemp -d)"
prom_pid=""
broker_pid=""
cleanup() {
  for pid in "$prom_pid" "$broker_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every half second.
wait_for() {
  local deadline=$(( SECONDS + $1 )) what="$2" rc; shift 2
  while true; do
    rc=0; "$@" || rc=$?
    [ "$rc" -eq 0 ] && break
    [ "$rc" -ne 2 ] || { log "$what: the process exited"; return 1; }  # 2 = gave up
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
  log "$what: ok"
}

if [ -n "$broker_jar" ]; then
  mqtt_port="$(free_port)"; metrics_port="$(free_port)"
  mkdir -p "$work/broker-data"
  cat > "$work/broker.conf" <<CONF
host 127.0.0.1
port $mqtt_port
metrics_endpoint_port $metrics_port
data_path $work/broker-data
allow_anonymous true
CONF
  log "starting broker $broker_jar (mqtt $mqtt_port, metrics $metrics_port)"
  java -Xmx256m -jar "$broker_jar" --config "$work/broker.conf" >"$work/broker.log" 2>&1 &
  broker_pid=$!
  broker_ready() { kill -0 "$broker_pid" 2>/dev/null || return 2; curl -fsS "http://127.0.0.1:$metrics_port/ready" >/dev/null 2>&1; }
  if ! wait_for 90 "broker /ready" broker_ready; then
    tail -n 50 "$work/broker.log" >&2 || true
    fail "broker was not ready on $metrics_port within 90 s"
  fi
fi

curl -fsS --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" \
  || fail "no /metrics on 127.0.0.1:$metrics_port"
log "broker exports $(grep -c '^durablemq_' "$work/metrics.txt" || true) durablemq_ samples"

prom_port="$(free_port)"
cat > "$work/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/ops/prometheus/alerts.yml
scrape_configs:
  - job_name: durablemq
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
CONF
"$promtool" check config "$work/prometheus.yml" >/dev/null
log "starting prometheus on 127.0.0.1:$prom_port"
"$prometheus_bin" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!

prom_ready() { kill -0 "$prom_pid" 2>/dev/null || return 2; curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; }
wait_for 30 "prometheus ready" prom_ready || { tail -n 30 "$work/prometheus.log" >&2; fail "prometheus did not become ready"; }

# query_has_result PROMQL: true when the instant query returns at least one series.
query_has_result() {
  curl -fsS --max-time 5 -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" \
    >"$work/answer.json" 2>/dev/null || return 1
  grep -q '"status":"success"' "$work/answer.json" && grep -q '"result":\[{' "$work/answer.json"
}
for q in 'up{job="durablemq"} == 1' 'durablemq_sessions' 'process_uptime_seconds' 'count({__name__=~"durablemq_.+"})'; do
  if ! wait_for 45 "query $q" query_has_result "$q"; then
    cat "$work/answer.json" >&2 2>/dev/null || true
    curl -fsS "http://127.0.0.1:$prom_port/api/v1/targets" >&2 2>/dev/null || true
    fail "prometheus has no result for: $q"
  fi
  log "  -> $(cat "$work/answer.json")"
done
# Every dashboard query must be valid PromQL for the real engine (Grafana's variables are
# replaced by what they expand to); promtool sees only the rules, not the dashboard.
n=0
while IFS= read -r expr; do
  q="${expr//\$__rate_interval/1m}"; q="${q//\$instance/.*}"; q="${q//\$job/.*}"
  curl -sS --max-time 5 -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$q" >"$work/answer.json" \
    || fail "query failed: $q"
  grep -q '"status":"success"' "$work/answer.json" || { cat "$work/answer.json" >&2; fail "dashboard query rejected: $expr"; }
  n=$((n + 1))
done < <(jq -r '.. | objects | select(has("expr")) | .expr' ops/grafana/durablemq-dashboard.json)
[ "$n" -ge 20 ] || fail "only $n dashboard queries found"
log "all $n dashboard queries accepted by prometheus"
# The rules loaded into the live server must evaluate without errors against real series.
curl -fsS --max-time 5 "http://127.0.0.1:$prom_port/api/v1/rules" >"$work/rules.json"
if grep -q '"health":"err"' "$work/rules.json"; then cat "$work/rules.json" >&2; fail "a rule failed to evaluate"; fi
log "live scrape passed"
