// Public entry of @hvkit/libvirt. The provider itself is being built (issue 4); what exists is
// exported as it lands.
export { quoteVirshArgument, virshCommandLine } from './virsh/virsh-quote.js';
