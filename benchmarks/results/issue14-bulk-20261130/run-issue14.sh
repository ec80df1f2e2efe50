#!/usr/bin/env bash
# Waits for the quiet-machine gate, then: build 10^8, JMH recovery on it, backlog-start.sh STORE mode; then 1,000 x 10,000.
set -uo pipefail
cd /work/wt-s15-bulk
out=target/issue14-bulk
while [ ! -e /tmp/lead-ci-done ] && [ "$(date -u +%H%M)" -lt 0252 ]; do sleep 5; done
echo "$(date -u +%T) gate passed ($( [ -e /tmp/lead-ci-done ] && echo lead-ci-done || echo 02:52)); load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/driver.log
( while true; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 15; done ) >> $out/load.txt &
sampler=$!
trap 'kill $sampler' EXIT
rm -rf target/bulk-1e8
echo "$(date -u +%T) build 10000 x 10000" | tee -a $out/driver.log
/usr/bin/time -v java -Xmx512m -cp benchmarks/target/benchmarks.jar io.durablemq.bench.fill.BulkBacklogStore target/bulk-1e8 10000 10000 > $out/build-1e8.txt 2>&1
grep -v DEBUG $out/build-1e8.txt | grep "built\|Maximum resident\|Elapsed" | tee -a $out/driver.log
echo "$(date -u +%T) du $(du -sb target/bulk-1e8 | cut -f1); files $(ls target/bulk-1e8 | wc -l); load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/driver.log
echo "$(date -u +%T) JMH" | tee -a $out/driver.log
timeout 420 java -jar benchmarks/target/benchmarks.jar RecoveryBenchmark -p store=$PWD/target/bulk-1e8 -p messages=100000000 -p sessions=10000 -wi 0 -i 2 -f 1 -rf json -rff $out/jmh-recovery-1e8.json > $out/jmh-1e8.txt 2>&1
grep -v DEBUG $out/jmh-1e8.txt | grep "prebuilt\|recovered\|RecoveryBenchmark.recover \|Exception" | tee -a $out/driver.log
echo "$(date -u +%T) backlog-start STORE mode 10000 x 10000" | tee -a $out/driver.log
STORE=target/bulk-1e8 STARTS=3 WORK=$out/bl-1e8 timeout 900 benchmarks/fill/backlog-start.sh 10000 10000 > $out/bl-1e8.txt 2>&1
tail -40 $out/bl-1e8.txt >> $out/driver.log
echo "$(date -u +%T) build + backlog-start 1000 x 10000" | tee -a $out/driver.log
rm -rf target/bulk-1e7
java -Xmx512m -cp benchmarks/target/benchmarks.jar io.durablemq.bench.fill.BulkBacklogStore target/bulk-1e7 1000 10000 2>&1 | grep -v DEBUG | tee -a $out/driver.log
STORE=target/bulk-1e7 STARTS=3 WORK=$out/bl-1e7 timeout 600 benchmarks/fill/backlog-start.sh 1000 10000 > $out/bl-1e7.txt 2>&1
tail -40 $out/bl-1e7.txt >> $out/driver.log
echo "$(date -u +%T) all done" | tee -a $out/driver.log
