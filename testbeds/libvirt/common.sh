# shellcheck shell=bash disable=SC2034 # the settings are used by the scripts that source this
# Sourced by install.sh, guest/build.sh, start.sh and stop.sh. Not executable on its own.
# Every setting is an environment variable with a default; see ../README.md.

# libvirtd, virtlogd, useradd, … live in sbin, which a CI shell may not have on PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

LVBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LVBED_STATE_DIR="${LIBVIRT_BED_STATE_DIR:-$LVBED_DIR/.state}"
LVBED_PORT="${LIBVIRT_BED_PORT:-2222}"
LVBED_NETNS="${LIBVIRT_BED_NETNS:-hvkit-lvtb}"
LVBED_USER="${LIBVIRT_BED_USER:-hvkit-lv}"
LVBED_READY="$LVBED_STATE_DIR/ready.json"
LVBED_SSH_DIR="$LVBED_STATE_DIR/ssh"
LVBED_GUEST_DIR="$LVBED_STATE_DIR/guest"
LVBED_SOCAT_PID="$LVBED_STATE_DIR/socat.pid"
LVBED_URI="qemu:///system"
# libvirtd and virtlogd are system daemons: one per machine, pid files where
# they put them themselves. The bed that started them records it in its state
# dir (daemons.netns), so stop.sh never stops daemons it did not start.
LVBED_LIBVIRTD_PID=/run/libvirtd.pid
LVBED_VIRTLOGD_PID=/run/virtlogd.pid

# What the bed (daemons, NAT network, ssh relay, test guest) and the libvirt
# provider (qemu-img, NoCloud seed ISOs) need. Not libvirt-daemon-system: it
# pulls in systemd; start.sh does by hand the little it would have done.
LVBED_PACKAGES=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils
  openssh-server openssh-client socat iproute2 dnsmasq-base iptables
  busybox-static qemu-guest-agent cpio gzip genisoimage
)

lvbed_log() { printf 'testbeds/libvirt: %s\n' "$*" >&2; }

lvbed_die() {
  printf '\n*** testbeds/libvirt FAILED: %s\n\n' "$*" >&2
  exit 1
}

# lvbed_root: commands that need root run through this (root, or passwordless sudo).
LVBED_SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    LVBED_SUDO=(sudo -n)
  else
    LVBED_SUDO=(lvbed_die "this bed needs root or passwordless sudo (libvirtd, network namespaces, a system user)")
  fi
fi
lvbed_root() { "${LVBED_SUDO[@]}" "$@"; }

# lvbed_alive PIDFILE [NAME]: true when the pid file names a live process
# (whose command line contains NAME, when given).
lvbed_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  [ -z "${2:-}" ] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

lvbed_netns_exists() { [ -e "/run/netns/$LVBED_NETNS" ]; }

# lvbed_json_string: a JSON string literal for $1 (backslash, quote, control characters).
lvbed_json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\t'/\\t}"
  s="${s//$'\r'/\\r}"
  printf '"%s"' "$s"
}

# lvbed_wait SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; false on timeout.
lvbed_wait() {
  local secs="$1" end
  shift
  end=$(($(date +%s%N) / 1000000 + $(awk -v t="$secs" 'BEGIN { printf "%d", t * 1000 }')))
  until "$@" >/dev/null 2>&1; do
    [ "$(($(date +%s%N) / 1000000))" -lt "$end" ] || return 1
    sleep 0.2
  done
}

lvbed_now() { date +%s.%N; }
lvbed_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
