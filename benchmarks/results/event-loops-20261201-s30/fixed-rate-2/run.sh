#!/usr/bin/env bash
# Series 2: event loops 2 vs 4 (default) and Mosquitto, QoS 2 @2000 and QoS 1 @4000, rounds alternate order.
set -u
cd /work/main
OUT=/tmp/s30/loops2
mkdir -p $OUT
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="4 M 2"; else order="2 M 4"; fi
  for n in $order; do
    if [ "$n" = M ]; then
      LOADGEN_WARMUP=20s SPECS="2 2000,1 4000" benchmarks/scripts/fixed-rate-mosquitto.sh "$OUT/r$r/M" > "$OUT/r$r-M.out" 2>&1
    else
      BROKER_JAVA_OPTS="-Dio.netty.eventLoopThreads=$n" LOADGEN_WARMUP=20s SPECS="2 2000,1 4000" \
        benchmarks/scripts/fixed-rate-stages.sh mqtt-adapter/target/durablemq-broker.jar "L$n" "$OUT/r$r" > "$OUT/r$r-L$n.out" 2>&1
    fi
  done
done
echo done > $OUT/DONE
