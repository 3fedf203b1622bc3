#!/usr/bin/env bash
# Builds the tiny test guest: a 64 MiB raw disk that boots under qemu (SeaBIOS) and checks a payload on its own disk.
#
#   tests/images/build-tiny-guest.sh [OUT]
#
# OUT defaults to ${SR_IMAGE_CACHE:-/var/cache/siterecovery}/tiny-guest-v$GUEST_VERSION.img (v2: the guest has a network). The image is rebuilt only when it is
# missing or when this script changed (a stamp beside it holds the script's sha256); a build goes to a temp file that is
# renamed at the end, so a killed build never leaves a half image. The last line on stdout is the image's path.
#
# Layout (the contract src/Compute/Local/GuestPayload.cs and the failover tests rely on):
#   bytes 0 .. 1 MiB      MBR (syslinux mbr.bin), partition 1 from 1 MiB to 48 MiB: ext2, bootable, extlinux,
#                         the kernel and an initramfs
#   bytes 48 .. 64 MiB    the payload area, outside every partition: a 512-byte header at 48 MiB,
#                         "SRCHECK1 <length> <sha256hex>\n" zero-padded, and <length> bytes of data at 48 MiB + 4096
# The guest never mounts its root filesystem: the initramfs holds busybox, the init below and the virtio modules.
# At boot it prints, on ttyS0 (src/Compute/Local/GuestPayload.cs and GuestNet.cs parse these lines):
#   SR-GUEST up <kernel release>
#   SR-DISKS vda vdb ...
#   SR-CHECK NONE (no header) | SR-CHECK OK bytes=<n> sha256=<hex> | SR-CHECK FAILED expected=<hex> actual=<hex>
#   (a disk that never appears or cannot be read is FAILED, never NONE)
#   SR-NET NONE (no network card) | SR-NET eth0 <mac> <addr>/<prefix> | SR-NET eth0 <mac> unaddressed
#   | SR-NET eth0 <mac> FAILED <why>
#   SR-BOOTED
# The address comes from the target through qemu's fw_cfg, the file opt/siterecovery/net: one line of words,
# "addr=A.B.C.D/P", any number of "probe=A.B.C.D" (peers) and of "outside=A.B.C.D" (addresses it must not reach). Without
# it eth0 is up with no IPv4 address (and says so). With an address the guest listens on TCP 7077 and prints
# "SR-NET-HEARD <first line sent>" (at most 80 printable characters) for every connection. After SR-BOOTED, when it was
# given probes and an address, it sends its own packets: it pings every peer (retrying those that have not answered for
# up to 30 s: a peer of its group may boot later) and every outside address once (two pings: silence is what it
# expects there, so it does not wait for an answer), then sends each one "sr-hello from <its address>" over TCP 7077, and
# prints per address, peers first, then once:
#   SR-NET-PROBE <addr> ping=answered|unanswered tcp=sent|failed
#   SR-NET-PROBED
# and then idles (besides the listener it answers only ping and ARP) until the ACPI power button is pressed (qemu's
# system_powerdown: busybox acpid, with the kernel's button and evdev modules). Then, and only then, it writes a note to
# its disk, flushes and powers off (poweroff -f: PID 1 is this script, no init to hand over to), so qemu ends the machine:
#   SR-POWEROFF <boot id>   on ttyS0, and the same line, zero-padded to 512 bytes, at byte 512 KiB of /dev/vda (in the
#                           gap between the MBR and partition 1, which nothing else uses): the guest's last write, which a
#                           planned failover must carry to the final point.
#
# Needs root (a loop device and a mount, for extlinux), and: apt-get, dpkg-deb, depmod (kmod), busybox-static's deb,
# cpio, gzip, sfdisk (fdisk), partx, mke2fs (e2fsprogs), extlinux, syslinux-common. Packages come from the apt cache
# or from our own deb cache (${SR_IMAGE_CACHE}/debs) before apt-get download is tried, so a second build is offline.
set -euo pipefail

# v2: virtio-net and fw_cfg, SR-NET lines. v3: outside= addresses, probed once. A new version is a new file: a cached
# older image is never reused (nor rebuilt by a checkout that still builds the older one).
GUEST_VERSION=3
cache="${SR_IMAGE_CACHE:-/var/cache/siterecovery}"
out="${1:-$cache/tiny-guest-v$GUEST_VERSION.img}"
self="$(readlink -f "$0")"
stamp_want="v$GUEST_VERSION $(sha256sum "$self" | cut -d' ' -f1)"

mkdir -p "$(dirname "$out")" "$cache/debs"
# Two builds of the same image (parallel test classes) wait for each other instead of racing on the loop device.
exec 9>"$out.lock"
flock 9

if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "$out"
  exit 0
fi

log() { echo "build-tiny-guest: $*" >&2; }
# A build killed outright (SIGKILL: no trap) leaves its temp image; we hold the lock, so no other build owns one now.
rm -f "$out".tmp.*
die() { log "$*"; exit 1; }
for cmd in apt-get apt-cache dpkg-deb depmod cpio gzip sfdisk partx mke2fs extlinux losetup mount umount flock; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || die "missing command $cmd (run tests/setup.sh)"
done
mbr=""
for m in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/EXTLINUX/mbr.bin; do [ -f "$m" ] && { mbr="$m"; break; }; done
[ -n "$mbr" ] || die "no syslinux mbr.bin (install syslinux-common)"

work="$(mktemp -d "${TMPDIR:-/tmp}/tiny-guest.XXXXXX")"
loop=""; mnt="$work/mnt"
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt" || true
  if [ -n "$loop" ]; then partx -d "$loop" >/dev/null 2>&1 || true; losetup -d "$loop" 2>/dev/null || true; fi
  rm -rf "$work"
  rm -f "$out.tmp.$$"
}
trap cleanup EXIT
# SIGTERM/SIGINT: bash lets the running step finish, then exits through the cleanup (SIGKILL: the next build cleans up).
trap 'exit 143' TERM INT

# Finds a package's .deb: apt's cache, then ours, then apt-get download (kept in ours for the next, offline, build).
fetch_deb() {
  local pkg="$1" ver found
  ver="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
    local file="${pkg}_${ver//:/%3a}_amd64.deb"
    for d in /var/cache/apt/archives "$cache/debs"; do
      [ -f "$d/$file" ] && { echo "$d/$file"; return 0; }
    done
    if (cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1); then
      found="$(ls "$work"/"${pkg}"_*.deb 2>/dev/null | head -n1)"
      if [ -n "$found" ]; then mv "$found" "$cache/debs/"; echo "$cache/debs/$(basename "$found")"; return 0; fi
    fi
  fi
  # Offline and apt knows no candidate (or the download failed): the newest deb of that name we hold.
  found="$(ls /var/cache/apt/archives/"${pkg}"_*.deb "$cache/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$found" ] || die "cannot find or download the package $pkg"
  echo "$found"
}

# --- kernel: the package linux-image-amd64 depends on, unpacked (never installed) -------------------------------------
kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
if [ -z "$kpkg" ]; then
  # apt's lists are gone (offline machine): the newest kernel deb we kept.
  kpkg="$(ls "$cache/debs"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 | xargs -r basename | cut -d_ -f1)"
fi
[ -n "$kpkg" ] || die "cannot tell which kernel package linux-image-amd64 depends on"
kdeb="$(fetch_deb "$kpkg")"
log "kernel from $(basename "$kdeb")"
dpkg-deb -x "$kdeb" "$work/kernel"
kver="$(ls "$work/kernel/lib/modules" | head -n1)"
[ -n "$kver" ] && [ -f "$work/kernel/boot/vmlinuz-$kver" ] || die "no vmlinuz in $(basename "$kdeb")"
depmod -b "$work/kernel" "$kver"

bdeb="$(fetch_deb busybox-static)"
dpkg-deb -x "$bdeb" "$work/busybox"
[ -x "$work/busybox/bin/busybox" ] || die "no bin/busybox in $(basename "$bdeb")"

# --- initramfs ---------------------------------------------------------------------------------------------------------
ird="$work/initramfs"
mkdir -p "$ird"/{bin,dev,proc,sys,etc,lib/modules}
cp "$work/busybox/bin/busybox" "$ird/bin/busybox"

# Modules for a virtio disk, a virtio NIC and qemu's fw_cfg, with what they depend on, in load order (dependencies
# first). Built-in ones are skipped (af_packet, which ping and ARP need, is built into Debian's kernel).
mods="$work/kernel/lib/modules/$kver"
declare -A seen=()
order=()
add_module() {
  local path="$1" dep
  [ -n "${seen[$path]:-}" ] && return 0
  seen[$path]=1
  for dep in $(awk -v m="$path:" '$1 == m { $1 = ""; print }' "$mods/modules.dep"); do add_module "$dep"; done
  order+=("$path")
}
# button and evdev: the ACPI power button as an input device, which acpid reads.
for name in virtio_pci virtio_blk virtio_net qemu_fw_cfg button evdev; do
  path="$(awk -F: -v n="/$name.ko" 'index($1, n) == length($1) - length(n) + 1 { print $1; exit }' "$mods/modules.dep")"
  if [ -z "$path" ]; then
    grep -q "/$name.ko" "$mods/modules.builtin" 2>/dev/null && continue
    die "module $name is neither in modules.dep nor built in ($kver)"
  fi
  add_module "$path"
done
: > "$ird/etc/modules"
for path in "${order[@]}"; do
  base="$(basename "$path")"
  case "$base" in
    *.ko) cp "$mods/$path" "$ird/lib/modules/$base" ;;
    *.ko.xz) xz -dc "$mods/$path" > "$ird/lib/modules/${base%.xz}"; base="${base%.xz}" ;;
    *.ko.zst) zstd -qdc "$mods/$path" > "$ird/lib/modules/${base%.zst}"; base="${base%.zst}" ;;
    *) die "unexpected module file $path" ;;
  esac
  echo "$base" >> "$ird/etc/modules"
done
log "modules: $(tr '\n' ' ' < "$ird/etc/modules")"

# What the guest's TCP 7077 listener runs per connection (busybox nc -e: stdin is the connection).
cat > "$ird/bin/sr-heard" <<'HEARD'
#!/bin/busybox sh
line="$(head -c 200 | head -n 1 | tr -cd 'A-Za-z0-9 ./:=_-' | head -c 80)"
echo "SR-NET-HEARD ${line}" > /dev/console
HEARD
chmod 755 "$ird/bin/sr-heard"

# The power button's handler (busybox acpid runs /etc/acpi/<action> for a key of /etc/acpid.conf found in the event).
mkdir -p "$ird/etc/acpi"
echo "PWRF power-button" > "$ird/etc/acpid.conf"
cat > "$ird/etc/acpi/power-button" <<'POWER'
#!/bin/busybox sh
note="SR-POWEROFF $(cat /proc/sys/kernel/random/boot_id)"
# The note first, through the page cache like any write; sync flushes it (and everything else) to the disk before power-off.
printf '%-511s\n' "$note" | dd of=/dev/vda bs=512 seek=1024 count=1 conv=notrunc 2>/dev/null
sync
echo "$note" > /dev/console
poweroff -f
POWER
chmod 755 "$ird/etc/acpi/power-button"

cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
# The tiny guest's whole userland: report, check the payload area of /dev/vda, idle. PID 1 must never exit.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m" || echo "SR-GUEST insmod $m failed"; done < /etc/modules
echo "SR-GUEST up $(uname -r)"
# The power button: from now on it powers the guest off (see /etc/acpi/power-button); acpid logs nowhere.
acpid -c /etc/acpi -a /etc/acpid.conf -l /dev/null -p /acpid.pid

# The disks probe as the modules load; on a busy host (TCG, other guests) that can take seconds.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
disks=""
for d in /sys/block/*; do
  n="${d##*/}"
  case "$n" in loop*|ram*) ;; *) disks="$disks $n" ;; esac
done
echo "SR-DISKS${disks}"

area=$((48 * 1024 * 1024))
limit=$((16 * 1024 * 1024 - 4096))
# NONE only when the disk holds no header: a disk that never showed up or cannot be read is a failed check.
if [ ! -b /dev/vda ]; then
  echo "SR-CHECK FAILED expected=disk actual=no-vda-after-30s"
elif ! dd if=/dev/vda of=/header bs=512 skip=$((area / 512)) count=1 2>/dev/null; then
  echo "SR-CHECK FAILED expected=header actual=read-error"
else
  header="$(tr -d '\000' < /header | head -n 1)"
  set -- $header
  if [ "${1:-}" != "SRCHECK1" ]; then
    echo "SR-CHECK NONE"
  else
    len="${2:-}"; want="${3:-}"
    case "$len" in ''|*[!0-9]*) len=-1 ;; esac
    case "$want" in *[!0-9a-f]*) want="" ;; esac
    if [ "$len" -lt 0 ] || [ "$len" -gt "$limit" ] || [ "${#want}" -ne 64 ]; then
      echo "SR-CHECK FAILED expected=${want:-malformed} actual=malformed-header"
    else
      if dd if=/dev/vda of=/data bs=4096 skip=$(((area + 4096) / 4096)) count=$(((len + 4095) / 4096)) 2>/dev/null; then
        got="$(head -c "$len" /data | sha256sum)"
        got="${got%% *}"
      else
        got="read-error"
      fi
      if [ "$got" = "$want" ]; then
        echo "SR-CHECK OK bytes=$len sha256=$got"
      else
        echo "SR-CHECK FAILED expected=$want actual=$got"
      fi
    fi
  fi
fi

# The network. A virtio NIC (vendor 0x1af4, device 0x1000 legacy or 0x1041 modern) becomes eth0 as virtio_net probes it;
# without one the guest says NONE at once instead of waiting for an eth0 that cannot come.
nic=""
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/vendor" 2>/dev/null)" = 0x1af4 ] || continue
  case "$(cat "$d/device" 2>/dev/null)" in 0x1000|0x1041) nic=1 ;; esac
done
addr=""; probes=""; outside=""
cfg=/sys/firmware/qemu_fw_cfg/by_name/opt/siterecovery/net/raw
if [ -r "$cfg" ]; then
  for w in $(tr -d '\000\r' < "$cfg" | head -n 1); do
    # Only what parses as an address: the words go into ip and ping.
    case "$w" in
      addr=*) addr="${w#addr=}"; case "$addr" in *[!0-9./]*|'') addr="" ;; esac ;;
      probe=*) p="${w#probe=}"; case "$p" in *[!0-9.]*|'') ;; *) probes="$probes $p" ;; esac ;;
      outside=*) p="${w#outside=}"; case "$p" in *[!0-9.]*|'') ;; *) outside="$outside $p" ;; esac ;;
    esac
  done
fi
if [ -z "$nic" ]; then
  echo "SR-NET NONE"
else
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if [ ! -e /sys/class/net/eth0 ]; then
    echo "SR-NET eth0 - FAILED no-eth0-after-10s"
  else
    mac="$(cat /sys/class/net/eth0/address)"
    ip link set dev lo up
    if ! ip link set dev eth0 up; then
      echo "SR-NET eth0 $mac FAILED link-up"
    elif [ -z "$addr" ]; then
      echo "SR-NET eth0 $mac unaddressed"
    elif ! ip addr add "$addr" dev eth0; then
      echo "SR-NET eth0 $mac FAILED addr=$addr"; addr=""
    else
      echo "SR-NET eth0 $mac $addr"
      nc -ll -p 7077 -e /bin/sr-heard </dev/null >/dev/null 2>&1 &
    fi
  fi
fi
echo "SR-BOOTED"

# The guest's own packets, to the probe addresses it was given: what answers is what its network reaches.
if [ -n "$nic" ] && [ -n "$addr" ] && [ -n "$probes$outside" ]; then
  up() { read -r s _ < /proc/uptime; echo "${s%%.*}"; }
  pending="$probes"; answered=" "; until=$(($(up) + 30))
  while [ -n "$pending" ]; do
    left=""
    for p in $pending; do
      if ping -c 1 -W 1 "$p" >/dev/null 2>&1; then answered="$answered$p "; else left="$left $p"; fi
    done
    pending="$left"
    [ "$(up)" -lt "$until" ] || break
  done
  for p in $outside; do
    if ping -c 2 -W 1 "$p" >/dev/null 2>&1; then answered="$answered$p "; fi
  done
  for p in $probes $outside; do
    case "$answered" in *" $p "*) pinged=answered ;; *) pinged=unanswered ;; esac
    if echo "sr-hello from ${addr%/*}" | timeout 10 nc -w 5 "$p" 7077 >/dev/null 2>&1; then tcp=sent; else tcp=failed; fi
    echo "SR-NET-PROBE $p ping=$pinged tcp=$tcp"
  done
  echo "SR-NET-PROBED"
fi
while :; do sleep 3600; done
INIT
chmod 755 "$ird/init"
(cd "$ird" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -9 > "$work/initrd.gz"

# --- boot filesystem ---------------------------------------------------------------------------------------------------
boot="$work/boot"
mkdir -p "$boot/extlinux"
cp "$work/kernel/boot/vmlinuz-$kver" "$boot/vmlinuz"
cp "$work/initrd.gz" "$boot/initrd.gz"
cat > "$boot/extlinux/extlinux.conf" <<'CONF'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0 quiet loglevel=3 panic=1 tsc=unstable
CONF

# --- the disk ----------------------------------------------------------------------------------------------------------
img="$out.tmp.$$"
rm -f "$img"
truncate -s 64M "$img"
# Partition 1: 1 MiB .. 48 MiB (sectors 2048 .. 98303), Linux, bootable; 48 .. 64 MiB stays outside every partition.
printf 'label: dos\nstart=2048, size=%d, type=83, bootable\n' $((47 * 2048)) | sfdisk -q "$img" >/dev/null
dd if="$mbr" of="$img" bs=440 count=1 conv=notrunc status=none
loop="$(losetup -f --show "$img")"
# Loop devices here do not scan partition tables by themselves (losetup -P); partx adds loopNp1.
partx -a "$loop"
for _ in $(seq 50); do [ -b "${loop}p1" ] && break; sleep 0.1; done
[ -b "${loop}p1" ] || die "partition device ${loop}p1 did not appear"
mke2fs -q -F -t ext2 -L srguest -d "$boot" "${loop}p1"
mkdir -p "$mnt"
mount "${loop}p1" "$mnt"
extlinux --install "$mnt/extlinux" >/dev/null 2>&1 || die "extlinux --install failed"
umount "$mnt"
partx -d "$loop" >/dev/null 2>&1 || true
losetup -d "$loop"; loop=""
sync "$img"
mv -f "$img" "$out"
echo "$stamp_want" > "$out.stamp"
log "built $out (kernel $kver)"
echo "$out"
