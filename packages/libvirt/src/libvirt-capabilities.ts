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
    level: 'unsupported',
    note: 'not implemented yet',
  },
  'core.taskStatus': {
    level: 'supported',
    note: 'libvirt calls are synchronous; hvkit runs long work (create, transfers) as in-process tasks with byte progress, and answers ids from another process from the host',
  },
  'core.taskCancel': { level: 'unsupported', note: 'not implemented yet' },
  'core.consoleUrl': { level: 'unsupported', note: 'not implemented yet' },

  'resources.cpu': 'supported',
  'resources.memory': 'supported',
  'resources.cpuHotAdd': {
    level: 'unsupported',
    note: 'not implemented yet',
  },
  'resources.memoryHotAdd': { level: 'unsupported', note: 'not implemented yet' },
  'resources.reservations': {
    level: 'unsupported',
    note: 'libvirt/QEMU guarantee no CPU MHz or memory to a domain (memory locking is not a reservation)',
  },
  'resources.limits': {
    level: 'unsupported',
    note: 'not implemented: cputune quotas and memtune hard limits are not mapped',
  },

  'storage.diskCreate': 'supported',
  'storage.diskExpand': { level: 'unsupported', note: 'not implemented yet' },
  'storage.multipleDisks': 'supported',
  'storage.thin': 'supported',
  'storage.thick': {
    level: 'supported',
    note: 'thick preallocates qcow2 metadata (raw: full); eagerZeroedThick allocates the whole volume',
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
  'network.staticIp': { level: 'unsupported', note: 'not implemented yet' },
  'network.dhcp': { level: 'unsupported', note: 'not implemented yet' },
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
  'lifecycle.fullClone': { level: 'unsupported', note: 'not implemented yet' },
  'lifecycle.linkedClone': { level: 'unsupported', note: 'not implemented yet' },

  'snapshots.create': { level: 'unsupported', note: 'not implemented yet' },
  'snapshots.delete': { level: 'unsupported', note: 'not implemented yet' },
  'snapshots.revert': { level: 'unsupported', note: 'not implemented yet' },
  'snapshots.memory': { level: 'unsupported', note: 'not implemented yet' },
  'snapshots.quiesce': { level: 'unsupported', note: 'not implemented yet' },
  'snapshots.tree': { level: 'unsupported', note: 'not implemented yet' },

  'images.ovaImport': {
    level: 'unsupported',
    note: 'OVA/OVF import is not mapped to libvirt',
  },
  'images.cloudImageDownload': { level: 'unsupported', note: 'not implemented yet' },
  'images.contentLibrary': {
    level: 'unsupported',
    note: 'libvirt has no content library',
  },
  'images.conversion': { level: 'unsupported', note: 'not implemented yet' },
  'images.caching': { level: 'unsupported', note: 'not implemented yet' },

  'guest.cloudInit': { level: 'unsupported', note: 'not implemented yet' },
  'guest.tools': {
    level: 'supported',
    note: 'toolsState is the state of the QEMU guest agent channel',
  },
  'guest.agent': { level: 'unsupported', note: 'not implemented yet' },
  'guest.customization': { level: 'unsupported', note: 'not implemented yet' },
  'guest.monitoring': { level: 'unsupported', note: 'not implemented yet' },

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

  'monitoring.metrics': { level: 'unsupported', note: 'not implemented yet' },
  'monitoring.events': { level: 'unsupported', note: 'not implemented yet' },
  'monitoring.healthChecks': { level: 'unsupported', note: 'not implemented yet' },
  'monitoring.alerting': {
    level: 'unsupported',
    note: 'libvirt has no alarms',
  },
  'monitoring.history': {
    level: 'unsupported',
    note: 'libvirt keeps no metric history; domstats gives the current counters only',
  },

  'migration.diskExport': { level: 'unsupported', note: 'not implemented yet' },
  'migration.diskImport': { level: 'unsupported', note: 'not implemented yet' },
} as const satisfies CapabilityDeclarations;

/** The capability map of every libvirt provider. */
export const LIBVIRT_CAPABILITIES: CapabilityMap = declareCapabilities(
  LIBVIRT_CAPABILITY_DECLARATIONS,
);
