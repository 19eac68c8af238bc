import { InvalidSpecError, NotFoundError } from '@hvkit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import {
  type DatastoreInfo,
  deleteDatastoreFile,
  findDatastore,
  waitForTask,
} from './datastore-files.js';
import {
  datastoreFileUrl,
  datastorePath,
  downloadDatastoreFile,
  encodeUrlValue,
  parseDatastorePath,
  uploadDatastoreFile,
} from './datastore-http.js';
import {
  chunked,
  collect,
  randomData,
  sha256Of,
  uniqueName,
  vcsimContext,
} from './test-support.js';

// Names and morefs seen in the wild: brackets, @, spaces, %, #, ?, unicode.
const nameChar = fc.constantFrom(...'aZ09 _-.@[]%#?+&=:;,é€'.split(''));
const segment = fc
  .array(nameChar, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''))
  .filter((text) => text !== '.' && text !== '..');
const relativePath = fc
  .array(segment, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));
const datastoreName = fc
  .array(nameChar, { minLength: 1, maxLength: 16 })
  .map((chars) => chars.join(''))
  .filter((text) => !/[[\]]/.test(text));

describe('datastore paths', () => {
  it('formats and parses `[ds] path` back to the same parts', () => {
    fc.assert(
      fc.property(datastoreName, relativePath, (datastore, path) => {
        expect(parseDatastorePath(datastorePath(datastore, path))).toEqual({ datastore, path });
      }),
    );
  });

  it('reads the root form `[ds]` and vcsim file names', () => {
    expect(parseDatastorePath('[LocalDS_0]')).toEqual({ datastore: 'LocalDS_0', path: '' });
    expect(parseDatastorePath('[LocalDS_0] vm 1/vm 1.vmdk')).toEqual({
      datastore: 'LocalDS_0',
      path: 'vm 1/vm 1.vmdk',
    });
  });

  it('refuses traversal, empty segments and bad names before any I/O', () => {
    for (const bad of ['a/../b', './a', 'a//b', 'a/', '']) {
      expect(() => datastorePath('ds', bad)).toThrow(InvalidSpecError);
    }
    expect(() => datastorePath('d]s', 'a')).toThrow(/datastore/);
    expect(() => parseDatastorePath('LocalDS_0 a.vmdk', 'backing.fileName')).toThrow(
      /backing\.fileName/,
    );
  });

  it('encodes every segment and query value so the URL decodes to the same strings', () => {
    fc.assert(
      fc.property(datastoreName, datastoreName, relativePath, (datacenter, datastore, path) => {
        const url = datastoreFileUrl(new URL('https://vc.example:8443/sdk'), {
          datacenter,
          datastore,
          path,
        });
        expect(url.origin).toBe('https://vc.example:8443');
        expect(url.searchParams.get('dcPath')).toBe(datacenter);
        expect(url.searchParams.get('dsName')).toBe(datastore);
        expect([...url.searchParams.keys()]).toEqual(['dcPath', 'dsName']);
        const segments = url.pathname.split('/').slice(2).map(decodeURIComponent);
        expect(segments.join('/')).toBe(path);
      }),
    );
  });

  it('keeps a nested datacenter path as one query value', () => {
    expect(encodeUrlValue('Folder 1/DC[0]@x')).toBe('Folder%201%2FDC%5B0%5D%40x');
    expect(encodeUrlValue('a b/c[d]', { keepSlashes: true })).toBe('a%20b/c%5Bd%5D');
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('datastore HTTP on vcsim', () => {
  const ctx = vcsim ? vcsimContext(vcsim) : (undefined as never);
  let datastore: DatastoreInfo;
  const folder = uniqueName('h6-dshttp');
  const data = randomData(1024 * 1024 + 333);

  beforeAll(async () => {
    datastore = await findDatastore(ctx, undefined);
  });

  afterAll(async () => {
    await waitForTask(
      ctx,
      await deleteDatastoreFile(ctx, {
        datastore: datastore.name,
        datacenter: datastore.datacenter.ref,
        path: folder,
      }),
    ).catch(() => undefined);
    await ctx.close();
  });

  const at = (path: string) => ({
    datacenter: datastore.datacenter.path,
    datastore: datastore.name,
    path: `${folder}/${path}`,
  });

  it('uploads in chunks, hashing on the way, and downloads byte-exact', async () => {
    const result = await uploadDatastoreFile(ctx, {
      ...at('sub dir/a [1]@x.bin'),
      source: chunked(data, 10_000),
      sizeBytes: data.byteLength,
    });
    expect(result).toEqual({ sizeBytes: data.byteLength, sha256: sha256Of(data) });
    const download = await downloadDatastoreFile(ctx, at('sub dir/a [1]@x.bin'));
    expect(download.sizeBytes).toBe(data.byteLength);
    expect(sha256Of(await collect(download.stream))).toBe(sha256Of(data));
  });

  it('resumes from an offset with Range: exactly the remaining bytes', async () => {
    const offset = 512 * 1024 + 17;
    const download = await downloadDatastoreFile(ctx, {
      ...at('sub dir/a [1]@x.bin'),
      offsetBytes: offset,
    });
    expect(download.sizeBytes).toBe(data.byteLength);
    expect(sha256Of(await collect(download.stream))).toBe(sha256Of(data.subarray(offset)));
  });

  it('gives an empty stream at the very end and refuses an offset beyond it', async () => {
    const end = await downloadDatastoreFile(ctx, {
      ...at('sub dir/a [1]@x.bin'),
      offsetBytes: data.byteLength,
    });
    expect((await collect(end.stream)).byteLength).toBe(0);
    await expect(
      downloadDatastoreFile(ctx, {
        ...at('sub dir/a [1]@x.bin'),
        offsetBytes: data.byteLength + 1,
      }),
    ).rejects.toThrow(/offsetBytes/);
  });

  it('maps a missing file and an unknown datastore to NotFoundError', async () => {
    const missing = downloadDatastoreFile(ctx, { ...at('nope.bin'), notFound: 'disk' });
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toMatchObject({ resource: 'disk' });
    await expect(
      downloadDatastoreFile(ctx, { ...at('nope.bin'), datastore: 'no such datastore' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fails when the source delivers fewer or more bytes than announced', async () => {
    await expect(
      uploadDatastoreFile(ctx, {
        ...at('short.bin'),
        source: chunked(data.subarray(0, 100)),
        sizeBytes: 101,
      }),
    ).rejects.toThrow(/delivered 100 bytes, not the 101/);
    await expect(
      uploadDatastoreFile(ctx, {
        ...at('long.bin'),
        source: chunked(data.subarray(0, 100)),
        sizeBytes: 99,
      }),
    ).rejects.toThrow(InvalidSpecError);
  });

  it('maps an upload to an unknown datastore to NotFoundError', async () => {
    await expect(
      uploadDatastoreFile(ctx, {
        ...at('x.bin'),
        datastore: 'no such datastore',
        source: chunked(data.subarray(0, 10)),
        sizeBytes: 10,
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', resource: 'storage' });
  });
});
