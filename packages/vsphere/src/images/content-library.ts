/**
 * Content libraries over the vSphere Automation REST API (`/rest`, the form vCenter 6.5+ and vcsim
 * 0.24 both serve): a small vAPI client on the vim client's dispatcher, local libraries, items as
 * core Images, imports (an OVA or OVF becomes an `ovf` item, any other file a plain item) through
 * update sessions with streamed PUSH uploads, OVF item deployment, and deletion.
 *
 * vAPI has its own session, opened with HTTP Basic credentials: the vim25 session cookie is not
 * accepted there, so a {@link VapiSession} needs the username and password itself.
 */
import { createHash } from 'node:crypto';
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  type Image,
  type ImageImportSource,
  ImageImportSourceSchema,
  InvalidSpecError,
  NameSchema,
  NotFoundError,
  ProviderApiError,
  type ResourceKind,
  TimeoutError,
} from '@hvkit/core';
import { fetch } from 'undici';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import { findDatastore } from '../transfer/datastore-files.js';
import { encodeUrlValue, requestFailure } from '../transfer/datastore-http.js';
import type { VsphereContext } from '../vsphere-context.js';
import { openOvfPackage, openUrl, ovfFileReferences, type PackageFile } from './ovf-package.js';

/** Credentials of the vAPI session (vCenter SSO user). Never logged nor put in errors. */
export interface VapiCredentials {
  username: string;
  password: string;
}

/** Options of one vAPI request. */
export interface VapiRequest {
  /** JSON body. */
  body?: unknown;
  /** Query parameters (encoded here). */
  query?: Readonly<Record<string, string>> | undefined;
  signal?: AbortSignal | undefined;
  /** Kind and id a 404 names. Default `other` and the path. */
  notFound?: { resource: ResourceKind; id: string } | undefined;
}

const SESSION_HEADER = 'vmware-api-session-id';

interface VapiErrorBody {
  type?: unknown;
  value?: { messages?: { default_message?: unknown }[] | string[]; error_type?: unknown };
}

/**
 * A vAPI REST session: logs in (Basic auth) on first use, sends `vmware-api-session-id`, logs in
 * again once when a request answers 401 (an expired session), logs out on {@link close}.
 */
export class VapiSession {
  readonly ctx: VsphereContext;
  /** `https://vcenter/rest`. */
  readonly baseUrl: URL;
  readonly #credentials: VapiCredentials;
  #sessionId: string | undefined;
  #login: Promise<string> | undefined;

  /**
   * @param restUrl Base of the REST API; default `/rest` on the vim client's host.
   * @throws InvalidSpecError for empty credentials (before any I/O).
   */
  constructor(ctx: VsphereContext, credentials: VapiCredentials, restUrl?: string) {
    if (credentials.username === '' || credentials.password === '') {
      throw new InvalidSpecError(
        [
          {
            path: 'credentials',
            message: 'username and password must not be empty',
            code: 'invalid_credentials',
          },
        ],
        { subject: 'vAPI session' },
      );
    }
    this.ctx = ctx;
    this.#credentials = credentials;
    this.baseUrl = new URL(restUrl ?? '/rest', ctx.client.url);
  }

  #url(path: string, query?: Readonly<Record<string, string>>): URL {
    const search = Object.entries(query ?? {})
      .map(([key, value]) => `${encodeUrlValue(key)}=${encodeUrlValue(value)}`)
      .join('&');
    const base = this.baseUrl.href.replace(/\/$/, '');
    return new URL(
      `${base}${path}${search === '' ? '' : `${path.includes('?') ? '&' : '?'}${search}`}`,
    );
  }

  async #send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
    safe: boolean,
  ) {
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal,
        dispatcher: this.ctx.client.dispatcher,
      });
    } catch (error) {
      throw requestFailure(this.ctx, error, `vAPI ${method} ${url.pathname}`, safe, signal);
    }
  }

  /** The session id, logging in when there is none (single-flight). */
  async sessionId(signal?: AbortSignal): Promise<string> {
    if (this.#sessionId !== undefined) return this.#sessionId;
    if (!this.#login) {
      const pending = this.#doLogin(signal).then((id) => {
        this.#sessionId = id;
        return id;
      });
      this.#login = pending;
      const clear = () => {
        if (this.#login === pending) this.#login = undefined;
      };
      pending.then(clear, clear);
    }
    return this.#login;
  }

  async #doLogin(signal?: AbortSignal): Promise<string> {
    const basic = Buffer.from(
      `${this.#credentials.username}:${this.#credentials.password}`,
    ).toString('base64');
    const url = this.#url('/com/vmware/cis/session');
    const response = await this.#send(
      'POST',
      url,
      { authorization: `Basic ${basic}` },
      undefined,
      signal,
      false,
    );
    const text = await response.text();
    if (response.status === 401 || response.status === 403) {
      throw new AuthenticationError(
        `vAPI login refused (HTTP ${response.status})`,
        this.ctx.client.faultContext,
      );
    }
    if (response.status !== 200 && response.status !== 201) {
      throw new ProviderApiError(`vAPI login answered HTTP ${response.status}`, {
        ...this.ctx.client.faultContext,
        status: response.status,
      });
    }
    const value = (JSON.parse(text) as { value?: unknown }).value;
    if (typeof value !== 'string' || value === '') {
      throw new ProviderApiError(
        'vAPI login answered without a session id',
        this.ctx.client.faultContext,
      );
    }
    return value;
  }

  /**
   * Sends one request and returns the answer's `value` (undefined for an empty answer).
   *
   * @throws NotFoundError for 404 or `…errors.not_found`; ConflictError (`already-exists`) for
   *   `…errors.already_exists`; AuthenticationError for 401 after one fresh login, or 403;
   *   ProviderApiError for other statuses (with the vAPI error type as `fault`); TransportError.
   */
  async request<T = unknown>(method: string, path: string, options: VapiRequest = {}): Promise<T> {
    const url = this.#url(path, options.query);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const safe = method === 'GET';
    for (let attempt = 0; ; attempt += 1) {
      const id = await this.sessionId(options.signal);
      const headers: Record<string, string> = { [SESSION_HEADER]: id, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await this.#send(method, url, headers, body, options.signal, safe);
      const text = await response.text();
      if (response.status === 401 && attempt === 0) {
        // Expired or unknown session: vCenter refused before doing anything, so repeating is safe.
        if (this.#sessionId === id) this.#sessionId = undefined;
        continue;
      }
      if (response.status >= 200 && response.status < 300) {
        if (text.trim() === '') return undefined as T;
        try {
          return (JSON.parse(text) as { value?: T }).value as T;
        } catch (error) {
          throw new ProviderApiError(
            `vAPI ${method} ${url.pathname} answered HTTP ${response.status} with a body that is not JSON`,
            {
              ...this.ctx.client.faultContext,
              status: response.status,
              cause: error,
            },
          );
        }
      }
      throw this.#error(method, url, response.status, text, options.notFound);
    }
  }

  #error(
    method: string,
    url: URL,
    status: number,
    text: string,
    notFound: VapiRequest['notFound'],
  ): HvkitError {
    const where = `vAPI ${method} ${url.pathname}`;
    const options = this.ctx.client.faultContext;
    let parsed: VapiErrorBody = {};
    try {
      parsed = JSON.parse(text) as VapiErrorBody;
    } catch {
      // not JSON (a plain 404 page)
    }
    const type = typeof parsed.type === 'string' ? parsed.type : '';
    const messages = (parsed.value?.messages ?? [])
      .map((message) =>
        typeof message === 'string' ? message : String(message.default_message ?? ''),
      )
      .filter((message) => message !== '');
    const detail = `${type === '' ? `HTTP ${status}` : type}${messages.length > 0 ? `: ${messages.join('; ')}` : ''}`;
    if (status === 404 || type.endsWith('.not_found')) {
      return new NotFoundError(
        notFound?.resource ?? 'other',
        notFound?.id ?? url.pathname,
        `${where}: not found (${detail})`,
        options,
      );
    }
    if (type.endsWith('.already_exists')) {
      return new ConflictError('already-exists', `${where}: ${detail}`, options);
    }
    if (status === 401 || status === 403 || type.endsWith('.unauthenticated')) {
      return new AuthenticationError(`${where}: refused (${detail})`, options);
    }
    return new ProviderApiError(`${where}: ${detail}`, {
      ...options,
      status,
      ...(type === '' ? {} : { fault: type }),
    });
  }

  /** Logs out (best effort). Safe to call twice; the vim client stays open. */
  async close(): Promise<void> {
    const id = this.#sessionId;
    this.#sessionId = undefined;
    if (id === undefined) return;
    await this.#send(
      'DELETE',
      this.#url('/com/vmware/cis/session'),
      { [SESSION_HEADER]: id },
      undefined,
      undefined,
      false,
    )
      .then((response) => response.body?.cancel())
      .catch(() => undefined);
  }

  /** Streams `body` to an upload endpoint the server gave (PUT, session header, exact length). */
  async upload(
    uri: string,
    file: PackageFile,
    onChunk: (chunk: Uint8Array) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const url = new URL(uri);
    const where = `vAPI upload of ${file.name}`;
    let sent = 0;
    let sizeError: InvalidSpecError | undefined;
    async function* body(): AsyncGenerator<Uint8Array> {
      for await (const chunk of file.body) {
        sent += chunk.byteLength;
        if (sent > file.sizeBytes) {
          sizeError = sizeMismatch(file, `more than ${file.sizeBytes}`);
          throw sizeError;
        }
        onChunk(chunk);
        yield chunk;
      }
      if (sent !== file.sizeBytes) {
        sizeError = sizeMismatch(file, String(sent));
        throw sizeError;
      }
    }
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(url, {
        method: 'PUT',
        headers: {
          [SESSION_HEADER]: await this.sessionId(signal),
          'content-type': 'application/octet-stream',
          'content-length': String(file.sizeBytes),
        },
        body: body(),
        duplex: 'half',
        signal,
        dispatcher: this.ctx.client.dispatcher,
      });
    } catch (error) {
      if (sizeError) throw sizeError;
      throw requestFailure(this.ctx, error, where, false, signal);
    }
    const text = await response.text();
    if (sizeError) throw sizeError;
    if (response.status < 200 || response.status > 299) {
      throw this.#error('PUT', url, response.status, text, { resource: 'image', id: file.name });
    }
  }
}

function sizeMismatch(file: PackageFile, count: string): InvalidSpecError {
  return new InvalidSpecError(
    [
      {
        path: 'source',
        message: `${file.name} gave ${count} bytes, not the ${file.sizeBytes} announced`,
        code: 'size_mismatch',
      },
    ],
    { subject: 'library upload' },
  );
}

/** A content library item as the REST API describes it. */
export interface LibraryItemInfo {
  id: string;
  library_id: string;
  name: string;
  type?: string;
  size?: number;
  creation_time?: string;
}

/** The REST path of a library item. */
export function itemPath(id: string): string {
  return `/com/vmware/content/library/item/id:${encodeUrlValue(id)}`;
}

/**
 * Finds a local library by name, or creates it on `datastore` (name or moref value; default the
 * accessible datastore with the most free space). Returns its id.
 *
 * @throws InvalidSpecError for a bad name; NotFoundError (`storage`) for an unknown datastore.
 */
export async function ensureLibrary(
  vapi: VapiSession,
  options: { name: string; datastore?: string | undefined; signal?: AbortSignal | undefined },
): Promise<string> {
  const name = NameSchema.safeParse(options.name);
  if (!name.success)
    throw InvalidSpecError.fromZod(name.error, { subject: 'library', pathPrefix: ['name'] });
  const { signal } = options;
  const found = await vapi.request<string[]>('POST', '/com/vmware/content/library', {
    query: { '~action': 'find' },
    body: { spec: { name: name.data, type: 'LOCAL' } },
    signal,
  });
  if (found?.[0]) return found[0];
  const datastore = await findDatastore(vapi.ctx, options.datastore, { signal });
  return vapi.request<string>('POST', '/com/vmware/content/local-library', {
    body: {
      create_spec: {
        name: name.data,
        type: 'LOCAL',
        storage_backings: [{ type: 'DATASTORE', datastore_id: datastore.ref.value }],
      },
    },
    signal,
  });
}

/**
 * Deletes a library and its items.
 *
 * @throws NotFoundError (`other`) when it does not exist.
 */
export async function deleteLibrary(
  vapi: VapiSession,
  libraryId: string,
  signal?: AbortSignal,
): Promise<void> {
  await vapi.request(
    'DELETE',
    `/com/vmware/content/local-library/id:${encodeUrlValue(libraryId)}`,
    {
      signal,
      notFound: { resource: 'other', id: libraryId },
    },
  );
}

/**
 * Core format of an item's content: an `ovf` item holds VMDKs; any other file is reported as
 * `raw` (its bytes as they are; an ISO is not a disk format core has a name for).
 */
function formatOfItem(type: string | undefined): Image['format'] {
  return type === 'ovf' ? 'vmdk' : 'raw';
}

/**
 * A library item as a core Image: id = item id, `source` = `{ kind: 'content-library', library,
 * item }` (ids), `sizeBytes` 0 when the server reports no size (vcsim).
 */
export function imageOfItem(item: LibraryItemInfo, now: () => number): Image {
  return {
    id: item.id,
    name: item.name,
    format: formatOfItem(item.type),
    sizeBytes: typeof item.size === 'number' && item.size >= 0 ? item.size : 0,
    source: { kind: 'content-library', library: item.library_id, item: item.id },
    cached: false,
    createdAt: item.creation_time ?? new Date(now()).toISOString(),
  };
}

/**
 * Lists the items of one library (or of every library) as Images: id = item id, `source` =
 * `{ kind: 'content-library', library, item }`.
 *
 * @throws NotFoundError (`other`) for an unknown library.
 */
export async function listLibraryImages(
  vapi: VapiSession,
  options: { library?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<Image[]> {
  const { signal } = options;
  const libraries =
    options.library === undefined
      ? ((await vapi.request<string[]>('GET', '/com/vmware/content/library', { signal })) ?? [])
      : [options.library];
  const images: Image[] = [];
  for (const library of libraries) {
    const ids =
      (await vapi.request<string[]>('GET', '/com/vmware/content/library/item', {
        query: { library_id: library },
        signal,
        notFound: { resource: 'other', id: library },
      })) ?? [];
    for (const id of ids) {
      try {
        const item = await vapi.request<LibraryItemInfo>('GET', itemPath(id), { signal });
        images.push(
          imageOfItem({ ...item, library_id: item.library_id ?? library }, () =>
            vapi.ctx.clock.now(),
          ),
        );
      } catch (error) {
        // Deleted between the listing and the read: not an error of the listing.
        if (!NotFoundError.isInstance(error)) throw error;
      }
    }
  }
  return images;
}

/** Options of {@link importToLibrary}. */
export interface LibraryImportOptions {
  /** Item name; unique in the library. */
  name: string;
  /** Library id (see {@link ensureLibrary}). */
  library: string;
  /** Called with 0–100 as the files upload. */
  onProgress?: ((percent: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** How long a completed update session may take to settle on vCenter. */
const SESSION_SETTLE_MS = 10 * 60_000;

/**
 * Imports into a new library item: an OVA (unpacked as it streams) or an OVF with its files
 * becomes an `ovf` item (deployable with {@link deployLibraryItem}); a `url` source becomes a
 * one-file item named after the URL's last segment, its SHA-256 computed and checked against
 * `source.sha256`. On any failure the update session is cancelled and the item deleted.
 *
 * @returns the Image (`sha256` only for a one-file item).
 * @throws InvalidSpecError for a bad source or name (before any I/O), a size or checksum mismatch;
 *   ConflictError (`already-exists`) when the library has an item of that name; NotFoundError for
 *   an unknown library or a missing source; TimeoutError when vCenter does not settle the upload.
 */
export async function importToLibrary(
  vapi: VapiSession,
  source: ImageImportSource,
  options: LibraryImportOptions,
): Promise<Image> {
  const parsed = ImageImportSourceSchema.safeParse(source);
  if (!parsed.success) {
    throw InvalidSpecError.fromZod(parsed.error, {
      subject: 'image source',
      pathPrefix: ['source'],
    });
  }
  const input = parsed.data;
  if (input.kind === 'content-library') {
    throw new InvalidSpecError(
      [{ path: 'source.kind', message: 'is already a library item', code: 'invalid_source' }],
      { subject: 'image source' },
    );
  }
  const name = NameSchema.safeParse(options.name);
  if (!name.success)
    throw InvalidSpecError.fromZod(name.error, { subject: 'image options', pathPrefix: ['name'] });
  const { signal } = options;
  const ctx = vapi.ctx;

  // Open the source first: a missing file must not leave an empty item behind.
  let files: AsyncIterable<PackageFile>;
  let totalBytes = 0;
  let close = async () => {};
  /** Files the descriptor references, all of which must arrive. */
  let expectedFiles: string[] = [];
  const oneFile = input.kind === 'url';
  if (input.kind === 'url') {
    const url = new URL(input.url);
    const opened = await openUrl(ctx, url, signal);
    if (opened.sizeBytes === undefined) {
      throw new InvalidSpecError(
        [
          {
            path: 'source.url',
            message: 'the server did not give the size (Content-Length)',
            code: 'unknown_size',
          },
        ],
        { subject: 'image source' },
      );
    }
    const fileName = decodeURIComponent(url.pathname.split('/').pop() ?? '') || 'image';
    totalBytes = opened.sizeBytes;
    files = (async function* () {
      yield { name: fileName, sizeBytes: opened.sizeBytes ?? 0, body: opened.stream };
    })();
  } else {
    const pkg = await openOvfPackage(ctx, input, signal);
    close = () => pkg.close();
    const references = ovfFileReferences(pkg.descriptor);
    const descriptorBytes = new TextEncoder().encode(pkg.descriptor);
    totalBytes =
      descriptorBytes.byteLength + references.reduce((sum, file) => sum + (file.sizeBytes ?? 0), 0);
    const wanted = new Set(references.map((file) => file.href));
    expectedFiles = [...wanted];
    files = (async function* () {
      yield {
        name: pkg.descriptorName.split('/').pop() ?? 'descriptor.ovf',
        sizeBytes: descriptorBytes.byteLength,
        body: (async function* () {
          yield descriptorBytes;
        })(),
      };
      for await (const file of pkg.files([...wanted])) {
        if (wanted.has(file.name)) yield file;
      }
    })();
  }

  const itemId = await vapi
    .request<string>('POST', '/com/vmware/content/library/item', {
      body: {
        create_spec: { library_id: options.library, name: name.data, type: oneFile ? '' : 'ovf' },
      },
      signal,
      notFound: { resource: 'other', id: options.library },
    })
    .catch(async (error: unknown) => {
      await close();
      throw error;
    });
  let sessionId: string | undefined;
  try {
    sessionId = await vapi.request<string>(
      'POST',
      '/com/vmware/content/library/item/update-session',
      {
        body: { create_spec: { library_item_id: itemId } },
        signal,
      },
    );
    const sessionPath = `/com/vmware/content/library/item/update-session/id:${encodeUrlValue(sessionId)}`;
    const hash = createHash('sha256');
    let doneBytes = 0;
    let lastPercent = -1;
    const onChunk = (chunk: Uint8Array) => {
      if (oneFile) hash.update(chunk);
      doneBytes += chunk.byteLength;
      const percent = totalBytes > 0 ? Math.min(99, Math.floor((doneBytes * 100) / totalBytes)) : 0;
      if (percent !== lastPercent) {
        lastPercent = percent;
        options.onProgress?.(percent);
      }
    };
    let uploadedBytes = 0;
    const uploadedNames = new Set<string>();
    for await (const file of files) {
      const added = await vapi.request<{ upload_endpoint?: { uri?: string } }>(
        'POST',
        `/com/vmware/content/library/item/updatesession/file/id:${encodeUrlValue(sessionId)}`,
        {
          query: { '~action': 'add' },
          body: { file_spec: { name: file.name, source_type: 'PUSH', size: file.sizeBytes } },
          signal,
        },
      );
      const uri = added?.upload_endpoint?.uri;
      if (!uri)
        throw new ProviderApiError(
          `vAPI gave no upload endpoint for ${file.name}`,
          ctx.client.faultContext,
        );
      await vapi.upload(uri, file, onChunk, signal);
      uploadedBytes += file.sizeBytes;
      uploadedNames.add(file.name);
    }
    const missing = expectedFiles.filter((fileName) => !uploadedNames.has(fileName));
    if (missing.length > 0) {
      throw new InvalidSpecError(
        [
          {
            path: 'source',
            message: `the package lacks ${missing.join(', ')}`,
            code: 'missing_file',
          },
        ],
        { subject: 'library import' },
      );
    }
    const sha256 = oneFile ? hash.digest('hex') : undefined;
    if (input.kind === 'url' && input.sha256 !== undefined && sha256 !== input.sha256) {
      throw new InvalidSpecError(
        [
          {
            path: 'source.sha256',
            message: `the received bytes hash to ${sha256}, not ${input.sha256}`,
            code: 'checksum_mismatch',
          },
        ],
        { subject: 'library import' },
      );
    }
    await vapi.request('POST', sessionPath, { query: { '~action': 'complete' }, signal });
    await settle(vapi, sessionPath, signal);
    options.onProgress?.(100);
    const item = await vapi.request<LibraryItemInfo>('GET', itemPath(itemId), { signal });
    const image = imageOfItem({ ...item, library_id: item.library_id ?? options.library }, () =>
      ctx.clock.now(),
    );
    // vcsim reports no size; what was uploaded is the size of the item.
    if (image.sizeBytes === 0) image.sizeBytes = uploadedBytes;
    image.source = input;
    if (sha256 !== undefined) image.sha256 = sha256;
    return image;
  } catch (error) {
    if (sessionId !== undefined) {
      await vapi
        .request(
          'POST',
          `/com/vmware/content/library/item/update-session/id:${encodeUrlValue(sessionId)}`,
          {
            query: { '~action': 'cancel' },
          },
        )
        .catch(() => undefined);
    }
    await vapi.request('DELETE', itemPath(itemId)).catch((cleanup: unknown) =>
      ctx.logger.warn('vsphere: could not delete a failed library item', {
        item: itemId,
        error: String(cleanup),
      }),
    );
    throw error;
  } finally {
    await close();
  }
}

/** Waits until a completed update session is DONE (vCenter finishes it in the background). */
async function settle(vapi: VapiSession, sessionPath: string, signal?: AbortSignal): Promise<void> {
  const started = vapi.ctx.clock.now();
  let delayMs = 200;
  for (;;) {
    let state: string | undefined;
    let message = '';
    try {
      const session = await vapi.request<{
        state?: string;
        error_message?: { default_message?: string };
      }>('GET', sessionPath, { signal });
      state = session?.state;
      message = session?.error_message?.default_message ?? '';
    } catch (error) {
      // A server that already dropped the finished session has nothing left to wait for.
      if (NotFoundError.isInstance(error)) return;
      throw error;
    }
    if (state === undefined || state === 'DONE') return;
    if (state === 'ERROR' || state === 'CANCELED') {
      throw new ProviderApiError(
        `vAPI library upload ended ${state}${message === '' ? '' : `: ${message}`}`,
        vapi.ctx.client.faultContext,
      );
    }
    if (vapi.ctx.clock.now() - started > SESSION_SETTLE_MS) {
      throw new TimeoutError(
        'vAPI library upload did not settle',
        SESSION_SETTLE_MS,
        vapi.ctx.client.faultContext,
      );
    }
    await vapi.ctx.clock.sleep(delayMs, signal);
    delayMs = Math.min(delayMs * 2, 5_000);
  }
}

/**
 * Deletes a library item (an image).
 *
 * @throws NotFoundError (`image`) when it does not exist.
 */
export async function deleteLibraryItem(
  vapi: VapiSession,
  itemId: string,
  signal?: AbortSignal,
): Promise<void> {
  await vapi.request('DELETE', itemPath(itemId), {
    signal,
    notFound: { resource: 'image', id: itemId },
  });
}

/** Where {@link deployLibraryItem} puts the VM. */
export interface LibraryDeployTarget {
  /** VM name. */
  name: string;
  /** Resource pool moref value. */
  pool: string;
  /** VM folder moref value; default the datacenter's. */
  folder?: string | undefined;
  /** Datastore moref value; default vCenter's choice. */
  datastore?: string | undefined;
  /** Host moref value; needed by vCenter when the pool is not in a DRS cluster. */
  host?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Deploys an `ovf` library item as a new VM (`ovf/library-item?~action=deploy`, EULAs accepted)
 * and returns the VM.
 *
 * @throws InvalidSpecError for a bad name or empty pool (before any I/O); NotFoundError (`image`)
 *   for an unknown item; ProviderApiError when vCenter reports the deployment failed.
 */
export async function deployLibraryItem(
  vapi: VapiSession,
  itemId: string,
  target: LibraryDeployTarget,
): Promise<ManagedObjectReference> {
  const name = NameSchema.safeParse(target.name);
  if (!name.success)
    throw InvalidSpecError.fromZod(name.error, { subject: 'deployment', pathPrefix: ['name'] });
  if (target.pool === '') {
    throw new InvalidSpecError(
      [{ path: 'pool', message: 'must name a resource pool', code: 'invalid_pool' }],
      {
        subject: 'deployment',
      },
    );
  }
  const result = await vapi.request<{
    succeeded?: boolean;
    resource_id?: { type?: string; id?: string };
    error?: { errors?: { message?: { default_message?: string } }[] };
  }>('POST', `/com/vmware/vcenter/ovf/library-item/id:${encodeUrlValue(itemId)}`, {
    query: { '~action': 'deploy' },
    body: {
      deployment_spec: {
        name: name.data,
        accept_all_EULA: true,
        ...(target.datastore ? { default_datastore_id: target.datastore } : {}),
      },
      target: {
        resource_pool_id: target.pool,
        ...(target.folder ? { folder_id: target.folder } : {}),
        ...(target.host ? { host_id: target.host } : {}),
      },
    },
    signal: target.signal,
    notFound: { resource: 'image', id: itemId },
  });
  const id = result?.resource_id?.id;
  if (!result?.succeeded || !id) {
    const messages = (result?.error?.errors ?? [])
      .map((error) => error.message?.default_message ?? '')
      .filter((message) => message !== '');
    throw new ProviderApiError(
      `vAPI deployment of library item ${itemId} failed${messages.length > 0 ? `: ${messages.join('; ')}` : ''}`,
      vapi.ctx.client.faultContext,
    );
  }
  return { type: result.resource_id?.type ?? 'VirtualMachine', value: id };
}
