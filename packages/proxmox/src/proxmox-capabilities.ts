import { type CapabilityDeclarations, type CapabilityMap, declareCapabilities } from '@hvkit/core';

/**
 * What the Proxmox VE provider declares, for PVE 8.4 and 9.1 alike (a capability that only one
 * version has is not declared). `supported` and `partial` are each provable against the
 * simulator's endpoints (issue 5: VMs and config with digest, pending and hotplug, templates and
 * clones, snapshots with vmstate, storage content, upload, download-url and import-from, HA
 * resources, cluster resources, migration, vncproxy, guest agent, tasks with cancel, rrddata).
 */
export const PROXMOX_CAPABILITY_DECLARATIONS = {
  'core.create': 'supported',
  'core.delete': 'supported',
  'core.powerOn': 'supported',
  'core.powerOff': 'supported',
  'core.reboot': 'supported',
  'core.suspend': {
    level: 'supported',
    note: 'status/suspend pauses QEMU with RAM kept on the host; suspend({ toDisk: true }) hibernates (todisk=1); both report suspended',
  },
  'core.describe': 'supported',
  'core.reconfigure': 'supported',
  'core.taskStatus': 'supported',
  'core.taskCancel': { level: 'supported', note: 'DELETE /nodes/{node}/tasks/{upid}' },
  'core.consoleUrl': {
    level: 'supported',
    note: 'vncproxy ticket, noVNC URL and the vncwebsocket endpoint (websocketUrl)',
  },

  'resources.cpu': 'supported',
  'resources.memory': 'supported',
  'resources.cpuHotAdd': {
    level: 'partial',
    note: 'vCPUs hot-plug through `vcpus` up to sockets × cores fixed at boot (providerOptions.proxmox.maxCpuCount, default twice the count)',
  },
  'resources.memoryHotAdd': {
    level: 'partial',
    note: 'needs at least 1024 MiB and a size on the DIMM steps (1024 MiB + n × 512 MiB, doubling every 32 DIMMs); NUMA is turned on',
  },
  'resources.reservations': {
    level: 'unsupported',
    note: 'no CPU reservation (cpuunits is a relative weight); the memory floor `balloon` alone cannot honour it',
  },
  'resources.limits': {
    level: 'unsupported',
    note: 'cpulimit counts host cores, not MHz, and memory has no limit beside its size',
  },

  'storage.diskCreate': 'supported',
  'storage.diskExpand': 'supported',
  'storage.multipleDisks': 'supported',
  'storage.thin': {
    level: 'partial',
    note: 'thin where the storage type is (lvmthin, zfspool, rbd, qcow2 files): the storage decides, not the disk',
  },
  'storage.thick': {
    level: 'unsupported',
    note: 'no per-disk preallocation through the API; only the storage type or its preallocation setting decides',
  },
  'storage.storagePolicies': {
    level: 'not-applicable',
    note: 'Proxmox has no storage policies; a disk names its storage',
  },
  'storage.storagePools': 'supported',

  'network.basic': 'supported',
  'network.multipleNics': 'supported',
  'network.vlan': 'supported',
  'network.staticIp': {
    level: 'partial',
    note: 'through cloud-init ipconfigN: needs a cloud-init image and applies at boot',
  },
  'network.dhcp': {
    level: 'partial',
    note: 'through cloud-init ipconfigN (ip=dhcp, ip6=dhcp): needs a cloud-init image',
  },
  'network.bridge': 'supported',
  'network.distributedSwitch': {
    level: 'not-applicable',
    note: 'no distributed switches; SDN VNets are cluster-wide bridges and are listed as networks',
  },

  'lifecycle.templateDeploy': 'supported',
  'lifecycle.fullClone': 'supported',
  'lifecycle.linkedClone': {
    level: 'partial',
    note: 'from templates only: Proxmox links clones to a template, never to a snapshot of a VM',
  },

  'snapshots.create': 'supported',
  'snapshots.delete': 'supported',
  'snapshots.revert': 'supported',
  'snapshots.memory': { level: 'supported', note: 'vmstate' },
  'snapshots.quiesce': {
    level: 'unsupported',
    note: 'no quiesce flag: with the agent (freeze-fs) Proxmox freezes file systems itself but records nothing hvkit could report',
  },
  'snapshots.tree': 'supported',

  'images.ovaImport': {
    level: 'unsupported',
    note: 'PVE 8.2+ imports OVAs from an import storage (import-metadata); the simulator does not serve it, so it is unproven',
  },
  'images.cloudImageDownload': { level: 'supported', note: 'download-url, then import-from' },
  'images.contentLibrary': {
    level: 'not-applicable',
    note: 'Proxmox has no content libraries; images are storage content',
  },
  'images.conversion': {
    level: 'unsupported',
    note: 'download-url stores the file as it comes; formats change only when a VM disk is imported',
  },
  'images.caching': { level: 'supported', note: 'by file name in the storage content listing' },

  'guest.cloudInit': {
    level: 'unsupported',
    note: 'user-data and meta-data need snippet files the API cannot upload; native keys (ciUser, sshKeys, NIC addressing) still apply',
  },
  'guest.tools': { level: 'supported', note: 'QEMU guest agent' },
  'guest.agent': { level: 'supported', note: 'QEMU guest agent' },
  'guest.customization': {
    level: 'unsupported',
    note: 'cloud-init takes the hostname from the VM name: a hostname of its own cannot be set',
  },
  'guest.monitoring': {
    level: 'unsupported',
    note: 'agent get-fsinfo is not served by the simulator, so file-system figures are unproven',
  },

  'advanced.ha': {
    level: 'partial',
    note: 'HA resources (/cluster/ha/resources); no restart priority, kept as max_restart (low 1, medium 2, high 3)',
  },
  'advanced.drs': {
    level: 'not-applicable',
    note: 'no per-VM load balancing; the cluster resource scheduler only places HA resources',
  },
  'advanced.faultTolerance': {
    level: 'not-applicable',
    note: 'Proxmox has no lock-step secondary VMs',
  },
  'advanced.liveMigration': {
    level: 'partial',
    note: 'online node-to-node migration only; storage moves and pools are not migration targets',
  },
  'advanced.resourcePools': {
    level: 'unsupported',
    note: 'Proxmox pools group VMs for permissions, without CPU or memory reservations or limits',
  },
  'advanced.affinityRules': {
    level: 'unsupported',
    note: 'HA resource-affinity rules exist only from PVE 9.0 (/cluster/ha/rules), and the simulator does not serve them',
  },

  'monitoring.metrics': { level: 'supported', note: 'rrddata' },
  'monitoring.events': { level: 'supported', note: 'node task lists' },
  'monitoring.healthChecks': {
    level: 'supported',
    note: 'node and storage status from /cluster/resources',
  },
  'monitoring.alerting': {
    level: 'unsupported',
    note: 'Proxmox has no metric threshold alerts; its notifications cover tasks, backups and fencing',
  },
  'monitoring.history': { level: 'supported', note: 'rrddata timeframes up to a year' },

  'migration.diskExport': {
    level: 'unsupported',
    note: 'needs node SSH; @hvkit/ssh not yet available',
  },
  'migration.diskImport': {
    level: 'partial',
    note: 'raw, qcow2 and vmdk through upload to an import storage and import-from; no vhdx',
  },
} as const satisfies CapabilityDeclarations;

/** The Proxmox provider's normalised capability map. */
export const PROXMOX_CAPABILITIES: CapabilityMap = declareCapabilities(
  PROXMOX_CAPABILITY_DECLARATIONS,
);

/**
 * The endpoints each usable capability relies on (`METHOD /path` as in the official schema), so the
 * simulator and the conformance run can check that each one is served.
 */
export const PROXMOX_CAPABILITY_ENDPOINTS: Partial<
  Record<keyof typeof PROXMOX_CAPABILITY_DECLARATIONS, readonly string[]>
> = {
  'core.create': ['GET /cluster/nextid', 'POST /nodes/{node}/qemu'],
  'core.delete': ['DELETE /nodes/{node}/qemu/{vmid}', 'POST /nodes/{node}/qemu/{vmid}/status/stop'],
  'core.powerOn': ['POST /nodes/{node}/qemu/{vmid}/status/start'],
  'core.powerOff': [
    'POST /nodes/{node}/qemu/{vmid}/status/stop',
    'POST /nodes/{node}/qemu/{vmid}/status/shutdown',
  ],
  'core.reboot': [
    'POST /nodes/{node}/qemu/{vmid}/status/reboot',
    'POST /nodes/{node}/qemu/{vmid}/status/reset',
  ],
  'core.suspend': [
    'POST /nodes/{node}/qemu/{vmid}/status/suspend',
    'POST /nodes/{node}/qemu/{vmid}/status/resume',
  ],
  'core.describe': [
    'GET /cluster/resources',
    'GET /nodes/{node}/qemu/{vmid}/config',
    'GET /nodes/{node}/qemu/{vmid}/status/current',
  ],
  'core.reconfigure': [
    'POST /nodes/{node}/qemu/{vmid}/config',
    'GET /nodes/{node}/qemu/{vmid}/pending',
  ],
  'core.taskStatus': [
    'GET /nodes/{node}/tasks/{upid}/status',
    'GET /nodes/{node}/tasks/{upid}/log',
  ],
  'core.taskCancel': ['DELETE /nodes/{node}/tasks/{upid}'],
  'core.consoleUrl': ['POST /nodes/{node}/qemu/{vmid}/vncproxy'],
  'resources.cpu': ['POST /nodes/{node}/qemu/{vmid}/config'],
  'resources.memory': ['POST /nodes/{node}/qemu/{vmid}/config'],
  'resources.cpuHotAdd': ['POST /nodes/{node}/qemu/{vmid}/config'],
  'resources.memoryHotAdd': ['POST /nodes/{node}/qemu/{vmid}/config'],
  'storage.diskCreate': ['POST /nodes/{node}/qemu/{vmid}/config'],
  'storage.diskExpand': ['PUT /nodes/{node}/qemu/{vmid}/resize'],
  'storage.multipleDisks': ['POST /nodes/{node}/qemu'],
  'storage.thin': ['GET /cluster/resources'],
  'storage.storagePools': ['GET /cluster/resources'],
  'network.basic': ['GET /nodes/{node}/network'],
  'network.multipleNics': ['POST /nodes/{node}/qemu'],
  'network.vlan': ['POST /nodes/{node}/qemu'],
  'network.staticIp': [
    'POST /nodes/{node}/qemu',
    'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces',
  ],
  'network.dhcp': [
    'POST /nodes/{node}/qemu',
    'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces',
  ],
  'network.bridge': ['GET /nodes/{node}/network'],
  'lifecycle.templateDeploy': [
    'POST /nodes/{node}/qemu/{vmid}/template',
    'POST /nodes/{node}/qemu/{vmid}/clone',
  ],
  'lifecycle.fullClone': ['POST /nodes/{node}/qemu/{vmid}/clone'],
  'lifecycle.linkedClone': ['POST /nodes/{node}/qemu/{vmid}/clone'],
  'snapshots.create': ['POST /nodes/{node}/qemu/{vmid}/snapshot'],
  'snapshots.delete': ['DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}'],
  'snapshots.revert': ['POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback'],
  'snapshots.memory': ['POST /nodes/{node}/qemu/{vmid}/snapshot'],
  'snapshots.tree': ['GET /nodes/{node}/qemu/{vmid}/snapshot'],
  'images.cloudImageDownload': [
    'POST /nodes/{node}/storage/{storage}/download-url',
    'GET /nodes/{node}/storage/{storage}/content',
  ],
  'images.caching': ['GET /nodes/{node}/storage/{storage}/content'],
  'guest.tools': ['GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces'],
  'guest.agent': ['GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces'],
  'advanced.ha': [
    'POST /cluster/ha/resources',
    'DELETE /cluster/ha/resources/{sid}',
    'GET /cluster/ha/resources',
  ],
  'advanced.liveMigration': ['POST /nodes/{node}/qemu/{vmid}/migrate'],
  'monitoring.metrics': ['GET /nodes/{node}/qemu/{vmid}/rrddata'],
  'monitoring.events': ['GET /nodes/{node}/tasks'],
  'monitoring.healthChecks': ['GET /cluster/resources'],
  'monitoring.history': ['GET /nodes/{node}/qemu/{vmid}/rrddata'],
  'migration.diskImport': [
    'POST /nodes/{node}/storage/{storage}/upload',
    'POST /nodes/{node}/qemu/{vmid}/config',
  ],
};
