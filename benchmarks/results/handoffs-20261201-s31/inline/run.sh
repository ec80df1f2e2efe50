#!/usr/bin/env bash
# A (main) vs I (experiment: an event loop writes the open batch itself at the end of a read when the committer is idle),
# I2 (the same with 2 event loops), M Mosquitto. QoS 2 @2000, 16 pairs.
set -u
cd /work/main
OUT=/tmp/s31/inline
for r in 1 2 3; do
  case $r in 1) order="A I M I2";; 2) order="I2 M I A";; 3) order="I A I2 M";; esac
  for n in $order; do
    if [ "$n" = M ]; then
      LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" benchmarks/scripts/fixed-rate-mosquitto.sh "$OUT/r$r/M" > "$OUT/r$r-M.out" 2>&1
    else
      opts=""; jar=A
      [ "$n" = I ] && { opts="-Ddurablemq.experiment.inline=true"; jar=C; }
      [ "$n" = I2 ] && { opts="-Ddurablemq.experiment.inline=true -Dio.netty.eventLoopThreads=2"; jar=C; }
      BROKER_JAVA_OPTS="$opts" LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" \
        benchmarks/scripts/fixed-rate-stages.sh /tmp/s31/jars/$jar.jar "$n" "$OUT/r$r" > "$OUT/r$r-$n.out" 2>&1
    fi
  done
done
echo done > $OUT/DONE
