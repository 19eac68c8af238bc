// A minimal ISO 9660 reader for tests, written from ECMA-119/SUSP/RRIP/Joliet independently of the
// writer's helpers: it follows the volume descriptors, reads the root directory of the primary
// tree (names from Rock Ridge `NM`, following `CE`) or of the Joliet tree, and returns each file's
// bytes. Only what a flat image needs; it throws on anything it does not understand.

const SECTOR = 2048;

export interface ReadEntry {
  /** Plain ISO 9660 identifier (`USER_DAT.;1`), or the Joliet name. */
  identifier: string;
  /** Rock Ridge `NM` name (primary tree only). */
  rockName?: string | undefined;
  /** Rock Ridge `PX` mode (primary tree only). */
  mode?: number | undefined;
  directory: boolean;
  extent: number;
  size: number;
  /** Raw System Use signatures seen, in order (following CE). */
  signatures: string[];
}

export interface ReadVolume {
  volumeId: string;
  jolietVolumeId: string | undefined;
  volumeSectors: number;
  primary: ReadEntry[];
  joliet: ReadEntry[] | undefined;
}

function u32le(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

function checkBoth32(bytes: Uint8Array, at: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const le = view.getUint32(at, true);
  const be = view.getUint32(at + 4, false);
  if (le !== be) throw new Error(`both-endian mismatch at ${at}: ${le} vs ${be}`);
  return le;
}

function latin(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function ucs2be(bytes: Uint8Array): string {
  let out = '';
  for (let at = 0; at + 1 < bytes.length; at += 2)
    out += String.fromCharCode((bytes[at] ?? 0) * 256 + (bytes[at + 1] ?? 0));
  return out;
}

/** Parses SUSP entries from `area`, following CE continuation areas. */
function systemUse(image: Uint8Array, area: Uint8Array, entry: ReadEntry, depth = 0): void {
  if (depth > 4) throw new Error('CE loop');
  let at = 0;
  while (at + 4 <= area.length) {
    const signature = latin(area.subarray(at, at + 2));
    const length = area[at + 2] ?? 0;
    if (length < 4 || at + length > area.length) break;
    const body = area.subarray(at + 4, at + length);
    entry.signatures.push(signature);
    if (signature === 'NM') entry.rockName = (entry.rockName ?? '') + latin(body.subarray(1));
    if (signature === 'PX') entry.mode = checkBoth32(body, 0);
    if (signature === 'CE') {
      const block = checkBoth32(body, 0);
      const offset = checkBoth32(body, 8);
      const size = checkBoth32(body, 16);
      const start = block * SECTOR + offset;
      systemUse(image, image.subarray(start, start + size), entry, depth + 1);
    }
    at += length;
  }
}

function readDirectory(
  image: Uint8Array,
  extent: number,
  size: number,
  joliet: boolean,
): ReadEntry[] {
  const entries: ReadEntry[] = [];
  const data = image.subarray(extent * SECTOR, extent * SECTOR + size);
  let at = 0;
  while (at < data.length) {
    const length = data[at] ?? 0;
    if (length === 0) {
      at = (Math.floor(at / SECTOR) + 1) * SECTOR; // rest of the sector is padding
      continue;
    }
    if (Math.floor(at / SECTOR) !== Math.floor((at + length - 1) / SECTOR))
      throw new Error(`record at ${at} crosses a sector boundary`);
    const record = data.subarray(at, at + length);
    const idLength = record[32] ?? 0;
    const id = record.subarray(33, 33 + idLength);
    const entry: ReadEntry = {
      identifier:
        idLength === 1 && (id[0] === 0 || id[0] === 1)
          ? id[0] === 0
            ? '.'
            : '..'
          : joliet
            ? ucs2be(id)
            : latin(id),
      directory: ((record[25] ?? 0) & 2) !== 0,
      extent: checkBoth32(record, 2),
      size: checkBoth32(record, 10),
      signatures: [],
    };
    const suStart = 33 + idLength + (idLength % 2 === 0 ? 1 : 0);
    if (!joliet) systemUse(image, record.subarray(suStart), entry);
    entries.push(entry);
    at += length;
  }
  return entries;
}

/** Reads the volume descriptors and both root directories of `image`. */
export function readIso(image: Uint8Array): ReadVolume {
  if (image.length % SECTOR !== 0) throw new Error('not whole sectors');
  let primary: ReadEntry[] | undefined;
  let joliet: ReadEntry[] | undefined;
  let volumeId = '';
  let jolietVolumeId: string | undefined;
  let volumeSectors = 0;
  for (let sector = 16; ; sector += 1) {
    const vd = image.subarray(sector * SECTOR, (sector + 1) * SECTOR);
    if (vd.length < SECTOR || latin(vd.subarray(1, 6)) !== 'CD001')
      throw new Error(`no volume descriptor at ${sector}`);
    const type = vd[0];
    if (type === 255) break;
    const root = vd.subarray(156, 190);
    const extent = checkBoth32(root, 2);
    const size = checkBoth32(root, 10);
    if (type === 1) {
      volumeId = latin(vd.subarray(40, 72)).trimEnd();
      volumeSectors = checkBoth32(vd, 80);
      primary = readDirectory(image, extent, size, false);
      if (u32le(vd, 140) === 0) throw new Error('no L path table');
    } else if (type === 2 && latin(vd.subarray(88, 91)) === '%/E') {
      jolietVolumeId = ucs2be(vd.subarray(40, 72)).trimEnd();
      joliet = readDirectory(image, extent, size, true);
    }
  }
  if (primary === undefined) throw new Error('no primary volume descriptor');
  return { volumeId, jolietVolumeId, volumeSectors, primary, joliet };
}

/** The bytes of `entry`. */
export function contentOf(image: Uint8Array, entry: ReadEntry): Uint8Array {
  return image.subarray(entry.extent * SECTOR, entry.extent * SECTOR + entry.size);
}

/** name → bytes, by Rock Ridge names (primary tree) or Joliet names. */
export function filesOf(image: Uint8Array, tree: 'rock' | 'joliet'): Map<string, Uint8Array> {
  const volume = readIso(image);
  const entries = tree === 'rock' ? volume.primary : (volume.joliet ?? []);
  const files = new Map<string, Uint8Array>();
  for (const entry of entries) {
    if (entry.directory) continue;
    const name = tree === 'rock' ? entry.rockName : entry.identifier;
    if (name === undefined) throw new Error(`${entry.identifier} has no Rock Ridge name`);
    files.set(name, contentOf(image, entry));
  }
  return files;
}
