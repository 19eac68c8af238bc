#!/usr/bin/env bash
# Builds main.go into .build/vcsim-hvkit in GOPATH mode against Debian's
# govmomi source (/usr/share/gocode); no module proxy, no network.
# Rebuilds only when main.go, the Go version or the govmomi package changed.
set -euo pipefail
. "$(dirname "$0")/common.sh"

command -v go >/dev/null 2>&1 || vcsim_die "go not found: run testbeds/vcsim/install.sh"
mkdir -p "$VCSIM_BUILD_DIR"
# Beds with their own state dirs (packages/vsphere/test/vcsim-bed.ts) may build
# at the same time; two `go build -o X.tmp` into one file would corrupt it.
exec 8>"$VCSIM_BUILD_DIR/lock"
flock -w 600 8 || vcsim_die "another build holds $VCSIM_BUILD_DIR/lock"
stamp="$VCSIM_BUILD_DIR/stamp"
want="$(
  sha256sum "$VCSIM_DIR/main.go" | cut -d' ' -f1
  go version
  dpkg-query -W -f='${Version}\n' golang-github-vmware-govmomi-dev 2>/dev/null || true
)"
if [ -x "$VCSIM_BIN" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

vcsim_log "building $VCSIM_BIN"
start=$(date +%s.%N)
(
  cd "$VCSIM_DIR"
  export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$VCSIM_BUILD_DIR/gocache"
  go build -o "$VCSIM_BIN.tmp" .
) || vcsim_die "go build failed (GOPATH mode against $VCSIM_GOVMOMI_SRC)"
mv -f "$VCSIM_BIN.tmp" "$VCSIM_BIN"
printf '%s\n' "$want" >"$stamp"
vcsim_log "built in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
