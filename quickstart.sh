#!/usr/bin/env bash
# The main job: build, start an all-in-one site on the embedded defaults (SQLite journal, local
# replicas), protect two disks, drive fio through the agent's NBD exports, bookmark, recover, verify.
set -euo pipefail
cd "$(dirname "$0")"
bash tests/setup.sh --clients-only
dotnet build SiteRecovery.sln -c Release -nologo -v q >/dev/null
exec dotnet src/Hosts/srctl/bin/Release/net10.0/srctl.dll quickstart "$@"
