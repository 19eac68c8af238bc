import { z } from 'zod';
import {
  DescriptionSchema,
  DiskFormatSchema,
  IdentifierSchema,
  NameSchema,
  PowerStateSchema,
  TagsSchema,
  VmRefSchema,
} from './common.js';
import { VmPoliciesSchema, VmSchema } from './vm.js';
import {
  ContentLibrarySourceSchema,
  DiskSpecSchema,
  NicSpecSchema,
  PlacementSchema,
  UrlImageSourceSchema,
} from './vm-spec.js';

const IsoTimeSchema = z.union([
  z.iso.datetime({ offset: true }),
  z.date().transform((date) => date.toISOString()),
]);

/** Filters and paging for `list`. */
export const ListQuerySchema = z
  .object({
    /** Exact name. */
    name: z.string().optional(),
    namePrefix: z.string().optional(),
    powerState: PowerStateSchema.optional(),
    /** `true`: templates only; `false`: VMs only; omitted: both. */
    template: z.boolean().optional(),
    /** Every tag given must match. */
    tags: z.record(z.string(), z.string()).optional(),
    /** Page size for `listPage`. Default 100. */
    limit: z.int().min(1).max(1000).optional(),
    /** Opaque cursor from the previous page. */
    cursor: z.string().optional(),
  })
  .strict();
/** See {@link ListQuerySchema}. */
export type ListQuery = z.input<typeof ListQuerySchema>;

/** One page of a listing. */
export interface Page<T> {
  items: T[];
  /** Present when there are more items. */
  nextCursor?: string | undefined;
}

/** A hardware change for `reconfigure`. At least one field. */
export const VmChangeSchema = z
  .object({
    name: NameSchema.optional(),
    description: DescriptionSchema.optional(),
    cpu: z
      .object({
        count: z.int().min(1).max(768).optional(),
        coresPerSocket: z.int().min(1).max(768).optional(),
        hotAdd: z.boolean().optional(),
        reservationMHz: z.int().min(0).optional(),
        limitMHz: z.int().min(1).optional(),
      })
      .strict()
      .optional(),
    memory: z
      .object({
        sizeMiB: z.int().min(4).optional(),
        hotAdd: z.boolean().optional(),
        reservationMiB: z.int().min(0).optional(),
        limitMiB: z.int().min(1).optional(),
      })
      .strict()
      .optional(),
    addDisks: z.array(DiskSpecSchema).max(60).optional(),
    /** Grow disks; a smaller size is invalid. */
    resizeDisks: z
      .array(z.object({ diskId: IdentifierSchema, sizeGiB: z.number().positive() }).strict())
      .optional(),
    removeDisks: z.array(IdentifierSchema).optional(),
    addNics: z.array(NicSpecSchema).max(10).optional(),
    removeNics: z.array(IdentifierSchema).optional(),
    tags: TagsSchema.optional(),
  })
  .strict()
  .refine(
    (change) => Object.values(change).some((value) => value !== undefined),
    'must change at least one field',
  );
/** See {@link VmChangeSchema}. */
export type VmChange = z.input<typeof VmChangeSchema>;

/** A soft failure: the request was honoured but something could not be. */
export interface Warning {
  type: 'unsupported' | 'other';
  /** Field or feature concerned, e.g. `cpu.reservationMHz`. */
  feature?: string | undefined;
  details: string;
}

/** What `reconfigure` did: live changes, changes that wait for the next power cycle, and the VM. */
export const ReconfigureResultSchema = z.object({
  /** Dotted field names applied to the running VM (or to a stopped VM, where all apply). */
  applied: z.array(z.string()),
  /** Dotted field names stored but taking effect at the next boot. */
  pendingRestart: z.array(z.string()),
  warnings: z.array(
    z.object({
      type: z.enum(['unsupported', 'other']),
      feature: z.string().optional(),
      details: z.string(),
    }),
  ),
  vm: VmSchema,
});
/** See {@link ReconfigureResultSchema}. */
export type ReconfigureResult = z.infer<typeof ReconfigureResultSchema>;

/** Options for `clone`. */
export const CloneOptionsSchema = z
  .object({
    name: NameSchema,
    /** `linked` needs a snapshot (given or current) or a template source. */
    mode: z.enum(['full', 'linked']),
    /** Snapshot to clone from; linked clones default to the current snapshot. */
    snapshotId: IdentifierSchema.optional(),
    description: DescriptionSchema.optional(),
    placement: PlacementSchema.optional(),
    tags: TagsSchema.optional(),
    /** Power on the clone when done. Default false. */
    powerOn: z.boolean().optional(),
  })
  .strict();
/** See {@link CloneOptionsSchema}. */
export type CloneOptions = z.input<typeof CloneOptionsSchema>;

/** Options for `createSnapshot`. */
export const SnapshotOptionsSchema = z
  .object({
    name: NameSchema,
    description: DescriptionSchema.optional(),
    /** Include memory (VM must be running). Needs `snapshots.memory`. */
    memory: z.boolean().optional(),
    /** Quiesce guest file systems (needs running tools). Needs `snapshots.quiesce`. */
    quiesce: z.boolean().optional(),
  })
  .strict();
/** See {@link SnapshotOptionsSchema}. */
export type SnapshotOptions = z.input<typeof SnapshotOptionsSchema>;

/** How to reach a VM's console. `ticket` is a secret: never log it. */
export const ConsoleAccessSchema = z.object({
  protocol: z.enum(['vnc', 'webmks', 'novnc', 'spice', 'serial']),
  url: z.string(),
  ticket: z.string().optional(),
  /**
   * Where the console stream itself is served, for clients that speak the protocol over a
   * websocket (noVNC, webmks). It never contains the ticket: pass `ticket` as the provider's page
   * says (Proxmox: `&vncticket=<encoded ticket>`, with the same authentication as the API).
   */
  websocketUrl: z.string().optional(),
  /** ISO 8601. */
  expiresAt: z.string().optional(),
});
/** See {@link ConsoleAccessSchema}. */
export type ConsoleAccess = z.infer<typeof ConsoleAccessSchema>;

/** Metrics hvkit normalises across backends. */
export const MetricNameSchema = z.enum([
  'cpu.usagePercent',
  'memory.usagePercent',
  'memory.usedMiB',
  'disk.readBytesPerSecond',
  'disk.writeBytesPerSecond',
  'network.rxBytesPerSecond',
  'network.txBytesPerSecond',
]);
/** See {@link MetricNameSchema}. */
export type MetricName = z.infer<typeof MetricNameSchema>;

/** The unit each metric is reported in; every provider's `MetricSeries.unit` comes from here. */
export const METRIC_UNITS: Readonly<Record<MetricName, 'percent' | 'MiB' | 'bytes/s'>> = {
  'cpu.usagePercent': 'percent',
  'memory.usagePercent': 'percent',
  'memory.usedMiB': 'MiB',
  'disk.readBytesPerSecond': 'bytes/s',
  'disk.writeBytesPerSecond': 'bytes/s',
  'network.rxBytesPerSecond': 'bytes/s',
  'network.txBytesPerSecond': 'bytes/s',
};

/** Query for `getMetrics`. Without `since`: the real-time window. */
export const MetricsQuerySchema = z
  .object({
    metrics: z.array(MetricNameSchema).min(1).optional(),
    since: IsoTimeSchema.optional(),
    until: IsoTimeSchema.optional(),
    /** Most samples per series, newest kept. Default 60. */
    maxSamples: z.int().min(1).max(10_000).optional(),
  })
  .strict();
/** See {@link MetricsQuerySchema}. */
export type MetricsQuery = z.input<typeof MetricsQuerySchema>;

/** One metric over time. */
export interface MetricSeries {
  metric: MetricName;
  unit: 'percent' | 'MiB' | 'bytes/s';
  intervalSeconds: number;
  samples: { timestamp: string; value: number }[];
}

/** Query for `listEvents`. Newest first. */
export const EventQuerySchema = z
  .object({
    vm: VmRefSchema.optional(),
    since: IsoTimeSchema.optional(),
    limit: z.int().min(1).max(10_000).optional(),
  })
  .strict();
/** See {@link EventQuerySchema}. */
export type EventQuery = z.input<typeof EventQuerySchema>;

/** One event. `type` is `vm-<verb>` for VM events (`vm-created`, `vm-powered-on`, …). */
export interface VmEvent {
  id: string;
  /** ISO 8601. */
  time: string;
  type: string;
  vm?: { provider: string; id: string } | undefined;
  message: string;
}

/** Health verdict. */
export type HealthStatus = 'ok' | 'warning' | 'critical' | 'unknown';

/** What `checkHealth` returns. */
export interface HealthReport {
  status: HealthStatus;
  checkedAt: string;
  checks: { name: string; status: HealthStatus; message: string }[];
}

/** A threshold alert rule. */
export const AlertRuleSpecSchema = z
  .object({
    name: NameSchema,
    /** Omitted: every VM of the provider. */
    vm: VmRefSchema.optional(),
    metric: MetricNameSchema,
    comparison: z.enum(['above', 'below']),
    threshold: z.number().finite(),
  })
  .strict();
/** See {@link AlertRuleSpecSchema}. */
export type AlertRuleSpec = z.input<typeof AlertRuleSpecSchema>;

/** A rule and its current state. */
export interface Alert {
  id: string;
  name: string;
  vm?: { provider: string; id: string } | undefined;
  metric: MetricName;
  comparison: 'above' | 'below';
  threshold: number;
  state: 'ok' | 'firing';
  /** VMs for which the rule fires. */
  firing: { provider: string; id: string; value: number }[];
}

/** Where `importImage` takes an image from. */
export const ImageImportSourceSchema = z.discriminatedUnion('kind', [
  UrlImageSourceSchema,
  z
    .object({
      kind: z.literal('ova'),
      url: z.url({ protocol: /^(https?|file)$/, error: 'must be an http(s) or file URL' }),
    })
    .strict(),
  z
    .object({
      kind: z.literal('ovf'),
      url: z.url({ protocol: /^(https?|file)$/, error: 'must be an http(s) or file URL' }),
    })
    .strict(),
  ContentLibrarySourceSchema,
]);
/** See {@link ImageImportSourceSchema}. */
export type ImageImportSource = z.infer<typeof ImageImportSourceSchema>;

/** Options for `importImage`. */
export const ImportImageOptionsSchema = z
  .object({
    name: NameSchema,
    storage: IdentifierSchema.optional(),
    /** Convert on import. Needs `images.conversion`. */
    convertTo: DiskFormatSchema.optional(),
  })
  .strict();
/** See {@link ImportImageOptionsSchema}. */
export type ImportImageOptions = z.input<typeof ImportImageOptionsSchema>;

/** A stored image (template, cloud image, imported disk). */
export const ImageSchema = z.object({
  id: z.string(),
  name: z.string(),
  format: DiskFormatSchema,
  sizeBytes: z.number().int().nonnegative(),
  storage: z.string().optional(),
  /** Where it came from; `disk` for `importDisk`. */
  source: z.union([ImageImportSourceSchema, z.object({ kind: z.literal('disk') })]),
  /** True when an import found this image already stored and reused it. */
  cached: z.boolean(),
  /** SHA-256 of the stored bytes, where known. */
  sha256: z.string().optional(),
  createdAt: z.string(),
});
/** See {@link ImageSchema}. */
export type Image = z.infer<typeof ImageSchema>;

/** A datastore or storage pool. */
export interface StoragePool {
  id: string;
  name: string;
  type: string;
  capacityBytes: number;
  freeBytes: number;
  /** What it may hold. */
  content: ('disk' | 'image' | 'iso' | 'snippet')[];
  shared: boolean;
}

/** A network, port group or bridge. */
export interface Network {
  id: string;
  name: string;
  kind: 'network' | 'bridge' | 'distributed';
  vlan?: number | undefined;
}

/** Resource pool to create. */
export const ResourcePoolSpecSchema = z
  .object({
    name: NameSchema,
    parentId: IdentifierSchema.optional(),
    cpu: z
      .object({ reservationMHz: z.int().min(0).optional(), limitMHz: z.int().min(1).optional() })
      .strict()
      .optional(),
    memory: z
      .object({ reservationMiB: z.int().min(0).optional(), limitMiB: z.int().min(1).optional() })
      .strict()
      .optional(),
  })
  .strict();
/** See {@link ResourcePoolSpecSchema}. */
export type ResourcePoolSpec = z.input<typeof ResourcePoolSpecSchema>;

/** A resource pool. */
export interface ResourcePool {
  id: string;
  name: string;
  parentId?: string | undefined;
  cpu: { reservationMHz?: number | undefined; limitMHz?: number | undefined };
  memory: { reservationMiB?: number | undefined; limitMiB?: number | undefined };
}

/** Affinity or anti-affinity between VMs. */
export const PlacementRuleSpecSchema = z
  .object({
    name: NameSchema,
    kind: z.enum(['affinity', 'anti-affinity']),
    vms: z.array(VmRefSchema).min(2, 'a rule needs at least two VMs'),
    /** Hard rule (`true`) or a preference. Default true. */
    mandatory: z.boolean().optional(),
  })
  .strict();
/** See {@link PlacementRuleSpecSchema}. */
export type PlacementRuleSpec = z.input<typeof PlacementRuleSpecSchema>;

/** A stored placement rule. */
export interface PlacementRule {
  id: string;
  name: string;
  kind: 'affinity' | 'anti-affinity';
  vms: { provider: string; id: string }[];
  mandatory: boolean;
}

/** `setHighAvailability` input. */
export const HighAvailabilitySettingsSchema = VmPoliciesSchema.shape.highAvailability
  .unwrap()
  .strict();
/** `setLoadBalancing` input. */
export const LoadBalancingSettingsSchema = VmPoliciesSchema.shape.loadBalancing.unwrap().strict();
/** `setFaultTolerance` input. */
export const FaultToleranceSettingsSchema = VmPoliciesSchema.shape.faultTolerance.unwrap().strict();
/** See {@link HighAvailabilitySettingsSchema}. */
export type HighAvailabilitySettings = z.infer<typeof HighAvailabilitySettingsSchema>;
/** See {@link LoadBalancingSettingsSchema}. */
export type LoadBalancingSettings = z.infer<typeof LoadBalancingSettingsSchema>;
/** See {@link FaultToleranceSettingsSchema}. */
export type FaultToleranceSettings = z.infer<typeof FaultToleranceSettingsSchema>;

/** Where `migrate` moves a VM. At least one field. */
export const MigrateTargetSchema = z
  .object({
    host: IdentifierSchema.optional(),
    storage: IdentifierSchema.optional(),
    resourcePool: IdentifierSchema.optional(),
  })
  .strict()
  .refine(
    (target) =>
      target.host !== undefined ||
      target.storage !== undefined ||
      target.resourcePool !== undefined,
    'must name a host, storage or resource pool',
  );
/** See {@link MigrateTargetSchema}. */
export type MigrateTarget = z.input<typeof MigrateTargetSchema>;

/** Options for `exportDisk`. */
export const ExportDiskOptionsSchema = z
  .object({
    /** Resume from this byte. Default 0. */
    offsetBytes: z.int().min(0).optional(),
  })
  .strict();

/** A disk being read. Consume `stream` fully or break out of it to release the backend. */
export interface DiskExport {
  diskId: string;
  format: z.infer<typeof DiskFormatSchema>;
  /** Total size of the disk image in bytes (not of the remaining range). */
  sizeBytes: number;
  offsetBytes: number;
  stream: AsyncIterable<Uint8Array>;
}

/** What `importDisk` writes. */
export const DiskImportSpecSchema = z
  .object({
    name: NameSchema,
    format: DiskFormatSchema,
    /** Exact byte count the stream will deliver. */
    sizeBytes: z.int().min(1),
    storage: IdentifierSchema.optional(),
    /** When given, the import fails unless the received bytes hash to it. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256')
      .optional(),
  })
  .strict();
/** See {@link DiskImportSpecSchema}. */
export type DiskImportSpec = z.input<typeof DiskImportSpecSchema>;

/** What `validate` found. */
export interface ValidationReport {
  provider: string;
  type: string;
  /** Backend product version. */
  version: string;
  apiVersion?: string | undefined;
  details: Record<string, unknown>;
  warnings: string[];
}

/** Re-exported for operation signatures. */
export { IdentifierSchema, TagsSchema };
