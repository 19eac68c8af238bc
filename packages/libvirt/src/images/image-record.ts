/**
 * The durable record of an image. An hvkit image on libvirt is a pool volume, but `Image` carries
 * what a volume cannot hold (the image's own name, its source, SHA-256, creation time, the cache
 * key of an import). That goes into a small JSON **sidecar volume** next to it in the same pool:
 *
 *   `<volume>`                    the image bytes (`<safe name>.qcow2|.raw|.vmdk`)
 *   `<volume>.hvkit-image.json`   its record (format raw, the JSON's UTF-8 bytes)
 *
 * Why a volume: pool directories are root-owned (files 0600), so the SSH user can neither write
 * nor read a file there except through libvirt; a volume is reached by every libvirt client of
 * the host (any SSH user in group `libvirt`, virt-manager), survives reconnects and is deleted
 * and listed with the pool. Files in the SSH user's home would be private to that account, and
 * libvirt keeps no free-form metadata on volumes.
 *
 * Reading them is cheap: `vol-download --file /dev/stdout` runs inside one `runMany` (measured on
 * the bed, libvirt 9.0 over an SSH pipe: the bytes of each download land in order between the
 * marker `echo`s, so N records come back in one virsh process; 152 records were listed in 1.1 s
 * with 2 SSH execs, `vol-list` + one runMany of download and vol-dumpxml per image). Over a pipe
 * only: to a regular file each download reopens /dev/stdout from offset 0 and overwrites the
 * previous one.
 *
 * An image exists when both volumes exist and the record parses; a volume without record (a
 * crash between the two writes) is not an image, a record without its volume is ignored.
 */
import { DiskFormatSchema, InvalidSpecError } from '@hvkit/core';
import { z } from 'zod';

/** Suffix of a record volume's name. */
export const RECORD_SUFFIX = '.hvkit-image.json';
/** Marks a record of this layout. */
export const RECORD_VERSION = 'hvkit-libvirt-image/1';
/** Records longer than this are not ours (a real one is < 1 KiB). */
export const MAX_RECORD_BYTES = 64 * 1024;

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

/** The record's JSON, validated when read back (a pool volume is any libvirt user's to edit). */
export const ImageRecordSchema = z.object({
  hvkit: z.literal(RECORD_VERSION),
  /** The image's name as given (volume names are a filename-safe form of it). */
  name: z.string().min(1),
  /** Name of the image volume in the same pool. */
  volume: z.string().min(1),
  /** Stored format. */
  format: DiskFormatSchema,
  /**
   * Where it came from. A URL is kept without user info, query and fragment (they may hold a
   * token, and the record is readable by every libvirt user of the host).
   */
  source: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('url'),
      url: z.string(),
      format: DiskFormatSchema.optional(),
      sha256: Sha256Schema.optional(),
    }),
    z.object({ kind: z.literal('disk') }),
  ]),
  /** SHA-256 of the stored bytes. */
  sha256: Sha256Schema.optional(),
  createdAt: z.string(),
  /** URL imports: SHA-256 over the import request (full URL, declared format, convertTo). */
  cacheKey: Sha256Schema.optional(),
  /** URL imports: SHA-256 of the bytes as downloaded (before any conversion). */
  sourceSha256: Sha256Schema.optional(),
  /** URL imports: the response's validators, for a conditional request on re-import. */
  http: z
    .object({
      etag: z.string().optional(),
      lastModified: z.string().optional(),
    })
    .optional(),
});
/** See {@link ImageRecordSchema}. */
export type ImageRecord = z.infer<typeof ImageRecordSchema>;

/** Serialises a record as the bytes of its volume. */
export function encodeRecord(record: ImageRecord): Uint8Array {
  return Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
}

/** Reads a record volume's text; undefined when it is not a valid record of this layout. */
export function decodeRecord(text: string): ImageRecord | undefined {
  if (text.length > MAX_RECORD_BYTES) return undefined;
  try {
    const parsed = ImageRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const EXTENSIONS: Record<z.infer<typeof DiskFormatSchema>, string> = {
  qcow2: 'qcow2',
  raw: 'raw',
  vmdk: 'vmdk',
  vhdx: 'vhdx',
};

/**
 * The image volume's name for an image name: characters other than letters, digits, `.`, `_`,
 * `+` and `-` become `_` (a dir pool's volume is a file: no `/`, and nothing a shell or virsh's
 * tokenizer would care about), a leading `.` or `-` gets a `_` before it, and the format's
 * extension is appended. Two names with the same safe form collide: the second import is then a
 * ConflictError (`already-exists`), never an overwrite.
 */
export function volumeNameFor(name: string, format: z.infer<typeof DiskFormatSchema>): string {
  let safe = name.replace(/[^A-Za-z0-9._+-]/g, '_');
  if (/^[.-]/.test(safe)) safe = `_${safe}`;
  return `${safe}.${EXTENSIONS[format]}`;
}

/** The record volume of an image volume. */
export function recordVolumeName(volume: string): string {
  return `${volume}${RECORD_SUFFIX}`;
}

/** The image volume a record volume belongs to, or undefined for any other volume. */
export function imageVolumeOfRecord(recordVolume: string): string | undefined {
  if (!recordVolume.endsWith(RECORD_SUFFIX)) return undefined;
  const volume = recordVolume.slice(0, -RECORD_SUFFIX.length);
  return volume === '' ? undefined : volume;
}

/** Where an image lives. */
export interface ImageLocation {
  readonly pool: string;
  readonly volume: string;
}

/**
 * An image's id: `<pool>/<volume>`. Unambiguous: libvirt refuses `/` in pool names and a dir
 * pool's volume name is a file name.
 */
export function imageIdOf(location: ImageLocation): string {
  return `${location.pool}/${location.volume}`;
}

/** Splits an image id at its first `/`; undefined when it cannot be one. */
export function parseImageId(id: string): ImageLocation | undefined {
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) return undefined;
  const volume = id.slice(slash + 1);
  if (volume.includes('/') || imageVolumeOfRecord(volume) !== undefined) return undefined;
  return { pool: id.slice(0, slash), volume };
}

/**
 * A URL as a record keeps it: without user info, query and fragment (see
 * {@link ImageRecordSchema}).
 */
export function recordedUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

/** InvalidSpecError for one field. */
export function invalidField(path: string, message: string, subject: string): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code: 'invalid' }], { subject });
}
