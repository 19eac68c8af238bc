// Public entry of @hvkit/libvirt.

export { type LibvirtVmOptions, LibvirtVmOptionsSchema } from './domain/libvirt-options.js';
export {
  LIBVIRT_CAPABILITIES,
  LIBVIRT_CAPABILITY_DECLARATIONS,
} from './libvirt-capabilities.js';
export type { LibvirtDefaults } from './libvirt-driver.js';
export { mapVirshError, type VirshErrorContext, virshErrorText } from './libvirt-errors.js';
export { createLibvirtProvider, type LibvirtProviderSettings } from './libvirt-provider.js';
export {
  Virsh,
  type VirshCallOptions,
  type VirshCommandResult,
  type VirshOptions,
  type VirshRunOptions,
  type VirshTransport,
} from './virsh/virsh.js';
export * from './virsh/virsh-parse.js';
export { quoteVirshArgument, virshCommandLine } from './virsh/virsh-quote.js';
