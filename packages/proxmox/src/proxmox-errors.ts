/**
 * Proxmox error texts → core errors. Pure: no I/O.
 *
 * Proxmox reports the same fault either before forking a worker (HTTP error, the text in the
 * reason phrase and, since libpve-http-server-perl 5.2, in `message`) or from the worker (task
 * `exitstatus`, the last log line without `TASK ERROR: `). The contract wants one class for one
 * fault wherever it surfaces, so both paths go through {@link classifyProxmoxMessage}.
 */
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  redact,
  TaskFailedError,
  TimeoutError,
  TransportError,
} from '@hvkit/core';

/** Where an error happened, to name objects and to decide whether a retry is safe. */
export interface ErrorContext {
  /** Provider instance name, stamped on the error. */
  provider?: string | undefined;
  /** Node the request went to; names VMs as `node/vmid`. */
  node?: string | undefined;
  /** HTTP method; a transport fault on anything but GET may have taken effect. */
  method?: string | undefined;
  /** Request path (without query), kept in details. */
  path?: string | undefined;
}

interface Rule {
  pattern: RegExp;
  build: (match: RegExpExecArray, message: string, context: ErrorContext) => HvkitError;
}

const vmId = (vmid: string, node: string | undefined): string =>
  node === undefined ? vmid : `${node}/${vmid}`;

/** The classification table, first match wins. Each pattern is a Proxmox text (see BEHAVIOURS.md). */
const RULES: readonly Rule[] = [
  {
    // config and storage locks: "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
    pattern: /can't lock file '([^']+)' - got timeout/,
    build: (match, message, context) =>
      new ConflictError('locked', message, {
        provider: context.provider,
        details: { lockFile: match[1] },
      }),
  },
  {
    pattern: /\b(?:VM|CT) is locked \(([\w-]+)\)/,
    build: (match, message, context) =>
      new ConflictError('locked', message, {
        provider: context.provider,
        details: { lock: match[1] },
      }),
  },
  {
    pattern: /\bVM (\d+) already running\b/,
    build: (_match, message, context) =>
      new ConflictError('invalid-power-state', message, { provider: context.provider }),
  },
  {
    pattern: /\b(?:VM|CT) \d+ (?:is )?not running\b|\bVM is (?:not )?running\b/,
    build: (_match, message, context) =>
      new ConflictError('invalid-power-state', message, { provider: context.provider }),
  },
  {
    pattern: /Configuration file 'nodes\/([^/]+)\/qemu-server\/(\d+)\.conf' does not exist/,
    build: (match, message, context) =>
      new NotFoundError('vm', vmId(match[2] ?? '', match[1]), message, {
        provider: context.provider,
      }),
  },
  {
    pattern: /unable to find configuration file for VM (\d+)(?: on node '([^']+)')?/,
    build: (match, message, context) =>
      new NotFoundError('vm', vmId(match[1] ?? '', match[2] ?? context.node), message, {
        provider: context.provider,
      }),
  },
  {
    // create with a used vmid; clone into a used vmid; nextid?vmid=N when N is used
    pattern:
      /unable to create VM (\d+)(?: - VM \d+ already exists| ?: config file already exists)|^VM (\d+) already exists/,
    build: (_match, message, context) =>
      new ConflictError('already-exists', message, { provider: context.provider }),
  },
  {
    pattern: /Linked clone feature is not supported for '([^']+)'/,
    build: (match, message, context) =>
      new ConflictError('invalid-state', message, {
        provider: context.provider,
        details: { volume: match[1] },
      }),
  },
  {
    pattern: /you can't start a vm if it's a template/,
    build: (_match, message, context) =>
      new ConflictError('invalid-state', message, { provider: context.provider }),
  },
  {
    pattern: /you can't convert a VM to template if VM is running/,
    build: (_match, message, context) =>
      new ConflictError('invalid-power-state', message, { provider: context.provider }),
  },
  {
    // a concurrent writer changed the config since it was read: read again and retry
    pattern:
      /checksum mismatch \(file change by other user\?\)|detected modified configuration - file changed by other user/,
    build: (_match, message, context) =>
      new ConflictError('invalid-state', message, {
        provider: context.provider,
        retryable: true,
        details: { fault: 'digest-mismatch' },
      }),
  },
  {
    // the agent may come up: worth another try
    pattern: /QEMU guest agent is not running/,
    build: (_match, message, context) =>
      new ConflictError('invalid-state', message, {
        provider: context.provider,
        retryable: true,
        details: { fault: 'agent-not-running' },
      }),
  },
  {
    pattern: /No QEMU guest agent configured/,
    build: (_match, message, context) =>
      new ConflictError('invalid-state', message, {
        provider: context.provider,
        details: { fault: 'agent-not-configured' },
      }),
  },
  {
    pattern: /(?:qga|qmp) command '([^']+)' failed - got timeout/,
    build: (_match, message, context) =>
      new TimeoutError(message, 0, { provider: context.provider }),
  },
  {
    pattern: /hostname lookup '([^']+)' failed/,
    build: (match, message, context) =>
      new NotFoundError('host', match[1] ?? '', message, { provider: context.provider }),
  },
  {
    pattern: /storage '([^']+)' does not exist/,
    build: (match, message, context) =>
      new NotFoundError('storage', match[1] ?? '', message, { provider: context.provider }),
  },
  {
    pattern: /bridge '([^']+)' does not exist/,
    build: (match, message, context) =>
      new NotFoundError('network', match[1] ?? '', message, { provider: context.provider }),
  },
  {
    pattern: /snapshot '([^']+)' does not exist/,
    build: (match, message, context) =>
      new NotFoundError('snapshot', match[1] ?? '', message, { provider: context.provider }),
  },
  {
    pattern: /volume '([^']+)' does not exist/,
    build: (match, message, context) =>
      new NotFoundError('image', match[1] ?? '', message, { provider: context.provider }),
  },
  {
    pattern: /^(?:no such task|unable to parse worker upid)/,
    build: (_match, message, context) =>
      new NotFoundError('task', context.path?.split('/tasks/')[1]?.split('/')[0] ?? '', message, {
        provider: context.provider,
      }),
  },
  {
    pattern: /shrinking disks is not supported/,
    build: (_match, message, context) =>
      new InvalidSpecError([{ path: 'resizeDisks', message, code: 'shrink' }], {
        provider: context.provider,
        subject: 'change',
      }),
  },
  {
    // anything else Proxmox says is missing
    pattern: /'([^']+)' does not exist|does not exist/,
    build: (match, message, context) =>
      new NotFoundError('other', match[1] ?? '', message, { provider: context.provider }),
  },
];

/**
 * The core error for a Proxmox error text, or undefined when no rule knows it. The text is used
 * as the error message (it is the backend's own wording, already free of secrets).
 */
export function classifyProxmoxMessage(
  message: string,
  context: ErrorContext = {},
): HvkitError | undefined {
  const text = message.trim();
  for (const rule of RULES) {
    const match = rule.pattern.exec(text);
    if (match) return rule.build(match, text, context);
  }
  return undefined;
}

// ---- HTTP -------------------------------------------------------------------------------------

/** A failed HTTP exchange, as the client saw it. */
export interface ProxmoxHttpFailure {
  status: number;
  /** Reason phrase: Proxmox puts the first line of the message there. */
  reason?: string | undefined;
  /** Parsed JSON body (`{data:null, errors?, message?}`) or the raw text of a pre-handler error. */
  body?: unknown;
}

/** The 401 texts of PVE ≤ 9.1.4 and ≥ 9.1.5, and of the other auth failures. */
const AUTH_TEXTS =
  /^(No ticket|authentication failure|Authentication failed!|permission denied - invalid PVE ticket|invalid token value!|Permission denied - invalid csrf token)/i;

/** Statuses pveproxy's HTTP client makes up for a socket fault (no JSON body). */
const PROXY_STATUSES = new Set([595, 596, 597, 599]);

function bodyOf(failure: ProxmoxHttpFailure): {
  message?: string | undefined;
  errors?: Record<string, string> | undefined;
} {
  const body = failure.body;
  if (typeof body === 'string') return body.trim() === '' ? {} : { message: body };
  if (typeof body !== 'object' || body === null) return {};
  const record = body as Record<string, unknown>;
  const errors =
    typeof record.errors === 'object' && record.errors !== null
      ? Object.fromEntries(
          Object.entries(record.errors as Record<string, unknown>).map(([key, value]) => [
            key,
            String(value).trim(),
          ]),
        )
      : undefined;
  return {
    message: typeof record.message === 'string' ? record.message : undefined,
    errors,
  };
}

/**
 * The core error for a failed Proxmox HTTP call: 401 → AuthenticationError; 595/596/597/599 →
 * TransportError, retryable only for GET (a POST may have taken effect: report, never repeat);
 * known texts (also inside 400 per-parameter `errors`) → their class; 404 → NotFoundError; the rest →
 * ProviderApiError with the status, a `fault` (`permission-denied`, `parameter-verification`,
 * `not-implemented`, else the message), the per-parameter errors in details, retryable only for
 * 429/502/503/504. Details and retryability match `api/response-errors.ts`.
 */
export function proxmoxHttpError(
  failure: ProxmoxHttpFailure,
  context: ErrorContext = {},
): HvkitError {
  const { message: bodyMessage, errors } = bodyOf(failure);
  const message = (bodyMessage ?? failure.reason ?? `HTTP ${failure.status}`).trim();
  const provider = context.provider;
  if (failure.status === 401 || (failure.status === 403 && /need proper ticket/.test(message))) {
    if (failure.status === 401 || AUTH_TEXTS.test(message))
      return new AuthenticationError(message, { provider });
  }
  if (PROXY_STATUSES.has(failure.status)) {
    const idempotent = (context.method ?? 'GET').toUpperCase() === 'GET';
    return new TransportError(`Proxmox proxy: ${failure.status} ${message}`, {
      provider,
      retryable: idempotent,
      details: {
        status: failure.status,
        method: context.method,
        path: context.path,
        // the action may go on behind the timed-out proxy
        mayHaveTakenEffect: !idempotent,
      },
    });
  }
  const known = classifyProxmoxMessage(message, context);
  if (known) return known;
  for (const text of Object.values(errors ?? {})) {
    const inner = classifyProxmoxMessage(text, context);
    if (inner) return inner;
  }
  if (failure.status === 404)
    return new NotFoundError('other', context.path ?? '', message, { provider });
  const fault =
    failure.status === 403
      ? 'permission-denied'
      : failure.status === 400 && errors
        ? 'parameter-verification'
        : failure.status === 501
          ? 'not-implemented'
          : message;
  return new ProviderApiError(message, {
    provider,
    status: failure.status,
    fault,
    // A 500 is a handler that refused: the same request fails the same way again.
    retryable: [429, 502, 503, 504].includes(failure.status),
    details: {
      ...(errors === undefined ? {} : { errors }),
      ...(context.path === undefined ? {} : { path: context.path, method: context.method }),
    },
  });
}

// ---- task exit status -------------------------------------------------------------------------

/** How a finished Proxmox task ended. */
export type TaskOutcome =
  | { state: 'succeeded'; warnings: number }
  | { state: 'canceled'; message: string }
  | { state: 'failed'; error: HvkitError };

/** How many log lines a TaskFailedError carries. */
export const TASK_LOG_TAIL = 10;

/** Log lines as the task log endpoint returns them. */
export interface TaskLogLine {
  n: number;
  t: string;
}

function tail(log: readonly (TaskLogLine | string)[] | undefined): string[] {
  const lines = (log ?? [])
    .map((line) => (typeof line === 'string' ? line : line.t))
    // "no content" is what Proxmox answers for a log not yet written
    .filter((line) => line !== 'no content' && line.trim() !== '');
  return lines.slice(-TASK_LOG_TAIL);
}

/**
 * The outcome of a stopped task from its `exitstatus`: `OK` and `WARNINGS: n` succeed; `interrupted
 * by signal` (a `DELETE …/tasks/{upid}`) is canceled; any other text fails, classified like an HTTP
 * error (`VM 100 already running` → ConflictError, a lock timeout → ConflictError `locked`…) or
 * else a TaskFailedError carrying the last log lines in `details.log`.
 */
export function taskOutcome(
  exitstatus: string,
  upid: string,
  log?: readonly (TaskLogLine | string)[],
  context: ErrorContext = {},
): TaskOutcome {
  const status = exitstatus.trim();
  if (status === 'OK') return { state: 'succeeded', warnings: 0 };
  const warnings = /^WARNINGS: (\d+)$/.exec(status);
  if (warnings) return { state: 'succeeded', warnings: Number(warnings[1]) };
  if (/^interrupted by signal$/.test(status)) return { state: 'canceled', message: status };
  const lines = tail(log);
  const known = classifyProxmoxMessage(status, context);
  if (known) {
    // Added after construction, so redacted here like the constructor does for its own details.
    Object.assign(known.details, redact({ taskId: upid, log: lines }));
    return { state: 'failed', error: known };
  }
  return {
    state: 'failed',
    error: new TaskFailedError(upid, status, {
      provider: context.provider,
      details: { log: lines },
    }),
  };
}
