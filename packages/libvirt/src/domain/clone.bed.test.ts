// Full and linked clones against the REAL bed (libvirt 9.0, QEMU 7.2, TCG, dir pool `default`):
// data copied byte for byte, new identity, overlays on the template's volumes, cancellation and
// failures that leave nothing. Everything made here is named `hvkit-cln-<run>-…` and removed in
// afterAll. The qcow2 data checks make qcow2 images with the local `qemu-img` (the bed runs QEMU on
// this machine, so it is there); without it those tests are skipped, saying so.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, NotFoundError, type VmSpecInput, VmSpecSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, type LibvirtReady, requireLibvirtBed } from '../../test/libvirt-bed.js';
import {
  createVolume,
  deleteVolume,
  downloadVolume,
  listVolumes,
  uploadVolume,
  type VolumeDetails,
  volumeInfo,
} from '../storage/storage.js';
import { Virsh } from '../virsh/virsh.js';
import { attributeOf, childOf, childrenOf, parseXml } from '../xml/xml-reader.js';
import {
  type CloneOptions,
  type CloneSource,
  cloneDomain,
  cloneVolumeStem,
  findOverlays,
  readCloneSource,
} from './clone.js';
import { buildDomainXml, HVKIT_TAGS_NS } from './domain-xml.js';
import { HVKIT_VM_NS, type HvkitVmRecord } from './vm-metadata.js';

const bed = requireLibvirtBed();
const PREFIX = `hvkit-cln-${randomBytes(3).toString('hex')}-`;
const MiB = 1024 * 1024;

function hasQemuImg(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const QEMU_IMG = hasQemuImg();
if (bed && !QEMU_IMG) console.warn('*** no local qemu-img: SKIPPING the clone tests that need it');

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 256 * 1024) yield bytes.subarray(at, at + 256 * 1024);
}

describe.skipIf(!bed)('libvirt clones against the bed', () => {
  const ready = bed as LibvirtReady;
  const pool = ready.pool;
  let ssh: SshConnection;
  let virsh: Virsh;
  const work = mkdtempSync(join(tmpdir(), 'hvkit-cln-'));

  async function download(name: string, where = pool): Promise<Buffer> {
    const { stream } = await downloadVolume(virsh, { pool: where, name });
    const parts: Uint8Array[] = [];
    for await (const part of stream) parts.push(part);
    return Buffer.concat(parts);
  }

  /** The guest data of a qcow2 volume: downloaded, then converted to raw by the local qemu-img. */
  async function qcow2Data(name: string): Promise<Buffer> {
    const file = join(work, `${name}.qcow2`);
    writeFileSync(file, await download(name));
    const raw = join(work, `${name}.raw`);
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', file, raw]);
    const data = readFileSync(raw);
    rmSync(file);
    rmSync(raw);
    return data;
  }

  /** Uploads `data` as a qcow2 volume (made locally with qemu-img; `-c` compresses). */
  async function uploadQcow2(name: string, data: Buffer, compress = false): Promise<VolumeDetails> {
    const raw = join(work, `${name}.raw`);
    const file = join(work, `${name}.qcow2`);
    writeFileSync(raw, data);
    execFileSync('qemu-img', [
      'convert',
      ...(compress ? ['-c'] : []),
      '-f',
      'raw',
      '-O',
      'qcow2',
      raw,
      file,
    ]);
    const image = readFileSync(file);
    rmSync(raw);
    rmSync(file);
    const { volume } = await uploadVolume(virsh, {
      pool,
      name,
      format: 'qcow2',
      sizeBytes: image.length,
      source: once(image),
    });
    return volume;
  }

  async function uploadRaw(name: string, data: Buffer): Promise<VolumeDetails> {
    const { volume } = await uploadVolume(virsh, {
      pool,
      name,
      format: 'raw',
      sizeBytes: data.length,
      source: once(data),
    });
    return volume;
  }

  /** Defines a stopped domain on `volumes` (kernel boot, one NIC) and reads it as a clone source. */
  async function defineSource(
    name: string,
    volumes: readonly VolumeDetails[],
    record: HvkitVmRecord = { template: false },
    extra: Partial<VmSpecInput> = {},
  ): Promise<CloneSource> {
    const spec = VmSpecSchema.parse({
      name,
      cpu: { count: 2 },
      memory: { sizeMiB: 128 },
      disks: volumes.map((volume) => ({
        sizeGiB: volume.capacityBytes / 1024 ** 3,
        format: volume.format === 'raw' ? 'raw' : 'qcow2',
      })),
      nics: [{ network: ready.network }],
      tags: { origin: 'source' },
      providerOptions: {
        libvirt: {
          domainType: 'qemu',
          kernel: ready.guest.kernel,
          initrd: ready.guest.initrd,
          cmdline: ready.guest.cmdline,
        },
      },
      ...extra,
    });
    const { xml } = buildDomainXml(spec, {
      volumes: volumes.map((volume) => ({
        path: volume.path,
        format: volume.format === 'raw' ? 'raw' : 'qcow2',
      })),
      networks: new Map([[ready.network, { kind: 'network' }]]),
      record,
      serialLogPath: `${ready.guest.serialLogDir}/${name}.serial.log`,
    });
    await virsh.run(['define', '--file', '/dev/stdin'], { stdin: xml });
    return readCloneSource(virsh, name);
  }

  /** This run's domains (names) and volumes (names) on the bed. */
  async function ours(): Promise<{ domains: string[]; volumes: string[] }> {
    const names = (await virsh.run(['list', '--all', '--name'])).split('\n').filter(Boolean);
    const volumes = (await listVolumes(virsh, pool)).map((volume) => volume.name);
    return {
      domains: names.filter((name) => name.startsWith(PREFIX)),
      volumes: volumes.filter((name) => name.startsWith(PREFIX)),
    };
  }

  /** Names containing the clone's volume stem: what a clone named `name` with `uuid` makes. */
  async function cloneLeftovers(name: string, uuid: string): Promise<string[]> {
    const stem = cloneVolumeStem(name, uuid);
    return (await listVolumes(virsh, pool))
      .map((volume) => volume.name)
      .filter((volume) => volume.startsWith(stem));
  }

  async function removeDomain(id: string): Promise<void> {
    await virsh.run(['destroy', '--', id]).catch(() => undefined);
    await virsh.run(['undefine', '--nvram', '--', id]).catch(() => undefined);
  }

  beforeAll(async () => {
    ssh = connectToBed(ready);
    virsh = new Virsh(ssh, { uri: ready.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (!ssh) return;
    const left = await ours();
    for (const name of left.domains) await removeDomain(name);
    // Overlays (clones) before the bases they sit on; libvirt deletes either way in a dir pool.
    const volumes = (await ours()).volumes.sort((a, b) => b.length - a.length);
    for (const name of volumes) await deleteVolume(virsh, pool, name).catch(() => undefined);
    await ssh.close();
    rmSync(work, { recursive: true, force: true });
  });

  it.skipIf(!QEMU_IMG)(
    'full clone of a shut-off domain: new UUID, MACs and volumes, identical data, independent disks',
    async () => {
      const qcowData = randomBytes(4 * MiB);
      const rawData = randomBytes(2 * MiB);
      const qcow = await uploadQcow2(`${PREFIX}src-a.qcow2`, qcowData);
      const raw = await uploadRaw(`${PREFIX}src-a.raw`, rawData);
      // A thin raw volume, never written: its copy must stay thin.
      const thin = await createVolume(virsh, {
        pool,
        name: `${PREFIX}src-a-thin.raw`,
        sizeBytes: 64 * MiB,
        format: 'raw',
      });
      expect(qcow.capacityBytes).toBe(4 * MiB);
      expect(raw.allocationBytes).toBeGreaterThanOrEqual(raw.capacityBytes);
      expect(thin.allocationBytes).toBe(0);
      const source = await defineSource(`${PREFIX}src-a`, [qcow, raw, thin]);
      expect(source.state).toBe('shut off');
      expect(source.disks.map((disk) => [disk.dev, disk.volume.name])).toEqual([
        ['vda', qcow.name],
        ['vdb', raw.name],
        ['vdc', thin.name],
      ]);

      const progress: [number, number][] = [];
      const options: CloneOptions = {
        name: `${PREFIX}full-a`,
        mode: 'full',
        tags: { origin: 'clone', quote: `it's <a> & "b"` },
      };
      const result = await cloneDomain(
        virsh,
        source,
        options,
        {
          sourceIsTemplate: false,
          serialLogPath: `${ready.guest.serialLogDir}/${PREFIX}full-a.log`,
        },
        { onProgress: (done, total) => progress.push([done, total]) },
      );
      expect(result.existed).toBe(false);
      expect(result.started).toBe(false);
      expect(result.uuid).not.toBe(source.uuid);
      expect((await virsh.run(['domstate', '--', result.uuid])).trim()).toBe('shut off');

      const sourceXml = parseXml(source.xml);
      const clone = parseXml(await virsh.run(['dumpxml', '--inactive', '--', result.uuid]));
      expect(childOf(clone, 'name')?.text).toBe(options.name);
      expect(childOf(clone, 'uuid')?.text).toBe(result.uuid);
      const macs = (root: typeof clone) =>
        childrenOf(childOf(root, 'devices'), 'interface').map((nic) =>
          attributeOf(childOf(nic, 'mac'), 'address'),
        );
      expect(macs(clone)).toHaveLength(1);
      expect(macs(clone)[0]).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
      expect(macs(clone)).not.toEqual(macs(sourceXml));
      const paths = (root: typeof clone) =>
        childrenOf(childOf(root, 'devices'), 'disk').map((disk) =>
          attributeOf(childOf(disk, 'source'), 'file'),
        );
      expect(paths(clone)).toEqual(result.volumes.map((volume) => volume.path));
      for (const path of paths(clone)) expect(paths(sourceXml)).not.toContain(path);
      // Same hardware: CPU, memory, disk formats and sizes.
      expect(childOf(clone, 'vcpu')?.text).toBe(childOf(sourceXml, 'vcpu')?.text);
      expect(childOf(clone, 'currentMemory')?.text).toBe(childOf(sourceXml, 'currentMemory')?.text);
      expect(result.volumes.map((volume) => [volume.format, volume.capacityBytes])).toEqual([
        ['qcow2', 4 * MiB],
        ['raw', 2 * MiB],
        ['raw', 64 * MiB],
      ]);
      // Thick stays thick, thin stays thin (libvirt would preallocate without <allocation>).
      expect(result.volumes[1]?.allocationBytes).toBeGreaterThanOrEqual(2 * MiB);
      expect(result.volumes[2]?.allocationBytes).toBe(0);
      expect(result.volumes.every((volume) => volume.backingStore === undefined)).toBe(true);
      // hvkit's record is the clone's own (no template flag), tags as asked, the log moved.
      const metadata = childOf(clone, 'metadata');
      expect(attributeOf(childOf(metadata, 'vm', HVKIT_VM_NS), 'template')).toBe('no');
      const tags = childrenOf(childOf(metadata, 'tags', HVKIT_TAGS_NS), 'tag', HVKIT_TAGS_NS);
      expect(Object.fromEntries(tags.map((tag) => [attributeOf(tag, 'key'), tag.text]))).toEqual(
        options.tags,
      );
      expect(
        attributeOf(childOf(childOf(childOf(clone, 'devices'), 'serial'), 'log'), 'file'),
      ).toBe(`${ready.guest.serialLogDir}/${PREFIX}full-a.log`);

      // Data: byte for byte (raw directly, qcow2 through qemu-img), and qcow2 v3.
      const [qcowClone, rawClone] = result.volumes as [VolumeDetails, VolumeDetails, VolumeDetails];
      expect(sha256(await download(rawClone.name))).toBe(sha256(rawData));
      expect(sha256(await qcow2Data(qcowClone.name))).toBe(sha256(qcowData));
      expect(await virsh.run(['vol-dumpxml', '--pool', pool, '--vol', qcowClone.name])).toContain(
        '<compat>1.1</compat>',
      );
      const total = qcow.capacityBytes + raw.capacityBytes + thin.capacityBytes;
      expect(progress.at(-1)).toEqual([total, total]);
      expect(progress.every(([done, all]) => all === total && done <= total)).toBe(true);

      // Independent: new bytes in the clone's raw volume leave the source's as they were.
      await deleteVolume(virsh, pool, rawClone.name);
      await uploadRaw(rawClone.name, randomBytes(2 * MiB));
      expect(sha256(await download(raw.name))).toBe(sha256(rawData));
    },
  );

  it('refuses a running source (invalid-power-state) and a taken name (already-exists), making nothing', async () => {
    const disk = await uploadRaw(`${PREFIX}src-b.raw`, randomBytes(MiB));
    const source = await defineSource(`${PREFIX}src-b`, [disk]);
    const uuid = '00000000-0000-4000-8000-00000000c1b2'.replace(
      'c1b2',
      randomBytes(2).toString('hex'),
    );

    // A name that exists (the source's own) → already-exists before anything is made.
    const taken = cloneDomain(
      virsh,
      source,
      { name: source.name, mode: 'full' },
      { sourceIsTemplate: false, uuid },
    );
    await expect(taken).rejects.toSatisfy(
      (error: unknown) => ConflictError.isInstance(error) && error.reason === 'already-exists',
    );
    expect(await cloneLeftovers(source.name, uuid)).toEqual([]);

    // A linked clone of a plain VM → invalid-state, nothing made.
    const linked = cloneDomain(
      virsh,
      source,
      { name: `${PREFIX}linked-b`, mode: 'linked' },
      { sourceIsTemplate: false, uuid },
    );
    await expect(linked).rejects.toSatisfy(
      (error: unknown) =>
        ConflictError.isInstance(error) &&
        error.reason === 'invalid-state' &&
        /not a template/.test(error.message),
    );
    expect(await cloneLeftovers(`${PREFIX}linked-b`, uuid)).toEqual([]);

    // Running → invalid-power-state (libvirt itself would fail the qcow2 copy on QEMU's lock).
    await virsh.run(['start', '--', source.uuid]);
    try {
      const running = await readCloneSource(virsh, source.uuid);
      expect(running.state).toBe('running');
      const attempt = cloneDomain(
        virsh,
        running,
        { name: `${PREFIX}run-b`, mode: 'full' },
        { sourceIsTemplate: false, uuid },
      );
      await expect(attempt).rejects.toSatisfy(
        (error: unknown) =>
          ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
      );
    } finally {
      await virsh.run(['destroy', '--', source.uuid]).catch(() => undefined);
    }
    expect(await cloneLeftovers(`${PREFIX}run-b`, uuid)).toEqual([]);
    expect((await ours()).domains.sort()).not.toContain(`${PREFIX}run-b`);
  });

  it('reading a missing domain as a source is NotFoundError (vm)', async () => {
    const missing = crypto.randomUUID();
    await expect(readCloneSource(virsh, missing)).rejects.toSatisfy(
      (error: unknown) => NotFoundError.isInstance(error) && error.resource === 'vm',
    );
  });

  it('with a known UUID returns the existing clone instead of cloning again', async () => {
    const disk = await uploadRaw(`${PREFIX}src-c.raw`, randomBytes(MiB));
    const source = await defineSource(`${PREFIX}src-c`, [disk]);
    const uuid = crypto.randomUUID();
    const options: CloneOptions = { name: `${PREFIX}key-c`, mode: 'full' };
    const first = await cloneDomain(virsh, source, options, { sourceIsTemplate: false, uuid });
    expect(first).toMatchObject({ uuid, existed: false });
    expect(first.volumes).toHaveLength(1);
    const second = await cloneDomain(virsh, source, options, { sourceIsTemplate: false, uuid });
    expect(second).toEqual({
      uuid,
      name: options.name,
      existed: true,
      volumes: [],
      started: false,
    });
    expect(await cloneLeftovers(options.name, uuid)).toEqual([first.volumes[0]?.name]);
  });

  it('linked clone of a template: qcow2 overlays on the template volumes, which stay unchanged when the clone runs', async () => {
    const qcowData = randomBytes(MiB);
    const base = QEMU_IMG
      ? await uploadQcow2(`${PREFIX}tpl-d.qcow2`, qcowData)
      : await uploadRaw(`${PREFIX}tpl-d.img`, qcowData);
    const rawBase = await uploadRaw(`${PREFIX}tpl-d.raw`, randomBytes(MiB));
    const template = await defineSource(`${PREFIX}tpl-d`, [base, rawBase], { template: true });
    const before = [sha256(await download(base.name)), sha256(await download(rawBase.name))];

    const result = await cloneDomain(
      virsh,
      template,
      { name: `${PREFIX}linked-d`, mode: 'linked', powerOn: true },
      { sourceIsTemplate: true },
    );
    try {
      expect(result.started).toBe(true);
      // QEMU opened the chain (root-owned 0600 backing files, relabelled by libvirt) and runs.
      expect((await virsh.run(['domstate', '--', result.uuid])).trim()).toBe('running');
      for (const [index, volume] of result.volumes.entries()) {
        const info = await volumeInfo(virsh, pool, volume.name);
        const backing = index === 0 ? base : rawBase;
        expect(info.format).toBe('qcow2');
        expect(info.capacityBytes).toBe(backing.capacityBytes);
        expect(info.backingStore).toEqual({ path: backing.path, format: backing.format });
      }
      const clone = parseXml(await virsh.run(['dumpxml', '--inactive', '--', result.uuid]));
      const drivers = childrenOf(childOf(clone, 'devices'), 'disk').map((disk) =>
        attributeOf(childOf(disk, 'driver'), 'type'),
      );
      expect(drivers).toEqual(['qcow2', 'qcow2']);
      expect(attributeOf(childOf(childOf(clone, 'metadata'), 'vm', HVKIT_VM_NS), 'template')).toBe(
        'no',
      );
      // The source's tags are kept when the options name none.
      expect(
        childOf(childOf(childOf(clone, 'metadata'), 'tags', HVKIT_TAGS_NS), 'tag', HVKIT_TAGS_NS)
          ?.text,
      ).toBe('source');

      // The guest's view writes: 1 MiB of 0x77 at offset 0 of each disk, through QEMU's own
      // qemu-io on the device (libvirt aliases vda/vdb as virtio-disk0/1).
      for (const disk of ['virtio-disk0', 'virtio-disk1']) {
        const out = await virsh.run([
          'qemu-monitor-command',
          '--hmp',
          '--',
          result.uuid,
          `qemu-io -d /machine/peripheral/${disk}/virtio-backend "write -P 0x77 0 1M"`,
        ]);
        expect(out.trim()).toBe('');
      }
    } finally {
      await virsh.run(['destroy', '--', result.uuid]).catch(() => undefined);
    }
    // The writes landed in the overlays; the template's volumes are byte for byte as before.
    for (const volume of result.volumes) {
      expect((await volumeInfo(virsh, pool, volume.name)).allocationBytes).toBeGreaterThan(MiB);
    }
    expect([sha256(await download(base.name)), sha256(await download(rawBase.name))]).toEqual(
      before,
    );
    if (QEMU_IMG) expect(sha256(await qcow2Data(base.name))).toBe(sha256(qcowData));

    // The template's overlays are found by their backing paths (what guards a template's deletion).
    const overlays = await findOverlays(virsh, [base.path, rawBase.path]);
    expect(overlays.map((item) => item.name).sort()).toEqual(
      result.volumes.map((item) => item.name).sort(),
    );

    // A full clone of the (stopped) linked clone is flattened: no backing file, and its data is
    // the clone's view (the 0x77 written over the whole 1 MiB), not the template's.
    const linkedSource = await readCloneSource(virsh, result.uuid);
    expect(linkedSource.disks[0]?.volume.backingStore?.path).toBe(base.path);
    const flat = await cloneDomain(
      virsh,
      linkedSource,
      { name: `${PREFIX}flat-d`, mode: 'full' },
      { sourceIsTemplate: false },
    );
    expect(flat.volumes.map((item) => item.backingStore)).toEqual([undefined, undefined]);
    if (QEMU_IMG)
      expect(sha256(await qcow2Data(flat.volumes[0]?.name ?? ''))).toBe(
        sha256(Buffer.alloc(MiB, 0x77)),
      );
  });

  it.skipIf(!QEMU_IMG)(
    'an abort midway through a large full clone deletes what it made once libvirtd lets go; no domain is defined',
    { timeout: 300_000 },
    async () => {
      // 1 GiB of non-zero data (a pattern, so the compressed qcow2 uploads in a moment): the host's
      // qemu-img convert writes all of it, which takes seconds.
      const big = await uploadQcow2(`${PREFIX}src-e.qcow2`, Buffer.alloc(1024 * MiB, 0x55), true);
      const source = await defineSource(`${PREFIX}src-e`, [big]);
      const uuid = crypto.randomUUID();
      const name = `${PREFIX}abort-e`;
      const controller = new AbortController();
      const seen: number[] = [];
      const startedAt = Date.now();
      let abortedAt = 0;
      const attempt = cloneDomain(
        virsh,
        source,
        { name, mode: 'full' },
        { sourceIsTemplate: false, uuid, progressIntervalMs: 250 },
        {
          signal: controller.signal,
          onProgress: (done, total) => {
            seen.push(done);
            if (done > 0 && done < total && abortedAt === 0) {
              abortedAt = Date.now();
              controller.abort(new Error('test abort'));
            }
          },
        },
      );
      const outcome = await attempt.then(
        () => undefined,
        (error: unknown) => error,
      );
      const endedAt = Date.now();
      console.info(
        `clone abort: aborted ${abortedAt - startedAt} ms after start, cleaned up ${endedAt - abortedAt} ms later; progress ${seen.join(',')}`,
      );
      expect(abortedAt).toBeGreaterThan(0);
      // Nothing is reported after the abort (the copy libvirtd finishes meanwhile is not progress).
      expect(seen.filter((done) => done > (seen.find((value) => value > 0) ?? 0))).toEqual([]);
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toBe('test abort');
      expect(await cloneLeftovers(name, uuid)).toEqual([]);
      const domains = (await virsh.run(['list', '--all', '--uuid'])).split('\n');
      expect(domains).not.toContain(uuid);
    },
  );
});
