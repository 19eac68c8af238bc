/**
 * libvirt faults → hvkit's core errors. virsh reports a failure as `error: …` lines on stderr
 * (usually a virsh line naming the action, then libvirt's own message); the texts matched here
 * are the ones recorded from libvirt 9.0 on the test bed (src/virsh/__fixtures__/err-*.txt).
 */
import {
  ConflictError,
  type ConflictReason,
  type HvkitError,
  NotFoundError,
  ProviderApiError,
  type ResourceKind,
  TransportError,
} from '@hvkit/core';

/** What {@link mapVirshError} knows about the failed call. */
export interface VirshErrorContext {
  /** The virsh command and its arguments (`['dominfo', 'web1']`), kept in the error's details. */
  readonly command: readonly string[];
  /** Provider instance name put on the error. */
  readonly provider?: string | undefined;
  /** virsh's exit code, when the whole process failed. */
  readonly exitCode?: number | null | undefined;
}

interface NotFoundRule {
  readonly pattern: RegExp;
  readonly resource: ResourceKind;
}

// Lookups. virsh 9.0's own lookup of a domain by name, UUID or id reports only
// `failed to get domain 'x'` (libvirt's `Domain not found: …` line is swallowed); other
// calls give libvirt's text. Volumes are a VM's disks; pools are storage.
const NOT_FOUND: readonly NotFoundRule[] = [
  { pattern: /^failed to get domain '(.*)'$/m, resource: 'vm' },
  {
    pattern: /^Domain not found: no domain with matching (?:name|uuid|id) '(.*)'$/m,
    resource: 'vm',
  },
  { pattern: /^Domain not found(?:: (.*))?$/m, resource: 'vm' },
  {
    pattern: /^Domain snapshot not found: no domain snapshot with matching name '(.*)'$/m,
    resource: 'snapshot',
  },
  {
    pattern: /^Storage volume not found: no storage vol with matching (?:path|name|key) '(.*)'$/m,
    resource: 'disk',
  },
  { pattern: /^failed to get vol '(.*)'$/m, resource: 'disk' },
  {
    pattern: /^Storage pool not found: no storage pool with matching (?:name|uuid) '(.*)'$/m,
    resource: 'storage',
  },
  { pattern: /^failed to get pool '(.*)'$/m, resource: 'storage' },
  {
    pattern: /^Network not found: no network with matching (?:name|uuid) '(.*)'$/m,
    resource: 'network',
  },
  { pattern: /^failed to get network '(.*)'$/m, resource: 'network' },
];

interface ConflictRule {
  readonly pattern: RegExp;
  readonly reason: ConflictReason;
}

// State conflicts, most specific first. `Requested operation is not valid` is libvirt's
// VIR_ERR_OPERATION_INVALID ("operation is not valid in the object's current state"), so any
// other text with that prefix is a state conflict too.
const CONFLICT: readonly ConflictRule[] = [
  { pattern: /already exists with uuid/, reason: 'already-exists' },
  { pattern: /^storage volume '.*' exists already$/m, reason: 'already-exists' },
  { pattern: /already exists/, reason: 'already-exists' },
  // virsh's own check says `Domain is not running` (domdisplay, vncdisplay); libvirt's `domain is
  // not running`.
  { pattern: /domain is not running/i, reason: 'invalid-power-state' },
  { pattern: /cannot rename active domain/, reason: 'invalid-power-state' },
  // Recorded by the snapshot work on the bed; the job-lock text is libvirt's (qemuDomainObjBeginJob).
  { pattern: /cannot acquire state change lock/, reason: 'locked' },
  { pattern: /has asynchronous jobs running/, reason: 'locked' },
  {
    pattern: /internal snapshot of a running VM must include the memory state/,
    reason: 'invalid-power-state',
  },
  { pattern: /domain is already running/, reason: 'invalid-power-state' },
  // `virsh start` of a running domain (virsh checks the state itself).
  { pattern: /^Domain is already active$/m, reason: 'invalid-power-state' },
  { pattern: /domain is not paused/, reason: 'invalid-power-state' },
  { pattern: /Guest agent is not responding/, reason: 'invalid-state' },
  { pattern: /revert to external snapshot not supported yet/, reason: 'invalid-state' },
  { pattern: /Failed to get "write" lock/, reason: 'locked' },
  { pattern: /^Requested operation is not valid: /m, reason: 'invalid-state' },
];

// virsh could not reach libvirtd: nothing was done, the call may be repeated once it is back.
const NOT_CONNECTED =
  /failed to connect to the hypervisor|no valid connection|Failed to connect socket/;
// The connection to libvirtd broke during the call: whether it took effect is unknown.
const CONNECTION_LOST = /Cannot recv data|End of file while reading data|Cannot write data/;

/**
 * The `error: ` lines of virsh's stderr, prefix removed, joined by newlines. Continuation lines
 * (virsh prints some messages over several lines) stay attached to their error.
 */
export function virshErrorText(stderr: string): string {
  const lines = stderr.replace(/\r/g, '').split('\n');
  const out: string[] = [];
  let inError = false;
  for (const line of lines) {
    if (line.startsWith('error: ')) {
      out.push(line.slice('error: '.length));
      inError = true;
    } else if (inError && line !== '') {
      out.push(line);
    } else {
      inError = false;
    }
  }
  return out.length > 0 ? out.join('\n') : stderr.trim();
}

/**
 * Maps a failed virsh call's stderr to a core error:
 * - lookups that found nothing → NotFoundError (`vm`, `snapshot`, `disk` for a volume, `storage`
 *   for a pool, `network`) with the name virsh was given;
 * - `already exists` → ConflictError `already-exists`; `domain is not running`, `domain is
 *   already running`, `Domain is already active` → `invalid-power-state`; `Guest agent is not
 *   responding`, `revert to external snapshot not supported yet` and any other `Requested
 *   operation is not valid: …` → `invalid-state`; a disk image write lock → `locked`;
 * - libvirtd unreachable → TransportError, retryable with `outcome: 'not-sent'` when virsh could
 *   not connect, not retryable (`outcome: 'unknown'`) when the connection broke mid-call;
 * - anything else → ProviderApiError whose message is virsh's text (`fault` too).
 *
 * Every error carries `details.command` (the virsh command name, not its arguments, which may
 * hold user data) and the virsh text in its message.
 */
export function mapVirshError(stderr: string, context: VirshErrorContext): HvkitError {
  const text = virshErrorText(stderr);
  const provider = context.provider;
  const commandName = context.command[0] ?? '';
  const message = `virsh ${commandName}: ${text.replace(/\n/g, ' / ')}`;
  const details = { command: commandName };

  for (const rule of NOT_FOUND) {
    const match = rule.pattern.exec(text);
    if (match) {
      return new NotFoundError(rule.resource, match[1] ?? '', message, { provider });
    }
  }
  for (const rule of CONFLICT) {
    if (rule.pattern.test(text)) {
      return new ConflictError(rule.reason, message, { provider, details });
    }
  }
  if (NOT_CONNECTED.test(text)) {
    return new TransportError(message, {
      provider,
      retryable: true,
      details: { ...details, outcome: 'not-sent' },
    });
  }
  if (CONNECTION_LOST.test(text)) {
    return new TransportError(message, {
      provider,
      retryable: false,
      details: { ...details, outcome: 'unknown' },
    });
  }
  return new ProviderApiError(message, {
    provider,
    fault: text,
    details: { ...details, exitCode: context.exitCode },
  });
}
