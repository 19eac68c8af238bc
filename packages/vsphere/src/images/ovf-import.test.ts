import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConflictError,
  ImageSchema,
  InvalidSpecError,
  NotFoundError,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readAll, readOne } from '../client/property-reader.js';
import { buildEnvelope } from '../soap/soap-envelope.js';
import { parseSoapResponse } from '../soap/soap-parser.js';
import { waitForTask } from '../transfer/datastore-files.js';
import { randomData, uniqueName, vcsimContext } from '../transfer/test-support.js';
import type { VsphereContext } from '../vsphere-context.js';
import { deleteTemplateImage, importOvf, resolveDeviceUrl } from './ovf-import.js';
import { checkPackageFileName, ovfFileReferences, parseManifest } from './ovf-package.js';
import { retype } from './retype.js';
import { tarArchive } from './tar-writer.test-support.js';

const FIXTURE = new URL('./__fixtures__/tiny.ovf', import.meta.url);
// Recorded from vcsim 0.24 (copied from the research samples, so a fresh clone has it).
const SAMPLES = new URL('./__fixtures__/', import.meta.url);

describe('lease device URLs', () => {
  const base = new URL('https://127.0.0.1:18993/sdk');

  it('puts the client host and scheme in place of `*` and encodes brackets', () => {
    expect(resolveDeviceUrl('https://*/nfc/session[ab]cd/disk-0.vmdk', base).href).toBe(
      'https://127.0.0.1:18993/nfc/session%5Bab%5Dcd/disk-0.vmdk',
    );
    expect(
      resolveDeviceUrl('https://*/nfc/x/disk-0.vmdk', new URL('http://vcsim:8989/sdk')).href,
    ).toBe('http://vcsim:8989/nfc/x/disk-0.vmdk');
    // vcsim already encodes them: left as is, not double-encoded.
    expect(resolveDeviceUrl('https://*/nfc/session%5Bab%5Dcd/disk-0.vmdk', base).pathname).toBe(
      '/nfc/session%5Bab%5Dcd/disk-0.vmdk',
    );
    // A real host name is kept.
    expect(resolveDeviceUrl('https://esx1.example/nfc/52a/disk-0.vmdk', base).host).toBe(
      'esx1.example',
    );
  });

  it('keeps any lease id intact through the URL', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9[\]-]{1,40}$/), (id) => {
        const url = resolveDeviceUrl(`https://*/nfc/${id}/disk-0.vmdk`, base);
        expect(decodeURIComponent(url.pathname.split('/')[2] ?? '')).toBe(id);
      }),
    );
  });
});

describe('OVF package parsing', () => {
  it('reads manifest digests of every algorithm', () => {
    const manifest = parseManifest('SHA256(tiny.ovf)= AB12\nSHA1 (disk 1.vmdk) = cd34\r\nnoise\n');
    expect(manifest.get('tiny.ovf')).toEqual({ algorithm: 'sha256', digest: 'ab12' });
    expect(manifest.get('disk 1.vmdk')).toEqual({ algorithm: 'sha1', digest: 'cd34' });
    expect(manifest.size).toBe(2);
  });

  it('lists referenced files and refuses names leaving the package', () => {
    expect(ovfFileReferences(readFileSync(FIXTURE, 'utf8'))).toEqual([
      { href: 'tiny-disk1.vmdk', sizeBytes: 65536 },
    ]);
    expect(ovfFileReferences('<File ovf:href="a&amp;b.vmdk"/>')).toEqual([{ href: 'a&b.vmdk' }]);
    for (const bad of ['../etc/passwd', '/etc/passwd', 'http://evil/x', 'a//b', 'file:x']) {
      expect(() => checkPackageFileName(bad, 'href')).toThrow(InvalidSpecError);
    }
    expect(() => ovfFileReferences('<File ovf:href="../../x.vmdk"/>')).toThrow(/References/);
  });

  it('rebuilds the parsed CreateImportSpec answer into an ImportVApp request', async () => {
    const text = readFileSync(
      new URL('OvfManager-CreateImportSpec.res.xml', SAMPLES),
      'utf8',
    ).replace(/^<!--.*-->\n/, '');
    const parsed = await parseSoapResponse(text);
    if (parsed.kind !== 'result') throw new Error('expected a result');
    const spec = retype((parsed.returnval[0] as { importSpec: unknown }).importSpec, 'ImportSpec');
    expect(spec.dropped).toEqual([]);
    const envelope = buildEnvelope('ImportVApp', { type: 'ResourcePool', value: 'resgroup-26' }, [
      ['spec', spec.value, 'ImportSpec'],
    ]);
    expect(envelope).toContain('<spec xsi:type="VirtualMachineImportSpec">');
    expect(envelope).toContain('<thinProvisioned>true</thinProvisioned>');
    expect(envelope).toContain(
      '<port><switchUuid>fea97929-4b2d-5972-b146-930c6d0b4014</switchUuid>',
    );
    expect(envelope).toContain(
      '<datastore type="Datastore">TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5</datastore>',
    );
    expect(envelope).toContain('<value xsi:type="xsd:string">Zm9v</value>');
  });

  it('drops fields unknown to the type table and says so', () => {
    const result = retype(
      { $type: 'OvfNetworkMapping', name: 'n', futureField: 'x' },
      'OvfNetworkMapping',
    );
    expect(result.value).toEqual({ $type: 'OvfNetworkMapping', name: 'n' });
    expect(result.dropped).toEqual(['OvfNetworkMapping.futureField']);
  });
});

const vcsim = requireVcsim();

async function vmsNamed(ctx: VsphereContext, name: string) {
  const found = [];
  for await (const vm of readAll(ctx.client, 'VirtualMachine', ['name'])) {
    if (vm.properties.name === name) found.push(vm.obj);
  }
  return found;
}

describe.skipIf(!vcsim)('OVF/OVA import on vcsim', () => {
  const ctx = vcsim ? vcsimContext(vcsim) : (undefined as never);
  const dir = mkdtempSync(join(tmpdir(), 'h6-ovf-'));
  const names: string[] = [];
  const descriptor = readFileSync(FIXTURE);
  const disk = randomData(65536);
  const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
  let server: Server;
  let serverUrl: string;

  beforeAll(async () => {
    const manifest = `SHA256(tiny.ovf)= ${sha256(descriptor)}\nSHA256(tiny-disk1.vmdk)= ${sha256(disk)}\n`;
    writeFileSync(
      join(dir, 'tiny.ova'),
      tarArchive([
        { name: 'tiny.ovf', data: descriptor },
        { name: 'tiny.mf', data: new TextEncoder().encode(manifest) },
        { name: 'tiny-disk1.vmdk', data: disk },
      ]),
    );
    const badManifest = `SHA256(tiny-disk1.vmdk)= ${sha256(new Uint8Array([0]))}\n`;
    writeFileSync(
      join(dir, 'bad.ova'),
      tarArchive([
        { name: 'tiny.ovf', data: descriptor },
        { name: 'tiny.mf', data: new TextEncoder().encode(badManifest) },
        { name: 'tiny-disk1.vmdk', data: disk },
      ]),
    );
    writeFileSync(join(dir, 'nodisk.ova'), tarArchive([{ name: 'tiny.ovf', data: descriptor }]));
    writeFileSync(
      join(dir, 'disk-first.ova'),
      tarArchive([{ name: 'tiny-disk1.vmdk', data: disk }]),
    );
    // An .ovf with its disk beside it, served over HTTP.
    const files: Record<string, Uint8Array> = {
      '/pkg/tiny.ovf': descriptor,
      '/pkg/tiny-disk1.vmdk': disk,
    };
    server = createServer((request, response) => {
      const body = files[request.url ?? ''];
      if (!body) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-length': body.byteLength }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const name of names) {
      for (const vm of await vmsNamed(ctx, name)) {
        await waitForTask(ctx, await deleteTemplateImage(ctx, vm.value)).catch(() => undefined);
      }
    }
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    await ctx.close();
  });

  it('imports an OVA as a template VM with one disk and one NIC', async () => {
    const name = uniqueName('h6-ova');
    names.push(name);
    const progress: number[] = [];
    const url = pathToFileURL(join(dir, 'tiny.ova')).href;
    const result = await importOvf(
      ctx,
      { kind: 'ova', url },
      { name, onProgress: (percent) => progress.push(percent) },
    );
    expect(ImageSchema.parse(result.image)).toEqual(result.image);
    expect(result.image).toMatchObject({
      id: result.vm.value,
      name,
      format: 'vmdk',
      sizeBytes: 1024 ** 3,
      source: { kind: 'ova', url },
      cached: false,
    });
    expect(progress.at(-1)).toBe(100);
    const vm = await readOne(ctx.client, result.vm, [
      'name',
      'config.template',
      'config.hardware.device',
    ]);
    expect(vm.properties.name).toBe(name);
    expect(String(vm.properties['config.template'])).toBe('true');
    const devices = vm.properties['config.hardware.device'] as { $type: string }[];
    expect(devices.filter((device) => device.$type === 'VirtualDisk')).toHaveLength(1);
    expect(devices.filter((device) => device.$type === 'VirtualVmxnet3')).toHaveLength(1);

    // The same name again is refused by vSphere.
    await expect(importOvf(ctx, { kind: 'ova', url }, { name })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it('imports an .ovf with its disk beside it over HTTP, as a plain VM when asked', async () => {
    const name = uniqueName('h6-ovf');
    names.push(name);
    const result = await importOvf(
      ctx,
      { kind: 'ovf', url: `${serverUrl}/pkg/tiny.ovf` },
      { name, template: false, networks: { 'VM Network': 'VM Network' } },
    );
    const vm = await readOne(ctx.client, result.vm, ['config.template']);
    expect(String(vm.properties['config.template'])).toBe('false');
    expect(result.image.source).toEqual({ kind: 'ovf', url: `${serverUrl}/pkg/tiny.ovf` });
  });

  it('aborts the lease when a disk does not match the manifest', async () => {
    const name = uniqueName('h6-bad');
    names.push(name);
    await expect(
      importOvf(ctx, { kind: 'ova', url: pathToFileURL(join(dir, 'bad.ova')).href }, { name }),
    ).rejects.toThrow(/does not match its SHA256 digest/);
    // The half-made VM does not outlive the aborted lease.
    expect(await vmsNamed(ctx, name)).toEqual([]);
  });

  it('fails when the package lacks a disk, or does not start with the descriptor', async () => {
    const name = uniqueName('h6-nodisk');
    names.push(name);
    await expect(
      importOvf(ctx, { kind: 'ova', url: pathToFileURL(join(dir, 'nodisk.ova')).href }, { name }),
    ).rejects.toThrow(/lacks tiny-disk1\.vmdk/);
    expect(await vmsNamed(ctx, name)).toEqual([]);
    await expect(
      importOvf(
        ctx,
        { kind: 'ova', url: pathToFileURL(join(dir, 'disk-first.ova')).href },
        { name: uniqueName('h6-x') },
      ),
    ).rejects.toThrow(/not the \.ovf descriptor/);
  });

  it('reports missing sources, unknown networks and bad options', async () => {
    await expect(
      importOvf(
        ctx,
        { kind: 'ova', url: pathToFileURL(join(dir, 'none.ova')).href },
        { name: uniqueName('h6-x') },
      ),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      importOvf(
        ctx,
        { kind: 'ovf', url: `${serverUrl}/pkg/none.ovf` },
        { name: uniqueName('h6-x') },
      ),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      importOvf(
        ctx,
        { kind: 'ova', url: pathToFileURL(join(dir, 'tiny.ova')).href },
        { name: uniqueName('h6-x'), networks: { 'VM Network': 'no-such-network' } },
      ),
    ).rejects.toMatchObject({ resource: 'network' });
    await expect(
      importOvf(ctx, { kind: 'ova', url: 'ftp://x/y.ova' }, { name: 'x' }),
    ).rejects.toThrow(/source\.url/);
    await expect(
      importOvf(
        ctx,
        { kind: 'ova', url: pathToFileURL(join(dir, 'tiny.ova')).href },
        { name: 'x', convertTo: 'qcow2' },
      ),
    ).rejects.toBeInstanceOf(UnsupportedCapabilityError);
  });

  it('maps a descriptor vSphere cannot parse to an error', async () => {
    writeFileSync(join(dir, 'broken.ovf'), '<Envelope');
    await expect(
      importOvf(
        ctx,
        { kind: 'ovf', url: pathToFileURL(join(dir, 'broken.ovf')).href },
        { name: uniqueName('h6-x') },
      ),
    ).rejects.toMatchObject({ code: 'PROVIDER_API', fault: 'InvalidArgument' });
  });
});
