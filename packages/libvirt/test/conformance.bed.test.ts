/**
 * The shared conformance suite against the real libvirt bed (libvirtd + QEMU under TCG behind
 * OpenSSH, testbeds/libvirt), which global-setup.ts started. Every VM the suite creates boots the
 * bed's real guest (Debian kernel + busybox initramfs with qemu-guest-agent and acpid) by direct
 * kernel boot, so the guest agent, graceful shutdown and reboot are exercised for real. The I/O
 * probe counts SSH execs, so the "before any I/O" tests prove nothing reached the host.
 */
import { readFileSync } from 'node:fs';
import { defineConformanceSuite } from '@hvkit/conformance';
import type { Provider } from '@hvkit/core';
import { describe } from 'vitest';
import { createLibvirtProvider } from '../src/index.js';
import { requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();

if (bed) {
  let execs = 0;
  const providers: Provider[] = [];
  const createProvider = (): Provider => {
    const provider = createLibvirtProvider({
      name: 'libvirt-bed',
      host: bed.host,
      port: bed.port,
      username: bed.username,
      privateKey: readFileSync(bed.privateKeyPath),
      hostKey: { fingerprint256: bed.hostKeyFingerprint256 },
      defaults: { domainType: bed.kvm ? 'kvm' : 'qemu', pool: bed.pool },
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
      baseSpec: {
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
