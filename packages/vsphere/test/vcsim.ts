// The vcsim test bed as tests see it: the readiness file's shape (checked with
// zod, because it crosses a process boundary) and how a test file gets the
// shared bed that global-setup.ts started. See testbeds/README.md.
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { z } from 'zod';

/** Schema of the JSON readiness file `vcsim-hvkit` writes once it listens (testbeds/vcsim/main.go). */
export const vcsimReadySchema = z.object({
  /** vim25 SOAP endpoint, e.g. `https://127.0.0.1:8989/sdk`. */
  url: z.url(),
  /** vAPI REST base (`/rest`); served only when `api` is true. */
  restUrl: z.url(),
  host: z.string().min(1),
  port: z.number().int().positive(),
  tls: z.boolean(),
  /** The served certificate (self-signed, SAN localhost, 127.0.0.1, ::1); absent without TLS. */
  certificatePem: z.string().optional(),
  certificateFile: z.string().optional(),
  /** SHA-256 of the served certificate, upper-case hex pairs joined by `:` (Node's `fingerprint256`). */
  fingerprint256: z.string().optional(),
  /** The only user `Login` accepts. */
  username: z.string().min(1),
  /** Test-bed password, not a secret of anybody's; still never printed by these helpers. */
  password: z.string().min(1),
  pid: z.number().int().positive(),
  /** VMs in the inventory (may exceed the requested count, see testbeds/README.md). */
  vms: z.number().int().nonnegative(),
  hosts: z.number().int().nonnegative(),
  clusters: z.number().int().nonnegative(),
  /** Go duration, `0s` = sessions never expire. */
  idleTimeout: z.string(),
  api: z.boolean(),
  startupMs: z.number().nonnegative(),
  version: z.string(),
});

/** A running vcsim bed, as described by its readiness file. */
export type VcsimReady = z.infer<typeof vcsimReadySchema>;

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared vcsim bed started (or found) by global-setup.ts; null when none could start outside CI. */
    vcsim: VcsimReady | null;
  }
}

/**
 * Reads and validates a readiness file. Throws naming the file (never its
 * content, which holds the bed's password) when it is missing or malformed.
 */
export function readVcsimReady(file: string): VcsimReady {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`vcsim readiness file ${file} is unreadable or not JSON`, { cause: error });
  }
  const parsed = vcsimReadySchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    throw new Error(`vcsim readiness file ${file} has unexpected fields: ${fields}`);
  }
  return parsed.data;
}

/** True when the run is CI (`CI=true` or `CI=1`), where a missing bed fails instead of skipping. */
export function isCi(): boolean {
  const ci = process.env.CI?.toLowerCase();
  return ci === 'true' || ci === '1';
}

/**
 * The shared vcsim bed for this test file. Returns null only outside CI when
 * the bed could not start (global-setup.ts already printed why), so callers
 * write `describe.skipIf(!vcsim)`. In CI a missing bed throws: never a skip.
 */
export function requireVcsim(): VcsimReady | null {
  const vcsim = inject('vcsim');
  if (vcsim) return vcsim;
  if (isCi()) {
    throw new Error('CI=true but no vcsim bed was provided: global-setup.ts must have failed');
  }
  console.warn(
    '\n*** vcsim test bed unavailable: SKIPPING vcsim tests (see the warning from global-setup.ts)\n',
  );
  return null;
}
