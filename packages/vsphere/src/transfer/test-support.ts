// Test support for the transfer and image modules (not part of the package API): a context on the
// shared vcsim bed, unique names, random bytes and stream helpers.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { silentLogger, systemClock } from '@hvkit/core';
import type { VcsimReady } from '../../test/vcsim.js';
import { readAll, readOne } from '../client/property-reader.js';
import { createVsphereDispatcher } from '../client/tls.js';
import { VimClient } from '../client/vim-client.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import { type DatastoreInfo, waitForTask } from './datastore-files.js';

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

/** Where a test creates VMs: the datacenter's VM folder and a resource pool of it. */
export async function placementOf(
  ctx: VsphereContext,
  datastore: DatastoreInfo,
): Promise<{ folder: ManagedObjectReference; pool: ManagedObjectReference }> {
  const dc = await readOne(ctx.client, datastore.datacenter.ref, ['vmFolder', 'hostFolder']);
  const folder = dc.properties.vmFolder as ManagedObjectReference;
  for await (const pool of readAll(ctx.client, 'ResourcePool', ['name'], {
    container: dc.properties.hostFolder as ManagedObjectReference,
  })) {
    return { folder, pool: pool.obj };
  }
  throw new Error('no resource pool in the datacenter');
}

/** Creates a VM with one SCSI controller and no disk; returns it and the controller's key. */
export async function createScratchVm(
  ctx: VsphereContext,
  datastore: DatastoreInfo,
  name: string,
): Promise<{ vm: ManagedObjectReference; controllerKey: number }> {
  const { folder, pool } = await placementOf(ctx, datastore);
  const task = (await ctx.client.callOne('CreateVM_Task', folder, [
    [
      'config',
      {
        $type: 'VirtualMachineConfigSpec',
        name,
        guestId: 'otherGuest64',
        files: { $type: 'VirtualMachineFileInfo', vmPathName: `[${datastore.name}]` },
        numCPUs: 1,
        memoryMB: 128,
        deviceChange: [
          {
            $type: 'VirtualDeviceConfigSpec',
            operation: 'add',
            device: {
              $type: 'ParaVirtualSCSIController',
              key: -100,
              busNumber: 0,
              sharedBus: 'noSharing',
            },
          },
        ],
      },
      'VirtualMachineConfigSpec',
    ],
    ['pool', pool, 'ManagedObjectReference'],
  ])) as ManagedObjectReference;
  const vm = (await waitForTask(ctx, task)) as ManagedObjectReference;
  const devices = (await readOne(ctx.client, vm, ['config.hardware.device'])).properties[
    'config.hardware.device'
  ] as { $type?: string; key?: unknown }[];
  const controller = devices.find((device) => device.$type === 'ParaVirtualSCSIController');
  return { vm, controllerKey: Number(controller?.key) };
}

/** Powers nothing, just destroys (best effort: the test already asserted what it needed). */
export async function destroyVm(ctx: VsphereContext, vm: ManagedObjectReference): Promise<void> {
  try {
    await waitForTask(
      ctx,
      (await ctx.client.callOne('Destroy_Task', vm)) as ManagedObjectReference,
    );
  } catch {
    // already gone
  }
}
