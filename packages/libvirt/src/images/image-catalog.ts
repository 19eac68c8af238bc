/**
 * The libvirt image catalog: images are pool volumes with a JSON record volume beside them (see
 * image-record.ts for the layout and why). Listing, lookup, deletion (refused while a domain or
 * another volume still uses the image) and record writing.
 */
import { ConflictError, type Image, NotFoundError } from '@hvkit/core';
import {
  listVolumes,
  parseVolumeXml,
  uploadVolume,
  type VolumeDetails,
} from '../storage/storage.js';
import type { Virsh, VirshCommandResult } from '../virsh/virsh.js';
import { parseNameList } from '../virsh/virsh-parse.js';
import { parseXml, type XmlElement } from '../xml/xml-reader.js';
import {
  decodeRecord,
  encodeRecord,
  type ImageLocation,
  type ImageRecord,
  imageIdOf,
  imageVolumeOfRecord,
  MAX_RECORD_BYTES,
  parseImageId,
  recordVolumeName,
} from './image-record.js';

/** An image with where and how it is stored. */
export interface StoredImage {
  readonly image: Image;
  readonly record: ImageRecord;
  readonly pool: string;
  /** The image volume as `vol-dumpxml` describes it (path, format, capacity…). */
  readonly volume: VolumeDetails;
}

/** Options of the catalog's reads. */
export interface CatalogOptions {
  /** Pools to look in. Default: every active pool. */
  pools?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
}

/** The core `Image` of a record and its volume (size = the bytes stored, what sha256 covers). */
export function imageOf(record: ImageRecord, volume: VolumeDetails, cached = false): Image {
  const image: Image = {
    id: imageIdOf({ pool: volume.pool, volume: record.volume }),
    name: record.name,
    format: record.format,
    sizeBytes: volume.physicalBytes,
    storage: volume.pool,
    source: record.source,
    cached,
    createdAt: record.createdAt,
  };
  if (record.sha256 !== undefined) image.sha256 = record.sha256;
  return image;
}

/**
 * The `vol-download` of a record volume to stdout (byte-exact under virsh `-q`), cut at one byte
 * past the largest record: a big volume that merely has a record's name costs the listing 64 KiB,
 * not its size (and is then refused as a record).
 */
function readRecordCommand(location: ImageLocation): string[] {
  return [
    'vol-download',
    '--pool',
    location.pool,
    '--vol',
    recordVolumeName(location.volume),
    '--length',
    String(MAX_RECORD_BYTES + 1),
    '--file',
    '/dev/stdout',
  ];
}

function dumpVolumeCommand(location: ImageLocation): string[] {
  return ['vol-dumpxml', '--pool', location.pool, '--vol', location.volume];
}

/**
 * The stored image of a record download and a volume dumpxml run together; undefined when either
 * is missing or the record is not a valid one for that volume. Other failures are thrown.
 */
function storedOf(
  location: ImageLocation,
  record: VirshCommandResult | undefined,
  dump: VirshCommandResult | undefined,
): StoredImage | undefined {
  if (!record || !dump) return undefined;
  for (const result of [record, dump]) {
    if (!result.ok && !NotFoundError.isInstance(result.error)) throw result.error;
  }
  if (!record.ok || !dump.ok) return undefined;
  const parsed = decodeRecord(record.stdout);
  if (!parsed || parsed.volume !== location.volume) return undefined;
  const volume = parseVolumeXml(dump.stdout, location.pool);
  return { image: imageOf(parsed, volume), record: parsed, pool: location.pool, volume };
}

/** Record volumes named in `vol-list --pool` output (names never contain white space: ours). */
export function recordVolumesIn(volList: string): string[] {
  const out: string[] = [];
  for (const line of volList.split('\n')) {
    const name = /^\s*(\S+)\s/.exec(line)?.[1];
    if (name !== undefined && imageVolumeOfRecord(name) !== undefined) out.push(name);
  }
  return out;
}

/** Names of the active pools (by UUID first: `pool-list --name` pads names on libvirt 9.0). */
async function activePools(virsh: Virsh, signal: AbortSignal | undefined): Promise<string[]> {
  const uuids = parseNameList(
    await virsh.run(['pool-list', '--uuid'], { idempotent: true, signal }),
  )
    .map((uuid) => uuid.trim())
    .filter((uuid) => uuid !== '');
  if (uuids.length === 0) return [];
  const names = await virsh.runMany(
    uuids.map((uuid) => ['pool-name', uuid]),
    { idempotent: true, signal },
  );
  return names.flatMap((result) => (result.ok ? [result.stdout.trim()] : []));
}

/**
 * Every image in the pools (default: all active pools), in three virsh processes at most:
 * `pool-list --uuid` (only without `pools`), one runMany of `vol-list` per pool (and `pool-name`
 * per UUID), then one runMany of every record's download and every image volume's dumpxml.
 *
 * @throws TransportError, ProviderApiError; an unknown pool in `pools` is skipped.
 */
export async function listImages(virsh: Virsh, options: CatalogOptions = {}): Promise<Image[]> {
  return (await listStoredImages(virsh, options)).map((stored) => stored.image);
}

/** Record volumes of each pool: `vol-list` per pool in one runMany (with `pool-name` per UUID). */
async function recordLocations(
  virsh: Virsh,
  pools: readonly string[] | undefined,
  signal: AbortSignal | undefined,
): Promise<ImageLocation[]> {
  // Without names: by UUID (`pool-list --name` pads names on libvirt 9.0), each UUID's name
  // asked in the same runMany as its vol-list.
  const keys =
    pools ??
    parseNameList(await virsh.run(['pool-list', '--uuid'], { idempotent: true, signal }))
      .map((uuid) => uuid.trim())
      .filter((uuid) => uuid !== '');
  if (keys.length === 0) return [];
  const named = pools !== undefined;
  const results = await virsh.runMany(
    keys.flatMap((key) =>
      named
        ? [['vol-list', '--pool', key]]
        : [
            ['pool-name', key],
            ['vol-list', '--pool', key],
          ],
    ),
    { idempotent: true, signal },
  );
  const step = named ? 1 : 2;
  const locations: ImageLocation[] = [];
  keys.forEach((key, index) => {
    const name = named ? undefined : results[index * step];
    const list = results[index * step + step - 1];
    for (const result of [name, list]) {
      // A pool undefined or stopped since the listing has no images to show.
      if (result && !result.ok && !NotFoundError.isInstance(result.error)) throw result.error;
    }
    if (!list?.ok || (name !== undefined && !name.ok)) return;
    const pool = name ? name.stdout.trim() : key;
    for (const record of recordVolumesIn(list.stdout)) {
      locations.push({ pool, volume: imageVolumeOfRecord(record) as string });
    }
  });
  return locations;
}

/** {@link listImages} with records and volume details. */
export async function listStoredImages(
  virsh: Virsh,
  options: CatalogOptions = {},
): Promise<StoredImage[]> {
  const signal = options.signal;
  const locations = await recordLocations(virsh, options.pools, signal);
  if (locations.length === 0) return [];
  const results = await virsh.runMany(
    locations.flatMap((location) => [readRecordCommand(location), dumpVolumeCommand(location)]),
    { idempotent: true, signal },
  );
  const out: StoredImage[] = [];
  locations.forEach((location, index) => {
    const stored = storedOf(location, results[2 * index], results[2 * index + 1]);
    if (stored) out.push(stored);
  });
  return out;
}

function imageNotFound(id: string, cause?: unknown): NotFoundError {
  return new NotFoundError('image', id, `image ${JSON.stringify(id)} not found`, {
    provider: 'libvirt',
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * One image by id (`<pool>/<volume>`), in one virsh process.
 *
 * @throws NotFoundError (`image`) when the id is malformed, the pool or either volume is
 *   missing, or the record is not valid.
 */
export async function findImage(
  virsh: Virsh,
  id: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<StoredImage> {
  const location = parseImageId(id);
  if (!location) throw imageNotFound(id);
  const [record, dump] = await virsh.runMany(
    [readRecordCommand(location), dumpVolumeCommand(location)],
    { idempotent: true, signal: options.signal },
  );
  let stored: StoredImage | undefined;
  try {
    stored = storedOf(location, record, dump);
  } catch (error) {
    if (NotFoundError.isInstance(error)) throw imageNotFound(id, error);
    throw error;
  }
  if (!stored) throw imageNotFound(id);
  return stored;
}

/**
 * Writes an image's record volume (after the image volume: a record is only ever written for
 * bytes already stored).
 *
 * @throws ConflictError (`already-exists`) when a record of that volume exists.
 */
export async function writeImageRecord(
  virsh: Virsh,
  pool: string,
  record: ImageRecord,
  signal?: AbortSignal,
): Promise<void> {
  const bytes = encodeRecord(record);
  await uploadVolume(virsh, {
    pool,
    name: recordVolumeName(record.volume),
    format: 'raw',
    sizeBytes: bytes.byteLength,
    source: (async function* () {
      yield bytes;
    })(),
    signal,
  });
}

/** Who still uses an image: domains (by name) and volumes (`pool/name`) built on it. */
export interface ImageUsers {
  readonly domains: string[];
  readonly volumes: string[];
}

/** True when some `<source>` in the tree names the file or the pool volume. */
function referencesImage(node: XmlElement, path: string, location: ImageLocation): boolean {
  if (node.name === 'source') {
    const attributes = node.attributes;
    if (attributes.file === path || attributes.dev === path) return true;
    if (attributes.pool === location.pool && attributes.volume === location.volume) return true;
  }
  return node.children.some((child) => referencesImage(child, path, location));
}

/**
 * The domains whose XML (live XML for running ones, which spells out the whole backing chain)
 * has a `<source>` naming the image's file or pool volume, and the volumes of every active pool
 * whose backing store is the image's file (linked clones not attached to any domain).
 * `list --all --name` + one runMany of dumpxml + `pool-list` and one vol-list/dumpxml round per
 * pool.
 */
export async function imageUsers(
  virsh: Virsh,
  stored: StoredImage,
  signal?: AbortSignal,
): Promise<ImageUsers> {
  const location: ImageLocation = { pool: stored.pool, volume: stored.record.volume };
  const path = stored.volume.path;
  const names = parseNameList(
    await virsh.run(['list', '--all', '--name'], { idempotent: true, signal }),
  ).filter((name) => name !== '');
  const domains: string[] = [];
  if (names.length > 0) {
    const dumps = await virsh.runMany(
      names.map((name) => ['dumpxml', '--', name]),
      { idempotent: true, signal },
    );
    dumps.forEach((result, index) => {
      // A domain undefined since the listing uses nothing.
      if (!result.ok) return;
      const root = parseXml(result.stdout, { what: 'domain XML' });
      if (referencesImage(root, path, location)) domains.push(names[index] as string);
    });
  }
  const volumes: string[] = [];
  for (const pool of await activePools(virsh, signal)) {
    for (const volume of await listVolumes(virsh, pool)) {
      if (volume.backingStore?.path === path) volumes.push(`${pool}/${volume.name}`);
    }
  }
  return { domains, volumes };
}

/**
 * Deletes an image: its volume, then its record.
 *
 * @throws NotFoundError (`image`) for an unknown id (deleting twice included); ConflictError
 *   (`in-use`) while a domain or another volume still uses it (as its disk or backing file):
 *   deleting the file under them would break them.
 */
export async function deleteImage(
  virsh: Virsh,
  id: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<void> {
  const signal = options.signal;
  const stored = await findImage(virsh, id, { signal });
  const users = await imageUsers(virsh, stored, signal);
  if (users.domains.length > 0 || users.volumes.length > 0) {
    const who = [
      ...users.domains.map((name) => `domain ${JSON.stringify(name)}`),
      ...users.volumes.map((name) => `volume ${JSON.stringify(name)}`),
    ];
    throw new ConflictError('in-use', `image ${JSON.stringify(id)} is used by ${who.join(', ')}`, {
      provider: 'libvirt',
      details: { domains: users.domains, volumes: users.volumes },
    });
  }
  try {
    await virsh.run(['vol-delete', '--pool', stored.pool, '--vol', stored.record.volume], {
      signal,
    });
  } catch (error) {
    if (NotFoundError.isInstance(error)) throw imageNotFound(id, error);
    throw error;
  }
  // The image is gone: a record left behind (deletion failed) is ignored by listings.
  await virsh
    .run(['vol-delete', '--pool', stored.pool, '--vol', recordVolumeName(stored.record.volume)])
    .catch((error: unknown) => {
      if (!NotFoundError.isInstance(error)) throw error;
    });
}
