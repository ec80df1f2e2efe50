#!/usr/bin/env bash
# The clients off the broker's core: P = broker on CPU 0, load tool on CPU 1 (taskset); U = unpinned, as every
# earlier run. DurableMQ (main's jar, 0180323) and Mosquitto 2.0.11, QoS 2 @2000 and QoS 1 @4000, 16 pairs.
set -u
cd /work/main
OUT=/tmp/s31/pinned
for r in 1 2 3; do
  case $r in 1) order="DP MP DU MU";; 2) order="MP DP MU DU";; 3) order="DP MP DU MU";; esac
  for n in $order; do
    cpus=""; [ "${n:1:1}" = P ] && cpus=P
    if [ -n "$cpus" ]; then export BROKER_CPUS=0 LOADGEN_CPUS=1; else unset BROKER_CPUS LOADGEN_CPUS; fi
    if [ "${n:0:1}" = M ]; then
      LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000,1 4000" benchmarks/scripts/fixed-rate-mosquitto.sh "$OUT/r$r/$n" > "$OUT/r$r-$n.out" 2>&1
    else
      LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000,1 4000" \
        benchmarks/scripts/fixed-rate-stages.sh /tmp/s31/jars/A.jar "$n" "$OUT/r$r" > "$OUT/r$r-$n.out" 2>&1
    fi
  done
done
echo done > $OUT/DONE
