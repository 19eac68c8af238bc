#!/usr/bin/env bash
# Records the vcsim fixtures of vm-mapper.test.ts. Run from the repository root against a fresh
# vcsim (the default 4-VM model), e.g.:
#   VCSIM_STATE_DIR=/tmp/h4-vcsim VCSIM_LISTEN=127.0.0.1:18990 testbeds/vcsim/start.sh
#   packages/vsphere/src/inventory/__fixtures__/record.sh /tmp/h4-vcsim/ready.json
#   VCSIM_STATE_DIR=/tmp/h4-vcsim testbeds/vcsim/stop.sh
# It changes the model VMs (snapshots, reconfigure, power off, template), then captures one
# RetrievePropertiesEx over a container view per property set. The path lists below must equal
# VM_SUMMARY_PROPERTIES / VM_DETAIL_PROPERTIES; the test checks the recorded requests against them.
# VirtualMachine-props-after-create and VirtualMachine-snapshot-tree are copies of the research
# samples in ../shared/testbeds/vcsim-samples (another vcsim run); synthetic-* files are hand-written.
set -euo pipefail
ready="${1:?usage: record.sh <ready.json>}"
out="$(cd "$(dirname "$0")" && pwd)"
url="$(node -e 'console.log(require(process.argv[1]).url)' "$ready")"
user="$(node -e 'console.log(require(process.argv[1]).username)' "$ready")"
pass="$(node -e 'console.log(require(process.argv[1]).password)' "$ready")"
ca="$(dirname "$ready")/ready.cert.pem"
jar="$(mktemp)"
trap 'rm -f "$jar"' EXIT

SUMMARY=(name runtime.powerState config.template config.uuid
  config.hardware.numCPU config.hardware.numCoresPerSocket config.hardware.memoryMB
  config.cpuHotAddEnabled config.memoryHotAddEnabled guest.toolsStatus guest.ipAddress)
DETAIL=(name runtime.powerState runtime.host config.template config.uuid config.guestId
  config.createDate config.annotation config.firmware config.hardware
  config.cpuAllocation config.memoryAllocation config.cpuHotAddEnabled config.memoryHotAddEnabled
  config.extraConfig
  guest.toolsRunningStatus guest.toolsStatus guest.hostName guest.guestFullName guest.ipAddress
  guest.net guest.disk snapshot resourcePool parent datastore)

envelope() {
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>\n' "$1"
}
# soap BODY [NAME]: posts BODY; with NAME, saves NAME.req.xml and NAME.res.xml (status comment first).
soap() {
  local request response status
  request="$(envelope "$1")"
  response="$(mktemp)"
  status="$(printf '%s' "$request" | curl -sS --cacert "$ca" -b "$jar" -c "$jar" \
    -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: urn:vim25/6.5' \
    --data-binary @- -o "$response" -w '%{http_code}' "$url")"
  if [ "$status" != 200 ]; then
    echo "record.sh: HTTP $status for: $1" >&2
    cat "$response" >&2
    exit 1
  fi
  if [ -n "${2:-}" ]; then
    printf '%s' "$request" >"$out/$2.req.xml"
    { printf '<!-- HTTP %s -->\n' "$status"; cat "$response"; } >"$out/$2.res.xml"
  fi
  cat "$response"
  rm -f "$response"
}
task() { # task VM METHOD INNER-XML: runs a *_Task and fails unless it succeeded
  local moref state
  moref="$(soap "<$2 xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$1</_this>$3</$2>" |
    sed -n 's/.*<returnval type="Task">\([^<]*\)<.*/\1/p')"
  state="$(soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>Task</type><pathSet>info.state</pathSet></propSet><objectSet><obj type=\"Task\">$moref</obj></objectSet></specSet><options/></RetrievePropertiesEx>" |
    sed -n 's/.*>\(success\|error\|running\|queued\)<.*/\1/p')"
  [ "$state" = success ] || { echo "record.sh: $2 on $1: task $moref is $state" >&2; exit 1; }
}
vm_named() { # the moref of the VM named $1
  soap "<FindByInventoryPath xmlns=\"urn:vim25\"><_this type=\"SearchIndex\">SearchIndex</_this><inventoryPath>DC0/vm/$1</inventoryPath></FindByInventoryPath>" |
    sed -n 's/.*<returnval type="VirtualMachine">\([^<]*\)<.*/\1/p'
}
option() { printf '<extraConfig><key>%s</key><value xsi:type="xsd:string">%s</value></extraConfig>' "$1" "$2"; }
retrieve() { # retrieve VIEW NAME PATH...: RetrievePropertiesEx for VirtualMachine over the view
  local view="$1" name="$2" paths=""
  shift 2
  for path in "$@"; do paths+="<pathSet>$path</pathSet>"; done
  soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type>$paths</propSet><objectSet><obj type=\"ContainerView\">$view</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseEntities</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>" "$name" >/dev/null
}

soap "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this><userName>$user</userName><password>$pass</password><locale>en_US</locale></Login>" >/dev/null

snapshots="$(vm_named DC0_H0_VM0)"
configured="$(vm_named DC0_H0_VM1)"
off="$(vm_named DC0_C0_RP0_VM0)"
template="$(vm_named DC0_C0_RP0_VM1)"

# Two snapshots of a powered-on VM, the second a child of the first: one without memory, one
# with memory and quiesce (vcsim records the VM's power state either way).
task "$snapshots" CreateSnapshot_Task '<name>base</name><description>before the upgrade</description><memory>false</memory><quiesce>false</quiesce>'
task "$snapshots" CreateSnapshot_Task '<name>with-memory</name><memory>true</memory><quiesce>true</quiesce>'

# Tags written twice: vcsim's extraConfig is append-only, so the second value must win.
task "$configured" ReconfigVM_Task "<spec><annotation>web tier, owned by core</annotation><memoryHotAddEnabled>true</memoryHotAddEnabled><cpuHotAddEnabled>true</cpuHotAddEnabled><cpuAllocation><reservation>500</reservation><limit>2000</limit></cpuAllocation><memoryAllocation><reservation>16</reservation><limit>-1</limit></memoryAllocation>$(option guestinfo.hvkit.tags '{&quot;env&quot;:&quot;dev&quot;}')</spec>"
task "$configured" ReconfigVM_Task "<spec>$(option guestinfo.hvkit.tags '{&quot;env&quot;:&quot;prod&quot;,&quot;team&quot;:&quot;core&quot;}')$(option SET.guest.ipAddress 10.0.0.42)$(option SET.guest.hostName web-1.example.test)</spec>"
# A thick eager-zeroed disk and a vmxnet3 NIC on the standard network "VM Network".
task "$configured" ReconfigVM_Task '<spec><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type="VirtualDisk"><key>-1</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0]</fileName><diskMode>persistent</diskMode><thinProvisioned>false</thinProvisioned><eagerlyScrub>true</eagerlyScrub></backing><controllerKey>202</controllerKey><unitNumber>1</unitNumber><capacityInKB>2097152</capacityInKB></device></deviceChange><deviceChange><operation>add</operation><device xsi:type="VirtualVmxnet3"><key>-2</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><addressType>manual</addressType><macAddress>00:50:56:aa:bb:cc</macAddress></device></deviceChange></spec>'

task "$off" PowerOffVM_Task ''
task "$template" PowerOffVM_Task ''
soap "<MarkAsTemplate xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$template</_this></MarkAsTemplate>" >/dev/null

view="$(soap '<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>' |
  sed -n 's/.*<returnval type="ContainerView">\([^<]*\)<.*/\1/p')"
retrieve "$view" vcsim-vms-summary "${SUMMARY[@]}"
retrieve "$view" vcsim-vms-detail "${DETAIL[@]}"
# A name-only read of the same view: subtracting it gives the bytes per VM of the summary set.
retrieve "$view" vcsim-vms-name-only name
soap "<DestroyView xmlns=\"urn:vim25\"><_this type=\"ContainerView\">$view</_this></DestroyView>" >/dev/null

# The names the driver looks up for VmMapContext, in one read over a second view.
view="$(soap '<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>Datastore</type><type>Network</type><type>HostSystem</type><type>ClusterComputeResource</type><recursive>true</recursive></CreateContainerView>' |
  sed -n 's/.*<returnval type="ContainerView">\([^<]*\)<.*/\1/p')"
spec() { printf '<propSet><type>%s</type>' "$1"; shift; printf '<pathSet>%s</pathSet>' "$@"; printf '</propSet>'; }
soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this><specSet>$(spec Datastore name)$(spec Network name)$(spec DistributedVirtualPortgroup key)$(spec HostSystem name parent)$(spec ClusterComputeResource name)<objectSet><obj type=\"ContainerView\">$view</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>traverseEntities</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>" vcsim-inventory-names >/dev/null
soap "<DestroyView xmlns=\"urn:vim25\"><_this type=\"ContainerView\">$view</_this></DestroyView>" >/dev/null
soap '<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>' >/dev/null
# Session-scoped morefs and temp paths differ on every run; nothing else is rewritten.
echo "record.sh: wrote $out/vcsim-vms-{summary,detail,name-only}.{req,res}.xml and vcsim-inventory-names.{req,res}.xml"
