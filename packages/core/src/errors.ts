import type { z } from 'zod';
import { type RedactOptions, redact, redactString } from './redact.js';

const MARKER = Symbol.for('hvkit.error');

/** Stable error codes. Match on these, never on messages or class identity. */
export const ERROR_CODES = [
  'AUTHENTICATION',
  'NOT_FOUND',
  'CONFLICT',
  'INVALID_SPEC',
  'UNSUPPORTED_CAPABILITY',
  'TASK_FAILED',
  'TIMEOUT',
  'TRANSPORT',
  'PROVIDER_API',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Options every hvkit error accepts. */
export interface HvkitErrorOptions {
  /** The provider instance that raised the error, when there is one. */
  provider?: string | undefined;
  /** The underlying error. It is kept for debugging but never serialised by `toJSON()`. */
  cause?: unknown;
  /** Overrides the class default. */
  retryable?: boolean | undefined;
  /** Secret values to scrub from the message and details. */
  redact?: RedactOptions | undefined;
}

/** Plain-data form of an error, as found in `toJSON()` output and task snapshots. */
export interface SerializedError {
  name: string;
  code: ErrorCode;
  message: string;
  provider?: string | undefined;
  retryable: boolean;
  details?: Record<string, unknown> | undefined;
}

/**
 * Base class of every error hvkit throws. Recognise one with {@link HvkitError.isInstance} or the
 * subclasses' `isInstance`, which check a `Symbol.for` marker and the code, so two copies of the
 * package (or a provider bundled with its own) still agree.
 *
 * The message and details are redacted at construction: secrets cannot leak through an error.
 */
export class HvkitError extends Error {
  readonly [MARKER] = true;
  readonly code: ErrorCode;
  readonly provider: string | undefined;
  readonly retryable: boolean;
  /** Structured, redacted facts a caller can act on. */
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options: HvkitErrorOptions & { defaultRetryable?: boolean } = {},
  ) {
    super(redactString(message, options.redact), { cause: options.cause });
    this.name = 'HvkitError';
    this.code = code;
    this.provider = options.provider;
    this.retryable = options.retryable ?? options.defaultRetryable ?? false;
    this.details = redact(details, options.redact);
  }

  /** True for any hvkit error, from any copy of the package. */
  static isInstance(error: unknown): error is HvkitError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[MARKER] === true
    );
  }

  /** True when `error` is an hvkit error with the given code. */
  static hasCode<C extends ErrorCode>(error: unknown, code: C): error is HvkitError & { code: C } {
    return HvkitError.isInstance(error) && error.code === code;
  }

  /** Plain data without the cause or stack: safe to log, store in a task snapshot or send. */
  toJSON(): SerializedError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      provider: this.provider,
      retryable: this.retryable,
      details: Object.keys(this.details).length > 0 ? this.details : undefined,
    };
  }
}

/**
 * Scrubs `options.secrets` from an error after the fact — its message, stack, details and every
 * string field (a `NotFoundError`'s id, a `TaskFailedError`'s backend message) — for errors
 * built before a secret was known (a console ticket learnt later). Returns the same error; a
 * non-hvkit error is returned untouched. `createProvider` applies it to everything a driver
 * throws, with the driver's `redact` options.
 */
export function redactError<E>(error: E, options: RedactOptions | undefined): E {
  if (!HvkitError.isInstance(error) || !options?.secrets?.length) return error;
  const target = error as unknown as Record<string, unknown>;
  for (const key of Object.keys(target)) {
    const value = target[key];
    if (typeof value === 'string') target[key] = redactString(value, options);
  }
  const message = redactString(error.message, options);
  if (message !== error.message) {
    if (typeof error.stack === 'string') target.stack = redactString(error.stack, options);
    target.message = message;
  }
  target.details = redact(error.details, options);
  return error;
}

/** Credentials were refused, or the session expired and could not be renewed. */
export class AuthenticationError extends HvkitError {
  constructor(message: string, options: HvkitErrorOptions = {}) {
    super('AUTHENTICATION', message, {}, options);
    this.name = 'AuthenticationError';
  }
  static override isInstance(error: unknown): error is AuthenticationError {
    return HvkitError.hasCode(error, 'AUTHENTICATION');
  }
}

/** Kinds of object a {@link NotFoundError} can name. */
export type ResourceKind =
  | 'vm'
  | 'snapshot'
  | 'task'
  | 'disk'
  | 'nic'
  | 'image'
  | 'network'
  | 'storage'
  | 'host'
  | 'resource-pool'
  | 'placement-rule'
  | 'alert'
  | 'other';

/** The named object does not exist (or is not visible to these credentials). */
export class NotFoundError extends HvkitError {
  readonly resource: ResourceKind;
  readonly id: string;
  constructor(
    resource: ResourceKind,
    id: string,
    message?: string,
    options: HvkitErrorOptions = {},
  ) {
    super(
      'NOT_FOUND',
      // Redact before quoting: JSON escapes would hide a secret's shape from the message's redaction.
      message ?? `${resource} ${JSON.stringify(redactString(id, options.redact))} not found`,
      { resource, id },
      options,
    );
    this.name = 'NotFoundError';
    this.resource = resource;
    // Every field is redacted like the message: loggers copy an error's enumerable fields.
    this.id = redactString(id, options.redact);
  }
  static override isInstance(error: unknown): error is NotFoundError {
    return HvkitError.hasCode(error, 'NOT_FOUND');
  }
}

/** Why an operation conflicts with the object's current state. */
export type ConflictReason =
  | 'invalid-power-state'
  | 'already-exists'
  | 'locked'
  | 'in-use'
  | 'idempotency-mismatch'
  | 'not-a-template'
  | 'invalid-state';

/**
 * The request is well formed but the object's state refuses it: powering on a running VM, a name
 * that exists, a locked VM, a linked clone without a snapshot. `locked` is retryable.
 */
export class ConflictError extends HvkitError {
  readonly reason: ConflictReason;
  constructor(
    reason: ConflictReason,
    message: string,
    options: HvkitErrorOptions & { details?: Record<string, unknown> } = {},
  ) {
    super(
      'CONFLICT',
      message,
      { reason, ...options.details },
      { ...options, defaultRetryable: reason === 'locked' },
    );
    this.name = 'ConflictError';
    this.reason = reason;
  }
  static override isInstance(error: unknown): error is ConflictError {
    return HvkitError.hasCode(error, 'CONFLICT');
  }
}

/** One problem found in user input, at a dotted path such as `disks[1].sizeGiB`. */
export interface SpecIssue {
  path: string;
  message: string;
  code: string;
}

/** Formats a zod path (`['disks', 1, 'sizeGiB']`) as `disks[1].sizeGiB`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let output = '';
  for (const segment of path) {
    if (typeof segment === 'number') output += `[${segment}]`;
    else output += output === '' ? String(segment) : `.${String(segment)}`;
  }
  return output === '' ? '(root)' : output;
}

/** Input failed validation. Raised before anything is sent; `issues` names every offending path. */
export class InvalidSpecError extends HvkitError {
  readonly issues: readonly SpecIssue[];
  constructor(
    issues: readonly SpecIssue[],
    options: HvkitErrorOptions & { subject?: string } = {},
  ) {
    const subject = options.subject ?? 'input';
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path}: ${issue.message}`)
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    super('INVALID_SPEC', `invalid ${subject}: ${summary}${more}`, { issues }, options);
    this.name = 'InvalidSpecError';
    this.issues = this.details.issues as SpecIssue[];
  }

  /** Builds the error from a zod failure, keeping every issue's path. */
  static fromZod(
    error: z.ZodError,
    options: HvkitErrorOptions & { subject?: string; pathPrefix?: readonly PropertyKey[] } = {},
  ): InvalidSpecError {
    const prefix = options.pathPrefix ?? [];
    return new InvalidSpecError(
      error.issues.flatMap((issue): SpecIssue[] =>
        // zod reports unknown keys at the enclosing object; name each key's own path instead.
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({
              path: formatIssuePath([...prefix, ...issue.path, key]),
              message: `unknown key ${JSON.stringify(key)}`,
              code: issue.code,
            }))
          : [
              {
                path: formatIssuePath([...prefix, ...issue.path]),
                message: issue.message,
                code: issue.code,
              },
            ],
      ),
      options,
    );
  }

  static override isInstance(error: unknown): error is InvalidSpecError {
    return HvkitError.hasCode(error, 'INVALID_SPEC');
  }
}

/** The provider does not implement this capability (declared so, or refused by a live check). */
export class UnsupportedCapabilityError extends HvkitError {
  readonly capability: string;
  constructor(
    capability: string,
    message: string,
    options: HvkitErrorOptions & { details?: Record<string, unknown> } = {},
  ) {
    super('UNSUPPORTED_CAPABILITY', message, { capability, ...options.details }, options);
    this.name = 'UnsupportedCapabilityError';
    this.capability = redactString(capability, options.redact);
  }
  static override isInstance(error: unknown): error is UnsupportedCapabilityError {
    return HvkitError.hasCode(error, 'UNSUPPORTED_CAPABILITY');
  }
}

/** A backend task ended in failure. `backendMessage` is the backend's own (redacted) text. */
export class TaskFailedError extends HvkitError {
  readonly taskId: string;
  readonly backendMessage: string;
  constructor(
    taskId: string,
    backendMessage: string,
    options: HvkitErrorOptions & { details?: Record<string, unknown> } = {},
  ) {
    super(
      'TASK_FAILED',
      `task ${taskId} failed: ${backendMessage}`,
      { taskId, backendMessage, ...options.details },
      options,
    );
    this.name = 'TaskFailedError';
    this.taskId = redactString(taskId, options.redact);
    this.backendMessage = redactString(backendMessage, options.redact);
  }
  static override isInstance(error: unknown): error is TaskFailedError {
    return HvkitError.hasCode(error, 'TASK_FAILED');
  }
}

/** A wait ran out of time. The remote operation may still be running. Retryable. */
export class TimeoutError extends HvkitError {
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options: HvkitErrorOptions = {}) {
    super('TIMEOUT', message, { timeoutMs }, { ...options, defaultRetryable: true });
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
  static override isInstance(error: unknown): error is TimeoutError {
    return HvkitError.hasCode(error, 'TIMEOUT');
  }
}

/** The connection failed: network, TLS or SSH. Retryable unless it is a TLS verification failure. */
export class TransportError extends HvkitError {
  constructor(
    message: string,
    options: HvkitErrorOptions & { details?: Record<string, unknown> } = {},
  ) {
    super('TRANSPORT', message, options.details ?? {}, { ...options, defaultRetryable: true });
    this.name = 'TransportError';
  }
  static override isInstance(error: unknown): error is TransportError {
    return HvkitError.hasCode(error, 'TRANSPORT');
  }
}

/** The backend answered with an error hvkit has no better class for. */
export class ProviderApiError extends HvkitError {
  readonly status: number | undefined;
  readonly fault: string | undefined;
  constructor(
    message: string,
    options: HvkitErrorOptions & {
      status?: number;
      fault?: string;
      body?: unknown;
      details?: Record<string, unknown>;
    } = {},
  ) {
    const status = options.status;
    super(
      'PROVIDER_API',
      message,
      { status, fault: options.fault, body: options.body, ...options.details },
      { ...options, defaultRetryable: status !== undefined && (status >= 500 || status === 429) },
    );
    this.name = 'ProviderApiError';
    this.status = status;
    this.fault =
      options.fault === undefined ? undefined : redactString(options.fault, options.redact);
  }
  static override isInstance(error: unknown): error is ProviderApiError {
    return HvkitError.hasCode(error, 'PROVIDER_API');
  }
}

/**
 * Rebuilds an error from its serialised form (a task snapshot loaded in another process).
 * The result is recognised by every `isInstance` check for its code.
 */
export function deserializeError(data: SerializedError): HvkitError {
  const details = data.details ?? {};
  const options = { provider: data.provider, retryable: data.retryable };
  const text = (key: string): string =>
    typeof details[key] === 'string' ? (details[key] as string) : '';
  let error: HvkitError;
  switch (data.code) {
    case 'AUTHENTICATION':
      error = new AuthenticationError(data.message, options);
      break;
    case 'NOT_FOUND':
      error = new NotFoundError(
        (text('resource') || 'other') as ResourceKind,
        text('id'),
        data.message,
        options,
      );
      break;
    case 'CONFLICT':
      error = new ConflictError(
        (text('reason') || 'invalid-state') as ConflictReason,
        data.message,
        { ...options, details },
      );
      break;
    case 'INVALID_SPEC':
      error = new InvalidSpecError(
        Array.isArray(details.issues) ? (details.issues as SpecIssue[]) : [],
        options,
      );
      break;
    case 'UNSUPPORTED_CAPABILITY':
      error = new UnsupportedCapabilityError(text('capability'), data.message, {
        ...options,
        details,
      });
      break;
    case 'TASK_FAILED':
      error = new TaskFailedError(text('taskId'), text('backendMessage') || data.message, {
        ...options,
        details,
      });
      break;
    case 'TIMEOUT':
      error = new TimeoutError(data.message, Number(details.timeoutMs ?? 0), options);
      break;
    case 'TRANSPORT':
      error = new TransportError(data.message, { ...options, details });
      break;
    default:
      error = new ProviderApiError(data.message, {
        ...options,
        status: typeof details.status === 'number' ? details.status : undefined,
        fault: text('fault') || undefined,
        details,
      });
  }
  // Keep the original wording: subclasses would otherwise prefix their own.
  Object.defineProperty(error, 'message', {
    value: data.message,
    enumerable: false,
    writable: true,
  });
  return error;
}
