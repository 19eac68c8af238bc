/**
 * The names the driver resolves specs against — datacenters, folders, clusters, hosts, resource
 * pools, datastores, networks and distributed port groups — read in ONE property collector call
 * and kept for a short while, so a create or a listing does not pay a round trip per name.
 */
import { NotFoundError } from '@hvkit/core';
import { readMany } from '../client/property-reader.js';
import type { CallOptions, VimClient } from '../client/vim-client.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { ResolvedNetwork } from '../vm/config-spec.js';
import { type VmMapContext, vmMapContextFrom } from './vm-mapper.js';

/** One named inventory object. */
export interface NamedObject {
  moref: ManagedObjectReference;
  name: string;
}

/** A cluster or standalone host's compute resource. */
export interface ComputeResourceInfo extends NamedObject {
  /** Its root resource pool. */
  resourcePool: ManagedObjectReference | undefined;
  cluster: boolean;
}

/** A snapshot of the inventory's names. */
export interface InventoryNames {
  datacenters: (NamedObject & { vmFolder: ManagedObjectReference | undefined })[];
  folders: (NamedObject & { childType: string[] })[];
  computeResources: ComputeResourceInfo[];
  hosts: (NamedObject & { parent: ManagedObjectReference | undefined })[];
  pools: (NamedObject & { parent: ManagedObjectReference | undefined })[];
  datastores: (NamedObject & {
    capacityBytes: number;
    freeBytes: number;
    type: string;
    accessible: boolean;
  })[];
  /** Standard networks and distributed port groups, by name. */
  networks: Map<string, ResolvedNetwork & { moref: ManagedObjectReference; name: string }>;
  /** For `toVm`. */
  mapContext: VmMapContext;
}

const TYPES = [
  { type: 'Datacenter', pathSet: ['name', 'vmFolder'] },
  { type: 'Folder', pathSet: ['name', 'childType'] },
  { type: 'ClusterComputeResource', pathSet: ['name', 'resourcePool'] },
  { type: 'ComputeResource', pathSet: ['name', 'resourcePool'] },
  { type: 'HostSystem', pathSet: ['name', 'parent'] },
  { type: 'ResourcePool', pathSet: ['name', 'parent'] },
  {
    type: 'Datastore',
    pathSet: [
      'name',
      'summary.capacity',
      'summary.freeSpace',
      'summary.type',
      'summary.accessible',
    ],
  },
  { type: 'Network', pathSet: ['name'] },
  {
    type: 'DistributedVirtualPortgroup',
    pathSet: ['name', 'key', 'config.distributedVirtualSwitch', 'config.defaultPortConfig'],
  },
  { type: 'DistributedVirtualSwitch', pathSet: ['uuid'] },
] as const;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function number(value: unknown): number {
  const parsed = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
}

function moRef(value: unknown): ManagedObjectReference | undefined {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

function vlanOf(defaultPortConfig: unknown): number | undefined {
  const vlan = (defaultPortConfig as { vlan?: { vlanId?: unknown } } | undefined)?.vlan?.vlanId;
  const id = typeof vlan === 'number' ? vlan : Number(vlan);
  return Number.isInteger(id) && id > 0 && id < 4095 ? id : undefined;
}

/** Builds {@link InventoryNames} from one inventory read. Exported for tests. */
export function inventoryNamesFrom(provider: string, contents: ObjectContent[]): InventoryNames {
  const names: InventoryNames = {
    datacenters: [],
    folders: [],
    computeResources: [],
    hosts: [],
    pools: [],
    datastores: [],
    networks: new Map(),
    mapContext: vmMapContextFrom(provider, contents),
  };
  const switchUuids = new Map<string, string>();
  for (const content of contents) {
    if (content.obj.type.endsWith('DistributedVirtualSwitch')) {
      const uuid = text(content.properties.uuid);
      if (uuid) switchUuids.set(content.obj.value, uuid);
    }
  }
  for (const content of contents) {
    const name = text(content.properties.name);
    if (name === undefined) continue;
    const moref = content.obj;
    const props = content.properties;
    switch (moref.type) {
      case 'Datacenter':
        names.datacenters.push({ moref, name, vmFolder: moRef(props.vmFolder) });
        break;
      case 'Folder':
        names.folders.push({
          moref,
          name,
          childType: Array.isArray(props.childType) ? props.childType.map(String) : [],
        });
        break;
      case 'ClusterComputeResource':
      case 'ComputeResource':
        if (!names.computeResources.some((item) => item.moref.value === moref.value)) {
          names.computeResources.push({
            moref,
            name,
            resourcePool: moRef(props.resourcePool),
            cluster: moref.type === 'ClusterComputeResource',
          });
        }
        break;
      case 'HostSystem':
        names.hosts.push({ moref, name, parent: moRef(props.parent) });
        break;
      case 'ResourcePool':
      case 'VirtualApp':
        names.pools.push({ moref, name, parent: moRef(props.parent) });
        break;
      case 'Datastore':
        names.datastores.push({
          moref,
          name,
          capacityBytes: number(props['summary.capacity']),
          freeBytes: number(props['summary.freeSpace']),
          type: text(props['summary.type']) ?? 'unknown',
          accessible: props['summary.accessible'] !== false,
        });
        break;
      case 'Network':
      case 'OpaqueNetwork':
        if (!names.networks.has(name)) {
          names.networks.set(name, { kind: 'network', moref, name });
        }
        break;
      case 'DistributedVirtualPortgroup': {
        const dvs = moRef(props['config.distributedVirtualSwitch']);
        const switchUuid = dvs ? switchUuids.get(dvs.value) : undefined;
        const vlan = vlanOf(props['config.defaultPortConfig']);
        if (switchUuid !== undefined) {
          names.networks.set(name, {
            kind: 'distributed',
            moref,
            name,
            switchUuid,
            portgroupKey: text(props.key) ?? moref.value,
            ...(vlan === undefined ? {} : { vlan }),
          });
        }
        break;
      }
    }
  }
  return names;
}

/** Reads and caches {@link InventoryNames}. */
export class Inventory {
  readonly #client: VimClient;
  readonly #provider: string;
  readonly #ttlMs: number;
  #cached: { at: number; names: Promise<InventoryNames> } | undefined;

  constructor(client: VimClient, provider: string, ttlMs = 10_000) {
    this.#client = client;
    this.#provider = provider;
    this.#ttlMs = ttlMs;
  }

  /** The names, read again when older than the TTL or when `fresh` is asked. */
  names(options: CallOptions & { fresh?: boolean } = {}): Promise<InventoryNames> {
    const now = Date.now();
    if (!options.fresh && this.#cached && now - this.#cached.at < this.#ttlMs) {
      return this.#cached.names;
    }
    const pending = (async () => {
      const contents: ObjectContent[] = [];
      for await (const content of readMany(this.#client, TYPES, options)) contents.push(content);
      return inventoryNamesFrom(this.#provider, contents);
    })();
    this.#cached = { at: now, names: pending };
    pending.catch(() => {
      if (this.#cached?.names === pending) this.#cached = undefined;
    });
    return pending;
  }

  /** Forgets the cached names (after a create or delete of an inventory object). */
  invalidate(): void {
    this.#cached = undefined;
  }

  /**
   * Finds an object of `kind` by name or moref value, reading the inventory again once when it
   * is not in the cached copy.
   *
   * @throws NotFoundError naming `kind` and the id.
   */
  async find<T extends NamedObject>(
    kind: 'host' | 'storage' | 'resource-pool' | 'network' | 'other',
    id: string,
    pick: (names: InventoryNames) => readonly T[],
    options: CallOptions = {},
  ): Promise<T> {
    const match = (list: readonly T[]) =>
      list.find((item) => item.moref.value === id) ?? list.find((item) => item.name === id);
    const cached = match(pick(await this.names(options)));
    if (cached) return cached;
    const fresh = match(pick(await this.names({ ...options, fresh: true })));
    if (fresh) return fresh;
    throw new NotFoundError(kind, id, undefined, { provider: this.#provider });
  }
}
