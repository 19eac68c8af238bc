/**
 * How values reach a Proxmox URL or form body. Every path value passes through
 * {@link encodePathSegment}; every query or body parameter through {@link encodeParams}. Proxmox
 * reads booleans only as `0`/`1` and arrays as repeated keys (pve-http-server AnyEvent.pm).
 */
import { InvalidSpecError } from '@hvkit/core';

/** A value a Proxmox parameter accepts. `undefined` and `null` leave the parameter out. */
export type ParamValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly (string | number)[];

/** Parameters of one request: query string for GET/DELETE, form body for POST/PUT. */
export type RequestParams = Readonly<Record<string, ParamValue>>;

function invalid(path: string, message: string): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code: 'invalid_request' }], {
    subject: 'request',
  });
}

/**
 * Encodes one path segment (a node name, a VM id, a UPID, a snapshot name) with
 * `encodeURIComponent`, so `/`, `?`, `#` and `%` cannot leave the segment.
 *
 * @throws InvalidSpecError for an empty segment, `.` or `..` (URL parsers resolve them, even
 * percent-encoded, so they would address another path), and for text that is not valid Unicode.
 */
export function encodePathSegment(value: string | number, name = 'path'): string {
  const text = String(value);
  if (text === '' || text === '.' || text === '..') {
    throw invalid(name, `${JSON.stringify(text)} cannot be a path segment`);
  }
  try {
    return encodeURIComponent(text);
  } catch {
    throw invalid(name, 'contains a lone surrogate (not valid Unicode)');
  }
}

/**
 * Fills `{name}` placeholders in a path template (as in the official schema,
 * `/nodes/{node}/qemu/{vmid}`) from `params`, each through {@link encodePathSegment}. Returns the
 * path and the parameters that are left for the query string or body.
 *
 * @throws InvalidSpecError when a placeholder has no value or a value cannot be a segment, or the
 * template itself contains `?`, `#` or a `.`/`..` segment.
 */
export function expandPath(
  template: string,
  params: RequestParams = {},
): { path: string; rest: Record<string, ParamValue> } {
  if (!template.startsWith('/') || /[?#\s]/.test(template)) {
    throw invalid('path', `${JSON.stringify(template)} is not an API path`);
  }
  const rest: Record<string, ParamValue> = { ...params };
  const path = template.replace(/\{([^}]+)\}/g, (_placeholder, name: string) => {
    const value = params[name];
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw invalid(name, 'path parameter is missing');
    }
    delete rest[name];
    return encodePathSegment(value, name);
  });
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw invalid('path', `${JSON.stringify(template)} contains a relative segment`);
  }
  return { path, rest };
}

function encodeScalar(key: string, value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw invalid(key, `${value} is not a finite number`);
  }
  return String(value);
}

function encodeComponent(key: string, text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    throw invalid(key, 'contains a lone surrogate (not valid Unicode)');
  }
}

/**
 * Encodes parameters as `application/x-www-form-urlencoded` (also the query string form):
 * booleans as `1`/`0`, arrays as repeated keys, `undefined`/`null` left out, spaces as `%20`.
 * Keys keep their order. Returns `''` when nothing is left.
 *
 * @throws InvalidSpecError for a non-finite number or text that is not valid Unicode.
 */
export function encodeParams(params: RequestParams): string {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value as string | number | boolean];
    for (const item of values) {
      pairs.push(
        `${encodeComponent(key, key)}=${encodeComponent(key, encodeScalar(key, item as string | number | boolean))}`,
      );
    }
  }
  return pairs.join('&');
}
