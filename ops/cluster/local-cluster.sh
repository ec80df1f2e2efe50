#!/usr/bin/env bash
# A three-node DurableMQ cluster on this machine (docs/CLUSTER.md, ops/README.md "Running a cluster").
#   local-cluster.sh start [DIR]   start nodes n1 n2 n3 (data under DIR, default ./cluster-data),
#                                  wait for a leader and print it; fails naming any node that is not up
#   local-cluster.sh stop [DIR]    stop them (SIGTERM, then SIGKILL after 20 s)
#   local-cluster.sh status [DIR]  each node's process, role, term and indexes
# Node nI: MQTT 127.0.0.1:188(2+I), metrics 127.0.0.1:94(I-1)0 -> 9400/9401/9402, Raft 127.0.0.1:987I.
# Ports can be moved with MQTT_PORTS, METRICS_PORTS, RAFT_PORTS ("a b c"); DURABILITY=fsync|os;
# EXTRA_CONF: more config lines for every node (e.g. "commit_batches_in_flight 2").
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
cmd="${1:-}"
dir="${2:-./cluster-data}"
read -r -a mqtt <<<"${MQTT_PORTS:-1883 1884 1885}"
read -r -a metrics <<<"${METRICS_PORTS:-9400 9401 9402}"
read -r -a raft <<<"${RAFT_PORTS:-9871 9872 9873}"
durability="${DURABILITY:-fsync}"

usage() { sed -n '2,10p' "$0" >&2; exit 2; }

http_get() { # host:port path -> prints body, returns curl's status (0 = 2xx)
  curl -fsS --max-time 2 "http://$1$2" 2>/dev/null
}

alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

leader() { # prints "nI mqtt-port" of the node whose /ready says 200
  for i in 0 1 2; do
    if http_get "127.0.0.1:${metrics[$i]}" /ready >/dev/null; then
      echo "n$((i + 1)) ${mqtt[$i]}"
      return 0
    fi
  done
  return 1
}

start() {
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  peers="n1=127.0.0.1:${raft[0]},n2=127.0.0.1:${raft[1]},n3=127.0.0.1:${raft[2]}"
  addresses="n1=127.0.0.1:${mqtt[0]},n2=127.0.0.1:${mqtt[1]},n3=127.0.0.1:${mqtt[2]}"
  "$root/bin/durablemq" --version >/dev/null # builds the jar once, before three nodes would race to
  for i in 0 1 2; do
    node="$dir/n$((i + 1))"
    mkdir -p "$node"
    if alive "$node"; then
      echo "n$((i + 1)) already runs (pid $(cat "$node/pid"))"
      continue
    fi
    cat >"$node/durablemq.conf" <<CONF
# written by ops/cluster/local-cluster.sh
host 127.0.0.1
port ${mqtt[$i]}
metrics_endpoint_port ${metrics[$i]}
data_path $node/data
durability $durability
allow_anonymous true
cluster_node_id n$((i + 1))
cluster_peers $peers
cluster_mqtt_addresses $addresses
cluster_storage_path $node/raft
CONF
    [ -n "${EXTRA_CONF:-}" ] && printf '%s\n' "$EXTRA_CONF" >>"$node/durablemq.conf"
    nohup "$root/bin/durablemq" --config "$node/durablemq.conf" >>"$node/broker.log" 2>&1 &
    echo $! >"$node/pid"
    echo "n$((i + 1)) started (pid $!, mqtt 127.0.0.1:${mqtt[$i]}, metrics ${metrics[$i]}, log $node/broker.log)"
  done
  for _ in $(seq 1 120); do
    if l="$(leader)"; then
      set -- $l
      echo "leader: $1 (mqtt 127.0.0.1:$2)"
      all_up
      return
    fi
    sleep 0.5
  done
  echo "no leader after 60 s; see $dir/n*/broker.log" >&2
  return 1
}

# Every node must be up, not only a majority: a node that failed to start (its Raft port taken, a
# folder it cannot write) leaves two nodes that elect a leader and serve, but survive no further
# failure. Waits up to 60 s for each node's metrics endpoint; names any node that died or never answers.
all_up() {
  local i node failed=0
  for i in 0 1 2; do
    node="$dir/n$((i + 1))"
    for _ in $(seq 1 120); do
      alive "$node" || break
      http_get "127.0.0.1:${metrics[$i]}" /cluster >/dev/null && break
      sleep 0.5
    done
    if ! alive "$node"; then
      echo "n$((i + 1)) is not running; the last error in $node/broker.log:" >&2
      awk '/ ERROR /{e=$0; c=""} /^Caused by:/ && c=="" {c=$0} END{print "  " substr(e, 1, 300); if (c != "") print "  " substr(c, 1, 300)}' "$node/broker.log" >&2
      failed=1
    elif ! http_get "127.0.0.1:${metrics[$i]}" /cluster >/dev/null; then
      echo "n$((i + 1)) runs but its metrics endpoint (127.0.0.1:${metrics[$i]}) does not answer; see $node/broker.log" >&2
      failed=1
    fi
  done
  return $failed
}

stop() {
  for i in 1 2 3; do
    node="$dir/n$i"
    if alive "$node"; then
      kill -TERM "$(cat "$node/pid")"
    fi
  done
  for i in 1 2 3; do
    node="$dir/n$i"
    for _ in $(seq 1 40); do alive "$node" || break; sleep 0.5; done
    if alive "$node"; then
      echo "n$i did not stop in 20 s: SIGKILL" >&2
      kill -KILL "$(cat "$node/pid")"
    fi
    rm -f "$node/pid"
    echo "n$i stopped"
  done
}

status() {
  for i in 0 1 2; do
    node="$dir/n$((i + 1))"
    if alive "$node"; then
      state="$(http_get "127.0.0.1:${metrics[$i]}" /cluster | tr '\n' ' ' || true)"
      echo "n$((i + 1)) pid $(cat "$node/pid") ${state:-(metrics endpoint not answering)}"
    else
      echo "n$((i + 1)) not running"
    fi
  done
  if l="$(leader)"; then set -- $l; echo "leader: $1 (mqtt 127.0.0.1:$2)"; else echo "leader: none serving"; fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
