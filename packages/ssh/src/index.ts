export {
  checkForwardTarget,
  type ForwardingTransport,
  type ForwardOutOptions,
  isLoopbackAddress,
  type LocalForward,
  type LocalForwardOptions,
  type LocalForwardStats,
  openLocalForward,
} from './forward.js';
export * from './host-key.js';
export type { DownloadOptions, RemoteFileStat, SshSftp, UploadOptions } from './sftp.js';
export * from './shell-quote.js';
export * from './ssh-connection.js';
export type { SshTransportOptions } from './ssh-options.js';
