#!/bin/sh
# The hvkit test guest's NoCloud consumer: a small stand-in for cloud-init (which
# cannot run in this busybox guest) for what hvkit's providers put on a NoCloud
# seed (packages/libvirt/src/cloud-init/nocloud.ts): the host name and the
# network config version 2. /etc/rc runs it once at boot, after the modules are
# loaded and before qemu-ga and DHCP start. Everything else on the seed
# (runcmd, users, timezone, …) is NOT applied.
#
# Seed: a block device (/dev/sr*, /dev/sd*, /dev/vd*, /dev/hd*) holding an
# ISO 9660 file system whose volume id is "cidata" (any case, as cloud-init
# accepts), mounted read-only at /run/nocloud/seed (Rock Ridge names).
# Busybox has no blkid/findfs that knows ISO 9660, so the volume id is read
# from the primary volume descriptor: sector 16 (byte 32768), "CD001" at
# offset 1, the 32-byte volume id at offset 40 (byte 32808).
#
# Host name, in cloud-init's order (cc_set_hostname, util.get_hostname_fqdn):
# user-data `#cloud-config` `fqdn:`, then `hostname:`, then meta-data
# `local-hostname:`; nothing with `preserve_hostname: true`. The part before the
# first dot becomes the host name (`hostname`, /etc/hostname).
#
# network-config version 2 (`network:` around it is accepted), `ethernets`
# only: each entry's interface is the one whose MAC is `match: {macaddress}`,
# else the one named `match: {name}` or the entry's key. On it: `mtu`,
# `addresses` (IPv4 and IPv6), `gateway4`, `gateway6`, `routes` (`to`, `via`,
# `metric`; `to: default`, 0.0.0.0/0 and ::/0 are the default route),
# `nameservers` (`addresses`, `search` → /etc/resolv.conf). An entry with
# `dhcp4: true` is left to /etc/rc's DHCP (udhcpc); any other entry is static
# and marked /run/nocloud/static.<if>, which /etc/rc and /etc/hotplug skip.
# Interfaces no entry names keep the guest's default (DHCP) — more lenient
# than cloud-init, which leaves them unconfigured. `set-name`, bonds,
# bridges, vlans and version 1 are not applied (a console line says so).
#
# Exit status 0 when a seed was found and applied, 1 when there is none.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
here=/usr/libexec/nocloud
run=/run/nocloud
mnt="$run/seed"
say() { echo "HVKIT-GUEST: nocloud: $*" >/dev/console; }

# volume_id DEV: the ISO 9660 volume id of DEV (lower case, blanks trimmed);
# false when DEV holds no ISO 9660 file system or cannot be read.
volume_id() {
  pvd="$(dd if="$1" bs=2048 skip=16 count=1 2>/dev/null | head -c 72 | tr '\000' ' ')"
  [ "${#pvd}" -ge 72 ] || return 1
  [ "$(printf '%s' "$pvd" | cut -c2-6)" = CD001 ] || return 1
  printf '%s' "$pvd" | cut -c41-72 | tr '[:upper:]' '[:lower:]' | sed 's/ *$//'
}

# find_seed: prints the seed's device. insmod of ahci/ata_piix returns after
# the ports were probed and sr0 attached (the kernel waits for a module's async
# probes), and on the bed the first read of the seed succeeded at once. A
# /dev/sr* that cannot be read is still retried for up to 3 s (a drive that
# settles late); an empty drive (measured: dd says "No medium found", and
# /sys/block/sr0/size is 2097151, not 0) only for 0.4 s.
find_seed() {
  for dev in /dev/sr* /dev/sd* /dev/vd* /dev/hd*; do
    [ -b "$dev" ] || continue
    tries=1
    case "$dev" in /dev/sr*) tries=15 ;; esac
    while [ "$tries" -gt 0 ]; do
      if err="$(dd if="$dev" of=/dev/null bs=2048 count=1 2>&1)"; then
        [ "$(volume_id "$dev")" = cidata ] && { echo "$dev"; return 0; }
        break
      fi
      case "$err" in *"No medium"*) [ "$tries" -le 2 ] || tries=3 ;; esac
      tries=$((tries - 1))
      [ "$tries" -gt 0 ] && sleep 0.2
    done
    case "$tries$dev" in 0/dev/sr*) say "$dev unreadable, skipped: ${err##*: }" ;; esac
  done
  return 1
}

# get FLAT PATH: the value at PATH in a flattened document (first match).
get() { awk -F '\t' -v p="$2" '$1 == p { sub(/^[^\t]*\t/, ""); print; exit }' "$1"; }
# list FLAT PREFIX: the values at PREFIX/0, PREFIX/1, … in order.
list() { awk -F '\t' -v p="$2/" 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { sub(/^[^\t]*\t/, ""); print }' "$1"; }
truthy() { case "$1" in true | True | TRUE | yes | Yes | YES | on | On | ON | y | Y) return 0 ;; esac; return 1; }

flatten() { # FILE OUT
  if [ -f "$1" ]; then awk -f "$here/yamlflat.awk" "$1" >"$2"; else : >"$2"; fi
}

apply_hostname() {
  flatten "$mnt/meta-data" "$run/meta-data.flat"
  : >"$run/user-data.flat"
  if [ -f "$mnt/user-data" ] && head -n 1 "$mnt/user-data" | grep -q '^#cloud-config'; then
    flatten "$mnt/user-data" "$run/user-data.flat"
  fi
  if truthy "$(get "$run/user-data.flat" preserve_hostname)"; then
    say "preserve_hostname: host name kept"
    return 0
  fi
  name="$(get "$run/user-data.flat" fqdn)"
  [ -n "$name" ] || name="$(get "$run/user-data.flat" hostname)"
  [ -n "$name" ] || name="$(get "$run/meta-data.flat" local-hostname)"
  name="${name%%.*}"
  [ -n "$name" ] || return 0
  hostname "$name" || { say "cannot set host name '$name'"; return 0; }
  echo "$name" >/etc/hostname
}

# iface_of FLAT ID: the interface an ethernets entry means, or nothing.
iface_of() {
  mac="$(get "$1" "ethernets/$2/match/macaddress" | tr '[:upper:]' '[:lower:]')"
  if [ -n "$mac" ]; then
    for f in /sys/class/net/*/address; do
      [ "$(cat "$f")" = "$mac" ] && { f="${f%/address}"; echo "${f##*/}"; return 0; }
    done
    return 1
  fi
  n="$(get "$1" "ethernets/$2/match/name")"
  [ -n "$n" ] || n="$2"
  [ -e "/sys/class/net/$n" ] && echo "$n"
}

# static_entry FLAT ID IF: addresses, routes and MTU of one static entry.
static_entry() {
  base="ethernets/$2"
  mtu="$(get "$1" "$base/mtu")"
  [ -z "$mtu" ] || ip link set dev "$3" mtu "$mtu" || say "$3: mtu $mtu refused"
  ip link set dev "$3" up
  list "$1" "$base/addresses" | while read -r a; do
    case "$a" in *:*) fam=-6 ;; *) fam=-4 ;; esac
    ip "$fam" addr add "$a" dev "$3" || say "$3: address $a refused"
  done
  for g in gateway4 gateway6; do
    gw="$(get "$1" "$base/$g")"
    [ -z "$gw" ] || ip route replace default via "$gw" dev "$3" || say "$3: $g $gw refused"
  done
  i=0
  while to="$(get "$1" "$base/routes/$i/to")"; via="$(get "$1" "$base/routes/$i/via")"; [ -n "$to$via" ]; do
    metric="$(get "$1" "$base/routes/$i/metric")"
    case "$to" in default | 0.0.0.0/0) to=default fam=-4 ;; ::/0) to=default fam=-6 ;; *:*) fam=-6 ;; *) fam=-4 ;; esac
    case "$via" in *:*) fam=-6 ;; esac
    # shellcheck disable=SC2086 # ${metric:+…} is two words or none
    ip "$fam" route replace "$to" ${via:+via "$via"} dev "$3" ${metric:+metric "$metric"} ||
      say "$3: route $to via $via refused"
    i=$((i + 1))
  done
}

apply_network() {
  [ -f "$mnt/network-config" ] || return 0
  flat="$run/network-config.flat"
  flatten "$mnt/network-config" "$flat.raw"
  # `network:` around the config (as in /etc/cloud/cloud.cfg.d) is dropped.
  if grep -q '^network/version	' "$flat.raw"; then sed 's#^network/##' "$flat.raw" >"$flat"; else mv "$flat.raw" "$flat"; fi
  version="$(get "$flat" version)"
  if [ "$version" != 2 ]; then
    say "network-config version '$version' not applied (only version 2): DHCP as without a seed"
    return 0
  fi
  for kind in bonds bridges vlans wifis; do
    grep -q "^$kind/" "$flat" && say "network-config $kind not applied"
  done
  : >"$run/resolv.conf"
  ids="$(awk -F '\t' '$1 ~ /^ethernets\// { split($1, p, "/"); if (!(p[2] in seen)) { seen[p[2]] = 1; print p[2] } }' "$flat")"
  for id in $ids; do
    nic="$(iface_of "$flat" "$id")"
    if [ -z "$nic" ]; then
      say "network-config ethernets.$id: no such interface"
      continue
    fi
    [ -z "$(get "$flat" "ethernets/$id/set-name")" ] || say "ethernets.$id: set-name not applied ($nic keeps its name)"
    if truthy "$(get "$flat" "ethernets/$id/dhcp4")"; then
      touch "$run/dhcp4.$nic"
    else
      touch "$run/static.$nic"
    fi
    static_entry "$flat" "$id" "$nic"
    list "$flat" "ethernets/$id/nameservers/addresses" | sed 's/^/nameserver /' >>"$run/resolv.conf"
    s="$(list "$flat" "ethernets/$id/nameservers/search" | tr '\n' ' ' | sed 's/ *$//')"
    [ -z "$s" ] || echo "search $s" >>"$run/resolv.conf"
  done
  [ ! -s "$run/resolv.conf" ] || cp "$run/resolv.conf" /etc/resolv.conf
}

mkdir -p "$mnt"
seed="$(find_seed)" || exit 1
if ! mount -t iso9660 -o ro "$seed" "$mnt"; then
  say "cannot mount the seed $seed"
  exit 1
fi
echo "$seed" >"$run/device"
apply_hostname
apply_network
say "applied the seed on $seed (host name $(hostname))"
exit 0
