/**
 * `@hvkit/vsphere`: the vSphere provider for hvkit on the vim25 SOAP API. For now it exports the
 * SOAP layer: envelope building, value escaping, the streaming response parser and fault mapping.
 */

export { createVsphereDispatcher, type VsphereTlsOptions } from './client/tls.js';
export { type ServiceContent, VimClient, type VimClientOptions } from './client/vim-client.js';
export {
  buildEnvelope,
  type DataObject,
  type ManagedObjectReference,
  type SoapArgument,
  type SoapValue,
  serializeElement,
  type TypedScalar,
} from './soap/soap-envelope.js';
export { escapeXml } from './soap/soap-escape.js';
export {
  type FaultContext,
  type LocalizedMethodFault,
  localizedFaultToError,
  type SoapFault,
  soapFaultToError,
  vimFaultToError,
} from './soap/soap-faults.js';
export {
  type ObjectContent,
  parseSoapResponse,
  type RetrieveResultStream,
  type SoapBody,
  type SoapResponse,
  streamRetrieveResult,
  toObjectContent,
} from './soap/soap-parser.js';
export type { DeclaredType } from './soap/vim-types.js';
export {
  VSPHERE_CAPABILITIES,
  VSPHERE_CAPABILITY_DECLARATIONS,
} from './vsphere-capabilities.js';
export type { VsphereDefaults } from './vsphere-driver.js';
export { createVsphereProvider, type VsphereProviderSettings } from './vsphere-provider.js';
