import {
  type CapabilityId,
  HvkitError,
  type Image,
  isUsable,
  type MutationOptions,
  type Network,
  NotFoundError,
  type Provider,
  type SnapshotTree,
  type StoragePool,
  type Task,
  type Vm,
  type VmRef,
  type VmSpecInput,
} from '@hvkit/core';
import type { ConformanceFixtures, ConformanceOptions } from './options.js';

/** Id of a VM (and snapshot, task, disk…) that no backend has. */
export const MISSING_ID = 'hvkit-conformance-missing';

const DEFAULT_PREFIX = 'hvkit-conformance-';
const DEFAULT_TASK_MS = 60_000;
const DEFAULT_TEST_MS = 120_000;
const DEFAULT_GUEST_READY_MS = 120_000;

/** A network or storage pool resolved from a fixture or discovered, with the names it may appear under. */
export interface Resolved {
  /** What to put in a spec. */
  value: string;
  /** Strings an observed VM may report for it (id and name). */
  aliases: string[];
  /**
   * The kind `listNetworks()` reports for it (networks only): what a NIC on it reports as its
   * `connection`. A fixture the listing does not show keeps the kind asked for.
   */
  kind?: Network['kind'];
}

/** State shared by the tests of one suite: the provider, fixtures, and what to clean up. */
export class SuiteContext {
  readonly provider: Provider;
  readonly options: ConformanceOptions;
  readonly fixtures: ConformanceFixtures;
  readonly prefix: string;
  readonly taskMs: number;
  readonly testMs: number;
  readonly guestReadyMs: number;
  #counter = 0;
  #vms: VmRef[] = [];
  #images: string[] = [];
  #cleanups: (() => Promise<void>)[] = [];
  #networks: Network[] | undefined;
  #pools: StoragePool[] | undefined;

  constructor(provider: Provider, options: ConformanceOptions) {
    this.provider = provider;
    this.options = options;
    this.fixtures = options.fixtures ?? {};
    this.prefix = this.fixtures.namePrefix ?? DEFAULT_PREFIX;
    this.taskMs = options.timeouts?.taskMs ?? DEFAULT_TASK_MS;
    this.testMs = options.timeouts?.testMs ?? DEFAULT_TEST_MS;
    this.guestReadyMs = this.fixtures.guestReadyTimeoutMs ?? DEFAULT_GUEST_READY_MS;
  }

  /** True when the provider declares the capability `supported` or `partial`. */
  usable(capability: CapabilityId): boolean {
    return isUsable(this.provider.capabilities[capability]);
  }

  /** A ref to a VM of this provider that does not exist. */
  get missingRef(): VmRef {
    return { provider: this.provider.name, id: MISSING_ID };
  }

  /** Current value of the I/O probe, if any. */
  io(): number | undefined {
    return this.options.ioProbe?.();
  }

  /** A unique name: prefix, counter, random suffix and a label. At most 80 characters. */
  name(label: string): string {
    this.#counter += 1;
    const random = Math.random().toString(36).slice(2, 6);
    return `${this.prefix}${this.#counter}-${random}-${label}`.slice(0, 80);
  }

  /** A unique key for `idempotencyKey`. */
  key(label: string): string {
    return `hvkit-conformance-${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  }

  /**
   * A VM spec: one vCPU and 128 MiB, then `fixtures.baseSpec`, then the test's own fields (which
   * win; tags and placement are merged).
   */
  spec(label: string, overrides: Partial<VmSpecInput> = {}): VmSpecInput {
    const base = this.fixtures.baseSpec ?? {};
    const spec = {
      cpu: { count: 1 },
      memory: { sizeMiB: 128 },
      ...base,
      ...overrides,
      name: overrides.name ?? this.name(label),
    } as VmSpecInput;
    const tags = { ...base.tags, ...overrides.tags };
    if (Object.keys(tags).length > 0) spec.tags = tags;
    const placement = { ...base.placement, ...overrides.placement };
    if (Object.keys(placement).length > 0) spec.placement = placement;
    return spec;
  }

  /** Waits for a task with the suite's task timeout. */
  run<T>(task: Task<T>): Promise<T> {
    return task.wait({ timeoutMs: this.taskMs });
  }

  /** Creates a VM (tracked for cleanup) and returns it. */
  async createVm(
    label: string,
    overrides: Partial<VmSpecInput> = {},
    options?: MutationOptions,
  ): Promise<Vm> {
    const vm = await this.run(this.provider.create(this.spec(label, overrides), options));
    this.track(vm);
    return vm;
  }

  /** Creates a VM and powers it on; returns it as `get` sees it afterwards. */
  async createRunningVm(label: string, overrides: Partial<VmSpecInput> = {}): Promise<Vm> {
    const vm = await this.createVm(label, overrides);
    await this.run(this.provider.powerOn(vm));
    return this.provider.get(vm);
  }

  /** Deletes the VM after the test. */
  track(vm: Vm | VmRef): void {
    const ref = 'ref' in vm ? vm.ref : vm;
    if (!this.#vms.some((known) => known.id === ref.id)) this.#vms.push(ref);
  }

  /** Deletes the image after the test (after its VMs). */
  trackImage(image: Image | string): void {
    this.#images.push(typeof image === 'string' ? image : image.id);
  }

  /** Runs `cleanup` after the test, before VMs are deleted. */
  defer(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  /** Everything one test created, newest first. Errors other than "not found" propagate. */
  async cleanupTest(): Promise<void> {
    const cleanups = this.#cleanups.reverse();
    const vms = this.#vms.reverse();
    const images = this.#images.reverse();
    this.#cleanups = [];
    this.#vms = [];
    this.#images = [];
    if (this.options.cleanup === false) return;
    const failures: unknown[] = [];
    const attempt = async (work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        if (!NotFoundError.isInstance(error)) failures.push(error);
      }
    };
    for (const cleanup of cleanups) await attempt(cleanup);
    if (this.usable('core.delete')) {
      for (const ref of vms) await attempt(() => this.run(this.provider.delete(ref)));
    }
    for (const id of images) await attempt(() => this.provider.deleteImage(id));
    if (failures.length > 0) {
      throw new AggregateError(failures, `cleanup failed: ${failures.map(explain).join('; ')}`);
    }
  }

  /** Deletes every VM whose name starts with the prefix (left over by failed tests); closes the provider. */
  async cleanupAll(): Promise<void> {
    if (
      this.options.cleanup !== false &&
      this.usable('core.describe') &&
      this.usable('core.delete')
    ) {
      const leftovers: Vm[] = [];
      for await (const vm of this.provider.list({ namePrefix: this.prefix })) leftovers.push(vm);
      for (const vm of leftovers.reverse()) {
        try {
          await this.run(this.provider.delete(vm));
        } catch (error) {
          if (!NotFoundError.isInstance(error)) throw error;
        }
      }
    }
    await this.provider.close();
  }

  /** A fixture the test cannot run without; fails the test naming it when absent. */
  require<K extends keyof ConformanceFixtures>(
    key: K,
    why: string,
  ): NonNullable<ConformanceFixtures[K]> {
    const value = this.fixtures[key];
    if (value === undefined || value === null) throw missingFixture(key, why);
    return value as NonNullable<ConformanceFixtures[K]>;
  }

  async networks(): Promise<Network[]> {
    this.#networks ??= await this.provider.listNetworks();
    return this.#networks;
  }

  async pools(): Promise<StoragePool[]> {
    this.#pools ??= await this.provider.listStoragePools();
    return this.#pools;
  }

  /** The network of a kind, from its fixture or discovered with `listNetworks`. */
  async network(kind: Network['kind'] = 'network'): Promise<Resolved> {
    const key = (
      { network: 'network', bridge: 'bridge', distributed: 'distributedPortgroup' } as const
    )[kind];
    const fixture = this.fixtures[key];
    const networks = this.usable('network.basic') ? await this.networks() : [];
    if (fixture !== undefined) {
      const known = networks.find((item) => item.id === fixture || item.name === fixture);
      return {
        value: fixture,
        aliases: known ? [known.id, known.name] : [fixture],
        kind: known?.kind ?? kind,
      };
    }
    const found = networks.find((item) => item.kind === kind);
    if (!found) throw missingFixture(key, `listNetworks() has no network of kind "${kind}"`);
    return { value: found.name, aliases: [found.id, found.name], kind: found.kind };
  }

  /**
   * Where a NIC may carry its own VLAN tag: a distributed port group, else a host bridge, else a
   * plain network (standard port groups fix their VLAN on vSphere; bridges take tags elsewhere).
   */
  async vlanNetwork(): Promise<Resolved & { connection: Network['kind'] }> {
    for (const [capability, kind] of [
      ['network.distributedSwitch', 'distributed'],
      ['network.bridge', 'bridge'],
    ] as const) {
      if (!this.usable(capability)) continue;
      try {
        return { ...(await this.network(kind)), connection: kind };
      } catch {
        // try the next kind
      }
    }
    return { ...(await this.network('network')), connection: 'network' };
  }

  /** The storage pool from `fixtures.storage`, else the last listed pool that holds disks, except `skip`. */
  async storage(skip: readonly string[] = []): Promise<Resolved> {
    const pools = this.usable('storage.storagePools') ? await this.pools() : [];
    const fixture = this.fixtures.storage;
    if (fixture !== undefined && !skip.includes(fixture)) {
      const known = pools.find((item) => item.id === fixture || item.name === fixture);
      return { value: fixture, aliases: known ? [known.id, known.name] : [fixture] };
    }
    // The last candidate: the first pool is the likeliest default, which would prove nothing.
    const found = pools.findLast(
      (pool) =>
        (pool.content.length === 0 || pool.content.includes('disk')) &&
        !skip.includes(pool.id) &&
        !skip.includes(pool.name),
    );
    if (!found) throw missingFixture('storage', 'listStoragePools() has no pool that holds disks');
    return { value: found.name, aliases: [found.id, found.name] };
  }

  /** The snapshot tree: `listSnapshots` where `snapshots.tree` is usable, else `get().snapshots`. */
  async tree(vm: Vm | VmRef): Promise<SnapshotTree> {
    if (this.usable('snapshots.tree')) return this.provider.listSnapshots(vm);
    return (await this.provider.get(vm)).snapshots;
  }

  /** Polls until `check` returns a value other than undefined/false, within the guest timeout. */
  async eventually<T>(
    what: string,
    check: () => Promise<T | undefined | false>,
    requestedMs = this.guestReadyMs,
  ): Promise<T> {
    // Give up before the test's own timeout, so the failure says what never happened.
    const timeoutMs = Math.min(requestedMs, Math.floor(this.testMs * 0.75));
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        const value = await check();
        if (value !== undefined && value !== false) return value;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${explain(lastError)}` : ''}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2_000)));
    }
  }
}

/** The error a test throws when a fixture it needs is missing. */
export function missingFixture(key: keyof ConformanceFixtures | string, why: string): Error {
  return new Error(
    `fixture "${String(key)}" is required: ${why}. Pass fixtures.${String(key)} to defineConformanceSuite, or declare the capability unsupported.`,
  );
}

/** One line describing an error, for assertion messages. */
export function explain(error: unknown): string {
  if (HvkitError.isInstance(error)) {
    return `${error.name} [${error.code}] ${error.message} ${JSON.stringify(error.details)}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
