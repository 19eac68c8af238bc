import { readFileSync } from 'node:fs';

/** A recorded response: the HTTP status from the recorder's leading comment, and the XML body. */
export interface RecordedResponse {
  status: number | undefined;
  body: string;
}

/**
 * Reads `__fixtures__/<name>`. The recorder put the HTTP status (and Set-Cookie) in an XML comment
 * before the XML declaration, which an XML parser must refuse; it is split off here.
 */
export function readFixture(name: string): RecordedResponse {
  const text = readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
  const match = /^<!--(.*?)-->\r?\n/.exec(text);
  if (match === null) return { status: undefined, body: text };
  const status = /HTTP (\d{3})/.exec(match[1] ?? '');
  return {
    status: status === null ? undefined : Number(status[1]),
    body: text.slice(match[0].length),
  };
}

/** Splits `text` (as UTF-8 bytes) at the given cut points, for chunk-by-chunk parsing tests. */
export function splitBytes(text: string, cuts: readonly number[]): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

/** Splits `text` into one-byte chunks. */
export function oneByteChunks(text: string): Uint8Array[] {
  return Array.from(new TextEncoder().encode(text), (byte) => Uint8Array.of(byte));
}

/** Reads a nested field of a parsed value (`dig(value, 'objects', 0, 'obj')`). */
export function dig(value: unknown, ...path: readonly (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
