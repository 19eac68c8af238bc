/**
 * hvkit task ids of the vSphere provider. vSphere names a task by its moref (`task-42`), but an
 * hvkit task may need more: the VM a power action targets, the outcome a reconfigure computed,
 * and some operations (ShutdownGuest, RebootGuest, MarkAsTemplate) are not vSphere tasks at all.
 * So an id is `vs.` + the base64url JSON of a {@link TaskRef}: URL-safe, free of secrets, and
 * complete — any process holding the id can answer `getTask` for it.
 */
import { hasTaskKind, type TaskIdCodec, taskIdCodec } from '@hvkit/core';

/** What a task id carries. */
export interface TaskRef {
  /** Core task kind, e.g. `vm.create`. */
  k: string;
  /** The vSphere Task moref value observed; absent for work that is not a vSphere task. */
  t?: string | undefined;
  /** The VM the task acts on (moref value); a create or clone learns its VM from the task result. */
  v?: string | undefined;
  /** Power state that ends a guest operation (`poweredOff` after ShutdownGuest). */
  ps?: string | undefined;
  /** Reconfigure outcome: applied and pending fields, warnings. */
  a?: string[] | undefined;
  p?: string[] | undefined;
  w?:
    | { type: 'unsupported' | 'other'; feature?: string | undefined; details: string }[]
    | undefined;
  /** Hash of the idempotency key of work the driver finished before answering (keyed create). */
  ik?: string | undefined;
  /** Creation time (ms since the epoch) of synchronous work. */
  at?: number | undefined;
  /** Extra result data (image id, disk path) for image and disk tasks. */
  x?: Record<string, string> | undefined;
}

const codec = taskIdCodec({
  prefix: 'vs.',
  backend: 'vSphere',
  isRef: (value): value is TaskRef => hasTaskKind(value),
});

/** Encodes a task reference as a task id. */
export const encodeTaskId: (ref: TaskRef) => string = codec.encode;

/** Decodes a task id; `NotFoundError` (task) for anything this provider did not mint. */
export const decodeTaskId: TaskIdCodec<TaskRef>['decode'] = codec.decode;
