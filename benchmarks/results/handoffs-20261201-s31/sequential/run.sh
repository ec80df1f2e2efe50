#!/usr/bin/env bash
# One QoS 2 publisher with a window of 1 (each PUBLISH waits for the last PUBCOMP): A (main) vs B (brief ride 1 ms) vs C (250 us).
set -u
OUT=/tmp/s31/seq; LG=/tmp/s31/jars/loadgen.jar
for r in 1 2; do for n in A B C; do
  opts=""; jar=A
  [ $n = B ] && { opts="-Ddurablemq.experiment.brief=true"; jar=B; }
  [ $n = C ] && { opts="-Ddurablemq.experiment.brief=true -Ddurablemq.experiment.briefMicros=250"; jar=B; }
  d=$(mktemp -d); printf 'host 127.0.0.1\nport 1894\ndata_path %s\ndurability fsync\nmetrics_endpoint_port 9494\n' $d > $OUT/b.conf
  java -Xmx512m $opts -jar /tmp/s31/jars/$jar.jar --config $OUT/b.conf > $OUT/r$r-$n.log 2>&1 & b=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/1894) 2>/dev/null && break; sleep 0.3; done
  java -jar $LG -b tcp://127.0.0.1:1894 -s pairs -P 16 -q 2 -d 5s --warmup 0s > /dev/null 2>&1
  java -jar $LG -b tcp://127.0.0.1:1894 -s pairs -P 1 -q 2 -w 1 -d 10s --warmup 3s --label "$n" > $OUT/r$r-$n.txt 2>&1
  kill $b; wait $b 2>/dev/null; rm -rf $d
done; done
echo done > $OUT/DONE
