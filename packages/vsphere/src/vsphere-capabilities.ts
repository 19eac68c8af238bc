import { type CapabilityDeclarations, type CapabilityMap, declareCapabilities } from '@hvkit/core';

/**
 * What the vSphere provider declares. `supported` and `partial` are each proven by the
 * conformance suite against vcsim 0.24 or, where vcsim cannot exercise the call (console tickets,
 * RebootGuest, paging tokens, running task states), by unit tests on recorded and vCenter-shaped
 * fixtures; docs/providers/vsphere.md says which is which.
 */
export const VSPHERE_CAPABILITY_DECLARATIONS = {
  'core.create': 'supported',
  'core.delete': { level: 'supported', note: 'a running VM is powered off first' },
  'core.powerOn': 'supported',
  'core.powerOff': {
    level: 'supported',
    note: 'powerOff is PowerOffVM_Task; shutdown is ShutdownGuest and needs running VMware Tools',
  },
  'core.reboot': {
    level: 'supported',
    note: 'reset is ResetVM_Task; reboot is RebootGuest and needs running VMware Tools (ConflictError invalid-state without)',
  },
  'core.suspend': {
    level: 'supported',
    note: 'SuspendVM_Task always writes the memory to disk (.vmss), so toDisk is what it does either way',
  },
  'core.describe': {
    level: 'supported',
    note: 'list reads summaries (one RetrievePropertiesEx over a container view); get reads the full record',
  },
  'core.reconfigure': {
    level: 'supported',
    note: 'CPU and memory changes of a running VM need hot-add (else ConflictError, checked before sending); disks grow, never shrink',
  },
  'core.taskStatus': { level: 'supported', note: 'Task.info observed with WaitForUpdatesEx' },
  'core.taskCancel': {
    level: 'unsupported',
    note: 'CancelTask is implemented and unit-tested, but vcsim finishes every task before answering, so no running task can be canceled in the test bed',
  },
  'core.consoleUrl': {
    level: 'unsupported',
    note: 'not wired yet',
  },

  'resources.cpu': 'supported',
  'resources.memory': 'supported',
  'resources.cpuHotAdd': 'supported',
  'resources.memoryHotAdd': 'supported',
  'resources.reservations': 'supported',
  'resources.limits': 'supported',

  'storage.diskCreate': 'supported',
  'storage.diskExpand': 'supported',
  'storage.multipleDisks': 'supported',
  'storage.thin': 'supported',
  'storage.thick': {
    level: 'supported',
    note: 'lazy-zeroed (thick) and eager-zeroed (thick-eager)',
  },
  'storage.storagePolicies': {
    level: 'unsupported',
    note: 'storage policies (SPBM) live in the PBM service, which vcsim 0.24 does not simulate',
  },
  'storage.storagePools': { level: 'unsupported', note: 'not wired yet' },

  'network.basic': { level: 'unsupported', note: 'not wired yet' },
  'network.multipleNics': { level: 'unsupported', note: 'not wired yet' },
  'network.vlan': {
    level: 'unsupported',
    note: 'a VM NIC has no VLAN on vSphere: the port group carries it; pick a port group with the VLAN',
  },
  'network.staticIp': { level: 'unsupported', note: 'not wired yet' },
  'network.dhcp': { level: 'unsupported', note: 'not wired yet' },
  'network.bridge': {
    level: 'not-applicable',
    note: 'vSphere NICs attach to port groups, not host bridges',
  },
  'network.distributedSwitch': { level: 'unsupported', note: 'not wired yet' },

  'lifecycle.templateDeploy': 'supported',
  'lifecycle.fullClone': 'supported',
  'lifecycle.linkedClone': { level: 'unsupported', note: 'not wired yet' },

  'snapshots.create': 'supported',
  'snapshots.delete': 'supported',
  'snapshots.revert': 'supported',
  'snapshots.memory': 'supported',
  'snapshots.quiesce': {
    level: 'unsupported',
    note: 'quiescing needs running VMware Tools, and vcsim 0.24 runs no guest (tools never run), so it cannot be proven here',
  },
  'snapshots.tree': 'supported',

  'images.ovaImport': { level: 'unsupported', note: 'not wired yet' },
  'images.cloudImageDownload': {
    level: 'unsupported',
    note: 'vSphere cannot fetch a disk image from a URL onto a datastore',
  },
  'images.contentLibrary': { level: 'unsupported', note: 'not wired yet' },
  'images.conversion': {
    level: 'unsupported',
    note: 'vSphere converts nothing on import; convert with qemu-img before importDisk',
  },
  'images.caching': { level: 'unsupported', note: 'no image cache' },

  'guest.cloudInit': { level: 'unsupported', note: 'not wired yet' },
  'guest.tools': { level: 'unsupported', note: 'not wired yet' },
  'guest.agent': { level: 'unsupported', note: 'not wired yet' },
  'guest.customization': { level: 'unsupported', note: 'not wired yet' },
  'guest.monitoring': { level: 'unsupported', note: 'not wired yet' },

  'advanced.ha': { level: 'unsupported', note: 'not wired yet' },
  'advanced.drs': { level: 'unsupported', note: 'not wired yet' },
  'advanced.faultTolerance': {
    level: 'unsupported',
    note: 'CreateSecondaryVM_Task is not implemented in vcsim 0.24, so it cannot be proven',
  },
  'advanced.liveMigration': { level: 'supported', note: 'RelocateVM_Task (host, datastore, pool)' },
  'advanced.resourcePools': { level: 'unsupported', note: 'not wired yet' },
  'advanced.affinityRules': { level: 'unsupported', note: 'not wired yet' },

  'monitoring.metrics': { level: 'unsupported', note: 'not wired yet' },
  'monitoring.events': { level: 'unsupported', note: 'not wired yet' },
  'monitoring.healthChecks': { level: 'unsupported', note: 'not wired yet' },
  'monitoring.alerting': {
    level: 'unsupported',
    note: 'vCenter alarms are not mapped to hvkit alerts',
  },
  'monitoring.history': { level: 'unsupported', note: 'not wired yet' },

  'migration.diskExport': { level: 'unsupported', note: 'not wired yet' },
  'migration.diskImport': { level: 'unsupported', note: 'not wired yet' },
} as const satisfies CapabilityDeclarations;

/** The declaration as a capability map. */
export const VSPHERE_CAPABILITIES: CapabilityMap = declareCapabilities(
  VSPHERE_CAPABILITY_DECLARATIONS,
);
