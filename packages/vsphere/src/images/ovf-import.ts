/**
 * OVF/OVA import with vSphere's own OVF engine: `OvfManager.CreateImportSpec` turns the descriptor
 * into an import spec, `ResourcePool.ImportVApp` creates the VM and an `HttpNfcLease`, the disks
 * are streamed to the lease's device URLs (progress reported so the lease does not time out), and
 * the lease is completed — or aborted on any failure, which makes vCenter delete the half-made VM.
 *
 * What an imported OVA is on vSphere: a **template VM** (`MarkAsTemplate`), the object vSphere
 * deploys from (CloneVM_Task). Its Image id is the VM's moref value (`vm-42`); `format` is `vmdk`
 * (the disks vSphere stores), `sizeBytes` the disks' provisioned capacity. `sha256` is left out:
 * no single byte stream of the stored template exists to hash (the OVA's own digests are checked
 * against its manifest instead).
 */
import { createHash, type Hash } from 'node:crypto';
import {
  ConflictError,
  type Image,
  type ImageImportSource,
  ImageImportSourceSchema,
  type ImportImageOptions,
  ImportImageOptionsSchema,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  UnsupportedCapabilityError,
  type Warning,
} from '@hvkit/core';
import { fetch } from 'undici';
import { readAll, readOne, watchProperties } from '../client/property-reader.js';
import type { DataObject, ManagedObjectReference } from '../soap/soap-envelope.js';
import { type LocalizedMethodFault, localizedFaultToError } from '../soap/soap-faults.js';
import {
  type DatastoreInfo,
  findDatastore,
  requireMoRef,
  waitForTask,
} from '../transfer/datastore-files.js';
import { httpStatusError, requestFailure, sessionHeaders } from '../transfer/datastore-http.js';
import type { VsphereContext } from '../vsphere-context.js';
import { type ManifestDigest, openOvfPackage, type PackageFile } from './ovf-package.js';
import { retype } from './retype.js';

/** Options of {@link importOvf} beyond core's ImportImageOptions. */
export interface OvfImportOptions extends ImportImageOptions {
  /** Resource pool moref value; default the first pool of the datastore's datacenter. */
  pool?: string | undefined;
  /** VM folder moref value; default the datacenter's `vmFolder`. */
  folder?: string | undefined;
  /** OVF network name → vSphere network (name or moref value). Unmapped networks: vSphere's default. */
  networks?: Readonly<Record<string, string>> | undefined;
  /** Default `thin`. */
  diskProvisioning?: 'thin' | 'thick' | 'eagerZeroedThick' | undefined;
  /** Mark the VM as a template when done. Default true. */
  template?: boolean | undefined;
  /** Called with 0–100 as the disks upload. */
  onProgress?: ((percent: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What {@link importOvf} made. */
export interface OvfImportResult {
  image: Image;
  /** The imported VM (a template unless `template: false`). */
  vm: ManagedObjectReference;
  /** CreateImportSpec's warnings, and fields of its answer hvkit could not send back. */
  warnings: Warning[];
}

/** How often, at most, the lease hears of progress (vCenter expires an idle lease after minutes). */
const PROGRESS_INTERVAL_MS = 5_000;

type Fields = Record<string, unknown>;

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function invalid(path: string, message: string, code = 'invalid_ovf'): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code }], { subject: 'OVF import' });
}

/**
 * The upload URL of a lease device: vSphere writes `*` for "the host you are talking to"; it is
 * replaced with the client's host and scheme (a plain-HTTP vcsim answers `https://*`). `[` and `]`
 * (vcsim lease ids hold them) are percent-encoded; already-encoded text is left alone.
 */
export function resolveDeviceUrl(raw: string, base: URL): URL {
  const star = /^https?:\/\/\*(?=[:/])/i.exec(raw);
  let text = raw;
  if (star) {
    const rest = raw.slice(star[0].length);
    text = `${base.protocol}//${rest.startsWith(':') ? base.hostname : base.host}${rest}`;
  }
  const hostEnd = text.indexOf('/', text.indexOf('//') + 2);
  if (hostEnd !== -1) {
    text = text.slice(0, hostEnd) + text.slice(hostEnd).replace(/\[/g, '%5B').replace(/\]/g, '%5D');
  }
  return new URL(text);
}

async function findNetwork(
  ctx: VsphereContext,
  nameOrId: string,
  signal?: AbortSignal,
): Promise<ManagedObjectReference> {
  for await (const network of readAll(ctx.client, 'Network', ['name'], { signal })) {
    if (network.obj.value === nameOrId || network.properties.name === nameOrId) return network.obj;
  }
  throw new NotFoundError('network', nameOrId, undefined, ctx.client.faultContext);
}

/** The pool and folder to import into, defaulted from the datastore's datacenter. */
async function placement(
  ctx: VsphereContext,
  datastore: DatastoreInfo,
  options: OvfImportOptions,
): Promise<{ pool: ManagedObjectReference; folder: ManagedObjectReference }> {
  const dc = await readOne(ctx.client, datastore.datacenter.ref, ['vmFolder', 'hostFolder'], {
    signal: options.signal,
  });
  const folder: ManagedObjectReference = options.folder
    ? { type: 'Folder', value: options.folder }
    : requireMoRef(dc.properties.vmFolder, 'datacenter vmFolder', ctx);
  if (options.pool) return { pool: { type: 'ResourcePool', value: options.pool }, folder };
  for await (const pool of readAll(ctx.client, 'ResourcePool', ['name'], {
    container: requireMoRef(dc.properties.hostFolder, 'datacenter hostFolder', ctx),
    signal: options.signal,
  })) {
    return { pool: pool.obj, folder };
  }
  throw new NotFoundError(
    'resource-pool',
    '(any)',
    `no resource pool in datacenter ${datastore.datacenter.path}`,
    ctx.client.faultContext,
  );
}

function faultMessages(value: unknown): string[] {
  return asArray(value).map((entry) => {
    const fault = entry as LocalizedMethodFault & { fault?: { $type?: unknown } };
    const message = typeof fault.localizedMessage === 'string' ? fault.localizedMessage : '';
    const type = typeof fault.fault?.$type === 'string' ? fault.fault.$type : 'fault';
    return message === '' ? type : `${type}: ${message}`;
  });
}

/** Waits until the lease is ready (vCenter prepares the disks first) and returns its `info`. */
async function leaseReady(
  ctx: VsphereContext,
  lease: ManagedObjectReference,
  signal?: AbortSignal,
): Promise<Fields> {
  for await (const state of watchProperties(ctx.client, lease, ['state', 'error', 'info'], {
    signal,
  })) {
    if (state.state === 'ready') return (state.info ?? {}) as Fields;
    if (state.state === 'error') {
      throw localizedFaultToError(
        (state.error ?? { localizedMessage: 'lease failed' }) as LocalizedMethodFault,
        ctx.client.faultContext,
      );
    }
    if (state.state === 'done' || state.$gone) {
      throw new ProviderApiError(
        'vSphere HttpNfcLease ended before it was ready',
        ctx.client.faultContext,
      );
    }
  }
  throw new ProviderApiError('vSphere HttpNfcLease watch ended', ctx.client.faultContext);
}

interface DeviceTarget {
  url: URL;
  /** `OvfFileItem.create`: a file to create (PUT) rather than a disk to stream (POST). */
  create: boolean;
}

/** Streams one file to its lease device URL, counting and hashing. */
async function uploadToLease(
  ctx: VsphereContext,
  target: DeviceTarget,
  file: PackageFile,
  digest: Hash | undefined,
  onBytes: (count: number) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const where = `vSphere upload of ${file.name} to the import lease`;
  let sent = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    for await (const chunk of file.body) {
      sent += chunk.byteLength;
      digest?.update(chunk);
      onBytes(chunk.byteLength);
      yield chunk;
    }
  }
  const headers: Record<string, string> = {
    ...(await sessionHeaders(ctx, signal)),
    'content-length': String(file.sizeBytes),
    // What govmomi and ovftool send: a disk is streamed (POST, streamVmdk); other files are PUT.
    ...(target.create
      ? { 'content-type': 'application/octet-stream', overwrite: 't' }
      : { 'content-type': 'application/x-vnd.vmware-streamVmdk' }),
  };
  let response: Awaited<ReturnType<typeof fetch>>;
  try {
    response = await fetch(target.url, {
      method: target.create ? 'PUT' : 'POST',
      headers,
      body: body(),
      duplex: 'half',
      signal,
      dispatcher: ctx.client.dispatcher,
    });
  } catch (error) {
    throw requestFailure(ctx, error, where, false, signal);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status !== 200 && response.status !== 201) {
    throw httpStatusError(ctx, response.status, where, { resource: 'image', id: file.name });
  }
  if (sent !== file.sizeBytes) {
    throw invalid('source', `${file.name} gave ${sent} bytes, not the ${file.sizeBytes} announced`);
  }
}

function capacityBytesOf(importSpec: unknown): number {
  let total = 0;
  const configSpec = (importSpec as Fields | undefined)?.configSpec as Fields | undefined;
  for (const change of asArray(configSpec?.deviceChange)) {
    for (const device of asArray((change as Fields).device)) {
      const fields = device as Fields;
      if (fields.$type !== 'VirtualDisk') continue;
      const bytes = Number(fields.capacityInBytes ?? Number(fields.capacityInKB ?? 0) * 1024);
      if (Number.isFinite(bytes)) total += bytes;
    }
  }
  return total;
}

/**
 * Imports an OVA or an OVF (with its files beside it) from a `file:` or http(s) URL as a template
 * VM. The package is read once, as a stream; nothing is written to local disk.
 *
 * @throws InvalidSpecError for a bad source or options (before any I/O), a package vSphere refuses
 *   (CreateImportSpec errors, naming each), a missing disk, or a file whose digest differs from the
 *   manifest; UnsupportedCapabilityError (`images.conversion`) for `convertTo` other than `vmdk`;
 *   NotFoundError for an unknown datastore, network or pool, or a missing source; ConflictError
 *   (`already-exists`) when the name is taken; TransportError, ProviderApiError. On any failure
 *   after ImportVApp the lease is aborted (vCenter then removes the VM).
 */
export async function importOvf(
  ctx: VsphereContext,
  source: ImageImportSource,
  options: OvfImportOptions,
): Promise<OvfImportResult> {
  const parsedSource = ImageImportSourceSchema.safeParse(source);
  if (!parsedSource.success) {
    throw InvalidSpecError.fromZod(parsedSource.error, {
      subject: 'image source',
      pathPrefix: ['source'],
    });
  }
  const pkgSource = parsedSource.data;
  if (pkgSource.kind !== 'ova' && pkgSource.kind !== 'ovf') {
    throw invalid('source.kind', `must be ova or ovf here, not ${pkgSource.kind}`);
  }
  const { signal } = options;
  const parsedOptions = ImportImageOptionsSchema.safeParse({
    name: options.name,
    storage: options.storage,
    convertTo: options.convertTo,
  });
  if (!parsedOptions.success) {
    throw InvalidSpecError.fromZod(parsedOptions.error, { subject: 'image options' });
  }
  if (parsedOptions.data.convertTo !== undefined && parsedOptions.data.convertTo !== 'vmdk') {
    throw new UnsupportedCapabilityError(
      'images.conversion',
      `vSphere stores imported disks as vmdk; convertTo ${parsedOptions.data.convertTo} is not supported`,
      ctx.client.faultContext,
    );
  }
  const name = parsedOptions.data.name;
  const warnings: Warning[] = [];

  const datastore = await findDatastore(ctx, parsedOptions.data.storage, { signal });
  const { pool, folder } = await placement(ctx, datastore, options);
  const networkMapping: DataObject[] = [];
  for (const [ovfName, network] of Object.entries(options.networks ?? {})) {
    networkMapping.push({
      $type: 'OvfNetworkMapping',
      name: ovfName,
      network: await findNetwork(ctx, network, signal),
    });
  }
  const ovfManager = (await ctx.client.serviceContent({ signal })).ovfManager;
  if (!ovfManager) {
    throw new UnsupportedCapabilityError(
      'images.ovaImport',
      'this endpoint has no OvfManager',
      ctx.client.faultContext,
    );
  }

  const pkg = await openOvfPackage(ctx, pkgSource, signal);
  try {
    const result = (await ctx.client.callOne(
      'CreateImportSpec',
      ovfManager,
      [
        ['ovfDescriptor', pkg.descriptor, 'string'],
        ['resourcePool', pool, 'ManagedObjectReference'],
        ['datastore', datastore.ref, 'ManagedObjectReference'],
        [
          'cisp',
          {
            $type: 'OvfCreateImportSpecParams',
            // Required by the WSDL (govmomi sends them empty too).
            locale: '',
            deploymentOption: '',
            entityName: name,
            ...(networkMapping.length > 0 ? { networkMapping } : {}),
            diskProvisioning: options.diskProvisioning ?? 'thin',
          },
          'OvfCreateImportSpecParams',
        ],
      ],
      { signal },
    )) as Fields | undefined;
    const errors = faultMessages(result?.error);
    if (errors.length > 0) {
      throw new InvalidSpecError(
        errors.map((message) => ({ path: 'ovf', message, code: 'ovf_rejected' })),
        { subject: 'OVF descriptor', ...ctx.client.faultContext },
      );
    }
    for (const message of faultMessages(result?.warning))
      warnings.push({ type: 'other', feature: 'ovf', details: message });
    if (!result?.importSpec) {
      throw new ProviderApiError(
        'vSphere CreateImportSpec returned no importSpec',
        ctx.client.faultContext,
      );
    }
    const spec = retype(result.importSpec, 'ImportSpec');
    for (const path of spec.dropped) {
      warnings.push({
        type: 'unsupported',
        feature: path,
        details: 'field of the import spec unknown to hvkit; not sent back',
      });
    }
    const fileItems = new Map<string, { deviceId: string; create: boolean; sizeBytes?: number }>();
    for (const entry of asArray(result.fileItem)) {
      const item = entry as Fields;
      const size = Number(item.size);
      fileItems.set(String(item.path), {
        deviceId: String(item.deviceId),
        create: item.create === true || item.create === 'true',
        ...(Number.isFinite(size) && size > 0 ? { sizeBytes: size } : {}),
      });
    }

    let leaseValue: unknown;
    try {
      leaseValue = await ctx.client.callOne(
        'ImportVApp',
        pool,
        [
          ['spec', spec.value, 'ImportSpec'],
          ['folder', folder, 'ManagedObjectReference'],
        ],
        { signal },
      );
    } catch (error) {
      // vCenter says DuplicateName (mapped already); vcsim finds the VM's directory first.
      if (ProviderApiError.isInstance(error) && error.fault === 'FileAlreadyExists') {
        throw new ConflictError(
          'already-exists',
          `a VM named ${JSON.stringify(name)} already exists`,
          {
            ...ctx.client.faultContext,
            cause: error,
          },
        );
      }
      throw error;
    }
    const lease = requireMoRef(leaseValue, 'ImportVApp lease', ctx);
    let vm: ManagedObjectReference | undefined;
    try {
      const info = await leaseReady(ctx, lease, signal);
      vm = requireMoRef(info.entity, 'lease entity', ctx);
      const targets = new Map<string, DeviceTarget>();
      for (const entry of asArray(info.deviceUrl)) {
        const device = entry as Fields;
        const importKey = String(device.importKey ?? '');
        for (const [path, item] of fileItems) {
          if (item.deviceId === importKey) {
            targets.set(path, {
              url: resolveDeviceUrl(String(device.url), ctx.client.url),
              create: item.create,
            });
          }
        }
      }
      const totalBytes = [...fileItems.values()].reduce(
        (sum, item) => sum + (item.sizeBytes ?? 0),
        0,
      );
      let doneBytes = 0;
      let lastPercent = -1;
      let lastReport = 0;
      let reporting: Promise<unknown> = Promise.resolve();
      const onBytes = (count: number) => {
        doneBytes += count;
        const percent =
          totalBytes > 0 ? Math.min(99, Math.floor((doneBytes * 100) / totalBytes)) : 0;
        if (percent === lastPercent) return;
        lastPercent = percent;
        options.onProgress?.(percent);
        const now = ctx.clock.now();
        if (now - lastReport < PROGRESS_INTERVAL_MS) return;
        lastReport = now;
        // One report in flight at a time; a lost report only risks the lease's idle timeout.
        reporting = reporting.then(() =>
          ctx.client
            .call('HttpNfcLeaseProgress', lease, [['percent', percent, 'int']])
            .catch((error: unknown) =>
              ctx.logger.debug('vsphere: HttpNfcLeaseProgress failed', { error: String(error) }),
            ),
        );
      };
      const uploaded = new Set<string>();
      for await (const file of pkg.files([...targets.keys()])) {
        const target = targets.get(file.name);
        if (!target) continue; // not a disk vSphere asked for (the reader skips its bytes)
        const expected: ManifestDigest | undefined = pkg.manifest.get(file.name);
        const digest = expected ? createHash(expected.algorithm) : undefined;
        await uploadToLease(ctx, target, file, digest, onBytes, signal);
        if (expected && digest && digest.digest('hex') !== expected.digest) {
          throw invalid(
            'source',
            `${file.name} does not match its ${expected.algorithm.toUpperCase()} digest in the manifest`,
            'digest_mismatch',
          );
        }
        uploaded.add(file.name);
      }
      const missing = [...targets.keys()].filter((path) => !uploaded.has(path));
      if (missing.length > 0) throw invalid('source', `the package lacks ${missing.join(', ')}`);
      await reporting;
      await ctx.client.call('HttpNfcLeaseComplete', lease, [], { signal });
      options.onProgress?.(100);
    } catch (error) {
      await ctx.client
        .call('HttpNfcLeaseAbort', lease, [], { timeoutMs: 30_000 })
        .catch(() => undefined);
      // vCenter removes the VM of an aborted lease itself; vcsim does not. Destroying it here is
      // harmless on vCenter (the VM is gone: NotFound, ignored) and cleans up everywhere else.
      if (vm) await destroyQuietly(ctx, vm);
      throw error;
    }
    if (options.template !== false) await ctx.client.call('MarkAsTemplate', vm, [], { signal });
    const image: Image = {
      id: vm.value,
      name,
      format: 'vmdk',
      sizeBytes: capacityBytesOf(result.importSpec),
      storage: datastore.name,
      source: pkgSource,
      cached: false,
      createdAt: new Date(ctx.clock.now()).toISOString(),
    };
    return { image, vm, warnings };
  } finally {
    await pkg.close();
  }
}

async function destroyQuietly(ctx: VsphereContext, vm: ManagedObjectReference): Promise<void> {
  try {
    const task = requireMoRef(
      await ctx.client.callOne('Destroy_Task', vm, [], { timeoutMs: 30_000 }),
      'Destroy_Task task',
      ctx,
    );
    await waitForTask(ctx, task, { timeoutMs: 60_000 });
  } catch (error) {
    if (!NotFoundError.isInstance(error)) {
      ctx.logger.warn('vsphere: could not remove the VM of an aborted import', {
        vm: vm.value,
        error: String(error),
      });
    }
  }
}

/**
 * Starts deleting an imported template (or VM) with `Destroy_Task`; returns the Task.
 *
 * @throws NotFoundError (`image`) when the VM does not exist.
 */
export async function deleteTemplateImage(
  ctx: VsphereContext,
  id: string,
  signal?: AbortSignal,
): Promise<ManagedObjectReference> {
  const vm: ManagedObjectReference = { type: 'VirtualMachine', value: id };
  try {
    return requireMoRef(
      await ctx.client.callOne('Destroy_Task', vm, [], { signal }),
      'Destroy_Task task',
      ctx,
    );
  } catch (error) {
    if (NotFoundError.isInstance(error))
      throw new NotFoundError('image', id, undefined, ctx.client.faultContext);
    throw error;
  }
}
