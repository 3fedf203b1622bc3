#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently, on a fresh Debian machine (as root).
# Real parts only: PostgreSQL 15, fio, qemu-io, nbdcopy, nbdkit, OpenSSH, sqlite3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
clients_only=0
[ "${1:-}" = "--clients-only" ] && clients_only=1

need=()
wanted="fio:fio qemu-io:qemu-utils nbdcopy:libnbd-bin nbdinfo:libnbd-bin"
if [ $clients_only -eq 0 ]; then
  wanted="$wanted nbdkit:nbdkit sqlite3:sqlite3 sshd:openssh-server pg_ctlcluster:postgresql"
fi
for pair in $wanted; do
  cmd="${pair%%:*}"; pkg="${pair#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then need+=("$pkg"); fi
done
if [ $clients_only -eq 0 ] && [ -z "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]; then need+=(postgresql); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

if [ $clients_only -eq 0 ] && [ -f "$here/setup-postgres.sh" ]; then
  bash "$here/setup-postgres.sh"
fi
echo "setup: ready"
