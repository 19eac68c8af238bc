#!/usr/bin/env bash
# Installs (when missing), builds the test guest (when its inputs changed) and
# starts the libvirt bed: a network namespace, virtlogd + libvirtd inside it
# (qemu:///system, "default" dir pool, "default" NAT network), and a key-only
# OpenSSH server per connection, relayed by socat from 127.0.0.1:PORT into the
# namespace. Waits until `virsh` answers over ssh with the pinned host key,
# writes ready.json atomically and prints its path.
# Idempotent: whatever already runs is reused; a killed daemon is restarted.
# Always exits non-zero, loudly, when the bed cannot start.
#
#   start.sh           start (or reuse) the bed
#   start.sh --check   start, then boot a real TCG guest through it (check.sh)
#
# Settings (environment): LIBVIRT_BED_STATE_DIR (testbeds/libvirt/.state),
# LIBVIRT_BED_PORT (2222), LIBVIRT_BED_NETNS (hvkit-lvtb), LIBVIRT_BED_USER
# (hvkit-lv), LIBVIRT_BED_START_TIMEOUT seconds (120).
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

check=false
case "${1:-}" in
  '') ;;
  --check) check=true ;;
  *) lvbed_die "unknown argument '$1' (usage: start.sh [--check])" ;;
esac

# Checked before anything starts: a bad value must not leave a half-started bed.
timeout="${LIBVIRT_BED_START_TIMEOUT:-120}"
case "$timeout" in
  '' | . | *[!0-9.]* | *.*.*) lvbed_die "LIBVIRT_BED_START_TIMEOUT must be seconds (e.g. 120 or 0.5), got '$timeout'" ;;
esac
case "$LVBED_PORT" in
  '' | *[!0-9]*) lvbed_die "LIBVIRT_BED_PORT must be a TCP port number, got '$LVBED_PORT'" ;;
esac
if [ "$LVBED_PORT" -lt 1 ] || [ "$LVBED_PORT" -gt 65535 ]; then
  lvbed_die "LIBVIRT_BED_PORT must be 1-65535, got '$LVBED_PORT'"
fi
[[ "$LVBED_NETNS" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$ ]] ||
  lvbed_die "LIBVIRT_BED_NETNS must be a short name of letters, digits, '.', '_', '-', got '$LVBED_NETNS'"
[[ "$LVBED_USER" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] ||
  lvbed_die "LIBVIRT_BED_USER must be a plain user name, got '$LVBED_USER'"
mkdir -p "$LVBED_STATE_DIR" || lvbed_die "cannot create $LVBED_STATE_DIR"
LVBED_STATE_DIR="$(cd "$LVBED_STATE_DIR" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh" # recompute the paths from the absolute state dir
# socat's EXEC address splits on spaces and treats ':' and ',' as syntax.
[[ "$LVBED_STATE_DIR" =~ ^[A-Za-z0-9_./+-]+$ ]] ||
  lvbed_die "LIBVIRT_BED_STATE_DIR may hold only letters, digits and . _ / + - (socat), got '$LVBED_STATE_DIR'"

exec 9>"$LVBED_STATE_DIR/lock"
flock -w 300 9 || lvbed_die "another start/stop holds $LVBED_STATE_DIR/lock"
t0="$(lvbed_now)"

"$LVBED_DIR/install.sh" || lvbed_die "cannot install the bed's Debian packages"
lvbed_root true # dies here, loudly, without root or passwordless sudo
guest_json="$("$LVBED_DIR/guest/build.sh")" || lvbed_die "cannot build the test guest (guest/build.sh)"
t_prep="$(lvbed_now)"

V=(lvbed_root virsh -q -c "$LVBED_URI")

# --- what libvirt-daemon-system's postinst would have done ---------------------
getent group libvirt >/dev/null || lvbed_root groupadd --system libvirt
# libvirtd refuses to start without this user, even with user="root" in qemu.conf.
getent passwd libvirt-qemu >/dev/null ||
  lvbed_root useradd --system --user-group --home-dir /var/lib/libvirt --no-create-home \
    --shell /usr/sbin/nologin libvirt-qemu
lvbed_root mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images /var/cache/libvirt /run/libvirt /run/sshd
lvbed_root chmod 755 /run/sshd

# put_conf FILE CONTENT: writes FILE when its content differs; true when it did.
put_conf() {
  if [ "$(lvbed_root cat "$1" 2>/dev/null || true)" != "$2" ]; then
    printf '%s\n' "$2" | lvbed_root tee "$1" >/dev/null
    return 0
  fi
  return 1
}
conf_changed=false
put_conf /etc/libvirt/qemu.conf '# Written by hvkit testbeds/libvirt/start.sh (no systemd, no polkit, no AppArmor).
user = "root"
group = "root"
security_driver = "none"
# no private /dev per VM: breaks in chroots and unusual containers, harmless elsewhere
namespaces = [ ]' && conf_changed=true
put_conf /etc/libvirt/libvirtd.conf '# Written by hvkit testbeds/libvirt/start.sh: members of group libvirt may use qemu:///system.
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"' && conf_changed=true

# --- the network namespace ----------------------------------------------------
if ! lvbed_netns_exists; then
  lvbed_root ip netns add "$LVBED_NETNS" || lvbed_die "cannot create network namespace $LVBED_NETNS"
fi
lvbed_root ip netns exec "$LVBED_NETNS" ip link set lo up

# in_our_netns PID: true when PID lives in $LVBED_NETNS.
in_our_netns() { [ "$(lvbed_root ip netns identify "$1" 2>/dev/null || true)" = "$LVBED_NETNS" ]; }

# --- virtlogd and libvirtd (system daemons, in the namespace) -----------------
for d in virtlogd libvirtd; do
  pidfile="/run/$d.pid"
  if lvbed_alive "$pidfile" "$d"; then
    pid="$(cat "$pidfile")"
    in_our_netns "$pid" || lvbed_die "$d (pid $pid) already runs outside network namespace $LVBED_NETNS" \
      "($(lvbed_root ip netns identify "$pid" 2>/dev/null || true)); stop it (or that bed's stop.sh) first"
    if [ "$d" = libvirtd ] && [ "$conf_changed" = true ]; then
      lvbed_log "libvirt configuration changed: restarting libvirtd"
      lvbed_root kill -TERM "$pid"
      lvbed_wait 15 test ! -e "/proc/$pid" || lvbed_die "libvirtd (pid $pid) did not stop"
    else
      continue
    fi
  fi
  lvbed_log "starting $d in $LVBED_NETNS"
  lvbed_root ip netns exec "$LVBED_NETNS" "$d" -d </dev/null 9>&- ||
    lvbed_die "$d -d failed (log: /var/log/libvirt/libvirtd.log)"
done
printf '%s\n' "$LVBED_NETNS" >"$LVBED_STATE_DIR/daemons.netns"
# The first connection waits for the QEMU driver (capability probing: 0.5-5 s).
lvbed_wait "$timeout" "${V[@]}" uri ||
  {
    lvbed_root tail -n 20 /var/log/libvirt/libvirtd.log >&2 || true
    lvbed_die "libvirtd does not answer on $LVBED_URI after ${timeout}s (LIBVIRT_BED_START_TIMEOUT)"
  }

# --- storage pool "default" and NAT network "default" -------------------------
if ! "${V[@]}" pool-info default >/dev/null 2>&1; then
  "${V[@]}" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  "${V[@]}" pool-build default >/dev/null
fi
[ "$("${V[@]}" pool-info default | awk '$1 == "State:" { print $2 }')" = running ] ||
  "${V[@]}" pool-start default >/dev/null || lvbed_die "cannot start storage pool default"
"${V[@]}" pool-autostart default >/dev/null

if ! "${V[@]}" net-info default >/dev/null 2>&1; then
  "${V[@]}" net-define /dev/stdin >/dev/null <<'XML'
<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
  </ip>
</network>
XML
fi
[ "$("${V[@]}" net-info default | awk '$1 == "Active:" { print $2 }')" = yes ] ||
  "${V[@]}" net-start default >/dev/null || lvbed_die "cannot start network default (dnsmasq-base, iptables)"
"${V[@]}" net-autostart default >/dev/null
# The guest network must exist in the namespace only.
if ip -o addr show 2>/dev/null | grep -q ' 192\.168\.122\.'; then
  lvbed_die "192.168.122.0/24 appeared outside network namespace $LVBED_NETNS"
fi

# --- ssh: user, keys, sshd per connection via socat ---------------------------
if ! id "$LVBED_USER" >/dev/null 2>&1; then
  lvbed_root useradd -m -s /bin/bash -G libvirt "$LVBED_USER" || lvbed_die "cannot create user $LVBED_USER"
fi
# '*': no password, but not locked (sshd refuses locked accounts even with a key).
lvbed_root usermod -p '*' -aG libvirt "$LVBED_USER"
mkdir -p "$LVBED_SSH_DIR"
chmod 700 "$LVBED_SSH_DIR"
[ -s "$LVBED_SSH_DIR/id_ed25519" ] ||
  ssh-keygen -q -t ed25519 -N '' -C "hvkit-libvirt-bed" -f "$LVBED_SSH_DIR/id_ed25519"
[ -s "$LVBED_SSH_DIR/ssh_host_ed25519_key" ] ||
  ssh-keygen -q -t ed25519 -N '' -C "hvkit-libvirt-bed-host" -f "$LVBED_SSH_DIR/ssh_host_ed25519_key"
home="$(getent passwd "$LVBED_USER" | cut -d: -f6)"
lvbed_root install -d -m 700 -o "$LVBED_USER" -g "$LVBED_USER" "$home/.ssh"
# One line per state dir (its path is the key's comment), so beds with other
# state dirs sharing this user do not lock each other out.
tag="hvkit-libvirt-bed:$LVBED_STATE_DIR"
current="$(lvbed_root cat "$home/.ssh/authorized_keys" 2>/dev/null || true)"
wanted="$(
  printf '%s\n' "$current" | awk -v t="$tag" 'NF && $NF != t'
  printf '%s %s\n' "$(cut -d' ' -f1,2 "$LVBED_SSH_DIR/id_ed25519.pub")" "$tag"
)"
if [ "$current" != "$wanted" ]; then
  printf '%s\n' "$wanted" >"$LVBED_SSH_DIR/authorized_keys.tmp"
  lvbed_root install -m 600 -o "$LVBED_USER" -g "$LVBED_USER" "$LVBED_SSH_DIR/authorized_keys.tmp" "$home/.ssh/authorized_keys"
  rm -f "$LVBED_SSH_DIR/authorized_keys.tmp"
fi

cat >"$LVBED_SSH_DIR/sshd_config" <<CONF
# Written by testbeds/libvirt/start.sh. sshd runs per connection (-i) inside
# network namespace $LVBED_NETNS, spawned by socat on 127.0.0.1:$LVBED_PORT.
HostKey $LVBED_SSH_DIR/ssh_host_ed25519_key
AllowUsers $LVBED_USER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
MaxSessions 100
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
lvbed_root /usr/sbin/sshd -t -f "$LVBED_SSH_DIR/sshd_config" || lvbed_die "sshd -t rejects $LVBED_SSH_DIR/sshd_config"
cat >"$LVBED_SSH_DIR/sshd-inetd" <<SH
#!/bin/sh
# One OpenSSH session inside the bed's network namespace (socat EXEC target).
exec ip netns exec $LVBED_NETNS /usr/sbin/sshd -i -f $LVBED_SSH_DIR/sshd_config -E $LVBED_SSH_DIR/sshd.log
SH
chmod 755 "$LVBED_SSH_DIR/sshd-inetd"

if [ "$LVBED_PORT" = 22 ]; then host_pattern=127.0.0.1; else host_pattern="[127.0.0.1]:$LVBED_PORT"; fi
printf '%s %s\n' "$host_pattern" "$(cut -d' ' -f1,2 "$LVBED_SSH_DIR/ssh_host_ed25519_key.pub")" >"$LVBED_SSH_DIR/known_hosts.tmp"
mv "$LVBED_SSH_DIR/known_hosts.tmp" "$LVBED_SSH_DIR/known_hosts"
fingerprint="$(ssh-keygen -l -E sha256 -f "$LVBED_SSH_DIR/ssh_host_ed25519_key.pub" | awk '{ print $2 }')"
cat >"$LVBED_SSH_DIR/ssh_config" <<CONF
# ssh -F $LVBED_SSH_DIR/ssh_config hvkit-libvirt-bed virsh -c qemu:///system list --all
Host hvkit-libvirt-bed
  HostName 127.0.0.1
  Port $LVBED_PORT
  User $LVBED_USER
  IdentityFile $LVBED_SSH_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $LVBED_SSH_DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  LogLevel ERROR
CONF

socat_args="TCP-LISTEN:$LVBED_PORT,bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=128 EXEC:$LVBED_SSH_DIR/sshd-inetd"
if lvbed_alive "$LVBED_SOCAT_PID" socat && [ "$(cat "$LVBED_STATE_DIR/socat.args" 2>/dev/null)" != "$socat_args" ]; then
  lvbed_log "ssh relay runs with other settings: restarting it"
  lvbed_root kill -TERM -- "-$(cat "$LVBED_SOCAT_PID")" 2>/dev/null || true
  lvbed_wait 5 test ! -e "/proc/$(cat "$LVBED_SOCAT_PID")" || true
fi
if ! lvbed_alive "$LVBED_SOCAT_PID" socat; then
  # nodelay: without it every small exchange waits ~40 ms (Nagle + delayed ACK).
  # setsid: socat leads its own process group, which stop.sh ends as a whole
  # (socat's forked children and their sshd); the pid file is written by the
  # process that becomes socat, so it is right with or without sudo.
  rm -f "$LVBED_SOCAT_PID"
  # shellcheck disable=SC2016,SC2086 # $$ and $1 belong to the inner shell; socat_args is two socat addresses
  lvbed_root setsid sh -c 'echo "$$" >"$1" && shift && exec "$@"' sh "$LVBED_SOCAT_PID" \
    socat -lf "$LVBED_STATE_DIR/socat.log" $socat_args </dev/null >/dev/null 2>&1 9>&- &
  lvbed_wait 5 test -s "$LVBED_SOCAT_PID" || lvbed_die "socat did not start (log: $LVBED_STATE_DIR/socat.log)"
  printf '%s\n' "$socat_args" >"$LVBED_STATE_DIR/socat.args"
  sleep 0.2
fi

SSH=(ssh -F "$LVBED_SSH_DIR/ssh_config" hvkit-libvirt-bed)
ok=false
deadline=$(($(date +%s%N) / 1000000 + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')))
while [ "$(($(date +%s%N) / 1000000))" -lt "$deadline" ]; do
  if ! lvbed_alive "$LVBED_SOCAT_PID" socat; then
    tail -n 5 "$LVBED_STATE_DIR/socat.log" >&2 || true
    rm -f "$LVBED_SOCAT_PID"
    lvbed_die "socat could not listen on 127.0.0.1:$LVBED_PORT (LIBVIRT_BED_PORT; log: $LVBED_STATE_DIR/socat.log)"
  fi
  if version="$("${SSH[@]}" virsh -c "$LVBED_URI" version --daemon 2>"$LVBED_STATE_DIR/ssh-check.err")"; then
    ok=true
    break
  fi
  sleep 0.2
done
if [ "$ok" != true ]; then
  cat "$LVBED_STATE_DIR/ssh-check.err" >&2 || true
  tail -n 5 "$LVBED_SSH_DIR/sshd.log" >&2 2>/dev/null || true
  lvbed_die "virsh over ssh -p $LVBED_PORT $LVBED_USER@127.0.0.1 does not answer after ${timeout}s"
fi
rm -f "$LVBED_STATE_DIR/ssh-check.err"

# --- ready.json ---------------------------------------------------------------
v_libvirt="$(printf '%s\n' "$version" | sed -n 's/^Running against daemon: *//p')"
[ -n "$v_libvirt" ] || v_libvirt="$(printf '%s\n' "$version" | sed -n 's/^Using library: *libvirt *//p')"
v_qemu="$(printf '%s\n' "$version" | sed -n 's/^Running hypervisor: *QEMU *//p')"
# shellcheck disable=SC2016 # $1 belongs to the inner shell
# The version the server announces ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10").
v_ssh="$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -n 1 <&3' sh "$LVBED_PORT" 2>/dev/null |
  tr -d '\r' | sed -n 's/^SSH-2\.0-OpenSSH_\([^ ]*\).*/\1/p' || true)"
# KVM counts only when shown to boot the test guest (check.sh --kvm records
# that); kvm-pvm here starts domains but never boots a kernel.
kvm=false
if [ -e /dev/kvm ] && [ -s "$LVBED_STATE_DIR/kvm-verdict" ] &&
  [ "$(cat "$LVBED_STATE_DIR/kvm-verdict")" = "boots $(uname -r) $v_qemu" ]; then
  kvm=true
fi
g() { printf '%s\n' "$guest_json" | sed -n "s/^  \"$1\": \(.*\),\{0,1\}$/\1/p" | sed 's/,$//'; }
{
  printf '{\n'
  printf '  "host": "127.0.0.1",\n'
  printf '  "port": %s,\n' "$LVBED_PORT"
  printf '  "username": %s,\n' "$(lvbed_json_string "$LVBED_USER")"
  printf '  "privateKeyPath": %s,\n' "$(lvbed_json_string "$LVBED_SSH_DIR/id_ed25519")"
  printf '  "hostKeyFingerprint256": %s,\n' "$(lvbed_json_string "$fingerprint")"
  printf '  "hostKeyPath": %s,\n' "$(lvbed_json_string "$LVBED_SSH_DIR/ssh_host_ed25519_key.pub")"
  printf '  "knownHostsPath": %s,\n' "$(lvbed_json_string "$LVBED_SSH_DIR/known_hosts")"
  printf '  "sshConfigPath": %s,\n' "$(lvbed_json_string "$LVBED_SSH_DIR/ssh_config")"
  printf '  "libvirtUri": "qemu:///system",\n'
  printf '  "netns": %s,\n' "$(lvbed_json_string "$LVBED_NETNS")"
  printf '  "pool": "default",\n'
  printf '  "poolPath": "/var/lib/libvirt/images",\n'
  printf '  "network": "default",\n'
  printf '  "networkCidr": "192.168.122.0/24",\n'
  printf '  "guest": {\n'
  printf '    "kernel": %s,\n' "$(g kernel)"
  printf '    "initrd": %s,\n' "$(g initrd)"
  printf '    "cmdline": %s,\n' "$(g cmdline)"
  printf '    "readyMarker": %s,\n' "$(g readyMarker)"
  printf '    "hostnameParameter": %s,\n' "$(g hostnameParameter)"
  printf '    "kernelPackage": %s,\n' "$(g kernelPackage)"
  printf '    "kernelPackageVersion": %s,\n' "$(g kernelPackageVersion)"
  printf '    "serialLogDir": "/var/log/libvirt/qemu"\n'
  printf '  },\n'
  printf '  "kvm": %s,\n' "$kvm"
  printf '  "versions": {\n'
  printf '    "libvirt": %s,\n' "$(lvbed_json_string "$v_libvirt")"
  printf '    "qemu": %s,\n' "$(lvbed_json_string "$v_qemu")"
  printf '    "openssh": %s\n' "$(lvbed_json_string "$v_ssh")"
  printf '  },\n'
  printf '  "startupMs": %s\n' "$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%d", (e - s) * 1000 }')"
  printf '}\n'
} >"$LVBED_READY.tmp"
mv "$LVBED_READY.tmp" "$LVBED_READY"
lvbed_log "ready in $(lvbed_since "$t0") s (install+guest $(awk -v s="$t0" -v e="$t_prep" 'BEGIN { printf "%.1f", e - s }') s): ssh -F $LVBED_SSH_DIR/ssh_config hvkit-libvirt-bed virsh -c qemu:///system list --all"

if [ "$check" = true ]; then
  flock -u 9
  "$LVBED_DIR/check.sh" >&2 || lvbed_die "check.sh failed: the bed runs, but a guest did not boot/shut down through it"
fi
printf '%s\n' "$LVBED_READY"
