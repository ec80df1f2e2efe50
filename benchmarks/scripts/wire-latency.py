#!/usr/bin/env python3
"""A broker's own delivery latency, measured on the wire: from a PUBLISH arriving from a publisher to
the same message leaving for a subscriber, read from a packet capture of the broker's MQTT port on
loopback. It takes the clients out of the figure (the load tool's end-to-end latency includes both
clients' threads and queues) and it works the same for any broker, so DurableMQ and Mosquitto can be
compared without trusting either one's own metrics.

    tcpdump -i lo -s 0 -w run.pcap 'tcp port PORT' &     # around one load-tool run
    wire-latency.py run.pcap PORT [--skip SECONDS]

Messages are matched by the load tool's payload header (magic "DMQB", publisher index, sequence:
benchmarks' Payloads); other messages are ignored. A PUBLISH counts when its last byte is captured
(the segment that completes it); a repeated one (DUP) is counted at its first arrival and first
delivery. --skip leaves out messages that arrived in the first seconds of the capture (the load
tool's warm-up). Prints the count, p50 / p90 / p99 / p99.9 / max in ms, and how many arrived but
were never seen leaving (the capture ended, or the message went nowhere).
"""
import struct
import sys

MAGIC = b"DMQB"


def packets(path):
    """(timestamp seconds, src port, dst port, tcp seq, payload) of each IPv4 TCP segment with data."""
    with open(path, "rb") as f:
        head = f.read(24)
        endian = "<" if struct.unpack("<I", head[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = struct.unpack(endian + "I", head[:4])[0] == 0xA1B23C4D  # nanosecond timestamps
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        link_len = {1: 14, 113: 16, 0: 4, 276: 20}.get(linktype)
        if link_len is None:
            sys.exit("unsupported link type %d" % linktype)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            ts = sec + frac / (1e9 if nano else 1e6)
            ip = data[link_len:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            tcp = ip[ihl:total]
            if len(tcp) < 20:
                continue
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            off = (tcp[12] >> 4) * 4
            payload = tcp[off:]
            if payload:
                yield ts, sport, dport, seq, payload


class Stream:
    """One direction of one connection: bytes in order, each with the time its segment was captured."""

    def __init__(self):
        self.buf = bytearray()
        self.stamps = []  # (end offset in the stream, timestamp) per segment
        self.next_seq = None
        self.base = 0  # stream offset of buf[0]

    def add(self, ts, seq, payload):
        if self.next_seq is None:
            self.next_seq = seq
        else:
            delta = (seq - self.next_seq) & 0xFFFFFFFF
            if delta >= 0x80000000:  # an old segment (a retransmission): skip what we have
                overlap = (self.next_seq - seq) & 0xFFFFFFFF
                if overlap >= len(payload):
                    return
                payload = payload[overlap:]
            elif delta:
                sys.exit("a gap in a TCP stream (the capture dropped packets): capture with -s 0 on an idle machine")
        self.buf += payload
        self.next_seq = (self.next_seq + len(payload)) & 0xFFFFFFFF
        self.stamps.append((self.base + len(self.buf), ts))

    def mqtt(self):
        """Complete MQTT packets: (type, body bytes, timestamp of the segment holding the last byte)."""
        out = []
        pos = 0
        si = 0
        while True:
            if pos + 2 > len(self.buf):
                break
            mult, length, i = 1, 0, pos + 1
            while True:
                if i >= len(self.buf):
                    length = None
                    break
                b = self.buf[i]
                length += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            if length is None or i + length > len(self.buf):
                break
            end = self.base + i + length
            while self.stamps[si][0] < end:
                si += 1
            out.append((self.buf[pos] >> 4, bytes(self.buf[i:i + length]), self.stamps[si][1]))
            pos = i + length
        del self.buf[:pos]
        self.base += pos
        while self.stamps and self.stamps[0][0] <= self.base:
            self.stamps.pop(0)
        return out


def key_of(body):
    at = body.find(MAGIC)
    return None if at < 0 or at + 16 > len(body) else body[at + 4:at + 16]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, port = sys.argv[1], int(sys.argv[2])
    skip = float(sys.argv[sys.argv.index("--skip") + 1]) if "--skip" in sys.argv else 0.0
    streams = {}
    arrived, left = {}, {}
    first = None
    for ts, sport, dport, seq, payload in packets(path):
        first = ts if first is None else first
        if port not in (sport, dport):
            continue
        s = streams.setdefault((sport, dport), Stream())
        s.add(ts, seq, payload)
        for ptype, body, done in s.mqtt():
            if ptype != 3:
                continue
            k = key_of(body)
            if k is None:
                continue
            if dport == port:
                arrived.setdefault(k, done)
            else:
                left.setdefault(k, done)
    lat = sorted((left[k] - t) * 1000 for k, t in arrived.items() if k in left and t - first >= skip)
    if not lat:
        sys.exit("no message both arrived and left: wrong port, or not the load tool's messages")
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    never = sum(1 for k, t in arrived.items() if k not in left and t - first >= skip)
    print("messages %d  wire-to-wire ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (arrived, never left: %d)"
          % (len(lat), q(0.5), q(0.9), q(0.99), q(0.999), lat[-1], never))


if __name__ == "__main__":
    main()
