// Public entry of @hvkit/libvirt. The provider itself is being built (issue 4); what exists is
// exported as it lands.
export {
  mapVirshError,
  type VirshErrorContext,
  virshErrorText,
} from './libvirt-errors.js';
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
