#!/usr/bin/env python3
"""What the process server's spool pattern costs when its files are created and deleted, against reused.

Writes SIZE MiB (default 2048) the way a spool does: 16 MiB files written in 1 MiB steps, an fsync every 8 MiB,
each file trimmed once two newer ones exist. "append" creates every file and deletes the trimmed one (the spool
before spool-recycle-segments); "reuse" renames the trimmed file aside and overwrites it as the next one. Prints
wall and system time per GiB for each, in DIR (default a scratch folder in the current one, removed after).
See docs/architecture.md, "Storage layout of a node".

    python3 bench/diag/segment-reuse-cost.py [SIZE_MIB] [DIR]
"""
import os, shutil, sys, time

size = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
root = sys.argv[2] if len(sys.argv) > 2 else "."
segment, commit, step = 16 << 20, 8 << 20, 1 << 20
chunk = os.urandom(step)


def run(reuse):
    folder = os.path.join(root, f".segment-reuse-cost-{os.getpid()}-{int(reuse)}")
    os.makedirs(folder)
    try:
        free = []
        if reuse:
            # The steady state of a reusing spool: parked files that were written before.
            for i in range(2):
                path = os.path.join(folder, f"free{i}")
                fd = os.open(path, os.O_CREAT | os.O_WRONLY)
                for _ in range(segment // step):
                    os.write(fd, chunk)
                os.fsync(fd)
                os.close(fd)
                free.append(path)
        start, cpu = time.time(), os.times()
        written, n, live = 0, 0, []
        while written < size << 20:
            name = os.path.join(folder, f"seg{n}")
            if reuse and free:
                os.rename(free.pop(0), name)
                fd = os.open(name, os.O_WRONLY)
            else:
                fd = os.open(name, os.O_CREAT | os.O_WRONLY)
            offset = 0
            while offset < segment:
                os.pwrite(fd, chunk, offset)
                offset += step
                written += step
                if offset % commit == 0:
                    os.fsync(fd)
            os.close(fd)
            live.append(name)
            n += 1
            if len(live) > 2:
                old = live.pop(0)
                if reuse:
                    parked = os.path.join(folder, f"free-{n}")
                    os.rename(old, parked)
                    free.append(parked)
                else:
                    os.unlink(old)
        wall, sys_time = time.time() - start, os.times().system - cpu.system
        gib = written / (1 << 30)
        return wall / gib, sys_time / gib
    finally:
        shutil.rmtree(folder, ignore_errors=True)


print(f"{size} MiB as 16 MiB spool files, 1 MiB writes, fsync every 8 MiB, in {os.path.abspath(root)}")
for label, reuse in (("files created and deleted", False), ("files reused", True)):
    wall, sys_time = run(reuse)
    print(f"{label:28s} {wall:5.2f} s wall/GiB  {sys_time:5.2f} s sys/GiB")
