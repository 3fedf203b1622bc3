#!/usr/bin/env bash
# SiteRecovery benchmark: builds Release, starts srnode + sragent on fresh data in a temp folder,
# measures raw disk, end-to-end replication, lag, NBD export speed and peak memory, prints a table
# and writes bench/results/latest.json (a full run also writes bench/results/<date>.json).
#   bench/run.sh            full run (~3-5 minutes)
#   bench/run.sh --quick    short run for CI (< 60 s after the build)
#   bench/run.sh failover [--runs 2]   test failover of a 4-machine plan (1 GiB disks, local qemu target) beside 4 plain qemu boots
#   bench/run.sh reprotect [--size-gib 4] [--rewrite-percent 5]   reprotect after a failover (5 % of 1 MiB blocks rewritten) against the full copy;
#                                      writes bench/results/reprotect-latest.json; needs 3 x size free in the work dir (scales down otherwise)
#   bench/run.sh cpu [--pairs 5] [--perf-node DIR]   CPU per byte (issue 14): srnode's CPU-s/GiB for figure 2a against three dd's making
#                                      the same durable copies, 2a against their rate, sragent's CPU-s/GiB for figure 4 against nbdkit's;
#                                      interleaved A/B pairs, median and spread; writes bench/results/cpu-latest.json
#   bench/run.sh tls [--pairs 5] [--mib 1024]   CPU-s/GiB that mutual TLS adds to one data-path hop (issue 15): the connection
#                                      framework on loopback: plain, TLS 1.3 as the hops run it (SslStream over TlsTransport) and SslStream
#                                      straight on the socket, in interleaved rounds, both ends' CPU (user and system)
#   bench/run.sh tls2a [--pairs 5] [--quick]   figure 2a with and without mutual TLS on both data-path hops (issue 15, target: at most
#                                      10 % lower on the median): a plain site and a registered one, interleaved ABBA pairs, which hops ran
#                                      TLS read from the node's log; writes bench/results/tls2a-latest.json
#   bench/run.sh azure [--mib 256] [--rounds 2] [--flush-ms 1000]   the master target's apply into its replica (issue 16): MB/s and
#                                      requests per GiB into Azurite (127.0.0.1:10000) with and without write coalescing, a local
#                                      replica and a plain SDK upload of the same bytes beside them; 256 MiB per run, scaled down
#   bench/run.sh azure-points [--mib 256] [--churn-percent 10] [--rounds 3]   a point materialized from blob storage (issue 16): its
#                                      snapshot plus the journal after it, to a local image and to a new page blob, against a plain
#                                      download of the same bytes and a local recovery, at a quarter, half and all of --mib (scaling)
#   bench/run.sh memory [--disks 1000] [--disks-per-agent 25]   node memory per idle protected disk (issue 17, target: 1,000 idle
#                                      protected disks in under 500 MB): RSS and GC heap of one srnode at 0, 100, 1000 tiny disks served
#                                      by real sragents, then passivated, agents stopped, restarted; writes bench/results/memory-latest.json
#   bench/run.sh resume [--kills 20]   replication resume after kill -9 of srnode while a real sragent takes a steady fio workload
#                                      (issue 17, target: under 10 s): p50/p99/max from the kill and from the restart (one node: not a
#                                      shard handover); writes bench/results/resume-latest.json
#   other arguments go to the bench: --strict (exit 3 on a missed target), --work-dir DIR, --keep
#   BENCH_NO_BUILD=1 skips the build (when the Release build is already there)
#   bench/run.sh -h | --help   prints this text and nothing else (no build, no run)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
case "${1:-}" in -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac
for tool in fio nbdkit dd dotnet; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench: '$tool' is not installed (see tests/setup.sh)" >&2; exit 1; }
done
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "bench: building Release" >&2
  log="$(mktemp)"
  for proj in SiteRecovery.sln bench/SiteRecovery.Bench/SiteRecovery.Bench.csproj; do
    if ! dotnet build "$proj" -c Release -nologo -v q >"$log" 2>&1; then
      tail -n 40 "$log" >&2; rm -f "$log"
      echo "bench: build of $proj failed" >&2; exit 1
    fi
  done
  rm -f "$log"
fi
exec dotnet bench/SiteRecovery.Bench/bin/Release/net10.0/srbench.dll "$@"
