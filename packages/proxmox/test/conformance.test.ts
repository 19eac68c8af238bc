/**
 * The shared conformance suite against the Proxmox simulator, once per PVE version mode. Each
 * suite starts its own simulator; the I/O probe counts the requests the simulator received, so
 * "before any I/O" tests prove that nothing reached Proxmox. No test is skipped here: what the
 * provider cannot do on Proxmox it declares, and the suite checks the declaration.
 */
import { countHttpRequests as countRequests, defineConformanceSuite } from '@hvkit/conformance';
import { createProxmoxProvider } from '../src/index.js';
import { type PveVersion, startProxmoxSimulator } from '../src/simulator/index.js';

async function suite(version: PveVersion): Promise<void> {
  const simulator = await startProxmoxSimulator({ version, taskDurationMs: 20 });
  const requests = countRequests(simulator.url);
  defineConformanceSuite({
    name: `proxmox ${version}`,
    createProvider: () =>
      createProxmoxProvider({
        name: `pve-${version.replace('.', '-')}`,
        baseUrl: simulator.url,
        auth: { username: 'root@pam', password: 'simulator' },
        tls: { fingerprint256: simulator.fingerprint256 },
        node: 'pve1',
      }),
    ioProbe: () => requests.count,
    fixtures: {
      network: 'vmbr0',
      bridge: 'vmbr0',
      storage: 'local-lvm',
      host: 'pve1',
      migrateTarget: { host: 'pve2' },
      imageUrl: 'https://cloud-images.example/noble-server-cloudimg-amd64.qcow2',
      guestReadyTimeoutMs: 5_000,
      // Proxmox links clones to templates only (qemu-server's clone_vm refuses full=0 otherwise).
      linkedCloneSource: 'template',
    },
    timeouts: { taskMs: 15_000, testMs: 30_000 },
  });
}

await suite('8.4');
await suite('9.1');
