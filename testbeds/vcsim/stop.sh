#!/usr/bin/env bash
# Stops the bed started by start.sh (SIGTERM, then SIGKILL after 15 s) and
# removes its pid and readiness files and datastore temp dirs. Idempotent.
# The TLS certificate in the state dir is kept, so a restart keeps its fingerprint.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -d "$VCSIM_STATE_DIR" ] || exit 0
exec 9>"$VCSIM_STATE_DIR/lock"
flock -w 300 9 || vcsim_die "another start/stop holds $VCSIM_STATE_DIR/lock"

pid="$(vcsim_pid)"
if [ -z "$pid" ]; then
  vcsim_log "not running"
else
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    vcsim_log "pid $pid ignored SIGTERM for 15 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  kill -0 "$pid" 2>/dev/null && vcsim_die "pid $pid did not stop"
  vcsim_log "stopped (pid $pid)"
fi
rm -f "$VCSIM_PIDFILE" "$VCSIM_READY" "$VCSIM_ARGSFILE"
if [ -s "$VCSIM_STATE_DIR/tmpdir" ]; then
  dstmp="$(cat "$VCSIM_STATE_DIR/tmpdir")"
  # vcsim removes its datastores on SIGTERM; this is for a killed bed.
  case "$dstmp" in /dev/shm/hvkit-vcsim-* | "$VCSIM_STATE_DIR"/tmp) rm -rf "$dstmp" ;; esac
fi
rm -f "$VCSIM_STATE_DIR/tmpdir"
rm -rf "${VCSIM_STATE_DIR:?}/tmp"
