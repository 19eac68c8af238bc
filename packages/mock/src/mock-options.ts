import type { CapabilityDeclarations, Clock, Logger } from '@hvkit/core';
import type { MockBackend } from './mock-backend.js';
import type { MockFaultRule } from './mock-faults.js';
import type { MockInventoryOptions } from './mock-inventory.js';

/** How long each kind of task runs by default, in milliseconds of clock time. */
export const DEFAULT_TASK_DURATIONS_MS: Readonly<Record<string, number>> = {
  'vm.create': 50,
  'vm.clone': 50,
  'vm.migrate': 50,
  'vm.delete': 20,
  'vm.power-on': 20,
  'vm.power-off': 20,
  'vm.shutdown': 20,
  'vm.reboot': 20,
  'vm.reset': 20,
  'vm.suspend': 20,
  'vm.resume': 20,
  'vm.reconfigure': 20,
  'vm.mark-as-template': 20,
  'vm.set-high-availability': 20,
  'vm.set-load-balancing': 20,
  'vm.set-fault-tolerance': 20,
  'snapshot.create': 20,
  'snapshot.revert': 20,
  'snapshot.delete': 20,
  'image.import': 300,
};

/** Duration of a task kind missing from {@link DEFAULT_TASK_DURATIONS_MS}. */
export const FALLBACK_TASK_DURATION_MS = 20;

/** Options of `createMockProvider` and `createMockDriver`. */
export interface MockProviderOptions {
  /** Provider instance name, in every ref. Default `mock`. */
  name?: string | undefined;
  /**
   * Seed of every id, MAC, IP, metric and fault draw: the same seed and the same calls give the
   * same results. Default 1. With `backend`, the backend's seed is used.
   */
  seed?: number | undefined;
  /** Default `systemClock` (or the backend's clock when `backend` is given). */
  clock?: Clock | undefined;
  /**
   * Share one backend between several providers (two clients of one vCenter), e.g. to resume a
   * task "in another instance". When given, `seed`, `persistPath` and `inventory` are the
   * backend's own and are ignored here.
   */
  backend?: MockBackend | undefined;
  /**
   * JSON state file: loaded at start, written atomically (temporary file + rename) after every
   * change, reloaded before an operation when another process changed it (inode, size, mtime),
   * so processes can take turns. Not a database: two processes writing at the same instant race.
   */
  persistPath?: string | undefined;
  /**
   * Delay before each driver operation, in milliseconds of clock time: one number for all, or
   * per operation name (`create`, `get`, `listPage`, `getTask`, …). Honours the AbortSignal.
   * Default 0.
   */
  latencyMs?: number | Partial<Record<string, number>> | undefined;
  /**
   * How long tasks run, in milliseconds of clock time: one number for all kinds, or per kind
   * (`vm.create`, `vm.power-on`, `snapshot.create`, `image.import`, …) over
   * {@link DEFAULT_TASK_DURATIONS_MS}. 0 completes a task synchronously at submission.
   * `disk.import` runs as long as its byte stream and ignores this.
   */
  taskDurationMs?: number | Partial<Record<string, number>> | undefined;
  /** Scripted faults; more can be added later through `provider.faults`. */
  faults?: MockFaultRule[] | undefined;
  /** Overrides of the declaration (every capability is `supported` by default). */
  capabilities?: Partial<CapabilityDeclarations> | undefined;
  /** The simulated datacenter. See {@link MockInventoryOptions} for defaults. */
  inventory?: MockInventoryOptions | undefined;
  /** Receives debug logs (redacted). Default silent. */
  logger?: Logger | undefined;
}
