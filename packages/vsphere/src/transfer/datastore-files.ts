/**
 * The inventory side of datastore file access: finding a datastore and its datacenter (the
 * `/folder` URL needs the datacenter's inventory path), deleting files with FileManager, and
 * waiting for the vSphere task such a helper must see finished before it goes on.
 */
import { NotFoundError, ProviderApiError } from '@hvkit/core';
import { readAll, readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import { datastorePath } from './datastore-http.js';

/** A datastore and the datacenter it belongs to. */
export interface DatastoreInfo {
  ref: ManagedObjectReference;
  name: string;
  datacenter: {
    ref: ManagedObjectReference /** Inventory path, the `/folder` URL's `dcPath`. */;
    path: string;
  };
}

function moRefOf(value: unknown): ManagedObjectReference | undefined {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

/** Reads a moref-valued property or fails saying which. */
export function requireMoRef(
  value: unknown,
  what: string,
  ctx: VsphereContext,
): ManagedObjectReference {
  const ref = moRefOf(value);
  if (!ref) throw new ProviderApiError(`vSphere returned no ${what}`, ctx.client.faultContext);
  return ref;
}

export { waitForTask } from '../client/wait-for-task.js';

/**
 * The datacenter holding `entity` (a datastore, VM, folder…) and its inventory path (`DC0`, or
 * `Folder/DC0` when it sits in a folder), found by walking `parent` up to the root folder.
 *
 * @throws NotFoundError when the entity does not exist or has no datacenter above it.
 */
export async function datacenterOf(
  ctx: VsphereContext,
  entity: ManagedObjectReference,
  options: CallOptions = {},
): Promise<DatastoreInfo['datacenter']> {
  const root = (await ctx.client.serviceContent(options)).rootFolder;
  let current: ManagedObjectReference | undefined = entity;
  let datacenter: ManagedObjectReference | undefined;
  const names: string[] = [];
  // Inventories are shallow; the bound only stops a cycle in a broken answer.
  for (let depth = 0; current && depth < 64; depth += 1) {
    if (current.type === 'Folder' && current.value === root.value) break;
    const object = await readOne(ctx.client, current, ['name', 'parent'], options);
    if (current.type === 'Datacenter' && !datacenter) datacenter = current;
    if (datacenter) names.unshift(String(object.properties.name ?? ''));
    current = moRefOf(object.properties.parent);
  }
  if (!datacenter) {
    throw new NotFoundError(
      'other',
      entity.value,
      `no datacenter above ${entity.type} ${JSON.stringify(entity.value)}`,
      ctx.client.faultContext,
    );
  }
  return { ref: datacenter, path: names.join('/') };
}

/**
 * Finds a datastore by name or moref value; without one, the accessible datastore with the most
 * free space.
 *
 * @throws NotFoundError (`storage`) when none matches or none is accessible.
 */
export async function findDatastore(
  ctx: VsphereContext,
  nameOrId: string | undefined,
  options: CallOptions = {},
): Promise<DatastoreInfo> {
  let best: { ref: ManagedObjectReference; name: string; free: number } | undefined;
  for await (const object of readAll(
    ctx.client,
    'Datastore',
    ['name', 'summary.accessible', 'summary.freeSpace'],
    options,
  )) {
    const name = String(object.properties.name ?? '');
    if (nameOrId !== undefined) {
      if (name === nameOrId || object.obj.value === nameOrId) {
        best = { ref: object.obj, name, free: 0 };
        break;
      }
      continue;
    }
    const accessible = object.properties['summary.accessible'];
    if (accessible === false || accessible === 'false') continue;
    const free = Number(object.properties['summary.freeSpace'] ?? 0);
    if (!best || free > best.free) best = { ref: object.obj, name, free };
  }
  if (!best) {
    throw new NotFoundError(
      'storage',
      nameOrId ?? '(any accessible datastore)',
      undefined,
      ctx.client.faultContext,
    );
  }
  return { ref: best.ref, name: best.name, datacenter: await datacenterOf(ctx, best.ref, options) };
}

/**
 * Starts `FileManager.DeleteDatastoreFile_Task` for `[datastore] path` and returns the Task.
 *
 * @throws InvalidSpecError for a bad path (before any I/O); the mapped fault when vSphere refuses.
 */
export async function deleteDatastoreFile(
  ctx: VsphereContext,
  target: { datastore: string; datacenter: ManagedObjectReference; path: string },
  options: CallOptions = {},
): Promise<ManagedObjectReference> {
  const name = datastorePath(target.datastore, target.path);
  const fileManager = (await ctx.client.serviceContent(options)).fileManager;
  if (!fileManager) {
    throw new ProviderApiError(
      'vSphere ServiceContent has no fileManager',
      ctx.client.faultContext,
    );
  }
  return requireMoRef(
    await ctx.client.callOne(
      'DeleteDatastoreFile_Task',
      fileManager,
      [
        ['name', name, 'string'],
        ['datacenter', target.datacenter, 'ManagedObjectReference'],
      ],
      options,
    ),
    'DeleteDatastoreFile_Task task',
    ctx,
  );
}
