import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ImageSchema,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  UnsupportedCapabilityError,
  VmSpecSchema,
} from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readAll, readOne } from '../client/property-reader.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import {
  type DatastoreInfo,
  deleteDatastoreFile,
  findDatastore,
  waitForTask,
} from '../transfer/datastore-files.js';
import {
  downloadDatastoreFile,
  listDatastoreFolder,
  parseDatastorePath,
  uploadDatastoreFile,
} from '../transfer/datastore-http.js';
import { flatDescriptor, IMAGE_FOLDER } from '../transfer/disk-transfer.js';
import {
  chunked,
  collect,
  createScratchVm,
  destroyVm,
  placementOf,
  randomData,
  sha256Of,
  uniqueName,
  vcsimContext,
} from '../transfer/test-support.js';
import { buildCreateSpec } from '../vm/config-spec.js';
import type { VsphereContext } from '../vsphere-context.js';
import { deleteLibrary, ensureLibrary, importToLibrary, VapiSession } from './content-library.js';
import { IMAGE_MARKER_KEY, ImageCatalog, imageKindOf, markerSourceUrl } from './image-catalog.js';
import { tarArchive } from './tar-writer.test-support.js';

const vcsim = requireVcsim();

const KIB = 1024;

/** Devices of a VM, as parsed. */
async function devicesOf(
  ctx: VsphereContext,
  vm: ManagedObjectReference,
): Promise<Record<string, unknown>[]> {
  return (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
    'config.hardware.device'
  ] as Record<string, unknown>[];
}

function isZero(data: Uint8Array): boolean {
  return data.every((byte) => byte === 0);
}

describe('image catalog input checks (no server)', () => {
  const ctx = {
    client: { url: new URL('https://vc.example/sdk'), faultContext: {} },
    name: 'offline',
    clock: { now: () => 0 },
    logger: { warn: () => undefined },
  } as unknown as VsphereContext;
  const catalog = new ImageCatalog(ctx, { username: 'u', password: 'p' });

  it('refuses a cloud image URL as unsupported and a bad source as invalid, before any I/O', async () => {
    await expect(
      catalog.importImage({ kind: 'url', url: 'https://images.example/x.img' }, { name: 'x' }),
    ).rejects.toSatisfy(
      (error) =>
        UnsupportedCapabilityError.isInstance(error) &&
        error.capability === 'images.cloudImageDownload',
    );
    await expect(
      catalog.importImage({ kind: 'ova', url: 'ftp://x/y.ova' }, { name: 'x' }),
    ).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(
      catalog.importImage({ kind: 'ova', url: 'file:///x.ova' }, { name: '' }),
    ).rejects.toBeInstanceOf(InvalidSpecError);
  });

  it('keeps user info, query and fragment (credentials, tokens) out of a template marker', () => {
    expect(markerSourceUrl('https://user:secret@images.example/a/x.ova?sig=token#frag')).toBe(
      'https://images.example/a/x.ova',
    );
    expect(markerSourceUrl('file:///srv/x.ova')).toBe('file:///srv/x.ova');
  });

  it('tells the kind of an image by the shape of its id', () => {
    expect(imageKindOf('[LocalDS_0] hvkit-images/a.vmdk')).toBe('disk');
    expect(imageKindOf('6f1c8a52-0c1e-4e4b-9d9e-7b2f0a1c3d4e')).toBe('library-item');
    expect(imageKindOf('vm-42')).toBe('template');
  });

  it('says NotFound for ids that cannot name an image, and refuses non-disk images as disks', async () => {
    for (const id of ['[ds] elsewhere/x.vmdk', '[ds] hvkit-images/x.vmdk.sha256', '[ds']) {
      await expect(catalog.deleteImage(id)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        resource: 'image',
      });
    }
    await expect(catalog.diskFileFor('vm-42', { datastore: 'ds', vmName: 'web' })).rejects.toThrow(
      /template or content library image/,
    );
    await expect(
      catalog.diskFileFor('[ds] hvkit-images/x.qcow2', { datastore: 'ds', vmName: 'web' }),
    ).rejects.toThrow(/convert it first/);
    await expect(
      catalog.diskFileFor('[ds] hvkit-images/x.vmdk', { datastore: 'ds', vmName: 'a/b' }),
    ).rejects.toBeInstanceOf(InvalidSpecError);
  });
});

describe.skipIf(!vcsim)('image catalog on vcsim', () => {
  const ctx = vcsim ? vcsimContext(vcsim) : (undefined as never);
  const credentials = vcsim
    ? { username: vcsim.username, password: vcsim.password }
    : { username: '', password: '' };
  const libraryName = uniqueName('h11-lib');
  const catalog = vcsim
    ? new ImageCatalog(ctx, credentials, { library: libraryName, restUrl: vcsim.restUrl })
    : (undefined as never);
  const dir = mkdtempSync(join(tmpdir(), 'h11-catalog-'));
  const ovaDisk = randomData(64 * KIB);
  let ovaUrl: string;
  let datastore: DatastoreInfo;
  /** Images to delete at the end (best effort). */
  const images: string[] = [];
  const vms: ManagedObjectReference[] = [];
  /** Datastore folders to delete at the end. */
  const folders: string[] = [];
  let vapi: VapiSession;
  let library: string | undefined;

  beforeAll(async () => {
    datastore = await findDatastore(ctx, undefined);
    const descriptor = readFileSync(new URL('./__fixtures__/tiny.ovf', import.meta.url));
    writeFileSync(
      join(dir, 'tiny.ova'),
      tarArchive([
        { name: 'tiny.ovf', data: descriptor },
        { name: 'tiny-disk1.vmdk', data: ovaDisk },
      ]),
    );
    ovaUrl = pathToFileURL(join(dir, 'tiny.ova')).href;
    vapi = new VapiSession(ctx, credentials, vcsim?.restUrl);
  });

  afterAll(async () => {
    for (const vm of vms) await destroyVm(ctx, vm);
    for (const id of images) await catalog.deleteImage(id).catch(() => undefined);
    for (const folder of folders) {
      await waitForTask(
        ctx,
        await deleteDatastoreFile(ctx, {
          datastore: datastore.name,
          datacenter: datastore.datacenter.ref,
          path: folder,
        }),
      ).catch(() => undefined);
    }
    if (library) await deleteLibrary(vapi, library).catch(() => undefined);
    await vapi.close();
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
    await ctx.close();
  });

  it('lists the folder a directory GET serves (vcsim answers 404 for a missing one)', async () => {
    const location = { datacenter: datastore.datacenter.path, datastore: datastore.name };
    const folder = uniqueName('h11-dir');
    folders.push(folder);
    for (const path of [`${folder}/a b&c.txt`, `${folder}/sub/d.txt`]) {
      await uploadDatastoreFile(ctx, {
        ...location,
        path,
        source: chunked(new Uint8Array(3)),
        sizeBytes: 3,
      });
    }
    expect((await listDatastoreFolder(ctx, { ...location, path: folder }))?.sort()).toEqual([
      'a b&c.txt',
      'sub/',
    ]);
    expect(await listDatastoreFolder(ctx, { ...location, path: `${folder}-none` })).toBeUndefined();
  });

  it('lists imported disk images with size, format, time and SHA-256, and deletes them once', async () => {
    const data = randomData(64 * KIB);
    const raw = await catalog.importDisk(
      { name: uniqueName('h11-raw'), format: 'raw', sizeBytes: data.byteLength },
      chunked(data, 10_000),
    );
    images.push(raw.id);
    const qcow = await catalog.importDisk(
      { name: uniqueName('h11-q'), format: 'qcow2', sizeBytes: 1000 },
      chunked(data.subarray(0, 1000)),
    );
    images.push(qcow.id);

    const listed = await catalog.listImages();
    for (const image of listed) expect(ImageSchema.parse(image)).toEqual(image);
    const rawListed = listed.find((image) => image.id === raw.id);
    expect(rawListed).toMatchObject({
      name: raw.name,
      format: 'raw',
      sizeBytes: data.byteLength,
      storage: datastore.name,
      source: { kind: 'disk' },
      sha256: sha256Of(data),
    });
    expect(Date.parse(rawListed?.createdAt ?? '')).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(listed.find((image) => image.id === qcow.id)).toMatchObject({
      name: qcow.name,
      format: 'qcow2',
      sizeBytes: 1000,
      sha256: sha256Of(data.subarray(0, 1000)),
    });
    // The extent and the sidecars are parts of images, not images.
    expect(listed.filter((image) => image.name.endsWith('-flat'))).toEqual([]);

    await catalog.deleteImage(raw.id);
    await catalog.deleteImage(qcow.id);
    const after = (await catalog.listImages()).map((image) => image.id);
    expect(after).not.toContain(raw.id);
    expect(after).not.toContain(qcow.id);
    const names = await listDatastoreFolder(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: IMAGE_FOLDER,
    });
    expect((names ?? []).filter((name) => name.startsWith(raw.name))).toEqual([]);
    for (const id of [raw.id, `[NoSuchDS] ${IMAGE_FOLDER}/${raw.name}.vmdk`]) {
      await expect(catalog.deleteImage(id)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        resource: 'image',
      });
    }
  });

  it('does not list a descriptor whose extent is missing', async () => {
    const name = uniqueName('h11-orphan');
    const path = `${IMAGE_FOLDER}/${name}.vmdk`;
    const text = new TextEncoder().encode(flatDescriptor(`${name}-flat.vmdk`, 4 * KIB));
    await uploadDatastoreFile(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path,
      source: chunked(text),
      sizeBytes: text.byteLength,
    });
    folders.push(path);
    expect((await catalog.listImages()).filter((image) => image.name === name)).toEqual([]);
  });

  it('leaves no image when an import fails', async () => {
    const name = uniqueName('h11-fail');
    const data = randomData(8 * KIB);
    await expect(
      catalog.importDisk({ name, format: 'raw', sizeBytes: data.byteLength + 512 }, chunked(data)),
    ).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(
      catalog.importDisk(
        { name, format: 'raw', sizeBytes: data.byteLength, sha256: '0'.repeat(64) },
        chunked(data),
      ),
    ).rejects.toThrow(/sha256/);
    expect((await catalog.listImages()).filter((image) => image.name === name)).toEqual([]);
  });

  it('exports a vcsim placeholder disk as its capacity in zeros, and resumes inside the padding', async () => {
    const name = uniqueName('h11-export');
    const { vm, controllerKey } = await createScratchVm(ctx, datastore, name);
    vms.push(vm);
    const task = (await ctx.client.callOne('ReconfigVM_Task', vm, [
      [
        'spec',
        {
          $type: 'VirtualMachineConfigSpec',
          deviceChange: [
            {
              $type: 'VirtualDeviceConfigSpec',
              operation: 'add',
              fileOperation: 'create',
              device: {
                $type: 'VirtualDisk',
                key: -1,
                backing: {
                  $type: 'VirtualDiskFlatVer2BackingInfo',
                  fileName: `[${datastore.name}]`,
                  diskMode: 'persistent',
                },
                controllerKey,
                unitNumber: 0,
                capacityInKB: 1024,
              },
            },
          ],
        },
        'VirtualMachineConfigSpec',
      ],
    ])) as ManagedObjectReference;
    await waitForTask(ctx, task);
    const disk = (await devicesOf(ctx, vm)).find((device) => device.$type === 'VirtualDisk');
    const diskId = String(disk?.key);

    const full = await catalog.exportDisk(vm.value, diskId, 0);
    expect(full).toMatchObject({ diskId, format: 'raw', sizeBytes: 1024 * KIB, offsetBytes: 0 });
    const whole = await collect(full.stream);
    expect(whole.byteLength).toBe(1024 * KIB);
    expect(isZero(whole)).toBe(true);

    const part = await catalog.exportDisk(vm.value, diskId, 1024 * KIB - 100);
    expect(part.sizeBytes).toBe(1024 * KIB);
    expect((await collect(part.stream)).byteLength).toBe(100);
    const end = await catalog.exportDisk(vm.value, diskId, 1024 * KIB);
    expect((await collect(end.stream)).byteLength).toBe(0);
    await expect(catalog.exportDisk(vm.value, diskId, 1024 * KIB + 1)).rejects.toThrow(
      /beyond the end of the disk/,
    );
  });

  it('refuses an extent longer than its disk instead of guessing a size', async () => {
    const name = uniqueName('h11-long');
    folders.push(name);
    const location = { datacenter: datastore.datacenter.path, datastore: datastore.name };
    const data = randomData(8 * KIB);
    await uploadDatastoreFile(ctx, {
      ...location,
      path: `${name}/long-flat.vmdk`,
      source: chunked(data),
      sizeBytes: data.byteLength,
    });
    const text = new TextEncoder().encode(flatDescriptor('long-flat.vmdk', data.byteLength));
    await uploadDatastoreFile(ctx, {
      ...location,
      path: `${name}/long.vmdk`,
      source: chunked(text),
      sizeBytes: text.byteLength,
    });
    const { vm, controllerKey } = await createScratchVm(ctx, datastore, name);
    vms.push(vm);
    const task = (await ctx.client.callOne('ReconfigVM_Task', vm, [
      [
        'spec',
        {
          $type: 'VirtualMachineConfigSpec',
          deviceChange: [
            {
              $type: 'VirtualDeviceConfigSpec',
              operation: 'add',
              device: {
                $type: 'VirtualDisk',
                key: -1,
                backing: {
                  $type: 'VirtualDiskFlatVer2BackingInfo',
                  fileName: `[${datastore.name}] ${name}/long.vmdk`,
                  diskMode: 'persistent',
                },
                controllerKey,
                unitNumber: 0,
                capacityInKB: 4,
              },
            },
          ],
        },
        'VirtualMachineConfigSpec',
      ],
    ])) as ManagedObjectReference;
    await waitForTask(ctx, task);
    const disk = (await devicesOf(ctx, vm)).find((device) => device.$type === 'VirtualDisk');
    await expect(catalog.exportDisk(vm.value, String(disk?.key), 0)).rejects.toSatisfy(
      (error) =>
        ProviderApiError.isInstance(error) && /more than the disk's capacity/.test(error.message),
    );
  });

  it('copies an imported image for a new VM whose disk then exports the imported bytes first', async () => {
    const data = randomData(64 * KIB);
    const image = await catalog.importDisk(
      { name: uniqueName('h11-boot'), format: 'raw', sizeBytes: data.byteLength },
      chunked(data),
    );
    images.push(image.id);
    const vmName = uniqueName('h11-from-image');
    folders.push(vmName);
    const copy = await catalog.diskFileFor(image.id, { datastore: datastore.name, vmName });
    expect(copy).toBe(`[${datastore.name}] ${vmName}/${vmName}-image0.vmdk`);
    // A second disk of the same VM from the same image gets its own file; the same index conflicts.
    const second = await catalog.diskFileFor(image.id, {
      datastore: datastore.name,
      vmName,
      diskIndex: 1,
    });
    expect(second).toBe(`[${datastore.name}] ${vmName}/${vmName}-image1.vmdk`);
    await expect(
      catalog.diskFileFor(image.id, { datastore: datastore.name, vmName }),
    ).rejects.toMatchObject({ code: 'CONFLICT', reason: 'already-exists' });

    const { spec } = buildCreateSpec(
      VmSpecSchema.parse({
        name: vmName,
        cpu: { count: 1 },
        memory: { sizeMiB: 128 },
        disks: [{ sizeGiB: 1 / 1024, sourceImageId: image.id }],
      }),
      {
        defaultDatastore: datastore.name,
        datastores: [datastore.name],
        networks: new Map(),
        diskFiles: new Map([[0, copy]]),
      },
    );
    const { folder, pool } = await placementOf(ctx, datastore);
    const vm = (await waitForTask(
      ctx,
      (await ctx.client.callOne('CreateVM_Task', folder, [
        ['config', spec, 'VirtualMachineConfigSpec'],
        ['pool', pool, 'ManagedObjectReference'],
      ])) as ManagedObjectReference,
    )) as ManagedObjectReference;
    vms.push(vm);
    const vmFiles = (await readOne(ctx.client, vm, ['config.files.vmPathName'])).properties[
      'config.files.vmPathName'
    ];
    // With vmPathName `[ds]`, vcsim finds the copy's folder taken and puts the VM in
    // `<name> (0)/` (see the next test for the way around it): clean that one too.
    expect(parseDatastorePath(String(vmFiles)).path).toBe(`${vmName} (0)/${vmName}.vmx`);
    folders.push(`${vmName} (0)`);
    const disk = (await devicesOf(ctx, vm)).find((device) => device.$type === 'VirtualDisk');
    expect((disk?.backing as { fileName?: unknown } | undefined)?.fileName).toBe(copy);

    const exported = await catalog.exportDisk(vm.value, String(disk?.key), 0);
    expect(exported.sizeBytes).toBe(1024 * KIB);
    const bytes = await collect(exported.stream);
    expect(bytes.byteLength).toBe(1024 * KIB);
    expect(sha256Of(bytes.subarray(0, data.byteLength))).toBe(sha256Of(data));
    expect(isZero(bytes.subarray(data.byteLength))).toBe(true);

    // The image itself is untouched by the copy.
    const back = await downloadDatastoreFile(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: `${IMAGE_FOLDER}/${image.name}-flat.vmdk`,
    });
    expect(sha256Of(await collect(back.stream))).toBe(sha256Of(data));
    await expect(
      catalog.diskFileFor(`[${datastore.name}] ${IMAGE_FOLDER}/${image.name}-gone.vmdk`, {
        datastore: datastore.name,
        vmName: uniqueName('h11-none'),
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', resource: 'image' });
  });

  it('keeps a VM and its image copies in one folder when the vmx path names it', async () => {
    const data = randomData(4 * KIB);
    const image = await catalog.importDisk(
      { name: uniqueName('h11-same-dir'), format: 'raw', sizeBytes: data.byteLength },
      chunked(data),
    );
    images.push(image.id);
    const vmName = uniqueName('h11-one-dir');
    folders.push(vmName);
    const copy = await catalog.diskFileFor(image.id, { datastore: datastore.name, vmName });
    const { spec } = buildCreateSpec(
      VmSpecSchema.parse({
        name: vmName,
        cpu: { count: 1 },
        memory: { sizeMiB: 128 },
        disks: [{ sizeGiB: 1 / 1024, sourceImageId: image.id }],
      }),
      {
        defaultDatastore: datastore.name,
        datastores: [datastore.name],
        networks: new Map(),
        diskFiles: new Map([[0, copy]]),
      },
    );
    // An explicit `.vmx` path: the VM's folder is the one holding the copy (vcsim and vCenter
    // both create the files in an existing folder), so deleting the VM deletes the copy too.
    spec.files = {
      $type: 'VirtualMachineFileInfo',
      vmPathName: `[${datastore.name}] ${vmName}/${vmName}.vmx`,
    };
    const { folder, pool } = await placementOf(ctx, datastore);
    const vm = (await waitForTask(
      ctx,
      (await ctx.client.callOne('CreateVM_Task', folder, [
        ['config', spec, 'VirtualMachineConfigSpec'],
        ['pool', pool, 'ManagedObjectReference'],
      ])) as ManagedObjectReference,
    )) as ManagedObjectReference;
    const vmFiles = (await readOne(ctx.client, vm, ['config.files.vmPathName'])).properties[
      'config.files.vmPathName'
    ];
    expect(vmFiles).toBe(`[${datastore.name}] ${vmName}/${vmName}.vmx`);
    const exported = await catalog.exportDisk(
      vm.value,
      String((await devicesOf(ctx, vm)).find((device) => device.$type === 'VirtualDisk')?.key),
      0,
    );
    expect(sha256Of((await collect(exported.stream)).subarray(0, data.byteLength))).toBe(
      sha256Of(data),
    );
    await destroyVm(ctx, vm);
    const names = await listDatastoreFolder(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: vmName,
    });
    expect(names).toBeUndefined();
  });

  it('imports an OVA as a marked template, lists it, and deletes only images', async () => {
    const name = uniqueName('h11-ova');
    const image = await catalog.importImage({ kind: 'ova', url: ovaUrl }, { name });
    images.push(image.id);
    expect(ImageSchema.parse(image)).toEqual(image);
    expect(image).toMatchObject({ name, format: 'vmdk', source: { kind: 'ova', url: ovaUrl } });
    expect(image.sizeBytes).toBeGreaterThan(0);
    const vm: ManagedObjectReference = { type: 'VirtualMachine', value: image.id };
    const props = await readOne(ctx.client, vm, ['config.template', 'config.extraConfig']);
    expect(String(props.properties['config.template'])).toBe('true');
    const marker = (props.properties['config.extraConfig'] as { key: string; value: string }[])
      .filter((option) => option.key === IMAGE_MARKER_KEY)
      .at(-1);
    expect(JSON.parse(marker?.value ?? '{}')).toMatchObject({ name, source: { kind: 'ova' } });

    const listed = (await catalog.listImages()).find((item) => item.id === image.id);
    expect(listed).toEqual({ ...image, source: { kind: 'ova', url: ovaUrl } });

    // A VM that is not an image is never deleted as one.
    const other = await createScratchVm(ctx, datastore, uniqueName('h11-plain'));
    vms.push(other.vm);
    await expect(catalog.deleteImage(other.vm.value)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'image',
    });
    expect((await readOne(ctx.client, other.vm, ['name'])).properties.name).toBeDefined();

    await catalog.deleteImage(image.id);
    expect((await catalog.listImages()).map((item) => item.id)).not.toContain(image.id);
    await expect(catalog.deleteImage(image.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'image',
    });
  });

  it('removes the imported VM when marking it as an image fails', async () => {
    const name = uniqueName('h11-ova-fail');
    // The same client, except that the marker's ReconfigVM_Task is refused.
    const client = new Proxy(ctx.client, {
      get(target, property) {
        if (property === 'callOne') {
          return (
            method: string,
            ...rest: Parameters<typeof target.callOne> extends [string, ...infer R] ? R : never
          ) => {
            if (method === 'ReconfigVM_Task') {
              return Promise.reject(new ProviderApiError('refused', { fault: 'NoPermission' }));
            }
            return target.callOne(method, ...rest);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const failing = new ImageCatalog({ ...ctx, client }, credentials, { restUrl: vcsim?.restUrl });
    await expect(failing.importImage({ kind: 'ova', url: ovaUrl }, { name })).rejects.toThrow(
      /refused/,
    );
    await failing.close();
    const left: string[] = [];
    for await (const vm of readAll(ctx.client, 'VirtualMachine', ['name'])) {
      if (vm.properties.name === name) left.push(vm.obj.value);
    }
    expect(left).toEqual([]);
  });

  it('lists the hvkit library items, imports one by name or id, deploys it and deletes it', async () => {
    expect(
      (await catalog.listImages()).filter((image) => image.source.kind === 'content-library'),
    ).toEqual([]);
    library = await ensureLibrary(vapi, { name: libraryName });
    const itemName = uniqueName('h11-item');
    const item = await importToLibrary(
      vapi,
      { kind: 'ova', url: ovaUrl },
      {
        name: itemName,
        library,
      },
    );

    const listed = (await catalog.listImages()).find((image) => image.id === item.id);
    expect(listed).toMatchObject({
      name: itemName,
      format: 'vmdk',
      source: { kind: 'content-library', library, item: item.id },
    });
    expect(listed?.sizeBytes).toBeGreaterThanOrEqual(ovaDisk.byteLength);

    for (const source of [
      { kind: 'content-library' as const, library: libraryName, item: itemName },
      { kind: 'content-library' as const, library, item: item.id },
    ]) {
      const image = await catalog.importImage(source, { name: 'ignored' });
      expect(ImageSchema.parse(image)).toEqual(image);
      expect(image).toMatchObject({ id: item.id, name: itemName, format: 'vmdk', source });
      expect(image.source).toEqual(source);
      expect(image.sizeBytes).toBeGreaterThan(0);
    }
    for (const source of [
      { kind: 'content-library' as const, library: libraryName, item: 'no-such-item' },
      { kind: 'content-library' as const, library: uniqueName('h11-nolib'), item: itemName },
    ]) {
      await expect(catalog.importImage(source, { name: 'x' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
        resource: 'image',
      });
    }

    const { pool } = await placementOf(ctx, datastore);
    const deployed = await catalog.deployLibraryImage(
      { library: libraryName, item: itemName },
      { name: uniqueName('h11-deployed'), pool: pool.value, datastore: datastore.ref.value },
    );
    vms.push(deployed);
    expect(deployed.type).toBe('VirtualMachine');
    expect((await readOne(ctx.client, deployed, ['name'])).properties.name).toMatch(/h11-deployed/);

    await catalog.deleteImage(item.id);
    expect((await catalog.listImages()).map((image) => image.id)).not.toContain(item.id);
    await expect(catalog.deleteImage(item.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'image',
    });
  });

  it('lists no library images, and still the others, where vAPI does not answer', async () => {
    const data = randomData(4 * KIB);
    const image = await catalog.importDisk(
      { name: uniqueName('h11-novapi'), format: 'raw', sizeBytes: data.byteLength },
      chunked(data),
    );
    images.push(image.id);
    const base = new URL(vcsim?.restUrl ?? 'https://x/rest');
    const withoutVapi = new ImageCatalog(ctx, credentials, {
      restUrl: new URL('/no-vapi-here', base).href,
    });
    try {
      const listed = await withoutVapi.listImages();
      expect(listed.map((item) => item.id)).toContain(image.id);
      expect(listed.filter((item) => item.source.kind === 'content-library')).toEqual([]);
      await expect(
        withoutVapi.importImage(
          { kind: 'content-library', library: 'lib', item: 'item' },
          { name: 'x' },
        ),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        withoutVapi.deleteImage('0b0e9a8e-4a4f-4c5e-9d55-6c1f2a3b4c5d'),
      ).rejects.toMatchObject({ code: 'NOT_FOUND', resource: 'image' });
    } finally {
      await withoutVapi.close();
    }
  });
});
