import { z } from 'zod';
import {
  DiskBusSchema,
  DiskFormatSchema,
  FirmwareSchema,
  NicModelSchema,
  PowerStateSchema,
  ProvisioningSchema,
  VmRefSchema,
} from './common.js';

/** A disk as observed. */
export const DiskSchema = z.object({
  /** Backend id of the disk (device key, target dev, `scsi0`…), stable for the VM's life. */
  id: z.string(),
  name: z.string().optional(),
  sizeBytes: z.number().int().nonnegative(),
  provisioning: ProvisioningSchema.optional(),
  bus: DiskBusSchema.optional(),
  storage: z.string().optional(),
  format: DiskFormatSchema.optional(),
  /** Id of the disk this one is a copy-on-write child of (linked clones). */
  parentId: z.string().optional(),
});
/** See {@link DiskSchema}. */
export type Disk = z.infer<typeof DiskSchema>;

/** A NIC as observed. */
export const NicSchema = z.object({
  id: z.string(),
  network: z.string(),
  connection: z.enum(['network', 'bridge', 'distributed']),
  model: NicModelSchema.optional(),
  vlan: z.number().int().optional(),
  mac: z.string(),
  ipAddresses: z.array(z.string()),
});
/** See {@link NicSchema}. */
export type Nic = z.infer<typeof NicSchema>;

/** In-guest tools or agent state. */
export const ToolsStateSchema = z.enum(['running', 'not-running', 'not-installed', 'unknown']);
/** See {@link ToolsStateSchema}. */
export type ToolsState = z.infer<typeof ToolsStateSchema>;

/** What the guest reports about itself. */
export const GuestInfoSchema = z.object({
  toolsState: ToolsStateSchema,
  hostname: z.string().optional(),
  osName: z.string().optional(),
  ipAddresses: z.array(z.string()),
  interfaces: z
    .array(
      z.object({ mac: z.string(), name: z.string().optional(), ipAddresses: z.array(z.string()) }),
    )
    .optional(),
  /** Present where `guest.monitoring` is supported. */
  uptimeSeconds: z.number().nonnegative().optional(),
  filesystems: z
    .array(
      z.object({
        mountPoint: z.string(),
        capacityBytes: z.number().nonnegative(),
        freeBytes: z.number().nonnegative(),
      }),
    )
    .optional(),
});
/** See {@link GuestInfoSchema}. */
export type GuestInfo = z.infer<typeof GuestInfoSchema>;

/** One snapshot and its children. */
export interface Snapshot {
  id: string;
  name: string;
  description?: string | undefined;
  /** ISO 8601. */
  createdAt: string;
  /** Includes memory state. */
  memory: boolean;
  quiesced: boolean;
  /** Power state of the VM when the snapshot was taken. */
  powerState: z.infer<typeof PowerStateSchema>;
  parentId?: string | undefined;
  children: Snapshot[];
}

/** See {@link Snapshot}. */
export const SnapshotSchema: z.ZodType<Snapshot> = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  createdAt: z.string(),
  memory: z.boolean(),
  quiesced: z.boolean(),
  powerState: PowerStateSchema,
  parentId: z.string().optional(),
  get children() {
    return z.array(SnapshotSchema);
  },
});

/** A VM's snapshots as a tree, with the one the VM currently runs from. */
export const SnapshotTreeSchema = z.object({
  currentId: z.string().nullable(),
  roots: z.array(SnapshotSchema),
});
/** See {@link SnapshotTreeSchema}. */
export type SnapshotTree = z.infer<typeof SnapshotTreeSchema>;

/** Per-VM availability and placement policies. */
export const VmPoliciesSchema = z.object({
  highAvailability: z
    .object({
      enabled: z.boolean(),
      restartPriority: z.enum(['disabled', 'low', 'medium', 'high']),
    })
    .optional(),
  loadBalancing: z
    .object({ automation: z.enum(['disabled', 'manual', 'partial', 'full']) })
    .optional(),
  faultTolerance: z.object({ enabled: z.boolean() }).optional(),
});
/** See {@link VmPoliciesSchema}. */
export type VmPolicies = z.infer<typeof VmPoliciesSchema>;

/** A VM as observed on its backend. */
export const VmSchema = z.object({
  ref: VmRefSchema,
  /**
   * How complete the record is. `summary`: a `list` item read cheaply in bulk — ref, name, power
   * state, template flag, CPU, memory and what the backend's listing call gives; `disks`, `nics`
   * and snapshots may be empty, guest info partial, and `tags` complete only where the backend
   * lists them in the same call or the query filtered by tags (docs/contract.md). `full` (or
   * absent): everything the provider observes, as `get` returns.
   */
  detail: z.enum(['full', 'summary']).optional(),
  name: z.string(),
  description: z.string().optional(),
  powerState: PowerStateSchema,
  template: z.boolean(),
  guestOs: z.string().optional(),
  cpu: z.object({
    count: z.number().int(),
    coresPerSocket: z.number().int(),
    hotAdd: z.boolean(),
    reservationMHz: z.number().int().optional(),
    limitMHz: z.number().int().optional(),
  }),
  memory: z.object({
    sizeMiB: z.number().int(),
    hotAdd: z.boolean(),
    reservationMiB: z.number().int().optional(),
    limitMiB: z.number().int().optional(),
  }),
  disks: z.array(DiskSchema),
  nics: z.array(NicSchema),
  firmware: FirmwareSchema.optional(),
  guest: GuestInfoSchema,
  snapshots: SnapshotTreeSchema,
  placement: z.object({
    host: z.string().optional(),
    cluster: z.string().optional(),
    resourcePool: z.string().optional(),
    folder: z.string().optional(),
    storage: z.string().optional(),
  }),
  policies: VmPoliciesSchema,
  tags: z.record(z.string(), z.string()),
  /** ISO 8601, where the backend records it. */
  createdAt: z.string().optional(),
  /** The backend's own record, for what the shared model does not cover. */
  raw: z.unknown().optional(),
});
/** See {@link VmSchema}. */
export type Vm = z.infer<typeof VmSchema>;
