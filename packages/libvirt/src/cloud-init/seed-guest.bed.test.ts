// End to end on the REAL bed: a real Linux guest mounts the seed ISO hvkit built and reads the
// NoCloud files under their exact names, through Rock Ridge and through Joliet. The seed is
// attached the way the driver will attach it (buildDomainXml `target.seedIso`: a read-only SATA
// cdrom on q35).
//
// Opt-in (HVKIT_SEED_E2E=1): the bed guest's initramfs has no cdrom/SATA/isofs modules (its
// modules: virtio, scsi_mod, button, evdev; isofs, cdrom, sr_mod, libata, libahci and ahci are
// modules, not built in, in Debian's 6.1 kernel), and it is not this module's to change. So this
// test downloads the guest's kernel package once (`apt-get download`, ~70 MB, cached in the temp
// directory), appends a second cpio archive holding those six modules to a copy of the bed's
// initramfs (Linux unpacks concatenated archives), boots that, and loads them through the guest
// agent (guest-exec) before mounting. The bed's own guest files are only read.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { VmSpecSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { buildDomainXml } from '../domain/domain-xml.js';
import { Virsh } from '../virsh/virsh.js';
import { buildNoCloudDocuments } from './nocloud.js';
import { buildSeedVolume, deleteSeedVolume } from './seed-volume.js';

const bed = requireLibvirtBed();
const enabled = bed !== null && process.env.HVKIT_SEED_E2E === '1';
const prefix = `hvkit-ci-${randomBytes(4).toString('hex')}`;
/** Loaded in this order (each after its dependencies; scsi_mod is in the bed's initramfs). */
const EXTRA_MODULES = ['cdrom', 'sr_mod', 'libata', 'libahci', 'ahci', 'isofs'];

// ---- a copy of the bed's initramfs with the extra modules -----------------------------------------

/** One newc (`070701`) cpio entry. */
function cpioEntry(name: string, mode: number, data: Uint8Array, ino: number): Buffer {
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
  const header = `070701${fields.map((value) => value.toString(16).toUpperCase().padStart(8, '0')).join('')}`;
  const head = Buffer.concat([Buffer.from(header, 'ascii'), Buffer.from(`${name}\0`, 'ascii')]);
  const pad = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);
  return Buffer.concat([head, pad(head.length), Buffer.from(data), pad(data.length)]);
}

/** Where each extra module is in the kernel package, under lib/modules/<release>/kernel. */
const MODULE_PATHS: Record<string, string> = {
  cdrom: 'drivers/cdrom/cdrom.ko',
  sr_mod: 'drivers/scsi/sr_mod.ko',
  libata: 'drivers/ata/libata.ko',
  libahci: 'drivers/ata/libahci.ko',
  ahci: 'drivers/ata/ahci.ko',
  isofs: 'fs/isofs/isofs.ko',
};

/**
 * A directory holding `<module>.ko` for {@link EXTRA_MODULES}, taken from the guest kernel's
 * package: downloaded and unpacked once, then only the six modules are kept (~1 MB) as a cache.
 */
function guestModulesDir(guestJson: string): string {
  const guest = JSON.parse(readFileSync(guestJson, 'utf8')) as {
    kernelPackage: string;
    kernelPackageVersion: string;
  };
  const release = guest.kernelPackage.replace(/^linux-image-/, '');
  const cache = join(tmpdir(), `hvkit-ci-modules-${release}_${guest.kernelPackageVersion}`);
  if (EXTRA_MODULES.every((name) => existsSync(join(cache, `${name}.ko`)))) return cache;
  const unpack = mkdtempSync(join(tmpdir(), 'hvkit-ci-kernel-'));
  try {
    execFileSync(
      'apt-get',
      [
        'download',
        '-q',
        '-o',
        'APT::Sandbox::User=root',
        `${guest.kernelPackage}=${guest.kernelPackageVersion}`,
      ],
      { cwd: unpack, stdio: 'ignore' },
    );
    const deb = readdirSync(unpack).find((file) => file.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${guest.kernelPackage} left no .deb`);
    execFileSync('dpkg-deb', ['-x', join(unpack, deb), join(unpack, 'x')]);
    mkdirSync(cache, { recursive: true });
    for (const name of EXTRA_MODULES) {
      const from = join(unpack, 'x', 'lib', 'modules', release, 'kernel', MODULE_PATHS[name] ?? '');
      copyFileSync(from, join(cache, `${name}.ko`));
    }
  } finally {
    rmSync(unpack, { recursive: true, force: true });
  }
  return cache;
}

/** The bed's initramfs + a gzip'd cpio with `/hvkit-ci/<module>.ko`, written where QEMU reads it. */
function initramfsWithModules(bedInitrd: string, modules: string, dir: string): string {
  const entries = [cpioEntry('hvkit-ci', 0o40755, new Uint8Array(), 1)];
  EXTRA_MODULES.forEach((name, index) => {
    entries.push(
      cpioEntry(
        `hvkit-ci/${name}.ko`,
        0o100644,
        readFileSync(join(modules, `${name}.ko`)),
        index + 2,
      ),
    );
  });
  entries.push(cpioEntry('TRAILER!!!', 0, new Uint8Array(), 0));
  const file = join(dir, 'initrd-seed.img');
  writeFileSync(file, Buffer.concat([readFileSync(bedInitrd), gzipSync(Buffer.concat(entries))]));
  chmodSync(file, 0o644);
  return file;
}

// ---- the guest agent ----------------------------------------------------------------------------

async function agent(virsh: Virsh, domain: string, command: object): Promise<unknown> {
  const out = await virsh.run(['qemu-agent-command', domain, JSON.stringify(command)], {
    timeoutMs: 30_000,
  });
  return (JSON.parse(out) as { return: unknown }).return;
}

/** Runs `/bin/sh -c script` in the guest; returns its exit code and stdout. */
async function guestShell(
  virsh: Virsh,
  domain: string,
  script: string,
): Promise<{ code: number; out: string; err: string }> {
  const started = (await agent(virsh, domain, {
    execute: 'guest-exec',
    arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true },
  })) as { pid: number };
  for (let until = Date.now() + 60_000; Date.now() < until; ) {
    const status = (await agent(virsh, domain, {
      execute: 'guest-exec-status',
      arguments: { pid: started.pid },
    })) as { exited: boolean; exitcode?: number; 'out-data'?: string; 'err-data'?: string };
    if (status.exited)
      return {
        code: status.exitcode ?? -1,
        out: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
        err: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
      };
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error('guest-exec did not finish in 60 s');
}

describe.skipIf(!enabled)('a real guest mounts the NoCloud seed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;
  const pool = bed?.pool ?? 'default';
  let work = '';
  const uuid = randomUUID();
  const domain = `${prefix}-e2e`;
  const seedName = `${prefix}-e2e-seed.iso`;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'hvkit-ci-e2e-'));
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (bed) {
      await virsh.run(['destroy', domain]).catch(() => {});
      await virsh.run(['undefine', domain]).catch(() => {});
      await deleteSeedVolume(virsh, pool, seedName).catch(() => false);
      await ssh.close();
    }
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('mounts the cdrom as iso9660 labelled cidata and reads the exact files, Rock Ridge and Joliet', async () => {
    if (!bed) return;
    chmodSync(work, 0o755);
    const initrd = initramfsWithModules(
      bed.guest.initrd,
      guestModulesDir(join(dirname(bed.guest.kernel), 'guest.json')),
      work,
    );
    const mac = `52:54:00:c1:${randomBytes(2)
      .toString('hex')
      .replace(/(..)(..)/, '$1:$2')}`;
    const spec = VmSpecSchema.parse({
      name: domain,
      cpu: { count: 1 },
      memory: { sizeMiB: 256 },
      nics: [
        {
          network: bed.network,
          mac,
          ipv4: { address: '192.168.122.77/24', gateway: '192.168.122.1' },
        },
      ],
      cloudInit: { userData: '#cloud-config\nruncmd:\n  - [echo, "seed read"]\n' },
      customization: { hostname: 'seedhost', timeZone: 'UTC' },
      providerOptions: {
        libvirt: {
          domainType: 'qemu',
          kernel: bed.guest.kernel,
          initrd,
          cmdline: bed.guest.cmdline,
        },
      },
    });
    const plan = buildNoCloudDocuments(spec, { instanceId: uuid });
    if (plan === undefined) throw new Error('the spec needs a seed');
    const seed = await buildSeedVolume(virsh, pool, seedName, plan.documents);
    const { xml, seedTarget } = buildDomainXml(spec, {
      uuid,
      volumes: [],
      networks: new Map([[bed.network, { kind: 'network' }]]),
      seedIso: seed.path,
    });
    expect(seedTarget).toBe('sda');
    await virsh.run(['define', '/dev/stdin'], { stdin: xml });
    await virsh.run(['start', domain]);

    for (let until = Date.now() + 180_000; ; ) {
      const ok = await agent(virsh, domain, { execute: 'guest-ping' }).then(
        () => true,
        () => false,
      );
      if (ok) break;
      expect(Date.now(), 'the guest agent did not answer in 180 s').toBeLessThan(until);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }

    const loaded = await guestShell(
      virsh,
      domain,
      `for m in ${EXTRA_MODULES.join(' ')}; do insmod /hvkit-ci/$m.ko || exit 1; done
       # The node appears before the drive answers: wait for a readable first sector (30 s).
       i=0; until dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null; do
         i=$((i+1)); [ $i -lt 60 ] || exit 2; sleep 0.5
       done
       dd if=/dev/sr0 bs=1 skip=$((16 * 2048 + 40)) count=32 2>/dev/null; echo`,
    );
    // The label as the guest reads it from the drive (the primary volume id). Label lookup by a
    // prober is not tried here: Debian's busybox-static 1.35 has no blkid, and its findfs has no
    // iso9660 probe compiled in (measured: it finds no ISO at all). util-linux blkid, which
    // cloud-init uses, is run on the image in iso9660.test.ts.
    expect(loaded, loaded.err).toMatchObject({ code: 0, out: `cidata${' '.repeat(26)}\n` });

    const expected = new Map<string, string>([
      ['meta-data', plan.documents.metaData],
      ['network-config', plan.documents.networkConfig ?? ''],
      ['user-data', plan.documents.userData],
      ['vendor-data', plan.documents.vendorData ?? ''],
    ]);
    // `norock` makes Linux fall back to the Joliet tree; the default picks Rock Ridge.
    for (const options of ['ro', 'ro,norock']) {
      const listing = await guestShell(
        virsh,
        domain,
        `mkdir -p /mnt/seed && mount -t iso9660 -o ${options} /dev/sr0 /mnt/seed || exit 1
         cd /mnt/seed && for f in *; do printf '%s %s\\n' "$f" "$(base64 -w0 < "$f")"; done
         cd / && umount /mnt/seed`,
      );
      expect(listing.code, `${options}: ${listing.err}`).toBe(0);
      const files = new Map(
        listing.out
          .trim()
          .split('\n')
          .map((line) => {
            const [name = '', data = ''] = line.split(' ');
            return [name, Buffer.from(data, 'base64').toString('utf8')] as const;
          }),
      );
      expect(files, options).toEqual(expected);
    }
    const kernel = await guestShell(
      virsh,
      domain,
      'dmesg | grep -i "iso 9660 extensions" | head -n 3',
    );
    expect(kernel.out).toMatch(/RRIP_1991A/);
  }, 400_000);
});
