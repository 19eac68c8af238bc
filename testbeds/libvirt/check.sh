#!/usr/bin/env bash
# Smoke test of a running bed (start.sh --check runs it): through
# `ssh -i key -p PORT user@127.0.0.1 'virsh -c qemu:///system …'` with the
# host key checked against the bed's known_hosts, it defines a TCG domain
# (type='qemu': direct kernel boot of the test guest, a virtio disk from pool
# "default", a NIC on network "default", the guest agent's virtio-serial
# channel, the serial console logged to a file, a virtio balloon), starts it,
# waits for the guest's ready marker and for an agent-reported IP, shuts it down
# through ACPI, then undefines it and deletes its volume. Prints the timings.
#
#   check.sh         the TCG check
#   check.sh --kvm   also boot the guest with type='kvm' (when /dev/kvm exists)
#                    and record whether KVM really boots it (ready.json "kvm")
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

probe_kvm=false
case "${1:-}" in
  '') ;;
  --kvm) probe_kvm=true ;;
  *) lvbed_die "unknown argument '$1' (usage: check.sh [--kvm])" ;;
esac
[ -s "$LVBED_READY" ] || lvbed_die "no $LVBED_READY: start the bed first (start.sh)"
# field NAME: the first "NAME": value in ready.json, without quotes (start.sh
# writes one key per line; bed paths hold no quotes or backslashes).
field() { sed -n "s/^ *\"$1\": *//p" "$LVBED_READY" | head -n 1 | sed 's/,$//; s/^"//; s/"$//'; }
port="$(field port)"
user="$(field username)"
key="$(field privateKeyPath)"
known="$(field knownHostsPath)"
kernel="$(field kernel)"
initrd="$(field initrd)"
cmdline="$(field cmdline)"
marker="$(field readyMarker)"
logdir="$(field serialLogDir)"

SSH=(ssh -i "$key" -p "$port" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR "$user@127.0.0.1")
# virsh ARGS...: one virsh over a new ssh connection; every argument is quoted for the remote shell.
virsh() { "${SSH[@]}" "virsh -q -c qemu:///system $(printf '%q ' "$@")"; }
virsh_in() { "${SSH[@]}" "virsh -q -c qemu:///system $(printf '%q ' "$@")"; } # stdin passes through

# boot TYPE NAME SECONDS: defines, starts and waits for the ready marker.
# Sets t_ready (s from start to marker); false when the marker never came.
boot() {
  local type="$1" name="$2" secs="$3" vol log start
  vol="$name.qcow2"
  log="$logdir/$name-serial.log"
  cleanup "$name"
  virsh vol-create-as default "$vol" 16M --format qcow2 >/dev/null || lvbed_die "vol-create-as default $vol failed"
  volpath="$(virsh vol-path --pool default "$vol")"
  virsh_in define /dev/stdin >/dev/null <<XML || lvbed_die "virsh define $name failed"
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>256</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>$cmdline hvkit.hostname=$name</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$volpath'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='$log' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>
XML
  start="$(lvbed_now)"
  virsh start "$name" >/dev/null || lvbed_die "virsh start $name failed"
  if ! lvbed_wait "$secs" lvbed_root grep -qF "$marker" "$log"; then
    t_ready=""
    return 1
  fi
  t_ready="$(lvbed_since "$start")"
  t_start="$start"
}

cleanup() {
  local name="$1"
  if virsh dominfo "$name" >/dev/null 2>&1; then
    virsh destroy "$name" >/dev/null 2>&1 || true
    virsh undefine "$name" >/dev/null 2>&1 || true
  fi
  virsh vol-delete --pool default "$name.qcow2" >/dev/null 2>&1 || true
}

name=hvkit-bed-check
trap 'cleanup "$name"' EXIT
t0="$(lvbed_now)"
if ! boot qemu "$name" 120; then
  lvbed_root tail -n 30 "$logdir/$name-serial.log" >&2 || true
  lvbed_die "guest $name printed no '$marker' within 120 s (serial log: $logdir/$name-serial.log)"
fi
lvbed_log "TCG guest: '$(lvbed_root grep -F "$marker" "$logdir/$name-serial.log" | tr -d '\r' | head -n 1)' ${t_ready} s after virsh start"

ip=""
lvbed_wait 30 sh -c '"$@" | grep -q ipv4' sh "${SSH[@]}" "virsh -q -c qemu:///system domifaddr --source agent $name" ||
  lvbed_die "no IP from the guest agent (virsh domifaddr --source agent $name) within 30 s"
ip="$(virsh domifaddr --source agent "$name" | awk '$3 == "ipv4" { sub(/\/.*/, "", $4); print $4 }' | grep -v '^127\.' | head -n 1)"
t_ip="$(lvbed_since "$t_start")"
case "$ip" in 192.168.122.*) ;; *) lvbed_die "agent IP '$ip' is not on network default (192.168.122.0/24)" ;; esac
lvbed_log "agent IP $ip ${t_ip} s after virsh start"
host="$(virsh domhostname --source agent "$name")"
[ "$host" = "$name" ] || lvbed_die "agent hostname '$host', expected '$name'"
lease="$(virsh net-dhcp-leases default | grep -F "$ip" || true)"
[ -n "$lease" ] || lvbed_die "no DHCP lease for $ip in network default"
virsh dommemstat "$name" | grep -q '^usable' || lvbed_log "note: dommemstat has no balloon stats yet"
"${SSH[@]}" "virsh -q -c qemu:///system qemu-agent-command $name '{\"execute\":\"guest-ping\"}'" | grep -q return ||
  lvbed_die "guest-ping through the agent failed"

s="$(lvbed_now)"
virsh shutdown --mode acpi "$name" >/dev/null || lvbed_die "virsh shutdown --mode acpi $name failed"
lvbed_wait 60 sh -c '"$@" | grep -qx "shut off"' sh "${SSH[@]}" "virsh -q -c qemu:///system domstate $name" ||
  lvbed_die "guest $name did not shut off within 60 s of an ACPI shutdown"
t_off="$(lvbed_since "$s")"
lvbed_log "ACPI shutdown: shut off ${t_off} s after virsh shutdown --mode acpi"
cleanup "$name"
trap - EXIT
virsh dominfo "$name" >/dev/null 2>&1 && lvbed_die "$name still defined after undefine"

summary="boot to ready ${t_ready} s, to agent IP ${t_ip} s, ACPI shutdown ${t_off} s, whole check $(lvbed_since "$t0") s"

if [ "$probe_kvm" = true ]; then
  if [ ! -e /dev/kvm ]; then
    lvbed_log "no /dev/kvm: KVM not probed"
  else
    qemu_v="$(field qemu)"
    kname=hvkit-bed-kvm-probe
    trap 'cleanup "$kname"' EXIT
    if boot kvm "$kname" 60; then
      printf 'boots %s %s\n' "$(uname -r)" "$qemu_v" >"$LVBED_STATE_DIR/kvm-verdict"
      lvbed_log "KVM boots the guest (${t_ready} s): ready.json says kvm: true after the next start.sh"
    else
      printf 'fails %s %s\n' "$(uname -r)" "$qemu_v" >"$LVBED_STATE_DIR/kvm-verdict"
      lvbed_log "KVM does NOT boot the guest within 60 s (kvm: false; use type='qemu')"
    fi
    cleanup "$kname"
    trap - EXIT
  fi
fi
lvbed_log "check passed: $summary"
