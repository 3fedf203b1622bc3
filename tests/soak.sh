#!/usr/bin/env bash
# Long chaos run: random SIGKILLs of the agent, the process server node and the master target node under a
# continuous fio workload, a byte-for-byte recovery after every round. CI runs the same test for three rounds.
#   tests/soak.sh [MINUTES]   (default 30; SR_SOAK_SEED=N replays a run's choices)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes="${1:-30}"
case "$minutes" in ''|*[!0-9.]*) echo "soak.sh: MINUTES must be a number, got '$minutes'" >&2; exit 2;; esac
bash tests/setup.sh
dotnet build SiteRecovery.sln -c Release -nologo -v q
SR_SOAK_MINUTES="$minutes" dotnet test tests/SiteRecovery.Chaos.Tests -c Release --no-build --nologo \
  --filter "FullyQualifiedName~SoakTests" --logger "console;verbosity=detailed"
