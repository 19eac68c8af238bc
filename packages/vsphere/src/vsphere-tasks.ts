/**
 * vSphere `TaskInfo` as core task snapshots. `info.state` queued/running/success/error maps to
 * core's states; an error whose fault is `RequestCanceled` is a cancellation; the fault becomes
 * the core error the same fault would raise as a SOAP fault (InvalidPowerState → conflict, …),
 * so a failed power-on reads the same whether vCenter refused the call or failed the task.
 */
import type { TaskSnapshot, TaskState } from '@hvkit/core';
import type { ManagedObjectReference } from './soap/soap-envelope.js';
import { type FaultContext, localizedFaultToError } from './soap/soap-faults.js';

/** `Task.info` as parsed: the fields read here. */
export interface TaskInfoLike {
  state?: unknown;
  progress?: unknown;
  error?: unknown;
  result?: unknown;
  queueTime?: unknown;
  startTime?: unknown;
  completeTime?: unknown;
  cancelable?: unknown;
  cancelled?: unknown;
  description?: unknown;
}

/** A snapshot built from TaskInfo, with the task's result moref when it has one. */
export interface TaskInfoSnapshot {
  snapshot: Omit<TaskSnapshot, 'result'>;
  /** `info.result` when it is a moref: the VM a create or clone made, the snapshot taken. */
  resultRef: ManagedObjectReference | undefined;
}

const STATES: Readonly<Record<string, TaskState>> = {
  queued: 'queued',
  running: 'running',
  success: 'succeeded',
  error: 'failed',
};

function iso(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

function moRefOf(value: unknown): ManagedObjectReference | undefined {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

/**
 * Maps `info` to a snapshot for task `id` of `kind`. `fallbackTime` (ISO) stands in for
 * timestamps vSphere left out.
 */
export function taskInfoSnapshot(
  info: TaskInfoLike,
  base: { id: string; provider: string; kind: string; fallbackTime: string },
  context: FaultContext,
): TaskInfoSnapshot {
  const raw = typeof info.state === 'string' ? info.state : 'running';
  const errorInfo = info.error as { fault?: { $type?: unknown } } | undefined;
  const canceled =
    raw === 'error' && (info.cancelled === true || errorInfo?.fault?.$type === 'RequestCanceled');
  const state: TaskState = canceled ? 'canceled' : (STATES[raw] ?? 'running');
  const percent = typeof info.progress === 'number' ? info.progress : undefined;
  const message = (info.description as { message?: unknown } | undefined)?.message;
  const createdAt = iso(info.queueTime) ?? base.fallbackTime;
  const startedAt = iso(info.startTime);
  const finishedAt = iso(info.completeTime);
  const final = state === 'succeeded' || state === 'failed' || state === 'canceled';
  const snapshot: Omit<TaskSnapshot, 'result'> = {
    id: base.id,
    provider: base.provider,
    kind: base.kind,
    state,
    progress: {
      ...(state === 'succeeded'
        ? { percent: 100 }
        : percent !== undefined
          ? { percent: Math.min(100, Math.max(0, percent)) }
          : {}),
      ...(typeof message === 'string' && message !== '' ? { message } : {}),
    },
    cancelable: !final && info.cancelable === true,
    createdAt,
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : final ? { finishedAt: base.fallbackTime } : {}),
  };
  if (state === 'failed' && errorInfo !== undefined) {
    snapshot.error = localizedFaultToError(errorInfo, context).toJSON();
  }
  return { snapshot, resultRef: moRefOf(info.result) };
}
