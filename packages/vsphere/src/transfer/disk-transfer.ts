/**
 * Disk data for the migration pipeline: export a VM disk's bytes (resumable by offset) and import
 * a disk image into a datastore, both through the datastore `/folder` HTTP access, streaming with
 * constant memory.
 *
 * Format decisions (the pipeline converts between formats, so it must be told the truth):
 * - A flat VMDK (`VirtualDiskFlatVer2BackingInfo`) is a small text descriptor `x.vmdk` plus the
 *   data extent `x-flat.vmdk`, which holds the disk's raw bytes (every sector, unallocated ones as
 *   zeros). The export sends the extent, so its format is `raw`, not `vmdk`.
 * - A `raw` import is stored the same way, as `hvkit-images/<name>-flat.vmdk` plus a
 *   monolithicFlat descriptor `hvkit-images/<name>.vmdk` written here: the image is then a disk
 *   vSphere can attach or copy (CopyVirtualDisk_Task). Its id is the descriptor's datastore path.
 * - `vmdk`, `qcow2` and `vhdx` imports are stored byte for byte (`<name>.src.vmdk`, `.qcow2`,
 *   `.vhdx`); ESXi cannot attach them as they are (a foreign VMDK is usually streamOptimized),
 *   so deploying from them needs a conversion first.
 * - Beside each image, `<id file>.sha256` holds its SHA-256 in `sha256sum` format, so a listing
 *   can report it without reading the image again.
 */
import {
  ConflictError,
  type DiskExport,
  type DiskImportSpec,
  DiskImportSpecSchema,
  type Image,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  TransportError,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import { fetch } from 'undici';
import { readOne } from '../client/property-reader.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import {
  datacenterOf,
  deleteDatastoreFile,
  findDatastore,
  requireMoRef,
  waitForTask,
} from './datastore-files.js';
import {
  datastoreFileUrl,
  datastorePath,
  downloadDatastoreFile,
  httpStatusError,
  parseDatastorePath,
  requestFailure,
  sessionHeaders,
  statDatastoreFile,
  uploadDatastoreFile,
} from './datastore-http.js';

/** Folder of every image `importDisk` writes, at the root of the datastore. */
export const IMAGE_FOLDER = 'hvkit-images';

const SECTOR_BYTES = 512;

type Fields = Record<string, unknown>;

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function vmRef(vm: ManagedObjectReference | string): ManagedObjectReference {
  return typeof vm === 'string' ? { type: 'VirtualMachine', value: vm } : vm;
}

/** Options of {@link exportVmDisk}. */
export interface ExportDiskOptions {
  /**
   * For a disk with one snapshot (a delta over a flat base), export the base: the disk as the
   * snapshot froze it, consistent while the VM keeps running. The migration pipeline's
   * "snapshot" quiesce policy uses this. Default false: a delta disk is refused.
   */
  snapshotBase?: boolean | undefined;
}

/**
 * Streams the data of one VM disk from `offsetBytes` (for a resumed transfer: the bytes already
 * received) to its end. The stream gives exactly `sizeBytes - offsetBytes` bytes, or ends with a
 * retryable TransportError saying where to resume.
 *
 * `sizeBytes` is the disk's capacity (`capacityInBytes`). The bytes are the flat extent's, then
 * zeros up to the capacity when the extent is shorter: a raw image shorter than its disk reads as
 * zeros past its end. vCenter's flat extents always have the full size (thin ones too: VMFS keeps
 * the holes), so the padding only fills in for vcsim, whose disks are 0-byte placeholders, and for
 * a short image attached by hand. An extent longer than the capacity is an error, not a guess.
 *
 * Only flat VMDKs are exported: a disk with snapshots or a linked clone's delta holds only the
 * changes since its parent, so it is refused unless `snapshotBase` asks for the (flat) parent.
 * A running VM holds a lock on its current disk file on ESXi; power it off, or snapshot it and
 * export with `snapshotBase`.
 *
 * @param diskKey The disk's device key, as text (core `Disk.id`).
 * @returns format `raw` (see the module comment).
 * @throws InvalidSpecError for a bad offset or one beyond the end; NotFoundError (`vm`) for an
 *   unknown VM, (`disk`) for an unknown key or a missing data file; ProviderApiError when the
 *   extent is longer than the disk's capacity; ConflictError
 *   (`invalid-state`) for a delta disk (without `snapshotBase`, or more than one level deep); UnsupportedCapabilityError
 *   (`migration.diskExport`) for other backings (RDM, sparse, seSparse…); TransportError.
 */
export async function exportVmDisk(
  ctx: VsphereContext,
  vm: ManagedObjectReference | string,
  diskKey: string,
  offsetBytes: number,
  signal?: AbortSignal,
  options: ExportDiskOptions = {},
): Promise<DiskExport> {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw new InvalidSpecError(
      [{ path: 'offsetBytes', message: 'must be a non-negative integer', code: 'invalid_offset' }],
      { subject: 'disk export' },
    );
  }
  const ref = vmRef(vm);
  const object = await readOne(ctx.client, ref, ['config.hardware.device'], { signal });
  if (object.missing.length > 0 || !('config.hardware.device' in object.properties)) {
    throw new NotFoundError('vm', ref.value, undefined, ctx.client.faultContext);
  }
  const disk = asArray(object.properties['config.hardware.device'])
    .map((device) => device as Fields)
    .find((device) => device.$type === 'VirtualDisk' && String(device.key) === diskKey);
  if (!disk) {
    throw new NotFoundError(
      'disk',
      diskKey,
      `disk ${JSON.stringify(diskKey)} not found on VM ${ref.value}`,
      ctx.client.faultContext,
    );
  }
  const backing = (disk.backing ?? {}) as Fields;
  if (backing.$type !== 'VirtualDiskFlatVer2BackingInfo') {
    throw new UnsupportedCapabilityError(
      'migration.diskExport',
      `disk ${diskKey} has a ${String(backing.$type)}; only flat VMDKs (VirtualDiskFlatVer2BackingInfo) can be exported`,
      ctx.client.faultContext,
    );
  }
  let source = backing;
  if (backing.parent !== undefined) {
    const parent = (backing.parent ?? {}) as Fields;
    // One snapshot (or a linked clone of a flat base): the parent is frozen and whole, so it can
    // be read while the VM runs on the delta. A longer chain has no single file to read.
    // `parent` is declared VirtualDiskFlatVer2BackingInfo, so the server sends no xsi:type for it.
    const parentType = parent.$type ?? 'VirtualDiskFlatVer2BackingInfo';
    if (
      !options.snapshotBase ||
      parent.parent !== undefined ||
      parentType !== 'VirtualDiskFlatVer2BackingInfo'
    ) {
      throw new ConflictError(
        'invalid-state',
        !options.snapshotBase
          ? `disk ${diskKey} is a delta disk (snapshot or linked clone); consolidate its snapshots, or pass snapshotBase to export the state the snapshot froze`
          : parent.parent !== undefined
            ? `disk ${diskKey} has more than one delta level; consolidate its snapshots first`
            : `disk ${diskKey} has a ${String(parentType)} base; only a flat base can be exported`,
        ctx.client.faultContext,
      );
    }
    source = { ...parent, datastore: parent.datastore ?? backing.datastore };
  }
  const fileName = String(source.fileName ?? '');
  const descriptor = parseDatastorePath(fileName, 'backing.fileName');
  if (!descriptor.path.endsWith('.vmdk')) {
    throw new UnsupportedCapabilityError(
      'migration.diskExport',
      `disk ${diskKey} file ${fileName} is not a .vmdk`,
      ctx.client.faultContext,
    );
  }
  const datastoreRef = requireMoRef(source.datastore, 'disk backing datastore', ctx);
  const datacenter = await datacenterOf(ctx, datastoreRef, { signal });
  const location = {
    datacenter: datacenter.path,
    datastore: descriptor.datastore,
    path: flatExtentOf(descriptor.path),
  };
  const capacityBytes = capacityBytesOf(disk);
  if (capacityBytes !== undefined && offsetBytes > capacityBytes) {
    throw new InvalidSpecError(
      [
        {
          path: 'offsetBytes',
          message: `is beyond the end of the disk (${capacityBytes} bytes)`,
          code: 'invalid_offset',
        },
      ],
      { subject: 'disk export' },
    );
  }
  if (capacityBytes === undefined) {
    const download = await downloadDatastoreFile(ctx, {
      ...location,
      offsetBytes,
      signal,
      notFound: 'disk',
    });
    return {
      diskId: diskKey,
      format: 'raw',
      sizeBytes: download.sizeBytes,
      offsetBytes,
      stream: download.stream,
    };
  }
  // The extent's length first: it decides how many zeros follow, and whether anything is left to
  // read from the file at this offset.
  const extent = await statDatastoreFile(ctx, location, signal);
  if (!extent) {
    throw new NotFoundError(
      'disk',
      diskKey,
      `disk ${diskKey}: ${fileName} has no data extent`,
      ctx.client.faultContext,
    );
  }
  if (extent.sizeBytes > capacityBytes) {
    throw new ProviderApiError(
      `disk ${diskKey}: its flat extent holds ${extent.sizeBytes} bytes, more than the disk's capacity of ${capacityBytes}`,
      ctx.client.faultContext,
    );
  }
  const padding = zeros(capacityBytes - Math.max(offsetBytes, extent.sizeBytes));
  if (offsetBytes >= extent.sizeBytes) {
    return {
      diskId: diskKey,
      format: 'raw',
      sizeBytes: capacityBytes,
      offsetBytes,
      stream: padding,
    };
  }
  const download = await downloadDatastoreFile(ctx, {
    ...location,
    offsetBytes,
    signal,
    notFound: 'disk',
  });
  if (download.sizeBytes !== extent.sizeBytes) {
    // Changed between the HEAD and the GET (a running VM writing, a concurrent upload).
    await drain(download.stream);
    throw new TransportError(
      `disk ${diskKey}: the extent changed size during the export (${extent.sizeBytes} → ${download.sizeBytes} bytes); retry`,
      ctx.client.faultContext,
    );
  }
  return {
    diskId: diskKey,
    format: 'raw',
    sizeBytes: capacityBytes,
    offsetBytes,
    stream: concat(download.stream, padding),
  };
}

/** Releases a download the caller will not read: starting it lets its cleanup cancel the body. */
async function drain(stream: AsyncIterable<Uint8Array>): Promise<void> {
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next().catch(() => undefined);
  await iterator.return?.().catch(() => undefined);
}

/**
 * The disk's capacity in bytes (`capacityInBytes`, else `capacityInKB`), or undefined when the
 * server gives neither.
 */
function capacityBytesOf(disk: Fields): number | undefined {
  const bytes = Number(disk.capacityInBytes);
  if (Number.isSafeInteger(bytes) && bytes > 0) return bytes;
  const kib = Number(disk.capacityInKB);
  if (Number.isSafeInteger(kib) && kib > 0) return kib * 1024;
  return undefined;
}

/** `count` zero bytes, in fresh chunks of at most 1 MiB (a consumer may keep or change a chunk). */
async function* zeros(count: number): AsyncGenerator<Uint8Array> {
  const chunkBytes = 1024 * 1024;
  for (let left = count; left > 0; left -= chunkBytes) {
    yield new Uint8Array(Math.min(chunkBytes, left));
  }
}

async function* concat(
  first: AsyncIterable<Uint8Array>,
  second: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield* first;
  yield* second;
}

/** `vm/disk.vmdk` → `vm/disk-flat.vmdk`: where a flat VMDK keeps its data. */
export function flatExtentOf(descriptorPath: string): string {
  return descriptorPath.replace(/\.vmdk$/, '-flat.vmdk');
}

/**
 * The monolithicFlat descriptor of a raw extent of `sizeBytes` (a multiple of 512): what
 * `vmkfstools` writes beside a `-flat.vmdk`, so vSphere can open the extent as a disk.
 * The geometry is the one ESXi uses for SCSI disks (255 heads, 63 sectors).
 */
export function flatDescriptor(extentFileName: string, sizeBytes: number): string {
  const sectors = sizeBytes / SECTOR_BYTES;
  const cylinders = Math.max(1, Math.floor(sectors / (255 * 63)));
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=fffffffe',
    'parentCID=ffffffff',
    'createType="vmfs"',
    '',
    '# Extent description',
    `RW ${sectors} VMFS "${extentFileName.replace(/"/g, '')}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.adapterType = "lsilogic"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "255"',
    'ddb.geometry.sectors = "63"',
    'ddb.virtualHWVersion = "13"',
    '',
  ].join('\n');
}

/**
 * The `sha256sum`-format file `importDisk` writes beside an image (`<id file>.sha256`), so a
 * listing can report the image's SHA-256 without reading it.
 */
export function imageSidecarPath(idPath: string): string {
  return `${idPath}.sha256`;
}

/** An image found in the image folder by its file names. */
export interface ImageFiles {
  /** Image name (what `importDisk` was given). */
  name: string;
  format: DiskImportSpec['format'];
  /** Path of the file that names the image (its id's path). */
  id: string;
  /** Path of the file holding its bytes. */
  data: string;
}

/**
 * The images among the names of the entries of `hvkit-images/` (as {@link imageLayout} writes
 * them): a descriptor `<n>.vmdk` (raw; its data in `<n>-flat.vmdk`), `<n>.raw`, `<n>.src.vmdk`,
 * `<n>.qcow2`, `<n>.vhdx`. A `-flat.vmdk` whose descriptor is listed is that descriptor's extent,
 * not an image; sidecars and anything else are left out.
 *
 * These are candidates: a descriptor is taken even when its extent is not among the names (a
 * server may hide extents, as ESXi's datastore browser does), so the caller checks that `data`
 * exists before reporting an image (a failed import may leave a descriptor without one).
 */
export function imagesInFolder(names: readonly string[]): ImageFiles[] {
  const present = new Set(names);
  const images: ImageFiles[] = [];
  const extensions: readonly [string, DiskImportSpec['format']][] = [
    ['.src.vmdk', 'vmdk'],
    ['.qcow2', 'qcow2'],
    ['.vhdx', 'vhdx'],
    ['.raw', 'raw'],
  ];
  for (const file of names) {
    if (file.endsWith('/')) continue;
    const typed = extensions.find(([extension]) => file.endsWith(extension));
    if (typed) {
      const name = file.slice(0, -typed[0].length);
      if (name !== '') {
        const path = `${IMAGE_FOLDER}/${file}`;
        images.push({ name, format: typed[1], id: path, data: path });
      }
      continue;
    }
    if (!file.endsWith('.vmdk')) continue;
    if (file.endsWith('-flat.vmdk') && present.has(file.replace(/-flat\.vmdk$/, '.vmdk'))) continue;
    const extent = flatExtentOf(file);
    const name = file.slice(0, -'.vmdk'.length);
    if (name === '') continue;
    images.push({
      name,
      format: 'raw',
      id: `${IMAGE_FOLDER}/${file}`,
      data: `${IMAGE_FOLDER}/${extent}`,
    });
  }
  return images;
}

/** Where `importDisk` stores an image of `name` and `format`. */
export function imageLayout(
  name: string,
  format: DiskImportSpec['format'],
  sizeBytes: number,
): { id: string; data: string; descriptor?: string } {
  if (format === 'raw' && sizeBytes % SECTOR_BYTES === 0) {
    const descriptor = `${IMAGE_FOLDER}/${name}.vmdk`;
    return { id: descriptor, data: flatExtentOf(descriptor), descriptor };
  }
  const extension = { raw: 'raw', vmdk: 'src.vmdk', qcow2: 'qcow2', vhdx: 'vhdx' }[format];
  const data = `${IMAGE_FOLDER}/${name}.${extension}`;
  return { id: data, data };
}

async function fileExists(
  ctx: VsphereContext,
  location: { datacenter: string; datastore: string; path: string },
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const url = datastoreFileUrl(ctx.client.url, location);
  const where = `vSphere HEAD datastore file ${datastorePath(location.datastore, location.path)}`;
  let status: number;
  try {
    const response = await fetch(url, {
      method: 'HEAD',
      headers: await sessionHeaders(ctx, signal),
      signal,
      dispatcher: ctx.client.dispatcher,
    });
    await response.body?.cancel().catch(() => undefined);
    status = response.status;
  } catch (error) {
    throw requestFailure(ctx, error, where, true, signal);
  }
  if (status === 404) return false;
  if (status >= 200 && status < 300) return true;
  throw httpStatusError(ctx, status, where, { resource: 'storage', id: location.datastore });
}

/**
 * Writes a disk image into a datastore (`spec.storage`: datastore name or moref value; default the
 * accessible one with the most free space) under `hvkit-images/`, streaming `source` with
 * constant memory and hashing it on the way. See the module comment for the layout per format.
 *
 * @returns the Image: id = its datastore path (`[ds] hvkit-images/<name>.vmdk` for raw),
 *   `source: { kind: 'disk' }`, `sha256` of the bytes received.
 * @throws InvalidSpecError for a bad spec (before any I/O), a byte count other than
 *   `spec.sizeBytes`, or bytes that do not hash to `spec.sha256` (the uploaded file is deleted
 *   first); ConflictError (`already-exists`) when an image of that name and format exists;
 *   NotFoundError (`storage`) for an unknown datastore; TransportError, ProviderApiError.
 */
export async function importDisk(
  ctx: VsphereContext,
  spec: DiskImportSpec,
  source: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<Image> {
  const parsed = DiskImportSpecSchema.safeParse(spec);
  if (!parsed.success)
    throw InvalidSpecError.fromZod(parsed.error, { subject: 'disk import spec' });
  const { name, format, sizeBytes, storage, sha256: expected } = parsed.data;
  if (/[/\\]/.test(name) || name === '.' || name === '..') {
    throw new InvalidSpecError(
      [
        {
          path: 'name',
          message: 'must not contain `/` or `\\` (it names a file)',
          code: 'invalid_name',
        },
      ],
      { subject: 'disk import spec' },
    );
  }
  const layout = imageLayout(name, format, sizeBytes);
  const datastore = await findDatastore(ctx, storage, { signal });
  const location = { datacenter: datastore.datacenter.path, datastore: datastore.name };
  const id = datastorePath(datastore.name, layout.id);
  if (await fileExists(ctx, { ...location, path: layout.id }, signal)) {
    throw new ConflictError(
      'already-exists',
      `image ${id} already exists`,
      ctx.client.faultContext,
    );
  }
  const removeUploaded = async () => {
    const task = await deleteDatastoreFile(ctx, {
      datastore: datastore.name,
      datacenter: datastore.datacenter.ref,
      path: layout.data,
    });
    await waitForTask(ctx, task);
  };
  let uploaded: { sizeBytes: number; sha256: string };
  try {
    uploaded = await uploadDatastoreFile(ctx, {
      ...location,
      path: layout.data,
      source,
      sizeBytes,
      signal,
    });
  } catch (error) {
    // The server created the file before the body failed: do not leave a partial image behind.
    await removeUploaded().catch((cleanup: unknown) =>
      ctx.logger.warn('vsphere: could not delete a partial image upload', {
        id,
        error: String(cleanup),
      }),
    );
    throw error;
  }
  if (expected !== undefined && uploaded.sha256 !== expected) {
    await removeUploaded();
    throw new InvalidSpecError(
      [
        {
          path: 'sha256',
          message: `the received bytes hash to ${uploaded.sha256}, not ${expected}; the upload was deleted`,
          code: 'checksum_mismatch',
        },
      ],
      { subject: 'disk import', ...ctx.client.faultContext },
    );
  }
  if (layout.descriptor !== undefined) {
    const text = new TextEncoder().encode(
      flatDescriptor(layout.data.split('/').pop() ?? '', sizeBytes),
    );
    try {
      await uploadDatastoreFile(ctx, {
        ...location,
        path: layout.descriptor,
        source: once(text),
        sizeBytes: text.byteLength,
        signal,
      });
    } catch (error) {
      // Without its descriptor the extent is no image: remove it (and a partial descriptor).
      await removeUploaded().catch(() => undefined);
      const task = await deleteDatastoreFile(ctx, {
        datastore: datastore.name,
        datacenter: datastore.datacenter.ref,
        path: layout.descriptor,
      }).catch(() => undefined);
      if (task) await waitForTask(ctx, task).catch(() => undefined);
      throw error;
    }
  }
  // The SHA-256 cannot be recomputed later without reading the whole image again: keep it beside
  // the image (sha256sum format). Best effort: the image is whole without it, listings just lack
  // the hash.
  const sidecar = new TextEncoder().encode(
    `${uploaded.sha256}  ${layout.data.split('/').pop() ?? ''}\n`,
  );
  await uploadDatastoreFile(ctx, {
    ...location,
    path: imageSidecarPath(layout.id),
    source: once(sidecar),
    sizeBytes: sidecar.byteLength,
    signal,
  }).catch((error: unknown) =>
    ctx.logger.warn('vsphere: could not store the SHA-256 of an image', {
      id,
      error: String(error),
    }),
  );
  return {
    id,
    name,
    format,
    sizeBytes: uploaded.sizeBytes,
    storage: datastore.name,
    source: { kind: 'disk' },
    cached: false,
    sha256: uploaded.sha256,
    createdAt: new Date(ctx.clock.now()).toISOString(),
  };
}

/** A one-chunk stream. */
async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Starts deleting an image `importDisk` wrote (id = its datastore path) and returns the Task:
 * `DeleteVirtualDisk_Task` for a descriptor + flat extent pair, `DeleteDatastoreFile_Task` for a
 * file stored as is.
 *
 * @throws InvalidSpecError when `id` is not a datastore path under `hvkit-images/`; NotFoundError
 *   (`storage`) for an unknown datastore.
 */
export async function deleteDiskImage(
  ctx: VsphereContext,
  id: string,
  signal?: AbortSignal,
): Promise<ManagedObjectReference> {
  const parsed = parseDatastorePath(id, 'id');
  if (!parsed.path.startsWith(`${IMAGE_FOLDER}/`)) {
    throw new InvalidSpecError(
      [
        {
          path: 'id',
          message: `is not an image importDisk wrote (under ${IMAGE_FOLDER}/)`,
          code: 'invalid_image_id',
        },
      ],
      { subject: 'image id' },
    );
  }
  const datastore = await findDatastore(ctx, parsed.datastore, { signal });
  const pairOfFiles = parsed.path.endsWith('.vmdk') && !parsed.path.endsWith('.src.vmdk');
  if (!pairOfFiles) {
    return deleteDatastoreFile(
      ctx,
      { datastore: datastore.name, datacenter: datastore.datacenter.ref, path: parsed.path },
      { signal },
    );
  }
  const manager = (await ctx.client.serviceContent({ signal })).virtualDiskManager;
  if (!manager) {
    throw new UnsupportedCapabilityError(
      'migration.diskImport',
      'this endpoint has no VirtualDiskManager',
      ctx.client.faultContext,
    );
  }
  return requireMoRef(
    await ctx.client.callOne(
      'DeleteVirtualDisk_Task',
      manager,
      [
        ['name', id, 'string'],
        ['datacenter', datastore.datacenter.ref, 'ManagedObjectReference'],
      ],
      { signal },
    ),
    'DeleteVirtualDisk_Task task',
    ctx,
  );
}

/**
 * Removes the SHA-256 sidecar of an image `importDisk` wrote (see {@link imageSidecarPath}), after
 * the image itself is gone. A missing sidecar is not an error.
 *
 * @throws InvalidSpecError when `id` is not a datastore path; the mapped fault when vSphere refuses.
 */
export async function deleteImageSidecar(
  ctx: VsphereContext,
  id: string,
  signal?: AbortSignal,
): Promise<void> {
  const parsed = parseDatastorePath(id, 'id');
  const datastore = await findDatastore(ctx, parsed.datastore, { signal });
  try {
    const task = await deleteDatastoreFile(
      ctx,
      {
        datastore: datastore.name,
        datacenter: datastore.datacenter.ref,
        path: imageSidecarPath(parsed.path),
      },
      { signal },
    );
    await waitForTask(ctx, task, { signal });
  } catch (error) {
    if (!isFileNotFound(error)) throw error;
  }
}

/**
 * True for vSphere's "no such file" answers: the `FileNotFound` fault (a ProviderApiError, since
 * core has no file kind) or a NotFoundError.
 */
export function isFileNotFound(error: unknown): boolean {
  return (
    NotFoundError.isInstance(error) ||
    (ProviderApiError.isInstance(error) && error.fault === 'FileNotFound')
  );
}
