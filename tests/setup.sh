#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently, on a fresh Debian machine (as root).
# Real parts only: PostgreSQL 15, fio, qemu-io, nbdcopy, nbdkit, OpenSSH, sqlite3, afl++ and the sharpfuzz tool (the fuzz
# step), and qemu-system-x86 with the tiny test guest (tests/images/build-tiny-guest.sh, cached under
# ${SR_IMAGE_CACHE:-/var/cache/siterecovery}).
# --clients-only: what the quickstart needs (the NBD clients, qemu-system-x86 and the guest image), no servers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
clients_only=0
[ "${1:-}" = "--clients-only" ] && clients_only=1

need=()
wanted="fio:fio qemu-io:qemu-utils nbdcopy:libnbd-bin nbdinfo:libnbd-bin"
# as and ld: a test checks that the accelerator probe's boot sector is what its source assembles to.
wanted="$wanted as:binutils ld:binutils"
# Recovered machines run under qemu; the tiny guest is built from Debian packages with these.
wanted="$wanted qemu-system-x86_64:qemu-system-x86 extlinux:extlinux cpio:cpio sfdisk:fdisk mke2fs:e2fsprogs depmod:kmod partx:util-linux"
if [ $clients_only -eq 0 ]; then
  wanted="$wanted nbdkit:nbdkit sqlite3:sqlite3 sshd:openssh-server pg_ctlcluster:postgresql"
  # The fuzz step (fuzz/run.sh): AFL++ drives the SharpFuzz-instrumented parsers.
  wanted="$wanted afl-fuzz:afl++"
fi
for pair in $wanted; do
  cmd="${pair%%:*}"; pkg="${pair#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then need+=("$pkg"); fi
done
if [ $clients_only -eq 0 ] && [ -z "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]; then need+=(postgresql); fi
# Packages known by a file rather than a command: busybox-static (a plain busybox does not do), syslinux-common's MBR.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || need+=(syslinux-common)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

# The SharpFuzz instrumenter, a local dotnet tool pinned in fuzz/.config/dotnet-tools.json.
if [ $clients_only -eq 0 ]; then
  (cd "$here/../fuzz" && dotnet tool restore >/dev/null)
fi

if [ $clients_only -eq 0 ] && [ -f "$here/setup-postgres.sh" ]; then
  bash "$here/setup-postgres.sh"
fi
# The tiny test guest: built once, then served from the cache (the script rebuilds only when it changed).
bash "$here/images/build-tiny-guest.sh" >/dev/null

# Azurite, the storage emulator the Azure page-blob replica tests run against: pinned to 3.35.0 (3.37 needs Node 22,
# this machine has Node 20), blob service only, on 127.0.0.1:10000, data under /var/lib/azurite so a restart keeps the
# blobs. Started once; a running one (anything answering on the port) is left as it is.
if [ $clients_only -eq 0 ]; then
  azurite_prefix=/opt/azurite azurite_data=/var/lib/azurite
  if [ ! -x "$azurite_prefix/node_modules/.bin/azurite-blob" ] || \
     ! grep -q '"version": "3.35.0"' "$azurite_prefix/node_modules/azurite/package.json" 2>/dev/null; then
    command -v npm >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
    npm install --prefix "$azurite_prefix" --no-audit --no-fund --silent azurite@3.35.0 >/dev/null
  fi
  if (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
    echo "setup: azurite already answers on 127.0.0.1:10000"
  else
    mkdir -p "$azurite_data"
    # --skipApiVersionCheck: the SDK may speak a newer service version than this Azurite knows.
    setsid nohup "$azurite_prefix/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 10000 \
      --location "$azurite_data" --disableTelemetry --skipApiVersionCheck --silent \
      >"$azurite_data/azurite.log" 2>&1 </dev/null &
    for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null && break; sleep 0.2; done
    (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null || { echo "setup: azurite did not start, see $azurite_data/azurite.log" >&2; exit 1; }
    echo "setup: started azurite $(cat "$azurite_prefix/node_modules/azurite/package.json" | grep '"version"' | tr -dc '0-9.') (pid $!) on 127.0.0.1:10000, data in $azurite_data"
  fi
fi

echo "setup: ready"
