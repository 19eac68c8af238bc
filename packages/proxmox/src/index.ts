/**
 * `@hvkit/proxmox`: the Proxmox VE provider for hvkit, on the REST API of PVE 8.4 and 9.1.
 * The simulator it is tested against is at `@hvkit/proxmox/simulator`.
 */
export type { ProxmoxTlsOptions } from './api/index.js';
export {
  PROXMOX_CAPABILITIES,
  PROXMOX_CAPABILITY_DECLARATIONS,
  PROXMOX_CAPABILITY_ENDPOINTS,
} from './proxmox-capabilities.js';
export { type ProxmoxVmOptions, ProxmoxVmOptionsSchema } from './proxmox-config.js';
export { ProxmoxDriver, type ProxmoxDriverOptions } from './proxmox-driver.js';
export {
  createProxmoxProvider,
  type ProxmoxAuth,
  type ProxmoxProviderSettings,
} from './proxmox-provider.js';
