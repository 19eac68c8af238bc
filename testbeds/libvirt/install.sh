#!/usr/bin/env bash
# Installs the Debian 12 packages of the libvirt bed when missing (see
# LVBED_PACKAGES in common.sh). Idempotent: does nothing when all are installed;
# runs apt-get update only when the package lists are empty or the install
# fails without it. Waits up to 15 min for another apt run's lock.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

missing=()
for p in "${LVBED_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    lvbed_die "missing ${missing[*]} and no apt-get: this bed needs Debian 12 (bookworm) packages"
  if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
    lvbed_die "missing ${missing[*]}; run as root: apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt=(lvbed_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900)
  lvbed_log "installing ${missing[*]}"
  started="$(lvbed_now)"
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null ||
    ! "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"; then
    lvbed_log "apt-get update"
    "${apt[@]}" update -q || lvbed_die "apt-get update failed"
    "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" ||
      lvbed_die "apt-get install ${missing[*]} failed"
  fi
  lvbed_log "installed ${#missing[@]} packages in $(lvbed_since "$started") s"
fi

for c in libvirtd virtlogd virsh qemu-system-x86_64 qemu-img /usr/sbin/sshd ssh ssh-keygen ssh-keyscan \
  socat ip dnsmasq iptables busybox /usr/sbin/qemu-ga cpio gzip genisoimage; do
  command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 ||
    lvbed_die "$c is not installed after installing ${LVBED_PACKAGES[*]}"
done
exit 0
