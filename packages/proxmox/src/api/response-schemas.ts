/**
 * zod schemas for the `data` of the endpoints every Proxmox operation touches. Numbers accept
 * strings (Perl-loose), `null` counts as absent, and unknown keys are kept: newer Proxmox
 * versions add fields, which must not break an older client.
 */
import { z } from 'zod';
import { looseBool, looseInt, looseNumber, looseString } from './loose-types.js';
import { isUpid } from './upid.js';

/** Wraps a schema so that a missing key and `null` both parse to `undefined`. */
export function optional<S extends z.ZodType>(schema: S) {
  return schema
    .nullish()
    .transform((value): z.output<S> | undefined => (value === null ? undefined : value));
}

/** A task id, checked against the UPID grammar. */
export const upidSchema = z.string().refine(isUpid, 'expected a Proxmox UPID');

/** `GET /version`. */
export const versionSchema = z.looseObject({
  version: z.string(),
  release: optional(looseString),
  repoid: optional(z.string()),
});

/** `GET /cluster/nextid`: the id as a string (or a number). */
export const nextIdSchema = looseInt;

/** `POST /access/ticket`. `NeedTFA` set means a second factor is required. */
export const accessTicketSchema = z.looseObject({
  username: z.string(),
  ticket: z.string().min(1),
  CSRFPreventionToken: z.string().min(1),
  clustername: optional(z.string()),
  NeedTFA: optional(looseBool),
});

/** One entry of `GET /nodes`. */
export const nodeListItemSchema = z.looseObject({
  node: z.string(),
  status: z.string(),
  cpu: optional(looseNumber),
  maxcpu: optional(looseInt),
  mem: optional(looseInt),
  maxmem: optional(looseInt),
  disk: optional(looseInt),
  maxdisk: optional(looseInt),
  uptime: optional(looseInt),
  level: optional(z.string()),
  ssl_fingerprint: optional(z.string()),
});

/** One entry of `GET /cluster/resources` (VMs, containers, nodes, storage, SDN, pools). */
export const clusterResourceSchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  node: optional(z.string()),
  status: optional(z.string()),
  vmid: optional(looseInt),
  name: optional(z.string()),
  template: optional(looseBool),
  tags: optional(z.string()),
  lock: optional(z.string()),
  pool: optional(z.string()),
  hastate: optional(z.string()),
  storage: optional(z.string()),
  content: optional(z.string()),
  shared: optional(looseBool),
  cpu: optional(looseNumber),
  maxcpu: optional(looseNumber),
  mem: optional(looseInt),
  maxmem: optional(looseInt),
  disk: optional(looseInt),
  maxdisk: optional(looseInt),
  uptime: optional(looseInt),
});

/** One entry of `GET /nodes/{node}/qemu`. */
export const qemuListItemSchema = z.looseObject({
  vmid: looseInt,
  status: z.string(),
  name: optional(z.string()),
  template: optional(looseBool),
  lock: optional(z.string()),
  tags: optional(z.string()),
  pid: optional(looseInt),
  cpus: optional(looseNumber),
  maxmem: optional(looseInt),
  maxdisk: optional(looseInt),
  uptime: optional(looseInt),
});

/** `GET /nodes/{node}/tasks/{upid}/status`. No `endtime` here (only in the task list). */
export const taskStatusSchema = z.looseObject({
  upid: upidSchema,
  node: z.string(),
  pid: looseInt,
  pstart: looseInt,
  starttime: looseInt,
  type: z.string(),
  id: optional(looseString),
  user: z.string(),
  tokenid: optional(z.string()),
  status: z.enum(['running', 'stopped']),
  /** `OK`, `WARNINGS: n` (success), or the error text. Only once stopped. */
  exitstatus: optional(z.string()),
});

/** One line of `GET /nodes/{node}/tasks/{upid}/log` (`total` is in the envelope). */
export const taskLogLineSchema = z.object({ n: looseInt, t: z.string() });

/** One entry of `GET /nodes/{node}/tasks`: `status` is the exit status text, with `endtime`. */
export const taskListItemSchema = z.looseObject({
  upid: upidSchema,
  node: z.string(),
  type: z.string(),
  id: optional(looseString),
  user: z.string(),
  starttime: looseInt,
  endtime: optional(looseInt),
  status: optional(z.string()),
  pid: optional(looseInt),
  pstart: optional(looseInt),
});
