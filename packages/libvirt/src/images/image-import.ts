/**
 * `importImage` of a URL (cloud images): the CLIENT fetches the URL (the libvirt host may have
 * no route to it) and streams the bytes over the SSH connection into a pool volume, with a
 * record volume beside it (see image-record.ts).
 *
 * Two paths:
 * - **direct**: no conversion and a Content-Length: the body goes straight into `vol-upload`.
 * - **staged**: a conversion (`convertTo`, or a vmdk/vhdx source, which is stored as qcow2), or no
 *   Content-Length (a volume needs its size up front): the body goes by SFTP into a `mktemp -d`
 *   directory of the SSH user on the host, `qemu-img convert` runs there (pool files are root
 *   0600, so qemu-img cannot work in the pool), and virsh uploads the result with
 *   `vol-upload --file <staged file>` (virsh runs as the SSH user, who can read its own file).
 *   The directory is removed in every case: success, failure, abort.
 *
 * Caching: a URL names a resource, not content, so the same URL is not taken as the same bytes.
 * The cache key is a SHA-256 over the request (full URL, declared format, `convertTo`) in the
 * target pool; the image's own name is not part of it (a second import under another name finds
 * the first). A stored image with that key is reused (`cached: true`) only when the content is
 * known to be the same:
 * 1. the source gives `sha256` and the stored image was downloaded with that SHA-256: nothing is
 *    requested at all;
 * 2. else the URL is asked again with `If-None-Match` / `If-Modified-Since` from the stored
 *    response's ETag / Last-Modified: `304 Not Modified` (or a 200 with the same strong ETag,
 *    whose body is not read) reuses the image, nothing is transferred; a 200 is new content and
 *    is imported from that same response;
 * 3. a server without validators gives no way to know: the bytes are fetched and imported, and
 *    when their SHA-256 equals the stored image's download the new copy is deleted and the
 *    stored image returned with `cached: true` (bytes were moved, but no duplicate is kept).
 */
import { createHash } from 'node:crypto';
import {
  ConflictError,
  type DiskFormat,
  type Image,
  type ImageImportSource,
  type ImportImageOptions,
  InvalidSpecError,
  NotFoundError,
  type ParsedImageImport,
  ProviderApiError,
  parseImageImport,
  TransportError,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { createVolume, deleteVolume, uploadVolume, volumeInfo } from '../storage/storage.js';
import type { Virsh } from '../virsh/virsh.js';
import { checkImageHeader, HEADER_BYTES } from './disk-format.js';
import { imageOf, listStoredImages, type StoredImage, writeImageRecord } from './image-catalog.js';
import {
  type ImageRecord,
  RECORD_VERSION,
  recordedUrl,
  recordVolumeName,
  volumeNameFor,
} from './image-record.js';

/** What the staged path needs of the SSH connection (`@hvkit/ssh`'s SshConnection). */
export type StagingTransport = Pick<SshConnection, 'exec' | 'sftp'>;

/** Options of {@link importImage}. */
export interface ImportImageCallOptions {
  /** Pool used when `options.storage` names none. */
  defaultPool: string;
  signal?: AbortSignal | undefined;
  /** Bytes received from the URL so far, and its Content-Length when the server sent one. */
  onProgress?: ((bytesDone: number, bytesTotal?: number) => void) | undefined;
  /** The fetch to use (tests). Default the global fetch. */
  fetch?: typeof fetch | undefined;
  /** Creation time source (tests). Default `Date.now`. */
  now?: (() => number) | undefined;
}

type UrlSource = Extract<ImageImportSource, { kind: 'url' }>;
type ParsedOptions = ParsedImageImport['options'];

/** What an import did, for tests and logs: which path and whether the cache answered. */
export interface ImportOutcome {
  image: Image;
  /** `cache-sha256`, `cache-not-modified`, `cache-same-bytes` or the transfer path taken. */
  how: 'cache-sha256' | 'cache-not-modified' | 'cache-same-bytes' | 'direct' | 'staged';
}

/**
 * The request's cache key (see the module comment): SHA-256 of the full URL (query included:
 * two presigned URLs are two requests), the declared format and `convertTo`.
 */
export function importCacheKey(source: UrlSource, convertTo: DiskFormat | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify([source.url, source.format ?? null, convertTo ?? null]))
    .digest('hex');
}

function invalid(path: string, message: string, code = 'invalid'): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code }], { subject: 'image import' });
}

/** Checks source and options before any I/O. */
function parseInput(
  source: ImageImportSource,
  options: ImportImageOptions,
): { source: UrlSource; options: ParsedOptions } {
  const parsed = parseImageImport(source, options);
  const input = parsed.source;
  if (input.kind === 'ova' || input.kind === 'ovf') {
    throw new UnsupportedCapabilityError(
      'images.ovaImport',
      'libvirt imports disk images by URL; OVA/OVF packages are not supported',
      { provider: 'libvirt' },
    );
  }
  if (input.kind === 'content-library') {
    throw new UnsupportedCapabilityError(
      'images.contentLibrary',
      'libvirt has no content libraries',
      { provider: 'libvirt' },
    );
  }
  if (parsed.options.convertTo === 'vhdx') {
    // libvirt 9.0: `vol-create-as … --format vhdx` → `unknown volume format type vhdx`.
    throw invalid(
      'convertTo',
      'libvirt stores images as qcow2, raw or vmdk, not vhdx',
      'unsupported_format',
    );
  }
  return { source: input, options: parsed.options };
}

/** The stored format for a source format and `convertTo`: vmdk and vhdx are converted to qcow2. */
function targetFormatOf(
  format: DiskFormat,
  convertTo: DiskFormat | undefined,
): 'qcow2' | 'raw' | 'vmdk' {
  const target = convertTo ?? (format === 'vmdk' || format === 'vhdx' ? 'qcow2' : format);
  if (target === 'vhdx')
    throw invalid('convertTo', 'libvirt cannot store vhdx', 'unsupported_format');
  return target;
}

// ---- HTTP ------------------------------------------------------------------------------------

/** Validators a re-import asks with. */
interface Validators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

function validatorsOf(response: Response): Validators | undefined {
  const etag = response.headers.get('etag') ?? undefined;
  const lastModified = response.headers.get('last-modified') ?? undefined;
  if (etag === undefined && lastModified === undefined) return undefined;
  return { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
}

/** GETs the URL (with conditional headers when `validators` are given). */
async function request(
  source: UrlSource,
  validators: Validators | undefined,
  call: ImportImageCallOptions,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (validators?.etag) headers['if-none-match'] = validators.etag;
  if (validators?.lastModified) headers['if-modified-since'] = validators.lastModified;
  let response: Response;
  try {
    response = await (call.fetch ?? fetch)(source.url, { headers, signal: call.signal });
  } catch (error) {
    call.signal?.throwIfAborted();
    throw new TransportError(`fetching ${recordedUrl(source.url)} failed: ${String(error)}`, {
      provider: 'libvirt',
      cause: error,
      retryable: true,
    });
  }
  if (response.status === 304 && validators) return response;
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const url = recordedUrl(source.url);
    if (response.status === 404 || response.status === 410) {
      throw new NotFoundError('image', url, `image URL ${url} answered ${response.status}`, {
        provider: 'libvirt',
      });
    }
    throw new ProviderApiError(`image URL ${url} answered HTTP ${response.status}`, {
      provider: 'libvirt',
      status: response.status,
      fault: 'http-status',
    });
  }
  return response;
}

/**
 * The response body as chunks; leaving early cancels it. The Response is kept referenced by the
 * generator while the body is read (undici may cancel the body of a collected Response).
 */
async function* bodyOf(response: Response): AsyncGenerator<Uint8Array> {
  const body = response.body;
  if (!body) return;
  const reader = body.getReader();
  let done = false;
  try {
    while (true) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Splits a stream into its first {@link HEADER_BYTES} bytes (fewer when shorter) and the whole
 * stream again (header included), reading only what the header needs.
 */
async function peekHeader(
  source: AsyncIterable<Uint8Array>,
): Promise<{ header: Uint8Array; stream: AsyncGenerator<Uint8Array> }> {
  const iterator = source[Symbol.asyncIterator]();
  const held: Uint8Array[] = [];
  let heldBytes = 0;
  let ended = false;
  while (heldBytes < HEADER_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    held.push(next.value);
    heldBytes += next.value.byteLength;
  }
  const first = Buffer.concat(held);
  async function* stream(): AsyncGenerator<Uint8Array> {
    let finished = ended;
    try {
      if (first.byteLength > 0) yield first;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          return;
        }
        yield next.value;
      }
    } finally {
      if (!finished) await iterator.return?.();
    }
  }
  return { header: first.subarray(0, HEADER_BYTES), stream: stream() };
}

/** Counts (progress) and hashes; at the end checks the declared SHA-256 of the source. */
async function* hashing(
  source: AsyncIterable<Uint8Array>,
  expected: string | undefined,
  onBytes: (bytes: number) => void,
  onDone: (sha256: string, bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.byteLength;
    hash.update(chunk);
    onBytes(bytes);
    yield chunk;
  }
  const sha256 = hash.digest('hex');
  if (expected !== undefined && sha256 !== expected) {
    throw invalid(
      'source.sha256',
      `the downloaded bytes hash to ${sha256}, not ${expected}`,
      'sha256',
    );
  }
  onDone(sha256, bytes);
}

// ---- staging on the host ---------------------------------------------------------------------

async function execChecked(
  ssh: StagingTransport,
  argv: string[],
  signal: AbortSignal | undefined,
): Promise<string> {
  const result = await ssh.exec(argv, { signal });
  if (result.code !== 0) {
    const stderr = result.stderr.toString('utf8').trim().slice(0, 2000);
    throw new ProviderApiError(
      `${argv[0]} on the libvirt host failed (exit ${result.code}): ${stderr}`,
      {
        provider: 'libvirt',
        fault: `${argv[0]}-failed`,
      },
    );
  }
  return result.stdout.toString('utf8');
}

/** Removes a staging directory; never throws (logged by nobody: it is best effort after a failure). */
async function removeStaging(ssh: StagingTransport, dir: string): Promise<void> {
  await ssh.exec(['rm', '-rf', '--', dir]).catch(() => {});
}

interface Stored {
  volumeName: string;
  pool: string;
  format: 'qcow2' | 'raw' | 'vmdk';
  sha256: string;
  sourceSha256: string;
}

/**
 * Fails early when the volume name is taken, so a staged import does not download and convert
 * for nothing (`createVolume` still guards against a volume made meanwhile).
 *
 * @throws ConflictError (`already-exists`); NotFoundError (`storage`) for an unknown pool.
 */
async function assertVolumeFree(
  virsh: Virsh,
  pool: string,
  volume: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const [pooled, dump] = await virsh.runMany(
    [
      ['pool-info', '--pool', pool],
      ['vol-dumpxml', '--pool', pool, '--vol', volume],
    ],
    { idempotent: true, signal },
  );
  if (pooled && !pooled.ok) throw pooled.error;
  if (dump?.ok) {
    throw new ConflictError(
      'already-exists',
      `storage volume '${volume}' exists already in pool ${pool}`,
      {
        provider: 'libvirt',
      },
    );
  }
  if (dump && !NotFoundError.isInstance(dump.error)) throw dump.error;
}

/** The staged path (see the module comment). */
async function importStaged(
  virsh: Virsh,
  ssh: StagingTransport,
  body: AsyncIterable<Uint8Array>,
  plan: {
    pool: string;
    volumeName: string;
    sourceFormat: DiskFormat;
    target: 'qcow2' | 'raw' | 'vmdk';
    expectedSha256: string | undefined;
  },
  call: ImportImageCallOptions,
  total: number | undefined,
): Promise<Stored> {
  const signal = call.signal;
  await assertVolumeFree(virsh, plan.pool, plan.volumeName, signal);
  // Without the signal: an abort during mktemp could leave a directory whose name we never
  // learnt. It returns at once; the abort is honoured right after.
  const dir = (
    await execChecked(ssh, ['mktemp', '-d', '-t', 'hvkit-image.XXXXXXXX'], undefined)
  ).trim();
  if (!dir.startsWith('/')) {
    throw new ProviderApiError(`mktemp -d printed ${JSON.stringify(dir)}`, { provider: 'libvirt' });
  }
  let created = false;
  try {
    signal?.throwIfAborted();
    let sourceSha256 = '';
    const sourceFile = `${dir}/source`;
    await ssh.sftp().upload(
      sourceFile,
      hashing(
        body,
        plan.expectedSha256,
        (bytes) => call.onProgress?.(bytes, total),
        (sha256) => {
          sourceSha256 = sha256;
        },
      ),
      { signal },
    );
    let file = sourceFile;
    if (plan.target !== plan.sourceFormat) {
      file = `${dir}/converted`;
      // -f always given: never let qemu-img probe a downloaded file's format.
      await execChecked(
        ssh,
        ['qemu-img', 'convert', '-q', '-f', plan.sourceFormat, '-O', plan.target, sourceFile, file],
        signal,
      );
      await execChecked(ssh, ['rm', '-f', '--', sourceFile], signal);
    }
    const sizeBytes = Number(
      (await execChecked(ssh, ['stat', '-c', '%s', '--', file], signal)).trim(),
    );
    const sha256 =
      file === sourceFile
        ? sourceSha256
        : (/^([0-9a-f]{64})\s/.exec(
            await execChecked(ssh, ['sha256sum', '--', file], signal),
          )?.[1] ?? '');
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sha256 === '') {
      throw new ProviderApiError(`the staged image ${file} could not be measured`, {
        provider: 'libvirt',
      });
    }
    await createVolume(virsh, {
      pool: plan.pool,
      name: plan.volumeName,
      sizeBytes,
      // vmdk volumes exist in libvirt 9.0 (measured); storage.ts types only what hvkit creates.
      format: plan.target as 'qcow2' | 'raw',
    });
    created = true;
    await virsh.run(['vol-upload', '--pool', plan.pool, '--vol', plan.volumeName, '--file', file], {
      signal,
    });
    return {
      volumeName: plan.volumeName,
      pool: plan.pool,
      format: plan.target,
      sha256,
      sourceSha256,
    };
  } catch (error) {
    if (created) await deleteVolume(virsh, plan.pool, plan.volumeName).catch(() => {});
    throw error;
  } finally {
    await removeStaging(ssh, dir);
  }
}

/** The direct path: the body straight into `vol-upload` (size known, no conversion). */
async function importDirect(
  virsh: Virsh,
  body: AsyncIterable<Uint8Array>,
  plan: {
    pool: string;
    volumeName: string;
    target: 'qcow2' | 'raw';
    expectedSha256: string | undefined;
  },
  call: ImportImageCallOptions,
  total: number,
): Promise<Stored> {
  let sourceSha256 = '';
  const uploaded = await uploadVolume(virsh, {
    pool: plan.pool,
    name: plan.volumeName,
    format: plan.target,
    sizeBytes: total,
    source: hashing(
      body,
      plan.expectedSha256,
      (bytes) => call.onProgress?.(bytes, total),
      (sha256) => {
        sourceSha256 = sha256;
      },
    ),
    signal: call.signal,
  });
  return {
    volumeName: plan.volumeName,
    pool: plan.pool,
    format: plan.target,
    sha256: uploaded.sha256,
    sourceSha256: sourceSha256 || uploaded.sha256,
  };
}

// ---- import ----------------------------------------------------------------------------------

/** Image volumes with this request's cache key in the pool, newest first. */
async function cachedCandidates(
  virsh: Virsh,
  pool: string,
  key: string,
  signal: AbortSignal | undefined,
): Promise<StoredImage[]> {
  const stored = await listStoredImages(virsh, { pools: [pool], signal });
  return stored
    .filter((entry) => entry.record.cacheKey === key)
    .sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
}

/** The image as a cache hit returns it: the caller's own source, `cached: true`. */
function cachedImage(stored: StoredImage, source: UrlSource): Image {
  return { ...stored.image, source, cached: true };
}

/**
 * Imports a URL image (see the module comment for paths and caching).
 *
 * @param ssh The SSH connection virsh runs over (staging directory, SFTP, qemu-img).
 * @throws InvalidSpecError (before any I/O) for a bad source or options or `convertTo: vhdx`;
 *   (after the first bytes) for a declared format the bytes do not have or a qcow2 with a backing
 *   file (`source.format`), a SHA-256 other than `source.sha256`; UnsupportedCapabilityError for
 *   OVA/OVF/content-library sources; NotFoundError (`image`) when the URL answers 404/410,
 *   (`storage`) for an unknown pool; ProviderApiError for other HTTP statuses or a failed
 *   qemu-img; ConflictError (`already-exists`) when the volume name is taken; TransportError;
 *   the abort reason. A failed or aborted import leaves no volume, record or staging directory.
 */
export async function importImage(
  virsh: Virsh,
  ssh: StagingTransport,
  source: ImageImportSource,
  options: ImportImageOptions,
  call: ImportImageCallOptions,
): Promise<Image> {
  return (await importImageWithOutcome(virsh, ssh, source, options, call)).image;
}

/** {@link importImage}, also saying how the image was obtained. */
export async function importImageWithOutcome(
  virsh: Virsh,
  ssh: StagingTransport,
  source: ImageImportSource,
  options: ImportImageOptions,
  call: ImportImageCallOptions,
): Promise<ImportOutcome> {
  const input = parseInput(source, options);
  const url = input.source;
  const convertTo = input.options.convertTo;
  const pool = input.options.storage ?? call.defaultPool;
  const signal = call.signal;
  const key = importCacheKey(url, convertTo);

  const candidates = await cachedCandidates(virsh, pool, key, signal);
  const latest = candidates[0];
  if (url.sha256 !== undefined) {
    const same = candidates.find((entry) => entry.record.sourceSha256 === url.sha256);
    if (same) return { image: cachedImage(same, url), how: 'cache-sha256' };
  }
  // With a declared SHA-256 only content with that hash may answer (above): a stored image of
  // the same URL with other bytes is no answer, however fresh the server says it is.
  const validators = url.sha256 === undefined ? latest?.record.http : undefined;
  const response = await request(url, validators, call);
  if (latest && validators) {
    const sameTag =
      validators.etag !== undefined &&
      !validators.etag.startsWith('W/') &&
      response.headers.get('etag') === validators.etag;
    if (response.status === 304 || sameTag) {
      await response.body?.cancel().catch(() => {});
      return { image: cachedImage(latest, url), how: 'cache-not-modified' };
    }
  }

  const lengthHeader = response.headers.get('content-length');
  const total =
    lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const { header, stream } = await peekHeader(bodyOf(response));
  let stored: Stored;
  let how: 'direct' | 'staged';
  try {
    const sourceFormat = checkImageHeader(header, url.format, 'source.format');
    const target = targetFormatOf(sourceFormat, convertTo);
    const volumeName = volumeNameFor(input.options.name, target);
    const plan = { pool, volumeName, expectedSha256: url.sha256 };
    if (target === sourceFormat && target !== 'vmdk' && total !== undefined && total > 0) {
      how = 'direct';
      stored = await importDirect(virsh, stream, { ...plan, target }, call, total);
    } else {
      how = 'staged';
      stored = await importStaged(
        virsh,
        ssh,
        stream,
        { ...plan, sourceFormat, target },
        call,
        total,
      );
    }
  } finally {
    // Ends the body when the import stopped before reading it all.
    await stream.return(undefined);
  }

  const record: ImageRecord = {
    hvkit: RECORD_VERSION,
    name: input.options.name,
    volume: stored.volumeName,
    format: stored.format,
    source: {
      kind: 'url',
      url: recordedUrl(url.url),
      ...(url.format ? { format: url.format } : {}),
      ...(url.sha256 ? { sha256: url.sha256 } : {}),
    },
    sha256: stored.sha256,
    createdAt: new Date((call.now ?? Date.now)()).toISOString(),
    cacheKey: key,
    sourceSha256: stored.sourceSha256,
  };
  const fresh = validatorsOf(response);
  if (fresh) record.http = fresh;
  try {
    signal?.throwIfAborted();
    await writeImageRecord(virsh, pool, record, signal);
  } catch (error) {
    await deleteVolume(virsh, pool, stored.volumeName).catch(() => {});
    throw error;
  }
  const volume = await volumeInfo(virsh, pool, stored.volumeName);

  // Case 3 of the module comment: same bytes as a stored download, known only now.
  const twin = candidates.find((entry) => entry.record.sourceSha256 === stored.sourceSha256);
  if (twin) {
    await deleteVolume(virsh, pool, stored.volumeName).catch(() => {});
    await deleteVolume(virsh, pool, recordVolumeName(stored.volumeName)).catch(() => {});
    return { image: cachedImage(twin, url), how: 'cache-same-bytes' };
  }
  return { image: { ...imageOf(record, volume), source: url }, how };
}
