import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConflictError, ImageSchema, InvalidSpecError, NotFoundError } from '@hvkit/core';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readOne } from '../client/property-reader.js';
import { findDatastore } from '../transfer/datastore-files.js';
import {
  collect,
  destroyVm,
  placementOf,
  randomData,
  uniqueName,
  vcsimContext,
} from '../transfer/test-support.js';
import {
  deleteLibrary,
  deleteLibraryItem,
  deployLibraryItem,
  ensureLibrary,
  importToLibrary,
  listLibraryImages,
  VapiSession,
} from './content-library.js';
import { tarArchive } from './tar-writer.test-support.js';

const vcsim = requireVcsim();

describe('vAPI session options', () => {
  it('refuses empty credentials before any I/O', () => {
    const ctx = { client: { url: new URL('https://vc.example/sdk') } } as never;
    expect(() => new VapiSession(ctx, { username: 'u', password: '' })).toThrow(InvalidSpecError);
  });
});

describe.skipIf(!vcsim)('content library on vcsim', () => {
  const ctx = vcsim ? vcsimContext(vcsim) : (undefined as never);
  const vapi = vcsim
    ? new VapiSession(ctx, { username: vcsim.username, password: vcsim.password }, vcsim.restUrl)
    : (undefined as never);
  const dir = mkdtempSync(join(tmpdir(), 'h6-lib-'));
  const disk = randomData(65536);
  const iso = randomData(200_000);
  const isoSha256 = createHash('sha256').update(iso).digest('hex');
  const vms: { type: string; value: string }[] = [];
  let library: string;
  let server: Server;
  let serverUrl: string;

  beforeAll(async () => {
    const descriptor = readFileSync(new URL('./__fixtures__/tiny.ovf', import.meta.url));
    writeFileSync(
      join(dir, 'tiny.ova'),
      tarArchive([
        { name: 'tiny.ovf', data: descriptor },
        { name: 'tiny-disk1.vmdk', data: disk },
      ]),
    );
    server = createServer((request, response) => {
      if (request.url !== '/media/tools.iso') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-length': iso.byteLength }).end(iso);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    library = await ensureLibrary(vapi, { name: uniqueName('h6-lib') });
  });

  afterAll(async () => {
    for (const vm of vms) await destroyVm(ctx, vm);
    if (library) await deleteLibrary(vapi, library).catch(() => undefined);
    await vapi.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    await ctx.close();
  });

  it('finds the library it created instead of making a second one', async () => {
    const libraryName = (
      await vapi.request<{ name: string }>('GET', `/com/vmware/content/library/id:${library}`)
    ).name;
    expect(await ensureLibrary(vapi, { name: libraryName })).toBe(library);
  });

  it('imports an OVA as an ovf item, lists it and deploys it to a VM', async () => {
    const name = uniqueName('h6-item');
    const progress: number[] = [];
    const url = pathToFileURL(join(dir, 'tiny.ova')).href;
    const image = await importToLibrary(
      vapi,
      { kind: 'ova', url },
      { name, library, onProgress: (p) => progress.push(p) },
    );
    expect(ImageSchema.parse(image)).toEqual(image);
    expect(image).toMatchObject({
      name,
      format: 'vmdk',
      source: { kind: 'ova', url },
      cached: false,
    });
    expect(image.sizeBytes).toBeGreaterThanOrEqual(disk.byteLength);
    expect(progress.at(-1)).toBe(100);

    const files = await vapi.request<{ name: string; size: number }[]>(
      'GET',
      '/com/vmware/content/library/item/file',
      {
        query: { library_item_id: image.id },
      },
    );
    expect(files.map((file) => file.name).sort()).toEqual(['tiny-disk1.vmdk', 'tiny.ovf']);
    expect(files.find((file) => file.name === 'tiny-disk1.vmdk')?.size).toBe(disk.byteLength);

    const listed = await listLibraryImages(vapi, { library });
    expect(listed.find((entry) => entry.id === image.id)).toMatchObject({
      name,
      format: 'vmdk',
      source: { kind: 'content-library', library, item: image.id },
    });

    const datastore = await findDatastore(ctx, undefined);
    const { pool, folder } = await placementOf(ctx, datastore);
    const vmName = uniqueName('h6-deployed');
    const vm = await deployLibraryItem(vapi, image.id, {
      name: vmName,
      pool: pool.value,
      folder: folder.value,
    });
    vms.push(vm);
    expect(vm.type).toBe('VirtualMachine');
    expect((await readOne(ctx.client, vm, ['name'])).properties.name).toBe(vmName);
  });

  it('imports a file from a URL with its SHA-256, byte-exact', async () => {
    const name = uniqueName('h6-iso');
    const image = await importToLibrary(
      vapi,
      { kind: 'url', url: `${serverUrl}/media/tools.iso`, sha256: isoSha256 },
      { name, library },
    );
    expect(image).toMatchObject({
      name,
      format: 'raw',
      sizeBytes: iso.byteLength,
      sha256: isoSha256,
    });
    // Read it back through a download session.
    const session = await vapi.request<string>(
      'POST',
      '/com/vmware/content/library/item/download-session',
      {
        body: { create_spec: { library_item_id: image.id } },
      },
    );
    const prepared = await vapi.request<{ download_endpoint: { uri: string } }>(
      'POST',
      `/com/vmware/content/library/item/downloadsession/file/id:${session}`,
      { query: { '~action': 'prepare' }, body: { file_name: 'tools.iso' } },
    );
    const response = await fetch(prepared.download_endpoint.uri, {
      headers: { 'vmware-api-session-id': await vapi.sessionId() },
      dispatcher: ctx.client.dispatcher,
    });
    expect(response.status).toBe(200);
    const back = await collect(response.body as AsyncIterable<Uint8Array>);
    expect(createHash('sha256').update(back).digest('hex')).toBe(isoSha256);
  });

  it('deletes the item when the bytes do not match sha256, and refuses a taken name', async () => {
    const name = uniqueName('h6-badsum');
    await expect(
      importToLibrary(
        vapi,
        { kind: 'url', url: `${serverUrl}/media/tools.iso`, sha256: '0'.repeat(64) },
        { name, library },
      ),
    ).rejects.toThrow(/source\.sha256/);
    expect((await listLibraryImages(vapi, { library })).map((entry) => entry.name)).not.toContain(
      name,
    );

    const taken = uniqueName('h6-taken');
    await importToLibrary(
      vapi,
      { kind: 'url', url: `${serverUrl}/media/tools.iso` },
      { name: taken, library },
    );
    await expect(
      importToLibrary(
        vapi,
        { kind: 'url', url: `${serverUrl}/media/tools.iso` },
        { name: taken, library },
      ),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses an OVA that lacks a referenced disk, leaving no item', async () => {
    const name = uniqueName('h6-nodisk');
    const descriptor = readFileSync(new URL('./__fixtures__/tiny.ovf', import.meta.url));
    writeFileSync(join(dir, 'nodisk.ova'), tarArchive([{ name: 'tiny.ovf', data: descriptor }]));
    await expect(
      importToLibrary(
        vapi,
        { kind: 'ova', url: pathToFileURL(join(dir, 'nodisk.ova')).href },
        { name, library },
      ),
    ).rejects.toThrow(/lacks tiny-disk1\.vmdk/);
    expect((await listLibraryImages(vapi, { library })).map((entry) => entry.name)).not.toContain(
      name,
    );
  });

  it('leaves no item behind when the source is missing', async () => {
    const name = uniqueName('h6-missing');
    await expect(
      importToLibrary(vapi, { kind: 'url', url: `${serverUrl}/media/none.iso` }, { name, library }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect((await listLibraryImages(vapi, { library })).map((entry) => entry.name)).not.toContain(
      name,
    );
  });

  it('deletes an item, then says it is not found', async () => {
    const image = await importToLibrary(
      vapi,
      { kind: 'url', url: `${serverUrl}/media/tools.iso` },
      {
        name: uniqueName('h6-del'),
        library,
      },
    );
    await deleteLibraryItem(vapi, image.id);
    expect((await listLibraryImages(vapi, { library })).map((entry) => entry.id)).not.toContain(
      image.id,
    );
    await expect(deleteLibraryItem(vapi, image.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'image',
    });
  });

  it('logs in again once when the server forgot the session', async () => {
    const stale = await vapi.sessionId();
    const logout = await fetch(new URL('/rest/com/vmware/cis/session', vcsim?.restUrl), {
      method: 'DELETE',
      headers: { 'vmware-api-session-id': stale },
      dispatcher: ctx.client.dispatcher,
    });
    expect(logout.status).toBe(200);
    const images = await listLibraryImages(vapi, { library });
    expect(Array.isArray(images)).toBe(true);
    expect(await vapi.sessionId()).not.toBe(stale);
  });

  it('names an unknown item on deploy', async () => {
    await expect(
      deployLibraryItem(vapi, 'no-such-item', { name: uniqueName('h6-x'), pool: 'resgroup-1' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
