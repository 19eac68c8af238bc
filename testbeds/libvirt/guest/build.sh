#!/usr/bin/env bash
# Builds the test guest into $LIBVIRT_BED_STATE_DIR/guest: vmlinuz (Debian's
# stock kernel, downloaded as a package with `apt-get download`, extracted with
# dpkg-deb, never installed) and initrd.img (busybox-static + the kernel's
# virtio/ACPI/SATA-cdrom/isofs modules + the host's qemu-ga with its shared
# libraries + rootfs/, which holds /etc/rc and a small NoCloud seed consumer).
# Cached by inputs: the kernel package and version, busybox-static and
# qemu-guest-agent versions, and the files of this directory. Prints guest.json.
#
# Kernel: the newest linux-image-<abi>-amd64 in the apt lists (sort -V), unless
# LIBVIRT_BED_KERNEL_PACKAGE names one. Its extracted vmlinuz and modules are
# kept in $LIBVIRT_BED_STATE_DIR/kernels/<package>_<version>/ (extracted again
# when the module list below changes).
#
# A rebuild replaces each file of the guest directory by rename (initrd.img,
# vmlinuz, guest.json, then key): a domain starting meanwhile reads either the
# old or the new file, never a missing or half-written one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../common.sh
. "$here/../common.sh"

# cdrom sr_mod libata libahci ahci isofs: the NoCloud seed ISO, a SATA cdrom on
# q35 (rootfs/usr/libexec/nocloud/nocloud.sh reads it).
modules=(virtio_pci virtio_blk virtio_scsi virtio_net virtio_console virtio_balloon af_packet unix button evdev
  cdrom sr_mod libata libahci ahci isofs ata_piix)
marker="HVKIT-GUEST: READY"
cmdline="console=ttyS0 panic=-1 loglevel=4"

mkdir -p "$LVBED_STATE_DIR/kernels"
exec 8>"$LVBED_STATE_DIR/kernels/lock"
flock -w 900 8 || lvbed_die "another guest build holds $LVBED_STATE_DIR/kernels/lock"

# --- the kernel package -------------------------------------------------------
# apt-cache takes ~0.5 s a call here: the choice is remembered for as long as
# the apt lists and LIBVIRT_BED_KERNEL_PACKAGE stay the same.
lists_key="$(
  printf '%s\n' "${LIBVIRT_BED_KERNEL_PACKAGE:-}"
  stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* 2>/dev/null || true
)"
lists_key="$(printf '%s' "$lists_key" | sha256sum | cut -c1-16)"
selected="$LVBED_STATE_DIR/kernels/selected"
pkg="${LIBVIRT_BED_KERNEL_PACKAGE:-}"
pver=""
if [ -s "$selected" ] && [ "$(sed -n 1p "$selected")" = "$lists_key" ]; then
  pkg="$(sed -n 2p "$selected")"
  pver="$(sed -n 3p "$selected")"
elif [ -z "$pkg" ]; then
  pkg="$(apt-cache pkgnames linux-image- 2>/dev/null | grep -E '^linux-image-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -n 1 || true)"
  if [ -z "$pkg" ]; then
    lvbed_log "no linux-image-*-amd64 in the apt lists: apt-get update"
    lvbed_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -q >&2 ||
      lvbed_die "apt-get update failed"
    pkg="$(apt-cache pkgnames linux-image- | grep -E '^linux-image-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -n 1 || true)"
  fi
  [ -n "$pkg" ] || lvbed_die "no linux-image-<abi>-amd64 package in the apt lists"
fi
kver="${pkg#linux-image-}"
if [ -z "$pver" ]; then
  pver="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  case "$pver" in '' | '(none)') lvbed_die "apt has no candidate version of $pkg" ;; esac
  printf '%s\n' "$lists_key" "$pkg" "$pver" >"$selected.tmp"
  mv "$selected.tmp" "$selected"
fi
kdir="$LVBED_STATE_DIR/kernels/${pkg}_$pver"

if [ ! -s "$kdir/load-order" ] || [ "$(cat "$kdir/modules.wanted" 2>/dev/null)" != "${modules[*]}" ]; then
  started="$(lvbed_now)"
  tmp="$(mktemp -d "$LVBED_STATE_DIR/kernels/.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp" # apt's _apt sandbox user writes the download here
  lvbed_log "downloading $pkg $pver"
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$pver" >&2) || lvbed_die "apt-get download $pkg=$pver failed"
  deb="$(ls "$tmp"/*.deb)"
  dpkg-deb -x "$deb" "$tmp/x" || lvbed_die "dpkg-deb -x $deb failed"
  [ -s "$tmp/x/boot/vmlinuz-$kver" ] || lvbed_die "$deb has no boot/vmlinuz-$kver"
  moddir="$tmp/x/lib/modules/$kver"
  [ -s "$moddir/modules.dep" ] || busybox depmod -b "$tmp/x" "$kver" || lvbed_die "depmod of $kver failed"
  mkdir -p "$tmp/k/modules"
  cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/k/vmlinuz"
  # Every wanted module after its dependencies, each once (modules.dep lines:
  # "kernel/a/b.ko: kernel/c.ko kernel/d.ko"); built-in ones are skipped.
  declare -A seen=()
  order=()
  visit() {
    local path="$1" dep
    [ -z "${seen[$path]:-}" ] || return 0
    seen[$path]=1
    # shellcheck disable=SC2013 # module paths hold no spaces
    for dep in $(awk -v p="$path:" '$1 == p { for (i = 2; i <= NF; i++) print $i }' "$moddir/modules.dep"); do
      visit "$dep"
    done
    order+=("$path")
  }
  for m in "${modules[@]}"; do
    path="$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); if (n == m) { print $1; exit } }' "$moddir/modules.dep")"
    if [ -z "$path" ]; then
      grep -Eq "/$m\.ko" "$moddir/modules.builtin" || lvbed_die "module $m is neither in modules.dep nor built into $kver"
      continue
    fi
    visit "$path"
  done
  : >"$tmp/k/load-order"
  for path in "${order[@]}"; do
    f="${path##*/}"
    case "$f" in
      *.ko) cp "$moddir/$path" "$tmp/k/modules/$f" ;;
      *.ko.xz) xz -dc "$moddir/$path" >"$tmp/k/modules/${f%.xz}"; f="${f%.xz}" ;;
      *.ko.zst) zstd -qdc "$moddir/$path" >"$tmp/k/modules/${f%.zst}"; f="${f%.zst}" ;;
      *) lvbed_die "unknown module format: $path" ;;
    esac
    printf '%s\n' "$f" >>"$tmp/k/load-order"
  done
  printf '%s\n' "$pkg" "$pver" >"$tmp/k/package"
  printf '%s\n' "${modules[*]}" >"$tmp/k/modules.wanted"
  rm -rf "$kdir"
  mv "$tmp/k" "$kdir"
  rm -rf "$tmp"
  trap - EXIT
  lvbed_log "kernel $pkg $pver extracted in $(lvbed_since "$started") s ($(wc -l <"$kdir/load-order") modules)"
fi

# --- the initramfs ------------------------------------------------------------
qga=/usr/sbin/qemu-ga
[ -x "$qga" ] || lvbed_die "$qga missing (qemu-guest-agent)"
busybox="$(command -v busybox)"
"$busybox" --list-full >/dev/null 2>&1 || lvbed_die "$busybox has no --list-full: need busybox-static"
key="$(
  {
    printf '%s\n' "$pkg" "$pver" "$cmdline" "$marker" "${modules[*]}"
    dpkg-query -W -f='${Version}\n' busybox-static qemu-guest-agent 2>/dev/null || true
    sha256sum "$busybox" "$qga" "$here/build.sh"
    (cd "$here/rootfs" && find . -print0 | LC_ALL=C sort -z | xargs -0 -r stat -c '%n %a' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  } | sha256sum | cut -c1-16
)"
out="$LVBED_GUEST_DIR"
if [ -s "$out/guest.json" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
  cat "$out/guest.json"
  exit 0
fi

started="$(lvbed_now)"
mkdir -p "$LVBED_STATE_DIR"
tmp="$(mktemp -d "$LVBED_STATE_DIR/.guest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,var,lib/modules}
ln -s ../run "$root/var/run"
ln -s ../run/lock "$root/var/lock"
cp "$busybox" "$root/bin/busybox"
while read -r applet; do
  case "$applet" in
    '' | bin/busybox | sbin/shutdown) continue ;;
  esac
  mkdir -p "$root/$(dirname "$applet")"
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
ln -sf /bin/busybox "$root/init"
# qemu-ga and every shared library it links, at the same paths.
cp "$qga" "$root/usr/sbin/qemu-ga"
while read -r lib; do
  [ -n "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$qga" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }')
# Debian's /lib is a symlink to usr/lib: keep the interpreter path working.
if [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
  mkdir -p "$root/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
fi
cp "$kdir"/modules/*.ko "$root/lib/modules/"
cp "$kdir/load-order" "$root/lib/modules/load-order"
cp -a "$here/rootfs/." "$root/"
chroot "$root" /usr/sbin/qemu-ga --version >/dev/null 2>&1 ||
  { [ "$(id -u)" -ne 0 ] || lvbed_die "qemu-ga does not run inside the guest root (missing shared library?)"; }

# The archive: files owned by root, plus /dev/console (the kernel opens it for
# init before devtmpfs is mounted) written as a newc header by hand, so no
# mknod (and no root) is needed.
newc_node() { # name mode(octal) rdevmajor rdevminor
  local name="$1" namesize=$((${#1} + 1)) pad
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    1 "$((8#$2))" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
  printf '%s\0' "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  head -c "$pad" /dev/zero
}
{
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0)
  { newc_node dev/console 020600 5 1; newc_node TRAILER!!! 0 0 0; } | cat
} | gzip -6 -n >"$tmp/initrd.img" || lvbed_die "cannot write the initramfs"
cp "$kdir/vmlinuz" "$tmp/vmlinuz"
chmod 644 "$tmp/vmlinuz" "$tmp/initrd.img"
{
  printf '{\n'
  printf '  "kernel": %s,\n' "$(lvbed_json_string "$out/vmlinuz")"
  printf '  "initrd": %s,\n' "$(lvbed_json_string "$out/initrd.img")"
  printf '  "cmdline": %s,\n' "$(lvbed_json_string "$cmdline")"
  printf '  "readyMarker": %s,\n' "$(lvbed_json_string "$marker")"
  printf '  "kernelPackage": %s,\n' "$(lvbed_json_string "$pkg")"
  printf '  "kernelPackageVersion": %s,\n' "$(lvbed_json_string "$pver")"
  printf '  "hostnameParameter": "hvkit.hostname",\n'
  printf '  "modules": [%s]\n' "$(sed 's/.*/"&"/' "$kdir/load-order" | paste -sd, -)"
  printf '}\n'
} >"$tmp/guest.json"
printf '%s\n' "$key" >"$tmp/key"
rm -rf "$root"
if [ -d "$out" ]; then
  # Other domains may be starting from these files right now: rename each
  # over the old one (atomic), the key last.
  for f in initrd.img vmlinuz guest.json key; do
    mv -f "$tmp/$f" "$out/$f"
  done
  rm -rf "$tmp"
else
  mv "$tmp" "$out"
fi
trap - EXIT
lvbed_log "guest built in $(lvbed_since "$started") s: $(du -h "$out/initrd.img" | cut -f1) initrd, kernel $pkg $pver"
cat "$out/guest.json"
