#!/usr/bin/env bash
# Installs (when missing), builds (when changed) and starts vcsim in the
# background, waits for its readiness file and prints that file's path.
# Idempotent: a bed already running with the same settings is reused; one
# running with other settings is restarted. Always exits non-zero, loudly,
# when the bed cannot start.
#
# Settings (environment): VCSIM_LISTEN (127.0.0.1:8989; port 0 = any free port),
# VCSIM_VMS (4), VCSIM_USERNAME (hvkit), VCSIM_PASSWORD (hvkit-secret),
# VCSIM_IDLE (0 = never), VCSIM_API (true), VCSIM_TLS (true),
# VCSIM_START_TIMEOUT seconds (120), VCSIM_STATE_DIR (testbeds/vcsim/.state),
# VCSIM_TMPDIR (datastore temp dirs; default /dev/shm/hvkit-vcsim-<id>).
# Extra arguments are passed to vcsim-hvkit (see main.go's flags).
set -euo pipefail
. "$(dirname "$0")/common.sh"

# Checked before anything starts: a bad value must not leave a bed running.
timeout="${VCSIM_START_TIMEOUT:-120}"
case "$timeout" in
  '' | . | *[!0-9.]* | *.*.*) vcsim_die "VCSIM_START_TIMEOUT must be seconds (e.g. 120 or 0.5), got '$timeout'" ;;
esac
timeout_ms="$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')"

mkdir -p "$VCSIM_STATE_DIR"
exec 9>"$VCSIM_STATE_DIR/lock"
flock -w 300 9 || vcsim_die "another start/stop holds $VCSIM_STATE_DIR/lock"

"$VCSIM_DIR/install.sh" || vcsim_die "cannot install golang-go / golang-github-vmware-govmomi-dev"
"$VCSIM_DIR/build.sh" || vcsim_die "cannot build vcsim-hvkit"

tlsdir="$VCSIM_STATE_DIR/tls"
args=(
  -listen "${VCSIM_LISTEN:-127.0.0.1:8989}"
  -vms "${VCSIM_VMS:-4}"
  -username "${VCSIM_USERNAME:-hvkit}"
  -password "${VCSIM_PASSWORD:-hvkit-secret}"
  -idle "${VCSIM_IDLE:-0}"
  -api="${VCSIM_API:-true}"
  -tls="${VCSIM_TLS:-true}"
  -tls-cert "$tlsdir/cert.pem"
  -tls-key "$tlsdir/key.pem"
  -ready "$VCSIM_READY"
  "$@"
)
wanted="$(printf '%s\n' "${args[@]}"; sha256sum "$VCSIM_BIN" | cut -d' ' -f1)"

pid="$(vcsim_pid)"
if [ -n "$pid" ] && [ -s "$VCSIM_READY" ] && [ "$(cat "$VCSIM_ARGSFILE" 2>/dev/null)" = "$wanted" ]; then
  vcsim_log "already running (pid $pid)"
  printf '%s\n' "$VCSIM_READY"
  exit 0
fi
if [ -n "$pid" ]; then
  vcsim_log "running with other settings (pid $pid): restarting"
fi
flock -u 9
"$VCSIM_DIR/stop.sh" >/dev/null
flock -w 300 9 || vcsim_die "another start/stop holds $VCSIM_STATE_DIR/lock"

# vcsim's datastores are temp directories (about 5 empty files per VM). On
# tmpfs a 5,000-VM start takes about 4 s; on this ext4 disk (mounted with
# discard) it took 5-24 s, slower on every restart. So: /dev/shm when it is
# writable, else the state dir. stop.sh removes the directory recorded here.
if [ -n "${VCSIM_TMPDIR:-}" ]; then
  dstmp="$VCSIM_TMPDIR"
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
  dstmp="/dev/shm/hvkit-vcsim-$(printf '%s' "$VCSIM_STATE_DIR" | sha256sum | cut -c1-12)"
else
  dstmp="$VCSIM_STATE_DIR/tmp"
fi
mkdir -p "$dstmp" "$tlsdir" || vcsim_die "cannot create $dstmp"
printf '%s\n' "$dstmp" >"$VCSIM_STATE_DIR/tmpdir"
rm -f "$VCSIM_READY"
printf '%s\n' "$wanted" >"$VCSIM_ARGSFILE"
start=$(date +%s.%N)
TMPDIR="$dstmp" nohup setsid "$VCSIM_BIN" "${args[@]}" >"$VCSIM_LOG" 2>&1 </dev/null 9>&- &
pid=$!
printf '%s\n' "$pid" >"$VCSIM_PIDFILE"

deadline_ms=$(($(date +%s%N) / 1000000 + timeout_ms))
until [ -s "$VCSIM_READY" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$VCSIM_PIDFILE"
    tail -n 20 "$VCSIM_LOG" >&2 || true
    # stop.sh removes the datastore temp dir created above.
    flock -u 9
    "$VCSIM_DIR/stop.sh" >/dev/null 2>&1 || true
    vcsim_die "vcsim-hvkit exited before it was ready (log: $VCSIM_LOG)"
  fi
  if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline_ms" ]; then
    tail -n 20 "$VCSIM_LOG" >&2 || true
    flock -u 9
    "$VCSIM_DIR/stop.sh" >/dev/null || true
    vcsim_die "vcsim-hvkit not ready after ${timeout}s (VCSIM_START_TIMEOUT; log: $VCSIM_LOG)"
  fi
  sleep 0.1
done
rpid="$(sed -n 's/^ *"pid": *\([0-9][0-9]*\).*/\1/p' "$VCSIM_READY")"
[ -n "$rpid" ] && printf '%s\n' "$rpid" >"$VCSIM_PIDFILE"
vcsim_log "ready in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }') s: $(head -n 1 "$VCSIM_LOG")"
printf '%s\n' "$VCSIM_READY"
