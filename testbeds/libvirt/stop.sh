#!/usr/bin/env bash
# Stops the bed started by start.sh: destroys running domains (their
# definitions, volumes, pools and networks stay: the inventory is kept), stops
# the active networks, libvirtd and virtlogd (SIGTERM, SIGKILL after 15 s),
# the socat ssh relay with every session it spawned, whatever else still runs
# in the network namespace, and removes the namespace. Idempotent.
# The keys in the state dir are kept, so a restarted bed has the same host key.
# Daemons running outside the bed's namespace are never touched.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

[ -d "$LVBED_STATE_DIR" ] || exit 0
LVBED_STATE_DIR="$(cd "$LVBED_STATE_DIR" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"
exec 9>"$LVBED_STATE_DIR/lock"
flock -w 300 9 || lvbed_die "another start/stop holds $LVBED_STATE_DIR/lock"
rm -f "$LVBED_READY"

# The namespace the daemons were started in (it may differ from the current
# LIBVIRT_BED_NETNS if that changed since).
ns="$(cat "$LVBED_STATE_DIR/daemons.netns" 2>/dev/null || true)"
[ -n "$ns" ] || ns="$LVBED_NETNS"
in_ns() { [ "$(lvbed_root ip netns identify "$1" 2>/dev/null || true)" = "$ns" ]; }

# term_wait PID NAME: SIGTERM, up to 15 s, then SIGKILL.
term_wait() {
  lvbed_root kill -TERM "$1" 2>/dev/null || return 0
  if ! lvbed_wait 15 test ! -e "/proc/$1"; then
    lvbed_log "$2 (pid $1) ignored SIGTERM for 15 s: SIGKILL"
    lvbed_root kill -KILL "$1" 2>/dev/null || true
    lvbed_wait 5 test ! -e "/proc/$1" || lvbed_die "$2 (pid $1) did not stop"
  fi
}

stopped=()
# The ssh relay first: no new sessions. Its process group holds socat's forked
# children and the sshd they run.
if lvbed_alive "$LVBED_SOCAT_PID" socat; then
  pid="$(cat "$LVBED_SOCAT_PID")"
  lvbed_root kill -TERM -- "-$pid" 2>/dev/null || true
  lvbed_wait 5 test ! -e "/proc/$pid" || lvbed_root kill -KILL -- "-$pid" 2>/dev/null || true
  stopped+=("socat $pid")
fi
rm -f "$LVBED_SOCAT_PID" "$LVBED_STATE_DIR/socat.args"

if lvbed_alive "$LVBED_LIBVIRTD_PID" libvirtd && in_ns "$(cat "$LVBED_LIBVIRTD_PID")"; then
  V=(lvbed_root timeout 60 virsh -q -c "$LVBED_URI")
  # Running guests: destroyed (persistent ones stay defined, shut off).
  while read -r dom; do
    [ -n "$dom" ] || continue
    "${V[@]}" destroy "$dom" >/dev/null 2>&1 || lvbed_log "could not destroy domain $dom"
  done < <("${V[@]}" list --name --state-running --state-paused --state-other 2>/dev/null || true)
  # Active networks: their bridges and dnsmasq go with the namespace;
  # autostart brings them back on the next start.
  while read -r net; do
    [ -n "$net" ] || continue
    "${V[@]}" net-destroy "$net" >/dev/null 2>&1 || lvbed_log "could not stop network $net"
  done < <("${V[@]}" net-list --name 2>/dev/null || true)
  pid="$(cat "$LVBED_LIBVIRTD_PID")"
  term_wait "$pid" libvirtd
  stopped+=("libvirtd $pid")
elif lvbed_alive "$LVBED_LIBVIRTD_PID" libvirtd; then
  lvbed_log "libvirtd (pid $(cat "$LVBED_LIBVIRTD_PID")) runs outside namespace $ns: not ours, left alone"
fi
if lvbed_alive "$LVBED_VIRTLOGD_PID" virtlogd && in_ns "$(cat "$LVBED_VIRTLOGD_PID")"; then
  pid="$(cat "$LVBED_VIRTLOGD_PID")"
  term_wait "$pid" virtlogd
  stopped+=("virtlogd $pid")
fi

# Everything else still in the namespace: QEMU of a bed whose libvirtd was
# killed, dnsmasq, ssh sessions (virsh event --loop, …).
if [ -e "/run/netns/$ns" ]; then
  pids="$(lvbed_root ip netns pids "$ns" 2>/dev/null || true)"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # a list of pids
    lvbed_root kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do
      [ -n "$(lvbed_root ip netns pids "$ns" 2>/dev/null || true)" ] || break
      sleep 0.1
    done
    pids="$(lvbed_root ip netns pids "$ns" 2>/dev/null || true)"
    # shellcheck disable=SC2086 # a list of pids
    [ -z "$pids" ] || lvbed_root kill -KILL $pids 2>/dev/null || true
    lvbed_wait 5 lvbed_root sh -c "[ -z \"\$(ip netns pids $ns 2>/dev/null)\" ]" ||
      lvbed_die "processes left in namespace $ns: $(lvbed_root ip netns pids "$ns" | tr '\n' ' ')"
    stopped+=("$(printf '%s' "$pids" | wc -w) other processes in $ns")
  fi
  lvbed_root ip netns del "$ns" || lvbed_die "cannot remove network namespace $ns"
  stopped+=("netns $ns")
fi
rm -f "$LVBED_STATE_DIR/daemons.netns"
if [ "${#stopped[@]}" -eq 0 ]; then
  lvbed_log "not running"
else
  lvbed_log "stopped: $(printf '%s, ' "${stopped[@]}" | sed 's/, $//')"
fi
