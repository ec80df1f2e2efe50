#!/usr/bin/env bash
# Runs the JMH benchmarks of the engine.
#
#   benchmarks/scripts/jmh.sh              all benchmarks, full settings (about an hour on 2 cores)
#   benchmarks/scripts/jmh.sh --quick      all benchmarks, 1 fork, 1 warmup + 2 measured 2 s iterations (a few minutes)
#   benchmarks/scripts/jmh.sh --figures    the issue-2 figures: commits/s in fsync mode with 1, 16, 256
#                                          publishers beside the raw fsync rate, and recovery of
#                                          1,000,000 queued messages across 1,000 sessions
#   benchmarks/scripts/jmh.sh [--quick] REGEX [JMH options...]   a subset, e.g. Handshake -p qos=2
#
# Results: JSON in benchmarks/results/jmh-<time>.json and the console table in the matching .txt.
# Scratch stores go to $DURABLEMQ_BENCH_DIR (default: the system temp folder); keep it on the
# disk you want to measure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
jar="$root/benchmarks/target/benchmarks.jar"
results="$root/benchmarks/results"

mode=full
if [[ "${1:-}" == "--quick" ]]; then mode=quick; shift; fi
if [[ "${1:-}" == "--figures" ]]; then mode=figures; shift; fi

if [[ ! -f "$jar" || -n "${REBUILD:-}" ]]; then
  (cd "$root" && mvn -B -q -pl benchmarks -am -DskipTests package)
fi

mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$results/jmh-$mode-$stamp"
# The forks inherit the environment (a -jvmArgsAppend here would replace the benchmarks' own
# heap settings, e.g. RecoveryBenchmark's -Xmx256m).
export DURABLEMQ_BENCH_DIR="${DURABLEMQ_BENCH_DIR:-${TMPDIR:-/tmp}}"
jvm=(java)
common=(-rf json -rff "$out.json")

case "$mode" in
  quick)
    args=(-f 1 -wi 1 -i 2 -r 2s -w 2s "${common[@]}" "$@")
    ;;
  figures)
    # Two runs in one results folder: the commit-path figure with its fsync baseline, then recovery.
    "${jvm[@]}" -jar "$jar" -f 1 -wi 2 -i 5 -r 5s -w 3s -rf json -rff "$out-commits.json" \
        -p durability=FSYNC "CommitBenchmark|RawFsyncBenchmark" "$@" | tee "$out-commits.txt"
    "${jvm[@]}" -jar "$jar" -f 1 -wi 1 -i 3 -rf json -rff "$out-recovery.json" \
        -p messages=1000000 -p sessions=1000 RecoveryBenchmark "$@" | tee "$out-recovery.txt"
    echo "results: $out-commits.{json,txt} $out-recovery.{json,txt}"
    exit 0
    ;;
  full)
    args=("${common[@]}" "$@")
    ;;
esac

"${jvm[@]}" -jar "$jar" "${args[@]}" | tee "$out.txt"
echo "results: $out.json $out.txt"
