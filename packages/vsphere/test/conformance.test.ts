/**
 * The shared conformance suite against vcsim (VMware's vCenter simulator), the bed that
 * global-setup.ts started. The I/O probe counts the HTTP requests that reached vcsim, so the
 * "before any I/O" tests prove nothing was sent. The OVA and the content library item the image
 * tests import are made here, before the suite, from the small OVF fixture. What vcsim cannot
 * exercise is declared or covered by fixture tests (see docs/providers/vsphere.md); nothing is
 * skipped here in CI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { countHttpRequests, defineConformanceSuite } from '@hvkit/conformance';
import { afterAll, describe } from 'vitest';
import { ensureLibrary, importToLibrary, VapiSession } from '../src/images/content-library.js';
import { tarArchive } from '../src/images/tar-writer.test-support.js';
import { createVsphereProvider } from '../src/index.js';
import { vcsimContext } from '../src/transfer/test-support.js';
import { requireVcsim } from './vcsim.js';

const vcsim = requireVcsim();

if (vcsim) {
  const requests = countHttpRequests(vcsim.url);
  const dir = mkdtempSync(join(tmpdir(), 'hvkit-vsphere-conformance-'));
  const descriptor = readFileSync(new URL('../src/images/__fixtures__/tiny.ovf', import.meta.url));
  const ova = join(dir, 'tiny.ova');
  writeFileSync(
    ova,
    tarArchive([
      { name: 'tiny.ovf', data: descriptor },
      { name: 'tiny-disk1.vmdk', data: new Uint8Array(65_536) },
    ]),
  );
  // A library item for images.contentLibrary, in the library hvkit lists as its own.
  const ctx = vcsimContext(vcsim);
  const vapi = new VapiSession(ctx, { username: vcsim.username, password: vcsim.password });
  const library = await ensureLibrary(vapi, { name: 'hvkit-images' });
  const itemName = `hvkit-conformance-item-${process.pid}-${Date.now()}`;
  await importToLibrary(
    vapi,
    { kind: 'ova', url: pathToFileURL(ova).href },
    {
      name: itemName,
      library,
    },
  );
  afterAll(async () => {
    await vapi.close();
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  });
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
      ovaUrl: pathToFileURL(ova).href,
      contentLibrary: { library: 'hvkit-images', item: itemName },
      guestReadyTimeoutMs: 2_000,
    },
    timeouts: { taskMs: 20_000, testMs: 60_000 },
  });
} else {
  describe.skip('vsphere (vcsim): test bed unavailable', () => {});
}
