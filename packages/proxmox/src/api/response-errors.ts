/**
 * Proxmox error answers → hvkit core errors. Proxmox puts the message in the reason phrase
 * (`HTTP/1.1 500 VM is locked (clone)`), since libpve-http-server-perl 5.2 also in a `message`
 * field, and parameter problems in `errors: {param: text}`. Handler failures are all HTTP 500,
 * so the class comes from the text; {@link classifyProxmoxMessage} is exported so task exit
 * statuses (the same texts, after forking) map to the same classes.
 *
 * | answer                                                      | error                                    | retryable |
 * | ----------------------------------------------------------- | ---------------------------------------- | --------- |
 * | 401 (any text)                                              | AuthenticationError                      | no        |
 * | 403 `… not available with API token, need proper ticket.` | AuthenticationError                      | no        |
 * | 403 `Permission check failed (…)`                           | ProviderApiError `permission-denied`     | no        |
 * | `can't lock file '<file>' - got timeout`                    | ConflictError `locked` (`lockFile`)      | yes       |
 * | `VM is locked (<lock>)`                                     | ConflictError `locked` (`lock`)          | yes       |
 * | `VM n not running`, `already running`, `VM is running`      | ConflictError `invalid-power-state`      | no        |
 * | `QEMU guest agent is not running`                           | ConflictError `invalid-state`            | yes       |
 * | `No QEMU guest agent configured`, start of a template, a linked clone the storage cannot make | ConflictError `invalid-state` | no |
 * | `qga command '…' failed - got timeout`                      | TimeoutError                             | yes       |
 * | `checksum mismatch`, `file changed by other user`           | ConflictError `invalid-state`            | yes       |
 * | `… already exists …`                                        | ConflictError `already-exists`           | no        |
 * | `Configuration file '…/<vmid>.conf' does not exist`         | NotFoundError `vm`                       | no        |
 * | `unable to find configuration file for VM n on node 'x'`    | NotFoundError `vm` (`node/vmid`)         | no        |
 * | `snapshot/storage/bridge/volume '<x>' does not exist`       | NotFoundError `snapshot`/`storage`/`network`/`image` | no |
 * | `no such task`, `unable to parse worker upid`               | NotFoundError `task`                     | no        |
 * | `shrinking disks is not supported`                          | InvalidSpecError (`resizeDisks`)         | no        |
 * | `hostname lookup '<node>' failed`                           | NotFoundError `host`                     | no        |
 * | other `does not exist`, HTTP 404                            | NotFoundError `other`                    | no        |
 * | 400 with `errors`                                           | ProviderApiError `parameter-verification`| no        |
 * | 501 `Method '…' not implemented`                            | ProviderApiError `not-implemented`       | no        |
 * | other 500 (a handler refused: deterministic)                | ProviderApiError                         | no        |
 * | 429, 502, 503, 504                                          | ProviderApiError                         | yes       |
 *
 * A 403 is not an AuthenticationError: the credentials were accepted and lack a privilege, which
 * a new login cannot fix — except the token refusal of `allowtoken: 0` endpoints, which needs
 * other credentials (a ticket). Proxy failures (595–599) are transport errors, decided in the client.
 */
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  type HvkitErrorOptions,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  type ResourceKind,
  TimeoutError,
} from '@hvkit/core';

/** What the client knows about an error answer. */
export interface ProxmoxErrorContext {
  /** HTTP method of the request. */
  method: string;
  /** Request path below `/api2/json`, already encoded, without the query string. */
  path: string;
  /** HTTP status. */
  status: number;
  /** Best message: the `message` field, else the reason phrase, else the plain body. */
  message: string;
  /** Per-parameter errors of a 400 answer. */
  errors?: Record<string, string> | undefined;
  /** Provider instance name and secrets to redact. */
  options?: HvkitErrorOptions | undefined;
}

type Classifier = (match: RegExpExecArray, text: string, options: HvkitErrorOptions) => HvkitError;

const notFound =
  (resource: ResourceKind) =>
  (match: RegExpExecArray, text: string, options: HvkitErrorOptions): HvkitError =>
    new NotFoundError(resource, match[1] ?? '', text, options);

const vmName = (vmid: string, node: string | undefined): string =>
  node === undefined || node === '' ? vmid : `${node}/${vmid}`;

/** Ordered: the first pattern that matches decides. */
const CLASSIFIERS: readonly [RegExp, Classifier][] = [
  [
    /can't lock file '([^']+)' - got timeout/,
    (match, text, options) =>
      new ConflictError('locked', `${text} (lock file ${match[1]} is held by another operation)`, {
        ...options,
        details: { lockFile: match[1] },
      }),
  ],
  [
    /\b(?:VM|CT) is locked \(([^)]+)\)/,
    (match, text, options) =>
      new ConflictError('locked', text, { ...options, details: { lock: match[1] } }),
  ],
  [
    /QEMU guest agent is not running/,
    (_match, text, options) =>
      new ConflictError('invalid-state', text, {
        retryable: true,
        ...options,
        details: { fault: 'agent-not-running' },
      }),
  ],
  [
    /No QEMU guest agent configured/,
    (_match, text, options) =>
      new ConflictError('invalid-state', text, {
        ...options,
        details: { fault: 'agent-not-configured' },
      }),
  ],
  [
    /(?:qga|qmp) command '([^']+)' failed - got timeout/,
    (_match, text, options) => new TimeoutError(text, 0, options),
  ],
  [
    /you can't start a vm if it's a template/,
    (_match, text, options) => new ConflictError('invalid-state', text, options),
  ],
  [
    /you can't convert a VM to template if VM is running/,
    (_match, text, options) => new ConflictError('invalid-power-state', text, options),
  ],
  [
    /Linked clone feature is not supported for '([^']+)'/,
    (match, text, options) =>
      new ConflictError('invalid-state', text, { ...options, details: { volume: match[1] } }),
  ],
  [
    /\b(?:VM|CT) \d+ (?:is )?not running\b|\balready running\b|\bVM is (?:not )?running\b/,
    (_match, text, options) => new ConflictError('invalid-power-state', text, options),
  ],
  [
    /checksum mismatch|file changed by other user/,
    (_match, text, options) =>
      new ConflictError('invalid-state', text, {
        retryable: true,
        ...options,
        details: { fault: 'digest-mismatch' },
      }),
  ],
  [/already exists/, (_match, text, options) => new ConflictError('already-exists', text, options)],
  [
    /Configuration file '(?:nodes\/([^/']+)\/qemu-server\/|[^']*\/)?(\d+)\.conf' does not exist/,
    (match, text, options) =>
      new NotFoundError('vm', vmName(match[2] ?? '', match[1]), text, options),
  ],
  [
    /unable to find configuration file for VM (\d+)(?: on node '([^']+)')?/,
    (match, text, options) =>
      new NotFoundError('vm', vmName(match[1] ?? '', match[2]), text, options),
  ],
  [/\bsnapshot '([^']+)' does not exist/i, notFound('snapshot')],
  [/\bstorage '([^']+)' does not exist/i, notFound('storage')],
  [/\bbridge '([^']+)' does not exist/i, notFound('network')],
  [/\bvolume '([^']+)' does not exist/i, notFound('image')],
  [/\bhostname lookup '([^']+)' failed/, notFound('host')],
  [
    /\bno such task\b|unable to parse worker upid/,
    (_match, text, options) => new NotFoundError('task', '', text, options),
  ],
  [
    /shrinking disks is not supported/,
    (_match, text, options) =>
      new InvalidSpecError([{ path: 'resizeDisks', message: text, code: 'shrink' }], {
        ...options,
        subject: 'change',
      }),
  ],
  [
    /'([^']+)' does not exist|does not exist/,
    (match, text, options) => new NotFoundError('other', match[1] ?? '', text, options),
  ],
];

/**
 * Maps a Proxmox message (an HTTP error text or a task's exit status) to the core error it
 * means, or `undefined` when the text has no better class than a generic API error.
 */
export function classifyProxmoxMessage(
  message: string,
  options: HvkitErrorOptions = {},
): HvkitError | undefined {
  const text = message.trim();
  for (const [pattern, classify] of CLASSIFIERS) {
    const match = pattern.exec(text);
    if (match) return classify(match, text, options);
  }
  return undefined;
}

/**
 * Builds the core error for a Proxmox error answer (see the table in this file). Messages name
 * the method, path and status; parameter errors are kept in `details.errors`, redacted.
 */
export function errorFromResponse(context: ProxmoxErrorContext): HvkitError {
  const { method, path, status, errors } = context;
  const options = context.options ?? {};
  const errorText =
    errors && Object.keys(errors).length > 0
      ? `: ${Object.entries(errors)
          .map(([key, value]) => `${key}: ${String(value).trim()}`)
          .join('; ')}`
      : '';
  const base = context.message.replace(/\.?\s*$/, '');
  const text = `${base}${errorText}`;
  const where = `Proxmox ${method} ${path} failed (HTTP ${status})`;

  // `allowtoken: 0` endpoints refuse a token outright: the credential kind is wrong, not a privilege.
  if (status === 401 || (status === 403 && /need proper ticket/.test(context.message))) {
    return new AuthenticationError(`${where}: ${text}`, options);
  }
  // A 400 whose parameter error names a missing object or a clash is still that, not bad input.
  const candidates = [context.message, ...Object.values(errors ?? {})];
  if (status !== 403 && status !== 501) {
    for (const candidate of candidates) {
      const classified = classifyProxmoxMessage(String(candidate), options);
      if (classified) return classified;
    }
  }
  if (status === 404) {
    return new NotFoundError('other', path, `${where}: ${text}`, options);
  }
  const fault =
    status === 403
      ? 'permission-denied'
      : status === 400 && errors
        ? 'parameter-verification'
        : status === 501
          ? 'not-implemented'
          : undefined;
  return new ProviderApiError(`${where}: ${text}`, {
    ...options,
    status,
    ...(fault ? { fault } : {}),
    retryable: options.retryable ?? [429, 502, 503, 504].includes(status),
    details: { method, path, ...(errors ? { errors } : {}) },
  });
}
