/**
 * Datastores as core storage pools, networks and distributed port groups as core networks, and
 * the name → backing lookup the create path needs to attach a NIC.
 *
 * Ids are moref values: a datastore's is opaque (vcsim uses its directory path, with `/` and `@`),
 * a network's `network-7`, a distributed port group's `dvportgroup-13`.
 */
import { ConflictError, type Network, type StoragePool } from '@hvkit/core';
import { readAll } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { VsphereContext } from '../vsphere-context.js';
import { fieldsOf, flagOf, listOf, moRefOf, numberOf, textOf } from './values.js';

/** What a datastore may hold: VM disks, images (templates, OVAs, disk files) and ISOs. */
const DATASTORE_CONTENT: StoragePool['content'] = ['disk', 'image', 'iso'];

/**
 * Maps a Datastore (`name`, `summary`) to a storage pool: capacity and free space in bytes (free
 * clamped to capacity), `type` as vSphere names it (`VMFS`, `NFS`, `vsan`, `OTHER` on vcsim),
 * `shared` from `summary.multipleHostAccess`. Returns undefined for an inaccessible datastore (it
 * reports no usable capacity and takes no disks). Never throws.
 */
export function toStoragePool(content: ObjectContent): StoragePool | undefined {
  const summary = fieldsOf(content.properties.summary);
  if (flagOf(summary?.accessible) === false) return undefined;
  const capacityBytes = Math.max(0, numberOf(summary?.capacity) ?? 0);
  const freeBytes = Math.min(capacityBytes, Math.max(0, numberOf(summary?.freeSpace) ?? 0));
  return {
    id: content.obj.value,
    name: textOf(content.properties.name) ?? textOf(summary?.name) ?? content.obj.value,
    type: textOf(summary?.type) ?? 'unknown',
    capacityBytes,
    freeBytes,
    content: [...DATASTORE_CONTENT],
    shared: flagOf(summary?.multipleHostAccess) ?? false,
  };
}

/** Every accessible datastore, sorted by name. */
export async function listStoragePools(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<StoragePool[]> {
  const pools: StoragePool[] = [];
  for await (const content of readAll(ctx.client, 'Datastore', ['name', 'summary'], options)) {
    const pool = toStoragePool(content);
    if (pool !== undefined) pools.push(pool);
  }
  return pools.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** Where a NIC attaches: a standard network or a distributed port group. */
export type NetworkTarget =
  | { kind: 'network'; name: string; moref: ManagedObjectReference }
  | {
      kind: 'distributed';
      name: string;
      moref: ManagedObjectReference;
      /** `uuid` of the port group's distributed switch (the NIC backing's `port.switchUuid`). */
      switchUuid: string;
      /** The port group's `key` (the NIC backing's `port.portgroupKey`). */
      portgroupKey: string;
      /** VLAN id of the port group's default port config, when it is one VLAN (not 0, trunk or private). */
      vlan?: number | undefined;
    };

/**
 * The single VLAN id of a port group's `config.defaultPortConfig`, or undefined for none (0), a
 * trunk or a private VLAN. Pure.
 */
export function portgroupVlan(defaultPortConfig: unknown): number | undefined {
  const vlan = fieldsOf(fieldsOf(defaultPortConfig)?.vlan);
  if (vlan?.$type !== 'VmwareDistributedVirtualSwitchVlanIdSpec') return undefined;
  const id = numberOf(vlan.vlanId);
  return id !== undefined && id > 0 && id < 4095 ? id : undefined;
}

function isUplink(content: ObjectContent, uplinks: ReadonlySet<string>): boolean {
  if (uplinks.has(content.obj.value)) return true;
  if (flagOf(content.properties['config.uplink']) === true) return true;
  return listOf(content.properties.tag).some((tag) => fieldsOf(tag)?.key === 'SYSTEM/DVS.UPLINKPG');
}

/**
 * Reads every network NICs can attach to, in three reads: Network (standard networks; the view
 * returns its subtypes too, which are told apart by moref type), DistributedVirtualPortgroup
 * (key, switch, default VLAN) and DistributedVirtualSwitch (uuid, uplink port groups). Uplink
 * port groups are left out (marked by `config.uplink`, the `SYSTEM/DVS.UPLINKPG` tag or the
 * switch's `config.uplinkPortgroup`; vcsim marks them none of these ways, so there its
 * `DVS0-DVUplinks-*` group is listed). Opaque (NSX) networks are left out: their NIC backing
 * needs ids this module does not read. Sorted by kind, then name.
 */
export async function networkTargets(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<NetworkTarget[]> {
  const collect = async (type: string, pathSet: readonly string[]) => {
    const items: ObjectContent[] = [];
    for await (const item of readAll(ctx.client, type, pathSet, options)) items.push(item);
    return items;
  };
  const [networks, portgroups, switches] = await Promise.all([
    collect('Network', ['name']),
    collect('DistributedVirtualPortgroup', [
      'name',
      'key',
      'tag',
      'config.distributedVirtualSwitch',
      'config.defaultPortConfig',
      'config.uplink',
    ]),
    collect('DistributedVirtualSwitch', ['uuid', 'config.uplinkPortgroup']),
  ]);
  const switchUuids = new Map<string, string>();
  const uplinks = new Set<string>();
  for (const item of switches) {
    const uuid = textOf(item.properties.uuid);
    if (uuid !== undefined) switchUuids.set(item.obj.value, uuid);
    for (const ref of listOf(item.properties['config.uplinkPortgroup'])) {
      const uplink = moRefOf(ref);
      if (uplink !== undefined) uplinks.add(uplink.value);
    }
  }
  const targets: NetworkTarget[] = [];
  for (const item of networks) {
    const name = textOf(item.properties.name);
    if (item.obj.type !== 'Network' || name === undefined) continue;
    targets.push({ kind: 'network', name, moref: item.obj });
  }
  for (const item of portgroups) {
    const name = textOf(item.properties.name);
    const dvs = moRefOf(item.properties['config.distributedVirtualSwitch']);
    const switchUuid = dvs === undefined ? undefined : switchUuids.get(dvs.value);
    if (name === undefined || switchUuid === undefined || isUplink(item, uplinks)) continue;
    const vlan = portgroupVlan(item.properties['config.defaultPortConfig']);
    targets.push({
      kind: 'distributed',
      name,
      moref: item.obj,
      switchUuid,
      portgroupKey: textOf(item.properties.key) ?? item.obj.value,
      ...(vlan === undefined ? {} : { vlan }),
    });
  }
  return targets.sort(
    (a, b) =>
      a.kind.localeCompare(b.kind) ||
      a.name.localeCompare(b.name) ||
      a.moref.value.localeCompare(b.moref.value),
  );
}

/**
 * Networks and distributed port groups as core `Network`s (see {@link networkTargets} for what is
 * left out). A standard port group's VLAN is a per-host setting, not on the Network object, so
 * only distributed port groups carry `vlan`.
 */
export async function listNetworks(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<Network[]> {
  return (await networkTargets(ctx, options)).map((target) => ({
    id: target.moref.value,
    name: target.name,
    kind: target.kind,
    ...(target.kind === 'distributed' && target.vlan !== undefined ? { vlan: target.vlan } : {}),
  }));
}

/** Looks networks up by id or name; see {@link resolveNetworks}. */
export interface NetworkDirectory {
  readonly targets: readonly NetworkTarget[];
  /**
   * The target whose moref value is `nameOrId`, else the one named so (of `kind` when given).
   * Returns undefined when none matches.
   *
   * @throws ConflictError('invalid-state') when several networks share the name (give the id).
   */
  find(nameOrId: string, kind?: NetworkTarget['kind']): NetworkTarget | undefined;
}

/** A {@link NetworkDirectory} over `targets` (pure; errors name `provider`). */
export function networkDirectory(
  targets: readonly NetworkTarget[],
  provider: string,
): NetworkDirectory {
  return {
    targets,
    find(nameOrId, kind) {
      const ofKind = targets.filter((target) => kind === undefined || target.kind === kind);
      const byId = ofKind.find((target) => target.moref.value === nameOrId);
      if (byId !== undefined) return byId;
      const named = ofKind.filter((target) => target.name === nameOrId);
      if (named.length > 1) {
        throw new ConflictError(
          'invalid-state',
          `${named.length} networks are named ${JSON.stringify(nameOrId)}; give the id (${named.map((target) => target.moref.value).join(', ')})`,
          { provider },
        );
      }
      return named[0];
    },
  };
}

/**
 * Reads the networks once ({@link networkTargets}) and returns a lookup for the create and
 * reconfigure paths: a NIC on a `network` target gets a `VirtualEthernetCardNetworkBackingInfo`
 * (`network` = moref, `deviceName` = name), on a `distributed` one a
 * `VirtualEthernetCardDistributedVirtualPortBackingInfo` (`port.switchUuid`, `port.portgroupKey`).
 */
export async function resolveNetworks(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<NetworkDirectory> {
  return networkDirectory(await networkTargets(ctx, options), ctx.name);
}
