import os, time, sys
# fdatasync latency: appending (the file grows: size metadata in every sync) vs overwriting a preallocated file.
def run(path, mode, n=4000, size=600):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    if mode == 'overwrite':
        os.write(fd, b'\0' * (n * size)); os.fsync(fd); os.lseek(fd, 0, 0)
    if mode == 'fallocate':
        os.posix_fallocate(fd, 0, n * size); os.fsync(fd)
    buf = b'x' * size; lat = []
    for _ in range(n):
        t = time.perf_counter_ns(); os.write(fd, buf); os.fdatasync(fd); lat.append((time.perf_counter_ns() - t) / 1000)
    os.close(fd); os.unlink(path); lat.sort()
    q = lambda p: lat[int(p * (len(lat) - 1))]
    print('%-10s n=%d p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f us' % (mode, n, q(.5), q(.9), q(.99), q(.999), lat[-1]))
d = sys.argv[1] if len(sys.argv) > 1 else '/tmp'
for m in ['append', 'overwrite', 'fallocate', 'append']:
    run(os.path.join(d, 'fsync-probe'), m)
