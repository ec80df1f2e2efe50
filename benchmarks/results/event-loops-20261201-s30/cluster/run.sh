#!/usr/bin/env bash
# Cluster vs single, QoS 1: A = default (Netty's 2 x cores = 4 event loops), B = 2 event loops (all JVMs),
# C = 2 event loops + followers skip the store apply (UNSAFE upper bound, worktree flag). Order A B C C B A.
set -u
cd /tmp/s30/wt
OUT=/tmp/s30/cluster; mkdir -p $OUT
base="-Xmx512m -XX:MaxGCPauseMillis=5"
i=0
for arm in A B C C B A; do
  i=$((i+1))
  case $arm in
    A) opts="$base"; copts="$base" ;;
    B) opts="$base -Dio.netty.eventLoopThreads=2"; copts="$opts" ;;
    C) opts="$base -Dio.netty.eventLoopThreads=2"; copts="$opts -Ddurablemq.experiment.skipFollowerApply=true" ;;
  esac
  DURABLEMQ_JAVA_OPTS="$opts" benchmarks/scripts/cluster-vs-single.sh --rounds 2 --warmups 6 --qos 1 \
    --cluster-java-opts "$copts" --out "$OUT/$i-$arm" > "$OUT/$i-$arm.log" 2>&1
done
echo done > $OUT/DONE
