// Storage against the REAL bed (libvirt 9.0, dir pool `default`): pools, volume lifecycle,
// byte-exact upload/download over the SSH channel, failures that leave nothing behind, error
// mapping. Everything made here is named `hvkit-lv4-<random>-…` and removed in afterAll.
// HVKIT_MEASURE=1 adds a 256 MiB throughput and memory measurement (printed, not asserted).
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConflictError, InvalidSpecError, NotFoundError, ProviderApiError } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { Virsh } from '../virsh/virsh.js';
import {
  cloneVolume,
  createVolume,
  deleteVolume,
  downloadVolume,
  listStoragePools,
  listVolumes,
  resizeVolume,
  uploadVolume,
  volumeInfo,
} from './storage.js';

const bed = requireLibvirtBed();
const prefix = `hvkit-lv4-${randomBytes(4).toString('hex')}`;
const MiB = 1024 * 1024;

/** `bytes` in chunks of `chunk` bytes. */
async function* chunks(bytes: Uint8Array, chunk = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe.skipIf(!bed)('libvirt storage against the bed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;
  const pool = bed?.pool ?? 'default';

  async function ourVolumes(): Promise<string[]> {
    return (await listVolumes(virsh, pool))
      .map((volume) => volume.name)
      .filter((name) => name.startsWith(prefix));
  }

  beforeAll(async () => {
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (!bed) return;
    // Overlays first: a base with an overlay on it is still deletable in a dir pool, but be tidy.
    const left = (await ourVolumes()).sort().reverse();
    for (const name of left) await deleteVolume(virsh, pool, name).catch(() => {});
    await ssh.close();
  });

  it('lists pools with exact sizes from pool-dumpxml', async () => {
    const pools = await listStoragePools(virsh);
    const found = pools.find((entry) => entry.name === pool);
    expect(found).toBeDefined();
    expect(found?.type).toBe('dir');
    expect(found?.content).toContain('disk');
    expect(found?.shared).toBe(false);
    expect(found?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(found?.capacityBytes).toBeGreaterThan(0);
    expect(found?.freeBytes).toBeGreaterThan(0);
    expect(found?.freeBytes).toBeLessThanOrEqual(found?.capacityBytes ?? 0);
  });

  it('creates, lists, resizes (grow only), clones, overlays and deletes volumes', async () => {
    const name = `${prefix}-a.qcow2`;
    const created = await createVolume(virsh, {
      pool,
      name,
      sizeBytes: 64 * MiB,
      format: 'qcow2',
      preallocation: 'metadata',
    });
    expect(created).toMatchObject({ name, format: 'qcow2', capacityBytes: 64 * MiB });
    expect(created.path).toBe(`${bed?.poolPath}/${name}`);
    expect(created.backingStore).toBeUndefined();

    const raw = await createVolume(virsh, {
      pool,
      name: `${prefix}-full.raw`,
      sizeBytes: 4 * MiB,
      format: 'raw',
      preallocation: 'full',
    });
    expect(raw).toMatchObject({ format: 'raw', capacityBytes: 4 * MiB });
    expect(raw.allocationBytes).toBeGreaterThanOrEqual(4 * MiB);

    expect((await ourVolumes()).sort()).toEqual([`${prefix}-a.qcow2`, `${prefix}-full.raw`]);

    const grown = await resizeVolume(virsh, { pool, name, sizeBytes: 96 * MiB });
    expect(grown.capacityBytes).toBe(96 * MiB);
    await expect(resizeVolume(virsh, { pool, name, sizeBytes: 32 * MiB })).rejects.toBeInstanceOf(
      InvalidSpecError,
    );
    expect((await volumeInfo(virsh, pool, name)).capacityBytes).toBe(96 * MiB);

    const clone = await cloneVolume(virsh, { pool, name, newName: `${prefix}-b.qcow2` });
    expect(clone).toMatchObject({ format: 'qcow2', capacityBytes: 96 * MiB });

    const overlay = await createVolume(virsh, {
      pool,
      name: `${prefix}-c.qcow2`,
      sizeBytes: 96 * MiB,
      format: 'qcow2',
      backing: { path: created.path, format: 'qcow2' },
    });
    expect(overlay.backingStore).toEqual({ path: created.path, format: 'qcow2' });

    for (const gone of [`${prefix}-c.qcow2`, `${prefix}-b.qcow2`, `${prefix}-full.raw`, name]) {
      await deleteVolume(virsh, pool, gone);
    }
    expect(await ourVolumes()).toEqual([]);
  });

  it('maps missing pool, missing volume and existing name', async () => {
    const name = `${prefix}-dup.raw`;
    await createVolume(virsh, { pool, name, sizeBytes: MiB, format: 'raw' });
    const again = createVolume(virsh, { pool, name, sizeBytes: MiB, format: 'raw' });
    await expect(again).rejects.toBeInstanceOf(ConflictError);
    await expect(again).rejects.toMatchObject({ reason: 'already-exists' });
    // An upload onto an existing name fails the same way and leaves the existing volume alone.
    await expect(
      uploadVolume(virsh, {
        pool,
        name,
        format: 'raw',
        sizeBytes: 4,
        source: chunks(new Uint8Array(4)),
      }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect((await volumeInfo(virsh, pool, name)).capacityBytes).toBe(MiB);
    await deleteVolume(virsh, pool, name);

    await expect(volumeInfo(virsh, pool, `${prefix}-none`)).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(deleteVolume(virsh, pool, `${prefix}-none`)).rejects.toBeInstanceOf(NotFoundError);
    const noPool = listVolumes(virsh, `${prefix}-no-pool`);
    await expect(noPool).rejects.toBeInstanceOf(NotFoundError);
    await expect(noPool).rejects.toMatchObject({ resource: 'storage' });
    await expect(
      createVolume(virsh, { pool: `${prefix}-no-pool`, name, sizeBytes: MiB, format: 'raw' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each([
    ['auto', 'file'],
    ['libvirt', 'libvirt'],
  ] as const)(
    'uploads random bytes and downloads them back byte-exact, also from an offset (transfer %s: by %s)',
    async (transfer, via) => {
      const bytes = randomBytes(12 * MiB + 12345);
      const name = `${prefix}-up-${transfer}.raw`;
      const progress: number[] = [];
      const up = await uploadVolume(virsh, {
        pool,
        name,
        format: 'raw',
        sizeBytes: bytes.length,
        source: chunks(bytes),
        sha256: sha256(bytes),
        onProgress: (sent) => progress.push(sent),
        transfer,
      });
      expect(up.via).toBe(via);
      expect(up.sizeBytes).toBe(bytes.length);
      expect(up.sha256).toBe(sha256(bytes));
      expect(up.volume.capacityBytes).toBe(bytes.length);
      expect(progress.at(-1)).toBe(bytes.length);

      // hvkit's uploads belong to the SSH user (libvirtd made the file and chowned it); with
      // transfer 'libvirt' the volume is libvirt's own (root), which the SSH user cannot open.
      const owner = await ssh.exec(['stat', '-c', '%U', up.volume.path]);
      expect(owner.stdout.toString().trim()).toBe(via === 'file' ? bed?.username : 'root');
      const down = await downloadVolume(virsh, { pool, name });
      expect(down.via).toBe(via);
      expect(down.sizeBytes).toBe(bytes.length);
      const back = await collect(down.stream);
      expect(back.length).toBe(bytes.length);
      expect(sha256(back)).toBe(sha256(bytes));

      const offset = 5 * MiB + 7;
      const tail = await downloadVolume(virsh, { pool, name, offsetBytes: offset });
      expect(tail.sizeBytes).toBe(bytes.length - offset);
      expect(sha256(await collect(tail.stream))).toBe(sha256(bytes.subarray(offset)));

      // A byte range always comes through libvirt's stream.
      expect(tail.via).toBe('libvirt');
      const slice = await downloadVolume(virsh, {
        pool,
        name,
        offsetBytes: 100,
        lengthBytes: 4096,
      });
      expect(slice.sizeBytes).toBe(4096);
      expect(Buffer.compare(await collect(slice.stream), bytes.subarray(100, 4196))).toBe(0);

      await deleteVolume(virsh, pool, name);
    },
  );

  it('a short stream, a long stream or a wrong hash leaves no volume', async () => {
    const bytes = randomBytes(2 * MiB);
    const cases = [
      { suffix: 'short', sizeBytes: bytes.length + 1, sha: undefined },
      { suffix: 'long', sizeBytes: bytes.length - 1, sha: undefined },
      { suffix: 'hash', sizeBytes: bytes.length, sha: sha256(Buffer.from('other')) },
    ];
    for (const entry of cases) {
      const name = `${prefix}-bad-${entry.suffix}.raw`;
      const upload = uploadVolume(virsh, {
        pool,
        name,
        format: 'raw',
        sizeBytes: entry.sizeBytes,
        source: chunks(bytes),
        sha256: entry.sha,
      });
      await expect(upload, entry.suffix).rejects.toBeInstanceOf(ProviderApiError);
      await expect(upload, entry.suffix).rejects.toMatchObject({ fault: 'stream-mismatch' });
      await expect(volumeInfo(virsh, pool, name), entry.suffix).rejects.toBeInstanceOf(
        NotFoundError,
      );
    }
    // A failing source (the caller's error) also deletes the volume, and its error comes through.
    const name = `${prefix}-bad-source.raw`;
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, MiB);
      throw new Error('source broke');
    }
    await expect(
      uploadVolume(virsh, {
        pool,
        name,
        format: 'raw',
        sizeBytes: bytes.length,
        source: failing(),
      }),
    ).rejects.toThrow();
    await expect(volumeInfo(virsh, pool, name)).rejects.toBeInstanceOf(NotFoundError);
    // Downloading a missing volume fails before any stream.
    await expect(downloadVolume(virsh, { pool, name })).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each(['auto', 'libvirt'] as const)(
    'stopping a download early ends the remote command; an aborted upload leaves no volume (transfer %s)',
    async (transfer) => {
      const bytes = randomBytes(16 * MiB);
      const name = `${prefix}-stop-${transfer}.raw`;
      await uploadVolume(virsh, {
        pool,
        name,
        format: 'raw',
        sizeBytes: bytes.length,
        source: chunks(bytes),
        transfer,
      });
      // The remote virsh vol-download, or the cat of the volume file.
      const virshOnHost = async () =>
        (await ssh.exec(['ps', '-eo', 'args'])).stdout
          .toString('utf8')
          .split('\n')
          .filter(
            (line) => (line.startsWith('virsh') || line.startsWith('cat')) && line.includes(name),
          );
      const down = await downloadVolume(virsh, { pool, name, transfer });
      expect(down.via).toBe(transfer === 'auto' ? 'file' : 'libvirt');
      let got = 0;
      for await (const chunk of down.stream) {
        got += chunk.byteLength;
        // Held back by the SSH window (16 MiB > what is in flight): virsh is still running.
        expect(await virshOnHost()).toHaveLength(1);
        break;
      }
      expect(got).toBeGreaterThan(0);
      expect(got).toBeLessThan(bytes.length);
      let left = await virshOnHost();
      for (let tries = 0; left.length > 0 && tries < 20; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await virshOnHost();
      }
      expect(left).toEqual([]);
      await deleteVolume(virsh, pool, name);

      const controller = new AbortController();
      const aborted = `${prefix}-abort-${transfer}.raw`;
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield bytes.subarray(0, MiB);
        controller.abort(new Error('stop the upload'));
        await new Promise((resolve) => setTimeout(resolve, 200));
        yield bytes.subarray(MiB, 2 * MiB);
      }
      await expect(
        uploadVolume(virsh, {
          pool,
          name: aborted,
          format: 'raw',
          sizeBytes: bytes.length,
          source: slow(),
          signal: controller.signal,
          transfer,
        }),
      ).rejects.toThrow('stop the upload');
      await expect(volumeInfo(virsh, pool, aborted)).rejects.toBeInstanceOf(NotFoundError);
    },
  );

  // Registered only on request (not a skip): 256 MiB each way is too slow for every run.
  if (process.env.HVKIT_MEASURE === '1')
    it('measures 256 MiB: vol-upload vs cat > f, vol-download vs cat f, RSS', async () => {
      // HVKIT_MEASURE_MIB=64 and =1024 next to the default show whether memory stays flat.
      const size = Number(process.env.HVKIT_MEASURE_MIB ?? 256) * MiB;
      const block = randomBytes(4 * MiB);
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < size; at += block.length) yield block;
      }
      const hashOf = createHash('sha256');
      for (let at = 0; at < size; at += block.length) hashOf.update(block);
      const digest = hashOf.digest('hex');
      const name = `${prefix}-measure.raw`;
      const file = `/tmp/${prefix}-measure.bin`;
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const sample = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);
      const rate = (ms: number) => ((size / MiB / ms) * 1000).toFixed(0);
      try {
        let t = performance.now();
        // Hashed on the way, as uploadVolume does: the comparison is of the transports.
        const catInHash = createHash('sha256');
        async function* hashed(): AsyncGenerator<Uint8Array> {
          for await (const chunk of source()) {
            catInHash.update(chunk);
            yield chunk;
          }
        }
        const catIn = await ssh.spawn(['sh', '-c', `cat > ${file}`], { stdin: hashed() });
        expect((await catIn.exit).code).toBe(0);
        const catUp = performance.now() - t;
        expect(catInHash.digest('hex')).toBe(digest);

        t = performance.now();
        await uploadVolume(virsh, {
          pool,
          name,
          format: 'raw',
          sizeBytes: size,
          source: source(),
          sha256: digest,
        });
        const volUp = performance.now() - t;

        t = performance.now();
        const catOut = await ssh.spawn(['cat', file]);
        const catHash = createHash('sha256');
        for await (const chunk of catOut.stdout) catHash.update(chunk);
        await catOut.exit;
        const catDown = performance.now() - t;
        expect(catHash.digest('hex')).toBe(digest);

        t = performance.now();
        const down = await downloadVolume(virsh, { pool, name });
        const downHash = createHash('sha256');
        for await (const chunk of down.stream) downHash.update(chunk);
        const volDown = performance.now() - t;
        expect(downHash.digest('hex')).toBe(digest);

        console.log(
          `[storage ${size / MiB} MiB] cat>f ${rate(catUp)} MiB/s, vol-upload ${rate(volUp)} MiB/s (${(catUp / volUp).toFixed(2)}x); ` +
            `cat f ${rate(catDown)} MiB/s, vol-download ${rate(volDown)} MiB/s (${(catDown / volDown).toFixed(2)}x); ` +
            `RSS start ${(rss0 / MiB).toFixed(0)} MiB, peak +${((peak - rss0) / MiB).toFixed(0)} MiB`,
        );
      } finally {
        clearInterval(sample);
        await ssh.exec(['rm', '-f', file]);
        await deleteVolume(virsh, pool, name).catch(() => {});
      }
    }, 300_000);
});
