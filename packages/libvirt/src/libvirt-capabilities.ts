import { type CapabilityDeclarations, type CapabilityMap, declareCapabilities } from '@hvkit/core';

/**
 * What the libvirt provider declares. Every `supported` and `partial` entry is proven by the
 * conformance suite against the real test bed (libvirtd 9.0 + QEMU 7.2 under TCG behind OpenSSH,
 * testbeds/libvirt) with a booted guest; docs/providers/libvirt.md says how each maps.
 */
export const LIBVIRT_CAPABILITY_DECLARATIONS = {
  'core.create': 'supported',
  'core.delete': {
    level: 'supported',
    note: 'a running domain is destroyed first; its volumes, seed ISO, managed-save image and snapshot metadata go with it',
  },
  'core.powerOn': {
    level: 'supported',
    note: 'start; a managed-saved domain is restored, a paused one resumed',
  },
  'core.powerOff': {
    level: 'supported',
    note: 'powerOff is destroy; shutdown asks the QEMU guest agent (ConflictError invalid-state while the agent is not connected) and ends when the domain is off',
  },
  'core.reboot': {
    level: 'supported',
    note: 'reset is a hardware reset; reboot goes through the QEMU guest agent (ConflictError invalid-state without it)',
  },
  'core.suspend': {
    level: 'supported',
    note: 'suspend pauses the vCPUs in memory (reported suspended); toDisk is managedsave, which ends the QEMU process and start restores it',
  },
  'core.describe': {
    level: 'supported',
    note: 'list reads summaries of every domain in one virsh process (domstats); get reads the domain XML',
  },
  'core.reconfigure': {
    level: 'supported',
    note: 'live where libvirt can (vCPU hot-plug onlined through the agent, balloon, disk and NIC hot-plug, disk growth), else stored in the persistent definition and reported pendingRestart',
  },
  'core.taskStatus': {
    level: 'supported',
    note: 'libvirt calls are synchronous; hvkit runs long work (create, transfers) as in-process tasks with byte progress, and answers ids from another process from the host',
  },
  'core.taskCancel': {
    level: 'supported',
    note: 'long work (create, clone, image and disk imports) stops at its next step and removes what it made; a volume copy libvirtd is running is waited out, then deleted',
  },
  'core.consoleUrl': {
    level: 'supported',
    note: 'vnc://127.0.0.1:<port>: the domain’s VNC display on the host loopback, forwarded over the SSH connection to a local loopback port; the display password is the ticket',
  },

  'resources.cpu': 'supported',
  'resources.memory': 'supported',
  'resources.cpuHotAdd': {
    level: 'supported',
    note: 'vcpu current below a maximum (default twice the count); plugged vCPUs are onlined with the guest agent',
  },
  'resources.memoryHotAdd': {
    level: 'supported',
    note: 'the virtio balloon moves between currentMemory and a maximum (default twice the size); above the maximum applies at next boot',
  },
  'resources.reservations': {
    level: 'unsupported',
    note: 'libvirt/QEMU guarantee no CPU MHz or memory to a domain (memory locking is not a reservation)',
  },
  'resources.limits': {
    level: 'unsupported',
    note: 'not implemented: cputune quotas and memtune hard limits are not mapped',
  },

  'storage.diskCreate': 'supported',
  'storage.diskExpand': {
    level: 'supported',
    note: 'blockresize while running, vol-resize when shut off; never shrinks',
  },
  'storage.multipleDisks': 'supported',
  'storage.thin': 'supported',
  'storage.thick': {
    level: 'supported',
    note: 'both thick kinds allocate the whole volume up front (qcow2: --prealloc-metadata, which qemu-img fallocates; raw: full allocation); blocks read as zeros, none are written',
  },
  'storage.storagePolicies': {
    level: 'unsupported',
    note: 'libvirt has no storage policies',
  },
  'storage.storagePools': 'supported',

  'network.basic': 'supported',
  'network.multipleNics': 'supported',
  'network.vlan': {
    level: 'unsupported',
    note: 'libvirt applies a VLAN tag only on Open vSwitch connections; the test bed has none, so it is unproven',
  },
  'network.staticIp': {
    level: 'supported',
    note: 'written to the NoCloud seed’s network-config (version 2, matched by MAC); the guest’s cloud-init applies it',
  },
  'network.dhcp': {
    level: 'supported',
    note: 'dhcp4 in the NoCloud seed’s network-config; on a libvirt NAT network its dnsmasq answers',
  },
  'network.bridge': {
    level: 'supported',
    note: 'a NIC on a host bridge (interface type bridge)',
  },
  'network.distributedSwitch': {
    level: 'unsupported',
    note: 'libvirt has no distributed switches',
  },

  'lifecycle.templateDeploy': {
    level: 'supported',
    note: 'a template is a shut-off domain hvkit marked in its metadata; it is never started, and create from it copies its volumes',
  },
  'lifecycle.fullClone': {
    level: 'supported',
    note: 'volumes copied with vol-create-from (qcow2 v3, thin stays thin), new UUID and MACs; a running source is refused (libvirt cannot copy an open qcow2)',
  },
  'lifecycle.linkedClone': {
    level: 'supported',
    note: 'qcow2 overlays backed by a template’s volumes; from templates only, because a backing file must never change',
  },

  'snapshots.create': {
    level: 'supported',
    note: 'internal qcow2 snapshots; a running domain’s snapshot includes its memory (libvirt has no internal disk-only snapshot of a running domain); raw disks are refused',
  },
  'snapshots.delete': 'supported',
  'snapshots.revert': {
    level: 'supported',
    note: 'reverting to an external snapshot (made outside hvkit) is ConflictError invalid-state: libvirt 9.0 cannot',
  },
  'snapshots.memory': {
    level: 'supported',
    note: 'internal snapshots with the VM state of a running domain; a shut-off domain has no memory to save',
  },
  'snapshots.quiesce': {
    level: 'unsupported',
    note: 'libvirt quiesces only external disk-only snapshots, which libvirt 9.0 cannot revert',
  },
  'snapshots.tree': 'supported',

  'images.ovaImport': {
    level: 'unsupported',
    note: 'OVA/OVF import is not mapped to libvirt',
  },
  'images.cloudImageDownload': {
    level: 'supported',
    note: 'the client fetches the URL and streams it into a pool volume (the host may have no route to it); a record volume beside it holds source, SHA-256 and validators',
  },
  'images.contentLibrary': {
    level: 'unsupported',
    note: 'libvirt has no content library',
  },
  'images.conversion': {
    level: 'supported',
    note: 'qemu-img convert on the host, in a staging directory of the SSH user',
  },
  'images.caching': {
    level: 'supported',
    note: 'keyed by URL, format and conversion; reused only when the content is known to be the same (sha256, ETag/Last-Modified, or the same bytes)',
  },

  'guest.cloudInit': {
    level: 'supported',
    note: 'a NoCloud seed ISO (cidata: meta-data, user-data, network-config, vendor-data) built by hvkit and attached read-only; deleted with the VM',
  },
  'guest.tools': {
    level: 'supported',
    note: 'toolsState is the state of the QEMU guest agent channel',
  },
  'guest.agent': {
    level: 'supported',
    note: 'virsh guestinfo (hostname, OS, interfaces) from the QEMU guest agent, with a 5 s agent timeout',
  },
  'guest.customization': {
    level: 'supported',
    note: 'hostname and domain as the seed’s local-hostname, time zone as vendor-data: applied by cloud-init in the guest',
  },
  'guest.monitoring': {
    level: 'unsupported',
    note: 'qemu-ga reports no uptime; file-system figures are passed on where the agent gives them, but that is not the whole capability',
  },

  'advanced.ha': {
    level: 'unsupported',
    note: 'a single libvirt host has no HA; that needs a cluster manager (Pacemaker, oVirt)',
  },
  'advanced.drs': {
    level: 'unsupported',
    note: 'libvirt has no load balancing across hosts',
  },
  'advanced.faultTolerance': {
    level: 'unsupported',
    note: 'QEMU has no fault-tolerant secondary VMs (COLO is not exposed by libvirt)',
  },
  'advanced.liveMigration': {
    level: 'unsupported',
    note: 'not implemented: needs a second libvirt host; the test bed has one',
  },
  'advanced.resourcePools': {
    level: 'unsupported',
    note: 'libvirt has no resource pools (cgroup partitions are not mapped)',
  },
  'advanced.affinityRules': {
    level: 'unsupported',
    note: 'libvirt has no placement rules',
  },

  'monitoring.metrics': {
    level: 'supported',
    note: 'rates from two domstats readings (the previous one kept per provider, else a second one 1 s later)',
  },
  'monitoring.events': {
    level: 'partial',
    note: 'libvirt keeps no event history: events from virsh event --loop, listened to from the provider’s first operation, plus hvkit’s own (snapshot create and delete, clone, template mark); events while no listener runs are lost, and each such gap is an events-gap event of unfiltered queries',
  },
  'monitoring.healthChecks': {
    level: 'unsupported',
    note: 'not implemented: libvirt has no health verdict of its own',
  },
  'monitoring.alerting': {
    level: 'unsupported',
    note: 'libvirt has no alarms',
  },
  'monitoring.history': {
    level: 'unsupported',
    note: 'libvirt keeps no metric history; domstats gives the current counters only',
  },

  'migration.diskExport': {
    level: 'supported',
    note: 'a shut-off domain’s disk volume, by cat of its file when the SSH user may read it, else vol-download (always for an offset); a qcow2 overlay (linked clone) is refused, its file alone is not the disk',
  },
  'migration.diskImport': {
    level: 'supported',
    note: 'exactly sizeBytes with SHA-256 check, into a volume created owned by the SSH user and written by cat (vol-upload where it cannot be); raw and qcow2',
  },
} as const satisfies CapabilityDeclarations;

/** The capability map of every libvirt provider. */
export const LIBVIRT_CAPABILITIES: CapabilityMap = declareCapabilities(
  LIBVIRT_CAPABILITY_DECLARATIONS,
);
