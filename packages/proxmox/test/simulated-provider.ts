import { countHttpRequests as countRequests } from '@hvkit/conformance';
import type { Provider } from '@hvkit/core';
import { createProxmoxProvider } from '../src/index.js';
import {
  type ProxmoxSimulator,
  type PveVersion,
  startProxmoxSimulator,
} from '../src/simulator/index.js';

/** A simulator and a provider logged in to it as root@pam with the certificate pinned. */
export interface SimulatedProvider {
  simulator: ProxmoxSimulator;
  provider: Provider;
  /** Requests the simulator received from the provider. */
  requests: ReturnType<typeof countRequests>;
  close(): Promise<void>;
}

/** Starts a simulator (PVE 9.1 by default, 20 ms tasks) and a provider named `name` on it. */
export async function startSimulatedProvider(
  name: string,
  options: { version?: PveVersion; taskDurationMs?: number } = {},
): Promise<SimulatedProvider> {
  const simulator = await startProxmoxSimulator({
    version: options.version ?? '9.1',
    taskDurationMs: options.taskDurationMs ?? 20,
  });
  const requests = countRequests(simulator.url);
  const provider = createProxmoxProvider({
    name,
    baseUrl: simulator.url,
    auth: { username: 'root@pam', password: 'simulator' },
    tls: { fingerprint256: simulator.fingerprint256 },
    node: 'pve1',
  });
  return {
    simulator,
    provider,
    requests,
    async close() {
      await provider.close();
      await simulator.close();
    },
  };
}
