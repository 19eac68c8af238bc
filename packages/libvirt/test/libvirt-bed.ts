// The libvirt test bed as tests see it: the readiness file's shape (checked with zod, because it
// crosses a process boundary), how a test file gets the shared bed that global-setup.ts found or
// started, and an SSH connection to it with the pinned host key. See testbeds/README.md.
import { readFileSync } from 'node:fs';
import { createSshTransport, type SshConnection } from '@hvkit/ssh';
import { inject } from 'vitest';
import { z } from 'zod';
import type { LibvirtProviderSettings } from '../src/libvirt-provider.js';

/** Schema of `testbeds/libvirt/.state/ready.json`, written by testbeds/libvirt/start.sh. */
export const libvirtReadySchema = z.object({
  /** Where the socat relay listens on the host (loopback). */
  host: z.string().min(1),
  port: z.number().int().positive(),
  /** The key-only, non-root SSH user (in group `libvirt`). */
  username: z.string().min(1),
  privateKeyPath: z.string().min(1),
  /** `SHA256:…` of the bed's sshd host key, to pin. */
  hostKeyFingerprint256: z.string().min(1),
  knownHostsPath: z.string().min(1),
  /** An ssh_config with one `Host` entry for the bed (key, known_hosts, BatchMode), for OpenSSH. */
  sshConfigPath: z.string().min(1),
  /** Always `qemu:///system`: as non-root, virsh's default would be a private session daemon. */
  libvirtUri: z.string().min(1),
  pool: z.string().min(1),
  poolPath: z.string().min(1),
  network: z.string().min(1),
  guest: z.object({
    kernel: z.string().min(1),
    initrd: z.string().min(1),
    cmdline: z.string(),
    readyMarker: z.string().min(1),
    hostnameParameter: z.string().min(1),
    serialLogDir: z.string().min(1),
  }),
  kvm: z.boolean(),
  versions: z.object({ libvirt: z.string(), qemu: z.string(), openssh: z.string() }),
});

/** A running libvirt bed, as described by its readiness file. */
export type LibvirtReady = z.infer<typeof libvirtReadySchema>;

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared libvirt bed found or started by global-setup.ts; null when none could start outside CI. */
    libvirt: LibvirtReady | null;
  }
}

/** Reads and validates a readiness file; throws naming the file when it is missing or malformed. */
export function readLibvirtReady(file: string): LibvirtReady {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`libvirt readiness file ${file} is unreadable or not JSON`, { cause: error });
  }
  const parsed = libvirtReadySchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    throw new Error(`libvirt readiness file ${file} has unexpected fields: ${fields}`);
  }
  return parsed.data;
}

/** True when the run is CI (`CI=true` or `CI=1`), where a missing bed fails instead of skipping. */
export function isCi(): boolean {
  const ci = process.env.CI?.toLowerCase();
  return ci === 'true' || ci === '1';
}

/**
 * The shared libvirt bed for this test file. Returns null only outside CI when the bed could not
 * start (global-setup.ts already printed why), so callers write `describe.skipIf(!bed)`. In CI a
 * missing bed throws: never a skip.
 */
export function requireLibvirtBed(): LibvirtReady | null {
  const bed = inject('libvirt');
  if (bed) return bed;
  if (isCi()) {
    throw new Error('CI=true but no libvirt bed was provided: global-setup.ts must have failed');
  }
  console.warn(
    '\n*** libvirt test bed unavailable: SKIPPING libvirt bed tests (see the warning from global-setup.ts)\n',
  );
  return null;
}

/**
 * An SSH connection to the bed as its non-root user, the host key pinned to the fingerprint in
 * ready.json (never `insecure`). The caller closes it.
 */
/** Settings of a provider on the bed: its host key pinned, its key, TCG unless KVM works. */
export function bedProviderSettings(bed: LibvirtReady, name: string): LibvirtProviderSettings {
  return {
    name,
    host: bed.host,
    port: bed.port,
    username: bed.username,
    privateKey: readFileSync(bed.privateKeyPath),
    hostKey: { fingerprint256: bed.hostKeyFingerprint256 },
    defaults: { domainType: bed.kvm ? 'kvm' : 'qemu', pool: bed.pool },
  };
}

export function connectToBed(bed: LibvirtReady): SshConnection {
  return createSshTransport({
    host: bed.host,
    port: bed.port,
    username: bed.username,
    privateKey: readFileSync(bed.privateKeyPath),
    hostKey: { fingerprint256: bed.hostKeyFingerprint256 },
    provider: 'libvirt',
  });
}
