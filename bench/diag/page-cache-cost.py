#!/usr/bin/env python3
"""What a write into fresh page-cache pages costs on this machine, against one whose pages are reused.

Writes SIZE MiB (default 2048) of random data to a new file in DIR (default the current folder), in 8 MiB steps,
each followed by fdatasync: once keeping the pages cached (the next step takes fresh pages from free memory),
once giving each step's pages back with posix_fadvise(DONTNEED) so the next step reuses them. Prints wall and
system time per GiB for each. On a VM that returns free memory to its host (free page reporting), the first
costs a host fault per page; see docs/performance.md, session 5.

    python3 bench/diag/page-cache-cost.py [SIZE_MIB] [DIR]
"""
import os, resource, sys, time

size = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
folder = sys.argv[2] if len(sys.argv) > 2 else "."
step = 8 << 20
chunk = os.urandom(1 << 20)

def run(drop):
    path = os.path.join(folder, f".page-cache-cost-{os.getpid()}-{int(drop)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        written = 0
        while written < size << 20:
            for _ in range(step >> 20):
                os.write(fd, chunk)
            os.fdatasync(fd)
            if drop:
                os.posix_fadvise(fd, written, step, os.POSIX_FADV_DONTNEED)
            written += step
        wall, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_SELF)
        gib = written / (1 << 30)
        label = "pages reused (DONTNEED after each fsync)" if drop else "fresh pages (kept cached)"
        print(f"{label:42} {wall / gib:6.2f} s wall/GiB  {(after.ru_stime - before.ru_stime) / gib:6.2f} s sys/GiB  {written / wall / 1e6:6.0f} MB/s")
    finally:
        os.close(fd)
        os.unlink(path)

print(f"{size} MiB in 8 MiB steps with fdatasync, in {os.path.abspath(folder)}")
run(drop=False)
time.sleep(3)  # let the freed pages of the first run be reported again, if the VM does that
run(drop=True)
