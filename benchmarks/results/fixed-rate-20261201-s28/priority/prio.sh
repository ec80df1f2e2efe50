#!/bin/bash
# prio.sh NICE LABEL : broker at nice NICE (negative = higher priority), load tool at 0; QoS 2 @2000 x3 after warm-up
n=$1; label=$2
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(fp); mport=$(fp); d=/tmp/s28/prio-$label; rm -rf $d; mkdir -p $d
printf 'host 127.0.0.1\nport %s\ndata_path %s\ndurability fsync\nmetrics_endpoint_port %s\n' $port $d/data $mport > $d/b.conf
nice -n $n java -XX:+ExitOnOutOfMemoryError -Xmx512m -XX:MaxGCPauseMillis=5 -jar /tmp/s28/main.jar --config $d/b.conf > $d/b.log 2>&1 &
b=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.3; done
for q in 1 2; do java -jar /tmp/s28/loadgen.jar -b tcp://127.0.0.1:$port -s pairs -P 16 -q $q -d 10s --warmup 0s > /dev/null 2>&1; done
for r in 1 2 3; do
  java -jar /tmp/s28/loadgen.jar -b tcp://127.0.0.1:$port --label $label -s pairs -P 16 -q 2 --rate 2000 -d 10s --warmup 2s --json $d/q2-$r.json > /dev/null 2>&1
  java -jar /tmp/s28/loadgen.jar -b tcp://127.0.0.1:$port --label $label -s pairs -P 16 -q 1 --rate 2000 -d 10s --warmup 2s --json $d/q1-$r.json > /dev/null 2>&1
done
kill $b; wait $b 2>/dev/null; rm -rf $d/data
python3 - $d $label <<'P'
import json,sys,glob
for q in (1,2):
  v=[json.load(open(f))['latencyMillis'] for f in sorted(glob.glob(sys.argv[1]+f'/q{q}-*.json'))]
  print(sys.argv[2], f'QoS {q} @2000 p99', ' '.join('%.2f'%x['p99'] for x in v), ' p50', ' '.join('%.2f'%x['p50'] for x in v))
P
