/**
 * Proxmox task outcomes → core errors. Pure: no I/O.
 *
 * Proxmox reports the same fault either before forking a worker (an HTTP error, mapped by
 * `api/response-errors.ts`) or from the worker (task `exitstatus`, the last log line without
 * `TASK ERROR: `). The contract wants one class for one fault wherever it surfaces, so a failed
 * task's exit status goes through the same classifier as HTTP answers,
 * {@link classifyProxmoxMessage} of the api layer; this module only adds what a task has beyond
 * the text: the outcome states and the last log lines.
 */
import { type HvkitError, redact, TaskFailedError } from '@hvkit/core';
import { classifyProxmoxMessage } from './api/response-errors.js';

/** Where a task ran, to stamp its errors. */
export interface ErrorContext {
  /** Provider instance name, stamped on the error. */
  provider?: string | undefined;
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
  const known = classifyProxmoxMessage(
    status,
    context.provider === undefined ? {} : { provider: context.provider },
  );
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
