import {
  CAPABILITY_IDS,
  type CapabilityDeclaration,
  type CapabilityDeclarations,
  type CapabilityId,
  declareCapabilities,
} from '../src/capabilities.js';
import type { ProviderDriver } from '../src/driver.js';
import type { Vm } from '../src/model/vm.js';
import type { RedactOptions } from '../src/redact.js';
import type { TaskSettings, TaskSnapshot } from '../src/task.js';

/** A valid observed VM of provider `provider`. */
export function sampleVm(provider: string, id = 'vm-1', overrides: Partial<Vm> = {}): Vm {
  return {
    ref: { provider, id },
    name: `name-${id}`,
    powerState: 'off',
    template: false,
    cpu: { count: 2, coresPerSocket: 1, hotAdd: false },
    memory: { sizeMiB: 1024, hotAdd: false },
    disks: [],
    nics: [],
    guest: { toolsState: 'not-running', ipAddresses: [] },
    snapshots: { currentId: null, roots: [] },
    placement: {},
    policies: {},
    tags: {},
    ...overrides,
  };
}

/** Every capability id declared `supported`, with overrides. */
export function declarations(
  overrides: Partial<Record<CapabilityId, CapabilityDeclaration>> = {},
): CapabilityDeclarations {
  const all = Object.fromEntries(CAPABILITY_IDS.map((id) => [id, 'supported'])) as Record<
    CapabilityId,
    CapabilityDeclaration
  >;
  return { ...all, ...overrides };
}

/** Names of every method a full driver implements. */
export const DRIVER_METHODS = [
  'validate',
  'listPage',
  'get',
  'getTask',
  'cancelTask',
  'can',
  'close',
  'create',
  'delete',
  'power',
  'reconfigure',
  'clone',
  'markAsTemplate',
  'listSnapshots',
  'createSnapshot',
  'revertSnapshot',
  'deleteSnapshot',
  'getConsole',
  'getGuestInfo',
  'getMetrics',
  'listEvents',
  'checkHealth',
  'createAlert',
  'listAlerts',
  'deleteAlert',
  'listImages',
  'importImage',
  'deleteImage',
  'listStoragePools',
  'listNetworks',
  'listResourcePools',
  'createResourcePool',
  'deleteResourcePool',
  'listPlacementRules',
  'createPlacementRule',
  'deletePlacementRule',
  'setHighAvailability',
  'setLoadBalancing',
  'setFaultTolerance',
  'migrate',
  'exportDisk',
  'importDisk',
] as const;

/** A driver method name. */
export type DriverMethod = (typeof DRIVER_METHODS)[number];

/** A driver that records every call and answers with fixed, valid data. */
export interface RecordingDriver extends ProviderDriver {
  /** Arguments of every call, by method. */
  readonly calls: Map<string, unknown[][]>;
  /** Calls of `method`. */
  count(method: string): number;
  /** Calls of every method. */
  total(): number;
}

export interface RecordingDriverOptions {
  name?: string;
  type?: string;
  capabilities?: Partial<Record<CapabilityId, CapabilityDeclaration>>;
  taskSettings?: TaskSettings;
  /** Secrets the driver holds (`ProviderDriver.redact`). */
  redact?: RedactOptions;
  /** Methods to replace (still recorded); `undefined` removes the method. */
  overrides?: Partial<Record<DriverMethod | 'watchTask' | 'listStream', unknown>>;
}

/**
 * A driver with every capability `supported` (unless overridden) and every method implemented as
 * a counter. Methods that start work return a fresh task id; `getTask` reports it succeeded.
 */
export function recordingDriver(options: RecordingDriverOptions = {}): RecordingDriver {
  const name = options.name ?? 'fake';
  const calls = new Map<string, unknown[][]>();
  let taskCounter = 0;
  const newTask = async () => `task-${++taskCounter}`;
  const defaults: Record<DriverMethod, (...args: unknown[]) => unknown> = {
    validate: async () => ({
      provider: name,
      type: 'fake',
      version: '1',
      details: {},
      warnings: [],
    }),
    listPage: async () => ({ items: [] }),
    get: async (id) => sampleVm(name, String(id)),
    getTask: async (id): Promise<TaskSnapshot> => ({
      id: String(id),
      provider: name,
      kind: 'vm.delete',
      state: 'succeeded',
      progress: { percent: 100 },
      cancelable: false,
      createdAt: new Date(0).toISOString(),
    }),
    cancelTask: async () => undefined,
    can: async () => undefined,
    close: async () => undefined,
    create: newTask,
    delete: newTask,
    power: newTask,
    reconfigure: newTask,
    clone: newTask,
    markAsTemplate: newTask,
    listSnapshots: async () => ({ currentId: null, roots: [] }),
    createSnapshot: newTask,
    revertSnapshot: newTask,
    deleteSnapshot: newTask,
    getConsole: async () => ({ protocol: 'vnc', url: 'vnc://host:5900' }),
    getGuestInfo: async () => ({ toolsState: 'running', ipAddresses: [] }),
    getMetrics: async () => [],
    listEvents: async () => [],
    checkHealth: async () => ({ status: 'ok', checkedAt: new Date(0).toISOString(), checks: [] }),
    createAlert: async () => ({}),
    listAlerts: async () => [],
    deleteAlert: async () => undefined,
    listImages: async () => [],
    importImage: newTask,
    deleteImage: async () => undefined,
    listStoragePools: async () => [],
    listNetworks: async () => [],
    listResourcePools: async () => [],
    createResourcePool: async () => ({}),
    deleteResourcePool: async () => undefined,
    listPlacementRules: async () => [],
    createPlacementRule: async () => ({}),
    deletePlacementRule: async () => undefined,
    setHighAvailability: newTask,
    setLoadBalancing: newTask,
    setFaultTolerance: newTask,
    migrate: newTask,
    exportDisk: async (_id, diskId, offsetBytes) => ({
      diskId,
      format: 'raw',
      sizeBytes: 0,
      offsetBytes,
      stream: (async function* () {})(),
    }),
    importDisk: newTask,
  };
  const driver: Record<string, unknown> = {
    type: options.type ?? 'fake',
    name,
    capabilities: declareCapabilities(declarations(options.capabilities)),
    taskSettings: options.taskSettings,
    redact: options.redact,
    calls,
    count: (method: string) => calls.get(method)?.length ?? 0,
    total: () => [...calls.values()].reduce((sum, list) => sum + list.length, 0),
  };
  const implementations: Record<string, unknown> = { ...defaults, ...options.overrides };
  for (const [method, implementation] of Object.entries(implementations)) {
    if (typeof implementation !== 'function') continue;
    driver[method] = (...args: unknown[]) => {
      const list = calls.get(method) ?? [];
      list.push(args);
      calls.set(method, list);
      return (implementation as (...a: unknown[]) => unknown)(...args);
    };
  }
  return driver as unknown as RecordingDriver;
}
