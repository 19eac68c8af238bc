/**
 * The shared conformance suite against vcsim (VMware's vCenter simulator), the bed that
 * global-setup.ts started. The I/O probe counts the HTTP requests that reached vcsim, so the
 * "before any I/O" tests prove nothing was sent. What vcsim cannot exercise is declared or
 * covered by fixture tests (see docs/providers/vsphere.md); nothing is skipped here in CI.
 */
import { countHttpRequests, defineConformanceSuite } from '@hvkit/conformance';
import { describe } from 'vitest';
import { createVsphereProvider } from '../src/index.js';
import { requireVcsim } from './vcsim.js';

const vcsim = requireVcsim();

if (vcsim) {
  const requests = countHttpRequests(vcsim.url);
  defineConformanceSuite({
    name: 'vsphere (vcsim)',
    createProvider: () =>
      createVsphereProvider({
        name: 'vcsim',
        url: vcsim.url,
        username: vcsim.username,
        password: vcsim.password,
        tls: { ca: vcsim.certificatePem ?? '' },
      }),
    ioProbe: () => requests.count,
    fixtures: {
      network: 'VM Network',
      distributedPortgroup: 'DC0_DVPG0',
      storage: 'LocalDS_0',
      migrateTarget: { host: 'DC0_C0_H1' },
      guestReadyTimeoutMs: 2_000,
    },
    timeouts: { taskMs: 20_000, testMs: 60_000 },
  });
} else {
  describe.skip('vsphere (vcsim): test bed unavailable', () => {});
}
