/**
 * A small ISO 9660 image writer for the NoCloud seed: one flat root directory, the files given,
 * readable under their exact names through both Rock Ridge (RRIP 1.10, `NM`/`PX`/`TF`) and Joliet
 * (UCS-2 level 3). Plain ISO 9660 level 1 names (`USER_DAT.;1`) are also written, as every image
 * must have them, but nobody is expected to read those.
 *
 * Why both extensions: Linux mounts iso9660 with Rock Ridge when the root's `.` record carries
 * `SP` and an `ER` entry (fs/isofs/rock.c sets `s_rock` on `ER`), else with Joliet; BSDs and
 * Windows (cloudbase-init) read Joliet. cloud-init's NoCloud datasource finds the filesystem by
 * label `cidata`/`CIDATA` (blkid reads the volume id, preferring the Joliet one) and reads the
 * files `user-data`, `meta-data`, `network-config`, `vendor-data` from its root. This is the layout
 * `cloud-localds` makes with `genisoimage -volid cidata -joliet -rock`.
 *
 * Pure and deterministic: the same files and timestamp give the same bytes (no clock, no random).
 * Layout, in 2048-byte sectors: 0–15 system area (zeros), 16 primary volume descriptor, 17 Joliet
 * supplementary descriptor, 18 terminator, 19–22 path tables (primary L/M, Joliet L/M), then the
 * primary root directory, the Rock Ridge continuation area holding `ER` (one sector), the Joliet
 * root directory, and the files' data (each from a sector start; both trees point at the same bytes).
 */
import { InvalidSpecError, type SpecIssue } from '@hvkit/core';

/** Logical sector (and block) size of the image. */
export const ISO_SECTOR_BYTES = 2048;

/** One file of the root directory. */
export interface IsoFile {
  /** The name readers see (Rock Ridge and Joliet): letters, digits, `.`, `_`, `-`; at most 64. */
  readonly name: string;
  /** The bytes; a string is written as UTF-8. */
  readonly content: Uint8Array | string;
}

/** What {@link buildIso9660} writes. */
export interface Iso9660Options {
  /** Volume id (the filesystem label): letters, digits, `_`; at most 16 (Joliet's limit). */
  readonly volumeId: string;
  readonly files: readonly IsoFile[];
  /**
   * Every timestamp in the image (volume creation/modification, records, Rock Ridge `TF`), so the
   * output is deterministic. Whole seconds, UTC. Default 2000-01-01T00:00:00Z.
   */
  readonly timestamp?: Date | undefined;
}

const DEFAULT_TIMESTAMP = new Date(Date.UTC(2000, 0, 1));
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const VOLUME_ID_PATTERN = /^[A-Za-z0-9_]{1,16}$/;
const MAX_FILE_BYTES = 0xffff_ffff;

const FIRST_DESCRIPTOR = 16;
const PATH_TABLE_SECTORS = { primaryL: 19, primaryM: 20, jolietL: 21, jolietM: 22 } as const;
const FIRST_DIRECTORY_SECTOR = 23;

const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTION =
  'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

const MODE_DIRECTORY = 0o40555;
const MODE_FILE = 0o100444;
const FLAG_DIRECTORY = 2;

// ---- byte helpers -----------------------------------------------------------------------------

/** ECMA-119 7.3.1: a 32-bit value little-endian. */
function le32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

/** ECMA-119 7.3.2: a 32-bit value big-endian. */
function be32(value: number): number[] {
  return le32(value).reverse();
}

/** ECMA-119 7.3.3: a 32-bit value little-endian then big-endian. */
function both32(value: number): number[] {
  return [...le32(value), ...be32(value)];
}

/** ECMA-119 7.2.3: a 16-bit value little-endian then big-endian. */
function both16(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

function ascii(text: string): number[] {
  return [...text].map((character) => character.charCodeAt(0));
}

/** UCS-2 big-endian, as Joliet stores names (our names are ASCII, so no surrogates). */
function ucs2(text: string): number[] {
  return [...text].flatMap((character) => {
    const code = character.charCodeAt(0);
    return [code >>> 8, code & 0xff];
  });
}

/** A field of `length` bytes: `bytes` then `fill` repeated (a 2-byte fill for UCS-2 spaces). */
function padded(bytes: readonly number[], length: number, fill: readonly number[]): number[] {
  const out = bytes.slice(0, length);
  while (out.length < length) out.push(fill[out.length % fill.length] ?? 0x20);
  return out;
}

/** ECMA-119 9.1.5: the 7-byte recording date (years since 1900 … seconds, GMT offset 0). */
function recordDate(date: Date): number[] {
  return [
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0,
  ];
}

/** ECMA-119 8.4.26.1: the 17-byte volume date, `YYYYMMDDHHMMSScc` digits and GMT offset 0. */
function volumeDate(date: Date): number[] {
  const two = (value: number) => String(value).padStart(2, '0');
  const digits = `${String(date.getUTCFullYear()).padStart(4, '0')}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}00`;
  return [...ascii(digits), 0];
}

/** ECMA-119 8.4.26.1: "not specified" — sixteen `0` digits and offset 0. */
const NO_DATE = [...ascii('0'.repeat(16)), 0];

// ---- Rock Ridge (SUSP/RRIP) entries -----------------------------------------------------------

function susp(signature: string, body: readonly number[]): number[] {
  return [...ascii(signature), 4 + body.length, 1, ...body];
}

/** SUSP `SP`: marks SUSP in use; only in the root's `.` record. */
const SP_ENTRY = susp('SP', [0xbe, 0xef, 0]);

function ceEntry(sector: number, length: number): number[] {
  return susp('CE', [...both32(sector), ...both32(0), ...both32(length)]);
}

/** SUSP `ER`: names the extension (RRIP 1.10), which makes Linux use Rock Ridge. */
function erEntry(): number[] {
  return susp('ER', [
    RRIP_ID.length,
    RRIP_DESCRIPTION.length,
    RRIP_SOURCE.length,
    1,
    ...ascii(RRIP_ID),
    ...ascii(RRIP_DESCRIPTION),
    ...ascii(RRIP_SOURCE),
  ]);
}

/** RRIP 1.10 `PX` (36 bytes: no inode number field). Owner root, read-only. */
function pxEntry(mode: number, links: number): number[] {
  return susp('PX', [...both32(mode), ...both32(links), ...both32(0), ...both32(0)]);
}

/** RRIP `TF`: modify, access and attribute-change times, short form. */
function tfEntry(date: Date): number[] {
  const stamp = recordDate(date);
  return susp('TF', [0x0e, ...stamp, ...stamp, ...stamp]);
}

function nmEntry(name: string): number[] {
  return susp('NM', [0, ...ascii(name)]);
}

// ---- records ----------------------------------------------------------------------------------

interface RecordFields {
  extent: number;
  size: number;
  directory: boolean;
  identifier: readonly number[];
  systemUse: readonly number[];
  date: Date;
}

/** ECMA-119 9.1 directory record, padded to an even length. */
function directoryRecord(fields: RecordFields): number[] {
  const idPad = fields.identifier.length % 2 === 0 ? [0] : [];
  const body = [
    0, // extended attribute record length
    ...both32(fields.extent),
    ...both32(fields.size),
    ...recordDate(fields.date),
    fields.directory ? FLAG_DIRECTORY : 0,
    0, // file unit size
    0, // interleave gap
    ...both16(1), // volume sequence number
    fields.identifier.length,
    ...fields.identifier,
    ...idPad,
    ...fields.systemUse,
  ];
  if ((body.length + 1) % 2 !== 0) body.push(0);
  const length = body.length + 1;
  if (length > 255) throw new RangeError(`an ISO 9660 directory record of ${length} bytes`);
  return [length, ...body];
}

/** Packs records into sectors (a record never crosses a sector boundary); returns the sectors. */
function packDirectory(records: readonly number[][]): number[][] {
  const sectors: number[][] = [[]];
  for (const record of records) {
    let current = sectors[sectors.length - 1] as number[];
    if (current.length + record.length > ISO_SECTOR_BYTES) {
      current = [];
      sectors.push(current);
    }
    current.push(...record);
  }
  return sectors;
}

/** ECMA-119 9.4: the path table of a volume with only a root directory (10 bytes). */
function pathTable(rootSector: number, bigEndian: boolean): number[] {
  const extent = bigEndian ? be32(rootSector) : le32(rootSector);
  const parent = bigEndian ? [0, 1] : [1, 0];
  return [1, 0, ...extent, ...parent, 0, 0];
}

// ---- names ------------------------------------------------------------------------------------

/**
 * A level-1 identifier (`NAME8.EXT;1`, d-characters) for `name`, unique among `taken`:
 * `user-data` → `USER_DAT.;1`, as genisoimage names it.
 */
function primaryIdentifier(name: string, taken: Set<string>): string {
  const clean = (text: string) => text.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  const dot = name.lastIndexOf('.');
  const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8) || '_';
  const extension = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : '';
  let candidate = `${base}.${extension}`;
  for (let counter = 1; taken.has(candidate); counter += 1) {
    const suffix = String(counter);
    candidate = `${base.slice(0, 8 - suffix.length)}${suffix}.${extension}`;
  }
  taken.add(candidate);
  return `${candidate};1`;
}

/** ECMA-119 9.3 order: name then extension, each compared as if padded with spaces. */
function comparePrimary(left: string, right: string): number {
  const split = (identifier: string) => {
    const [base = '', rest = ''] = identifier.split('.');
    return [base, rest.split(';')[0] ?? ''] as const;
  };
  const [leftBase, leftExtension] = split(left);
  const [rightBase, rightExtension] = split(right);
  const compare = (a: string, b: string) => {
    const width = Math.max(a.length, b.length);
    const x = a.padEnd(width, ' ');
    const y = b.padEnd(width, ' ');
    return x < y ? -1 : x > y ? 1 : 0;
  };
  return compare(leftBase, rightBase) || compare(leftExtension, rightExtension);
}

function compareCodeUnits(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

// ---- validation -------------------------------------------------------------------------------

function checkOptions(options: Iso9660Options): void {
  const issues: SpecIssue[] = [];
  if (!VOLUME_ID_PATTERN.test(options.volumeId))
    issues.push({
      path: 'volumeId',
      code: 'invalid',
      message: 'must be 1-16 letters, digits or underscores',
    });
  const seen = new Set<string>();
  options.files.forEach((file, index) => {
    if (!NAME_PATTERN.test(file.name) || file.name === '.' || file.name === '..')
      issues.push({
        path: `files[${index}].name`,
        code: 'invalid',
        message: 'must be 1-64 letters, digits, dots, underscores or hyphens, not . or ..',
      });
    const folded = file.name.toLowerCase();
    if (seen.has(folded))
      issues.push({
        path: `files[${index}].name`,
        code: 'duplicate',
        message: `duplicate file name ${JSON.stringify(file.name)} (names are compared ignoring case)`,
      });
    seen.add(folded);
  });
  const time = options.timestamp?.getTime();
  if (time !== undefined) {
    const year = options.timestamp?.getUTCFullYear() ?? 0;
    if (!Number.isFinite(time) || year < 1900 || year > 2155)
      issues.push({
        path: 'timestamp',
        code: 'invalid',
        message: 'must be a valid date from 1900 to 2155 (the ISO 9660 record range)',
      });
  }
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'ISO 9660 image' });
}

// ---- writer -----------------------------------------------------------------------------------

interface PlacedFile {
  name: string;
  primary: string;
  bytes: Uint8Array;
  extent: number;
}

function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / ISO_SECTOR_BYTES);
}

function primaryRecords(
  files: readonly PlacedFile[],
  root: { extent: number; size: number },
  date: Date,
  continuation: { sector: number; length: number },
): number[][] {
  const dirSystemUse = [...pxEntry(MODE_DIRECTORY, 2), ...tfEntry(date)];
  const dot = directoryRecord({
    ...root,
    directory: true,
    identifier: [0],
    systemUse: [...SP_ENTRY, ...ceEntry(continuation.sector, continuation.length), ...dirSystemUse],
    date,
  });
  const dotDot = directoryRecord({
    ...root,
    directory: true,
    identifier: [1],
    systemUse: dirSystemUse,
    date,
  });
  const sorted = [...files].sort((a, b) => comparePrimary(a.primary, b.primary));
  return [
    dot,
    dotDot,
    ...sorted.map((file) =>
      directoryRecord({
        extent: file.extent,
        size: file.bytes.byteLength,
        directory: false,
        identifier: ascii(file.primary),
        systemUse: [...nmEntry(file.name), ...pxEntry(MODE_FILE, 1), ...tfEntry(date)],
        date,
      }),
    ),
  ];
}

function jolietRecords(
  files: readonly PlacedFile[],
  root: { extent: number; size: number },
  date: Date,
): number[][] {
  const sorted = [...files].sort((a, b) => compareCodeUnits(a.name, b.name));
  return [
    directoryRecord({ ...root, directory: true, identifier: [0], systemUse: [], date }),
    directoryRecord({ ...root, directory: true, identifier: [1], systemUse: [], date }),
    ...sorted.map((file) =>
      directoryRecord({
        extent: file.extent,
        size: file.bytes.byteLength,
        directory: false,
        identifier: ucs2(file.name),
        systemUse: [],
        date,
      }),
    ),
  ];
}

interface DescriptorFields {
  joliet: boolean;
  volumeId: string;
  volumeSectors: number;
  rootRecord: number[];
  pathTableL: number;
  pathTableM: number;
  date: Date;
}

/** ECMA-119 8.4 primary (type 1) or Joliet supplementary (type 2) volume descriptor. */
function volumeDescriptor(fields: DescriptorFields): number[] {
  const text = (value: string, length: number) =>
    fields.joliet ? padded(ucs2(value), length, [0, 0x20]) : padded(ascii(value), length, [0x20]);
  const stamp = volumeDate(fields.date);
  const escapes = fields.joliet ? padded([0x25, 0x2f, 0x45], 32, [0]) : padded([], 32, [0]);
  const out = [
    fields.joliet ? 2 : 1,
    ...ascii('CD001'),
    1,
    0,
    ...text('', 32), // system identifier
    ...text(fields.volumeId, 32),
    ...padded([], 8, [0]),
    ...both32(fields.volumeSectors),
    ...escapes, // Joliet level 3: `%/E`
    ...both16(1), // volume set size
    ...both16(1), // volume sequence number
    ...both16(ISO_SECTOR_BYTES),
    ...both32(10), // path table size
    ...le32(fields.pathTableL),
    ...le32(0), // optional L path table
    ...be32(fields.pathTableM),
    ...be32(0), // optional M path table
    ...fields.rootRecord,
    ...text('', 128), // volume set
    ...text('', 128), // publisher
    ...text('', 128), // data preparer
    ...text('HVKIT', 128), // application
    ...text('', 37), // copyright file
    ...text('', 37), // abstract file
    ...text('', 37), // bibliographic file
    ...stamp, // creation
    ...stamp, // modification
    ...NO_DATE, // expiration
    ...stamp, // effective
    1, // file structure version
  ];
  return padded(out, ISO_SECTOR_BYTES, [0]);
}

function terminator(): number[] {
  return padded([255, ...ascii('CD001'), 1], ISO_SECTOR_BYTES, [0]);
}

/**
 * Builds an ISO 9660 image (Rock Ridge + Joliet) holding `files` in its root directory, labelled
 * `volumeId`. Deterministic for the same input. Empty files take no sector (extent 0, size 0).
 *
 * @throws InvalidSpecError naming `volumeId`, `files[i].name` (bad or duplicate name) or
 *   `timestamp`; RangeError for a file of 4 GiB or more.
 */
export function buildIso9660(options: Iso9660Options): Uint8Array {
  checkOptions(options);
  const date = new Date(
    Math.floor((options.timestamp ?? DEFAULT_TIMESTAMP).getTime() / 1000) * 1000,
  );
  const encoder = new TextEncoder();
  const taken = new Set<string>();
  const files: PlacedFile[] = options.files.map((file) => {
    const bytes = typeof file.content === 'string' ? encoder.encode(file.content) : file.content;
    if (bytes.byteLength > MAX_FILE_BYTES)
      throw new RangeError(`${file.name}: ISO 9660 files hold less than 4 GiB`);
    return { name: file.name, primary: primaryIdentifier(file.name, taken), bytes, extent: 0 };
  });
  const continuation = erEntry();

  // Record lengths do not depend on extents: size both directories first, then place the data.
  const sizing = { extent: 0, size: 0 };
  const primarySectors = packDirectory(
    primaryRecords(files, sizing, date, { sector: 0, length: continuation.length }),
  ).length;
  const jolietSectors = packDirectory(jolietRecords(files, sizing, date)).length;
  const primaryRoot = {
    extent: FIRST_DIRECTORY_SECTOR,
    size: primarySectors * ISO_SECTOR_BYTES,
  };
  // The continuation area follows the directory that points at it: libarchive reads an image
  // front to back and refuses a `CE` behind its position ("Invalid parameter in SUSP "CE"
  // extension", bsdtar 3.6.2).
  const continuationArea = {
    sector: primaryRoot.extent + primarySectors,
    length: continuation.length,
  };
  const jolietRoot = {
    extent: continuationArea.sector + 1,
    size: jolietSectors * ISO_SECTOR_BYTES,
  };
  let next = jolietRoot.extent + jolietSectors;
  for (const file of files) {
    if (file.bytes.byteLength === 0) continue;
    file.extent = next;
    next += sectorsFor(file.bytes.byteLength);
  }
  const volumeSectors = next;

  const image = new Uint8Array(volumeSectors * ISO_SECTOR_BYTES);
  const put = (sector: number, bytes: ArrayLike<number>) =>
    image.set(bytes, sector * ISO_SECTOR_BYTES);
  const rootRecord = (root: { extent: number; size: number }) =>
    directoryRecord({ ...root, directory: true, identifier: [0], systemUse: [], date });

  put(
    FIRST_DESCRIPTOR,
    volumeDescriptor({
      joliet: false,
      volumeId: options.volumeId,
      volumeSectors,
      rootRecord: rootRecord(primaryRoot),
      pathTableL: PATH_TABLE_SECTORS.primaryL,
      pathTableM: PATH_TABLE_SECTORS.primaryM,
      date,
    }),
  );
  put(
    FIRST_DESCRIPTOR + 1,
    volumeDescriptor({
      joliet: true,
      volumeId: options.volumeId,
      volumeSectors,
      rootRecord: rootRecord(jolietRoot),
      pathTableL: PATH_TABLE_SECTORS.jolietL,
      pathTableM: PATH_TABLE_SECTORS.jolietM,
      date,
    }),
  );
  put(FIRST_DESCRIPTOR + 2, terminator());
  put(PATH_TABLE_SECTORS.primaryL, pathTable(primaryRoot.extent, false));
  put(PATH_TABLE_SECTORS.primaryM, pathTable(primaryRoot.extent, true));
  put(PATH_TABLE_SECTORS.jolietL, pathTable(jolietRoot.extent, false));
  put(PATH_TABLE_SECTORS.jolietM, pathTable(jolietRoot.extent, true));
  put(continuationArea.sector, continuation);
  const directories = [
    [primaryRoot.extent, primaryRecords(files, primaryRoot, date, continuationArea)],
    [jolietRoot.extent, jolietRecords(files, jolietRoot, date)],
  ] as const;
  for (const [extent, records] of directories) {
    for (const [index, sector] of packDirectory(records).entries()) put(extent + index, sector);
  }
  for (const file of files) if (file.bytes.byteLength > 0) put(file.extent, file.bytes);
  return image;
}
