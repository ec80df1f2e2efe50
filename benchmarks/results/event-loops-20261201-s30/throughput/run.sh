#!/usr/bin/env bash
# Full-speed throughput, 16 pairs, fsync, event loops 2 vs 4; 3 rounds alternating; each start: 10 s warm-up per QoS, then QoS 1, QoS 2 measured twice.
set -u
cd /work/main
OUT=/tmp/s30/tput; mkdir -p $OUT
LG=benchmarks/target/durablemq-loadgen.jar
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="4 2"; else order="2 4"; fi
  for n in $order; do
    port=$(free_port); data=$(mktemp -d)
    printf 'host 127.0.0.1\nport %s\ndata_path %s\ndurability fsync\nmetrics_endpoint_port 0\n' $port $data > $OUT/L$n.conf
    java -XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5 -Dio.netty.eventLoopThreads=$n -jar mqtt-adapter/target/durablemq-broker.jar --config $OUT/L$n.conf > $OUT/r$r-L$n.broker.log 2>&1 &
    b=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.3; done
    for q in 1 2; do java -jar $LG -b tcp://127.0.0.1:$port -s pairs -P 16 -q $q -d 10s --warmup 0s >/dev/null 2>&1; done
    for k in 1 2; do for q in 1 2; do
      echo "r$r L$n q$q k$k $(uptime | sed 's/.*load/load/')" >> $OUT/runs.txt
      java -jar $LG -b tcp://127.0.0.1:$port -s pairs -P 16 -q $q -d 10s --json $OUT/r$r-L$n-q$q-k$k.json > $OUT/r$r-L$n-q$q-k$k.txt 2>&1
      grep -E "acknowledged .* msg/s|latency ms" $OUT/r$r-L$n-q$q-k$k.txt | head -2 >> $OUT/runs.txt
    done; done
    kill $b; wait $b 2>/dev/null; rm -rf $data
  done
done
echo done > $OUT/DONE
