/**
 * A streaming reader of tar archives (an OVA is one): entries come out one at a time, each body as
 * a stream read straight from the source, so a many-gigabyte disk never sits in memory. Reads
 * ustar (with the `prefix` field), GNU long names (`L`) and pax headers (`x`: `path`, `size`);
 * checks every header's checksum.
 */
import { InvalidSpecError } from '@hvkit/core';

const BLOCK = 512;

/** One entry of the archive. */
export interface TarEntry {
  /** Path inside the archive (`disk-1.vmdk`, `dir/file`). */
  name: string;
  /** `file`, `directory`, or `other` (links, devices: their bodies are empty). */
  type: 'file' | 'directory' | 'other';
  sizeBytes: number;
  /**
   * The entry's bytes. Read it before asking for the next entry, or leave it: the reader skips
   * what was not read. It cannot be read after the next entry was asked for.
   */
  body: AsyncIterable<Uint8Array>;
}

function invalid(message: string): InvalidSpecError {
  return new InvalidSpecError([{ path: 'archive', message, code: 'invalid_tar' }], {
    subject: 'tar archive',
  });
}

/** Pulls exact byte counts out of a chunked source, holding at most one chunk. */
class ChunkReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #pending: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#pending.byteLength === 0) {
      if (this.#done) return false;
      const next = await this.#iterator.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#pending = next.value;
    }
    return true;
  }

  /** Exactly `count` bytes (copied, for headers), or undefined at a clean end of input. */
  async readExact(count: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      if (!(await this.#fill())) {
        if (filled === 0) return undefined;
        throw invalid(`the archive ends inside a ${count}-byte block`);
      }
      const take = Math.min(count - filled, this.#pending.byteLength);
      out.set(this.#pending.subarray(0, take), filled);
      this.#pending = this.#pending.subarray(take);
      filled += take;
    }
    return out;
  }

  /** The next `count` bytes as they arrive (views into the source's chunks, not copies). */
  async *take(count: number): AsyncGenerator<Uint8Array> {
    let left = count;
    while (left > 0) {
      if (!(await this.#fill())) throw invalid('the archive ends inside an entry');
      const take = Math.min(left, this.#pending.byteLength);
      const piece = this.#pending.subarray(0, take);
      this.#pending = this.#pending.subarray(take);
      left -= take;
      yield piece;
    }
  }

  async skip(count: number): Promise<void> {
    for await (const _piece of this.take(count)) {
      // discarded
    }
  }

  async close(): Promise<void> {
    if (!this.#done) await this.#iterator.return?.();
  }
}

const decoder = new TextDecoder();

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/** A numeric field: octal text, or base-256 (high bit of the first byte set) for big sizes. */
function numeric(block: Uint8Array, start: number, length: number, field: string): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let index = start + 1; index < start + length; index += 1) {
      value = value * 256 + (block[index] ?? 0);
    }
    if (!Number.isSafeInteger(value)) throw invalid(`${field} is too large`);
    return value;
  }
  const digits = text(block, start, length).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw invalid(`${field} is not octal: ${JSON.stringify(digits)}`);
  return Number.parseInt(digits, 8);
}

function checksumMatches(block: Uint8Array): boolean {
  const stored = numeric(block, 148, 8, 'checksum');
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) {
    sum += index >= 148 && index < 156 ? 0x20 : (block[index] ?? 0);
  }
  return sum === stored;
}

/** Pax records: `<length> <key>=<value>\n`, repeated. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.byteLength) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(decoder.decode(data.subarray(offset, space)));
    if (!Number.isSafeInteger(length) || length <= 0 || offset + length > data.byteLength) {
      throw invalid('malformed pax header');
    }
    const record = decoder.decode(data.subarray(space + 1, offset + length - 1));
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

/** Metadata entries (pax, GNU long names) are small; more than this is a broken archive. */
const MAX_METADATA_BYTES = 1024 * 1024;

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Reads a tar archive entry by entry. The source is read only as entries and bodies are pulled,
 * and closed when the consumer stops early.
 *
 * @throws InvalidSpecError (path `archive`) for a bad checksum, a truncated archive or malformed
 *   metadata.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(source);
  let longName: string | undefined;
  let pax = new Map<string, string>();
  let globalPax = new Map<string, string>();
  try {
    for (;;) {
      const header = await reader.readExact(BLOCK);
      // Two zero blocks end the archive; some writers stop after one, or with none at all.
      if (!header || header.every((byte) => byte === 0)) return;
      if (!checksumMatches(header)) throw invalid('a header checksum does not match');
      const typeFlag = String.fromCharCode(header[156] ?? 0);
      let size = numeric(header, 124, 12, 'size');
      if (typeFlag === 'x' || typeFlag === 'g' || typeFlag === 'L') {
        if (size > MAX_METADATA_BYTES) throw invalid('a metadata entry is too large');
        const data = (await reader.readExact(size + padding(size))) ?? new Uint8Array(0);
        const body = data.subarray(0, size);
        if (typeFlag === 'L') longName = decoder.decode(body).replace(/\0+$/, '');
        else if (typeFlag === 'x') pax = paxRecords(body);
        else globalPax = new Map([...globalPax, ...paxRecords(body)]);
        continue;
      }
      const magic = text(header, 257, 6);
      const prefix = magic.startsWith('ustar') ? text(header, 345, 155) : '';
      const headerName = prefix === '' ? text(header, 0, 100) : `${prefix}/${text(header, 0, 100)}`;
      const name = pax.get('path') ?? globalPax.get('path') ?? longName ?? headerName;
      const paxSize = pax.get('size');
      if (paxSize !== undefined) {
        if (!/^\d+$/.test(paxSize)) throw invalid('pax size is not a number');
        size = Number(paxSize);
      }
      longName = undefined;
      pax = new Map();
      const type =
        typeFlag === '0' || typeFlag === '\0' || typeFlag === '7'
          ? 'file'
          : typeFlag === '5'
            ? 'directory'
            : 'other';
      // Links and devices carry no body whatever their size field says.
      const bodyBytes = type === 'other' && typeFlag !== 'S' ? 0 : size;
      let started = false;
      let consumed = 0;
      const body = reader;
      async function* entryBody(): AsyncGenerator<Uint8Array> {
        if (started) throw new Error(`tar entry ${name} was already read`);
        started = true;
        for await (const piece of body.take(bodyBytes)) {
          consumed += piece.byteLength;
          yield piece;
        }
      }
      let stale = false;
      const guarded: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => {
          if (stale) throw new Error(`tar entry ${name} cannot be read after the next entry`);
          return entryBody();
        },
      };
      yield { name, type, sizeBytes: bodyBytes, body: guarded };
      stale = true;
      await reader.skip(bodyBytes - consumed + padding(bodyBytes));
    }
  } finally {
    await reader.close();
  }
}
