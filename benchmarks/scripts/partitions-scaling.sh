#!/usr/bin/env bash
# Issue 12 target 4, step 5: the broker's throughput at engine_partitions 1 and 4, with the broker
# limited to one core and to two (taskset), alternating run by run (P=1, P=4 per core count, ROUNDS
# times), 16 pairs QoS 1 and QoS 2, DurableMQ only (the partitions change nothing in Mosquitto).
# Each run is one compare.sh run (its warm-up, 10 s measured); the table gives acknowledged msg/s.
# Env: ROUNDS [2], CPUS ["0 0,1"], PARTITIONS ["1 4"], BROKERS [durablemq-fsync], OUT [benchmarks/target/partitions-<time>].
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${OUT:-$root/benchmarks/target/partitions-$(date -u +%Y%m%d-%H%M%S)}"; mkdir -p "$out"
for round in $(seq 1 "${ROUNDS:-2}"); do
  for cpus in ${CPUS:-0 0,1}; do
    for p in ${PARTITIONS:-1 4}; do
      dir="$out/r$round-cpus${cpus/,/-}-p$p"
      echo "== round $round, broker on cpus $cpus, engine_partitions $p ($(uptime | sed 's/.*load average: //'))"
      DURABLEMQ_EXTRA_CONFIG="engine_partitions $p" "$here/compare.sh" --rounds 1 --brokers "${BROKERS:-durablemq-fsync}" \
        --only 'pairs-q1-p16$|pairs-q2-p16$' --latency-rates "" --broker-cpus "$cpus" --out "$dir" > "$dir.log" 2>&1
      python3 - "$dir" "$round" "$cpus" "$p" >> "$out/rows.tsv" <<'PY'
import json, glob, os, sys
d, rnd, cpus, p = sys.argv[1:]
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    try:
        j = json.load(open(f))
    except Exception:
        continue
    name = os.path.basename(f)
    r = j.get("results", {})
    if "acknowledgedPerSecond" not in r:
        continue
    lat = j.get("latencyMillis") or {}
    print("\t".join([rnd, cpus, p, name, str(round(r["acknowledgedPerSecond"])), str(r.get("lost")),
                     str(r.get("duplicates")), str(lat.get("p99"))]))
PY
    done
  done
done
echo "round	cpus	partitions	run	acknowledged/s	lost	duplicates	p99 ms"; cat "$out/rows.tsv"
