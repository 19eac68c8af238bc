import type { MigrateTarget, Provider, VmSpecInput } from '@hvkit/core';

/**
 * Test-bed specifics. Networks and storage are discovered with `listNetworks` /
 * `listStoragePools` where omitted; everything else a declared capability needs and the suite
 * cannot discover makes that capability's tests fail with a message naming the fixture.
 */
export interface ConformanceFixtures {
  /** Prefix of every VM, image, pool and rule name the suite creates. Default `hvkit-conformance-`. */
  namePrefix?: string;
  /**
   * Network for NICs. Default: the first network of kind `network`. A NIC on it must report the
   * `connection` kind `listNetworks()` gives it (a Proxmox bridge reports `bridge`).
   */
  network?: string;
  /** Host bridge for `network.bridge`. Default: the first network of kind `bridge`. */
  bridge?: string;
  /** Distributed port group for `network.distributedSwitch`. Default: the first of kind `distributed`. */
  distributedPortgroup?: string;
  /** VLAN id for `network.vlan`. Default 100. */
  vlan?: number;
  /** Storage pool for `storage.storagePools`. Default: the last listed pool that holds disks. */
  storage?: string;
  /** Storage policy for `storage.storagePolicies`. Required when that capability is usable. */
  storagePolicy?: string;
  /** Host new VMs are placed on (`placement.host`), e.g. the source host of a migration. */
  host?: string;
  /** Destination of `advanced.liveMigration`. Default: another storage pool, where there is one. */
  migrateTarget?: MigrateTarget;
  /** Image URL for `images.cloudImageDownload` (and conversion/caching). */
  imageUrl?: string;
  /** OVA URL for `images.ovaImport`. */
  ovaUrl?: string;
  /** Content library item for `images.contentLibrary`. */
  contentLibrary?: { library: string; item: string };
  /** Merged into every VM spec the suite creates (below the test's own fields), e.g. a bootable image. */
  baseSpec?: Partial<VmSpecInput>;
  /** How long to wait for the guest agent/tools to report after power-on. Default 120 000. */
  guestReadyTimeoutMs?: number;
  /**
   * What the `lifecycle.linkedClone` tests link their clones to. `snapshot` (default): the current
   * or a named snapshot of a plain VM, and a template. `template`: only a template made with
   * `markAsTemplate` (so those tests need `lifecycle.templateDeploy`), for backends that link clones
   * to templates only, as Proxmox does. Either way a linked clone of a plain VM without a snapshot
   * must be ConflictError (`invalid-state`).
   */
  linkedCloneSource?: 'snapshot' | 'template';
}

/** Options of {@link defineConformanceSuite}. */
export interface ConformanceOptions {
  /** Title of the top-level `describe`. */
  name: string;
  /**
   * Makes the provider under test. Called once while the suite is collected (its declarations
   * choose the tests) and again by the resume test, which needs a second instance on the same
   * backend. Must not do I/O beyond what the provider does on construction.
   */
  createProvider: () => Provider | Promise<Provider>;
  /** Test-bed specifics; see {@link ConformanceFixtures}. */
  fixtures?: ConformanceFixtures;
  /**
   * Counter of backend calls. When given, the tests that say "before any I/O" assert it did not
   * move.
   */
  ioProbe?: () => number;
  /** `taskMs` bounds every task wait (default 60 000); `testMs` every test (default 120 000). */
  timeouts?: { taskMs?: number; testMs?: number };
  /** Delete what the suite created (after each test, and by name prefix after all). Default true. */
  cleanup?: boolean;
}
