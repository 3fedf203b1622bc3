#!/usr/bin/env python3
"""Where srnode's CPU goes, by hop: reads `perf script -F comm,tid,ip,sym,dso` of a `srbench cpu --perf-node` profile and
attributes every sample to the first (innermost-outward) stage its stack passes through, kernel and user apart.
    perf script -i node-2a.perf.data -F comm,tid,ip,sym,dso | bench/diag/perf-split.py
"""
import sys
from collections import Counter

# Stages by a frame their stacks hold; first match from the leaf outward names the stage of the sample.
STAGES = [
    ("forwarder spool read-back (PS)", ["SegmentLog+<ReadFilesLocated>", "SegmentLog::Read"]),
    ("spool commit: last buffer write + fsync (PS)", ["ProcessServer+AgentSession+<CommitAsync>", "SpooledDisk::Flush", "SegmentLog::Flush"]),
    ("replica apply (MT)", ["ReplicaDisk+<ApplyToReplicaAsync>", "ReplicaStore", "LocalReplica"]),
    ("replica fsync (MT, background)", ["ReplicaDisk+<FlushReplicaThrough>"]),
    ("journal append (MT)", ["ReplicaDisk+<AppendAsync>"]),
    ("journal commit/fsync (MT)", ["MasterTargetServer+Session+<CommitAsync>", "ReplicaDisk::Commit", "ReplicaDisk+<CommitAsync>"]),
    ("MT decode/verify (checksum, zstd)", ["DeltaCompression::DecodeStored", "Delta::get_IsIntact", "Delta::ComputeChecksum"]),
    ("spool append (PS)", ["SegmentLog::Append"]),
    ("forwarder compress try (PS)", ["DeltaCompression::EncodeStored", "ZstdSharp"]),
    ("forwarder send (PS → MT)", ["Forwarder+<<PumpAsync>", "Forwarder+<>c__DisplayClass", "FrameSender", "FrameIo"]),
    ("MT receive (socket → frame)", ["MasterTargetServer+Session+<ReceiveAsync>"]),
    ("PS receive (socket → frame, verify)", ["ProcessServer+AgentSession+<ReceiveAsync>"]),
    ("frame reader (either hop)", ["FrameReader"]),
    ("Akka.Streams (forwarder graph)", ["Akka.Streams"]),
    ("GC", ["gc_heap", "GCHeap", "WKS::", "SVR::"]),
    ("JIT (tiered compilation)", ["libclrjit.so", "TieredCompilation", "Tiered Com"]),
    ("SQLite / linq2db (metadata)", ["libe_sqlite3", "LinqToDB", "Microsoft.Data.Sqlite", "Npgsql"]),
]

def stage_of(frames, comm):
    for name, marks in STAGES:
        for f in frames:
            if any(m in f for m in marks):
                return name
    if "Tiered" in comm: return "JIT (tiered compilation)"
    leaf = frames[0] if frames else ""
    # The socket engine's recv/send reach the kernel through frames perf cannot unwind: named by the kernel copy.
    if "_copy_to_iter" in leaf or "_copy_from_iter" in leaf or "__check_object_size" in leaf: return "socket copies (kernel, unattributed)"
    if any(k in leaf for k in ("finish_task_switch", "futex", "_raw_spin_unlock_irqrestore")): return "thread wake-ups (futex, scheduler)"
    return "other"

samples = Counter()
kernel = Counter()
total = 0
comm, frames = None, []
def flush():
    global total
    if comm is None: return
    s = stage_of(frames, comm)
    samples[s] += 1
    total += 1
    if frames and frames[0].endswith("([kernel.kallsyms])"): kernel[s] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); comm, frames = None, []
    elif line[0] not in " \t":
        flush(); comm, frames = line.strip(), []
    else:
        frames.append(line.strip())
flush()
print(f"{total} samples")
print(f"{'stage':40} {'share':>7} {'of it in kernel':>16}")
for s, n in samples.most_common():
    print(f"{s:40} {100*n/total:6.1f}% {100*kernel[s]/max(1,n):15.0f}%")
