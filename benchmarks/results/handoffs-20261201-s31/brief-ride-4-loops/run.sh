#!/usr/bin/env bash
# A (main 0180323) vs B (brief ride of PUBREL-in / PUBREC-in, 1 ms) at QoS 2 @2000, and Mosquitto.
set -u
cd /work/main
OUT=/tmp/s31/brief
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="A M B"; else order="B M A"; fi
  for n in $order; do
    if [ "$n" = M ]; then
      LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" benchmarks/scripts/fixed-rate-mosquitto.sh "$OUT/r$r/M" > "$OUT/r$r-M.out" 2>&1
    else
      opts=""; [ "$n" = B ] && opts="-Ddurablemq.experiment.brief=true"
      BROKER_JAVA_OPTS="$opts" LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" \
        benchmarks/scripts/fixed-rate-stages.sh /tmp/s31/jars/$n.jar "$n" "$OUT/r$r" > "$OUT/r$r-$n.out" 2>&1
    fi
  done
done
echo done > $OUT/DONE
