/**
 * Readers for parsed vim25 values. The parser types only the scalars it knows, so nested numbers
 * and booleans (`capacity`, `expandableReservation`) arrive as text, and a one-element array may
 * arrive bare; these readers accept both forms and never throw.
 */
import type { ManagedObjectReference } from '../soap/soap-envelope.js';

/** A parsed data object's fields, or undefined for anything else. */
export type Fields = Record<string, unknown>;

/** `value` as a record of fields when it is a (non-array) object. */
export function fieldsOf(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Fields)
    : undefined;
}

/** A non-empty string, else undefined. */
export function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A finite number from a number or numeric text, else undefined. */
export function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** A boolean from a boolean or `true`/`false`/`1`/`0` text, else undefined. */
export function flagOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

/** An array whatever the parser made of it: absent or empty text → `[]`, one bare value → `[value]`. */
export function listOf(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

/** A managed object reference, else undefined. */
export function moRefOf(value: unknown): ManagedObjectReference | undefined {
  const record = fieldsOf(value);
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

/** An ISO 8601 string for an xsd:dateTime (vcsim sends nanoseconds), else undefined. */
export function isoTimeOf(value: unknown): string | undefined {
  const raw = textOf(value);
  if (raw === undefined) return undefined;
  const time = Date.parse(raw);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** `table[key]` for the table's own keys only (`constructor` is no restart priority). */
export function ownEntry<T>(table: Readonly<Record<string, T>>, key: unknown): T | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}
