/**
 * Reading an OVF package as a stream: an `.ova` (a tar: descriptor first, then the manifest, then
 * the disks, as the OVF specification orders them) or an `.ovf` with its files beside it, from a
 * `file:` or http(s) URL. Only the descriptor and the manifest are held in memory (they are
 * small and bounded); disk bodies pass through as they are read.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InvalidSpecError, NotFoundError } from '@hvkit/core';
import { type Dispatcher, fetch } from 'undici';
import { httpStatusError, requestFailure } from '../transfer/datastore-http.js';
import type { VsphereContext } from '../vsphere-context.js';
import { readTar } from './tar-reader.js';

/** Largest descriptor or manifest accepted: real ones are kilobytes. */
export const MAX_DESCRIPTOR_BYTES = 16 * 1024 * 1024;

/** An opened URL. */
export interface OpenedSource {
  /** From the file size or Content-Length; undefined when the server did not say. */
  sizeBytes: number | undefined;
  stream: AsyncIterable<Uint8Array>;
}

/** A digest a manifest (`.mf`) records for one file. */
export interface ManifestDigest {
  /** Node's name of the hash: `sha1`, `sha256` or `sha512`. */
  algorithm: 'sha1' | 'sha256' | 'sha512';
  /** Lower-case hex. */
  digest: string;
}

/** One file of the package, its bytes streamed. */
export interface PackageFile {
  /** The name the descriptor's `References/File/@href` uses. */
  name: string;
  sizeBytes: number;
  body: AsyncIterable<Uint8Array>;
}

/** An opened OVF package. */
export interface OvfPackage {
  /** The `.ovf` XML text. */
  descriptor: string;
  /** File name of the descriptor (`tiny.ovf`). */
  descriptorName: string;
  /**
   * Digests from the manifest, by file name. For an OVA, filled as the archive is read (the
   * manifest follows the descriptor), so complete before the first disk arrives.
   */
  manifest: Map<string, ManifestDigest>;
  /**
   * The package's files: for an OVA every remaining entry in archive order (manifest and
   * certificate consumed internally); for an `.ovf`, `wanted` fetched one after the other.
   * Read each body before asking for the next file.
   */
  files(wanted: readonly string[]): AsyncGenerator<PackageFile>;
  /** Releases the source (an OVA's stream) when the files were not read to the end. Safe twice. */
  close(): Promise<void>;
}

function invalid(path: string, message: string): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code: 'invalid_ovf' }], { subject: 'OVF package' });
}

/**
 * Opens a `file:` or http(s) URL as a byte stream. An http(s) URL on the vCenter's own host goes
 * through the client's dispatcher (its TLS trust and session); any other through undici's global
 * dispatcher (the system CAs), because the vCenter trust settings do not apply to a web server.
 *
 * @throws NotFoundError (`image`) for a missing file or HTTP 404; AuthenticationError for 401/403;
 *   ProviderApiError for another status; TransportError when the connection fails.
 */
export async function openUrl(
  ctx: VsphereContext,
  url: URL,
  signal?: AbortSignal,
): Promise<OpenedSource> {
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    let sizeBytes: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw invalid('source.url', `${url.href} is not a file`);
      sizeBytes = info.size;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') {
        throw new NotFoundError('image', url.href, undefined, ctx.client.faultContext);
      }
      throw error;
    }
    return { sizeBytes, stream: createReadStream(path, { signal }) };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('source.url', 'must be an http(s) or file URL');
  }
  const sameServer = url.host === ctx.client.url.host;
  const dispatcher: Dispatcher | undefined = sameServer ? ctx.client.dispatcher : undefined;
  const where = `GET ${url.origin}${url.pathname}`;
  let response: Awaited<ReturnType<typeof fetch>>;
  try {
    response = await fetch(url, { signal, ...(dispatcher ? { dispatcher } : {}) });
  } catch (error) {
    throw requestFailure(ctx, error, where, true, signal);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw httpStatusError(ctx, response.status, where, { resource: 'image', id: url.href });
  }
  const length = response.headers.get('content-length');
  async function* stream(): AsyncGenerator<Uint8Array> {
    // Read the body through `response`, so the closure keeps the Response alive: undici's fetch
    // cancels the body of a Response garbage-collected before it was read (seen as a 0-byte
    // stream when the caller starts reading late, under load).
    const body = response.body;
    try {
      if (body) for await (const chunk of body) yield chunk;
    } catch (error) {
      throw requestFailure(ctx, error, where, true, signal);
    }
  }
  return {
    sizeBytes: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
    stream: stream(),
  };
}

/** Reads a small stream whole, refusing more than `limit` bytes. */
export async function readLimited(
  stream: AsyncIterable<Uint8Array>,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > limit) throw invalid(what, `is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

const MANIFEST_LINE = /^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$/;

/** Parses an OVF manifest: `SHA256(disk.vmdk)= ab12…` lines. Unknown lines are ignored. */
export function parseManifest(text: string): Map<string, ManifestDigest> {
  const digests = new Map<string, ManifestDigest>();
  for (const line of text.split(/\r?\n/)) {
    const match = MANIFEST_LINE.exec(line.trim());
    if (!match?.[1] || !match[2] || !match[3]) continue;
    const algorithm = match[1].toLowerCase() as ManifestDigest['algorithm'];
    digests.set(match[2], { algorithm, digest: match[3].toLowerCase() });
  }
  return digests;
}

const XML_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

function decodeXmlText(text: string): string {
  return text.replace(
    /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g,
    (_match, entity: string) => {
      if (entity.startsWith('#x'))
        return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
      if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
      return XML_ENTITIES[entity] ?? '';
    },
  );
}

/**
 * Checks a file name from a descriptor: relative, no `..`, no scheme: a descriptor must not make
 * hvkit read (and upload to vCenter) a file outside its package.
 *
 * @throws InvalidSpecError naming `field`.
 */
export function checkPackageFileName(name: string, field: string): string {
  if (
    name === '' ||
    name.startsWith('/') ||
    name.includes('\\') ||
    /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(name) ||
    name.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')
  ) {
    throw invalid(field, `${JSON.stringify(name)} must be a relative file name inside the package`);
  }
  return name;
}

/** The files `References/File` lists: `ovf:href` and, when given, `ovf:size` in bytes. */
export function ovfFileReferences(descriptor: string): { href: string; sizeBytes?: number }[] {
  const references: { href: string; sizeBytes?: number }[] = [];
  for (const match of descriptor.matchAll(/<(?:[\w.-]+:)?File\b([^>]*)>/g)) {
    const attributes = match[1] ?? '';
    const href = /(?:^|\s)(?:[\w.-]+:)?href\s*=\s*"([^"]*)"/.exec(attributes)?.[1];
    if (href === undefined) continue;
    const size = /(?:^|\s)(?:[\w.-]+:)?size\s*=\s*"(\d+)"/.exec(attributes)?.[1];
    const name = checkPackageFileName(decodeXmlText(href), 'ovf.References.File.href');
    references.push(size === undefined ? { href: name } : { href: name, sizeBytes: Number(size) });
  }
  return references;
}

/**
 * Opens an OVF package. For an `.ova`, reads the archive up to the end of the descriptor (the
 * first file entry, which must be the `.ovf`); the rest is read by {@link OvfPackage.files}.
 *
 * @throws InvalidSpecError when the archive does not start with a descriptor, or the descriptor
 *   is larger than {@link MAX_DESCRIPTOR_BYTES}; the errors of {@link openUrl}.
 */
export async function openOvfPackage(
  ctx: VsphereContext,
  source: { kind: 'ova' | 'ovf'; url: string },
  signal?: AbortSignal,
): Promise<OvfPackage> {
  const url = new URL(source.url);
  const opened = await openUrl(ctx, url, signal);
  const decoder = new TextDecoder();
  if (source.kind === 'ovf') {
    const descriptor = decoder.decode(
      await readLimited(opened.stream, MAX_DESCRIPTOR_BYTES, 'descriptor'),
    );
    const descriptorName = decodeURIComponent(url.pathname.split('/').pop() ?? 'descriptor.ovf');
    let manifest = new Map<string, ManifestDigest>();
    try {
      const mf = await openUrl(ctx, new URL(descriptorName.replace(/\.ovf$/i, '.mf'), url), signal);
      manifest = parseManifest(
        decoder.decode(await readLimited(mf.stream, MAX_DESCRIPTOR_BYTES, 'manifest')),
      );
    } catch (error) {
      // A package without a manifest is valid; only its absence is tolerated.
      if (!NotFoundError.isInstance(error)) throw error;
    }
    return {
      descriptor,
      descriptorName,
      manifest,
      async *files(wanted) {
        for (const name of wanted) {
          checkPackageFileName(name, 'fileItem.path');
          const file = await openUrl(
            ctx,
            new URL(name.split('/').map(encodeURIComponent).join('/'), url),
            signal,
          );
          if (file.sizeBytes === undefined) {
            throw invalid('fileItem.path', `the server did not give the size of ${name}`);
          }
          yield { name, sizeBytes: file.sizeBytes, body: file.stream };
        }
      },
      close: async () => {},
    };
  }
  const entries = readTar(opened.stream);
  let descriptorEntry: { name: string; text: string } | undefined;
  for (;;) {
    const next = await entries.next();
    if (next.done) break;
    const entry = next.value;
    if (entry.type !== 'file') continue;
    if (!entry.name.toLowerCase().endsWith('.ovf')) {
      await entries.return(undefined);
      throw invalid(
        'source.url',
        `the OVA's first file is ${JSON.stringify(entry.name)}, not the .ovf descriptor`,
      );
    }
    descriptorEntry = {
      name: entry.name,
      text: decoder.decode(await readLimited(entry.body, MAX_DESCRIPTOR_BYTES, 'descriptor')),
    };
    break;
  }
  if (!descriptorEntry) throw invalid('source.url', 'the OVA holds no .ovf descriptor');
  const manifest = new Map<string, ManifestDigest>();
  return {
    descriptor: descriptorEntry.text,
    descriptorName: descriptorEntry.name,
    manifest,
    async *files() {
      try {
        for (;;) {
          const next = await entries.next();
          if (next.done) return;
          const entry = next.value;
          if (entry.type !== 'file') continue;
          const lower = entry.name.toLowerCase();
          if (lower.endsWith('.mf')) {
            const text = decoder.decode(
              await readLimited(entry.body, MAX_DESCRIPTOR_BYTES, 'manifest'),
            );
            for (const [name, digest] of parseManifest(text)) manifest.set(name, digest);
            continue;
          }
          if (lower.endsWith('.cert')) continue;
          yield { name: entry.name, sizeBytes: entry.sizeBytes, body: entry.body };
        }
      } finally {
        await entries.return(undefined);
      }
    },
    close: async () => {
      await entries.return(undefined);
    },
  };
}
