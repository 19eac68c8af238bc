import type { ConfigFile } from './config-file.js';

/** A storage as `storage.cfg` defines it. */
export interface StorageDefinition {
  /** Storage id, e.g. `local-lvm`. */
  id: string;
  /** Plugin type: `dir`, `lvmthin`, `nfs`, `zfspool`, … (decides volume naming and format). */
  type: string;
  /** Content types, e.g. `['images', 'rootdir']`. */
  content: string[];
  /** Shared storage is visible from every node (clones and migrations across nodes). */
  shared?: boolean;
  /** Capacity in bytes (default 500 GiB). */
  totalBytes?: number;
}

/** A volume on a storage. */
export interface Volume {
  volid: string;
  storage: string;
  /** The node holding it; `*` for shared storage. */
  node: string;
  content: string;
  format: string;
  sizeBytes: number;
  vmid?: number;
  ctime: number;
  /** Bytes of an uploaded file (kept so an import can read them back). */
  data?: Buffer;
  /** For linked clones: the base volume it depends on. */
  base?: string;
}

/** A snapshot as listed by GET /snapshot. */
export interface SnapshotInfo {
  name: string;
  snaptime: number;
  vmstate: 0 | 1;
  description: string;
  parent?: string;
}

/** What the guest agent answers, set per VM through {@link SimulatorState.setAgent}. */
export type AgentBehaviour =
  | {
      mode: 'interfaces';
      /** Interfaces to report (default: lo plus one per NIC, with ipconfigN's static address). */
      interfaces?: AgentInterface[];
      /** `guest-get-osinfo` result (default: an Ubuntu 24.04 guest). */
      osinfo?: Record<string, string>;
      /** `guest-get-host-name` (default: the VM name). */
      hostname?: string;
    }
  | { mode: 'not-running' }
  | { mode: 'timeout' };

export interface AgentInterface {
  name: string;
  'hardware-address': string;
  'ip-addresses': Array<{
    'ip-address': string;
    'ip-address-type': 'ipv4' | 'ipv6';
    prefix: number;
  }>;
}

/** A VM: its config file plus runtime state. */
export interface VmState extends ConfigFile {
  vmid: number;
  node: string;
  status: 'running' | 'stopped';
  qmpstatus: 'running' | 'paused' | 'stopped';
  /** Clock ms of the last start. */
  startedAt?: number;
  pid?: number;
  snapshotInfo: Map<string, SnapshotInfo>;
  agent: AgentBehaviour;
}

/** A resource pool (`/pools`). */
export interface PoolState {
  poolid: string;
  comment?: string;
  /** VMIDs in the pool. */
  vms: Set<number>;
}

/** An HA resource (`/cluster/ha/resources`). */
export interface HaResource {
  sid: string;
  type: 'vm' | 'ct';
  state: string;
  comment?: string;
  group?: string;
  max_restart: number;
  max_relocate: number;
  failback?: number;
}

/** The simulated cluster: nodes, storage, volumes, VMs, HA. Tests may read and seed it. */
export class SimulatorState {
  readonly vms = new Map<number, VmState>();
  readonly volumes = new Map<string, Volume>();
  readonly ha = new Map<string, HaResource>();
  readonly pools = new Map<string, PoolState>();
  #macCounter = 0;
  #uuidCounter = 0;

  constructor(
    readonly nodes: string[],
    readonly storages: StorageDefinition[],
    readonly bridges: string[],
  ) {}

  storage(id: string): StorageDefinition | undefined {
    return this.storages.find((storage) => storage.id === id);
  }

  #volumeKey(node: string, volid: string): string {
    const storage = this.storage(volid.split(':')[0] ?? '');
    return `${storage?.shared ? '*' : node}/${volid}`;
  }

  volume(node: string, volid: string): Volume | undefined {
    return this.volumes.get(this.#volumeKey(node, volid));
  }

  addVolume(node: string, volume: Omit<Volume, 'node' | 'storage'>): Volume {
    const storageId = volume.volid.split(':')[0] as string;
    const storage = this.storage(storageId);
    const record: Volume = { ...volume, storage: storageId, node: storage?.shared ? '*' : node };
    this.volumes.set(this.#volumeKey(node, volume.volid), record);
    return record;
  }

  removeVolume(node: string, volid: string): void {
    this.volumes.delete(this.#volumeKey(node, volid));
  }

  /** Volumes visible on a node's storage. */
  volumesOn(node: string, storageId: string): Volume[] {
    return [...this.volumes.values()].filter(
      (volume) => volume.storage === storageId && (volume.node === node || volume.node === '*'),
    );
  }

  /**
   * Names a new disk volume for a VM on a storage: lvmthin `vm-100-disk-0` (raw); directory
   * storage `100/vm-100-disk-0.qcow2`.
   */
  newDiskVolid(
    node: string,
    storageId: string,
    vmid: number,
    format?: string,
    prefix = 'vm',
  ): string {
    const storage = this.storage(storageId);
    const fileBased =
      storage?.type === 'dir' || storage?.type === 'nfs' || storage?.type === 'cifs';
    const used = new Set(
      this.volumesOn(node, storageId)
        .filter((volume) => volume.vmid === vmid)
        .map(
          (volume) => /(?:vm|base)-\d+-disk-(\d+)/.exec(volume.volid.split('/').pop() ?? '')?.[1],
        )
        .filter((value): value is string => value !== undefined)
        .map(Number),
    );
    let index = 0;
    while (used.has(index)) index++;
    const name = `${prefix}-${vmid}-disk-${index}`;
    return fileBased ? `${storageId}:${vmid}/${name}.${format ?? 'qcow2'}` : `${storageId}:${name}`;
  }

  /** Default image format of a storage. */
  defaultFormat(storageId: string): string {
    const type = this.storage(storageId)?.type;
    return type === 'dir' || type === 'nfs' || type === 'cifs' ? 'qcow2' : 'raw';
  }

  /** A MAC with the Proxmox OUI BC:24:11, deterministic per simulator. */
  nextMac(): string {
    this.#macCounter++;
    const value = (0x2c69ec + this.#macCounter * 7919) & 0xffffff;
    const bytes = [value >> 16, (value >> 8) & 0xff, value & 0xff];
    return `BC:24:11:${bytes.map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':')}`;
  }

  /** A deterministic UUID (smbios1, vmgenid). */
  nextUuid(): string {
    this.#uuidCounter++;
    const hex = (this.#uuidCounter * 2654435761).toString(16).padStart(12, '0').slice(-12);
    return `5e1a${hex.slice(0, 4)}-0000-4000-8000-${hex}`;
  }

  /** Sets what the guest agent of a VM answers. */
  setAgent(vmid: number, behaviour: AgentBehaviour): void {
    const vm = this.vms.get(vmid);
    if (!vm) throw new Error(`no VM ${vmid}`);
    vm.agent = behaviour;
  }

  /** The lowest free VMID from 100. */
  nextFreeVmid(): number {
    let vmid = 100;
    while (this.vms.has(vmid)) vmid++;
    return vmid;
  }
}
