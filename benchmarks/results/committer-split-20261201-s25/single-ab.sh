#!/bin/bash
# usage: single-ab.sh JAR LABEL -> appends to ${OUT:-/tmp/single-ab}/summary.txt
set -u
jar=$1; label=$2
d=${OUT:-/tmp/single-ab}/$label; rm -rf $d; mkdir -p $d
cat > $d/conf <<C
host 127.0.0.1
port 18830
data_path $d/data
durability fsync
metrics_endpoint_port 19830
C
java -Xmx512m -XX:MaxGCPauseMillis=5 -jar $jar --config $d/conf > $d/broker.log 2>&1 &
pid=$!
for i in $(seq 1 60); do (echo > /dev/tcp/127.0.0.1/18830) 2>/dev/null && break; sleep 0.5; done
lg=${LOADGEN:-benchmarks/target/durablemq-loadgen.jar}
java -jar $lg -b tcp://127.0.0.1:18830 -s pairs -P 4 -q 1 -d 8s > $d/warm.txt 2>&1
for q in 1 2; do
  java -jar $lg -b tcp://127.0.0.1:18830 -s pairs -P 4 -q $q -d 10s > $d/q$q.txt 2>&1
  echo "$label q$q | $(grep -E 'acknowledged .* msg/s' $d/q$q.txt | head -1 | sed 's/  */ /g') | $(grep 'latency ms' $d/q$q.txt | tail -1 | sed 's/  */ /g') | $(grep ' lost ' $d/q$q.txt | tail -1 | sed 's/  */ /g' | grep -o 'lost [0-9]* duplicates [0-9]*') | $(uptime | sed 's/.*load/load/')" >> ${OUT:-/tmp/single-ab}/summary.txt
done
kill $pid; wait $pid 2>/dev/null
