#!/usr/bin/env bash
# Chaos harness: srnode and sragent processes, a stamped writer through every agent's NBD export with bookmarks between
# its writes, faults on a seeded schedule (SIGKILL of any process, SIGSTOP of a node, a partition of one link), then the
# latest point and random older ones recovered and held to the acknowledged writes. Prints the verdict line
# "N writes acknowledged, L lost, R reordered". CI runs the same test with one fault of each kind.
#   tests/chaos.sh [--minutes M] [--seed S] [--nodes N] [--agents A]   (defaults: 10 minutes, a random seed, 2 nodes, 1 agent)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes=10 seed="" nodes=2 agents=1
number() { case "$2" in ''|*[!0-9.]*) echo "chaos.sh: $1 must be a number, got '$2'" >&2; exit 2;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) number --minutes "${2:-}"; minutes="$2"; shift 2;;
    --seed) number --seed "${2:-}"; seed="$2"; shift 2;;
    --nodes) number --nodes "${2:-}"; nodes="$2"; shift 2;;
    --agents) number --agents "${2:-}"; agents="$2"; shift 2;;
    *) echo "chaos.sh: unknown argument '$1' (use --minutes M --seed S --nodes N --agents A)" >&2; exit 2;;
  esac
done
bash tests/setup.sh
dotnet build SiteRecovery.sln -c Release -nologo -v q
SR_CHAOS_MINUTES="$minutes" SR_CHAOS_SEED="$seed" SR_CHAOS_NODES="$nodes" SR_CHAOS_AGENTS="$agents" \
  dotnet test tests/SiteRecovery.Chaos.Tests -c Release --no-build --nologo \
  --filter "FullyQualifiedName~ChaosHarnessTests" --logger "console;verbosity=detailed"
