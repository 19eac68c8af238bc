/**
 * The NoCloud seed as a libvirt volume: the documents → an ISO 9660 image (label `cidata`) →
 * a raw volume in a pool, attached by the driver as a read-only cdrom (`DomainTarget.seedIso`).
 *
 * Naming: a domain's seed volume is named from its UUID, `hvkit-seed-<uuid>.iso`, not from the
 * domain name. Domain names may hold characters a dir-pool volume name cannot (libvirt 9.0 refuses
 * `/` in a volume name: measured in seed-volume.bed.test.ts), and the UUID is the VM id, so
 * delete finds the volume from the id alone and two domains never share one. libvirt 9.0's text:
 * "Requested operation is not valid: volume name 'a/b.iso' cannot contain '/'".
 *
 * The volume is created `raw`; after the upload libvirt 9.0 reports its format as `iso` (a dir
 * pool probes file content on refresh). Attach it with `<driver type='raw'>`, as the domain XML
 * builder does.
 */
import { NotFoundError } from '@hvkit/core';
import { deleteVolume, uploadVolume } from '../storage/storage.js';
import type { Virsh } from '../virsh/virsh.js';
import { buildIso9660, type IsoFile } from './iso9660.js';
import type { NoCloudDocuments } from './nocloud.js';

/** The filesystem label cloud-init's NoCloud datasource looks for (it also accepts `CIDATA`). */
export const SEED_VOLUME_LABEL = 'cidata';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The seed volume name of the domain with this UUID: `hvkit-seed-<uuid>.iso` (lower case).
 * @throws TypeError for a value that is not a UUID (a caller bug).
 */
export function seedVolumeName(domainUuid: string): string {
  const uuid = domainUuid.toLowerCase();
  if (!UUID_PATTERN.test(uuid)) throw new TypeError(`seedVolumeName: ${domainUuid} is not a UUID`);
  return `hvkit-seed-${uuid}.iso`;
}

/** Options of {@link buildSeedIso}. */
export interface SeedIsoOptions {
  /** Every timestamp in the image (deterministic output). Default 2000-01-01T00:00:00Z. */
  timestamp?: Date | undefined;
}

/** The NoCloud files in the order cloud-init documents them; optional ones only when given. */
export function seedFiles(documents: NoCloudDocuments): IsoFile[] {
  const files: IsoFile[] = [
    { name: 'meta-data', content: documents.metaData },
    { name: 'user-data', content: documents.userData },
  ];
  if (documents.networkConfig !== undefined)
    files.push({ name: 'network-config', content: documents.networkConfig });
  if (documents.vendorData !== undefined)
    files.push({ name: 'vendor-data', content: documents.vendorData });
  return files;
}

/** The seed ISO image (Rock Ridge + Joliet, label `cidata`) of the documents. Pure. */
export function buildSeedIso(
  documents: NoCloudDocuments,
  options: SeedIsoOptions = {},
): Uint8Array {
  return buildIso9660({
    volumeId: SEED_VOLUME_LABEL,
    files: seedFiles(documents),
    timestamp: options.timestamp,
  });
}

/** Options of {@link buildSeedVolume}. */
export interface SeedVolumeOptions extends SeedIsoOptions {
  signal?: AbortSignal | undefined;
}

/** The uploaded seed. */
export interface SeedVolume {
  readonly pool: string;
  readonly name: string;
  /** Host path, for `DomainTarget.seedIso`. */
  readonly path: string;
  readonly sizeBytes: number;
  /** SHA-256 (hex) of the image as sent. */
  readonly sha256: string;
}

/**
 * Builds the seed ISO and uploads it as a raw volume `name` in `pool` (vol-create, then
 * vol-upload over the SSH channel; a failed or aborted upload deletes the volume again). Returns
 * its path for the domain's cdrom.
 *
 * @throws ConflictError when `name` exists (a seed from an earlier attempt: delete it with
 *   {@link deleteSeedVolume} first); NotFoundError `storage` for a missing pool; the
 *   `buildIso9660` errors (never for documents from `buildNoCloudDocuments`).
 */
export async function buildSeedVolume(
  virsh: Virsh,
  pool: string,
  name: string,
  documents: NoCloudDocuments,
  options: SeedVolumeOptions = {},
): Promise<SeedVolume> {
  const image = buildSeedIso(documents, options);
  async function* source(): AsyncGenerator<Uint8Array> {
    yield image;
  }
  const uploaded = await uploadVolume(virsh, {
    pool,
    name,
    format: 'raw',
    sizeBytes: image.byteLength,
    source: source(),
    signal: options.signal,
  });
  return {
    pool,
    name,
    path: uploaded.volume.path,
    sizeBytes: uploaded.sizeBytes,
    sha256: uploaded.sha256,
  };
}

/**
 * Deletes a seed volume; true when one was deleted, false when there was none (delete of a VM
 * without a seed, or a second delete).
 */
export async function deleteSeedVolume(virsh: Virsh, pool: string, name: string): Promise<boolean> {
  try {
    await deleteVolume(virsh, pool, name);
    return true;
  } catch (error) {
    if (NotFoundError.isInstance(error)) return false;
    throw error;
  }
}
