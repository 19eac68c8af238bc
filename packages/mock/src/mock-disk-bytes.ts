/**
 * Disk bytes, stored sparsely: 1 MiB chunks by index, absent chunks read as zeros, so a 20 GiB
 * disk that was never written costs nothing. Blobs are immutable once registered, which makes
 * copy-on-write trivial: a linked clone's blob has no chunks of its own and reads its base's.
 */
import { createHash } from 'node:crypto';
import { hashBytes } from './mock-random.js';
import type { MockBlob } from './mock-state.js';

/** Chunk size, in bytes (1 MiB). */
export const CHUNK_BYTES = 1 << 20;

/** Size of the header written at the start of a blank disk, in bytes. */
export const BLANK_HEADER_BYTES = 512;

/**
 * The first 512 bytes of a blank disk: the ASCII text `HVKIT-MOCK-DISK`, a NUL, the disk id,
 * a NUL, seeded bytes derived from the seed and the disk id, and the boot signature 0x55 0xAA at
 * offsets 510–511. Everything after it is zeros. It lets a test tell two blank disks apart and
 * prove that bytes were copied rather than recreated.
 */
export function blankDiskHeader(seed: number, diskId: string): Uint8Array {
  const header = hashBytes(BLANK_HEADER_BYTES, 'blank-disk', seed, diskId);
  const label = new TextEncoder().encode(`HVKIT-MOCK-DISK\0${diskId}\0`).slice(0, 256);
  header.set(label, 0);
  header[510] = 0x55;
  header[511] = 0xaa;
  return header;
}

/** The chunk maps to read, own first, then each base in turn. Throws when a base is missing. */
export function chainOf(
  blobs: ReadonlyMap<string, MockBlob>,
  blobId: string,
): Map<number, Uint8Array>[] {
  const chain: Map<number, Uint8Array>[] = [];
  let current: string | undefined = blobId;
  while (current !== undefined) {
    const blob = blobs.get(current);
    if (!blob) throw new Error(`mock blob ${current} is missing`);
    chain.push(blob.chunks);
    current = blob.baseId;
  }
  return chain;
}

/** Every chunk visible through `chain`, as one map (sharing the chunk arrays, which are immutable). */
export function flatten(chain: readonly Map<number, Uint8Array>[]): Map<number, Uint8Array> {
  const output = new Map<number, Uint8Array>();
  for (let level = chain.length - 1; level >= 0; level--) {
    for (const [index, bytes] of chain[level] as Map<number, Uint8Array>) output.set(index, bytes);
  }
  return output;
}

/** Bytes the blob stores itself (a thin disk's allocation). */
export function allocatedBytes(blob: MockBlob): number {
  let total = 0;
  for (const bytes of blob.chunks.values()) total += bytes.byteLength;
  return total;
}

function chunkAt(chain: readonly Map<number, Uint8Array>[], index: number): Uint8Array | undefined {
  for (const chunks of chain) {
    const bytes = chunks.get(index);
    if (bytes) return bytes;
  }
  return undefined;
}

/**
 * Streams bytes `offsetBytes`…`sizeBytes` of the disk in chunks of at most 1 MiB (aligned to
 * 1 MiB after the first). Independent of any clock; checks `signal` before each chunk and
 * throws its reason when aborted. Each yielded array is fresh: the consumer may keep or modify it.
 */
export async function* readBytes(
  chain: readonly Map<number, Uint8Array>[],
  sizeBytes: number,
  offsetBytes: number,
  signal?: AbortSignal | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  let position = offsetBytes;
  while (position < sizeBytes) {
    signal?.throwIfAborted();
    const index = Math.floor(position / CHUNK_BYTES);
    const chunkStart = index * CHUNK_BYTES;
    const end = Math.min(sizeBytes, chunkStart + CHUNK_BYTES);
    const output = new Uint8Array(end - position);
    const stored = chunkAt(chain, index);
    if (stored) {
      const from = position - chunkStart;
      const to = Math.min(stored.byteLength, end - chunkStart);
      if (to > from) output.set(stored.subarray(from, to), 0);
    }
    position = end;
    yield output;
  }
}

/** SHA-256 (hex) of the first `sizeBytes` bytes seen through `chain`. */
export function sha256Of(chain: readonly Map<number, Uint8Array>[], sizeBytes: number): string {
  const hash = createHash('sha256');
  const zeros = new Uint8Array(CHUNK_BYTES);
  for (let index = 0; index * CHUNK_BYTES < sizeBytes; index++) {
    const length = Math.min(CHUNK_BYTES, sizeBytes - index * CHUNK_BYTES);
    const stored = chunkAt(chain, index);
    if (!stored) {
      hash.update(zeros.subarray(0, length));
      continue;
    }
    const used = Math.min(stored.byteLength, length);
    hash.update(stored.subarray(0, used));
    if (used < length) hash.update(zeros.subarray(0, length - used));
  }
  return hash.digest('hex');
}

function isAllZero(bytes: Uint8Array): boolean {
  const words = Math.floor(bytes.byteLength / 8);
  if (bytes.byteOffset % 8 === 0) {
    const view = new BigUint64Array(bytes.buffer, bytes.byteOffset, words);
    for (let index = 0; index < words; index++) if (view[index] !== 0n) return false;
  } else {
    for (let index = 0; index < words * 8; index++) if (bytes[index] !== 0) return false;
  }
  for (let index = words * 8; index < bytes.byteLength; index++)
    if (bytes[index] !== 0) return false;
  return true;
}

/**
 * Collects a byte stream of any chunking into sparse 1 MiB chunks, hashing as it goes. Chunks
 * that are all zeros are not stored.
 */
export class ChunkWriter {
  readonly chunks = new Map<number, Uint8Array>();
  #hash = createHash('sha256');
  #buffer = new Uint8Array(CHUNK_BYTES);
  #filled = 0;
  #index = 0;
  /** Bytes received so far. */
  bytes = 0;

  /** Adds the next bytes of the stream. */
  write(data: Uint8Array): void {
    this.#hash.update(data);
    this.bytes += data.byteLength;
    let offset = 0;
    while (offset < data.byteLength) {
      const take = Math.min(CHUNK_BYTES - this.#filled, data.byteLength - offset);
      this.#buffer.set(data.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === CHUNK_BYTES) this.#flush();
    }
  }

  /** Stores the partial last chunk and returns the SHA-256 (hex) of everything written. */
  finish(): string {
    if (this.#filled > 0) this.#flush();
    return this.#hash.digest('hex');
  }

  #flush(): void {
    const chunk = this.#buffer.subarray(0, this.#filled);
    if (!isAllZero(chunk)) {
      this.chunks.set(this.#index, chunk);
      this.#buffer = new Uint8Array(CHUNK_BYTES);
    } else {
      this.#buffer.fill(0, 0, this.#filled);
    }
    this.#index += 1;
    this.#filled = 0;
  }
}
