#!/usr/bin/env bash
# Where a publish's time went, from a DurableMQ /metrics scrape (a file or a URL):
#   benchmarks/scripts/stages.sh results/dir/durablemq-fsync.metrics.txt
#   benchmarks/scripts/stages.sh http://127.0.0.1:9400/metrics
# Per stage of a QoS 1/2 publish (durablemq_publish_stage_seconds{stage}) and write+fsync
# (durablemq_commit_latency_seconds): count, mean, and p50 / p99 read from the cumulative
# histogram buckets: the upper bound of the bucket that holds the quantile (Micrometer's
# buckets are about 10-30 % apart, so that is the precision). The figures cover the broker's
# whole life, not one run: scrape a fresh broker, or give two scrapes (before and after a run)
# to see only what happened between them:
#   benchmarks/scripts/stages.sh before.metrics.txt after.metrics.txt
# batch_wait and write+fsync count batches, the other stages messages. The publisher's side ends
# with completion, loop_hop, send (its PUBACK / PUBREC); the subscriber's side is deliver_wait,
# deliver_hop, deliver (its PUBLISH), and deliver_total spans it from the message taken into the
# subscriber's window (engine/README.md "Where a publish's time goes").
set -euo pipefail
src="${1:?usage: stages.sh METRICS_FILE_OR_URL [LATER_METRICS_FILE_OR_URL]}"
scrape() { if [[ "$1" == http* ]]; then curl -s --max-time 5 "$1"; else cat "$1"; fi; }
# With two scrapes the first one's lines are marked "-" and subtracted.
text="$(if [[ $# -ge 2 ]]; then scrape "$src" | sed 's/^/- /'; scrape "$2"; else scrape "$src"; fi)"
printf '%s\n' "$text" | awk '
function us(s) { return s >= 1e300 ? "+Inf" : sprintf("%.0f", s * 1e6) }
{ sign = 1; if ($1 == "-") { sign = -1; $0 = substr($0, 3) } }
/^durablemq_(publish_stage|commit_latency)_seconds_(bucket|count|sum)[{ ]/ {
  name = $1; value = sign * $2
  stage = "write+fsync"
  if (match(name, /stage="[a-z_]+"/)) stage = substr(name, RSTART + 7, RLENGTH - 8)
  if (name ~ /_bucket\{/) {
    if (!match(name, /le="[^"]+"/)) next
    le = substr(name, RSTART + 4, RLENGTH - 5)
    if (!((stage, le) in idx)) { idx[stage, le] = ++n[stage]; les[stage, n[stage]] = (le == "+Inf") ? 1e300 : le + 0 }
    cum[stage, idx[stage, le]] += value
  } else if (name ~ /_count($|\{)/) { count[stage] += value } else { sum[stage] += value }
}
END {
  split("decode route batch_wait write+fsync completion loop_hop send deliver_wait deliver_hop deliver deliver_total", order, " ")
  printf "%-13s %10s %10s %10s %10s\n", "stage", "count", "mean_us", "p50_us", "p99_us"
  for (i = 1; i <= 11; i++) {
    s = order[i]; if (!(s in count)) continue
    p50 = "-"; p99 = "-"
    if (count[s] > 0) {
      for (j = 1; j <= n[s]; j++) { if (p50 == "-" && cum[s, j] >= 0.5 * count[s]) p50 = us(les[s, j]); if (p99 == "-" && cum[s, j] >= 0.99 * count[s]) p99 = us(les[s, j]) }
    }
    mean = "-"; if (count[s] > 0) mean = us(sum[s] / count[s])
    printf "%-13s %10d %10s %10s %10s\n", s, count[s], mean, p50, p99
  }
}'
