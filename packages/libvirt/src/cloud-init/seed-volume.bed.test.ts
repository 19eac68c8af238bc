// The NoCloud seed against the REAL bed (libvirt 9.0, dir pool `default`): documents from a spec
// with a static IP and user-data → ISO → raw volume over the SSH channel; the volume's bytes read
// back with vol-download equal the built image, and isoinfo (-R and -J) reads the documents from
// the downloaded bytes. Also what libvirt accepts as a volume name. Everything made here is named
// `hvkit-ci-<random>-…` and removed in afterAll.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, VmSpecSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, requireLibvirtBed } from '../../test/libvirt-bed.js';
import {
  createVolume,
  deleteVolume,
  downloadVolume,
  listVolumes,
  volumeInfo,
} from '../storage/storage.js';
import { Virsh } from '../virsh/virsh.js';
import { buildNoCloudDocuments, type NoCloudDocuments } from './nocloud.js';
import { buildSeedIso, buildSeedVolume, deleteSeedVolume } from './seed-volume.js';

const bed = requireLibvirtBed();
const prefix = `hvkit-ci-${randomBytes(4).toString('hex')}`;
const UUID = '0d9f6c1e-52a4-4c1b-9a0e-3b7d5f2a1c88';
const STAMP = new Date('2026-11-21T18:00:00Z');

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

function documentsOfSpec(): NoCloudDocuments {
  const spec = VmSpecSchema.parse({
    name: 'seed-test',
    cpu: { count: 1 },
    memory: { sizeMiB: 128 },
    cloudInit: {
      userData: '#cloud-config\nruncmd:\n  - [sh, -c, "echo hvkit seed ok > /dev/console"]\n',
    },
    customization: { hostname: 'seedhost', domain: 'lab.test', timeZone: 'UTC' },
    nics: [
      {
        network: 'default',
        mac: '52:54:00:c1:00:01',
        ipv4: { address: '192.168.122.77/24', gateway: '192.168.122.1' },
        dns: { servers: ['192.168.122.1'] },
      },
    ],
  });
  const plan = buildNoCloudDocuments(spec, { instanceId: UUID });
  if (plan === undefined) throw new Error('the spec needs a seed');
  return plan.documents;
}

describe.skipIf(!bed)('NoCloud seed volume against the bed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;
  const pool = bed?.pool ?? 'default';
  let work = '';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'hvkit-ci-bed-'));
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
    if (!bed) return;
    const ours = (await listVolumes(virsh, pool)).filter((volume) =>
      volume.name.startsWith(prefix),
    );
    for (const volume of ours) await deleteVolume(virsh, pool, volume.name).catch(() => {});
    await ssh.close();
  });

  it('uploads the seed as a raw volume whose bytes are the image, and isoinfo reads the documents back', async () => {
    const documents = documentsOfSpec();
    const name = `${prefix}-seed.iso`;
    const seed = await buildSeedVolume(virsh, pool, name, documents, { timestamp: STAMP });
    const image = buildSeedIso(documents, { timestamp: STAMP });
    expect(seed).toMatchObject({ pool, name, sizeBytes: image.byteLength });
    expect(seed.path).toBe(`${bed?.poolPath}/${name}`);

    const info = await volumeInfo(virsh, pool, name);
    // Created raw and written straight into its file (hvkit's uploads own their volume file), it
    // stays raw. (After a `vol-upload` libvirt 9.0 refreshes the pool, probes the content and
    // reports `iso`.) QEMU gets `<driver type='raw'>` from the domain XML either way.
    expect(info.format).toBe('raw');
    expect(info.capacityBytes).toBe(image.byteLength);

    const download = await downloadVolume(virsh, { pool, name });
    const bytes = await collect(download.stream);
    expect(bytes.equals(Buffer.from(image))).toBe(true);

    const file = join(work, 'downloaded.iso');
    writeFileSync(file, bytes);
    expect(execFileSync('isoinfo', ['-d', '-i', file], { encoding: 'utf8' })).toMatch(
      /^Volume id: cidata$/m,
    );
    const expected: Record<string, string | undefined> = {
      'meta-data': documents.metaData,
      'user-data': documents.userData,
      'network-config': documents.networkConfig,
      'vendor-data': documents.vendorData,
    };
    for (const mode of ['-R', '-J']) {
      for (const [fileName, content] of Object.entries(expected)) {
        const read = execFileSync('isoinfo', [mode, '-i', file, '-x', `/${fileName}`]);
        expect(read.toString('utf8')).toBe(content);
      }
    }
    // What the guest will get, spelled out once.
    expect(JSON.parse(documents.metaData)).toEqual({
      'instance-id': UUID,
      'local-hostname': 'seedhost.lab.test',
    });
    expect(documents.networkConfig).toContain('"macaddress": "52:54:00:c1:00:01"');
  });

  it('refuses to overwrite an existing seed (ConflictError) and deletes it once', async () => {
    const documents = documentsOfSpec();
    const name = `${prefix}-again.iso`;
    await buildSeedVolume(virsh, pool, name, documents);
    await expect(buildSeedVolume(virsh, pool, name, documents)).rejects.toBeInstanceOf(
      ConflictError,
    );
    // The refused second upload left the first one in place.
    expect((await volumeInfo(virsh, pool, name)).capacityBytes).toBe(
      buildSeedIso(documents).byteLength,
    );
    expect(await deleteSeedVolume(virsh, pool, name)).toBe(true);
    expect(await deleteSeedVolume(virsh, pool, name)).toBe(false);
  });

  it('leaves nothing behind when the upload is aborted', async () => {
    const name = `${prefix}-aborted.iso`;
    const controller = new AbortController();
    controller.abort();
    await expect(
      buildSeedVolume(virsh, pool, name, documentsOfSpec(), { signal: controller.signal }),
    ).rejects.toThrow();
    const left = (await listVolumes(virsh, pool)).map((volume) => volume.name);
    expect(left).not.toContain(name);
  });

  it('volume names: libvirt 9.0 refuses "/" in a dir-pool volume name; a UUID-based name is accepted', async () => {
    const slash = createVolume(virsh, {
      pool,
      name: `${prefix}-a/b.iso`,
      sizeBytes: 2048,
      format: 'raw',
    });
    // libvirt 9.0: "Requested operation is not valid: volume name '…/b.iso' cannot contain '/'".
    await expect(slash).rejects.toThrow(/volume name '.*a\/b\.iso' cannot contain '\/'/);
    const uuidName = `${prefix}-${UUID}.iso`;
    const made = await createVolume(virsh, {
      pool,
      name: uuidName,
      sizeBytes: 2048,
      format: 'raw',
    });
    expect(made.name).toBe(uuidName);
  });
});
