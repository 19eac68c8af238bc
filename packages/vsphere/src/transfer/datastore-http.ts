/**
 * Datastore files over vCenter's HTTP file access (`/folder/<path>?dcPath=…&dsName=…`): datastore
 * paths (`[ds] dir/file.vmdk`), one encoder for every value that reaches a URL, and streaming
 * download (resumable with `Range`) and upload (hashed and counted on the way). Memory stays
 * constant: bodies are passed chunk by chunk, never buffered.
 */
import { createHash } from 'node:crypto';
import {
  AuthenticationError,
  HvkitError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  type ResourceKind,
  TransportError,
  transportErrorFrom,
} from '@hvkit/core';
import { fetch } from 'undici';
import type { VsphereContext } from '../vsphere-context.js';

/** A datastore path split into its parts: `[LocalDS_0] vm/disk.vmdk`. */
export interface DatastorePath {
  /** Datastore name, e.g. `LocalDS_0`. */
  datastore: string;
  /** Path inside the datastore, `/`-separated, without a leading `/`; may be empty (the root). */
  path: string;
}

/** Where a datastore file lives, as the `/folder` URL names it. */
export interface DatastoreFileLocation {
  /** Inventory path of the datacenter (`DC0`, or `Folder/DC0` for a nested one): `dcPath`. */
  datacenter: string;
  /** Datastore name: `dsName`. */
  datastore: string;
  /** Path inside the datastore, e.g. `vm-1/vm-1-flat.vmdk`. */
  path: string;
}

function invalid(path: string, message: string, subject = 'datastore path'): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code: 'invalid_datastore_path' }], { subject });
}

/**
 * Checks a path inside a datastore: `/`-separated segments, none empty, `.` or `..` (which the
 * server would resolve outside the folder asked for), no NUL. A leading `/` is dropped.
 *
 * @param field Field named in the error.
 * @throws InvalidSpecError naming `field`.
 */
export function normalizeDatastoreFilePath(path: string, field = 'path'): string {
  const trimmed = path.replace(/^\/+/, '');
  if (trimmed === '') throw invalid(field, 'must name a file inside the datastore');
  for (const segment of trimmed.split('/')) {
    if (segment === '')
      throw invalid(field, 'must not contain empty segments (`//` or a trailing `/`)');
    if (segment === '.' || segment === '..')
      throw invalid(field, 'must not contain `.` or `..` segments');
    if (segment.includes('\0')) throw invalid(field, 'must not contain NUL');
  }
  return trimmed;
}

/**
 * Formats `[datastore] path`, vSphere's datastore path notation.
 *
 * @throws InvalidSpecError when the name is empty or holds `[`/`]` (the notation could not be read
 *   back), or the path is not a clean relative path (see {@link normalizeDatastoreFilePath}).
 */
export function datastorePath(datastore: string, path: string): string {
  if (datastore === '' || /[[\]]/.test(datastore)) {
    throw invalid('datastore', 'must be a non-empty name without `[` or `]`');
  }
  return `[${datastore}] ${normalizeDatastoreFilePath(path)}`;
}

/**
 * Parses `[datastore] path` (the path may be empty: `[LocalDS_0]` is the datastore's root, as in
 * `files.vmPathName`).
 *
 * @param field Field named in the error.
 * @throws InvalidSpecError when `text` is not in that notation.
 */
export function parseDatastorePath(text: string, field = 'path'): DatastorePath {
  const match = /^\[([^[\]]+)\] ?(.*)$/s.exec(text);
  if (!match?.[1]) throw invalid(field, 'expected `[datastore] path/inside/datastore`');
  const path = match[2] ?? '';
  return {
    datastore: match[1],
    path: path === '' ? '' : normalizeDatastoreFilePath(path, field),
  };
}

/**
 * The one encoder for every value that reaches a URL of this module: a `/`-separated path is
 * encoded segment by segment with `encodeURIComponent` (so `[`, `]`, `@`, `#`, `?`, `%` and spaces
 * in names and morefs survive), and a single value (a query parameter, a moref in a path) is
 * encoded whole, `/` included.
 */
export function encodeUrlValue(value: string, options: { keepSlashes?: boolean } = {}): string {
  if (!options.keepSlashes) return encodeURIComponent(value);
  return value.split('/').map(encodeURIComponent).join('/');
}

/**
 * The `/folder` URL of a datastore file on the server of `base` (the client's `/sdk` URL; its
 * scheme, host and port are kept).
 *
 * @throws InvalidSpecError for an empty datacenter or datastore, or a bad path.
 */
export function datastoreFileUrl(base: URL, location: DatastoreFileLocation): URL {
  if (location.datacenter === '') throw invalid('datacenter', 'must not be empty');
  if (location.datastore === '') throw invalid('datastore', 'must not be empty');
  const path = normalizeDatastoreFilePath(location.path);
  return new URL(
    `/folder/${encodeUrlValue(path, { keepSlashes: true })}?dcPath=${encodeUrlValue(location.datacenter)}&dsName=${encodeUrlValue(location.datastore)}`,
    base,
  );
}

/** Maps a non-success HTTP status of a vCenter data request to the core error. */
export function httpStatusError(
  ctx: VsphereContext,
  status: number,
  what: string,
  notFound: { resource: ResourceKind; id: string },
): HvkitError {
  const options = ctx.client.faultContext;
  if (status === 404) {
    return new NotFoundError(
      notFound.resource,
      notFound.id,
      `${what}: not found (HTTP 404)`,
      options,
    );
  }
  if (status === 401 || status === 403) {
    return new AuthenticationError(`${what}: refused (HTTP ${status})`, options);
  }
  return new ProviderApiError(`${what}: HTTP ${status}`, { ...options, status });
}

/** Turns a failed `fetch` or body read into a core error (an hvkit error or the caller's abort passes through). */
export function requestFailure(
  ctx: VsphereContext,
  error: unknown,
  where: string,
  safe: boolean,
  signal: AbortSignal | undefined,
): unknown {
  if (HvkitError.isInstance(error)) return error;
  if (signal?.aborted) return signal.reason;
  return transportErrorFrom(error, {
    where,
    safe,
    ...ctx.client.faultContext,
    tlsHint: 'pass tls.ca (the vCenter CA certificate) or tls.fingerprint256',
  });
}

/** The session cookie header, so vCenter (which checks it on `/folder`) accepts the request. */
export async function sessionHeaders(
  ctx: VsphereContext,
  signal?: AbortSignal,
): Promise<Record<string, string>> {
  const cookie = await ctx.client.session({ signal });
  return { cookie: `vmware_soap_session=${cookie}` };
}

/** Options of {@link downloadDatastoreFile}. */
export interface DownloadOptions extends DatastoreFileLocation {
  /** First byte to send; default 0. Resuming a transfer passes the count already received. */
  offsetBytes?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Kind named by the NotFoundError for a missing file; default `other`. */
  notFound?: ResourceKind | undefined;
}

/** A download in progress. */
export interface DatastoreDownload {
  /** Size of the whole file in bytes (not of the remaining range). */
  sizeBytes: number;
  /** The bytes from the offset to the end; the body is read only as the consumer pulls. */
  stream: AsyncIterable<Uint8Array>;
}

const CONTENT_RANGE = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+)$/;

function checkOffset(offsetBytes: number): void {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw invalid('offsetBytes', 'must be a non-negative integer', 'download');
  }
}

/**
 * Streams a datastore file from `offsetBytes` to its end, asking for the range with
 * `Range: bytes=N-`. The stream ends with a retryable TransportError when the server sends fewer
 * bytes than it announced, so a caller can resume from the count it received.
 *
 * @throws InvalidSpecError for a bad location or an offset beyond the end of the file (before any
 *   byte is read); NotFoundError (kind `notFound`) for a missing file or datastore;
 *   AuthenticationError for 401/403; ProviderApiError for other statuses or a missing length;
 *   TransportError when the connection fails.
 */
export async function downloadDatastoreFile(
  ctx: VsphereContext,
  options: DownloadOptions,
): Promise<DatastoreDownload> {
  const offsetBytes = options.offsetBytes ?? 0;
  checkOffset(offsetBytes);
  const url = datastoreFileUrl(ctx.client.url, options);
  const id = datastorePath(options.datastore, options.path);
  const where = `vSphere GET datastore file ${id}`;
  const { signal } = options;
  const headers: Record<string, string> = await sessionHeaders(ctx, signal);
  if (offsetBytes > 0) headers.range = `bytes=${offsetBytes}-`;
  let response: Awaited<ReturnType<typeof fetch>>;
  try {
    response = await fetch(url, { headers, signal, dispatcher: ctx.client.dispatcher });
  } catch (error) {
    throw requestFailure(ctx, error, where, true, signal);
  }
  const discard = () => response.body?.cancel().catch(() => undefined);
  let sizeBytes: number;
  let skipBytes = 0;
  if (response.status === 206) {
    const range = CONTENT_RANGE.exec(response.headers.get('content-range') ?? '');
    if (!range?.[1] || Number(range[1]) !== offsetBytes) {
      await discard();
      throw new ProviderApiError(
        `${where}: 206 without a Content-Range starting at ${offsetBytes}`,
        {
          ...ctx.client.faultContext,
          status: 206,
        },
      );
    }
    sizeBytes = Number(range[3]);
  } else if (response.status === 200) {
    const length = response.headers.get('content-length');
    if (length === null || !/^\d+$/.test(length)) {
      await discard();
      throw new ProviderApiError(`${where}: answered without a Content-Length`, {
        ...ctx.client.faultContext,
        status: 200,
      });
    }
    sizeBytes = Number(length);
    // A server (or proxy) that ignores Range answers 200 with the whole file: skip the first
    // `offsetBytes` ourselves, so the caller still gets exactly the remaining bytes.
    skipBytes = offsetBytes;
    if (offsetBytes > sizeBytes) {
      await discard();
      throw invalid(
        'offsetBytes',
        `is beyond the end of the file (${sizeBytes} bytes)`,
        'download',
      );
    }
  } else if (response.status === 416) {
    await discard();
    // Resuming a transfer that had already received every byte: nothing left, not an error.
    const range = CONTENT_RANGE.exec(response.headers.get('content-range') ?? '');
    const total = range?.[3] === undefined ? undefined : Number(range[3]);
    if (total !== undefined && total === offsetBytes) {
      return { sizeBytes: total, stream: emptyStream() };
    }
    throw invalid(
      'offsetBytes',
      `is beyond the end of the file${total === undefined ? '' : ` (${total} bytes)`}`,
      'download',
    );
  } else {
    await discard();
    throw httpStatusError(ctx, response.status, where, {
      resource: options.notFound ?? 'other',
      id,
    });
  }
  const expected = sizeBytes - offsetBytes;
  async function* stream(): AsyncGenerator<Uint8Array> {
    // Read the body through `response`, so the closure keeps the Response alive: undici's fetch
    // cancels the body of a Response garbage-collected before it was read (seen as a 0-byte
    // stream when the caller starts reading late, under load).
    const body = response.body;
    let received = 0;
    let toSkip = skipBytes;
    try {
      if (body) {
        for await (const chunk of body) {
          let piece = chunk as Uint8Array;
          if (toSkip > 0) {
            if (piece.byteLength <= toSkip) {
              toSkip -= piece.byteLength;
              continue;
            }
            piece = piece.subarray(toSkip);
            toSkip = 0;
          }
          received += piece.byteLength;
          yield piece;
        }
      }
    } catch (error) {
      throw requestFailure(ctx, error, where, true, signal);
    } finally {
      await body?.cancel().catch(() => undefined);
    }
    if (received !== expected) {
      throw new TransportError(
        `${where}: the server sent ${received} of ${expected} bytes; resume from offset ${offsetBytes + received}`,
        {
          ...ctx.client.faultContext,
          details: { receivedBytes: received, expectedBytes: expected },
        },
      );
    }
  }
  return { sizeBytes, stream: stream() };
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {
  // nothing left to send
}

/** Options of {@link uploadDatastoreFile}. */
export interface UploadOptions extends DatastoreFileLocation {
  /** The bytes; read once, chunk by chunk. */
  source: AsyncIterable<Uint8Array>;
  /** Exact byte count `source` delivers (sent as Content-Length). */
  sizeBytes: number;
  signal?: AbortSignal | undefined;
}

/** What an upload stored. */
export interface UploadResult {
  sizeBytes: number;
  /** SHA-256 of the bytes sent, lower-case hex. */
  sha256: string;
}

/**
 * Streams `source` into a datastore file with `PUT` (created or replaced; vcsim and vCenter create
 * missing parent directories), hashing and counting the bytes as they pass.
 *
 * The file may be left partly written when the upload fails (the server has already created it):
 * callers that must not leave one behind delete it (see `deleteDatastoreFile`).
 *
 * @throws InvalidSpecError for a bad location or size (before any I/O) or when `source` delivers
 *   more or fewer bytes than `sizeBytes` (the request is cut short); NotFoundError (`storage`) for
 *   an unknown datastore or datacenter; AuthenticationError for 401/403; ProviderApiError for other
 *   statuses; TransportError when the connection fails.
 */
export async function uploadDatastoreFile(
  ctx: VsphereContext,
  options: UploadOptions,
): Promise<UploadResult> {
  const { sizeBytes, signal } = options;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw invalid('sizeBytes', 'must be a non-negative integer', 'upload');
  }
  const url = datastoreFileUrl(ctx.client.url, options);
  const id = datastorePath(options.datastore, options.path);
  const where = `vSphere PUT datastore file ${id}`;
  const hash = createHash('sha256');
  let sent = 0;
  let sizeError: InvalidSpecError | undefined;
  const mismatch = (count: string) =>
    invalid(
      'sizeBytes',
      `the source delivered ${count} bytes, not the ${sizeBytes} announced`,
      'upload',
    );
  async function* body(): AsyncGenerator<Uint8Array> {
    for await (const chunk of options.source) {
      if (sent + chunk.byteLength > sizeBytes) {
        sizeError = mismatch(`more than ${sizeBytes}`);
        throw sizeError;
      }
      sent += chunk.byteLength;
      hash.update(chunk);
      yield chunk;
    }
    if (sent !== sizeBytes) {
      sizeError = mismatch(String(sent));
      throw sizeError;
    }
  }
  const headers = {
    ...(await sessionHeaders(ctx, signal)),
    'content-type': 'application/octet-stream',
    'content-length': String(sizeBytes),
  };
  let response: Awaited<ReturnType<typeof fetch>>;
  try {
    response = await fetch(url, {
      method: 'PUT',
      headers,
      body: body(),
      // undici streams an iterable body only in half-duplex mode.
      duplex: 'half',
      signal,
      dispatcher: ctx.client.dispatcher,
    });
  } catch (error) {
    if (sizeError) throw sizeError;
    throw requestFailure(ctx, error, where, false, signal);
  }
  await response.body?.cancel().catch(() => undefined);
  if (sizeError) throw sizeError;
  if (response.status < 200 || response.status > 299) {
    throw httpStatusError(ctx, response.status, where, {
      resource: 'storage',
      id: options.datastore,
    });
  }
  if (sent !== sizeBytes) throw mismatch(String(sent));
  return { sizeBytes: sent, sha256: hash.digest('hex') };
}

/** What a `HEAD` of a datastore file tells. */
export interface DatastoreFileStat {
  sizeBytes: number;
  /** Last modification, ISO 8601; undefined when the server sends no usable `Last-Modified`. */
  modifiedAt?: string | undefined;
}

/**
 * Reads the size and modification time of a datastore file with `HEAD`.
 *
 * @returns undefined when the file (or the datastore) does not exist (HTTP 404).
 * @throws InvalidSpecError for a bad location; AuthenticationError for 401/403; ProviderApiError
 *   for other statuses or a missing Content-Length; TransportError.
 */
export async function statDatastoreFile(
  ctx: VsphereContext,
  location: DatastoreFileLocation,
  signal?: AbortSignal,
): Promise<DatastoreFileStat | undefined> {
  const url = datastoreFileUrl(ctx.client.url, location);
  const id = datastorePath(location.datastore, location.path);
  const where = `vSphere HEAD datastore file ${id}`;
  let response: Awaited<ReturnType<typeof fetch>>;
  try {
    response = await fetch(url, {
      method: 'HEAD',
      headers: await sessionHeaders(ctx, signal),
      signal,
      dispatcher: ctx.client.dispatcher,
    });
  } catch (error) {
    throw requestFailure(ctx, error, where, true, signal);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status === 404) return undefined;
  if (response.status < 200 || response.status > 299) {
    throw httpStatusError(ctx, response.status, where, { resource: 'other', id });
  }
  const length = response.headers.get('content-length');
  if (length === null || !/^\d+$/.test(length)) {
    throw new ProviderApiError(`${where}: answered without a Content-Length`, {
      ...ctx.client.faultContext,
      status: response.status,
    });
  }
  const modified = Date.parse(response.headers.get('last-modified') ?? '');
  return {
    sizeBytes: Number(length),
    ...(Number.isNaN(modified) ? {} : { modifiedAt: new Date(modified).toISOString() }),
  };
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

function decodeHtmlText(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, body: string) => {
    if (body.startsWith('#x') || body.startsWith('#X')) {
      return String.fromCodePoint(Number.parseInt(body.slice(2), 16));
    }
    if (body.startsWith('#')) return String.fromCodePoint(Number.parseInt(body.slice(1), 10));
    return HTML_ENTITIES[body.toLowerCase()] ?? entity;
  });
}

/**
 * The names of the entries directly inside `folder`, read from the HTML index the server sends
 * for a directory `GET /folder/<folder>/` (vcsim: Go's file server, relative links; vCenter: a
 * table of absolute `/folder/…?dcPath=…` links). Only links that resolve to a child of the folder
 * count, so "parent directory" and navigation links are left out. Sub-folders come with a
 * trailing `/`.
 *
 * Used instead of `HostDatastoreBrowser.SearchDatastore_Task` because the envelope writer's type
 * table does not hold `HostDatastoreBrowserSearchSpec` yet (see the report of the image catalog).
 *
 * @returns undefined when the folder does not exist (HTTP 404).
 * @throws InvalidSpecError for a bad location; AuthenticationError for 401/403; ProviderApiError
 *   for other statuses; TransportError.
 */
export async function listDatastoreFolder(
  ctx: VsphereContext,
  location: DatastoreFileLocation,
  signal?: AbortSignal,
): Promise<string[] | undefined> {
  const folder = normalizeDatastoreFilePath(location.path);
  const file = datastoreFileUrl(ctx.client.url, location);
  // Ask for `folder/` directly: without the slash vcsim answers 301 to it.
  const url = new URL(file.href.replace(/\?/, '/?'));
  const id = datastorePath(location.datastore, folder);
  const where = `vSphere GET datastore folder ${id}`;
  let response: Awaited<ReturnType<typeof fetch>>;
  let text: string;
  try {
    response = await fetch(url, {
      headers: { ...(await sessionHeaders(ctx, signal)), accept: 'text/html' },
      signal,
      dispatcher: ctx.client.dispatcher,
    });
    text = await response.text();
  } catch (error) {
    throw requestFailure(ctx, error, where, true, signal);
  }
  if (response.status === 404) return undefined;
  if (response.status < 200 || response.status > 299) {
    throw httpStatusError(ctx, response.status, where, { resource: 'other', id });
  }
  const base = new URL(response.url || url.href);
  const parent = decodeURIComponent(base.pathname.replace(/\/?$/, '/'));
  const names = new Set<string>();
  for (const match of text.matchAll(/<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    const href = decodeHtmlText(match[1] ?? match[2] ?? '');
    let target: URL;
    try {
      target = new URL(href, base);
    } catch {
      continue;
    }
    if (target.origin !== base.origin) continue;
    let pathname: string;
    try {
      pathname = decodeURIComponent(target.pathname);
    } catch {
      continue;
    }
    if (!pathname.startsWith(parent)) continue;
    const rest = pathname.slice(parent.length);
    // A direct child: `name` or `name/` (a sub-folder), nothing deeper.
    if (rest === '' || rest.slice(0, -1).includes('/')) continue;
    names.add(rest);
  }
  return [...names];
}
