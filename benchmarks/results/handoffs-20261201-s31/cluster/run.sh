#!/usr/bin/env bash
# Cluster vs single, QoS 1, in a quieter window than s30's: A = as shipped, S = followers skip the store apply
# (the UNSAFE upper bound of s30, skip-follower-apply.diff, flag on the three nodes only). Order A S S A.
set -u
cd /tmp/s31/wt
OUT=/tmp/s31/cluster; mkdir -p $OUT
base="-Xmx512m -XX:MaxGCPauseMillis=5"
i=0
for arm in A S S A; do
  i=$((i+1))
  case $arm in
    A) copts="$base" ;;
    S) copts="$base -Ddurablemq.experiment.skipFollowerApply=true" ;;
  esac
  DURABLEMQ_JAVA_OPTS="$base" benchmarks/scripts/cluster-vs-single.sh --rounds 2 --warmups 6 --qos 1 \
    --cluster-java-opts "$copts" --out "$OUT/$i-$arm" > "$OUT/$i-$arm.log" 2>&1
done
echo done > $OUT/DONE
