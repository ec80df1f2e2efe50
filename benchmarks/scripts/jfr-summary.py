#!/usr/bin/env python3
"""Where a JVM's CPU went in a JFR recording (cluster-vs-single.sh --profile-leader).

    jfr-summary.py RECORDING.jfr [TOP] [SINCE_EPOCH_SECONDS]

Reads jdk.ExecutionSample (threads running Java code; JIT-compiled native calls such as a
RocksDB JNI write show as their Java caller's frame on top only while in Java, so the native
time itself is not here: the per-thread CPU in the .cpu.json files covers it) and prints:
samples per thread name, per top frame (self), and per area (inclusive: a sample counts for the
first area whose package appears anywhere in its stack, in the order below).
"""
import collections, datetime, json, subprocess, sys

AREAS = [  # (area, frame prefixes): first match from the top of the stack wins
    ("Ratis log write (segmented log, its worker, checksum)", ("org.apache.ratis.server.raftlog",)),
    ("replication transport (gRPC / Netty, protobuf)", ("org.apache.ratis.grpc", "org.apache.ratis.thirdparty.io.grpc",
                                                        "org.apache.ratis.thirdparty.io.netty", "org.apache.ratis.thirdparty.com.google.protobuf")),
    ("Ratis server other (leader state, appenders, state machine updater)", ("org.apache.ratis",)),
    ("DurableMQ cluster (state machine apply, batch codec)", ("io.durablemq.cluster",)),
    ("RocksDB (Java side of JNI calls)", ("org.rocksdb",)),
    ("DurableMQ engine", ("io.durablemq.engine",)),
    ("MQTT adapter / Netty I/O", ("io.durablemq.mqtt", "io.netty")),
    ("JDK only", ("java.", "jdk.", "sun.")),
]


def frames_of(event):
    st = event["values"].get("stackTrace") or {}
    out = []
    for f in st.get("frames", []):
        m = f["method"]
        out.append(f'{m["type"]["name"]}.{m["name"]}'.replace("/", "."))
    return out


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    raw = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample", path],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(raw)["recording"]["events"]
    if len(sys.argv) > 3:  # only the samples from that second on ("2026-11-30T08:08:52.852216204Z")
        since = float(sys.argv[3])
        stamp = lambda e: datetime.datetime.strptime(e["values"]["startTime"][:19], "%Y-%m-%dT%H:%M:%S") \
            .replace(tzinfo=datetime.timezone.utc).timestamp()
        events = [e for e in events if stamp(e) >= since]
    n = len(events)
    by_thread, by_self, by_area = collections.Counter(), collections.Counter(), collections.Counter()
    for e in events:
        t = e["values"].get("sampledThread") or {}
        by_thread[t.get("javaName") or t.get("osName") or "?"] += 1
        frames = frames_of(e)
        by_self[frames[0] if frames else "?"] += 1
        area = "other"
        for name, prefixes in AREAS:
            if any(fr.startswith(prefixes) for fr in frames):
                area = name
                break
        by_area[area] += 1
    print(f"{path}: {n} execution samples (threads in Java code)")
    for title, counter in (("by area (inclusive, first match in the list)", by_area),
                           ("by thread", by_thread), ("by top frame (self)", by_self)):
        print(f"\n{title}:")
        for k, v in counter.most_common(top):
            print(f"  {100.0 * v / max(n, 1):5.1f} %  {v:6d}  {k}")


if __name__ == "__main__":
    main()
