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
    level: 'supported',
    note: 'WebMKS: AcquireTicket where vCenter has it (proven on recorded fixtures), else the vSphere web console page with a clone-session ticket (proven on vcsim)',
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
  'storage.storagePools': 'supported',

  'network.basic': 'supported',
  'network.multipleNics': 'supported',
  'network.vlan': {
    level: 'unsupported',
    note: 'a VM NIC has no VLAN on vSphere: the port group carries it; pick a port group with the VLAN',
  },
  'network.staticIp': {
    level: 'supported',
    note: 'through customization (CustomizeVM_Task) or, with cloud-init, the network config in guestinfo metadata; applies at first boot',
  },
  'network.dhcp': {
    level: 'supported',
    note: 'the default; through customization or cloud-init where asked',
  },
  'network.bridge': {
    level: 'not-applicable',
    note: 'vSphere NICs attach to port groups, not host bridges',
  },
  'network.distributedSwitch': 'supported',

  'lifecycle.templateDeploy': 'supported',
  'lifecycle.fullClone': 'supported',
  'lifecycle.linkedClone': {
    level: 'unsupported',
    note: 'implemented (snapshot + createNewChildDiskBacking) and proven on fixtures only: vcsim 0.24 ignores diskMoveType and makes a full copy, so a copy-on-write parent cannot be shown',
  },

  'snapshots.create': 'supported',
  'snapshots.delete': 'supported',
  'snapshots.revert': 'supported',
  'snapshots.memory': 'supported',
  'snapshots.quiesce': {
    level: 'unsupported',
    note: 'quiescing needs running VMware Tools, and vcsim 0.24 runs no guest (tools never run), so it cannot be proven here',
  },
  'snapshots.tree': 'supported',

  'images.ovaImport': {
    level: 'supported',
    note: 'CreateImportSpec + ImportVApp + HttpNfcLease upload; the imported VM becomes a template, which is the image (vcsim discards the uploaded disk bytes)',
  },
  'images.cloudImageDownload': {
    level: 'unsupported',
    note: 'vSphere cannot fetch a disk image from a URL onto a datastore',
  },
  'images.contentLibrary': {
    level: 'supported',
    note: 'vAPI /rest: library items as images, VMs deployed from OVF items',
  },
  'images.conversion': {
    level: 'unsupported',
    note: 'vSphere converts nothing on import; convert with qemu-img before importDisk',
  },
  'images.caching': { level: 'unsupported', note: 'no image cache' },

  'guest.cloudInit': {
    level: 'supported',
    note: "guestinfo.userdata / guestinfo.metadata (base64) for cloud-init's VMware datasource, the network config inside the metadata; read by the guest at boot",
  },
  'guest.tools': {
    level: 'unsupported',
    note: 'vcsim 0.24 runs no guest OS, so VMware Tools never report running and this cannot be proven here',
  },
  'guest.agent': {
    level: 'unsupported',
    note: 'guest info reads VMware Tools, which vcsim 0.24 never runs (no guest OS), so it cannot be proven here',
  },
  'guest.customization': {
    level: 'supported',
    note: 'CustomizeVM_Task with a Linux prep (host name, domain, DNS, static IPv4 or DHCP per NIC); Windows sysprep is not implemented',
  },
  'guest.monitoring': {
    level: 'unsupported',
    note: 'uptime and file systems come from VMware Tools, which vcsim never runs',
  },

  'advanced.ha': {
    level: 'supported',
    note: "per-VM HA overrides (dasVmConfig) on the VM's cluster; vcsim ignores cluster-level HA settings",
  },
  'advanced.drs': {
    level: 'supported',
    note: "per-VM DRS overrides (drsVmConfig) on the VM's cluster",
  },
  'advanced.faultTolerance': {
    level: 'unsupported',
    note: 'CreateSecondaryVM_Task is not implemented in vcsim 0.24, so it cannot be proven',
  },
  'advanced.liveMigration': { level: 'supported', note: 'RelocateVM_Task (host, datastore, pool)' },
  'advanced.resourcePools': 'supported',
  'advanced.affinityRules': {
    level: 'supported',
    note: 'VM-VM affinity and anti-affinity cluster rules; ids are <cluster>/<rule key>',
  },

  'monitoring.metrics': { level: 'supported', note: 'QueryPerf on the 20 s real-time interval' },
  'monitoring.events': { level: 'supported', note: 'QueryEvents (at most 1 000 per query)' },
  'monitoring.healthChecks': {
    level: 'supported',
    note: 'overall status, connection state, guest heartbeat and triggered alarms of the VM',
  },
  'monitoring.alerting': {
    level: 'unsupported',
    note: 'vCenter alarms are not mapped to hvkit alerts',
  },
  'monitoring.history': {
    level: 'supported',
    note: 'QueryPerf on the historical intervals (5 min and coarser)',
  },

  'migration.diskExport': {
    level: 'supported',
    note: 'flat VMDK data as raw bytes over datastore HTTP /folder with Range resume; a disk with delta disks (snapshots) is refused',
  },
  'migration.diskImport': {
    level: 'partial',
    note: 'raw streams become an attachable flat VMDK in hvkit-images/; vmdk, qcow2 and vhdx are stored as they come and cannot be attached without conversion',
  },
} as const satisfies CapabilityDeclarations;

/** The declaration as a capability map. */
export const VSPHERE_CAPABILITIES: CapabilityMap = declareCapabilities(
  VSPHERE_CAPABILITY_DECLARATIONS,
);
