import { ConflictError, ImageSchema, InvalidSpecError, NotFoundError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readOne } from '../client/property-reader.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import {
  type DatastoreInfo,
  deleteDatastoreFile,
  findDatastore,
  waitForTask,
} from './datastore-files.js';
import {
  downloadDatastoreFile,
  parseDatastorePath,
  uploadDatastoreFile,
} from './datastore-http.js';
import {
  deleteDiskImage,
  exportVmDisk,
  flatDescriptor,
  flatExtentOf,
  IMAGE_FOLDER,
  imageLayout,
  imageSidecarPath,
  imagesInFolder,
  importDisk,
} from './disk-transfer.js';
import {
  chunked,
  collect,
  createScratchVm,
  destroyVm,
  randomData,
  sha256Of,
  uniqueName,
  vcsimContext,
} from './test-support.js';

describe('disk layout', () => {
  it('keeps a flat VMDK data in the -flat extent', () => {
    expect(flatExtentOf('vm 1/vm 1.vmdk')).toBe('vm 1/vm 1-flat.vmdk');
    expect(flatExtentOf('a.vmdk.vmdk')).toBe('a.vmdk-flat.vmdk');
  });

  it('stores raw images as descriptor + extent and others as they are', () => {
    expect(imageLayout('img', 'raw', 1024)).toEqual({
      id: `${IMAGE_FOLDER}/img.vmdk`,
      data: `${IMAGE_FOLDER}/img-flat.vmdk`,
      descriptor: `${IMAGE_FOLDER}/img.vmdk`,
    });
    expect(imageLayout('img', 'raw', 1000)).toEqual({
      id: `${IMAGE_FOLDER}/img.raw`,
      data: `${IMAGE_FOLDER}/img.raw`,
    });
    expect(imageLayout('img', 'vmdk', 1024).data).toBe(`${IMAGE_FOLDER}/img.src.vmdk`);
    expect(imageLayout('img', 'qcow2', 1024).data).toBe(`${IMAGE_FOLDER}/img.qcow2`);
  });

  it('finds images among folder entries: descriptors but not their extents, files stored as is', () => {
    expect(
      imagesInFolder([
        'a.vmdk',
        'a-flat.vmdk',
        'a.vmdk.sha256',
        'x-flat.vmdk',
        'x-flat-flat.vmdk',
        'orphan.vmdk',
        'b.src.vmdk',
        'c.qcow2',
        'd.vhdx',
        'e.raw',
        'sub/',
        'notes.txt',
      ]),
    ).toEqual([
      {
        name: 'a',
        format: 'raw',
        id: `${IMAGE_FOLDER}/a.vmdk`,
        data: `${IMAGE_FOLDER}/a-flat.vmdk`,
      },
      {
        name: 'x-flat',
        format: 'raw',
        id: `${IMAGE_FOLDER}/x-flat.vmdk`,
        data: `${IMAGE_FOLDER}/x-flat-flat.vmdk`,
      },
      // A candidate: the caller finds out that its extent is missing.
      {
        name: 'orphan',
        format: 'raw',
        id: `${IMAGE_FOLDER}/orphan.vmdk`,
        data: `${IMAGE_FOLDER}/orphan-flat.vmdk`,
      },
      ...(
        [
          ['b', 'vmdk', 'b.src.vmdk'],
          ['c', 'qcow2', 'c.qcow2'],
          ['d', 'vhdx', 'd.vhdx'],
          ['e', 'raw', 'e.raw'],
        ] as const
      ).map(([name, format, file]) => ({
        name,
        format,
        id: `${IMAGE_FOLDER}/${file}`,
        data: `${IMAGE_FOLDER}/${file}`,
      })),
    ]);
    expect(imageSidecarPath(`${IMAGE_FOLDER}/a.vmdk`)).toBe(`${IMAGE_FOLDER}/a.vmdk.sha256`);
  });

  it('writes a monolithic flat descriptor naming the extent and its sector count', () => {
    const text = flatDescriptor('img-flat.vmdk', 3 * 1024 * 1024);
    expect(text).toContain('RW 6144 VMFS "img-flat.vmdk"');
    expect(text).toContain('createType="vmfs"');
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('disk export and import on vcsim', () => {
  const ctx = vcsim ? vcsimContext(vcsim) : (undefined as never);
  const folder = uniqueName('h6-disk');
  const data = randomData(3 * 1024 * 1024);
  let datastore: DatastoreInfo;
  let vm: ManagedObjectReference;
  let diskKey: string;
  const images: string[] = [];

  beforeAll(async () => {
    datastore = await findDatastore(ctx, undefined);
    const location = { datacenter: datastore.datacenter.path, datastore: datastore.name };
    // vcsim disks are 0-byte placeholders: put real bytes in a flat extent, with its descriptor,
    // and attach them to a VM of our own as an existing disk.
    await uploadDatastoreFile(ctx, {
      ...location,
      path: `${folder}/data-flat.vmdk`,
      source: chunked(data),
      sizeBytes: data.byteLength,
    });
    const descriptor = new TextEncoder().encode(flatDescriptor('data-flat.vmdk', data.byteLength));
    await uploadDatastoreFile(ctx, {
      ...location,
      path: `${folder}/data.vmdk`,
      source: chunked(descriptor),
      sizeBytes: descriptor.byteLength,
    });
    const scratch = await createScratchVm(ctx, datastore, folder);
    vm = scratch.vm;
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
                  fileName: `[${datastore.name}] ${folder}/data.vmdk`,
                  diskMode: 'persistent',
                },
                controllerKey: scratch.controllerKey,
                unitNumber: 0,
                capacityInKB: data.byteLength / 1024,
              },
            },
          ],
        },
        'VirtualMachineConfigSpec',
      ],
    ])) as ManagedObjectReference;
    await waitForTask(ctx, task);
    const devices = (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
      'config.hardware.device'
    ] as { $type?: string; key?: unknown }[];
    diskKey = String(devices.find((device) => device.$type === 'VirtualDisk')?.key);
  });

  afterAll(async () => {
    if (vm) await destroyVm(ctx, vm);
    for (const path of [folder, ...images.map((id) => parseDatastorePath(id).path)]) {
      await waitForTask(
        ctx,
        await deleteDatastoreFile(ctx, {
          datastore: datastore.name,
          datacenter: datastore.datacenter.ref,
          path,
        }),
      ).catch(() => undefined);
    }
    await ctx.close();
  });

  it('exports the attached disk as raw bytes, byte-exact', async () => {
    const exported = await exportVmDisk(ctx, vm, diskKey, 0);
    expect(exported).toMatchObject({
      diskId: diskKey,
      format: 'raw',
      sizeBytes: data.byteLength,
      offsetBytes: 0,
    });
    expect(sha256Of(await collect(exported.stream))).toBe(sha256Of(data));
  });

  it('resumes from 1 MiB + 17 with exactly the remaining bytes', async () => {
    const offset = 1024 * 1024 + 17;
    const exported = await exportVmDisk(ctx, vm.value, diskKey, offset);
    expect(exported.sizeBytes).toBe(data.byteLength);
    expect(exported.offsetBytes).toBe(offset);
    const rest = await collect(exported.stream);
    expect(rest.byteLength).toBe(data.byteLength - offset);
    expect(sha256Of(rest)).toBe(sha256Of(data.subarray(offset)));
  });

  it('refuses a delta disk, and exports its frozen base with snapshotBase', async () => {
    const location = { datacenter: datastore.datacenter.path, datastore: datastore.name };
    // A delta over data.vmdk, as a snapshot or a linked clone leaves it (vcsim's own snapshots
    // make no delta files, so the chain is attached by hand).
    for (const path of [`${folder}/delta.vmdk`, `${folder}/delta-flat.vmdk`]) {
      await uploadDatastoreFile(ctx, {
        ...location,
        path,
        source: chunked(data.subarray(0, 512)),
        sizeBytes: 512,
      });
    }
    const devices = (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
      'config.hardware.device'
    ] as { $type?: string; key?: unknown; controllerKey?: unknown }[];
    const controllerKey = Number(
      devices.find((device) => device.$type === 'VirtualDisk')?.controllerKey,
    );
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
                key: -2,
                backing: {
                  $type: 'VirtualDiskFlatVer2BackingInfo',
                  fileName: `[${datastore.name}] ${folder}/delta.vmdk`,
                  diskMode: 'persistent',
                  parent: {
                    $type: 'VirtualDiskFlatVer2BackingInfo',
                    fileName: `[${datastore.name}] ${folder}/data.vmdk`,
                    diskMode: 'persistent',
                  },
                },
                controllerKey,
                unitNumber: 1,
                capacityInKB: data.byteLength / 1024,
              },
            },
          ],
        },
        'VirtualMachineConfigSpec',
      ],
    ])) as ManagedObjectReference;
    await waitForTask(ctx, task);
    const after = (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
      'config.hardware.device'
    ] as { $type?: string; key?: unknown; backing?: { parent?: unknown } }[];
    const delta = after.find(
      (device) => device.$type === 'VirtualDisk' && device.backing?.parent !== undefined,
    );
    expect(delta).toBeDefined();
    const deltaKey = String(delta?.key);
    await expect(exportVmDisk(ctx, vm, deltaKey, 0)).rejects.toMatchObject({
      code: 'CONFLICT',
      reason: 'invalid-state',
    });
    const base = await exportVmDisk(ctx, vm, deltaKey, 4096, undefined, { snapshotBase: true });
    expect(base).toMatchObject({
      diskId: deltaKey,
      format: 'raw',
      sizeBytes: data.byteLength,
      offsetBytes: 4096,
    });
    expect(sha256Of(await collect(base.stream))).toBe(sha256Of(data.subarray(4096)));
  });

  it('names the missing disk, VM and bad offset', async () => {
    await expect(exportVmDisk(ctx, vm, '999999', 0)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'disk',
    });
    await expect(exportVmDisk(ctx, 'vm-does-not-exist', diskKey, 0)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(exportVmDisk(ctx, vm, diskKey, -1)).rejects.toThrow(/offsetBytes/);
  });

  it('refuses a non-disk device key as not a disk', async () => {
    const devices = (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
      'config.hardware.device'
    ] as { $type?: string; key?: unknown }[];
    const controller = String(
      devices.find((device) => device.$type === 'ParaVirtualSCSIController')?.key,
    );
    await expect(exportVmDisk(ctx, vm, controller, 0)).rejects.toMatchObject({ resource: 'disk' });
  });

  it('imports a raw disk, hashes it, and downloads it back byte-exact', async () => {
    const name = uniqueName('h6-img');
    const image = await importDisk(
      ctx,
      {
        name,
        format: 'raw',
        sizeBytes: data.byteLength,
        storage: datastore.name,
        sha256: sha256Of(data),
      },
      chunked(data, 100_000),
    );
    images.push(
      image.id,
      `[${datastore.name}] ${IMAGE_FOLDER}/${name}-flat.vmdk`,
      `[${datastore.name}] ${imageSidecarPath(`${IMAGE_FOLDER}/${name}.vmdk`)}`,
    );
    expect(ImageSchema.parse(image)).toEqual(image);
    expect(image).toMatchObject({
      id: `[${datastore.name}] ${IMAGE_FOLDER}/${name}.vmdk`,
      format: 'raw',
      sizeBytes: data.byteLength,
      storage: datastore.name,
      source: { kind: 'disk' },
      cached: false,
      sha256: sha256Of(data),
    });
    const back = await downloadDatastoreFile(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: `${IMAGE_FOLDER}/${name}-flat.vmdk`,
    });
    expect(sha256Of(await collect(back.stream))).toBe(sha256Of(data));
    const descriptor = await downloadDatastoreFile(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: `${IMAGE_FOLDER}/${name}.vmdk`,
    });
    expect(new TextDecoder().decode(await collect(descriptor.stream))).toContain(
      `"${name}-flat.vmdk"`,
    );
    // The SHA-256 is kept beside the image, in sha256sum format.
    const sidecar = await downloadDatastoreFile(ctx, {
      datacenter: datastore.datacenter.path,
      datastore: datastore.name,
      path: imageSidecarPath(`${IMAGE_FOLDER}/${name}.vmdk`),
    });
    expect(new TextDecoder().decode(await collect(sidecar.stream))).toBe(
      `${sha256Of(data)}  ${name}-flat.vmdk\n`,
    );

    // The same name again is a conflict, not a silent overwrite.
    await expect(
      importDisk(
        ctx,
        { name, format: 'raw', sizeBytes: 512, storage: datastore.name },
        chunked(data.subarray(0, 512)),
      ),
    ).rejects.toBeInstanceOf(ConflictError);

    // Deleting the image removes both files.
    await waitForTask(ctx, await deleteDiskImage(ctx, image.id));
    await expect(
      downloadDatastoreFile(ctx, {
        datacenter: datastore.datacenter.path,
        datastore: datastore.name,
        path: `${IMAGE_FOLDER}/${name}-flat.vmdk`,
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes the upload and fails when the bytes do not match sha256', async () => {
    const name = uniqueName('h6-bad');
    const wrong = sha256Of(new Uint8Array([1]));
    const attempt = importDisk(
      ctx,
      { name, format: 'qcow2', sizeBytes: 4096, storage: datastore.name, sha256: wrong },
      chunked(data.subarray(0, 4096)),
    );
    await expect(attempt).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(attempt).rejects.toThrow(/sha256/);
    await expect(
      downloadDatastoreFile(ctx, {
        datacenter: datastore.datacenter.path,
        datastore: datastore.name,
        path: `${IMAGE_FOLDER}/${name}.qcow2`,
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes a partial upload when the source ends early', async () => {
    const name = uniqueName('h6-short');
    await expect(
      importDisk(
        ctx,
        { name, format: 'qcow2', sizeBytes: 8192, storage: datastore.name },
        chunked(data.subarray(0, 4096)),
      ),
    ).rejects.toThrow(/delivered 4096 bytes, not the 8192/);
    await expect(
      downloadDatastoreFile(ctx, {
        datacenter: datastore.datacenter.path,
        datastore: datastore.name,
        path: `${IMAGE_FOLDER}/${name}.qcow2`,
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('validates the spec before any I/O', async () => {
    await expect(
      importDisk(ctx, { name: 'a/b', format: 'raw', sizeBytes: 512 }, chunked(data)),
    ).rejects.toThrow(/name/);
    await expect(
      importDisk(ctx, { name: 'x', format: 'raw', sizeBytes: 0 }, chunked(data)),
    ).rejects.toThrow(/sizeBytes/);
  });
});
