/**
 * Resource pools: list, create (`CreateResourcePool`), delete (`Destroy_Task`). A pool's id is
 * its moref value (`resgroup-42`), the same string a VM's `placement.resourcePool` carries.
 * Units: CPU in MHz, memory in MB (MiB in vSphere's usage); a limit of -1 (none) is left out.
 */
import {
  ConflictError,
  NotFoundError,
  type ParsedInput,
  ProviderApiError,
  type ResourcePool,
} from '@hvkit/core';
import { readAll, readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import { taskRefOf, waitForTask } from '../client/wait-for-task.js';
import type { DataObject, ManagedObjectReference } from '../soap/soap-envelope.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { VsphereContext } from '../vsphere-context.js';
import { fieldsOf, listOf, moRefOf, numberOf, textOf } from './values.js';

/** Properties read for each pool. */
export const RESOURCE_POOL_PROPERTIES = [
  'name',
  'parent',
  'config.cpuAllocation',
  'config.memoryAllocation',
] as const;

function allocation(value: unknown): { reservation?: number; limit?: number } {
  const info = fieldsOf(value);
  const reservation = numberOf(info?.reservation);
  const limit = numberOf(info?.limit);
  return {
    ...(reservation === undefined ? {} : { reservation }),
    ...(limit === undefined || limit < 0 ? {} : { limit }),
  };
}

function property(content: ObjectContent, path: string): unknown {
  if (path in content.properties) return content.properties[path];
  // The whole `config` may have been read instead of its parts.
  const [head, ...rest] = path.split('.');
  let current: unknown = content.properties[head ?? ''];
  for (const segment of rest) current = fieldsOf(current)?.[segment];
  return current;
}

/**
 * Maps a ResourcePool's properties to core's `ResourcePool`: `parentId` only when the parent is a
 * pool (a cluster's or host's root pool has none). Never throws.
 */
export function toResourcePool(content: ObjectContent): ResourcePool {
  const parent = moRefOf(property(content, 'parent'));
  const cpu = allocation(property(content, 'config.cpuAllocation'));
  const memory = allocation(property(content, 'config.memoryAllocation'));
  return {
    id: content.obj.value,
    name: textOf(property(content, 'name')) ?? content.obj.value,
    ...(parent?.type === 'ResourcePool' ? { parentId: parent.value } : {}),
    cpu: {
      ...(cpu.reservation === undefined ? {} : { reservationMHz: cpu.reservation }),
      ...(cpu.limit === undefined ? {} : { limitMHz: cpu.limit }),
    },
    memory: {
      ...(memory.reservation === undefined ? {} : { reservationMiB: memory.reservation }),
      ...(memory.limit === undefined ? {} : { limitMiB: memory.limit }),
    },
  };
}

/**
 * Every resource pool, root pools of clusters and standalone hosts included (they are named
 * `Resources` and have no `parentId`); vApps are left out. Sorted by id.
 */
export async function listResourcePools(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<ResourcePool[]> {
  const pools: ResourcePool[] = [];
  for await (const content of readAll(
    ctx.client,
    'ResourcePool',
    RESOURCE_POOL_PROPERTIES,
    options,
  )) {
    if (content.obj.type !== 'ResourcePool') continue;
    pools.push(toResourcePool(content));
  }
  return pools.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The root pool of the first cluster (by moref), else of the first standalone host: where a pool
 * goes when the spec names no parent.
 *
 * @throws NotFoundError('resource-pool') when the inventory has no compute resource.
 */
export async function defaultParentPool(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<ManagedObjectReference> {
  const roots: { cluster: boolean; owner: string; pool: ManagedObjectReference }[] = [];
  for await (const content of readAll(ctx.client, 'ComputeResource', ['resourcePool'], options)) {
    const pool = moRefOf(content.properties.resourcePool);
    if (pool === undefined) continue;
    roots.push({
      cluster: content.obj.type === 'ClusterComputeResource',
      owner: content.obj.value,
      pool,
    });
  }
  roots.sort((a, b) => Number(b.cluster) - Number(a.cluster) || a.owner.localeCompare(b.owner));
  const [first] = roots;
  if (first === undefined) {
    throw new NotFoundError(
      'resource-pool',
      '',
      'the inventory has no cluster or host to hold a resource pool',
      {
        provider: ctx.name,
      },
    );
  }
  return first.pool;
}

/**
 * The pool `idOrName` names: a moref value first, else the one pool of that name.
 *
 * @throws NotFoundError('resource-pool') when neither matches; ConflictError('invalid-state')
 *   when several pools share the name (give the id).
 */
export async function resolveResourcePool(
  ctx: VsphereContext,
  idOrName: string,
  options: CallOptions = {},
): Promise<ManagedObjectReference> {
  const byId = { type: 'ResourcePool', value: idOrName };
  try {
    await readOne(ctx.client, byId, ['name'], options);
    return byId;
  } catch (error) {
    if (!NotFoundError.isInstance(error)) throw error;
  }
  const named = (await listResourcePools(ctx, options)).filter((pool) => pool.name === idOrName);
  if (named.length > 1) {
    throw new ConflictError(
      'invalid-state',
      `${named.length} resource pools are named ${JSON.stringify(idOrName)}; give the id (${named.map((pool) => pool.id).join(', ')})`,
      { provider: ctx.name },
    );
  }
  const [pool] = named;
  if (pool === undefined) {
    throw new NotFoundError(
      'resource-pool',
      idOrName,
      `resource pool ${JSON.stringify(idOrName)} not found`,
      {
        provider: ctx.name,
      },
    );
  }
  return { type: 'ResourcePool', value: pool.id };
}

function allocationSpec(reservation: number | undefined, limit: number | undefined): DataObject {
  // CreateResourcePool needs every field set (vCenter and vcsim refuse a partial allocation):
  // these are vSphere's own defaults — no reservation, expandable, no limit, normal shares.
  return {
    $type: 'ResourceAllocationInfo',
    reservation: reservation ?? 0,
    expandableReservation: true,
    limit: limit ?? -1,
    shares: { $type: 'SharesInfo', shares: 0, level: 'normal' },
  };
}

/**
 * Creates pool `spec.name` under `spec.parentId` (a pool id or unique name) or, by default, the
 * first cluster's root pool; reservations default to 0, limits to none, reservations are
 * expandable and shares normal. Returns the pool as read back.
 *
 * @throws NotFoundError('resource-pool') for a missing parent; ConflictError('already-exists')
 *   when the parent already holds a pool of that name (vSphere's DuplicateName);
 *   ProviderApiError for other faults (InvalidArgument for a reservation the parent cannot give).
 */
export async function createResourcePool(
  ctx: VsphereContext,
  spec: ParsedInput['resourcePoolSpec'],
  options: CallOptions = {},
): Promise<ResourcePool> {
  const parent =
    spec.parentId === undefined
      ? await defaultParentPool(ctx, options)
      : await resolveResourcePool(ctx, spec.parentId, options);
  const config: DataObject = {
    $type: 'ResourceConfigSpec',
    cpuAllocation: allocationSpec(spec.cpu?.reservationMHz, spec.cpu?.limitMHz),
    memoryAllocation: allocationSpec(spec.memory?.reservationMiB, spec.memory?.limitMiB),
  };
  const created = moRefOf(
    await ctx.client.callOne(
      'CreateResourcePool',
      parent,
      [
        ['name', spec.name, 'string'],
        ['spec', config, 'ResourceConfigSpec'],
      ],
      options,
    ),
  );
  if (created === undefined) {
    throw new ProviderApiError('vSphere CreateResourcePool returned no pool', {
      provider: ctx.name,
    });
  }
  return toResourcePool(await readOne(ctx.client, created, RESOURCE_POOL_PROPERTIES, options));
}

/**
 * Deletes pool `id` (moref value) and waits for it. Refuses a pool that still holds VMs or child
 * pools: vSphere's Destroy_Task would move them to the parent, which core's contract calls
 * `in-use` instead. (A VM placed into the pool between the check and the destroy is moved up.)
 *
 * @throws NotFoundError('resource-pool') when the pool does not exist; ConflictError('in-use')
 *   when it holds VMs or pools; ConflictError('invalid-state') for a root pool; the task's error.
 */
export async function deleteResourcePool(
  ctx: VsphereContext,
  id: string,
  options: CallOptions = {},
): Promise<void> {
  const pool = { type: 'ResourcePool', value: id };
  const content = await readOne(ctx.client, pool, ['parent', 'vm', 'resourcePool'], options);
  if (content.obj.type !== 'ResourcePool' || Object.keys(content.properties).length === 0) {
    throw new NotFoundError('resource-pool', id, `resource pool ${JSON.stringify(id)} not found`, {
      provider: ctx.name,
    });
  }
  const parent = moRefOf(content.properties.parent);
  if (parent !== undefined && parent.type !== 'ResourcePool') {
    throw new ConflictError(
      'invalid-state',
      `resource pool ${id} is the root pool of ${parent.value}`,
      {
        provider: ctx.name,
      },
    );
  }
  const vms = listOf(content.properties.vm).length;
  const children = listOf(content.properties.resourcePool).length;
  if (vms > 0 || children > 0) {
    throw new ConflictError(
      'in-use',
      `resource pool ${id} holds ${vms} VM(s) and ${children} pool(s); move or delete them first`,
      { provider: ctx.name, details: { vms, pools: children } },
    );
  }
  const task = await ctx.client.callOne('Destroy_Task', pool, [], options);
  await waitForTask(ctx, taskRefOf(task, 'Destroy_Task', ctx.name), options);
}
