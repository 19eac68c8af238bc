/**
 * Helpers providers use to recognise a repeated request by its idempotency key: a short hash of
 * the key (stored on the backend object, never the key itself) and of the request's canonical
 * JSON (so the same key with different input is told apart).
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted and `undefined` members left out: equal input, equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The first `length` hex digits of the SHA-256 of `text`. */
export function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
