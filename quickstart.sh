#!/usr/bin/env bash
# The main job: build, start an all-in-one site on the embedded defaults (SQLite journal, local
# replicas, mutual TLS required on the data path: the agent registers first), protect two disks, drive fio through the
# agent's NBD exports, bookmark, recover, verify.
#   ./quickstart.sh [srctl quickstart options]   local replicas
#   ./quickstart.sh --azurite [...]              the same job with the master target's replicas as page blobs in the
#                                                Azurite on 127.0.0.1:10000 (tests/setup.sh starts it; its well-known
#                                                development account); then each disk's replica blob is downloaded,
#                                                checked as a fixed VHD (qemu-img info -f vpc) and, converted to raw,
#                                                compared with its source
set -euo pipefail
cd "$(dirname "$0")"

azurite=0 dir="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --azurite) azurite=1 ;;
    --dir) dir="$2"; args+=("$1" "$2"); shift ;;
    --dir=*) dir="${1#--dir=}"; args+=("$1") ;;
    *) args+=("$1") ;;
  esac
  shift
done

bash tests/setup.sh --clients-only
dotnet build SiteRecovery.sln -c Release -nologo -v q >/dev/null
srctl=(dotnet src/Hosts/srctl/bin/Release/net10.0/srctl.dll quickstart)
[ $azurite -eq 0 ] && exec "${srctl[@]}" ${args[@]+"${args[@]}"}

# Azurite's development account: published by Microsoft for the emulator, not a secret.
host=127.0.0.1 port=10000 account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || { echo "quickstart: no Azurite answers on $host:$port; run tests/setup.sh (it starts one)" >&2; exit 1; }
if [ -z "$dir" ]; then
  dir=".data/quickstart-azurite-$(date -u +%Y%m%d-%H%M%S)"
  args+=(--dir "$dir")
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
container="quickstart-$(date -u +%Y%m%d%H%M%S)-$$"
( umask 077; printf 'endpoint = http://%s:%s/%s\naccount-name = %s\naccount-key = %s\n' "$host" "$port" "$account" "$account" "$key" >"$dir/azurite-account.conf" )
cat >"$dir/node-azurite.hocon" <<EOF
siterecovery.data-path.master-target {
  replica-store = azure-page-blob
  azure-page-blob { connection-file = "$dir/azurite-account.conf", container = $container }
}
EOF

# One request to Azurite with Shared Key authorization, on the path-style URL it serves (/account/container[/blob]):
# VERB PATH [QUERY-NAME QUERY-VALUE] [curl options...].
azurite_request() {
  local verb="$1" path="$2" query_name="${3:-}" query_value="${4:-}" date version=2021-08-06 hexkey canonical signature url
  shift 4 || shift $#
  date="$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')"
  hexkey="$(printf '%s' "$key" | base64 -d | xxd -p -c 256)"
  canonical="/$account/$account/$path" url="http://$host:$port/$account/$path"
  if [ -n "$query_name" ]; then canonical="$canonical"$'\n'"$query_name:$query_value" url="$url?$query_name=$query_value"; fi
  signature="$(printf '%s\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n%s' "$verb" "$date" "$version" "$canonical" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)"
  curl -fsS -X "$verb" -H "x-ms-date: $date" -H "x-ms-version: $version" -H "Authorization: SharedKey $account:$signature" "$@" "$url"
}
# The replicas' container goes at the end, whatever happened: the shared Azurite keeps nothing of this run.
trap 'azurite_request DELETE "$container" restype container -o /dev/null || true' EXIT

echo "quickstart: replicas are page blobs in Azurite $host:$port, container $container"
"${srctl[@]}" ${args[@]+"${args[@]}"} --node-config "$dir/node-azurite.hocon"

# The boot disk (disk1) is not written after its post-bookmark write, long before the site stops: its replica blob must
# equal its source. The data disk (disk2) takes fio writes until the cleanup, right before the site stops, so its blob
# may trail its source by the last writes in flight: it is checked as a fixed VHD of the right size only.
for disk in disk1 disk2; do
  vhd="$dir/$disk.replica.vhd" raw="$dir/$disk.replica.raw"
  azurite_request GET "$container/$disk.vhd" "" "" -o "$vhd"
  info="$(qemu-img info -f vpc --output=json "$vhd")"
  size="$(stat -c %s "$dir/$disk.img")"
  echo "$info" | grep -q "\"virtual-size\": $size," || { echo "quickstart: $disk's replica blob is not a fixed VHD of $size bytes: $info" >&2; exit 1; }
  echo "quickstart: $disk's replica blob is a fixed VHD of $size bytes (qemu-img info -f vpc)"
  if [ "$disk" = disk1 ]; then
    qemu-img convert -f vpc -O raw "$vhd" "$raw"
    want="$(sha256sum <"$dir/$disk.img" | cut -d' ' -f1)" got="$(sha256sum <"$raw" | cut -d' ' -f1)"
    [ "$want" = "$got" ] || { echo "quickstart: $disk's replica blob, converted to raw, differs from its source: sha256 $got, want $want" >&2; exit 1; }
    echo "quickstart: $disk's replica blob converted to raw equals its source (sha256 ${got:0:16}…)"
    rm -f "$raw"
  fi
  rm -f "$vhd"
done
echo "quickstart passed with page-blob replicas in Azurite (container $container)"
