/**
 * The Mock runs the shared conformance suite twice on one shared backend: with its full
 * declaration (every capability supported), and declared like a smaller hypervisor, so the
 * refusal tests run against a real driver too. No test is skipped here: what the Mock cannot do
 * it must declare, and the suite checks the declaration.
 */
import { defineConformanceSuite } from '@hvkit/conformance';
import { createMockBackend, createMockProvider } from '../src/index.js';

/** Where the Mock's default inventory meets the suite's fixtures. */
const fixtures = {
  storagePolicy: 'gold',
  imageUrl: 'https://cloud-images.example/noble-server-cloudimg-amd64.img',
  ovaUrl: 'https://appliances.example/appliance.ova',
  contentLibrary: { library: 'lib', item: 'ubuntu-24.04' },
  host: 'host-1',
  migrateTarget: { host: 'host-2' },
  // The simulated guest answers at once; fail fast instead of waiting for a real boot.
  guestReadyTimeoutMs: 5_000,
};

const sharedBackend = createMockBackend({ seed: 42 });

defineConformanceSuite({
  name: 'mock',
  // Every call makes a new provider instance on the same backend: the resume test needs two.
  createProvider: () => createMockProvider({ backend: sharedBackend }),
  ioProbe: () => sharedBackend.ioCount,
  fixtures,
  timeouts: { taskMs: 10_000, testMs: 30_000 },
});

const smallerBackend = createMockBackend({ seed: 43 });

defineConformanceSuite({
  name: 'mock declared like a smaller hypervisor',
  createProvider: () =>
    createMockProvider({
      name: 'mock-small',
      backend: smallerBackend,
      capabilities: {
        'core.taskCancel': 'unsupported',
        'resources.reservations': 'unsupported',
        'resources.memoryHotAdd': { level: 'partial', note: 'Linux guests only' },
        'storage.storagePolicies': 'not-applicable',
        'network.distributedSwitch': 'not-applicable',
        'snapshots.quiesce': 'unsupported',
        'images.contentLibrary': 'not-applicable',
        'images.caching': 'unsupported',
        'guest.customization': 'unsupported',
        'guest.monitoring': 'unsupported',
        'advanced.ha': 'not-applicable',
        'advanced.drs': 'not-applicable',
        'advanced.faultTolerance': 'not-applicable',
        'advanced.affinityRules': 'unsupported',
        'monitoring.history': 'unsupported',
      },
    }),
  ioProbe: () => smallerBackend.ioCount,
  fixtures: { ...fixtures, storagePolicy: undefined, contentLibrary: undefined },
  timeouts: { taskMs: 10_000, testMs: 30_000 },
});
