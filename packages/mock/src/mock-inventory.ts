import type { Network, StoragePool } from '@hvkit/core';

const GIB = 2 ** 30;
const TIB = 2 ** 40;

/** A network of the Mock's inventory. */
export interface MockNetworkInput {
  name: string;
  /** Default `network`. */
  kind?: Network['kind'] | undefined;
  /** VLAN of the network itself (a port group's VLAN). */
  vlan?: number | undefined;
  /**
   * Whether NICs may carry their own VLAN tag on it. Default: true for `distributed` and
   * `bridge`, false for `network` (a standard port group fixes its VLAN, as on vSphere).
   */
  vlanCapable?: boolean | undefined;
}

/** A datastore of the Mock's inventory. */
export interface MockStoragePoolInput {
  name: string;
  /** Default 1 TiB. */
  capacityBytes?: number | undefined;
  /** Default `vmfs`. */
  type?: string | undefined;
  /** Default true. */
  shared?: boolean | undefined;
}

/**
 * What the Mock's "datacenter" holds. Every field has a default: hosts `host-1`…`host-3` in
 * cluster `cluster-1`; networks `VM Network` (network), `br0` (bridge), `dvs-prod`
 * (distributed, VLAN capable); datastores `datastore1` (1 TiB), `datastore2` (4 TiB),
 * `fast-nvme` (500 GiB); storage policies `vSAN Default Storage Policy`, `gold`, `silver`;
 * content library `lib` with item `ubuntu-24.04`; no pre-made VMs.
 */
export interface MockInventoryOptions {
  hosts?: string[] | undefined;
  cluster?: string | undefined;
  /** A bare string is a `network` of that name. */
  networks?: (string | MockNetworkInput)[] | undefined;
  /** A bare string is a 1 TiB datastore of that name. */
  storagePools?: (string | MockStoragePoolInput)[] | undefined;
  storagePolicies?: string[] | undefined;
  /** Library name → item names. */
  contentLibraries?: Record<string, string[]> | undefined;
  /**
   * Number of VMs to make at start (`seed-vm-00001`…, deterministic from the seed), for scale
   * tests and benchmarks. Default 0. Ignored when a persisted state is loaded.
   */
  vms?: number | undefined;
}

/** A network as the Mock stores it. */
export interface MockNetwork extends Network {
  vlanCapable: boolean;
}

/** The normalised inventory, part of the persisted state. */
export interface MockInventory {
  cluster: string;
  hosts: string[];
  networks: MockNetwork[];
  storagePools: Omit<StoragePool, 'freeBytes'>[];
  storagePolicies: string[];
  contentLibraries: Record<string, string[]>;
}

const DEFAULT_NETWORKS: MockNetworkInput[] = [
  { name: 'VM Network', kind: 'network' },
  { name: 'br0', kind: 'bridge' },
  { name: 'dvs-prod', kind: 'distributed' },
];

const DEFAULT_POOLS: MockStoragePoolInput[] = [
  { name: 'datastore1', capacityBytes: TIB },
  { name: 'datastore2', capacityBytes: 4 * TIB },
  { name: 'fast-nvme', capacityBytes: 500 * GIB },
];

const ID_PREFIX: Record<Network['kind'], string> = {
  network: 'network',
  bridge: 'bridge',
  distributed: 'dvportgroup',
};

/** Fills in the defaults of {@link MockInventoryOptions}. Throws `TypeError` on duplicate names. */
export function normaliseInventory(options: MockInventoryOptions = {}): MockInventory {
  const hosts = options.hosts ?? ['host-1', 'host-2', 'host-3'];
  if (hosts.length === 0) throw new TypeError('the Mock needs at least one host');
  const networks = (options.networks ?? DEFAULT_NETWORKS).map((input, index): MockNetwork => {
    const network = typeof input === 'string' ? { name: input } : input;
    const kind = network.kind ?? 'network';
    return {
      id: `${ID_PREFIX[kind]}-${index + 1}`,
      name: network.name,
      kind,
      ...(network.vlan === undefined ? {} : { vlan: network.vlan }),
      vlanCapable: network.vlanCapable ?? kind !== 'network',
    };
  });
  const storagePools = (options.storagePools ?? DEFAULT_POOLS).map((input, index) => {
    const pool = typeof input === 'string' ? { name: input } : input;
    return {
      id: `datastore-${index + 1}`,
      name: pool.name,
      type: pool.type ?? 'vmfs',
      capacityBytes: pool.capacityBytes ?? TIB,
      content: ['disk', 'image', 'iso'] as StoragePool['content'],
      shared: pool.shared ?? true,
    };
  });
  if (storagePools.length === 0) throw new TypeError('the Mock needs at least one storage pool');
  for (const [what, names] of [
    ['host', hosts],
    ['network', networks.map((network) => network.name)],
    ['storage pool', storagePools.map((pool) => pool.name)],
  ] as const) {
    if (new Set(names).size !== names.length) throw new TypeError(`duplicate ${what} names`);
  }
  return {
    cluster: options.cluster ?? 'cluster-1',
    hosts: [...hosts],
    networks,
    storagePools,
    storagePolicies: options.storagePolicies ?? ['vSAN Default Storage Policy', 'gold', 'silver'],
    contentLibraries: options.contentLibraries ?? { lib: ['ubuntu-24.04'] },
  };
}
