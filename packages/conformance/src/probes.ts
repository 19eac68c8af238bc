import type { CapabilityId, Provider, VmChange, VmRef, VmSpecInput } from '@hvkit/core';

/**
 * How to reach the gate of one capability: an operation whose capability check fails first for
 * this id, given that `after` (the capabilities checked before it) are usable. Every probe targets
 * a VM that does not exist, so a provider that reached the backend would fail differently.
 */
export interface Probe {
  readonly operation: string;
  readonly after: readonly CapabilityId[];
  readonly run: (provider: Provider, missing: VmRef) => unknown;
}

const PROBE_NAME = 'hvkit-conformance-probe';

const spec = (extra: Partial<VmSpecInput> = {}): VmSpecInput => ({
  name: PROBE_NAME,
  cpu: { count: 1 },
  memory: { sizeMiB: 128 },
  ...extra,
});

const CREATE_AFTER = ['core.create', 'resources.cpu', 'resources.memory'] as const;

const viaCreate = (after: readonly CapabilityId[], extra: Partial<VmSpecInput>): Probe => ({
  operation: 'create',
  after: [...CREATE_AFTER, ...after],
  run: (provider) => provider.create(spec(extra)),
});

const viaReconfigure = (after: readonly CapabilityId[], change: VmChange): Probe => ({
  operation: 'reconfigure',
  after: ['core.reconfigure', ...after],
  run: (provider, missing) => provider.reconfigure(missing, change),
});

const nic = { network: 'hvkit-conformance-network' };
const disk = { sizeGiB: 1 / 1024 };

/**
 * Probes per capability, best first. Capabilities absent here have no operation of their own
 * (they qualify data other operations return) and are checked through `can()` only.
 */
export const PROBES: Partial<Record<CapabilityId, readonly Probe[]>> = {
  'core.create': [{ operation: 'create', after: [], run: (p) => p.create(spec()) }],
  'core.delete': [{ operation: 'delete', after: [], run: (p, vm) => p.delete(vm) }],
  'core.powerOn': [{ operation: 'powerOn', after: [], run: (p, vm) => p.powerOn(vm) }],
  'core.powerOff': [
    { operation: 'powerOff', after: [], run: (p, vm) => p.powerOff(vm) },
    { operation: 'shutdown', after: [], run: (p, vm) => p.shutdown(vm) },
  ],
  'core.reboot': [
    { operation: 'reboot', after: [], run: (p, vm) => p.reboot(vm) },
    { operation: 'reset', after: [], run: (p, vm) => p.reset(vm) },
  ],
  'core.suspend': [
    { operation: 'suspend', after: [], run: (p, vm) => p.suspend(vm) },
    { operation: 'resume', after: [], run: (p, vm) => p.resume(vm) },
  ],
  'core.describe': [
    { operation: 'get', after: [], run: (p, vm) => p.get(vm) },
    { operation: 'listPage', after: [], run: (p) => p.listPage({}) },
  ],
  'core.reconfigure': [viaReconfigure([], { description: 'probe' })],
  'core.taskStatus': [
    { operation: 'getTask', after: [], run: (p) => p.getTask('hvkit-conformance-missing') },
    {
      operation: 'resumeTask',
      after: [],
      run: (p) =>
        p.resumeTask({
          type: 'hvkit.task',
          version: 1,
          provider: p.name,
          id: 'hvkit-conformance-missing',
          kind: 'vm.create',
          state: 'running',
          progress: {},
        }),
    },
  ],
  'core.taskCancel': [
    {
      // A task whose submission fails validation never reaches the backend; cancel() must refuse
      // before even waiting for it.
      operation: 'task.cancel',
      after: [],
      run: (p) => p.create({ ...spec(), name: '' }).cancel(),
    },
  ],
  'core.consoleUrl': [{ operation: 'getConsole', after: [], run: (p, vm) => p.getConsole(vm) }],
  'resources.cpu': [
    viaReconfigure([], { cpu: { count: 2 } }),
    { operation: 'create', after: ['core.create'], run: (p) => p.create(spec()) },
  ],
  'resources.memory': [
    viaReconfigure([], { memory: { sizeMiB: 256 } }),
    { operation: 'create', after: ['core.create', 'resources.cpu'], run: (p) => p.create(spec()) },
  ],
  'resources.cpuHotAdd': [
    viaReconfigure([], { cpu: { hotAdd: true } }),
    viaCreate([], { cpu: { count: 1, hotAdd: true } }),
  ],
  'resources.memoryHotAdd': [
    viaReconfigure([], { memory: { hotAdd: true } }),
    viaCreate([], { memory: { sizeMiB: 128, hotAdd: true } }),
  ],
  'resources.reservations': [
    viaReconfigure([], { cpu: { reservationMHz: 100 } }),
    viaCreate([], { cpu: { count: 1, reservationMHz: 100 } }),
  ],
  'resources.limits': [
    viaReconfigure([], { cpu: { limitMHz: 1000 } }),
    viaCreate([], { cpu: { count: 1, limitMHz: 1000 } }),
  ],
  'storage.diskCreate': [
    viaReconfigure([], { addDisks: [disk] }),
    viaCreate([], { disks: [disk] }),
  ],
  'storage.diskExpand': [
    viaReconfigure([], { resizeDisks: [{ diskId: 'hvkit-conformance-missing', sizeGiB: 1 }] }),
  ],
  'storage.multipleDisks': [viaCreate(['storage.diskCreate'], { disks: [disk, disk] })],
  'storage.thin': [
    viaReconfigure(['storage.diskCreate'], { addDisks: [{ ...disk, provisioning: 'thin' }] }),
    viaCreate(['storage.diskCreate'], { disks: [{ ...disk, provisioning: 'thin' }] }),
  ],
  'storage.thick': [
    viaReconfigure(['storage.diskCreate'], { addDisks: [{ ...disk, provisioning: 'thick' }] }),
    viaCreate(['storage.diskCreate'], { disks: [{ ...disk, provisioning: 'thick' }] }),
  ],
  'storage.storagePolicies': [
    viaReconfigure(['storage.diskCreate'], {
      addDisks: [{ ...disk, storagePolicy: 'hvkit-conformance-policy' }],
    }),
    viaCreate(['storage.diskCreate'], {
      disks: [{ ...disk, storagePolicy: 'hvkit-conformance-policy' }],
    }),
  ],
  'storage.storagePools': [
    { operation: 'listStoragePools', after: [], run: (p) => p.listStoragePools() },
  ],
  'network.basic': [{ operation: 'listNetworks', after: [], run: (p) => p.listNetworks() }],
  'network.multipleNics': [viaCreate(['network.basic'], { nics: [nic, nic] })],
  'network.vlan': [
    viaReconfigure(['network.basic'], { addNics: [{ ...nic, vlan: 100 }] }),
    viaCreate(['network.basic'], { nics: [{ ...nic, vlan: 100 }] }),
  ],
  'network.staticIp': [
    viaReconfigure(['network.basic'], { addNics: [{ ...nic, ipv4: { address: '192.0.2.5/24' } }] }),
    viaCreate(['network.basic'], { nics: [{ ...nic, ipv4: { address: '192.0.2.5/24' } }] }),
  ],
  'network.dhcp': [
    viaReconfigure(['network.basic'], { addNics: [{ ...nic, ipv4: 'dhcp' }] }),
    viaCreate(['network.basic'], { nics: [{ ...nic, ipv4: 'dhcp' }] }),
  ],
  'network.bridge': [
    viaReconfigure(['network.basic'], { addNics: [{ ...nic, connection: 'bridge' }] }),
    viaCreate(['network.basic'], { nics: [{ ...nic, connection: 'bridge' }] }),
  ],
  'network.distributedSwitch': [
    viaReconfigure(['network.basic'], { addNics: [{ ...nic, connection: 'distributed' }] }),
    viaCreate(['network.basic'], { nics: [{ ...nic, connection: 'distributed' }] }),
  ],
  'lifecycle.templateDeploy': [
    { operation: 'markAsTemplate', after: [], run: (p, vm) => p.markAsTemplate(vm) },
    viaCreate([], { image: { kind: 'template', template: 'hvkit-conformance-missing' } }),
  ],
  'lifecycle.fullClone': [
    {
      operation: 'clone',
      after: [],
      run: (p, vm) => p.clone(vm, { name: PROBE_NAME, mode: 'full' }),
    },
  ],
  'lifecycle.linkedClone': [
    {
      operation: 'clone',
      after: [],
      run: (p, vm) => p.clone(vm, { name: PROBE_NAME, mode: 'linked' }),
    },
  ],
  'snapshots.create': [
    { operation: 'createSnapshot', after: [], run: (p, vm) => p.createSnapshot(vm, { name: 'x' }) },
  ],
  'snapshots.delete': [
    {
      operation: 'deleteSnapshot',
      after: [],
      run: (p, vm) => p.deleteSnapshot(vm, 'hvkit-conformance-missing'),
    },
  ],
  'snapshots.revert': [
    {
      operation: 'revertSnapshot',
      after: [],
      run: (p, vm) => p.revertSnapshot(vm, 'hvkit-conformance-missing'),
    },
  ],
  'snapshots.memory': [
    {
      operation: 'createSnapshot',
      after: ['snapshots.create'],
      run: (p, vm) => p.createSnapshot(vm, { name: 'x', memory: true }),
    },
  ],
  'snapshots.quiesce': [
    {
      operation: 'createSnapshot',
      after: ['snapshots.create'],
      run: (p, vm) => p.createSnapshot(vm, { name: 'x', quiesce: true }),
    },
  ],
  'snapshots.tree': [
    { operation: 'listSnapshots', after: [], run: (p, vm) => p.listSnapshots(vm) },
  ],
  'images.ovaImport': [
    {
      operation: 'importImage',
      after: [],
      run: (p) =>
        p.importImage({ kind: 'ova', url: 'https://example.invalid/a.ova' }, { name: 'x' }),
    },
  ],
  'images.cloudImageDownload': [
    {
      operation: 'importImage',
      after: [],
      run: (p) =>
        p.importImage({ kind: 'url', url: 'https://example.invalid/a.img' }, { name: 'x' }),
    },
    viaCreate([], { image: { kind: 'url', url: 'https://example.invalid/a.img' } }),
  ],
  'images.contentLibrary': [
    {
      operation: 'importImage',
      after: [],
      run: (p) =>
        p.importImage({ kind: 'content-library', library: 'x', item: 'y' }, { name: 'x' }),
    },
    viaCreate([], { image: { kind: 'content-library', library: 'x', item: 'y' } }),
  ],
  'images.conversion': [
    {
      operation: 'importImage',
      after: ['images.cloudImageDownload'],
      run: (p) =>
        p.importImage(
          { kind: 'url', url: 'https://example.invalid/a.img' },
          { name: 'x', convertTo: 'qcow2' },
        ),
    },
    {
      operation: 'importImage',
      after: ['images.ovaImport'],
      run: (p) =>
        p.importImage(
          { kind: 'ova', url: 'https://example.invalid/a.ova' },
          { name: 'x', convertTo: 'qcow2' },
        ),
    },
    {
      operation: 'importImage',
      after: ['images.contentLibrary'],
      run: (p) =>
        p.importImage(
          { kind: 'content-library', library: 'x', item: 'y' },
          { name: 'x', convertTo: 'qcow2' },
        ),
    },
  ],
  'guest.cloudInit': [viaCreate([], { cloudInit: { userData: '#cloud-config\n' } })],
  'guest.agent': [{ operation: 'getGuestInfo', after: [], run: (p, vm) => p.getGuestInfo(vm) }],
  'guest.customization': [viaCreate([], { customization: { hostname: 'probe' } })],
  'advanced.ha': [
    {
      operation: 'setHighAvailability',
      after: [],
      run: (p, vm) => p.setHighAvailability(vm, { enabled: true, restartPriority: 'high' }),
    },
  ],
  'advanced.drs': [
    {
      operation: 'setLoadBalancing',
      after: [],
      run: (p, vm) => p.setLoadBalancing(vm, { automation: 'full' }),
    },
  ],
  'advanced.faultTolerance': [
    {
      operation: 'setFaultTolerance',
      after: [],
      run: (p, vm) => p.setFaultTolerance(vm, { enabled: true }),
    },
  ],
  'advanced.liveMigration': [
    { operation: 'migrate', after: [], run: (p, vm) => p.migrate(vm, { host: 'probe-host' }) },
  ],
  'advanced.resourcePools': [
    { operation: 'listResourcePools', after: [], run: (p) => p.listResourcePools() },
    viaCreate([], { placement: { resourcePool: 'hvkit-conformance-pool' } }),
  ],
  'advanced.affinityRules': [
    { operation: 'listPlacementRules', after: [], run: (p) => p.listPlacementRules() },
  ],
  'monitoring.metrics': [{ operation: 'getMetrics', after: [], run: (p, vm) => p.getMetrics(vm) }],
  'monitoring.history': [
    {
      operation: 'getMetrics',
      after: ['monitoring.metrics'],
      run: (p, vm) => p.getMetrics(vm, { since: new Date(Date.now() - 86_400_000).toISOString() }),
    },
  ],
  'monitoring.events': [{ operation: 'listEvents', after: [], run: (p) => p.listEvents({}) }],
  'monitoring.healthChecks': [
    { operation: 'checkHealth', after: [], run: (p, vm) => p.checkHealth(vm) },
  ],
  'monitoring.alerting': [{ operation: 'listAlerts', after: [], run: (p) => p.listAlerts() }],
  'migration.diskExport': [
    {
      operation: 'exportDisk',
      after: [],
      run: (p, vm) => p.exportDisk(vm, 'hvkit-conformance-missing'),
    },
  ],
  'migration.diskImport': [
    {
      operation: 'importDisk',
      after: [],
      run: (p) =>
        p.importDisk(
          { name: PROBE_NAME, format: 'raw', sizeBytes: 1 },
          (async function* () {
            yield new Uint8Array(1);
          })(),
        ),
    },
  ],
};
