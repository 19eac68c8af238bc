/**
 * The vSphere image catalog: the one place the driver goes for every image and disk-data
 * operation. An image on vSphere is one of three things, told apart by the shape of its id:
 *
 * - a **disk image** `importDisk` wrote: `[ds] hvkit-images/<name>.vmdk` (raw, a flat VMDK pair)
 *   or `…/<name>.src.vmdk|.qcow2|.vhdx|.raw` (stored as is), on any accessible datastore, with a
 *   `<id file>.sha256` sidecar holding its SHA-256;
 * - an **OVA/OVF import**: a template VM (id = its moref value, `vm-42`) carrying the extraConfig
 *   marker {@link IMAGE_MARKER_KEY}, so a listing tells it from templates made by hand;
 * - a **content library item** (id = item UUID): the items of the hvkit library in listings, or
 *   any library's item named by an `importImage({ kind: 'content-library' })`.
 *
 * Content libraries are reached over vAPI REST with a session of their own, opened on first use
 * with the credentials given here (never logged) and closed by {@link ImageCatalog.close}. A
 * vCenter without the vAPI endpoint simply has no library images.
 */
import {
  ConflictError,
  type DiskExport,
  type DiskImportSpec,
  type Image,
  type ImageImportSource,
  type ImportImageOptions,
  InvalidSpecError,
  NotFoundError,
  type ParsedImageImport,
  ProviderApiError,
  parseImageImport,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import { z } from 'zod';
import { readAll, readOne } from '../client/property-reader.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import {
  type DatastoreInfo,
  datacenterOf,
  findDatastore,
  requireMoRef,
  waitForTask,
} from '../transfer/datastore-files.js';
import {
  datastorePath,
  downloadDatastoreFile,
  listDatastoreFolder,
  parseDatastorePath,
  statDatastoreFile,
} from '../transfer/datastore-http.js';
import {
  deleteDiskImage,
  deleteImageSidecar,
  exportVmDisk,
  flatExtentOf,
  IMAGE_FOLDER,
  type ImageFiles,
  imageSidecarPath,
  imagesInFolder,
  importDisk,
  isFileNotFound,
} from '../transfer/disk-transfer.js';
import type { VsphereContext } from '../vsphere-context.js';
import {
  deleteLibraryItem,
  deployLibraryItem,
  imageOfItem,
  itemPath,
  type LibraryDeployTarget,
  type LibraryItemInfo,
  listLibraryImages,
  VapiSession,
} from './content-library.js';
import { deleteTemplateImage, importOvf } from './ovf-import.js';

/** Default name of the content library whose items `listImages` reports. */
export const DEFAULT_IMAGE_LIBRARY = 'hvkit-images';

/**
 * extraConfig key an OVA/OVF-imported template carries; its value is JSON
 * (`{ name, source, storage?, createdAt }`, see {@link TemplateMarkerSchema}).
 */
export const IMAGE_MARKER_KEY = 'hvkit.image';

/** The marker's JSON, validated when read back (a VM's extraConfig is anybody's to edit). */
export const TemplateMarkerSchema = z.object({
  name: z.string().min(1),
  source: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('ova'), url: z.string() }),
    z.object({ kind: z.literal('ovf'), url: z.string() }),
  ]),
  storage: z.string().optional(),
  createdAt: z.string(),
});

/** Options of an {@link ImageCatalog}. */
export interface ImageCatalogOptions {
  /** Content library whose items are listed as images. Default {@link DEFAULT_IMAGE_LIBRARY}. */
  library?: string | undefined;
  /**
   * Datastore (name or moref value) for imports that name none (`importDisk`'s `spec.storage`,
   * `importImage`'s `options.storage`). Default: the accessible datastore with the most free space.
   */
  datastore?: string | undefined;
  /** vAPI REST base; default `/rest` on the vim client's host. */
  restUrl?: string | undefined;
}

/** Where {@link ImageCatalog.diskFileFor} puts a copy. */
export interface DiskCopyTarget {
  /** Datastore name or moref value of the new VM's disk. */
  datastore: string;
  /** The new VM's name: the copy goes to its folder, `[ds] <vmName>/`. */
  vmName: string;
  /** Index of the disk in the VM spec, so two disks from one image get two files. Default 0. */
  diskIndex?: number | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How many datastore file requests a listing keeps in flight. */
const LIST_CONCURRENCY = 4;

type Fields = Record<string, unknown>;

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Runs `work` over `items`, `limit` at a time, keeping the order of the results. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The source URL as a marker keeps it: without user info, query or fragment, which may hold
 * credentials (a presigned URL's token) and must not be written into the VM's configuration.
 */
export function markerSourceUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

function notFoundImage(ctx: VsphereContext, id: string, cause?: unknown): NotFoundError {
  return new NotFoundError('image', id, undefined, {
    ...ctx.client.faultContext,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * True when vAPI says "not here": a 404 or `not_found` answer (NotFoundError), or a login refused
 * with 404 — an endpoint without the vAPI REST service (an ESXi host, a proxy without `/rest`).
 */
function isVapiAbsent(error: unknown): boolean {
  return (
    NotFoundError.isInstance(error) || (ProviderApiError.isInstance(error) && error.status === 404)
  );
}

function capacityOf(device: Fields): number {
  const bytes = Number(device.capacityInBytes);
  if (Number.isSafeInteger(bytes) && bytes > 0) return bytes;
  const kib = Number(device.capacityInKB);
  return Number.isSafeInteger(kib) && kib > 0 ? kib * 1024 : 0;
}

/** The last value of `key` in an extraConfig list (vcsim appends instead of replacing). */
function extraConfigValue(extraConfig: unknown, key: string): unknown {
  let value: unknown;
  for (const option of asArray(extraConfig)) {
    const fields = option as Fields;
    if (fields.key === key) value = fields.value;
  }
  return value;
}

/** What kind of image an id names, by its shape (see the module comment); nothing is looked up. */
export type ImageKind = 'disk' | 'template' | 'library-item';

/**
 * The kind of image `id` would name: `disk` for a datastore path (`[ds] …`), `library-item` for a
 * UUID, `template` for anything else (a VM moref value). The driver dispatches on it: a disk image
 * is copied for a disk ({@link ImageCatalog.diskFileFor}), a template is cloned, a library item is
 * deployed ({@link ImageCatalog.deployLibraryImage}).
 */
export function imageKindOf(id: string): ImageKind {
  if (id.startsWith('[')) return 'disk';
  if (UUID.test(id)) return 'library-item';
  return 'template';
}

/** `[ds] hvkit-images/<file>` split and checked to name an image file, or undefined. */
function diskImageOf(id: string): { datastore: string; files: ImageFiles } | undefined {
  let parsed: { datastore: string; path: string };
  try {
    parsed = parseDatastorePath(id, 'id');
  } catch {
    return undefined;
  }
  const prefix = `${IMAGE_FOLDER}/`;
  if (!parsed.path.startsWith(prefix)) return undefined;
  const file = parsed.path.slice(prefix.length);
  if (file.includes('/')) return undefined;
  // Classified as a listing would, with its extent assumed present: an id must name the file a
  // listing reports (a descriptor, not its extent; not a sidecar).
  const names =
    file.endsWith('.vmdk') && !file.endsWith('.src.vmdk') ? [file, flatExtentOf(file)] : [file];
  const files = imagesInFolder(names).find((image) => image.id === parsed.path);
  return files ? { datastore: parsed.datastore, files } : undefined;
}

/**
 * Lists, imports, deletes and copies images, and moves disk data, for one vSphere endpoint.
 * Holds a vAPI session, opened lazily; call {@link ImageCatalog.close} when done.
 */
export class ImageCatalog {
  readonly #ctx: VsphereContext;
  readonly #credentials: { username: string; password: string };
  readonly #library: string;
  readonly #datastore: string | undefined;
  readonly #restUrl: string | undefined;
  #vapi: VapiSession | undefined;

  /**
   * Nothing is contacted here.
   *
   * @param credentials The vCenter user, for the vAPI session (vAPI does not accept the vim25
   *   session). Never logged nor put in errors.
   */
  constructor(
    ctx: VsphereContext,
    credentials: { username: string; password: string },
    options: ImageCatalogOptions = {},
  ) {
    this.#ctx = ctx;
    this.#credentials = { ...credentials };
    this.#library = options.library ?? DEFAULT_IMAGE_LIBRARY;
    this.#datastore = options.datastore;
    this.#restUrl = options.restUrl;
  }

  /** The vAPI session, created on first use (its constructor checks the credentials). */
  #session(): VapiSession {
    this.#vapi ??= new VapiSession(this.#ctx, this.#credentials, this.#restUrl);
    return this.#vapi;
  }

  // ---- listing ------------------------------------------------------------------------------

  /**
   * Every image: disk images under `hvkit-images/` of each accessible datastore (size of the data
   * file, modification time as `createdAt`, SHA-256 from the sidecar when there is one), OVA/OVF
   * imports (marked templates; size = their disks' capacity), and the items of the hvkit content
   * library (none when the endpoint has no vAPI or no such library).
   *
   * @throws TransportError, AuthenticationError, ProviderApiError.
   */
  async listImages(signal?: AbortSignal): Promise<Image[]> {
    const disks = await this.#listDiskImages(signal);
    const templates = await this.#listTemplateImages(signal);
    const items = await this.#listLibraryItems(signal);
    return [...disks, ...templates, ...items];
  }

  async #listDiskImages(signal: AbortSignal | undefined): Promise<Image[]> {
    const ctx = this.#ctx;
    const images: Image[] = [];
    const datacenters = new Map<string, Awaited<ReturnType<typeof datacenterOf>>>();
    for await (const object of readAll(ctx.client, 'Datastore', ['name', 'summary.accessible'], {
      signal,
    })) {
      if (object.properties['summary.accessible'] === false) continue;
      if (object.properties['summary.accessible'] === 'false') continue;
      const datastore = String(object.properties.name ?? '');
      if (datastore === '') continue;
      // Datastores shared by datacenters are rare; one lookup per datastore is cheap enough.
      let datacenter = datacenters.get(object.obj.value);
      if (!datacenter) {
        datacenter = await datacenterOf(ctx, object.obj, { signal });
        datacenters.set(object.obj.value, datacenter);
      }
      const location = { datacenter: datacenter.path, datastore };
      const names = await listDatastoreFolder(ctx, { ...location, path: IMAGE_FOLDER }, signal);
      if (!names) continue;
      const found = await mapLimited(imagesInFolder(names), LIST_CONCURRENCY, async (files) => {
        const stat = await statDatastoreFile(ctx, { ...location, path: files.data }, signal);
        // Deleted between the folder listing and now.
        if (!stat) return undefined;
        const sha256 = await this.#readSidecar({ ...location, path: files.id }, signal);
        const image: Image = {
          id: datastorePath(datastore, files.id),
          name: files.name,
          format: files.format,
          sizeBytes: stat.sizeBytes,
          storage: datastore,
          source: { kind: 'disk' },
          cached: false,
          createdAt: stat.modifiedAt ?? new Date(ctx.clock.now()).toISOString(),
        };
        if (sha256 !== undefined) image.sha256 = sha256;
        return image;
      });
      for (const image of found) if (image) images.push(image);
    }
    return images;
  }

  async #readSidecar(
    location: { datacenter: string; datastore: string; path: string },
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    let download: Awaited<ReturnType<typeof downloadDatastoreFile>>;
    try {
      download = await downloadDatastoreFile(this.#ctx, {
        ...location,
        path: imageSidecarPath(location.path),
        signal,
      });
    } catch (error) {
      if (NotFoundError.isInstance(error)) return undefined;
      throw error;
    }
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of download.stream) {
      text += decoder.decode(chunk, { stream: true });
      // A sidecar is one line; anything much longer is not ours.
      if (text.length > 4096) break;
    }
    return /^([0-9a-f]{64})\s/.exec(text)?.[1];
  }

  async #listTemplateImages(signal: AbortSignal | undefined): Promise<Image[]> {
    const ctx = this.#ctx;
    // Two passes: every VM's `config.template` is cheap; extraConfig and devices only for the
    // (few) templates.
    const templates: ManagedObjectReference[] = [];
    for await (const object of readAll(ctx.client, 'VirtualMachine', ['config.template'], {
      signal,
    })) {
      if (isTrue(object.properties['config.template'])) templates.push(object.obj);
    }
    const images = await mapLimited(templates, LIST_CONCURRENCY, (vm) =>
      this.#templateImage(vm, signal).catch((error: unknown) => {
        // Deleted since the first pass.
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      }),
    );
    return images.filter((image): image is Image => image !== undefined);
  }

  /** The Image of a marked template, or undefined for any other VM. */
  async #templateImage(
    vm: ManagedObjectReference,
    signal: AbortSignal | undefined,
  ): Promise<Image | undefined> {
    const object = await readOne(
      this.#ctx.client,
      vm,
      ['config.template', 'config.extraConfig', 'config.hardware.device'],
      { signal },
    );
    if (object.missing.length > 0 || !isTrue(object.properties['config.template'])) {
      return undefined;
    }
    const raw = extraConfigValue(object.properties['config.extraConfig'], IMAGE_MARKER_KEY);
    if (typeof raw !== 'string') return undefined;
    let marker: z.infer<typeof TemplateMarkerSchema>;
    try {
      const parsed = TemplateMarkerSchema.safeParse(JSON.parse(raw));
      if (!parsed.success) return undefined;
      marker = parsed.data;
    } catch {
      return undefined;
    }
    const sizeBytes = asArray(object.properties['config.hardware.device'])
      .map((device) => device as Fields)
      .filter((device) => device.$type === 'VirtualDisk')
      .reduce((sum, device) => sum + capacityOf(device), 0);
    return {
      id: vm.value,
      name: marker.name,
      format: 'vmdk',
      sizeBytes,
      ...(marker.storage === undefined ? {} : { storage: marker.storage }),
      source: marker.source,
      cached: false,
      createdAt: marker.createdAt,
    };
  }

  async #listLibraryItems(signal: AbortSignal | undefined): Promise<Image[]> {
    let library: string | undefined;
    try {
      library = await this.#findLibrary(this.#library, signal);
    } catch (error) {
      // No vAPI endpoint (an ESXi host, a vCenter without it): no library images.
      if (isVapiAbsent(error)) return [];
      throw error;
    }
    if (library === undefined) return [];
    const vapi = this.#session();
    const items = await listLibraryImages(vapi, { library, signal });
    const sized = await mapLimited(items, LIST_CONCURRENCY, async (image) => {
      if (image.sizeBytes > 0) return image;
      try {
        return { ...image, sizeBytes: await this.#itemFilesBytes(image.id, signal) };
      } catch (error) {
        // Deleted since the item listing: not an error of this listing.
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      }
    });
    return sized.filter((image): image is Image => image !== undefined);
  }

  /** A library's id by id or name (a name is looked up among all libraries), or undefined. */
  async #findLibrary(
    library: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const vapi = this.#session();
    if (UUID.test(library)) {
      try {
        const info = await vapi.request<{ id?: string }>(
          'GET',
          `/com/vmware/content/library/id:${encodeURIComponent(library)}`,
          { signal, notFound: { resource: 'other', id: library } },
        );
        return info?.id ?? library;
      } catch (error) {
        // A library may be named like a UUID: try the name too.
        if (!NotFoundError.isInstance(error)) throw error;
      }
    }
    const found = await vapi.request<string[]>('POST', '/com/vmware/content/library', {
      query: { '~action': 'find' },
      body: { spec: { name: library } },
      signal,
    });
    return found?.[0];
  }

  /** Sum of the sizes of an item's files (vcsim reports no item size). */
  async #itemFilesBytes(itemId: string, signal: AbortSignal | undefined): Promise<number> {
    const files = await this.#session().request<{ size?: unknown }[]>(
      'GET',
      '/com/vmware/content/library/item/file',
      { query: { library_item_id: itemId }, signal, notFound: { resource: 'image', id: itemId } },
    );
    return asArray(files).reduce<number>((sum, file) => {
      const size = Number((file as { size?: unknown }).size);
      return Number.isSafeInteger(size) && size > 0 ? sum + size : sum;
    }, 0);
  }

  /**
   * The item a `{ library, item }` pair names: `library` is a library id or name, `item` an item
   * id (of that library) or name.
   *
   * @throws NotFoundError (`image`) when the library or the item does not exist, or the endpoint
   *   has no vAPI.
   */
  async #resolveItem(
    source: { library: string; item: string },
    signal: AbortSignal | undefined,
  ): Promise<LibraryItemInfo> {
    const id = `${source.library}/${source.item}`;
    const vapi = this.#session();
    let library: string | undefined;
    try {
      library = await this.#findLibrary(source.library, signal);
    } catch (error) {
      if (isVapiAbsent(error)) throw notFoundImage(this.#ctx, id, error);
      throw error;
    }
    if (library === undefined) {
      throw new NotFoundError(
        'image',
        id,
        `content library ${JSON.stringify(source.library)} not found`,
        this.#ctx.client.faultContext,
      );
    }
    const read = async (itemId: string) => {
      const item = await vapi.request<LibraryItemInfo>('GET', itemPath(itemId), {
        signal,
        notFound: { resource: 'image', id },
      });
      return { ...item, id: item.id ?? itemId, library_id: item.library_id ?? library };
    };
    if (UUID.test(source.item)) {
      try {
        const item = await read(source.item);
        if (item.library_id === library) return item;
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
      }
    }
    const found = await vapi.request<string[]>('POST', '/com/vmware/content/library/item', {
      query: { '~action': 'find' },
      body: { spec: { library_id: library, name: source.item } },
      signal,
    });
    const itemId = found?.[0];
    if (itemId === undefined) {
      throw new NotFoundError(
        'image',
        id,
        `item ${JSON.stringify(source.item)} not found in content library ${JSON.stringify(source.library)}`,
        this.#ctx.client.faultContext,
      );
    }
    return read(itemId);
  }

  // ---- import and delete --------------------------------------------------------------------

  /**
   * Imports an image:
   * - `ova`/`ovf`: through vSphere's OVF engine into a template VM carrying the image marker
   *   (id = its moref value). CreateImportSpec's warnings are logged.
   * - `content-library`: the existing item becomes the image as it is (id = item id, name = the
   *   item's, `source` exactly as given; `options.name` is not used), nothing is copied. Deleting
   *   that image deletes the item from its library.
   * - `url`: not supported on vSphere (`images.cloudImageDownload`).
   *
   * @throws InvalidSpecError for a bad source or options (before any I/O);
   *   UnsupportedCapabilityError (`images.cloudImageDownload`) for a URL, (`images.conversion`)
   *   for `convertTo` other than vmdk; NotFoundError (`image`) for an unknown library or item;
   *   what `importOvf` throws (ConflictError for a taken name, …).
   */
  async importImage(
    source: ImageImportSource,
    options: ImportImageOptions,
    signal?: AbortSignal,
  ): Promise<Image> {
    const ctx = this.#ctx;
    const parsed = parseImageImport(source, options);
    const input = parsed.source;
    if (input.kind === 'url') {
      throw new UnsupportedCapabilityError(
        'images.cloudImageDownload',
        'vSphere has no cloud image download: import an OVA/OVF, or stream a disk with importDisk',
        ctx.client.faultContext,
      );
    }
    if (input.kind === 'content-library') {
      const item = await this.#resolveItem(input, signal);
      const image = imageOfItem(item, () => ctx.clock.now());
      if (image.sizeBytes === 0) image.sizeBytes = await this.#itemFilesBytes(item.id, signal);
      // As the caller named it (names or ids), so they find their source in the image.
      image.source = source;
      return image;
    }
    return this.#importPackage(
      input,
      { ...parsed.options, storage: parsed.options.storage ?? this.#datastore },
      signal,
    );
  }

  async #importPackage(
    source: Extract<ImageImportSource, { kind: 'ova' | 'ovf' }>,
    options: ParsedImageImport['options'],
    signal: AbortSignal | undefined,
  ): Promise<Image> {
    const ctx = this.#ctx;
    // Imported as a VM first: vSphere does not reconfigure templates, and the marker must be set.
    const result = await importOvf(ctx, source, { ...options, template: false, signal });
    for (const warning of result.warnings) {
      ctx.logger.warn('vsphere: OVF import warning', {
        feature: warning.feature,
        details: warning.details,
      });
    }
    const { image, vm } = result;
    const marker: z.infer<typeof TemplateMarkerSchema> = {
      name: image.name,
      source: { kind: source.kind, url: markerSourceUrl(source.url) },
      ...(image.storage === undefined ? {} : { storage: image.storage }),
      createdAt: image.createdAt,
    };
    try {
      const task = requireMoRef(
        await ctx.client.callOne(
          'ReconfigVM_Task',
          vm,
          [
            [
              'spec',
              {
                $type: 'VirtualMachineConfigSpec',
                extraConfig: [
                  { $type: 'OptionValue', key: IMAGE_MARKER_KEY, value: JSON.stringify(marker) },
                ],
              },
              'VirtualMachineConfigSpec',
            ],
          ],
          { signal },
        ),
        'ReconfigVM_Task task',
        ctx,
      );
      await waitForTask(ctx, task, { signal });
      await ctx.client.call('MarkAsTemplate', vm, [], { signal });
    } catch (error) {
      // A half-made image is no image: remove the VM (best effort), then report the failure.
      try {
        await waitForTask(ctx, await deleteTemplateImage(ctx, vm.value), { timeoutMs: 60_000 });
      } catch (cleanup) {
        ctx.logger.warn('vsphere: could not remove the VM of a failed image import', {
          vm: vm.value,
          error: String(cleanup),
        });
      }
      throw error;
    }
    return image;
  }

  /**
   * Deletes an image by id: a disk image (`[ds] hvkit-images/…`, with its extent and sidecar), an
   * imported template (`vm-…`, only when it carries the image marker: other VMs and templates are
   * not images), or a content library item (UUID).
   *
   * @throws NotFoundError (`image`) when no image has that id (deleting twice included);
   *   TransportError, ProviderApiError.
   */
  async deleteImage(id: string, signal?: AbortSignal): Promise<void> {
    const ctx = this.#ctx;
    const kind = imageKindOf(id);
    if (kind === 'disk') {
      const disk = diskImageOf(id);
      if (!disk) throw notFoundImage(ctx, id);
      try {
        await waitForTask(ctx, await deleteDiskImage(ctx, id, signal), { signal });
      } catch (error) {
        if (isFileNotFound(error)) throw notFoundImage(ctx, id, error);
        throw error;
      }
      await deleteImageSidecar(ctx, id, signal);
      return;
    }
    if (kind === 'library-item') {
      try {
        await deleteLibraryItem(this.#session(), id, signal);
      } catch (error) {
        if (isVapiAbsent(error)) throw notFoundImage(ctx, id, error);
        throw error;
      }
      return;
    }
    let image: Image | undefined;
    try {
      image = await this.#templateImage({ type: 'VirtualMachine', value: id }, signal);
    } catch (error) {
      if (NotFoundError.isInstance(error)) throw notFoundImage(ctx, id, error);
      throw error;
    }
    if (!image) throw notFoundImage(ctx, id);
    await waitForTask(ctx, await deleteTemplateImage(ctx, id, signal), { signal });
  }

  // ---- disk data ----------------------------------------------------------------------------

  /**
   * Streams `source` into a new disk image (see `importDisk` in transfer/disk-transfer.ts for the
   * layout), on `spec.storage` or the catalog's default datastore. A failed import leaves no
   * image behind.
   *
   * @throws what `importDisk` throws: InvalidSpecError (bad spec, wrong length or SHA-256),
   *   ConflictError (`already-exists`), NotFoundError (`storage`), TransportError.
   */
  importDisk(
    spec: DiskImportSpec,
    source: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<Image> {
    return importDisk(
      this.#ctx,
      { ...spec, storage: spec.storage ?? this.#datastore },
      source,
      signal,
    );
  }

  /**
   * Streams a VM disk from `offsetBytes`: `sizeBytes` is the disk's capacity and the stream the
   * flat extent's bytes, then zeros up to the capacity when the extent is shorter (only vcsim's
   * placeholders are; see `exportVmDisk`).
   *
   * @param diskId The disk's device key, as text.
   * @throws what `exportVmDisk` throws: InvalidSpecError (bad offset), NotFoundError (`vm`,
   *   `disk`), ConflictError (a delta disk), UnsupportedCapabilityError (not a flat VMDK),
   *   ProviderApiError (an extent longer than the disk), TransportError.
   */
  exportDisk(
    vmId: string,
    diskId: string,
    offsetBytes: number,
    signal?: AbortSignal,
  ): Promise<DiskExport> {
    return exportVmDisk(this.#ctx, vmId, diskId, offsetBytes, signal);
  }

  /**
   * Copies a raw disk image (`[ds] hvkit-images/<name>.vmdk`) to
   * `[target.datastore] <vmName>/<vmName>-image<diskIndex>.vmdk` (+ its extent) with
   * `CopyVirtualDisk_Task`, making the folder first (vcsim needs it), and returns the copy's
   * datastore path: what the create path passes in `CreateTarget.diskFiles`, so the new VM's disk
   * is attached from it and the image stays untouched. vCenter writes the copy preallocated (no
   * `destSpec` is sent: vcsim refuses one). The copy keeps the image's size; growing it to the
   * disk's `sizeGiB` is the caller's (vcsim has no ExtendVirtualDisk_Task).
   *
   * @throws InvalidSpecError for a bad VM name or index, or an image that is not a raw disk image
   *   (a template or library image deploys as a whole VM; qcow2/vhdx/vmdk-as-uploaded need a
   *   conversion first); NotFoundError (`image`) when the image does not exist, (`storage`) for
   *   an unknown target datastore; ConflictError (`already-exists`) when the copy's file exists.
   */
  async diskFileFor(
    imageId: string,
    target: DiskCopyTarget,
    signal?: AbortSignal,
  ): Promise<string> {
    const ctx = this.#ctx;
    const diskIndex = target.diskIndex ?? 0;
    const issues: { path: string; message: string; code: string }[] = [];
    if (
      target.vmName === '' ||
      /[/\\[\]]/.test(target.vmName) ||
      target.vmName === '.' ||
      target.vmName === '..'
    ) {
      issues.push({
        path: 'vmName',
        message: 'must be a non-empty name without `/`, `\\`, `[` or `]` (it names a folder)',
        code: 'invalid_name',
      });
    }
    if (!Number.isSafeInteger(diskIndex) || diskIndex < 0) {
      issues.push({
        path: 'diskIndex',
        message: 'must be a non-negative integer',
        code: 'invalid_index',
      });
    }
    const disk = imageId.startsWith('[') ? diskImageOf(imageId) : undefined;
    if (imageId.startsWith('[') && !disk) throw notFoundImage(ctx, imageId);
    if (!imageId.startsWith('[')) {
      issues.push({
        path: 'sourceImageId',
        message: 'is a template or content library image: use it as the VM image, not as a disk',
        code: 'not_a_disk_image',
      });
    } else if (disk && (disk.files.format !== 'raw' || disk.files.id === disk.files.data)) {
      issues.push({
        path: 'sourceImageId',
        message: `is a ${disk.files.format} image stored as uploaded; vSphere attaches only raw images (flat VMDKs): convert it first`,
        code: 'vsphere-format',
      });
    }
    if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'disk image copy' });
    const image = disk as NonNullable<typeof disk>;

    let source: DatastoreInfo;
    try {
      source = await findDatastore(ctx, image.datastore, { signal });
    } catch (error) {
      if (NotFoundError.isInstance(error)) throw notFoundImage(ctx, imageId, error);
      throw error;
    }
    const descriptor = await statDatastoreFile(
      ctx,
      { datacenter: source.datacenter.path, datastore: source.name, path: image.files.id },
      signal,
    );
    if (!descriptor) throw notFoundImage(ctx, imageId);
    const destination = await findDatastore(ctx, target.datastore, { signal });
    const content = await ctx.client.serviceContent({ signal });
    if (!content.fileManager || !content.virtualDiskManager) {
      throw new UnsupportedCapabilityError(
        'migration.diskImport',
        'this endpoint has no FileManager or VirtualDiskManager',
        ctx.client.faultContext,
      );
    }
    const folder = datastorePath(destination.name, target.vmName);
    try {
      await ctx.client.call(
        'MakeDirectory',
        content.fileManager,
        [
          ['name', folder, 'string'],
          ['datacenter', destination.datacenter.ref, 'ManagedObjectReference'],
          ['createParentDirectories', true, 'boolean'],
        ],
        { signal },
      );
    } catch (error) {
      // The VM's folder may exist already (a second disk, a retry).
      if (!(ProviderApiError.isInstance(error) && error.fault === 'FileAlreadyExists')) throw error;
    }
    const copy = datastorePath(
      destination.name,
      `${target.vmName}/${target.vmName}-image${diskIndex}.vmdk`,
    );
    try {
      const task = requireMoRef(
        await ctx.client.callOne(
          'CopyVirtualDisk_Task',
          content.virtualDiskManager,
          [
            ['sourceName', datastorePath(source.name, image.files.id), 'string'],
            ['sourceDatacenter', source.datacenter.ref, 'ManagedObjectReference'],
            ['destName', copy, 'string'],
            ['destDatacenter', destination.datacenter.ref, 'ManagedObjectReference'],
            ['force', false, 'boolean'],
          ],
          { signal },
        ),
        'CopyVirtualDisk_Task task',
        ctx,
      );
      await waitForTask(ctx, task, { signal });
    } catch (error) {
      if (ProviderApiError.isInstance(error) && error.fault === 'FileAlreadyExists') {
        throw new ConflictError('already-exists', `${copy} already exists`, {
          ...ctx.client.faultContext,
          cause: error,
        });
      }
      if (isFileNotFound(error)) throw notFoundImage(ctx, imageId, error);
      throw error;
    }
    return copy;
  }

  // ---- content library deploy ---------------------------------------------------------------

  /**
   * Deploys a content library item (`library`: id or name; `item`: id or name) as a new VM and
   * returns it.
   *
   * @throws NotFoundError (`image`) for an unknown library or item; what `deployLibraryItem`
   *   throws (InvalidSpecError for a bad name or pool, ProviderApiError when vCenter fails it).
   */
  async deployLibraryImage(
    source: { library: string; item: string },
    target: Omit<LibraryDeployTarget, 'signal'>,
    signal?: AbortSignal,
  ): Promise<ManagedObjectReference> {
    const item = await this.#resolveItem(source, signal);
    return deployLibraryItem(this.#session(), item.id, { ...target, signal });
  }

  /** Logs the vAPI session out (when one was opened). Safe to call twice; the vim client stays open. */
  async close(): Promise<void> {
    const vapi = this.#vapi;
    this.#vapi = undefined;
    await vapi?.close();
  }
}
