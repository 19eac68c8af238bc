/**
 * Seeded randomness. Everything the Mock invents (ids, MACs, addresses, metrics, disk headers)
 * comes from here, so the same seed and the same calls give the same results.
 */

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/**
 * mulberry32: a tiny 32-bit PRNG with a single word of state, so the state can be persisted and
 * restored exactly (another process continues the same sequence).
 */
export class SeededRandom {
  #state: number;

  /** `seed` is truncated to an unsigned 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The whole generator state, for persistence. */
  get state(): number {
    return this.#state;
  }

  set state(value: number) {
    this.#state = value >>> 0;
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let value = this.#state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  }

  /** Next number in [0, 1). */
  next(): number {
    return this.nextUint32() / 4_294_967_296;
  }

  /** Next integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  /** `length` lower-case hex digits. */
  hex(length: number): string {
    let output = '';
    while (output.length < length) {
      const word = this.nextUint32();
      output +=
        (HEX[word >>> 24] as string) +
        (HEX[(word >>> 16) & 0xff] as string) +
        (HEX[(word >>> 8) & 0xff] as string) +
        (HEX[word & 0xff] as string);
    }
    return output.length === length ? output : output.slice(0, length);
  }
}

/** A 32-bit hash of the parts (FNV-1a with a murmur3 finaliser): stable across processes. */
export function hash32(...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    const text = typeof part === 'number' ? `#${part}` : part;
    for (let index = 0; index < text.length; index++) {
      hash ^= text.charCodeAt(index);
      hash = Math.imul(hash, 0x01000193);
    }
    // A separator, so ('ab', 'c') and ('a', 'bc') differ.
    hash ^= 0xff;
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A stable number in [0, 1) derived from the parts. */
export function unitHash(...parts: readonly (string | number)[]): number {
  return hash32(...parts) / 4_294_967_296;
}

/** `length` deterministic bytes derived from the parts. */
export function hashBytes(length: number, ...parts: readonly (string | number)[]): Uint8Array {
  const output = new Uint8Array(length);
  const generator = new SeededRandom(hash32(...parts));
  for (let index = 0; index < length; index += 4) {
    const word = generator.nextUint32();
    for (let byte = 0; byte < 4 && index + byte < length; byte++) {
      output[index + byte] = (word >>> (byte * 8)) & 0xff;
    }
  }
  return output;
}
