#!/usr/bin/env bash
# Single node vs 3-node cluster leader: TCP segments per message at full QoS 1 speed (16 pairs).
set -u
cd /work/main
OUT=/tmp/s31/segs; LG=/tmp/s31/jars/loadgen.jar; JAR=/tmp/s31/jars/A.jar
cap() { # port label
  java -jar $LG -b tcp://127.0.0.1:$1 -s pairs -P 16 -q 1 -d 20s --warmup 10s --label $2 > $OUT/$2.lg.txt 2>&1 &
  lg=$!
  sleep 16; timeout 3 tcpdump -i lo -s 0 -w $OUT/$2.pcap "tcp port $1" > /dev/null 2>&1
  wait $lg
  python3 $OUT/segs.py $OUT/$2.pcap $1 > $OUT/$2.segs.txt
}
# single
d=$(mktemp -d); printf 'host 127.0.0.1\nport 1893\ndata_path %s\ndurability fsync\nmetrics_endpoint_port 9493\n' $d > $OUT/single.conf
java -XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5 -jar $JAR --config $OUT/single.conf > $OUT/single.log 2>&1 &
b=$!; for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/1893) 2>/dev/null && break; sleep 0.3; done
java -jar $LG -b tcp://127.0.0.1:1893 -s pairs -P 16 -q 1 -d 10s --warmup 0s > /dev/null 2>&1
cap 1893 single
kill $b; wait $b; rm -rf $d
# cluster
rm -rf $OUT/cl; ops/cluster/local-cluster.sh start $OUT/cl > $OUT/cluster-start.txt 2>&1
lp=$(grep -oE "127.0.0.1:188[345]" $OUT/cluster-start.txt | head -1 | cut -d: -f2)
[ -z "$lp" ] && lp=$(for p in 1883 1884 1885; do i=$((p-1883)); curl -fs http://127.0.0.1:940$i/ready >/dev/null 2>&1 && echo $p; done | head -1)
echo "leader port $lp" >> $OUT/cluster-start.txt
java -jar $LG -b tcp://127.0.0.1:$lp -s pairs -P 16 -q 1 -d 10s --warmup 0s > /dev/null 2>&1
cap $lp cluster
ops/cluster/local-cluster.sh stop $OUT/cl > /dev/null 2>&1
echo done > $OUT/DONE
