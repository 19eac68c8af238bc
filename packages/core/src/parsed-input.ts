import type { z } from 'zod';
import type {
  AlertRuleSpecSchema,
  CloneOptionsSchema,
  DiskImportSpecSchema,
  EventQuerySchema,
  FaultToleranceSettingsSchema,
  HighAvailabilitySettingsSchema,
  ImportImageOptionsSchema,
  ListQuerySchema,
  LoadBalancingSettingsSchema,
  MetricsQuerySchema,
  MigrateTargetSchema,
  PlacementRuleSpecSchema,
  ResourcePoolSpecSchema,
  SnapshotOptionsSchema,
  VmChangeSchema,
} from './model/operations.js';

/** The validated (output) form of each operation input, as drivers receive it. */
export interface ParsedInput {
  listQuery: z.output<typeof ListQuerySchema>;
  vmChange: z.output<typeof VmChangeSchema>;
  cloneOptions: z.output<typeof CloneOptionsSchema>;
  snapshotOptions: z.output<typeof SnapshotOptionsSchema>;
  metricsQuery: z.output<typeof MetricsQuerySchema>;
  eventQuery: z.output<typeof EventQuerySchema>;
  alertRule: z.output<typeof AlertRuleSpecSchema>;
  importImageOptions: z.output<typeof ImportImageOptionsSchema>;
  resourcePoolSpec: z.output<typeof ResourcePoolSpecSchema>;
  placementRuleSpec: z.output<typeof PlacementRuleSpecSchema>;
  highAvailability: z.output<typeof HighAvailabilitySettingsSchema>;
  loadBalancing: z.output<typeof LoadBalancingSettingsSchema>;
  faultTolerance: z.output<typeof FaultToleranceSettingsSchema>;
  migrateTarget: z.output<typeof MigrateTargetSchema>;
  diskImportSpec: z.output<typeof DiskImportSpecSchema>;
}
