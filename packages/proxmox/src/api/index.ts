/**
 * The Proxmox REST layer: client, TLS, request encoding, response error mapping, loose response
 * types and the UPID codec. Internal to the package; the provider imports from here.
 */
export {
  ProxmoxClient,
  type ProxmoxClientOptions,
  type ProxmoxEnvelope,
  type ProxmoxMethod,
  type ProxmoxRequestOptions,
  TICKET_LIFETIME_MS,
} from './client.js';
export {
  type ProxmoxCredentials,
  type ProxmoxPasswordCredentials,
  type ProxmoxTokenCredentials,
  validateCredentials,
} from './credentials.js';
export { looseBool, looseInt, looseNumber, looseString } from './loose-types.js';
export {
  encodeParams,
  encodePathSegment,
  expandPath,
  type ParamValue,
  type RequestParams,
} from './request-encoding.js';
export {
  classifyProxmoxMessage,
  errorFromResponse,
  type ProxmoxErrorContext,
} from './response-errors.js';
export {
  accessTicketSchema,
  clusterResourceSchema,
  nextIdSchema,
  nodeListItemSchema,
  optional,
  qemuListItemSchema,
  taskListItemSchema,
  taskLogLineSchema,
  taskStatusSchema,
  upidSchema,
  versionSchema,
} from './response-schemas.js';
export {
  createProxmoxDispatcher,
  fingerprintsEqual,
  normalizeFingerprint,
  type ProxmoxDispatcherOptions,
  type ProxmoxTlsOptions,
} from './tls.js';
export { formatUpid, isUpid, parseUpid, tryParseUpid, type Upid } from './upid.js';
