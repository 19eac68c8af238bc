#!/usr/bin/env bash
# Installs Debian's golang-go and golang-github-vmware-govmomi-dev when missing.
# Idempotent: does nothing when both are installed; runs apt-get update only
# when the package lists are empty or the install fails without it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

missing=()
for p in "${VCSIM_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    vcsim_die "missing ${missing[*]} and no apt-get: this bed needs Debian 12 (bookworm) packages"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO=(sudo -n)
    else
      vcsim_die "missing ${missing[*]}; run as root: apt-get install -y --no-install-recommends ${missing[*]}"
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  install=("${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}")
  vcsim_log "installing ${missing[*]}"
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! "${install[@]}"; then
    vcsim_log "apt-get update"
    "${SUDO[@]}" apt-get update || vcsim_die "apt-get update failed"
    "${install[@]}" || vcsim_die "apt-get install ${missing[*]} failed"
  fi
fi

command -v go >/dev/null 2>&1 || vcsim_die "go is not on PATH after installing golang-go"
[ -d "$VCSIM_GOVMOMI_SRC/simulator" ] ||
  vcsim_die "govmomi source not found at $VCSIM_GOVMOMI_SRC (golang-github-vmware-govmomi-dev)"
exit 0
