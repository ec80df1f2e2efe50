#!/usr/bin/env bash
# All arms with 2 event loops: A (main), B (brief ride 1000 us), C (brief ride 250 us); M Mosquitto. QoS 2 @2000.
set -u
cd /work/main
OUT=/tmp/s31/brief2
for r in 1 2 3; do
  case $r in 1) order="A B M C";; 2) order="C M B A";; 3) order="B A C M";; esac
  for n in $order; do
    if [ "$n" = M ]; then
      LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" benchmarks/scripts/fixed-rate-mosquitto.sh "$OUT/r$r/M" > "$OUT/r$r-M.out" 2>&1
    else
      opts="-Dio.netty.eventLoopThreads=2"; jar=A
      [ "$n" = B ] && { opts="$opts -Ddurablemq.experiment.brief=true"; jar=B; }
      [ "$n" = C ] && { opts="$opts -Ddurablemq.experiment.brief=true -Ddurablemq.experiment.briefMicros=250"; jar=B; }
      BROKER_JAVA_OPTS="$opts" LOADGEN=/tmp/s31/jars/loadgen.jar LOADGEN_WARMUP=20s SPECS="2 2000" \
        benchmarks/scripts/fixed-rate-stages.sh /tmp/s31/jars/$jar.jar "$n" "$OUT/r$r" > "$OUT/r$r-$n.out" 2>&1
    fi
  done
done
echo done > $OUT/DONE
