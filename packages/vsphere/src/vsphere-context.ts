import type { Clock, Logger } from '@hvkit/core';
import type { VimClient } from './client/vim-client.js';

/**
 * What every vSphere operation module receives from the driver: the session client, the
 * provider instance name (for refs and errors), the clock and the logger.
 */
export interface VsphereContext {
  readonly client: VimClient;
  /** Provider instance name, carried by every ref and error. */
  readonly name: string;
  readonly clock: Clock;
  readonly logger: Logger;
}
