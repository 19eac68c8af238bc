#!/usr/bin/env bash
# Builds bench/vsphere/govmomi/main.go into bench/vsphere/.build/govmomi-bench the way
# testbeds/vcsim/build.sh builds vcsim: GOPATH mode against Debian's govmomi source
# (/usr/share/gocode), its own GOCACHE, no module proxy, no network. Rebuilds only when main.go,
# the Go version or the govmomi package changed. Prints the binary's path.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build_dir="$here/.build"
bin="$build_dir/govmomi-bench"
stamp="$build_dir/govmomi-bench.stamp"

die() {
  printf '\n*** bench/vsphere build FAILED: %s\n\n' "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "go not found: run testbeds/vcsim/install.sh"
[ -d /usr/share/gocode/src/github.com/vmware/govmomi ] ||
  die "govmomi source missing: run testbeds/vcsim/install.sh"
mkdir -p "$build_dir"
want="$(
  sha256sum "$here/govmomi/main.go" | cut -d' ' -f1
  go version
  dpkg-query -W -f='${Version}\n' golang-github-vmware-govmomi-dev 2>/dev/null || true
)"
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  printf '%s\n' "$bin"
  exit 0
fi

printf 'bench/vsphere: building %s\n' "$bin" >&2
start=$(date +%s.%N)
(
  cd "$here/govmomi"
  export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$build_dir/gocache"
  go build -o "$bin.tmp" .
) || die "go build failed (GOPATH mode against /usr/share/gocode)"
mv -f "$bin.tmp" "$bin"
printf '%s\n' "$want" >"$stamp"
printf 'bench/vsphere: built in %s s\n' "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')" >&2
printf '%s\n' "$bin"
