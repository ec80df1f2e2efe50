#!/usr/bin/env bash
# QoS 2 @2000 with the broker's event loops at 4 (Netty default on 2 vCPUs), 2, 1; rounds alternate order.
set -u
cd /work/main
OUT=/tmp/s30/loops
mkdir -p $OUT
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="4 2 1"; else order="1 2 4"; fi
  for n in $order; do
    BROKER_JAVA_OPTS="-Dio.netty.eventLoopThreads=$n" LOADGEN_WARMUP=20s SPECS="2 2000,2 2000" WARMUP_QOS=2 \
      benchmarks/scripts/fixed-rate-stages.sh mqtt-adapter/target/durablemq-broker.jar "L$n" "$OUT/r$r" > "$OUT/r$r-L$n.out" 2>&1
  done
done
echo done > $OUT/DONE
