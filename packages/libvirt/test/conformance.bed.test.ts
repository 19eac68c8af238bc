/**
 * The shared conformance suite against the real libvirt bed (libvirtd + QEMU under TCG behind
 * OpenSSH, testbeds/libvirt), which global-setup.ts started. Every VM the suite creates boots the
 * bed's real guest (Debian kernel + busybox initramfs with qemu-guest-agent and acpid) by direct
 * kernel boot, so the guest agent, graceful shutdown and reboot are exercised for real. The I/O
 * probe counts SSH execs, so the "before any I/O" tests prove nothing reached the host.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineConformanceSuite } from '@hvkit/conformance';
import type { Provider } from '@hvkit/core';
import { afterAll, describe } from 'vitest';
import { createLibvirtProvider } from '../src/index.js';
import { bedProviderSettings, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();

if (bed) {
  // The image the image tests import: 2 MiB of a fixed pattern, served with an ETag from this
  // process (the provider's client fetches URLs itself, so loopback is right).
  const image = Buffer.alloc(2 * 1024 * 1024);
  for (let index = 0; index < image.length; index++) image[index] = (index * 7 + 3) % 251;
  const etag = `"${createHash('sha256').update(image).digest('hex').slice(0, 16)}"`;
  const server = createServer((request, response) => {
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag }).end();
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': image.length,
      etag,
    });
    response.end(request.method === 'HEAD' ? undefined : image);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const imageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hvkit-conformance.raw`;
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  let execs = 0;
  const providers: Provider[] = [];
  const createProvider = (): Provider => {
    const provider = createLibvirtProvider({
      ...bedProviderSettings(bed, 'libvirt-bed'),
      logger: {
        debug: (message: string) => {
          if (message === 'ssh exec') execs++;
        },
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
    });
    providers.push(provider);
    return provider;
  };
  defineConformanceSuite({
    name: 'libvirt (real libvirtd + QEMU over OpenSSH)',
    createProvider,
    ioProbe: () => execs,
    fixtures: {
      network: bed.network,
      storage: bed.pool,
      linkedCloneSource: 'template',
      imageUrl,
      baseSpec: {
        // One small qcow2 disk: libvirt keeps internal snapshots (and a running domain's memory
        // state) inside a qcow2 volume, so a domain without one cannot be snapshotted. The guest
        // boots from the kernel below, not from this disk.
        disks: [{ sizeGiB: 16 / 1024 }],
        providerOptions: {
          libvirt: {
            domainType: bed.kvm ? 'kvm' : 'qemu',
            kernel: bed.guest.kernel,
            initrd: bed.guest.initrd,
            cmdline: bed.guest.cmdline,
          },
        },
      },
      guestReadyTimeoutMs: 90_000,
    },
    timeouts: { taskMs: 120_000, testMs: 240_000 },
  });
} else {
  describe.skip('libvirt conformance: test bed unavailable', () => {});
}
