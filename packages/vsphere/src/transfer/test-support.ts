// Test support for the transfer and image modules (not part of the package API): a context on the
// shared vcsim bed, unique names, random bytes and stream helpers.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { silentLogger, systemClock } from '@hvkit/core';
import type { VcsimReady } from '../../test/vcsim.js';
import { createVsphereDispatcher } from '../client/tls.js';
import { VimClient } from '../client/vim-client.js';
import type { VsphereContext } from '../vsphere-context.js';

/** A context with its own client on the bed; close it in `afterAll`. */
export function vcsimContext(ready: VcsimReady): VsphereContext & { close(): Promise<void> } {
  const client = new VimClient({
    url: ready.url,
    username: ready.username,
    password: ready.password,
    provider: 'vcsim',
    dispatcher: createVsphereDispatcher({ ca: ready.certificatePem }),
  });
  return {
    client,
    name: 'vcsim',
    clock: systemClock,
    logger: silentLogger,
    close: () => client.close(),
  };
}

/** A name no other test file uses, e.g. `h6-export-1a2b3c4d`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** `size` random bytes. */
export function randomData(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** Streams `data` in chunks of `chunkBytes`. */
export async function* chunked(
  data: Uint8Array,
  chunkBytes = 64 * 1024,
): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += chunkBytes) {
    yield data.subarray(offset, Math.min(offset + chunkBytes, data.byteLength));
  }
}

/** Reads a stream whole (tests only: small data). */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

/** SHA-256 of `data`, lower-case hex. */
export function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
