#!/usr/bin/env bash
# Records the virsh outputs and error texts that src/virsh/ parses and maps, from the real
# libvirt test bed (testbeds/libvirt, already started), into src/virsh/__fixtures__/.
# Boots one TCG guest (hvkit-lv1-fx, about 10 s) so the agent/lease outputs are real; removes it
# and its volumes at the end. Run: bash packages/libvirt/scripts/record-fixtures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
ready="$root/testbeds/libvirt/.state/ready.json"
out="$here/src/virsh/__fixtures__"
j() { node -p "require('$ready').$1"; }
ssh_=(ssh -F "$root/testbeds/libvirt/.state/ssh/ssh_config" hvkit-libvirt-bed)
uri="$(j libvirtUri)"
name=hvkit-lv1-fx
remote() { "${ssh_[@]}" "$@"; }
# ssh joins its arguments with spaces for the remote shell: quote each one (bash %q).
v() { remote "virsh -q -c $uri $(printf '%q ' "$@")"; }
# Records stdout of a command that must succeed.
ok() { local file="$1"; shift; v "$@" >"$out/$file.txt"; }
# Records stderr of a command that must fail.
fail() {
  local file="$1"; shift
  if v "$@" >/dev/null 2>"$out/$file.stderr.txt"; then echo "expected failure: $*" >&2; exit 1; fi
}
cleanup() {
  v destroy "$name" >/dev/null 2>&1 || true
  v undefine "$name" --snapshots-metadata >/dev/null 2>&1 || true
  v pool-refresh default >/dev/null 2>&1 || true
  for vol in "$name.qcow2" "$name.ext1"; do v vol-delete "$vol" --pool default >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup

v vol-create-as default "$name.qcow2" 64M --format qcow2 >/dev/null
volpath="$(v vol-path "$name.qcow2" --pool default)"
remote "virsh -q -c $uri define /dev/stdin" >/dev/null <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu current='1'>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$(j guest.kernel)</kernel><initrd>$(j guest.initrd)</initrd>
    <cmdline>$(j guest.cmdline) hvkit.hostname=$name</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$volpath'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <graphics type='vnc' port='-1' listen='127.0.0.1'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
XML

# Shut off: errors and outputs.
fail err-domain-not-found dominfo hvkit-lv1-no-such-domain
fail err-domain-not-found-uuid dominfo 6d4f1c1e-0000-4000-8000-000000000000
fail err-domain-not-running shutdown "$name"
fail err-domain-not-running-destroy destroy "$name"
fail err-domain-not-running-suspend suspend "$name"
fail err-vol-not-found vol-info hvkit-lv1-no-such-vol --pool default
fail err-pool-not-found pool-info hvkit-lv1-no-such-pool
fail err-network-not-found net-info hvkit-lv1-no-such-net
fail err-snapshot-not-found snapshot-info "$name" hvkit-lv1-no-such-snap
fail err-unknown-command hvkit-lv1-no-such-command
fail err-vol-exists vol-create-as default "$name.qcow2" 1M
remote "virsh -q -c $uri dumpxml $name | sed '/<uuid>/d' | virsh -q -c $uri define /dev/stdin" >/dev/null 2>"$out/err-already-exists-uuid.stderr.txt" && { echo "redefine without uuid succeeded" >&2; exit 1; }
ok dominfo-shutoff dominfo "$name"
ok domstate-reason-shutoff domstate "$name" --reason
ok domstats-shutoff domstats --list-inactive --state --balloon --vcpu --block "$name"

v start "$name" >/dev/null
fail err-domain-already-running start "$name"
fail err-agent-not-responding domifaddr "$name" --source agent
fail err-setmaxmem-live setmaxmem "$name" 512M --live
ok vncdisplay vncdisplay "$name"
# Wait until the guest has its DHCP lease and the agent reports the IPv4 address (the guest
# prints READY once DHCP and qemu-ga run; the agent may answer earlier, before the lease).
for _ in $(seq 1 120); do
  v domifaddr "$name" --source agent 2>/dev/null | grep -q ipv4.*192 && [ -n "$(v domifaddr "$name" --source lease 2>/dev/null)" ] && break
  sleep 1
done
ok domifaddr-agent domifaddr "$name" --source agent
ok domifaddr-lease domifaddr "$name" --source lease
ok dominfo-running dominfo "$name"
ok domstate-reason-running domstate "$name" --reason
ok domstats-running domstats --state --cpu-total --balloon --vcpu --interface --block "$name"
ok list-all-name list --all --name
ok list-all list --all
v snapshot-create-as "$name" s1 --description 'first one' >/dev/null
v snapshot-create-as "$name" s2 >/dev/null
v snapshot-revert "$name" s1 >/dev/null
v snapshot-create-as "$name" s3 >/dev/null
v snapshot-revert "$name" s2 >/dev/null
v snapshot-create-as "$name" s4 >/dev/null
v snapshot-create-as "$name" 's 5' >/dev/null
ok snapshot-list-tree snapshot-list "$name" --tree
ok snapshot-list-name snapshot-list "$name" --name
ok snapshot-list-parent snapshot-list "$name" --parent
v suspend "$name" >/dev/null
ok domstate-reason-paused domstate "$name" --reason
v resume "$name" >/dev/null
v destroy "$name" >/dev/null
v snapshot-delete "$name" 's 5' >/dev/null; v snapshot-delete "$name" s4 >/dev/null; v snapshot-delete "$name" s3 >/dev/null; v snapshot-delete "$name" s2 >/dev/null; v snapshot-delete "$name" s1 >/dev/null
v snapshot-create-as "$name" ext1 --disk-only --atomic >/dev/null
fail err-revert-external snapshot-revert "$name" ext1
ok vol-list-details vol-list default --details
ok pool-list-details pool-list --all --details
ok net-list net-list --all
ok nodeinfo nodeinfo
ok version version
ls -1 "$out"
