#!/usr/bin/env bash
# Cluster vs single, QoS 1: N = Ratis over Netty (as shipped), G = Ratis over gRPC (worktree flag). Order N G G N.
set -u
cd /tmp/s30/wt2
OUT=/tmp/s30/grpc; mkdir -p $OUT
base="-Xmx512m -XX:MaxGCPauseMillis=5"
i=${START:-0}
for arm in ${ARMS:-N G G N}; do
  i=$((i+1))
  case $arm in
    N) copts="$base" ;;
    G) copts="$base -Ddurablemq.experiment.grpc=true" ;;
  esac
  DURABLEMQ_JAVA_OPTS="$base" benchmarks/scripts/cluster-vs-single.sh --rounds 2 --warmups 6 --qos 1 \
    --cluster-java-opts "$copts" --out "$OUT/$i-$arm" > "$OUT/$i-$arm.log" 2>&1
done
echo done > $OUT/DONE
