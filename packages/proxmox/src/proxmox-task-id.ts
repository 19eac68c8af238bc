/**
 * hvkit task ids of the Proxmox provider. Proxmox names a task by its UPID; an hvkit task may
 * also need what the UPID does not say (the VM a clone made, the snapshot a snapshot task
 * took, the image a download stored), and some operations are synchronous in Proxmox (config
 * writes, HA resources) and have no UPID at all. So a task id is `pve.` + the base64url JSON of a
 * {@link TaskRef}: URL-safe, free of secrets, and complete — any process holding the id can
 * answer `getTask` for it (resume across processes works for every kind).
 */
import { hasTaskKind, type TaskIdCodec, taskIdCodec } from '@hvkit/core';

/** What a task id carries. */
export interface TaskRef {
  /** Core task kind, e.g. `vm.create`. */
  k: string;
  /** The UPID observed; absent for synchronous work and key-addressed creates. */
  u?: string | undefined;
  /** The VM the result describes. */
  v?: number | undefined;
  /** Snapshot name (`snapshot.create`). */
  s?: string | undefined;
  /** Image volume id and node (`image.import`, `disk.import`). */
  i?: string | undefined;
  n?: string | undefined;
  /** Name asked for by an image import. */
  nm?: string | undefined;
  /** Source URL of an image import. */
  url?: string | undefined;
  /** The import found the image already stored. */
  c?: 1 | undefined;
  /** Reconfigure outcome: applied and pending fields, warnings. */
  a?: string[] | undefined;
  p?: string[] | undefined;
  w?:
    | { type: 'unsupported' | 'other'; feature?: string | undefined; details: string }[]
    | undefined;
  /** Creation time (ms since the epoch) of a synchronous task. */
  t?: number | undefined;
  /** A key-addressed create or clone: done when the VM exists unlocked (and running if `on`). */
  on?: 1 | undefined;
}

const codec = taskIdCodec({
  prefix: 'pve.',
  backend: 'Proxmox',
  isRef: (value): value is TaskRef => hasTaskKind(value),
});

/** Encodes a task reference as a task id. */
export const encodeTaskId: (ref: TaskRef) => string = codec.encode;

/** Decodes a task id; `NotFoundError` (task) for anything this provider did not mint. */
export const decodeTaskId: TaskIdCodec<TaskRef>['decode'] = codec.decode;
