import { describe, expect, it } from 'vitest';
import {
  DRIVER_METHODS,
  declarations,
  type RecordingDriverOptions,
  recordingDriver,
  sampleVm,
} from '../test/fake-driver.js';
import {
  CAPABILITY_IDS,
  type CapabilityDeclaration,
  type CapabilityId,
  declareCapabilities,
} from './capabilities.js';
import { createProvider } from './create-provider.js';
import { DRIVER_METHOD_CAPABILITIES, type ProviderDriver } from './driver.js';
import {
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  UnsupportedCapabilityError,
} from './errors.js';
import type { VmSpecInput } from './model/vm-spec.js';
import type { MutationOptions, Provider } from './provider.js';
import { Task } from './task.js';

const REF = { provider: 'fake', id: 'vm-1' };
const FOREIGN = { provider: 'elsewhere', id: 'vm-1' };
const SPEC: VmSpecInput = { name: 'web-01', cpu: { count: 2 }, memory: { sizeMiB: 2048 } };

function provider(options: RecordingDriverOptions = {}) {
  const driver = recordingDriver(options);
  return { driver, provider: createProvider(driver) };
}

/** Settles whatever an operation returns (a Task, a promise, an iterable, or a throw). */
async function settle(run: () => unknown): Promise<{ value?: unknown; error?: unknown }> {
  try {
    const result = run();
    if (result instanceof Task) return { value: await result.submitted() };
    if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
      const items: unknown[] = [];
      for await (const item of result as AsyncIterable<unknown>) items.push(item);
      return { value: items };
    }
    return { value: await result };
  } catch (error) {
    return { error };
  }
}

async function* bytes(): AsyncIterable<Uint8Array> {
  yield new Uint8Array([1]);
}

interface Operation {
  name: string;
  /** Driver method it reaches. */
  method: (typeof DRIVER_METHODS)[number];
  /** Declaring all of these unusable must refuse the call before the driver. */
  capabilities: CapabilityId[];
  /** Whether it takes a VM target (and so refuses a foreign ref). */
  target: boolean;
  run: (provider: Provider, options: MutationOptions & { target?: unknown }) => unknown;
}

const t = (options: { target?: unknown }) => (options.target ?? REF) as typeof REF;
const since = new Date(0).toISOString();
const IMAGE_SOURCES = ['cloudImageDownload', 'ovaImport', 'contentLibrary'] as const;

const OPERATIONS: Operation[] = [
  {
    name: 'list',
    method: 'listPage',
    capabilities: ['core.describe'],
    target: false,
    run: (p, o) => p.list({}, o),
  },
  {
    name: 'listPage',
    method: 'listPage',
    capabilities: ['core.describe'],
    target: false,
    run: (p, o) => p.listPage({}, o),
  },
  {
    name: 'get',
    method: 'get',
    capabilities: ['core.describe'],
    target: true,
    run: (p, o) => p.get(t(o), o),
  },
  {
    name: 'create',
    method: 'create',
    capabilities: ['core.create'],
    target: false,
    run: (p, o) => p.create(SPEC, o),
  },
  {
    name: 'delete',
    method: 'delete',
    capabilities: ['core.delete'],
    target: true,
    run: (p, o) => p.delete(t(o), o),
  },
  {
    name: 'powerOn',
    method: 'power',
    capabilities: ['core.powerOn'],
    target: true,
    run: (p, o) => p.powerOn(t(o), o),
  },
  {
    name: 'powerOff',
    method: 'power',
    capabilities: ['core.powerOff'],
    target: true,
    run: (p, o) => p.powerOff(t(o), o),
  },
  {
    name: 'shutdown',
    method: 'power',
    capabilities: ['core.powerOff'],
    target: true,
    run: (p, o) => p.shutdown(t(o), o),
  },
  {
    name: 'reboot',
    method: 'power',
    capabilities: ['core.reboot'],
    target: true,
    run: (p, o) => p.reboot(t(o), o),
  },
  {
    name: 'reset',
    method: 'power',
    capabilities: ['core.reboot'],
    target: true,
    run: (p, o) => p.reset(t(o), o),
  },
  {
    name: 'suspend',
    method: 'power',
    capabilities: ['core.suspend'],
    target: true,
    run: (p, o) => p.suspend(t(o), o),
  },
  {
    name: 'resume',
    method: 'power',
    capabilities: ['core.suspend'],
    target: true,
    run: (p, o) => p.resume(t(o), o),
  },
  {
    name: 'reconfigure',
    method: 'reconfigure',
    capabilities: ['core.reconfigure'],
    target: true,
    run: (p, o) => p.reconfigure(t(o), { name: 'renamed' }, o),
  },
  {
    name: 'clone full',
    method: 'clone',
    capabilities: ['lifecycle.fullClone'],
    target: true,
    run: (p, o) => p.clone(t(o), { name: 'copy', mode: 'full' }, o),
  },
  {
    name: 'clone linked',
    method: 'clone',
    capabilities: ['lifecycle.linkedClone'],
    target: true,
    run: (p, o) => p.clone(t(o), { name: 'copy', mode: 'linked' }, o),
  },
  {
    name: 'markAsTemplate',
    method: 'markAsTemplate',
    capabilities: ['lifecycle.templateDeploy'],
    target: true,
    run: (p, o) => p.markAsTemplate(t(o), o),
  },
  {
    name: 'listSnapshots',
    method: 'listSnapshots',
    capabilities: ['snapshots.tree'],
    target: true,
    run: (p, o) => p.listSnapshots(t(o), o),
  },
  {
    name: 'createSnapshot',
    method: 'createSnapshot',
    capabilities: ['snapshots.create'],
    target: true,
    run: (p, o) => p.createSnapshot(t(o), { name: 's1' }, o),
  },
  {
    name: 'createSnapshot memory',
    method: 'createSnapshot',
    capabilities: ['snapshots.memory'],
    target: true,
    run: (p, o) => p.createSnapshot(t(o), { name: 's1', memory: true }, o),
  },
  {
    name: 'createSnapshot quiesce',
    method: 'createSnapshot',
    capabilities: ['snapshots.quiesce'],
    target: true,
    run: (p, o) => p.createSnapshot(t(o), { name: 's1', quiesce: true }, o),
  },
  {
    name: 'revertSnapshot',
    method: 'revertSnapshot',
    capabilities: ['snapshots.revert'],
    target: true,
    run: (p, o) => p.revertSnapshot(t(o), 's1', o),
  },
  {
    name: 'deleteSnapshot',
    method: 'deleteSnapshot',
    capabilities: ['snapshots.delete'],
    target: true,
    run: (p, o) => p.deleteSnapshot(t(o), 's1', o),
  },
  {
    name: 'getConsole',
    method: 'getConsole',
    capabilities: ['core.consoleUrl'],
    target: true,
    run: (p, o) => p.getConsole(t(o), o),
  },
  {
    name: 'getGuestInfo',
    method: 'getGuestInfo',
    capabilities: ['guest.agent'],
    target: true,
    run: (p, o) => p.getGuestInfo(t(o), o),
  },
  {
    name: 'getMetrics',
    method: 'getMetrics',
    capabilities: ['monitoring.metrics'],
    target: true,
    run: (p, o) => p.getMetrics(t(o), {}, o),
  },
  {
    name: 'getMetrics since',
    method: 'getMetrics',
    capabilities: ['monitoring.history'],
    target: true,
    run: (p, o) => p.getMetrics(t(o), { since }, o),
  },
  {
    name: 'listEvents',
    method: 'listEvents',
    capabilities: ['monitoring.events'],
    target: false,
    run: (p, o) => p.listEvents({}, o),
  },
  {
    name: 'checkHealth',
    method: 'checkHealth',
    capabilities: ['monitoring.healthChecks'],
    target: true,
    run: (p, o) => p.checkHealth(t(o), o),
  },
  {
    name: 'createAlert',
    method: 'createAlert',
    capabilities: ['monitoring.alerting'],
    target: false,
    run: (p, o) =>
      p.createAlert(
        { name: 'hot', metric: 'cpu.usagePercent', comparison: 'above', threshold: 90 },
        o,
      ),
  },
  {
    name: 'listAlerts',
    method: 'listAlerts',
    capabilities: ['monitoring.alerting'],
    target: false,
    run: (p, o) => p.listAlerts(o),
  },
  {
    name: 'deleteAlert',
    method: 'deleteAlert',
    capabilities: ['monitoring.alerting'],
    target: false,
    run: (p, o) => p.deleteAlert('alert-1', o),
  },
  {
    name: 'listImages',
    method: 'listImages',
    capabilities: [...IMAGE_SOURCES.map((id) => `images.${id}` as const), 'migration.diskImport'],
    target: false,
    run: (p, o) => p.listImages(o),
  },
  {
    name: 'deleteImage',
    method: 'deleteImage',
    capabilities: [...IMAGE_SOURCES.map((id) => `images.${id}` as const), 'migration.diskImport'],
    target: false,
    run: (p, o) => p.deleteImage('img-1', o),
  },
  {
    name: 'importImage url',
    method: 'importImage',
    capabilities: ['images.cloudImageDownload'],
    target: false,
    run: (p, o) =>
      p.importImage({ kind: 'url', url: 'https://example.com/a.qcow2' }, { name: 'a' }, o),
  },
  {
    name: 'importImage ova',
    method: 'importImage',
    capabilities: ['images.ovaImport'],
    target: false,
    run: (p, o) => p.importImage({ kind: 'ova', url: 'file:///tmp/a.ova' }, { name: 'a' }, o),
  },
  {
    name: 'importImage ovf',
    method: 'importImage',
    capabilities: ['images.ovaImport'],
    target: false,
    run: (p, o) =>
      p.importImage({ kind: 'ovf', url: 'https://example.com/a.ovf' }, { name: 'a' }, o),
  },
  {
    name: 'importImage content-library',
    method: 'importImage',
    capabilities: ['images.contentLibrary'],
    target: false,
    run: (p, o) =>
      p.importImage({ kind: 'content-library', library: 'lib', item: 'ubuntu' }, { name: 'a' }, o),
  },
  {
    name: 'importImage convertTo',
    method: 'importImage',
    capabilities: ['images.conversion'],
    target: false,
    run: (p, o) =>
      p.importImage(
        { kind: 'url', url: 'https://example.com/a.vmdk' },
        { name: 'a', convertTo: 'qcow2' },
        o,
      ),
  },
  {
    name: 'listStoragePools',
    method: 'listStoragePools',
    capabilities: ['storage.storagePools'],
    target: false,
    run: (p, o) => p.listStoragePools(o),
  },
  {
    name: 'listNetworks',
    method: 'listNetworks',
    capabilities: ['network.basic'],
    target: false,
    run: (p, o) => p.listNetworks(o),
  },
  {
    name: 'listResourcePools',
    method: 'listResourcePools',
    capabilities: ['advanced.resourcePools'],
    target: false,
    run: (p, o) => p.listResourcePools(o),
  },
  {
    name: 'createResourcePool',
    method: 'createResourcePool',
    capabilities: ['advanced.resourcePools'],
    target: false,
    run: (p, o) => p.createResourcePool({ name: 'gold' }, o),
  },
  {
    name: 'deleteResourcePool',
    method: 'deleteResourcePool',
    capabilities: ['advanced.resourcePools'],
    target: false,
    run: (p, o) => p.deleteResourcePool('pool-1', o),
  },
  {
    name: 'listPlacementRules',
    method: 'listPlacementRules',
    capabilities: ['advanced.affinityRules'],
    target: false,
    run: (p, o) => p.listPlacementRules(o),
  },
  {
    name: 'createPlacementRule',
    method: 'createPlacementRule',
    capabilities: ['advanced.affinityRules'],
    target: false,
    run: (p, o) =>
      p.createPlacementRule(
        { name: 'apart', kind: 'anti-affinity', vms: [REF, { ...REF, id: 'vm-2' }] },
        o,
      ),
  },
  {
    name: 'deletePlacementRule',
    method: 'deletePlacementRule',
    capabilities: ['advanced.affinityRules'],
    target: false,
    run: (p, o) => p.deletePlacementRule('rule-1', o),
  },
  {
    name: 'setHighAvailability',
    method: 'setHighAvailability',
    capabilities: ['advanced.ha'],
    target: true,
    run: (p, o) => p.setHighAvailability(t(o), { enabled: true, restartPriority: 'high' }, o),
  },
  {
    name: 'setLoadBalancing',
    method: 'setLoadBalancing',
    capabilities: ['advanced.drs'],
    target: true,
    run: (p, o) => p.setLoadBalancing(t(o), { automation: 'full' }, o),
  },
  {
    name: 'setFaultTolerance',
    method: 'setFaultTolerance',
    capabilities: ['advanced.faultTolerance'],
    target: true,
    run: (p, o) => p.setFaultTolerance(t(o), { enabled: true }, o),
  },
  {
    name: 'migrate',
    method: 'migrate',
    capabilities: ['advanced.liveMigration'],
    target: true,
    run: (p, o) => p.migrate(t(o), { host: 'esx-2' }, o),
  },
  {
    name: 'migrate to a pool',
    method: 'migrate',
    capabilities: ['advanced.resourcePools'],
    target: true,
    run: (p, o) => p.migrate(t(o), { resourcePool: 'gold' }, o),
  },
  {
    name: 'migrate storage',
    method: 'migrate',
    capabilities: ['storage.storagePools'],
    target: true,
    run: (p, o) => p.migrate(t(o), { storage: 'ds2' }, o),
  },
  {
    name: 'exportDisk',
    method: 'exportDisk',
    capabilities: ['migration.diskExport'],
    target: true,
    run: (p, o) => p.exportDisk(t(o), 'disk-0', o),
  },
  {
    name: 'importDisk',
    method: 'importDisk',
    capabilities: ['migration.diskImport'],
    target: false,
    run: (p, o) => p.importDisk({ name: 'd', format: 'raw', sizeBytes: 1 }, bytes(), o),
  },
  {
    name: 'getTask',
    method: 'getTask',
    capabilities: ['core.taskStatus'],
    target: false,
    run: (p, o) => p.getTask('task-1', o),
  },
  {
    name: 'resumeTask',
    method: 'getTask',
    capabilities: ['core.taskStatus'],
    target: false,
    run: (p, o) => {
      o.signal?.throwIfAborted();
      const task = p.resumeTask({
        type: 'hvkit.task',
        version: 1,
        provider: 'fake',
        id: 'task-1',
        kind: 'vm.delete',
        state: 'running',
        progress: {},
      });
      return task.refresh();
    },
  },
  {
    name: 'task.cancel',
    method: 'cancelTask',
    capabilities: ['core.taskCancel'],
    target: false,
    run: async (p, o) => {
      o.signal?.throwIfAborted();
      const task = p.resumeTask({
        type: 'hvkit.task',
        version: 1,
        provider: 'fake',
        id: 'task-1',
        kind: 'vm.delete',
        state: 'running',
        progress: {},
      });
      return task.cancel();
    },
  },
];

describe('createProvider: construction', () => {
  it('covers every gated driver method in the operation table', () => {
    const reached = new Set(OPERATIONS.map((operation) => operation.method));
    for (const method of Object.keys(DRIVER_METHOD_CAPABILITIES)) {
      expect(reached.has(method as never), method).toBe(true);
    }
  });

  it.each(Object.entries(DRIVER_METHOD_CAPABILITIES))(
    'refuses a driver declaring %s capabilities without the method',
    (method, capabilities) => {
      expect(() => provider({ overrides: { [method]: undefined } })).toThrow(TypeError);
      expect(() => provider({ overrides: { [method]: undefined } })).toThrow(`${method}()`);
      // One usable capability is enough to need the method, `partial` included.
      const [first, ...rest] = capabilities as readonly CapabilityId[];
      const partial = Object.fromEntries([
        [first, { level: 'partial', note: 'some' }],
        ...rest.map((id) => [id, 'unsupported']),
      ]) as Partial<Record<CapabilityId, CapabilityDeclaration>>;
      expect(() => provider({ capabilities: partial, overrides: { [method]: undefined } })).toThrow(
        new RegExp(`declares ${first?.replace('.', '\\.')} but does not implement`),
      );
      // Declared unusable, the method may be missing.
      const none = Object.fromEntries(capabilities.map((id) => [id, 'not-applicable']));
      expect(() =>
        provider({ capabilities: none, overrides: { [method]: undefined } }),
      ).not.toThrow();
    },
  );

  it('refuses a driver whose declaration misses an id', () => {
    const driver = recordingDriver();
    const capabilities = { ...driver.capabilities } as Record<string, unknown>;
    delete capabilities['guest.tools'];
    expect(() => createProvider({ ...driver, capabilities } as unknown as ProviderDriver)).toThrow(
      /does not declare guest\.tools/,
    );
  });

  it('exposes name, type and the declaration', () => {
    const { provider: p, driver } = provider({ name: 'lab', type: 'mock' });
    expect(p.name).toBe('lab');
    expect(p.type).toBe('mock');
    expect(p.capabilities).toBe(driver.capabilities);
  });
});

describe('createProvider: capability gates', () => {
  it.each(OPERATIONS.map((operation) => [operation.name, operation] as const))(
    '%s reaches the driver when supported',
    async (_name, operation) => {
      const { provider: p, driver } = provider({
        overrides: {
          listPage: async () => ({ items: [sampleVm('fake')] }),
        },
      });
      const result = await settle(() => operation.run(p, {}));
      expect(result.error).toBeUndefined();
      expect(driver.count(operation.method)).toBe(1);
    },
  );

  for (const level of ['unsupported', 'not-applicable'] as const) {
    it.each(OPERATIONS.map((operation) => [operation.name, operation] as const))(
      `%s throws UnsupportedCapabilityError before any I/O when ${level}`,
      async (_name, operation) => {
        const capabilities = Object.fromEntries(operation.capabilities.map((id) => [id, level]));
        const { provider: p, driver } = provider({ capabilities });
        const { error } = await settle(() => operation.run(p, {}));
        expect(UnsupportedCapabilityError.isInstance(error)).toBe(true);
        expect(operation.capabilities).toContain((error as UnsupportedCapabilityError).capability);
        expect((error as UnsupportedCapabilityError).provider).toBe('fake');
        expect(driver.total()).toBe(0);
      },
    );
  }

  it('listImages and deleteImage need only one image source', async () => {
    for (const id of ['images.ovaImport', 'migration.diskImport'] as const) {
      const others = [
        ...IMAGE_SOURCES.map((name) => `images.${name}` as const),
        'migration.diskImport' as const,
      ]
        .filter((other) => other !== id)
        .map((other) => [other, 'unsupported']);
      const { provider: p, driver } = provider({ capabilities: Object.fromEntries(others) });
      await p.listImages();
      await p.deleteImage('img-1');
      expect(driver.count('listImages')).toBe(1);
      expect(driver.count('deleteImage')).toBe(1);
    }
  });
});

describe('createProvider: what a spec needs', () => {
  const nic = { network: 'lan' };
  const cases: [string, Partial<VmSpecInput>, CapabilityId, string][] = [
    ['any spec', {}, 'core.create', '(root)'],
    ['vCPUs', {}, 'resources.cpu', 'cpu'],
    ['memory', {}, 'resources.memory', 'memory'],
    ['CPU hot add', { cpu: { count: 2, hotAdd: true } }, 'resources.cpuHotAdd', 'cpu.hotAdd'],
    [
      'memory hot add',
      { memory: { sizeMiB: 1024, hotAdd: true } },
      'resources.memoryHotAdd',
      'memory.hotAdd',
    ],
    [
      'a CPU reservation',
      { cpu: { count: 2, reservationMHz: 100 } },
      'resources.reservations',
      'cpu.reservationMHz',
    ],
    [
      'a memory reservation',
      { memory: { sizeMiB: 1024, reservationMiB: 512 } },
      'resources.reservations',
      'memory.reservationMiB',
    ],
    ['a CPU limit', { cpu: { count: 2, limitMHz: 1000 } }, 'resources.limits', 'cpu.limitMHz'],
    [
      'a memory limit',
      { memory: { sizeMiB: 1024, limitMiB: 1024 } },
      'resources.limits',
      'memory.limitMiB',
    ],
    ['a disk', { disks: [{ sizeGiB: 1 }] }, 'storage.diskCreate', 'disks'],
    ['two disks', { disks: [{ sizeGiB: 1 }, { sizeGiB: 2 }] }, 'storage.multipleDisks', 'disks'],
    [
      'a thick disk',
      { disks: [{ sizeGiB: 1, provisioning: 'thick' }] },
      'storage.thick',
      'disks[0].provisioning',
    ],
    [
      'an eager-zeroed disk second',
      { disks: [{ sizeGiB: 1 }, { sizeGiB: 1, provisioning: 'eagerZeroedThick' }] },
      'storage.thick',
      'disks[1].provisioning',
    ],
    [
      'a thin disk',
      { disks: [{ sizeGiB: 1, provisioning: 'thin' }] },
      'storage.thin',
      'disks[0].provisioning',
    ],
    [
      'a storage policy',
      { disks: [{ sizeGiB: 1, storagePolicy: 'gold' }] },
      'storage.storagePolicies',
      'disks[0].storagePolicy',
    ],
    [
      'a disk datastore',
      { disks: [{ sizeGiB: 1, storage: 'ds1' }] },
      'storage.storagePools',
      'disks[0].storage',
    ],
    ['a NIC', { nics: [nic] }, 'network.basic', 'nics'],
    ['two NICs', { nics: [nic, nic] }, 'network.multipleNics', 'nics'],
    ['a VLAN', { nics: [{ ...nic, vlan: 42 }] }, 'network.vlan', 'nics[0].vlan'],
    [
      'a bridge',
      { nics: [nic, { ...nic, connection: 'bridge' }] },
      'network.bridge',
      'nics[1].connection',
    ],
    [
      'a distributed switch',
      { nics: [{ ...nic, connection: 'distributed' }] },
      'network.distributedSwitch',
      'nics[0].connection',
    ],
    ['IPv4 DHCP', { nics: [{ ...nic, ipv4: 'dhcp' }] }, 'network.dhcp', 'nics[0].ipv4'],
    ['IPv6 DHCP', { nics: [{ ...nic, ipv6: 'dhcp' }] }, 'network.dhcp', 'nics[0].ipv6'],
    [
      'a static IPv4',
      { nics: [{ ...nic, ipv4: { address: '10.0.0.5/24' } }] },
      'network.staticIp',
      'nics[0].ipv4',
    ],
    [
      'a static IPv6',
      { nics: [{ ...nic, ipv6: { address: '2001:db8::5/64' } }] },
      'network.staticIp',
      'nics[0].ipv6',
    ],
    [
      'a template image',
      { image: { kind: 'template', template: 'ubuntu' } },
      'lifecycle.templateDeploy',
      'image',
    ],
    [
      'a URL image',
      { image: { kind: 'url', url: 'https://example.com/a.img' } },
      'images.cloudImageDownload',
      'image',
    ],
    [
      'a content library image',
      { image: { kind: 'content-library', library: 'l', item: 'i' } },
      'images.contentLibrary',
      'image',
    ],
    ['cloud-init', { cloudInit: { userData: '#cloud-config\n' } }, 'guest.cloudInit', 'cloudInit'],
    [
      'customization',
      { customization: { hostname: 'web' } },
      'guest.customization',
      'customization',
    ],
    [
      'a resource pool',
      { placement: { resourcePool: 'gold' } },
      'advanced.resourcePools',
      'placement.resourcePool',
    ],
    [
      'default storage',
      { placement: { storage: 'ds1' } },
      'storage.storagePools',
      'placement.storage',
    ],
    ['power on', { powerState: 'on' }, 'core.powerOn', 'powerState'],
  ];

  it.each(cases)('%s needs %s (path %s)', async (_label, patch, capability, path) => {
    const spec = { ...SPEC, ...patch };
    const refused = provider({ capabilities: { [capability]: 'unsupported' } });
    const { error } = await settle(() => refused.provider.create(spec));
    expect(UnsupportedCapabilityError.isInstance(error)).toBe(true);
    expect((error as UnsupportedCapabilityError).capability).toBe(capability);
    expect((error as UnsupportedCapabilityError).details.path).toBe(path);
    expect((error as UnsupportedCapabilityError).details.level).toBe('unsupported');
    if (path !== '(root)') expect((error as Error).message).toContain(`(needed by ${path})`);
    expect((error as Error).message).toContain(`${capability} unsupported`);
    expect(refused.driver.total()).toBe(0);
    // With the capability declared, the same spec reaches the driver.
    const accepted = provider();
    expect((await settle(() => accepted.provider.create(spec))).error).toBeUndefined();
    expect(accepted.driver.count('create')).toBe(1);
  });

  it('does not ask for capabilities a spec does not use', async () => {
    const unused = Object.fromEntries(
      CAPABILITY_IDS.filter(
        (id) => !['core.create', 'resources.cpu', 'resources.memory'].includes(id),
      ).map((id) => [id, 'unsupported']),
    );
    const { provider: p, driver } = provider({ capabilities: unused });
    await p
      .create({ ...SPEC, image: { kind: 'image', imageId: 'img-1' }, tags: { a: 'b' } })
      .submitted();
    expect(driver.count('create')).toBe(1);
  });

  it('names the field in the message and carries the note of a partial-or-less declaration', async () => {
    const { provider: p } = provider({
      capabilities: { 'network.vlan': { level: 'not-applicable', note: 'flat network only' } },
    });
    const { error } = await settle(() => p.create({ ...SPEC, nics: [{ network: 'n', vlan: 5 }] }));
    expect((error as Error).message).toBe(
      'fake (fake) declares network.vlan not-applicable (needed by nics[0].vlan): flat network only',
    );
  });

  it.each([
    [
      'a thick added disk',
      { addDisks: [{ sizeGiB: 1, provisioning: 'thick' }] },
      'storage.thick',
      'addDisks[0].provisioning',
    ],
    [
      'a resize',
      { resizeDisks: [{ diskId: 'd0', sizeGiB: 20 }] },
      'storage.diskExpand',
      'resizeDisks',
    ],
    [
      'a VLAN on an added NIC',
      { addNics: [{ network: 'n', vlan: 3 }] },
      'network.vlan',
      'addNics[0].vlan',
    ],
    [
      'a static IP on an added NIC',
      { addNics: [{ network: 'n', ipv4: { address: '10.0.0.1/8' } }] },
      'network.staticIp',
      'addNics[0].ipv4',
    ],
    [
      'DHCP on an added NIC',
      { addNics: [{ network: 'n', ipv6: 'dhcp' }] },
      'network.dhcp',
      'addNics[0].ipv6',
    ],
    ['a vCPU count', { cpu: { count: 4 } }, 'resources.cpu', 'cpu'],
    ['a memory size', { memory: { sizeMiB: 4096 } }, 'resources.memory', 'memory.sizeMiB'],
    ['CPU hot add', { cpu: { hotAdd: true } }, 'resources.cpuHotAdd', 'cpu.hotAdd'],
  ] as const)('reconfigure with %s needs %s', async (_label, change, capability, path) => {
    const { provider: p, driver } = provider({ capabilities: { [capability]: 'unsupported' } });
    const { error } = await settle(() => p.reconfigure(REF, change as never));
    expect(UnsupportedCapabilityError.isInstance(error)).toBe(true);
    expect((error as UnsupportedCapabilityError).details.path).toBe(path);
    expect(driver.total()).toBe(0);
  });

  it.each([
    [
      'a pool',
      { placement: { resourcePool: 'gold' } },
      'advanced.resourcePools',
      'placement.resourcePool',
    ],
    ['a datastore', { placement: { storage: 'ds1' } }, 'storage.storagePools', 'placement.storage'],
    ['power on', { powerOn: true }, 'core.powerOn', 'powerOn'],
  ] as const)('clone to %s needs %s', async (_label, extra, capability, path) => {
    const { provider: p, driver } = provider({ capabilities: { [capability]: 'unsupported' } });
    const { error } = await settle(() => p.clone(REF, { name: 'c', mode: 'full', ...extra }));
    expect((error as UnsupportedCapabilityError).details.path).toBe(path);
    expect(driver.total()).toBe(0);
  });
});

describe('createProvider: input checks before the driver', () => {
  it('refuses invalid input of every kind with InvalidSpecError and no driver call', async () => {
    const invalid: [string, (p: Provider) => unknown, string][] = [
      ['create', (p) => p.create({ ...SPEC, cpu: { count: 0 } }), 'cpu.count'],
      ['listPage', (p) => p.listPage({ limit: 0 }), 'limit'],
      ['list', (p) => p.list({ colour: 'red' } as never), 'colour'],
      ['reconfigure nothing', (p) => p.reconfigure(REF, {}), '(root)'],
      ['clone', (p) => p.clone(REF, { name: 'c', mode: 'deep' } as never), 'mode'],
      ['createSnapshot', (p) => p.createSnapshot(REF, { name: '' }), 'name'],
      ['revertSnapshot', (p) => p.revertSnapshot(REF, ''), 'snapshotId'],
      [
        'deleteSnapshot',
        (p) => p.deleteSnapshot(REF, 's', { removeChildren: 'yes' as never }),
        'removeChildren',
      ],
      ['getMetrics', (p) => p.getMetrics(REF, { maxSamples: 0 }), 'maxSamples'],
      [
        'createAlert',
        (p) =>
          p.createAlert({
            name: 'a',
            metric: 'cpu.usagePercent',
            comparison: 'above',
            threshold: Number.NaN,
          }),
        'threshold',
      ],
      [
        'importImage',
        (p) => p.importImage({ kind: 'url', url: 'ftp://x/y' }, { name: 'i' }),
        'url',
      ],
      ['migrate', (p) => p.migrate(REF, {}), '(root)'],
      ['exportDisk', (p) => p.exportDisk(REF, 'd0', { offsetBytes: -1 }), 'offsetBytes'],
      ['exportDisk diskId', (p) => p.exportDisk(REF, ''), 'diskId'],
      [
        'importDisk',
        (p) => p.importDisk({ name: 'd', format: 'raw', sizeBytes: 0 }, bytes()),
        'sizeBytes',
      ],
      [
        'importDisk source',
        (p) => p.importDisk({ name: 'd', format: 'raw', sizeBytes: 1 }, [] as never),
        'source',
      ],
      [
        'createPlacementRule',
        (p) => p.createPlacementRule({ name: 'r', kind: 'affinity', vms: [REF] }),
        'vms',
      ],
      ['get', (p) => p.get({ provider: 'fake', id: '' }), 'id'],
      ['can', (p) => p.can(REF, 'core.teleport' as never), 'capability'],
    ];
    for (const [label, run, path] of invalid) {
      const { provider: p, driver } = provider();
      const { error } = await settle(() => run(p));
      expect(InvalidSpecError.isInstance(error), label).toBe(true);
      expect(
        (error as InvalidSpecError).issues.map((issue) => issue.path),
        label,
      ).toContain(path);
      expect(driver.total(), label).toBe(0);
    }
  });

  it.each(
    OPERATIONS.filter((operation) => operation.target).map(
      (operation) => [operation.name, operation] as const,
    ),
  )('%s refuses a ref of another provider with path "provider"', async (_name, operation) => {
    const { provider: p, driver } = provider();
    for (const target of [FOREIGN, { ref: FOREIGN }, sampleVm('elsewhere')]) {
      const { error } = await settle(() => operation.run(p, { target }));
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues.map((issue) => issue.path)).toEqual(['provider']);
    }
    expect(driver.total()).toBe(0);
  });

  it('refuses foreign refs nested in inputs', async () => {
    const { provider: p, driver } = provider();
    for (const run of [
      () => p.listEvents({ vm: FOREIGN }),
      () =>
        p.createAlert({
          name: 'a',
          vm: FOREIGN,
          metric: 'cpu.usagePercent',
          comparison: 'above',
          threshold: 1,
        }),
      () => p.createPlacementRule({ name: 'r', kind: 'affinity', vms: [REF, FOREIGN] }),
      () => p.can(FOREIGN, 'core.create'),
    ]) {
      const { error } = await settle(run);
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe('provider');
    }
    expect(driver.total()).toBe(0);
  });

  it.each(OPERATIONS.map((operation) => [operation.name, operation] as const))(
    '%s honours an already-aborted signal before any I/O',
    async (_name, operation) => {
      const { provider: p, driver } = provider();
      const reason = new Error('caller gave up');
      const { error } = await settle(() => operation.run(p, { signal: AbortSignal.abort(reason) }));
      expect(error).toBe(reason);
      expect(driver.total()).toBe(0);
    },
  );

  it('validates the idempotency key and passes a good one to the driver', async () => {
    for (const key of ['', 'has space', 'x'.repeat(201), 'clé', 'tab\tkey', 'new\nline']) {
      const { provider: p, driver } = provider();
      for (const run of [
        () => p.create(SPEC, { idempotencyKey: key }),
        () => p.clone(REF, { name: 'c', mode: 'full' }, { idempotencyKey: key }),
        () => p.delete(REF, { idempotencyKey: key }),
      ]) {
        const { error } = await settle(run);
        expect(InvalidSpecError.isInstance(error), JSON.stringify(key)).toBe(true);
        expect((error as InvalidSpecError).issues[0]?.path).toBe('idempotencyKey');
      }
      expect(driver.total()).toBe(0);
    }
    const { provider: p, driver } = provider();
    const key = 'create-web-01:2026-01-01T00:00:00Z';
    await p.create(SPEC, { idempotencyKey: key }).submitted();
    await p
      .clone(REF, { name: 'c', mode: 'full' }, { idempotencyKey: 'x'.repeat(200) })
      .submitted();
    expect(driver.calls.get('create')?.[0]?.[1]).toMatchObject({ idempotencyKey: key });
    expect(driver.calls.get('clone')?.[0]?.[2]).toMatchObject({ idempotencyKey: 'x'.repeat(200) });
  });

  it('passes the parsed, normalised input and the signal to the driver', async () => {
    const { provider: p, driver } = provider();
    const controller = new AbortController();
    await p
      .create(
        { ...SPEC, nics: [{ network: 'lan', mac: '52:54:00:AB:CD:EF' }] },
        { signal: controller.signal },
      )
      .submitted();
    const [spec, options] = driver.calls.get('create')?.[0] ?? [];
    expect((spec as { nics: { mac: string }[] }).nics[0]?.mac).toBe('52:54:00:ab:cd:ef');
    expect((options as { signal?: AbortSignal }).signal).toBe(controller.signal);
    await p.deleteSnapshot(REF, 's1', { removeChildren: true }).submitted();
    expect(driver.calls.get('deleteSnapshot')?.[0]?.slice(0, 3)).toEqual(['vm-1', 's1', true]);
    await p.exportDisk(REF, 'd0', { offsetBytes: 512 });
    expect(driver.calls.get('exportDisk')?.[0]?.slice(0, 3)).toEqual(['vm-1', 'd0', 512]);
  });
});

describe('createProvider: results from the driver', () => {
  it('list() pages through cursors with the same filters', async () => {
    const pages: Record<string, { items: ReturnType<typeof sampleVm>[]; nextCursor?: string }> = {
      start: { items: [sampleVm('fake', 'a'), sampleVm('fake', 'b')], nextCursor: 'c1' },
      c1: { items: [sampleVm('fake', 'c')], nextCursor: 'c2' },
      c2: { items: [], nextCursor: 'c3' },
      c3: { items: [sampleVm('fake', 'd')] },
    };
    const { provider: p, driver } = provider({
      overrides: {
        listPage: async (query: { cursor?: string }) => pages[query.cursor ?? 'start'],
      },
    });
    const ids: string[] = [];
    for await (const vm of p.list({ namePrefix: 'web', limit: 2 })) ids.push(vm.ref.id);
    expect(ids).toEqual(['a', 'b', 'c', 'd']);
    const queries = driver.calls.get('listPage')?.map((call) => call[0]);
    expect(queries).toEqual([
      { namePrefix: 'web', limit: 2, cursor: undefined },
      { namePrefix: 'web', limit: 2, cursor: 'c1' },
      { namePrefix: 'web', limit: 2, cursor: 'c2' },
      { namePrefix: 'web', limit: 2, cursor: 'c3' },
    ]);
    // Starting from a cursor resumes there.
    const rest: string[] = [];
    for await (const vm of p.list({ cursor: 'c2' })) rest.push(vm.ref.id);
    expect(rest).toEqual(['d']);
  });

  it('turns a malformed VM from the driver into ProviderApiError', async () => {
    const { provider: p } = provider({
      overrides: {
        get: async () => ({ ref: REF, name: 'broken' }),
        listPage: async () => ({ items: [{ nope: true }] }),
      },
    });
    for (const run of [() => p.get(REF), () => p.listPage()]) {
      const { error } = await settle(run);
      expect(ProviderApiError.isInstance(error)).toBe(true);
      expect((error as ProviderApiError).message).toBe('fake returned an invalid VM');
    }
  });

  it('decodes task results by kind', async () => {
    const vm = sampleVm('fake', 'vm-9');
    const { provider: p } = provider({
      overrides: {
        getTask: async (id: string) => ({
          id,
          provider: 'fake',
          kind: 'vm.create',
          state: 'succeeded',
          progress: {},
          cancelable: false,
          createdAt: new Date(0).toISOString(),
          result: { ...vm, extra: 'dropped' },
        }),
      },
    });
    const created = await p.create(SPEC);
    expect(created).toEqual(vm);
    const resumed = p.resumeTask({
      type: 'hvkit.task',
      version: 1,
      provider: 'fake',
      id: 'task-1',
      kind: 'vm.create',
      state: 'running',
      progress: {},
    });
    expect(await resumed).toEqual(vm);
    expect(await p.delete(REF)).toBeUndefined();
  });

  it('resumeTask refuses JSON of another provider with path "provider"', () => {
    const { provider: p } = provider();
    let caught: unknown;
    try {
      p.resumeTask(
        JSON.stringify({
          type: 'hvkit.task',
          version: 1,
          provider: 'other',
          id: 't',
          kind: 'vm.create',
          state: 'running',
          progress: {},
        }),
      );
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues.map((issue) => issue.path)).toEqual(['provider']);
  });

  it('cancels through the driver when core.taskCancel is declared', async () => {
    const { provider: p, driver } = provider();
    const task = p.delete(REF);
    await task.cancel();
    expect(driver.calls.get('cancelTask')?.[0]?.[0]).toBe(await task.submitted());
  });
});

describe('createProvider: can()', () => {
  it('answers from the declaration without I/O when not usable', async () => {
    const { provider: p, driver } = provider({
      capabilities: {
        'resources.cpuHotAdd': { level: 'unsupported', note: 'needs a licence' },
        'snapshots.memory': 'not-applicable',
      },
    });
    expect(await p.can(REF, 'resources.cpuHotAdd')).toEqual({
      ok: false,
      capability: 'resources.cpuHotAdd',
      reason: 'declared unsupported: needs a licence',
    });
    expect(await p.can(REF, 'snapshots.memory')).toMatchObject({
      ok: false,
      reason: 'declared not-applicable',
    });
    expect(driver.total()).toBe(0);
  });

  it('asks the driver live check for a usable capability, fetching the VM for a ref', async () => {
    const { provider: p, driver } = provider({
      overrides: {
        can: async (vm: { powerState: string }, capability: string) =>
          capability === 'core.powerOn' && vm.powerState === 'on'
            ? { ok: false, reason: 'already running' }
            : undefined,
        get: async (id: string) => sampleVm('fake', id, { powerState: 'on' }),
      },
      capabilities: { 'resources.cpu': { level: 'partial', note: 'no hot remove' } },
    });
    expect(await p.can(REF, 'core.powerOn')).toEqual({
      ok: false,
      capability: 'core.powerOn',
      reason: 'already running',
    });
    expect(driver.count('get')).toBe(1);
    const off = sampleVm('fake', 'vm-2');
    expect(await p.can(off, 'core.powerOn')).toEqual({
      ok: true,
      capability: 'core.powerOn',
      reason: 'supported',
    });
    expect(driver.count('get')).toBe(1);
    expect(await p.can(off, 'resources.cpu')).toEqual({
      ok: true,
      capability: 'resources.cpu',
      reason: 'partial: no hot remove',
    });
    expect(driver.count('can')).toBe(3);
  });

  it('answers from the declaration when the driver has no live check', async () => {
    const { provider: p, driver } = provider({ overrides: { can: undefined } });
    expect(await p.can(REF, 'core.delete')).toEqual({
      ok: true,
      capability: 'core.delete',
      reason: 'supported',
    });
    expect(driver.total()).toBe(0);
  });
});

describe('createProvider: declaration helpers in the fake', () => {
  it('build a complete declaration', () => {
    expect(Object.keys(declareCapabilities(declarations()))).toEqual(CAPABILITY_IDS);
    expect(DRIVER_METHODS).toContain('importDisk');
  });
});

describe('createProvider: list', () => {
  it('streams a driver listing once instead of paging, validating each VM', async () => {
    const pages: unknown[] = [];
    const { provider: p, driver } = provider({
      overrides: {
        listPage: async (query: unknown) => {
          pages.push(query);
          return { items: [sampleVm('fake')] };
        },
        async *listStream(query: { namePrefix?: string }) {
          expect(query.namePrefix).toBe('a');
          yield sampleVm('fake');
          yield { ...sampleVm('fake'), name: 'a2' };
        },
      },
    });
    const seen: string[] = [];
    for await (const vm of p.list({ namePrefix: 'a' })) seen.push(vm.name);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe('a2');
    expect(pages).toHaveLength(0);
    expect(driver.count('listPage')).toBe(0);
  });

  it('refuses an invalid VM from the stream with ProviderApiError', async () => {
    const { provider: p } = provider({
      overrides: {
        async *listStream() {
          yield { ...sampleVm('fake'), powerState: 'sideways' } as never;
        },
      },
    });
    const { error } = await settle(async () => {
      for await (const _vm of p.list()) {
        // drain
      }
    });
    expect(ProviderApiError.isInstance(error)).toBe(true);
  });

  it('pages listPage when a cursor is given, even with a stream', async () => {
    const { provider: p, driver } = provider({
      overrides: {
        listPage: async () => ({ items: [sampleVm('fake')] }),
        async *listStream() {
          yield sampleVm('fake');
        },
      },
    });
    const seen: unknown[] = [];
    for await (const vm of p.list({ cursor: 'c1' })) seen.push(vm);
    expect(seen).toHaveLength(1);
    expect(driver.count('listPage')).toBe(1);
  });
});

describe('createProvider: secrets learnt later', () => {
  it('scrubs a secret the driver learnt after building the error, from calls and tasks', async () => {
    const secrets: string[] = [];
    const ticket = 'console-ticket-4f1c9a';
    const { provider: p } = provider({
      redact: { secrets },
      overrides: {
        get: async () => {
          const error = new NotFoundError('vm', ticket);
          secrets.push(ticket);
          throw error;
        },
        power: async () => {
          throw new NotFoundError('vm', ticket);
        },
      },
    });
    const error = await p.get({ provider: 'fake', id: 'vm-1' }).catch((caught: unknown) => caught);
    expect(NotFoundError.isInstance(error)).toBe(true);
    const text =
      JSON.stringify(error) + String((error as Error).stack) + (error as NotFoundError).id;
    expect(text).not.toContain(ticket);
    const failed = await p
      .powerOn({ provider: 'fake', id: 'vm-1' })
      .catch((caught: unknown) => caught);
    expect(JSON.stringify(failed)).not.toContain(ticket);
    expect((failed as Error).message).not.toContain(ticket);
  });
});
