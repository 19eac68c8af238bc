/**
 * Records as the contract shows them. Every view is a fresh copy: a caller that modifies a `Vm`
 * cannot reach into the backend's state.
 */
import type { Image, Snapshot, SnapshotTree, Vm } from '@hvkit/core';
import { guestInfoOf, nicAddresses, toolsStateOf } from './mock-guest.js';
import type { MockImageRecord, MockSnapshotRecord, MockVmRecord } from './mock-state.js';

const isoCache = new Map<number, string>();

/** Milliseconds since the epoch as ISO 8601. */
export function iso(ms: number): string {
  // Formatting dates is a hot spot at scale and a clock repeats its values, so recent ones are kept.
  let text = isoCache.get(ms);
  if (text === undefined) {
    text = new Date(ms).toISOString();
    if (isoCache.size >= 256) isoCache.clear();
    isoCache.set(ms, text);
  }
  return text;
}

/** Freezes `value` and everything it holds, so it can be shared with callers without copies. */
export function freezeDeep<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) freezeDeep(item);
  }
  return value;
}

/** One snapshot without its children. */
export function snapshotView(snapshot: MockSnapshotRecord): Snapshot {
  return {
    id: snapshot.id,
    name: snapshot.name,
    ...(snapshot.description === undefined ? {} : { description: snapshot.description }),
    createdAt: iso(snapshot.createdAtMs),
    memory: snapshot.memory,
    quiesced: snapshot.quiesced,
    powerState: snapshot.powerState,
    ...(snapshot.parentId === undefined ? {} : { parentId: snapshot.parentId }),
    children: [],
  };
}

/** The VM's snapshots as a tree; siblings in creation order. */
export function snapshotTreeOf(vm: MockVmRecord): SnapshotTree {
  const nodes = new Map<string, Snapshot>();
  for (const snapshot of vm.snapshots) nodes.set(snapshot.id, snapshotView(snapshot));
  const roots: Snapshot[] = [];
  for (const snapshot of vm.snapshots) {
    const node = nodes.get(snapshot.id) as Snapshot;
    const parent = snapshot.parentId === undefined ? undefined : nodes.get(snapshot.parentId);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return { currentId: vm.currentSnapshotId, roots };
}

/** The contract's `Vm` for a record, with refs naming `provider`. */
export function vmView(vm: MockVmRecord, provider: string, seed: number, nowMs: number): Vm {
  const reporting = toolsStateOf(vm) === 'running';
  return {
    ref: { provider, id: vm.id },
    name: vm.name,
    ...(vm.description === undefined ? {} : { description: vm.description }),
    powerState: vm.powerState,
    template: vm.template,
    guestOs: vm.guestOs,
    cpu: { ...vm.cpu },
    memory: { ...vm.memory },
    disks: vm.disks.map((disk) => ({
      id: disk.id,
      ...(disk.name === undefined ? {} : { name: disk.name }),
      sizeBytes: disk.sizeBytes,
      provisioning: disk.provisioning,
      bus: disk.bus,
      storage: disk.storage,
      format: disk.format,
      ...(disk.parentId === undefined ? {} : { parentId: disk.parentId }),
    })),
    nics: vm.nics.map((nic) => ({
      id: nic.id,
      network: nic.network,
      connection: nic.connection,
      model: nic.model,
      ...(nic.vlan === undefined ? {} : { vlan: nic.vlan }),
      mac: nic.mac,
      ipAddresses: reporting ? nicAddresses(nic) : [],
    })),
    firmware: vm.firmware,
    guest: guestInfoOf(vm, seed, nowMs),
    snapshots: snapshotTreeOf(vm),
    placement: { ...vm.placement },
    policies: {
      ...(vm.policies.highAvailability
        ? { highAvailability: { ...vm.policies.highAvailability } }
        : {}),
      ...(vm.policies.loadBalancing ? { loadBalancing: { ...vm.policies.loadBalancing } } : {}),
      ...(vm.policies.faultTolerance ? { faultTolerance: { ...vm.policies.faultTolerance } } : {}),
    },
    tags: { ...vm.tags },
    createdAt: iso(vm.createdAtMs),
    raw: {
      type: 'mock-vm',
      sequence: vm.seq,
      secureBoot: vm.secureBoot,
      storagePolicies: vm.disks.map((disk) => disk.storagePolicy ?? null),
    },
  };
}

/** The contract's `Image`; `cached` says whether this import reused a stored image. */
export function imageView(image: MockImageRecord, cached: boolean): Image {
  return {
    id: image.id,
    name: image.name,
    format: image.format,
    sizeBytes: image.sizeBytes,
    storage: image.storage,
    source: structuredClone(image.source),
    cached,
    ...(image.sha256 === undefined ? {} : { sha256: image.sha256 }),
    createdAt: iso(image.createdAtMs),
  };
}
