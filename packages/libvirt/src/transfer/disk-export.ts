/**
 * `exportDisk`: a domain's disk read as the bytes of its volume (`vol-download` over the SSH
 * channel, from an offset). The disk must be a libvirt storage volume (a file in a pool); the
 * bytes are the file as stored, so a qcow2 disk comes as qcow2 (`format` says which) and
 * `sizeBytes` is the file's length, which for raw is the disk's capacity.
 */
import {
  ConflictError,
  type DiskExport,
  type DiskFormat,
  DiskFormatSchema,
  InvalidSpecError,
  NotFoundError,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import { downloadVolume, parseVolumeXml, type VolumeDetails } from '../storage/storage.js';
import type { Virsh } from '../virsh/virsh.js';
import { attributeOf, childOf, childrenOf, parseXml } from '../xml/xml-reader.js';

/** Options of {@link exportDisk}. */
export interface ExportDiskOptions {
  /** First byte to send. Default 0. */
  offsetBytes?: number | undefined;
  /**
   * Export while the domain is active. Default false: a running guest writes to the disk while
   * it is read, so the copy would be torn (ConflictError `invalid-power-state`).
   */
  allowActive?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((bytesDone: number, bytesTotal?: number) => void) | undefined;
}

/** Where a domain disk's bytes live, from its `<source>`. */
export type DiskSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'volume'; readonly pool: string; readonly volume: string };

/**
 * The source of the disk whose `<target dev>` is `diskId` (device `disk`; cdroms and floppies
 * are not disks in hvkit's model) in a domain XML; undefined when there is no such disk, or when
 * it has no source hvkit can read (network, block device, empty).
 */
export function diskSourceOf(domainXml: string, diskId: string): DiskSource | null | undefined {
  const root = parseXml(domainXml, { what: 'domain XML' });
  const devices = childOf(root, 'devices');
  for (const disk of childrenOf(devices, 'disk')) {
    if ((attributeOf(disk, 'device') ?? 'disk') !== 'disk') continue;
    if (attributeOf(childOf(disk, 'target'), 'dev') !== diskId) continue;
    const source = childOf(disk, 'source');
    const type = attributeOf(disk, 'type');
    const file = attributeOf(source, 'file');
    if (type === 'file' && file) return { kind: 'file', path: file };
    const pool = attributeOf(source, 'pool');
    const volume = attributeOf(source, 'volume');
    if (type === 'volume' && pool && volume) return { kind: 'volume', pool, volume };
    return null;
  }
  return undefined;
}

/** libvirt's state word for an inactive domain (`domstate`). */
const SHUT_OFF = 'shut off';

/** Resolves a disk source to its volume (pool name + details) in one virsh process. */
async function volumeOfSource(
  virsh: Virsh,
  source: DiskSource,
  diskId: string,
  signal: AbortSignal | undefined,
): Promise<VolumeDetails> {
  // A file is looked up by path (`vol-pool` prints its pool's name); a pool volume is named.
  // libvirt 9.0 on a file in no pool: `failed to get vol '/tmp/x.raw'` / `Storage volume not
  // found: no storage vol with matching path '/tmp/x.raw'` (a NotFoundError `disk`).
  const commands =
    source.kind === 'file'
      ? [
          ['vol-pool', source.path],
          ['vol-dumpxml', source.path],
        ]
      : [['vol-dumpxml', '--pool', source.pool, '--vol', source.volume]];
  const results = await virsh.runMany(commands, { idempotent: true, signal });
  const failed = results.find((result) => !result.ok);
  if (failed && !failed.ok) {
    if (!NotFoundError.isInstance(failed.error)) throw failed.error;
    throw new UnsupportedCapabilityError(
      'migration.diskExport',
      `disk ${diskId} is not a libvirt storage volume (its file is in no pool), so it cannot be streamed`,
      { provider: 'libvirt', cause: failed.error },
    );
  }
  const pool = source.kind === 'file' ? (results[0]?.stdout ?? '').trim() : source.pool;
  return parseVolumeXml(results[results.length - 1]?.stdout ?? '', pool);
}

function formatOf(volume: VolumeDetails, diskId: string): DiskFormat {
  const parsed = DiskFormatSchema.safeParse(volume.format ?? 'raw');
  if (parsed.success) return parsed.data;
  throw new UnsupportedCapabilityError(
    'migration.diskExport',
    `disk ${diskId} is stored as ${volume.format}, which hvkit's disk formats do not include`,
    { provider: 'libvirt' },
  );
}

/**
 * Opens a domain's disk for reading from `offsetBytes`. One virsh process for the domain
 * (`domstate` + `dumpxml`), one for the volume, then the download starts when `stream` is first
 * read; breaking out of it ends the remote virsh.
 *
 * @param domain Domain name or UUID.
 * @param diskId The disk's target device (`vda`).
 * @throws InvalidSpecError (`offsetBytes`) for a negative, fractional or past-the-end offset;
 *   NotFoundError (`vm`) for an unknown domain, (`disk`) when it has no such disk;
 *   ConflictError (`invalid-power-state`) when the domain is active (see `allowActive`),
 *   (`invalid-state`) for a qcow2 overlay (linked clone: the file alone is not the disk);
 *   UnsupportedCapabilityError (`migration.diskExport`) for a disk that is not a pool volume
 *   (network, block device outside pools) or has a format outside hvkit's.
 */
export async function exportDisk(
  virsh: Virsh,
  domain: string,
  diskId: string,
  options: ExportDiskOptions = {},
): Promise<DiskExport> {
  const offsetBytes = options.offsetBytes ?? 0;
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw new InvalidSpecError(
      [{ path: 'offsetBytes', message: 'must be a whole number of bytes ≥ 0', code: 'invalid' }],
      { subject: 'export options' },
    );
  }
  const signal = options.signal;
  const [state, dump] = await virsh.runMany(
    [
      ['domstate', '--', domain],
      ['dumpxml', '--', domain],
    ],
    { idempotent: true, signal },
  );
  if (!state?.ok) throw state?.error;
  if (!dump?.ok) throw dump?.error;
  const source = diskSourceOf(dump.stdout, diskId);
  if (source === undefined) {
    throw new NotFoundError('disk', diskId, `domain ${domain} has no disk ${diskId}`, {
      provider: 'libvirt',
    });
  }
  if (source === null) {
    throw new UnsupportedCapabilityError(
      'migration.diskExport',
      `disk ${diskId} has no file or pool volume source to stream`,
      { provider: 'libvirt' },
    );
  }
  const domainState = state.stdout.trim();
  if (domainState !== SHUT_OFF && !options.allowActive) {
    throw new ConflictError(
      'invalid-power-state',
      `disk ${diskId} is in use while domain ${domain} is ${domainState}; shut it down first`,
      { provider: 'libvirt', details: { state: domainState } },
    );
  }
  const volume = await volumeOfSource(virsh, source, diskId, signal);
  if (volume.backingStore) {
    // vol-download sends the overlay file alone: without its backing chain it is no disk.
    throw new ConflictError(
      'invalid-state',
      `disk ${diskId} is a qcow2 overlay on ${volume.backingStore.path}; its bytes alone are not the disk (flatten it first)`,
      { provider: 'libvirt', details: { backingStore: volume.backingStore.path } },
    );
  }
  const format = formatOf(volume, diskId);
  const sizeBytes = volume.physicalBytes;
  if (offsetBytes > sizeBytes) {
    throw new InvalidSpecError(
      [
        {
          path: 'offsetBytes',
          message: `must not exceed the disk size (${sizeBytes})`,
          code: 'too_big',
        },
      ],
      { subject: 'export options' },
    );
  }
  const download = await downloadVolume(virsh, {
    pool: volume.pool,
    name: volume.name,
    offsetBytes,
    signal,
    onProgress: (bytes) => options.onProgress?.(bytes, sizeBytes - offsetBytes),
  });
  return { diskId, format, sizeBytes, offsetBytes, stream: download.stream };
}
