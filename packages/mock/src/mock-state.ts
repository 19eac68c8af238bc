/**
 * The Mock's records: everything the in-memory hypervisor holds, as plain data so that the whole
 * state round-trips through a JSON file (disk bytes as base64). Internal to `@hvkit/mock`; the
 * types are exported for tests and benchmarks that call the backend directly.
 */
import type {
  CloudInit,
  DiskBus,
  DiskFormat,
  Firmware,
  ImageImportSource,
  MetricName,
  NicModel,
  ParsedInput,
  PowerAction,
  PowerState,
  Provisioning,
  ResourcePool,
  SerializedError,
  TaskProgress,
  TaskState,
  VmPolicies,
  VmSpec,
} from '@hvkit/core';
import type { MockInventory } from './mock-inventory.js';

/** A disk of a VM (or of a snapshot's saved configuration). Bytes live in the blob `blobId`. */
export interface MockDiskRecord {
  id: string;
  name?: string | undefined;
  sizeBytes: number;
  provisioning: Provisioning;
  bus: DiskBus;
  /** Storage pool name. */
  storage: string;
  storagePolicy?: string | undefined;
  format: DiskFormat;
  /** Disk this one is a copy-on-write child of (linked clones). */
  parentId?: string | undefined;
  blobId: string;
}

/** Static addressing as the spec gave it. */
export interface MockStaticAddress {
  address: string;
  gateway?: string | undefined;
}

/** A NIC of a VM. */
export interface MockNicRecord {
  id: string;
  /** Network name. */
  network: string;
  connection: 'network' | 'bridge' | 'distributed';
  model: NicModel;
  vlan?: number | undefined;
  mac: string;
  ipv4?: 'dhcp' | 'none' | MockStaticAddress | undefined;
  ipv6?: 'dhcp' | 'slaac' | 'none' | MockStaticAddress | undefined;
  /** Address the simulated DHCP server leases to this NIC (seeded `10.x.y.z`). */
  dhcpAddress: string;
}

/** The hardware a snapshot saves and a revert restores. */
export interface MockHardware {
  cpu: {
    count: number;
    coresPerSocket: number;
    hotAdd: boolean;
    reservationMHz?: number | undefined;
    limitMHz?: number | undefined;
  };
  memory: {
    sizeMiB: number;
    hotAdd: boolean;
    reservationMiB?: number | undefined;
    limitMiB?: number | undefined;
  };
  disks: MockDiskRecord[];
  nics: MockNicRecord[];
}

/** A snapshot, stored flat; the tree is built from `parentId`. */
export interface MockSnapshotRecord {
  id: string;
  name: string;
  description?: string | undefined;
  createdAtMs: number;
  memory: boolean;
  quiesced: boolean;
  powerState: PowerState;
  parentId?: string | undefined;
  hardware: MockHardware;
}

/** A VM or template. */
export interface MockVmRecord extends MockHardware {
  id: string;
  /** Creation order; list order and cursors follow it. */
  seq: number;
  name: string;
  description?: string | undefined;
  guestOs: 'linux' | 'windows' | 'other';
  powerState: PowerState;
  template: boolean;
  firmware: Firmware;
  secureBoot: boolean;
  customization?: { hostname?: string; domain?: string; timeZone?: string } | undefined;
  cloudInit?: CloudInit | undefined;
  placement: {
    host: string;
    cluster: string;
    /** Resource pool id. */
    resourcePool: string;
    folder: string;
    /** Default storage pool name. */
    storage: string;
  };
  policies: VmPolicies;
  tags: Record<string, string>;
  snapshots: MockSnapshotRecord[];
  currentSnapshotId: string | null;
  createdAtMs: number;
  /** When the guest last booted (uptime). */
  poweredOnAtMs?: number | undefined;
}

/** A stored image: imported from a source, or written by `importDisk`. */
export interface MockImageRecord {
  id: string;
  name: string;
  format: DiskFormat;
  sizeBytes: number;
  /** Storage pool name. */
  storage: string;
  source: ImageImportSource | { kind: 'disk' };
  sha256?: string | undefined;
  createdAtMs: number;
  blobId: string;
  /** Identity of the source for caching (`images.caching`); absent for `importDisk`. */
  cacheKey?: string | undefined;
}

/**
 * Sparse bytes: 1 MiB chunks by index, absent chunks are zeros, a chunk may be shorter than
 * 1 MiB (the rest is zeros). A child blob reads its own chunks first, then its base's.
 * Chunks are never written after the blob is registered, which is what lets clones share them.
 */
export interface MockBlob {
  id: string;
  chunks: Map<number, Uint8Array>;
  baseId?: string | undefined;
}

/** One event, provider-neutral (the driver adds its name to refs). */
export interface MockEventRecord {
  id: number;
  timeMs: number;
  type: string;
  vmId?: string | undefined;
  message: string;
}

/** A threshold alert rule. */
export interface MockAlertRecord {
  id: string;
  name: string;
  vmId?: string | undefined;
  metric: MetricName;
  comparison: 'above' | 'below';
  threshold: number;
}

/** A placement rule. */
export interface MockPlacementRuleRecord {
  id: string;
  name: string;
  kind: 'affinity' | 'anti-affinity';
  vmIds: string[];
  mandatory: boolean;
}

/** Work a task applies when it completes. Plain data, so a task survives a restart. */
export type MockOperation =
  | { type: 'create'; vmId: string; spec: VmSpec }
  | { type: 'delete'; vmId: string }
  | { type: 'power'; vmId: string; action: PowerAction }
  | { type: 'reconfigure'; vmId: string; change: ParsedInput['vmChange'] }
  | { type: 'clone'; vmId: string; newVmId: string; options: ParsedInput['cloneOptions'] }
  | { type: 'mark-as-template'; vmId: string }
  | { type: 'snapshot-create'; vmId: string; options: ParsedInput['snapshotOptions'] }
  | { type: 'snapshot-revert'; vmId: string; snapshotId: string }
  | { type: 'snapshot-delete'; vmId: string; snapshotId: string; removeChildren: boolean }
  | {
      type: 'image-import';
      source: ImageImportSource;
      options: ParsedInput['importImageOptions'];
      caching: boolean;
    }
  | { type: 'disk-import'; spec: ParsedInput['diskImportSpec'] }
  | {
      type: 'policy';
      vmId: string;
      policy: 'highAvailability' | 'loadBalancing' | 'faultTolerance';
      settings: Record<string, unknown>;
    }
  | { type: 'migrate'; vmId: string; destination: ParsedInput['migrateTarget'] };

/** A task. Timed tasks derive their progress from the clock; stream tasks count bytes. */
export interface MockTaskRecord {
  id: string;
  kind: string;
  /** Provider instance name that submitted it (refs in its result carry it). */
  provider: string;
  state: TaskState;
  createdAtMs: number;
  startedAtMs?: number | undefined;
  finishedAtMs?: number | undefined;
  durationMs: number;
  /** `timed`: completes after `durationMs`; `stream`: when its byte stream ends; `hang`: never. */
  mode: 'timed' | 'stream' | 'hang';
  operation: MockOperation;
  /** A scripted fault: the task fails with this at completion instead of applying its effect. */
  failWith?: SerializedError | undefined;
  bytesDone?: number | undefined;
  bytesTotal?: number | undefined;
  /** Progress frozen when the task finished. */
  progress?: TaskProgress | undefined;
  result?: unknown;
  error?: SerializedError | undefined;
  /** Stream tasks: which process and backend instance reads the bytes. */
  owner?: string | undefined;
}

/** An idempotency key's memory: what it was used for and the task it started. */
export interface MockIdempotencyRecord {
  fingerprint: string;
  taskId: string;
}

/** Everything the backend holds. */
export interface MockState {
  seed: number;
  randomState: number;
  vmSequence: number;
  eventSequence: number;
  inventory: MockInventory;
  vms: Map<string, MockVmRecord>;
  tasks: Map<string, MockTaskRecord>;
  images: Map<string, MockImageRecord>;
  blobs: Map<string, MockBlob>;
  events: MockEventRecord[];
  resourcePools: Map<string, ResourcePool>;
  placementRules: Map<string, MockPlacementRuleRecord>;
  alerts: Map<string, MockAlertRecord>;
  idempotency: Map<string, MockIdempotencyRecord>;
}

const FORMAT = 'hvkit-mock-state';
const VERSION = 1;

interface SerialisedBlob {
  id: string;
  baseId?: string | undefined;
  chunks: [number, string][];
}

/** The state as JSON text. Disk chunks become base64. */
export function serialiseState(state: MockState): string {
  const blobs: SerialisedBlob[] = [];
  for (const blob of state.blobs.values()) {
    blobs.push({
      id: blob.id,
      baseId: blob.baseId,
      chunks: [...blob.chunks].map(([index, bytes]) => [
        index,
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      ]),
    });
  }
  return JSON.stringify({
    format: FORMAT,
    version: VERSION,
    seed: state.seed,
    randomState: state.randomState,
    vmSequence: state.vmSequence,
    eventSequence: state.eventSequence,
    inventory: state.inventory,
    vms: [...state.vms.values()],
    tasks: [...state.tasks.values()],
    images: [...state.images.values()],
    blobs,
    events: state.events,
    resourcePools: [...state.resourcePools.values()],
    placementRules: [...state.placementRules.values()],
    alerts: [...state.alerts.values()],
    idempotency: [...state.idempotency],
  });
}

/** Parses {@link serialiseState} output. Throws `TypeError` for anything else. */
export function parseState(text: string): MockState {
  const data = JSON.parse(text) as Record<string, unknown>;
  if (data?.format !== FORMAT || data.version !== VERSION) {
    throw new TypeError(`not a ${FORMAT} version ${VERSION} document`);
  }
  const byId = <T extends { id: string }>(items: unknown): Map<string, T> =>
    new Map((items as T[]).map((item) => [item.id, item]));
  const blobs = new Map<string, MockBlob>();
  for (const blob of data.blobs as SerialisedBlob[]) {
    blobs.set(blob.id, {
      id: blob.id,
      ...(blob.baseId === undefined ? {} : { baseId: blob.baseId }),
      chunks: new Map(
        blob.chunks.map(([index, base64]) => [
          index,
          new Uint8Array(Buffer.from(base64, 'base64')),
        ]),
      ),
    });
  }
  return {
    seed: data.seed as number,
    randomState: data.randomState as number,
    vmSequence: data.vmSequence as number,
    eventSequence: data.eventSequence as number,
    inventory: data.inventory as MockInventory,
    vms: byId(data.vms),
    tasks: byId(data.tasks),
    images: byId(data.images),
    blobs,
    events: data.events as MockEventRecord[],
    resourcePools: byId(data.resourcePools),
    placementRules: byId(data.placementRules),
    alerts: byId(data.alerts),
    idempotency: new Map(data.idempotency as [string, MockIdempotencyRecord][]),
  };
}
