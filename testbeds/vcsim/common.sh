# Sourced by install.sh, build.sh, start.sh and stop.sh. Not executable on its own.
# Every setting is an environment variable with a default; see ../README.md.

VCSIM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VCSIM_BUILD_DIR="$VCSIM_DIR/.build"
VCSIM_BIN="$VCSIM_BUILD_DIR/vcsim-hvkit"
VCSIM_STATE_DIR="${VCSIM_STATE_DIR:-$VCSIM_DIR/.state}"
VCSIM_READY="$VCSIM_STATE_DIR/ready.json"
VCSIM_PIDFILE="$VCSIM_STATE_DIR/vcsim.pid"
VCSIM_LOG="$VCSIM_STATE_DIR/vcsim.log"
VCSIM_ARGSFILE="$VCSIM_STATE_DIR/args"
VCSIM_GOVMOMI_SRC=/usr/share/gocode/src/github.com/vmware/govmomi
VCSIM_PACKAGES=(golang-go golang-github-vmware-govmomi-dev)

vcsim_log() { printf 'testbeds/vcsim: %s\n' "$*" >&2; }

vcsim_die() {
  printf '\n*** testbeds/vcsim FAILED: %s\n\n' "$*" >&2
  exit 1
}

# vcsim_pid prints the pid of the running bed started from this state dir,
# or nothing. A pid file whose process is gone, or is not our binary, is stale.
vcsim_pid() {
  local pid
  [ -s "$VCSIM_PIDFILE" ] || return 0
  pid="$(cat "$VCSIM_PIDFILE" 2>/dev/null || true)"
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'vcsim-hvkit'; then
    printf '%s\n' "$pid"
  fi
}
